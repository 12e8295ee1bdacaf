package mixed

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// Generators.

var (
	// genBoundary draws valid Writer boundaries: common shapes, and
	// random strings of bchars (space included, not last).
	genBoundary = rapid.OneOf(
		rapid.SampledFrom([]string{"B", "AaB03x", "batch_foobarbaz", "batch_pK7JBAk73-E=_AA5eFwv4m2Q=", "a b", "--", strings.Repeat("x", 70)}),
		rapid.StringMatching(`[0-9A-Za-z'()+_,./:=?-][0-9A-Za-z'()+_,./:=? -]{0,20}[0-9A-Za-z'()+_,./:=?-]`),
	)

	// genName draws header field names: common ones (so that duplicates
	// in any case happen) and random tokens.
	genName = rapid.OneOf(
		rapid.SampledFrom([]string{"Content-Type", "content-type", "Content-ID", "CONTENT-ID", "X", "x"}),
		rapid.StringMatching("[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}"),
	)

	// genValue draws field values of VCHAR, SP, HTAB and obs-text with no
	// white space around them (a Reader trims it).
	genValue = rapid.Custom(func(t *rapid.T) string {
		bs := rapid.SliceOfN(rapid.OneOf(
			rapid.ByteRange(0x21, 0x7e),
			rapid.SampledFrom([]byte{' ', '\t', ':', ';', '"', '\\'}),
			rapid.ByteRange(0x80, 0xff),
		), 0, 30).Draw(t, "value")
		return string(trimWS(bs))
	})

	genHeader = rapid.Custom(func(t *rapid.T) [][2]string {
		n := rapid.IntRange(0, 5).Draw(t, "fields")
		var h [][2]string
		for range n {
			h = append(h, [2]string{genName.Draw(t, "name"), genValue.Draw(t, "value")})
		}
		return h
	})
)

// genBody draws a body from fragments that are hard for a delimiter search:
// CR, LF, dashes, the boundary and parts of it, other boundaries that share
// a prefix with it, and random bytes. For a Writer (forWriter), it breaks
// what the Writer refuses.
func genBody(t *rapid.T, boundary string, forWriter bool) string {
	frags := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) string {
		switch rapid.IntRange(0, 11).Draw(t, "kind") {
		case 0:
			return "\r\n"
		case 1:
			return "\n"
		case 2:
			return "\r"
		case 3:
			return "--"
		case 4:
			return "-"
		case 5: // the boundary, not after a line end
			return "x--" + boundary
		case 6: // a proper prefix of the delimiter
			d := "\r\n--" + boundary
			return d[:rapid.IntRange(1, len(d)-1).Draw(t, "cut")]
		case 7: // a delimiter of another boundary
			return "\r\n--" + rapid.StringMatching(`[A-Za-z0-9_]{0,12}`).Draw(t, "other")
		case 8:
			return boundary
		case 9:
			return " \t"
		case 10:
			return "\r\n--" + boundary + rapid.SampledFrom([]string{"X", "-", "_x", "0"}).Draw(t, "suffix")
		default:
			return string(rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "bytes"))
		}
	}), 0, 20).Draw(t, "fragments")
	body := strings.Join(frags, "")
	if !forWriter {
		return body
	}
	// A Writer refuses bodies that hold LF "--" boundary (even with more
	// after it), so break each occurrence: the property is about the
	// bodies a Writer accepts.
	guard := "\n--" + boundary
	for strings.Contains(body, guard) {
		body = strings.Replace(body, guard, "\n-_-"+boundary, 1)
	}
	if strings.HasPrefix(body, guard[1:]) {
		body = "_" + body
	}
	return body
}

// TestPropRoundTrip: for any parts a Writer accepts, a Reader gives them
// back, whatever the chunking of its input.
func TestPropRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		boundary := genBoundary.Draw(t, "boundary")
		n := rapid.IntRange(0, 6).Draw(t, "parts")
		var parts []testPart
		for range n {
			parts = append(parts, testPart{Header: genHeader.Draw(t, "header"), Body: genBody(t, boundary, true)})
		}
		wire, err := writeParts(parts, boundary)
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		src := &chunkedReader{src: wire, cuts: genCuts.Draw(t, "cuts")}
		// BufferSize 1 selects the smallest buffer, 244 bytes with
		// MaxLineBytes 80, which bodies cross. MaxLineBytes is not
		// lower because the first delimiter line counts as a preamble
		// line: 72 bytes with a 70-byte boundary.
		got, err := readParts(src, boundary, ReaderOptions{BufferSize: rapid.SampledFrom([]int{0, 1}).Draw(t, "buffer"), MaxLineBytes: 80})
		if err != nil {
			t.Fatalf("Read: %v\nwire: %q", err, wire)
		}
		if diff := cmp.Diff(parts, got); diff != "" {
			t.Fatalf("Read(Write(parts)) (-want +got):\n%s\nwire: %q", diff, wire)
		}
	})
}

// genWire draws possibly malformed multipart bodies for boundary, from
// fragments of the syntax: line ends, dashes, delimiters and near
// delimiters, padding, header lines good and bad, and random bytes.
func genWire(t *rapid.T, boundary string) []byte {
	frags := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) string {
		return rapid.SampledFrom([]string{
			"\r\n", "\n", "\r", "--", "-", " ", "\t", boundary, "--" + boundary, "--" + boundary + "--",
			"\r\n--" + boundary + "\r\n", "\n--" + boundary + "\n", "\r\n--" + boundary + " \t\r\n",
			"\r\n--" + boundary + "--\r\n", "--" + boundary + "X", "\r\n--" + boundary[:len(boundary)/2],
			"Content-Type: text/plain\r\n", "X: y\n", "A:b\r\n", " folded\r\n", "\tfolded\n",
			"bad line\r\n", ": empty name\r\n", "Sp : x\r\n", "N: \x00\r\n", "V: a\rb\r\n",
			"body", "\r\n\r\n", "\n\n",
			// Padding and lines about as long as the small limits.
			strings.Repeat(" \t", 12), strings.Repeat("p", 23), "\r\n--" + boundary + strings.Repeat(" ", 25),
		}).Draw(t, "fragment")
	}), 0, 30).Draw(t, "fragments")
	var b []byte
	for _, f := range frags {
		b = append(b, f...)
		if rapid.IntRange(0, 9).Draw(t, "random?") == 0 {
			b = append(b, rapid.SliceOfN(rapid.Byte(), 1, 8).Draw(t, "random")...)
		}
	}
	return b
}

// TestPropChunkingInvariance: on any input, well-formed or not, the parts
// read and the error (class, offset and reason) do not depend on how the
// input is split into reads.
func TestPropChunkingInvariance(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		boundary := rapid.SampledFrom([]string{"B", "AaB03x", "batch_foobarbaz", "a b"}).Draw(t, "boundary")
		in := genWire(t, boundary)
		opts := rapid.SampledFrom([]ReaderOptions{
			{},
			{BufferSize: 1, MaxLineBytes: 24, MaxHeaderBytes: 40, MaxHeaderFields: 2, MaxParts: 3},
		}).Draw(t, "opts")
		want, wantErr := readComplete(bytes.NewReader(in), boundary, opts)
		// A BytesReader, and large reads straight into the caller's
		// buffer through the same pieces, read the same.
		checkSameRead(t, in, boundary, opts, want, wantErr, genCuts.Draw(t, "large cuts"))
		for name, src := range map[string]io.Reader{
			"chunked": &chunkedReader{src: in, cuts: genCuts.Draw(t, "cuts")},
			"onebyte": iotest.OneByteReader(bytes.NewReader(in)),
			"dataerr": iotest.DataErrReader(bytes.NewReader(in)),
		} {
			got, err := readComplete(src, boundary, opts)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%s: parts (-whole +%s):\n%s\ninput: %q", name, name, diff, in)
			}
			if errString(err) != errString(wantErr) {
				t.Fatalf("%s: error %v, read whole: %v\ninput: %q", name, err, wantErr, in)
			}
		}
	})
}

// genAcceptable draws well-formed or nearly well-formed bodies, so that
// mime/multipart accepts many of them: a preamble, parts with header
// lines and bodies from genBody, delimiters with padding and either line
// end, the close delimiter and an epilogue.
func genAcceptable(t *rapid.T, boundary string) []byte {
	nl := rapid.SampledFrom([]string{"\r\n", "\n"}).Draw(t, "nl")
	// Mostly one line-end style, as real peers write; sometimes mixed.
	lineEnd := func() string {
		if rapid.IntRange(0, 9).Draw(t, "mixed?") == 0 {
			return rapid.SampledFrom([]string{"\r\n", "\n"}).Draw(t, "eol")
		}
		return nl
	}
	pad := func() string {
		return rapid.SampledFrom([]string{"", "", "", " ", "\t", " \t "}).Draw(t, "pad")
	}
	var b strings.Builder
	b.WriteString(rapid.SampledFrom([]string{"", "", "preamble" + nl, nl, "--" + boundary + "X" + nl, "x" + nl + nl}).Draw(t, "preamble"))
	n := rapid.IntRange(0, 4).Draw(t, "parts")
	for i := range n {
		if i > 0 {
			b.WriteString(nl)
		}
		b.WriteString("--" + boundary + pad() + lineEnd())
		for range rapid.IntRange(0, 3).Draw(t, "fields") {
			name := genName.Draw(t, "name")
			value := genValue.Draw(t, "value")
			sep := rapid.SampledFrom([]string{": ", ":", ":  ", ":\t"}).Draw(t, "sep")
			b.WriteString(name + sep + value + rapid.SampledFrom([]string{"", "", " ", "\t"}).Draw(t, "trailing") + lineEnd())
			if rapid.IntRange(0, 5).Draw(t, "fold?") == 0 {
				b.WriteString(rapid.SampledFrom([]string{" ", "\t", "  "}).Draw(t, "indent") + genValue.Draw(t, "more") + lineEnd())
			}
		}
		b.WriteString(lineEnd())
		// Bodies may hold delimiters: both readers see the same bytes.
		b.WriteString(genBody(t, boundary, false))
	}
	if n > 0 {
		b.WriteString(nl)
	}
	b.WriteString("--" + boundary + "--" + pad())
	b.WriteString(rapid.SampledFrom([]string{"", nl, nl + "epilogue" + nl}).Draw(t, "epilogue"))
	return []byte(b.String())
}

// TestPropVsStdlib runs FuzzReaderVsStdlib's check (checkVsStdlib) on
// generated bodies: wherever mime/multipart accepts an input, the Reader
// reads the same parts and bodies, except for these deliberate differences
// (TestStdlibDifferences shows each on one input):
//
//  1. Header names: mime/multipart canonicalizes them (content-id becomes
//     Content-Id); the Reader keeps them as written. Compared through
//     stdForm.
//  2. Field order: a textproto.MIMEHeader keeps none across names; the
//     Reader keeps wire order. Compared through stdForm, which sorts.
//  3. Blank folded lines: textproto joins a continuation line that is
//     empty after trimming with a space all the same, leaving "a " or
//     "a  b"; the Reader drops it and gives "a", "a b" (values never have
//     white space at either end).
//  4. Truncation after a delimiter line: textproto returns io.EOF when the
//     input ends before or inside a part's header, and mime/multipart
//     passes it on as the clean end of the body, so a cut batch looks
//     complete; the Reader reports io.ErrUnexpectedEOF.
//  5. A space before the colon ("Content-Length : 5"): textproto accepts it
//     as a different field, "Content-Length " with the space, which one
//     program ignores where another trims it (a request smuggling
//     pattern); the Reader rejects it with ErrSyntax.
//  6. A close delimiter line before any part that ends in a bare LF: the
//     Reader takes it for the close delimiter of an empty body, as it
//     would after a part (it accepts LF line ends);
//     mime/multipart, which switches to LF line ends only on a delimiter
//     that opens a part, takes it for a preamble line and reads on.
//
// And where mime/multipart fails but the Reader does not, which this
// property does not reach: preamble lines and transport padding over 4 KiB
// (golang/go#26707); "--" boundary "--" followed by other bytes after a
// part; a CRLF delimiter line in a body whose first delimiter line fixed
// LF line ends. Two differences once listed are gone: textproto now
// rejects a header line with an empty name, as the Reader does; and
// neither reads the epilogue.
func TestPropVsStdlib(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		boundary := rapid.SampledFrom([]string{"B", "AaB03x", "batch_foobarbaz", "a b", "x-y"}).Draw(t, "boundary")
		var in []byte
		if rapid.Bool().Draw(t, "malformed?") {
			in = genWire(t, boundary)
		} else {
			in = genAcceptable(t, boundary)
		}
		checkVsStdlib(t, in, boundary)
	})
}

// TestStdlibDifferences shows each deliberate difference from
// mime/multipart on one input: what the Reader gives, and what
// mime/multipart gives, so that a change on either side is noticed.
func TestStdlibDifferences(t *testing.T) {
	for _, c := range []struct {
		name    string
		in      string
		ours    []testPart
		oursErr error
		std     []testPart // in stdParts' form
		stdErr  bool
	}{
		{
			name: "names kept as written, fields in wire order",
			in:   "--B\r\ncontent-id: 1\r\nZ: 1\r\nA: 2\r\nz: 3\r\n\r\nx\r\n--B--",
			ours: []testPart{{hdr("content-id", "1", "Z", "1", "A", "2", "z", "3"), "x"}},
			std:  []testPart{{hdr("A", "2", "Content-Id", "1", "Z", "1", "Z", "3"), "x"}},
		},
		{
			name: "blank folded lines dropped",
			in:   "--B\r\nX: a\r\n \r\n b\r\nY: c\r\n\t\r\n\r\nx\r\n--B--",
			ours: []testPart{{hdr("X", "a b", "Y", "c"), "x"}},
			std:  []testPart{{hdr("X", "a  b", "Y", "c "), "x"}},
		},
		{
			name: "input ending after a delimiter line is truncated",
			in:   "--B\r\nA: 1\r\n\r\nx\r\n--B\r\nA: 2\r\n",
			ours: []testPart{{hdr("A", "1"), "x"}}, oursErr: io.ErrUnexpectedEOF,
			std: []testPart{{hdr("A", "1"), "x"}},
		},
		{
			name:    "space before the colon",
			in:      "--B\r\nContent-Length : 5\r\n\r\nx\r\n--B--",
			oursErr: ErrSyntax,
			std:     []testPart{{hdr("Content-Length ", "5"), "x"}},
		},
		{
			name: "close delimiter with a bare LF before any part",
			in:   "--B--\n--B\r\n\r\nx\r\n--B--",
			std:  []testPart{{nil, "x"}},
		},
		{
			name: "close delimiter followed by other bytes",
			in:   "--B\r\n\r\nx\r\n--B--junk\r\n",
			ours: []testPart{{nil, "x"}}, stdErr: true,
		},
		{
			name: "LF mode, then a CRLF delimiter line",
			in:   "--B\n\nx\n--B\r\n\ny\n--B--\n",
			ours: []testPart{{nil, "x"}, {nil, "y"}}, stdErr: true,
		},
		{
			// golang/go#26707: mime/multipart reads lines through a
			// 4 KiB bufio.Reader.
			name: "preamble line over 4 KiB",
			in:   strings.Repeat("p", 5000) + "\r\n--B\r\n\r\nx\r\n--B--",
			ours: []testPart{{nil, "x"}}, stdErr: true,
		},
		{
			name: "transport padding over 4 KiB",
			in:   "--B\r\n\r\nx\r\n--B" + strings.Repeat(" ", 5000) + "\r\n\r\ny\r\n--B--",
			ours: []testPart{{nil, "x"}, {nil, "y"}}, stdErr: true,
		},
		{
			// Not a difference any more: textproto rejected empty
			// names too when this was written.
			name:    "empty header name",
			in:      "--B\r\n: v\r\n\r\nx\r\n--B--",
			oursErr: ErrSyntax, stdErr: true,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			for name, src := range awkwardReaders([]byte(c.in), 11) {
				got, err := readComplete(src, "B", ReaderOptions{})
				if diff := cmp.Diff(c.ours, got); diff != "" {
					t.Errorf("Reader, %s (-want +got):\n%s", name, diff)
				}
				checkErr(t, "Reader, "+name, err, c.oursErr, -1)
			}
			got, err := stdParts([]byte(c.in), "B")
			if (err != nil) != c.stdErr {
				t.Errorf("mime/multipart: error %v, want an error: %v", err, c.stdErr)
			}
			if !c.stdErr {
				if diff := cmp.Diff(c.std, got); diff != "" {
					t.Errorf("mime/multipart (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestPropDelimiterGuard: a Writer refuses a body exactly when LF "--"
// boundary occurs in it, or it starts with "--" boundary, however the body
// is split into writes; boundaries that overlap themselves ("--", "aa")
// test the guard's carry-over between writes.
func TestPropDelimiterGuard(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		boundary := rapid.OneOf(rapid.SampledFrom([]string{"B", "--", "aa", "-a-", "a-a", "-"}), genBoundary).Draw(t, "boundary")
		frags := rapid.SliceOfN(rapid.SampledFrom([]string{
			"\n", "\r\n", "-", "--", boundary, boundary[:len(boundary)/2], boundary[len(boundary)/2:], "x", "a",
		}), 0, 20).Draw(t, "fragments")
		body := strings.Join(frags, "")
		cuts := genCuts.Draw(t, "cuts")
		var buf bytes.Buffer
		w := NewWriter(&buf)
		if err := w.SetBoundary(boundary); err != nil {
			t.Fatal(err)
		}
		pw, err := w.CreatePart(nil)
		if err != nil {
			t.Fatal(err)
		}
		head := buf.Len()
		rest := body
		for err == nil && len(rest) > 0 {
			n := len(rest)
			if len(cuts) > 0 {
				n, cuts = min(cuts[0], n), cuts[1:]
			}
			_, err = io.WriteString(pw, rest[:n])
			rest = rest[n:]
		}
		bad := strings.Contains("\n"+body, "\n--"+boundary)
		if bad != errors.Is(err, ErrDelimiterInBody) {
			t.Fatalf("body %q: error %v, want ErrDelimiterInBody: %v", body, err, bad)
		}
		if !bad && buf.String()[head:] != body {
			t.Fatalf("body %q written as %q", body, buf.String()[head:])
		}
	})
}
