package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mixedcodec/mixed"
	"pgregory.net/rapid"
)

// alone is what a request gets without batching.
func alone(t *testing.T, a *testAPI, method, path, body string) string {
	t.Helper()
	req, _ := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer token")
	resp, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s auth=%s", resp.StatusCode, b, resp.Header.Get("X-Seen-Auth"))
}

func TestTransportBatchesConcurrentCalls(t *testing.T) {
	a := newTestAPI(t, 0)
	// A window longer than the test and a batch that is full at n calls:
	// the batch goes out when the nth call arrives, however slowly the
	// goroutines start.
	const n = 20
	c := a.client(&Transport{Window: time.Minute, Limits: Limits{MaxCalls: n}})
	got := doItems(c, a, n)
	plainBefore := a.plain.Load()
	checkItemsAlone(t, a, got)
	if b := a.batches.Load(); b != 1 {
		t.Errorf("%d batch requests for %d concurrent calls in one window, want 1", b, n)
	}
	if p := plainBefore; p != 0 {
		t.Errorf("%d calls bypassed the batch", p)
	}
	if a.outerAuth.Load() != 1 || a.partAuth.Load() != 0 {
		t.Errorf("Authorization: %d outer, %d in parts; want it once on the outer request", a.outerAuth.Load(), a.partAuth.Load())
	}
}

func TestTransportPassThrough(t *testing.T) {
	a := newTestAPI(t, 0)
	other := newTestAPI(t, 0)
	tr := &Transport{Window: 5 * time.Millisecond, MaxBatchedBodyBytes: 10, Batchable: func(r *http.Request) bool {
		return r.Header.Get("X-No-Batch") == ""
	}}
	c := a.client(tr)
	cases := []struct {
		name string
		req  func() *http.Request
	}{
		{"other host", func() *http.Request { r, _ := http.NewRequest("GET", other.srv.URL+"/x", nil); return r }},
		{"upload", func() *http.Request {
			r, _ := http.NewRequest("POST", a.srv.URL+"/upload?uploadType=media", nil)
			return r
		}},
		{"large body", func() *http.Request {
			r, _ := http.NewRequest("POST", a.srv.URL+"/x", strings.NewReader(strings.Repeat("x", 11)))
			return r
		}},
		{"unknown length", func() *http.Request {
			r, _ := http.NewRequest("POST", a.srv.URL+"/x", io.MultiReader(strings.NewReader("x")))
			return r
		}},
		{"not batchable", func() *http.Request {
			r, _ := http.NewRequest("GET", a.srv.URL+"/x", nil)
			r.Header.Set("X-No-Batch", "1")
			return r
		}},
		{"context", func() *http.Request {
			r, _ := http.NewRequestWithContext(WithoutBatching(context.Background()), "GET", a.srv.URL+"/x", nil)
			return r
		}},
	}
	for _, tc := range cases {
		resp, err := c.Do(tc.req())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
	}
	if got := a.batches.Load(); got != 0 {
		t.Errorf("%d batch requests, want 0: every request should have passed through", got)
	}
	if got := a.plain.Load() + other.plain.Load(); got != int64(len(cases)) {
		t.Errorf("%d requests passed through, want %d", got, len(cases))
	}
}

func TestTransportCancelOneCall(t *testing.T) {
	a := newTestAPI(t, 0)
	c := a.client(&Transport{Window: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var slowErr error
	var fast string
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, slowErr = do(c, ctx, "GET", a.srv.URL+"/slow/400", "")
	}()
	go func() {
		defer wg.Done()
		fast, _ = do(c, context.Background(), "GET", a.srv.URL+"/fast", "")
	}()
	a.waitSlow(t, 1)
	cancel()
	wg.Wait()
	if !errors.Is(slowErr, context.Canceled) {
		t.Errorf("cancelled call: %v, want context.Canceled", slowErr)
	}
	if want := alone(t, a, "GET", "/fast", ""); fast != want {
		t.Errorf("the other call got %q, want %q", fast, want)
	}
}

func TestTransportAllCancelledCancelsBatch(t *testing.T) {
	a := newTestAPI(t, 0)
	c := a.client(&Transport{Window: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 2)
	for range 2 {
		go func() { _, err := do(c, ctx, "GET", a.srv.URL+"/slow/5000", ""); errc <- err }()
	}
	a.waitSlow(t, 2)
	start := time.Now()
	cancel()
	for range 2 {
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("call: %v, want context.Canceled", err)
		}
	}
	// The server notices the batch request going away long before the
	// calls' 5 s. (Under load the two calls may have gone out in two
	// batches; each must be cancelled.)
	for a.batchCtxDone.Load() < a.batches.Load() && time.Since(start) < 3*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	if done, n := a.batchCtxDone.Load(), a.batches.Load(); done != n {
		t.Errorf("%d of %d batch requests cancelled when all their calls were", done, n)
	}
}

func TestTransportBatchFailure(t *testing.T) {
	a := newTestAPI(t, http.StatusServiceUnavailable)
	c := a.client(&Transport{})
	_, err := do(c, context.Background(), "GET", a.srv.URL+"/x", "")
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 || !strings.Contains(err.Error(), "batch request failed") {
		t.Errorf("call in a failed batch: %v, want a StatusError 503 naming the batch failure", err)
	}
}

func TestTransportBackPressure(t *testing.T) {
	a := newTestAPI(t, 0)
	c := a.client(&Transport{Window: time.Millisecond, Limits: Limits{MaxCalls: 2}, MaxInFlight: 1})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := do(c, context.Background(), "GET", fmt.Sprintf("%s/slow/20?i=%d", a.srv.URL, i), ""); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if p := a.peak.Load(); p != 1 {
		t.Errorf("%d batches in flight at once, want at most MaxInFlight = 1", p)
	}
	if b := a.batches.Load(); b < 4 {
		t.Errorf("%d batches for 8 calls of at most 2, want at least 4", b)
	}
}

// Any interleaving of concurrent calls, cancellations and pass-through
// requests gives each caller exactly what its request gets alone (or, for a
// cancelled call, its context's error).
func TestTransportInterleavings(t *testing.T) {
	a := newTestAPI(t, 0)
	other := newTestAPI(t, 0)
	rapid.Check(t, func(rt *rapid.T) {
		tr := &Transport{
			Window: time.Duration(rapid.IntRange(0, 3).Draw(rt, "window")) * time.Millisecond,
			Limits: Limits{MaxCalls: rapid.IntRange(1, 5).Draw(rt, "maxCalls")},
		}
		c := a.client(tr)
		type op struct {
			Method, Path, Body string
			Other, Cancel      bool
			Delay              int
		}
		ops := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) op {
			o := op{
				Method: rapid.SampledFrom([]string{"GET", "POST", "DELETE"}).Draw(t, "method"),
				Path:   fmt.Sprintf("/r/%d", rapid.IntRange(0, 99).Draw(t, "path")),
				Other:  rapid.Bool().Draw(t, "other"),
				Cancel: rapid.IntRange(0, 4).Draw(t, "cancel") == 0,
				Delay:  rapid.IntRange(0, 3).Draw(t, "delay"),
			}
			if o.Method == "POST" {
				o.Body = rapid.StringMatching(`[a-z{}":0-9]{0,20}`).Draw(t, "body")
			}
			if o.Cancel {
				o.Path = "/slow/150"
			}
			return o
		}), 1, 12).Draw(rt, "ops")
		got := make([]string, len(ops))
		errs := make([]error, len(ops))
		var wg sync.WaitGroup
		for i, o := range ops {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(time.Duration(o.Delay) * time.Millisecond)
				base := a.srv.URL
				if o.Other {
					base = other.srv.URL
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if o.Cancel {
					time.AfterFunc(3*time.Millisecond, cancel)
				}
				got[i], errs[i] = do(c, ctx, o.Method, base+o.Path, o.Body)
			}()
		}
		wg.Wait()
		for i, o := range ops {
			if o.Cancel {
				if !errors.Is(errs[i], context.Canceled) {
					rt.Errorf("op %d %+v: %q, %v; want context.Canceled", i, o, got[i], errs[i])
				}
				continue
			}
			target := a
			if o.Other {
				target = other
			}
			if errs[i] != nil {
				rt.Fatalf("op %d %+v: %v", i, o, errs[i])
			}
			if want := alone(t, target, o.Method, o.Path, o.Body); got[i] != want {
				rt.Errorf("op %d %+v: got %q, alone %q", i, o, got[i], want)
			}
		}
	})
}

var _ = mixed.ErrSyntax
