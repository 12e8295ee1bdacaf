package batch

// The client side of changesets: building them, checking their
// "$id" targets when calls are added, and the error a rolled-back one
// gives its calls.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// odataResources are the OData system resources a relative target may
// start with ($metadata, $crossjoin(...)): they are not Content-ID
// references, and servers leave them alone.
var odataResources = map[string]bool{"metadata": true, "batch": true, "crossjoin": true, "all": true, "entity": true, "root": true}

// checkContentIDTarget checks a relative target that starts with
// $<Content-ID> (OData's "$1/Orders"): the server rewrites it to the
// Location of an earlier call of the same changeset, so it must name one;
// anywhere else it would reach the server unresolved.
func (b *Batch) checkContentIDTarget(req *http.Request, cs *Changeset) error {
	u := req.URL
	if u.Scheme != "" || u.Host != "" || u.Opaque != "" || !strings.HasPrefix(u.Path, "$") {
		return nil
	}
	if _, _, ok := matchRef(u.Path, 0); ok {
		return nil // a result reference, checked with the others
	}
	name, _, _ := strings.Cut(u.Path[1:], "/")
	d := b.ids[name]
	switch {
	case d != nil && cs != nil && d.cs == cs:
		return nil
	case d != nil && cs == nil:
		return fmt.Errorf("batch: target %q: a $<Content-ID> target only works inside a changeset", u.Path)
	case d != nil:
		return fmt.Errorf("batch: target %q: call %q is not in changeset %q; a $<Content-ID> target must name an earlier call of its own changeset", u.Path, name, cs.id)
	case cs == nil:
		return nil
	}
	if res, _, _ := strings.Cut(name, "("); odataResources[res] {
		return nil
	}
	return fmt.Errorf("batch: target %q: no earlier call of changeset %q has the id %q", u.Path, cs.id, name)
}

// A Changeset is a group of calls sent as one nested multipart/mixed part,
// which a server with changesets (OData's atomic groups) runs in order and
// commits or rolls back together. Build it with [Changeset.Add]; a
// changeset left empty is not sent.
//
// Within a changeset, a call may target "$<id>" or "$<id>/rest" for the id
// of an earlier call of the same changeset: the server rewrites it to that
// call's Location (OData's "$1/Orders").
type Changeset struct {
	b     *Batch
	id    string
	unit  int // its place among the batch's top-level parts
	calls []*Call
}

// Changeset starts a changeset at the batch's current position (the place
// of the nested part on the wire): calls added to the batch afterwards come
// after it, whenever the changeset's own calls are added.
func (b *Batch) Changeset() *Changeset {
	if b.csIDs == nil {
		b.csIDs = make(map[string]*Changeset)
	}
	cs := &Changeset{b: b, id: b.nextID(), unit: len(b.units)}
	b.csIDs[cs.id] = cs
	b.units = append(b.units, unit{cs: cs})
	return cs
}

// Add adds req to the changeset under id, or under a generated id when id
// is empty, with the rules of [Batch.Add]: ids are unique in the whole
// batch. A target "$<id>..." must name an earlier call of this changeset,
// and a result reference ($result[id]...) may only name a call, added
// before, that comes before this one on the wire: one added to the batch
// before the changeset was started, a call of a changeset started before
// it, or an earlier call of this changeset. The call's result
// is its response once the server commits the changeset; if the server
// rolls it back, the call's error is a [*ChangesetError].
func (cs *Changeset) Add(req *http.Request, id string) (*Call, error) {
	return cs.b.add(req, id, cs)
}

// Calls returns the changeset's calls in the order they were added.
func (cs *Changeset) Calls() []*Call { return cs.calls }

// ID returns the Content-ID of the changeset's part (generated).
func (cs *Changeset) ID() string { return cs.id }

// ChangesetError is the error of every call of a changeset the server rolled
// back, or that failed as a whole: the server answered the changeset with a
// single response instead of one per call.
type ChangesetError struct {
	// ID is the id of the call that failed, or "" if the changeset
	// itself failed (its begin or commit, or its part was refused).
	ID string
	// StatusCode is the status of the single response.
	StatusCode int
	// Response is the single response; its body is in memory. Each call
	// of the changeset has its own copy, Header, Trailer and body reader
	// included, to read and change on its own.
	Response *http.Response

	changeset string
}

// Error returns the text of the error: the changeset and the call that
// failed, with its status.
func (e *ChangesetError) Error() string {
	if e.ID == "" {
		return fmt.Sprintf("batch: changeset %q failed with status %d", e.changeset, e.StatusCode)
	}
	return fmt.Sprintf("batch: changeset %q rolled back: call %q failed with status %d", e.changeset, e.ID, e.StatusCode)
}

// ownResponse returns a copy of resp, the single response of a failed
// changeset, for the ChangesetError of one of its calls: with its own
// Header, Trailer and TransferEncoding, so that the goroutines handling
// the calls' errors may each read and change their own, and a reader of
// body, which they share (no one can change it through a reader).
func ownResponse(resp *http.Response, body []byte) *http.Response {
	r := *resp
	r.Header = resp.Header.Clone()
	r.Trailer = resp.Trailer.Clone()
	r.TransferEncoding = slices.Clone(resp.TransferEncoding)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return &r
}
