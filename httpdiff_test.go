package mixed

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The differences between a MessageReader and net/http, restated from the
// package documentation ("Differences from net/http") as predicates on the
// input, for the differential tests (FuzzReadRequest, FuzzReadResponse,
// TestReadMessageVsStdlibExhaustive, TestPropAgreesWithStd): where only one
// side accepts a message, the input must show one of these reasons, so a
// regression that refuses (or accepts) what it should not fails them.

// testHead is a test-side reading of a message head: its lines as written,
// nothing validated.
type testHead struct {
	lead   bool     // the input starts with an empty line
	start  string   // the start line
	fields []string // the field lines
	ended  bool     // an empty line, with its LF, ends the head
}

func splitTestHead(data []byte) testHead {
	var h testHead
	h.lead = len(data) > 0 && (data[0] == '\n' || data[0] == '\r')
	for i := 0; len(data) > 0; i++ {
		line, rest, found := bytes.Cut(data, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		data = rest
		switch {
		case i == 0:
			h.start = string(line)
		case len(line) == 0 && found:
			h.ended = true
			return h
		default:
			h.fields = append(h.fields, string(line))
		}
	}
	return h
}

// values returns the values of the fields named name, trimmed, for the
// lines of the form "name:value" (any case; no white space before the
// colon).
func (h testHead) values(name string) []string {
	var out []string
	for _, f := range h.fields {
		if n, v, ok := strings.Cut(f, ":"); ok && strings.EqualFold(n, name) {
			out = append(out, strings.Trim(v, " \t"))
		}
	}
	return out
}

// folded reports a field line that starts with white space: obsolete line
// folding, which net/http unfolds.
func (h testHead) folded() bool {
	for _, f := range h.fields {
		if f[0] == ' ' || f[0] == '\t' {
			return true
		}
	}
	return false
}

func (h testHead) http10() bool {
	return strings.HasSuffix(h.start, " HTTP/1.0") || strings.HasPrefix(h.start, "HTTP/1.0 ")
}

// blankOnly reports whether rest is made of line ends only (CRLF or LF):
// what may follow a message in a part.
func blankOnly(rest []byte) bool {
	rest = bytes.ReplaceAll(rest, []byte("\r\n"), nil)
	return len(bytes.Trim(rest, "\n")) == 0
}

// stdRead reads data with net/http as a request, or as a response to
// method, body included, and returns what it read, its error, and the
// bytes it left unread. With the prefix "final:" on method, it skips
// interim responses as net/http's Transport does.
func stdRead(data []byte, request bool, method string) (req *http.Request, resp *http.Response, body []byte, rest []byte, err error) {
	br := bufio.NewReader(bytes.NewReader(data))
	if request {
		req, err = http.ReadRequest(br)
		if err == nil {
			body, err = io.ReadAll(req.Body)
		}
	} else {
		var r *http.Request
		final, skip := strings.CutPrefix(method, "final:")
		if final != "" {
			r = &http.Request{Method: final}
		}
		for n := 0; ; n++ {
			resp, err = http.ReadResponse(br, r)
			// net/http's Transport reads on after an interim response
			// but 101, up to 5 of them.
			if !skip || err != nil || resp.StatusCode < 100 || resp.StatusCode > 199 || resp.StatusCode == 101 {
				break
			}
			if n == 5 {
				err = errors.New("too many 1xx responses")
				break
			}
		}
		if err == nil {
			body, err = io.ReadAll(resp.Body)
		}
	}
	rest, _ = io.ReadAll(br)
	return req, resp, body, rest, err
}

// stdAcceptsDeliberately reports whether our error err, for an input
// net/http accepted (leaving rest unread), is one of the documented
// differences: where this package is stricter.
func stdAcceptsDeliberately(data []byte, err error, opts MessageOptions, proto string, target, rest []byte) bool {
	h := splitTestHead(data)
	o := opts.withDefaults()
	te := h.values("Transfer-Encoding")
	switch {
	case errors.Is(err, ErrStartLineTooLong):
		// Our limits (net/http's are 1 MiB for the head, no field count).
		return len(h.start) > o.MaxStartLineBytes
	case errors.Is(err, ErrHeaderTooLarge):
		return len(data) > o.MaxHeaderBytes
	case errors.Is(err, ErrTooManyFields):
		// Or more names declared in the Trailer field of a chunked
		// message.
		return len(h.fields) > o.MaxHeaderFields || bytes.Count(data, []byte("\n")) > o.MaxHeaderFields ||
			len(te) > 0 && declaredNames(h.values("Trailer")) > o.MaxHeaderFields
	case errors.Is(err, ErrSyntax):
		// Obsolete line folding, which net/http unfolds (in the head
		// or in a trailer section); white space in a field name or
		// between it and its colon, which net/http takes for part of
		// the name (in the head or in a trailer section).
		return h.folded() || foldInTrailer(data, h) || spaceBeforeColon.Match(data)
	case errors.Is(err, ErrBadContentLength):
		// A Content-Length of more than 19 digits (leading zeros),
		// which net/http reads.
		for _, v := range h.values("Content-Length") {
			if len(v) > 19 {
				return true
			}
		}
		return false
	case errors.Is(err, ErrBadStatus):
		// A status code that is not three digits from 100, a reason
		// phrase with a control character.
		return !validStatusLine.MatchString(h.start)
	case errors.Is(err, ErrFramingConflict):
		// Content-Length with Transfer-Encoding (net/http drops the
		// Content-Length), Transfer-Encoding in HTTP/1.0 (net/http
		// ignores it).
		return len(te) > 0 && (len(h.values("Content-Length")) > 0 || h.http10())
	case errors.Is(err, ErrBadTransferEncoding):
		// Several Transfer-Encoding fields, in an HTTP/1.0 message or a
		// response without body, which net/http ignores.
		return len(te) > 1 || len(te) == 1 && !strings.EqualFold(te[0], "chunked")
	case errors.Is(err, ErrDataAfterBody):
		// net/http reads one message and leaves the rest.
		return !blankOnly(rest)
	case errors.Is(err, ErrBadVersion):
		// Only HTTP/1.0 and HTTP/1.1, in the final message or in an
		// interim response before it.
		return proto != "HTTP/1.0" && proto != "HTTP/1.1" || otherVersion.Match(data)
	case errors.Is(err, ErrBadTargetForm):
		// "*" is for OPTIONS only.
		return string(target) == "*"
	case errors.Is(err, ErrBadTarget):
		// An empty target, which net/http takes for CONNECT's empty
		// authority; a '%' not followed by two hex digits, which
		// net/http leaves alone in an opaque URL ("https:%0X").
		return len(target) == 0 || badPercent.Match(target)
	case errors.Is(err, ErrBadChunk):
		// A chunk line that ends with a bare LF, which net/http read
		// before Go 1.24.2 (CVE-2025-22871), and go.mod allows Go
		// 1.24.0.
		var se *SyntaxError
		return stdReadsBareLFChunkLines && errors.As(err, &se) && se.Reason == "chunk-size line ends with a bare LF"
	}
	return false
}

// stdReadsBareLFChunkLines is whether this Go's net/http reads a chunked
// body whose chunk-size line ends with a bare LF, as it did before Go
// 1.24.2 and 1.23.8 (CVE-2025-22871).
var stdReadsBareLFChunkLines = func() bool {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\na\r\n0\r\n\r\n")))
	if err != nil {
		return false
	}
	body, err := io.ReadAll(req.Body)
	return err == nil && string(body) == "a"
}()

// declaredNames counts the names a Trailer field's values declare: the
// non-empty elements of their comma-separated lists.
func declaredNames(vv []string) int {
	n := 0
	for _, v := range vv {
		for e := range strings.SplitSeq(v, ",") {
			if strings.Trim(e, " \t") != "" {
				n++
			}
		}
	}
	return n
}

var (
	otherVersion     = regexp.MustCompile(`(?m)^HTTP/([02-9]|1\.[2-9])`)
	badPercent       = regexp.MustCompile(`%([^0-9A-Fa-f]|.[^0-9A-Fa-f]|.?$)`)
	spaceBeforeColon = regexp.MustCompile("(?m)^[^ \t:\r\n][^:\r\n]*[ \t][^:\r\n]*:")
	validStatusLine  = regexp.MustCompile(`^HTTP/1\.[01] [1-9][0-9][0-9]( [^\x00-\x08\x0a-\x1f\x7f]*)?$`)
)

// oursAcceptsDeliberately reports whether an input we accepted and
// net/http refused shows one of the documented differences: where this
// package is more lenient.
func oursAcceptsDeliberately(data []byte, request bool) bool {
	h := splitTestHead(data)
	switch {
	case h.lead:
		// Empty lines before the start line.
		return true
	case !h.ended:
		// A head that ends with the input.
		return true
	case request && strings.Count(h.start, " ") < 2:
		// A request line without HTTP-version.
		return true
	case lfInTrailer(data, h):
		// A trailer section with bare-LF line ends, accepted as in
		// heads; net/http wants CRLF there.
		return true
	case chunkExtAfterSpace.Match(data):
		// White space before a chunk extension (RFC 9112 §7.1.1 allows
		// it), which net/http takes for part of the chunk size.
		return true
	case request && len(h.values("Host")) > 1:
		// Several Host fields: net/http refuses them, for its server's
		// sake; the Host of a call is the batch's.
		return true
	case request:
		// A target relative to a service root (OData's Customers('A')),
		// or an absolute-form one: checked as bytes here (and parsed by
		// Request.HTTPRequest), which net/http's URL parser may refuse.
		_, target, _ := strings.Cut(h.start, " ")
		target, _, _ = strings.Cut(target, " ")
		return target != "" && target[0] != '/' && target != "*"
	}
	return false
}

// foldInTrailer reports a chunked message whose trailer section (after
// its last-chunk line, see trailerSection) has a line that starts with white space.
func foldInTrailer(data []byte, h testHead) bool {
	if te := h.values("Transfer-Encoding"); len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
		return false
	}
	tr, ok := trailerSection(data)
	return ok && foldedLine.Match(tr)
}

var (
	foldedLine         = regexp.MustCompile("(?m)^[ \t]")
	chunkExtAfterSpace = regexp.MustCompile("\n[0-9A-Fa-f]+[ \t]+;")
	lastChunk          = regexp.MustCompile("\n0+[ \t]*(;[^\n]*)?\r\n")
)

// lfInTrailer reports a chunked message whose trailer section (after its
// last-chunk line, see trailerSection) has a bare LF.
func lfInTrailer(data []byte, h testHead) bool {
	if te := h.values("Transfer-Encoding"); len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
		return false
	}
	tr, ok := trailerSection(data)
	return ok && bytes.Count(tr, []byte("\n")) > bytes.Count(tr, []byte("\r\n"))
}

// trailerSection returns what follows the last last-chunk line of data:
// "0", or any run of zeros, then optional white space and chunk
// extensions, then CRLF.
func trailerSection(data []byte) ([]byte, bool) {
	all := lastChunk.FindAllIndex(data, -1)
	if len(all) == 0 {
		return nil, false
	}
	return data[all[len(all)-1][1]:], true
}

// compareWithStd checks what we read from data (got, err, with opts; a
// response answering method) against net/http: where both accept, the
// same method, target, status, fields and body; where only one does, a
// documented difference.
func compareWithStd(t interface{ Fatalf(string, ...any) }, data []byte, request bool, method string, opts MessageOptions, got testMsg, err error) {
	req, resp, sb, rest, serr := stdRead(data, request, method)
	switch {
	case err != nil && serr != nil:
		return
	case err != nil:
		proto, target := "", []byte(nil)
		if request {
			proto, target = req.Proto, []byte(req.RequestURI)
		} else {
			proto = resp.Proto
		}
		if strings.HasPrefix(method, "final:") && errors.Is(err, ErrBadStatus) && resp.StatusCode == http.StatusSwitchingProtocols {
			// net/http returns a 101 as final; in a part it cannot
			// be, and ReadFinalResponse refuses it.
			return
		}
		if !slices.ContainsFunc(responsesToFinal(data, method), func(m []byte) bool { return stdAcceptsDeliberately(m, err, opts, proto, target, rest) }) {
			t.Fatalf("%q (method %q): net/http accepts what we refuse with %v", data, method, err)
		}
		return
	case serr != nil:
		if !slices.ContainsFunc(responsesToFinal(data, method), func(m []byte) bool { return oursAcceptsDeliberately(m, request) }) {
			t.Fatalf("%q (method %q): we accept what net/http refuses with %v; we read %+v", data, method, serr, got)
		}
		return
	}
	var want, gotc testMsg
	var header http.Header
	if request {
		want = testMsg{Method: req.Method, Target: req.RequestURI, Body: string(sb)}
		gotc = testMsg{Method: got.Method, Target: got.Target, Body: got.Body}
		if got.ContentLength < 0 && !got.Chunked {
			// Without framing net/http reads no body and leaves the
			// rest for a next request; we read the rest of the part.
			want.Body = string(rest)
		}
		header = req.Header
	} else {
		want = testMsg{Status: resp.StatusCode, Body: string(sb)}
		gotc = testMsg{Status: got.Status, Body: got.Body}
		header = resp.Header
	}
	if diff := cmp.Diff(want, gotc); diff != "" {
		t.Fatalf("%q (method %q): net/http (-) and we (+) disagree:\n%s", data, method, diff)
	}
	if diff := cmp.Diff(httpDropFraming(header), httpDropFraming(httpCanonFields(got.Header))); diff != "" {
		t.Fatalf("%q (method %q): net/http (-) and we (+) disagree on fields:\n%s", data, method, diff)
	}
}

// responsesToFinal returns data, and, when method asks for the final
// response, data from the start of each response past the interim (1xx
// but 101) ones, the final one last: a documented difference may lie in
// any of them, not only in the first or the final one (an interim
// response between them with a control character in its reason phrase,
// which net/http skips unread, was taken for a disagreement).
func responsesToFinal(data []byte, method string) [][]byte {
	out := [][]byte{data}
	if !strings.HasPrefix(method, "final:") {
		return out
	}
	for {
		h := splitTestHead(data)
		if h.lead || !h.ended || !interimLine.MatchString(h.start) {
			return out
		}
		// Past the empty line that ends the head; blank lines after it
		// are empty lines before the next start line.
		end := bytes.Index(data, []byte("\n\n"))
		if i := bytes.Index(data, []byte("\n\r\n")); i >= 0 && (end < 0 || i < end) {
			end = i + 1
		}
		data = data[end+2:]
		out = append(out, data)
	}
}

var interimLine = regexp.MustCompile(`^HTTP/1\.[01] 1(0[02-9]|[1-9][0-9])( |$)`)

// fatalRecorder records a Fatalf instead of ending the test.
type fatalRecorder struct{ failed bool }

func (f *fatalRecorder) Fatalf(string, ...any) { f.failed = true }

// The differential tests fail on a regression that refuses valid messages
// or accepts invalid ones: no allow-list entry covers an error on a
// message net/http reads, or acceptance of one that it refuses for
// another reason than a documented difference.
func TestCompareWithStdCatchesRegressions(t *testing.T) {
	opts := MessageOptions{}
	for _, tc := range []struct {
		data    string
		request bool
		err     error
	}{
		{"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true, ErrSyntax},
		{"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", true, ErrDataAfterBody},
		{"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab", true, ErrBadContentLength},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n", true, ErrBadChunk},
		{"GET / HTTP/1.1\r\n\r\n", true, ErrBadTargetForm},
		{"GET / HTTP/1.1\r\n\r\n", true, ErrBadVersion},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, ErrBadStatus},
		{"HTTP/1.1 204 No Content\r\n\r\n\r\n", false, ErrDataAfterBody},
		{"HTTP/1.1 200 OK\r\n\r\n", false, ErrHeaderTooLarge},
		{"HTTP/1.1 200 OK\r\n\r\n", false, ErrFramingConflict},
	} {
		var rec fatalRecorder
		compareWithStd(&rec, []byte(tc.data), tc.request, "", opts, testMsg{}, syntaxErr(0, tc.err, "regression"))
		if !rec.failed {
			t.Errorf("%q refused with %v: not reported", tc.data, tc.err)
		}
	}
	// Accepting what net/http refuses for no documented reason.
	for _, data := range []string{
		"GET / HTTP/1.1\r\nContent-Length: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	} {
		var rec fatalRecorder
		compareWithStd(&rec, []byte(data), strings.HasPrefix(data, "GET"), "", opts, testMsg{}, nil)
		if !rec.failed {
			t.Errorf("%q accepted: not reported", data)
		}
	}
}

// httpCanonFields returns our fields as net/http groups them: canonicalized
// names, values in order.
func httpCanonFields(fs [][2]string) http.Header {
	h := http.Header{}
	for _, f := range fs {
		k := textproto.CanonicalMIMEHeaderKey(f[0])
		h[k] = append(h[k], f[1])
	}
	return h
}

// httpDropFraming removes the fields net/http moves out of its Header.
func httpDropFraming(h http.Header) http.Header {
	out := http.Header{}
	_, chunked := h["Transfer-Encoding"]
	for k, v := range h {
		// net/http moves the Trailer field of a chunked message (even a
		// 1xx one, which has no body) out of Header, into Trailer's keys.
		if k != "Transfer-Encoding" && k != "Content-Length" && k != "Host" && !(chunked && k == "Trailer") {
			out[k] = v
		}
	}
	return out
}
