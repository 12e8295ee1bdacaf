package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mixedcodec/mixed"
)

// run serves the calls with at most Concurrency of them at once. A
// changeset is one unit of work: its calls run one after another.
func (h *Handler) run(st *batchState, outer *http.Request) {
	n := len(st.calls)
	// The batch's own, not the reused state's: a worker may still be
	// telling that it is done when the batch is over (see progress).
	st.prog = &progress{fin: make([]atomic.Bool, n), wake: make(chan struct{}, 1)}
	st.prog.want.Store(-1)
	prog := st.prog
	// The responses are new for each batch: a handler may keep its
	// ResponseWriter after it returned, and must never reach another
	// call's response through it. They are allocated a few dozen at a
	// time, small enough for the allocator's size classes.
	var recs []response
	unit := 0
	for i := range n {
		c := &st.calls[i]
		if c.kind != memberCall {
			unit = i
		}
		if len(recs) == 0 {
			recs = make([]response, min(n-i, responsesPerAlloc))
		}
		rw := &recs[0]
		recs = recs[1:]
		rw.init(st)
		rw.unit, rw.held, rw.keep = unit, c.kind == memberCall, c.wantResult
		c.rec = rw
	}
	// The workers take the units in request order by counting through
	// starts: no channel, whose lock both cores would take for each call.
	// The count is this batch's own: a worker that finds nothing left may
	// look after the batch is over and its state serves another.
	st.starts = st.starts[:0]
	for i := 0; i < n; i += 1 + st.calls[i].members {
		st.starts = append(st.starts, i)
	}
	starts, taken := st.starts, new(atomic.Int64)
	st.units = len(starts)
	scheme := "http"
	if outer.TLS != nil {
		scheme = "https"
	}
	st.outer = outer
	st.base = url.URL{Scheme: scheme, Host: outer.Host}
	// What every call inherits from the batch request is found once,
	// not by a walk of its header and a parse of its query per call.
	st.inherit = st.inherit[:0]
	st.browser = fromBrowser(outer.Header)
	conn := outer.Header["Connection"]
	for k, vv := range outer.Header {
		if inherited(k) && !connectionOption(conn, k) {
			st.inherit = append(st.inherit, field{k, vv})
		}
	}
	st.query = nil
	if outer.URL.RawQuery != "" {
		st.query = outer.URL.Query()
	}
	if h.opts.Changesets {
		// Relative targets resolve against the batch URL, as OData's
		// resolve against the service root.
		st.base.Path = outer.URL.Path
	}
	workers := min(h.opts.Concurrency, st.units)
	if st.odata(h) {
		// OData processes a batch in order and stops at the first
		// error: one worker makes halt-on-error exact.
		workers = min(1, st.units)
	}
	for len(st.workers) < workers {
		// Absolute-form targets are parsed so that callRequest can
		// accept the ones on the batch endpoint's own host.
		st.workers = append(st.workers, &worker{mr: mixed.NewMessageReaderOptions(nil, h.messageOptions())})
	}
	for _, wk := range st.workers[:workers] {
		go func() {
			for {
				k := int(taken.Add(1)) - 1
				if k >= len(starts) {
					return
				}
				i := starts[k]
				if st.calls[i].kind == changesetHead {
					h.serveChangeset(st, i, wk)
				} else {
					h.serveCall(outer.Context(), st, i, wk)
				}
				prog.finish(i)
			}
		}()
	}
}

// progress tells respond which units are done, without a channel
// operation per call (whose lock both cores would take): a worker marks
// its unit finished, and wakes respond only when it waits for that one.
type progress struct {
	fin  []atomic.Bool // by the index of a unit's first call
	want atomic.Int64  // the unit respond waits for, or -1
	wake chan struct{} // capacity 1: respond may find a stale token
}

// finish marks unit i done. Store, then load want: with respond's store of
// want, then load of fin, one of the two sees the other's write.
func (p *progress) finish(i int) {
	p.fin[i].Store(true)
	if p.want.Load() == int64(i) {
		select {
		case p.wake <- struct{}{}:
		default: // a token is there already
		}
	}
}

// await waits for unit i to be done.
func (p *progress) await(i int) {
	p.want.Store(int64(i))
	for !p.fin[i].Load() {
		<-p.wake
	}
	p.want.Store(-1)
}

// responsesPerAlloc is how many responses run allocates at once.
const responsesPerAlloc = 32

// messageOptions are the options calls are read with: absolute-form
// targets are parsed so that callRequest can accept the ones on the batch
// endpoint's own host, and relative ones with changesets (OData's).
func (h *Handler) messageOptions() mixed.MessageOptions {
	return mixed.MessageOptions{AllowAbsoluteTargets: true, AllowRelativeTargets: h.opts.Changesets}
}

// A worker serves calls one after another with its own reusable parser.
type worker struct {
	mr  *mixed.MessageReader
	src chunkSource
	// whole checks, for a call with a body, that nothing follows the
	// body in its part before the call runs.
	whole    *mixed.MessageReader
	wholeSrc chunkSource
	// inherited is where the values the worker's calls inherit are
	// carved from (see inheritInto): never handed out twice.
	inherited []string
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
func (h *Handler) serveCall(ctx context.Context, st *batchState, i int, wk *worker) {
	c := &st.calls[i]
	defer st.settle(i)
	var req *http.Request
	if h.observed(ctx) {
		start := time.Now()
		defer func() { h.observe(ctx, st, c, req, start) }()
	}
	if c.err != nil {
		c.rec.fail(http.StatusBadRequest, c.err.Error())
		return
	}
	if why, halted := st.halted(); halted && c.kind != memberCall {
		c.rec.failJSON(http.StatusFailedDependency, why)
		return
	}
	if err := st.awaitDeps(c); err != nil {
		c.rec.failJSON(http.StatusFailedDependency, err.Error())
		return
	}
	req, err := h.callRequest(ctx, st, i, wk)
	if err != nil {
		req = nil
	}
	if err == nil && len(c.refs) > 0 {
		// Only a call with result references: dependsOn and $id urls
		// make deps too, and leave the call's text as it is.
		err = h.substitute(st, c, req)
	}
	if err == nil {
		st.inheritQuery(req)
		err = h.checkPath(req)
	}
	if err != nil {
		// Declared here, not above: errors.As moves it to the heap.
		var re *refError
		if errors.As(err, &re) {
			c.rec.failJSON(http.StatusFailedDependency, err.Error())
		} else {
			c.rec.fail(http.StatusBadRequest, err.Error())
		}
		wk.mr.Reset(nil)
		return
	}
	if c.kind == memberCall || c.referenced {
		// Kept until the batch ends, as the base of $id references:
		// its own strings, not views of the string of the whole head.
		c.url = cloneURL(req.URL)
	}
	c.rec.head = req.Method == http.MethodHead
	if h.opts.CallTimeout > 0 {
		h.serveTimed(st, i, req)
	} else {
		h.invoke(c, c.rec, req)
		c.rec.end()
	}
	// The call is over: its request body reads nothing more, even where
	// its handler handed it to a goroutine that goes on (a reverse
	// proxy's transport, http.TimeoutHandler's inner handler).
	wk.mr.Reset(nil)
}

// invoke serves req with the inner handler, turning a panic into a 500
// part and a log entry, as net/http logs a panicking handler. A panic with
// http.ErrAbortHandler is how a handler gives up on a response it began
// (httputil.ReverseProxy's, when its upstream's body fails): net/http
// logs none, and the part says so rather than that the handler panicked.
func (h *Handler) invoke(c *call, rw *response, req *http.Request) {
	// Last, once a panic has made its part: the head counts, fixed now.
	defer rw.returned()
	defer func() {
		if v := recover(); v != nil {
			msg := "batch: the call's handler aborted its response"
			if v != http.ErrAbortHandler {
				h.logf("batch: panic serving call %d (%q) %s %s: %v\n%s", c.part, c.cid, req.Method, req.URL.RequestURI(), v, debug.Stack())
				msg = "batch: the call's handler panicked"
			}
			rw.fail(http.StatusInternalServerError, msg)
		}
	}()
	h.inner.ServeHTTP(rw, req)
}

// serveTimed serves call i under CallTimeout: its handler runs on a
// goroutine of its own, so that a handler that ignores its context can be
// left behind at the deadline, and the call answers 504.
func (h *Handler) serveTimed(st *batchState, i int, req *http.Request) {
	c := &st.calls[i]
	rw := c.rec
	ctx, cancel := context.WithTimeout(req.Context(), h.opts.CallTimeout)
	defer cancel()
	req = req.WithContext(ctx)
	// The handler's goroutine may outlive the batch, whose state the next
	// batch reuses: it gets a copy of what it logs.
	label := &call{part: c.part, cid: bytes.Clone(c.cid)}
	finished := make(chan struct{})
	var late bool // read only after finished is closed
	go func() {
		defer close(finished)
		h.invoke(label, rw, req)
		late = ctx.Err() != nil
	}()
	select {
	case <-finished:
		h.endTimed(ctx, rw, late)
		return
	case <-ctx.Done():
	}
	select {
	case <-finished: // it ended as its context did
		h.endTimed(ctx, rw, late)
		return
	default:
	}
	fresh := st.out.abandon(rw)
	c.rec = fresh
	if !fresh.streaming {
		fresh.fail(http.StatusGatewayTimeout, h.timeoutMessage(ctx))
	}
}

// abandon gives up on rw, the response of a call whose handler runs past
// its deadline, and returns the fresh response that answers the call in
// its place. rw's ResponseWriter fails from now on (no ResponseWriter is
// ever reused). When rw's part had begun to stream, the fresh response
// takes over the part, which is cut short where it stands (writeUnit logs
// it), its outcome the timeout; otherwise the caller fails it.
func (o *output) abandon(rw *response) *response {
	o.mu.Lock()
	rw.endErr, rw.abandoned = http.ErrHandlerTimeout, true
	rw.over.Store(true)
	// A Write of its that waits for room fails now, at the deadline, not
	// when something else wakes the batch's writers: the batch may not
	// move (its head writes to a client that does not read), nor room
	// free (other batches hold the Handler's budget).
	o.cond.Broadcast()
	streaming := rw.streaming
	// Its head is dropped with it: its fields are the handler's, which
	// goes on, until it returns (see returned).
	o.release(rw.headMem)
	rw.headMem = 0
	if !streaming {
		o.release(int64(rw.body.Len()))
		rw.body = bytes.Buffer{} // not the budget's any more
	}
	o.unlock()
	fresh := &response{out: o, h: make(http.Header)}
	fresh.unit, fresh.held, fresh.keep, fresh.head = rw.unit, rw.held, rw.keep, rw.head
	if !streaming {
		return fresh
	}
	fresh.streaming, fresh.failed = true, true
	fresh.status, fresh.wroteHeader = http.StatusGatewayTimeout, true
	// After a write in progress, which counts in sent: startStream's
	// included, which may be writing the part's head and is yet to send
	// what the handler buffered before its deadline (sendBuffered reads
	// the body under o.mu). Taking the body before it did sent a part cut
	// short before its first byte: an empty 200, where a part without a
	// Content-Length shows no sign of the cut.
	o.wmu.Lock()
	fresh.length = rw.length
	fresh.sent.Store(rw.sent.Load())
	if o.owner == rw {
		o.owner = fresh
	}
	o.wmu.Unlock()
	o.mu.Lock()
	o.release(int64(rw.body.Len())) // a copy kept for references, if any
	rw.body = bytes.Buffer{}
	o.unlock()
	return fresh
}

// endTimed ends the response of a timed call whose handler returned. A
// handler that returned after its deadline without writing anything most
// likely returned because its context ended (as a handler blocked on
// ctx.Done does): its silence is the timeout's, not an empty 200. Which
// of the two a call gets is decided by whether its context had ended when
// its handler returned (late), not by which of the two the batch's select
// saw first. A handler that wrote a response keeps it, deadline or not.
func (h *Handler) endTimed(ctx context.Context, rw *response, late bool) {
	o := rw.out
	o.mu.Lock()
	silent := !rw.wroteHeader && !rw.streaming
	o.mu.Unlock()
	if late && silent {
		rw.fail(http.StatusGatewayTimeout, h.timeoutMessage(ctx))
	}
	rw.end()
}

// timeoutMessage says why a timed call's context ended.
func (h *Handler) timeoutMessage(ctx context.Context) string {
	if ctx.Err() != context.DeadlineExceeded {
		return "batch: the call was cancelled: " + context.Cause(ctx).Error()
	}
	return fmt.Sprintf("batch: the call did not finish within %s", h.opts.CallTimeout)
}

// checkWhole reads the request in raw to its end, so that a part that
// holds more than one message (a body, then a second request) answers 400
// before its call runs, not when its handler happens to read the body to
// its end. The body is read as views of raw, copying nothing.
func (h *Handler) checkWhole(wk *worker, raw []byte) error {
	if wk.whole == nil {
		wk.whole = mixed.NewMessageReaderOptions(nil, h.messageOptions())
	}
	wk.wholeSrc.b = raw
	wk.whole.Reset(&wk.wholeSrc)
	defer wk.whole.Reset(nil)
	m, err := wk.whole.ReadRequest()
	if err == nil {
		_, err = m.Body.WriteTo(io.Discard)
	}
	return err
}

// callRequest builds the *http.Request of a call, as if it had arrived
// alone at the batch endpoint.
func (h *Handler) callRequest(ctx context.Context, st *batchState, i int, wk *worker) (*http.Request, error) {
	outer, base := st.outer, &st.base
	c := &st.calls[i]
	wk.src.b = c.raw
	wk.mr.Reset(&wk.src)
	m, err := wk.mr.ReadRequest()
	if err != nil {
		return nil, err
	}
	if m.ContentLength > 0 || m.Chunked {
		// A body that runs to the end of the part has nothing after it.
		if err := h.checkWhole(wk, c.raw); err != nil {
			return nil, err
		}
	}
	// Every Host field, not the first only: HTTPRequest drops them all,
	// and net/http, which refuses several, never lets one through.
	for host := range m.Header.ValuesBytes("Host") {
		if !sameHost(string(host), outer.Host, base.Scheme) {
			return nil, fmt.Errorf("batch: call to host %q, not the batch endpoint's %q", clip(string(host)), clip(outer.Host))
		}
	}
	var loc *url.URL
	if c.locRef > 0 {
		if loc, err = st.locationTarget(i); err != nil {
			return nil, err
		}
	} else if c.kind == memberCall && st.format == FormatMultipart && len(m.Target) > 1 && m.Target[0] == '$' {
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
		return nil, fmt.Errorf("batch: call target %q is not on the batch endpoint %s://%s", clip(string(m.Target)), base.Scheme, clip(outer.Host))
	}
	if req.RequestURI != "" && req.RequestURI[0] != '/' {
		// An absolute-form target on our own host, or a relative one,
		// reduced to the path it names.
		req.RequestURI = req.URL.RequestURI()
	}
	req.Host = outer.Host
	req.RemoteAddr = outer.RemoteAddr
	req.TLS = outer.TLS
	// A call's response is a part of the batch's, which cannot switch
	// protocols: a reverse proxy that forwarded the Upgrade would get a
	// 101 whose connection, which it cannot hand to the client, it
	// leaves open (golang/go#80875).
	delete(req.Header, "Upgrade")
	if st.browser {
		// A script may not set the fields by which the browser says
		// where a request came from; in a call, it could, and a script
		// let post a batch cross-site would make every call say it came
		// from the API's own origin, past the cross-site defenses of
		// the handlers behind the batch. The batch request's own, which
		// the browser set, apply to every call instead.
		for k := range req.Header {
			if provenance(k) {
				delete(req.Header, k)
			}
		}
		// Nor may it name them as fields of its connection, which a
		// proxy behind the batch would drop.
		if conn, ok := req.Header["Connection"]; ok {
			if conn = withoutProvenanceOptions(conn); len(conn) > 0 {
				req.Header["Connection"] = conn
			} else {
				delete(req.Header, "Connection")
			}
		}
	}
	st.inheritInto(req.Header, wk)
	return req, nil
}

// inheritQuery gives req each parameter of the batch request's query that
// it does not have. It runs after the call's result references are
// substituted: the query is encoded anew, which may spell a reference
// otherwise than the call did ("my+key" for "my%20key"), and a reference
// in the batch request's query is none of its calls'.
func (st *batchState) inheritQuery(req *http.Request) {
	if st.query == nil {
		return
	}
	q := req.URL.Query()
	changed := false
	for k, vv := range st.query {
		if _, ok := q[k]; !ok {
			// Shared by the calls, but only read: q is encoded and
			// dropped.
			q[k] = vv
			changed = true
		}
	}
	if changed {
		req.URL.RawQuery = q.Encode()
		req.RequestURI = req.URL.RequestURI()
	}
}

// observed reports whether calls are reported, to OnCall or to the
// Logger's debug level.
func (h *Handler) observed(ctx context.Context) bool {
	return h.opts.OnCall != nil || h.opts.Logger != nil && h.opts.Logger.Enabled(ctx, slog.LevelDebug)
}

// observe reports call c, which began at start, once it has ended; req is
// its request, nil when it had none that parsed.
func (h *Handler) observe(ctx context.Context, st *batchState, c *call, req *http.Request, start time.Time) {
	info := CallInfo{ID: requestID(c.cid), Duration: time.Since(start), Attempts: 1}
	if req != nil {
		info.Method, info.Target = req.Method, req.URL.RequestURI()
	}
	o := &st.out
	o.mu.Lock()
	rw := c.rec
	info.Status, info.Bytes = rw.status, rw.sent.Load()+int64(rw.body.Len())+rw.headBytes
	o.mu.Unlock()
	if info.Status == 0 {
		info.Status = http.StatusOK // net/http's default, as the part says
	}
	if h.opts.OnCall != nil {
		h.opts.OnCall(info)
	}
	if l := h.opts.Logger; l != nil {
		l.LogAttrs(ctx, slog.LevelDebug, "batch call", slog.String("id", info.ID), slog.String("method", info.Method),
			slog.String("target", info.Target), slog.Int("status", info.Status),
			slog.Duration("duration", info.Duration), slog.Int64("bytes", info.Bytes))
	}
}

// A field is a header field of the batch request that its calls inherit.
type field struct {
	name   string
	values []string
}

// inheritInto gives h, a call's header, each inherited field it does not
// have. Each call gets values of its own: the calls run at once, and a
// handler may change a value in place or append to it, which must reach
// neither the batch request nor the other calls. One slice holds them
// all, each field's values capped so that an append copies; it is carved
// from wk's inherited, which holds the values of many calls, each part
// handed out once: one allocation for many calls, where one a call was
// one of the 16 a call of BenchmarkBatchLoopback allocated (net/http's
// client sends a User-Agent, which every call inherits).
func (st *batchState) inheritInto(h http.Header, wk *worker) {
	n := 0
	for _, f := range st.inherit {
		if _, ok := h[f.name]; !ok {
			n += len(f.values)
		}
	}
	if n == 0 {
		return
	}
	if len(wk.inherited) < n {
		wk.inherited = make([]string, max(n, inheritedPerAlloc))
	}
	vals := wk.inherited[:0:n]
	wk.inherited = wk.inherited[n:]
	for _, f := range st.inherit {
		if _, ok := h[f.name]; !ok {
			i := len(vals)
			vals = append(vals, f.values...)
			h[f.name] = vals[i:len(vals):len(vals)]
		}
	}
}

// inheritedPerAlloc is how many inherited values inheritInto allocates at
// once: 1 KiB, a size class of the allocator.
const inheritedPerAlloc = 64

// cloneURL returns a copy of u whose strings are its own.
func cloneURL(u *url.URL) *url.URL {
	v := *u
	for _, s := range []*string{&v.Scheme, &v.Opaque, &v.Host, &v.Path, &v.RawPath, &v.RawQuery, &v.Fragment, &v.RawFragment} {
		*s = strings.Clone(*s)
	}
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			v.User = url.UserPassword(strings.Clone(u.User.Username()), strings.Clone(p))
		} else {
			v.User = url.User(strings.Clone(u.User.Username()))
		}
	}
	return &v
}
