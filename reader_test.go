package mixed

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// readCase is one table entry: wire bytes, and the parts and error they
// must give.
type readCase struct {
	name     string
	boundary string // "AaB03x" when empty
	opts     ReaderOptions
	in       string
	want     []testPart // the parts read completely before any error
	err      error      // the class the error must wrap; nil for a clean end
	// The expected SyntaxError.Offset: the index of offAt in in, or
	// len(in) if offEnd. Neither: not checked.
	offAt  string
	offEnd bool
}

func (c readCase) bnd() string {
	if c.boundary == "" {
		return "AaB03x"
	}
	return c.boundary
}

func runReadCases(t *testing.T, cases []readCase) {
	t.Helper()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			off := int64(-1)
			switch {
			case c.offEnd:
				off = int64(len(c.in))
			case c.offAt != "":
				off = int64(strings.Index(c.in, c.offAt))
				if off < 0 {
					t.Fatalf("offAt %q not in the input", c.offAt)
				}
			}
			for name, src := range awkwardReaders([]byte(c.in), uint64(i)) {
				got, err := readComplete(src, c.bnd(), c.opts)
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("%s: parts (-want +got):\n%s", name, diff)
				}
				checkErr(t, name, err, c.err, off)
			}
			want, wantErr := readComplete(bytes.NewReader([]byte(c.in)), c.bnd(), c.opts)
			checkSameRead(t, []byte(c.in), c.bnd(), c.opts, want, wantErr, []int{1, 5, 1 << 20})
		})
	}
}

func TestReaderRules(t *testing.T) {
	runReadCases(t, []readCase{
		{
			name: "two parts",
			in:   "--AaB03x\r\nContent-Type: text/plain\r\n\r\nhello\r\n--AaB03x\r\nContent-ID: 2\r\n\r\nworld\r\n--AaB03x--\r\n",
			want: []testPart{{hdr("Content-Type", "text/plain"), "hello"}, {hdr("Content-ID", "2"), "world"}},
		},
		{
			name: "preamble and epilogue ignored",
			in: "This is the preamble.\r\nIt mentions --AaB03x mid-line.\r\n--AaB03x\r\n\r\nbody\r\n--AaB03x--\r\n" +
				"This is the epilogue.\r\n--AaB03x\r\n\r\nnot a part\r\n--AaB03x--\r\n",
			want: []testPart{{nil, "body"}},
		},
		{
			name: "epilogue of malformed bytes ignored",
			in:   "--AaB03x\r\n\r\nbody\r\n--AaB03x--\r\n--AaB03x junk\r\nno: \x00\r\n\r\n--AaB03x\r",
			want: []testPart{{nil, "body"}},
		},
		{
			name: "first delimiter preceded by CRLF",
			in:   "\r\n--AaB03x\r\n\r\nbody\r\n--AaB03x--",
			want: []testPart{{nil, "body"}},
		},
		{
			name: "first delimiter not at a line start is preamble",
			in:   "junk--AaB03x\r\n\r\nnot a body\r\n--AaB03x\r\n\r\nbody\r\n--AaB03x--",
			want: []testPart{{nil, "body"}},
		},
		{
			name: "transport padding after each boundary",
			in:   "--AaB03x \t \r\n\r\na\r\n--AaB03x\t\r\n\r\nb\r\n--AaB03x--  \r\n",
			want: []testPart{{nil, "a"}, {nil, "b"}},
		},
		{
			// mime/multipart's 4 KiB bufio.Reader fails on these
			// (golang/go#26707, #33666).
			name: "padding and preamble lines over 4 KiB",
			in: strings.Repeat("p", 6000) + "\r\n" + strings.Repeat("q", 8000) + "\n--AaB03x" + strings.Repeat(" ", 5000) + "\r\n\r\na\r\n--AaB03x" +
				strings.Repeat("\t", 7000) + "\r\n\r\nb\r\n--AaB03x--" + strings.Repeat(" ", 9000) + "\r\n",
			want: []testPart{{nil, "a"}, {nil, "b"}},
		},
		{
			name: "boundary followed by other characters is not a delimiter",
			in: "--AaB03xX\r\n--AaB03x-\r\n--AaB03x\r\n\r\na\r\n--AaB03xX\r\n--AaB03x-x\r\n--AaB03x_\r\n--AaB03" +
				"\r\n--AaB03x\r\n\r\nb\r\n--AaB03x--",
			want: []testPart{{nil, "a\r\n--AaB03xX\r\n--AaB03x-x\r\n--AaB03x_\r\n--AaB03"}, {nil, "b"}},
		},
		{
			name: "CRLF before a delimiter belongs to the delimiter",
			in:   "--AaB03x\r\n\r\nline\r\n\r\n--AaB03x\r\n\r\n\r\n\r\n--AaB03x\r\n\r\n\r\n--AaB03x--",
			want: []testPart{{nil, "line\r\n"}, {nil, "\r\n"}, {nil, ""}},
		},
		{
			name: "LF-only body",
			in:   "preamble\n--AaB03x\nContent-Type: text/plain\n\nhello\n--AaB03x \n\nworld\n\n--AaB03x--\n",
			want: []testPart{{hdr("Content-Type", "text/plain"), "hello"}, {nil, "world\n"}},
		},
		{
			// In LF mode the CR of a CRLF delimiter is body data; so
			// mime/multipart reads it too.
			name: "LF mode keeps the CR of a CRLF delimiter",
			in:   "--AaB03x\n\nhello\r\n--AaB03x\r\n\r\nworld\r\n--AaB03x--\r\n",
			want: []testPart{{nil, "hello\r"}, {nil, "world\r"}},
		},
		{
			name: "CRLF mode: bare-LF delimiter inside a body is body data",
			in:   "--AaB03x\r\n\r\na\n--AaB03x\nb\n--AaB03x\r\nc\r\n--AaB03x--",
			want: []testPart{{nil, "a\n--AaB03x\nb\n--AaB03x\r\nc"}},
		},
		{
			name:  "CRLF mode: a delimiter line ending in bare LF is malformed",
			in:    "--AaB03x\r\n\r\na\r\n--AaB03x\n\r\nb\r\n--AaB03x--",
			err:   ErrSyntax,
			offAt: "\r\n--AaB03x\n",
		},
		{
			name:  "boundary, padding, then junk inside a body",
			in:    "--AaB03x\r\n\r\na\r\n--AaB03x\r\n\r\nb\r\n--AaB03x  junk\r\n\r\nc\r\n--AaB03x--",
			want:  []testPart{{nil, "a"}},
			err:   ErrSyntax,
			offAt: "\r\n--AaB03x  junk",
		},
		{
			name: "empty body: the delimiter follows the header block",
			in:   "--AaB03x\r\nContent-ID: 1\r\n\r\n--AaB03x\r\nContent-ID: 2\r\n\r\n--AaB03x\r\n\r\n--AaB03x--",
			want: []testPart{{hdr("Content-ID", "1"), ""}, {hdr("Content-ID", "2"), ""}, {nil, ""}},
		},
		{
			name: "empty body in LF mode",
			in:   "--AaB03x\nContent-ID: 1\n\n--AaB03x\n\n--AaB03x--\n",
			want: []testPart{{hdr("Content-ID", "1"), ""}, {nil, ""}},
		},
		{
			name: "empty body right after the header, then a near-delimiter",
			in:   "--AaB03x\r\nContent-ID: 1\r\n\r\n--AaB03xY\r\n--AaB03x--",
			want: []testPart{{hdr("Content-ID", "1"), "--AaB03xY"}},
		},
		{
			name: "parts with no headers",
			in:   "--AaB03x\r\n\r\none\r\n--AaB03x\r\n\r\ntwo\r\n--AaB03x--",
			want: []testPart{{nil, "one"}, {nil, "two"}},
		},
		{
			name: "folded header lines are unfolded with one space",
			in:   "--AaB03x\r\nX-Folded: a\r\n   b\r\n\tc \r\nX-Empty-First:\r\n next\r\nContent-Type: text/plain\r\n\r\nx\r\n--AaB03x--",
			want: []testPart{{hdr("X-Folded", "a b c", "X-Empty-First", "next", "Content-Type", "text/plain"), "x"}},
		},
		{
			name: "duplicate fields kept in wire order, names as written",
			in:   "--AaB03x\r\nA: 1\r\nb: 2\r\na: 3\r\ncontent-TYPE:   text/plain \t\r\nA:4\r\nX-Empty:\r\n\r\nx\r\n--AaB03x--",
			want: []testPart{{hdr("A", "1", "b", "2", "a", "3", "content-TYPE", "text/plain", "A", "4", "X-Empty", ""), "x"}},
		},
		{
			name: "header lines may end in LF in CRLF mode",
			in:   "--AaB03x\r\nContent-ID: 1\nX: y\r\n\nbody\r\n--AaB03x--",
			want: []testPart{{hdr("Content-ID", "1", "X", "y"), "body"}},
		},
		{
			name: "close delimiter only",
			in:   "--AaB03x--",
		},
		{
			name: "close delimiter after a preamble, with padding",
			in:   "preamble\r\n--AaB03x-- \r\nepilogue",
		},
		{
			name: "non-ASCII and NUL bytes in bodies",
			in:   "--AaB03x\r\n\r\n\x00\xff\xfe\r\r\n\r\n--AaB03x--",
			want: []testPart{{nil, "\x00\xff\xfe\r\r\n"}},
		},
		{
			name: "boundary with a space inside and RFC 2046 bchars",
			in:   "--a b'()+_,-./:=?c\r\n\r\nbody\r\n--a b'()+_,-./:=?c--",
			want: []testPart{{nil, "body"}}, boundary: `a b'()+_,-./:=?c`,
		},
		{
			name: "70-character boundary",
			in: "--" + strings.Repeat("b", 70) + "\r\n\r\nbody\r\n--" + strings.Repeat("b", 70) + "x\r\n--" +
				strings.Repeat("b", 70) + "--",
			want: []testPart{{nil, "body\r\n--" + strings.Repeat("b", 70) + "x"}}, boundary: strings.Repeat("b", 70),
		},

		// Errors.
		{name: "empty input", in: "", err: io.ErrUnexpectedEOF, offEnd: true},
		{name: "no delimiter", in: "just text\r\nand more\r\n", err: io.ErrUnexpectedEOF, offEnd: true},
		{name: "only the opening delimiter", in: "--AaB03x\r\n", err: io.ErrUnexpectedEOF, offEnd: true},
		{
			name: "no close delimiter",
			in:   "--AaB03x\r\n\r\na\r\n--AaB03x\r\n\r\nb\r\n",
			want: []testPart{{nil, "a"}}, err: io.ErrUnexpectedEOF, offEnd: true,
		},
		{
			name: "header line without colon", in: "--AaB03x\r\nContent-Type text/plain\r\n\r\nx\r\n--AaB03x--",
			err: ErrSyntax, offAt: "Content-Type text",
		},
		{
			name: "space before the colon", in: "--AaB03x\r\nContent-Length : 5\r\n\r\nx\r\n--AaB03x--",
			err: ErrSyntax, offAt: " : 5",
		},
		{name: "empty header name", in: "--AaB03x\r\n: v\r\n\r\nx\r\n--AaB03x--", err: ErrSyntax, offAt: ": v"},
		{name: "bare CR in a header", in: "--AaB03x\r\nA: b\rc\r\n\r\nx\r\n--AaB03x--", err: ErrSyntax, offAt: "\rc"},
		{name: "NUL in a header value", in: "--AaB03x\r\nA: b\x00c\r\n\r\nx\r\n--AaB03x--", err: ErrSyntax, offAt: "\x00"},
		{name: "header starts with a continuation", in: "--AaB03x\r\n folded: x\r\n\r\nx\r\n--AaB03x--", err: ErrSyntax, offAt: " folded"},
		{
			name: "delimiter line instead of a header block",
			in:   "--AaB03x\r\nContent-ID: 1\r\n--AaB03x\r\n\r\nx\r\n--AaB03x--",
			err:  ErrSyntax, offAt: "--AaB03x\r\n\r\n",
		},
	})
}

// An invalid boundary is reported by the first NextPart, before any input
// is read.
func TestReaderBadBoundary(t *testing.T) {
	for _, b := range []string{"", strings.Repeat("b", 71), "a\rb", "a\nb", "a\x00b", "caf\xc3\xa9", "ab ",
		// Printable, but not RFC 2046 bchars: a parser that splits
		// parameters at ';' or reads '"' and '\\' as quoting sees
		// another boundary.
		"batch;x", `a"b`, `a\b`, "a!b", "a#b", "a@b", "a[b]", "a{b}", "a*b", "a~b"} {
		in := "--" + b + "\r\n\r\nbody\r\n--" + b + "--"
		for name, src := range awkwardReaders([]byte(in), 2) {
			_, err := readComplete(io.MultiReader(src, iotest.ErrReader(errors.New("input was read"))), b, ReaderOptions{})
			checkErr(t, fmt.Sprintf("boundary %q, %s", b, name), err, ErrBadBoundary, -1)
		}
	}
}

// TestReaderTruncated cuts a small valid body at every point: before the
// close delimiter is complete, the error wraps io.ErrUnexpectedEOF at the
// offset where the input ends; after it, the body is whole.
func TestReaderTruncated(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []testPart
	}{
		{
			name: "CRLF",
			in:   "pre\r\n--AaB03x \r\nA: 1\r\nB: x\r\n y\r\n\r\nxy\r\n--AaB03x-\r\n--AaB03x\r\n\r\n\r\n--AaB03x\r\n\r\n--AaB03x--\r\n",
			want: []testPart{{hdr("A", "1", "B", "x y"), "xy\r\n--AaB03x-"}, {nil, ""}, {nil, ""}},
		},
		{
			name: "LF",
			in:   "--AaB03x\nA: 1\n\nxy\n--AaB03\n--AaB03x\t\n\n--AaB03x--\n",
			want: []testPart{{hdr("A", "1"), "xy\n--AaB03"}, {nil, ""}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			complete := strings.Index(c.in, "--AaB03x--") + len("--AaB03x--")
			for n := 0; n <= len(c.in); n++ {
				in := []byte(c.in[:n])
				for name, src := range awkwardReaders(in, uint64(n)) {
					what := fmt.Sprintf("cut at %d %q, %s", n, in[max(0, n-12):], name)
					got, err := readComplete(src, "AaB03x", ReaderOptions{})
					if n >= complete {
						checkErr(t, what, err, nil, -1)
						if diff := cmp.Diff(c.want, got); diff != "" {
							t.Errorf("%s: parts (-want +got):\n%s", what, diff)
						}
						continue
					}
					checkErr(t, what, err, io.ErrUnexpectedEOF, int64(n))
					if len(got) > len(c.want) {
						t.Errorf("%s: %d parts, more than the %d of the whole body", what, len(got), len(c.want))
					}
				}
			}
		})
	}
}

// headerOfSize returns a header block of exactly n bytes, its empty line
// included, with one field X-Long.
func headerOfSize(n int) string {
	const pre = "X-Long: "
	return pre + strings.Repeat("v", n-len(pre)-4) + "\r\n\r\n"
}

func preambleLine(n int, eol string) string {
	return strings.Repeat("p", n) + eol + "--AaB03x\r\n\r\nbody\r\n--AaB03x--"
}

func nParts(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "--AaB03x\r\nContent-ID: %d\r\n\r\npart %d\r\n", i, i)
	}
	b.WriteString("--AaB03x--\r\n")
	return b.String()
}

func wantParts(n int) []testPart {
	var ps []testPart
	for i := range n {
		ps = append(ps, testPart{hdr("Content-ID", fmt.Sprint(i)), fmt.Sprint("part ", i)})
	}
	return ps
}

func nFields(n int) string {
	var b strings.Builder
	b.WriteString("--AaB03x\r\n")
	for i := range n {
		fmt.Fprintf(&b, "F%d: %d\r\n folded\r\n", i, i)
	}
	b.WriteString("\r\nbody\r\n--AaB03x--")
	return b.String()
}

func wantFields(n int) []testPart {
	var h [][2]string
	for i := range n {
		h = append(h, [2]string{fmt.Sprint("F", i), fmt.Sprint(i, " folded")})
	}
	return []testPart{{h, "body"}}
}

// TestReaderLimits hits each limit by one over, and not at exactly the
// limit, each with its own error.
func TestReaderLimits(t *testing.T) {
	small := ReaderOptions{BufferSize: 1, MaxLineBytes: 64}
	headerCase := func(name string, opts ReaderOptions, size int, err error) readCase {
		c := readCase{name: name, opts: opts, in: "--AaB03x\r\n" + headerOfSize(size) + "body\r\n--AaB03x--", err: err}
		if err == nil {
			c.want = []testPart{{hdr("X-Long", strings.Repeat("v", size-12)), "body"}}
		} else {
			c.offAt = "X-Long"
		}
		return c
	}
	pad := func(n int) string {
		return "--AaB03x\r\n\r\na\r\n--AaB03x" + strings.Repeat(" ", n) + "\r\n\r\nb\r\n--AaB03x--"
	}
	runReadCases(t, []readCase{
		headerCase("MaxHeaderBytes at the limit", ReaderOptions{MaxHeaderBytes: 64}, 64, nil),
		headerCase("MaxHeaderBytes over", ReaderOptions{MaxHeaderBytes: 64}, 65, ErrHeaderTooLarge),
		// A header block larger than the buffer makes it grow.
		headerCase("MaxHeaderBytes at the limit, small buffer", ReaderOptions{BufferSize: 1, MaxLineBytes: 64, MaxHeaderBytes: 3000}, 3000, nil),
		headerCase("MaxHeaderBytes over, small buffer", ReaderOptions{BufferSize: 1, MaxLineBytes: 64, MaxHeaderBytes: 3000}, 3001, ErrHeaderTooLarge),
		headerCase("default MaxHeaderBytes at the limit", ReaderOptions{}, DefaultMaxHeaderBytes, nil),
		headerCase("default MaxHeaderBytes over", ReaderOptions{}, DefaultMaxHeaderBytes+1, ErrHeaderTooLarge),
		{name: "MaxHeaderFields at the limit", opts: ReaderOptions{MaxHeaderFields: 3}, in: nFields(3), want: wantFields(3)},
		{name: "MaxHeaderFields over", opts: ReaderOptions{MaxHeaderFields: 3}, in: nFields(4), err: ErrTooManyFields, offAt: "F3:"},
		{name: "default MaxHeaderFields at the limit", in: nFields(DefaultMaxHeaderFields), want: wantFields(DefaultMaxHeaderFields)},
		{name: "default MaxHeaderFields over", in: nFields(DefaultMaxHeaderFields + 1), err: ErrTooManyFields},
		{name: "MaxParts at the limit", opts: ReaderOptions{MaxParts: 3}, in: nParts(3), want: wantParts(3)},
		{
			name: "MaxParts over", opts: ReaderOptions{MaxParts: 3}, in: nParts(4), want: wantParts(3),
			err: ErrTooManyParts, offAt: "Content-ID: 3",
		},
		{name: "preamble line at MaxLineBytes", in: preambleLine(DefaultMaxLineBytes, "\r\n"), want: []testPart{{nil, "body"}}},
		{name: "LF preamble line at MaxLineBytes", in: preambleLine(DefaultMaxLineBytes, "\n"), want: []testPart{{nil, "body"}}},
		{name: "preamble line over MaxLineBytes", in: preambleLine(DefaultMaxLineBytes+1, "\r\n"), err: ErrLineTooLong, offAt: "p"},
		{name: "LF preamble line over MaxLineBytes", in: preambleLine(DefaultMaxLineBytes+1, "\n"), err: ErrLineTooLong, offAt: "p"},
		{name: "preamble line at a small MaxLineBytes", opts: small, in: preambleLine(64, "\r\n"), want: []testPart{{nil, "body"}}},
		{name: "preamble line over a small MaxLineBytes", opts: small, in: preambleLine(65, "\r\n"), err: ErrLineTooLong, offAt: "p"},
		{name: "padding at MaxLineBytes", in: pad(DefaultMaxLineBytes), want: []testPart{{nil, "a"}, {nil, "b"}}},
		{name: "padding over MaxLineBytes", in: pad(DefaultMaxLineBytes + 1), err: ErrLineTooLong, offAt: "\r\n--AaB03x "},
		{name: "padding at a small MaxLineBytes", opts: small, in: pad(64), want: []testPart{{nil, "a"}, {nil, "b"}}},
		{name: "padding over a small MaxLineBytes", opts: small, in: pad(65), err: ErrLineTooLong, offAt: "\r\n--AaB03x "},
	})
}

func TestReaderMaxDepth(t *testing.T) {
	// descend reads level d and recurses into its only part; it returns
	// the innermost body or the first error.
	var descend func(r *Reader, d, levels int) (string, error)
	descend = func(r *Reader, d, levels int) (string, error) {
		p, err := r.NextPart()
		if err != nil {
			return "", err
		}
		if d == levels {
			b, err := io.ReadAll(p)
			return string(b), err
		}
		b, err := ParseBoundary(p.Header.Get("Content-Type"))
		if err != nil {
			return "", err
		}
		return descend(NewReader(p, b), d+1, levels)
	}
	for _, c := range []struct {
		maxDepth, levels int
		err              error
	}{
		{2, 2, nil},
		{2, 3, ErrNestingTooDeep},
		{0, DefaultMaxDepth, nil}, // the default
		{0, DefaultMaxDepth + 1, ErrNestingTooDeep},
	} {
		in := []byte(nested(c.levels))
		for name, src := range awkwardReaders(in, 1) {
			what := fmt.Sprintf("MaxDepth %d, %d levels, %s", c.maxDepth, c.levels, name)
			got, err := descend(NewReaderOptions(src, "b0", ReaderOptions{MaxDepth: c.maxDepth}), 0, c.levels)
			checkErr(t, what, err, c.err, -1)
			if c.err == nil && got != "leaf" {
				t.Errorf("%s: innermost body %q, want %q", what, got, "leaf")
			}
		}
	}
}

// An OData $batch request with a changeset: a nested multipart/mixed part.
const odataBatch = "--batch_36522ad7-fc75-4b56-8c71-56071383e77b\r\n" +
	"Content-Type: multipart/mixed; boundary=changeset_77162fcd-b8da-41ac-a9f8-9357efbbd\r\n" +
	"\r\n" +
	"--changeset_77162fcd-b8da-41ac-a9f8-9357efbbd\r\n" +
	"Content-Type: application/http\r\n" +
	"Content-Transfer-Encoding: binary\r\n" +
	"Content-ID: 1\r\n" +
	"\r\n" +
	"POST /service/Customers HTTP/1.1\r\n" +
	"Content-Type: application/json\r\n" +
	"\r\n" +
	"{\"Name\":\"Alfreds\"}\r\n" +
	"--changeset_77162fcd-b8da-41ac-a9f8-9357efbbd\r\n" +
	"Content-Type: application/http\r\n" +
	"Content-Transfer-Encoding: binary\r\n" +
	"Content-ID: 2\r\n" +
	"\r\n" +
	"PATCH $1 HTTP/1.1\r\n" +
	"Content-Type: application/json\r\n" +
	"\r\n" +
	"{\"Note\":\"--batch_36522ad7-fc75-4b56-8c71-56071383e77b is in a JSON string\"}\r\n" +
	"--changeset_77162fcd-b8da-41ac-a9f8-9357efbbd--\r\n" +
	"\r\n" +
	"--batch_36522ad7-fc75-4b56-8c71-56071383e77b\r\n" +
	"Content-Type: application/http\r\n" +
	"Content-Transfer-Encoding: binary\r\n" +
	"\r\n" +
	"GET /service/Customers('ALFKI') HTTP/1.1\r\n" +
	"\r\n" +
	"\r\n" +
	"--batch_36522ad7-fc75-4b56-8c71-56071383e77b--\r\n"

// treePart is a part whose body may itself be multipart.
type treePart struct {
	Header [][2]string
	Body   string     // for a leaf
	Parts  []treePart // for a multipart part
}

// readTree reads a body, descending into multipart parts through
// NewReader(part, boundary): the inner Reader reads straight from the Part.
func readTree(src io.Reader, boundary string) ([]treePart, error) {
	r := NewReader(src, boundary)
	var out []treePart
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		tp := treePart{Header: fields(&p.Header)}
		if b, err := ParseBoundary(p.Header.Get("Content-Type")); err == nil {
			if tp.Parts, err = readTree(p, b); err != nil {
				return out, err
			}
		} else {
			var body strings.Builder
			if _, err := io.Copy(&body, p); err != nil {
				return out, err
			}
			tp.Body = body.String()
		}
		out = append(out, tp)
	}
}

func TestReaderNestedChangeset(t *testing.T) {
	want := []treePart{
		{
			Header: hdr("Content-Type", "multipart/mixed; boundary=changeset_77162fcd-b8da-41ac-a9f8-9357efbbd"),
			Parts: []treePart{
				{
					Header: hdr("Content-Type", "application/http", "Content-Transfer-Encoding", "binary", "Content-ID", "1"),
					Body:   "POST /service/Customers HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"Name\":\"Alfreds\"}",
				},
				{
					Header: hdr("Content-Type", "application/http", "Content-Transfer-Encoding", "binary", "Content-ID", "2"),
					Body: "PATCH $1 HTTP/1.1\r\nContent-Type: application/json\r\n\r\n" +
						"{\"Note\":\"--batch_36522ad7-fc75-4b56-8c71-56071383e77b is in a JSON string\"}",
				},
			},
		},
		{
			Header: hdr("Content-Type", "application/http", "Content-Transfer-Encoding", "binary"),
			Body:   "GET /service/Customers('ALFKI') HTTP/1.1\r\n\r\n",
		},
	}
	for name, src := range awkwardReaders([]byte(odataBatch), 7) {
		got, err := readTree(src, "batch_36522ad7-fc75-4b56-8c71-56071383e77b")
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: parts (-want +got):\n%s", name, diff)
		}
	}
}

// An inner Reader abandoned half-way leaves the outer Reader able to go on:
// NextPart skips the rest of the changeset.
func TestReaderNestedAbandoned(t *testing.T) {
	for name, src := range awkwardReaders([]byte(odataBatch), 8) {
		r := NewReader(src, "batch_36522ad7-fc75-4b56-8c71-56071383e77b")
		p, err := r.NextPart()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		inner := NewReader(p, "changeset_77162fcd-b8da-41ac-a9f8-9357efbbd")
		ip, err := inner.NextPart()
		if err != nil {
			t.Fatalf("%s: inner: %v", name, err)
		}
		if _, err := ip.Read(make([]byte, 5)); err != nil {
			t.Fatalf("%s: inner read: %v", name, err)
		}
		p, err = r.NextPart()
		if err != nil {
			t.Fatalf("%s: second outer part: %v", name, err)
		}
		body, err := io.ReadAll(p)
		if err != nil || string(body) != "GET /service/Customers('ALFKI') HTTP/1.1\r\n\r\n" {
			t.Errorf("%s: second outer part %q, %v", name, body, err)
		}
		if _, err := r.NextPart(); err != io.EOF {
			t.Errorf("%s: after the last part: %v, want io.EOF", name, err)
		}
	}
}

// The nested Reader inherits the limits of the Reader its Part belongs to.
func TestReaderNestedInheritsLimits(t *testing.T) {
	r := NewReaderOptions(strings.NewReader(odataBatch), "batch_36522ad7-fc75-4b56-8c71-56071383e77b", ReaderOptions{MaxHeaderFields: 2})
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewReader(p, "changeset_77162fcd-b8da-41ac-a9f8-9357efbbd").NextPart()
	checkErr(t, "inner part with 3 fields", err, ErrTooManyFields, -1)
}

// A Reader reused under two parents takes each parent's limits: Reset
// resolves the options anew, from those the caller gave.
func TestReaderNestedResetUnderTwoParents(t *testing.T) {
	const outer = "batch_36522ad7-fc75-4b56-8c71-56071383e77b"
	const inner = "changeset_77162fcd-b8da-41ac-a9f8-9357efbbd"
	var nr Reader
	for _, c := range []struct {
		opts ReaderOptions
		want error
	}{
		{ReaderOptions{MaxHeaderFields: 2}, ErrTooManyFields},
		{ReaderOptions{MaxHeaderFields: 100}, nil},
		{ReaderOptions{MaxHeaderFields: 2}, ErrTooManyFields},
		{ReaderOptions{}, nil},
	} {
		r := NewReaderOptions(strings.NewReader(odataBatch), outer, c.opts)
		p, err := r.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		nr.Reset(p, inner)
		_, err = nr.NextPart()
		if !errors.Is(err, c.want) {
			t.Errorf("under a parent with %+v: %v, want %v", c.opts, err, c.want)
		}
	}
	// Options given to the nested Reader win over the parent's, on
	// every Reset.
	mine := NewReaderOptions(nil, inner, ReaderOptions{MaxHeaderFields: 2})
	for range 2 {
		r := NewReaderOptions(strings.NewReader(odataBatch), outer, ReaderOptions{MaxHeaderFields: 100})
		p, err := r.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		mine.Reset(p, inner)
		_, err = mine.NextPart()
		checkErr(t, "own MaxHeaderFields 2 under a parent with 100", err, ErrTooManyFields, -1)
	}
}

func TestPartReadChunkWriteToMatchRead(t *testing.T) {
	in := "--AaB03x\r\nA: 1\r\n\r\n" + strings.Repeat("0123456789\r\n--AaB03", 400) + "\r\n--AaB03x\r\n\r\n\r\n--AaB03x\r\n\r\nshort\r\n--AaB03x--"
	for _, opts := range []ReaderOptions{{}, {BufferSize: 1, MaxLineBytes: 64}} {
		want, err := readPartsBy(strings.NewReader(in), "AaB03x", opts, "Read")
		if err != nil || len(want) != 3 {
			t.Fatalf("Read: %d parts, %v", len(want), err)
		}
		for _, how := range []string{"Read", "ReadChunk", "WriteTo", "small reads"} {
			for name, src := range awkwardReaders([]byte(in), 3) {
				got, err := readPartsBy(src, "AaB03x", opts, how)
				if err != nil {
					t.Errorf("%s, %s: %v", how, name, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s, %s: parts (-want +got):\n%s", how, name, diff)
				}
			}
		}
	}
}

// Part.WriteTo reports a failed or short write, and what it wrote, from
// a body buffered whole, whose end is found (one Write), and from one that
// arrives in pieces.
func TestPartWriteToWriterErrors(t *testing.T) {
	errBoom := errors.New("boom")
	in := "--AaB03x\r\n\r\n0123456789\r\n--AaB03x--"
	for _, c := range []struct {
		name string
		werr error
		want error
	}{{"error", errBoom, errBoom}, {"short write", nil, io.ErrShortWrite}} {
		for sname, src := range awkwardReaders([]byte(in), 5) {
			r := NewReader(src, "AaB03x")
			p, err := r.NextPart()
			if err != nil {
				t.Fatal(err)
			}
			w := &failWriter{n: 4, err: c.werr}
			n, err := p.WriteTo(w)
			if err != c.want || n != 4 || w.wrote.String() != "0123" {
				t.Errorf("%s/%s: WriteTo = %d, %v (wrote %q), want 4, %v", sname, c.name, n, err, w.wrote.String(), c.want)
			}
		}
	}
}

// A part not read to its end is skipped by the next NextPart, whatever
// was read of it.
func TestReaderSkipsUnreadParts(t *testing.T) {
	in := "--AaB03x\r\nContent-ID: 0\r\n\r\n" + strings.Repeat("y\r\n--AaB03", 2000) + "\r\n--AaB03x\r\nContent-ID: 1\r\n\r\n" +
		strings.Repeat("y", 70000) + "\r\n--AaB03x\r\nContent-ID: 2\r\n\r\nlast\r\n--AaB03x--"
	for name, src := range awkwardReaders([]byte(in), 4) {
		r := NewReader(src, "AaB03x")
		var got []string
		for i := 0; ; i++ {
			p, err := r.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			// Read nothing of part 0, 3 bytes of part 1, all of part 2.
			var body []byte
			switch i {
			case 1:
				body = make([]byte, 3)
				if _, err := io.ReadFull(p, body); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			case 2:
				if body, err = io.ReadAll(p); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			got = append(got, p.Header.Get("Content-ID")+":"+string(body))
		}
		if diff := cmp.Diff([]string{"0:", "1:yyy", "2:last"}, got); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", name, diff)
		}
	}
}

func TestReaderReset(t *testing.T) {
	a := "--AaB03x\r\nA: 1\r\n\r\nfirst\r\n--AaB03x--"
	b := "--other\nB: 2\n\nsecond\n--other\n\nthird\n--other--\n"
	wantA := []testPart{{hdr("A", "1"), "first"}}
	wantB := []testPart{{hdr("B", "2"), "second"}, {nil, "third"}}
	r := NewReaderOptions(strings.NewReader("garbage without a delimiter"), "AaB03x", ReaderOptions{MaxParts: 2})
	if _, err := r.NextPart(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("garbage: %v", err)
	}
	read := func(what string, want []testPart) {
		t.Helper()
		var got []testPart
		for {
			p, err := r.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			body, _ := io.ReadAll(p)
			got = append(got, testPart{fields(&p.Header), string(body)})
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", what, diff)
		}
	}
	// Reset clears the sticky error and the line-ending mode, and keeps
	// the options (MaxParts 2).
	r.Reset(strings.NewReader(b), "other")
	read("after an error", wantB)
	r.Reset(strings.NewReader(a), "AaB03x")
	read("CRLF after LF", wantA)
	r.Reset(strings.NewReader(nParts(3)), "AaB03x")
	if _, err := readFrom(r); !errors.Is(err, ErrTooManyParts) {
		t.Errorf("options lost by Reset: %v, want ErrTooManyParts", err)
	}
	var zero Reader
	zero.Reset(strings.NewReader(a), "AaB03x")
	r = &zero
	read("zero Reader", wantA)

	// Steady state: Reset and a whole read allocate nothing.
	ab := []byte(a)
	src := bytes.NewReader(ab)
	buf := make([]byte, 64)
	allocs := testing.AllocsPerRun(50, func() {
		src.Reset(ab)
		r.Reset(src, "AaB03x")
		for {
			p, err := r.NextPart()
			if err != nil {
				break
			}
			for {
				if _, err := p.Read(buf); err != nil {
					break
				}
			}
		}
	})
	if allocs != 0 {
		t.Errorf("Reset and read: %v allocs, want 0", allocs)
	}
}

func TestReaderStickyErrors(t *testing.T) {
	in := "--AaB03x\r\n\r\nabc\r\n--AaB03x junk\r\n\r\n--AaB03x--"
	for name, src := range awkwardReaders([]byte(in), 5) {
		r := NewReader(src, "AaB03x")
		p, err := r.NextPart()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err1 := io.Copy(io.Discard, p)
		if !errors.Is(err1, ErrSyntax) {
			t.Fatalf("%s: body: %v, want ErrSyntax", name, err1)
		}
		_, err2 := p.Read(make([]byte, 8))
		_, err3 := p.ReadChunk()
		_, err4 := r.NextPart()
		_, err5 := r.NextPart()
		for i, err := range []error{err2, err3, err4, err5} {
			if err != err1 {
				t.Errorf("%s: call %d after the error: %v, want the same %v", name, i+2, err, err1)
			}
		}
	}
}

// An error from the underlying reader other than io.EOF is returned as it
// is, wherever it strikes, after the parts complete before it.
func TestReaderUnderlyingError(t *testing.T) {
	errBoom := errors.New("boom")
	full := "pre\r\n--AaB03x\r\nA: 1\r\n\r\nfirst\r\n--AaB03x\r\nB: 2\r\n\r\nsecond body\r\n--AaB03x--"
	for _, c := range []struct {
		cut  string // the input stops after this prefix of full
		want []testPart
	}{
		{"pre", nil},
		{"pre\r\n--AaB0", nil},
		{"pre\r\n--AaB03x\r\nA:", nil},
		{"pre\r\n--AaB03x\r\nA: 1\r\n\r\nfir", nil},
		{"pre\r\n--AaB03x\r\nA: 1\r\n\r\nfirst\r\n--AaB03x", nil},
		{"pre\r\n--AaB03x\r\nA: 1\r\n\r\nfirst\r\n--AaB03x\r\n", []testPart{{hdr("A", "1"), "first"}}},
		{"pre\r\n--AaB03x\r\nA: 1\r\n\r\nfirst\r\n--AaB03x\r\nB: 2\r\n\r\nsecond", []testPart{{hdr("A", "1"), "first"}}},
	} {
		if !strings.HasPrefix(full, c.cut) {
			t.Fatalf("%q is not a prefix", c.cut)
		}
		for name, src := range awkwardReaders([]byte(c.cut), 6) {
			for _, with := range []string{"after", "with the data"} {
				var in io.Reader = io.MultiReader(src, iotest.ErrReader(errBoom))
				if with == "with the data" {
					in = &errWithData{src: []byte(c.cut), err: errBoom}
				}
				got, err := readComplete(in, "AaB03x", ReaderOptions{})
				if err != errBoom {
					t.Errorf("cut %q, %s, error %s: %v, want %v as is", c.cut, name, with, err, errBoom)
				}
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("cut %q, %s, error %s: parts (-want +got):\n%s", c.cut, name, with, diff)
				}
			}
		}
	}
}

// errWithData returns all of src and err from the same Read.
type errWithData struct {
	src []byte
	err error
}

func (r *errWithData) Read(p []byte) (int, error) {
	n := copy(p, r.src)
	r.src = r.src[n:]
	if len(r.src) == 0 {
		return n, r.err
	}
	return n, nil
}

// The Reader does not read past the close delimiter: an error the source
// would return after it is never seen.
func TestReaderStopsAtCloseDelimiter(t *testing.T) {
	in := "--AaB03x\r\n\r\nbody\r\n--AaB03x--"
	for name, src := range awkwardReaders([]byte(in), 9) {
		got, err := readComplete(io.MultiReader(src, iotest.ErrReader(errors.New("read past the end"))), "AaB03x", ReaderOptions{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if diff := cmp.Diff([]testPart{{nil, "body"}}, got); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", name, diff)
		}
	}
}

// readHTTPBody reads a saved HTTP request or response and returns its
// Content-Type and body.
func readHTTPBody(t *testing.T, file string) (string, []byte) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var h http.Header
	var body io.ReadCloser
	if strings.Contains(file, "request") {
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatal(err)
		}
		h, body = req.Header, req.Body
	} else {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		h, body = resp.Header, resp.Body
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return h.Get("Content-Type"), b
}

func TestReaderSeeds(t *testing.T) {
	ah := func(id string) [][2]string { return hdr("Content-Type", "application/http", "Content-ID", id) }
	people := func(id string) [][2]string {
		return hdr("Content-Type", "application/http", "Content-Transfer-Encoding", "binary", "Content-ID", id)
	}
	for _, c := range []struct {
		file, boundary string
		want           []testPart
	}{
		{
			file: "testdata/calendar-batch-request.http", boundary: "batch_foobarbaz",
			want: []testPart{
				{ah("<item1:12930812@barnyard.example.com>"), "GET /farm/v1/animals/pony\r\n"},
				{ah("<item2:12930812@barnyard.example.com>"), "PUT /farm/v1/animals/sheep\r\n" +
					"Content-Type: application/json\r\n" +
					"Content-Length: 77\r\n" +
					"If-Match: \"etag/sheep\"\r\n" +
					"\r\n" +
					"{\r\n" +
					"  \"animalName\": \"sheep\",\r\n" +
					"  \"animalAge\": \"5\",\r\n" +
					"  \"peltColor\": \"green\"\r\n" +
					"}\r\n"},
				{ah("<item3:12930812@barnyard.example.com>"), "GET /farm/v1/animals\r\nIf-None-Match: \"etag/animals\"\r\n"},
			},
		},
		{
			file: "testdata/calendar-batch-response.http", boundary: "batch_foobarbaz",
			want: []testPart{
				{ah("<response-item1:12930812@barnyard.example.com>"), "HTTP/1.1 200 OK\r\n" +
					"Content-Type: application/json\r\n" +
					"Content-Length: 165\r\n" +
					"ETag: \"etag/pony\"\r\n" +
					"\r\n" +
					"{\r\n" +
					"  \"kind\": \"farm#animal\",\r\n" +
					"  \"etag\": \"etag/pony\",\r\n" +
					"  \"selfLink\": \"/farm/v1/animals/pony\",\r\n" +
					"  \"animalName\": \"pony\",\r\n" +
					"  \"animalAge\": 34,\r\n" +
					"  \"peltColor\": \"white\"\r\n" +
					"}\r\n"},
				{ah("<response-item2:12930812@barnyard.example.com>"), "HTTP/1.1 200 OK\r\n" +
					"Content-Type: application/json\r\n" +
					"Content-Length: 167\r\n" +
					"ETag: \"etag/sheep\"\r\n" +
					"\r\n" +
					"{\r\n" +
					"  \"kind\": \"farm#animal\",\r\n" +
					"  \"etag\": \"etag/sheep\",\r\n" +
					"  \"selfLink\": \"/farm/v1/animals/sheep\",\r\n" +
					"  \"animalName\": \"sheep\",\r\n" +
					"  \"animalAge\": 5,\r\n" +
					"  \"peltColor\": \"green\"\r\n" +
					"}\r\n"},
				{ah("<response-item3:12930812@barnyard.example.com>"), "HTTP/1.1 304 Not Modified\r\nETag: \"etag/animals\"\r\n"},
			},
		},
		{
			file: "testdata/people-batch-request.http", boundary: "batch_people",
			want: []testPart{
				{people("1"), "POST /v1/people:createContact HTTP/1.1\r\n" +
					"Content-Type: application/json\r\n" +
					"Content-Length: 59\r\n" +
					"Accept: application/json\r\n" +
					"\r\n" +
					"{ \"names\": [{ \"givenName\": \"John\", \"familyName\": \"Doe\" }] }"},
				{people("2"), "GET /v1/people/c123456789012345?personFields=emailAddresses HTTP/1.1\r\n" +
					"Accept: application/json\r\n"},
			},
		},
		{
			file: "testdata/people-batch-response.http", boundary: "batch_GOMozbDceUiJkwfCeHo28pGmhwRG5o50",
			want: []testPart{
				{ah("response-1"), "HTTP/1.1 200 OK\r\n" +
					"Content-Type: application/json; charset=UTF-8\r\n" +
					"\r\n" +
					"{ \"resourceName\": \"people/c11111111111111\", \"etag\": \"1111\", \"names\": [{ \"givenName\": \"John\", \"familyName\": \"Doe\" }] }"},
				{ah("response-2"), "HTTP/1.1 200 OK\r\n" +
					"Content-Type: application/json; charset=UTF-8\r\n" +
					"\r\n" +
					"{ \"resourceName\": \"people/c123456789012345\", \"etag\": \"1234\", \"emailAddresses\": [{ \"value\": \"\" }] }"},
			},
		},
	} {
		t.Run(c.file, func(t *testing.T) {
			ct, body := readHTTPBody(t, c.file)
			b, err := ParseBoundary(ct)
			if err != nil || b != c.boundary {
				t.Fatalf("ParseBoundary(%q) = %q, %v, want %q", ct, b, err, c.boundary)
			}
			for name, src := range awkwardReaders(body, 10) {
				got, err := readComplete(src, b, ReaderOptions{})
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("%s: parts (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}

// sweepBody returns n bytes cut from pattern repeated, changed at the end
// if the cut would leave the start of a real delimiter there (the delimiter
// that follows would then end the body early).
func sweepBody(pattern string, n int, delim string) string {
	b := []byte(strings.Repeat(pattern, n/len(pattern)+1)[:n])
	if bytes.HasSuffix(b, []byte(delim)) || string(b) == delim[strings.IndexByte(delim, '-'):] {
		b[n-1] = 'Y'
	}
	return string(b)
}

// TestReadAllSizes is mime/multipart's TestParseAllSizes made harder: parts
// of every size from 0 to 600 bytes, full of near-delimiters, read through
// the awkward readers with the default buffer and with the smallest one,
// whose size (228 bytes) the sweep crosses.
func TestReadAllSizes(t *testing.T) {
	const maxSize = 600
	for _, mode := range []struct {
		name, nl, pattern string
	}{
		// In CRLF mode a bare-LF delimiter is body data.
		{"CRLF", "\r\n", "ab\r\n--boundar\r\n-\n--boundary\r\n\r\n--boundaryX--\r\r\n--boundary-x\n\r\n--\r\n--boundary_"},
		{"LF", "\n", "ab\n--boundar\n-\r--boundary\n\n--boundaryX--\n\n--boundary-x\r\n--\n--boundary_"},
	} {
		delim := mode.nl + "--boundary"
		for _, opts := range []ReaderOptions{{}, {BufferSize: 1, MaxLineBytes: 64}} {
			// One Reader, Reset for each body: a fresh 64 KiB buffer
			// each time would cost more than the reading.
			r := NewReaderOptions(nil, "boundary", opts)
			for n := 0; n <= maxSize; n++ {
				// The second part's body starts with a near-delimiter and
				// has another size, so that the two parts meet the
				// buffer's edges in other places.
				b1 := sweepBody(mode.pattern, n, delim)
				rot := strings.Index(mode.pattern, "--boundaryX")
				b2 := sweepBody(mode.pattern[rot:]+mode.pattern[:rot], (n*7)%97, delim)
				in := "--boundary" + mode.nl + "Content-Type: text/plain" + mode.nl + mode.nl + b1 + delim + mode.nl + mode.nl + b2 + delim + "--" + mode.nl
				want := []testPart{{hdr("Content-Type", "text/plain"), b1}, {nil, b2}}
				for name, src := range awkwardReaders([]byte(in), uint64(n)) {
					r.Reset(src, "boundary")
					got, err := readFrom(r)
					if err != nil {
						t.Errorf("%s, size %d, buffer %d, %s: %v", mode.name, n, opts.BufferSize, name, err)
					}
					// A plain comparison first: cmp under -race costs
					// more than the reading, and is needed only to
					// report a mismatch.
					if slices.EqualFunc(want, got, func(a, b testPart) bool {
						return a.Body == b.Body && slices.Equal(a.Header, b.Header)
					}) {
						continue
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("%s, size %d, buffer %d, %s: parts (-want +got):\n%s", mode.name, n, opts.BufferSize, name, diff)
					}
				}
			}
		}
	}
}

// A changeset cut short by its outer delimiter is truncated for the inner
// Reader (the Part ends where the outer delimiter starts), and the outer
// Reader goes on.
func TestReaderNestedTruncated(t *testing.T) {
	in := "--outer\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\n\r\none\r\n--inner\r\n\r\ntw" +
		"\r\n--outer\r\n\r\nlast\r\n--outer--"
	for name, src := range awkwardReaders([]byte(in), 12) {
		r := NewReader(src, "outer")
		p, err := r.NextPart()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		innerLen := int64(len("--inner\r\n\r\none\r\n--inner\r\n\r\ntw"))
		got, err := readFrom(NewReader(p, "inner"))
		if diff := cmp.Diff([]testPart{{nil, "one"}}, got); diff != "" {
			t.Errorf("%s: inner parts (-want +got):\n%s", name, diff)
		}
		checkErr(t, name+": inner", err, io.ErrUnexpectedEOF, innerLen)
		got, err = readFrom(r)
		if err != nil {
			t.Errorf("%s: outer: %v", name, err)
		}
		if diff := cmp.Diff([]testPart{{nil, "last"}}, got); diff != "" {
			t.Errorf("%s: outer parts (-want +got):\n%s", name, diff)
		}
	}
}

// The Reader reads what mime/multipart.Writer writes: the same bytes as the
// other way round, from an independent writer.
func TestReaderReadsStdlibWriter(t *testing.T) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary("std-boundary"); err != nil {
		t.Fatal(err)
	}
	bodies := []string{"", "x", "a\r\n--std-boundar\r\n--std-boundaryX\n--std-boundary\r\n", strings.Repeat("0123456789", 10000)}
	var want []testPart
	for i, b := range bodies {
		// mime/multipart.Writer writes the fields sorted by name.
		h := textproto.MIMEHeader{"Content-Id": {fmt.Sprint(i)}, "Content-Type": {"application/http"}}
		pw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(pw, b)
		want = append(want, testPart{hdr("Content-Id", fmt.Sprint(i), "Content-Type", "application/http"), b})
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	for name, src := range awkwardReaders(buf.Bytes(), 13) {
		got, err := readComplete(src, "std-boundary", ReaderOptions{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", name, diff)
		}
	}
}
