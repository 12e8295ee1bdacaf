package mixed

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Differential checks against the standard library (mime/multipart,
// net/http) for the fuzz targets that compare with it, and the exhaustive
// sweeps that run the same checks on every short input over small
// alphabets.

var vsStdlibDepth = flag.Int("vs-stdlib-depth", 5, "TestReaderVsStdlibExhaustive: the most tokens per input (lines: one fewer); one fewer under -short")

// sweepDepth is -vs-stdlib-depth, less one under -short (about a tenth of
// the inputs), unless the flag was given.
func sweepDepth() int {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "vs-stdlib-depth" })
	if testing.Short() && !given {
		return *vsStdlibDepth - 1
	}
	return *vsStdlibDepth
}

// TestReaderVsStdlibExhaustive runs FuzzReaderVsStdlib's property on every
// sequence of up to -vs-stdlib-depth tokens from two alphabets: the bytes
// that delimiter lines, line endings, padding and headers are made of, and
// whole lines of those kinds. The fuzzer finds disagreements in this space
// only by chance (twice so far, as CI ran); a sweep finds all of them up to
// its depth, in a few seconds at the default.
func TestReaderVsStdlibExhaustive(t *testing.T) {
	depth := sweepDepth()
	for _, tc := range []struct {
		name   string
		depth  int
		tokens []string
	}{
		{"bytes", depth, []string{"--b", "--", "\r\n", "\n", "\r", " ", "\t", "0", "a:"}},
		{"lines", depth - 1, []string{
			"--b\r\n", "--b\n", "--b \r\n", "--b--\r\n", "--b--\n", "--b-- \n", "--b--",
			"--b0\n", "--b--0\r\n", "--b\t\r", "a: 1\r\n", "a: 1\n", " 2\r\n", "0\n", "\r\n", "\n", "\r",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sweepTokens(t, tc.tokens, tc.depth, func(data []byte) { checkVsStdlib(t, data, "b") })
		})
	}
}

var blankFold = regexp.MustCompile(`\n[ \t]+\r?\n`)

// checkVsStdlib is FuzzReaderVsStdlib's property for one input.
func checkVsStdlib(t fatalT, data []byte, boundary string) {
	if !validReadBoundary(boundary) {
		return
	}
	ours, err := readParts(bytes.NewReader(data), boundary, ReaderOptions{})
	checkReadErr(t, err, len(data))
	std, stdErr := stdParts(data, boundary)
	if err != nil && stdErr == nil {
		// Where mime/multipart accepts and the Reader does not, the
		// reason must be a deliberate difference: a limit of ours
		// (mime/multipart allows 10,000 fields and 10 MB of header,
		// and any number of parts), or a header line with an empty
		// name, which textproto skips and we reject rather than
		// guess what the sender meant.
		var se *SyntaxError
		switch {
		case errors.Is(err, ErrTooManyFields), errors.Is(err, ErrHeaderTooLarge), errors.Is(err, ErrTooManyParts):
		case errors.As(err, &se) && se.Err == ErrSyntax && emptyFieldNameAt(data, se.Offset):
		case errors.As(err, &se) && se.Err == ErrSyntax && badFieldNameByteAt(data, se.Offset) && stdNameWithSpace(std):
			// textproto accepts "Name : v" as a field named "Name "
			// (golang/go#34540), which is not a token: a field
			// that every strict peer drops or rejects, and a way
			// to smuggle a second Content-Length past one.
		case errors.Is(err, io.ErrUnexpectedEOF) && endsInPartHeader(data, boundary):
			// mime/multipart returns a bare io.EOF when the input
			// ends inside a part header (textproto's io.EOF goes
			// through newPart unwrapped), so a truncated body looks
			// like a clean end and its last part is silently lost.
		default:
			t.Fatalf("mime/multipart accepts what the Reader rejects with %v; std read %q", err, std)
		}
	}
	if err == nil && stdErr != nil && !stdStricter(data, boundary, stdErr) {
		t.Fatalf("the Reader accepts what mime/multipart rejects with %v; ours read %q", stdErr, ours)
	}
	if err != nil || stdErr != nil {
		return
	}
	if lfCloseFirst(data, boundary) {
		// The Reader has ended at the bare-LF close delimiter;
		// mime/multipart took it for preamble and read on (doc.go), here
		// to a part it could end cleanly.
		if len(ours) != 0 {
			t.Fatalf("the Reader read %q before a bare-LF close delimiter that comes first", ours)
		}
		return
	}
	got := stdForm(ours)
	if blankFold.Match(data) {
		for _, ps := range [][]testPart{got, std} {
			for _, p := range ps {
				for j := range p.Header {
					p.Header[j][1] = strings.Join(strings.FieldsFunc(p.Header[j][1], func(r rune) bool { return r == ' ' || r == '\t' }), " ")
				}
			}
		}
	}
	if diff := cmp.Diff(std, got); diff != "" {
		t.Fatalf("Reader and mime/multipart disagree (-std +ours):\n%s", diff)
	}
}

// lfCloseFirst reports whether the first delimiter line of data is a close
// delimiter line ending in a bare LF. A delimiter line is "--boundary",
// "--" for the close, spaces and tabs, and a line end; any other line
// that starts with "--boundary" ("--boundary0", "--boundary--0",
// "--boundary\t\r\r\n") is a preamble line for both readers.
func lfCloseFirst(data []byte, boundary string) bool {
	dash := []byte("--" + boundary)
	for len(data) > 0 {
		line, rest, found := bytes.Cut(data, []byte("\n"))
		if tail, ok := bytes.CutPrefix(line, dash); ok {
			tail, isClose := bytes.CutPrefix(tail, []byte("--"))
			tail, crlf := bytes.CutSuffix(tail, []byte("\r"))
			if len(bytes.Trim(tail, " \t")) == 0 {
				return isClose && found && !crlf
			}
		}
		data = rest
	}
	return false
}

// stdStricter reports whether mime/multipart rejected, with stdErr, an
// input that the Reader accepted (reading ours) for one of the Reader's
// deliberate leniencies:
//
//   - a line longer than std's 4 KiB buffer (golang/go#26707);
//   - a delimiter line std refuses after the end of a body, which both
//     end at "--boundary": a CRLF-ended one after an LF-ended first one,
//     or a close delimiter followed by more than padding and a line end
//     (the Reader stops at "--boundary--" and ignores the rest as
//     epilogue, std wants padding and the line end of the first
//     delimiter line, CRLF if there is none, and then fails with
//     "NextPart: EOF" or on the line);
//   - a bare-LF close delimiter line before the first part (lfCloseFirst).
func stdStricter(data []byte, boundary string, stdErr error) bool {
	if errors.Is(stdErr, bufio.ErrBufferFull) {
		return true
	}
	msg := stdErr.Error()
	_, line, _ := strings.Cut(msg, "got line ")
	if _, l, ok := strings.Cut(msg, "unexpected line in Next(): "); ok {
		line = l
	}
	if uq, _ := strconv.Unquote(line); strings.HasPrefix(uq, "--"+boundary) {
		return true
	}
	if lfCloseFirst(data, boundary) {
		// A bare-LF "--boundary--" line before any part is the close
		// delimiter for the Reader and a preamble line for
		// mime/multipart, which then parses what follows (doc.go).
		return true
	}
	if msg != "multipart: NextPart: EOF" {
		return false
	}
	closeLine := regexp.MustCompile(`--` + regexp.QuoteMeta(boundary) + `--[ \t]*([^\n]*\n?)`)
	for _, m := range closeLine.FindAllSubmatch(data, -1) {
		if rest := string(m[1]); rest != "" && rest != "\r\n" {
			return true
		}
	}
	return false
}

// stdNameWithSpace reports whether a part read by mime/multipart has a
// header name with a space in it.
func stdNameWithSpace(parts []testPart) bool {
	for _, p := range parts {
		for _, f := range p.Header {
			if strings.ContainsAny(f[0], " ") {
				return true
			}
		}
	}
	return false
}

// checkRequestVsStdlib is FuzzReadRequest's property for one input: the
// whole-input and one-byte reads agree, and so does net/http where both
// accept; where only one accepts, the input shows one of the documented
// differences (stdAcceptsDeliberately, oursAcceptsDeliberately).
func checkRequestVsStdlib(t fatalT, data []byte) {
	got, err := httpFuzzRead(t, data, true, "")
	compareWithStd(t, data, true, "", httpFuzzOpts, got, err)
	checkHTTPRequestVsStdlib(t, data)
}

// checkHTTPRequestVsStdlib checks Request.HTTPRequest (base nil) on a
// request that both we and net/http read: the *http.Request it gives is
// the one http.ReadRequest gives, method, URL (but a service-root-relative
// target's), RequestURI, protocol, header fields (the framing ones and
// Host aside, which net/http moves out of Header, and which HTTPRequest
// drops), body and Trailer alike: the names a chunked request's Trailer
// field declares, with the values of the trailer fields sent.
func checkHTTPRequestVsStdlib(t fatalT, data []byte) {
	want, _, wbody, rest, serr := stdRead(data, true, "")
	if serr != nil {
		return
	}
	r, err := NewMessageReaderOptions(bytes.NewReader(data), httpFuzzOpts).ReadRequest()
	if err != nil {
		return
	}
	if r.ContentLength < 0 && !r.Chunked {
		// Without framing net/http reads no body; we read the rest of
		// the part (see compareWithStd).
		wbody = rest
	}
	got, err := r.HTTPRequest(context.Background(), nil)
	if err != nil {
		t.Fatalf("%q: net/http reads it, HTTPRequest fails: %v", data, err)
	}
	body, err := io.ReadAll(got.Body)
	if err != nil {
		return // a malformed body, which compareWithStd checks
	}
	type conv struct {
		Method, RequestURI, Proto string
		ProtoMajor, ProtoMinor    int
		URL                       *url.URL
		Header, Trailer           http.Header
		Body                      string
	}
	g := conv{got.Method, got.RequestURI, got.Proto, got.ProtoMajor, got.ProtoMinor, got.URL, httpDropLengths(got.Header), got.Trailer, string(body)}
	w := conv{want.Method, want.RequestURI, want.Proto, want.ProtoMajor, want.ProtoMinor, want.URL, httpDropLengths(want.Header), want.Trailer, string(wbody)}
	if r.form == relativeForm {
		// A target relative to a service root, which HTTPRequest
		// resolves as a relative reference and net/http reads as an
		// absolute URI ("A:", "people:createContact"), when it reads it
		// at all: a documented difference (doc.go).
		g.URL, w.URL = nil, nil
	}
	userinfo := cmp.Comparer(func(a, b *url.Userinfo) bool { return a.String() == b.String() })
	if diff := cmp.Diff(w, g, cmpopts.EquateEmpty(), userinfo); diff != "" {
		t.Fatalf("%q: net/http (-) and HTTPRequest (+) disagree:\n%s", data, diff)
	}
}

// httpDropLengths removes the fields of h that net/http moves out of its
// Header, or dedupes, and HTTPRequest and HTTPResponse leave in theirs:
// Transfer-Encoding, Content-Length and Host. (The Trailer field of a
// chunked message both move into Trailer.)
func httpDropLengths(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if k != "Transfer-Encoding" && k != "Content-Length" && k != "Host" {
			out[k] = v
		}
	}
	return out
}

// checkResponseVsStdlib is FuzzReadResponse's property for one input, read
// as the response to an unknown method and to HEAD, by ReadResponse and by
// ReadFinalResponse (against net/http's Transport, which skips interim
// responses).
func checkResponseVsStdlib(t fatalT, data []byte) {
	checkResponseVsStdlibAs(t, data, "", "HEAD", "final:", "final:HEAD")
	checkHTTPResponseVsStdlib(t, data)
}

// checkHTTPResponseVsStdlib checks Response.HTTPResponse on a response
// that both we and net/http read: the *http.Response it gives is the one
// http.ReadResponse gives, status code, protocol, header fields (the
// framing ones aside, which net/http moves out of Header), body and
// Trailer; and its Status, but where the status line has no
// reason phrase (net/http's Status is then the code alone, ours has the
// standard phrase: doc.go).
func checkHTTPResponseVsStdlib(t fatalT, data []byte) {
	_, want, wbody, _, serr := stdRead(data, false, "")
	if serr != nil {
		return
	}
	r, err := NewMessageReaderOptions(bytes.NewReader(data), httpFuzzOpts).ReadResponse("")
	if err != nil {
		return
	}
	got := r.HTTPResponse(nil)
	body, err := io.ReadAll(got.Body)
	if err != nil {
		return // a malformed body, which compareWithStd checks
	}
	type conv struct {
		Status                 string
		StatusCode             int
		Proto                  string
		ProtoMajor, ProtoMinor int
		Header, Trailer        http.Header
		Body                   string
	}
	g := conv{got.Status, got.StatusCode, got.Proto, got.ProtoMajor, got.ProtoMinor, httpDropLengths(got.Header), got.Trailer, string(body)}
	w := conv{want.Status, want.StatusCode, want.Proto, want.ProtoMajor, want.ProtoMinor, httpDropLengths(want.Header), want.Trailer, string(wbody)}
	if len(r.Reason) == 0 {
		g.Status, w.Status = "", ""
	}
	if diff := cmp.Diff(w, g, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("%q: net/http (-) and HTTPResponse (+) disagree:\n%s", data, diff)
	}
}

func checkResponseVsStdlibAs(t fatalT, data []byte, methods ...string) {
	for _, method := range methods {
		got, err := httpFuzzRead(t, data, false, method)
		compareWithStd(t, data, false, method, httpFuzzOpts, got, err)
	}
}

// TestReadMessageVsStdlibExhaustive runs FuzzReadRequest's and
// FuzzReadResponse's properties on every sequence of up to
// -vs-stdlib-depth tokens (requests and responses: one fewer) from
// alphabets of start lines, framing fields, folds, chunks and line ends.
func TestReadMessageVsStdlibExhaustive(t *testing.T) {
	depth := sweepDepth()
	common := []string{
		"Content-Length: 1\r\n", "Content-Length: 0\n", "Transfer-Encoding: chunked\r\n",
		"Trailer: a\r\n", "a: b\r\n", " x\r\n", "\r\n", "\n", "1\r\nz\r\n0\r\n\r\n", "y",
	}
	t.Run("requests", func(t *testing.T) {
		tokens := append([]string{"GET / HTTP/1.1\r\n", "POST /a?b HTTP/1.0\n", "Host: h\r\n"}, common...)
		sweepTokens(t, tokens, depth-1, func(data []byte) { checkRequestVsStdlib(t, data) })
	})
	t.Run("responses", func(t *testing.T) {
		tokens := append([]string{"HTTP/1.1 200 OK\r\n", "HTTP/1.0 204\n", "HTTP/1.1 304 Not Modified\r\n", "HTTP/1.1 100 Continue\r\n"}, common...)
		sweepTokens(t, tokens, depth-1, func(data []byte) {
			checkResponseVsStdlibAs(t, data, "")
			if bytes.HasPrefix(data, []byte("HTTP/1.1 10")) {
				// ReadFinalResponse differs from ReadResponse after an
				// interim response only.
				checkResponseVsStdlibAs(t, data, "final:")
			}
		})
	})
}

// ctSweepTokens are the pieces of the Content-Types TestParseBoundaryVsStdlib
// sweeps: every form of a boundary parameter, duplicates, other
// parameters, quoting, escapes and white space.
var ctSweepTokens = []string{
	";", " ", "\t", "=", `"`, `\`, "boundary=a", "BOUNDARY=", "boundary*=utf-8''c", "boundary*0=a",
	"boundary*1*=", "x=", "a", `"a;b"`, "%41",
}

// ParseBoundary and mime.ParseMediaType never find two different
// boundaries in one Content-Type: where both accept, they agree; where
// only one accepts, the reason is one of the deliberate differences.
func TestParseBoundaryVsStdlib(t *testing.T) {
	sweepTokens(t, ctSweepTokens, 4, func(data []byte) {
		checkBoundaryVsStdlib(t, "multipart/mixed; "+string(data))
	})
}

// boundaryParam matches the name of a boundary parameter, in any form.
var boundaryParam = regexp.MustCompile(`(?i)(^|;)[ \t]*boundary(\*[^=; \t]*)?[ \t]*=`)

// nonTokenName matches a parameter whose name holds a byte outside the
// token characters.
var nonTokenName = regexp.MustCompile("(^|;)[ \\t]*[^\"=; \\t]*[^\"!#$%&'*+.^_`|~0-9A-Za-z=; \\t-][^\";]*=")

// unquotedNonToken matches an unquoted parameter value that holds a byte
// outside the token characters (but no white space or ';', which end it).
var unquotedNonToken = regexp.MustCompile("=[ \\t]*[^\"; \\t]*[^\"!#$%&'*+.^_`|~0-9A-Za-z; \\t-]")

func checkBoundaryVsStdlib(t *testing.T, ct string) {
	t.Helper()
	ours, err := ParseBoundary(ct)
	mt, params, serr := mime.ParseMediaType(ct)
	std, sok := params["boundary"]
	if serr != nil || !strings.HasPrefix(mt, "multipart/") {
		// mime accepts any media type, even one without a '/';
		// a boundary is a multipart one's only.
		sok = false
	}
	switch {
	case err == nil && sok:
		if ours != std {
			t.Fatalf("%q: ParseBoundary finds %q, mime.ParseMediaType %q", ct, ours, std)
		}
	case err == nil:
		// Only ours accepts: an unquoted value with bytes that are
		// not token characters (Google's '='), which mime refuses.
		if !unquotedNonToken.MatchString(ct) {
			t.Fatalf("%q: ParseBoundary finds %q, mime.ParseMediaType refuses (%v)", ct, ours, serr)
		}
	case sok && errors.Is(err, ErrNotMultipart) && !isToken(mt[len("multipart/"):]):
		// Only mime accepts: a subtype that is not a token
		// ("multipart/{"), which mime.ParseMediaType lets through.
	case sok && errors.Is(err, ErrBadBoundary) && (nonTokenName.MatchString(ct) || unquotedNonToken.MatchString(ct)):
		// Only mime accepts: a parameter whose name or unquoted value
		// is not a token ("}=0", "0=}"), which mime.ParseMediaType
		// sometimes lets through; refusing it is the safe side.
	case sok:
		// Only mime accepts: the boundary is given more than once or in
		// an RFC 2231 form, or it is not made of bchars.
		if !errors.Is(err, ErrBadBoundary) {
			t.Fatalf("%q: ParseBoundary: %v, mime.ParseMediaType finds %q", ct, err, std)
		}
		n := len(boundaryParam.FindAllString(ct, -1))
		if n < 2 && !strings.Contains(strings.ToLower(ct), "boundary*") && checkBoundary(std) == nil {
			t.Fatalf("%q: ParseBoundary: %v, mime.ParseMediaType finds %q", ct, err, std)
		}
	}
}

// emptyFieldNameAt reports whether off, the Offset of an error, is the
// first byte of a line of data that starts with a colon: a field line with
// an empty name.
func emptyFieldNameAt(data []byte, off int64) bool {
	if off < 0 || off >= int64(len(data)) {
		return false
	}
	i := int(off)
	return data[i] == ':' && (i == 0 || data[i-1] == '\n')
}

// badFieldNameByteAt reports whether off, the Offset of an error, points
// into the name of a field line of data: at a byte that is no RFC 9110
// tchar (nor CR, which has an error of its own), after tchars only and
// before the line's first colon.
func badFieldNameByteAt(data []byte, off int64) bool {
	if off < 0 || off >= int64(len(data)) {
		return false
	}
	i := int(off)
	start := bytes.LastIndexByte(data[:i], '\n') + 1
	end := len(data)
	if nl := bytes.IndexByte(data[i:], '\n'); nl >= 0 {
		end = i + nl
	}
	const tchars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for _, c := range data[start:i] {
		if strings.IndexByte(tchars, c) < 0 {
			return false
		}
	}
	c := data[i]
	return c != ':' && c != '\r' && strings.IndexByte(tchars, c) < 0 && bytes.IndexByte(data[i:end], ':') > 0
}

// endsInPartHeader reports whether data ends inside the header block of a
// part: after a delimiter line of boundary (with its line end), no empty
// line follows, and no close delimiter came before. Inside a header block
// every line is a field line, whatever it starts with.
func endsInPartHeader(data []byte, boundary string) bool {
	inHeader := false
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			break // a last line without line end
		}
		line := bytes.TrimSuffix(data[:nl], []byte("\r"))
		data = data[nl+1:]
		if inHeader {
			// Every line is a field line up to the empty one.
			inHeader = len(line) > 0
			continue
		}
		if rest, ok := bytes.CutPrefix(line, []byte("--"+boundary)); ok {
			if close, ok := bytes.CutPrefix(rest, []byte("--")); ok && len(bytes.Trim(close, " \t")) == 0 {
				return false // the close delimiter
			}
			inHeader = len(bytes.Trim(rest, " \t")) == 0
		}
	}
	return inHeader
}
