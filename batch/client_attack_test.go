package batch

// The Client against a hostile or broken server and a slow network:
// memory, time and each call's result stay bounded and its own.

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
)

// rawBatchServer answers each batch request with what respond writes,
// given the Content-IDs of the request's top-level parts (read first).
func rawBatchServer(t *testing.T, respond func(w http.ResponseWriter, ids []string)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		boundary, err := mixed.ParseBoundary(r.Header.Get("Content-Type"))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		var ids []string
		mr := mixed.NewReader(r.Body, boundary)
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			ids = append(ids, p.Header.Get("Content-ID"))
		}
		respond(w, ids)
	}))
	t.Cleanup(srv.Close)
	return srv
}

const attackBoundary = "b0undary"

// startResponse writes the head of a multipart batch response.
func startResponse(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+attackBoundary)
	w.WriteHeader(200)
}

// responsePart is a part answering the call with Content-ID id (none when
// empty) with the HTTP response msg.
func responsePart(id, msg string) string {
	s := "--" + attackBoundary + "\r\nContent-Type: application/http\r\n"
	if id != "" {
		s += "Content-ID: response-" + id + "\r\n"
	}
	return s + "\r\n" + msg + "\r\n"
}

const closeDelimiter = "--" + attackBoundary + "--\r\n"

// A part may announce a body of up to MaxResponseBytes in a few bytes (a
// HEAD answer, or a part cut short): the client allocates for the bytes
// that come, not for the announcement.
func TestClientAnnouncedLengthCostsNoMemory(t *testing.T) {
	const n, announced = 16, 60 << 20
	srv := rawBatchServer(t, func(w http.ResponseWriter, ids []string) {
		startResponse(w)
		for i, id := range ids {
			msg := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", announced)
			if i%2 == 1 {
				msg += "short" // a GET's body cut short by its part's end
			}
			io.WriteString(w, responsePart(id, msg))
		}
		io.WriteString(w, closeDelimiter)
	})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client()}
	b := c.NewBatch()
	var calls []*Call
	for i := range n {
		method := "HEAD"
		if i%2 == 1 {
			method = "GET"
		}
		call, err := b.Add(jsonRequest(t, method, fmt.Sprintf("/x/%d", i), ""), "")
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, call)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 32<<20 {
		t.Errorf("Do allocated %d MiB for %d parts of a few bytes each", got>>20, n)
	}
	for i, call := range calls {
		resp, err := call.Wait(context.Background())
		switch {
		case i%2 == 0 && (err != nil || resp.StatusCode != 200):
			t.Errorf("HEAD call %d: %v, want its 200", i, err)
		case i%2 == 1 && !errors.Is(err, io.ErrUnexpectedEOF):
			t.Errorf("GET call %d: %v, want its body cut short (io.ErrUnexpectedEOF)", i, err)
		}
	}
}

// A Retry-After too long to hold in a Duration is a long wait, over
// MaxBackoff: the call is not retried (it was retried at once when such
// values read as no Retry-After).
func TestClientRetryAfterBeyondDuration(t *testing.T) {
	for _, after := range []string{"1000000000000", "1e400", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		f := &flaky{fail: map[string]int{"/a": 5}, status: map[string]int{"/a": 503}, after: after}
		srv, n := countingServer(t, f, HandlerOptions{})
		c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(),
			Retry: RetryPolicy{MaxAttempts: 3, BaseBackoff: time.Microsecond}}
		b := c.NewBatch()
		call, _ := b.Add(jsonRequest(t, "GET", "/a", ""), "a")
		if err := b.Do(context.Background()); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(retryOutcome{Status: 503, Attempts: 1}, retryResult(t, call)); diff != "" {
			t.Errorf("Retry-After %s (-want +got):\n%s", after, diff)
		}
		if n.Load() != 1 {
			t.Errorf("Retry-After %s: %d batch requests, want 1", after, n.Load())
		}
	}
}

// A response that never ends, whatever the server fills it with, is cut
// off once it exceeds what its calls may be answered with: the calls fail
// with ErrResponseTooLarge (or, for parts answering nothing,
// mixed.ErrTooManyParts) long before the caller's deadline.
func TestClientResponseNeverEnds(t *testing.T) {
	endless := func(w http.ResponseWriter, s string) {
		for {
			if _, err := io.WriteString(w, s); err != nil {
				return // the client hung up
			}
		}
	}
	big := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name    string
		respond func(w http.ResponseWriter, ids []string)
		want    error
	}{{
		// Each stray part names no call and has a large body.
		name: "stray parts",
		respond: func(w http.ResponseWriter, ids []string) {
			startResponse(w)
			endless(w, "--"+attackBoundary+"\r\nContent-ID: response-nobody\r\n\r\n"+big+"\r\n")
		},
		want: ErrResponseTooLarge,
	}, {
		name: "stray part without end",
		respond: func(w http.ResponseWriter, ids []string) {
			startResponse(w)
			io.WriteString(w, "--"+attackBoundary+"\r\nContent-ID: response-nobody\r\n\r\n")
			endless(w, big)
		},
		want: ErrResponseTooLarge,
	}, {
		name: "blank lines after a body",
		respond: func(w http.ResponseWriter, ids []string) {
			startResponse(w)
			io.WriteString(w, "--"+attackBoundary+"\r\nContent-Type: application/http\r\nContent-ID: response-"+ids[0]+
				"\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\r\n")
			endless(w, strings.Repeat("\r\n", 1<<16))
		},
		want: ErrResponseTooLarge,
	}, {
		name: "endless part header",
		respond: func(w http.ResponseWriter, ids []string) {
			startResponse(w)
			io.WriteString(w, "--"+attackBoundary+"\r\n")
			endless(w, "X-Padding: "+big[:1000]+"\r\n")
		},
		want: mixed.ErrHeaderTooLarge,
	}, {
		name: "endless response head",
		respond: func(w http.ResponseWriter, ids []string) {
			startResponse(w)
			io.WriteString(w, "--"+attackBoundary+"\r\nContent-Type: application/http\r\nContent-ID: response-"+ids[1]+
				"\r\n\r\nHTTP/1.1 200 OK\r\n")
			endless(w, "X-Padding: "+big[:1000]+"\r\n")
		},
		want: ErrResponseTooLarge,
	}, {
		name: "tiny parts without Content-ID",
		respond: func(w http.ResponseWriter, ids []string) {
			startResponse(w)
			endless(w, "--"+attackBoundary+"\r\n\r\n"+big[:64]+"\r\n")
		},
		want: mixed.ErrTooManyParts,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := rawBatchServer(t, tc.respond)
			c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), MaxResponseBytes: 4 << 10}
			b := c.NewBatch()
			calls := addGets(t, b, 3)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b.Do(ctx)
			for i, call := range calls[1:] {
				if _, err := call.Wait(ctx); !errors.Is(err, tc.want) {
					t.Errorf("call %d: %v, want %v", i+1, err, tc.want)
				}
			}
		})
	}
}

// A connection that dies while the batch response is being read leaves the
// calls answered so far with their answers; of the others, only the
// idempotent ones are sent again: a POST that may have run is not.
func TestClientConnectionDiesMidResponse(t *testing.T) {
	requests := 0
	srv := rawBatchServer(t, func(w http.ResponseWriter, ids []string) {
		requests++
		startResponse(w)
		if requests > 1 {
			for _, id := range ids {
				io.WriteString(w, responsePart(id, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nretry"))
			}
			io.WriteString(w, closeDelimiter)
			return
		}
		// "done" is answered; the rest is cut inside "get"'s part.
		io.WriteString(w, responsePart("done", "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nfirst"))
		io.WriteString(w, "--"+attackBoundary+"\r\nContent-ID: response-get\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhal")
		http.NewResponseController(w).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(),
		Retry: RetryPolicy{MaxAttempts: 3, BaseBackoff: time.Microsecond}}
	b := c.NewBatch()
	done, _ := b.Add(jsonRequest(t, "POST", "/done", "{}"), "done")
	get, _ := b.Add(jsonRequest(t, "GET", "/get", ""), "get")
	post, _ := b.Add(jsonRequest(t, "POST", "/post", "{}"), "post")
	keyed := jsonRequest(t, "POST", "/keyed", "{}")
	keyed.Header.Set("Idempotency-Key", "k")
	keyedCall, _ := b.Add(keyed, "keyed")
	b.Do(context.Background())
	got := map[string]retryOutcome{}
	for _, call := range []*Call{done, get, post, keyedCall} {
		r := retryResult(t, call)
		if r.Err != "" {
			r.Err = "failed"
		}
		got[call.ID()] = r
	}
	want := map[string]retryOutcome{
		"done":  {Status: 201, Body: "first", Attempts: 1},
		"get":   {Status: 200, Body: "retry", Attempts: 2},
		"post":  {Err: "failed", Attempts: 1},
		"keyed": {Status: 200, Body: "retry", Attempts: 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

// trickleServer answers every batch with the start of a response and then
// one byte each period, until release is closed or the client goes.
func trickleServer(t *testing.T, period time.Duration) (*httptest.Server, chan struct{}) {
	release := make(chan struct{})
	srv := rawBatchServer(t, func(w http.ResponseWriter, ids []string) {
		startResponse(w)
		for {
			if _, err := io.WriteString(w, "\r"); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
			select {
			case <-release:
				return
			case <-time.After(period):
			}
		}
	})
	return srv, release
}

// A server that trickles its response: cancelling the caller's context
// ends Do promptly, every call reports it, and no goroutine is left.
func TestClientTrickleCancelled(t *testing.T) {
	srv, release := trickleServer(t, 50*time.Millisecond)
	defer close(release)
	before := runtime.NumGoroutine()
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(),
		Retry: RetryPolicy{MaxAttempts: 5}}
	b := c.NewBatch()
	calls := addGets(t, b, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := b.Do(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do: %v, want the deadline", err)
	}
	// A deadlock bound, not a speed test: the server answers never.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Do returned after %v, for a deadline of 200ms", d)
	}
	for i, call := range calls {
		if err := call.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("call %d: %v, want the deadline", i, err)
		}
	}
	srv.Client().CloseIdleConnections()
	waitGoroutines(t, before)
}

// Transport.PrepareCall signs each batched call as Client.PrepareCall
// does: after the shared fields moved to the batch request, on a copy, and
// a refusal fails that RoundTrip alone.
func TestTransportPrepareCall(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s sig=%q", r.URL.Path, r.Header.Get("X-Signature"))
	})
	srv, n := countingServer(t, inner, HandlerOptions{})
	var mu sync.Mutex
	var seen []string
	tr := &Transport{Endpoint: srv.URL + "/batch", Base: srv.Client().Transport, Window: time.Second, Limits: Limits{MaxCalls: 3},
		PrepareCall: func(r *http.Request) error {
			mu.Lock()
			seen = append(seen, fmt.Sprintf("%s %s len=%d auth=%q", r.Method, r.URL.Path, r.ContentLength, r.Header.Get("Authorization")))
			mu.Unlock()
			if r.URL.Path == "/refused" {
				return errors.New("no key for it")
			}
			r.Header.Set("X-Signature", "signed "+r.URL.Path)
			return nil
		}}
	hc := &http.Client{Transport: tr}
	paths := []string{"/a", "/b", "/refused"}
	got := make([]string, len(paths))
	var reqs []*http.Request
	var wg sync.WaitGroup
	for i, path := range paths {
		req, _ := http.NewRequest("PUT", srv.URL+path, strings.NewReader("body"))
		req.Header.Set("Authorization", "Bearer shared")
		reqs = append(reqs, req)
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := hc.Do(req)
			if err != nil {
				got[i] = fmt.Sprintf("error, PrepareCall's: %t", strings.Contains(err.Error(), "no key for it"))
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			got[i] = fmt.Sprintf("%d %s", resp.StatusCode, b)
		}()
	}
	wg.Wait()
	want := []string{`200 /a sig="signed /a"`, `200 /b sig="signed /b"`, "error, PrepareCall's: true"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	slices.Sort(seen)
	// Authorization, shared by all three, goes on the batch request.
	wantSeen := []string{`PUT /a len=4 auth=""`, `PUT /b len=4 auth=""`, `PUT /refused len=4 auth=""`}
	if diff := cmp.Diff(wantSeen, seen); diff != "" {
		t.Errorf("requests PrepareCall saw (-want +got):\n%s", diff)
	}
	if n.Load() != 1 {
		t.Errorf("%d batch requests, want 1", n.Load())
	}
	for _, req := range reqs {
		if req.Header.Get("X-Signature") != "" {
			t.Error("PrepareCall changed the caller's request")
		}
	}
}

// PrepareCall refusing a call outside any changeset fails that call alone
// (it crashed the writer when no changeset had failed too).
func TestClientPrepareCallRefusesLoneCall(t *testing.T) {
	srv, _ := countingServer(t, echoAPI, HandlerOptions{})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(),
		PrepareCall: func(r *http.Request) error {
			if r.URL.Path == "/refused" {
				return errors.New("no key for it")
			}
			return nil
		}}
	b := c.NewBatch()
	ok, _ := b.Add(jsonRequest(t, "GET", "/ok", ""), "ok")
	refused, _ := b.Add(jsonRequest(t, "GET", "/refused", ""), "refused")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(result{Status: 200, Body: `GET /ok body=""`}, outcome(t, ok)); diff != "" {
		t.Errorf("ok (-want +got):\n%s", diff)
	}
	if err := refused.Err(); err == nil || !strings.Contains(err.Error(), "no key for it") || refused.Attempts() != 0 {
		t.Errorf("refused: %v after %d attempts, want PrepareCall's error, never sent", err, refused.Attempts())
	}
}

// A server that refuses a batch as a whole inside a successful response
// (Azurite: 202 holding one 400 part without a Content-ID, for a batch of
// several calls) cannot be matched to the calls, and ErrResponseMismatch
// carries its reason: the status and the start of the body.
func TestClientMismatchKeepsRefusalReason(t *testing.T) {
	const xmlBody = `<?xml version="1.0" encoding="utf-8"?><Error><Code>InvalidInput</Code><Message>One of the request inputs is not valid.</Message></Error>`
	long := strings.Repeat("y", 1000)
	for _, tc := range []struct{ name, body, want string }{
		{"azurite", xmlBody, `400 One of the request inputs is not valid.: "` + strings.ReplaceAll(xmlBody, `"`, `\"`) + `"`},
		{"bounded", long, `400 One of the request inputs is not valid.: "` + long[:256] + `..."`},
	} {
		srv := rawBatchServer(t, func(w http.ResponseWriter, ids []string) {
			w.Header().Set("Content-Type", "multipart/mixed; boundary="+attackBoundary)
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, responsePart("", fmt.Sprintf("HTTP/1.1 400 One of the request inputs is not valid.\r\n"+
				"x-ms-error-code: InvalidInput\r\nContent-Length: %d\r\n\r\n%s", len(tc.body), tc.body)))
			io.WriteString(w, closeDelimiter)
		})
		c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client()}
		b := c.NewBatch()
		var calls []*Call
		for i := range 3 {
			call, _ := b.Add(jsonRequest(t, "DELETE", fmt.Sprintf("/x/%d", i), ""), "")
			calls = append(calls, call)
		}
		err := b.Do(context.Background())
		if !errors.Is(err, ErrResponseMismatch) || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("%s: Do: %v, want ErrResponseMismatch ending in %s", tc.name, err, tc.want)
		}
		for i, call := range calls {
			if err := call.Err(); !errors.Is(err, ErrResponseMismatch) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: call %d: %v, want ErrResponseMismatch with the reason", tc.name, i, err)
			}
		}
	}
}

// Retries against a server honouring the halt-on-error header: the calls
// it skipped (424) after a failure that is retried go again behind it, up
// to the first the policy keeps back, so the batch still runs in order and
// stops at its first failure that stands.
func TestClientRetryWithHaltOnError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		calls  [][2]string // method, path
		fail   map[string]int
		want   map[string]retryOutcome
		served map[string]int
	}{{
		name:  "skipped calls go again",
		calls: [][2]string{{"GET", "/a"}, {"PUT", "/b"}, {"DELETE", "/c"}},
		fail:  map[string]int{"/a": 1},
		want: map[string]retryOutcome{
			"a": {Status: 200, Body: "GET /a ", Attempts: 2},
			"b": {Status: 200, Body: "PUT /b x", Attempts: 2},
			"c": {Status: 200, Body: "DELETE /c ", Attempts: 2},
		},
		served: map[string]int{"GET /a": 2, "PUT /b": 1, "DELETE /c": 1},
	}, {
		name:  "up to a call that may not go again",
		calls: [][2]string{{"GET", "/a"}, {"POST", "/b"}, {"GET", "/c"}},
		fail:  map[string]int{"/a": 1},
		want: map[string]retryOutcome{
			"a": {Status: 200, Body: "GET /a ", Attempts: 2},
			"b": {Status: 424, Attempts: 1},
			"c": {Status: 424, Attempts: 1},
		},
		served: map[string]int{"GET /a": 2, "POST /b": 0, "GET /c": 0},
	}, {
		name:  "a failure that stands halts the retries too",
		calls: [][2]string{{"GET", "/a"}, {"GET", "/b"}},
		fail:  map[string]int{"/a": 5},
		want: map[string]retryOutcome{
			"a": {Status: 503, Attempts: 3},
			"b": {Status: 424, Attempts: 3},
		},
		served: map[string]int{"GET /a": 3, "GET /b": 0},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			status := map[string]int{}
			for path := range tc.fail {
				status[path] = 503
			}
			f := &flaky{fail: tc.fail, status: status}
			var halts []string
			bh := NewHandlerOptions(f, HandlerOptions{HaltHeader: DefaultHaltHeader, Concurrency: 1})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				halts = append(halts, r.Header.Get(DefaultHaltHeader))
				bh.ServeHTTP(w, r)
			}))
			defer srv.Close()
			c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(),
				Retry: RetryPolicy{MaxAttempts: 3, BaseBackoff: time.Microsecond}}
			b := c.NewBatch()
			b.HaltOnError = true
			var calls []*Call
			for _, mp := range tc.calls {
				body := ""
				if mp[0] == "PUT" || mp[0] == "POST" {
					body = "x"
				}
				call, err := b.Add(jsonRequest(t, mp[0], mp[1], body), strings.TrimPrefix(mp[1], "/"))
				if err != nil {
					t.Fatal(err)
				}
				calls = append(calls, call)
			}
			if err := b.Do(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := map[string]retryOutcome{}
			for _, call := range calls {
				r := retryResult(t, call)
				if r.Status == 424 {
					r.Body = "" // the Handler's reason
				}
				got[call.ID()] = r
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			served := map[string]int{}
			for call := range tc.served {
				served[call] = f.count(call)
			}
			if diff := cmp.Diff(tc.served, served); diff != "" {
				t.Errorf("calls served (-want +got):\n%s", diff)
			}
			for i, h := range halts {
				if h != "true" {
					t.Errorf("batch request %d: %s %q, want true", i+1, DefaultHaltHeader, h)
				}
			}
		})
	}
}

// A retry's backoff ends when every call waiting for it has gone (its own
// context ended): Do does not sleep out a Retry-After for no one.
func TestClientBackoffEndsWhenCallsGone(t *testing.T) {
	f := &flaky{fail: map[string]int{"/a": 5}, status: map[string]int{"/a": 503}, after: "5"}
	srv, n := countingServer(t, f, HandlerOptions{})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(),
		Retry: RetryPolicy{MaxAttempts: 3, BaseBackoff: time.Microsecond}}
	b := c.NewBatch()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	call, _ := b.Add(jsonRequest(t, "GET", "/a", "").WithContext(ctx), "a")
	start := time.Now()
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Short of the 5 s Do would have waited, with room for a loaded
	// machine.
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Do returned after %v, waiting out a Retry-After of 5s for a call gone after 200ms", d)
	}
	if err := call.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("call: %v, want its deadline", err)
	}
	if n.Load() != 1 {
		t.Errorf("%d batch requests, want 1", n.Load())
	}
}

// A gzip bomb (a small part that decodes to far more than
// MaxResponseBytes) fails its call with ErrResponseTooLarge, having
// decoded no more than the limit.
func TestClientGzipBomb(t *testing.T) {
	var bomb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&bomb, gzip.BestCompression)
	zw.Write(make([]byte, 32<<20))
	zw.Close()
	srv := rawBatchServer(t, func(w http.ResponseWriter, ids []string) {
		startResponse(w)
		io.WriteString(w, responsePart(ids[0], fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s", bomb.Len(), bomb.Bytes())))
		io.WriteString(w, closeDelimiter)
	})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), MaxResponseBytes: 1 << 20}
	b := c.NewBatch()
	call, _ := b.Add(jsonRequest(t, "GET", "/bomb", ""), "")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if !errors.Is(call.Err(), ErrResponseTooLarge) {
		t.Errorf("call: %v, want ErrResponseTooLarge", call.Err())
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
		t.Errorf("Do allocated %d MiB for a body bounded to 1 MiB", got>>20)
	}
}

// A batch endpoint that redirects the batch request to another host does
// not get its body sent there: the calls' own credentials are in it (net/http
// drops only the outer Authorization). The redirect is the batch request's
// answer, a *StatusError; a redirect within the endpoint's host is followed
// (when the body can be sent again).
func TestClientRedirectKeepsCredentialsHome(t *testing.T) {
	var leaked atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, _ := io.ReadAll(r.Body); strings.Contains(string(b), "secret") {
			leaked.Add(1)
		}
		http.Error(w, "gotcha", 500)
	}))
	defer elsewhere.Close()
	bh := NewHandler(echoAPI)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, elsewhere.URL+"/batch", http.StatusTemporaryRedirect)
		case "/moved":
			http.Redirect(w, r, "/batch", http.StatusPermanentRedirect)
		default:
			bh.ServeHTTP(w, r)
		}
	}))
	defer srv.Close()
	for _, sized := range []bool{false, true} {
		var limits Limits
		if sized {
			limits.MaxBodyBytes = 1 << 20 // a body with GetBody, which a 307 replays
		}
		moved := 308 // a streamed body cannot be sent again
		if sized {
			moved = 200
		}
		for path, want := range map[string]int{"/away": 307, "/moved": moved} {
			c := &Client{Endpoint: srv.URL + path, HTTPClient: srv.Client(), Limits: limits}
			b := c.NewBatch()
			req := jsonRequest(t, "GET", "/x", "")
			req.Header.Set("Authorization", "Bearer secret")
			call, _ := b.Add(req, "x")
			err := b.Do(context.Background())
			var se *StatusError
			switch {
			case want != 200 && (!errors.As(err, &se) || se.StatusCode != want):
				t.Errorf("sized %t, %s: Do: %v, want the %d as a *StatusError", sized, path, err, want)
			case want == 200 && err != nil:
				t.Errorf("sized %t, %s: Do: %v", sized, path, err)
			case want == 200:
				if r := outcome(t, call); r.Status != 200 {
					t.Errorf("sized %t, %s: %+v, want 200", sized, path, r)
				}
			}
		}
	}
	if leaked.Load() != 0 {
		t.Errorf("%d batch requests with the calls' credentials sent to another host", leaked.Load())
	}
}

// Chunked framing games inside a response part: each ends that call's
// read with an error of its own, promptly, however long the server goes on.
func TestClientChunkedFramingGames(t *testing.T) {
	for _, tc := range []struct{ name, head, repeat string }{
		{"size overflow", "10000000000000000\r\n", ""},
		{"endless size digits", "", "0"},
		{"endless extension", "5;ext=", "a"},
		{"endless trailer", "0\r\n", "X-T: y\r\n"},
		{"endless tiny chunks", "", "1\r\nx\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := rawBatchServer(t, func(w http.ResponseWriter, ids []string) {
				startResponse(w)
				io.WriteString(w, responsePart(ids[0], "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
				io.WriteString(w, "--"+attackBoundary+"\r\nContent-Type: application/http\r\nContent-ID: response-"+ids[1]+
					"\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+tc.head)
				if tc.repeat == "" {
					io.WriteString(w, "\r\n"+closeDelimiter)
					return
				}
				chunk := strings.Repeat(tc.repeat, 1<<14)
				for {
					if _, err := io.WriteString(w, chunk); err != nil {
						return
					}
				}
			})
			c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), MaxResponseBytes: 64 << 10}
			b := c.NewBatch()
			good, _ := b.Add(jsonRequest(t, "GET", "/good", ""), "")
			bad, _ := b.Add(jsonRequest(t, "GET", "/bad", ""), "")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b.Do(ctx)
			if diff := cmp.Diff(result{Status: 200, Body: "ok"}, outcome(t, good)); diff != "" {
				t.Errorf("the other call (-want +got):\n%s", diff)
			}
			if err := bad.Err(); err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("bad call: %v, want an error of its own before the deadline", err)
			}
		})
	}
}

// A JSON batch response that never ends (response objects for no call, on
// and on, each large enough that the bytes run out before the count of
// objects does: see TestClientJSONAttackTinyValues) is cut off as a
// multipart one is.
func TestClientJSONResponseNeverEnds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"responses":[`)
		chunk := `{"id":"nobody","status":200,"body":{"x":"` + strings.Repeat("x", 100<<10) + `"}},`
		for {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Format: FormatGraphJSON, MaxResponseBytes: 64 << 10}
	b := c.NewBatch()
	call, _ := b.Add(jsonRequest(t, "GET", "/a", ""), "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.Do(ctx)
	if _, err := call.Wait(ctx); !errors.Is(err, ErrResponseTooLarge) {
		t.Errorf("call: %v, want ErrResponseTooLarge", err)
	}
}

// waitGoroutines fails t unless the goroutines fall back to at most n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	for wait := time.Millisecond; runtime.NumGoroutine() > n; wait *= 2 {
		// A leak stays: 8 s and more of waiting only lets a machine
		// loaded by -race and other packages' tests end the goroutines
		// that are going (a closed connection's, a released handler's).
		if wait > 8*time.Second {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(wait)
	}
}

// A server that neither reads the batch request nor answers: each call's
// own context fails it on time while the request is stuck writing, and
// once all have gone the request is abandoned, leaving no goroutine.
func TestClientCallContextsWhileWriteBlocked(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // read nothing, answer nothing
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	var releaseOnce sync.Once
	releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseAll() // before srv.Close, which waits for the handlers, should the test fail
	before := runtime.NumGoroutine()
	for _, sized := range []bool{false, true} {
		if sized && testing.Short() {
			break // 5 s more
		}
		var limits Limits
		if sized {
			limits.MaxBodyBytes = 64 << 20
		}
		c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Limits: limits}
		b := c.NewBatch()
		var calls []*Call
		var reqs []*http.Request
		for i := range 2 {
			req := jsonRequest(t, "PUT", fmt.Sprintf("/x/%d", i), strings.Repeat("x", 8<<20))
			req.Header.Set("Content-Type", "application/octet-stream") // nothing to search for references
			reqs = append(reqs, req)
		}
		start := time.Now()
		// The second deadline is far enough from the first that a loaded
		// machine (building a sized body copies 16 MiB) cannot blur them,
		// and the first far enough away that it has not passed when Add
		// looks at it (under -race and load, 100 ms once had).
		for i, d := range []time.Duration{time.Second, 5 * time.Second} {
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			call, err := b.Add(reqs[i].WithContext(ctx), "")
			if err != nil {
				t.Fatal(err)
			}
			calls = append(calls, call)
		}
		done := make(chan error, 1)
		go func() { done <- b.Do(context.Background()) }()
		<-calls[0].Done()
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("sized %t: the 1s call ended after %v", sized, d)
		}
		if calls[1].Err() != nil {
			t.Errorf("sized %t: the 5s call ended with the 1s one: %v", sized, calls[1].Err())
		}
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			// A deadlock bound: Do returns once the body it builds in
			// memory stops (sized) or the request is abandoned, which
			// under -race and a loaded CI machine took over 5 s once
			// (16 MiB of bodies copied, instrumented).
			t.Fatalf("sized %t: Do still blocked 15s after every call's context ended", sized)
		}
		for i, call := range calls {
			if !errors.Is(call.Err(), context.DeadlineExceeded) {
				t.Errorf("sized %t: call %d: %v, want its deadline", sized, i, call.Err())
			}
		}
	}
	// The server's handlers, which read nothing, cannot see the client
	// go: release them, and count the client's goroutines.
	releaseAll()
	srv.Client().CloseIdleConnections()
	waitGoroutines(t, before)
}

// Many goroutines on one Transport against a server that trickles: when
// their contexts end, every RoundTrip returns and no goroutine is left.
func TestTransportTrickleNoLeak(t *testing.T) {
	srv, release := trickleServer(t, 20*time.Millisecond)
	defer close(release)
	before := runtime.NumGoroutine()
	tr := &Transport{Endpoint: srv.URL + "/batch", Base: srv.Client().Transport, Limits: Limits{MaxCalls: 4},
		Retry: RetryPolicy{MaxAttempts: 3}}
	hc := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/x/%d", srv.URL, i), nil)
			resp, err := hc.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("call %d: %v, want its deadline", i, err)
		}
	}
	srv.Client().CloseIdleConnections()
	waitGoroutines(t, before)
}

// A retry's response that also answers a call of the earlier attempt
// (settled, not in this request) gives that part to no one: the earlier
// result stands and the retried call gets its own part.
func TestClientStalePartFromEarlierAttempt(t *testing.T) {
	requests := 0
	srv := rawBatchServer(t, func(w http.ResponseWriter, ids []string) {
		requests++
		startResponse(w)
		if requests == 1 {
			io.WriteString(w, responsePart("a", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"))
			io.WriteString(w, responsePart("b", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"))
		} else {
			io.WriteString(w, responsePart("a", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale"))
			io.WriteString(w, responsePart("b", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nb2"))
		}
		io.WriteString(w, closeDelimiter)
	})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(),
		Retry: RetryPolicy{MaxAttempts: 2, BaseBackoff: time.Microsecond}}
	b := c.NewBatch()
	a, _ := b.Add(jsonRequest(t, "GET", "/a", ""), "a")
	bc, _ := b.Add(jsonRequest(t, "GET", "/b", ""), "b")
	b.Do(context.Background())
	got := map[string]retryOutcome{"a": retryResult(t, a), "b": retryResult(t, bc)}
	want := map[string]retryOutcome{
		"a": {Status: 200, Body: "first", Attempts: 1},
		"b": {Status: 200, Body: "b2", Attempts: 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

// A server that refuses every request as too large, even of one call,
// costs a bounded number of requests: the halvings down to one call, and
// then each call's attempts when 413 is a status the policy retries.
func TestClient413LoopEnds(t *testing.T) {
	for _, tc := range []struct {
		statuses []int
		attempts int
		requests int64
	}{
		{nil, 1, 1 + 2 + 4 + 8},
		{[]int{413}, 3, 1 + 2 + 4 + 8 + 8*2},
	} {
		var n atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			io.Copy(io.Discard, r.Body)
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		}))
		c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(),
			Retry: RetryPolicy{MaxAttempts: 3, Statuses: tc.statuses, BaseBackoff: time.Microsecond}}
		b := c.NewBatch()
		addGets(t, b, 8)
		b.Do(context.Background())
		srv.Close()
		for _, call := range b.Calls() {
			var se *StatusError
			if !errors.As(call.Err(), &se) || se.StatusCode != 413 || call.Attempts() != tc.attempts {
				t.Errorf("statuses %v: call %s: %v after %d attempts, want the 413 after %d", tc.statuses, call.ID(), call.Err(), call.Attempts(), tc.attempts)
			}
		}
		if n.Load() != tc.requests {
			t.Errorf("statuses %v: %d requests, want %d", tc.statuses, n.Load(), tc.requests)
		}
	}
}

// Concurrent Do calls on one Client, with retries and splitting, each get
// their own answers (run with -race).
func TestClientConcurrentDo(t *testing.T) {
	fail := map[string]int{}
	status := map[string]int{}
	for g := range 6 {
		for i := range 5 {
			if i%2 == 0 {
				path := fmt.Sprintf("/g%d/%d", g, i)
				fail[path], status[path] = 1, 503
			}
		}
	}
	f := &flaky{fail: fail, status: status}
	srv, _ := countingServer(t, f, HandlerOptions{})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Limits: Limits{MaxCalls: 2},
		Retry: RetryPolicy{MaxAttempts: 2, BaseBackoff: time.Microsecond}}
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := c.NewBatch()
			for i := range 5 {
				b.Add(jsonRequest(t, "GET", fmt.Sprintf("/g%d/%d", g, i), ""), strconv.Itoa(i))
			}
			if err := b.Do(context.Background()); err != nil {
				t.Error(err)
				return
			}
			for _, call := range b.Calls() {
				want := retryOutcome{Status: 200, Body: "GET " + call.Request().URL.Path + " ", Attempts: 1}
				if i, _ := strconv.Atoi(call.ID()); i%2 == 0 {
					want.Attempts = 2
				}
				if diff := cmp.Diff(want, retryResult(t, call)); diff != "" {
					t.Errorf("call %s (-want +got):\n%s", call.Request().URL.Path, diff)
				}
			}
		}()
	}
	wg.Wait()
}

// A call its attempt did not send (PrepareCall refused it; in a JSON
// batch, its body cannot take its form) keeps its own error when the
// batch request is refused for its size and the others are sent again in
// halves: it is not sent again, PrepareCall does not see it again, and it
// has no attempt (its count went below zero, one less per refusal).
func TestClientUnsentCallsNotHalved(t *testing.T) {
	for _, f := range []Format{FormatMultipart, FormatODataJSON} {
		t.Run(f.String(), func(t *testing.T) {
			srv, n := countingServer(t, echoAPI, HandlerOptions{MaxCalls: 2})
			var prepared sync.Map // path → how many times PrepareCall saw it
			c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Format: f,
				PrepareCall: func(r *http.Request) error {
					v, _ := prepared.LoadOrStore(r.URL.Path, new(atomic.Int64))
					v.(*atomic.Int64).Add(1)
					if r.URL.Path == "/refused" {
						return errors.New("no key for it")
					}
					return nil
				}}
			b := c.NewBatch()
			var oks []*Call
			for i := range 4 {
				call, _ := b.Add(jsonRequest(t, "PUT", fmt.Sprintf("/ok%d", i), `{}`), fmt.Sprint("ok", i))
				oks = append(oks, call)
			}
			refused, _ := b.Add(jsonRequest(t, "PUT", "/refused", `{}`), "refused")
			var notJSON *Call
			if f != FormatMultipart {
				req := jsonRequest(t, "PUT", "/not-json", `{not json`)
				req.Header.Set("Content-Type", "application/json")
				notJSON, _ = b.Add(req, "not-json")
			}
			if err := b.Do(context.Background()); err != nil {
				t.Fatal(err)
			}
			for i, call := range oks {
				want := result{Status: 200, Body: fmt.Sprintf(`PUT /ok%d body="{}"`, i)}
				if diff := cmp.Diff(want, outcome(t, call)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", call.ID(), diff)
				}
				if call.Attempts() != 1 {
					t.Errorf("%s: %d attempts, want 1", call.ID(), call.Attempts())
				}
			}
			if err := refused.Err(); err == nil || !strings.Contains(err.Error(), "no key for it") || refused.Attempts() != 0 {
				t.Errorf("refused: %v after %d attempts, want PrepareCall's error, never sent", err, refused.Attempts())
			}
			if v, _ := prepared.Load("/refused"); v.(*atomic.Int64).Load() != 1 {
				t.Errorf("PrepareCall saw /refused %d times, want once", v.(*atomic.Int64).Load())
			}
			if notJSON != nil && (!errors.Is(notJSON.Err(), ErrBodyForm) || notJSON.Attempts() != 0) {
				t.Errorf("not-json: %v after %d attempts, want ErrBodyForm, never sent", notJSON.Err(), notJSON.Attempts())
			}
			if n.Load() < 3 {
				t.Errorf("%d batch requests, want the refused one and its halves", n.Load())
			}
		})
	}
}

// jsonBatchServer answers each JSON batch request with what respond
// writes, as a JSON batch response.
func jsonBatchServer(t *testing.T, respond func(w http.ResponseWriter)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		respond(w)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A JSON batch response of many tiny values (response objects for no
// call, values that are no object, members of the envelope) is cut off
// after as many as a multipart response may have parts: each costs the
// decoder a microsecond or more, and tens of millions fit in the bytes
// a response to one call may have (a minute of CPU for one call).
func TestClientJSONAttackTinyValues(t *testing.T) {
	for _, tc := range []struct{ name, open, fill, close string }{
		{"objects", `{"responses":[`, `{},`, `{"id":"1","status":200}]}`},
		{"numbers", `{"responses":[`, `1,`, `{"id":"1","status":200}]}`},
		{"envelope members", `{`, `"x":0,`, `"responses":[{"id":"1","status":200}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := jsonBatchServer(t, func(w http.ResponseWriter) {
				io.WriteString(w, tc.open)
				chunk := strings.Repeat(tc.fill, 1<<10)
				for range 64 {
					if _, err := io.WriteString(w, chunk); err != nil {
						return
					}
				}
				io.WriteString(w, tc.close)
			})
			for _, f := range []Format{FormatODataJSON, FormatGraphJSON} {
				c := &Client{Endpoint: srv.URL + "/$batch", HTTPClient: srv.Client(), Format: f}
				b := c.NewBatch()
				call, _ := b.Add(jsonRequest(t, "GET", "/a", ""), "1")
				b.Do(context.Background())
				if _, err := call.Wait(context.Background()); !errors.Is(err, mixed.ErrTooManyParts) {
					t.Errorf("%v: call: %v, want mixed.ErrTooManyParts", f, err)
				}
			}
		})
	}
}

// A call answered twice keeps neither answer (which is its own cannot be
// told) in a JSON batch response cut short too, as in one read to its
// end.
func TestClientJSONAttackTwiceThenCut(t *testing.T) {
	srv := jsonBatchServer(t, func(w http.ResponseWriter) {
		io.WriteString(w, `{"responses":[{"id":"1","status":200,"body":{"mine":false}},{"id":"2","status":200,"body":{}},`+
			`{"id":"1","status":200,"body":{"mine":true}},{"id":"2`)
	})
	c := &Client{Endpoint: srv.URL + "/$batch", HTTPClient: srv.Client(), Format: FormatGraphJSON}
	b := c.NewBatch()
	one, _ := b.Add(jsonRequest(t, "GET", "/a", ""), "1")
	two, _ := b.Add(jsonRequest(t, "GET", "/b", ""), "2")
	if err := b.Do(context.Background()); err == nil {
		t.Error("Do: nil, want the failure of the batch request that call 1 reports")
	}
	if resp, err := one.Wait(context.Background()); err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("call 1: %v, %v, want the batch response's failure", resp, err)
	}
	if diff := cmp.Diff(result{Status: 200, Body: "{}"}, outcome(t, two)); diff != "" {
		t.Errorf("call 2, answered once (-want +got):\n%s", diff)
	}
}

// The same in a changeset's nested multipart response: a call answered
// twice before the response is cut keeps neither answer.
func TestClientChangesetTwiceThenCut(t *testing.T) {
	s := &scripted{respond: func(w io.Writer, req sentRequest) {
		io.WriteString(w, "--resp\r\nContent-Type: multipart/mixed; boundary=cs\r\nContent-ID: response-"+req.Parts[0].CID+"\r\n\r\n"+
			"--cs\r\nContent-Type: application/http\r\nContent-ID: response-1\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nfirst\r\n"+
			"--cs\r\nContent-Type: application/http\r\nContent-ID: response-1\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 6\r\n\r\nsecond\r\n"+
			"--cs\r\nContent-Type: application/http\r\nContent-ID: response-2\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 6\r\n\r\nsec")
	}}
	b := scriptedClient(t, s, 0).NewBatch()
	cs := b.Changeset()
	one, _ := cs.Add(jsonRequest(t, "POST", "/a", `{}`), "1")
	two, _ := cs.Add(jsonRequest(t, "POST", "/b", `{}`), "2")
	b.Do(context.Background())
	for _, c := range []*Call{one, two} {
		if resp, err := c.Wait(context.Background()); err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("call %s: %v, %v, want the batch response's failure", c.ID(), resp, err)
		}
	}
}

// A call id given with angle brackets or white space inside them, as
// Google's documentation spells Content-IDs, is the Content-ID of its part:
// the server reads the id inside and answers "<response-...>", which
// answers the call. Two ids a server reads as one, and ids that cannot
// be a Content-ID (which would fail every call of the batch request when
// written), are refused by Add in a multipart batch; JSON batches match
// ids as they are.
func TestClientIDsAsContentIDs(t *testing.T) {
	srv := httptest.NewServer(NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	})))
	defer srv.Close()
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client()}
	b := c.NewBatch()
	var calls []*Call
	for i, id := range []string{"<item1:12930812@barnyard.example.com>", "< b >", "c"} {
		call, err := b.Add(jsonRequest(t, "GET", "/"+strconv.Itoa(i), ""), id)
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, call)
	}
	if err := b.Do(context.Background()); err != nil {
		t.Errorf("Do: %v", err)
	}
	for i, call := range calls {
		if diff := cmp.Diff(result{Status: 200, Body: "/" + strconv.Itoa(i)}, outcome(t, call)); diff != "" {
			t.Errorf("call %q (-want +got):\n%s", call.ID(), diff)
		}
	}

	for _, ids := range [][]string{{"a", "<a>"}, {"<a>", "a"}, {"<a>", "< a >"}, {" a"}, {"a\t"}, {"a\r\nX-Evil: 1"}, {"<>"}} {
		for _, f := range []Format{FormatMultipart, FormatGraphJSON} {
			b := (&Client{Endpoint: srv.URL + "/batch", Format: f}).NewBatch()
			var err error
			for _, id := range ids {
				if _, err = b.Add(jsonRequest(t, "GET", "/x", ""), id); err != nil {
					break
				}
			}
			if json := f != FormatMultipart; (err == nil) != json {
				t.Errorf("%v: ids %q: Add: %v, want an error: %v", f, ids, err, !json)
			}
		}
	}
}

// A call that gives up while it waits for a batch to go in (MaxInFlight
// batches are in flight) is still a batched call: OnCall hears of it, with
// its context's error, before its RoundTrip returns.
func TestTransportOnCallWhileWaitingForSlot(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	srv := rawBatchServer(t, func(w http.ResponseWriter, ids []string) {
		started <- struct{}{}
		<-release
		startResponse(w)
		io.WriteString(w, responsePart(ids[0], "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")+closeDelimiter)
	})
	var mu sync.Mutex
	var infos []CallInfo
	tr := &Transport{Endpoint: srv.URL + "/batch", Base: srv.Client().Transport, Window: time.Millisecond, MaxInFlight: 1,
		OnCall: func(i CallInfo) {
			mu.Lock()
			infos = append(infos, i)
			mu.Unlock()
		}}
	hc := &http.Client{Transport: tr}
	first := make(chan error, 1)
	go func() {
		resp, err := hc.Get(srv.URL + "/first")
		if err == nil {
			resp.Body.Close()
		}
		first <- err
	}()
	// The first call's batch takes the only slot; the second waits for it
	// until its deadline.
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/second", nil)
	if _, err := hc.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second call: %v, want its deadline", err)
	}
	mu.Lock()
	got := slices.Clone(infos)
	mu.Unlock()
	if len(got) != 1 || got[0].Target != "/second" || !errors.Is(got[0].Err, context.DeadlineExceeded) {
		t.Errorf("OnCall before the second call returned: %+v, want the second call with its deadline", got)
	}
	close(release)
	if err := <-first; err != nil {
		t.Errorf("first call: %v", err)
	}
}

// closeRecorder is a request body without GetBody that records its Close;
// endless, it never ends.
type closeRecorder struct {
	r       io.Reader
	endless bool
	closed  atomic.Bool
}

func (c *closeRecorder) Read(p []byte) (int, error) {
	if c.endless {
		return copy(p, strings.Repeat("x", len(p))), nil
	}
	return c.r.Read(p)
}

func (c *closeRecorder) Close() error { c.closed.Store(true); return nil }

// A server that answers before it has read the batch request (or a body
// that fails to read) stops its writing, and every call's body is closed then, as
// net/http closes a request's body whatever happens: those not written
// yet too, which may hold a file open.
func TestClientClosesBodiesNotWritten(t *testing.T) {
	for _, f := range []Format{FormatMultipart, FormatODataJSON} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if f != FormatMultipart {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"responses":[{"id":"1","status":204},{"id":"2","status":204},{"id":"3","status":204}]}`)
				return
			}
			startResponse(w)
			for _, id := range []string{"1", "2", "3"} {
				io.WriteString(w, responsePart(id, "HTTP/1.1 204 No Content\r\n"))
			}
			io.WriteString(w, closeDelimiter)
		}))
		c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Format: f}
		b := c.NewBatch()
		bodies := []*closeRecorder{{endless: true}, {r: strings.NewReader("{}")}, {r: strings.NewReader("{}")}}
		if f != FormatMultipart {
			// A JSON batch reads each body whole before it writes
			// it: the writing stops at a body that fails.
			bodies[0] = &closeRecorder{r: iotest.ErrReader(errors.New("boom"))}
		}
		for i, body := range bodies {
			req, _ := http.NewRequest("POST", "/x", body)
			req.Header.Set("Content-Type", "application/json")
			if _, err := b.Add(req, strconv.Itoa(i+1)); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		b.Do(ctx)
		cancel()
		for i, body := range bodies {
			for deadline := time.Now().Add(2 * time.Second); !body.closed.Load(); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Errorf("%v: the body of call %d is not closed", f, i+1)
					break
				}
			}
		}
		srv.Close()
	}
}
