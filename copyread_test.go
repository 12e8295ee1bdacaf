package mixed_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mixedcodec/mixed"
	"pgregory.net/rapid"
)

// batchResponseWire is a batch response body written by hand: a response
// with Content-Length, a chunked one with a trailer, a 304 without body, a
// status line without reason whose body runs to the end of its part, and
// a part without Content-ID.
const batchResponseWire = "preamble\r\n" +
	"--b1\r\nContent-Type: application/http\r\nContent-ID: <response-item1>\r\n\r\n" +
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: \"e1\"\r\nContent-Length: 11\r\n\r\n{\"id\":\"p\"}\n\r\n" +
	"--b1\r\nContent-Type: application/http\r\nContent-ID: <response-item2>\r\n\r\n" +
	"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n" +
	"\r\n--b1\r\nContent-Type: application/http\r\nContent-ID: <response-item3>\r\n\r\n" +
	"HTTP/1.1 304 Not Modified\r\nETag: \"e3\"\r\n\r\n" +
	"\r\n--b1\r\nContent-Type: application/http\r\n\r\n" +
	"HTTP/1.0 404\r\nX-A: 1\r\nx-a: 2\r\n\r\nnot found, to the end of the part" +
	"\r\n--b1--\r\nepilogue"

// copiedResponse is a response as the tests compare it.
type copiedResponse struct {
	ContentID     string
	Status        string
	StatusCode    int
	Proto         string
	Header        http.Header
	ContentLength int64
	Body          string
	Trailer       http.Header
}

// stdResponses reads a batch response with mime/multipart and
// http.ReadResponse, the oracle.
func stdResponses(t *testing.T, wire, boundary string) []copiedResponse {
	t.Helper()
	mr := multipart.NewReader(strings.NewReader(wire), boundary)
	var out []copiedResponse
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("oracle: NextRawPart: %v", err)
		}
		res, err := http.ReadResponse(bufio.NewReader(p), nil)
		if err != nil {
			t.Fatalf("oracle: ReadResponse: %v", err)
		}
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("oracle: body: %v", err)
		}
		if len(res.Status) == 3 {
			// Response.HTTPResponse gives a status line without reason
			// the standard one, as documented.
			res.Status += " " + http.StatusText(res.StatusCode)
		}
		out = append(out, comparable(p.Header.Get("Content-Id"), res, body))
	}
}

func comparable(contentID string, res *http.Response, body []byte) copiedResponse {
	h := res.Header.Clone()
	// net/http moves the framing fields out of the Header.
	h.Del("Transfer-Encoding")
	h.Del("Trailer")
	return copiedResponse{contentID, res.Status, res.StatusCode, res.Proto, h, res.ContentLength, string(body), res.Trailer}
}

// collectResponses ranges over seq to its end, reading each body after the
// loop, when a streaming body would be dead.
func collectResponses(seq func(func(*mixed.CopiedResponse, error) bool)) ([]copiedResponse, error) {
	var got []*mixed.CopiedResponse
	var err error
	for cr, e := range seq {
		if e != nil {
			if cr != nil {
				return nil, errors.New("a part yielded with an error")
			}
			err = e
			break
		}
		got = append(got, cr)
	}
	out := make([]copiedResponse, 0, len(got))
	for _, cr := range got {
		body, rerr := io.ReadAll(cr.Response.Body)
		if rerr != nil {
			return nil, rerr
		}
		out = append(out, comparable(cr.ContentID, cr.Response, body))
	}
	return out, err
}

func TestReadResponsesVsStdlib(t *testing.T) {
	want := stdResponses(t, batchResponseWire, "b1")
	if len(want) != 4 {
		t.Fatalf("oracle read %d responses, want 4", len(want))
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":   func(r io.Reader) io.Reader { return r },
		"OneByte": iotest.OneByteReader,
		"Half":    iotest.HalfReader,
		"DataErr": iotest.DataErrReader,
	}
	for name, wrap := range readers {
		t.Run(name, func(t *testing.T) {
			got, err := collectResponses(mixed.ReadResponses(wrap(strings.NewReader(batchResponseWire)), "b1"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ReadResponses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResponsesFromHTTPResponse(t *testing.T) {
	resp := &http.Response{
		Header: http.Header{"Content-Type": {`multipart/mixed; boundary="b1"`}},
		Body:   io.NopCloser(strings.NewReader(batchResponseWire)),
	}
	got, err := collectResponses(mixed.Responses(resp))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(stdResponses(t, batchResponseWire, "b1"), got); diff != "" {
		t.Errorf("Responses (-want +got):\n%s", diff)
	}

	resp.Header.Set("Content-Type", "application/json")
	n := 0
	for cr, err := range mixed.Responses(resp) {
		n++
		if cr != nil || !errors.Is(err, mixed.ErrNotMultipart) {
			t.Errorf("Responses of a JSON response yielded %v, %v; want nil and ErrNotMultipart", cr, err)
		}
	}
	if n != 1 {
		t.Errorf("Responses of a JSON response yielded %d times, want once", n)
	}
}

func TestReadResponsesPartHeader(t *testing.T) {
	for cr, err := range mixed.ReadResponses(strings.NewReader(batchResponseWire), "b1") {
		if err != nil {
			t.Fatal(err)
		}
		want := [][2]string{{"Content-Type", "application/http"}}
		if cr.ContentID != "" {
			want = append(want, [2]string{"Content-ID", cr.ContentID})
		}
		var got [][2]string
		for name, value := range cr.PartHeader.All() {
			got = append(got, [2]string{string(name), string(value)})
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("PartHeader of %q (-want +got):\n%s", cr.ContentID, diff)
		}
	}
}

// Interim responses are skipped as net/http's client skips them; the
// oracle is the same response without them.
func TestReadResponsesSkipsInterim(t *testing.T) {
	const final = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	wire := "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + final + "\r\n--b--\r\n"
	got, err := collectResponses(mixed.ReadResponses(strings.NewReader(wire), "b"))
	if err != nil {
		t.Fatal(err)
	}
	want := stdResponses(t, "--b\r\n\r\n"+final+"\r\n--b--\r\n", "b")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReadPartsVsStdlib(t *testing.T) {
	type stdPart struct {
		Header map[string][]string
		Body   string
	}
	var want []stdPart
	mr := multipart.NewReader(strings.NewReader(batchResponseWire), "b1")
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, stdPart{p.Header, string(body)})
	}
	for _, wrap := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader} {
		var parts []*mixed.CopiedPart
		for p, err := range mixed.ReadPartsOptions(wrap(strings.NewReader(batchResponseWire)), "b1", mixed.CopyOptions{Reader: mixed.ReaderOptions{BufferSize: 16}}) {
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, p)
		}
		var got []stdPart // compared after the loop: the copies stay valid
		for _, p := range parts {
			got = append(got, stdPart{p.Header.MIMEHeader(), string(p.Body)})
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ReadParts (-want +got):\n%s", diff)
		}
	}
}

// Breaking out of the loop leaves the rest of the input unread, and the
// next loop goes on with the next part.
func TestReadPartsBreakAndResume(t *testing.T) {
	// A part larger than the Reader's buffer follows the first.
	big := strings.Repeat("x", 3*mixed.DefaultBufferSize)
	second := strings.Index(batchResponseWire, "\r\n--b1\r\nContent-Type: application/http\r\nContent-ID: <response-item2>")
	wire := batchResponseWire[:second] + "\r\n--b1\r\nContent-ID: <big>\r\n\r\n" + big + batchResponseWire[second:]
	src := strings.NewReader(wire)
	seq := mixed.ReadParts(src, "b1")
	var ids []string
	for p, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.Header.Get("Content-ID"))
		break
	}
	if src.Len() == 0 {
		t.Errorf("after a break at the first part the whole input was read")
	}
	for p, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		if id := p.Header.Get("Content-ID"); id == "<big>" && string(p.Body) != big {
			t.Errorf("big part: %d body bytes, want %d", len(p.Body), len(big))
		}
		ids = append(ids, p.Header.Get("Content-ID"))
	}
	for range seq {
		t.Errorf("a third loop after the end yielded")
	}
	want := []string{"<response-item1>", "<big>", "<response-item2>", "<response-item3>", ""}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("Content-IDs (-want +got):\n%s", diff)
	}
}

// An error is yielded once, with no part; ranging again yields it again.
func TestReadResponsesErrors(t *testing.T) {
	cut := strings.Index(batchResponseWire, "5\r\nhello")
	tests := []struct {
		name   string
		src    io.Reader
		wantN  int // responses before the error
		wantIs error
	}{
		{"truncated", strings.NewReader(batchResponseWire[:cut]), 1, io.ErrUnexpectedEOF},
		{"reader error", iotest.TimeoutReader(iotest.OneByteReader(strings.NewReader(batchResponseWire))), 0, iotest.ErrTimeout},
		{"not HTTP", strings.NewReader("--b1\r\n\r\nhello\r\n--b1--\r\n"), 0, mixed.ErrBadVersion},
		{"bad chunk", strings.NewReader("--b1\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n--b1--\r\n"), 0, mixed.ErrBadChunk},
		{"bad multipart", strings.NewReader("--b1\r\nno colon\r\n\r\n\r\n--b1--\r\n"), 0, mixed.ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq := mixed.ReadResponses(tt.src, "b1")
			got, err := collectResponses(seq)
			if len(got) != tt.wantN || !errors.Is(err, tt.wantIs) {
				t.Fatalf("got %d responses and %v; want %d and an error wrapping %v", len(got), err, tt.wantN, tt.wantIs)
			}
			n := 0
			for cr, err2 := range seq {
				n++
				if cr != nil || err2 != err {
					t.Errorf("second loop yielded %v, %v; want nil, %v", cr, err2, err)
				}
			}
			if n != 1 {
				t.Errorf("second loop yielded %d times, want once", n)
			}
		})
	}
}

// batchResponseCopied is what MaxCopyBytes counts for the responses of
// batchResponseWire, counted by hand: part header names and values,
// reason phrase, header and trailer names and values, decoded body.
const batchResponseCopied = (28 + 26 + 2 + 28 + 8 + 16 + 11) + // 200 OK
	(28 + 26 + 7 + 24 + 12 + 11 + 7) + // 201 Created, chunked, trailer
	(28 + 26 + 12 + 8) + // 304
	(28 + 8 + 33) // 404 without reason

func TestReadResponsesMaxBytes(t *testing.T) {
	const total = batchResponseCopied
	got, err := collectResponses(mixed.ReadResponsesOptions(strings.NewReader(batchResponseWire), "b1", mixed.CopyOptions{MaxCopyBytes: total}))
	if err != nil || len(got) != 4 {
		t.Fatalf("MaxCopyBytes = the bytes copied (%d): %d responses, %v; want 4, nil", total, len(got), err)
	}
	for max := int64(total - 1); max > 0; max -= 7 {
		got, err = collectResponses(mixed.ReadResponsesOptions(strings.NewReader(batchResponseWire), "b1", mixed.CopyOptions{MaxCopyBytes: max}))
		if !errors.Is(err, mixed.ErrCopyTooLarge) || len(got) == 4 {
			t.Fatalf("MaxCopyBytes %d < %d: %d responses, %v; want fewer than 4 and ErrCopyTooLarge", max, total, len(got), err)
		}
	}
}

func TestReadPartsMaxBytes(t *testing.T) {
	const wire = "--b\r\nA: 1\r\n\r\n12345\r\n--b\r\nBB: 22\r\n\r\n\r\n--b--\r\n"
	const total = 2 + 5 + 4 // "A1", "12345", "BB22"
	for _, tt := range []struct {
		max   int64
		wantN int
	}{{total, 2}, {total - 1, 1}, {7, 1}, {6, 0}, {2, 0}, {1, 0}} {
		n := 0
		var err error
		for _, e := range mixed.ReadPartsOptions(strings.NewReader(wire), "b", mixed.CopyOptions{MaxCopyBytes: tt.max}) {
			if e != nil {
				err = e
				break
			}
			n++
		}
		wantErr := tt.wantN < 2
		if n != tt.wantN || wantErr != errors.Is(err, mixed.ErrCopyTooLarge) {
			t.Errorf("MaxCopyBytes %d: %d parts, %v; want %d parts, ErrCopyTooLarge %v", tt.max, n, err, tt.wantN, wantErr)
		}
	}
}

// endless is a part body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// A hostile peer's endless body costs the bound, not the body.
func TestReadResponsesBoundsMemory(t *testing.T) {
	const max = 1 << 20
	src := io.MultiReader(strings.NewReader("--b\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"), endless{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, err := range mixed.ReadResponsesOptions(src, "b", mixed.CopyOptions{MaxCopyBytes: max}) {
		if !errors.Is(err, mixed.ErrCopyTooLarge) {
			t.Fatalf("endless body: %v, want ErrCopyTooLarge", err)
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 8*max {
		t.Errorf("an endless body with MaxCopyBytes 1 MiB allocated %d bytes", got)
	}
}

// The copy owns its bytes: changing the input after the loop changes
// nothing.
func TestReadPartsCopiesBody(t *testing.T) {
	wire := []byte("--b\r\nX: v\r\n\r\nbody\r\n--b--\r\n")
	var parts []*mixed.CopiedPart
	for p, err := range mixed.ReadParts(bytes.NewReader(wire), "b") {
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	for i := range wire {
		wire[i] = '#'
	}
	if len(parts) != 1 || string(parts[0].Body) != "body" || parts[0].Header.Get("X") != "v" {
		t.Errorf("after the input changed: %+v", parts)
	}
}

// What a Writer writes, ReadParts reads back, part for part, however the
// input is split.
func TestReadPartsRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		type part struct {
			Header [][2]string
			Body   string
		}
		field := rapid.Custom(func(t *rapid.T) [2]string {
			return [2]string{rapid.StringMatching(`[A-Za-z-]{1,8}`).Draw(t, "name"), rapid.StringMatching(`([!-~]([ -~]{0,6}[!-~])?)?`).Draw(t, "value")}
		})
		parts := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) part {
			return part{rapid.SliceOfN(field, 0, 4).Draw(t, "header"), rapid.String().Draw(t, "body")}
		}), 0, 5).Draw(t, "parts")
		var wire bytes.Buffer
		w := mixed.NewWriter(&wire)
		for _, p := range parts {
			var h mixed.Header
			for _, f := range p.Header {
				h.Add(f[0], f[1])
			}
			pw, err := w.CreatePart(&h)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(pw, p.Body)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		wrap := rapid.SampledFrom([]func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader, iotest.DataErrReader}).Draw(t, "split")
		var got []part
		for p, err := range mixed.ReadParts(wrap(&wire), w.Boundary()) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, part{headerFields(&p.Header), string(p.Body)})
		}
		if diff := cmp.Diff(parts, got, cmpEmpty); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
	})
}

// cmpEmpty makes nil and empty slices equal.
var cmpEmpty = cmpopts.EquateEmpty()
