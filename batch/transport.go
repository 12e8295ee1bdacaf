package batch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A Transport is an [http.RoundTripper] that batches: requests to the batch
// endpoint's host that arrive within a short window are sent as one batch
// request, and each RoundTrip returns its own [*http.Response] as if its
// request had gone alone. Any [*http.Client], and so any generated API
// client that takes one (google.golang.org/api through
// option.WithHTTPClient), gains batching without a line of its code
// changing: concurrent calls are batched, a lone call goes out in a batch of
// one after the window.
//
// What cannot be batched passes straight through to Base, untouched: a
// request to another host or scheme than the endpoint's; a media upload (a
// body of unknown length or over MaxBatchedBodyBytes, or "uploadType" in the
// query); a request too large for a batch of Limits.MaxBodyBytes; a request
// for which Batchable returns false; a request whose context was made with
// [WithoutBatching].
//
// Each call keeps its own context: cancelling it fails that call only (if
// its batch is on the wire, its response is discarded), and a batch whose
// calls are all cancelled is cancelled. Headers that every call of a batch
// shares (typically Authorization and User-Agent, set by the generated
// client's transport chain) are sent once on the outer request.
//
// At most MaxInFlight batches are pending or in flight; a call that would
// need one more waits (back-pressure), so memory stays bounded by
// MaxInFlight × Limits.MaxCalls calls.
//
// Failed calls are sent again as Retry says (see [RetryPolicy]), in a
// batch of their own, before their RoundTrip returns.
//
// A Transport must not be copied after first use. Its fields must not be
// changed after first use.
type Transport struct {
	// Endpoint is the batch URL, e.g.
	// https://www.googleapis.com/batch/calendar/v3.
	Endpoint string
	// Base sends the batch requests and the requests that pass through;
	// nil means http.DefaultTransport. It must not be the Transport
	// itself. A redirect of a batch request is followed only within the
	// Endpoint's scheme and host, as for a Client.
	Base http.RoundTripper
	// Window is how long a batch waits for more calls after its first
	// (default 5ms).
	Window time.Duration
	// Limits bound each batch: its calls (default 1000, or 20 with
	// FormatGraphJSON) and its bytes (default none). A full batch is sent
	// at once.
	Limits Limits
	// Retry says which failed calls are sent again; its zero value
	// retries nothing.
	Retry RetryPolicy
	// PrepareCall, if set, is called with each batched call's request
	// just before it is written into a batch request, each time it is
	// sent, as Client.PrepareCall is: a copy of the request, without the
	// fields the batch request carries for all its calls, with a fresh
	// body, which PrepareCall may change (a header) to sign it. An error
	// fails that call's RoundTrip alone. It may be called from several
	// goroutines at once.
	PrepareCall func(*http.Request) error
	// MaxResponseBytes bounds each call's response body (default
	// DefaultMaxResponseBytes): a larger one fails its RoundTrip with
	// ErrResponseTooLarge. It bounds a whole batch response as
	// Client.MaxResponseBytes does.
	MaxResponseBytes int64
	// Logger, if set, receives a debug line for each batch request and
	// an info line for each retry; nil is silent.
	Logger *slog.Logger
	// OnCall, if set, is called once for each batched call, with its
	// result, before its RoundTrip returns.
	OnCall func(CallInfo)
	// MaxBatchedBodyBytes is the largest body of one call's request
	// that is batched (default 256 KiB, DefaultMaxBatchedBodyBytes);
	// larger ones, and bodies of unknown length, pass through. (The
	// Handler's MaxBodyBytes is about a whole batch request.)
	MaxBatchedBodyBytes int64
	// MaxInFlight limits the batches pending or in flight (default 4).
	MaxInFlight int
	// Batchable, if set, is asked about every request to the endpoint's
	// host; false sends the request through Base on its own.
	Batchable func(*http.Request) bool
	// Format is the wire format of the batches (default
	// FormatMultipart); see Client.Format.
	Format Format

	once    sync.Once
	initErr error
	ep      *url.URL
	hc      *http.Client
	slots   chan struct{}
	mu      sync.Mutex
	pending *tbatch
	seq     atomic.Uint64
	bufs    bufPool // the buffers of finished batch requests
}

// tbatch is a batch being filled or in flight.
type tbatch struct {
	calls  []*Call
	bytes  int64 // the calls' bytes, bounded from above (see callBytes)
	timer  *time.Timer
	sent   bool
	live   atomic.Int64 // calls not cancelled
	cancel context.CancelFunc
	ctx    context.Context
}

type noBatchKey struct{}

// WithoutBatching returns a context that makes a [Transport] send a
// request carrying it on its own, through Base.
func WithoutBatching(ctx context.Context) context.Context {
	return context.WithValue(ctx, noBatchKey{}, true)
}

func (t *Transport) init() error {
	t.once.Do(func() {
		ep, err := url.Parse(t.Endpoint)
		if err != nil || ep.Host == "" {
			t.initErr = fmt.Errorf("batch: Transport.Endpoint %q is not an absolute URL", t.Endpoint)
			return
		}
		t.ep = ep
		t.hc = sameOriginRedirects(&http.Client{Transport: t.base()}, t.Endpoint)
		n := t.MaxInFlight
		if n <= 0 {
			n = DefaultMaxInFlight
		}
		t.slots = make(chan struct{}, n)
	})
	return t.initErr
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// batchable reports whether req goes into a batch.
func (t *Transport) batchable(req *http.Request) bool {
	if req.URL == nil || !strings.EqualFold(req.URL.Host, t.ep.Host) || req.URL.Scheme != t.ep.Scheme {
		return false
	}
	if req.Method == http.MethodConnect || req.URL.Query().Has("uploadType") {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody {
		max := t.MaxBatchedBodyBytes
		if max <= 0 {
			max = DefaultMaxBatchedBodyBytes
		}
		// net/http reads a ContentLength of 0 with a body as unknown.
		if req.ContentLength <= 0 || req.ContentLength > max {
			return false
		}
	}
	if v, _ := req.Context().Value(noBatchKey{}).(bool); v {
		return false
	}
	if limit := t.Limits.MaxBodyBytes; limit > 0 && requestBytes(req, "t18446744073709551615", max(req.ContentLength, 0))+closeBytes > limit {
		return false // no batch could carry it
	}
	return t.Batchable == nil || t.Batchable(req)
}

// RoundTrip sends req in the next batch, or on its own when it cannot be
// batched, and returns its response. The body of a batched request is read
// whole first: one of another length than its ContentLength is an error,
// as net/http's Transport makes it, and should req's context end while it
// is read (a body whose Read blocks), the body is closed and RoundTrip
// returns the context's error.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.init(); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if !t.batchable(req) {
		return t.base().RoundTrip(req)
	}
	ctx := req.Context()
	// The body goes into the batch: read it now (it is small, see
	// batchable) so that the caller's body is closed whatever happens.
	out := req
	if req.Body != nil && req.Body != http.NoBody {
		b, err := readBatchedBody(ctx, req)
		if err != nil {
			return nil, err
		}
		r2 := *req
		r2.Body = io.NopCloser(bytes.NewReader(b))
		r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		r2.ContentLength = int64(len(b))
		out = &r2
	}
	c := &Call{id: "t" + fmt.Sprint(t.seq.Add(1)), req: out, onCall: t.OnCall, start: time.Now()}
	c.getBody, c.length = bodyOf(out)
	b, err := t.enqueue(ctx, c)
	if err != nil {
		// Its context ended while it waited for a batch to go in: no
		// attempt, but a result all the same (OnCall).
		c.settle(nil, err)
		return nil, err
	}
	select {
	case <-c.Done():
		if c.err != nil {
			return nil, c.err
		}
		c.resp.Request = req
		return c.resp, nil
	case <-ctx.Done():
		t.abandon(b, c, ctx.Err())
		<-c.Done()
		if c.err != nil {
			return nil, c.err
		}
		// The response won the race with the cancellation.
		c.resp.Request = req
		return c.resp, nil
	}
}

// readBatchedBody reads the body of req, which batchable found small
// enough to batch, whole, and closes it. It reads no more than the
// ContentLength req announces (batchable bounds it) and one byte: a body
// of another length is an error, as net/http's Transport makes it, and one
// that goes on for ever costs no memory. Should ctx end while the body is
// read (a body whose Read blocks), the body is closed, which ends the
// read, and ctx's error is returned, as net/http's RoundTrip returns it.
func readBatchedBody(ctx context.Context, req *http.Request) ([]byte, error) {
	var buf bytes.Buffer
	n, err := readClosing(&buf, req.Body, req.ContentLength, ctx)
	switch {
	case err != nil:
		return nil, fmt.Errorf("batch: reading the request body: %w", err)
	case n != req.ContentLength:
		return nil, fmt.Errorf("batch: %w", errLength(req.ContentLength, n))
	}
	return buf.Bytes(), nil
}

// enqueue adds c to the batch being filled, starting one when there is none
// (which may wait for a slot: back-pressure).
func (t *Transport) enqueue(ctx context.Context, c *Call) (*tbatch, error) {
	max, maxBytes := formatLimits(t.Limits, t.Format).maxCalls(), t.Limits.MaxBodyBytes
	size := int64(0)
	if maxBytes > 0 {
		size = callBytes(c, c.length)
	}
	for {
		t.mu.Lock()
		if b := t.pending; b != nil && maxBytes > 0 && b.bytes+size > maxBytes {
			// c does not fit: send the batch now, and start another.
			t.pending = nil
			b.timer.Stop()
			go t.flush(b)
		}
		if b := t.pending; b != nil {
			b.calls = append(b.calls, c)
			b.bytes += size
			b.live.Add(1)
			if len(b.calls) >= max {
				t.pending = nil
				b.timer.Stop()
				t.mu.Unlock()
				go t.flush(b)
				return b, nil
			}
			t.mu.Unlock()
			return b, nil
		}
		t.mu.Unlock()
		select {
		case t.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		t.mu.Lock()
		if t.pending != nil {
			// Another call started a batch meanwhile: join it.
			t.mu.Unlock()
			<-t.slots
			continue
		}
		b := &tbatch{calls: []*Call{c}, bytes: closeBytes + size}
		b.live.Add(1)
		b.ctx, b.cancel = context.WithCancel(context.Background())
		window := t.Window
		if window <= 0 {
			window = DefaultWindow
		}
		if max == 1 {
			t.mu.Unlock()
			go t.flush(b)
			return b, nil
		}
		t.pending = b
		b.timer = time.AfterFunc(window, func() {
			t.mu.Lock()
			if t.pending == b {
				t.pending = nil
			}
			t.mu.Unlock()
			t.flush(b)
		})
		t.mu.Unlock()
		return b, nil
	}
}

// abandon gives up on call c of batch b: out of the batch if it has not
// been sent, its response discarded if it has. A batch left with no live
// call is cancelled.
func (t *Transport) abandon(b *tbatch, c *Call, err error) {
	c.settle(nil, err) // outside the lock: it runs OnCall
	t.mu.Lock()
	defer t.mu.Unlock()
	if !b.sent {
		// Still being filled: other calls may join it yet, so it is
		// not cancelled; an empty one sends nothing.
		if i := slices.Index(b.calls, c); i >= 0 {
			b.calls = slices.Delete(b.calls, i, i+1)
		}
		b.live.Add(-1)
		return
	}
	if b.live.Add(-1) == 0 {
		b.cancel()
	}
}

// flush sends batch b and releases its slot. Both the window's timer and
// a call that fills the batch may call it (timer.Stop loses the race when
// the timer has just fired): the first one sends.
func (t *Transport) flush(b *tbatch) {
	t.mu.Lock()
	if b.sent {
		t.mu.Unlock()
		return
	}
	b.sent = true
	calls := slices.Clone(b.calls)
	t.mu.Unlock()
	defer func() { <-t.slots }()
	defer b.cancel()
	if len(calls) == 0 {
		return
	}
	// run settles every call: with its response, or with an error that
	// names the failure of the batch request.
	s := &sender{hc: t.hc, endpoint: t.Endpoint, retry: t.Retry, prepare: t.PrepareCall, maxResp: t.MaxResponseBytes, log: t.Logger, sized: t.Limits.MaxBodyBytes > 0, format: t.Format,
		bufs: &t.bufs}
	s.run(b.ctx, sharedHeader(calls), calls)
}

// sharedHeader returns the fields that every call has with the same
// values: they go on the outer request, once. The fields a server does
// not pass on to the calls (see inherited) never do, nor the provenance
// fields: on the batch request, they would make it a browser's, whose
// calls the Handler gives those fields instead of their own.
func sharedHeader(calls []*Call) http.Header {
	outer := http.Header{}
	first := calls[0].req.Header
	for k, vv := range first {
		if !inherited(k) || k == "Host" || provenance(k) {
			continue
		}
		all := true
		for _, c := range calls[1:] {
			if !slices.Equal(c.req.Header[k], vv) {
				all = false
				break
			}
		}
		if all {
			outer[k] = vv
		}
	}
	return outer
}
