package batch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mixedcodec/mixed"
)

// ErrNoResponse reports a call that the batch response did not answer.
var ErrNoResponse = errors.New("batch: no response part for the call")

// A Client sends batches of HTTP requests to one batch endpoint, Google
// style: one POST of multipart/mixed whose parts are the calls. The zero
// Client is not usable: set Endpoint.
type Client struct {
	// Endpoint is the batch URL, such as
	// https://www.googleapis.com/batch/calendar/v3 (Google's default
	// batch path is /batch/<api>/<version>). Every call must be on its
	// host.
	Endpoint string
	// HTTPClient sends the batch requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// MaxCalls is the most calls sent in one HTTP request (default 1000,
	// Google's limit). A larger batch is split into several requests,
	// sent concurrently, and their results merged; a changeset, and calls
	// linked by result references, are never split (each call of a
	// changeset counts), and Do fails if they alone exceed MaxCalls.
	MaxCalls int
	// Concurrency limits the batch requests of one Do in flight at once
	// (default 4).
	Concurrency int
	// HaltHeader is the outer header that asks the server to halt a
	// batch on its first error, sent for a Batch with HaltOnError
	// (default DefaultHaltHeader).
	HaltHeader string
}

// NewBatch returns an empty batch for c's endpoint.
func (c *Client) NewBatch() *Batch {
	return &Batch{client: c, Header: make(http.Header), ids: make(map[string]*Call)}
}

// nextID returns a generated call id: a random prefix drawn once per batch
// (128 bits from crypto/rand, so ids cannot be guessed) and a sequence
// number (so they are unique in the batch without drawing randomness for
// each call).
func (b *Batch) nextID() string {
	if b.idPrefix == "" {
		b.idPrefix = rand.Text()
	}
	for {
		b.idSeq++
		id := b.idPrefix + "-" + strconv.Itoa(b.idSeq)
		if b.ids[id] == nil && b.csIDs[id] == nil {
			return id
		}
	}
}

// A Batch is a set of calls sent together by [Batch.Do]. Build it with
// [Batch.Add], and [Batch.Changeset] for calls that must succeed or fail
// together; it is not safe for concurrent use until Do is called, after
// which every [Call] can be waited on from any goroutine.
type Batch struct {
	// Header holds the outer request's headers, such as Authorization:
	// the server applies them to every call that does not set its own.
	Header http.Header
	// HaltOnError asks the server to stop starting calls after the first
	// one that fails (through Client.HaltHeader) and, when the batch is
	// split, stops sending its later requests: their calls report
	// ErrSkipped.
	HaltOnError bool

	client   *Client
	endpoint *url.URL // parsed once, at the first Add
	calls    []*Call
	ids      map[string]*Call
	done     bool
	idPrefix string
	idSeq    int
	// units are the top-level parts in wire order: a call, or a whole
	// changeset. Splitting moves units, never parts of one.
	units []unit
	csIDs map[string]*Changeset
}

// A unit is one top-level part of a batch request: a call or a changeset.
type unit struct {
	call *Call
	cs   *Changeset
}

// A Call is one request of a batch and, once the batch has been sent, its
// result: gapi's "each request is also its own promise".
type Call struct {
	id    string
	index int        // position in the batch, in Add order
	unit  int        // the top-level part it goes in (see Batch.units)
	cs    *Changeset // the changeset it belongs to, if any
	deps  []*Call    // the calls whose results this one references
	req   *http.Request
	resp  *http.Response
	err   error
	done  chan struct{}
}

// ID returns the call's id: the one given to Add, or a generated one.
func (c *Call) ID() string { return c.id }

// Request returns the call's request.
func (c *Call) Request() *http.Request { return c.req }

// Done returns a channel closed when the call's result is known.
func (c *Call) Done() <-chan struct{} { return c.done }

// Response returns the call's response, or nil if it has none (yet). Its
// body is in memory; closing it is optional.
func (c *Call) Response() *http.Response {
	select {
	case <-c.done:
		return c.resp
	default:
		return nil
	}
}

// Err returns why the call has no response: the batch failed, the server
// sent no response part for it, its part did not parse, or its changeset
// was rolled back (a [*ChangesetError]). It is nil while the call is
// pending.
func (c *Call) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Wait waits for the call's result, or for ctx to be done.
func (c *Call) Wait(ctx context.Context) (*http.Response, error) {
	select {
	case <-c.done:
		return c.resp, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Call) settle(resp *http.Response, err error) {
	select {
	case <-c.done:
		return // the first result stands
	default:
	}
	c.resp, c.err = resp, err
	close(c.done)
}

// Add adds req to the batch under id, or under a generated id (unique in
// the batch and unguessable) when id is empty. It is an error to add a
// request whose URL names another host than the endpoint's, or a
// duplicate id, or to add after Do. A request whose URL has no host may
// have a relative target ("Customers", for an OData service root), which
// is written as it is.
func (b *Batch) Add(req *http.Request, id string) (*Call, error) {
	return b.add(req, id, nil)
}

func (b *Batch) add(req *http.Request, id string, cs *Changeset) (*Call, error) {
	if b.done {
		return nil, errors.New("batch: Add after Do")
	}
	if b.endpoint == nil {
		ep, err := url.Parse(b.client.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("batch: endpoint: %w", err)
		}
		b.endpoint = ep
	}
	ep := b.endpoint
	if req.URL == nil {
		return nil, errors.New("batch: request without URL")
	}
	if req.URL.Host != "" && !sameHost(req.URL.Host, ep.Host, ep.Scheme) {
		return nil, fmt.Errorf("batch: request to host %q, not the batch endpoint's %q", req.URL.Host, ep.Host)
	}
	if id == "" {
		id = b.nextID()
	} else if b.ids[id] != nil || b.csIDs[id] != nil {
		return nil, fmt.Errorf("batch: duplicate call id %q", id)
	}
	if err := b.checkContentIDTarget(req, cs); err != nil {
		return nil, err
	}
	c := &Call{id: id, req: req, done: make(chan struct{}), index: len(b.calls), cs: cs}
	if cs != nil {
		c.unit = cs.unit
	} else {
		c.unit = len(b.units)
	}
	refs, err := requestRefs(req)
	if err != nil {
		return nil, err
	}
	for _, r := range refs {
		// Only calls added before can be referenced, so there can be
		// no cycle: a reference to anything else is an error now, not
		// on the wire.
		d := b.ids[r.id]
		if d == nil {
			return nil, fmt.Errorf("batch: reference %s: no call with id %q was added before this one", r.text, r.id)
		}
		if cs != nil && d.cs != cs && d.unit > cs.unit {
			// Added before, but in a changeset started after this
			// one: on the wire it comes later, and the server only
			// resolves references to earlier calls.
			return nil, fmt.Errorf("batch: reference %s: call %q comes after changeset %q in the batch", r.text, r.id, cs.id)
		}
		if !slices.Contains(c.deps, d) {
			c.deps = append(c.deps, d)
		}
	}
	b.calls = append(b.calls, c)
	b.ids[id] = c
	if cs != nil {
		cs.calls = append(cs.calls, c)
	} else {
		b.units = append(b.units, unit{call: c})
	}
	return c, nil
}

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
	// of the changeset has its own copy, to read on its own.
	Response *http.Response

	changeset string
}

func (e *ChangesetError) Error() string {
	if e.ID == "" {
		return fmt.Sprintf("batch: changeset %q failed with status %d", e.changeset, e.StatusCode)
	}
	return fmt.Sprintf("batch: changeset %q rolled back: call %q failed with status %d", e.changeset, e.ID, e.StatusCode)
}

// requestRefs returns the result references ($result[id][key]...) in a
// request's target and JSON body. The body is read through GetBody, so the
// request is left as it was; a body without GetBody is not searched.
func requestRefs(req *http.Request) ([]ref, error) {
	refs, err := findRefs(req.Context(), req.URL.RequestURI())
	if err != nil {
		return nil, err
	}
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody && isJSON(req.Header.Get("Content-Type")) {
		rc, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("batch: reading the request body for references: %w", err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("batch: reading the request body for references: %w", err)
		}
		if hasRefMarker(body) {
			more, err := findRefs(req.Context(), string(body))
			if err != nil {
				return nil, err
			}
			refs = append(refs, more...)
		}
	}
	return refs, nil
}

// chunks splits the calls into batch requests of at most max calls, so
// that every chain of result references stays in one request (a server
// can only resolve references within a request), and every changeset too:
// the top-level parts (calls and changesets) linked by references form
// groups, kept whole and in order. Empty changesets are left out.
func (b *Batch) chunks(max int) ([][]*Call, error) {
	// Union-find over the units, by index.
	parent := make([]int, len(b.units))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for _, c := range b.calls {
		for _, d := range c.deps {
			parent[find(c.unit)] = find(d.unit)
		}
	}
	size := func(u unit) int {
		if u.cs != nil {
			return len(u.cs.calls)
		}
		return 1
	}
	type group struct {
		units []int
		n     int
	}
	groups := map[int]*group{}
	var order []int
	for i, u := range b.units {
		if size(u) == 0 {
			continue
		}
		r := find(i)
		g := groups[r]
		if g == nil {
			g = &group{}
			groups[r] = g
			order = append(order, r)
		}
		g.units = append(g.units, i)
		g.n += size(u)
	}
	var out [][]int
	var cur []int
	n := 0
	for _, r := range order {
		g := groups[r]
		if g.n > max {
			first := b.units[g.units[0]]
			if len(g.units) == 1 && first.cs != nil {
				return nil, fmt.Errorf("batch: changeset %q has %d calls, which exceed the %d calls of one batch request", first.cs.id, g.n, max)
			}
			what := "call"
			name := ""
			if first.cs != nil {
				what, name = "changeset", first.cs.id
			} else {
				name = first.call.id
			}
			return nil, fmt.Errorf("batch: %d calls linked by result references (from %s %q) exceed the %d calls of one batch request", g.n, what, name, max)
		}
		if n+g.n > max {
			out = append(out, cur)
			cur, n = nil, 0
		}
		cur = append(cur, g.units...)
		n += g.n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	chunks := make([][]*Call, len(out))
	for i, ch := range out {
		// References point to earlier parts: keep the wire order.
		slices.Sort(ch)
		for _, k := range ch {
			if u := b.units[k]; u.cs != nil {
				chunks[i] = append(chunks[i], u.cs.calls...)
			} else {
				chunks[i] = append(chunks[i], u.call)
			}
		}
	}
	return chunks, nil
}

// Calls returns the calls in the order they were added, the calls of
// changesets included.
func (b *Batch) Calls() []*Call { return b.calls }

// Results returns the calls by id: gapi's batch response map.
func (b *Batch) Results() map[string]*Call { return b.ids }

// Do sends the batch and waits for every call's result. It returns nil
// when every batch request got a multipart response, even if some calls
// failed (see each Call's Err and Response); otherwise it returns the
// failures of the batch requests, which every call they carried and that
// got no response also reports. Cancelling ctx cancels the batch, and every
// unfinished call reports it.
func (b *Batch) Do(ctx context.Context) error {
	if b.done {
		return errors.New("batch: Do called twice")
	}
	b.done = true
	max := b.client.MaxCalls
	if max <= 0 {
		max = DefaultMaxCalls
	}
	conc := b.client.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	chunks, err := b.chunks(max)
	if err != nil {
		for _, c := range b.calls {
			c.settle(nil, err)
		}
		return err
	}
	outer := b.Header
	if b.HaltOnError {
		// The server stops inside a request; the client stops between
		// requests, sending them one at a time.
		outer = b.Header.Clone()
		outer.Set(b.client.haltHeader(), "true")
		conc = 1
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		sem    = make(chan struct{}, conc)
		halted atomic.Bool
	)
	for _, chunk := range chunks {
		wg.Add(1)
		sem <- struct{}{}
		if halted.Load() {
			for _, c := range chunk {
				c.settle(nil, ErrSkipped)
			}
			<-sem
			wg.Done()
			continue
		}
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := send(ctx, b.client.httpClient(), b.client.Endpoint, outer, chunk)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			if b.HaltOnError && (err != nil || anyFailed(chunk)) {
				halted.Store(true)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ErrSkipped is the error of a call that was not sent because an earlier
// batch request of a halt-on-error batch had a failure.
var ErrSkipped = errors.New("batch: call skipped: an earlier call failed and the batch halts on errors")

// DefaultHaltHeader is the outer header that asks a Handler (whose
// HandlerOptions.HaltHeader names it, as "mixed serve" does) to halt a
// batch on its first error.
const DefaultHaltHeader = "X-Batch-Halt-On-Error"

func (c *Client) haltHeader() string {
	if c.HaltHeader != "" {
		return c.HaltHeader
	}
	return DefaultHaltHeader
}

func anyFailed(calls []*Call) bool {
	for _, c := range calls {
		<-c.done
		if c.err != nil || c.resp.StatusCode >= 400 {
			return true
		}
	}
	return false
}

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return http.DefaultClient
}

// send sends one batch request carrying calls to endpoint, with the outer
// headers outer, and settles each call. Fields of outer are left out of the
// calls' own headers where a call has the same values: the server applies
// them to every call anyway.
func send(ctx context.Context, hc *http.Client, endpoint string, outer http.Header, calls []*Call) (err error) {
	defer func() {
		// Whatever happened, no call is left pending.
		for _, c := range calls {
			if err != nil {
				c.settle(nil, err)
			} else {
				c.settle(nil, fmt.Errorf("%w %q", ErrNoResponse, c.id))
			}
		}
	}()
	pr, pw := io.Pipe()
	mw := mixed.NewWriter(pw)
	sendBoundary := mw.Boundary()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, pr)
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	for k, vv := range outer {
		req.Header[k] = vv
	}
	req.Header.Set("Content-Type", mw.ContentType())
	go func() {
		// Buffer the parts: each write to the pipe becomes a chunk of
		// the request body, and a system call, on the other side.
		bw := bufio.NewWriterSize(pw, 32<<10)
		mw.Reset(bw)
		mw.SetBoundary(sendBoundary)
		err := writeCalls(mw, calls, outer)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	resp, err := hc.Do(req)
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("batch: request failed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &StatusError{StatusCode: resp.StatusCode, Status: resp.Status, Body: string(msg)}
	}
	boundary, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		return fmt.Errorf("batch: response is not a batch: %w", err)
	}
	return readResponses(resp.Body, boundary, calls)
}

// A StatusError reports a batch request answered with a status other than
// 2xx.
type StatusError struct {
	StatusCode int
	Status     string
	Body       string // the start of the response body
}

func (e *StatusError) Error() string {
	msg := "batch: batch request failed: " + e.Status
	if b := strings.TrimSpace(e.Body); b != "" {
		msg += ": " + b
	}
	return msg
}

// writeCalls writes the batch request body. Fields a call shares with
// outer (same name, same values) are not repeated in its part. The calls
// of a changeset, consecutive in calls, go in one nested multipart part.
func writeCalls(w *mixed.Writer, calls []*Call, outer http.Header) error {
	var h mixed.Header
	// Relative targets are OData's (Customers, $1/Orders); a server
	// without changesets answers them with a 400 part of their own.
	mw := mixed.NewMessageWriter(mixed.MessageOptions{AllowRelativeTargets: true})
	var nested *mixed.Writer
	for i := 0; i < len(calls); {
		c := calls[i]
		if c.cs == nil {
			if err := writeCall(w, &h, mw, c, outer); err != nil {
				return err
			}
			i++
			continue
		}
		j := i + 1
		for j < len(calls) && calls[j].cs == c.cs {
			j++
		}
		if nested == nil {
			nested = new(mixed.Writer)
		}
		// Each changeset gets a random boundary of its own, drawn
		// before its part's header names it.
		nested.Reset(nil)
		boundary := nested.Boundary()
		h.Reset()
		h.Add("Content-Type", nested.ContentType())
		h.Add("Content-ID", c.cs.id)
		pw, err := w.CreatePart(&h)
		if err != nil {
			return err
		}
		nested.Reset(pw)
		if err := nested.SetBoundary(boundary); err != nil {
			return err
		}
		for _, m := range calls[i:j] {
			if err := writeCall(nested, &h, mw, m, outer); err != nil {
				return err
			}
		}
		if err := nested.Close(); err != nil {
			return err
		}
		i = j
	}
	return w.Close()
}

// writeCall writes call c as an application/http part of w.
func writeCall(w *mixed.Writer, h *mixed.Header, mw *mixed.MessageWriter, c *Call, outer http.Header) error {
	h.Reset()
	h.Add("Content-Type", "application/http")
	h.Add("Content-ID", c.id)
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	req := c.req
	if shared := sharedWith(req.Header, outer); shared > 0 {
		// Never modify the caller's request: write a shallow copy
		// with its own header.
		r2 := *req
		r2.Header = make(http.Header, len(req.Header)-shared)
		for k, vv := range req.Header {
			if ov, ok := outer[k]; !ok || !slices.Equal(ov, vv) {
				r2.Header[k] = vv
			}
		}
		req = &r2
	}
	if err := mw.WriteHTTPRequest(pw, req); err != nil {
		return fmt.Errorf("batch: call %q: %w", c.id, err)
	}
	return nil
}

// sharedWith counts the fields of h that outer has with the same values.
func sharedWith(h, outer http.Header) int {
	n := 0
	for k, ov := range outer {
		if vv, ok := h[k]; ok && slices.Equal(ov, vv) {
			n++
		}
	}
	return n
}

// readResponses reads the batch response and settles each call it answers.
// Parts are matched to the top-level parts of the request (calls and
// changesets) by Content-ID ("response-" + id, with or without angle
// brackets), or by position when a part has none. A changeset's answer is
// either a nested multipart of one part per call, matched the same way, or
// a single application/http response: the changeset failed, and each of
// its calls gets a ChangesetError.
func readResponses(body io.Reader, boundary string, calls []*Call) error {
	var units [][]*Call // the calls of each top-level part, in order
	byID := make(map[string]int, len(calls))
	for i := 0; i < len(calls); {
		j := i + 1
		if cs := calls[i].cs; cs != nil {
			for j < len(calls) && calls[j].cs == cs {
				j++
			}
			byID[cs.id] = len(units)
		}
		for _, c := range calls[i:j] {
			byID[c.id] = len(units)
		}
		units = append(units, calls[i:j])
		i = j
	}
	r := mixed.NewReader(body, boundary)
	var mr mixed.MessageReader
	for i := 0; ; i++ {
		p, err := r.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("batch: reading the batch response: %w", err)
		}
		k, id := -1, ""
		if cid := p.Header.Get("Content-ID"); cid != nil {
			id = callID(cid)
			if n, ok := byID[id]; ok {
				k = n
			}
		} else if i < len(units) {
			k = i
		}
		if k < 0 {
			continue // a part for no call of ours: nothing to settle
		}
		u := units[k]
		cs := u[0].cs
		if cs == nil {
			readCall(&mr, p, u[0])
			continue
		}
		ct := string(p.Header.Get("Content-Type"))
		if nb, err := mixed.ParseBoundary(ct); err == nil {
			readChangeset(&mr, p, nb, u)
			continue
		} else if isMultipart(ct) {
			settleAll(u, fmt.Errorf("batch: changeset %q: response part: %w", cs.id, err))
			continue
		}
		failed := ""
		if id != cs.id {
			failed = id // Content-ID, if any, names the call that failed
		}
		readFailure(&mr, p, cs, failed, u)
	}
}

// isMultipart reports whether a Content-Type is a multipart one.
func isMultipart(ct string) bool {
	return len(ct) >= 10 && strings.EqualFold(ct[:10], "multipart/")
}

// readCall settles c with the response in part p: the final response,
// after any interim (1xx) ones, as net/http's client skips them. Anything
// but blank lines after it is c's error (mixed.ErrDataAfterBody), and
// only c's.
func readCall(mr *mixed.MessageReader, p io.Reader, c *Call) {
	mr.Reset(p)
	m, err := mr.ReadFinalResponse(c.req.Method)
	if err != nil {
		c.settle(nil, fmt.Errorf("batch: call %q: response part: %w", c.id, err))
		return
	}
	resp := m.HTTPResponse(c.req)
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		b, err = decodeContent(resp, c.req, b)
	}
	if err != nil {
		c.settle(nil, fmt.Errorf("batch: call %q: response body: %w", c.id, err))
		return
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	c.settle(resp, nil)
}

// readChangeset settles the calls of a committed changeset from its nested
// multipart part p, matched by Content-ID or else by position.
func readChangeset(mr *mixed.MessageReader, p *mixed.Part, boundary string, calls []*Call) {
	r := mixed.NewReader(p, boundary)
	for i := 0; ; i++ {
		q, err := r.NextPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			// The calls answered so far keep their responses.
			settleAll(calls, fmt.Errorf("batch: changeset %q: reading its response: %w", calls[0].cs.id, err))
			return
		}
		var c *Call
		if cid := q.Header.Get("Content-ID"); cid != nil {
			id := callID(cid)
			for _, m := range calls {
				if m.id == id {
					c = m
					break
				}
			}
		} else if i < len(calls) {
			c = calls[i]
		}
		if c != nil {
			readCall(mr, q, c)
		}
	}
}

// readFailure settles every call of changeset cs with a ChangesetError
// holding the single response in part p; failed is the id of the call it
// answers, "" for the changeset as a whole.
func readFailure(mr *mixed.MessageReader, p io.Reader, cs *Changeset, failed string, calls []*Call) {
	method := http.MethodPost
	var req *http.Request
	for _, c := range calls {
		if c.id == failed {
			method, req = c.req.Method, c.req
		}
	}
	mr.Reset(p)
	m, err := mr.ReadFinalResponse(method)
	if err != nil {
		settleAll(calls, fmt.Errorf("batch: changeset %q: response part: %w", cs.id, err))
		return
	}
	resp := m.HTTPResponse(req)
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		b, err = decodeContent(resp, req, b)
	}
	if err != nil {
		settleAll(calls, fmt.Errorf("batch: changeset %q: response body: %w", cs.id, err))
		return
	}
	resp.ContentLength = int64(len(b))
	for _, c := range calls {
		r2 := *resp
		r2.Body = io.NopCloser(bytes.NewReader(b))
		c.settle(nil, &ChangesetError{ID: failed, StatusCode: resp.StatusCode, Response: &r2, changeset: cs.id})
	}
}

// settleAll settles the calls not settled yet with err.
func settleAll(calls []*Call, err error) {
	for _, c := range calls {
		c.settle(nil, err)
	}
}
