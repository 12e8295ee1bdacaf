package caddybatch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// needPeer skips a test whose real peer is not installed, except in CI,
// which installs every peer (.ci/run) and must not pass by skipping.
func needPeer(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not available in CI: %v", what, err)
	}
	t.Skipf("%s is not installed (%v); .ci/run installs it", what, err)
}

// An upstream is a small HTTP server behind Caddy's reverse_proxy: it
// answers every request with a JSON echo naming itself, and counts what
// it answered.
type upstream struct {
	name string
	srv  *httptest.Server

	mu     sync.Mutex
	served int
	paths  []string
}

// echo is what an upstream answers: the request, and the headers that
// say who sent it.
type echo struct {
	Upstream string `json:"upstream"`
	Method   string `json:"method"`
	Path     string `json:"path"`
	Auth     string `json:"auth,omitempty"`
	XFF      string `json:"xff,omitempty"`
	RealIP   string `json:"real_ip,omitempty"`
	XFHost   string `json:"xf_host,omitempty"`
	XFProto  string `json:"xf_proto,omitempty"`
	Fwd      string `json:"forwarded,omitempty"`
}

func newUpstream(t *testing.T, name string) *upstream {
	u := &upstream{name: name}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(echo{
		Upstream: u.name, Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"),
		XFF: r.Header.Get("X-Forwarded-For"), RealIP: r.Header.Get("X-Real-IP"),
		XFHost: r.Header.Get("X-Forwarded-Host"), XFProto: r.Header.Get("X-Forwarded-Proto"),
		Fwd: r.Header.Get("Forwarded"),
	})
	u.mu.Lock()
	u.served++
	u.paths = append(u.paths, r.URL.Path)
	u.mu.Unlock()
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.served
}

// dial is the upstream's address for reverse_proxy.
func (u *upstream) dial() string { return u.srv.Listener.Addr().String() }

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// obj is a JSON object in a config.
type obj = map[string]any

// proxyTo is a reverse_proxy handler over dials: round robin, retries on
// another upstream, an upstream that fails once is out for 30 s.
func proxyTo(dials ...string) obj {
	var ups []obj
	for _, d := range dials {
		ups = append(ups, obj{"dial": d})
	}
	return obj{
		"handler":   "reverse_proxy",
		"upstreams": ups,
		"load_balancing": obj{
			"selection_policy": obj{"policy": "round_robin"},
			"retries":          len(dials),
			"try_duration":     "5s",
			"try_interval":     "10ms",
		},
		"health_checks": obj{"passive": obj{"fail_duration": "30s", "max_fails": 1}},
	}
}

// config is a Caddy JSON config whose one server has routes (see
// serverConfig).
func config(dir, log string, routes ...obj) []byte {
	return serverConfig(dir, log, obj{"routes": routes})
}

// serverConfig is a Caddy JSON config: no admin endpoint, no automatic
// HTTPS, storage in dir, one server "test", srv on a random loopback
// port, and the log lines of the batch module, of Caddy's own error and
// access logs and of the loggers named in more written as JSON to log.
func serverConfig(dir, log string, srv obj, more ...string) []byte {
	own := append([]string{"http.handlers.batch", "http.log.error", "http.log.access"}, more...)
	test := obj{}
	for k, v := range srv {
		test[k] = v
	}
	test["listen"] = []string{"127.0.0.1:0"}
	test["automatic_https"] = obj{"disable": true}
	cfg := obj{
		"admin":   obj{"disabled": true},
		"storage": obj{"module": "file_system", "root": dir},
		"logging": obj{"logs": obj{
			"default": obj{"level": "ERROR", "exclude": own},
			"batch": obj{
				"writer":  obj{"output": "file", "filename": log, "roll": false},
				"encoder": obj{"format": "json"},
				"level":   "DEBUG",
				"include": own,
			},
		}},
		"apps": obj{"http": obj{"servers": obj{"test": test}}},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		panic(err)
	}
	return b
}

// startCaddy runs Caddy in this process with routes and returns its base
// URL and the path of its log. Caddy's config is global: tests that call
// it do not run in parallel.
func startCaddy(t *testing.T, routes ...obj) (base, log string) {
	t.Helper()
	return startServer(t, obj{"routes": routes})
}

// startServer is startCaddy with a whole server config (routes, error
// routes, logs, trusted proxies), and more loggers in the log.
func startServer(t *testing.T, srv obj, more ...string) (base, log string) {
	t.Helper()
	dir := t.TempDir()
	log = dir + "/batch.log"
	if err := caddy.Load(serverConfig(dir, log, srv, more...), true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Error(err)
		}
	})
	app, err := caddy.ActiveContext().App("http")
	if err != nil {
		t.Fatal(err)
	}
	ls := app.(*caddyhttp.App).Servers["test"].Listeners()
	if len(ls) != 1 {
		t.Fatalf("%d listeners", len(ls))
	}
	return "http://" + ls[0].Addr().String(), log
}

// startCaddyfile runs Caddy with the site block site of a Caddyfile, as
// caddy run would adapt it.
func startCaddyfile(t *testing.T, site string) (base, log string) {
	t.Helper()
	cfg, err := adapt(t, ":80 {\n"+strings.Trim(site, "\n")+"\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	srv, ok := cfg["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)["srv0"].(map[string]any)
	if !ok {
		t.Fatalf("no server srv0 in %v", cfg)
	}
	return startServer(t, srv)
}

// A call is one request of a batch.
type call struct {
	ID     string
	Method string
	Target string
	Header string // extra header lines, each ending in CRLF
	Body   string
}

// batchBody is a Google batch of calls and its Content-Type.
func batchBody(calls []call) (body []byte, contentType string) {
	var b bytes.Buffer
	for _, c := range calls {
		fmt.Fprintf(&b, "--bound\r\nContent-Type: application/http\r\nContent-ID: %s\r\n\r\n", c.ID)
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n%s", c.Method, c.Target, c.Header)
		if c.Body != "" {
			fmt.Fprintf(&b, "Content-Length: %d\r\n", len(c.Body))
		}
		fmt.Fprintf(&b, "\r\n%s\r\n", c.Body)
	}
	b.WriteString("--bound--\r\n")
	return b.Bytes(), "multipart/mixed; boundary=bound"
}

// A part is one response of a batch response.
type part struct {
	ContentID string
	Status    int
	Header    http.Header
	Body      string
}

// postBatch sends calls to url with client and returns the outer status and
// the response parts, in order. Errors are returned, not fatal, so that
// the load test's clients can use it.
func postBatch(client *http.Client, url string, calls []call, header http.Header) (int, []part, error) {
	body, ct := batchBody(calls)
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", ct)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	parts, err := readParts(resp)
	return resp.StatusCode, parts, err
}

// readParts reads a batch response with the standard library.
func readParts(resp *http.Response) ([]part, error) {
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("status %d, Content-Type %q: %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	var parts []part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return parts, err
		}
		inner, err := http.ReadResponse(bufio.NewReader(p), nil)
		if err != nil {
			return parts, fmt.Errorf("part %d: %v", len(parts), err)
		}
		b, err := io.ReadAll(inner.Body)
		if err != nil {
			return parts, fmt.Errorf("part %d: %v", len(parts), err)
		}
		parts = append(parts, part{ContentID: p.Header.Get("Content-ID"), Status: inner.StatusCode, Header: inner.Header, Body: strings.TrimSpace(string(b))})
	}
}

// readEcho decodes an upstream's answer.
func readEcho(body string) (echo, error) {
	var e echo
	err := json.Unmarshal([]byte(body), &e)
	return e, err
}

// newKillable is an upstream server that serves with serve until kill
// says it dies: then it closes its listener and every connection, the one
// of the request that killed it included, so that the request is never
// answered and later ones cannot connect.
func newKillable(t *testing.T, kill func(*http.Request) bool, serve http.HandlerFunc) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if kill(r) {
			srv.Listener.Close()
			srv.CloseClientConnections()
			return
		}
		serve(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}
