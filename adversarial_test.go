package mixed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed/internal/cputime"
)

// Adversarial inputs: each must end with the right result or error, in time
// linear in the input. The time limit is deliberately generous (a
// quadratic rescan of these inputs takes minutes, a linear scan well under
// a second), so that -race does not make them flaky and they say nothing
// about performance, which the benchmarks measure. The time is the
// process's CPU time where the system gives it: on a shared machine under
// load the wall clock ran to 18.7 s for a read that takes 3 s of CPU.
const adversarialLimit = 10 * time.Second

func checkElapsed(t *testing.T, start cputime.Stopwatch) {
	t.Helper()
	if d := start.Elapsed(); d > adversarialLimit {
		t.Errorf("took %v, over %v: not linear in the input", d, adversarialLimit)
	}
}

// boundary70 is a boundary of the maximum length whose first byte is also
// the byte the finder is likely to pick as rare first, so that every prefix of it
// in a body is a false hit of the filter.
var boundary70 = "Q" + strings.Repeat("z9_X-", 14)[:69]

// prefixStorm returns n bytes made of nl "--" followed by every proper
// prefix of boundary in turn, repeated: each is a candidate delimiter that
// fails only at its last byte.
func prefixStorm(nl, boundary string, n int) []byte {
	return appendPrefixStorm(make([]byte, 0, n), nl, boundary, n)
}

func appendPrefixStorm(b []byte, nl, boundary string, n int) []byte {
	var unit []byte
	for k := 0; k < len(boundary); k++ {
		unit = append(unit, nl+"--"+boundary[:k]...)
	}
	for end := len(b) + n; len(b) < end; {
		b = append(b, unit[:min(len(unit), end-len(b))]...)
	}
	return b
}

// onePart wraps body in a one-part multipart body with line end nl.
func onePart(nl, boundary string, body []byte) []byte {
	src, _ := onePartOf(nl, boundary, len(body), func(b []byte) []byte { return append(b, body...) })
	return src
}

// onePartOf is onePart for a body appended by add, built in place: the
// large inputs are built with one allocation and no copy. It returns the
// whole input and the body within it.
func onePartOf(nl, boundary string, size int, add func([]byte) []byte) (src, body []byte) {
	head := "--" + boundary + nl + "A: 1" + nl + nl
	tail := nl + "--" + boundary + "--" + nl
	b := make([]byte, 0, len(head)+size+len(tail))
	b = append(b, head...)
	b = add(b)
	body = b[len(head):len(b):len(b)]
	return append(b, tail...), body
}

// eqWriter compares what is written to it with want as it comes, so that
// a large body is checked without a second copy.
type eqWriter struct {
	want []byte
	n    int
	bad  int // offset of the first differing byte, or -1
}

func (w *eqWriter) Write(p []byte) (int, error) {
	if w.bad < 0 {
		want := w.want[min(w.n, len(w.want)):]
		want = want[:min(len(p), len(want))]
		// bytes.Equal first: a byte loop is slow under -race.
		if !bytes.Equal(want, p) {
			i := 0
			for i < len(want) && want[i] == p[i] {
				i++
			}
			w.bad = w.n + i
		}
	}
	w.n += len(p)
	return len(p), nil
}

// readOnePart reads src, which must hold exactly one part with header
// "A: 1" and body want, and checks it.
func readOnePart(t *testing.T, src io.Reader, boundary string, want []byte) {
	t.Helper()
	r := NewReader(src, boundary)
	p, err := r.NextPart()
	if err != nil {
		t.Fatalf("NextPart: %v", err)
	}
	if diff := cmp.Diff([][2]string{{"A", "1"}}, fields(&p.Header)); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	w := &eqWriter{want: want, bad: -1}
	if _, err := io.Copy(w, p); err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	if w.bad >= 0 || w.n != len(want) {
		t.Errorf("body: %d bytes, first difference at %d; want %d bytes", w.n, w.bad, len(want))
	}
	if _, err := r.NextPart(); err != io.EOF {
		t.Errorf("after the part: %v, want io.EOF", err)
	}
}

// TestAdversarialPrefixStorm reads 64 MiB of delimiter prefixes inside one
// part, whole (8 MiB under -short), then a 256 KiB version one byte at a
// time. (64 MiB takes well under 3 s under -race on an idle machine.)
func TestAdversarialPrefixStorm(t *testing.T) {
	size := 64 << 20
	if testing.Short() {
		size = 8 << 20
	}
	for _, nl := range []string{"\r\n", "\n"} {
		t.Run(fmt.Sprintf("nl=%q/%dMiB", nl, size>>20), func(t *testing.T) {
			src, body := onePartOf(nl, boundary70, size, func(b []byte) []byte {
				return appendPrefixStorm(b, nl, boundary70, size)
			})
			start := cputime.Start()
			readOnePart(t, bytes.NewReader(src), boundary70, body)
			checkElapsed(t, start)
		})
		t.Run(fmt.Sprintf("nl=%q/256KiB/onebyte", nl), func(t *testing.T) {
			body := prefixStorm(nl, boundary70, 256<<10)
			src := onePart(nl, boundary70, body)
			start := cputime.Start()
			readOnePart(t, iotest.OneByteReader(bytes.NewReader(src)), boundary70, body)
			checkElapsed(t, start)
		})
	}
}

// TestAdversarialBodies reads bodies made of what delimiters are made of,
// in both line-ending modes and through every awkward reader: each is one
// part with exactly those bytes.
func TestAdversarialBodies(t *testing.T) {
	const n = 64 << 10
	// In CRLF mode a bare-LF delimiter is body data; in LF mode a CRLF
	// delimiter's LF would delimit, so the LF-mode storms avoid it.
	tests := []struct {
		name, nl string
		body     []byte
	}{
		{"dashes", "\r\n", bytes.Repeat([]byte("-"), n)},
		{"dashes", "\n", bytes.Repeat([]byte("-"), n)},
		{"crlf", "\r\n", bytes.Repeat([]byte("\r\n"), n/2)},
		{"cr", "\n", bytes.Repeat([]byte("\r"), n)},
		{"crlf-dashes", "\r\n", bytes.Repeat([]byte("\r\n--"), n/4)},
		{"lf-dashes", "\n", bytes.Repeat([]byte("\n--"), n/3)},
		{"bare-lf-delimiters", "\r\n", bytes.Repeat([]byte("\n--"+boundary70+"\n"), n/74)},
		{"lf-prefixes", "\n", prefixStorm("\n", boundary70, n)},
		{"lf-boundary-then-byte", "\n", bytes.Repeat([]byte("\n--"+boundary70+"X"), n/74)},
		{"lf-boundary-dash-byte", "\n", bytes.Repeat([]byte("\n--"+boundary70+"-X"), n/75)},
		{"crlf-boundary-then-byte", "\r\n", bytes.Repeat([]byte("\r\n--"+boundary70+"X"), n/75)},
	}
	for _, tt := range tests {
		src := onePart(tt.nl, boundary70, tt.body)
		for rname, r := range awkwardReaders(src, 1) {
			t.Run(fmt.Sprintf("%s/nl=%q/%s", tt.name, tt.nl, rname), func(t *testing.T) {
				start := cputime.Start()
				readOnePart(t, r, boundary70, tt.body)
				checkElapsed(t, start)
			})
		}
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestAdversarialHeaderBlock sends a 1 MiB header block: the Reader must
// fail with ErrHeaderTooLarge, pointing at the block, having read little
// more than the limit from its source.
func TestAdversarialHeaderBlock(t *testing.T) {
	const delim = "--b\r\n"
	blocks := map[string]string{
		"short-lines": strings.Repeat("X-Field: "+strings.Repeat("v", 50)+"\r\n", (1<<20)/61),
		"one-line":    "X-Field: " + strings.Repeat("v", 1<<20),
		"folded":      "X-Field: v\r\n" + strings.Repeat(" "+strings.Repeat("v", 60)+"\r\n", (1<<20)/63),
	}
	for name, block := range blocks {
		t.Run(name, func(t *testing.T) {
			src := &countingReader{r: strings.NewReader(delim + block + "\r\n\r\nbody\r\n--b--\r\n")}
			start := cputime.Start()
			_, err := NewReader(src, "b").NextPart()
			checkElapsed(t, start)
			if !errors.Is(err, ErrHeaderTooLarge) {
				t.Fatalf("NextPart: %v, want ErrHeaderTooLarge", err)
			}
			if got := errOffset(err); got != int64(len(delim)) {
				t.Errorf("error offset %d, want %d (the start of the header)", got, len(delim))
			}
			// The limit, plus the delimiter line and the slack the
			// buffer keeps for a delimiter: nowhere near the 1 MiB.
			if max := int64(DefaultMaxHeaderBytes + 4<<10); src.n > max {
				t.Errorf("read %d bytes from the source, over %d", src.n, max)
			}
		})
	}
}

// TestAdversarialManyParts sends 100,000 empty parts: the default limit
// stops the Reader at part 10,001; a larger MaxParts reads them all.
func TestAdversarialManyParts(t *testing.T) {
	const n = 100000
	// Each "--b" CRLF CRLF is a delimiter line and an empty header; the
	// CRLF of the next one is then the delimiter's own, so the body is
	// empty.
	src := []byte(strings.Repeat("--b\r\n\r\n\r\n", n) + "--b--\r\n")
	count := func(opts ReaderOptions) (int, error) {
		r := NewReaderOptions(bytes.NewReader(src), "b", opts)
		for i := 0; ; i++ {
			p, err := r.NextPart()
			if err == io.EOF {
				return i, nil
			}
			if err != nil {
				return i, err
			}
			if c, err := p.ReadChunk(); err != io.EOF || len(c) != 0 || p.Header.Len() != 0 {
				return i, fmt.Errorf("part %d: body %q, %v, %d header fields; want an empty part", i, c, err, p.Header.Len())
			}
		}
	}
	start := cputime.Start()
	got, err := count(ReaderOptions{})
	if !errors.Is(err, ErrTooManyParts) || got != DefaultMaxParts {
		t.Errorf("default options: %d parts, then %v; want %d, then ErrTooManyParts", got, err, DefaultMaxParts)
	}
	// Part k's header starts at 9(k-1)+5.
	if want := int64(9*DefaultMaxParts + 5); errOffset(err) != want {
		t.Errorf("ErrTooManyParts at offset %d, want %d (the header of part %d)", errOffset(err), want, DefaultMaxParts+1)
	}
	got, err = count(ReaderOptions{MaxParts: n})
	if err != nil || got != n {
		t.Errorf("MaxParts %d: %d parts, then %v; want all", n, got, err)
	}
	checkElapsed(t, start)
}

// TestAdversarialBoundaryLength: RFC 2046 allows 70 characters, not 71.
func TestAdversarialBoundaryLength(t *testing.T) {
	b70, b71 := boundary70, boundary70+"x"
	body := onePart("\r\n", b71, []byte("x"))
	if _, err := NewReader(bytes.NewReader(body), b71).NextPart(); !errors.Is(err, ErrBadBoundary) {
		t.Errorf("Reader, 71 characters: %v, want ErrBadBoundary", err)
	}
	if err := NewWriter(io.Discard).SetBoundary(b71); !errors.Is(err, ErrBadBoundary) {
		t.Errorf("Writer, 71 characters: %v, want ErrBadBoundary", err)
	}
	if _, err := ParseBoundary("multipart/mixed; boundary=" + b71); !errors.Is(err, ErrBadBoundary) {
		t.Errorf("ParseBoundary, 71 characters: %v, want ErrBadBoundary", err)
	}
	// And 70 is fine everywhere, through a round trip.
	if err := NewWriter(io.Discard).SetBoundary(b70); err != nil {
		t.Errorf("Writer, 70 characters: %v", err)
	}
	want := []testPart{{Header: [][2]string{{"A", "1"}}, Body: "x"}}
	enc, err := writeParts(want, b70)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readParts(bytes.NewReader(enc), b70, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("70 characters (-want +got):\n%s", diff)
	}
}

// TestAdversarialLongLines reads, one byte at a time, a preamble of many
// lines just under the line limit and delimiter lines padded up to it: a
// Reader that rescanned a line on every short read would be quadratic in
// the line length. One byte more is ErrLineTooLong.
func TestAdversarialLongLines(t *testing.T) {
	const lines = 128
	line := strings.Repeat("p", DefaultMaxLineBytes) + "\r\n"
	pad := strings.Repeat(" \t", DefaultMaxLineBytes/2)
	var src strings.Builder
	var want []testPart
	src.WriteString(strings.Repeat(line, lines))
	for i := 0; i < lines; i++ {
		if i > 0 {
			src.WriteString("\r\n")
		}
		p := pad
		if i == 0 {
			// The first delimiter line is still a preamble line: the
			// limit applies to all of it, not to its padding alone.
			p = pad[len("--b"):]
		}
		fmt.Fprintf(&src, "--b%s\r\nN: %d\r\n\r\nbody %d", p, i, i)
		want = append(want, testPart{Header: [][2]string{{"N", fmt.Sprint(i)}}, Body: fmt.Sprint("body ", i)})
	}
	src.WriteString("\r\n--b--" + pad + "\r\n")

	start := cputime.Start()
	got, err := readParts(iotest.OneByteReader(strings.NewReader(src.String())), "b", ReaderOptions{})
	checkElapsed(t, start)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}

	// A larger limit makes a rescan all the more costly: 16 delimiter
	// lines padded with 64 KiB each, one byte at a time.
	big := strings.Repeat(" ", 64<<10)
	var bigSrc strings.Builder
	bigSrc.WriteString("--b\r\n\r\nfirst")
	want = []testPart{{Body: "first"}}
	for i := 0; i < 16; i++ {
		fmt.Fprintf(&bigSrc, "\r\n--b%s\r\n\r\n%d", big, i)
		want = append(want, testPart{Body: fmt.Sprint(i)})
	}
	bigSrc.WriteString("\r\n--b--\r\n")
	start = cputime.Start()
	got, err = readParts(iotest.OneByteReader(strings.NewReader(bigSrc.String())), "b", ReaderOptions{MaxLineBytes: 64 << 10})
	checkElapsed(t, start)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parts, 64 KiB padding (-want +got):\n%s", diff)
	}

	tooLong := map[string]string{
		"preamble":      "p" + line + "--b\r\n\r\nx\r\n--b--\r\n",
		"first-padding": "--b " + pad + "\r\n\r\nx\r\n--b--\r\n",
		"body-padding":  "--b\r\n\r\nx\r\n--b " + pad + "\r\n\r\ny\r\n--b--\r\n",
	}
	for name, s := range tooLong {
		for rname, r := range awkwardReaders([]byte(s), 2) {
			t.Run(name+"/"+rname, func(t *testing.T) {
				if _, err := readParts(r, "b", ReaderOptions{}); !errors.Is(err, ErrLineTooLong) {
					t.Errorf("got %v, want ErrLineTooLong", err)
				}
			})
		}
	}
}

// TestAdversarialNesting nests changesets one level deeper than MaxDepth
// allows: the Reader on the deepest part fails with ErrNestingTooDeep, and
// a larger MaxDepth reads down to the innermost body.
func TestAdversarialNesting(t *testing.T) {
	const levels = DefaultMaxDepth + 2
	// Level i is delimited by boundary "b<i>" and holds one part, whose
	// body is level i+1; the last level holds the body "leaf".
	body := "leaf"
	for i := levels - 1; i >= 0; i-- {
		ct := ""
		if i < levels-1 {
			ct = fmt.Sprintf("Content-Type: multipart/mixed; boundary=b%d\r\n", i+1)
		}
		body = fmt.Sprintf("--b%d\r\n%s\r\n%s\r\n--b%d--\r\n", i, ct, body, i)
	}
	// descend reads down the levels, returning how deep it got, the
	// innermost body and the error that stopped it.
	descend := func(r *Reader) (int, string, error) {
		for depth := 0; ; depth++ {
			p, err := r.NextPart()
			if err != nil {
				return depth, "", err
			}
			inner, err := ParseBoundary(p.Header.Get("Content-Type"))
			if err != nil {
				b, err := io.ReadAll(p)
				return depth, string(b), err
			}
			r = NewReader(p, inner)
		}
	}
	for rname, src := range awkwardReaders([]byte(body), 3) {
		t.Run("default/"+rname, func(t *testing.T) {
			depth, _, err := descend(NewReader(src, "b0"))
			if !errors.Is(err, ErrNestingTooDeep) || depth != DefaultMaxDepth+1 {
				t.Errorf("stopped at depth %d with %v; want depth %d, ErrNestingTooDeep", depth, err, DefaultMaxDepth+1)
			}
		})
	}
	for rname, src := range awkwardReaders([]byte(body), 4) {
		t.Run("deeper/"+rname, func(t *testing.T) {
			depth, leaf, err := descend(NewReaderOptions(src, "b0", ReaderOptions{MaxDepth: levels}))
			if err != nil || depth != levels-1 || leaf != "leaf" {
				t.Errorf("got depth %d, body %q, error %v; want depth %d, body \"leaf\"", depth, leaf, err, levels-1)
			}
		})
	}
}
