package mixed

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

type ctxKey struct{}

func TestHTTPRequestConversion(t *testing.T) {
	base, _ := url.Parse("https://services.odata.org/V4/Northwind/")
	type conv struct {
		Method, URL, Host, RequestURI, Proto string
		Header, Trailer                      http.Header
		ContentLength                        int64
		TransferEncoding                     []string
		Body                                 string
	}
	tests := []struct {
		name string
		opts MessageOptions
		in   string
		base *url.URL
		want conv
	}{
		{"origin-form: scheme and host from base, Host field dropped", MessageOptions{},
			"PUT /farm/v1/animals/sheep HTTP/1.1\r\nHost: evil.example\r\nContent-Type: application/json\r\ncontent-length: 2\r\n\r\n{}", base,
			conv{Method: "PUT", URL: "https://services.odata.org/farm/v1/animals/sheep", Host: "services.odata.org", RequestURI: "/farm/v1/animals/sheep", Proto: "HTTP/1.1",
				Header: http.Header{"Content-Type": {"application/json"}, "Content-Length": {"2"}}, ContentLength: 2, Body: "{}"}},
		{"network-path-looking target stays on base host", MessageOptions{},
			"GET //evil.example/x?a=b\r\n", base,
			conv{Method: "GET", URL: "https://services.odata.org//evil.example/x?a=b", Host: "services.odata.org", RequestURI: "//evil.example/x?a=b", Proto: "HTTP/1.1",
				Header: http.Header{}}},
		{"relative OData target resolved against the service root", MessageOptions{AllowRelativeTargets: true},
			"GET Customers('ALFKI')?$select=Name HTTP/1.1\r\n\r\n", base,
			conv{Method: "GET", URL: "https://services.odata.org/V4/Northwind/Customers('ALFKI')?$select=Name", Host: "services.odata.org", RequestURI: "Customers('ALFKI')?$select=Name", Proto: "HTTP/1.1",
				Header: http.Header{}, ContentLength: -1}},
		{"relative target with colon", MessageOptions{AllowRelativeTargets: true},
			"POST people:createContact HTTP/1.1\r\nContent-Length: 0\r\n\r\n", base,
			conv{Method: "POST", URL: "https://services.odata.org/V4/Northwind/people:createContact", Host: "services.odata.org", RequestURI: "people:createContact", Proto: "HTTP/1.1",
				Header: http.Header{"Content-Length": {"0"}}}},
		{"absolute-form when allowed", MessageOptions{AllowAbsoluteTargets: true},
			"GET https://www.googleapis.com/drive/v3/files HTTP/1.1\r\n\r\n", base,
			conv{Method: "GET", URL: "https://www.googleapis.com/drive/v3/files", Host: "www.googleapis.com", RequestURI: "https://www.googleapis.com/drive/v3/files", Proto: "HTTP/1.1",
				Header: http.Header{}, ContentLength: -1}},
		{"authority-form when allowed: its own host", MessageOptions{AllowAbsoluteTargets: true},
			"CONNECT www.googleapis.com:443 HTTP/1.1\r\n\r\n", base,
			conv{Method: "CONNECT", URL: "//www.googleapis.com:443", Host: "www.googleapis.com:443", RequestURI: "www.googleapis.com:443", Proto: "HTTP/1.1",
				Header: http.Header{}, ContentLength: -1}},
		{"CONNECT with a path, as net/http reads it (net/rpc's)", MessageOptions{AllowAbsoluteTargets: true},
			"CONNECT /_goRPC_ HTTP/1.0\r\n\r\n", nil,
			conv{Method: "CONNECT", URL: "/_goRPC_", RequestURI: "/_goRPC_", Proto: "HTTP/1.0",
				Header: http.Header{}, ContentLength: -1}},
		{"chunked with trailer, nil base", MessageOptions{},
			"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n", nil,
			conv{Method: "POST", URL: "/x", RequestURI: "/x", Proto: "HTTP/1.1",
				Header: http.Header{"Transfer-Encoding": {"chunked"}}, Trailer: http.Header{"X-Sum": {"1"}}, ContentLength: -1, TransferEncoding: []string{"chunked"}, Body: "abc"}},
		{"HTTP/1.0", MessageOptions{},
			"POST /x HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", nil,
			conv{Method: "POST", URL: "/x", RequestURI: "/x", Proto: "HTTP/1.0",
				Header: http.Header{"Content-Length": {"3"}}, ContentLength: 3, Body: "abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMessageReaderOptions(strings.NewReader(tt.in), tt.opts)
			r, err := m.ReadRequest()
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.WithValue(context.Background(), ctxKey{}, 1)
			req, err := r.HTTPRequest(ctx, tt.base)
			if err != nil {
				t.Fatal(err)
			}
			if req.Context().Value(ctxKey{}) != 1 {
				t.Error("context not passed on")
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			got := conv{Method: req.Method, URL: req.URL.String(), Host: req.Host, RequestURI: req.RequestURI, Proto: req.Proto,
				Header: req.Header, Trailer: req.Trailer, ContentLength: req.ContentLength, TransferEncoding: req.TransferEncoding, Body: string(body)}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestHTTPResponseConversion(t *testing.T) {
	in := "HTTP/1.1 201\r\nContent-Type: application/json\r\nETag: \"1\"\r\nContent-Length: 2\r\n\r\n{}\r\n"
	m := NewMessageReader(strings.NewReader(in))
	r, err := m.ReadResponse("")
	if err != nil {
		t.Fatal(err)
	}
	req := &http.Request{Method: "POST"}
	resp := r.HTTPResponse(req)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	type conv struct {
		Status     string
		StatusCode int
		Proto      string
		Header     http.Header
		CL         int64
		Body       string
		SameReq    bool
	}
	want := conv{"201 Created", 201, "HTTP/1.1", http.Header{"Content-Type": {"application/json"}, "Etag": {`"1"`}, "Content-Length": {"2"}}, 2, "{}", true}
	got := conv{resp.Status, resp.StatusCode, resp.Proto, resp.Header, resp.ContentLength, string(body), resp.Request == req}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A 304 read from the Calendar seed converts to a response with no body.
func TestHTTPResponseConversionNoBody(t *testing.T) {
	m := NewMessageReader(strings.NewReader("HTTP/1.1 304 Not Modified\r\nETag: \"etag/animals\"\r\n"))
	r, err := m.ReadResponse("GET")
	if err != nil {
		t.Fatal(err)
	}
	resp := r.HTTPResponse(nil)
	if resp.Body != http.NoBody || resp.ContentLength != 0 {
		t.Errorf("Body %v, ContentLength %d: want http.NoBody, 0", resp.Body, resp.ContentLength)
	}
}

// A response without body converts as net/http reads it: TransferEncoding
// for a chunked Transfer-Encoding field (whose Trailer field moves to
// Trailer), a Body of http.NoBody, and for an answer to HEAD the
// ContentLength its Content-Length field announces, or -1, whether the
// MessageReader or the request passed says it was HEAD.
func TestHTTPResponseBodilessVsStd(t *testing.T) {
	type conv struct {
		TransferEncoding []string
		ContentLength    int64
		NoBody           bool
		Trailer          http.Header
	}
	for _, in := range []string{
		"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nTransfer-Encoding: CHUNKED\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	} {
		for _, method := range []string{"GET", "HEAD"} {
			if method == "GET" && strings.HasPrefix(in, "HTTP/1.1 200") {
				continue // has a body
			}
			req := &http.Request{Method: method}
			sresp, err := http.ReadResponse(bufioReader([]byte(in)), req)
			if err != nil {
				t.Fatalf("%q: net/http: %v", in, err)
			}
			want := conv{sresp.TransferEncoding, sresp.ContentLength, sresp.Body == http.NoBody, sresp.Trailer}
			for _, pass := range []*http.Request{nil, req} {
				r, err := NewMessageReader(strings.NewReader(in)).ReadResponse(method)
				if err != nil {
					t.Fatalf("%q for %s: %v", in, method, err)
				}
				resp := r.HTTPResponse(pass)
				got := conv{resp.TransferEncoding, resp.ContentLength, resp.Body == http.NoBody, resp.Trailer}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%q for %s (request passed: %v): (-net/http +HTTPResponse):\n%s", in, method, pass != nil, diff)
				}
			}
		}
	}
}

// A message converted to net/http and written back gives the same message.
func TestConversionRoundTrip(t *testing.T) {
	in := "PUT /farm/v1/animals/sheep HTTP/1.1\r\nContent-Type: application/json\r\nIf-Match: \"etag/sheep\"\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
	r, err := NewMessageReader(strings.NewReader(in)).ReadRequest()
	if err != nil {
		t.Fatal(err)
	}
	req, err := r.HTTPRequest(context.Background(), &url.URL{Scheme: "https", Host: "www.googleapis.com"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := new(MessageWriter).WriteHTTPRequest(&out, req); err != nil {
		t.Fatal(err)
	}
	want := "PUT /farm/v1/animals/sheep HTTP/1.1\r\nContent-Type: application/json\r\nIf-Match: \"etag/sheep\"\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// The allocation-free split of origin-form targets gives exactly the URL
// that url.ParseRequestURI gives, or declines.
func TestPlainOriginFormMatchesParseRequestURI(t *testing.T) {
	targets := []string{
		"/", "/a", "/a/b?c=d", "/farm/v1/animals/pony", "/v1/people:createContact",
		"/a?", "/a?b#c", "/a#b", "/%41", "/a%2Fb", "//evil.example/x", "/a b", "/\"q\"",
		"/{x}", "/a?x=%zz", "/a;b=c", "/~user/!$&'()*+,;=:@", "/a?b=c&d=e/f?g",
		"/é", "/a|b", "/a^b", "/a[0]", "/a\\b", "*",
	}
	// Every pair of printable bytes, in the path and in the query.
	for c := byte(0x21); c < 0x7f; c++ {
		for d := byte(0x21); d < 0x7f; d++ {
			targets = append(targets, "/"+string([]byte{c, d}), "/p?"+string([]byte{c, d}))
		}
	}
	for _, target := range targets {
		path, query, ok := plainOriginForm(target)
		if !ok {
			continue
		}
		want, err := url.ParseRequestURI(target)
		if err != nil {
			t.Errorf("%q: fast path accepts what ParseRequestURI rejects: %v", target, err)
			continue
		}
		got := &url.URL{Path: path, RawQuery: query}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q (-ParseRequestURI +fast path):\n%s", target, diff)
		}
	}
}

// A converted request allocates a handful of times, not net/http's dozen.
func TestHTTPRequestAllocations(t *testing.T) {
	raw := []byte("GET /calendar/v3/calendars/primary/events/e1?fields=id HTTP/1.1\r\nAccept: application/json\r\nUser-Agent: x\r\n\r\n")
	base := &url.URL{Scheme: "https", Host: "www.googleapis.com"}
	m := NewMessageReader(bytes.NewReader(raw))
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		m.Reset(bytes.NewReader(raw))
		r, err := m.ReadRequest()
		if err != nil {
			t.Fatal(err)
		}
		req, err := r.HTTPRequest(ctx, base)
		if err != nil || req.URL.Path != "/calendar/v3/calendars/primary/events/e1" || req.Header.Get("Accept") != "application/json" {
			t.Fatalf("%v %+v", err, req)
		}
	})
	// bytes.Reader (1), head string (1), request+URL+body (1), header map (2).
	if allocs > 5 {
		t.Errorf("HTTPRequest path allocates %v times, want at most 5", allocs)
	}
}

// TestHTTPBodyAfterReset checks that the body of a converted request or
// response dies with its message: after Close, or after the MessageReader
// moves on to another message, a Read fails with http.ErrBodyReadAfterClose
// and never returns the next message's bytes.
func TestHTTPBodyAfterReset(t *testing.T) {
	var m MessageReader
	m.Reset(strings.NewReader("POST /a HTTP/1.1\r\nContent-Length: 6\r\n\r\nsecret"))
	r, err := m.ReadRequest()
	if err != nil {
		t.Fatal(err)
	}
	req, err := r.HTTPRequest(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 3)
	if _, err := io.ReadFull(req.Body, first); err != nil || string(first) != "sec" {
		t.Fatalf("first read: %q, %v", first, err)
	}
	m.Reset(strings.NewReader("POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nother"))
	if _, err := m.ReadRequest(); err != nil {
		t.Fatal(err)
	}
	if n, err := req.Body.Read(make([]byte, 10)); n != 0 || err != http.ErrBodyReadAfterClose {
		t.Errorf("read after Reset: %d, %v; want 0, http.ErrBodyReadAfterClose", n, err)
	}

	m.Reset(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"))
	resp, err := m.ReadResponse("")
	if err != nil {
		t.Fatal(err)
	}
	hr := resp.HTTPResponse(nil)
	hr.Body.Close()
	if n, err := hr.Body.Read(make([]byte, 10)); n != 0 || err != http.ErrBodyReadAfterClose {
		t.Errorf("read after Close: %d, %v; want 0, http.ErrBodyReadAfterClose", n, err)
	}
}

// TestHTTPBodyConcurrentReset reads a converted body on one goroutine while
// another resets the MessageReader, as a reverse proxy's transport does
// after the handler returned; run with -race. Every byte read must be the
// first message's.
func TestHTTPBodyConcurrentReset(t *testing.T) {
	var m MessageReader
	msg := "POST /a HTTP/1.1\r\nContent-Length: 65536\r\n\r\n" + strings.Repeat("a", 1<<16)
	other := "POST /b HTTP/1.1\r\nContent-Length: 65536\r\n\r\n" + strings.Repeat("b", 1<<16)
	for range 50 {
		m.Reset(iotestHalf(msg))
		r, err := m.ReadRequest()
		if err != nil {
			t.Fatal(err)
		}
		req, err := r.HTTPRequest(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			buf := make([]byte, 100)
			for {
				n, err := req.Body.Read(buf)
				if bytes.ContainsRune(buf[:n], 'b') {
					done <- io.ErrUnexpectedEOF
					return
				}
				if err != nil {
					if err == io.EOF || err == http.ErrBodyReadAfterClose {
						err = nil
					}
					done <- err
					return
				}
			}
		}()
		m.Reset(strings.NewReader(other))
		if _, err := m.ReadRequest(); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, m.req.Body); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("stale body: %v", err)
		}
	}
}

func iotestHalf(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) }

// Bytes after a message reach the caller of the converted net/http types
// as ErrDataAfterBody: from the Read method for a message without body,
// from the body's end otherwise.
func TestConversionDataAfterBody(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		request  bool
	}{
		{"request CL body", "POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /admin HTTP/1.1\r\n\r\n", true},
		{"request chunked body", "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n", true},
		{"request CL 0", "POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n", true},
		{"response CL body", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n", false},
		{"response 204", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", false},
		{"response 100", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", false},
	} {
		m := NewMessageReader(strings.NewReader(tc.in))
		var err error
		if tc.request {
			var r *Request
			if r, err = m.ReadRequest(); err == nil {
				var req *http.Request
				if req, err = r.HTTPRequest(context.Background(), nil); err == nil {
					_, err = io.ReadAll(req.Body)
				}
			}
		} else {
			var r *Response
			if r, err = m.ReadResponse(""); err == nil {
				_, err = io.ReadAll(r.HTTPResponse(nil).Body)
			}
		}
		if !errors.Is(err, ErrDataAfterBody) {
			t.Errorf("%s: %v, want ErrDataAfterBody", tc.name, err)
		}
	}
}

// The Trailer field of a chunked message declares its trailer fields
// before the body: HTTPRequest and HTTPResponse move it into Trailer, as
// names with nil values, and set the values sent in that same map at the
// end of the body, as net/http's server and client do (the oracle).
func TestConversionDeclaredTrailer(t *testing.T) {
	for _, tt := range []struct {
		name, in string
	}{
		{"request", "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum, Expires ,\r\nTrailer: X-Late\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 42\r\nX-Undeclared: 1\r\n\r\n"},
		{"response", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum, Expires ,\r\nTrailer: X-Late\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 42\r\nX-Undeclared: 1\r\n\r\n"},
		{"request, no trailer sent", "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n0\r\n\r\n"},
		{"request, empty declaration", "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTrailer: ,\r\n\r\n0\r\n\r\n"},
		{"request with a length keeps the field", "POST /x HTTP/1.1\r\nContent-Length: 2\r\nTrailer: X-Sum\r\n\r\nok"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			type conv struct {
				Header, TrailerBefore, TrailerAfter http.Header
			}
			var want, got conv
			request := strings.HasPrefix(tt.in, "POST")
			br := bufioReader([]byte(tt.in))
			var body io.ReadCloser
			if request {
				req, err := http.ReadRequest(br)
				if err != nil {
					t.Fatal(err)
				}
				want.Header, want.TrailerBefore, body = req.Header, req.Trailer.Clone(), req.Body
				io.ReadAll(body)
				want.TrailerAfter = req.Trailer
				r, err := NewMessageReader(strings.NewReader(tt.in)).ReadRequest()
				if err != nil {
					t.Fatal(err)
				}
				hreq, err := r.HTTPRequest(context.Background(), nil)
				if err != nil {
					t.Fatal(err)
				}
				got.Header, got.TrailerBefore = hreq.Header, hreq.Trailer.Clone()
				if _, err := io.ReadAll(hreq.Body); err != nil {
					t.Fatal(err)
				}
				got.TrailerAfter = hreq.Trailer
			} else {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				want.Header, want.TrailerBefore = resp.Header, resp.Trailer.Clone()
				io.ReadAll(resp.Body)
				want.TrailerAfter = resp.Trailer
				r, err := NewMessageReader(strings.NewReader(tt.in)).ReadResponse("")
				if err != nil {
					t.Fatal(err)
				}
				hresp := r.HTTPResponse(nil)
				got.Header, got.TrailerBefore = hresp.Header, hresp.Trailer.Clone()
				if _, err := io.ReadAll(hresp.Body); err != nil {
					t.Fatal(err)
				}
				got.TrailerAfter = hresp.Trailer
			}
			delete(want.Header, "Content-Length") // net/http's, which HTTPRequest keeps
			delete(got.Header, "Content-Length")
			delete(got.Header, "Transfer-Encoding")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("net/http (-) and the conversion (+) disagree:\n%s", diff)
			}
		})
	}
}

// A chunked request's trailer reaches the server it is forwarded to by
// an http.Transport (as a gateway's reverse proxy forwards a call): the
// Transport declares the names it finds in Trailer when it sends the
// head, and sends the trailer fields it finds there at the end of the body.
func TestHTTPRequestTrailerForwarded(t *testing.T) {
	got := make(chan http.Header, 1)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- r.Trailer
	}))
	defer upstream.Close()
	base, err := url.Parse(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	in := "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 42\r\n\r\n"
	r, err := NewMessageReader(iotest.OneByteReader(strings.NewReader(in))).ReadRequest()
	if err != nil {
		t.Fatal(err)
	}
	req, err := r.HTTPRequest(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	req.RequestURI = "" // a client request
	resp, err := upstream.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if diff := cmp.Diff(http.Header{"X-Sum": {"42"}}, <-got); diff != "" {
		t.Errorf("trailer at the upstream (-want +got):\n%s", diff)
	}
}
