package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// stuckBody is a call's request body whose Read blocks until it is closed,
// as an upload a slow client streams through a proxy does: only Close
// unblocks it, as closing a network body does.
type stuckBody struct {
	once   sync.Once
	closed chan struct{}
	read   chan struct{} // closed at the first Read
	rOnce  sync.Once
}

func newStuckBody() *stuckBody {
	return &stuckBody{closed: make(chan struct{}), read: make(chan struct{})}
}

func (b *stuckBody) Read(p []byte) (int, error) {
	b.rOnce.Do(func() { close(b.read) })
	<-b.closed
	return 0, errors.New("stuck body: closed")
}

func (b *stuckBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// endlessBody is a call's request body that never ends, each Read a
// little later, and whose Close, as io.NopCloser's, stops nothing: only
// the reader can stop reading it.
type endlessBody struct{ *stuckBody }

func (b *endlessBody) Read(p []byte) (int, error) {
	time.Sleep(100 * time.Microsecond)
	p = p[:min(len(p), 32<<10)] // an io.ReadAll's buffer grows with what it reads, not at once
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// awaitClosed fails the test unless b is closed within 10 s, a deadlock
// bound. Do and RoundTrip return when the context ends, and the body is
// closed by a goroutine that context.AfterFunc starts then, which a loaded
// machine may run after they have returned (the clean-clone CI once saw
// an endless body still open as Do returned).
func (b *stuckBody) awaitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-b.closed:
	case <-time.After(10 * time.Second):
		t.Error("the stuck body was not closed within 10 s of the call's end")
	}
}

func (b *stuckBody) isClosed() bool {
	select {
	case <-b.closed:
		return true
	default:
		return false
	}
}

// A call whose body never yields a byte stalls nothing but itself: when
// its context, or Do's, ends, Do returns at once, the call fails with that
// context's error, and its body is closed, which ends the read, so that no
// goroutine is left. Before, a client that sends a Content-Length (Limits'
// MaxBodyBytes set) read every body into memory from Do's goroutine, which
// neither context could stop: Do stayed blocked for as long as the body
// did, for ever here.
func TestClientStuckBodyEndsWithItsContext(t *testing.T) {
	var hits sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		defer hits.Done()
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	const wait = 200 * time.Millisecond
	for _, tc := range []struct {
		name    string
		sized   bool
		length  int64 // the request's ContentLength: 0 is unknown
		callCtx bool  // the call's own context ends, not Do's
		endless bool  // the body never ends, and Close does not stop it (else Read blocks until Close)
	}{
		{"sized/known length/call context", true, 1 << 20, true, false},
		{"sized/known length/Do context", true, 1 << 20, false, false},
		{"sized/unknown length/call context", true, 0, true, false},
		{"sized/unknown length/Do context", true, 0, false, false},
		{"streamed/known length/call context", false, 1 << 20, true, false},
		{"streamed/known length/Do context", false, 1 << 20, false, false},
		{"streamed/unknown length/Do context", false, 0, false, false},
		{"sized/endless/call context", true, 1 << 30, true, true},
		{"sized/endless/Do context", true, 1 << 30, false, true},
		{"sized/endless unknown length/Do context", true, 0, false, true},
		{"streamed/endless/call context", false, 1 << 30, true, true},
		{"streamed/endless/Do context", false, 1 << 30, false, true},
	} {
		for _, format := range []Format{FormatMultipart, FormatODataJSON} {
			t.Run(fmt.Sprintf("%v/%s", format, tc.name), func(t *testing.T) {
				before := runtime.NumGoroutine()
				var limits Limits
				if tc.sized {
					limits.MaxBodyBytes = 4 << 30 // room for the endless body's announced length
				}
				c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Limits: limits, Format: format}
				b := c.NewBatch()
				body := newStuckBody()
				var rc io.ReadCloser = body
				if tc.endless {
					rc = &endlessBody{body}
				}
				req, err := http.NewRequest("PUT", "/x", rc)
				if err != nil {
					t.Fatal(err)
				}
				req.ContentLength = tc.length
				req.Header.Set("Content-Type", "application/octet-stream")
				doCtx, cancelDo := context.WithCancel(context.Background())
				defer cancelDo()
				// A call of its own, whose body is in memory, shares the
				// request and must not be what stalls; it shares the
				// context that ends too, so that no one waits for the
				// request any more.
				other := jsonRequest(t, "POST", "/y", `{"a":1}`)
				want := context.Canceled
				if tc.callCtx {
					ctx, cancel := context.WithTimeout(context.Background(), wait)
					defer cancel()
					req, other = req.WithContext(ctx), other.WithContext(ctx)
					want = context.DeadlineExceeded
				} else {
					time.AfterFunc(wait, cancelDo)
				}
				var calls []*Call
				for _, r := range []*http.Request{req, other} {
					call, err := b.Add(r, "")
					if err != nil {
						t.Fatal(err)
					}
					calls = append(calls, call)
				}
				done := make(chan error, 1)
				go func() { done <- b.Do(doCtx) }()
				select {
				case <-done:
				case <-time.After(20 * time.Second): // a deadlock bound only: it takes `wait`
					body.Close() // let Do go, to see what else is wrong
					<-done
					t.Fatalf("Do still blocked 20 s after the context ended (want about %v)", wait)
				}
				for i, call := range calls {
					if err := call.Err(); !errors.Is(err, want) {
						t.Errorf("call %d: %v, want %v", i, err, want)
					}
				}
				body.awaitClosed(t)
				srv.Client().CloseIdleConnections()
				waitGoroutines(t, before)
			})
		}
	}
	hits.Wait()
}

// The same through a Transport: a RoundTrip whose body is stuck returns
// with its context's error when that context ends, sized or streamed, and
// leaves no goroutine once the body is closed.
func TestTransportStuckBodyEndsWithItsContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	for _, sized := range []bool{false, true} {
		t.Run(fmt.Sprintf("sized=%t", sized), func(t *testing.T) {
			before := runtime.NumGoroutine()
			tr := &Transport{Endpoint: srv.URL + "/batch", Base: srv.Client().Transport}
			if sized {
				tr.Limits.MaxBodyBytes = 64 << 20
			}
			body := newStuckBody()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, "PUT", srv.URL+"/x", body)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = 1 << 10 // batched: not an upload
			done := make(chan error, 1)
			go func() {
				resp, err := tr.RoundTrip(req)
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("RoundTrip: %v, want %v", err, context.DeadlineExceeded)
				}
			case <-time.After(20 * time.Second): // a deadlock bound only
				body.Close()
				<-done
				t.Fatal("RoundTrip still blocked 20 s after its context ended")
			}
			body.awaitClosed(t)
			srv.Client().CloseIdleConnections()
			waitGoroutines(t, before)
		})
	}
}

// A batched body must be as long as the ContentLength its request
// announces, as net/http's Transport requires (the oracle): a longer one,
// even one that never ends, is an error at once, costing no memory; before,
// the Transport read it to its end, for ever, and sent a shorter one as if
// it were whole.
func TestTransportBodyOfAnotherLength(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name   string
		body   func() io.ReadCloser
		length int64
	}{
		{"longer", func() io.ReadCloser { return io.NopCloser(strings.NewReader("hello, world")) }, 5},
		{"shorter", func() io.ReadCloser { return io.NopCloser(strings.NewReader("hello, world")) }, 20},
		{"endless", func() io.ReadCloser { return &endlessBody{newStuckBody()} }, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			send := func(rt http.RoundTripper) error {
				req, err := http.NewRequest("PUT", srv.URL+"/x", tc.body())
				if err != nil {
					t.Fatal(err)
				}
				req.ContentLength = tc.length
				resp, err := rt.RoundTrip(req)
				if err == nil {
					resp.Body.Close()
				}
				return err
			}
			if tc.name != "endless" { // net/http's Transport reads it to its end
				if err := send(srv.Client().Transport); err == nil {
					t.Fatal("net/http sent it: the oracle is wrong")
				}
			}
			err := send(&Transport{Endpoint: srv.URL + "/batch", Base: srv.Client().Transport})
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("ContentLength=%d", tc.length)) {
				t.Errorf("RoundTrip: %v, want an error naming ContentLength=%d", err, tc.length)
			}
		})
	}
}

// A Client that sends a Content-Length measures a body of unknown length
// before it sends it: it reads no more of it than the limit of a whole
// request allows, and a call whose body is larger, even one that never
// ends, fails with ErrCallTooLarge while the others go. Before, the body
// was read to its end, into memory when it had no GetBody.
func TestClientMeasuresWithinMaxBodyBytes(t *testing.T) {
	srv, served := pathRecorder(t)
	for _, getBody := range []bool{false, true} {
		t.Run(fmt.Sprintf("GetBody=%t", getBody), func(t *testing.T) {
			served()
			c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Limits: Limits{MaxBodyBytes: 1 << 20}}
			b := c.NewBatch()
			endless := &endlessBody{newStuckBody()}
			req, err := http.NewRequest("PUT", "/endless", endless)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = 0 // unknown
			if getBody {
				req.GetBody = func() (io.ReadCloser, error) { return &endlessBody{newStuckBody()}, nil }
			}
			big, err := b.Add(req, "")
			if err != nil {
				t.Fatal(err)
			}
			small, err := b.Add(jsonRequest(t, "POST", "/small", `{"a":1}`), "")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- b.Do(context.Background()) }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Do: %v", err)
				}
			case <-time.After(20 * time.Second): // a deadlock bound only
				t.Fatal("Do still reading the endless body after 20 s")
			}
			if err := big.Err(); !errors.Is(err, ErrCallTooLarge) {
				t.Errorf("the endless call: %v, want ErrCallTooLarge", err)
			}
			if err := small.Err(); err != nil {
				t.Errorf("the small call: %v", err)
			}
			if diff := cmp.Diff([]string{"/small"}, served()); diff != "" {
				t.Errorf("calls served (-want +got):\n%s", diff)
			}
		})
	}
}

// Do returns once every call has its result, whoever gives it: a call
// whose own context ends is settled on the goroutine context.AfterFunc
// starts, which runs OnCall before it publishes the result. Do, finishing
// meanwhile, found the call settled and returned while its result was
// not out yet: Err and Response were nil for a call that had failed (the
// clean-clone CI saw it once, an endless body's call "succeeding").
func TestDoReturnsAfterEveryResult(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		io.WriteString(w, "late")
	})
	srv := httptest.NewServer(NewHandler(inner))
	defer srv.Close()
	hookRan := make(chan struct{})
	c := &Client{Endpoint: srv.URL, HTTPClient: srv.Client(), OnCall: func(info CallInfo) {
		if errors.Is(info.Err, context.DeadlineExceeded) {
			// The result of the call whose context ended is published
			// after this: Do must wait for it.
			time.Sleep(500 * time.Millisecond)
			close(hookRan)
		}
	}}
	b := c.NewBatch()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/x", nil)
	call, err := b.Add(req, "1")
	if err != nil {
		t.Fatal(err)
	}
	// A call whose context does not end, so that Do waits for the
	// response rather than for every call's context.
	other, _ := http.NewRequest("GET", srv.URL+"/y", nil)
	if _, err := b.Add(other, "2"); err != nil {
		t.Fatal(err)
	}
	b.Do(context.Background())
	if err := call.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("after Do: Err %v, Response %v; want the call's context's error", err, call.Response())
	}
	select {
	case <-hookRan:
	default:
		t.Error("Do returned before the call's OnCall had run")
	}
}
