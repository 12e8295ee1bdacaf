package mixed

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"mime/multipart"
	"net/textproto"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// Helpers shared by the tests of several files, by topic: parts and
// fields as tests compare them; reading parts (one core, several ways to
// drain a body); sources that split their input; errors; embedded
// messages; generated inputs shared with the benchmarks.

// Parts and fields.

// testPart is a part as tests compare it: header fields in wire order and
// the whole body.
type testPart struct {
	Header [][2]string
	Body   string
}

// writeParts encodes parts with a Writer using boundary.
func writeParts(parts []testPart, boundary string) ([]byte, error) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.SetBoundary(boundary); err != nil {
		return nil, err
	}
	var h Header
	for _, p := range parts {
		h.Reset()
		for _, f := range p.Header {
			h.Add(f[0], f[1])
		}
		pw, err := w.CreatePart(&h)
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(pw, p.Body); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// stdParts reads a body with mime/multipart (NextRawPart, so bodies are not
// decoded), the oracle for differential tests. Header fields come back as
// textproto canonicalizes them, sorted by name, since a MIMEHeader keeps no
// order across names.
func stdParts(body []byte, boundary string) ([]testPart, error) {
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	var parts []testPart
	for {
		p, err := r.NextRawPart()
		if errors.Is(err, io.EOF) && err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return parts, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return parts, err
		}
		var tp testPart
		for _, k := range slices.Sorted(maps.Keys(p.Header)) {
			for _, v := range p.Header[k] {
				tp.Header = append(tp.Header, [2]string{k, v})
			}
		}
		tp.Body = string(b)
		parts = append(parts, tp)
	}
}

// crlf turns the LF line ends of a hand-written body into CRLF.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

// nilIfEmpty makes an empty field list nil: a part or message written with
// no fields reads back as nil.
func nilIfEmpty(f [][2]string) [][2]string {
	if len(f) == 0 {
		return nil
	}
	return f
}

// cmpEmptyAsNil is nilIfEmpty as a cmp option.
var cmpEmptyAsNil = cmp.Transformer("nilIfEmpty", nilIfEmpty)

// hdr builds a field list from name, value pairs.
func hdr(kv ...string) [][2]string {
	var h [][2]string
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, [2]string{kv[i], kv[i+1]})
	}
	return h
}

// nested builds a body nested depth levels deep: each level holds one part
// whose body is the next level, with boundary "b<level>"; the innermost part
// holds "leaf".
func nested(depth int) string {
	body := "leaf"
	for d := depth; d >= 0; d-- {
		b := fmt.Sprint("b", d)
		body = "--" + b + "\r\nContent-Type: multipart/mixed; boundary=" + fmt.Sprint("b", d+1) + "\r\n\r\n" + body + "\r\n--" + b + "--\r\n"
	}
	return body
}

// fields returns h's fields in wire order, as strings, for comparisons.
func fields(h *Header) [][2]string {
	var out [][2]string
	for n, v := range h.All() {
		out = append(out, [2]string{string(n), string(v)})
	}
	return out
}

// headerOf builds a Header from a field list (hdr builds one from name,
// value pairs).
func headerOf(fields [][2]string) *Header {
	var h Header
	for _, f := range fields {
		h.Add(f[0], f[1])
	}
	return &h
}

// stdForm turns parts read by a Reader into the form stdParts gives: names
// canonicalized, fields sorted by name, values of one name in wire order.
func stdForm(parts []testPart) []testPart {
	if parts == nil {
		return nil
	}
	out := make([]testPart, len(parts))
	for i, p := range parts {
		h := make([][2]string, len(p.Header))
		for j, f := range p.Header {
			h[j] = [2]string{textproto.CanonicalMIMEHeaderKey(f[0]), f[1]}
		}
		sort.SliceStable(h, func(a, b int) bool { return h[a][0] < h[b][0] })
		if len(h) == 0 {
			h = nil
		}
		out[i] = testPart{Header: h, Body: p.Body}
	}
	return out
}

// Reading parts.

// checkSameRead fails t unless a BytesReader (each way of draining) and
// large reads through a Reader give the parts read completely and the
// error (class, offset and reason) that a Reader gives (want, wantErr from
// readComplete).
func checkSameRead(t fatalT, data []byte, boundary string, opts ReaderOptions, want []testPart, wantErr error, cuts []int) {
	t.Helper()
	for _, how := range []string{"WriteTo", "ReadChunk", "Read"} {
		got, err := readBytesReader(data, boundary, opts, how)
		if errString(err) != errString(wantErr) {
			t.Fatalf("BytesReader (%s): error %v, Reader: %v\ninput: %q", how, err, wantErr, data)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("BytesReader (%s): parts (-Reader +BytesReader):\n%s\ninput: %q", how, diff, data)
		}
	}
	got, err := readLargeReads(&chunkedReader{src: data, cuts: cuts}, boundary, opts, []int{0, 1, 7})
	if errString(err) != errString(wantErr) {
		t.Fatalf("large reads: error %v, Reader: %v\ninput: %q", err, wantErr, data)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("large reads: parts (-Reader +large reads):\n%s\ninput: %q", diff, data)
	}
}

// collectParts calls next until it returns io.EOF and drains each part's
// body with drain. It returns the parts read and the error (nil at a clean
// end). The part whose body fails comes last, with the body read before the
// error, unless complete is set: how much of a failing part's body is
// handed out before a malformed delimiter is noticed depends on the
// chunking, what comes before it does not.
func collectParts(next func() (*Part, error), drain func(*Part) (string, error), complete bool) ([]testPart, error) {
	var parts []testPart
	for {
		p, err := next()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return parts, err
		}
		h := fields(&p.Header)
		body, err := drain(p)
		if err == nil || !complete {
			parts = append(parts, testPart{Header: h, Body: body})
		}
		if err != nil {
			return parts, err
		}
	}
}

// drainBy drains a body with how: "Read" (io.Copy with WriteTo hidden),
// "ReadChunk" (checking each view with view, its capacity, and the final
// nil, io.EOF), "WriteTo", or "small reads" (3 bytes at a time).
func drainBy(how string, view func(c []byte) error) func(*Part) (string, error) {
	return func(p *Part) (string, error) {
		var body bytes.Buffer
		var err error
		switch how {
		case "Read":
			_, err = io.Copy(&body, struct{ io.Reader }{p}) // hides WriteTo
		case "ReadChunk":
			for {
				c, cerr := p.ReadChunk()
				if len(c) > 0 && view != nil {
					if err := view(c); err != nil {
						return body.String(), err
					}
				}
				if len(c) > 0 && cap(c) != len(c) {
					return body.String(), fmt.Errorf("ReadChunk view has spare capacity %d > %d", cap(c), len(c))
				}
				body.Write(c)
				if cerr == io.EOF {
					if c != nil {
						return body.String(), fmt.Errorf("ReadChunk returned %q with io.EOF", c)
					}
					break
				}
				if cerr != nil {
					err = cerr
					break
				}
			}
		case "WriteTo":
			_, err = p.WriteTo(&body)
		case "small reads":
			return drainSized(func() int { return 3 })(p)
		default:
			panic("drainBy: " + how)
		}
		return body.String(), err
	}
}

// drainSized drains a body with Part.Read into buffers of the sizes size
// gives, one call a Read.
func drainSized(size func() int) func(*Part) (string, error) {
	return func(p *Part) (string, error) {
		var body []byte
		for {
			b := make([]byte, size())
			n, err := p.Read(b)
			body = append(body, b[:n]...)
			if err == io.EOF {
				return string(body), nil
			}
			if err != nil {
				return string(body), err
			}
		}
	}
}

// cycle returns the sizes in turn, each plus add, or dflt if there are none.
func cycle(sizes []int, add, dflt int) func() int {
	k := 0
	return func() int {
		if len(sizes) == 0 {
			return dflt
		}
		n := sizes[k%len(sizes)] + add
		k++
		return n
	}
}

// readParts reads every part of a body with a Reader over src, draining
// bodies with WriteTo. It returns the parts read before any error, and the
// error (nil at a clean end).
func readParts(src io.Reader, boundary string, opts ReaderOptions) ([]testPart, error) {
	return readPartsBy(src, boundary, opts, "WriteTo")
}

// readPartsBy is readParts draining bodies with how (see drainBy).
func readPartsBy(src io.Reader, boundary string, opts ReaderOptions, how string) ([]testPart, error) {
	return collectParts(NewReaderOptions(src, boundary, opts).NextPart, drainBy(how, nil), false)
}

// readComplete reads every part of a body like readParts, but keeps only
// the parts whose bodies were read to their end (see collectParts).
func readComplete(src io.Reader, boundary string, opts ReaderOptions) ([]testPart, error) {
	return readFrom(NewReaderOptions(src, boundary, opts))
}

// readFrom is readComplete on a Reader already set up.
func readFrom(r *Reader) ([]testPart, error) {
	return collectParts(r.NextPart, drainBy("WriteTo", nil), true)
}

// readPartsRead is readParts with bodies read through Part.Read into
// buffers whose sizes cycle through sizes (plus one, as a zero-length read
// is a no-op).
func readPartsRead(src io.Reader, boundary string, opts ReaderOptions, sizes []byte) ([]testPart, error) {
	ints := make([]int, len(sizes))
	for i, s := range sizes {
		ints[i] = int(s)
	}
	return collectParts(NewReaderOptions(src, boundary, opts).NextPart, drainSized(cycle(ints, 1, 4096)), false)
}

// readBytesReader is readComplete with a BytesReader over data, draining
// bodies with how ("WriteTo", "ReadChunk", "Read"). With ReadChunk it
// checks that every view is a subslice of data.
func readBytesReader(data []byte, boundary string, opts ReaderOptions, how string) ([]testPart, error) {
	base := reflect.ValueOf(data).Pointer()
	inData := func(c []byte) error {
		off := int(reflect.ValueOf(c).Pointer() - base)
		if off < 0 || off+len(c) > len(data) || !bytes.Equal(data[off:off+len(c)], c) {
			return fmt.Errorf("ReadChunk view %q is not a view of data", c)
		}
		return nil
	}
	return collectParts(NewBytesReaderOptions(data, boundary, opts).NextPart, drainBy(how, inData), true)
}

// readLargeReads is readComplete with bodies read by Part.Read into buffers
// at least as large as the Reader's (the path that reads the source
// straight into the caller's buffer), their sizes cycling through extra
// above it.
func readLargeReads(src io.Reader, boundary string, opts ReaderOptions, extra []int) ([]testPart, error) {
	r := NewReaderOptions(src, boundary, opts)
	next := cycle(extra, 0, 0)
	return collectParts(r.NextPart, drainSized(func() int { return len(r.buf) + next() }), true)
}

// Sources and destinations.

// awkwardReaders returns src wrapped in the readers every table test runs
// through: whole, one byte at a time, half reads, random short reads, and
// data returned together with io.EOF.
func awkwardReaders(src []byte, seed uint64) map[string]io.Reader {
	return map[string]io.Reader{
		"whole":   bytes.NewReader(src),
		"onebyte": iotest.OneByteReader(bytes.NewReader(src)),
		"half":    iotest.HalfReader(bytes.NewReader(src)),
		"random":  &randomReader{src: src, rng: rand.New(rand.NewPCG(seed, 1))},
		"dataerr": iotest.DataErrReader(bytes.NewReader(src)),
	}
}

// randomReader returns src in reads of random sizes from 0 to 2*len/…,
// including empty reads.
type randomReader struct {
	src []byte
	rng *rand.Rand
}

func (r *randomReader) Read(p []byte) (int, error) {
	if len(r.src) == 0 {
		return 0, io.EOF
	}
	n := r.rng.IntN(min(len(p), len(r.src), 300) + 1)
	copy(p, r.src[:n])
	r.src = r.src[n:]
	return n, nil
}

// chunkedReader returns src split at the given cut points, one read per
// piece: a property test drives the cuts.
type chunkedReader struct {
	src  []byte
	cuts []int // lengths of the successive reads; the rest in one read
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.src) == 0 {
		return 0, io.EOF
	}
	n := len(r.src)
	if len(r.cuts) > 0 {
		n = min(r.cuts[0], n)
		r.cuts = r.cuts[1:]
	}
	n = min(n, len(p))
	copy(p, r.src[:n])
	r.src = r.src[n:]
	return n, nil
}

// sweepTokens calls check with every sequence of up to depth tokens, and
// names the input if check fails the test (Fatalf ends it through Goexit).
func sweepTokens(t *testing.T, tokens []string, depth int, check func(data []byte)) {
	var data []byte
	var sweep func(depth int)
	sweep = func(depth int) {
		func() {
			defer func() {
				if t.Failed() {
					t.Logf("input %q", data)
				}
			}()
			check(data)
		}()
		if depth == 0 {
			return
		}
		n := len(data)
		for _, tok := range tokens {
			data = append(data[:n], tok...)
			sweep(depth - 1)
		}
		data = data[:n]
	}
	sweep(depth)
}

// failWriter accepts n bytes, then fails or writes short.
type failWriter struct {
	n     int
	err   error // nil: a short write without an error
	wrote bytes.Buffer
}

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		w.n -= len(p)
		return w.wrote.Write(p)
	}
	k := w.n
	w.n = 0
	w.wrote.Write(p[:k])
	return k, w.err
}

// genCuts draws the read sizes of a chunkedReader.
var genCuts = rapid.SliceOfN(rapid.IntRange(1, 40), 0, 100)

// bufioReader is b as net/http's readers take it.
func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// Errors.

// errClasses are the classes every Reader or Writer error must fall in.
var errClasses = []error{
	ErrSyntax, ErrBadBoundary, ErrNotMultipart, ErrHeaderTooLarge, ErrTooManyFields,
	ErrTooManyParts, ErrLineTooLong, ErrNestingTooDeep, ErrDelimiterInBody,
	ErrBadHeader, ErrClosed, io.ErrUnexpectedEOF,
}

// errClass returns the class of err (nil for nil), or an error describing
// an unclassifiable one.
func errClass(err error) error {
	if err == nil {
		return nil
	}
	for _, c := range errClasses {
		if errors.Is(err, c) {
			return c
		}
	}
	return fmt.Errorf("unclassified error %T %q", err, err)
}

// checkReadErr asserts that err, from reading an input of n bytes, is
// classifiable and, as a *SyntaxError, points inside the input.
func checkReadErr(t fatalT, err error, n int) {
	t.Helper()
	if err == nil {
		return
	}
	c := errClass(err)
	if !slices.Contains(errClasses, c) {
		t.Fatalf("%v", c)
	}
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %q is not a *SyntaxError", err)
	}
	if se.Offset < 0 || se.Offset > int64(n) {
		t.Fatalf("error %q: offset %d outside the input of %d bytes", err, se.Offset, n)
	}
}

// errOffset is the offset of err's *SyntaxError, or -1 without one.
func errOffset(err error) int64 {
	var se *SyntaxError
	if errors.As(err, &se) {
		return se.Offset
	}
	return -1
}

// checkErr checks err against the class want and, for this package's
// errors, that a *SyntaxError at offset off (when off >= 0) is in the chain.
func checkErr(t *testing.T, what string, err, want error, off int64) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("%s: error %v, want none", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want one wrapping %v", what, err, want)
		return
	}
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Errorf("%s: error %v is not a *SyntaxError", what, err)
		return
	}
	if off >= 0 && se.Offset != off {
		t.Errorf("%s: error %v at offset %d, want offset %d", what, err, se.Offset, off)
	}
}

// errString gives an error's full text, nil as "".
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// fatalT is what the checks shared by fuzz targets and rapid properties
// need of a *testing.T or a *rapid.T.
type fatalT interface {
	Helper()
	Fatalf(format string, args ...any)
}

// isMisuse reports whether err is the misuse error want, and not an error
// about bad input: no *SyntaxError, no sentinel of bad input.
func isMisuse(err, want error) bool {
	var se *SyntaxError
	return errors.Is(err, want) && !errors.As(err, &se) && !errors.Is(err, ErrBadBoundary) && !errors.Is(err, ErrSyntax)
}

// Embedded messages.

// testMsg is an embedded message as tests compare it.
type testMsg struct {
	Method, Target string // requests
	Status         int    // responses
	Reason         string
	Proto          string
	Header         [][2]string
	ContentLength  int64
	Chunked        bool
	Body           string
	Trailer        [][2]string
}

// protoString is the version as a start line writes it.
func protoString(major, minor int) string {
	return "HTTP/" + string(rune('0'+major)) + "." + string(rune('0'+minor))
}

// readTestRequest reads a request from src and drains its body with
// WriteTo. It returns what was read before any error, and the error.
func readTestRequest(m *MessageReader, src io.Reader) (testMsg, error) {
	return readTestRequestWith(m, src, drainWriteTo)
}

// readTestResponse reads a response to method, with ReadFinalResponse when
// method has the prefix "final:".
func readTestResponse(m *MessageReader, src io.Reader, method string) (testMsg, error) {
	return readTestResponseWith(m, src, method, drainWriteTo)
}

// drainWriteTo drains a message body with WriteTo.
func drainWriteTo(b *MessageBody) (string, error) {
	var body bytes.Buffer
	_, err := b.WriteTo(&body)
	return body.String(), err
}

// readTestRequestWith is readTestRequest draining the body with drain.
func readTestRequestWith(m *MessageReader, src io.Reader, drain func(*MessageBody) (string, error)) (testMsg, error) {
	m.Reset(src)
	r, err := m.ReadRequest()
	if err != nil {
		return testMsg{}, err
	}
	got := testMsg{Method: string(r.Method), Target: string(r.Target), Proto: protoString(r.ProtoMajor, r.ProtoMinor),
		Header: fields(&r.Header), ContentLength: r.ContentLength, Chunked: r.Chunked}
	got.Body, err = drain(r.Body)
	got.Trailer = fields(&r.Trailer)
	return got, err
}

// readTestResponseWith is readTestResponse draining the body with drain.
func readTestResponseWith(m *MessageReader, src io.Reader, method string, drain func(*MessageBody) (string, error)) (testMsg, error) {
	m.Reset(src)
	var r *Response
	var err error
	if final, ok := strings.CutPrefix(method, "final:"); ok {
		r, err = m.ReadFinalResponse(final)
	} else {
		r, err = m.ReadResponse(method)
	}
	if err != nil {
		return testMsg{}, err
	}
	got := testMsg{Status: r.StatusCode, Reason: string(r.Reason), Proto: protoString(r.ProtoMajor, r.ProtoMinor),
		Header: fields(&r.Header), ContentLength: r.ContentLength, Chunked: r.Chunked}
	got.Body, err = drain(r.Body)
	got.Trailer = fields(&r.Trailer)
	return got, err
}

// inPart wraps msg as the body of the one part of a multipart body and
// returns a Reader positioned on that part, so that the MessageReader reads
// from a *Part through ReadChunk, as in a batch.
func inPart(t *testing.T, msg string, src func([]byte) io.Reader) *Part {
	t.Helper()
	body := "--b\r\nContent-Type: application/http\r\n\r\n" + msg + "\r\n--b--\r\n"
	r := NewReaderOptions(src([]byte(body)), "b", ReaderOptions{BufferSize: 1})
	p, err := r.NextPart()
	if err != nil {
		t.Fatalf("NextPart: %v", err)
	}
	return p
}

// Inputs shared with the benchmarks, and the allocation checks.

// benchBoundary is shaped like Google's batch boundaries but without the '='
// that mime.ParseMediaType rejects; mime/multipart takes the boundary as is,
// so no media type is parsed on either side.
const benchBoundary = "batch_pK7JBAk73-E_AA5eFwv4m2Q"

// benchContentID is the Content-ID of response part i, as Google writes it.
func benchContentID(i int) string {
	return "<response-item-" + strconv.Itoa(i) + ":12930812@barnyard.example.com>"
}

// benchBatchResponse builds a Google-style batch response body of n parts,
// each an embedded HTTP response with a JSON body, about 300 bytes a part.
// It is written by hand rather than with our Writer so that the input does
// not depend on the code under test.
func benchBatchResponse(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		json := fmt.Sprintf("{\r\n  \"kind\": \"farm#animal\",\r\n  \"etag\": \"etag/animal-%d\",\r\n"+
			"  \"selfLink\": \"/farm/v1/animals/animal-%d\",\r\n  \"animalName\": \"animal-%d\",\r\n"+
			"  \"animalAge\": %d\r\n}\r\n", i, i, i, i%40)
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("--" + benchBoundary + "\r\n")
		b.WriteString("Content-Type: application/http\r\n")
		b.WriteString("Content-ID: " + benchContentID(i) + "\r\n\r\n")
		fmt.Fprintf(&b, "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: %d\r\n\r\n%s", len(json), json)
	}
	b.WriteString("\r\n--" + benchBoundary + "--\r\n")
	return b.Bytes()
}

// benchLargeBody wraps data in a body of a single part.
func benchLargeBody(data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("--" + benchBoundary + "\r\nContent-Type: application/octet-stream\r\n\r\n")
	b.Write(data)
	b.WriteString("\r\n--" + benchBoundary + "--\r\n")
	return b.Bytes()
}

// benchRandomBytes returns n bytes from a seeded generator.
func benchRandomBytes(n int) []byte {
	rng := rand.NewChaCha8([32]byte{'m', 'i', 'x', 'e', 'd'})
	data := make([]byte, n)
	_, _ = rng.Read(data) // documented never to fail
	return data
}

// benchText returns n bytes of JSON-like text with a CRLF every 40 to 90
// bytes, the shape of real batch bodies: keys, words, numbers, dates and
// base64-like ids, so that every byte class of a JSON API response shows up.
func benchText(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"kind", "etag", "id", "selfLink", "name", "description", "created", "updated", "status", "summary", "location", "email", "displayName", "timeZone"}
	words := []string{"the", "calendar", "event", "meeting", "with", "team", "and", "review", "of", "quarterly", "results", "room", "Building", "North", "Tuesday", "confirmed", "tentative", "true", "false", "null"}
	const idChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
	out := make([]byte, 0, n+128)
	var line []byte
	for len(out) < n {
		size := 40 + rng.IntN(51) // the line with its CRLF
		line = append(line[:0], "  \""...)
		line = append(line, keys[rng.IntN(len(keys))]...)
		line = append(line, "\": \""...)
		for len(line) < size-4 {
			switch rng.IntN(6) {
			case 0:
				line = fmt.Appendf(line, "%d", rng.IntN(100000))
			case 1:
				line = fmt.Appendf(line, "2024-%02d-%02dT%02d:%02d:00.000Z", 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60))
			case 2:
				for range 12 + rng.IntN(10) {
					line = append(line, idChars[rng.IntN(len(idChars))])
				}
			default:
				line = append(line, words[rng.IntN(len(words))]...)
			}
			line = append(line, ' ')
		}
		line = append(line[:size-4], "\",\r\n"...)
		out = append(out, line...)
	}
	return out[:n]
}

// benchWritePart is one part of BenchmarkWriteBatch.
type benchWritePart struct {
	id   string
	body []byte
}

// benchWriteParts returns n parts with a 250-byte JSON-like body each.
func benchWriteParts(n int) []benchWritePart {
	text := benchText(250 * n)
	parts := make([]benchWritePart, n)
	for i := range parts {
		parts[i] = benchWritePart{id: benchContentID(i), body: text[250*i : 250*(i+1) : 250*(i+1)]}
	}
	return parts
}

// httpBenchBoundary is the boundary of httpBenchBatch, a Google one.
const httpBenchBoundary = "batch_GOMozbDceUiJkwfCeHo28pGmhwRG5o50"

// httpBenchJSON is a ~300-byte JSON body, the size of a typical Google API
// resource in a batch response.
var httpBenchJSON = `{"kind":"calendar#event","etag":"\"3181161784712000\"","id":"4eahs9ghkhrvkld72hogu9ph3e","status":"confirmed",` +
	`"htmlLink":"https://www.google.com/calendar/event?eid=NGVhaHM5Z2hraHJ2a2xkNzJob2d1OXBoM2Ug","created":"2020-01-22T18:56:00.000Z",` +
	`"summary":"Weekly sync","start":{"dateTime":"2020-01-23T10:00:00Z"}}`

// httpBenchResponse is the embedded response of part i of httpBenchBatch.
func httpBenchResponse(i int) string {
	return "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nETag: \"etag/" + strconv.Itoa(i) +
		"\"\r\nContent-Length: " + strconv.Itoa(len(httpBenchJSON)) + "\r\n\r\n" + httpBenchJSON + "\r\n"
}

// httpBenchBatch returns a batch response body of n parts.
func httpBenchBatch(n int) []byte {
	var b strings.Builder
	for i := range n {
		b.WriteString("--" + httpBenchBoundary + "\r\nContent-Type: application/http\r\nContent-ID: response-" + strconv.Itoa(i) + "\r\n\r\n")
		b.WriteString(httpBenchResponse(i))
		b.WriteString("\r\n")
	}
	b.WriteString("--" + httpBenchBoundary + "--\r\n")
	return []byte(b.String())
}

// allocBatchParts is the size of the batches the allocation tests read
// and write.
const allocBatchParts = 100

// allocCheck fails t unless f allocates nothing per run after one warm-up
// run (AllocsPerRun's own warm-up call grows the buffers that Reset keeps).
func allocCheck(t *testing.T, f func()) {
	t.Helper()
	if n := testing.AllocsPerRun(allocRuns, f); n != 0 {
		t.Errorf("%v allocations per run, want 0", n)
	}
}

// allocRuns is how many runs testing.AllocsPerRun averages over.
const allocRuns = 50
