package mixed

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// httpFuzzOpts keeps the limits small so that the fuzzer reaches them.
var httpFuzzOpts = MessageOptions{MaxStartLineBytes: 256, MaxHeaderBytes: 1024, MaxHeaderFields: 16, AllowAbsoluteTargets: true, AllowRelativeTargets: true}

func httpFuzzSeeds(f *testing.F, request bool) {
	for _, tt := range requestTests {
		if request {
			f.Add([]byte(tt.in))
		}
	}
	for _, tt := range responseTests {
		if !request {
			f.Add([]byte(tt.in))
		}
	}
	for _, tt := range smugglingTests {
		if tt.response != request {
			f.Add([]byte(tt.in))
		}
	}
}

// httpFuzzRead reads one message and checks what holds for every input: no
// panic, the same result however the input is split, memory bounded by the
// limits, and errors that wrap a sentinel in a *SyntaxError.
func httpFuzzRead(t *testing.T, data []byte, request bool) (testMsg, error) {
	m := NewMessageReaderOptions(nil, httpFuzzOpts)
	read := func(src io.Reader) (testMsg, error) {
		if request {
			return readTestRequest(m, src)
		}
		return readTestResponse(m, src, "")
	}
	got, err := read(bytes.NewReader(data))
	// The head buffer holds at most the head limit and one read.
	if max := 2 * (httpFuzzOpts.MaxHeaderBytes + len(m.rbuf)); cap(m.head) > max || cap(m.tbuf) > max || cap(m.lbuf) > max {
		t.Fatalf("buffers grew to %d, %d, %d bytes, over %d", cap(m.head), cap(m.tbuf), cap(m.lbuf), max)
	}
	if err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("error %v is not a *SyntaxError", err)
		}
	}
	one, oerr := read(iotest.OneByteReader(bytes.NewReader(data)))
	if diff := cmp.Diff(got, one); diff != "" || httpErrString(err) != httpErrString(oerr) {
		t.Fatalf("one byte at a time gives another result: %v vs %v (-whole +onebyte):\n%s", err, oerr, diff)
	}
	return got, err
}

func httpErrString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func FuzzReadRequest(f *testing.F) {
	httpFuzzSeeds(f, true)
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := httpFuzzRead(t, data, true)
		std, serr := http.ReadRequest(bufioReader(data))
		if err != nil || serr != nil || std.ProtoMajor != 1 {
			return
		}
		sb, serr := io.ReadAll(std.Body)
		if serr != nil {
			return
		}
		want := testMsg{Method: std.Method, Target: std.RequestURI, Body: string(sb)}
		gotc := testMsg{Method: got.Method, Target: got.Target, Body: got.Body}
		if got.ContentLength < 0 && !got.Chunked {
			// Without framing net/http reads no body; we read the rest.
			want.Body, gotc.Body = "", ""
		}
		if diff := cmp.Diff(want, gotc); diff != "" {
			t.Fatalf("%q: net/http (-) and we (+) disagree:\n%s", data, diff)
		}
		if diff := cmp.Diff(httpDropFraming(std.Header), httpDropFraming(httpCanonFields(got.Header))); diff != "" {
			t.Fatalf("%q: net/http (-) and we (+) disagree on fields:\n%s", data, diff)
		}
	})
}

func FuzzReadResponse(f *testing.F) {
	httpFuzzSeeds(f, false)
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := httpFuzzRead(t, data, false)
		std, serr := http.ReadResponse(bufioReader(data), nil)
		if err != nil || serr != nil {
			return
		}
		sb, serr := io.ReadAll(std.Body)
		if serr != nil {
			return
		}
		want := testMsg{Status: std.StatusCode, Body: string(sb)}
		gotc := testMsg{Status: got.Status, Body: got.Body}
		if diff := cmp.Diff(want, gotc); diff != "" {
			t.Fatalf("%q: net/http (-) and we (+) disagree:\n%s", data, diff)
		}
		if diff := cmp.Diff(httpDropFraming(std.Header), httpDropFraming(httpCanonFields(got.Header))); diff != "" {
			t.Fatalf("%q: net/http (-) and we (+) disagree on fields:\n%s", data, diff)
		}
	})
}

// FuzzMessageRoundTrip writes a message from fuzzed pieces; when the
// writer accepts them, reading gives them back, and net/http reads the
// same.
func FuzzMessageRoundTrip(f *testing.F) {
	f.Add(true, "PUT", "/farm/v1/animals/sheep", 200, "", "Content-Type\x00application/json\x00If-Match\x00\"etag/sheep\"", []byte(`{"a":1}`))
	f.Add(false, "GET", "/", 304, "Not Modified", "ETag\x00\"x\"", []byte(nil))
	f.Add(false, "GET", "/", 599, "", "X\x00a\tb", []byte("body\r\n--b"))
	f.Add(true, "GET /x HTTP/1.1\r\n", "/", 200, "", "X\x00a\r\nY: b", []byte(nil))
	f.Fuzz(func(t *testing.T, request bool, method, target string, status int, reason, fieldList string, body []byte) {
		var h Header
		var fs [][2]string
		parts := strings.Split(fieldList, "\x00")
		for i := 0; i+1 < len(parts); i += 2 {
			h.Add(parts[i], parts[i+1])
			fs = append(fs, [2]string{parts[i], parts[i+1]})
		}
		var out bytes.Buffer
		mw := NewMessageWriter(MessageOptions{})
		var err error
		if request {
			err = mw.WriteRequest(&out, method, target, &h, body)
		} else {
			err = mw.WriteResponse(&out, status, reason, &h, body)
		}
		if err != nil {
			if out.Len() != 0 {
				t.Fatalf("wrote %q before failing with %v", out.Bytes(), err)
			}
			return
		}
		m := NewMessageReader(nil)
		var got testMsg
		if request {
			got, err = readTestRequest(m, bytes.NewReader(out.Bytes()))
		} else {
			got, err = readTestResponse(m, bytes.NewReader(out.Bytes()), "")
		}
		if err != nil {
			t.Fatalf("reading what we wrote, %q: %v", out.Bytes(), err)
		}
		// Values come back trimmed; fields the writer added come last.
		want := make([][2]string, len(fs))
		for i, f := range fs {
			want[i] = [2]string{f[0], string(trimWS([]byte(f[1])))}
		}
		if diff := cmp.Diff(httpNilEmpty(want), httpNilEmpty(got.Header[:min(len(fs), len(got.Header))])); diff != "" {
			t.Fatalf("%q: fields (-want +got):\n%s", out.Bytes(), diff)
		}
		if request && (got.Method != method || got.Target != target) || !request && got.Status != status {
			t.Fatalf("%q: read back %+v", out.Bytes(), got)
		}
		if got.Body != string(body) {
			t.Fatalf("%q: body %q, want %q", out.Bytes(), got.Body, body)
		}
		// net/http reads it too (it only knows some of our target forms).
		if request {
			if _, err := http.ReadRequest(bufioReader(out.Bytes())); err != nil && !strings.Contains(err.Error(), "invalid URI") {
				t.Fatalf("net/http rejects %q: %v", out.Bytes(), err)
			}
		} else if _, err := http.ReadResponse(bufioReader(out.Bytes()), nil); err != nil {
			t.Fatalf("net/http rejects %q: %v", out.Bytes(), err)
		}
	})
}
