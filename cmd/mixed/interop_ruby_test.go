package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
)

// The Ruby peer: Google's Ruby client (Debian's ruby-google-api-client,
// google-api-client 0.50.0), Google::Apis::Core::BaseService#batch, driven
// by a service written as its generated clients are (issue #22).
const (
	rubyScript    = "testdata/interop/ruby/farm_batch.rb"
	rubyBatchPath = "batch/farm/v1"
	rubyCalls     = 120
)

// needRuby returns the path of a ruby that can load the client, the first
// of $MIXED_RUBY, ruby on PATH and /usr/bin/ruby (scripts/peers.sh's rule).
// It skips the test under -short, and when no such ruby exists, at once,
// saying how to install it; in CI, which installs the client (.ci/run runs
// scripts/peers.sh), a missing client fails the test.
func needRuby(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("interop with Google's Ruby client: skipped under -short")
	}
	var tried []string
	for _, rb := range []string{os.Getenv("MIXED_RUBY"), "ruby", "/usr/bin/ruby"} {
		if rb == "" {
			continue
		}
		ruby, err := exec.LookPath(rb)
		if err == nil {
			out, lerr := exec.Command(ruby, "-e", `require "google/apis/core/base_service"`).CombinedOutput()
			if lerr == nil {
				return ruby
			}
			first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
			err = fmt.Errorf("%v: %s", lerr, first)
		}
		tried = append(tried, fmt.Sprintf("%s: %v", rb, err))
	}
	err := strings.Join(tried, "; ")
	if os.Getenv("CI") != "" {
		t.Fatalf("Google's Ruby client is not available in CI: %s", err)
	}
	t.Skipf("Google's Ruby client is not installed (%s): run sh scripts/peers.sh from the repository root", err)
	return ""
}

// TestInteropRubyGoogleAPIClient sends one batch of rubyCalls calls from
// Google's Ruby client to "mixed serve" with the demo API, then to "mixed
// serve -upstream" (the gateway) in front of another one, and checks what
// every callback received and what the client sent. A third run puts the
// gateway in front of an upstream that compresses and routes by Host.
func TestInteropRubyGoogleAPIClient(t *testing.T) {
	ruby := needRuby(t)
	want, statuses := rubyWant(rubyCalls)
	wantLog := fmt.Sprintf("calls=%d statuses=%s ", rubyCalls, statuses)

	t.Run("serve", func(t *testing.T) {
		ln := listenRecording(t)
		stop := startServeOn(t, ln, newFarm(), defaultConfig())
		got := runRuby(t, ruby, "http://"+ln.Addr().String()+"/", ln)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("what the Ruby client's callbacks received (-want +got):\n%s", diff)
		}
		if log := stop(); !strings.Contains(log, wantLog) {
			t.Errorf("serve's log %q lacks %q", log, wantLog)
		}
		checkRubyWire(t, ln)
	})

	t.Run("gateway", func(t *testing.T) {
		up, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		startServeOn(t, up, newFarm(), defaultConfig())
		cfg := defaultConfig()
		if cfg.upstream, err = parseUpstream("http://" + up.Addr().String()); err != nil {
			t.Fatal(err)
		}
		inner := upstreamHandler(cfg.upstream, io.Discard)
		ln := listenRecording(t)
		stop := startServeOn(t, ln, inner, cfg)
		got := runRuby(t, ruby, "http://"+ln.Addr().String()+"/", ln)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("what the Ruby client's callbacks received through the gateway (-want +got):\n%s", diff)
		}
		if log := stop(); !strings.Contains(log, wantLog) {
			t.Errorf("the gateway's log %q lacks %q", log, wantLog)
		}
		closeIdle(inner)
		checkRubyWire(t, ln)
	})

	// An upstream as found in production: it compresses what it may
	// (Accept-Encoding) and routes by name (Host). The Ruby client's
	// batch carries "Accept-Encoding: gzip,deflate", which concerns the
	// outer response only, and its calls name the gateway, not the
	// upstream.
	t.Run("gateway to a compressing, name-based upstream", func(t *testing.T) {
		up, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		upHost := up.Addr().String()
		var mu sync.Mutex
		hosts := map[string]int{}
		startServeOn(t, up, hostRecording(&mu, hosts, gzipping(newFarm())), defaultConfig())
		cfg := defaultConfig()
		if cfg.upstream, err = parseUpstream("http://" + upHost); err != nil {
			t.Fatal(err)
		}
		inner := upstreamHandler(cfg.upstream, io.Discard)
		ln := listenRecording(t)
		stop := startServeOn(t, ln, inner, cfg)
		got := runRuby(t, ruby, "http://"+ln.Addr().String()+"/", ln)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("what the Ruby client's callbacks received through the gateway (-want +got):\n%s", diff)
		}
		stop()
		closeIdle(inner)
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff(map[string]int{upHost: rubyCalls}, hosts); diff != "" {
			t.Errorf("the Host of the calls that reached the upstream (-want +got):\n%s", diff)
		}
	})
}

// closeIdle closes the idle connections the gateway's proxy keeps to its
// upstream, once the gateway has stopped. A connection the transport
// dialled but never used is new to the upstream's server, whose Shutdown
// waits 5 s before it counts such a connection as idle.
func closeIdle(h http.Handler) {
	if g, ok := h.(*gateway); ok {
		h = g.proxy
	}
	if p, ok := h.(*httputil.ReverseProxy); ok {
		if c, ok := p.Transport.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
}

// hostRecording counts the requests next serves by their Host.
func hostRecording(mu *sync.Mutex, hosts map[string]int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts[r.Host]++
		mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// gzipping compresses the responses of next for requests that accept
// gzip, as most production servers do.
func gzipping(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		maps.Copy(w.Header(), rec.Header())
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		zw := gzip.NewWriter(w)
		zw.Write(rec.Body.Bytes())
		zw.Close()
	})
}

// rubyWant is what farm_batch.rb prints for n calls against a fresh demo
// API whose store is the documentation's (pony, 34, white, "etag/pony";
// sheep, 5, green, "etag/sheep"), worked out from the script's plan, and
// the status counts serve logs for them. The Ruby client hands a callback
// the decoded object on success and an error carrying the status on
// failure; it treats 304 as an error (Google::Apis::ClientError).
func rubyWant(n int) ([]map[string]any, string) {
	animal := func(name string, age float64, color, etag string) map[string]any {
		return map[string]any{
			"kind": "farm#animal", "etag": etag, "selfLink": "/farm/v1/animals/" + name,
			"animalName": name, "animalAge": age, "peltColor": color,
		}
	}
	pony := map[string]any{"result": animal("pony", 34, "white", "etag/pony")}
	sheep := map[string]any{"result": animal("sheep", 5, "green", "etag/sheep")}
	want := []map[string]any{
		// PUT cow: created (201), with a new tag derived from its content.
		{"id": 0.0, "result": animal("cow", 3, "brown", "etag/cow-<hash>")},
		// PUT sheep with what it holds: unchanged, it keeps its tag (200).
		{"id": 1.0, "result": sheep["result"]},
		// GET pony with If-None-Match of its tag.
		{"id": 2.0, "error": "Google::Apis::ClientError", "status": 304.0, "body": nil},
	}
	count := map[int]int{201: 1, 200: 1, 304: 1}
	for i := 3; i < n; i++ {
		var line map[string]any
		switch i % 3 {
		case 0:
			line, count[200] = pony, count[200]+1
		case 1:
			line, count[200] = sheep, count[200]+1
		case 2:
			line = map[string]any{"error": "Google::Apis::ClientError", "status": 404.0,
				"body": map[string]any{"error": map[string]any{"code": 404.0, "message": fmt.Sprintf("no animal named \"nobody-%d\"", i)}}}
			count[404]++
		}
		line = maps.Clone(line)
		line["id"] = float64(i)
		want = append(want, line)
	}
	return want, fmt.Sprintf("200:%d,201:%d,304:%d,404:%d", count[200], count[201], count[304], count[404])
}

// cowTag is the form of the tag the farm derives for the new cow.
var cowTag = regexp.MustCompile(`^etag/cow-[0-9a-f]+$`)

// runRuby runs farm_batch.rb against the API at base and returns the lines
// it printed, the cow's derived tag written "etag/cow-<hash>". On failure it
// shows what the client sent (seen).
func runRuby(t *testing.T, ruby, base string, seen *recordingListener) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ruby, rubyScript, base, rubyBatchPath, strconv.Itoa(rubyCalls))
	cmd.Env = withoutProxy(os.Environ())
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the Ruby client failed: %v\n%s\nwhat it sent: %.4000q", err, stderr.Bytes(), seen.bytes())
	}
	got := lines(t, string(out))
	for _, line := range got {
		if res, ok := line["result"].(map[string]any); ok {
			if tag, ok := res["etag"].(string); ok && cowTag.MatchString(tag) {
				res["etag"] = "etag/cow-<hash>"
			}
		}
	}
	return got
}

// withoutProxy drops the proxy settings from env, so that the client's
// HTTP library talks to the loopback server directly.
func withoutProxy(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasSuffix(strings.ToLower(name), "_proxy") {
			out = append(out, kv)
		}
	}
	return out
}

// startServeOn runs serve on ln with inner and cfg until the returned
// stop (or the test's end) stops it gracefully; stop returns what serve
// logged, complete once the batches in flight ended.
func startServeOn(t *testing.T, ln net.Listener, inner http.Handler, cfg serveConfig) (stop func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, inner, cfg, log) }()
	var once sync.Once
	stop = func() string {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
		return log.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A recordingListener keeps every byte the server reads on each connection
// it accepts: what the client sent, exactly as sent.
type recordingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*bytes.Buffer
}

func listenRecording(t *testing.T) *recordingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &recordingListener{Listener: ln}
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	buf := &bytes.Buffer{}
	l.conns = append(l.conns, buf)
	return &recordingConn{Conn: c, l: l, buf: buf}, nil
}

// received returns a copy of the bytes read on each connection.
func (l *recordingListener) received() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([][]byte, len(l.conns))
	for i, b := range l.conns {
		out[i] = bytes.Clone(b.Bytes())
	}
	return out
}

func (l *recordingListener) bytes() []byte {
	return bytes.Join(l.received(), []byte("\n----- next connection -----\n"))
}

type recordingConn struct {
	net.Conn
	l   *recordingListener
	buf *bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.mu.Lock()
	c.buf.Write(p[:n])
	c.l.mu.Unlock()
	return n, err
}

// rubyPart is a part of the Ruby client's batch request, reduced to what
// the checks need: the part's header fields as written, with the batch's
// UUID in the Content-Id written UUID and a Content-Length equal to the
// part body's length written "=len(body)"; and the embedded request, with
// its X-Goog-Api-Client's versions written V, and its JSON body as a value.
type rubyPart struct {
	Part   [][2]string
	Method string
	Target string
	Header [][2]string
	Body   any
}

var (
	rubyContentID = regexp.MustCompile(`^<([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\+([0-9]+)>$`)
	rubyAPIClient = regexp.MustCompile(`^gl-ruby/[0-9.]+ gdcl/[0-9.]+$`)
)

// checkRubyWire checks what the Ruby client sent to ln: one request, a POST
// of multipart/mixed to the batch path with an empty query ("?"), whose
// parts carry their own Content-Length and Content-Transfer-Encoding, and
// whose calls name the host without its port.
func checkRubyWire(t *testing.T, ln *recordingListener) {
	t.Helper()
	var reqs []*http.Request
	var bodies [][]byte
	for _, conn := range ln.received() {
		br := bufio.NewReader(bytes.NewReader(conn))
		for {
			req, err := http.ReadRequest(br)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("what the Ruby client sent does not parse: %v\n%.4000q", err, conn)
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatalf("the Ruby client's request body: %v", err)
			}
			reqs, bodies = append(reqs, req), append(bodies, body)
		}
	}
	if len(reqs) != 1 {
		t.Fatalf("the Ruby client sent %d requests, want 1 batch:\n%.4000q", len(reqs), ln.bytes())
	}
	req, body := reqs[0], bodies[0]
	// The empty query: the client sets the batch URL's query_values to {}.
	if req.Method != "POST" || req.RequestURI != "/"+rubyBatchPath+"?" {
		t.Errorf("request line %s %s, want POST /%s?", req.Method, req.RequestURI, rubyBatchPath)
	}
	ct := req.Header.Get("Content-Type")
	if !regexp.MustCompile(`^multipart/mixed; boundary=[0-9a-f]{40}$`).MatchString(ct) {
		t.Errorf("Content-Type %q, want multipart/mixed with a SHA-1 hex boundary", ct)
	}
	boundary, err := mixed.ParseBoundary(ct)
	if err != nil {
		t.Fatal(err)
	}
	r := mixed.NewReader(bytes.NewReader(body), boundary)
	var got []rubyPart
	uuid := ""
	for i := 0; ; i++ {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		raw, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		var rp rubyPart
		for name, value := range p.Header.All() {
			v := string(value)
			switch strings.ToLower(string(name)) {
			case "content-id":
				if m := rubyContentID.FindStringSubmatch(v); m != nil && m[2] == strconv.Itoa(i) && (uuid == "" || m[1] == uuid) {
					uuid, v = m[1], "<UUID+"+m[2]+">"
				}
			case "content-length":
				if v == strconv.Itoa(len(raw)) {
					v = "=len(body)"
				}
			}
			rp.Part = append(rp.Part, [2]string{string(name), v})
		}
		m, err := mixed.NewMessageReader(bytes.NewReader(raw)).ReadRequest()
		if err != nil {
			t.Fatalf("part %d's request %q: %v", i, raw, err)
		}
		rp.Method, rp.Target = string(m.Method), string(m.Target)
		for name, value := range m.Header.All() {
			v := string(value)
			if strings.EqualFold(string(name), "X-Goog-Api-Client") && rubyAPIClient.MatchString(v) {
				v = "gl-ruby/V gdcl/V"
			}
			rp.Header = append(rp.Header, [2]string{string(name), v})
		}
		b, err := io.ReadAll(m.Body)
		if err != nil {
			t.Fatalf("part %d's request body: %v", i, err)
		}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &rp.Body); err != nil {
				t.Errorf("part %d's request body %q: %v", i, b, err)
			}
		}
		got = append(got, rp)
	}
	if diff := cmp.Diff(rubyWantWire(rubyCalls), got); diff != "" {
		t.Errorf("what the Ruby client sent (-want +got):\n%s", diff)
	}
}

// rubyWantWire is what farm_batch.rb's n calls look like on the wire, as
// Google's Ruby client 0.50.0 writes them (BatchCommand, CallSerializer,
// FilePart): a Content-Id of the batch's UUID and the call's index, a
// Content-Length and "Content-Transfer-Encoding: binary" on every part; in
// the call, the target's request_uri (an empty query, "?", when the call
// has none), the fields, then the Host, the URL's host name alone without
// its port; a body with no Content-Length: the rest of the part.
func rubyWantWire(n int) []rubyPart {
	part := func(i int) [][2]string {
		return [][2]string{
			{"Content-Type", "application/http"},
			{"Content-Id", fmt.Sprintf("<UUID+%d>", i)},
			{"Content-Length", "=len(body)"},
			{"Content-Transfer-Encoding", "binary"},
		}
	}
	client := [2]string{"X-Goog-Api-Client", "gl-ruby/V gdcl/V"}
	host := [2]string{"Host", "127.0.0.1"}
	jsonType := [2]string{"Content-Type", "application/json"}
	want := []rubyPart{
		{Part: part(0), Method: "PUT", Target: "/farm/v1/animals/cow?", Header: [][2]string{client, jsonType, host},
			Body: map[string]any{"animalName": "cow", "animalAge": 3.0, "peltColor": "brown"}},
		{Part: part(1), Method: "PUT", Target: "/farm/v1/animals/sheep?", Header: [][2]string{client, jsonType, host},
			Body: map[string]any{"animalName": "sheep", "animalAge": 5.0, "peltColor": "green"}},
		{Part: part(2), Method: "GET", Target: "/farm/v1/animals/pony?", Header: [][2]string{client, {"If-None-Match", `"etag/pony"`}, host}},
	}
	for i := 3; i < n; i++ {
		name := [3]string{"pony", "sheep", fmt.Sprintf("nobody-%d", i)}[i%3]
		want = append(want, rubyPart{Part: part(i), Method: "GET", Target: fmt.Sprintf("/farm/v1/animals/%s?i=%d", name, i), Header: [][2]string{client, host}})
	}
	return want
}
