package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
)

// The attacks of these tests come from a client whose batch reaches an
// upstream that trusts the gateway; net/http reads what the upstream
// receives, as the upstream's own server would, request by request off
// the raw connection (a second request, or bytes no request starts with,
// included), and is the oracle for what one embedded request is.

// rawUpstream is an upstream that reads each request with net/http's
// parser off its raw connections and answers it with raw bytes, which no
// net/http handler could write.
type rawUpstream struct {
	addr   string
	answer func(r *http.Request) string // the raw response; nil: a 200 "ok"
	mu     sync.Mutex
	got    []upstreamRequest
}

// upstreamRequest is what the upstream read: a request, or the error of
// bytes that were none.
type upstreamRequest struct {
	Method, URI, Host string
	Header, Trailer   http.Header
	Body              string
	Err               string
}

func startRawUpstream(t *testing.T, answer func(r *http.Request) string) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{addr: ln.Addr().String(), answer: answer}
	var wg sync.WaitGroup
	var cmu sync.Mutex
	conns := map[net.Conn]bool{}
	t.Cleanup(func() {
		ln.Close()
		// The gateway's transport keeps its idle connections open.
		cmu.Lock()
		for c := range conns {
			c.Close()
		}
		cmu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cmu.Lock()
			conns[c] = true
			cmu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				u.serveConn(c)
			}()
		}
	}()
	return u
}

func (u *rawUpstream) serveConn(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				u.record(upstreamRequest{Err: err.Error()})
			}
			return
		}
		if req.Header.Get("Expect") == "100-continue" {
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
		}
		body, err := io.ReadAll(req.Body)
		r := upstreamRequest{Method: req.Method, URI: req.RequestURI, Host: req.Host, Header: req.Header, Trailer: req.Trailer, Body: string(body)}
		if err != nil {
			r.Err = err.Error()
		}
		u.record(r)
		answer := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
		if u.answer != nil {
			answer = u.answer(req)
		}
		if _, err := io.WriteString(c, answer); err != nil || r.Err != "" {
			return
		}
	}
}

func (u *rawUpstream) record(r upstreamRequest) {
	u.mu.Lock()
	u.got = append(u.got, r)
	u.mu.Unlock()
}

// requests returns what the upstream has read so far, and forgets it.
func (u *rawUpstream) requests() []upstreamRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	got := u.got
	u.got = nil
	return got
}

// startRawGateway runs serve in front of a rawUpstream with the base path
// /api/v1.
func startRawGateway(t *testing.T, answer func(r *http.Request) string) (gw string, up *rawUpstream) {
	t.Helper()
	up = startRawUpstream(t, answer)
	u, err := parseUpstream("http://" + up.addr + "/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.upstream = u
	return startServe(t, upstreamHandler(u, io.Discard), cfg, io.Discard), up
}

// callResult is a response part as these tests compare it.
type callResult struct {
	Status int
	Header http.Header
	Body   string
}

// postCalls posts calls (embedded requests, as written) as one batch to
// the gateway gw, with the outer fields hdr, and reads each response part;
// a HEAD call's part is read as the answer to HEAD.
func postCalls(t *testing.T, gw string, hdr http.Header, calls ...string) []callResult {
	t.Helper()
	var body strings.Builder
	for i, c := range calls {
		fmt.Fprintf(&body, "--b\r\nContent-Type: application/http\r\nContent-ID: c%d\r\n\r\n%s\r\n", i, c)
	}
	body.WriteString("--b--\r\n")
	req, _ := http.NewRequest("POST", "http://"+gw+"/batch/farm/v1", strings.NewReader(body.String()))
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("batch: %s %s", resp.Status, b)
	}
	b, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	r := mixed.NewReader(resp.Body, b)
	var out []callResult
	for i := 0; ; i++ {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		method := ""
		if i < len(calls) && strings.HasPrefix(calls[i], "HEAD ") {
			method = "HEAD"
		}
		m, err := mixed.NewMessageReader(p).ReadResponse(method)
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		res := callResult{Status: m.StatusCode, Header: m.Header.HTTPHeader()}
		bb, err := io.ReadAll(m.Body)
		if err != nil {
			t.Fatalf("part %d: body: %v", i, err)
		}
		res.Body = string(bb)
		out = append(out, res)
	}
	if len(out) != len(calls) {
		t.Fatalf("%d response parts for %d calls", len(out), len(calls))
	}
	return out
}

// directGet sends target as the request line of a direct request to gw,
// and returns its status.
func directGet(t *testing.T, gw, target string) int {
	t.Helper()
	conn, err := net.Dial("tcp", gw)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET "+target+" HTTP/1.1\r\nHost: "+gw+"\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("direct %q: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// resolveParams resolves a request URI's path as a server that takes path
// parameters off each segment before it resolves dot segments (Tomcat,
// Jetty, Spring: "/a/..;x/b" is "/b" to them) could, decoding %2E, %3B,
// %2F and backslashes as resolve does, and reports whether it stays
// below the root.
func resolveParams(uri string) (string, bool) {
	p, _, _ := strings.Cut(uri, "?")
	p = strings.NewReplacer("%3b", ";", "%3B", ";").Replace(p)
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ";")
	}
	return resolve(strings.Join(segs, "/"))
}

// A segment that is a dot segment once its path parameters are taken off
// ("..;", "..;x=1", "%2e%2e;", "..%3b") is one to the servers that take
// them off first, as Tomcat, Jetty and Spring do: behind the base path
// /api/v1, "/..;/admin" was /api/admin to them. The gateway answers 400
// to such a path, in a call or not, as to any dot segment; a segment with
// parameters that is no dot segment goes through.
func TestSmuggleGatewayPathParameters(t *testing.T) {
	gw, up := startRawGateway(t, nil)
	escapes := []string{
		"/..;/admin",
		"/..;jsessionid=1/admin",
		"/farm/..;/..;/..;/admin",
		"/%2e%2e;/admin",
		"/.%2E;x/.%2e;y/admin",
		"/..%3b/admin",
		"/..%3Bx/admin",
		"/..;/..%5c..;%5cadmin",
	}
	var calls []string
	for _, e := range escapes {
		calls = append(calls, "GET "+e+" HTTP/1.1\r\n")
	}
	calls = append(calls, "GET /farm;v=1/ok;jsessionid=1 HTTP/1.1\r\n", "GET /a..;/b HTTP/1.1\r\n")
	var codes []int
	for _, r := range postCalls(t, gw, nil, calls...) {
		codes = append(codes, r.Status)
	}
	for _, e := range escapes {
		codes = append(codes, directGet(t, gw, e))
	}
	want := make([]int, 0, 2*len(escapes)+2)
	for range escapes {
		want = append(want, 400)
	}
	want = append(want, 200, 200)
	for range escapes {
		want = append(want, 400)
	}
	if diff := cmp.Diff(want, codes); diff != "" {
		t.Errorf("the calls' statuses, then the direct requests' (-want +got):\n%s", diff)
	}
	seen := up.requests()
	if len(seen) != 2 {
		t.Errorf("the upstream read %d requests, want the 2 without dot segments", len(seen))
	}
	for _, s := range seen {
		if p, inside := resolveParams(s.URI); !inside || !strings.HasPrefix(p, "/api/v1/") {
			t.Errorf("the upstream read %q, which resolves to %q, outside /api/v1/", s.URI, p)
		}
	}
}

// The forwarding fields the gateway sets are the only ones of their names
// an upstream reads, however a client spells them: a name with
// underscores for dashes ("X_Forwarded_For") is the same field to the
// servers that map names to CGI-style variables (HTTP_X_FORWARDED_FOR),
// PHP's, Rack's and WSGI's among them, and it went through, beside the
// gateway's own, in a call, inherited from the batch request, or direct.
func TestSmuggleGatewayForwardingFieldSpellings(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header)
		mu.Unlock()
	}))
	defer up.Close()
	u, err := parseUpstream(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.upstream = u
	gw := startServe(t, upstreamHandler(u, io.Discard), cfg, io.Discard)
	spoof := "X_Forwarded_For: 6.6.6.6\r\nX-Forwarded_Host: evil.example\r\nx_forwarded_proto: https\r\nX_FORWARDED_FOR: 6.6.6.7\r\n"
	outer := http.Header{"X_forwarded_for": {"6.6.6.8"}}
	got := postCalls(t, gw, outer, "GET /call HTTP/1.1\r\n"+spoof, "GET /inherited HTTP/1.1\r\n")
	if got[0].Status != 200 || got[1].Status != 200 {
		t.Fatalf("statuses %d, %d", got[0].Status, got[1].Status)
	}
	req, _ := http.NewRequest("GET", "http://"+gw+"/direct", nil)
	req.Header = http.Header{"X_forwarded_for": {"6.6.6.6"}, "X-Forwarded_host": {"evil.example"}}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("the upstream read %d requests, want 3", len(seen))
	}
	own := map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": gw, "X-Forwarded-Proto": "http"}
	for i, h := range seen {
		for name, vv := range h {
			spelled := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
			switch spelled {
			case "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "forwarded":
				if want, ok := own[name]; !ok || len(vv) != 1 || vv[0] != want {
					t.Errorf("request %d: the upstream read %s: %q, which it may take for the gateway's %s", i, name, vv, spelled)
				}
			}
		}
	}
}

// An upstream's trailer fields never become header fields of a call's
// part: httputil.ReverseProxy sets them on the call's ResponseWriter after
// its body, and the part of a call behind a slower one, written when it
// ends, carried them as header fields (declared ones), or answered 500
// (undeclared ones, which the proxy names "Trailer:X"). RFC 9110 §6.5.2
// forbids the merge, and net/http's client, the oracle, keeps them apart.
func TestSmuggleGatewayUpstreamTrailers(t *testing.T) {
	answered := make(chan struct{}, 2)
	gw, _ := startRawGateway(t, func(r *http.Request) string {
		switch r.URL.Path {
		case "/api/v1/slow":
			<-answered
			<-answered
			// Time for the gateway to take in the others' answers, so
			// that their parts wait for this one.
			time.Sleep(100 * time.Millisecond)
			return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nslow"
		case "/api/v1/declared":
			defer func() { answered <- struct{}{} }()
			return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTrailer: Location, Set-Cookie\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nLocation: http://evil.example/\r\nSet-Cookie: s=evil\r\n\r\n"
		default:
			defer func() { answered <- struct{}{} }()
			return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Undeclared: 1\r\n\r\n"
		}
	})
	got := postCalls(t, gw, nil, "GET /slow HTTP/1.1\r\n", "GET /declared HTTP/1.1\r\n", "GET /undeclared HTTP/1.1\r\n")
	for _, g := range got {
		g.Header.Del("Content-Length")
	}
	plain := http.Header{"Content-Type": {"text/plain"}}
	want := []callResult{{200, plain, "slow"}, {200, plain, "ok"}, {200, plain, "ok"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
}
