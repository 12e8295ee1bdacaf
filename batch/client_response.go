package batch

// The client's answers: turning a response part into the *http.Response a
// call gets, with its body in memory. mixed.Response.HTTPResponse does the
// same with a dozen allocations for a small response, and a body that
// streams from the part; a call's answer is read whole at once, so it is
// built here with five: the Response (with its body reader and value
// lists), one string for every name and value of its head, the Header map
// (two) and the body.

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"

	"github.com/mixedcodec/mixed"
)

// A respReader reads the response parts of a batch response, one after
// another, reusing its parser and scratch memory (and, through bufPool,
// for the next batch responses too).
type respReader struct {
	mr      mixed.MessageReader
	scratch []byte
	nested  *mixed.Reader // reads a changeset's parts (see nestedReader)
	// jsonHead holds the header fields of a JSON response object while
	// jsonResponse reads them (within the head limits of a part's).
	jsonHead mixed.Header
}

// answerAlloc is what one call's answer allocates at once.
type answerAlloc struct {
	resp http.Response
	body memBody
	vals [4]string // the value lists of a typical head
}

// response reads the final response of part p, answering req, into a new
// *http.Response whose body is in memory, and returns that body too: at
// most max bytes, decoded as decodeContent does. The names of its Header are canonicalized as
// net/http does, its values are as they came. As net/http's client gives
// them, the Trailer field of a chunked response is not in Header but in
// Trailer, as the names it declares with nil values, and Trailer holds
// the trailer fields sent, declared or not. Its ContentLength is the
// length of that body, but for an answer to HEAD, which has none: the
// Content-Length it announces, or -1, as net/http gives it. Nothing of it
// refers to the part or to rr.
func (rr *respReader) response(p io.Reader, req *http.Request, max int64) (*http.Response, []byte, error) {
	method := http.MethodPost // a changeset's failure answers no request of ours
	if req != nil {
		method = req.Method
	}
	rr.mr.Reset(p)
	m, err := rr.mr.ReadFinalResponse(method)
	if err != nil {
		return nil, nil, fmt.Errorf("response part: %w", err)
	}
	a := new(answerAlloc)
	resp := &a.resp
	resp.Status = statusText(m.StatusCode, m.Reason)
	resp.StatusCode = m.StatusCode
	resp.Proto = protoText(m.ProtoMajor, m.ProtoMinor)
	resp.ProtoMajor, resp.ProtoMinor = m.ProtoMajor, m.ProtoMinor
	resp.Header = rr.header(&m.Header, a.vals[:0])
	resp.Request = req
	if m.Chunked || chunkedField(resp.Header["Transfer-Encoding"]) {
		// Also a chunked response without a body (1xx, 204, 304,
		// HEAD's), as net/http's client reads it.
		resp.TransferEncoding = []string{"chunked"}
		resp.Trailer = declaredTrailer(resp.Header)
	}
	b, err := rr.body(m, max)
	if err != nil {
		return nil, nil, fmt.Errorf("response body: %w", err)
	}
	if m.Trailer.Len() > 0 {
		// The fields sent, declared or not, over the names declared,
		// as net/http merges them at the end of the body.
		sent := rr.header(&m.Trailer, nil)
		if resp.Trailer == nil {
			resp.Trailer = sent
		} else {
			maps.Copy(resp.Trailer, sent)
		}
	}
	if b, err = decodeContent(resp, req, b, max); err != nil {
		return nil, nil, fmt.Errorf("response body: %w", err)
	}
	a.body.Reset(b)
	resp.Body, resp.ContentLength = &a.body, int64(len(b))
	if method == http.MethodHead {
		// The length a GET would have had, as net/http's client gives
		// it (what a batch of HEADs asks for): the Content-Length
		// field, which the MessageReader checked, or -1.
		resp.ContentLength = -1
		if vv := resp.Header["Content-Length"]; len(vv) > 0 {
			if n, err := strconv.ParseInt(vv[0], 10, 64); err == nil {
				resp.ContentLength = n
			}
		}
	}
	return resp, b, nil
}

// body reads the body of m, at most max bytes. It grows its buffer with
// what arrives: a Content-Length is the server's word, not bytes it sent
// (a HEAD answer announces a body it has not, a hostile part announces
// MaxResponseBytes in a few bytes), so it sizes the buffer only up to
// initialBodyBuffer.
func (rr *respReader) body(m *mixed.Response, max int64) ([]byte, error) {
	if m.ContentLength == 0 {
		return nil, nil
	}
	hint := m.ContentLength
	if hint < 0 || hint > max {
		hint = 512
	}
	b := make([]byte, 0, min(hint, initialBodyBuffer))
	for {
		c, err := m.Body.ReadChunk()
		if int64(len(b))+int64(len(c)) > max {
			return nil, fmt.Errorf("%w: over %d bytes", ErrResponseTooLarge, max)
		}
		b = append(b, c...)
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// header converts h to an http.Header: names canonicalized as
// http.CanonicalHeaderKey does, values as they are, all of them
// substrings of one string; vals backs the value lists when it has room.
// The fields of a typical head (up to smallHead of them) are asked of h
// once, and a name is looked for among the names before it rather than in
// the map: a call's answer is built by every call, and those two were
// about a third of the work.
func (rr *respReader) header(h *mixed.Header, vals []string) http.Header {
	n := h.Len()
	var lens [2 * smallHead]int
	buf := rr.scratch[:0]
	for i := range n {
		name, value := h.Field(i)
		buf = append(buf, name...)
		canonicalKey(buf[len(buf)-len(name):], name)
		buf = append(buf, value...)
		if i < smallHead {
			lens[2*i], lens[2*i+1] = len(name), len(value)
		}
	}
	rr.scratch = buf
	s := string(buf)
	out := make(http.Header, n)
	if cap(vals) < n {
		vals = make([]string, n)
	}
	vals = vals[:n]
	var keys [smallHead]string
	off := 0
	for i := range n {
		nl, vl := 0, 0
		if i < smallHead {
			nl, vl = lens[2*i], lens[2*i+1]
		} else {
			name, value := h.Field(i)
			nl, vl = len(name), len(value)
		}
		k := s[off : off+nl]
		off += nl
		vals[i] = s[off : off+vl]
		off += vl
		seen := false
		if n <= smallHead {
			keys[i] = k
			for _, prev := range keys[:i] {
				if prev == k {
					seen = true
					break
				}
			}
		} else {
			_, seen = out[k]
		}
		if seen {
			out[k] = append(out[k], vals[i])
		} else {
			out[k] = vals[i : i+1 : i+1]
		}
	}
	return out
}

// smallHead is how many fields a head has for respReader.header to take
// it as a typical one.
const smallHead = 8

// chunkedField reports whether vv, the values of a response's
// Transfer-Encoding field, make it chunked for net/http: one value,
// "chunked" in any case. (A MessageReader refuses any other
// Transfer-Encoding, and one in an HTTP/1.0 message, which net/http
// ignores.)
func chunkedField(vv []string) bool {
	return len(vv) == 1 && strings.EqualFold(vv[0], "chunked")
}

// declaredTrailer moves the Trailer field of a chunked response out of h
// and returns the names it declares, canonicalized, each with a nil
// value, or nil when it declares none: what net/http's fixTrailer makes
// of it. Its size is bounded by the MessageReader, which refuses a
// chunked message whose Trailer field declares more names than
// MaxHeaderFields, or a framing field (which net/http refuses too).
func declaredTrailer(h http.Header) http.Header {
	vv, ok := h["Trailer"]
	if !ok {
		return nil
	}
	delete(h, "Trailer")
	var t http.Header
	for _, v := range vv {
		for e := range strings.SplitSeq(v, ",") {
			if e = strings.Trim(e, " \t"); e == "" {
				continue
			}
			if t == nil {
				t = make(http.Header)
			}
			t[http.CanonicalHeaderKey(e)] = nil
		}
	}
	return t
}

// canonicalKey canonicalizes the field name b in place, as
// http.CanonicalHeaderKey does: the first letter and any letter after a
// hyphen upper case, the others lower case; a name with a byte that is not
// a token byte stays as it is, as orig (b's bytes before the call) has it.
// One pass: the bytes are checked as they are changed, and put back when
// the name turns out not to be a token. One table look-up a byte both
// checks and changes it: the client does it for every field of every
// answer.
func canonicalKey(b, orig []byte) {
	t := &canonUpper
	for i, c := range b {
		d := t[c]
		if d == 0 {
			copy(b[:i], orig[:i])
			return
		}
		b[i] = d
		t = &canonLower
		if d == '-' {
			t = &canonUpper
		}
	}
}

// canonUpper and canonLower map a token byte of a field name to what
// canonicalKey makes of it at the start of a word (a letter upper case)
// and inside one (lower case); a byte that is not a token byte maps to 0,
// itself none.
var canonUpper, canonLower = func() (up, low [256]byte) {
	for c := range 256 {
		if !tokenByte(byte(c)) {
			continue
		}
		up[c], low[c] = byte(c), byte(c)
		if 'a' <= c && c <= 'z' {
			up[c] = byte(c) - ('a' - 'A')
		}
		if 'A' <= c && c <= 'Z' {
			low[c] = byte(c) + ('a' - 'A')
		}
	}
	return up, low
}()

// tokenByte reports whether c may appear in a field name for net/http
// (textproto's validHeaderFieldByte): an RFC 9110 tchar.
func tokenByte(c byte) bool {
	const mask = 0 |
		(1<<(10)-1)<<'0' |
		(1<<(26)-1)<<'a' |
		(1<<(26)-1)<<'A' |
		1<<'!' | 1<<'#' | 1<<'$' | 1<<'%' | 1<<'&' | 1<<'\'' | 1<<'*' | 1<<'+' |
		1<<'-' | 1<<'.' | 1<<'^' | 1<<'_' | 1<<'`' | 1<<'|' | 1<<'~'
	return ((uint64(1)<<c)&(mask&(1<<64-1)) |
		(uint64(1)<<(c-64))&(mask>>64)) != 0
}

// statusLines are the Status texts of the codes net/http names, each with
// its standard reason phrase: "200 OK".
var statusLines = func() (t [600]string) {
	for code := range t {
		if text := http.StatusText(code); text != "" {
			t[code] = strconv.Itoa(code) + " " + text
		}
	}
	return t
}()

// statusText is an http.Response's Status for a status line with code and
// reason: the code and the reason, or the code and the standard reason
// when the line had none, or the code alone when there is no standard one.
func statusText(code int, reason []byte) string {
	if code >= 0 && code < len(statusLines) && statusLines[code] != "" {
		line := statusLines[code]
		if len(reason) == 0 || string(reason) == line[4:] {
			return line
		}
	}
	if len(reason) == 0 {
		return strconv.Itoa(code)
	}
	return strconv.Itoa(code) + " " + string(reason)
}

// protoText is an http.Response's Proto for HTTP/major.minor.
func protoText(major, minor int) string {
	switch {
	case major == 1 && minor == 1:
		return "HTTP/1.1"
	case major == 1 && minor == 0:
		return "HTTP/1.0"
	}
	return "HTTP/" + strconv.Itoa(major) + "." + strconv.Itoa(minor)
}
