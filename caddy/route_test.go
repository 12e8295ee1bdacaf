package caddybatch

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/google/go-cmp/cmp"
)

// aliceHash is the bcrypt hash (cost 4, so that the tests stay fast) of
// alicePassword, made once with golang.org/x/crypto/bcrypt.
const (
	aliceHash     = "$2a$04$k6EvBb9Ha3PKegoWQOh.t.gG2WeMbQZr17wnqYZj4yMw8YG9xJgz."
	alicePassword = "open sesame"
)

// basicAuth is the value of an Authorization header for user and password.
func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// authRoute is basic_auth <path> { alice <hash> } as JSON.
func authRoute(path string) obj {
	return obj{
		"match": []obj{{"path": []string{path}}},
		"handle": []obj{{
			"handler": "authentication",
			"providers": obj{"http_basic": obj{
				"accounts": []obj{{"username": "alice", "password": aliceHash}},
				"hash":     obj{"algorithm": "bcrypt"},
			}},
		}},
	}
}

// respond is a static_response handler.
func respond(body string) obj { return obj{"handler": "static_response", "body": body} }

// brief is what a test checks of a part: its status and body.
type brief struct {
	ContentID string
	Status    int
	Body      string
}

// briefs posts calls to url with header and returns the parts' briefs,
// failing unless the batch itself is a 200.
func briefs(t *testing.T, url string, calls []call, header http.Header) ([]brief, []part) {
	t.Helper()
	status, parts, err := postBatch(http.DefaultClient, url, calls, header)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Fatalf("batch status %d", status)
	}
	var got []brief
	for _, p := range parts {
		got = append(got, brief{ContentID: p.ContentID, Status: p.Status, Body: p.Body})
	}
	return got, parts
}

// TestCallsPassBasicAuth: basic_auth on /admin/*, in a route before the
// batch route, guards each call as it guards a request that arrives
// alone. A call to /admin/keys in a batch posted to /batch (outside
// /admin, so the batch request itself is not authenticated) answers 401
// with basic_auth's challenge; with alice's credentials, on the call or
// on the batch request (whose headers every call that lacks them
// inherits), it answers 200; a call's own wrong credentials win over the
// batch request's right ones.
func TestCallsPassBasicAuth(t *testing.T) {
	base, _ := startCaddy(t,
		authRoute("/admin/*"),
		batchRoute(nil),
		route(respond("secret {http.request.uri.path}")))

	right := "Authorization: " + basicAuth("alice", alicePassword) + "\r\n"
	wrong := "Authorization: " + basicAuth("alice", "guess") + "\r\n"
	calls := []call{
		{ID: "admin", Method: "GET", Target: "/admin/keys"},
		{ID: "public", Method: "GET", Target: "/public"},
		{ID: "own", Method: "GET", Target: "/admin/keys", Header: right},
		{ID: "wrong", Method: "GET", Target: "/admin/keys", Header: wrong},
	}
	got, parts := briefs(t, base+"/batch", calls, nil)
	want := []brief{
		{"response-admin", 401, ""},
		{"response-public", 200, "secret /public"},
		{"response-own", 200, "secret /admin/keys"},
		{"response-wrong", 401, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unauthenticated batch: parts (-want +got):\n%s", diff)
	}
	if len(parts) == 4 {
		if c := parts[0].Header.Get("WWW-Authenticate"); c != `Basic realm="restricted"` {
			t.Errorf("the 401 part's WWW-Authenticate is %q, want basic_auth's challenge", c)
		}
	}

	got, _ = briefs(t, base+"/batch", calls, http.Header{"Authorization": {basicAuth("alice", alicePassword)}})
	want = []brief{
		{"response-admin", 200, "secret /admin/keys"},
		{"response-public", 200, "secret /public"},
		{"response-own", 200, "secret /admin/keys"},
		{"response-wrong", 401, ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batch with alice's credentials: parts (-want +got):\n%s", diff)
	}
}

// TestCallsRunEarlierRoutes: the routes before the batch route apply to
// each call: a rewrite, a strip_path_prefix, a subroute that answers
// (handle_path), and response headers set by a headers handler; a call
// that none of them matches goes on to the routes after the batch.
func TestCallsRunEarlierRoutes(t *testing.T) {
	base, _ := startCaddy(t,
		route(obj{"handler": "headers", "response": obj{"set": obj{"X-Frame-Options": []string{"DENY"}}}}),
		obj{"match": []obj{{"path": []string{"/old"}}}, "handle": []obj{{"handler": "rewrite", "uri": "/new"}}},
		obj{"match": []obj{{"path": []string{"/api/*"}}}, "handle": []obj{{"handler": "rewrite", "strip_path_prefix": "/api"}}},
		obj{"match": []obj{{"path": []string{"/files/*"}}}, "handle": []obj{{"handler": "subroute", "routes": []obj{
			route(obj{"handler": "rewrite", "strip_path_prefix": "/files"}),
			route(respond("file {http.request.uri.path}")),
		}}}},
		batchRoute(nil),
		route(respond("path {http.request.uri.path} was {http.request.orig_uri.path}")))

	calls := []call{
		{ID: "old", Method: "GET", Target: "/old"},
		{ID: "api", Method: "GET", Target: "/api/items"},
		{ID: "file", Method: "GET", Target: "/files/a.txt"},
		{ID: "other", Method: "GET", Target: "/other"},
	}
	got, parts := briefs(t, base+"/batch", calls, nil)
	want := []brief{
		{"response-old", 200, "path /new was /old"},
		{"response-api", 200, "path /items was /api/items"},
		{"response-file", 200, "file /a.txt"},
		{"response-other", 200, "path /other was /other"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
	for _, p := range parts {
		if v := p.Header.Get("X-Frame-Options"); v != "DENY" {
			t.Errorf("part %s: X-Frame-Options %q, want the headers handler's DENY", p.ContentID, v)
		}
	}
}

// TestCallErrorRoutes: an error in a call's route goes through the
// server's error routes, as a lone request's does, and their response is
// the call's part.
func TestCallErrorRoutes(t *testing.T) {
	base, _ := startServer(t, obj{
		"routes": []obj{
			authRoute("/admin/*"),
			batchRoute(nil),
			{"match": []obj{{"path": []string{"/teapot"}}}, "handle": []obj{{"handler": "error", "status_code": 418, "error": "short and stout"}}},
			route(respond("ok {http.request.uri.path}")),
		},
		"errors": obj{"routes": []obj{route(obj{
			"handler":     "static_response",
			"status_code": "{http.error.status_code}",
			"body":        "error {http.error.status_code}: {http.error.message} at {http.request.uri.path}",
		})}},
	})
	calls := []call{
		{ID: "admin", Method: "GET", Target: "/admin/keys"},
		{ID: "teapot", Method: "GET", Target: "/teapot"},
		{ID: "ok", Method: "GET", Target: "/fine"},
	}
	got, _ := briefs(t, base+"/batch", calls, nil)
	want := []brief{
		{"response-admin", 401, "error 401: not authenticated at /admin/keys"},
		{"response-teapot", 418, "error 418: short and stout at /teapot"},
		{"response-ok", 200, "ok /fine"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
}

// nestedBody is a multipart batch of one GET call, boundary "inner".
const nestedBody = "--inner\r\nContent-Type: application/http\r\n\r\nGET /items/nested HTTP/1.1\r\n\r\n\r\n--inner--\r\n"

// TestNestedBatchRefused: a call that reaches a batch handler, the one
// that unwrapped it or another on the same server, is not served as a
// batch: it answers 400 in its part, saying why, and none of the calls
// it holds runs. The batch's other calls run.
func TestNestedBatchRefused(t *testing.T) {
	up := newUpstream(t, "a")
	base, _ := startCaddy(t,
		batchRoute(nil),
		obj{"match": []obj{{"path": []string{"/batch2"}}}, "handle": []obj{{"handler": "batch"}}},
		route(proxyTo(up.dial())))

	multipart := "Content-Type: multipart/mixed; boundary=inner\r\n"
	jsonBatch := `{"requests":[{"id":"1","method":"GET","url":"/items/nested"}]}`
	calls := []call{
		{ID: "same", Method: "POST", Target: "/batch", Header: multipart, Body: nestedBody},
		{ID: "other", Method: "POST", Target: "/batch2", Header: multipart, Body: nestedBody},
		{ID: "json", Method: "POST", Target: "/batch", Header: "Content-Type: application/json\r\n", Body: jsonBatch},
		{ID: "get", Method: "GET", Target: "/batch"},
		{ID: "plain", Method: "GET", Target: "/items/1"},
	}
	got, _ := briefs(t, base+"/batch", calls, nil)
	const refused = "batch: a call of a batch reached a batch handler; batches do not nest"
	want := []brief{
		{"response-same", 400, refused},
		{"response-other", 400, refused},
		{"response-json", 400, refused},
		{"response-get", 400, refused},
		{"response-plain", 200, "/items/1"},
	}
	if len(got) == len(want) {
		e, _ := readEcho(got[4].Body)
		got[4].Body = e.Path
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if diff := cmp.Diff([]string{"/items/1"}, up.paths); diff != "" {
		t.Errorf("paths the upstream served (-want +got):\n%s", diff)
	}
}

// TestCallClientIP: behind a trusted proxy (trusted_proxies 127.0.0.1,
// client_ip_headers X-Real-IP and X-Forwarded-For), a call's client IP
// is the batch request's: the X-Forwarded-For and X-Real-IP a call
// carries come from the client, inside the batch body, not from the
// proxy, and change neither the client_ip matcher, nor the {client_ip}
// placeholder, nor the X-Forwarded-* headers reverse_proxy sends
// upstream, nor the X-Real-IP and Forwarded it passes on. The
// connection's address ({remote_host}) is the batch's.
func TestCallClientIP(t *testing.T) {
	up := newUpstream(t, "a")
	base, _ := startServer(t, obj{
		"trusted_proxies":   obj{"source": "static", "ranges": []string{"127.0.0.1/32"}},
		"client_ip_headers": []string{"X-Real-IP", "X-Forwarded-For"},
		"routes": []obj{
			batchRoute(nil),
			{"match": []obj{{"path": []string{"/up/*"}}}, "handle": []obj{proxyTo(up.dial())}},
			{"match": []obj{{"client_ip": obj{"ranges": []string{"198.51.100.0/24"}}}}, "handle": []obj{respond("spoofed")}},
			route(respond("{http.vars.client_ip} {http.request.remote.host}")),
		},
	})
	spoof := "X-Forwarded-For: 198.51.100.66\r\nX-Real-IP: 198.51.100.66\r\n" +
		"X-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nForwarded: for=198.51.100.66\r\n"
	calls := []call{
		{ID: "plain", Method: "GET", Target: "/ip"},
		{ID: "xff", Method: "GET", Target: "/ip", Header: "X-Forwarded-For: 198.51.100.66\r\n"},
		{ID: "realip", Method: "GET", Target: "/ip", Header: "X-Real-IP: 198.51.100.66\r\n"},
		{ID: "up", Method: "GET", Target: "/up/x", Header: spoof},
	}
	host := strings.TrimPrefix(base, "http://")

	// The proxy says the client is 203.0.113.7.
	proxied := http.Header{"X-Forwarded-For": {"203.0.113.7"}, "Forwarded": {"for=203.0.113.7"}}
	got, parts := briefs(t, base+"/batch", calls, proxied)
	wantUp := echo{Upstream: "a", Method: "GET", Path: "/up/x", XFF: "203.0.113.7, 127.0.0.1", XFHost: host, XFProto: "http", Fwd: "for=203.0.113.7"}
	checkClientIP(t, "behind the proxy", got, parts, "203.0.113.7 127.0.0.1", wantUp)

	// The proxy's own request: the client is the proxy.
	got, parts = briefs(t, base+"/batch", calls, nil)
	wantUp.XFF, wantUp.Fwd = "127.0.0.1", ""
	checkClientIP(t, "from the proxy", got, parts, "127.0.0.1 127.0.0.1", wantUp)
}

// checkClientIP checks the parts of TestCallClientIP's batch: the /ip
// calls answer ip, the upstream saw up.
func checkClientIP(t *testing.T, what string, got []brief, parts []part, ip string, up echo) {
	t.Helper()
	if len(got) != 4 {
		t.Fatalf("%s: %d parts: %v", what, len(got), got)
	}
	want := []brief{{"response-plain", 200, ip}, {"response-xff", 200, ip}, {"response-realip", 200, ip}}
	if diff := cmp.Diff(want, got[:3]); diff != "" {
		t.Errorf("%s: parts (-want +got):\n%s", what, diff)
	}
	e, err := readEcho(parts[3].Body)
	if err != nil {
		t.Fatalf("%s: upstream part: %v: %q", what, err, parts[3].Body)
	}
	if diff := cmp.Diff(up, e); diff != "" {
		t.Errorf("%s: what the upstream saw (-want +got):\n%s", what, diff)
	}
}

// TestPlainCallsServed: calls that no route before the batch touches
// are answered as before: 300 concurrent calls through vars and respond,
// each with its own placeholders, variables and status, and each part
// with Caddy's Server header, as a lone response has. A vars handler
// before the batch runs for each call, with the call's path.
func TestPlainCallsServed(t *testing.T) {
	base, _ := startCaddy(t,
		route(obj{"handler": "vars", "before": "{http.request.uri.path}"}),
		batchRoute(obj{"concurrency": 16}),
		route(obj{"handler": "vars", "n": "{http.request.uri.query.n}"}),
		route(obj{"handler": "static_response", "status_code": "20{http.vars.n}",
			"body": "{http.request.method} {http.request.uri} {http.vars.before} {http.vars.n} {http.request.header.X-Call}"}))

	var calls []call
	var want []brief
	for i := range 300 {
		n := i % 4 // 200 to 203, statuses with a body
		id := fmt.Sprint(i)
		calls = append(calls, call{ID: id, Method: "GET", Target: fmt.Sprintf("/c/%d?n=%d", i, n), Header: "X-Call: " + id + "\r\n"})
		want = append(want, brief{"response-" + id, 200 + n, fmt.Sprintf("GET /c/%d?n=%d /c/%d %d %s", i, n, i, n, id)})
	}
	got, parts := briefs(t, base+"/batch", calls, nil)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
	for _, p := range parts {
		if s := p.Header.Get("Server"); s != "Caddy" {
			t.Errorf("part %s: Server %q, want Caddy", p.ContentID, s)
			break
		}
	}
}

// TestCallsAccessLogged: with access logs on, each call has its own
// access log entry, as a lone request has, besides the batch request's.
func TestCallsAccessLogged(t *testing.T) {
	base, log := startServer(t, obj{
		"logs":   obj{},
		"routes": []obj{batchRoute(nil), route(respond("ok"))},
	})
	calls := []call{{ID: "a", Method: "GET", Target: "/a"}, {ID: "b", Method: "DELETE", Target: "/b"}}
	briefs(t, base+"/batch", calls, nil)
	want := map[string]float64{"POST /batch": 200, "GET /a": 200, "DELETE /b": 200}
	var got map[string]float64
	// The batch request's entry is written once its handler has
	// returned, which may be after its client has read the response.
	for try := 0; try < 100; try++ {
		if try > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		got = map[string]float64{}
		for _, l := range logLines(t, log) {
			if l["msg"] != "handled request" {
				continue
			}
			req, _ := l["request"].(map[string]any)
			got[fmt.Sprint(req["method"], " ", req["uri"])], _ = l["status"].(float64)
		}
		if len(got) >= len(want) {
			break
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access log entries (-want +got):\n%s", diff)
	}
}

// TestCaddyfileSite is the README's case, as a Caddyfile: basic_auth,
// rewrite and handle_path, which Caddy orders before batch, and a
// respond without matcher, which it orders after, all apply to each call;
// the batch request itself reaches the batch handler.
func TestCaddyfileSite(t *testing.T) {
	base, _ := startCaddyfile(t, `
	basic_auth /admin/* {
		alice `+aliceHash+`
	}
	rewrite /old /new
	handle_path /files/* {
		respond "file {path}"
	}
	batch /batch
	respond "secret {path}"
`)
	calls := []call{
		{ID: "admin", Method: "GET", Target: "/admin/keys"},
		{ID: "old", Method: "GET", Target: "/old"},
		{ID: "file", Method: "GET", Target: "/files/a.txt"},
		{ID: "pub", Method: "GET", Target: "/pub"},
	}
	got, _ := briefs(t, base+"/batch", calls, nil)
	want := []brief{
		{"response-admin", 401, ""},
		{"response-old", 200, "secret /new"},
		{"response-file", 200, "file /a.txt"},
		{"response-pub", 200, "secret /pub"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
}

// TestCallFullDuplex: with enable_full_duplex, Caddy's server asks each
// HTTP/1 request's ResponseWriter for full duplex, and warns when it is
// refused; a call, whose body is in memory, is full duplex, and its
// ResponseWriter says so.
func TestCallFullDuplex(t *testing.T) {
	base, log := startServer(t, obj{
		"enable_full_duplex": true,
		"routes":             []obj{batchRoute(nil), route(respond("ok"))},
	}, "http.log")
	got, _ := briefs(t, base+"/batch", gets(3), nil)
	want := []brief{{"response-c0", 200, "ok"}, {"response-c1", 200, "ok"}, {"response-c2", 200, "ok"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
	for _, l := range logLines(t, log) {
		if l["msg"] == "failed to enable full duplex" {
			t.Errorf("Caddy's log: %v", l)
		}
	}
}

// idleProbe is a test handler module: on the batch request (path /batch)
// it records the IdleTimeoutWriter in its context and goes on; on any
// other request it answers whether it has an IdleTimeoutWriter of its
// own and whether it is the batch request's.
type idleProbe struct{}

var batchIdleWriter atomic.Pointer[caddyhttp.IdleTimeoutWriter]

func (idleProbe) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.batch_test_idle", New: func() caddy.Module { return new(idleProbe) }}
}

func (idleProbe) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	_, iw := caddyhttp.IdleTimeoutsFromContext(r.Context())
	if r.URL.Path == "/batch" {
		batchIdleWriter.Store(iw)
		return next.ServeHTTP(w, r)
	}
	fmt.Fprintf(w, "writer %t, the batch's %t", iw != nil, iw != nil && iw == batchIdleWriter.Load())
	return nil
}

func init() { caddy.RegisterModule(idleProbe{}) }

// TestCallTimeoutsOwn: a timeouts handler that runs for a call sets the
// call's own write timeout, never the batch request's: with the server's
// idle timeouts off, the batch request's timeouts handler wraps its
// ResponseWriter and puts the wrapper in its context, which the calls'
// contexts descend from; were it theirs, the calls, running at once,
// would override the connection's deadlines under one another.
func TestCallTimeoutsOwn(t *testing.T) {
	base, _ := startServer(t, obj{
		"read_idle_timeout":  -1,
		"write_idle_timeout": -1,
		"routes": []obj{
			route(obj{"handler": "timeouts", "write_timeout": 10e9}),
			route(obj{"handler": "batch_test_idle"}),
			batchRoute(nil),
		},
	})
	got, _ := briefs(t, base+"/batch", gets(2), nil)
	want := []brief{{"response-c0", 200, "writer true, the batch's false"}, {"response-c1", 200, "writer true, the batch's false"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
	if batchIdleWriter.Load() == nil {
		t.Error("the batch request had no IdleTimeoutWriter: the test shows nothing")
	}
}
