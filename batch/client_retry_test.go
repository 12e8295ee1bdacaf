package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	type res struct {
		D  time.Duration
		OK bool
	}
	cases := map[string]res{
		"3":                               {3 * time.Second, true},
		" 0 ":                             {0, true},
		"0.25":                            {250 * time.Millisecond, true}, // Microsoft Graph
		"1.5":                             {1500 * time.Millisecond, true},
		"Tue, 01 Dec 2026 10:00:10 GMT":   {10 * time.Second, true},
		"Tuesday, 01-Dec-26 10:01:00 GMT": {time.Minute, true},
		"Tue, 01 Dec 2026 09:00:00 GMT":   {0, true}, // past: no wait
		"":                                {0, false},
		"-1":                              {0, false},
		"soon":                            {0, false},
		"1s":                              {0, false},
		// Waits too long for a Duration are long waits, not none
		// (which would retry at once).
		"99999999999":                   {maxRetryAfter, true},
		"1000000000000":                 {maxRetryAfter, true},
		"1e400":                         {maxRetryAfter, true},
		"Fri, 31 Dec 9999 23:59:59 GMT": {maxRetryAfter, true},
	}
	got := map[string]res{}
	for v := range cases {
		d, ok := parseRetryAfter(v, now)
		got[v] = res{d, ok}
	}
	if diff := cmp.Diff(cases, got); diff != "" {
		t.Errorf("parseRetryAfter (-want +got):\n%s", diff)
	}
}

func TestRetryBackoffIsFullJitter(t *testing.T) {
	p := RetryPolicy{BaseBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	for n := 1; n <= 8; n++ {
		limit := min(p.BaseBackoff<<(n-1), p.MaxBackoff)
		var top time.Duration
		for range 200 {
			d := p.backoff(n)
			if d < 0 || d > limit {
				t.Fatalf("backoff(%d) = %v, want within [0, %v]", n, d, limit)
			}
			top = max(top, d)
		}
		if top < limit/2 {
			t.Errorf("backoff(%d): the largest of 200 draws is %v, want spread up to %v", n, top, limit)
		}
	}
}

// flaky is an inner handler that answers the first n[path] calls to a path
// with status[path], Retry-After after, and then 200 with the method, path
// and body; it records every call it serves.
type flaky struct {
	mu     sync.Mutex
	fail   map[string]int // path → how many calls fail
	status map[string]int
	after  string
	seen   []string // "METHOD path body" in order
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.seen = append(f.seen, r.Method+" "+r.URL.Path+" "+string(body))
	fails := f.fail[r.URL.Path] > 0
	if fails {
		f.fail[r.URL.Path]--
	}
	f.mu.Unlock()
	if fails {
		if f.after != "" {
			w.Header().Set("Retry-After", f.after)
		}
		w.WriteHeader(f.status[r.URL.Path])
		return
	}
	fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
}

func (f *flaky) count(call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.seen {
		if strings.HasPrefix(s, call+" ") {
			n++
		}
	}
	return n
}

type retryOutcome struct {
	Status   int
	Body     string
	Err      string
	Attempts int
}

func retryResult(t *testing.T, c *Call) retryOutcome {
	r := outcome(t, c)
	return retryOutcome{Status: r.Status, Body: r.Body, Err: r.Err, Attempts: c.Attempts()}
}

func TestClientRetriesOnlyFailedCalls(t *testing.T) {
	f := &flaky{
		fail:   map[string]int{"/b": 1, "/c": 2, "/post": 1, "/keyed": 1, "/put": 1},
		status: map[string]int{"/b": 503, "/c": 429, "/post": 503, "/keyed": 500, "/put": 502},
		after:  "0.03",
	}
	srv, n := countingServer(t, f, HandlerOptions{})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(),
		Retry: RetryPolicy{MaxAttempts: 3, BaseBackoff: time.Millisecond}}
	b := c.NewBatch()
	add := func(method, path, body string, key bool) *Call {
		req := jsonRequest(t, method, path, body)
		if key {
			req.Header.Set("Idempotency-Key", "k1")
		}
		call, err := b.Add(req, strings.TrimPrefix(path, "/"))
		if err != nil {
			t.Fatal(err)
		}
		return call
	}
	calls := []*Call{
		add("GET", "/a", "", false),
		add("GET", "/b", "", false),
		add("DELETE", "/c", "", false),
		add("POST", "/post", `{"x":1}`, false),
		add("POST", "/keyed", `{"y":2}`, true),
		add("PUT", "/put", `{"z":3}`, false),
	}
	start := time.Now()
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("Do took %v: two retries after Retry-After 0.03 take at least 60ms", d)
	}
	got := map[string]retryOutcome{}
	for _, c := range calls {
		got[c.ID()] = retryResult(t, c)
	}
	want := map[string]retryOutcome{
		"a":     {Status: 200, Body: "GET /a ", Attempts: 1},
		"b":     {Status: 200, Body: "GET /b ", Attempts: 2},
		"c":     {Status: 200, Body: "DELETE /c ", Attempts: 3},
		"post":  {Status: 503, Attempts: 1}, // not idempotent: never twice
		"keyed": {Status: 200, Body: `POST /keyed {"y":2}`, Attempts: 2},
		"put":   {Status: 200, Body: `PUT /put {"z":3}`, Attempts: 2}, // body replayed
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	// Request 2 carries b, c, keyed and put; request 3 carries c alone.
	if n.Load() != 3 {
		t.Errorf("%d batch requests, want 3", n.Load())
	}
	for call, want := range map[string]int{"GET /a": 1, "GET /b": 2, "DELETE /c": 3, "POST /post": 1, "POST /keyed": 2, "PUT /put": 2} {
		if got := f.count(call); got != want {
			t.Errorf("%s served %d times, want %d", call, got, want)
		}
	}
}

func TestClientRetryLimits(t *testing.T) {
	f := &flaky{fail: map[string]int{"/long": 1, "/often": 5}, status: map[string]int{"/long": 503, "/often": 503}}
	srv, _ := countingServer(t, f, HandlerOptions{})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(),
		Retry: RetryPolicy{MaxAttempts: 3, BaseBackoff: time.Microsecond, MaxBackoff: time.Second}}
	b := c.NewBatch()
	long, _ := b.Add(jsonRequest(t, "GET", "/long", ""), "long")
	often, _ := b.Add(jsonRequest(t, "GET", "/often", ""), "often")
	f.after = "60" // over MaxBackoff: not waited for
	start := time.Now()
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Do took %v, waiting for a Retry-After over MaxBackoff", d)
	}
	got := []retryOutcome{retryResult(t, long), retryResult(t, often)}
	want := []retryOutcome{{Status: 503, Attempts: 1}, {Status: 503, Attempts: 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}

	f.after = ""
	b = c.NewBatch()
	often, _ = b.Add(jsonRequest(t, "GET", "/often", ""), "often")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(retryOutcome{Status: 503, Attempts: 3}, retryResult(t, often)); diff != "" {
		t.Errorf("MaxAttempts 3 (-want +got):\n%s", diff)
	}
}

// failFirstBatch returns a batch of a GET and a POST for a Client that
// retries twice, against a server whose first batch request first
// answers and whose later ones a Handler serves.
func failFirstBatch(t *testing.T, first http.HandlerFunc) (b *Batch, get, post *Call) {
	t.Helper()
	var mu sync.Mutex
	requests := 0
	bh := NewHandler(&flaky{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		isFirst := requests == 1
		mu.Unlock()
		if isFirst {
			first(w, r)
			return
		}
		bh.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(),
		Retry: RetryPolicy{MaxAttempts: 2, BaseBackoff: time.Microsecond}}
	b = c.NewBatch()
	get, _ = b.Add(jsonRequest(t, "GET", "/get", ""), "get")
	post, _ = b.Add(jsonRequest(t, "POST", "/post", "{}"), "post")
	return b, get, post
}

// A call whose batch request failed at the transport level is retried by
// the same rule; the failure is not Do's once a retry made it good.
func TestClientRetriesTransportFailures(t *testing.T) {
	b, get, post := failFirstBatch(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	err := b.Do(context.Background())
	if err == nil || !strings.Contains(err.Error(), "request failed") {
		t.Errorf("Do: %v, want the failure that is the POST's result", err)
	}
	if diff := cmp.Diff(retryOutcome{Status: 200, Body: "GET /get ", Attempts: 2}, retryResult(t, get)); diff != "" {
		t.Errorf("GET (-want +got):\n%s", diff)
	}
	if r := retryResult(t, post); r.Attempts != 1 || !strings.Contains(r.Err, "request failed") {
		t.Errorf("POST: %+v, want the transport failure after one attempt", r)
	}
}

func TestClientHalvesRefusedRequests(t *testing.T) {
	for _, tc := range []struct {
		name   string
		refuse func(w http.ResponseWriter)
	}{
		{"413", func(w http.ResponseWriter) { http.Error(w, "too large", http.StatusRequestEntityTooLarge) }},
		{"Google", func(w http.ResponseWriter) {
			http.Error(w, `{"error":{"code":400,"message":"Too many requests in a batch."}}`, http.StatusBadRequest)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var sizes []int
			bh := NewHandler(&flaky{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				n := bytes.Count(body, []byte("Content-Type: application/http"))
				mu.Lock()
				sizes = append(sizes, n)
				mu.Unlock()
				if n > 3 {
					tc.refuse(w)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
				bh.ServeHTTP(w, r)
			}))
			defer srv.Close()
			c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Concurrency: 1}
			b := c.NewBatch()
			var calls []*Call
			for i := range 10 {
				call, _ := b.Add(jsonRequest(t, "GET", fmt.Sprintf("/%d", i), ""), "")
				calls = append(calls, call)
			}
			if err := b.Do(context.Background()); err != nil {
				t.Fatal(err)
			}
			for i, call := range calls {
				if diff := cmp.Diff(retryOutcome{Status: 200, Body: fmt.Sprintf("GET /%d ", i), Attempts: 1}, retryResult(t, call)); diff != "" {
					t.Errorf("call %d (-want +got):\n%s", i, diff)
				}
			}
			// 10 → 5 + 5 → (2 + 3) + (2 + 3).
			if diff := cmp.Diff([]int{10, 5, 2, 3, 5, 2, 3}, sizes); diff != "" {
				t.Errorf("calls per request (-want +got):\n%s", diff)
			}
		})
	}
	// Our own Handler's refusal halves too, down to one call.
	srv, _ := countingServer(t, &flaky{}, HandlerOptions{MaxCalls: 1})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client()}
	b := c.NewBatch()
	x, _ := b.Add(jsonRequest(t, "GET", "/x", ""), "")
	y, _ := b.Add(jsonRequest(t, "GET", "/y", ""), "")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := []result{outcome(t, x), outcome(t, y)}; !cmp.Equal(got, []result{{200, "GET /x ", ""}, {200, "GET /y ", ""}}) {
		t.Errorf("halved down to one call: %+v", got)
	}
}

func TestClientLimitsBytes(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	bh := NewHandler(&flaky{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		sizes = append(sizes, len(body))
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		bh.ServeHTTP(w, r)
	}))
	defer srv.Close()
	limits := Limits{MaxCalls: 100, MaxBodyBytes: 4096}
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Limits: limits}
	b := c.NewBatch()
	var calls []*Call
	for i := range 12 {
		body := strings.Repeat(string(rune('a'+i)), 1000)
		req := jsonRequest(t, "PUT", fmt.Sprintf("/%d", i), body)
		if i%3 == 0 {
			// A body of unknown length without GetBody: measured.
			req.Body, req.GetBody, req.ContentLength = io.NopCloser(strings.NewReader(body)), nil, 0
		}
		call, err := b.Add(req, "")
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, call)
	}
	huge, _ := b.Add(jsonRequest(t, "PUT", "/huge", strings.Repeat("h", 5000)), "huge")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, call := range calls {
		want := result{Status: 200, Body: fmt.Sprintf("PUT /%d %s", i, strings.Repeat(string(rune('a'+i)), 1000))}
		if diff := cmp.Diff(want, outcome(t, call)); diff != "" {
			t.Errorf("call %d (-want +got):\n%s", i, diff)
		}
	}
	if err := huge.Err(); !errors.Is(err, ErrCallTooLarge) || huge.Attempts() != 0 {
		t.Errorf("a call over MaxBodyBytes: error %v after %d attempts, want ErrCallTooLarge unsent", err, huge.Attempts())
	}
	if len(sizes) < 4 {
		t.Errorf("%d requests for 12 kB of calls within 4 kB each", len(sizes))
	}
	for i, n := range sizes {
		if n > 4096 {
			t.Errorf("request %d has %d bytes, over MaxBodyBytes 4096", i, n)
		}
	}
}

func TestLimitsProfiles(t *testing.T) {
	got := map[string]Limits{
		"Google": LimitsGoogle(), "Gmail": LimitsGmail(), "Drive": LimitsDrive(), "Calendar": LimitsCalendar(),
		"AzureBlob": LimitsAzureBlob(), "AzureTable": LimitsAzureTable(), "Dataverse": LimitsDataverse(), "Graph": LimitsGraph(),
	}
	want := map[string]Limits{
		"Google": {1000, 0}, "Gmail": {100, 0}, "Drive": {100, 0}, "Calendar": {50, 0},
		"AzureBlob": {256, 4 << 20}, "AzureTable": {100, 4 << 20}, "Dataverse": {1000, 0}, "Graph": {20, 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("published limits (-want +got):\n%s", diff)
	}
}

func TestClientPrepareCall(t *testing.T) {
	var mu sync.Mutex
	var seenAuth []string
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fail := r.URL.Path == "/again" && !slices.ContainsFunc(seenAuth, func(s string) bool { return strings.HasPrefix(s, "/again ") })
		sig, _, _ := strings.Cut(r.Header.Get("X-Signature"), " ")
		seenAuth = append(seenAuth, r.URL.Path+" "+sig)
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	srv, _ := countingServer(t, inner, HandlerOptions{Changesets: true})
	var prepared []string
	n := 0
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(),
		Retry: RetryPolicy{MaxAttempts: 2, BaseBackoff: time.Microsecond},
		PrepareCall: func(r *http.Request) error {
			mu.Lock()
			defer mu.Unlock()
			prepared = append(prepared, fmt.Sprintf("%s %s len=%d auth=%q own=%q", r.Method, r.URL.Path, r.ContentLength, r.Header.Get("Authorization"), r.Header.Get("X-Own")))
			if r.URL.Path == "/refused" || r.URL.Path == "/cs-refused" {
				return errors.New("no key for it")
			}
			n++
			r.Header.Set("X-Signature", fmt.Sprintf("sig-%d %s %d", n, r.URL.Path, r.ContentLength))
			return nil
		}}
	b := c.NewBatch()
	b.Header.Set("Authorization", "Bearer shared")
	put := jsonRequest(t, "PUT", "/put", "12345")
	put.Header.Set("Authorization", "Bearer shared")
	put.Header.Set("X-Own", "mine")
	putCall, _ := b.Add(put, "put")
	refused, _ := b.Add(jsonRequest(t, "GET", "/refused", ""), "refused")
	cs := b.Changeset()
	csOK, _ := cs.Add(jsonRequest(t, "GET", "/cs-ok", ""), "cs-ok")
	csRefused, _ := cs.Add(jsonRequest(t, "GET", "/cs-refused", ""), "cs-refused")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	again := c.NewBatch()
	againCall, _ := again.Add(jsonRequest(t, "GET", "/again", ""), "again")
	if err := again.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := outcome(t, putCall); r.Status != 200 {
		t.Errorf("put: %+v", r)
	}
	if r := outcome(t, againCall); r.Status != 200 || againCall.Attempts() != 2 {
		t.Errorf("again: %+v after %d attempts, want 200 after 2, signed afresh", r, againCall.Attempts())
	}
	for _, call := range []*Call{refused, csOK, csRefused} {
		if err := call.Err(); err == nil || !strings.Contains(err.Error(), "no key for it") {
			t.Errorf("call %s: error %v, want PrepareCall's", call.ID(), err)
		}
	}
	slices.Sort(prepared)
	want := []string{
		`GET /again len=0 auth="" own=""`,
		`GET /again len=0 auth="" own=""`,
		`GET /cs-ok len=0 auth="" own=""`,
		`GET /cs-refused len=0 auth="" own=""`,
		`GET /refused len=0 auth="" own=""`,
		// Authorization is inherited from the outer request: not the
		// call's to sign.
		`PUT /put len=5 auth="" own="mine"`,
	}
	if diff := cmp.Diff(want, prepared); diff != "" {
		t.Errorf("requests PrepareCall saw (-want +got):\n%s", diff)
	}
	// Each attempt is signed afresh; the changeset was never sent.
	slices.Sort(seenAuth)
	if diff := cmp.Diff([]string{"/again sig-3", "/again sig-4", "/put sig-1"}, seenAuth); diff != "" {
		t.Errorf("signatures the server saw (-want +got):\n%s", diff)
	}
	if put.Header.Get("X-Signature") != "" {
		t.Error("PrepareCall changed the caller's request")
	}
}

func TestClientCallContext(t *testing.T) {
	release := make(chan struct{})
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, r.URL.Path)
	})
	srv, _ := countingServer(t, inner, HandlerOptions{})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client()}
	b := c.NewBatch()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	slow, _ := b.Add(jsonRequest(t, "GET", "/slow", "").WithContext(ctx), "slow")
	fast, _ := b.Add(jsonRequest(t, "GET", "/fast", ""), "fast")
	start := time.Now()
	go b.Do(context.Background())
	// A deadlock bound, not a speed test: the slow call is answered
	// never.
	select {
	case <-slow.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("a call whose context ended after 50ms is still pending after %v", time.Since(start))
	}
	if err := slow.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow: %v, want its context's deadline", err)
	}
	// The batch goes on: the fast call is answered, after the slow
	// call's handler (which the server still runs) lets the response go.
	close(release)
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if _, err := fast.Wait(wctx); err != nil {
		t.Fatalf("fast: %v", err)
	}
	if diff := cmp.Diff(result{Status: 200, Body: "/fast"}, outcome(t, fast)); diff != "" {
		t.Errorf("fast (-want +got):\n%s", diff)
	}
}

// A batch whose every call's context ended is cancelled: nobody waits for it.
func TestClientCancelsRequestWhenAllCallsGone(t *testing.T) {
	started, gone := make(chan struct{}), make(chan struct{})
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
		close(gone)
	})
	srv, _ := countingServer(t, inner, HandlerOptions{})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client()}
	b := c.NewBatch()
	ctx, cancel := context.WithCancel(context.Background())
	call, _ := b.Add(jsonRequest(t, "GET", "/wait", "").WithContext(ctx), "")
	done := make(chan error)
	go func() { done <- b.Do(context.Background()) }()
	<-started // the call runs on the server: cancelling it must reach there
	cancel()
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the server's call is still running")
	}
	<-done
	if !errors.Is(call.Err(), context.Canceled) {
		t.Errorf("call: %v, want context.Canceled", call.Err())
	}
}

func TestClientMaxResponseBytes(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", map[string]int{"/big": 2000, "/small": 10}[r.URL.Path]))
	})
	srv, _ := countingServer(t, inner, HandlerOptions{})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), MaxResponseBytes: 1000}
	b := c.NewBatch()
	big, _ := b.Add(jsonRequest(t, "GET", "/big", ""), "")
	small, _ := b.Add(jsonRequest(t, "GET", "/small", ""), "")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(big.Err(), ErrResponseTooLarge) {
		t.Errorf("big: %v, want ErrResponseTooLarge", big.Err())
	}
	if diff := cmp.Diff(result{Status: 200, Body: strings.Repeat("x", 10)}, outcome(t, small)); diff != "" {
		t.Errorf("small (-want +got):\n%s", diff)
	}
}

// Responses as real servers spell their Content-IDs, hand-written; the
// calls are a, 0.0 and b.
func TestClientContentIDLeniency(t *testing.T) {
	part := func(cid, body string) string {
		h := ""
		if cid != "-" {
			h = "Content-ID: " + cid + "\r\n"
		}
		return fmt.Sprintf("--resp\r\nContent-Type: application/http\r\n%s\r\nHTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s\r\n", h, len(body), body)
	}
	ok := func(s string) result { return result{Status: 200, Body: s} }
	mismatch := "mismatch"
	cases := []struct {
		name  string
		parts []string
		want  []result // a, 0.0, b; Err "mismatch" for ErrResponseMismatch
		doErr bool
	}{
		{"prefixed", []string{part("response-a", "A"), part("response-0.0", "Z"), part("response-b", "B")}, []result{ok("A"), ok("Z"), ok("B")}, false},
		{"stray space", []string{part("response- a", "A"), part("<response- 0.0>", "Z"), part(" response-b ", "B")}, []result{ok("A"), ok("Z"), ok("B")}, false},
		{"brackets", []string{part("<response-a>", "A"), part("<0.0>", "Z"), part("<b>", "B")}, []result{ok("A"), ok("Z"), ok("B")}, false},
		{"echoed, reordered", []string{part("b", "B"), part("a", "A"), part("0.0", "Z")}, []result{ok("A"), ok("Z"), ok("B")}, false},
		{"none: order", []string{part("-", "A"), part("-", "Z"), part("-", "B")}, []result{ok("A"), ok("Z"), ok("B")}, false},
		{"empty: order", []string{part("", "A"), part("<>", "Z"), part("-", "B")}, []result{ok("A"), ok("Z"), ok("B")}, false},
		{"none, one missing", []string{part("-", "A"), part("-", "Z")}, []result{{Err: mismatch}, {Err: mismatch}, {Err: mismatch}}, true},
		{"unknown id", []string{part("response-a", "A"), part("response-zzz", "?"), part("response-b", "B")}, []result{ok("A"), {Err: mismatch}, ok("B")}, true},
		{"twice", []string{part("response-a", "A"), part("response-a", "A2"), part("response-0.0", "Z"), part("response-b", "B")}, []result{{Err: mismatch}, ok("Z"), ok("B")}, true},
		{"dropped", []string{part("response-a", "A"), part("response-b", "B")}, []result{ok("A"), {Err: "no response"}, ok("B")}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{respond: func(w io.Writer, _ sentRequest) {
				io.WriteString(w, strings.Join(tc.parts, "")+"--resp--\r\n")
			}}
			c := scriptedClient(t, s, 0)
			b := c.NewBatch()
			var calls []*Call
			for _, id := range []string{"a", "0.0", "b"} {
				call, err := b.Add(jsonRequest(t, "GET", "/"+id, ""), id)
				if err != nil {
					t.Fatal(err)
				}
				calls = append(calls, call)
			}
			err := b.Do(context.Background())
			if (err != nil) != tc.doErr || err != nil && !errors.Is(err, ErrResponseMismatch) {
				t.Errorf("Do: %v, want an ErrResponseMismatch: %v", err, tc.doErr)
			}
			var got []result
			for _, call := range calls {
				r := outcome(t, call)
				switch {
				case errors.Is(call.Err(), ErrResponseMismatch):
					r.Err = mismatch
				case errors.Is(call.Err(), ErrNoResponse):
					r.Err = "no response"
				}
				got = append(got, r)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
		})
	}
}

// An id that is another call's id with "response-" before it: a part that
// could answer either answers neither.
func TestClientContentIDAmbiguous(t *testing.T) {
	s := &scripted{respond: func(w io.Writer, _ sentRequest) {
		io.WriteString(w, "--resp\r\nContent-ID: response-x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n?\r\n--resp--\r\n")
	}}
	b := scriptedClient(t, s, 0).NewBatch()
	x, _ := b.Add(jsonRequest(t, "GET", "/x", ""), "x")
	rx, _ := b.Add(jsonRequest(t, "GET", "/rx", ""), "response-x")
	if err := b.Do(context.Background()); !errors.Is(err, ErrResponseMismatch) {
		t.Errorf("Do: %v, want ErrResponseMismatch", err)
	}
	for _, c := range []*Call{x, rx} {
		if !errors.Is(c.Err(), ErrResponseMismatch) {
			t.Errorf("call %s: %v, %v, want ErrResponseMismatch", c.ID(), c.Response(), c.Err())
		}
	}
}

func TestClientOnCallAndLogger(t *testing.T) {
	var mu sync.Mutex
	var server, client []CallInfo
	var logs bytes.Buffer
	f := &flaky{fail: map[string]int{"/b": 1}, status: map[string]int{"/b": 503}}
	srv, _ := countingServer(t, f, HandlerOptions{OnCall: func(ci CallInfo) {
		mu.Lock()
		server = append(server, ci)
		mu.Unlock()
	}})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(),
		Retry:  RetryPolicy{MaxAttempts: 2, BaseBackoff: time.Microsecond},
		Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnCall: func(ci CallInfo) {
			mu.Lock()
			client = append(client, ci)
			mu.Unlock()
		}}
	b := c.NewBatch()
	b.Add(jsonRequest(t, "GET", "/a?q=1", ""), "a")
	b.Add(jsonRequest(t, "PUT", "/b", "xyz"), "b")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	byID := func(x, y CallInfo) bool { return x.ID+x.Method < y.ID+y.Method || x.ID == y.ID && x.Status < y.Status }
	ignore := cmpopts.IgnoreFields(CallInfo{}, "Duration")
	wantClient := []CallInfo{
		{ID: "a", Method: "GET", Target: "/a?q=1", Status: 200, Attempts: 1, Bytes: int64(len("GET /a "))},
		{ID: "b", Method: "PUT", Target: "/b", Status: 200, Attempts: 2, Bytes: int64(len("PUT /b xyz"))},
	}
	if diff := cmp.Diff(wantClient, client, ignore, cmpopts.SortSlices(byID)); diff != "" {
		t.Errorf("client's OnCall (-want +got):\n%s", diff)
	}
	wantServer := []CallInfo{
		{ID: "a", Method: "GET", Target: "/a?q=1", Status: 200, Attempts: 1, Bytes: int64(len("GET /a "))},
		{ID: "b", Method: "PUT", Target: "/b", Status: 200, Attempts: 1, Bytes: int64(len("PUT /b xyz"))},
		{ID: "b", Method: "PUT", Target: "/b", Status: 503, Attempts: 1},
	}
	if diff := cmp.Diff(wantServer, server, ignore, cmpopts.SortSlices(byID)); diff != "" {
		t.Errorf("handler's OnCall (-want +got):\n%s", diff)
	}
	for _, ci := range append(client, server...) {
		if ci.Duration <= 0 {
			t.Errorf("%+v: no duration", ci)
		}
	}
	out := logs.String()
	for _, want := range []string{`level=DEBUG msg="batch request"`, "calls=2 attempt=1", `level=INFO msg="batch retry"`, "calls=1 attempt=2"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// The Transport retries a failed call before its RoundTrip returns, and
// sends a batch once the next call would take it over Limits.MaxBodyBytes.
func TestTransportRetryAndBytes(t *testing.T) {
	f := &flaky{fail: map[string]int{"/b": 1}, status: map[string]int{"/b": 429}, after: "0"}
	var mu sync.Mutex
	var sizes []int
	bh := NewHandler(f)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		sizes = append(sizes, len(body))
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		bh.ServeHTTP(w, r)
	}))
	defer srv.Close()
	var infos []CallInfo
	tr := &Transport{Endpoint: srv.URL + "/batch", Base: srv.Client().Transport, Window: 50 * time.Millisecond,
		Limits: Limits{MaxBodyBytes: 2500}, Retry: RetryPolicy{MaxAttempts: 2, BaseBackoff: time.Microsecond},
		OnCall: func(ci CallInfo) {
			mu.Lock()
			infos = append(infos, ci)
			mu.Unlock()
		}}
	hc := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	got := make([]string, 3)
	for i, path := range []string{"/a", "/b", "/c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := hc.Post(srv.URL+path, "text/plain", strings.NewReader(strings.Repeat("x", 1000)))
			if err != nil {
				got[i] = err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			got[i] = fmt.Sprintf("%d %d", resp.StatusCode, len(b))
		}()
	}
	wg.Wait()
	// POST is not idempotent: /b keeps its 429.
	if diff := cmp.Diff([]string{"200 1008", "429 0", "200 1008"}, got); diff != "" {
		t.Errorf("responses (-want +got):\n%s", diff)
	}
	for _, n := range sizes {
		if n > 2500 {
			t.Errorf("a batch of %d bytes, over MaxBodyBytes 2500", n)
		}
	}

	req, _ := http.NewRequest("PUT", srv.URL+"/b", strings.NewReader("again"))
	f.mu.Lock()
	f.fail["/b"] = 1
	f.mu.Unlock()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "PUT /b again" {
		t.Errorf("PUT after a 429: %d %q, want it retried", resp.StatusCode, b)
	}
	var seen []string
	for _, ci := range infos {
		seen = append(seen, fmt.Sprintf("%s %s %d %d attempts %d bytes", ci.Method, ci.Target, ci.Status, ci.Attempts, ci.Bytes))
	}
	slices.Sort(seen)
	want := []string{"POST /a 200 1 attempts 1008 bytes", "POST /b 429 1 attempts 0 bytes", "POST /c 200 1 attempts 1008 bytes", "PUT /b 200 2 attempts 12 bytes"}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("the Transport's OnCall (-want +got):\n%s", diff)
	}
}

// A batch request answered 503 as a whole: its calls go again, by the
// same rule, after its Retry-After.
func TestClientRetriesRefusedBatch(t *testing.T) {
	b, get, post := failFirstBatch(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "0.02")
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	})
	start := time.Now()
	err := b.Do(context.Background())
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 || se.Header.Get("Retry-After") != "0.02" {
		t.Errorf("Do: %v, want the 503 that is the POST's result", err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("retried after %v, before the batch's Retry-After of 20ms", d)
	}
	if diff := cmp.Diff(retryOutcome{Status: 200, Body: "GET /get ", Attempts: 2}, retryResult(t, get)); diff != "" {
		t.Errorf("GET (-want +got):\n%s", diff)
	}
	if !errors.As(post.Err(), &se) || post.Attempts() != 1 {
		t.Errorf("POST: %v after %d attempts, want the 503 after one", post.Err(), post.Attempts())
	}
}

// A request no batch of Limits.MaxBodyBytes could carry passes through the
// Transport on its own.
func TestTransportTooLargePassesThrough(t *testing.T) {
	var mu sync.Mutex
	var direct []string
	bh := NewHandler(&flaky{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/batch" {
			bh.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		direct = append(direct, r.URL.Path)
		mu.Unlock()
		(&flaky{}).ServeHTTP(w, r)
	}))
	defer srv.Close()
	hc := &http.Client{Transport: &Transport{Endpoint: srv.URL + "/batch", Base: srv.Client().Transport,
		Limits: Limits{MaxBodyBytes: 1000}}}
	for _, size := range []int{10, 2000} {
		resp, err := hc.Post(fmt.Sprintf("%s/%d", srv.URL, size), "text/plain", strings.NewReader(strings.Repeat("x", size)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("POST /%d %s", size, strings.Repeat("x", size)); resp.StatusCode != 200 || string(b) != want {
			t.Errorf("POST of %d bytes: %d %q", size, resp.StatusCode, b)
		}
	}
	if diff := cmp.Diff([]string{"/2000"}, direct); diff != "" {
		t.Errorf("requests sent on their own (-want +got):\n%s", diff)
	}
}

// A call that references another's result goes again only with it: a
// server resolves references within one request.
func TestClientRetryKeepsReferencesTogether(t *testing.T) {
	var mu sync.Mutex
	fails := map[string]int{}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fail := fails[r.URL.Path] > 0
		fails[r.URL.Path]--
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"v":%q}`, r.URL.Path+"?"+r.URL.RawQuery)
	})
	srv, n := countingServer(t, inner, HandlerOptions{ResultReferences: true})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(),
		Retry: RetryPolicy{MaxAttempts: 3, BaseBackoff: time.Microsecond}}
	for _, tc := range []struct {
		name     string
		fail     map[string]int
		want     []retryOutcome
		requests int64
	}{
		// /a fails: /b, which needs it, fails with 424; both go again.
		{"referenced call failed", map[string]int{"/a": 1}, []retryOutcome{
			{Status: 200, Body: `{"v":"/a?"}`, Attempts: 2},
			{Status: 200, Body: `{"v":"/b?x=%2Fa%3F"}`, Attempts: 2},
		}, 2},
		// /b fails after /a succeeded: /b alone could not resolve its
		// reference, so it keeps its failure.
		{"referencing call failed", map[string]int{"/b": 1}, []retryOutcome{
			{Status: 200, Body: `{"v":"/a?"}`, Attempts: 1},
			{Status: 503, Attempts: 1},
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			fails = tc.fail
			mu.Unlock()
			before := n.Load()
			b := c.NewBatch()
			a, err := b.Add(jsonRequest(t, "GET", "/a", ""), "a")
			if err != nil {
				t.Fatal(err)
			}
			ref, err := b.Add(jsonRequest(t, "GET", "/b?x=$result[a][v]", ""), "b")
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Do(context.Background()); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, []retryOutcome{retryResult(t, a), retryResult(t, ref)}); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if got := n.Load() - before; got != tc.requests {
				t.Errorf("%d batch requests, want %d", got, tc.requests)
			}
		})
	}
}

// A call whose context has ended before Do is never sent.
func TestClientCallContextDoneBeforeDo(t *testing.T) {
	f := &flaky{}
	srv, _ := countingServer(t, f, HandlerOptions{})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client()}
	b := c.NewBatch()
	ctx, cancel := context.WithCancel(context.Background())
	gone, err := b.Add(jsonRequest(t, "GET", "/gone", "").WithContext(ctx), "gone")
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := b.Add(jsonRequest(t, "GET", "/kept", ""), "kept")
	cancel()
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(gone.Err(), context.Canceled) || gone.Attempts() != 0 {
		t.Errorf("gone: %v after %d attempts, want context.Canceled unsent", gone.Err(), gone.Attempts())
	}
	if diff := cmp.Diff(result{Status: 200, Body: "GET /kept "}, outcome(t, kept)); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if f.count("GET /gone") != 0 {
		t.Error("the call whose context had ended reached the server")
	}
}
