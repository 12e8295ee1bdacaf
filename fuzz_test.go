package mixed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// The native fuzz targets of the package, one or more per parser entry
// point, and the properties they check; their seeds are in
// fuzzseed_test.go, the checks against the standard library in
// fuzzdiff_test.go.

// validReadBoundary is the Reader's boundary rule: the Writer's, RFC
// 2046's.
func validReadBoundary(b string) bool { return validWriteBoundary(b) }

// validWriteBoundary is RFC 2046's bchars rule, restated from the RFC.
func validWriteBoundary(b string) bool { return writeBoundaryRE.MatchString(b) }

var writeBoundaryRE = regexp.MustCompile(`^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$`)

// validFieldName and validFieldValue restate RFC 9110's field-name (a
// token) and field-value (no CTL but HTAB, no DEL, no surrounding white
// space, which is not part of the value) for the Writer's checks.
func validFieldName(s string) bool { return fieldNameRE.MatchString(s) }

var fieldNameRE = regexp.MustCompile("^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$")

func validFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return strings.Trim(s, " \t") == s
}

// fuzzOpts are small limits, so that the fuzzer reaches them and the
// buffer edges with small inputs. BufferSize 1 selects the minimum.
var fuzzOpts = ReaderOptions{BufferSize: 1, MaxHeaderBytes: 2048, MaxHeaderFields: 20, MaxParts: 50, MaxLineBytes: 512, MaxDepth: 2}

// FuzzReader reads arbitrary bytes with small limits and checks:
//
//   - no panic, and every error is classifiable, with an offset inside the
//     input, and sticky;
//   - memory stays bounded: the buffer never outgrows what the options
//     allow, a part header never holds more than MaxHeaderBytes or
//     MaxHeaderFields, there are at most MaxParts parts, and the bodies
//     together hold no more bytes than the input;
//   - what is accepted re-encodes: the Writer writes the same parts and the
//     Reader reads them back unchanged. The Writer is given the same boundary
//     when it is an RFC 2046 one; it refuses a body that contains LF "--"
//     boundary (the header's last line end counts as an LF before the
//     body), which the Reader legitimately accepts as body data in two
//     cases: a bare-LF form in CRLF mode, and the boundary followed by a
//     byte that makes it no delimiter ("--boundaryX"). A refusal must be
//     one of those, and the parts then go through a fresh random boundary,
//     which must work;
//   - reading nested multipart parts in place (NewReader on the Part) gives
//     what reading a copy of the part's body gives, at every level, and
//     nesting past MaxDepth fails with ErrNestingTooDeep.
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s.data, s.boundary)
	}
	f.Fuzz(func(t *testing.T, data []byte, boundary string) {
		opts := fuzzOpts
		// A BytesReader, and large reads straight into the caller's
		// buffer, agree with the Reader on every input.
		want, wantErr := readComplete(bytes.NewReader(data), boundary, opts)
		checkSameRead(t, data, boundary, opts, want, wantErr, []int{len(data)})
		r := NewReaderOptions(bytes.NewReader(data), boundary, opts)
		parts, err := readBounded(t, r, opts, len(data))
		if !validReadBoundary(boundary) {
			if !errors.Is(err, ErrBadBoundary) || len(parts) > 0 {
				t.Fatalf("boundary %q: got %d parts, error %v; want ErrBadBoundary", boundary, len(parts), err)
			}
			return
		}
		if errors.Is(err, ErrBadBoundary) {
			t.Fatalf("valid boundary %q rejected: %v", boundary, err)
		}
		checkReadErr(t, err, len(data))
		if err != nil {
			if _, err2 := r.NextPart(); !errors.Is(err2, err) {
				t.Fatalf("error not sticky: %v, then %v", err, err2)
			}
		} else {
			checkReencode(t, parts, boundary)
		}
		checkNested(t, NewReaderOptions(bytes.NewReader(data), boundary, opts), data, boundary, opts, 0)
	})
}

// readBounded reads every part of r, checking the memory bounds.
func readBounded(t *testing.T, r *Reader, opts ReaderOptions, inputLen int) ([]testPart, error) {
	t.Helper()
	o := opts.withDefaults()
	maxBuf := max(o.BufferSize, o.MaxHeaderBytes+2*(4+maxBoundary)+16)
	var parts []testPart
	total := 0
	for {
		p, err := r.NextPart()
		if len(r.buf) > maxBuf {
			t.Fatalf("buffer grew to %d bytes, over %d", len(r.buf), maxBuf)
		}
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return parts, err
		}
		if len(parts) == o.MaxParts {
			t.Fatalf("part %d returned past MaxParts %d", len(parts)+1, o.MaxParts)
		}
		if p.Header.Len() > o.MaxHeaderFields {
			t.Fatalf("header of %d fields, over %d", p.Header.Len(), o.MaxHeaderFields)
		}
		hbytes := 0
		for n, v := range p.Header.All() {
			hbytes += len(n) + len(v)
		}
		if hbytes > o.MaxHeaderBytes {
			t.Fatalf("header of %d bytes, over %d", hbytes, o.MaxHeaderBytes)
		}
		var body bytes.Buffer
		_, err = io.Copy(&body, p)
		total += body.Len()
		if total > inputLen {
			t.Fatalf("bodies hold %d bytes, more than the input's %d", total, inputLen)
		}
		parts = append(parts, testPart{Header: fields(&p.Header), Body: body.String()})
		if err != nil {
			return parts, err
		}
	}
}

// checkReencode writes parts with a Writer and reads them back.
func checkReencode(t *testing.T, parts []testPart, boundary string) {
	t.Helper()
	wb := boundary
	if err := NewWriter(io.Discard).SetBoundary(boundary); err != nil {
		if !errors.Is(err, ErrBadBoundary) || validWriteBoundary(boundary) {
			t.Fatalf("SetBoundary(%q) = %v", boundary, err)
		}
		wb = NewWriter(io.Discard).Boundary()
	} else if !validWriteBoundary(boundary) {
		t.Fatalf("SetBoundary(%q) accepted a boundary that is not RFC 2046", boundary)
	}
	for try := 0; ; try++ {
		enc, err := writeParts(parts, wb)
		if errors.Is(err, ErrDelimiterInBody) && try < 3 {
			found := false
			for _, p := range parts {
				found = found || strings.Contains("\n"+p.Body, "\n--"+wb)
			}
			if !found {
				t.Fatalf("Writer with boundary %q refused bodies that do not hold LF--boundary: %v", wb, err)
			}
			wb = NewWriter(io.Discard).Boundary()
			continue
		}
		if err != nil {
			t.Fatalf("Writer refused parts the Reader accepted: %v\nparts: %q", err, parts)
		}
		// The Writer's header lines ("name: value" CRLF) may be longer
		// than the input's ("name:value" LF), so the limits are the
		// defaults here, but for the counts.
		got, err := readParts(bytes.NewReader(enc), wb, ReaderOptions{MaxParts: fuzzOpts.MaxParts, MaxHeaderFields: fuzzOpts.MaxHeaderFields})
		if err != nil {
			t.Fatalf("re-reading the Writer's output: %v\n%q", err, enc)
		}
		if diff := cmp.Diff(parts, got); diff != "" {
			t.Fatalf("re-encoded parts differ (-want +got):\n%s", diff)
		}
		return
	}
}

// checkNested reads r, whose input is src, descending into every part with
// a multipart Content-Type by a Reader on the Part itself, and compares each
// level with a flat read of a copy of that level's bytes. The in-place
// reader of a nested level gets its bytes in pieces as the outer buffer
// yields them, so the failing part of a level (if any) may have given out a
// different amount of body before the error: a streaming reader cannot
// take back bytes it gave out before finding a malformed delimiter line.
func checkNested(t *testing.T, r *Reader, src []byte, boundary string, opts ReaderOptions, depth int) {
	t.Helper()
	want, wantErr := readParts(bytes.NewReader(src), boundary, opts)
	var err error
	for i := 0; ; i++ {
		var p *Part
		p, err = r.NextPart()
		if err == io.EOF {
			err = nil
			if i != len(want) {
				t.Fatalf("depth %d: %d parts in place, %d in the copy", depth, i, len(want))
			}
			break
		}
		if err != nil {
			break
		}
		if i >= len(want) {
			t.Fatalf("depth %d: part %d in place, only %d in the copy", depth, i, len(want))
		}
		if diff := cmp.Diff(want[i].Header, fields(&p.Header)); diff != "" {
			t.Fatalf("depth %d part %d: header (-copy +in place):\n%s", depth, i, diff)
		}
		failing := wantErr != nil && i == len(want)-1
		inner, perr := ParseBoundary(p.Header.Get("Content-Type"))
		if perr != nil || failing {
			var body bytes.Buffer
			_, err = io.Copy(&body, p)
			if failing {
				if !strings.HasPrefix(want[i].Body, body.String()) && !strings.HasPrefix(body.String(), want[i].Body) {
					t.Fatalf("depth %d part %d: failing body %q in place, %q in the copy", depth, i, body.String(), want[i].Body)
				}
			} else if diff := cmp.Diff(want[i].Body, body.String()); diff != "" {
				t.Fatalf("depth %d part %d: body (-copy +in place):\n%s", depth, i, diff)
			}
			if err != nil {
				break
			}
			continue
		}
		nr := NewReader(p, inner)
		if depth+1 > opts.MaxDepth {
			if _, err := nr.NextPart(); !errors.Is(err, ErrNestingTooDeep) {
				t.Fatalf("depth %d: Reader on a part, got %v, want ErrNestingTooDeep", depth+1, err)
			}
			continue
		}
		checkNested(t, nr, []byte(want[i].Body), inner, opts, depth+1)
	}
	if errClass(err) != errClass(wantErr) || errOffset(err) != errOffset(wantErr) {
		t.Fatalf("depth %d: error %v in place, %v in the copy", depth, err, wantErr)
	}
}

// FuzzReaderVsStdlib compares the Reader with mime/multipart (NextRawPart)
// on inputs both accept: same parts, same bodies, same header fields once
// the deliberate differences (doc.go, "Differences from mime/multipart")
// are normalized away:
//
//   - mime/multipart canonicalizes header names and keeps no order across
//     names (a map); the Reader keeps names as written, in wire order. Ours
//     are canonicalized and sorted stably by name, as stdParts does.
//   - A folded value with a continuation line made only of white space:
//     textproto appends a space for the fold and then the (empty) trimmed
//     line, leaving a trailing or doubled space ("a" + " " + ""), while the
//     Reader joins only non-empty continuations with one space. RFC 5322
//     unfolding makes both the same white space run; when the input has
//     such a line, runs of white space in values are compared as one space
//     and values are trimmed.
//
// The other documented differences make one side reject the input; the
// reason is then checked to be one of them (below).
func FuzzReaderVsStdlib(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s.data, s.boundary)
	}
	f.Fuzz(func(t *testing.T, data []byte, boundary string) { checkVsStdlib(t, data, boundary) })
}

// FuzzWriterRoundTrip writes arbitrary headers and bodies. The Writer may
// refuse a boundary, a header field or a body, and each refusal must be
// right: the boundary is not RFC 2046, the field is not a token name with a
// field-value, the body holds LF "--" boundary (counting the header's last
// line end before it). Valid fields must be accepted. What is written must
// read back, with the Reader and with mime/multipart, as exactly the parts
// that were accepted.
func FuzzWriterRoundTrip(f *testing.F) {
	for _, s := range writerSeeds() {
		f.Add(s.boundary, s.spec, s.cuts)
	}
	f.Fuzz(func(t *testing.T, boundary string, spec, cuts []byte) {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		if err := w.SetBoundary(boundary); err != nil {
			if !errors.Is(err, ErrBadBoundary) || validWriteBoundary(boundary) {
				t.Fatalf("SetBoundary(%q) = %v", boundary, err)
			}
			boundary = w.Boundary()
		} else if !validWriteBoundary(boundary) {
			t.Fatalf("SetBoundary(%q) accepted an invalid boundary", boundary)
		}
		var want []testPart
		var h Header
		for _, ps := range bytes.Split(spec, []byte{0x1e}) {
			elems := strings.Split(string(ps), "\x1f")
			body := elems[len(elems)-1]
			var p testPart
			h.Reset()
			valid := true
			for _, e := range elems[:len(elems)-1] {
				name, value, _ := strings.Cut(e, "\x1d")
				h.Add(name, value)
				p.Header = append(p.Header, [2]string{name, value})
				valid = valid && validFieldName(name) && validFieldValue(value)
			}
			pw, err := w.CreatePart(&h)
			if !valid {
				if !errors.Is(err, ErrBadHeader) {
					t.Fatalf("CreatePart(%q) = %v, want ErrBadHeader", p.Header, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("CreatePart(%q) = %v", p.Header, err)
			}
			p.Body = body
			werr := writeInPieces(pw, []byte(body), cuts)
			if strings.Contains("\n"+body, "\n--"+boundary) {
				if !errors.Is(werr, ErrDelimiterInBody) {
					t.Fatalf("body %q holds the delimiter of %q; Write returned %v", body, boundary, werr)
				}
				if err := w.Close(); !errors.Is(err, ErrDelimiterInBody) {
					t.Fatalf("Close after a refused body = %v, want the sticky ErrDelimiterInBody", err)
				}
				return
			}
			if werr != nil {
				t.Fatalf("writing body %q: %v", body, werr)
			}
			want = append(want, p)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		enc := buf.Bytes()
		got, err := readParts(bytes.NewReader(enc), boundary, ReaderOptions{MaxHeaderFields: 1 << 20, MaxHeaderBytes: 1 << 30, MaxParts: 1 << 30})
		if err != nil {
			t.Fatalf("Reader: %v\n%q", err, enc)
		}
		if diff := cmp.Diff(want, got, cmpEmptyAsNil); diff != "" {
			t.Fatalf("Reader (-written +read):\n%s", diff)
		}
		std, err := stdParts(enc, boundary)
		if err != nil {
			// mime/multipart has a 4 KiB line buffer for delimiter
			// lines only; a Writer's are at most 74 bytes.
			t.Fatalf("mime/multipart: %v\n%q", err, enc)
		}
		for i := range want {
			for j := range want[i].Header {
				want[i].Header[j][0] = textproto.CanonicalMIMEHeaderKey(want[i].Header[j][0])
			}
			sort.SliceStable(want[i].Header, func(a, b int) bool { return want[i].Header[a][0] < want[i].Header[b][0] })
		}
		if diff := cmp.Diff(want, std, cmpEmptyAsNil); diff != "" {
			t.Fatalf("mime/multipart (-written +read):\n%s", diff)
		}
	})
}

// writeInPieces writes b in writes of the sizes cuts gives (0 allowed), then
// the rest at once.
func writeInPieces(w io.Writer, b, cuts []byte) error {
	for _, c := range cuts {
		n := min(int(c)%32, len(b))
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	_, err := w.Write(b)
	return err
}

// FuzzReaderChunking reads the same input whole and in reads whose sizes
// come from cuts, with bodies taken through Part.Read into buffers of sizes
// from cuts too, and checks that both give the same parts and the same
// error (class and offset). The part that fails may have given out more
// of its body in small reads than whole (bytes before a malformed
// delimiter line are released as soon as they are known to be body), so
// for it one body must be a prefix of the other.
func FuzzReaderChunking(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s.data, s.boundary, []byte{1, 7, 0, 64, 3})
	}
	f.Fuzz(func(t *testing.T, data []byte, boundary string, cuts []byte) {
		whole, wantErr := readParts(bytes.NewReader(data), boundary, fuzzOpts)
		var sizes []int
		for i, c := range cuts {
			// A zero read now and then, never many in a row (a Reader
			// gives up with io.ErrNoProgress after 100, as bufio does).
			if c == 0 && i > 0 && cuts[i-1] == 0 {
				c = 1
			}
			sizes = append(sizes, int(c))
		}
		got, err := readPartsRead(&chunkedReader{src: data, cuts: sizes}, boundary, fuzzOpts, cuts)
		// Large reads through the same pieces, and a BytesReader.
		want, wantErr2 := readComplete(bytes.NewReader(data), boundary, fuzzOpts)
		large := make([]int, len(sizes))
		for i, c := range sizes {
			large[i] = c * 16 // pieces up to about 4 KiB, beside the 676-byte buffer
		}
		checkSameRead(t, data, boundary, fuzzOpts, want, wantErr2, large)
		if errClass(err) != errClass(wantErr) || errOffset(err) != errOffset(wantErr) {
			t.Fatalf("error %v in pieces, %v whole", err, wantErr)
		}
		if len(got) != len(whole) {
			t.Fatalf("%d parts in pieces, %d whole", len(got), len(whole))
		}
		if wantErr != nil && len(got) > 0 {
			// The failing part's body may differ, see above.
			w, g := whole[len(whole)-1].Body, got[len(got)-1].Body
			if !strings.HasPrefix(w, g) && !strings.HasPrefix(g, w) {
				t.Fatalf("failing part's body %q in pieces, %q whole", g, w)
			}
			whole[len(whole)-1].Body, got[len(got)-1].Body = "", ""
		}
		if diff := cmp.Diff(whole, got); diff != "" {
			t.Fatalf("parts (-whole +pieces):\n%s", diff)
		}
	})
}

// Embedded HTTP messages.

// httpFuzzOpts keeps the limits small so that the fuzzer reaches them.
var httpFuzzOpts = MessageOptions{MaxStartLineBytes: 256, MaxHeaderBytes: 1024, MaxHeaderFields: 16, AllowAbsoluteTargets: true, AllowRelativeTargets: true}

// httpFuzzRead reads one message (a response answering method) and
// checks what holds for every input: no panic, the same result however the
// input is split, memory bounded by the limits, and errors that wrap a
// sentinel in a *SyntaxError.
func httpFuzzRead(t fatalT, data []byte, request bool, method string) (testMsg, error) {
	m := NewMessageReaderOptions(nil, httpFuzzOpts)
	read := func(src io.Reader) (testMsg, error) {
		if request {
			return readTestRequest(m, src)
		}
		return readTestResponse(m, src, method)
	}
	got, err := read(bytes.NewReader(data))
	// The head buffer holds at most the head limit and one read.
	if max := 2 * (httpFuzzOpts.MaxHeaderBytes + len(m.rbuf)); cap(m.head) > max || cap(m.trailerBuf) > max || cap(m.lineBuf) > max {
		t.Fatalf("buffers grew to %d, %d, %d bytes, over %d", cap(m.head), cap(m.trailerBuf), cap(m.lineBuf), max)
	}
	if err != nil {
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("error %v is not a *SyntaxError", err)
		}
	}
	one, oerr := read(iotest.OneByteReader(bytes.NewReader(data)))
	if diff := cmp.Diff(got, one); diff != "" || errString(err) != errString(oerr) {
		t.Fatalf("one byte at a time gives another result: %v vs %v (-whole +onebyte):\n%s", err, oerr, diff)
	}
	return got, err
}

func FuzzReadRequest(f *testing.F) {
	httpFuzzSeeds(f, true)
	f.Fuzz(func(t *testing.T, data []byte) { checkRequestVsStdlib(t, data) })
}

func FuzzReadResponse(f *testing.F) {
	httpFuzzSeeds(f, false)
	// Trailer fields, which HTTPResponse's Trailer holds once the body
	// is read, as net/http's does.
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) { checkResponseVsStdlib(t, data) })
}

// FuzzMessageRoundTrip writes a message from fuzzed pieces; the writer
// accepts every valid one (writable), and when it accepts them, reading
// gives them back, the reason phrase as given or the standard one, and
// net/http reads the same.
func FuzzMessageRoundTrip(f *testing.F) {
	f.Add(true, "PUT", "/farm/v1/animals/sheep", 200, "", "Content-Type\x00application/json\x00If-Match\x00\"etag/sheep\"", []byte(`{"a":1}`))
	f.Add(false, "GET", "/", 304, "Not Modified", "ETag\x00\"x\"", []byte(nil))
	f.Add(false, "GET", "/", 599, "", "X\x00a\tb", []byte("body\r\n--b"))
	f.Add(true, "GET /x HTTP/1.1\r\n", "/", 200, "", "X\x00a\r\nY: b", []byte(nil))
	f.Add(true, "POST", "/odata/$batch", 200, "", "Content-Type\x00application/json;odata.metadata=minimal\x00Prefer\x00return=representation", []byte("{\"ID\":1}\r\n\r\n"))
	f.Fuzz(func(t *testing.T, request bool, method, target string, status int, reason, fieldList string, body []byte) {
		var h Header
		var fs [][2]string
		parts := strings.Split(fieldList, "\x00")
		for i := 0; i+1 < len(parts); i += 2 {
			h.Add(parts[i], parts[i+1])
			fs = append(fs, [2]string{parts[i], parts[i+1]})
		}
		var out bytes.Buffer
		mw := NewMessageWriter()
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
			if writable(request, method, target, status, reason, fs, body) {
				t.Fatalf("refused a valid message: %v", err)
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
		if diff := cmp.Diff(nilIfEmpty(want), nilIfEmpty(got.Header[:min(len(fs), len(got.Header))])); diff != "" {
			t.Fatalf("%q: fields (-want +got):\n%s", out.Bytes(), diff)
		}
		if request && (got.Method != method || got.Target != target) || !request && got.Status != status {
			t.Fatalf("%q: read back %+v", out.Bytes(), got)
		}
		// The reason phrase as given, or the standard one.
		wantReason := reason
		if wantReason == "" {
			if wantReason = http.StatusText(status); wantReason == "" {
				wantReason = "Unknown"
			}
		}
		if !request && got.Reason != wantReason {
			t.Fatalf("%q: reason %q, want %q", out.Bytes(), got.Reason, wantReason)
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

// writable reports whether MessageWriter must write a message of these
// pieces, by the rules its documentation gives, restated: a token method
// (not CONNECT) with an origin-form target of visible characters and
// valid escapes; a status code from 100 to 999 with a reason phrase free
// of control characters but HTAB, and no body for 1xx, 204 and 304;
// fields with token names and values free of control characters and of
// white space at their ends, neither Content-Length nor
// Transfer-Encoding; a head within the default limits.
func writable(request bool, method, target string, status int, reason string, fs [][2]string, body []byte) bool {
	if request {
		if !validFieldName(method) || method == "CONNECT" || !originTarget.MatchString(target) || len(method)+len(target) > 8000 {
			return false
		}
	} else {
		noBody := status < 200 || status == 204 || status == 304
		if status < 100 || status > 999 || !validFieldValue(strings.Trim(reason, " \t")) || noBody && len(body) > 0 || len(reason) > 8000 {
			return false
		}
	}
	size := 0
	for _, f := range fs {
		if !validFieldName(f[0]) || !validFieldValue(f[1]) || strings.EqualFold(f[0], "Content-Length") || strings.EqualFold(f[0], "Transfer-Encoding") {
			return false
		}
		size += len(f[0]) + len(f[1]) + 4
	}
	return len(fs) < DefaultMaxHeaderFields && size < DefaultMaxHeaderBytes-9000
}

var originTarget = regexp.MustCompile(`^/([!-$&-~]|%[0-9A-Fa-f]{2})*$`)

// FuzzReadResponses reads a batch response with ReadResponsesOptions under
// a fuzzed MaxCopyBytes: it never copies more than MaxCopyBytes, and up to its
// first error it yields what the zero-copy path (Reader, MessageReader,
// Response.HTTPResponse) reads, response for response, and then the same
// error, unless the bound stopped the copying path first.
func FuzzReadResponses(f *testing.F) {
	f.Add([]byte("--b\r\nContent-ID: <1>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\r\n--b\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX: y\r\n\r\n\r\n--b--\r\n"), uint16(1000))
	f.Add([]byte("--b\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n--b\r\n\r\nHTTP/1.0 404\r\n\r\nrest of the part\r\n--b--\r\n"), uint16(20))
	f.Add([]byte("--b\r\n\r\nnot http\r\n--b--\r\n"), uint16(0))
	f.Add([]byte("--b\r\nA: b\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"), uint16(5))
	if data, err := os.ReadFile("testdata/calendar-batch-response.http"); err == nil {
		if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
			data = data[i+4:]
			if j := bytes.Index(data, []byte("--")); j >= 0 {
				if k := bytes.IndexAny(data[j:], "\r\n"); k >= 0 {
					f.Add(bytes.ReplaceAll(data, data[j+2:j+k], []byte("b")), uint16(300))
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		type resp struct {
			ContentID  string
			Status     string
			Header     http.Header
			Body       string
			Trailer    http.Header
			PartHeader [][2]string
		}
		limit := int64(max) + 1
		var got []resp
		var gotErr error
		var copied int64
		for cr, err := range ReadResponsesOptions(bytes.NewReader(data), "b", CopyOptions{MaxCopyBytes: limit}) {
			if err != nil {
				gotErr = err
				break
			}
			body, err := io.ReadAll(cr.Response.Body)
			if err != nil {
				t.Fatalf("reading a copied body: %v", err)
			}
			var ph [][2]string
			for name, value := range cr.PartHeader.All() {
				ph = append(ph, [2]string{string(name), string(value)})
				copied += int64(len(name) + len(value))
			}
			copied += int64(len(body))
			got = append(got, resp{cr.ContentID, cr.Response.Status, cr.Response.Header, string(body), cr.Response.Trailer, ph})
		}
		if copied > limit {
			t.Fatalf("copied %d bytes of part headers and bodies, over MaxCopyBytes %d", copied, limit)
		}

		var want []resp
		var wantErr error
		r := NewReader(bytes.NewReader(data), "b")
		var m MessageReader
		for {
			p, err := r.NextPart()
			if err != nil {
				if err != io.EOF {
					wantErr = err
				}
				break
			}
			m.Reset(p)
			msg, err := m.ReadFinalResponse("")
			if err != nil {
				wantErr = err
				break
			}
			res := msg.HTTPResponse(nil)
			body, err := io.ReadAll(res.Body)
			if err != nil {
				wantErr = err
				break
			}
			var ph [][2]string
			for name, value := range p.Header.All() {
				ph = append(ph, [2]string{string(name), string(value)})
			}
			want = append(want, resp{p.Header.Get("Content-ID"), res.Status, res.Header, string(body), res.Trailer, ph})
		}
		if errors.Is(gotErr, ErrCopyTooLarge) {
			if len(got) > len(want) {
				t.Fatalf("%d responses before ErrCopyTooLarge, but the zero-copy path read %d", len(got), len(want))
			}
			want = want[:len(got)]
			if len(got) == 0 {
				want = nil
			}
		} else if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("ReadResponses error %v, zero-copy path error %v", gotErr, wantErr)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("ReadResponses (-zero-copy path +copies):\n%s", diff)
		}
	})
}

// FuzzParseBoundary checks TestParseBoundaryVsStdlib's property
// (checkBoundaryVsStdlib) on any Content-Type.
func FuzzParseBoundary(f *testing.F) {
	for _, ct := range contentTypeSeeds {
		f.Add(ct)
	}
	f.Fuzz(func(t *testing.T, ct string) {
		checkBoundaryVsStdlib(t, ct)
	})
}
