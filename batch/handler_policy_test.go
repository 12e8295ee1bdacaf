package batch

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHandlerInheritsOuterHeadersAndQuery(t *testing.T) {
	hdr := http.Header{"Authorization": {"Bearer outer"}, "User-Agent": {"outer-agent"}, "Connection": {"keep-alive"}}
	body := batchBody(
		part("1", "GET /a?x=1 HTTP/1.1\r\n"),
		part("2", "GET /b?key=own HTTP/1.1\r\nAuthorization: Bearer own\r\n"),
		part("3", "POST /c HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"),
	)
	resp := serve(t, describe, HandlerOptions{}, "/batch?key=outer", hdr, body)
	got := readBatchResponse(t, resp)
	host := resp.Request.URL.Host
	want := []string{
		"GET /a?key=outer&x=1 host=" + host + " auth=Bearer outer ua=outer-agent ct=",
		"GET /b?key=own host=" + host + " auth=Bearer own ua=outer-agent ct=",
		"POST /c?key=outer host=" + host + " auth=Bearer outer ua=outer-agent ct=application/json",
	}
	var bodies []string
	for _, p := range got {
		bodies = append(bodies, p.Body)
	}
	if diff := cmp.Diff(want, bodies); diff != "" {
		t.Errorf("what each call saw (-want +got):\n%s", diff)
	}
}

func TestHandlerTargetPolicy(t *testing.T) {
	var reached atomic.Int64
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		describe(w, r)
	})
	srv := httptest.NewServer(NewHandler(inner))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	body := batchBody(
		part("same-host", "GET http://"+host+"/abs?q=1 HTTP/1.1\r\n"),
		part("other-host", "GET http://evil.example/abs HTTP/1.1\r\n"),
		part("scheme-relative", "GET //evil.example/x HTTP/1.1\r\n"),
		part("host-field", "GET /a HTTP/1.1\r\nHost: evil.example\r\n"),
		part("own-host-field", "GET /a HTTP/1.1\r\nHost: "+host+"\r\n"),
		part("portless-host-field", "GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\n"),
		part("other-port-host-field", "GET /a HTTP/1.1\r\nHost: 127.0.0.1:1\r\n"),
		part("portless-absolute", "GET http://127.0.0.1/abs HTTP/1.1\r\n"),
		part("authority", "CONNECT evil.example:443 HTTP/1.1\r\n"),
	)
	req, _ := http.NewRequest("POST", srv.URL+"/batch", strings.NewReader(body))
	req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
	req.Header.Set("User-Agent", "")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := readBatchResponse(t, resp)
	type verdict struct {
		Status int
		Body   string
	}
	var gotV []verdict
	for _, p := range got {
		v := verdict{Status: p.Status}
		if p.Status == 200 {
			v.Body = p.Body
		}
		gotV = append(gotV, v)
	}
	want := []verdict{
		{200, "GET /abs?q=1 host=" + host + " auth= ua= ct="},
		{Status: 400},
		{200, "GET //evil.example/x host=" + host + " auth= ua= ct="},
		{Status: 400},
		{200, "GET /a host=" + host + " auth= ua= ct="},
		{200, "GET /a host=" + host + " auth= ua= ct="},
		{Status: 400},
		{200, "GET /abs host=" + host + " auth= ua= ct="},
		{Status: 400},
	}
	if diff := cmp.Diff(want, gotV); diff != "" {
		t.Errorf("target policy (-want +got):\n%s", diff)
	}
	if n := reached.Load(); n != 5 {
		t.Errorf("inner handler reached %d times, want 5", n)
	}
}

func TestHandlerLimitsAndFailures(t *testing.T) {
	var reached atomic.Int64
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		fmt.Fprint(w, "ok")
	})
	ok := part("", "GET /ok HTTP/1.1\r\n")
	for _, tc := range []struct {
		name        string
		opts        *HandlerOptions
		method, ct  string
		body        string
		wantStatus  int
		wantParts   []int // statuses of the response parts
		wantReached int64
	}{
		{name: "too many calls", opts: &HandlerOptions{MaxCalls: 2}, body: batchBody(ok, ok, ok), wantStatus: 400},
		{name: "exactly max calls", opts: &HandlerOptions{MaxCalls: 2}, body: batchBody(ok, ok), wantStatus: 200, wantParts: []int{200, 200}, wantReached: 2},
		{name: "body too large", opts: &HandlerOptions{MaxBodyBytes: 100}, body: batchBody(ok, ok, ok), wantStatus: 413},
		{name: "part too large", opts: &HandlerOptions{MaxPartBytes: 30}, body: batchBody(ok, part("", "GET /ok HTTP/1.1\r\nX-Pad: "+strings.Repeat("x", 40)+"\r\n"), ok), wantStatus: 200, wantParts: []int{200, 400, 200}, wantReached: 2},
		{name: "malformed part", body: batchBody(ok, part("", "GET /ok HTTP/1.1\r\nBad Field: x\r\n"), part("", "G\x00T /ok\r\n"), ok), wantStatus: 200, wantParts: []int{200, 400, 400, 200}, wantReached: 2},
		{name: "not application/http", body: batchBody(ok, "--b\r\nContent-Type: text/plain\r\n\r\nGET /ok HTTP/1.1\r\n\r\n"), wantStatus: 200, wantParts: []int{200, 400}, wantReached: 1},
		{name: "panic", body: batchBody(ok, part("", "GET /panic HTTP/1.1\r\n"), ok), wantStatus: 200, wantParts: []int{200, 500, 200}, wantReached: 3},
		{name: "truncated envelope", body: strings.TrimSuffix(batchBody(ok, ok), "--b--\r\n"), wantStatus: 400},
		{name: "not multipart", ct: "application/json", body: "{}", wantStatus: 400},
		{name: "bad boundary", ct: "multipart/mixed; boundary=" + strings.Repeat("x", 71), body: "", wantStatus: 400},
		{name: "GET", method: "GET", wantStatus: 405},
		{name: "empty batch", body: "--b--\r\n", wantStatus: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reached.Store(0)
			opts := HandlerOptions{}
			if tc.opts != nil {
				opts = *tc.opts
			}
			opts.Logger = discardSlog() // the panic's stack: TestHandlerLogsPanics checks it
			srv := httptest.NewServer(NewHandlerOptions(inner, opts))
			defer srv.Close()
			method := tc.method
			if method == "" {
				method = "POST"
			}
			req, _ := http.NewRequest(method, srv.URL+"/batch", strings.NewReader(tc.body))
			ct := tc.ct
			if ct == "" {
				ct = "multipart/mixed; boundary=b"
			}
			req.Header.Set("Content-Type", ct)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tc.wantStatus)
			}
			if resp.StatusCode == 200 {
				if diff := cmp.Diff(tc.wantParts, statuses(readBatchResponse(t, resp))); diff != "" {
					t.Errorf("part statuses (-want +got):\n%s", diff)
				}
			}
			if got := reached.Load(); got != tc.wantReached {
				t.Errorf("inner handler reached %d times, want %d", got, tc.wantReached)
			}
		})
	}
}

// Calls may finish in any order; responses keep the request order.
func TestHandlerOrderUnderConcurrency(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ms int
		fmt.Sscanf(r.URL.Query().Get("sleep"), "%d", &ms)
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprint(w, r.URL.Path)
	})
	var parts []string
	var want []string
	for i := range 20 {
		parts = append(parts, part(fmt.Sprint(i), fmt.Sprintf("GET /%d?sleep=%d HTTP/1.1\r\n", i, (20-i)%7)))
		want = append(want, fmt.Sprintf("/%d", i))
	}
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{Concurrency: 8}, "/batch", nil, batchBody(parts...)))
	var bodies []string
	for _, p := range got {
		bodies = append(bodies, p.Body)
	}
	if diff := cmp.Diff(want, bodies); diff != "" {
		t.Errorf("response order (-want +got):\n%s", diff)
	}
}

// A handler's header value with surrounding white space goes out trimmed,
// as net/http would send it, not as a failed part.
func TestHandlerTrimsHeaderValues(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Pad", "  v ")
		fmt.Fprint(w, "ok")
	})
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{}, "/batch", nil, batchBody(part("1", "GET /a HTTP/1.1\r\n"))))
	if len(got) != 1 || got[0].Status != 200 || got[0].Header["X-Pad"] != "v" || got[0].Body != "ok" {
		t.Errorf("response %+v, want 200 with X-Pad: v", got)
	}
}

// TestHandlerInheritedFieldsAreEachCallsOwn checks that a call's handler
// that changes an inherited field in place, or appends to it, changes it
// neither for the calls after it nor in the batch request: the calls run
// at once, and sharing the batch request's value slices made that a data
// race between them too (-race, with Concurrency above 1).
func TestHandlerInheritedFieldsAreEachCallsOwn(t *testing.T) {
	for _, conc := range []int{1, 4} {
		t.Run(fmt.Sprintf("concurrency=%d", conc), func(t *testing.T) {
			const n = 8
			var parts []string
			for i := range n {
				parts = append(parts, part(fmt.Sprint(i), "GET /x HTTP/1.1\r\n"))
			}
			inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "%q %q", r.Header["X-Trace"], r.Header["Authorization"])
				r.Header["X-Trace"][0] = "changed"
				r.Header.Add("X-Trace", "appended")
				r.Header["Authorization"][0] = "changed"
			})
			// Spare capacity behind the batch request's values: an
			// append that did not copy would write into it.
			trace := make([]string, 2, 8)
			trace[0], trace[1] = "t1", "t2"
			auth := make([]string, 1, 4)
			auth[0] = "Bearer outer"
			req := httptest.NewRequest("POST", "/batch", strings.NewReader(batchBody(parts...)))
			req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
			req.Header["X-Trace"], req.Header["Authorization"] = trace, auth
			rec := httptest.NewRecorder()
			NewHandlerOptions(inner, HandlerOptions{Concurrency: conc}).ServeHTTP(rec, req)

			got := readBatchResponse(t, rec.Result())
			var bodies, want []string
			for _, p := range got {
				bodies = append(bodies, p.Body)
				want = append(want, `["t1" "t2"] ["Bearer outer"]`)
			}
			if diff := cmp.Diff(want, bodies); diff != "" {
				t.Errorf("what each call saw (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"t1", "t2", "", ""}, trace[:4]); diff != "" {
				t.Errorf("the batch request's X-Trace and the capacity behind it (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"Bearer outer", ""}, auth[:2]); diff != "" {
				t.Errorf("the batch request's Authorization and the capacity behind it (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHandlerInheritedFieldsAllocs: the values a call inherits from the
// batch request (a client's User-Agent, on every batch net/http's client
// sends) take less than one allocation a call: each call's values are its
// own (see TestHandlerInheritedFieldsAreEachCallsOwn), carved from memory
// allocated for many calls at once. The calls have a field of their own,
// so that their Header map needs no more room for the inherited one.
func TestHandlerInheritedFieldsAllocs(t *testing.T) {
	const n = 256
	body := batchOf(n)
	h := NewHandler(trivial)
	allocs := func(inherit bool) float64 {
		var br bytes.Reader
		req := httptest.NewRequest("POST", "/batch", &br)
		req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
		if inherit {
			req.Header.Set("User-Agent", "Go-http-client/1.1")
		}
		w := &discardWriter{h: make(http.Header)}
		return testing.AllocsPerRun(20, func() {
			br.Reset(body)
			clear(w.h)
			h.ServeHTTP(w, req)
		})
	}
	without, with := allocs(false), allocs(true)
	t.Logf("allocations per batch of %d calls: %.0f, %.0f with an inherited field", n, without, with)
	if extra := (with - without) / n; extra > 0.1 {
		t.Errorf("an inherited field costs %.2f allocations a call, want at most 0.1", extra)
	}
}
