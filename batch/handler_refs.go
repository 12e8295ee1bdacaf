package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mixedcodec/mixed"
)

// linkReferences finds the references of every call, in its target and
// query and, when its Content-Type is JSON, its body, and links each to
// the earlier call it names; a reference that names no call, the call
// itself or a later one is kept as the call's refErr. It returns ctx's
// error if ctx ends first.
func (h *Handler) linkReferences(ctx context.Context, st *batchState) error {
	found := false
	for i := range st.calls {
		if st.calls[i].err == nil && hasRefMarker(st.calls[i].raw) {
			found = true
			break
		}
	}
	st.substituted.Store(0)
	if !found {
		return nil // the independent case costs one scan of the bytes
	}
	clear(st.ids)
	if st.ids == nil {
		st.ids = make(map[string]int)
	}
	for i := range st.calls {
		if st.calls[i].kind == changesetHead {
			continue // a changeset has no result of its own
		}
		if id := requestID(st.calls[i].cid); id != "" {
			if _, dup := st.ids[id]; !dup {
				st.ids[id] = i
			}
		}
	}
	left := maxBatchRefs
	for i := range st.calls {
		c := &st.calls[i]
		if c.err != nil || c.kind == changesetHead || !hasRefMarker(c.raw) {
			continue
		}
		refs, err := h.callRefs(ctx, st, c, left)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errTooManyRefs) {
			c.err = err // read, but not run: it answers 400
			continue
		}
		if err != nil {
			continue // the call cannot be read: it answers 400 when it runs
		}
		left -= len(refs)
		c.refs = refs
		for _, r := range c.refs {
			k, ok := st.ids[r.id]
			switch {
			case !ok:
				c.refErr = &refError{r.text, fmt.Sprintf("no call of this batch has the id %q", r.id)}
			case k == i:
				c.refErr = &refError{r.text, "a call cannot use its own result (a cycle)"}
			case k > i:
				c.refErr = &refError{r.text, fmt.Sprintf("call %q comes later in the batch; a call can only use the results of earlier ones", r.id)}
			default:
				if !slices.Contains(c.deps, k) {
					c.deps = append(c.deps, k)
				}
				if d := &st.calls[k]; !d.referenced {
					d.referenced = true
					d.done = make(chan struct{})
				}
				st.calls[k].wantResult = true
				st.calls[k].want = st.calls[k].want.add(r.path)
				continue
			}
			break
		}
	}
	return nil
}

// maxBatchRefs bounds the result references of one batch. Each takes
// memory until the batch ends (about 1 KiB: it, its path, what of the
// referenced result it names), 50 times the bytes it is written in, and a
// body of MaxPartBytes holds nearly a million.
const maxBatchRefs = 10000

// errTooManyRefs is the error of a call whose references take its batch
// past maxBatchRefs.
var errTooManyRefs = fmt.Errorf("batch: the batch's calls hold more than %d result references", maxBatchRefs)

// callRefs returns the references of call c: in its target, and in its
// body when that is JSON. Header values and other bodies are the
// handler's business, and reach it unchanged. More than limit of them is
// errTooManyRefs, found without making more.
func (h *Handler) callRefs(ctx context.Context, st *batchState, c *call, limit int) ([]ref, error) {
	if st.lmr == nil {
		st.lmr = mixed.NewMessageReaderOptions(nil, h.messageOptions())
	}
	src := chunkSource{b: c.raw}
	st.lmr.Reset(&src)
	defer st.lmr.Reset(nil)
	m, err := st.lmr.ReadRequest()
	if err != nil {
		return nil, err
	}
	refs, err := findRefs(ctx, string(m.Target))
	if err == nil && len(refs) > limit {
		err = errTooManyRefs
	}
	if err != nil || !isJSON(m.Header.Get("Content-Type")) {
		return refs, err
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return nil, err
	}
	more, err := jsonRefs(ctx, body, limit-len(refs))
	return append(refs, more...), err
}

// awaitDeps waits for the calls c references and reports why c cannot run,
// if it cannot.
func (st *batchState) awaitDeps(c *call) error {
	if c.refErr != nil {
		return c.refErr
	}
	for _, k := range c.deps {
		if d := &st.calls[k]; c.kind != memberCall || d.kind != memberCall || d.head != c.head {
			// An earlier call of the same changeset has run already, and
			// publishes its outcome only when the changeset ends.
			<-d.done
		}
	}
	for _, k := range c.after {
		d := &st.calls[k]
		what := "request"
		if d.kind == changesetHead {
			what = "atomicity group"
		}
		switch {
		case d.groupErr != "":
			return fmt.Errorf("dependsOn %q: the %s does not count: %s", clip(requestID(d.cid)), what, d.groupErr)
		case d.status >= 400:
			return fmt.Errorf("dependsOn %q: the %s failed with status %d", clip(requestID(d.cid)), what, d.status)
		}
	}
	for _, r := range c.refs {
		d := &st.calls[st.ids[r.id]]
		switch {
		case d.groupErr != "":
			return &refError{r.text, fmt.Sprintf("call %q does not count: %s", r.id, d.groupErr)}
		case d.status >= 400:
			return &refError{r.text, fmt.Sprintf("call %q failed with status %d", r.id, d.status)}
		case d.resultErr != nil:
			return &refError{r.text, d.resultErr.Error()}
		}
	}
	return nil
}

// maxSubstitutedTarget bounds a call's target once its references are
// substituted: the head limit of a call (mixed.DefaultMaxHeaderBytes),
// eight times the request line a call may send itself.
const maxSubstitutedTarget = mixed.DefaultMaxHeaderBytes

// substitute puts the referenced values into req's target and JSON body.
// What references make is bounded, so that a few bytes of request cannot
// copy a large result many times over: a target to maxSubstitutedTarget,
// a body to MaxPartBytes, and all the targets and bodies of a batch that
// hold references to MaxBodyBytes together, as if the client had sent
// them. A call that would go past a bound answers 400, and spends the
// room it had all the same: refused or not, the work of a batch's
// substitutions is bounded by MaxBodyBytes (1000 refused calls were 1000
// times MaxPartBytes of it).
func (h *Handler) substitute(st *batchState, c *call, req *http.Request) error {
	linked := linkedRefs(c.refs)
	resolve := func(r ref) (any, error) {
		// Only the references c was linked by, to calls it waited for:
		// the reference was found when the batch was read, as it is
		// found here, and its path is one settle decoded.
		if !linked(r) {
			return nil, &refError{r.text, fmt.Sprintf("call %q is not one this call was found to reference", r.id)}
		}
		return lookup(st.calls[st.ids[r.id]].result, r)
	}
	// room is what the batch's budget leaves for one substitution of at
	// most limit bytes; spend takes n bytes from it, and reports whether
	// they were there.
	room := func(limit int64) int {
		return int(max(0, min(limit, h.opts.MaxBodyBytes-st.substituted.Load())))
	}
	spend := func(n int) error {
		for {
			had := st.substituted.Load()
			if had+int64(n) > h.opts.MaxBodyBytes {
				return fmt.Errorf("batch: the targets and bodies this batch's result references make are over %d bytes (MaxBodyBytes)", h.opts.MaxBodyBytes)
			}
			if st.substituted.CompareAndSwap(had, had+int64(n)) {
				return nil
			}
		}
	}
	// refused spends the room of a substitution that was refused, and
	// says which bound refused it.
	refused := func(err error, room int) error {
		if _, ok := err.(*substitutionError); ok {
			st.substituted.Add(int64(room))
			if room == 0 {
				return spend(1) // the batch's budget, spent
			}
		}
		return err
	}
	targetRoom := room(maxSubstitutedTarget)
	target, err := substituteTarget(req.RequestURI, resolve, targetRoom)
	if err != nil {
		return refused(err, targetRoom)
	}
	if target != req.RequestURI {
		if err := spend(len(target)); err != nil {
			return err
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return fmt.Errorf("batch: the target after substitution, %q: %w", clip(target), err)
		}
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
		req.RequestURI = target
	}
	if req.Body == nil || req.Body == http.NoBody || !isJSON(req.Header.Get("Content-Type")) {
		return nil
	}
	raw, err := io.ReadAll(req.Body)
	if err != nil {
		return err
	}
	bodyRoom := room(h.opts.MaxPartBytes)
	body, err := substituteJSON(raw, resolve, bodyRoom)
	if err != nil {
		return refused(err, bodyRoom)
	}
	if len(raw) > 0 && &body[0] != &raw[0] { // something was substituted
		if err := spend(len(body)); err != nil {
			return err
		}
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.TransferEncoding = nil
	if req.Header.Get("Content-Length") != "" {
		req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	return nil
}

// linkedRefs returns a test of whether a reference is one of refs (the
// same id and path), in constant time once refs are more than a few: a
// call may hold maxBatchRefs references, each tested as it is
// substituted, and a scan of refs for each is 10^8 comparisons (before
// that bound, a body of MaxPartBytes of them took hours).
func linkedRefs(refs []ref) func(ref) bool {
	if len(refs) <= 8 {
		return func(r ref) bool {
			return slices.ContainsFunc(refs, func(l ref) bool { return l.id == r.id && slices.Equal(l.path, r.path) })
		}
	}
	set := make(map[string]struct{}, len(refs))
	var key []byte
	for _, l := range refs {
		key = refKey(key[:0], l)
		set[string(key)] = struct{}{}
	}
	return func(r ref) bool {
		key = refKey(key[:0], r)
		_, ok := set[string(key)]
		return ok
	}
}

// refKey appends to b the id and path of r, each key preceded by its
// length: no two references have the same key, whatever bytes their keys
// hold.
func refKey(b []byte, r ref) []byte {
	b = strconv.AppendInt(b, int64(len(r.id)), 10)
	b = append(append(b, ':'), r.id...)
	for _, k := range r.path {
		b = strconv.AppendInt(b, int64(len(k)), 10)
		b = append(append(b, ':'), k...)
	}
	return b
}

// settle publishes the outcome of call i: for halt-on-error, and to the
// calls that reference it, which get its decoded JSON response.
func (st *batchState) settle(i int) {
	c := &st.calls[i]
	c.status = c.rec.status
	if c.kind != memberCall {
		st.noteFailure(i) // a changeset's calls count with it
	}
	if !c.referenced {
		return
	}
	if c.wantLocation && c.status < 400 {
		st.keepLocation(c)
	}
	switch {
	case !c.wantResult || c.status >= 400:
	case c.rec.dropped:
		c.resultErr = fmt.Errorf("the response of call %q is too large to use in a reference: over what the batch's MaxBufferedBytes, or the Handler's MaxTotalBufferedBytes, leaves", clip(requestID(c.cid)))
	default:
		body := c.rec.body.Bytes()
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		room := resultBudget{left: &st.resultRoom, shared: st.out.shared}
		var err error
		c.result, err = decodeResult(dec, body, c.want, &room)
		switch {
		case errors.Is(err, errResultsOverBudget):
			c.resultErr = fmt.Errorf("the response of call %q, decoded for the references to it, is over what the batch's MaxBufferedBytes leaves for the results of references, or what the Handler's MaxTotalBufferedBytes leaves", clip(requestID(c.cid)))
		case err != nil:
			c.resultErr = fmt.Errorf("the response of call %q is not JSON: %v", clip(requestID(c.cid)), err)
		}
		if err != nil {
			c.result = nil
			room.refund()
		} else {
			// Held until the batch ends (see Handler.release).
			st.resultsHeld.Add(room.held)
		}
	}
	if c.kind != memberCall {
		close(c.done) // a changeset's calls are published with it
	}
}

// keepLocation keeps the Location of the response of call c, which a $id
// url of a later call names, for as long as the batch runs: its part, and
// the header fields it counted with, go out before the later call may
// run. It counts as a decoded result does, from the room MaxBufferedBytes
// leaves for them and from MaxTotalBufferedBytes, held until the batch
// ends; a Location past that is not kept, and the $id urls that name it
// answer 424 (see locationTarget). Kept as a copy: the string counted is
// the string held, not a part of some larger one of the handler's.
func (st *batchState) keepLocation(c *call) {
	loc := c.rec.h.Get("Location")
	if loc == "" {
		return
	}
	room := resultBudget{left: &st.resultRoom, shared: st.out.shared}
	if !room.take(stringMem(len(loc))) {
		room.refund()
		c.locDropped = true
		return
	}
	st.resultsHeld.Add(room.held)
	c.location = strings.Clone(loc)
}
