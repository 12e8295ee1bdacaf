package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
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
	return serveGateway(t, "http://"+up.addr+"/api/v1", nil), up
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
	resp, b := sendBatch(t, gw, "", hdr, calls...)
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
// an upstream reads, however a client spells them, and X-Real-IP, which it
// does not set, none: a name with
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
	gw := serveGateway(t, up.URL, nil)
	spoof := "X_Forwarded_For: 6.6.6.6\r\nX-Forwarded_Host: evil.example\r\nx_forwarded_proto: https\r\nX_FORWARDED_FOR: 6.6.6.7\r\nX-Real-IP: 6.6.6.9\r\n"
	outer := http.Header{"X_forwarded_for": {"6.6.6.8"}, "X_real_ip": {"6.6.6.10"}}
	got := postCalls(t, gw, outer, "GET /call HTTP/1.1\r\n"+spoof, "GET /inherited HTTP/1.1\r\n")
	if got[0].Status != 200 || got[1].Status != 200 {
		t.Fatalf("statuses %d, %d", got[0].Status, got[1].Status)
	}
	req, _ := http.NewRequest("GET", "http://"+gw+"/direct", nil)
	req.Header = http.Header{"X_forwarded_for": {"6.6.6.6"}, "X-Forwarded_host": {"evil.example"}, "X-Real-Ip": {"6.6.6.11"}}
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
			case "x-real-ip":
				t.Errorf("request %d: the upstream read %s: %q, a client's, which the gateway does not set", i, name, vv)
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

// A direct chunked request's trailer fields reach the upstream neither as
// values nor as names declared: the gateway's proxy would forward the
// names that net/http's server lists in the request's Trailer (with nil
// values, the values arriving in the request the proxy copied, not in its
// copy), as it did before calls' trailers were declared.
func TestSmuggleGatewayDirectTrailer(t *testing.T) {
	gw, up := startRawGateway(t, nil)
	conn, err := net.Dial("tcp", gw)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /direct HTTP/1.1\r\nHost: "+gw+"\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nTrailer: Host, Authorization\r\n\r\n3\r\nabc\r\n0\r\nHost: evil.example\r\nAuthorization: Bearer stolen\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := up.requests()
	if resp.StatusCode != 200 || len(got) != 1 {
		t.Fatalf("status %d, the upstream read %d requests; want 200 and one", resp.StatusCode, len(got))
	}
	if s := got[0]; s.Body != "abc" || len(s.Trailer) > 0 || s.Header.Get("Trailer") != "" || s.Header.Get("Authorization") != "" {
		t.Errorf("the upstream read body %q, trailer %v, Trailer field %q, Authorization %q; want body \"abc\", no trailer", s.Body, s.Trailer, s.Header.Get("Trailer"), s.Header.Get("Authorization"))
	}
}

// blankOnly reports whether b holds line ends only: what may follow a
// message in a part.
func blankOnly(b []byte) bool { return strings.Trim(string(b), "\r\n") == "" }

// Each embedded request against net/http, the oracle for what one request
// is. What it refuses, the gateway refuses (400, nothing sent upstream);
// where the gateway is stricter, the case says why. What it reads as one
// request the upstream reads once, with the same method and body, below
// the base path, without the call's trailer fields; bytes it would read as
// a second request either make the call a 400 (after a framed body) or
// are the body of the one request (after a head without framing: a part
// holds one message), never a request of their own upstream.
func TestSmuggleGatewayFraming(t *testing.T) {
	bareLF := "POST PATH HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"
	bareLFStricter := "" // net/http refuses it since Go 1.24.2 (CVE-2025-22871); go.mod allows 1.24.0
	if req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(strings.Replace(bareLF, "PATH", "/", 1)))); err == nil {
		if _, err := io.ReadAll(req.Body); err == nil {
			bareLFStricter = "net/http before Go 1.24.2 reads a bare LF after a chunk size"
		}
	}
	cases := []struct {
		name, msg string // msg: the call, its target PATH
		refused   bool
		stricter  string // why the gateway refuses what net/http reads
	}{
		{"CL and TE", "POST PATH HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", true, "net/http lets chunked win over Content-Length"},
		{"TE and CL", "POST PATH HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", true, "net/http lets chunked win over Content-Length"},
		{"conflicting CLs", "POST PATH HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc", true, ""},
		{"equal CLs", "POST PATH HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", false, ""},
		{"CL list", "POST PATH HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc", true, ""},
		{"CL leading zeros", "POST PATH HTTP/1.1\r\nContent-Length: 003\r\n\r\nabc", false, ""},
		{"CL plus sign", "POST PATH HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", true, ""},
		{"CL white space", "POST PATH HTTP/1.1\r\nContent-Length: \t3 \r\n\r\nabc", false, ""},
		{"chunked, identity", "POST PATH HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n", true, ""},
		{"identity", "POST PATH HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\nabc", true, ""},
		{"two TE fields", "POST PATH HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", true, ""},
		{"CHUNKED", "POST PATH HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false, ""},
		{"TE in HTTP/1.0", "POST PATH HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", true, ""},
		{"extensions and trailers", "POST PATH HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTrailer: Host, Authorization\r\n\r\n3;ext=\"x\"\r\nabc\r\n2;y\r\nde\r\n0\r\nHost: evil.example\r\nAuthorization: Bearer stolen\r\nContent-Length: 99\r\n\r\n", false, ""},
		{"Trailer declares CL", "POST PATH HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 9\r\n\r\n", true, ""},
		{"chunk-size with bare LF", bareLF, true, bareLFStricter},
		{"chunk-size 0x", "POST PATH HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", true, ""},
		{"negative chunk-size", "POST PATH HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n", true, ""},
		{"CL longer than the body", "POST PATH HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc", true, ""},
		{"CL shorter than the body", "POST PATH HTTP/1.1\r\nContent-Length: 1\r\n\r\nabc", true, ""},
		{"request after a CL body", "POST PATH HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", true, ""},
		{"request after a chunked body", "POST PATH HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", true, ""},
		{"request after a head", "GET PATH HTTP/1.1\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", false, ""},
		{"request after an HTTP/1.0 head", "GET PATH HTTP/1.0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", false, ""},
		{"obs-fold", "GET PATH HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", true, "net/http unfolds obsolete line folding"},
		{"obs-fold hiding TE", "POST PATH HTTP/1.1\r\nX-A: a\r\n Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", true, "net/http unfolds obsolete line folding"},
		{"space in a name", "GET PATH HTTP/1.1\r\nX A: a\r\n\r\n", true, "net/http keeps white space inside a field name"},
		{"space before the colon", "POST PATH HTTP/1.1\r\nContent-Length : 3\r\n\r\nabc", true, ""},
		{"underscore in a name", "GET PATH HTTP/1.1\r\nX_A: a\r\n\r\n", false, ""},
		{"NUL in a value", "GET PATH HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", true, ""},
		{"bare CR in a value", "GET PATH HTTP/1.1\r\nX-A: a\rb\r\n\r\n", true, ""},
		{"LF line ends", "POST PATH HTTP/1.1\nContent-Length: 3\n\nabc", false, ""},
		{"head over 64 KiB", "GET PATH HTTP/1.1\r\nX-A: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", true, "the gateway's head limit is MessageOptions' 64 KiB"},
		{"Expect: 100-continue", "POST PATH HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", false, ""},
	}
	gw, up := startRawGateway(t, nil)
	var calls []string
	for i, tc := range cases {
		calls = append(calls, strings.ReplaceAll(tc.msg, "PATH", fmt.Sprintf("/k%02d", i)))
	}
	got := postCalls(t, gw, nil, calls...)
	seen := map[string][]upstreamRequest{}
	for _, s := range up.requests() {
		if s.Err != "" || s.URI == "" {
			t.Errorf("the upstream read bytes that were no request: %s", s.Err)
			continue
		}
		seen[s.URI] = append(seen[s.URI], s)
	}
	for i, tc := range cases {
		uri := fmt.Sprintf("/api/v1/k%02d", i)
		br := bufio.NewReader(strings.NewReader(calls[i]))
		var body []byte
		req, err := http.ReadRequest(br)
		if err == nil {
			body, err = io.ReadAll(req.Body)
		}
		rest, _ := io.ReadAll(br)
		second := err == nil && !blankOnly(rest)
		if tc.refused {
			if got[i].Status != 400 || len(seen[uri]) > 0 {
				t.Errorf("%s: status %d, the upstream read %d requests; want 400 and none", tc.name, got[i].Status, len(seen[uri]))
			}
			if err == nil && !second && tc.stricter == "" {
				t.Errorf("%s: refused, but net/http reads it as one request with body %q", tc.name, body)
			}
			if (err != nil || second) && tc.stricter != "" {
				t.Errorf("%s: net/http refuses it too (%v, %q left): it is no difference", tc.name, err, rest)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: forwarded, but net/http refuses it: %v", tc.name, err)
			continue
		}
		want := string(body)
		if second {
			want = string(rest) // the rest of the part is the body
		}
		if got[i].Status != 200 || len(seen[uri]) != 1 {
			t.Errorf("%s: status %d, the upstream read %d requests for %s; want 200 and one", tc.name, got[i].Status, len(seen[uri]), uri)
			continue
		}
		s := seen[uri][0]
		delete(seen, uri)
		if s.Method != req.Method || s.Body != want || len(s.Trailer) > 0 || s.Host != up.addr || s.Header.Get("Authorization") != "" {
			t.Errorf("%s: the upstream read %s %s, Host %q, body %q, trailer %v, Authorization %q; want %s, Host %q, body %q, no trailer, no Authorization",
				tc.name, s.Method, s.URI, s.Host, s.Body, s.Trailer, s.Header.Get("Authorization"), req.Method, up.addr, want)
		}
	}
	for uri := range seen {
		t.Errorf("the upstream read a request for %s, which no call made", uri)
	}
}

// No call reaches another authority than the upstream, nor a path outside
// its base path, whatever its target, Host or Connection fields say: the
// upstream reads its own Host, a path below /api/v1/, the gateway's
// X-Forwarded-* (a call's Connection field cannot remove them, nor a
// spoofed value stand in for them), no Forwarded and no userinfo's
// Authorization. A target or Host naming another host answers 400; one
// that only looks like it (//host/x, @host/x, backslashes) is a path on
// the batch endpoint.
func TestSmuggleGatewayAuthority(t *testing.T) {
	gw, up := startRawGateway(t, nil)
	cases := []struct {
		msg     string // the call: NAME is a unique path segment, GW the gateway
		refused bool
	}{
		{"GET http://other.example/NAME HTTP/1.1\r\n", true},
		{"GET /NAME HTTP/1.1\r\nHost: other.example\r\n", true},
		{"GET /NAME HTTP/1.1\r\nHost: GW\r\nHost: other.example\r\n", true},
		{"GET http://GW/NAME HTTP/1.1\r\nHost: other.example\r\n", true},
		{"GET https://GW/NAME HTTP/1.1\r\n", true},
		{"GET http://GW@other.example/NAME HTTP/1.1\r\n", true},
		{"CONNECT other.example:443 HTTP/1.1\r\n", true},
		{"CONNECT GW HTTP/1.1\r\n", true},
		{"GET http://user:pw@GW/NAME HTTP/1.1\r\n", false},
		{"GET HTTP://GW/NAME HTTP/1.1\r\nHost: GW\r\n", false},
		{"GET //other.example/NAME HTTP/1.1\r\n", false},
		{"GET ///other.example/NAME HTTP/1.1\r\n", false},
		{"GET @other.example/NAME HTTP/1.1\r\n", false},
		{"GET \\\\other.example\\NAME HTTP/1.1\r\n", false},
		{"GET http:\\\\other.example\\NAME HTTP/1.1\r\n", false},
		{"GET http:other.example/NAME HTTP/1.1\r\n", false},
		{"GET /NAME HTTP/1.1\r\nConnection: X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto\r\n", false},
		{"GET /NAME HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: other.example\r\nX-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6;host=other.example\r\n", false},
	}
	var calls []string
	for i, tc := range cases {
		calls = append(calls, strings.NewReplacer("NAME", fmt.Sprintf("k%02dz", i), "GW", gw).Replace(tc.msg))
	}
	calls = append(calls, "OPTIONS * HTTP/1.1\r\n")
	got := postCalls(t, gw, http.Header{"Connection": {"X-Forwarded-Host"}}, calls...)
	seen := up.requests()
	for i, tc := range cases {
		name := fmt.Sprintf("k%02dz", i)
		n := 0
		for _, s := range seen {
			if strings.Contains(s.URI, name) {
				n++
			}
		}
		if want, wantN := map[bool]int{true: 400, false: 200}[tc.refused], map[bool]int{true: 0, false: 1}[tc.refused]; got[i].Status != want || n != wantN {
			t.Errorf("%q: status %d, %d requests upstream; want %d and %d", calls[i], got[i].Status, n, want, wantN)
		}
	}
	if got[len(cases)].Status != 200 {
		t.Errorf("OPTIONS *: status %d, want 200", got[len(cases)].Status)
	}
	if len(seen) != len(calls)-8 {
		t.Errorf("the upstream read %d requests, want %d", len(seen), len(calls)-8)
	}
	for _, s := range seen {
		p, inside := resolveParams(s.URI)
		fwd := []string{s.Header.Get("X-Forwarded-For"), s.Header.Get("X-Forwarded-Host"), s.Header.Get("X-Forwarded-Proto")}
		if s.Err != "" || s.Host != up.addr || !inside || !strings.HasPrefix(p, "/api/v1/") ||
			!cmp.Equal(fwd, []string{"127.0.0.1", gw, "http"}) || s.Header.Get("Forwarded") != "" || s.Header.Get("Authorization") != "" {
			t.Errorf("the upstream read %s %s (%s), Host %q, X-Forwarded-For, -Host, -Proto %q, Forwarded %q, Authorization %q",
				s.Method, s.URI, s.Err, s.Host, fwd, s.Header.Get("Forwarded"), s.Header.Get("Authorization"))
		}
	}
}

// Upstream responses against net/http's client, the oracle: a part gives
// the status, body and fields the oracle reads, past interim (1xx)
// responses, whose fields stay out; what the oracle refuses answers 502.
// No answer comes out as anything but its own part's body.
func TestSmuggleGatewayResponses(t *testing.T) {
	answers := []string{
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: identity\r\n\r\nok",
		"HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 2\n\nok",
	}
	fake := "\r\n--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\n\r\ninjected\r\n--b--\r\n"
	answers = append(answers, "HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Length: "+strconv.Itoa(len(fake))+"\r\n\r\n"+fake)
	gw, _ := startRawGateway(t, func(r *http.Request) string {
		i, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/api/v1/r"))
		return answers[i]
	})
	var calls []string
	for i := range answers {
		calls = append(calls, fmt.Sprintf("GET /r%d HTTP/1.1\r\n", i))
	}
	got := postCalls(t, gw, nil, calls...)
	for i, a := range answers {
		want := callResult{Status: http.StatusBadGateway, Header: http.Header{}}
		br := bufio.NewReader(strings.NewReader(a))
		resp, err := http.ReadResponse(br, nil)
		for err == nil && resp.StatusCode/100 == 1 {
			resp, err = http.ReadResponse(br, nil)
		}
		if err == nil {
			var b []byte
			if b, err = io.ReadAll(resp.Body); err == nil {
				want = callResult{resp.StatusCode, resp.Header, string(b)}
				delete(want.Header, "Content-Length")
			}
		}
		delete(got[i].Header, "Content-Length")
		if diff := cmp.Diff(want, got[i]); diff != "" {
			t.Errorf("%q: the part against net/http's reading (%v) (-want +got):\n%s", a, err, diff)
		}
	}
}
