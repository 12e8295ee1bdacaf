package mixed

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// Ways to drain a body: WriteTo (what io.Copy uses), and Read calls of
// one byte, which cut the input everywhere.
var drains = map[string]func(*MessageBody) (string, error){
	"writeto": drainWriteTo,
	"read1": func(b *MessageBody) (string, error) {
		out, err := io.ReadAll(iotest.OneByteReader(b))
		return string(out), err
	},
}

// sources returns the ways a message reaches a MessageReader: each
// awkward reader directly, and each one under a multipart Reader.
func sources(t *testing.T, msg string) map[string]func() io.Reader {
	out := map[string]func() io.Reader{}
	for name := range awkwardReaders(nil, 0) {
		out[name] = func() io.Reader { return awkwardReaders([]byte(msg), 7)[name] }
		out["part/"+name] = func() io.Reader {
			return inPart(t, msg, func(b []byte) io.Reader { return awkwardReaders(b, 7)[name] })
		}
	}
	return out
}

var requestTests = []struct {
	name string
	opts MessageOptions
	in   string
	want testMsg
}{
	{
		name: "full",
		in:   "POST /v1/people:createContact HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 7\r\nAccept: application/json\r\n\r\n{\"a\":1}",
		want: testMsg{Method: "POST", Target: "/v1/people:createContact", Proto: "HTTP/1.1",
			Header:        [][2]string{{"Content-Type", "application/json"}, {"Content-Length", "7"}, {"Accept", "application/json"}},
			ContentLength: 7, Body: `{"a":1}`},
	},
	{
		name: "no version, head ended by the input",
		in:   "GET /farm/v1/animals/pony\r\n",
		want: testMsg{Method: "GET", Target: "/farm/v1/animals/pony", Proto: "HTTP/1.1", ContentLength: 0},
	},
	{
		name: "no version, no line end at all",
		in:   "GET /x",
		want: testMsg{Method: "GET", Target: "/x", Proto: "HTTP/1.1", ContentLength: 0},
	},
	{
		name: "last field without line end",
		in:   "GET /x HTTP/1.1\r\nIf-None-Match: \"e\"",
		want: testMsg{Method: "GET", Target: "/x", Proto: "HTTP/1.1", Header: [][2]string{{"If-None-Match", `"e"`}}, ContentLength: 0},
	},
	{
		name: "Content-Length 0, head ended by the input",
		in:   "DELETE /x HTTP/1.1\r\nContent-Length: 0\r\n",
		want: testMsg{Method: "DELETE", Target: "/x", Proto: "HTTP/1.1", Header: [][2]string{{"Content-Length", "0"}}, ContentLength: 0},
	},
	{
		name: "HTTP/1.0",
		in:   "GET /x HTTP/1.0\r\n\r\n",
		want: testMsg{Method: "GET", Target: "/x", Proto: "HTTP/1.0", ContentLength: -1},
	},
	{
		name: "LF only",
		in:   "PUT /a?b=c HTTP/1.1\nX: 1\nContent-Length: 3\n\nabc\n",
		want: testMsg{Method: "PUT", Target: "/a?b=c", Proto: "HTTP/1.1", Header: [][2]string{{"X", "1"}, {"Content-Length", "3"}}, ContentLength: 3, Body: "abc"},
	},
	{
		name: "no Content-Length: the rest of the part, for requests too",
		in:   "POST /x HTTP/1.1\r\nContent-Type: text/plain\r\n\r\nGET /admin HTTP/1.1\r\n\r\n",
		want: testMsg{Method: "POST", Target: "/x", Proto: "HTTP/1.1", Header: [][2]string{{"Content-Type", "text/plain"}}, ContentLength: -1, Body: "GET /admin HTTP/1.1\r\n\r\n"},
	},
	{
		name: "blank lines after a Content-Length body",
		in:   "PUT /x\r\nContent-Length: 2\r\n\r\nab\r\n\r\n\n",
		want: testMsg{Method: "PUT", Target: "/x", Proto: "HTTP/1.1", Header: [][2]string{{"Content-Length", "2"}}, ContentLength: 2, Body: "ab"},
	},
	{
		name: "identical repeated Content-Length",
		in:   "PUT /x HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab",
		want: testMsg{Method: "PUT", Target: "/x", Proto: "HTTP/1.1", Header: [][2]string{{"Content-Length", "2"}, {"content-length", "2"}}, ContentLength: 2, Body: "ab"},
	},
	{
		name: "empty lines before the request line, values trimmed, obs-text kept",
		in:   "\r\n\nDELETE /x HTTP/1.1\r\nX-A:\t v \t\r\nX-B:\r\nX-C: caf\xc3\xa9\r\n\r\n",
		want: testMsg{Method: "DELETE", Target: "/x", Proto: "HTTP/1.1", Header: [][2]string{{"X-A", "v"}, {"X-B", ""}, {"X-C", "caf\xc3\xa9"}}, ContentLength: -1},
	},
	{
		name: "chunked with extensions and trailers",
		in:   "POST /x HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n3;a=b\r\nabc\r\nA \r\n0123456789\r\n0\r\nX-Sum: 9\r\nX-T: 2\r\n\r\n\r\n",
		want: testMsg{Method: "POST", Target: "/x", Proto: "HTTP/1.1", Header: [][2]string{{"Transfer-Encoding", "Chunked"}}, ContentLength: -1, Chunked: true,
			Body: "abc0123456789", Trailer: [][2]string{{"X-Sum", "9"}, {"X-T", "2"}}},
	},
	{
		name: "chunked in an LF-only head, LF-only trailer section",
		in:   "POST /x HTTP/1.1\nTransfer-Encoding: chunked\n\n2\r\nab\r\n0\r\nX: 1\n\n",
		want: testMsg{Method: "POST", Target: "/x", Proto: "HTTP/1.1", Header: [][2]string{{"Transfer-Encoding", "chunked"}}, ContentLength: -1, Chunked: true, Body: "ab", Trailer: [][2]string{{"X", "1"}}},
	},
	{
		name: "OPTIONS *",
		in:   "OPTIONS * HTTP/1.1\r\n\r\n",
		want: testMsg{Method: "OPTIONS", Target: "*", Proto: "HTTP/1.1", ContentLength: -1},
	},
	{
		name: "absolute-form allowed by option",
		opts: MessageOptions{AllowAbsoluteTargets: true},
		in:   "GET https://www.googleapis.com/drive/v3/files?q=1 HTTP/1.1\r\n\r\n",
		want: testMsg{Method: "GET", Target: "https://www.googleapis.com/drive/v3/files?q=1", Proto: "HTTP/1.1", ContentLength: -1},
	},
	{
		name: "authority-form allowed by option",
		opts: MessageOptions{AllowAbsoluteTargets: true},
		in:   "CONNECT example.com:443 HTTP/1.1\r\n\r\n",
		want: testMsg{Method: "CONNECT", Target: "example.com:443", Proto: "HTTP/1.1", ContentLength: -1},
	},
	{
		name: "OData relative target allowed by option",
		opts: MessageOptions{AllowRelativeTargets: true},
		in:   "GET Customers('ALFKI') HTTP/1.1\r\n\r\n",
		want: testMsg{Method: "GET", Target: "Customers('ALFKI')", Proto: "HTTP/1.1", ContentLength: -1},
	},
	{
		name: "relative target with a colon is not absolute-form",
		opts: MessageOptions{AllowRelativeTargets: true},
		in:   "POST people:createContact\r\n\r\n",
		want: testMsg{Method: "POST", Target: "people:createContact", Proto: "HTTP/1.1", ContentLength: -1},
	},
	{
		name: "network-path-looking origin-form",
		in:   "GET //evil.example/x HTTP/1.1\r\n\r\n",
		want: testMsg{Method: "GET", Target: "//evil.example/x", Proto: "HTTP/1.1", ContentLength: -1},
	},
}

func TestReadRequest(t *testing.T) {
	for _, tt := range requestTests {
		for sname, src := range sources(t, tt.in) {
			for dname, drain := range drains {
				t.Run(tt.name+"/"+sname+"/"+dname, func(t *testing.T) {
					m := NewMessageReaderOptions(nil, tt.opts)
					got, err := readTestRequestWith(m, src(), drain)
					if err != nil {
						t.Fatalf("error: %v", err)
					}
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("(-want +got):\n%s", diff)
					}
					// One message per input: a second read gives io.EOF.
					if _, err := m.ReadRequest(); err != io.EOF {
						t.Errorf("second ReadRequest: %v, want io.EOF", err)
					}
				})
			}
		}
	}
}

var responseTests = []struct {
	name   string
	method string
	in     string
	want   testMsg
}{
	{
		name: "typical Google response",
		in:   "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nETag: \"1\"\r\nContent-Length: 2\r\n\r\n{}\r\n",
		want: testMsg{Status: 200, Reason: "OK", Proto: "HTTP/1.1",
			Header:        [][2]string{{"Content-Type", "application/json; charset=UTF-8"}, {"ETag", `"1"`}, {"Content-Length", "2"}},
			ContentLength: 2, Body: "{}"},
	},
	{
		name: "no reason phrase",
		in:   "HTTP/1.1 200\r\n\r\nrest",
		want: testMsg{Status: 200, Proto: "HTTP/1.1", ContentLength: -1, Body: "rest"},
	},
	{
		name: "empty reason phrase after the space",
		in:   "HTTP/1.0 404 \r\n\r\n",
		want: testMsg{Status: 404, Proto: "HTTP/1.0", ContentLength: -1},
	},
	{
		name: "reason with spaces and obs-text",
		in:   "HTTP/1.1 599 Very Custom \xe2\x9c\x93\r\n\r\n",
		want: testMsg{Status: 599, Reason: "Very Custom \xe2\x9c\x93", Proto: "HTTP/1.1", ContentLength: -1},
	},
	{
		name: "304 with Content-Length and no blank line at the end",
		in:   "HTTP/1.1 304 Not Modified\r\nETag: \"etag/animals\"\r\nContent-Length: 165\r\n",
		want: testMsg{Status: 304, Reason: "Not Modified", Proto: "HTTP/1.1", Header: [][2]string{{"ETag", `"etag/animals"`}, {"Content-Length", "165"}}},
	},
	{
		name: "204 followed by blank lines",
		in:   "HTTP/1.1 204 No Content\r\n\r\n\r\n",
		want: testMsg{Status: 204, Reason: "No Content", Proto: "HTTP/1.1"},
	},
	{
		name:   "response to HEAD",
		method: "HEAD",
		in:     "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
		want:   testMsg{Status: 200, Reason: "OK", Proto: "HTTP/1.1", Header: [][2]string{{"Content-Length", "10"}}},
	},
	{
		name: "chunked response",
		in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		want: testMsg{Status: 200, Reason: "OK", Proto: "HTTP/1.1", Header: [][2]string{{"Transfer-Encoding", "chunked"}}, ContentLength: -1, Chunked: true, Body: "hello"},
	},
}

func TestReadResponse(t *testing.T) {
	for _, tt := range responseTests {
		for sname, src := range sources(t, tt.in) {
			for dname, drain := range drains {
				t.Run(tt.name+"/"+sname+"/"+dname, func(t *testing.T) {
					var m MessageReader
					got, err := readTestResponseWith(&m, src(), tt.method, drain)
					if err != nil {
						t.Fatalf("error: %v", err)
					}
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("(-want +got):\n%s", diff)
					}
				})
			}
		}
	}
}

// seedMessages reads the parts of a saved batch (an HTTP request or
// response whose body is multipart/mixed) and parses the message of each.
func seedMessages(t *testing.T, file string, request bool) []testMsg {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ct string
	var body io.Reader
	if request {
		// Requests are read from the batch itself: outer requests are
		// ordinary HTTP that net/http reads.
		req, err := http.ReadRequest(bufio.NewReader(f))
		if err != nil {
			t.Fatal(err)
		}
		ct, body = req.Header.Get("Content-Type"), req.Body
	} else {
		resp, err := http.ReadResponse(bufio.NewReader(f), nil)
		if err != nil {
			t.Fatal(err)
		}
		ct, body = resp.Header.Get("Content-Type"), resp.Body
	}
	boundary, err := ParseBoundary(ct)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(body, boundary)
	var m MessageReader
	var out []testMsg
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var msg testMsg
		if request {
			msg, err = readTestRequest(&m, p)
		} else {
			msg, err = readTestResponse(&m, p, "")
		}
		if err != nil {
			t.Fatalf("part %d: %v", len(out), err)
		}
		out = append(out, msg)
	}
}

func TestSeedMessages(t *testing.T) {
	sheep := "{\r\n  \"animalName\": \"sheep\",\r\n  \"animalAge\": \"5\",\r\n  \"peltColor\": \"green\"\r\n}\r\n"
	pony := "{\r\n  \"kind\": \"farm#animal\",\r\n  \"etag\": \"etag/pony\",\r\n  \"selfLink\": \"/farm/v1/animals/pony\",\r\n  \"animalName\": \"pony\",\r\n  \"animalAge\": 34,\r\n  \"peltColor\": \"white\"\r\n}\r\n"
	sheepResp := "{\r\n  \"kind\": \"farm#animal\",\r\n  \"etag\": \"etag/sheep\",\r\n  \"selfLink\": \"/farm/v1/animals/sheep\",\r\n  \"animalName\": \"sheep\",\r\n  \"animalAge\": 5,\r\n  \"peltColor\": \"green\"\r\n}\r\n"
	tests := []struct {
		file    string
		request bool
		want    []testMsg
	}{
		{"testdata/calendar-batch-request.http", true, []testMsg{
			{Method: "GET", Target: "/farm/v1/animals/pony", Proto: "HTTP/1.1", ContentLength: 0},
			{Method: "PUT", Target: "/farm/v1/animals/sheep", Proto: "HTTP/1.1",
				Header:        [][2]string{{"Content-Type", "application/json"}, {"Content-Length", "77"}, {"If-Match", `"etag/sheep"`}},
				ContentLength: 77, Body: sheep},
			{Method: "GET", Target: "/farm/v1/animals", Proto: "HTTP/1.1", Header: [][2]string{{"If-None-Match", `"etag/animals"`}}, ContentLength: 0},
		}},
		{"testdata/calendar-batch-response.http", false, []testMsg{
			{Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header:        [][2]string{{"Content-Type", "application/json"}, {"Content-Length", "165"}, {"ETag", `"etag/pony"`}},
				ContentLength: 165, Body: pony},
			{Status: 200, Reason: "OK", Proto: "HTTP/1.1",
				Header:        [][2]string{{"Content-Type", "application/json"}, {"Content-Length", "167"}, {"ETag", `"etag/sheep"`}},
				ContentLength: 167, Body: sheepResp},
			{Status: 304, Reason: "Not Modified", Proto: "HTTP/1.1", Header: [][2]string{{"ETag", `"etag/animals"`}}},
		}},
		{"testdata/people-batch-request.http", true, []testMsg{
			{Method: "POST", Target: "/v1/people:createContact", Proto: "HTTP/1.1",
				Header:        [][2]string{{"Content-Type", "application/json"}, {"Content-Length", "59"}, {"Accept", "application/json"}},
				ContentLength: 59, Body: `{ "names": [{ "givenName": "John", "familyName": "Doe" }] }`},
			{Method: "GET", Target: "/v1/people/c123456789012345?personFields=emailAddresses", Proto: "HTTP/1.1",
				Header: [][2]string{{"Accept", "application/json"}}, ContentLength: 0},
		}},
		{"testdata/people-batch-response.http", false, []testMsg{
			{Status: 200, Reason: "OK", Proto: "HTTP/1.1", Header: [][2]string{{"Content-Type", "application/json; charset=UTF-8"}}, ContentLength: -1,
				Body: `{ "resourceName": "people/c11111111111111", "etag": "1111", "names": [{ "givenName": "John", "familyName": "Doe" }] }`},
			{Status: 200, Reason: "OK", Proto: "HTTP/1.1", Header: [][2]string{{"Content-Type", "application/json; charset=UTF-8"}}, ContentLength: -1,
				Body: `{ "resourceName": "people/c123456789012345", "etag": "1234", "emailAddresses": [{ "value": "" }] }`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, seedMessages(t, tt.file, tt.request)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// smugglingTests are messages that must be rejected. after is a part of
// the input that must never come out of the reader: the body or message a
// lenient parser would see behind the bad head or body.
// smugglingTest is a message that must fail, and how.
type smugglingTest struct {
	name     string
	response bool
	opts     MessageOptions
	in       string
	err      error
	off      int64 // -1: not checked
	after    string
	atHead   bool // the Read method itself fails: the message has no body to read
}

var smugglingTests = []smugglingTest{
	{name: "CL with TE", in: "POST /x HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n", err: ErrFramingConflict, off: 0, after: "GET /admin"},
	{name: "TE with CL", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n", err: ErrFramingConflict, off: 0},
	// net/http ignores Transfer-Encoding in HTTP/1.0 and reads no body
	// (or, for a response, the rest): the chunks would be a second message.
	{name: "TE in HTTP/1.0", in: "POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n", err: ErrFramingConflict, off: 0, after: "z"},
	{name: "TE in HTTP/1.0 response", response: true, in: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", err: ErrFramingConflict, off: 0, after: "hello"},
	{name: "disagreeing CL", in: "POST /x HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcdGET /admin HTTP/1.1\r\n\r\n", err: ErrBadContentLength, off: 53, after: "GET /admin"},
	{name: "CL list", in: "POST /x HTTP/1.1\r\nContent-Length: 4, 4\r\n\r\nabcd", err: ErrBadContentLength, off: 34},
	{name: "CL sign", in: "POST /x HTTP/1.1\r\nContent-Length: +4\r\n\r\nabcd", err: ErrBadContentLength, off: 34},
	{name: "CL negative", in: "POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", err: ErrBadContentLength, off: 34},
	{name: "CL hex", in: "POST /x HTTP/1.1\r\nContent-Length: 0x4\r\n\r\n", err: ErrBadContentLength, off: 34},
	{name: "CL empty", in: "POST /x HTTP/1.1\r\nContent-Length:\r\n\r\n", err: ErrBadContentLength, off: 33},
	{name: "CL overflow", in: "POST /x HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n", err: ErrBadContentLength, off: 34},
	{name: "CL huge", in: "POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", err: ErrBadContentLength, off: 34},
	{name: "TE gzip, chunked", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", err: ErrBadTransferEncoding, off: 37},
	{name: "TE chunked, gzip", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", err: ErrBadTransferEncoding, off: 37},
	{name: "TE twice", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", err: ErrBadTransferEncoding, off: 65},
	{name: "TE identity", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\nabc", err: ErrBadTransferEncoding, off: 37},
	{name: "chunk size not hex", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /admin HTTP/1.1\r\n\r\n", err: ErrBadChunk, off: 48, after: "GET /admin"},
	{name: "chunk size with sign", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n", err: ErrBadChunk, off: 48},
	{name: "chunk size overflow", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nabc\r\n0\r\n\r\n", err: ErrBadChunk, off: 48},
	{name: "chunk data too long", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", err: ErrBadChunk, off: 53},
	{name: "chunk with bare CR", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\rx\r\nabc\r\n0\r\n\r\n", err: ErrBadChunk, off: 49},
	{name: "chunk-size line with bare LF", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n", err: ErrBadChunk, off: 49},
	{name: "chunk data with bare LF", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\n0\r\n\r\n", err: ErrBadChunk, off: 53},
	{name: "chunked truncated", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", err: io.ErrUnexpectedEOF, off: 53},
	{name: "chunked without last chunk", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n", err: io.ErrUnexpectedEOF, off: 55},
	{name: "bad trailer", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : 1\r\n\r\n", err: ErrSyntax, off: 52},
	{name: "data after chunked body", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n", err: ErrDataAfterBody, off: 53, after: "GET /admin"},
	{name: "data after CL body", in: "POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /admin HTTP/1.1\r\n\r\n", err: ErrDataAfterBody, off: 42, after: "GET /admin"},
	{name: "data after blank line after CL body", in: "POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\r\n\r\nGET /admin HTTP/1.1\r\n\r\n", err: ErrDataAfterBody, off: 46, after: "GET /admin"},
	{name: "CR alone after CL body", in: "POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\r", err: ErrDataAfterBody, off: 43},
	{name: "CL body missing, head ended by the input", in: "POST /x HTTP/1.1\r\nContent-Length: 3\r\n", err: io.ErrUnexpectedEOF, off: 37},
	{name: "chunked body missing, head ended by the input", in: "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked", err: io.ErrUnexpectedEOF, off: 44},
	{name: "CL body truncated", in: "POST /x HTTP/1.1\r\nContent-Length: 30\r\n\r\nabc", err: io.ErrUnexpectedEOF, off: 43},
	{name: "data after 304", response: true, in: "HTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 200 OK\r\n\r\nsecret", err: ErrDataAfterBody, off: 29, after: "secret", atHead: true},
	{name: "data after 204 with CL", response: true, in: "HTTP/1.1 204 No Content\r\nContent-Length: 6\r\n\r\nsecret", err: ErrDataAfterBody, off: 46, after: "secret", atHead: true},
	// A message without body has been read when its head has: what
	// follows it is found then, not only if someone reads the empty body.
	{name: "request after CL 0 request", in: "POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n", err: ErrDataAfterBody, off: 39, after: "GET /admin", atHead: true},
	{name: "request after CL 0 request and blank lines", in: "POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n\r\n\nGET /admin HTTP/1.1\r\n\r\n", err: ErrDataAfterBody, off: 42, after: "GET /admin", atHead: true},
	{name: "response after 204", response: true, in: "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret", err: ErrDataAfterBody, off: 27, after: "secret", atHead: true},
	{name: "response after CL 0 response", response: true, in: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\nsecret", err: ErrDataAfterBody, off: 38, after: "secret", atHead: true},
	{name: "final response after 100 Continue", response: true, in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret", err: ErrDataAfterBody, off: 25, after: "secret", atHead: true},
	{name: "CR alone after 304", response: true, in: "HTTP/1.1 304 Not Modified\r\n\r\n\r", err: ErrDataAfterBody, off: 30, atHead: true},
	{name: "method not a token", in: "G(T /x HTTP/1.1\r\n\r\n", err: ErrBadMethod, off: 0},
	{name: "method with CR", in: "GET\r /x HTTP/1.1\r\n\r\n", err: ErrSyntax, off: 3},
	{name: "empty method", in: " /x HTTP/1.1\r\n\r\n", err: ErrBadMethod, off: 0},
	{name: "method only", in: "GET\r\n\r\n", err: ErrSyntax, off: 3},
	{name: "two spaces", in: "GET  /x HTTP/1.1\r\n\r\n", err: ErrBadVersion, off: -1},
	{name: "space in target", in: "GET /a b HTTP/1.1\r\n\r\n", err: ErrBadVersion, off: 7},
	{name: "NUL in target", in: "GET /a\x00b HTTP/1.1\r\n\r\n", err: ErrBadTarget, off: 6},
	{name: "bad percent escape in target", in: "GET /a%2x HTTP/1.1\r\n\r\n", err: ErrBadTarget, off: 6},
	{name: "percent at the end of target", in: "GET /a% HTTP/1.1\r\n\r\n", err: ErrBadTarget, off: 6},
	{name: "tab in target", in: "GET /a\tb\r\n\r\n", err: ErrBadTarget, off: 6},
	{name: "HTTP/2", in: "GET /x HTTP/2.0\r\n\r\n", err: ErrBadVersion, off: 7},
	{name: "lowercase version", in: "GET /x http/1.1\r\n\r\n", err: ErrBadVersion, off: 7},
	{name: "absolute-form by default", in: "GET https://evil.example/x HTTP/1.1\r\n\r\n", err: ErrBadTargetForm, off: 4},
	{name: "authority-form by default", in: "CONNECT evil.example:443 HTTP/1.1\r\n\r\n", err: ErrBadTargetForm, off: 8},
	{name: "relative by default", in: "GET Customers('ALFKI') HTTP/1.1\r\n\r\n", err: ErrBadTargetForm, off: 4},
	{name: "asterisk with GET", in: "GET * HTTP/1.1\r\n\r\n", err: ErrBadTargetForm, off: 4},
	{name: "relative allowed, absolute still not", opts: MessageOptions{AllowRelativeTargets: true}, in: "GET http://evil.example/ HTTP/1.1\r\n\r\n", err: ErrBadTargetForm, off: 4},
	{name: "status +20", response: true, in: "HTTP/1.1 +20 OK\r\n\r\n", err: ErrBadStatus, off: 9},
	{name: "status 099", response: true, in: "HTTP/1.1 099 OK\r\n\r\n", err: ErrBadStatus, off: 9},
	{name: "status 20", response: true, in: "HTTP/1.1 20 OK\r\n\r\n", err: ErrBadStatus, off: 8},
	{name: "status 2000", response: true, in: "HTTP/1.1 2000 OK\r\n\r\n", err: ErrBadStatus, off: 8},
	{name: "status without space", response: true, in: "HTTP/1.1200 OK\r\n\r\n", err: ErrBadStatus, off: 8},
	{name: "reason with NUL", response: true, in: "HTTP/1.1 200 O\x00K\r\n\r\n", err: ErrBadStatus, off: 14},
	{name: "reason with bare CR", response: true, in: "HTTP/1.1 200 O\rK\r\n\r\n", err: ErrBadStatus, off: 14},
	{name: "status line garbage", response: true, in: "HELLO\r\n\r\n", err: ErrBadVersion, off: 0},
	{name: "bare CR in field", in: "GET /x HTTP/1.1\r\nX: a\rb\r\n\r\n", err: ErrSyntax, off: 21},
	{name: "bare CR as line end", in: "GET /x HTTP/1.1\r\nX: a\rContent-Length: 5\r\n\r\nhello", err: ErrSyntax, off: 21},
	{name: "NUL in field value", in: "GET /x HTTP/1.1\r\nX: a\x00b\r\n\r\n", err: ErrSyntax, off: 21},
	{name: "DEL in field value", in: "GET /x HTTP/1.1\r\nX: a\x7f\r\n\r\n", err: ErrSyntax, off: 21},
	{name: "ESC in field value", in: "GET /x HTTP/1.1\r\nX: \x1b[1m\r\n\r\n", err: ErrSyntax, off: 20},
	{name: "space before colon", in: "POST /x HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello", err: ErrSyntax, off: 32},
	{name: "tab before colon", in: "POST /x HTTP/1.1\r\nTransfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n", err: ErrSyntax, off: 35},
	{name: "obs-fold", in: "POST /x HTTP/1.1\r\nX: a\r\n b\r\n\r\n", err: ErrSyntax, off: 24},
	{name: "obs-fold hiding TE", in: "POST /x HTTP/1.1\r\nX: a\r\n\tTransfer-Encoding: chunked\r\n\r\n", err: ErrSyntax, off: 24},
	{name: "whitespace before first field", in: "POST /x HTTP/1.1\r\n Content-Length: 5\r\n\r\nhello", err: ErrSyntax, off: 18},
	{name: "field without colon", in: "GET /x HTTP/1.1\r\nHello\r\n\r\n", err: ErrSyntax, off: 17},
	{name: "empty field name", in: "GET /x HTTP/1.1\r\n: v\r\n\r\n", err: ErrSyntax, off: 17},
	{name: "non-token field name", in: "GET /x HTTP/1.1\r\nX[1]: v\r\n\r\n", err: ErrSyntax, off: 18},
	{name: "request line too long", opts: MessageOptions{MaxStartLineBytes: 16}, in: "GET /0123456789abc HTTP/1.1\r\n\r\n", err: ErrStartLineTooLong, off: 0},
	{name: "request line too long, unterminated", opts: MessageOptions{MaxStartLineBytes: 16}, in: "GET /0123456789abcdefghijklmnopq", err: ErrStartLineTooLong, off: 0},
	{name: "head too large", opts: MessageOptions{MaxHeaderBytes: 40}, in: "GET /x HTTP/1.1\r\nX: 0123456789\r\nY: 0123456789\r\n\r\n", err: ErrHeaderTooLarge, off: 0},
	{name: "too many fields", opts: MessageOptions{MaxHeaderFields: 2}, in: "GET /x HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", err: ErrTooManyFields, off: 29},
	{name: "empty message", in: "", err: io.ErrUnexpectedEOF, off: 0},
	{name: "blank lines only", in: "\r\n\r\n", err: io.ErrUnexpectedEOF, off: 4},
}

func TestSmuggling(t *testing.T) {
	for _, tt := range smugglingTests {
		for sname, src := range sources(t, tt.in) {
			for dname, drain := range smugglingDrains {
				t.Run(tt.name+"/"+sname+"/"+dname, func(t *testing.T) {
					testSmuggling(t, tt, src(), drain)
				})
			}
		}
	}
}

// smugglingDrains are the ways TestSmuggling reads a body: Read, and
// WriteTo, which takes a path of its own when the whole body is buffered.
var smugglingDrains = map[string]func(*MessageBody) ([]byte, error){
	"read": func(b *MessageBody) ([]byte, error) { return io.ReadAll(b) },
	"writeto": func(b *MessageBody) ([]byte, error) {
		var out bytes.Buffer
		_, err := b.WriteTo(&out)
		return out.Bytes(), err
	},
}

// testSmuggling reads tt's message from src, its body with drain, and
// checks that it fails as tt says.
func testSmuggling(t *testing.T, tt smugglingTest, src io.Reader, drain func(*MessageBody) ([]byte, error)) {
	m := NewMessageReaderOptions(nil, tt.opts)
	m.Reset(src)
	var body []byte
	var err error
	var head *Header
	atHead := true
	if tt.response {
		var r *Response
		if r, err = m.ReadResponse(""); err == nil {
			head = &r.Header
			body, err = drain(r.Body)
			atHead = false
		}
	} else {
		var r *Request
		if r, err = m.ReadRequest(); err == nil {
			head = &r.Header
			body, err = drain(r.Body)
			atHead = false
		}
	}
	if tt.atHead && !atHead {
		t.Errorf("the error %v comes from the body, not from the Read method", err)
	}
	if !errors.Is(err, tt.err) {
		t.Fatalf("error %v, want %v", err, tt.err)
	}
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %v is not a *SyntaxError", err)
	}
	if tt.off >= 0 && se.Offset != tt.off {
		t.Errorf("offset %d, want %d (%v)", se.Offset, tt.off, err)
	}
	// Nothing behind the bad message comes out: not as body,
	// not as fields, not as a second message.
	if tt.after != "" && bytes.Contains(body, []byte(tt.after)) {
		t.Errorf("body %q holds %q", body, tt.after)
	}
	if head != nil {
		for _, v := range head.All() {
			if tt.after != "" && bytes.Contains(v, []byte(tt.after)) {
				t.Errorf("field value %q holds %q", v, tt.after)
			}
		}
	}
	if _, err2 := m.ReadRequest(); err2 != err {
		t.Errorf("ReadRequest after the error: %v, want the same error %v", err2, err)
	}
	if _, err2 := m.ReadResponse(""); err2 != err {
		t.Errorf("ReadResponse after the error: %v, want the same error %v", err2, err)
	}
}

// MessageBody.WriteTo reports a failed or short write, and what it wrote,
// as Part.WriteTo does, on every source: the whole body buffered behind
// its head (one Write) or arriving in pieces.
func TestMessageBodyWriteToWriterErrors(t *testing.T) {
	errBoom := errors.New("boom")
	in := "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789\r\n"
	for sname, src := range sources(t, in) {
		for _, c := range []struct {
			name string
			werr error
			want error
		}{{"error", errBoom, errBoom}, {"short write", nil, io.ErrShortWrite}} {
			m := NewMessageReader(src())
			r, err := m.ReadResponse("")
			if err != nil {
				t.Fatalf("%s: %v", sname, err)
			}
			w := &failWriter{n: 4, err: c.werr}
			n, err := r.Body.WriteTo(w)
			if err != c.want || n != 4 || w.wrote.String() != "0123" {
				t.Errorf("%s/%s: WriteTo = %d, %v (wrote %q), want 4, %v", sname, c.name, n, err, w.wrote.String(), c.want)
			}
		}
	}
}

func TestReadHeadLimitsDefaults(t *testing.T) {
	line := "GET /" + strings.Repeat("a", DefaultMaxStartLineBytes-len("GET / HTTP/1.1")) + " HTTP/1.1\r\n"
	if _, err := NewMessageReader(strings.NewReader(line + "\r\n")).ReadRequest(); err != nil {
		t.Errorf("request line of exactly %d bytes: %v", DefaultMaxStartLineBytes, err)
	}
	line = "GET /" + strings.Repeat("a", DefaultMaxStartLineBytes-len("GET / HTTP/1.1")+1) + " HTTP/1.1\r\n"
	if _, err := NewMessageReader(strings.NewReader(line + "\r\n")).ReadRequest(); !errors.Is(err, ErrStartLineTooLong) {
		t.Errorf("request line of %d bytes: %v, want ErrStartLineTooLong", DefaultMaxStartLineBytes+1, err)
	}
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\n")
	for i := 0; i < DefaultMaxHeaderFields; i++ {
		b.WriteString("X: 1\r\n")
	}
	if _, err := NewMessageReader(strings.NewReader(b.String() + "\r\n")).ReadRequest(); err != nil {
		t.Errorf("%d fields: %v", DefaultMaxHeaderFields, err)
	}
	if _, err := NewMessageReader(strings.NewReader(b.String() + "X: 1\r\n\r\n")).ReadRequest(); !errors.Is(err, ErrTooManyFields) {
		t.Errorf("%d fields: %v, want ErrTooManyFields", DefaultMaxHeaderFields+1, err)
	}
	big := "GET / HTTP/1.1\r\nX: " + strings.Repeat("v", DefaultMaxHeaderBytes) + "\r\n\r\n"
	if _, err := NewMessageReader(strings.NewReader(big)).ReadRequest(); !errors.Is(err, ErrHeaderTooLarge) {
		t.Errorf("head over %d bytes: %v, want ErrHeaderTooLarge", DefaultMaxHeaderBytes, err)
	}
}

// A batch response read with a reused Reader and MessageReader allocates
// nothing per part.
func TestReadBatchDoesNotAllocate(t *testing.T) {
	batch := httpBenchBatch(50)
	var r Reader
	var m MessageReader
	src := bytes.NewReader(batch)
	allocs := testing.AllocsPerRun(20, func() {
		src.Reset(batch)
		r.Reset(src, httpBenchBoundary)
		for {
			p, err := r.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			m.Reset(p)
			resp, err := m.ReadResponse("")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || resp.Header.GetBytes("ETag") == nil {
				t.Fatal("wrong response")
			}
			if _, err := resp.Body.WriteTo(io.Discard); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per batch, want 0", allocs)
	}
}

// From a Part, the body comes out as views of the Part's buffer: the
// MessageReader copies only the head.
func TestBodyFromPartIsNotCopied(t *testing.T) {
	msg := httpBenchResponse(1)
	body := []byte("--b\r\n\r\n" + msg + "\r\n--b--\r\n")
	r := NewReader(bytes.NewReader(body), "b")
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	m := NewMessageReader(p)
	resp, err := m.ReadResponse("")
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for {
		c, err := resp.Body.ReadChunk()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		buf := r.buf[:cap(r.buf)]
		if len(c) > 0 && !(&c[0] == &buf[0] || uintptrIn(c, buf)) {
			t.Errorf("chunk %q is not a view of the part's buffer", c)
		}
		got = append(got, c...)
	}
	if diff := cmp.Diff(httpBenchJSON, string(got)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// uintptrIn reports whether c's first byte lies inside buf.
func uintptrIn(c, buf []byte) bool {
	for i := range buf {
		if &buf[i] == &c[0] {
			return true
		}
	}
	return false
}

// oneChunk hands out b in one ReadChunk, as batch.Handler's source does
// with a whole call.
type oneChunk struct{ b []byte }

func (c *oneChunk) ReadChunk() ([]byte, error) {
	if len(c.b) == 0 {
		return nil, io.EOF
	}
	b := c.b
	c.b = nil
	return b, nil
}

func (c *oneChunk) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.b)
	c.b = c.b[n:]
	return n, nil
}

// retained is what a MessageReader keeps between messages.
func (m *MessageReader) retained() int {
	return cap(m.head) + cap(m.lineBuf) + cap(m.trailerBuf) + cap(m.rbuf)
}

// What a MessageReader keeps is bounded by its limits, whatever the size
// of its source's chunks: a 16 MiB chunk leaves no 16 MiB buffer behind,
// whether the message is read or refused, and across Resets.
func TestMessageReaderRetainsBounded(t *testing.T) {
	const big = 16 << 20
	bound := 2*(DefaultMaxHeaderBytes+headPiece) + 2*DefaultMaxHeaderBytes + 32<<10
	fill := func(head string, c byte) []byte {
		b := make([]byte, big)
		n := copy(b, head)
		for i := n; i < len(b); i++ {
			b[i] = c
		}
		return b
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		want error
	}{
		// Empty lines before the start line take the slow path.
		{"blank line first", fill("\r\nPOST / HTTP/1.1\r\nContent-Length: "+strconv.Itoa(big-len("\r\nPOST / HTTP/1.1\r\nContent-Length: 16777216\r\n\r\n"))+"\r\n\r\n", 'x'), nil},
		{"no end of head", fill("POST / HTTP/1.1\r\nA: ", 'x'), ErrHeaderTooLarge},
		{"blank line first, no end of head", fill("\r\nPOST / HTTP/1.1\r\nA: ", 'x'), ErrHeaderTooLarge},
		{"chunk-size line", fill("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", '1'), ErrBadChunk},
		{"trailer line", fill("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: ", 'x'), ErrHeaderTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m MessageReader
			for range 2 {
				m.Reset(&oneChunk{tc.msg})
				r, err := m.ReadRequest()
				if err == nil {
					_, err = io.Copy(io.Discard, r.Body)
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("%v, want %v", err, tc.want)
				}
				m.Reset(nil)
				if got := m.retained(); got > bound {
					t.Fatalf("keeps %d bytes after Reset, over %d", got, bound)
				}
			}
		})
	}
}

// ReadFinalResponse skips interim responses to the final one, as net/http's
// client does, and never returns a 1xx response.
func TestReadFinalResponse(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		method   string
		want     testMsg
		err      error
		off      int64
	}{
		{name: "100 Continue", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			want: testMsg{Status: 200, Reason: "OK", Proto: "HTTP/1.1", Header: [][2]string{{"Content-Length", "2"}}, ContentLength: 2, Body: "ok"}},
		{name: "no interim", in: "HTTP/1.1 200 OK\r\n\r\nrest",
			want: testMsg{Status: 200, Reason: "OK", Proto: "HTTP/1.1", ContentLength: -1, Body: "rest"}},
		{name: "103 and 100, LF and blank lines", in: "HTTP/1.1 103 Early Hints\nLink: </a>\n\nHTTP/1.1 100 Continue\r\n\r\n\r\nHTTP/1.1 204 No Content\r\nX: 1\r\n\r\n\r\n",
			want: testMsg{Status: 204, Reason: "No Content", Proto: "HTTP/1.1", Header: [][2]string{{"X", "1"}}}},
		{name: "five interim", in: strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 5) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			want: testMsg{Status: 200, Reason: "OK", Proto: "HTTP/1.1", Header: [][2]string{{"Content-Length", "0"}}}},
		{name: "HEAD after 100", method: "HEAD", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
			want: testMsg{Status: 200, Reason: "OK", Proto: "HTTP/1.1", Header: [][2]string{{"Content-Length", "5"}}}},
		{name: "six interim", in: strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 6) + "HTTP/1.1 200 OK\r\n\r\n", err: ErrBadStatus, off: 125},
		{name: "interim only", in: "HTTP/1.1 100 Continue\r\n\r\n", err: io.ErrUnexpectedEOF, off: 25},
		{name: "interim ended by the input", in: "HTTP/1.1 100 Continue", err: io.ErrUnexpectedEOF, off: 21},
		{name: "101", in: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", err: ErrBadStatus, off: 0},
		{name: "bad final status", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2000 OK\r\n\r\n", err: ErrBadStatus, off: 33},
		{name: "data after final 204", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", err: ErrDataAfterBody, off: 52},
		{name: "data after final body", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n", err: ErrDataAfterBody, off: 65},
		{name: "body on interim", in: "HTTP/1.1 100 Continue\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n", err: ErrBadVersion, off: 44},
	} {
		for sname, src := range sources(t, tt.in) {
			t.Run(tt.name+"/"+sname, func(t *testing.T) {
				m := NewMessageReader(src())
				r, err := m.ReadFinalResponse(tt.method)
				var got testMsg
				if err == nil {
					got = testMsg{Status: r.StatusCode, Reason: string(r.Reason), Proto: protoString(r.ProtoMajor, r.ProtoMinor),
						Header: fields(&r.Header), ContentLength: r.ContentLength, Chunked: r.Chunked}
					got.Body, err = drainWriteTo(r.Body)
				}
				if !errors.Is(err, tt.err) || tt.err == nil && err != nil {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				if err != nil {
					var se *SyntaxError
					if !errors.As(err, &se) || se.Offset != tt.off {
						t.Errorf("error %v, want one at offset %d", err, tt.off)
					}
					return
				}
				if diff := cmp.Diff(tt.want, got, cmpEmptyAsNil); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	}
}

// A response to HEAD has no body whatever its Content-Length says: bytes
// after its head are found by ReadResponse.
func TestReadResponseHEADDataAfter(t *testing.T) {
	m := NewMessageReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	if _, err := m.ReadResponse("HEAD"); !errors.Is(err, ErrDataAfterBody) {
		t.Errorf("ReadResponse(HEAD): %v, want ErrDataAfterBody", err)
	}
	m.Reset(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n\r\n"))
	if r, err := m.ReadResponse("HEAD"); err != nil || r.ContentLength != 0 {
		t.Errorf("ReadResponse(HEAD) followed by a blank line: %v, %v", r, err)
	}
}

// A head read from a plain io.Reader stays in the MessageReader's read
// buffer (no copy), and the body's reads go after it: the head's views
// keep their bytes while the body is read in many reads, up to the end of
// that buffer and past it, and fields added to the Header go elsewhere
// than the body's bytes.
func TestHeadInPlaceOutlivesBodyReads(t *testing.T) {
	for _, size := range []int{0, 1, 100, 4 << 10, 31 << 10, 100 << 10} {
		for _, first := range []int{0, 1, 3000} {
			body := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
			head := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n"
			in := append([]byte(head), body...)
			// The head and first bytes of the body in one read, the rest
			// in reads of 1000 bytes.
			cuts := []int{len(head) + min(first, size)}
			for range size / 1000 {
				cuts = append(cuts, 1000)
			}
			m := NewMessageReader(&chunkedReader{src: in, cuts: cuts})
			r, err := m.ReadResponse("")
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Add("X-Added", strings.Repeat("x", 64))
			want := [][2]string{{"Content-Type", "text/plain"}, {"Content-Length", strconv.Itoa(size)}, {"X-Added", strings.Repeat("x", 64)}}
			var got []byte
			for {
				c, err := r.Body.ReadChunk()
				got = append(got, c...)
				if diff := cmp.Diff(want, fields(&r.Header)); diff != "" || string(r.Reason) != "OK" {
					t.Fatalf("size %d, first %d: after %d body bytes, reason %q, header (-want +got):\n%s", size, first, len(got), r.Reason, diff)
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, body) {
				t.Fatalf("size %d, first %d: body differs", size, first)
			}
		}
	}
}

// A chunked message whose Trailer field declares a framing field
// (Content-Length, Transfer-Encoding, Trailer) is refused, as net/http
// refuses it: RFC 9110 §6.5.1 keeps framing fields out of trailers, and a
// peer that merges trailer fields into the header would frame the message
// anew. The same declaration without chunked, and a Trailer naming other
// fields, are read as net/http reads them.
func TestTrailerDeclaresFramingField(t *testing.T) {
	for _, tc := range []struct {
		in      string
		request bool
		method  string
		err     error // nil: both accept
		off     int64
	}{
		{in: "POST / HTTP/1.1\r\nTrailer: Content-Length\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nContent-Length: 5\r\n\r\n", request: true, err: ErrFramingConflict, off: 26},
		{in: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTrailer: x, transfer-encoding\r\n\r\n0\r\n\r\n", request: true, err: ErrFramingConflict, off: 54},
		{in: "POST / HTTP/1.1\r\nTrailer: \tTrailer \r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", request: true, err: ErrFramingConflict, off: 27},
		{in: "HTTP/1.1 200 OK\r\nTrailer: Content-Length\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n", err: ErrFramingConflict, off: 26},
		{in: "HTTP/1.1 204 No Content\r\nTrailer: Content-Length\r\nTransfer-Encoding: chunked\r\n\r\n", err: ErrFramingConflict, off: 34},
		{in: "HTTP/1.1 200 OK\r\nTrailer: Content-Length\r\nTransfer-Encoding: chunked\r\n\r\n", method: "HEAD", err: ErrFramingConflict, off: 26},
		{in: "POST / HTTP/1.1\r\nTrailer: Content-Length\r\nContent-Length: 1\r\n\r\na", request: true},
		{in: "POST / HTTP/1.1\r\nTrailer: X-Sum, Content-Lengths, ,\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-Sum: 1\r\n\r\n", request: true},
		{in: "HTTP/1.1 200 OK\r\nTrailer: Content-Length x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	} {
		_, _, _, _, serr := stdRead([]byte(tc.in), tc.request, "final:"+tc.method)
		if (serr == nil) != (tc.err == nil) {
			t.Fatalf("%q: net/http: %v; the test expects %v", tc.in, serr, tc.err)
		}
		for sname, src := range sources(t, tc.in) {
			m := NewMessageReader(src())
			var err error
			if tc.request {
				var r *Request
				if r, err = m.ReadRequest(); err == nil {
					_, err = io.ReadAll(r.Body)
				}
			} else {
				var r *Response
				if r, err = m.ReadResponse(tc.method); err == nil {
					_, err = io.ReadAll(r.Body)
				}
			}
			if tc.err == nil {
				if err != nil {
					t.Errorf("%q (%s): %v, want it read as net/http reads it", tc.in, sname, err)
				}
				continue
			}
			var se *SyntaxError
			if !errors.Is(err, tc.err) || !errors.As(err, &se) || se.Offset != tc.off {
				t.Errorf("%q (%s): %v, want %v at offset %d (net/http: %v)", tc.in, sname, err, tc.err, tc.off, serr)
			}
		}
	}
}

// A chunked message's Trailer field declares at most MaxHeaderFields
// names, the most its trailer section may hold: HTTPRequest and
// HTTPResponse make a map entry of each (net/http too, for any number: a
// 64 KiB head could declare some 12,000 names, 1 MiB of map). Up to the
// limit, the declared names are those net/http declares; past it, the
// message is refused with ErrTooManyFields at the Trailer field that
// passes it. Without chunked, the field is an ordinary one, as for
// net/http.
func TestTrailerDeclaresTooManyNames(t *testing.T) {
	names := func(from, n int) string {
		var b []string
		for i := range n {
			b = append(b, "X-T"+strconv.Itoa(from+i))
		}
		return strings.Join(b, ", ")
	}
	const rq, rs = "POST / HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\n"
	const chunked, body = "Transfer-Encoding: chunked\r\n", "\r\n1\r\na\r\n0\r\n\r\n"
	for _, tc := range []struct {
		name      string
		in        string
		request   bool
		maxFields int   // 0: the default
		off       int64 // -1: accepted
	}{
		{name: "request/100", in: rq + chunked + "Trailer: " + names(0, 100) + "\r\n" + body, request: true, off: -1},
		{name: "request/101", in: rq + chunked + "Trailer: " + names(0, 101) + "\r\n" + body, request: true, off: int64(len(rq + chunked + "Trailer: "))},
		{name: "request/60+41", in: rq + "Trailer: " + names(0, 60) + "\r\n" + chunked + "Trailer: ,, " + names(60, 41) + " ,\r\n" + body, request: true,
			off: int64(len(rq + "Trailer: " + names(0, 60) + "\r\n" + chunked + "Trailer: "))},
		{name: "request/duplicates", in: rq + chunked + "Trailer: " + strings.Repeat("X-Same,", 101) + "\r\n" + body, request: true, off: int64(len(rq + chunked + "Trailer: "))},
		{name: "request/not-chunked", in: rq + "Content-Length: 1\r\nTrailer: " + names(0, 500) + "\r\n\r\na", request: true, off: -1},
		{name: "response/100", in: rs + chunked + "Trailer: " + names(0, 100) + "\r\n" + body, off: -1},
		{name: "response/101", in: rs + "Trailer: " + names(0, 101) + "\r\n" + chunked + body, off: int64(len(rs + "Trailer: "))},
		{name: "response/option", in: rs + chunked + "Trailer: " + names(0, 4) + "\r\nTrailer: X-More\r\n" + body, maxFields: 4,
			off: int64(len(rs + chunked + "Trailer: " + names(0, 4) + "\r\nTrailer: "))},
	} {
		sreq, sresp, _, _, serr := stdRead([]byte(tc.in), tc.request, "")
		if serr != nil {
			t.Fatalf("%s: net/http refuses the input: %v", tc.name, serr)
		}
		stdTrailer := http.Header(nil)
		if tc.request {
			stdTrailer = sreq.Trailer
		} else {
			stdTrailer = sresp.Trailer
		}
		for sname, src := range sources(t, tc.in) {
			m := NewMessageReaderOptions(src(), MessageOptions{MaxHeaderFields: tc.maxFields})
			var err error
			var trailer http.Header
			if tc.request {
				var r *Request
				if r, err = m.ReadRequest(); err == nil {
					var hr *http.Request
					if hr, err = r.HTTPRequest(context.Background(), nil); err == nil {
						_, err = io.ReadAll(hr.Body)
						trailer = hr.Trailer
					}
				}
			} else {
				var r *Response
				if r, err = m.ReadResponse(""); err == nil {
					hr := r.HTTPResponse(nil)
					_, err = io.ReadAll(hr.Body)
					trailer = hr.Trailer
				}
			}
			if tc.off < 0 {
				if err != nil {
					t.Errorf("%s (%s): %v, want it read as net/http reads it", tc.name, sname, err)
				} else if diff := cmp.Diff(stdTrailer, trailer); diff != "" {
					t.Errorf("%s (%s): Trailer differs from net/http's (-want +got):\n%s", tc.name, sname, diff)
				}
				continue
			}
			var se *SyntaxError
			if !errors.Is(err, ErrTooManyFields) || !errors.As(err, &se) || se.Offset != tc.off {
				t.Errorf("%s (%s): %v, want ErrTooManyFields at offset %d", tc.name, sname, err, tc.off)
			}
		}
	}
}

// Chunk-size lines against net/http: a size of more than 16 hex digits,
// leading zeros included, is refused by both; up to 16 digits, and the
// extensions and white space both accept, read the same body.
func TestChunkSizeLineVsStd(t *testing.T) {
	const head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	for _, tc := range []struct {
		chunks string
		ok     bool
	}{
		{"00000000000000001\r\na\r\n0\r\n\r\n", false},
		{"1\r\na\r\n00000000000000000\r\n\r\n", false},
		{"000000000000000000000000000000001;x\r\na\r\n0\r\n\r\n", false},
		{"10000000000000000\r\na\r\n0\r\n\r\n", false},
		{"0000000000000001\r\na\r\n0000000000000000\r\n\r\n", true},
		{"1;x=\"y\"\r\na\r\n0 \r\n\r\n", true},
		{"1\t\r\na\r\n0;z\r\n\r\n", true},
	} {
		in := head + tc.chunks
		_, _, sbody, _, serr := stdRead([]byte(in), true, "")
		if (serr == nil) != tc.ok {
			t.Fatalf("%q: net/http: %v; the test expects ok=%v", in, serr, tc.ok)
		}
		for sname, src := range sources(t, in) {
			r, err := NewMessageReader(src()).ReadRequest()
			var body []byte
			if err == nil {
				body, err = io.ReadAll(r.Body)
			}
			switch {
			case tc.ok && (err != nil || string(body) != string(sbody)):
				t.Errorf("%q (%s): body %q, %v; net/http reads %q", in, sname, body, err, sbody)
			case !tc.ok && !errors.Is(err, ErrBadChunk):
				t.Errorf("%q (%s): body %q, %v, want ErrBadChunk (net/http: %v)", in, sname, body, err, serr)
			}
		}
	}
}
