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
	// sent concurrently, and their results merged.
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
		if b.ids[id] == nil {
			return id
		}
	}
}

// A Batch is a set of calls sent together by [Batch.Do]. Build it with
// [Batch.Add]; it is not safe for concurrent use until Do is called, after
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
}

// A Call is one request of a batch and, once the batch has been sent, its
// result: gapi's "each request is also its own promise".
type Call struct {
	id    string
	index int     // position in the batch
	deps  []*Call // the calls whose results this one references
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
// sent no response part for it, or its part did not parse. It is nil while
// the call is pending.
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
// duplicate id, or to add after Do.
func (b *Batch) Add(req *http.Request, id string) (*Call, error) {
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
	if req.URL.Host != "" && !strings.EqualFold(req.URL.Host, ep.Host) {
		return nil, fmt.Errorf("batch: request to host %q, not the batch endpoint's %q", req.URL.Host, ep.Host)
	}
	if id == "" {
		id = b.nextID()
	} else if b.ids[id] != nil {
		return nil, fmt.Errorf("batch: duplicate call id %q", id)
	}
	c := &Call{id: id, req: req, done: make(chan struct{}), index: len(b.calls)}
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
		if !slices.Contains(c.deps, d) {
			c.deps = append(c.deps, d)
		}
	}
	b.calls = append(b.calls, c)
	b.ids[id] = c
	return c, nil
}

// requestRefs returns the result references ($result[id][key]...) in a
// request's target and body. The body is read through GetBody, so the
// request is left as it was; a body without GetBody is not searched.
func requestRefs(req *http.Request) ([]ref, error) {
	refs := findRefs(req.URL.RequestURI())
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
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
			refs = append(refs, findRefs(string(body))...)
		}
	}
	return refs, nil
}

// chunks splits the calls into batch requests of at most max calls, so
// that every chain of result references stays in one request (a server
// can only resolve references within a request): the calls linked by
// references form groups, kept whole and in order.
func (b *Batch) chunks(max int) ([][]*Call, error) {
	// Union-find over the calls, by index.
	parent := make([]int, len(b.calls))
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
			parent[find(c.index)] = find(d.index)
		}
	}
	groups := map[int][]*Call{}
	var order []int
	for _, c := range b.calls {
		r := find(c.index)
		if groups[r] == nil {
			order = append(order, r)
		}
		groups[r] = append(groups[r], c)
	}
	var out [][]*Call
	var cur []*Call
	for _, r := range order {
		g := groups[r]
		if len(g) > max {
			return nil, fmt.Errorf("batch: %d calls linked by result references (from call %q) exceed the %d calls of one batch request", len(g), g[0].id, max)
		}
		if len(cur)+len(g) > max {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, g...)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	for _, ch := range out {
		// References point to earlier calls: keep the order of Add.
		slices.SortFunc(ch, func(x, y *Call) int { return x.index - y.index })
	}
	return out, nil
}

// Calls returns the calls in the order they were added.
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
		conc = 4
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
// outer (same name, same values) are not repeated in its part.
func writeCalls(w *mixed.Writer, calls []*Call, outer http.Header) error {
	var h mixed.Header
	var mw mixed.MessageWriter
	for _, c := range calls {
		h.Reset()
		h.Add("Content-Type", "application/http")
		h.Add("Content-ID", c.id)
		pw, err := w.CreatePart(&h)
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
	}
	return w.Close()
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
// Parts are matched to calls by Content-ID ("response-" + id, with or
// without angle brackets), or by position when a part has none.
func readResponses(body io.Reader, boundary string, calls []*Call) error {
	byID := make(map[string]*Call, len(calls))
	for _, c := range calls {
		byID[c.id] = c
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
		var c *Call
		if cid := p.Header.Get("Content-ID"); cid != nil {
			c = byID[callID(cid)]
		} else if i < len(calls) {
			c = calls[i]
		}
		if c == nil {
			continue // a part for no call of ours: nothing to settle
		}
		mr.Reset(p)
		m, err := mr.ReadResponse(c.req.Method)
		if err != nil {
			c.settle(nil, fmt.Errorf("batch: call %q: response part: %w", c.id, err))
			continue
		}
		resp := m.HTTPResponse(c.req)
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			c.settle(nil, fmt.Errorf("batch: call %q: response body: %w", c.id, err))
			continue
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		c.settle(resp, nil)
	}
}

// callID extracts a call id from a response part's Content-ID.
func callID(cid []byte) string {
	s := strings.TrimSpace(string(cid))
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		s = s[1 : len(s)-1]
	}
	return strings.TrimPrefix(s, "response-")
}
