package mixed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWriterWireBytes(t *testing.T) {
	for _, c := range []struct {
		name  string
		parts []testPart
		want  string
	}{
		{"zero parts", nil, "--B--\r\n"},
		{"one empty part", []testPart{{}}, "--B\r\n\r\n\r\n--B--\r\n"},
		{
			"one part",
			[]testPart{{hdr("Content-Type", "text/plain"), "hello"}},
			"--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B--\r\n",
		},
		{
			"three parts, fields in order with duplicates, empty value",
			[]testPart{
				{hdr("Content-Type", "application/http", "Content-ID", "<1>"), "GET / HTTP/1.1\r\n\r\n"},
				{hdr("x-b", "2", "X-A", "1", "x-b", "3", "Empty", ""), ""},
				{nil, "last\r\n"},
			},
			"--B\r\nContent-Type: application/http\r\nContent-ID: <1>\r\n\r\nGET / HTTP/1.1\r\n\r\n" +
				"\r\n--B\r\nx-b: 2\r\nX-A: 1\r\nx-b: 3\r\nEmpty: \r\n\r\n" +
				"\r\n--B\r\n\r\nlast\r\n" +
				"\r\n--B--\r\n",
		},
	} {
		got, err := writeParts(c.parts, "B")
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if diff := cmp.Diff(c.want, string(got)); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", c.name, diff)
		}
	}
}

// A part body may be written in any number of pieces, or none.
func TestWriterPiecewiseBody(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.SetBoundary("B"); err != nil {
		t.Fatal(err)
	}
	pw, err := w.CreatePart(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"a", "", "bc", "\r\n-", "-", "C"} {
		if n, err := io.WriteString(pw, s); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("--B\r\n\r\nabc\r\n--C\r\n--B--\r\n", buf.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestWriterSetBoundary(t *testing.T) {
	bchars := "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'()+_,-./:=? "
	for _, c := range []struct {
		boundary string
		ok       bool
	}{
		{"a", true},
		{strings.Repeat("x", 70), true},
		{strings.Repeat("x", 71), false},
		{"", false},
		{"ab ", false},
		{" ab", true},
		{"a b", true},
		{bchars[:40], true},
		{bchars[40:], false}, // ends in a space
		{bchars[40 : len(bchars)-1], true},
		{"batch_pK7JBAk73-E=_AA5eFwv4m2Q=", true},
		{"a\"b", false},
		{"a;b", false},
		{"a\\b", false},
		{"a\tb", false},
		{"a\rb", false},
		{"a\nb", false},
		{"a\x00b", false},
		{"a@b", false},
		{"a*b", false},
		{"caf\xc3\xa9", false},
	} {
		w := NewWriter(io.Discard)
		before := w.Boundary()
		err := w.SetBoundary(c.boundary)
		switch {
		case c.ok && err != nil:
			t.Errorf("SetBoundary(%q) = %v, want nil", c.boundary, err)
		case c.ok && w.Boundary() != c.boundary:
			t.Errorf("SetBoundary(%q): Boundary() = %q", c.boundary, w.Boundary())
		case !c.ok && !errors.Is(err, ErrBadBoundary):
			t.Errorf("SetBoundary(%q) = %v, want ErrBadBoundary", c.boundary, err)
		case !c.ok && w.Boundary() != before:
			t.Errorf("SetBoundary(%q) failed but changed the boundary to %q", c.boundary, w.Boundary())
		}
	}
	// Every RFC 2046 bchar is accepted, one at a time too.
	for i := 0; i < len(bchars)-1; i++ {
		if err := NewWriter(io.Discard).SetBoundary("x" + bchars[i:i+1] + "x"); err != nil {
			t.Errorf("bchar %q: %v", bchars[i], err)
		}
	}
}

func TestWriterSetBoundaryAfterStart(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if _, err := w.CreatePart(nil); err != nil {
		t.Fatal(err)
	}
	b := w.Boundary()
	if err := w.SetBoundary("other"); !isMisuse(err, errLateBoundary) {
		t.Errorf("SetBoundary after CreatePart = %v, want the misuse error errLateBoundary", err)
	}
	if w.Boundary() != b {
		t.Errorf("boundary changed to %q", w.Boundary())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// What was written is still one body with one boundary.
	got, err := readParts(&buf, b, ReaderOptions{})
	if err != nil || len(got) != 1 {
		t.Errorf("read back: %d parts, %v", len(got), err)
	}

	w = NewWriter(io.Discard)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.SetBoundary("other"); !isMisuse(err, errLateBoundary) {
		t.Errorf("SetBoundary after Close = %v, want the misuse error errLateBoundary", err)
	}
}

// Random boundaries are long, differ between Writers (and Resets), and are
// accepted by the standard library.
func TestWriterRandomBoundary(t *testing.T) {
	seen := map[string]bool{}
	w := NewWriter(io.Discard)
	for i := range 100 {
		var buf bytes.Buffer
		if i%2 == 0 {
			w = NewWriter(&buf)
		} else {
			w.Reset(&buf)
		}
		b := w.Boundary()
		if len(b) < 30 || len(b) > 70 {
			t.Errorf("boundary %q: length %d", b, len(b))
		}
		if checkBoundary(b) != nil {
			t.Errorf("boundary %q is not RFC 2046", b)
		}
		if seen[b] {
			t.Errorf("boundary %q repeated", b)
		}
		seen[b] = true

		mt, params, err := mime.ParseMediaType(w.ContentType())
		if err != nil || mt != "multipart/mixed" || params["boundary"] != b {
			t.Errorf("mime.ParseMediaType(%q) = %q, %q, %v", w.ContentType(), mt, params, err)
		}
		if got, err := ParseBoundary(w.ContentType()); got != b || err != nil {
			t.Errorf("ParseBoundary(%q) = %q, %v", w.ContentType(), got, err)
		}
		if err := multipart.NewWriter(io.Discard).SetBoundary(b); err != nil {
			t.Errorf("multipart.Writer.SetBoundary(%q): %v", b, err)
		}
		pw, err := w.CreatePart(nil)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(pw, "body")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := stdParts(buf.Bytes(), b)
		if err != nil || len(got) != 1 || got[0].Body != "body" {
			t.Errorf("mime/multipart read %q, %v", got, err)
		}
	}
}

// ContentType quotes boundaries that are not tokens, so that
// mime.ParseMediaType reads them back.
func TestWriterContentType(t *testing.T) {
	for _, c := range []struct{ boundary, want string }{
		{"simple", "multipart/mixed; boundary=simple"},
		{"a b", `multipart/mixed; boundary="a b"`},
		{"batch_pK7JBAk73-E=_AA5eFwv4m2Q=", `multipart/mixed; boundary="batch_pK7JBAk73-E=_AA5eFwv4m2Q="`},
		{"a:b/c?d", `multipart/mixed; boundary="a:b/c?d"`},
		{"(x),y", `multipart/mixed; boundary="(x),y"`},
	} {
		w := NewWriter(io.Discard)
		if err := w.SetBoundary(c.boundary); err != nil {
			t.Fatal(err)
		}
		if got := w.ContentType(); got != c.want {
			t.Errorf("ContentType() = %q, want %q", got, c.want)
		}
		_, params, err := mime.ParseMediaType(w.ContentType())
		if err != nil || params["boundary"] != c.boundary {
			t.Errorf("mime.ParseMediaType(%q) = %q, %v", w.ContentType(), params, err)
		}
	}
}

func TestWriterInvalidHeader(t *testing.T) {
	for _, f := range [][2]string{
		{"", "v"},
		{"Bad Name", "v"},
		{"Bad:Name", "v"},
		{"Bad\rName", "v"},
		{"Bad\nName", "v"},
		{"Bad\x00Name", "v"},
		{"Bad(Name)", "v"},
		{"Bad\"Name", "v"},
		{"Bad@Name", "v"},
		{"Ünïcode", "v"},
		{"X", "a\r\nX-Injected: 1"},
		{"X", "a\rb"},
		{"X", "a\nb"},
		{"X", "a\x00b"},
		{"X", "a\x01b"},
		{"X", "a\x1fb"},
		{"X", "a\x7fb"},
		{"X", "a\r\n b"}, // obsolete folding is not written either
		{"X", " a"},      // a reader would drop the white space
		{"X", "a\t"},
	} {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		if err := w.SetBoundary("B"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.CreatePart(headerOf(hdr("A", "1"))); err != nil {
			t.Fatal(err)
		}
		before := buf.Len()
		var h Header
		h.Add("Content-Type", "text/plain")
		h.Add(f[0], f[1])
		pw, err := w.CreatePart(&h)
		if !errors.Is(err, ErrBadHeader) || pw != nil {
			t.Errorf("field %q: CreatePart = %v, %v, want nil, ErrBadHeader", f, pw, err)
		}
		if buf.Len() != before {
			t.Errorf("field %q: %q written", f, buf.Bytes()[before:])
		}
		// The Writer is still usable and the body is well-formed.
		pw, err = w.CreatePart(headerOf(hdr("B", "2")))
		if err != nil {
			t.Fatalf("field %q: next CreatePart: %v", f, err)
		}
		io.WriteString(pw, "ok")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		want := []testPart{{hdr("A", "1"), ""}, {hdr("B", "2"), "ok"}}
		got, err := readParts(&buf, "B", ReaderOptions{})
		if err != nil {
			t.Errorf("field %q: read back: %v", f, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("field %q: read back (-want +got):\n%s", f, diff)
		}
	}
	// A failed first part leaves the next one first: no CRLF before it.
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.SetBoundary("B")
	if _, err := w.CreatePart(headerOf(hdr("X", "\n"))); !errors.Is(err, ErrBadHeader) {
		t.Fatalf("CreatePart = %v", err)
	}
	w.CreatePart(nil)
	w.Close()
	if diff := cmp.Diff("--B\r\n\r\n\r\n--B--\r\n", buf.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Values with every other byte (SP, HTAB, VCHAR, obs-text) are written as
// they are.
func TestWriterValidHeaderBytes(t *testing.T) {
	var v []byte
	for c := 0x20; c < 0x100; c++ {
		if c != 0x7f {
			v = append(v, byte(c))
		}
	}
	value := "x\t" + string(v) + "\tx"
	name := "!#$%&'*+-.^_`|~09AZaz"
	got, err := writeParts([]testPart{{hdr(name, value), ""}}, "B")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("--B\r\n"+name+": "+value+"\r\n\r\n\r\n--B--\r\n", string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// writeBody writes one part whose body is given in pieces to a Writer with
// boundary "B", and returns the index of the failing Write (or -1),
// everything written to the destination, and the error.
func writeBody(check bool, pieces ...string) (int, string, error) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.SetBoundary("B")
	w.SetDelimiterCheck(check)
	pw, err := w.CreatePart(nil)
	if err != nil {
		return -2, buf.String(), err
	}
	for i, p := range pieces {
		n, err := io.WriteString(pw, p)
		if err != nil {
			if n != 0 {
				return i, buf.String(), fmt.Errorf("wrote %d bytes with the error %w", n, err)
			}
			return i, buf.String(), err
		}
	}
	if err := w.Close(); err != nil {
		return len(pieces), buf.String(), err
	}
	return -1, buf.String(), nil
}

func TestWriterDelimiterGuard(t *testing.T) {
	for _, c := range []struct {
		body string
		bad  bool
	}{
		{"a\r\n--B", true},
		{"a\r\n--B\r\nX: 1\r\n\r\nsmuggled", true},
		{"a\n--B", true},
		{"--B", true},
		{"--B--", true},
		{"\r\n--B--\r\n", true},
		{"x\n--BB", true}, // a longer boundary that starts with B: conservative
		{"--", false},
		{"a--B", false},
		{"a--B\r\n", false},
		{"a\r--B", false},
		{" --B", false},
		{"a\r\n--C", false},
		{"a\r\n-B", false},
		{"a\r\n--b", false},
		{"a\n--", false},
		{"\r\n", false},
		{"-B", false},
	} {
		// Whole, and split in two at every point.
		for cut := -1; cut <= len(c.body); cut++ {
			pieces := []string{c.body}
			if cut >= 0 {
				pieces = []string{c.body[:cut], c.body[cut:]}
			}
			i, out, err := writeBody(true, pieces...)
			what := fmt.Sprintf("body %q in pieces %q", c.body, pieces)
			if !c.bad {
				if err != nil {
					t.Errorf("%s: %v", what, err)
				}
				continue
			}
			if !errors.Is(err, ErrDelimiterInBody) {
				t.Errorf("%s: write %d: %v, want ErrDelimiterInBody", what, i, err)
				continue
			}
			// The failing write is the one that completes the
			// delimiter, and nothing of it reached the destination.
			if end := strings.Index(c.body, "--B") + 3; (cut < 0 || cut >= end) != (i == 0) {
				t.Errorf("%s: write %d failed, want the one holding byte %d", what, i, end-1)
			}
			if body := strings.TrimPrefix(out, "--B\r\n\r\n"); strings.Contains("\n"+body, "\n--B") {
				t.Errorf("%s: the delimiter reached the destination: %q", what, out)
			}
		}
		// One byte at a time.
		var pieces []string
		for j := range len(c.body) {
			pieces = append(pieces, c.body[j:j+1])
		}
		if _, _, err := writeBody(true, pieces...); errors.Is(err, ErrDelimiterInBody) != c.bad {
			t.Errorf("body %q one byte at a time: %v", c.body, err)
		}
		// With the check off the body is written as it is.
		if _, out, err := writeBody(false, c.body); err != nil || out != "--B\r\n\r\n"+c.body+"\r\n--B--\r\n" {
			t.Errorf("body %q, check off: %q, %v", c.body, out, err)
		}
	}
}

// The guard sees each part on its own, and a failure is sticky.
func TestWriterDelimiterGuardAcrossParts(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.SetBoundary("B")
	pw, _ := w.CreatePart(nil)
	if _, err := io.WriteString(pw, "a\r\n--"); err != nil {
		t.Fatal(err)
	}
	// The previous part's tail and this part's head are separated by a
	// delimiter and a header: "B" alone is harmless.
	pw, _ = w.CreatePart(nil)
	if _, err := io.WriteString(pw, "B\r\n"); err != nil {
		t.Errorf("second part: %v", err)
	}
	_, err := io.WriteString(pw, "\n--B")
	if !errors.Is(err, ErrDelimiterInBody) {
		t.Fatalf("delimiter: %v", err)
	}
	var se *SyntaxError
	if !errors.As(err, &se) || se.Offset != int64(len("--B\r\n\r\na\r\n--\r\n--B\r\n\r\nB\r\n")) {
		t.Errorf("error %v: want a *SyntaxError at the offset of the LF", err)
	}
	if _, err2 := io.WriteString(pw, "more"); err2 != err {
		t.Errorf("Write after the error: %v", err2)
	}
	if _, err2 := w.CreatePart(nil); err2 != err {
		t.Errorf("CreatePart after the error: %v", err2)
	}
	if err2 := w.Close(); err2 != err {
		t.Errorf("Close after the error: %v", err2)
	}
}

func TestWriterDestinationErrorsSticky(t *testing.T) {
	errBoom := errors.New("boom")
	full, err := writeParts([]testPart{{hdr("A", "1"), "first body"}, {nil, "second"}}, "B")
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(full); n++ {
		for _, werr := range []error{errBoom, nil} {
			dst := &failWriter{n: n, err: werr}
			want := werr
			if werr == nil {
				want = io.ErrShortWrite
			}
			w := NewWriter(dst)
			w.SetBoundary("B")
			var first error
			note := func(err error) {
				if first == nil && err != nil {
					first = err
				} else if first != nil && err != first {
					t.Errorf("after %d bytes: later error %v, want the first one %v", n, err, first)
				}
			}
			pw, err := w.CreatePart(headerOf(hdr("A", "1")))
			note(err)
			if err == nil {
				_, err = io.WriteString(pw, "first body")
				note(err)
			}
			_, err = w.CreatePart(nil)
			note(err)
			if err == nil {
				_, err = io.WriteString(pw, "second")
				note(err)
			}
			note(w.Close())
			note(w.Close())
			if first != want {
				t.Errorf("after %d bytes: error %v, want %v", n, first, want)
			}
			if !bytes.Equal(dst.wrote.Bytes(), full[:n]) {
				t.Errorf("after %d bytes: wrote %q, want %q", n, dst.wrote.Bytes(), full[:n])
			}
		}
	}
}

func TestWriterClose(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.SetBoundary("B")
	pw, _ := w.CreatePart(nil)
	io.WriteString(pw, "x")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n, err := io.WriteString(pw, "late"); n != 0 || !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %d, %v, want 0, ErrClosed", n, err)
	}
	if pw, err := w.CreatePart(nil); pw != nil || !errors.Is(err, ErrClosed) {
		t.Errorf("CreatePart after Close = %v, %v, want nil, ErrClosed", pw, err)
	}
	if diff := cmp.Diff("--B\r\n\r\nx\r\n--B--\r\n", buf.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Reset makes a closed Writer usable again, with a new boundary.
	old := w.Boundary()
	buf.Reset()
	w.Reset(&buf)
	if w.Boundary() == old {
		t.Errorf("Reset kept the boundary %q", old)
	}
	pw, err := w.CreatePart(nil)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(pw, "y")
	w.Close()
	if diff := cmp.Diff("--"+w.Boundary()+"\r\n\r\ny\r\n--"+w.Boundary()+"--\r\n", buf.String()); diff != "" {
		t.Errorf("after Reset (-want +got):\n%s", diff)
	}
}

// Reset keeps the delimiter-check setting.
func TestWriterResetKeepsDelimiterCheck(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.SetDelimiterCheck(false)
	w.Reset(&buf)
	pw, _ := w.CreatePart(nil)
	if _, err := io.WriteString(pw, "\r\n--"+w.Boundary()); err != nil {
		t.Errorf("check off, after Reset: %v", err)
	}
}

// mime/multipart, the oracle, reads what the Writer writes. The fields are
// written in canonical form and sorted, which is how stdParts reports them.
func TestWriterReadByStdlib(t *testing.T) {
	parts := []testPart{
		{hdr("Content-Id", "<1>", "Content-Type", "application/http"), "GET /a HTTP/1.1\r\n\r\n"},
		{nil, ""},
		{hdr("X-Dup", "1", "X-Dup", "2"), "x--B\r\n-\r\n--C\n--\r\n--b\r\n"},
		{hdr("Content-Type", "text/plain; charset=utf-8"), strings.Repeat("z", 10000)},
	}
	for _, b := range []string{"B", "batch_pK7JBAk73-E=_AA5eFwv4m2Q=", strings.Repeat("q", 70), "a b"} {
		wire, err := writeParts(parts, b)
		if err != nil {
			t.Fatalf("boundary %q: %v", b, err)
		}
		got, err := stdParts(wire, b)
		if err != nil {
			t.Errorf("boundary %q: mime/multipart: %v", b, err)
		}
		if diff := cmp.Diff(parts, got); diff != "" {
			t.Errorf("boundary %q: mime/multipart read (-want +got):\n%s", b, diff)
		}
	}
}

// The Writer refuses a part header the default Reader would refuse, with
// the Reader's own errors, writing nothing; WriterOptions raise the
// limits. At the limit exactly, the default Reader reads what it wrote.
func TestWriterLimits(t *testing.T) {
	fieldsOf := func(n int) *Header {
		var h Header
		for i := range n {
			h.Add("F"+strconv.Itoa(i), "v")
		}
		return &h
	}
	// One field making a header block of size bytes: "X: " value CRLF,
	// and the empty line.
	blockOf := func(size int) *Header {
		var h Header
		h.Add("X", strings.Repeat("x", size-len("X: \r\n\r\n")))
		return &h
	}
	for _, tc := range []struct {
		name string
		h    *Header
		opts WriterOptions
		want error
	}{
		{"100 fields", fieldsOf(100), WriterOptions{}, nil},
		{"101 fields", fieldsOf(101), WriterOptions{}, ErrTooManyFields},
		{"101 fields, limit raised", fieldsOf(101), WriterOptions{MaxHeaderFields: 101}, nil},
		{"64 KiB block", blockOf(DefaultMaxHeaderBytes), WriterOptions{}, nil},
		{"64 KiB and a byte", blockOf(DefaultMaxHeaderBytes + 1), WriterOptions{}, ErrHeaderTooLarge},
		{"70 KiB field", blockOf(70 << 10), WriterOptions{}, ErrHeaderTooLarge},
		{"70 KiB field, limit raised", blockOf(70 << 10), WriterOptions{MaxHeaderBytes: 71 << 10}, nil},
		{"3 fields, limit 2", fieldsOf(3), WriterOptions{MaxHeaderFields: 2}, ErrTooManyFields},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriterOptions(&buf, tc.opts)
			_, err := w.CreatePart(tc.h)
			if !errors.Is(err, tc.want) || tc.want == nil && err != nil {
				t.Fatalf("CreatePart: %v, want %v", err, tc.want)
			}
			if err != nil {
				if buf.Len() != 0 {
					t.Fatalf("wrote %d bytes before failing", buf.Len())
				}
				// The Writer stays usable, and Reset keeps the options.
				if _, err := w.CreatePart(fieldsOf(1)); err != nil {
					t.Fatalf("CreatePart after a refused header: %v", err)
				}
				w.Reset(io.Discard)
				if _, err := w.CreatePart(tc.h); !errors.Is(err, tc.want) {
					t.Fatalf("after Reset: %v, want %v", err, tc.want)
				}
				return
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			ropts := ReaderOptions{MaxHeaderFields: tc.opts.MaxHeaderFields, MaxHeaderBytes: tc.opts.MaxHeaderBytes}
			parts, err := readParts(&buf, w.Boundary(), ropts)
			if err != nil || len(parts) != 1 || len(parts[0].Header) != tc.h.Len() {
				t.Fatalf("reading what was written with %+v: %d parts, %v", ropts, len(parts), err)
			}
		})
	}
}
