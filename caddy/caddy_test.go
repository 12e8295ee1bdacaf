package caddybatch

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/google/go-cmp/cmp"
)

// batchRoute is the route of the batch endpoint /batch.
func batchRoute(opts obj) obj {
	h := obj{"handler": "batch"}
	for k, v := range opts {
		h[k] = v
	}
	return obj{"match": []obj{{"path": []string{"/batch"}}}, "handle": []obj{h}}
}

// route is a route without matchers.
func route(handlers ...obj) obj { return obj{"handle": handlers} }

// gets is n GET calls of /items/<i>, Content-IDs c<i>.
func gets(n int) []call {
	calls := make([]call, n)
	for i := range calls {
		calls[i] = call{ID: fmt.Sprintf("c%d", i), Method: "GET", Target: fmt.Sprintf("/items/%d", i)}
	}
	return calls
}

// summary is what a test checks of a call's response part.
type summary struct {
	ContentID string
	Status    int
	Path      string
}

// summarize checks that parts answer calls one for one, and returns each
// part's summary and which upstream answered it.
func summarize(t *testing.T, parts []part) ([]summary, []string) {
	t.Helper()
	var got []summary
	var by []string
	for _, p := range parts {
		s := summary{ContentID: p.ContentID, Status: p.Status}
		if p.Status == http.StatusOK {
			e, err := readEcho(p.Body)
			if err != nil {
				t.Fatalf("part %s: %v: %q", p.ContentID, err, p.Body)
			}
			s.Path = e.Path
			by = append(by, e.Upstream)
		} else {
			by = append(by, "")
		}
		got = append(got, s)
	}
	return got, by
}

// wantOK is the summary of calls all answered 200.
func wantOK(calls []call) []summary {
	var want []summary
	for _, c := range calls {
		want = append(want, summary{ContentID: "response-" + c.ID, Status: 200, Path: c.Target})
	}
	return want
}

// TestBatchOverThreeUpstreams: a batch of 300 calls through the batch
// handler and reverse_proxy over three upstreams is answered in order,
// each part with its call's Content-ID, and round robin spread the calls
// evenly over the upstreams. The outer request's Authorization reached
// every call.
func TestBatchOverThreeUpstreams(t *testing.T) {
	a, b, c := newUpstream(t, "a"), newUpstream(t, "b"), newUpstream(t, "c")
	base, _ := startCaddy(t,
		batchRoute(obj{"concurrency": 16}),
		route(proxyTo(a.dial(), b.dial(), c.dial())))

	calls := gets(300)
	status, parts, err := postBatch(http.DefaultClient, base+"/batch", calls, http.Header{"Authorization": {"Bearer outer"}})
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Fatalf("batch status %d", status)
	}
	got, by := summarize(t, parts)
	if diff := cmp.Diff(wantOK(calls), got); diff != "" {
		t.Fatalf("response parts (-want +got):\n%s", diff)
	}
	spread := map[string]int{}
	for _, u := range by {
		spread[u]++
	}
	if diff := cmp.Diff(map[string]int{"a": 100, "b": 100, "c": 100}, spread); diff != "" {
		t.Errorf("calls per upstream (-want +got):\n%s", diff)
	}
	for _, p := range parts[:3] {
		if e, _ := readEcho(p.Body); e.Auth != "Bearer outer" {
			t.Errorf("part %s: the upstream saw Authorization %q, want the batch's", p.ContentID, e.Auth)
		}
	}
}

// TestUpstreamKilledMidBatch: upstream b dies while it serves its 10th
// call (it closes its listener and every connection, that call's
// included, without answering); reverse_proxy retries that call and the
// ones still headed for b on the other upstreams, so every call of the
// batch is answered.
func TestUpstreamKilledMidBatch(t *testing.T) {
	a, c := newUpstream(t, "a"), newUpstream(t, "c")
	b := &upstream{name: "b"}
	var received int
	var killed string
	b.srv = newKillable(t, func(r *http.Request) bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		received++
		if received == 10 {
			killed = r.URL.Path
			return true
		}
		return false
	}, b.serve)
	base, _ := startCaddy(t,
		batchRoute(obj{"concurrency": 16}),
		route(proxyTo(a.dial(), b.dial(), c.dial())))

	calls := gets(300)
	status, parts, err := postBatch(http.DefaultClient, base+"/batch", calls, nil)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Fatalf("batch status %d", status)
	}
	got, by := summarize(t, parts)
	if diff := cmp.Diff(wantOK(calls), got); diff != "" {
		t.Fatalf("response parts (-want +got):\n%s", diff)
	}
	if killed == "" {
		t.Fatal("upstream b was never killed")
	}
	for i, s := range got {
		if s.Path == killed && by[i] == "b" {
			t.Errorf("the call b died serving, %s, was answered by b", killed)
		}
	}
	t.Logf("b died serving %s; calls answered by a, b, c: %d, %d, %d", killed, a.count(), b.count(), c.count())
	if b.count() >= 100 {
		t.Errorf("b answered %d calls after dying at its 10th", b.count())
	}
}

// TestAllUpstreamsDown: when no upstream answers, each call, having
// tried every upstream, gets its own 502 part (reverse_proxy's error,
// turned into a response by Caddy's server, as for a lone request), the
// batch itself is a 200, and Caddy's error log has a line for each call.
// (Without health checks here: with them, the calls after the first few
// would find every upstream marked down and answer 503.)
func TestAllUpstreamsDown(t *testing.T) {
	proxy := proxyTo(deadAddr(t), deadAddr(t), deadAddr(t))
	delete(proxy, "health_checks")
	base, log := startCaddy(t, batchRoute(nil), route(proxy))

	calls := gets(5)
	status, parts, err := postBatch(http.DefaultClient, base+"/batch", calls, nil)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Fatalf("batch status %d", status)
	}
	got, _ := summarize(t, parts)
	var want []summary
	for _, c := range calls {
		want = append(want, summary{ContentID: "response-" + c.ID, Status: http.StatusBadGateway})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("response parts (-want +got):\n%s", diff)
	}
	var logged []string
	for _, l := range logLines(t, log) {
		if l["logger"] == "http.log.error" && l["level"] == "error" && l["status"] == 502.0 {
			req, _ := l["request"].(map[string]any)
			logged = append(logged, fmt.Sprint(req["uri"]))
		}
	}
	if len(logged) != len(calls) {
		t.Errorf("Caddy's log has %d failed calls, want %d: %q", len(logged), len(calls), logged)
	}
}

// panicky is a test handler module that panics.
type panicky struct{}

func (panicky) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.batch_test_panic", New: func() caddy.Module { return new(panicky) }}
}

func (panicky) ServeHTTP(http.ResponseWriter, *http.Request, caddyhttp.Handler) error {
	panic("the test handler panics")
}

func init() { caddy.RegisterModule(panicky{}) }

// TestBatchLogsToCaddy: what the batch cannot tell its client (here, a
// handler's panic, which its call answers with a bare 500) goes to
// Caddy's log, under the module's logger name, while the other calls are
// answered.
func TestBatchLogsToCaddy(t *testing.T) {
	a := newUpstream(t, "a")
	base, log := startCaddy(t,
		batchRoute(nil),
		obj{"match": []obj{{"path": []string{"/panic"}}}, "handle": []obj{{"handler": "batch_test_panic"}}},
		route(proxyTo(a.dial())))

	calls := []call{{ID: "ok", Method: "GET", Target: "/ok"}, {ID: "boom", Method: "GET", Target: "/panic"}}
	status, parts, err := postBatch(http.DefaultClient, base+"/batch", calls, nil)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Fatalf("batch status %d", status)
	}
	got, _ := summarize(t, parts)
	want := []summary{{ContentID: "response-ok", Status: 200, Path: "/ok"}, {ContentID: "response-boom", Status: 500}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("response parts (-want +got):\n%s", diff)
	}
	var panics []string
	for _, l := range logLines(t, log) {
		msg, _ := l["msg"].(string)
		if l["logger"] == "http.handlers.batch" && l["level"] == "error" && strings.Contains(msg, "the test handler panics") {
			panics = append(panics, strings.SplitN(msg, "\n", 2)[0])
		}
	}
	wantLog := []string{`batch: panic serving call 1 ("boom") GET /panic: the test handler panics`}
	if diff := cmp.Diff(wantLog, panics); diff != "" {
		t.Errorf("Caddy's log of the panic (-want +got):\n%s", diff)
	}
}

// logLines reads a JSON log file.
func logLines(t *testing.T, file string) []map[string]any {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q: %v", sc.Bytes(), err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}
