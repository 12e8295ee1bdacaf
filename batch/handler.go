package batch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mixedcodec/mixed"
)

// Default limits of a [Handler]; see [HandlerOptions].
const (
	DefaultMaxCalls     = 1000
	DefaultMaxBodyBytes = 64 << 20
	DefaultMaxPartBytes = 16 << 20
)

// HandlerOptions configures a [Handler]. A zero field selects its default.
type HandlerOptions struct {
	// MaxCalls limits the calls of one batch (default 1000, Google's
	// limit). A larger batch is refused with 400 before any call runs.
	MaxCalls int
	// MaxBodyBytes limits the whole batch request body (default 64 MiB).
	// A larger one is refused with 413 before any call runs.
	MaxBodyBytes int64
	// MaxPartBytes limits one part (default 16 MiB). A larger part gets
	// a 400 response part; the other calls still run.
	MaxPartBytes int64
	// Concurrency limits the calls of one batch that run at once
	// (default 4 × GOMAXPROCS). Calls may run in any order, as Google's
	// batch documentation allows; their responses are written in request
	// order.
	Concurrency int
	// MaxBufferedBytes limits the response bytes a batch holds in memory
	// (default 32 MiB): the response at the head of the request order
	// streams to the client as its handler writes it, and the calls
	// behind it, which finished or wrote early, buffer theirs; a call
	// whose Write would take the batch past the limit waits until its
	// turn comes. The head never waits, so a batch always progresses.
	MaxBufferedBytes int64
	// CallTimeout bounds each call (default: none). A call still running
	// at the deadline has its context cancelled and answers 504 Gateway
	// Timeout in its part, unless its response had begun to stream; its
	// handler may go on, but its request body and ResponseWriter are dead
	// to it from then on.
	CallTimeout time.Duration
	// PathPrefix is the path the calls must stay inside (default "/"),
	// such as a gateway's upstream base path. A call target's dot
	// segments are resolved first (RFC 3986 §5.2.4, counting %2E as a
	// dot and %2F as a slash), after result references are substituted;
	// a target that would leave the prefix answers 400 in its part.
	PathPrefix string
	// MaxEpilogueBytes limits the bytes after the close delimiter that
	// the Handler reads and discards (default 64 KiB); more is an outer
	// 400. The Handler reads the request body to its end before it
	// answers, so that net/http notices a client that goes away and
	// cancels the calls' contexts.
	MaxEpilogueBytes int64
	// ErrorLog receives what the batch cannot tell its client: a panic
	// in the inner handler, with its stack, or a response that failed
	// after it began to stream. Nil logs through slog.Default().
	ErrorLog *slog.Logger

	// ResultReferences turns on Bitrix24-style result references: a
	// call's target, query or JSON body may hold $result[id][key]...,
	// the value at that path in the JSON response of the earlier call
	// whose Content-ID (without angle brackets) is id. A call runs only
	// after the calls it references (calls without references still run
	// concurrently); in a target or query the value's text goes in
	// URL-escaped, in a JSON body a string that is exactly one reference
	// becomes the JSON value itself. A reference to an unknown or later
	// call, to itself, to a missing field or to a call that failed (status
	// ≥ 400) fails the call with 424 Failed Dependency and a JSON error
	// saying which reference and why; such a call never reaches the inner
	// handler. The $, [ and ] of a reference may be percent-encoded.
	ResultReferences bool
	// HaltOnError stops starting calls after the first call that ends
	// with status ≥ 400; every call not started gets a 424 part saying
	// which call it was skipped for. Calls already running finish and are
	// reported.
	HaltOnError bool
	// HaltHeader names an outer request header that turns HaltOnError on
	// for one batch when its value is "true" or "1"; "" for none.
	HaltHeader string

	// Changesets turns on changesets, OData's atomic groups: a part whose
	// media type is multipart/mixed holds calls (application/http parts)
	// that run in order, one at a time, as one unit that commits or rolls
	// back (see BeginGroup); the changeset as a whole runs concurrently
	// with the batch's other calls. When every call of a changeset ends
	// with a status below 400, its response is one multipart/mixed part
	// holding their responses, with "response-" Content-IDs (the
	// requests' own in OData mode); otherwise the
	// calls after the failed one do not run, and the changeset's response
	// is the failed call's response alone.
	//
	// Inside a changeset, a target that starts with $id, id the
	// Content-ID of an earlier call of the same changeset, followed by the
	// end, "/" or "?" (OData's "$1/Orders"), stands for the Location of
	// that call's response: the call fails with 424 Failed Dependency when
	// that response has no Location, or when id names the call itself or
	// a later one. Other targets that start with $ ($metadata) are left
	// as they are. With changesets on, relative targets ("Customers") are
	// accepted, resolved against the batch request's URL.
	//
	// A result reference (see ResultReferences) may name a call inside a
	// changeset; its result is known once the changeset has committed, and
	// a call that was rolled back counts as failed.
	Changesets bool
	// BeginGroup, when set, makes changesets atomic (and turns them on):
	// it is called with the batch request's context before the first call
	// of each changeset, and each call of the changeset gets a context
	// carrying the Group (see GroupFromContext), so that the inner handler
	// can join it. The Group is committed when every call of the
	// changeset succeeded, and rolled back otherwise. An error from
	// BeginGroup or Commit fails the whole changeset with 500. A changeset
	// waits for the calls outside it that its calls reference before its
	// group begins, never inside it.
	BeginGroup func(ctx context.Context) (Group, error)
	// OData turns on the rules of OData's multipart $batch: changesets;
	// the calls and changesets of a batch run one at a time in request
	// order, whatever Concurrency says, as OData requires; responses carry
	// the Content-ID of their request unchanged (not "response-" ones),
	// under boundaries that start "batchresponse_" and
	// "changesetresponse_" as Microsoft's OData library writes them; relative
	// targets resolved against the batch URL (Customers sent to
	// /service/$batch is /service/Customers); and halt-on-error, unless the
	// batch request carries "Prefer: odata.continue-on-error" (or OData
	// 4.01's "continue-on-error"), in which case the response says
	// "Preference-Applied: odata.continue-on-error".
	OData bool
}

func (o HandlerOptions) withDefaults() HandlerOptions {
	if o.MaxCalls <= 0 {
		o.MaxCalls = DefaultMaxCalls
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxPartBytes <= 0 {
		o.MaxPartBytes = DefaultMaxPartBytes
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4 * runtime.GOMAXPROCS(0)
	}
	o.Changesets = o.Changesets || o.OData || o.BeginGroup != nil
	return o
}

// A Handler serves Google-style batch requests: a POST whose body is
// multipart/mixed, each part (Content-Type: application/http) a complete
// HTTP/1.1 request. It unwraps every call into an [*http.Request], serves it
// with the inner handler exactly as if it had arrived alone, and answers
// with a multipart/mixed response whose parts are the calls' responses, in
// request order, each echoing the call's Content-ID with "response-"
// inserted ("1" → "response-1", "<a+b>" → "<response-a+b>").
//
// Each call sees the outer request's headers, but Content-* and hop-by-hop
// ones, and its query parameters, unless it sets its own; its Host,
// RemoteAddr and TLS state are the outer request's, and its context is the
// outer request's context. Only origin-form targets (/path?query) are
// accepted, and absolute-form ones whose scheme and host are the batch
// endpoint's own (reduced to their path, as Google's .NET client sends
// them); any other target, or a Host field naming another host, gets a 400
// response part and never reaches the inner handler. A target such as
// "//evil.example/x" is a path on the batch host.
//
// A Host field, and the host of an absolute-form target, names the batch
// endpoint when the host names are equal (case-insensitively) and its port
// is absent or the endpoint's: Google's Ruby client writes the host name
// alone. Another host is a 400 part.
//
// Failures stay as local as they can: a malformed or oversized part, or a
// panic in the inner handler, gets a response part of its own (400, or 500
// for the panic) while the other calls run; a malformed envelope (not
// multipart, bad boundary, truncated) gets an outer 400, too many calls an
// outer 400 and too large a body an outer 413, before any call runs.
//
// The response streams: a part is sent as soon as its call and every call
// before it are done, flushed through [http.ResponseController], so
// middleware that wraps the ResponseWriter must implement [http.Flusher]
// or an Unwrap method; without either the parts go out together at the
// end.
type Handler struct {
	inner http.Handler
	opts  HandlerOptions
	pool  sync.Pool // *batchState
}

// NewHandler returns a Handler that dispatches each call of a batch to
// inner. opts may be nil for the defaults.
func NewHandler(inner http.Handler, opts *HandlerOptions) *Handler {
	h := &Handler{inner: inner}
	if opts != nil {
		h.opts = *opts
	}
	h.opts = h.opts.withDefaults()
	return h
}

// call is one call of a batch: its part's Content-ID and raw body (views
// into the batch's arena), then its response.
type call struct {
	cid, raw []byte
	err      error // a problem found while reading the part: a 400 part
	rec      *recorder

	// With result references: the earlier calls this one waits for, a
	// reference that cannot be resolved, and, for a call that others
	// reference, its outcome, published by closing done.
	refs       []ref
	deps       []int
	refErr     error
	referenced bool
	done       chan struct{}
	status     int
	result     any
	resultErr  error

	// A changeset is a call of its own (its head, which has no request)
	// followed by its members. The head records how many members follow
	// it and, once it has run, which one failed (0 for none: a member is
	// never at index 0); a member knows its head, and keeps its URL for
	// the $id targets of the members after it.
	part      int // the batch part it came in, for messages
	changeset bool
	members   int
	failed    int
	member    bool
	head      int
	url       *url.URL
	// groupErr is why a member's success does not count: its changeset
	// rolled back or never ran.
	groupErr string
}

// batchState is the memory of one batch, reused across batches.
type batchState struct {
	rd    mixed.Reader
	arena []byte
	calls []call
	done  chan int
	mw    mixed.MessageWriter
	w     mixed.Writer
	bw    *bufio.Writer
	ph    mixed.Header
	rh    mixed.Header
	keys  []string
	cidb  []byte
	// workers keep their parsers, and recs the calls' recorders, across
	// batches.
	workers []*worker
	recs    []*recorder
	// halt reports halt-on-error for this batch; haltedBy is the index
	// of the call that halted it, or -1.
	halt     bool
	haltedBy atomic.Int64
	ids      map[string]int // call ids, with result references
	// A reader and a writer for the nested bodies of changesets, and the
	// number of top-level units (calls and changesets) of the batch.
	crd   mixed.Reader
	cw    mixed.Writer
	units int
}

// Hop-by-hop fields (RFC 9110 §7.6.1) describe the outer connection and
// never apply to the calls.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Proxy-Authenticate": true, "Proxy-Authorization": true, "Expect": true,
}

// ServeHTTP serves one batch request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "batch: method "+r.Method+" not allowed; a batch is a POST", http.StatusMethodNotAllowed)
		return
	}
	boundary, err := mixed.ParseBoundary(r.Header.Get("Content-Type"))
	if err != nil {
		http.Error(w, "batch: "+err.Error(), http.StatusBadRequest)
		return
	}
	st, _ := h.pool.Get().(*batchState)
	if st == nil {
		st = &batchState{}
	}
	defer h.release(st)

	body := http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	if status, err := h.readCalls(st, body, boundary); err != nil {
		http.Error(w, "batch: "+err.Error(), status)
		return
	}
	if h.opts.ResultReferences {
		st.linkReferences()
	}
	st.halt = h.opts.HaltOnError || h.opts.HaltHeader != "" && truthy(r.Header.Get(h.opts.HaltHeader))
	if h.opts.OData {
		if preferContinue(r.Header) {
			w.Header().Set("Preference-Applied", "odata.continue-on-error")
		} else {
			st.halt = true
		}
	}
	st.haltedBy.Store(-1)
	h.run(st, r)
	h.respond(st, w, r)
}

func (h *Handler) release(st *batchState) {
	for i := range st.calls {
		if rec := st.calls[i].rec; rec != nil {
			rec.reset()
		}
		st.calls[i] = call{}
	}
	st.calls = st.calls[:0]
	st.arena = st.arena[:0]
	h.pool.Put(st)
}

// readCalls reads the whole batch body, so that no call starts before the
// batch is known to be within its limits, and keeps each part's raw bytes.
func (h *Handler) readCalls(st *batchState, body io.Reader, boundary string) (int, error) {
	st.rd.Reset(body, boundary)
	// Part bodies go into one arena; positions are kept first and turned
	// into slices at the end, since the arena moves as it grows.
	var spans []span
	ncalls := 0
	npart := -1
	tooLarge := func(err error) (int, error) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return http.StatusRequestEntityTooLarge, fmt.Errorf("batch body over %d bytes", mbe.Limit)
		}
		return 0, nil
	}
	for {
		p, err := st.rd.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if status, err := tooLarge(err); status != 0 {
				return status, err
			}
			return http.StatusBadRequest, err
		}
		npart++
		ct := p.Header.Get("Content-Type")
		if h.opts.Changesets && isMediaType(ct, "multipart/mixed") {
			at := len(st.calls)
			if err := h.readChangeset(st, p, npart, &spans, &ncalls); err != nil {
				if status, err := tooLarge(err); status != 0 {
					return status, err
				}
				if ncalls > h.opts.MaxCalls {
					return http.StatusBadRequest, fmt.Errorf("more than %d calls in one batch", h.opts.MaxCalls)
				}
				// The changeset is answered as one 400; the rest of its
				// part is skipped by the next NextPart.
				st.calls, spans = st.calls[:at+1], spans[:at+1]
				st.calls[at].members = 0
				st.calls[at].err = fmt.Errorf("part %d: changeset: %w", npart, err)
			}
			continue
		}
		if ncalls == h.opts.MaxCalls {
			return http.StatusBadRequest, fmt.Errorf("more than %d calls in one batch", h.opts.MaxCalls)
		}
		ncalls++
		c := call{part: npart}
		if !isMediaType(ct, "application/http") {
			c.err = fmt.Errorf("part %d: Content-Type %q is not application/http", npart, ct)
		}
		if err := h.readCall(st, p, &c, &spans, npart, -1); err != nil {
			if status, err := tooLarge(err); status != 0 {
				return status, err
			}
			return http.StatusBadRequest, err
		}
		st.calls = append(st.calls, c)
	}
	for i, sp := range spans {
		st.calls[i].cid = st.arena[sp.cs:sp.ce:sp.ce]
		st.calls[i].raw = st.arena[sp.rs:sp.re:sp.re]
	}
	return 0, nil
}

// A span locates a call's Content-ID and raw request in the arena.
type span struct{ cs, ce, rs, re int }

// readCall appends the Content-ID and body of part p to the arena, noting
// where they are. p is part npart of the batch, or part member of the
// changeset that is part npart (member ≥ 0).
func (h *Handler) readCall(st *batchState, p *mixed.Part, c *call, spans *[]span, npart, member int) error {
	var sp span
	sp.cs = len(st.arena)
	st.arena = append(st.arena, p.Header.Get("Content-ID")...)
	sp.ce = len(st.arena)
	sp.rs = len(st.arena)
	n, err := readAppend(&st.arena, p, h.opts.MaxPartBytes)
	if err != nil {
		return err
	}
	if n > h.opts.MaxPartBytes {
		st.arena = st.arena[:sp.rs]
		c.err = fmt.Errorf("part %d: over %d bytes", npart, h.opts.MaxPartBytes)
		if member >= 0 {
			c.err = fmt.Errorf("part %d, changeset part %d: over %d bytes", npart, member, h.opts.MaxPartBytes)
		}
	}
	sp.re = len(st.arena)
	*spans = append(*spans, sp)
	return nil
}

// readChangeset reads a changeset part: its head, then one member per
// nested part. A nested multipart part is a member that fails with 400,
// since changesets do not nest.
func (h *Handler) readChangeset(st *batchState, p *mixed.Part, npart int, spans *[]span, ncalls *int) error {
	at := len(st.calls)
	var sp span
	sp.cs = len(st.arena)
	st.arena = append(st.arena, p.Header.Get("Content-ID")...)
	sp.ce, sp.rs, sp.re = len(st.arena), len(st.arena), len(st.arena)
	st.calls = append(st.calls, call{changeset: true, part: npart})
	*spans = append(*spans, sp)
	boundary, err := mixed.ParseBoundary(string(p.Header.Get("Content-Type")))
	if err != nil {
		return err
	}
	st.crd.Reset(p, boundary)
	for {
		q, err := st.crd.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if *ncalls == h.opts.MaxCalls {
			*ncalls++
			return fmt.Errorf("more than %d calls in one batch", h.opts.MaxCalls)
		}
		*ncalls++
		c := call{member: true, head: at, part: npart}
		member := len(st.calls) - at - 1
		if ct := q.Header.Get("Content-Type"); !isMediaType(ct, "application/http") {
			c.err = fmt.Errorf("part %d, changeset part %d: Content-Type %q is not application/http (changesets do not nest)", npart, member, ct)
		}
		if err := h.readCall(st, q, &c, spans, npart, member); err != nil {
			return err
		}
		st.calls = append(st.calls, c)
		st.calls[at].members++
	}
}

// readAppend appends the rest of r to *dst, up to limit+1 bytes, and
// reports how many it read (over limit when r held more); the rest of r is
// left for the caller to skip.
func readAppend(dst *[]byte, p *mixed.Part, limit int64) (int64, error) {
	var n int64
	for {
		c, err := p.ReadChunk()
		if len(c) > 0 && n <= limit {
			take := c
			if n+int64(len(take)) > limit+1 {
				take = take[:limit+1-n]
			}
			*dst = append(*dst, take...)
		}
		n += int64(len(c))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// isMediaType reports whether the Content-Type ct has media type mt.
func isMediaType(ct []byte, mt string) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return bytes.EqualFold(bytes.TrimSpace(ct), []byte(mt))
}

// run serves the calls with at most Concurrency of them at once. A
// changeset is one unit of work: its calls run one after another.
func (h *Handler) run(st *batchState, outer *http.Request) {
	n := len(st.calls)
	if cap(st.done) < n {
		st.done = make(chan int, n)
	}
	for len(st.recs) < n {
		st.recs = append(st.recs, &recorder{h: make(http.Header)})
	}
	next := make(chan int, n)
	st.units = 0
	for i := range n {
		st.calls[i].rec = st.recs[i]
	}
	for i := 0; i < n; i += 1 + st.calls[i].members {
		next <- i
		st.units++
	}
	close(next)
	scheme := "http"
	if outer.TLS != nil {
		scheme = "https"
	}
	base := &url.URL{Scheme: scheme, Host: outer.Host}
	if h.opts.Changesets {
		// Relative targets resolve against the batch URL, as OData's
		// resolve against the service root.
		base.Path = outer.URL.Path
	}
	workers := min(h.opts.Concurrency, st.units)
	if h.opts.OData {
		// OData processes a batch in order and stops at the first
		// error: one worker makes halt-on-error exact.
		workers = min(1, st.units)
	}
	for len(st.workers) < workers {
		// Absolute-form targets are parsed so that callRequest can
		// accept the ones on the batch endpoint's own host.
		st.workers = append(st.workers, &worker{mr: mixed.NewMessageReaderOptions(nil, mixed.MessageOptions{
			AllowAbsoluteTargets: true,
			AllowRelativeTargets: h.opts.Changesets,
		})})
	}
	for _, wk := range st.workers[:workers] {
		go func() {
			for i := range next {
				if st.calls[i].changeset {
					h.serveChangeset(st, i, outer, base, wk)
				} else {
					h.serveCall(st, i, outer.Context(), outer, base, wk)
				}
				st.done <- i
			}
		}()
	}
}

// A worker serves calls one after another with its own reusable parser.
type worker struct {
	mr  *mixed.MessageReader
	src chunkSource
}

// chunkSource hands a call's raw bytes to a MessageReader in one chunk,
// so that the parser reads them in place instead of copying them into a
// buffer of its own.
type chunkSource struct{ b []byte }

func (c *chunkSource) ReadChunk() ([]byte, error) {
	if len(c.b) == 0 {
		return nil, io.EOF
	}
	b := c.b
	c.b = nil
	return b, nil
}

func (c *chunkSource) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.b)
	c.b = c.b[n:]
	return n, nil
}

// serveCall runs call i with context ctx and records its response.
func (h *Handler) serveCall(st *batchState, i int, ctx context.Context, outer *http.Request, base *url.URL, wk *worker) {
	c := &st.calls[i]
	rec := c.rec
	defer st.settle(i)
	if c.err != nil {
		rec.fail(http.StatusBadRequest, c.err.Error())
		return
	}
	if st.halt && !c.member {
		if k := st.haltedBy.Load(); k >= 0 {
			rec.failJSON(http.StatusFailedDependency, st.skipped(int(k)))
			return
		}
	}
	if err := st.awaitDeps(c); err != nil {
		rec.failJSON(http.StatusFailedDependency, err.Error())
		return
	}
	req, err := h.callRequest(st, i, ctx, outer, base, wk)
	if err == nil && len(c.deps) > 0 {
		err = st.substitute(req)
	}
	if err != nil {
		// Declared here, not above: errors.As moves it to the heap.
		var re *refError
		if errors.As(err, &re) {
			rec.failJSON(http.StatusFailedDependency, err.Error())
		} else {
			rec.fail(http.StatusBadRequest, err.Error())
		}
		return
	}
	if c.member {
		c.url = req.URL
	}
	defer func() {
		if v := recover(); v != nil {
			rec.fail(http.StatusInternalServerError, "batch: the call's handler panicked")
		}
	}()
	h.inner.ServeHTTP(rec, req)
	rec.finish()
}

// skipped says why a call is skipped: call k failed and the batch halts.
func (st *batchState) skipped(k int) string {
	c := &st.calls[k]
	what := "call"
	if c.changeset {
		what = "changeset"
	}
	return fmt.Sprintf("skipped: %s %d (%q) failed with status %d and the batch halts on errors", what, c.part, c.cid, c.status)
}

// callRequest builds the *http.Request of a call, as if it had arrived
// alone at the batch endpoint.
func (h *Handler) callRequest(st *batchState, i int, ctx context.Context, outer *http.Request, base *url.URL, wk *worker) (*http.Request, error) {
	c := &st.calls[i]
	wk.src.b = c.raw
	wk.mr.Reset(&wk.src)
	m, err := wk.mr.ReadRequest()
	if err != nil {
		return nil, err
	}
	if host := m.Header.Get("Host"); host != nil && !sameHost(string(host), outer.Host, base.Scheme) {
		return nil, fmt.Errorf("batch: call to host %q, not the batch endpoint's %q", host, outer.Host)
	}
	var loc *url.URL
	if c.member && len(m.Target) > 1 && m.Target[0] == '$' {
		if loc, err = st.contentIDTarget(i, string(m.Target)); err != nil {
			return nil, err
		}
	}
	req, err := m.HTTPRequest(ctx, base)
	if err != nil {
		return nil, err
	}
	if loc != nil {
		req.URL, req.RequestURI = loc, loc.RequestURI()
	}
	if req.URL.Scheme != base.Scheme || !sameHost(req.URL.Host, outer.Host, base.Scheme) {
		return nil, fmt.Errorf("batch: call target %q is not on the batch endpoint %s://%s", m.Target, base.Scheme, outer.Host)
	}
	if req.RequestURI != "" && req.RequestURI[0] != '/' {
		// An absolute-form target on our own host, or a relative one,
		// reduced to the path it names.
		req.RequestURI = req.URL.RequestURI()
	}
	req.Host = outer.Host
	req.RemoteAddr = outer.RemoteAddr
	req.TLS = outer.TLS
	for k, vv := range outer.Header {
		if strings.HasPrefix(k, "Content-") || hopByHop[k] {
			continue
		}
		if _, ok := req.Header[k]; !ok {
			req.Header[k] = vv
		}
	}
	if outer.URL.RawQuery != "" {
		q := req.URL.Query()
		changed := false
		for k, vv := range outer.URL.Query() {
			if _, ok := q[k]; !ok {
				q[k] = vv
				changed = true
			}
		}
		if changed {
			req.URL.RawQuery = q.Encode()
			req.RequestURI = req.URL.RequestURI()
		}
	}
	return req, nil
}

// respond writes the response parts in request order, each as soon as its
// call is done, flushing whenever the next one is not ready yet.
func (h *Handler) respond(st *batchState, w http.ResponseWriter, outer *http.Request) {
	if st.bw == nil {
		st.bw = bufio.NewWriterSize(w, 32<<10)
	} else {
		st.bw.Reset(w)
	}
	st.w.Reset(st.bw)
	if h.opts.OData {
		// The prefix of Microsoft's OData library, which some OData
		// clients look for (32 random characters follow).
		st.w.SetBoundary("batchresponse_" + st.w.Boundary())
	}
	w.Header().Set("Content-Type", st.w.ContentType())
	w.WriteHeader(http.StatusOK)
	// A ResponseController, not a w.(http.Flusher) assertion, so that
	// middleware which wraps w and has Unwrap still streams the parts.
	rc := http.NewResponseController(w)

	n := len(st.calls)
	ready := make([]bool, n)
	next := 0
	var werr error
	for got := 0; got < st.units; got++ {
		var i int
		select {
		case i = <-st.done:
		default:
			// About to wait for a call: send what is written so far,
			// and only then, so that fast calls share a write.
			if werr == nil && next > 0 {
				st.bw.Flush()
				_ = rc.Flush() // http.ErrNotSupported: the parts go out at the end
			}
			i = <-st.done
		}
		ready[i] = true
		for next < n && ready[next] {
			c := &st.calls[next]
			if werr == nil {
				if c.changeset {
					werr = h.writeChangeset(st, next)
				} else {
					werr = h.writePart(&st.w, st, c)
				}
			}
			for j := next; j <= next+c.members; j++ {
				st.calls[j].rec.reset()
				st.calls[j].rec = nil
			}
			next += 1 + c.members
		}
	}
	if werr == nil {
		if err := st.w.Close(); err == nil {
			st.bw.Flush()
		}
	}
	_ = outer
}

// writePart writes the response part of call c with w.
func (h *Handler) writePart(w *mixed.Writer, st *batchState, c *call) error {
	st.ph.Reset()
	st.ph.Add("Content-Type", "application/http")
	h.addResponseID(st, c.cid)
	pw, err := w.CreatePart(&st.ph)
	if err != nil {
		return err
	}
	rec := c.rec
	st.rh.Reset()
	st.keys = st.keys[:0]
	for k := range rec.h {
		if k != "Content-Length" && k != "Transfer-Encoding" {
			st.keys = append(st.keys, k)
		}
	}
	sort.Strings(st.keys)
	for _, k := range st.keys {
		for _, v := range rec.h[k] {
			st.rh.Add(k, strings.Trim(v, " \t")) // as net/http writes it
		}
	}
	err = st.mw.WriteResponse(pw, rec.status, "", &st.rh, rec.body.Bytes())
	if err != nil && !errors.Is(err, mixed.ErrDelimiterInBody) {
		// The handler set a field the wire cannot carry: say so in a
		// 500 of our own rather than dropping the call.
		var e mixed.Header
		e.Add("Content-Type", "text/plain; charset=utf-8")
		return st.mw.WriteResponse(pw, http.StatusInternalServerError, "", &e, []byte("batch: the call's response cannot be written: "+err.Error()+"\n"))
	}
	return err
}

// addResponseID adds the Content-ID of the response to a call or changeset
// whose Content-ID is cid, if it has one: Google's "response-" form, or in
// OData mode cid itself, as OData requires of the responses in a changeset.
func (h *Handler) addResponseID(st *batchState, cid []byte) {
	switch {
	case len(cid) == 0:
	case h.opts.OData:
		st.ph.AddBytes([]byte("Content-ID"), cid)
	default:
		st.cidb = appendResponseID(st.cidb[:0], cid)
		st.ph.AddBytes([]byte("Content-ID"), st.cidb)
	}
}

// appendResponseID appends the response Content-ID for a call's Content-ID:
// "response-" inserted after a leading "<", or before the value.
func appendResponseID(dst, cid []byte) []byte {
	if len(cid) > 0 && cid[0] == '<' {
		dst = append(dst, '<')
		dst = append(dst, "response-"...)
		return append(dst, cid[1:]...)
	}
	dst = append(dst, "response-"...)
	return append(dst, cid...)
}
