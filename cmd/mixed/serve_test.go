package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mixedcodec/mixed"
	"github.com/mixedcodec/mixed/batch"
)

// Through a batch, the limits answer in the call's part.
func TestServeFarmLimits(t *testing.T) {
	addr := startServe(t, newFarm(), defaultConfig(), io.Discard)
	long := `{"peltColor":"` + strings.Repeat("x", farmMaxBody) + `"}`
	body := "--b\r\nContent-Type: application/http\r\n\r\nPUT /farm/v1/animals/big HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(long)) + "\r\n\r\n" + long + "\r\n--b--\r\n"
	req, _ := http.NewRequest("POST", "http://"+addr+"/batch/farm/v1", strings.NewReader(body))
	req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := responseParts(t, resp); len(got) != 1 || got[0].Status != 413 {
		t.Errorf("parts %+v, want one 413", got)
	}
}

// startServe runs serve on a loopback port until the test ends.
func startServe(t *testing.T, inner http.Handler, cfg serveConfig, log io.Writer) string {
	t.Helper()
	addr, _ := startStopServe(t, inner, cfg, log)
	return addr
}

// startStopServe runs serve on a loopback port until stop is called or
// the test ends; stop returns once serve has shut down, every handler
// (and its log line) done.
func startStopServe(t *testing.T, inner http.Handler, cfg serveConfig, log io.Writer) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, inner, cfg, log) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// serve's server and batch handler get the timeouts of its flags, and
// its error log writes text lines to serve's log.
func TestServeOptions(t *testing.T) {
	cfg := defaultConfig()
	cfg.readTimeout, cfg.writeTimeout, cfg.idleTimeout, cfg.callTimeout = 1*time.Second, 2*time.Second, 3*time.Second, 4*time.Second
	var log bytes.Buffer
	srv := newServer(cfg, http.NotFoundHandler(), &log)
	got := []time.Duration{srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout}
	if diff := cmp.Diff([]time.Duration{defaultReadHeaderTimeout, 1 * time.Second, 2 * time.Second, 3 * time.Second}, got); diff != "" {
		t.Errorf("server timeouts (-want +got):\n%s", diff)
	}
	f := newFarm()
	opts := handlerOptions(cfg, f, &log)
	if opts.CallTimeout != 4*time.Second || opts.BeginGroup == nil || !opts.Changesets || !opts.ResultReferences || opts.HaltHeader != batch.DefaultHaltHeader {
		t.Errorf("handler options %+v", opts)
	}
	opts.Logger.Error("batch: panic in a call", "panic", "boom")
	srv.ErrorLog.Print("http: TLS handshake error")
	want := "level=ERROR msg=\"batch: panic in a call\" panic=boom\n"
	if _, line, _ := strings.Cut(log.String(), " "); !strings.HasPrefix(line, want) || !strings.Contains(log.String(), "level=ERROR msg=\"http: TLS handshake error\"") {
		t.Errorf("log %q, want text lines like %q", log.String(), want)
	}
	// The defaults are those -help prints.
	d := defaultConfig()
	if diff := cmp.Diff([]time.Duration{2 * time.Minute, 10 * time.Minute, 2 * time.Minute, 60 * time.Second}, []time.Duration{d.readTimeout, d.writeTimeout, d.idleTimeout, d.callTimeout}); diff != "" {
		t.Errorf("default timeouts (-want +got):\n%s", diff)
	}
}

// A client that trickles a batch body is cut off when the read timeout
// passes: its connection is closed.
func TestServeReadTimeout(t *testing.T) {
	cfg := defaultConfig()
	cfg.readTimeout = 300 * time.Millisecond
	addr := startServe(t, newFarm(), cfg, io.Discard)
	start := time.Now() // before the server can start its clock
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := "POST /batch/farm/v1 HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Length: 1000000\r\n\r\n" +
		"--b\r\nContent-Type: application/http\r\n\r\nPUT /farm/v1/animals/x HTTP/1.1\r\nContent-Length: 900000\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	// A failsafe against a hang: the server must close long before.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = io.ReadAll(conn)
	elapsed := time.Since(start)
	close(stop)
	<-trickled
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection stayed open for %v while the client trickled", elapsed)
	}
	if elapsed < cfg.readTimeout {
		t.Errorf("the connection closed after %v, before the read timeout %v", elapsed, cfg.readTimeout)
	}
}

// recorder is an upstream that records what reaches it.
type recorder struct {
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	URI, Host, ForwardedFor, ForwardedHost, ForwardedProto string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.seen = append(rec.seen, seenRequest{r.RequestURI, r.Host, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-Proto")})
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"up":"../../../admin"}`)
}

func (rec *recorder) requests() []seenRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seenRequest(nil), rec.seen...)
}

// startGateway runs an upstream recorder on loopback and serve in front
// of it, with the upstream's base path base.
func startGateway(t *testing.T, base string) (gw string, rec *recorder, upHost string) {
	t.Helper()
	rec = &recorder{}
	up := httptest.NewServer(rec)
	t.Cleanup(up.Close)
	return serveGateway(t, up.URL+base, nil), rec, strings.TrimPrefix(up.URL, "http://")
}

// serveGateway runs serve on loopback as a gateway to upstream, with the
// default configuration changed by with (if not nil), and returns its
// address.
func serveGateway(t *testing.T, upstream string, with func(*serveConfig)) string {
	t.Helper()
	u, err := parseUpstream(upstream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.upstream = u
	if with != nil {
		with(&cfg)
	}
	return startServe(t, upstreamHandler(u, io.Discard), cfg, io.Discard)
}

// postBatch posts calls (request heads, CRLF-ended) as a batch, with the
// outer Host and headers given, and returns the parts' statuses.
func postBatch(t *testing.T, gw, host string, hdr http.Header, calls ...string) []int {
	t.Helper()
	resp, b := sendBatch(t, gw, host, hdr, calls...)
	var codes []int
	for _, p := range changesetParts(t, resp.Body, b) {
		codes = append(codes, p.Status)
	}
	return codes
}

// sendBatch posts calls (embedded requests, as written) as one batch to
// the gateway gw, with the outer Host (the gateway's when empty) and
// fields hdr, checks that it is answered 200, and returns the response,
// closed when the test ends, and its boundary.
func sendBatch(t *testing.T, gw, host string, hdr http.Header, calls ...string) (*http.Response, string) {
	t.Helper()
	var body strings.Builder
	for i, c := range calls {
		fmt.Fprintf(&body, "--b\r\nContent-Type: application/http\r\nContent-ID: c%d\r\n\r\n%s\r\n", i, c)
	}
	body.WriteString("--b--\r\n")
	req, _ := http.NewRequest("POST", "http://"+gw+"/batch/farm/v1", strings.NewReader(body.String()))
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("batch: %s %s", resp.Status, b)
	}
	b, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// Calls and direct requests reach the upstream with its own Host, under
// its base path, and X-Forwarded-* saying where they came from (a
// client's own X-Forwarded-* dropped).
func TestServeGatewayHost(t *testing.T) {
	gw, rec, upHost := startGateway(t, "/api/v1")
	spoof := http.Header{"X-Forwarded-For": {"6.6.6.6"}, "X-Forwarded-Host": {"evil.example"}}
	if got := postBatch(t, gw, "gateway.example", spoof, "GET /farm/v1/animals/pony HTTP/1.1\r\n"); !cmp.Equal(got, []int{200}) {
		t.Errorf("batch statuses %v", got)
	}
	req, _ := http.NewRequest("GET", "http://"+gw+"/farm/v1/animals/sheep?x=1", nil)
	req.Host = "gateway.example"
	req.Header = spoof.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := []seenRequest{
		{"/api/v1/farm/v1/animals/pony", upHost, "127.0.0.1", "gateway.example", "http"},
		{"/api/v1/farm/v1/animals/sheep?x=1", upHost, "127.0.0.1", "gateway.example", "http"},
	}
	if diff := cmp.Diff(want, rec.requests()); diff != "" {
		t.Errorf("what reached the upstream (-want +got):\n%s", diff)
	}
}

// No call target, and no direct request, reaches the upstream outside
// its base path, however its dot segments are written; and a reference
// value cannot add one.
func TestServeGatewayBasePath(t *testing.T) {
	gw, rec, _ := startGateway(t, "/api/v1")
	escapes := []string{
		"/../../admin",
		"/farm/../../../admin",
		"/%2e%2e/%2e%2e/admin",
		"/%2E%2E/%2E%2E/admin",
		"/..%2f..%2fadmin",
		"/farm/..%2F..%2F..%2Fadmin",
		"/.%2e/.%2e/admin",
		"/..\\..\\admin",
		"/..%5c..%5cadmin",
		"%2e%2e/%2e%2e/%2e%2e/admin",
		"../../../admin",
	}
	calls := []string{"GET /farm/v1/ok HTTP/1.1\r\n"}
	for _, e := range escapes {
		calls = append(calls, "GET "+e+" HTTP/1.1\r\n")
	}
	// c0's response says {"up":"../../../admin"}.
	calls = append(calls, "GET /farm/$result[c0][up] HTTP/1.1\r\n", "GET /farm/x?q=$result[c0][up] HTTP/1.1\r\n")
	codes := postBatch(t, gw, gw, nil, calls...)
	if len(codes) != len(calls) || codes[0] != 200 {
		t.Fatalf("statuses %v: want %d, the first 200", codes, len(calls))
	}
	// A call may be refused (400) or resolved inside the base path (a
	// relative target is resolved against the batch's URL): what matters
	// is what reaches the upstream, checked below.
	t.Logf("statuses %v", codes)
	if q := codes[len(codes)-1]; q != 200 {
		t.Errorf("a reference in the query answered %d, want 200", q)
	}
	for _, e := range escapes[:9] {
		conn, err := net.Dial("tcp", gw)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, "GET "+e+" HTTP/1.1\r\nHost: "+gw+"\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("direct %q: %v", e, err)
		}
		resp.Body.Close()
		conn.Close()
	}
	seen := rec.requests()
	t.Logf("the upstream saw %v", seen)
	if len(seen) < 3 {
		t.Errorf("the upstream saw %v: want the ok call, c0's and the query's at least", seen)
	}
	for _, s := range seen {
		if p, inside := resolve(s.URI); !inside || !strings.HasPrefix(p, "/api/v1/") {
			t.Errorf("the upstream saw %q, which resolves to %q, outside /api/v1/", s.URI, p)
		}
	}
}

// resolve resolves the dot segments of a request URI's path as an upstream
// could, decoding %2E, %2F and backslashes, and reports whether it stays
// below the root.
func resolve(uri string) (string, bool) {
	p, _, _ := strings.Cut(uri, "?")
	var out []string
	for _, seg := range strings.Split(slashes.Replace(p), "/")[1:] {
		switch dots.Replace(seg) {
		case ".":
		case "..":
			if len(out) == 0 {
				return "", false
			}
			out = out[:len(out)-1]
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/"), true
}

func TestHasDotSegment(t *testing.T) {
	for p, want := range map[string]bool{
		"/a/b": false, "/a/../b": true, "/a/./b": true, "/..": true, "/a/..%2fb": true, "/a/%2E%2e": true,
		"/a%2Fb": false, "/a..b": false, "/...": false, "/a\\..\\b": true, "/%2e%2e%5cb": true, "/.hidden": false,
	} {
		if got := hasDotSegment(p); got != want {
			t.Errorf("hasDotSegment(%q) = %v, want %v", p, got, want)
		}
	}
}

// decode | encode -envelope URL gives a request that serve answers: it
// has the Host an HTTP/1.1 server requires.
func TestServeEncodedEnvelope(t *testing.T) {
	addr := startServe(t, newFarm(), defaultConfig(), io.Discard)
	dec := runCmd(mustRead(t, "../../testdata/calendar-batch-request.http"), "decode")
	enc := runCmd(dec.Stdout, "encode", "-envelope", "POST http://"+addr+"/batch/farm/v1")
	if enc.Code != 0 {
		t.Fatalf("encode: %+v", enc)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, enc.Stdout); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("serve answered %s", resp.Status)
	}
	if got := responseParts(t, resp); len(got) != 3 || got[0].Status != 200 {
		t.Errorf("parts %+v", got)
	}
}

// A call that panics is answered 500 in its part and counted so in the
// batch's log line.
func TestServePanicCounted(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		w.WriteHeader(http.StatusNoContent)
	})
	var b strings.Builder
	log := &syncWriter{w: &b}
	addr, stop := startStopServe(t, inner, defaultConfig(), log)
	if got := postBatch(t, addr, addr, nil, "GET /panic HTTP/1.1\r\n", "GET /ok HTTP/1.1\r\n"); !cmp.Equal(got, []int{500, 204}) {
		t.Errorf("statuses %v, want [500 204]", got)
	}
	stop()
	s := b.String()
	if !strings.Contains(s, "calls=2 statuses=204:1,500:1") {
		t.Errorf("log %q lacks the batch line counting the panic as 500", s)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		60 * time.Second: "60s", 90 * time.Second: "90s", 2 * time.Minute: "2m", 10 * time.Minute: "10m",
		time.Hour: "1h", 90 * time.Minute: "1h30m", 1500 * time.Millisecond: "1.5s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// A call past -call-timeout answers 504 in its part, its context
// cancelled, while the batch's other calls answer; the batch's log line
// counts it as 504 although its handler is still running.
func TestServeCallTimeout(t *testing.T) {
	cfg := defaultConfig()
	cfg.callTimeout = 300 * time.Millisecond // the fast call ends well within it
	release := make(chan struct{})
	cancelled := make(chan struct{})
	ended := make(chan struct{})
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		defer close(ended)
		<-r.Context().Done()
		close(cancelled)
		<-release // a handler that goes on after its context ends
	})
	var b strings.Builder
	log := &syncWriter{w: &b}
	addr, stop := startStopServe(t, inner, cfg, log)
	got := postBatch(t, addr, addr, nil, "GET /fast HTTP/1.1\r\n", "GET /slow HTTP/1.1\r\n")
	if !cmp.Equal(got, []int{204, 504}) {
		t.Errorf("statuses %v, want [204 504]", got)
	}
	<-cancelled // the slow call's context was cancelled, or this hangs
	stop()      // the batch's log line is written; the slow call runs on
	s := b.String()
	close(release)
	<-ended
	if !strings.Contains(s, "calls=2 statuses=204:1,504:1") {
		t.Errorf("log %q lacks the batch line counting the timed-out call as 504", s)
	}
}

// A panic in a call is logged on serve's log, as text, with its value and
// stack (HandlerOptions.Logger).
func TestServePanicLogged(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom-1234")
	})
	var b strings.Builder
	addr, stop := startStopServe(t, inner, defaultConfig(), &syncWriter{w: &b})
	if got := postBatch(t, addr, addr, nil, "GET /x HTTP/1.1\r\n"); !cmp.Equal(got, []int{500}) {
		t.Errorf("statuses %v, want [500]", got)
	}
	stop()
	s := b.String()
	if !strings.Contains(s, "level=ERROR") || !strings.Contains(s, "boom-1234") || !strings.Contains(s, "goroutine") {
		t.Errorf("log %q lacks the panic, its value and stack", s)
	}
}

// summarize decodes a batch response with the command's own decode
// (multipart or JSON, found by itself) and returns "id status" for each
// response, a changeset's responses included, in order.
func summarize(t *testing.T, resp *http.Response) []string {
	t.Helper()
	defer resp.Body.Close()
	var raw bytes.Buffer
	raw.WriteString("HTTP/1.1 " + resp.Status + "\r\nContent-Type: " + resp.Header.Get("Content-Type") + "\r\n\r\n")
	if _, err := raw.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	res := runCmd(raw.String(), "decode")
	if res.Code != 0 {
		t.Fatalf("decode of the response: exit %d: %s\n%s", res.Code, res.Stderr, raw.String())
	}
	var out []string
	var walk func(ps []any)
	walk = func(ps []any) {
		for _, p := range ps {
			m := p.(map[string]any)
			if nested, ok := m["parts"].([]any); ok {
				walk(nested)
				continue
			}
			id := ""
			for _, h := range m["headers"].([]any) {
				if f := h.([]any); strings.EqualFold(f[0].(string), "Content-ID") {
					id = f[1].(string)
				}
			}
			h, _ := m["http"].(map[string]any)
			if h == nil {
				t.Fatalf("a response part without http: %v", m)
			}
			s := fmt.Sprintf("%s %v", id, h["status"])
			if g, ok := m["atomicity_group"]; ok {
				s += fmt.Sprintf(" group=%v", g)
			}
			out = append(out, s)
		}
	}
	var ps []any
	for _, l := range parts(t, res.Stdout) {
		ps = append(ps, l)
	}
	walk(ps)
	return out
}

// serve answers the same calls on its batch path in each of the three
// formats, against the demo API: a changeset (an OData atomicity group)
// that rolls back, and calls after it that see it did. The multipart
// batch is the OData one converted by decode | encode.
func TestServeJSONFormats(t *testing.T) {
	odata := `{"requests":[
 {"id":"1","method":"GET","url":"/farm/v1/animals/pony"},
 {"id":"2","atomicityGroup":"g","method":"PUT","url":"/farm/v1/animals/cow","headers":{"Content-Type":"application/json"},"body":{"animalAge":3,"peltColor":"red"}},
 {"id":"3","atomicityGroup":"g","method":"DELETE","url":"/farm/v1/animals/sheep","headers":{"If-Match":"\"etag/wrong\""}},
 {"id":"4","method":"GET","url":"/farm/v1/animals/cow","dependsOn":["1"]},
 {"id":"5","method":"GET","url":"/farm/v1/animals/sheep","dependsOn":["g"]}
]}`
	graph := `{"requests":[
 {"id":"1","method":"GET","url":"/farm/v1/animals/pony"},
 {"id":"2","method":"DELETE","url":"/farm/v1/animals/sheep","headers":{"If-Match":"\"etag/wrong\""}},
 {"id":"3","method":"GET","url":"/farm/v1/animals/sheep","dependsOn":["2"]},
 {"id":"4","method":"PUT","url":"/farm/v1/animals/cow","headers":{"Content-Type":"application/json"},"body":{"animalAge":3}},
 {"id":"5","method":"GET","url":"/farm/v1/animals/cow","dependsOn":["4"]}
]}`
	mp := pipe(t, odata, []string{"decode"}, []string{"encode", "-boundary", "b"})
	for _, c := range []struct {
		name, format string
		contentType  string // and " prefer=" the Prefer field, if any
		body         string
		want         []string
	}{
		{"multipart", "odata-json", "multipart/mixed; boundary=b", mp, []string{
			"response-1 200",
			// The rolled back changeset is its failed response alone.
			"response-3 412",
			"response-4 404", "response-5 200"}},
		// OData JSON halts at the first failure, as OData's batches do...
		{"odata-json", "odata-json", "application/json", odata, []string{
			"1 200",
			// The group fails as a whole: the PUT that succeeded, then
			// was rolled back, answers 424.
			"2 424 group=g", "3 412 group=g",
			"4 424", "5 424"}},
		// ... unless asked to go on: then a call that depends on the
		// failed group still answers 424.
		{"odata-json continue", "odata-json", "application/json prefer=odata.continue-on-error", odata, []string{
			"1 200",
			"2 424 group=g", "3 412 group=g",
			"4 404", "5 424"}},
		{"graph-json", "graph-json", "application/json", graph, []string{
			"1 200", "2 412", "3 424", "4 201", "5 200"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := defaultConfig()
			var err error
			if cfg.jsonFormat, err = parseServeJSONFormat(c.format); err != nil {
				t.Fatal(err)
			}
			addr := startServe(t, newFarm(), cfg, io.Discard)
			req, err := http.NewRequest("POST", "http://"+addr+"/batch/farm/v1", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			ct, prefer, _ := strings.Cut(c.contentType, " prefer=")
			req.Header.Set("Content-Type", ct)
			if prefer != "" {
				req.Header.Set("Prefer", prefer)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %s", resp.Status)
			}
			if diff := cmp.Diff(c.want, summarize(t, resp)); diff != "" {
				t.Errorf("responses (-want +got):\n%s", diff)
			}
		})
	}
}

// -log json writes log/slog's JSON lines: one per batch at info level, and
// one per call at debug level.
func TestServeLogJSON(t *testing.T) {
	for _, level := range []string{"info", "debug"} {
		t.Run(level, func(t *testing.T) {
			var b strings.Builder
			log := &syncWriter{w: &b}
			cfg := defaultConfig()
			var err error
			if cfg.logger, err = newLogger("json", level, log); err != nil {
				t.Fatal(err)
			}
			addr, stop := startStopServe(t, newFarm(), cfg, log)
			if got := postBatch(t, addr, addr, nil, "GET /farm/v1/animals/pony HTTP/1.1\r\n", "GET /farm/v1/nothing HTTP/1.1\r\n"); !cmp.Equal(got, []int{200, 404}) {
				t.Errorf("statuses %v, want [200 404]", got)
			}
			stop()
			type line struct {
				Level, Msg, ID, Method, Target, Path, Statuses string
				Status, Calls                                  int
			}
			var got []line
			for _, s := range strings.Split(strings.TrimSpace(b.String()), "\n") {
				if !strings.HasPrefix(s, "{") {
					continue // serve's own "serving batches on" line is not startStopServe's
				}
				var l line
				if err := json.Unmarshal([]byte(s), &l); err != nil {
					t.Fatalf("%q: %v", s, err)
				}
				got = append(got, l)
			}
			want := []line{{Level: "INFO", Msg: "batch", Path: "/batch/farm/v1", Status: 200, Calls: 2, Statuses: "200:1,404:1"}}
			if level == "debug" {
				want = append([]line{
					{Level: "DEBUG", Msg: "batch call", ID: "c0", Method: "GET", Target: "/farm/v1/animals/pony", Status: 200},
					{Level: "DEBUG", Msg: "batch call", ID: "c1", Method: "GET", Target: "/farm/v1/nothing", Status: 404},
				}, want...)
			}
			sortLines := cmpopts.SortSlices(func(a, b line) bool { return a.Msg+a.ID < b.Msg+b.ID })
			if diff := cmp.Diff(want, got, sortLines); diff != "" {
				t.Errorf("log lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServeLogFlags(t *testing.T) {
	for _, tc := range []struct{ format, level, err string }{
		{"xml", "info", `-log "xml": want text or json`},
		{"json", "trace", `-log-level "trace": want info or debug`},
		{"", "debug", "-log-level debug needs -log text or -log json"},
	} {
		if _, err := newLogger(tc.format, tc.level, io.Discard); err == nil || err.Error() != tc.err {
			t.Errorf("newLogger(%q, %q): %v, want %q", tc.format, tc.level, err, tc.err)
		}
	}
	if l, err := newLogger("", "info", io.Discard); l != nil || err != nil {
		t.Errorf("no -log: %v, %v, want the plain lines", l, err)
	}
}

// The Calendar documentation's batch request, sent to "mixed serve" with
// the demo API, gets the documentation's response back.
func TestServeCalendarSeed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var log bytes.Buffer
	done := make(chan error)
	go func() { done <- serve(ctx, ln, newFarm(), defaultConfig(), &syncWriter{w: &log}) }()

	reqFile := mustRead(t, "../../testdata/calendar-batch-request.http")
	seed, err := http.ReadRequest(bufio.NewReader(strings.NewReader(reqFile)))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+seed.URL.Path, seed.Body)
	req.Header = seed.Header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := responseParts(t, resp)
	resp.Body.Close()

	wantResp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(mustRead(t, "../../testdata/calendar-batch-response.http"))), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := responseParts(t, wantResp)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response to the seed's batch (-seed's response +got):\n%s", diff)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	if !strings.Contains(log.String(), "calls=3 statuses=200:2,304:1") {
		t.Errorf("log %q lacks the batch line", log.String())
	}
}

// serve turns result references on and halts a batch on its first error
// when the outer header asks.
func TestServeReferencesAndHalt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The later calls wait at a gate that opens when the first byte of
	// the response arrives. The handler writes part 0 only once call 0
	// has ended and, with halt on, has halted the batch; so the calls
	// that reached the farm before that are exactly the ones already
	// running, and every other later call must be skipped. Call 0 holds
	// one of the handler's workers, so at most Concurrency-1 later calls
	// can be running: with more later calls than that, some are skipped
	// on any machine and under any scheduling.
	var gate atomic.Pointer[chan struct{}]
	var entered atomic.Int64
	farm := newFarm()
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g := gate.Load(); g != nil && strings.HasSuffix(r.URL.Path, "/pony") {
			entered.Add(1)
			select {
			case <-*g:
			case <-r.Context().Done():
			}
		}
		farm.ServeHTTP(w, r)
	})
	go serve(ctx, ln, inner, defaultConfig(), io.Discard)
	post := func(halt bool, parts ...string) []seedPart {
		body := ""
		for i, p := range parts {
			body += fmt.Sprintf("--b\r\nContent-Type: application/http\r\nContent-ID: c%d\r\n\r\n%s\r\n", i, p)
		}
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/batch/farm/v1", strings.NewReader(body+"--b--\r\n"))
		req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
		if halt {
			req.Header.Set(batch.DefaultHaltHeader, "true")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if g := gate.Load(); g != nil {
			resp.Body = &onFirstRead{ReadCloser: resp.Body, f: func() { close(*g) }}
		}
		return responseParts(t, resp)
	}
	got := post(false, "GET /farm/v1/animals/pony HTTP/1.1\r\n", "GET /farm/v1/animals/$result[c0][animalName] HTTP/1.1\r\n")
	if len(got) != 2 || got[1].Status != 200 || got[1].ETag != `"etag/pony"` {
		t.Errorf("reference through serve: %+v", got)
	}

	later := 4*runtime.GOMAXPROCS(0) + 4 // more than the handler's default Concurrency
	calls := []string{"GET /farm/v1/animals/nobody HTTP/1.1\r\n"}
	for range later {
		calls = append(calls, "GET /farm/v1/animals/pony HTTP/1.1\r\n")
	}
	for _, halt := range []bool{false, true} {
		g := make(chan struct{})
		gate.Store(&g)
		entered.Store(0)
		got := post(halt, calls...)
		if len(got) != 1+later {
			t.Fatalf("halt=%v: %d parts, want %d", halt, len(got), 1+later)
		}
		if got[0].Status != 404 {
			t.Errorf("halt=%v: first part %+v, want 404", halt, got[0])
		}
		ran, skipped := 0, 0
		for _, p := range got[1:] {
			switch p.Status {
			case 424:
				skipped++
			case 200:
				ran++
			default:
				t.Errorf("halt=%v: later call status %d", halt, p.Status)
			}
		}
		if n := int(entered.Load()); ran != n {
			t.Errorf("halt=%v: %d later calls reached the farm but %d answered 200", halt, n, ran)
		}
		if !halt && skipped != 0 {
			t.Errorf("halt=false: %d of %d later calls skipped", skipped, later)
		}
		if halt && (skipped == 0 || ran+skipped != later) {
			t.Errorf("halt=true: %d of %d later calls skipped, %d ran", skipped, later, ran)
		}
	}
}

// The changeset of "mixed serve -help", sent as it says: it rolls back;
// with the right ETag it commits; $1 addresses what call 1 created.
func TestServeChangesetFromHelp(t *testing.T) {
	help := runCmd("", "serve", "-help").Stdout
	start := strings.Index(help, "  --b\n")
	end := strings.Index(help, "  --b--\n")
	if start < 0 || end < 0 {
		t.Fatalf("no changeset example in serve -help:\n%s", help)
	}
	var example strings.Builder
	for _, line := range strings.Split(help[start:end+len("  --b--\n")], "\n") {
		example.WriteString(strings.TrimPrefix(line, "  "))
		example.WriteString("\r\n")
	}
	rollback := strings.TrimSuffix(example.String(), "\r\n")
	file, err := os.ReadFile("../../testdata/farm-changeset.mixed")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rollback, string(file)); diff != "" {
		t.Errorf("testdata/farm-changeset.mixed is not the example of serve -help (-help +file):\n%s", diff)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go serve(ctx, ln, newFarm(), defaultConfig(), io.Discard)
	post := func(body string) []csPart {
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/batch/farm/v1", strings.NewReader(body))
		req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		return changesetParts(t, resp.Body, b)
	}
	get := `--b` + "\r\n" + "Content-Type: application/http\r\nContent-ID: get\r\n\r\nGET /farm/v1/animals/cow HTTP/1.1\r\n\r\n--b--\r\n"
	if diff := cmp.Diff([]csPart{{ContentID: "response-2", Status: 412}}, post(rollback)); diff != "" {
		t.Errorf("the help's changeset (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]csPart{{ContentID: "response-get", Status: 404}}, post(get)); diff != "" {
		t.Errorf("after the rollback (-want +got):\n%s", diff)
	}
	commit := strings.Replace(rollback, `"etag/wrong"`, `"etag/sheep"`, 1)
	commit = strings.Replace(commit, "--cs--", "--cs\r\nContent-Type: application/http\r\nContent-ID: 3\r\n\r\nGET $1 HTTP/1.1\r\n\r\n--cs--", 1)
	want := []csPart{{Parts: []csPart{
		{ContentID: "response-1", Status: 201, Location: "/farm/v1/animals/cow"},
		{ContentID: "response-2", Status: 204},
		{ContentID: "response-3", Status: 200},
	}}}
	if diff := cmp.Diff(want, post(commit)); diff != "" {
		t.Errorf("the committed changeset (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]csPart{{ContentID: "response-get", Status: 200}}, post(get)); diff != "" {
		t.Errorf("after the commit (-want +got):\n%s", diff)
	}
}

func TestBatchPath(t *testing.T) {
	for in, want := range map[string]string{"nolead": "/nolead", "/batch/": "/batch", "a//b/../c": "/a/c", "/batch": "/batch"} {
		if got, err := batchPathOf(in); got != want || err != nil {
			t.Errorf("batchPathOf(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// onFirstRead calls f when the first bytes are read.
type onFirstRead struct {
	io.ReadCloser
	f func()
}

func (o *onFirstRead) Read(p []byte) (int, error) {
	n, err := o.ReadCloser.Read(p)
	if n > 0 && o.f != nil {
		o.f()
		o.f = nil
	}
	return n, err
}

// The gateway reads at most maxUpstreamHead of an upstream's response
// head, not net/http's 10 MB: a larger one answers 502, a call's and a
// direct request's alike, and the other calls answer as ever.
func TestServeGatewayBoundsUpstreamHeads(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/huge") {
			w.Header().Set("X-Huge", strings.Repeat("h", 2*maxUpstreamHead))
		}
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	gw := serveGateway(t, up.URL, nil)
	resp, err := http.Get("http://" + gw + "/huge")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := []int{resp.StatusCode}
	got = append(got, postBatch(t, gw, gw, nil, "GET /huge HTTP/1.1\r\n", "GET /fine HTTP/1.1\r\n")...)
	if diff := cmp.Diff([]int{502, 502, 200}, got); diff != "" {
		t.Errorf("the direct request's status, then the calls' (-want +got):\n%s", diff)
	}
}

// -max-buffered-bytes is read, and refused when it is not positive; its
// default is the batch handler's.
func TestServeMaxBufferedBytesFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int64
	}{
		{nil, batch.DefaultMaxTotalBufferedBytes},
		{[]string{"-max-buffered-bytes", "393216"}, 384 << 10},
	} {
		a, code := parseServeArgs(tc.args, io.Discard, io.Discard)
		if code >= 0 || a.cfg.maxBufferedBytes != tc.want {
			t.Errorf("%q: -max-buffered-bytes %d (exit %d), want %d", tc.args, a.cfg.maxBufferedBytes, code, tc.want)
		}
	}
	for _, v := range []string{"0", "-1", "lots"} {
		var stderr strings.Builder
		if _, code := parseServeArgs([]string{"-max-buffered-bytes", v}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "-max-buffered-bytes") {
			t.Errorf("-max-buffered-bytes %s: exit %d, %q; want 2 and a line naming the flag", v, code, stderr.String())
		}
	}
}

// -max-buffered-bytes reaches the batch handler and bounds what all the
// batches in flight hold together: behind two batches whose first calls
// are still running (so that nothing streams), the 64 KiB responses of
// the calls behind them fit 8 at once with the default, 6 with the flag
// at 400000 bytes (6 × 64 KiB, and 2 KiB for each of their heads, which
// count too); the other 2 wait in their Write. Once the first calls end,
// both batches complete with every response.
func TestServeMaxBufferedBytes(t *testing.T) {
	const batches, behind, size = 2, 4, 64 << 10
	for _, tc := range []struct {
		args []string
		fit  int64
	}{
		{nil, batches * behind},
		{[]string{"-max-buffered-bytes", "400000"}, 6},
	} {
		t.Run(fmt.Sprint(tc.fit), func(t *testing.T) {
			a, code := parseServeArgs(tc.args, io.Discard, io.Discard)
			if code >= 0 {
				t.Fatalf("%q: exit %d", tc.args, code)
			}
			gate := make(chan struct{})
			var once sync.Once
			open := func() { once.Do(func() { close(gate) }) }
			var entered, returned atomic.Int64
			inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/first" {
					<-gate
					io.WriteString(w, "first")
					return
				}
				var i int
				fmt.Sscanf(r.URL.Path, "/big/%d", &i)
				entered.Add(1)
				w.Write(bytes.Repeat([]byte{byte('a' + i)}, size))
				returned.Add(1)
			})
			addr := startServe(t, inner, a.cfg, io.Discard)
			defer open() // before the server stops, which waits for the first calls
			body := "--b\r\nContent-Type: application/http\r\n\r\nGET /first HTTP/1.1\r\n\r\n"
			for i := range behind {
				body += fmt.Sprintf("--b\r\nContent-Type: application/http\r\n\r\nGET /big/%d HTTP/1.1\r\n\r\n", i)
			}
			body += "--b--\r\n"
			got := make([][]string, batches)
			errs := make([]error, batches)
			var wg sync.WaitGroup
			for k := range batches {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[k], errs[k] = postAndSummarize("http://"+addr+"/batch/farm/v1", body)
				}()
			}
			deadline := time.Now().Add(10 * time.Second)
			for entered.Load() < batches*behind || returned.Load() < tc.fit {
				if time.Now().After(deadline) {
					open()
					t.Fatalf("waited 10 s: %d calls in Write, %d returned, want %d and %d", entered.Load(), returned.Load(), batches*behind, tc.fit)
				}
				time.Sleep(time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // a Write past the budget, were one let through, returns
			if n := returned.Load(); n != tc.fit {
				t.Errorf("%d responses of 64 KiB held while the first calls ran, want %d", n, tc.fit)
			}
			open()
			wg.Wait()
			want := []string{"200 first"}
			for i := range behind {
				want = append(want, fmt.Sprintf("200 %d×%c", size, 'a'+i))
			}
			for k := range batches {
				if errs[k] != nil {
					t.Errorf("batch %d: %v", k, errs[k])
				}
				if diff := cmp.Diff(want, got[k]); diff != "" {
					t.Errorf("batch %d: parts (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}

// postAndSummarize posts a batch body (boundary "b") and reads the answer
// with the codec: each part's status and body, a body of one repeated
// byte as its length and that byte.
func postAndSummarize(url, body string) ([]string, error) {
	resp, err := http.Post(url, "multipart/mixed; boundary=b", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	r := mixed.NewReader(resp.Body, b)
	var out []string
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		m, err := mixed.NewMessageReader(p).ReadResponse("")
		if err != nil {
			return out, err
		}
		body, err := io.ReadAll(m.Body)
		if err != nil {
			return out, err
		}
		s := string(body)
		if len(body) > 1 && bytes.Count(body, body[:1]) == len(body) {
			s = fmt.Sprintf("%d×%c", len(body), body[0])
		}
		out = append(out, fmt.Sprintf("%d %s", m.StatusCode, s))
	}
}
