package batch

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoResponse reports a call that the batch response did not answer.
var ErrNoResponse = errors.New("batch: no response part for the call")

// ErrSkipped is the error of a call that was not sent because an earlier
// batch request of a halt-on-error batch had a failure.
var ErrSkipped = errors.New("batch: call skipped: an earlier call failed and the batch halts on errors")

// DefaultHaltHeader is the outer header that asks a Handler (whose
// HandlerOptions.HaltHeader names it, as "mixed serve" does) to halt a
// batch on its first error.
const DefaultHaltHeader = "X-Batch-Halt-On-Error"

// ErrResponseTooLarge is the error of a call whose response body exceeds
// Client.MaxResponseBytes.
var ErrResponseTooLarge = errors.New("batch: response body too large")

// ErrResponseMismatch reports a batch response whose parts cannot all be
// told apart: a part whose Content-ID names no call of the request or
// names two, two parts for one call, or parts without Content-ID that are
// not one for each call in order. The calls left without a response get
// it; no part is ever given to a call it might not answer. When such a
// part held a response (a server refusing a whole batch in a single part
// without Content-ID, as Azurite does), the error's text ends with its
// status and the start of its body. A JSON batch response is held to the
// same rule: a response object for no call, or a second one for a call.
var ErrResponseMismatch = errors.New("batch: response parts do not match the calls")

// A StatusError reports a batch request answered with a status other than
// 2xx.
type StatusError struct {
	// StatusCode and Status are the batch response's status code and
	// text, as in http.Response ("503 Service Unavailable").
	StatusCode int
	Status     string      // as in http.Response.Status
	Body       string      // the start of the response body
	Header     http.Header // the response's header (Retry-After...)
}

// Error returns the text of the error: the status and the start of the
// response body.
func (e *StatusError) Error() string {
	msg := "batch: the batch request failed: " + e.Status
	if b := strings.TrimSpace(e.Body); b != "" {
		msg += ": " + b
	}
	return msg
}

// A Client sends batches of HTTP requests to one batch endpoint, Google
// style: one POST of multipart/mixed whose parts are the calls. The zero
// Client is not usable: set Endpoint.
//
// A Client may be used by several goroutines at once. It keeps the buffers
// of its batch requests for the next ones, and so must not be copied after
// its first use; a copy made before is a Client of its own.
type Client struct {
	// Endpoint is the batch URL, such as
	// https://www.googleapis.com/batch/calendar/v3 (Google's default
	// batch path is /batch/<api>/<version>). Every call must be on its
	// host.
	Endpoint string
	// HTTPClient sends the batch requests; nil means http.DefaultClient.
	// A redirect of a batch request is followed only within the
	// Endpoint's scheme and host (its body holds the calls' own
	// credentials); one elsewhere fails it with a *StatusError.
	HTTPClient *http.Client
	// Limits bound each HTTP request: its calls (default 1000, Google's
	// limit) and its body's bytes (default none); see [LimitsGoogle] and
	// the other profiles. A larger batch is split into several requests,
	// sent concurrently, and their results merged. A changeset, and calls
	// linked by result references, are never split (each call of a
	// changeset counts): Do fails if they alone exceed MaxCalls, and
	// they fail with ErrCallTooLarge, the rest of the batch going on, if
	// they alone exceed MaxBodyBytes. A request the server refuses as a whole
	// for its size (413, or a 400 saying "too many", "exceed", "more
	// than" or "maximum", as Google's "too many requests in a batch") is
	// halved and each half sent, down to one call or changeset; a call
	// whose body cannot be read again (no GetBody) keeps the refusal.
	Limits Limits
	// Concurrency limits the batch requests of one Do in flight at once
	// (default 4).
	Concurrency int
	// HaltHeader is the outer header that asks the server to halt a
	// batch on its first error, sent for a Batch with HaltOnError
	// (default DefaultHaltHeader).
	HaltHeader string
	// Retry says which failed calls are sent again (see RetryPolicy);
	// its zero value retries nothing.
	Retry RetryPolicy
	// PrepareCall, if set, is called with each call's request just
	// before it is written into a batch request, each time it is sent: a
	// copy of the call's request, with its final method, URL, header
	// (without the fields it inherits from Batch.Header, which the
	// server applies), ContentLength and body (a fresh one from GetBody
	// when the request has it), which PrepareCall may change (a header)
	// to sign it, as Azure's Shared Key asks of each sub-request. An error fails that call alone (with the other
	// calls of its changeset) and it is not sent. It may be called from
	// several goroutines at once.
	PrepareCall func(*http.Request) error
	// MaxResponseBytes bounds the body of each call's response (default
	// DefaultMaxResponseBytes), decoded from gzip included: a larger one
	// fails its call with ErrResponseTooLarge. It bounds a whole batch
	// response too: for n calls, n × (MaxResponseBytes + 256 KiB) + 1 MiB
	// bytes and 2n + 16 parts (in a JSON response, values of its
	// "responses" array and members of its envelope); a response that
	// goes on (parts for no call, blank lines, a body that never ends)
	// is cut off there, and the calls it has not answered fail with
	// ErrResponseTooLarge (or mixed.ErrTooManyParts).
	MaxResponseBytes int64
	// Logger, if set, receives a debug line for each batch request and
	// an info line for each retry or halving; nil is silent.
	Logger *slog.Logger
	// OnCall, if set, is called once for each call, with its result, as
	// soon as it is known and before the call's Done channel closes
	// (from any goroutine; it must not block): for metrics and traces.
	OnCall func(CallInfo)
	// Format is the wire format of the batch requests (default
	// FormatMultipart). With FormatODataJSON a changeset is an
	// atomicity group and a $id target depends on call id; with
	// FormatGraphJSON Limits.MaxCalls defaults to 20, Graph's limit, and
	// a batch with a changeset fails. The results come back to the same
	// Calls in every format, held to the same rules: a response object
	// whose headers net/http's ReadResponse would refuse (a name that is
	// not a token, a control character but HTAB in a value) fails its
	// call with an error wrapping mixed.ErrSyntax, and a gzip body the
	// call did not ask for comes decoded.
	Format Format

	// bufs keeps the buffers of finished batch requests for the next
	// ones (see bufPool), made by the first Do: a Client copied before
	// its first use has its own, and concurrent Do calls make one.
	bufs atomic.Pointer[bufPool]
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
	for {
		if len(b.idLens) == 0 {
			b.moreIDs()
		}
		n := int(b.idLens[0])
		id := b.idBlock[:n]
		b.idBlock, b.idLens = b.idBlock[n:], b.idLens[1:]
		if !b.claimed || b.ids[id] == nil && b.csIDs[id] == nil && b.keys[id] == "" {
			return id
		}
	}
}

// claim notes a call id the caller gave, which a generated id might
// equal: then each generated id is checked against the ids in use.
func (b *Batch) claim(id string) {
	if b.idPrefix != "" && strings.HasPrefix(id, b.idPrefix) {
		b.claimed = true
	}
}

// idsPerAlloc is how many generated ids share one string.
const idsPerAlloc = 32

// moreIDs makes the next idsPerAlloc generated ids, in sequence, as one
// string that their strings are slices of: one allocation for them all
// (an id keeps at most the others' bytes alive, about 1 KiB).
func (b *Batch) moreIDs() {
	if b.idPrefix == "" {
		b.idPrefix = rand.Text()
		for id := range b.ids {
			b.claim(id)
		}
		for key := range b.keys {
			b.claim(key)
		}
	}
	buf := b.idBuf[:0]
	for i := range idsPerAlloc {
		b.idSeq++
		at := len(buf)
		buf = strconv.AppendInt(append(append(buf, b.idPrefix...), '-'), int64(b.idSeq), 10)
		b.idLenBuf[i] = uint8(len(buf) - at)
	}
	b.idBuf = buf
	b.idBlock, b.idLens = string(buf), b.idLenBuf[:]
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
	// ErrSkipped. When the call that halted a request is retried (see
	// RetryPolicy), the calls the server skipped after it (424) go again
	// with it, in order, up to the first one the policy does not let go
	// again.
	HaltOnError bool

	client   *Client
	endpoint *url.URL // parsed once, at the first Add
	calls    []*Call
	ids      map[string]*Call
	done     bool
	idPrefix string
	idSeq    int
	// The generated ids not handed out yet, one after another in
	// idBlock, idLens long; idBuf and idLenBuf are their memory.
	idBlock  string
	idLens   []uint8
	idBuf    []byte
	idLenBuf [idsPerAlloc]uint8
	// claimed: an id the caller gave starts with idPrefix.
	claimed bool
	// units are the top-level parts in wire order: a call, or a whole
	// changeset. Splitting moves units, never parts of one.
	units []unit
	csIDs map[string]*Changeset
	// linked is set once a call references another's result.
	linked bool
	// keys maps the ids of a multipart batch's calls that have angle
	// brackets or white space around them (rare) to the id a server
	// reads in them (see matchKey).
	keys map[string]string
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

	// settled: a result was given (the first stands); over: it is
	// published in resp and err. done, made only when someone asks for
	// it (most callers of Do never do), is closed once over is set;
	// mu guards it.
	settled atomic.Bool
	over    atomic.Bool
	mu      sync.Mutex
	done    chan struct{}

	attempts atomic.Int32
	// getBody gives the body for each attempt (nil: req.Body, once),
	// and length its length (-1 unknown).
	getBody func() (io.ReadCloser, error)
	length  int64
	// The current attempt's answer, and whether it is the batch
	// request's failure.
	aResp    *http.Response
	aErr     error
	answered bool
	aBatch   bool
	// unsent: the attempt did not send the call, whose answer is its
	// own error (its body, PrepareCall, a body its form cannot carry).
	unsent bool
	// For OnCall: the hook and when the Do began.
	onCall func(CallInfo)
	start  time.Time
}

// ID returns the call's id: the one given to Add, or a generated one.
func (c *Call) ID() string { return c.id }

// Request returns the call's request.
func (c *Call) Request() *http.Request { return c.req }

// Done returns a channel closed when the call's result is known.
func (c *Call) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.over.Load() {
			close(c.done)
		}
	}
	return c.done
}

// Response returns the call's response, or nil if it has none (yet). Its
// body is in memory; closing it is optional. Its ContentLength is the
// body's length, but for an answer to HEAD: the Content-Length the server
// announced, or -1, as net/http gives it.
func (c *Call) Response() *http.Response {
	if !c.over.Load() {
		return nil
	}
	return c.resp
}

// Err returns why the call has no response: the batch failed, the server
// sent no response part for it ([ErrNoResponse]) or parts that cannot be
// told apart ([ErrResponseMismatch]), its part did not parse, its body was
// too large ([ErrResponseTooLarge], [ErrCallTooLarge]), its changeset was
// rolled back (a [*ChangesetError]), Client.PrepareCall refused it, or its
// request's context ended. It is nil while the call is pending.
func (c *Call) Err() error {
	if !c.over.Load() {
		return nil
	}
	return c.err
}

// Wait waits for the call's result, or for ctx to be done.
func (c *Call) Wait(ctx context.Context) (*http.Response, error) {
	if c.over.Load() {
		return c.resp, c.err
	}
	select {
	case <-c.Done():
		return c.resp, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Attempts returns how many times the call was sent: 1, or more when it
// was retried (see RetryPolicy), or 0 if it was never sent.
func (c *Call) Attempts() int { return int(c.attempts.Load()) }

// settle gives the call its result; the first result stands, whichever
// goroutine gives it (the batch's, or the call's own context).
func (c *Call) settle(resp *http.Response, err error) {
	if !c.settled.CompareAndSwap(false, true) {
		// Another goroutine gives the result, and publishes it once its
		// OnCall has run: Do waits for that (awaitResults).
		return
	}
	c.resp, c.err = resp, err
	// The hook runs before the result is released: whoever waits for it
	// finds the hook called.
	defer c.publish()
	if c.onCall != nil {
		info := CallInfo{ID: c.id, Method: c.req.Method, Target: c.req.URL.RequestURI(), Err: err,
			Duration: time.Since(c.start), Attempts: c.Attempts()}
		if info.Method == "" {
			info.Method = http.MethodGet
		}
		if resp != nil {
			info.Status, info.Bytes = resp.StatusCode, resp.ContentLength
			if info.Method == http.MethodHead {
				info.Bytes = 0 // ContentLength is what a GET would get
			}
		}
		c.onCall(info)
	}
}

// publish releases the call's result to those who wait for it.
func (c *Call) publish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.over.Store(true)
	if c.done != nil {
		close(c.done)
	}
}

// callGone is the error of call c whose own request context cctx ended.
func callGone(c *Call, cctx context.Context) error {
	return fmt.Errorf("batch: call %q: %w", c.id, context.Cause(cctx))
}

// Add adds req to the batch under id, or under a generated id (unique in
// the batch and unguessable) when id is empty. It is an error to add a
// request whose URL names another host than the endpoint's, or a
// duplicate id, or to add after Do. In a multipart batch the id is the
// part's Content-ID, which may have angle brackets ("<item1:x@y>"): an id
// that cannot be a field value (control characters, white space around
// it) is an error, and so is one that differs from another only in angle
// brackets or white space inside them, which a server reads as the same
// Content-ID. A request whose URL has no host may
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
	key := id // the id a server reads in the call's Content-ID
	if id == "" {
		id = b.nextID()
		key = id
	} else {
		var err error
		if key, err = b.checkID(id); err != nil {
			return nil, err
		}
		b.claim(id)
		if key != id {
			b.claim(key)
		}
	}
	if err := b.checkContentIDTarget(req, cs); err != nil {
		return nil, err
	}
	c := &Call{id: id, req: req, index: len(b.calls), cs: cs}
	c.getBody, c.length = bodyOf(req)
	if cs != nil {
		c.unit = cs.unit
	} else {
		c.unit = len(b.units)
	}
	refs, err := requestRefs(req, b.client.Limits.MaxBodyBytes)
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
		b.linked = true
	}
	b.calls = append(b.calls, c)
	b.ids[id] = c
	if key != id {
		if b.keys == nil {
			b.keys = make(map[string]string)
		}
		b.keys[key] = id
	}
	if cs != nil {
		cs.calls = append(cs.calls, c)
	} else {
		b.units = append(b.units, unit{call: c})
	}
	return c, nil
}

// checkID returns the id a server reads in the Content-ID of a call whose
// id, given to Add, is id (see matchKey; id itself in a JSON batch), or
// why id cannot be a call's id in b: it is another call's; or, in a
// multipart batch, it cannot be a Content-ID (which the batch request's
// writer would refuse, failing every call of the request), or it names
// the same call as another's to a server, which reads a Content-ID
// without the angle brackets and white space around it ("<a>" and "a" are
// one id, and their answers could not be told apart).
func (b *Batch) checkID(id string) (string, error) {
	if b.ids[id] != nil || b.csIDs[id] != nil {
		return "", fmt.Errorf("batch: duplicate call id %q", id)
	}
	if b.client.Format != FormatMultipart {
		return id, nil
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return "", fmt.Errorf("batch: call id %q: a control character cannot be in a Content-ID", id)
		}
	}
	if n := len(id); id[0] == ' ' || id[0] == '\t' || id[n-1] == ' ' || id[n-1] == '\t' {
		return "", fmt.Errorf("batch: call id %q: a Content-ID cannot begin or end with white space", id)
	}
	key := matchKey(id)
	if key == "" {
		return "", fmt.Errorf("batch: call id %q: a Content-ID names no call without an id inside its angle brackets", id)
	}
	if other, ok := b.keys[key]; ok {
		return "", fmt.Errorf("batch: call id %q: the same Content-ID to a server as call %q", id, other)
	}
	if key != id && (b.ids[key] != nil || b.csIDs[key] != nil) {
		return "", fmt.Errorf("batch: call id %q: the same Content-ID to a server as call %q", id, key)
	}
	return key, nil
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
// got no response also reports (a failure that a retry made good is not
// reported). Cancelling ctx cancels the batch, and every unfinished call
// reports it. A call whose own request context ends first fails at once
// with its error, and the others go on. Do returns once ctx has ended, or
// every call's own context has, even while a call's body is being read
// (one that blocks, as an upload a slow client streams through a proxy
// may): the bodies not read to their end are closed, as net/http's
// Transport closes a cancelled request's body, from another goroutine,
// and read no more.
//
// A call whose body fails to read, or is not as long as its
// ContentLength, fails alone (with the rest of its changeset; it is not
// sent) when its request is built before it is sent: in a JSON format,
// and in multipart with Limits.MaxBodyBytes set. A multipart request that
// streams has the call's part on the wire already, and fails whole: no
// framing would tell every server "no call" rather than "a shorter one".
func (b *Batch) Do(ctx context.Context) error {
	if b.done {
		return errors.New("batch: Do called twice")
	}
	b.done = true
	// Runs after the stops below. A call whose own context ended is
	// settled on the goroutine context.AfterFunc starts, which publishes
	// its result only once its OnCall has run; the sender skips such a
	// call (see unsettled), or loses the race to settle it: without this
	// wait, Do could return with that call's Err and Response still nil.
	defer b.awaitResults()
	cl := b.client
	conc := cl.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	start := time.Now()
	for _, c := range b.calls {
		c.onCall, c.start = cl.OnCall, start
		if cctx := c.req.Context(); cctx.Done() != nil {
			gone := func() { c.settle(nil, callGone(c, cctx)) }
			if cctx.Err() != nil {
				gone() // now, not on AfterFunc's goroutine: it is not sent
				continue
			}
			stop := context.AfterFunc(cctx, gone)
			defer stop()
		}
	}
	chunks, err := b.chunks(ctx, formatLimits(cl.Limits, cl.Format))
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
		outer.Set(cl.haltHeader(), "true")
		conc = 1
	}
	s := cl.sender()
	s.halt = b.HaltOnError
	if len(chunks) == 1 {
		// One request: sent from this goroutine, which waits anyway.
		return errors.Join(s.run(ctx, outer, chunks[0]))
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
			err := s.run(ctx, outer, chunk)
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

// awaitResults waits until the result of every call settled so far is
// published (see Call.settle).
func (b *Batch) awaitResults() {
	for _, c := range b.calls {
		if c.settled.Load() && !c.over.Load() {
			<-c.Done()
		}
	}
}

// sender returns what sends c's batch requests.
func (c *Client) sender() *sender {
	return &sender{hc: c.httpClient(), endpoint: c.Endpoint, retry: c.Retry, prepare: c.PrepareCall,
		maxResp: c.MaxResponseBytes, log: c.Logger, sized: c.Limits.MaxBodyBytes > 0, format: c.Format,
		bufs: c.bufPool()}
}

// bufPool returns c's bufPool, made at the first call.
func (c *Client) bufPool() *bufPool {
	if p := c.bufs.Load(); p != nil {
		return p
	}
	c.bufs.CompareAndSwap(nil, new(bufPool)) // the first of concurrent calls wins
	return c.bufs.Load()
}

func (c *Client) haltHeader() string {
	if c.HaltHeader != "" {
		return c.HaltHeader
	}
	return DefaultHaltHeader
}

func anyFailed(calls []*Call) bool {
	for _, c := range calls {
		<-c.Done()
		if c.err != nil || c.resp.StatusCode >= 400 {
			return true
		}
	}
	return false
}

func (c *Client) httpClient() *http.Client {
	hc := http.DefaultClient
	if c.HTTPClient != nil {
		hc = c.HTTPClient
	}
	return sameOriginRedirects(hc, c.Endpoint)
}

// sameOriginRedirects returns a copy of hc that follows redirects of a
// batch request only within the endpoint's scheme and host: net/http drops
// the outer Authorization on a redirect to another host, but the calls'
// own credentials (their Authorization fields, PrepareCall's signatures)
// are in the body, which a 307 or 308 sends again as it is. A redirect
// elsewhere is the batch request's answer: a *StatusError.
func sameOriginRedirects(hc *http.Client, endpoint string) *http.Client {
	ep, err := url.Parse(endpoint)
	c := *hc
	check := hc.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err != nil || req.URL.Scheme != ep.Scheme || !sameHost(req.URL.Host, ep.Host, ep.Scheme) {
			return http.ErrUseLastResponse
		}
		if check != nil {
			return check(req, via)
		}
		if len(via) >= 10 {
			return errors.New("batch: stopped after 10 redirects")
		}
		return nil
	}
	return &c
}
