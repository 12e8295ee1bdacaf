package mixed

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestWriteRequestWire(t *testing.T) {
	tests := []struct {
		name                 string
		opts                 MessageOptions
		method, target, body string
		h                    *Header
		want                 string
	}{
		{"GET without body", MessageOptions{}, "GET", "/farm/v1/animals/pony", "", nil,
			"GET /farm/v1/animals/pony HTTP/1.1\r\n\r\n"},
		{"PUT with fields and body", MessageOptions{}, "PUT", "/farm/v1/animals/sheep", `{"a":1}`,
			headerOf(hdr("Content-Type", "application/json", "If-Match", `"etag/sheep"`)),
			"PUT /farm/v1/animals/sheep HTTP/1.1\r\nContent-Type: application/json\r\nIf-Match: \"etag/sheep\"\r\nContent-Length: 7\r\n\r\n{\"a\":1}"},
		{"matching Content-Length kept", MessageOptions{}, "POST", "/x", "ab", headerOf(hdr("content-length", "2")),
			"POST /x HTTP/1.1\r\ncontent-length: 2\r\n\r\nab"},
		{"relative target allowed", MessageOptions{AllowRelativeTargets: true}, "GET", "Customers('ALFKI')", "", nil,
			"GET Customers('ALFKI') HTTP/1.1\r\n\r\n"},
		{"large body", MessageOptions{}, "POST", "/x", strings.Repeat("z", 10000), nil,
			"POST /x HTTP/1.1\r\nContent-Length: 10000\r\n\r\n" + strings.Repeat("z", 10000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := NewMessageWriterOptions(tt.opts).WriteRequest(&out, tt.method, tt.target, tt.h, []byte(tt.body)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteResponseWire(t *testing.T) {
	tests := []struct {
		name   string
		status int
		reason string
		h      *Header
		body   string
		want   string
	}{
		{"standard reason", 200, "", headerOf(hdr("Content-Type", "application/json")), "{}",
			"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"},
		{"empty body gets Content-Length 0", 404, "", nil, "",
			"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"},
		{"304 has no Content-Length, blank line kept", 304, "", headerOf(hdr("ETag", `"etag/animals"`)), "",
			"HTTP/1.1 304 Not Modified\r\nETag: \"etag/animals\"\r\n\r\n"},
		{"unknown code", 599, "", nil, "",
			"HTTP/1.1 599 Unknown\r\nContent-Length: 0\r\n\r\n"},
		{"custom reason", 200, "Fine Thanks", nil, "",
			"HTTP/1.1 200 Fine Thanks\r\nContent-Length: 0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			var mw MessageWriter
			if err := mw.WriteResponse(&out, tt.status, tt.reason, tt.h, []byte(tt.body)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// Invalid input is an error and nothing is written.
func TestWriteValidation(t *testing.T) {
	tests := []struct {
		name  string
		write func(mw *MessageWriter, w io.Writer) error
		err   error
	}{
		{"method with CRLF", func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteRequest(w, "GET /admin HTTP/1.1\r\n", "/x", nil, nil)
		}, ErrBadMethod},
		{"empty method", func(mw *MessageWriter, w io.Writer) error { return mw.WriteRequest(w, "", "/x", nil, nil) }, ErrBadMethod},
		{"absolute target", func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteRequest(w, "GET", "https://evil.example/", nil, nil)
		}, ErrBadTargetForm},
		{"relative target", func(mw *MessageWriter, w io.Writer) error { return mw.WriteRequest(w, "GET", "x", nil, nil) }, ErrBadTargetForm},
		{"target with space", func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteRequest(w, "GET", "/a HTTP/1.1\r\nX:", nil, nil)
		}, ErrBadTarget},
		{"target with bad escape", func(mw *MessageWriter, w io.Writer) error { return mw.WriteRequest(w, "GET", "/%", nil, nil) }, ErrBadTarget},
		{"field name with space", func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteRequest(w, "GET", "/x", headerOf(hdr("Content-Length ", "5")), nil)
		}, ErrBadHeader},
		{"field value with LF", func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteRequest(w, "GET", "/x", headerOf(hdr("X", "a\nContent-Length: 5")), nil)
		}, ErrBadHeader},
		{"field value with NUL", func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteRequest(w, "GET", "/x", headerOf(hdr("X", "a\x00")), nil)
		}, ErrBadHeader},
		{"wrong Content-Length", func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteRequest(w, "POST", "/x", headerOf(hdr("Content-Length", "5")), []byte("abc"))
		}, ErrBadContentLength},
		{"Transfer-Encoding", func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteRequest(w, "POST", "/x", headerOf(hdr("Transfer-Encoding", "chunked")), []byte("abc"))
		}, ErrFramingConflict},
		{"status 99", func(mw *MessageWriter, w io.Writer) error { return mw.WriteResponse(w, 99, "", nil, nil) }, ErrBadStatus},
		{"status 1000", func(mw *MessageWriter, w io.Writer) error { return mw.WriteResponse(w, 1000, "", nil, nil) }, ErrBadStatus},
		{"reason with CRLF", func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteResponse(w, 200, "OK\r\nSet-Cookie: a=b", nil, nil)
		}, ErrBadStatus},
		{"body with 204", func(mw *MessageWriter, w io.Writer) error { return mw.WriteResponse(w, 204, "", nil, []byte("x")) }, ErrFramingConflict},
		{"http.Request method with CRLF", func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteHTTPRequest(w, &http.Request{Method: "GET / HTTP/1.1\r\nX: y\r\n", URL: &url.URL{Path: "/"}})
		}, ErrBadMethod},
		{"http.Request with host-bearing opaque URL", func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteHTTPRequest(w, &http.Request{Method: "GET", URL: &url.URL{Scheme: "https", Opaque: "//evil.example/x"}})
		}, ErrBadTargetForm},
		{"http.Request header value with CRLF", func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteHTTPRequest(w, &http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Header: http.Header{"X": {"a\r\nB: c"}}})
		}, ErrBadHeader},
		{"http.Request trailer with CRLF", func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteHTTPRequest(w, &http.Request{Method: "POST", URL: &url.URL{Path: "/"}, Trailer: http.Header{"X": {"a\r\n"}}})
		}, ErrBadHeader},
		{"http.Response status with CRLF", func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteHTTPResponse(w, &http.Response{StatusCode: 200, Status: "200 OK\r\nX: y"})
		}, ErrBadStatus},
		{"http.Response status 0", func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteHTTPResponse(w, &http.Response{})
		}, ErrBadStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := tt.write(new(MessageWriter), &out)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if out.Len() != 0 {
				t.Errorf("wrote %q before failing", out.String())
			}
		})
	}
}

func TestWriteHTTPRequestWire(t *testing.T) {
	tests := []struct {
		name string
		req  func() *http.Request
		want string
	}{
		{"GET, host and scheme dropped, headers sorted", func() *http.Request {
			r, _ := http.NewRequest("GET", "https://www.googleapis.com/v1/people/c1?personFields=names", nil)
			r.Header.Set("Accept", "application/json")
			r.Header.Set("Authorization", "Bearer x")
			r.Header.Set("Host", "evil.example")
			return r
		}, "GET /v1/people/c1?personFields=names HTTP/1.1\r\nAccept: application/json\r\nAuthorization: Bearer x\r\n\r\n"},
		{"POST with known length", func() *http.Request {
			r, _ := http.NewRequest("POST", "https://h/v1/people:createContact", strings.NewReader(`{"a":1}`))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Content-Length", "999")
			return r
		}, "POST /v1/people:createContact HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"},
		{"POST with empty body", func() *http.Request {
			r, _ := http.NewRequest("POST", "https://h/x", nil)
			return r
		}, "POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n"},
		{"unknown length, small: measured", func() *http.Request {
			r, _ := http.NewRequest("PUT", "https://h/x", io.NopCloser(iotest.HalfReader(strings.NewReader("hello"))))
			return r
		}, "PUT /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"},
		{"unknown length, large: chunked with trailer", func() *http.Request {
			r, _ := http.NewRequest("PUT", "https://h/x", io.NopCloser(strings.NewReader(strings.Repeat("a", 40000))))
			r.Trailer = http.Header{"X-Sum": {"1"}}
			return r
		}, "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8000\r\n" + strings.Repeat("a", 32768) + "\r\n1c40\r\n" + strings.Repeat("a", 7232) + "\r\n0\r\nX-Sum: 1\r\n\r\n"},
		{"empty path", func() *http.Request {
			return &http.Request{Method: "DELETE", URL: &url.URL{Scheme: "https", Host: "h"}}
		}, "DELETE / HTTP/1.1\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := new(MessageWriter).WriteHTTPRequest(&out, tt.req()); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteHTTPRequestBodyLengthMismatch(t *testing.T) {
	for _, tt := range []struct {
		body string
		n    int64
	}{{"abc", 5}, {"abcdef", 5}} {
		r, _ := http.NewRequest("POST", "/x", io.NopCloser(strings.NewReader(tt.body)))
		r.ContentLength = tt.n
		if err := new(MessageWriter).WriteHTTPRequest(io.Discard, r); !errors.Is(err, ErrBadContentLength) {
			t.Errorf("body %q with ContentLength %d: %v, want ErrBadContentLength", tt.body, tt.n, err)
		}
	}
	var out bytes.Buffer
	r := &http.Request{Method: "POST", URL: &url.URL{Path: "/x"}, ContentLength: 3}
	if err := new(MessageWriter).WriteHTTPRequest(&out, r); !errors.Is(err, ErrBadContentLength) || out.Len() > 0 {
		t.Errorf("ContentLength 3 without Body: %v, wrote %q; want ErrBadContentLength and nothing written", err, out.Bytes())
	}
}

func TestWriteHTTPResponseWire(t *testing.T) {
	tests := []struct {
		name string
		resp *http.Response
		want string
	}{
		{"status from Status", &http.Response{StatusCode: 200, Status: "200 Fine", Header: http.Header{"Etag": {`"1"`}},
			Body: io.NopCloser(strings.NewReader("{}")), ContentLength: 2},
			"HTTP/1.1 200 Fine\r\nEtag: \"1\"\r\nContent-Length: 2\r\n\r\n{}"},
		{"reason filled in", &http.Response{StatusCode: 404, Status: "404"},
			"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"},
		{"304 without body", &http.Response{StatusCode: 304, Header: http.Header{"Content-Length": {"165"}}, Body: io.NopCloser(strings.NewReader("ignored"))},
			"HTTP/1.1 304 Not Modified\r\n\r\n"},
		{"HEAD without body", &http.Response{StatusCode: 200, Request: &http.Request{Method: "HEAD"}, ContentLength: 10},
			"HTTP/1.1 200 OK\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := new(MessageWriter).WriteHTTPResponse(&out, tt.resp); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// What net/http writes for a request or response, we read back the same;
// and what we write, net/http reads back the same.
func TestWriteReadAgainstStd(t *testing.T) {
	var out bytes.Buffer
	mw := new(MessageWriter)
	h := headerOf(hdr("Content-Type", "application/json", "X-Multi", "1", "X-Multi", "2"))
	if err := mw.WriteRequest(&out, "PATCH", "/a/b?c=d", h, []byte("body")); err != nil {
		t.Fatal(err)
	}
	std, err := http.ReadRequest(bufioReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(std.Body)
	got := testMsg{Method: std.Method, Target: std.RequestURI, Body: string(b)}
	for _, k := range []string{"Content-Type", "X-Multi", "Content-Length"} {
		for _, v := range std.Header[k] {
			got.Header = append(got.Header, [2]string{k, v})
		}
	}
	want := testMsg{Method: "PATCH", Target: "/a/b?c=d", Body: "body",
		Header: [][2]string{{"Content-Type", "application/json"}, {"X-Multi", "1"}, {"X-Multi", "2"}, {"Content-Length", "4"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("net/http reads (-want +got):\n%s", diff)
	}
}

func TestWriteDoesNotAllocate(t *testing.T) {
	var mw MessageWriter
	h := headerOf(hdr("Content-Type", "application/json", "If-Match", `"etag/1"`))
	body := []byte(httpBenchJSON)
	allocs := testing.AllocsPerRun(100, func() {
		if err := mw.WriteRequest(io.Discard, "PUT", "/calendar/v3/events/1", h, body); err != nil {
			t.Fatal(err)
		}
		if err := mw.WriteResponse(io.Discard, 200, "", h, body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
}

// Writers never write a field value that readers would read differently:
// surrounding white space is refused on the low-level path and trimmed, as
// net/http's Header.Write trims it, on the net/http path.
func TestWritersAndSurroundingWhiteSpace(t *testing.T) {
	var h Header
	h.Add("X-Pad", " a ")
	var out bytes.Buffer
	if err := new(MessageWriter).WriteRequest(&out, "GET", "/", &h, nil); !errors.Is(err, ErrBadHeader) || out.Len() > 0 {
		t.Errorf("WriteRequest with a padded value: %v, %d bytes written; want ErrBadHeader and nothing", err, out.Len())
	}
	out.Reset()
	if err := new(MessageWriter).WriteResponse(&out, 200, "", &h, nil); !errors.Is(err, ErrBadHeader) || out.Len() > 0 {
		t.Errorf("WriteResponse with a padded value: %v, %d bytes written; want ErrBadHeader and nothing", err, out.Len())
	}
	if _, err := NewWriter(io.Discard).CreatePart(&h); !errors.Is(err, ErrBadHeader) {
		t.Errorf("CreatePart with a padded value: %v, want ErrBadHeader", err)
	}

	req := &http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Header: http.Header{"X-Pad": {" a\t"}}, Host: "h"}
	out.Reset()
	if err := new(MessageWriter).WriteHTTPRequest(&out, req); err != nil {
		t.Fatal(err)
	}
	var std bytes.Buffer
	if err := req.Write(&std); err != nil {
		t.Fatal(err)
	}
	// Both must carry the value as net/http writes it.
	if !strings.Contains(out.String(), "\r\nX-Pad: a\r\n") || !strings.Contains(std.String(), "\r\nX-Pad: a\r\n") {
		t.Errorf("WriteHTTPRequest wrote %q; net/http wrote %q; want both to trim the value", out.String(), std.String())
	}
}

func TestWriteResponseHead(t *testing.T) {
	var mw MessageWriter
	var h Header
	h.Add("Content-Type", "text/plain")
	h.Add("Content-Length", "10")
	var b bytes.Buffer
	if err := mw.WriteResponseHead(&b, 200, "", &h); err != nil {
		t.Fatal(err)
	}
	if want := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n"; b.String() != want {
		t.Errorf("head for HEAD:\n got %q\nwant %q", b.String(), want)
	}
	var m MessageReader
	m.Reset(bytes.NewReader(b.Bytes()))
	r, err := m.ReadResponse("HEAD")
	if err != nil || r.Header.Get("Content-Length") != "10" {
		t.Fatalf("ReadResponse(HEAD): %v; want the Content-Length field kept", err)
	}
	if n, err := io.Copy(io.Discard, r.Body); n != 0 || err != nil {
		t.Errorf("HEAD response body: %d bytes, %v; want none", n, err)
	}

	// Without Content-Length the body streams after the head and runs to
	// the end of the input.
	b.Reset()
	h.Reset()
	h.Add("Content-Type", "text/plain")
	if err := mw.WriteResponseHead(&b, 201, "Made", &h); err != nil {
		t.Fatal(err)
	}
	b.WriteString("streamed body")
	m.Reset(bytes.NewReader(b.Bytes()))
	r, err = m.ReadResponse("")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil || string(body) != "streamed body" || r.StatusCode != 201 {
		t.Errorf("streamed: %d %q, %v", r.StatusCode, body, err)
	}

	for _, tt := range []struct {
		name, value string
		want        error
	}{
		{"Content-Length", "x", ErrBadContentLength},
		{"Transfer-Encoding", "chunked", ErrFramingConflict},
		{"Bad Name", "v", ErrBadHeader},
	} {
		h.Reset()
		h.Add(tt.name, tt.value)
		if err := mw.WriteResponseHead(io.Discard, 200, "", &h); !errors.Is(err, tt.want) {
			t.Errorf("%s: %s: got %v, want %v", tt.name, tt.value, err, tt.want)
		}
	}
	if err := mw.WriteResponseHead(io.Discard, 99, "", nil); !errors.Is(err, ErrBadStatus) {
		t.Errorf("status 99: got %v, want ErrBadStatus", err)
	}
}

// The MessageWriter refuses a head or trailer section the MessageReader
// with the same options would refuse, with the reader's errors, writing
// nothing; at the limit exactly, the reader reads what it wrote.
func TestMessageWriterLimits(t *testing.T) {
	fieldsOf := func(n int) *Header {
		var h Header
		for i := range n {
			h.Add("F"+strconv.Itoa(i), "v")
		}
		return &h
	}
	// A request head of exactly size bytes: "GET / HTTP/1.1\r\n", one
	// field "X: " value CRLF, and the empty line.
	headOf := func(size int) *Header {
		var h Header
		h.Add("X", strings.Repeat("x", size-len("GET / HTTP/1.1\r\nX: \r\n\r\n")))
		return &h
	}
	longTarget := "/" + strings.Repeat("a", DefaultMaxStartLineBytes-len("GET / HTTP/1.1"))
	for _, tc := range []struct {
		name   string
		target string
		h      *Header
		opts   MessageOptions
		want   error
	}{
		{"100 fields", "/", fieldsOf(100), MessageOptions{}, nil},
		{"101 fields", "/", fieldsOf(101), MessageOptions{}, ErrTooManyFields},
		{"101 fields, limit raised", "/", fieldsOf(101), MessageOptions{MaxHeaderFields: 101}, nil},
		{"64 KiB head", "/", headOf(DefaultMaxHeaderBytes), MessageOptions{}, nil},
		{"64 KiB and a byte", "/", headOf(DefaultMaxHeaderBytes + 1), MessageOptions{}, ErrHeaderTooLarge},
		{"70 KiB field", "/", headOf(70 << 10), MessageOptions{}, ErrHeaderTooLarge},
		{"70 KiB field, limit raised", "/", headOf(70 << 10), MessageOptions{MaxHeaderBytes: 71 << 10}, nil},
		{"8 KiB request line", longTarget, nil, MessageOptions{}, nil},
		{"8 KiB and a byte", longTarget + "a", nil, MessageOptions{}, ErrStartLineTooLong},
		{"8 KiB and a byte, limit raised", longTarget + "a", nil, MessageOptions{MaxStartLineBytes: 9 << 10}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			mw := NewMessageWriterOptions(tc.opts)
			err := mw.WriteRequest(&out, "GET", tc.target, tc.h, nil)
			if !errors.Is(err, tc.want) || tc.want == nil && err != nil {
				t.Fatalf("WriteRequest: %v, want %v", err, tc.want)
			}
			if err != nil {
				if out.Len() != 0 {
					t.Fatalf("wrote %d bytes before failing", out.Len())
				}
				// The same head through the other entry points.
				if err := mw.WriteResponse(&out, 200, "", tc.h, nil); tc.target == "/" && !errors.Is(err, tc.want) {
					t.Errorf("WriteResponse: %v, want %v", err, tc.want)
				}
				if tc.h != nil {
					req, _ := http.NewRequest("GET", "http://h/", nil)
					for name, value := range tc.h.All() {
						req.Header.Add(string(name), string(value))
					}
					out.Reset()
					if err := mw.WriteHTTPRequest(&out, req); !errors.Is(err, tc.want) || out.Len() != 0 {
						t.Errorf("WriteHTTPRequest: %v, %d bytes written, want %v", err, out.Len(), tc.want)
					}
				}
				return
			}
			if _, err := readTestRequest(NewMessageReaderOptions(nil, tc.opts), &out); err != nil {
				t.Fatalf("reading what was written: %v", err)
			}
		})
	}
	// A trailer section over the limits.
	trailer := http.Header{}
	for i := range DefaultMaxHeaderFields + 1 {
		trailer.Add("T"+strconv.Itoa(i), "v")
	}
	req, _ := http.NewRequest("POST", "http://h/", iotest.OneByteReader(strings.NewReader(strings.Repeat("x", 40<<10))))
	req.ContentLength = -1
	req.Trailer = trailer
	var out bytes.Buffer
	if err := new(MessageWriter).WriteHTTPRequest(&out, req); !errors.Is(err, ErrTooManyFields) || out.Len() != 0 {
		t.Errorf("WriteHTTPRequest with %d trailer fields: %v, %d bytes written; want ErrTooManyFields", len(trailer), err, out.Len())
	}
}

// A request without URL is a misuse of WriteHTTPRequest, not bad input,
// and nothing is written.
func TestWriteHTTPRequestNilURL(t *testing.T) {
	var buf bytes.Buffer
	err := NewMessageWriter().WriteHTTPRequest(&buf, &http.Request{Method: "GET"})
	if !isMisuse(err, errNoURL) || errors.Is(err, ErrBadTarget) {
		t.Errorf("WriteHTTPRequest without URL = %v, want the misuse error errNoURL", err)
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %q", buf.Bytes())
	}
}

// A framing field among the trailer fields is refused by WriteHTTPRequest
// and WriteHTTPResponse, as net/http's Request.Write and Response.Write
// refuse it, before a byte is written: a peer that merges trailer fields
// into the header would frame the message anew.
func TestWriteHTTPFramingTrailer(t *testing.T) {
	for _, key := range []string{"Content-Length", "transfer-encoding", "TRAILER"} {
		trailer := func() http.Header { return http.Header{"X-Sum": {"1"}, key: {"5"}} }
		body := func() io.ReadCloser { return io.NopCloser(strings.NewReader(strings.Repeat("a", 40000))) }
		req := func() *http.Request {
			return &http.Request{Method: "PUT", URL: &url.URL{Path: "/x"}, Header: http.Header{}, Body: body(), ContentLength: -1, Trailer: trailer()}
		}
		resp := func() *http.Response {
			return &http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{}, Body: body(), ContentLength: -1, TransferEncoding: []string{"chunked"}, Trailer: trailer()}
		}
		if err := req().Write(io.Discard); err == nil {
			t.Fatalf("trailer %q: net/http's Request.Write accepts it; the test expects it refused", key)
		}
		if err := resp().Write(io.Discard); err == nil {
			t.Fatalf("trailer %q: net/http's Response.Write accepts it; the test expects it refused", key)
		}
		for name, write := range map[string]func(*MessageWriter, io.Writer) error{
			"request":  func(mw *MessageWriter, w io.Writer) error { return mw.WriteHTTPRequest(w, req()) },
			"response": func(mw *MessageWriter, w io.Writer) error { return mw.WriteHTTPResponse(w, resp()) },
		} {
			var out bytes.Buffer
			if err := write(new(MessageWriter), &out); !errors.Is(err, ErrBadHeader) || out.Len() != 0 {
				t.Errorf("trailer %q, %s: %v, wrote %d bytes; want ErrBadHeader and nothing written", key, name, err, out.Len())
			}
		}
	}
}

// Several Content-Length fields in a Header are written only when they are
// the same bytes: two that differ ("5" and "6" by WriteResponseHead, which
// has no body to check them against; "5" and "05" for a body of 5 bytes)
// make a head that net/http and a MessageReader refuse, and that a peer
// reading the first or the last of them frames differently. Equal ones are
// written, and read back by both.
func TestWriteSeveralContentLengths(t *testing.T) {
	cl := func(vs ...string) *Header {
		h := new(Header)
		for i, v := range vs {
			h.Add([]string{"Content-Length", "content-length"}[i%2], v)
		}
		return h
	}
	for _, tc := range []struct {
		name    string
		request bool
		write   func(*MessageWriter, io.Writer) error
		ok      bool
	}{
		{"head 5, 6", false, func(mw *MessageWriter, w io.Writer) error { return mw.WriteResponseHead(w, 200, "", cl("5", "6")) }, false},
		{"head 0, 5", false, func(mw *MessageWriter, w io.Writer) error { return mw.WriteResponseHead(w, 200, "", cl("0", "5")) }, false},
		{"request 5, 05", true, func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteRequest(w, "POST", "/x", cl("5", "05"), []byte("abcde"))
		}, false},
		{"response 5, 5, 005", false, func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteResponse(w, 200, "", cl("5", "5", "005"), []byte("abcde"))
		}, false},
		{"request 5, 5", true, func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteRequest(w, "POST", "/x", cl("5", "5"), []byte("abcde"))
		}, true},
		{"response 5, 5", false, func(mw *MessageWriter, w io.Writer) error {
			return mw.WriteResponse(w, 200, "", cl("5", "5"), []byte("abcde"))
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := tc.write(new(MessageWriter), &out)
			if !tc.ok {
				if !errors.Is(err, ErrBadContentLength) || out.Len() != 0 {
					t.Fatalf("%v, wrote %q; want ErrBadContentLength and nothing written", err, out.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, _, sbody, _, serr := stdRead(out.Bytes(), tc.request, "")
			if serr != nil || string(sbody) != "abcde" {
				t.Errorf("net/http reads %q: body %q, %v", out.String(), sbody, serr)
			}
			got, err := httpFuzzRead(t, out.Bytes(), tc.request, "")
			if err != nil || got.Body != "abcde" {
				t.Errorf("a MessageReader reads %q: body %q, %v", out.String(), got.Body, err)
			}
		})
	}
}
