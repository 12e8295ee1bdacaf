package mixed

import (
	"bytes"
	"fmt"
	"math/bits"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// naiveLine is scanLine's specification, a byte at a time on a complete
// slice: the LF ending the line at b[0], or -1, and the line's first colon,
// bare CR and forbidden byte before it.
func naiveLine(b []byte) (nl, colon, cr, bad int) {
	colon, cr, bad = -1, -1, -1
	for i, c := range b {
		switch {
		case c == '\n':
			return i, colon, cr, bad
		case c == ':':
			if colon < 0 {
				colon = i
			}
		case c == '\r':
			if i+1 < len(b) && b[i+1] != '\n' && cr < 0 {
				cr = i
			}
		case c == '\t':
		case c < 0x20 || c == 0x7f:
			if bad < 0 {
				bad = i
			}
		}
	}
	return -1, colon, cr, bad
}

// TestScanLine checks scanLine against naiveLine on lines made of the
// bytes that matter, fed whole and in growing prefixes (the way a Reader's
// buffer grows between fills).
func TestScanLine(t *testing.T) {
	alphabet := []byte{'a', 'Z', ' ', ':', '\r', '\n', '\t', 0, 0x1f, 0x7f, 0x80, 0xff, ';', '9'}
	rapid.Check(t, func(t *rapid.T) {
		b := rapid.SliceOfN(rapid.SampledFrom(alphabet), 0, 70).Draw(t, "b")
		cuts := rapid.SliceOfN(rapid.IntRange(0, 70), 0, 6).Draw(t, "cuts")
		wnl, wcolon, wcr, wbad := naiveLine(b)
		var s lineState
		s.start(0)
		nl := -1
		for _, c := range append(cuts, len(b)) {
			if c > len(b) {
				c = len(b)
			}
			if c < s.next {
				continue
			}
			if nl = scanLine(b[:c], &s); nl >= 0 {
				break
			}
		}
		if nl != wnl {
			t.Fatalf("%q: LF at %d, want %d", b, nl, wnl)
		}
		if nl < 0 {
			// A final CR is left undecided, as naiveLine leaves it.
			if end := s.next; end < len(b) && (end != len(b)-1 || b[end] != '\r') {
				t.Fatalf("%q: stopped at %d before %q", b, end, b[end])
			}
		}
		if s.colon != wcolon || s.cr != wcr || s.bad != wbad {
			t.Fatalf("%q: colon, cr, bad = %d, %d, %d; want %d, %d, %d", b, s.colon, s.cr, s.bad, wcolon, wcr, wbad)
		}
	})
}

func TestSpecialBytes(t *testing.T) {
	// Each byte value at each position, beside neighbours that would
	// carry or borrow into it if the tests were not exact per byte.
	for _, fill := range []byte{'A', 0, 0xff, ':', 0x7f, 0x20, 0x1f, 0x80} {
		var want0 uint64
		if hdrSpecial[fill] {
			want0 = swarHi
		}
		for c := range 256 {
			for pos := range 8 {
				x := uint64(fill) * swarLo &^ (0xff << (8 * pos))
				x |= uint64(c) << (8 * pos)
				want := want0 &^ (0x80 << (8 * pos))
				if hdrSpecial[c] {
					want |= 0x80 << (8 * pos)
				}
				if got := specialBytes(x); got != want {
					t.Fatalf("byte %#x at %d among %#x: mask %#x, want %#x", c, pos, fill, got, want)
				}
			}
		}
	}
}

func TestCtlBytes(t *testing.T) {
	// The lowest marked byte is the first control byte or DEL, whatever
	// its neighbours, so that no borrow from a lower byte shifts it.
	isCtl := func(c byte) bool { return c < 0x20 || c == 0x7f }
	for _, fill := range []byte{'A', 0, 0xff, 0x7f, 0x20, 0x1f, 0x80, 0x7e, 0x21} {
		for c := range 256 {
			for pos := range 8 {
				x := uint64(fill) * swarLo &^ (0xff << (8 * pos))
				x |= uint64(c) << (8 * pos)
				want := 8
				for i := range 8 {
					if isCtl(byte(x >> (8 * i))) {
						want = i
						break
					}
				}
				m := ctlBytes(x)
				got := bits.TrailingZeros64(m) >> 3
				if m&^swarHi != 0 || got != want {
					t.Fatalf("byte %#x at %d among %#x: mask %#x gives %d, want %d", c, pos, fill, m, got, want)
				}
			}
		}
	}
}

// TestScanHTTPFieldsFastPath checks that scanHTTPFields, whose fast path
// reads most lines, reads every head as its general path alone does
// (slowHTTPField for each line): the same fields, end and error.
func TestScanHTTPFieldsFastPath(t *testing.T) {
	pieces := []string{
		"Content-Type", "ETag", "X", ":", " ", "\t", "\r", "\n", "\r\n", "\r\n",
		"value", "application/json; charset=UTF-8", "a b", "\x00", "\x7f", "\x80",
		"(", "\"etag/1\"", "12345678", "é", "Content-Length", "content-LENGTH", "Transfer-Encoding", "42",
		"\r\nContent-Length: 301\r\n", "\r\ncontent-length:  7 \r\n", "Content-Length: 1x\n", "-1", "99999999999999999999",
	}
	rapid.Check(t, func(t *rapid.T) {
		var b []byte
		for _, p := range rapid.SliceOfN(rapid.SampledFrom(pieces), 0, 40).Draw(t, "pieces") {
			b = append(b, p...)
		}
		pos := rapid.IntRange(0, len(b)).Draw(t, "pos")
		maxFields := rapid.IntRange(1, 5).Draw(t, "maxFields")
		partial := rapid.Bool().Draw(t, "partial")
		const off = 1000

		got := Header{buf: b}
		var fr framingScan
		gend, gerr := scanHTTPFields(&got, pos, off, maxFields, partial, &fr)
		if gerr == nil && !fr.slow {
			// Without slow, the note is the framing: no
			// Transfer-Encoding, Content-Length at fr.cl only.
			for i, f := range got.fields {
				name := got.bytes(f.name)
				if equalFoldString(name, "transfer-encoding") || equalFoldString(name, "content-length") != (i == fr.cl) {
					t.Fatalf("%q from %d: framing note %+v, but field %d is %q", b, pos, fr, i, name)
				}
			}
			if fr.cl >= 0 {
				v := got.bytes(got.fields[fr.cl].value)
				if n, ok := parseContentLength(v); fr.ok != ok || ok && fr.n != n {
					t.Fatalf("%q from %d: framing note %+v, but Content-Length %q is %d, %v", b, pos, fr, v, n, ok)
				}
			}
		}

		want := Header{buf: b}
		wend, werr := func() (int, error) {
			p := pos
			for p < len(b) {
				next, done, err := slowHTTPField(&want, p, off, maxFields, partial)
				if done {
					return next, err
				}
				p = next
			}
			if partial {
				return -1, nil
			}
			return len(b), nil
		}()
		if gend != wend || fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Fatalf("%q from %d: end %d, error %v; want %d, %v", b, pos, gend, gerr, wend, werr)
		}
		if diff := cmp.Diff(want.fields, got.fields, cmp.AllowUnexported(field{}, span{})); diff != "" {
			t.Fatalf("%q from %d: fields (-want +got):\n%s", b, pos, diff)
		}
	})
}

// TestTokenIs checks tokenIs against equalFoldString on every token that
// differs from the names framing looks for in one byte, in any case.
func TestTokenIs(t *testing.T) {
	for _, lower := range []string{"content-length", "transfer-encoding", "abcdefgh", "abcdefghi"} {
		for _, cased := range []string{lower, strings.ToUpper(lower), strings.ToTitle(lower[:1]) + lower[1:]} {
			for pos := range len(cased) {
				for c := range 256 {
					name := []byte(cased)
					name[pos] = byte(c)
					if !isToken(name) {
						continue
					}
					want := equalFoldString(name, lower)
					if got := tokenIs(name, lower); got != want {
						t.Errorf("tokenIs(%q, %q) = %v, want %v", name, lower, got, want)
					}
					if got := isContentLength(name); got != equalFoldString(name, "content-length") {
						t.Errorf("isContentLength(%q) = %v", name, got)
					}
					if got := isTransferEncoding(name); got != equalFoldString(name, "transfer-encoding") {
						t.Errorf("isTransferEncoding(%q) = %v", name, got)
					}
				}
			}
			if tokenIs([]byte(cased[:len(cased)-1]), lower) || tokenIs([]byte(cased+"s"), lower) {
				t.Errorf("tokenIs matches a name of another length than %q", lower)
			}
		}
	}
}

// startLineEndings are the ends a start line is tried with by the tests of
// the start-line fast paths, which find the end of the line themselves.
var startLineEndings = []string{"\r\n", "\n", "\r", "", "\r\r\n", " \r\n", "\x00\n", "\t\r\n"}

// generalStartLine cuts b at its first LF, as parseHead does for the
// lines that its fast paths refuse, and returns the line without CR and
// where the next line starts (-1 without LF).
func generalStartLine(b []byte) ([]byte, int) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return b, -1
	}
	line := b[:nl]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nl + 1
}

// TestParseRequestLineFastPath checks that requestLineFast, which reads
// most request lines, reads every line it accepts as the general path
// (the line cut at its LF, then parseRequestLine) does: the same request,
// the same end, and no error; and that it accepts the lines peers send.
func TestParseRequestLineFastPath(t *testing.T) {
	methods := []string{"GET", "PUT", "CONNECT", "OPTIONS", "G\x00T", "", "M(", "é"}
	seps := []string{" ", " ", "  ", "\t", "\r", ""}
	targets := []string{
		"/", "/a/b", "/calendar/v3/events/12", "?q=1", "%", "%2F", "%g0", "%2", "%%41", "*",
		"\r", "\t", "\x7f", "\x80", "é", "x:y", "http://h/", "\"", "12345678", "~-_.",
	}
	versions := []string{"HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 ", "HTTP/1.", "http/1.1", "HTTP/1.1\r", ""}
	opts := []MessageOptions{{}, {AllowAbsoluteTargets: true, AllowRelativeTargets: true}}
	check := func(t interface{ Fatalf(string, ...any) }, line []byte, o MessageOptions) {
		o = o.withDefaults()
		for _, ending := range startLineEndings {
			b := append(append(bytes.Clone(line), ending...), "Host: x\r\n\r\n"...)
			fast := &MessageReader{opts: o, headOff: 7}
			next := fast.requestLineFast(b)
			if next < 0 {
				if fast.req.Method != nil || fast.slen != 0 {
					t.Fatalf("%q: refused, but changed the request", b)
				}
				continue
			}
			slow := &MessageReader{opts: o, headOff: 7}
			wline, wnext := generalStartLine(b)
			if werr := slow.parseRequestLine(&slow.req, wline); werr != nil {
				t.Fatalf("%q: accepted, want error %v", b, werr)
			}
			if next != wnext || fast.slen != len(wline) {
				t.Fatalf("%q: next line at %d, line length %d; want %d, %d", b, next, fast.slen, wnext, len(wline))
			}
			if diff := cmp.Diff(slow.req, fast.req, cmp.AllowUnexported(Request{}, Header{})); diff != "" {
				t.Fatalf("%q: request (-want +got):\n%s", b, diff)
			}
		}
	}
	for _, line := range []string{"GET / HTTP/1.1", "PUT /calendar/v3/calendars/primary/events/12 HTTP/1.1", "DELETE /a%2Fb?x=1 HTTP/1.0", "GET /a/b"} {
		for _, ending := range []string{"\r\n", "\n"} {
			var m MessageReader
			if next := m.requestLineFast([]byte(line + ending + "Host: x\r\n")); next != len(line)+len(ending) {
				t.Errorf("requestLineFast(%q) = %d, want %d", line+ending, next, len(line)+len(ending))
			}
		}
	}
	// Every line of one piece of each kind (a target after a slash too,
	// as the fast path wants), then longer targets.
	var oneTargets []string
	for _, p := range append(targets, "") {
		oneTargets = append(oneTargets, p, "/"+p)
	}
	for _, method := range methods {
		for _, sep := range seps {
			for _, target := range oneTargets {
				for _, sep2 := range append(seps, "-") {
					for _, v := range versions {
						line := method + sep + target
						if sep2 != "-" {
							line += sep2 + v
						}
						for _, o := range opts {
							check(t, []byte(line), o)
						}
					}
				}
			}
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		line := []byte(rapid.SampledFrom(methods).Draw(t, "method") + rapid.SampledFrom(seps).Draw(t, "sep"))
		for _, p := range rapid.SliceOfN(rapid.SampledFrom(targets), 0, 5).Draw(t, "target") {
			line = append(line, p...)
		}
		if rapid.Bool().Draw(t, "version") {
			line = append(line, rapid.SampledFrom(seps).Draw(t, "sep2")+rapid.SampledFrom(versions).Draw(t, "v")...)
		}
		check(t, line, rapid.SampledFrom(opts).Draw(t, "opts"))
	})
}

// TestTokenEnd checks tokenEnd against a byte-at-a-time loop.
func TestTokenEnd(t *testing.T) {
	alphabet := []byte{'a', 'Z', '5', '-', '_', '!', '~', ':', ' ', '\r', 0x80, 0x7f, '(', 0}
	rapid.Check(t, func(t *rapid.T) {
		b := rapid.SliceOfN(rapid.SampledFrom(alphabet), 0, 40).Draw(t, "b")
		i := rapid.IntRange(0, len(b)).Draw(t, "i")
		want := i
		for want < len(b) && tokenTable[b[want]] {
			want++
		}
		if got := tokenEnd(b, i); got != want {
			t.Fatalf("tokenEnd(%q, %d) = %d, want %d", b, i, got, want)
		}
	})
}

// TestReaderHeaderFastPath checks that Reader.header, whose fast path
// (fieldLine) reads most lines, reads every part header block as the
// general rule does, parseHeaderLine for each line: the same fields and the
// same error, offset included, however the input is cut, on the streaming
// Reader (whose header copies) and the BytesReader (whose header views).
func TestReaderHeaderFastPath(t *testing.T) {
	pieces := []string{
		"Content-Type", "ETag", "X", ":", " ", "\t", "\r", "\n", "\r\n", "\r\n",
		"value", "application/json; charset=UTF-8", "a b", "\x00", "\x7f", "\x80",
		"(", "\"etag/1\"", "12345678", "é",
	}
	// Whole lines, half of those drawn, so that blocks of several
	// fields (and the field limit) are common.
	lines := rapid.OneOf(
		rapid.SampledFrom([]string{
			"Content-Type: application/http\r\n", "Content-ID: <item-1@example.com>\r\n",
			"X:\n", "ETag:\t\"e\" \r\n", " folded\r\n",
		}),
		rapid.Custom(func(t *rapid.T) string {
			return strings.Join(rapid.SliceOfN(rapid.SampledFrom(pieces), 1, 6).Draw(t, "pieces"), "")
		}),
	)
	rapid.Check(t, func(t *rapid.T) {
		block := []byte(strings.Join(rapid.SliceOfN(lines, 0, 12).Draw(t, "lines"), ""))
		block = append(block, "\r\n\r\n"...) // an empty line, at the latest here
		maxFields := rapid.IntRange(1, 5).Draw(t, "maxFields")
		cuts := rapid.SliceOfN(rapid.IntRange(1, 20), 0, 8).Draw(t, "cuts")
		const delim = "--b\r\n"
		data := append([]byte(delim), block...)
		data = append(data, "\r\n--b--\r\n"...)

		// The rule: lines up to the first empty one, each through
		// parseHeaderLine; the first error wins.
		var want Header
		var wantErr error
		for off := 0; ; {
			n := bytes.IndexByte(block[off:], '\n')
			line := block[off : off+n]
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			if len(line) == 0 {
				break
			}
			if wantErr == nil {
				wantErr = parseHeaderLine(&want, line, int64(len(delim)+off), maxFields)
			}
			off += n + 1
		}

		opts := ReaderOptions{MaxHeaderFields: maxFields}
		for _, how := range []string{"Reader", "BytesReader"} {
			var next func() (*Part, error)
			if how == "Reader" {
				next = NewReaderOptions(&chunkedReader{src: data, cuts: cuts}, "b", opts).NextPart
			} else {
				next = NewBytesReaderOptions(data, "b", opts).NextPart
			}
			p, err := next()
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("%s, %q: error %v, want %v", how, block, err, wantErr)
			}
			if err != nil {
				continue
			}
			if diff := cmp.Diff(fields(&want), fields(&p.Header)); diff != "" {
				t.Fatalf("%s, %q: fields (-want +got):\n%s", how, block, diff)
			}
		}
	})
}

// naiveFieldLine is fieldLine's specification, a byte at a time: a
// non-empty run of token bytes, a colon, value bytes (none a control
// character but HTAB, nor DEL), then CRLF or LF; the value trimmed of
// spaces and tabs.
func naiveFieldLine(b []byte, pos int) (colon, vs, ve, next int) {
	i := pos
	for i < len(b) && tokenTable[b[i]] {
		i++
	}
	if i == pos || i == len(b) || b[i] != ':' {
		return 0, 0, 0, -1
	}
	colon = i
	for i++; i < len(b) && (b[i] == '\t' || b[i] >= 0x20 && b[i] != 0x7f); i++ {
	}
	switch {
	case i < len(b) && b[i] == '\n':
		next = i + 1
	case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
		next = i + 2
	default:
		return 0, 0, 0, -1
	}
	value := b[colon+1 : i]
	lead := len(value) - len(bytes.TrimLeft(value, " \t"))
	vs = colon + 1 + lead
	return colon, vs, vs + len(bytes.TrimRight(value[lead:], " \t")), next
}

// TestFieldLine checks fieldLine against naiveFieldLine on lines made of
// the bytes that matter, from any position, words of eight bytes falling
// anywhere in them.
func TestFieldLine(t *testing.T) {
	pieces := []string{
		"Content-Type", "X", "a1", "~!#", ":", " ", "\t", "\r", "\n", "\r\n", "\x00", "\x1f", "\x7f", "\x80",
		"é", "(", "\"", "value", "application/json; charset=UTF-8", "12345678", "  ",
	}
	// Names of every length to two words and more, ended by the colon
	// or by another byte at every place of a word, with lines after
	// them or none.
	for n := 1; n <= 20; n++ {
		for _, end := range []string{":", " :", "(:", "\x80:"} {
			for _, after := range []string{"", "X: y\r\n\r\n"} {
				b := []byte(strings.Repeat("a-Z9", 5)[:n] + end + " v \r\n" + after)
				gc, gvs, gve, gnext := fieldLine(b, 0)
				wc, wvs, wve, wnext := naiveFieldLine(b, 0)
				if gnext != wnext || gnext >= 0 && (gc != wc || gvs != wvs || gve != wve) {
					t.Fatalf("fieldLine(%q, 0) = %d, %d, %d, %d; want %d, %d, %d, %d", b, gc, gvs, gve, gnext, wc, wvs, wve, wnext)
				}
			}
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		var b []byte
		for _, p := range rapid.SliceOfN(rapid.SampledFrom(pieces), 0, 20).Draw(t, "pieces") {
			b = append(b, p...)
		}
		pos := rapid.IntRange(0, len(b)).Draw(t, "pos")
		gc, gvs, gve, gnext := fieldLine(b, pos)
		wc, wvs, wve, wnext := naiveFieldLine(b, pos)
		if gnext != wnext || gnext >= 0 && (gc != wc || gvs != wvs || gve != wve) {
			t.Fatalf("fieldLine(%q, %d) = %d, %d, %d, %d; want %d, %d, %d, %d", b, pos, gc, gvs, gve, gnext, wc, wvs, wve, wnext)
		}
	})
}

// TestParseStatusLineFastPath checks that statusLineFast, which reads
// most status lines, reads every line it accepts as the general path (the
// line cut at its LF, then parseStatusLine) does: the same response, the
// same end, and no error; and that it accepts the lines peers send.
func TestParseStatusLineFastPath(t *testing.T) {
	pieces := []string{
		"HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "http/1.1", "HTTP/1.", " ", "  ", "\t", "200", "099", "100", "999", "1000",
		"20", "2x0", "OK", "Not Found", "\r", "\n", "\x00", "\x7f", "\x80", "é", "",
	}
	check := func(t interface{ Fatalf(string, ...any) }, line []byte) {
		for _, ending := range startLineEndings {
			b := append(append(bytes.Clone(line), ending...), "Server: x\r\n\r\n"...)
			fast := &MessageReader{headOff: 7}
			next := fast.statusLineFast(b)
			if next < 0 {
				if fast.resp.StatusCode != 0 || fast.slen != 0 {
					t.Fatalf("%q: refused, but changed the response", b)
				}
				continue
			}
			slow := &MessageReader{headOff: 7}
			wline, wnext := generalStartLine(b)
			if werr := slow.parseStatusLine(&slow.resp, wline); werr != nil {
				t.Fatalf("%q: accepted, want error %v", b, werr)
			}
			if next != wnext || fast.slen != len(wline) {
				t.Fatalf("%q: next line at %d, line length %d; want %d, %d", b, next, fast.slen, wnext, len(wline))
			}
			if diff := cmp.Diff(slow.resp, fast.resp, cmp.AllowUnexported(Response{}, Header{})); diff != "" {
				t.Fatalf("%q: response (-want +got):\n%s", b, diff)
			}
			if (fast.resp.Reason == nil) != (slow.resp.Reason == nil) {
				t.Fatalf("%q: reason %#v, want %#v", b, fast.resp.Reason, slow.resp.Reason)
			}
		}
	}
	for _, line := range []string{"HTTP/1.1 200 OK", "HTTP/1.0 404 Not Found", "HTTP/1.1 204", "HTTP/1.1 500 a\tb"} {
		for _, ending := range []string{"\r\n", "\n"} {
			var m MessageReader
			if next := m.statusLineFast([]byte(line + ending + "Server: x\r\n")); next != len(line)+len(ending) {
				t.Errorf("statusLineFast(%q) = %d, want %d", line+ending, next, len(line)+len(ending))
			}
		}
	}
	for _, v := range []string{"HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/1.1x", "XTTP/1.1"} {
		for code := range 1000 {
			for _, reason := range []string{"", " ", " OK", " a\tb", " \x01", " \x7f"} {
				check(t, []byte(v+" "+fmt.Sprintf("%03d", code)+reason))
			}
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		var line []byte
		for _, p := range rapid.SliceOfN(rapid.SampledFrom(pieces), 0, 8).Draw(t, "pieces") {
			line = append(line, p...)
		}
		check(t, line)
	})
}

// TestEqualFoldString checks equalFoldString against the comparison of
// both sides lowered a byte at a time (ASCII letters only), on names
// of every length up to three words made of letters of both cases, the
// bytes that differ from a letter in bit 0x20 alone, and bytes from 0x80.
func TestEqualFoldString(t *testing.T) {
	alphabet := []byte{'a', 'A', 'z', 'Z', 'm', 'M', '@', '`', '[', '{', '-', '0', '\r', 0x80 | 'a', 0x80 | 'A', 0xff, 0}
	asciiLower := func(b []byte) []byte {
		out := bytes.Clone(b)
		for i, c := range out {
			if c >= 'A' && c <= 'Z' {
				out[i] = c + 'a' - 'A'
			}
		}
		return out
	}
	// Every byte, flipped in bit 0x20, at every place of a short name and
	// of a name of two words.
	for _, name := range []string{"etag", "Content-Length"} {
		for i := range name {
			for c := range 256 {
				b := []byte(name)
				b[i] = byte(c)
				s := bytes.Clone(b)
				s[i] ^= 0x20
				want := bytes.Equal(asciiLower(b), asciiLower(s))
				if got := equalFoldString(b, string(s)); got != want {
					t.Fatalf("equalFoldString(%q, %q) = %v, want %v", b, s, got, want)
				}
			}
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		b := rapid.SliceOfN(rapid.SampledFrom(alphabet), 0, 24).Draw(t, "b")
		// Mostly b with bytes flipped in bit 0x20, or changed.
		s := bytes.Clone(b)
		for _, i := range rapid.SliceOfN(rapid.IntRange(0, max(len(s)-1, 0)), 0, 3).Draw(t, "flips") {
			if i < len(s) {
				s[i] ^= 0x20
			}
		}
		if rapid.IntRange(0, 4).Draw(t, "other") == 0 {
			s = rapid.SliceOfN(rapid.SampledFrom(alphabet), 0, 24).Draw(t, "s")
		}
		want := bytes.Equal(asciiLower(b), asciiLower(s))
		if got := equalFoldString(b, string(s)); got != want {
			t.Fatalf("equalFoldString(%q, %q) = %v, want %v", b, s, got, want)
		}
	})
}

// TestTargetEnd checks targetEnd, eight bytes at a time, against a byte at
// a time: every byte value at every place of a word and its tail, and
// escapes cut anywhere.
func TestTargetEnd(t *testing.T) {
	naive := func(b []byte, i int) int {
		for i < len(b) {
			switch c := b[i]; {
			case c <= ' ' || c == 0x7f:
				return i
			case c == '%':
				if i+2 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) {
					return i
				}
				i += 3
			default:
				i++
			}
		}
		return i
	}
	check := func(t interface{ Fatalf(string, ...any) }, b []byte, i int) {
		if got, want := targetEnd(b, i), naive(b, i); got != want {
			t.Fatalf("targetEnd(%q, %d) = %d, want %d", b, i, got, want)
		}
	}
	for p := range 17 {
		for c := range 256 {
			b := []byte("/abcdefghijklmnopq")
			b[1+p] = byte(c)
			check(t, b, 0)
		}
	}
	alphabet := []byte{'/', 'a', 'Z', '%', '2', 'f', 'F', 'g', ' ', '\r', '\n', 0, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xff, 0xa5, 0xa0}
	rapid.Check(t, func(t *rapid.T) {
		b := rapid.SliceOfN(rapid.SampledFrom(alphabet), 0, 40).Draw(t, "b")
		check(t, b, rapid.IntRange(0, len(b)).Draw(t, "i"))
	})
}
