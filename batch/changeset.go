package batch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// A Group is the unit of work of one changeset, committed when every call
// of the changeset succeeded and rolled back otherwise. A [*database/sql.Tx]
// is a Group.
type Group interface {
	Commit() error
	Rollback() error
}

type groupKey struct{}

// groupRef is the Group of one changeset as its calls' contexts carry it,
// until the changeset ends.
type groupRef struct {
	mu    sync.Mutex
	g     Group
	ended bool
}

// GroupFromContext returns the Group of the changeset that a call runs in:
// what HandlerOptions.BeginGroup returned for it. It returns nil outside
// changesets, when no BeginGroup is set, and once the changeset has
// committed or rolled back: a handler that outlives its call (see
// HandlerOptions.CallTimeout) finds no group to write into.
func GroupFromContext(ctx context.Context) Group {
	ref, _ := ctx.Value(groupKey{}).(*groupRef)
	if ref == nil {
		return nil
	}
	ref.mu.Lock()
	defer ref.mu.Unlock()
	if ref.ended {
		return nil
	}
	return ref.g
}

// end makes the group unreachable through contexts, before it commits or
// rolls back.
func (ref *groupRef) end() {
	ref.mu.Lock()
	ref.ended = true
	ref.mu.Unlock()
}

// serveChangeset runs the changeset whose head is call i: its members in
// order, inside a group, until one fails.
func (h *Handler) serveChangeset(st *batchState, i int, wk *worker) {
	head := &st.calls[i]
	defer st.settleChangeset(i)
	if head.err != nil {
		head.rec.fail(http.StatusBadRequest, head.err.Error())
		return
	}
	if why, halted := st.halted(); halted {
		head.rec.failJSON(http.StatusFailedDependency, why)
		return
	}
	// Wait for the calls outside the changeset that its calls reference
	// before the group begins, so that no group is held open waiting: an
	// inner handler whose groups lock the store (SQLite does) could
	// otherwise wait for a call that waits for the lock.
	for j := range st.members(i) {
		for _, k := range st.calls[j].deps {
			if k < i {
				<-st.calls[k].done
			}
		}
	}
	if head.members == 0 {
		return
	}
	ctx := st.outer.Context()
	var g Group
	var ref *groupRef
	if h.opts.BeginGroup != nil {
		var err error
		if g, err = safely(func() (Group, error) { return h.opts.BeginGroup(ctx) }); err == nil && g == nil {
			err = errors.New("BeginGroup returned no group")
		}
		if err != nil {
			head.rec.fail(http.StatusInternalServerError, "batch: changeset: cannot begin its group: "+err.Error())
			return
		}
		ref = &groupRef{g: g}
		ctx = context.WithValue(ctx, groupKey{}, ref)
	}
	for j := range st.members(i) {
		h.serveCall(ctx, st, j, wk)
		if st.calls[j].rec.status >= 400 {
			head.failed = j
			break
		}
	}
	if g == nil {
		return
	}
	ref.end()
	if head.failed != 0 {
		// The failed call's response says what went wrong; a rollback
		// that fails as well cannot change what the client must do.
		safely(func() (Group, error) { return nil, g.Rollback() })
		return
	}
	if _, err := safely(func() (Group, error) { return nil, g.Commit() }); err != nil {
		head.rec.fail(http.StatusInternalServerError, "batch: changeset: commit failed: "+err.Error())
	}
}

// safely calls the hook f, turning a panic into an error: hooks run on the
// batch's worker goroutines, where a panic would end the program.
func safely(f func() (Group, error)) (g Group, err error) {
	defer func() {
		if v := recover(); v != nil {
			g, err = nil, fmt.Errorf("panic: %v", v)
		}
	}()
	return f()
}

// settleChangeset publishes the outcome of the changeset whose head is call
// i, and of each of its calls, once the group has committed or rolled back.
func (st *batchState) settleChangeset(i int) {
	head := &st.calls[i]
	switch {
	case head.failed != 0:
		head.status = st.calls[head.failed].status
	case head.rec.wroteHeader:
		head.status = head.rec.status
	default:
		head.status = http.StatusOK
	}
	st.noteFailure(i)
	if head.referenced {
		defer close(head.done) // after its calls' outcomes
	}
	for j := range st.members(i) {
		c := &st.calls[j]
		switch {
		case head.status < 400:
		case c.rec.status == 0:
			c.groupErr = "its changeset stopped before it ran"
		case j != head.failed:
			c.groupErr = "its changeset was rolled back"
		}
		if c.referenced {
			close(c.done)
		}
	}
}

// locationTarget resolves the $id url of call i of a JSON batch: the
// Location of the response of the call it names, then the rest of the url.
func (st *batchState) locationTarget(i int) (*url.URL, error) {
	c := &st.calls[i]
	d := &st.calls[c.locRef-1]
	id := requestID(d.cid)
	loc := d.location
	if d.kind == memberCall && c.kind == memberCall && d.head == c.head {
		loc = d.rec.h.Get("Location") // published with its changeset, not yet
	}
	switch {
	case loc == "" && d.locDropped:
		return nil, &refError{"$" + id, fmt.Sprintf("the Location of the response of request %q is over what the batch's MaxBufferedBytes leaves for the results of references, or what the Handler's MaxTotalBufferedBytes leaves", clip(id))}
	case loc == "":
		return nil, &refError{"$" + id, fmt.Sprintf("the response of request %q has no Location", id)}
	}
	u, err := d.url.Parse(loc + c.locRest)
	if err != nil {
		return nil, &refError{"$" + id, fmt.Sprintf("the Location %q of request %q with %q: %v", loc, id, c.locRest, err)}
	}
	return u, nil
}

// contentIDTarget resolves the target of member i that starts with $id,
// OData's reference to an earlier call of the same changeset: the Location
// of that call's response, then the rest of the target. It returns nil
// when id names no call of the changeset, for targets such as $metadata.
func (st *batchState) contentIDTarget(i int, target string) (*url.URL, error) {
	c := &st.calls[i]
	id, rest := target[1:], ""
	if k := strings.IndexAny(id, "/?"); k >= 0 {
		id, rest = id[:k], id[k:]
	}
	for k := range st.members(c.head) {
		if requestID(st.calls[k].cid) != id {
			continue
		}
		ref := "$" + id
		if k >= i {
			return nil, &refError{ref, "a call can only use the Location of an earlier call of its changeset"}
		}
		loc := st.calls[k].rec.h.Get("Location")
		if loc == "" {
			return nil, &refError{ref, fmt.Sprintf("the response of call %q has no Location", id)}
		}
		u, err := st.calls[k].url.Parse(loc + rest)
		if err != nil {
			return nil, &refError{ref, fmt.Sprintf("the Location %q of call %q with %q: %v", loc, id, rest, err)}
		}
		return u, nil
	}
	return nil, nil
}

// writeChangeset writes the response part of the changeset whose head is
// call i: its calls' responses as a nested multipart body, or the one
// response that made it fail; st.out.wmu is held.
func (h *Handler) writeChangeset(st *batchState, i int) error {
	o := &st.out
	head := &st.calls[i]
	switch {
	case head.failed != 0:
		return o.writePart(&o.w, &st.calls[head.failed])
	case head.rec.wroteHeader:
		return o.writePart(&o.w, head)
	}
	o.cw.Reset(nil) // draws the nested boundary
	if h.opts.OData {
		o.cw.SetBoundary("changesetresponse_" + o.cw.Boundary())
	}
	o.partHeader.Reset()
	o.partHeader.Add("Content-Type", o.cw.ContentType())
	o.addResponseID(head.cid)
	boundary := o.cw.Boundary()
	pw, err := o.w.CreatePart(&o.partHeader)
	if err != nil {
		return err
	}
	o.cw.Reset(pw)
	if err := o.cw.SetBoundary(boundary); err != nil {
		return err
	}
	for j := range st.members(i) {
		if err := o.writePart(&o.cw, &st.calls[j]); err != nil {
			return err
		}
	}
	return o.cw.Close()
}
