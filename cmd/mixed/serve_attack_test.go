package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A batch's path is the client's to choose below the batch path, and its
// plain log line must stay one line whatever the path holds: a newline
// decoded from %0A wrote a second line, which a reader of the log (or a
// tool that parses it) took for another batch, from another client.
func TestServeLogLineNotForged(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	var b strings.Builder
	log := &syncWriter{w: &b}
	addr, stop := startStopServe(t, inner, defaultConfig(), log)
	forged := "/batch/x%0D%0Abatch%206.6.6.6:1%20/batch%20status=200%20calls=1%20statuses=200:1%20duration=1ms"
	body := "--b\r\nContent-Type: application/http\r\n\r\nGET /ok HTTP/1.1\r\n\r\n--b--\r\n"
	resp, err := http.Post("http://"+addr+forged, "multipart/mixed; boundary=b", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	stop()
	var lines []string
	for l := range strings.Lines(b.String()) {
		if strings.HasPrefix(l, "batch ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || strings.Contains(b.String(), "\nbatch 6.6.6.6") {
		t.Errorf("log lines for one batch: %q", lines)
	}
}

// A status line whose code is three digits below 100 ("099", "+99") is
// one that net/http's client reads, and its server refuses to write: the
// proxy's WriteHeader panicked, so that a call's part said the handler
// panicked (a stack in the log for each such call) and a direct request
// got its connection closed without an answer. It is a bad gateway's.
func TestServeGatewayRefusesStatusBelow100(t *testing.T) {
	answers := map[string]string{
		"/api/v1/zero": "HTTP/1.1 099 Weird\r\nContent-Length: 2\r\n\r\nok",
		"/api/v1/plus": "HTTP/1.1 +99 Weird\r\nContent-Length: 2\r\n\r\nok",
		"/api/v1/ok":   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	}
	up := startRawUpstream(t, func(r *http.Request) string { return answers[r.URL.Path] })
	u, err := parseUpstream("http://" + up.addr + "/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.upstream = u
	var b strings.Builder
	log := &syncWriter{w: &b}
	gw, stop := startStopServe(t, upstreamHandler(u, log), cfg, log)
	var got []int
	for _, r := range postCalls(t, gw, nil, "GET /zero HTTP/1.1\r\n", "GET /plus HTTP/1.1\r\n", "GET /ok HTTP/1.1\r\n") {
		got = append(got, r.Status)
	}
	for _, p := range []string{"/zero", "/plus"} {
		resp, err := http.Get("http://" + gw + p)
		if err != nil {
			t.Errorf("direct %s: %v", p, err)
			continue
		}
		resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
	if diff := cmp.Diff([]int{502, 502, 200, 502, 502}, got); diff != "" {
		t.Errorf("statuses of the calls, then of the direct requests (-want +got):\n%s", diff)
	}
	stop()
	if s := b.String(); strings.Contains(s, "panic") {
		t.Errorf("the log tells of a panic:\n%s", s)
	}
}

// A -path that a ServeMux pattern would not take literally is refused:
// "/{x}" made every path of one segment the batch endpoint, the
// upstream's included, and "/a b" (a method "/a" to the mux) or
// "/a/{x...}" panicked when serve registered it. Every path batchPathOf
// accepts registers, and answers batches at that path alone.
func TestBatchPathPatternCharacters(t *testing.T) {
	for _, p := range []string{"/{x}", "/a/{x...}", "/a/{$}", "/a b", "/a\tb", "/a\x00", "/a}"} {
		if got, err := batchPathOf(p); err == nil {
			t.Errorf("batchPathOf(%q) = %q, want an error", p, got)
		}
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, p := range []string{"/bätch", "/a;b", "/a$b", "/*"} {
		clean, err := batchPathOf(p)
		if err != nil {
			t.Errorf("batchPathOf(%q): %v", p, err)
			continue
		}
		cfg := defaultConfig()
		cfg.path = clean
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Errorf("-path %q: serveMux panicked: %v", p, v)
				}
			}()
			mux := serveMux(cfg, inner, io.Discard)
			for target, want := range map[string]int{clean: http.StatusMethodNotAllowed, "/other": http.StatusTeapot} {
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, httptest.NewRequest("GET", (&url.URL{Path: target}).EscapedPath(), nil))
				if rec.Code != want {
					t.Errorf("-path %q: GET %s: status %d, want %d", p, target, rec.Code, want)
				}
			}
		}()
	}
}

// A batch posted as multipart/form-data, which a page on any site can
// make a browser send with the user's cookies and no CORS preflight,
// reaches no upstream: the gateway would have sent the page's calls
// (any method, any fields) on with the user's Cookie.
func TestServeGatewayRefusesCrossSiteBatch(t *testing.T) {
	gw, up := startRawGateway(t, nil)
	body := "--b\r\nContent-Type: application/http\r\n\r\nDELETE /account HTTP/1.1\r\nX-Requested-With: XMLHttpRequest\r\n\r\n--b--\r\n"
	req, _ := http.NewRequest("POST", "http://"+gw+"/batch", strings.NewReader(body))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	req.Header.Set("Cookie", "session=victim")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := up.requests(); resp.StatusCode != http.StatusBadRequest || len(got) != 0 {
		t.Errorf("status %d, the upstream read %+v; want 400 and nothing", resp.StatusCode, got)
	}
}
