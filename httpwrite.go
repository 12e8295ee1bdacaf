package mixed

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/mixedcodec/mixed/internal/requri"
)

// A MessageWriter writes embedded HTTP/1.1 messages, the bodies of
// application/http parts, in the form strict peers need (Debian's
// python3-googleapi among them): CRLF line ends everywhere, a reason phrase
// on every status line, single-space "Name: value" fields, and the empty
// line after the head even when no body follows.
//
// A MessageWriter never writes what a [MessageReader] with the same options
// would reject: it validates the method (a token), the target (origin-form
// unless [MessageOptions] allows more), the status code (100 to 999), the
// reason phrase and the fields (token names; values free of CR, LF, NUL and
// other control characters) before it writes anything, and reports a
// problem with an error wrapping [ErrBadMethod], [ErrBadTarget],
// [ErrBadTargetForm], [ErrBadStatus] or [ErrBadHeader]; a start line, a
// head or a trailer section over the limits of its [MessageOptions]
// (those of a default MessageReader unless given) with one wrapping
// [ErrStartLineTooLong], [ErrHeaderTooLarge] or [ErrTooManyFields]. It
// frames bodies itself: Content-Length when the length is known, chunked
// otherwise.
//
// WriteRequest and WriteResponse allocate nothing in steady state. The
// zero MessageWriter is ready to use, with the default options; it is not
// safe for concurrent use.
type MessageWriter struct {
	opts MessageOptions
	buf  []byte // the head, or a chunk being framed
	bbuf []byte // body buffer for net/http bodies
}

// NewMessageWriter returns a MessageWriter with the default options, those
// a default [MessageReader] applies: origin-form targets, and its limits.
// A MessageWriter writes to the io.Writer each of its methods is given, so
// it needs nothing else; the zero MessageWriter is the same.
func NewMessageWriter() *MessageWriter {
	return NewMessageWriterOptions(MessageOptions{})
}

// NewMessageWriterOptions is like [NewMessageWriter] with explicit options:
// their target policy, and their limits (MaxStartLineBytes, MaxHeaderBytes
// and MaxHeaderFields, for the head and for a trailer section), which the
// MessageWriter enforces so that a [MessageReader] with the same options
// reads what it writes. A zero field selects its default.
func NewMessageWriterOptions(opts MessageOptions) *MessageWriter {
	return &MessageWriter{opts: opts.withDefaults()}
}

// WriteRequest writes a request with the given method, target and fields,
// and body. A Content-Length field is added when body is not empty and h
// has none; one in h must match len(body), and several be the same bytes
// ([ErrBadContentLength]); h may not hold Transfer-Encoding
// ([ErrFramingConflict]). h may be nil.
func (m *MessageWriter) WriteRequest(w io.Writer, method, target string, h *Header, body []byte) error {
	if !isToken(method) {
		return argErr(ErrBadMethod, "method "+quote(method)+" is not a token")
	}
	if err := checkTarget(method, target, &m.opts, 0); err != nil {
		return unpositioned(err)
	}
	hasCL, err := checkFields(h, len(body))
	if err != nil {
		return err
	}
	return m.writeMessage(w, appendRequestLine(m.buf[:0], method, target), h, body, len(body) > 0 && !hasCL)
}

// writeMessage appends the fields of h (which may be nil), and a
// Content-Length for body when addCL, to the start line in b, checks the
// head against the limits, and writes it with body.
func (m *MessageWriter) writeMessage(w io.Writer, b []byte, h *Header, body []byte, addCL bool) error {
	start := len(b) - 2 // the start line, without its CRLF
	b = appendFields(b, h)
	n := fieldCount(h)
	if addCL {
		b = appendContentLength(b, int64(len(body)))
		n++
	}
	if err := m.checkHead(b, start, n); err != nil {
		return err
	}
	return m.finish(w, b, body)
}

// fieldCount returns the number of fields of h, which may be nil.
func fieldCount(h *Header) int {
	if h == nil {
		return 0
	}
	return len(h.fields)
}

// checkHead checks a head in b, without its final empty line, against the
// limits: start is the length of its start line, n its number of fields.
func (m *MessageWriter) checkHead(b []byte, start, n int) error {
	m.buf = b[:0]
	o := m.opts.withDefaults()
	if start > o.MaxStartLineBytes {
		return argErr(ErrStartLineTooLong, "start line of "+strconv.Itoa(start)+" bytes, over "+strconv.Itoa(o.MaxStartLineBytes))
	}
	return checkHeadLimits(n, o.MaxHeaderFields, len(b)+2, o.MaxHeaderBytes, "message head")
}

// WriteResponse writes a response with the given status code, reason
// phrase (the standard one from [net/http.StatusText] when empty, or
// "Unknown" for codes it does not know), fields and body. Content-Length is
// added when h has none, except for 1xx, 204 and 304 responses, which may
// have no body ([ErrFramingConflict]); one in h must match len(body), and
// several be the same bytes ([ErrBadContentLength]); h may not hold
// Transfer-Encoding. h may be nil.
func (m *MessageWriter) WriteResponse(w io.Writer, statusCode int, reason string, h *Header, body []byte) error {
	reason, err := checkStatus(statusCode, reason)
	if err != nil {
		return err
	}
	noBody := bodyless(statusCode, "")
	if noBody && len(body) > 0 {
		return argErr(ErrFramingConflict, "status "+strconv.Itoa(statusCode)+" cannot have a body")
	}
	hasCL, err := checkFields(h, len(body))
	if err != nil {
		return err
	}
	return m.writeMessage(w, appendStatusLine(m.buf[:0], statusCode, reason), h, body, !noBody && !hasCL)
}

// WriteResponseHead writes the head of a response, its status line,
// fields and the empty line that ends them, and no body: for a body that
// the caller streams after it, or for a response that has none (the answer
// to a HEAD request keeps the Content-Length of the body it describes).
// Unlike WriteResponse it adds no Content-Length: one in h must be a valid
// length (several, the same bytes: [ErrBadContentLength]) and is written
// as it is, and the caller writes that many bytes;
// without one, a response's body runs to the end of its part (RFC 9112
// §6.3). h may not hold Transfer-Encoding. h may be nil.
func (m *MessageWriter) WriteResponseHead(w io.Writer, statusCode int, reason string, h *Header) error {
	reason, err := checkStatus(statusCode, reason)
	if err != nil {
		return err
	}
	if _, err := checkFields(h, -1); err != nil {
		return err
	}
	return m.writeMessage(w, appendStatusLine(m.buf[:0], statusCode, reason), h, nil, false)
}

// finish ends the head in b and writes it with body: in one write when the
// body is small, since each write to a part costs a delimiter check.
func (m *MessageWriter) finish(w io.Writer, b, body []byte) error {
	b = append(b, "\r\n"...)
	if len(body) <= 4<<10 {
		b = append(b, body...)
		body = nil
	}
	m.buf = b
	if err := writeAll(w, b); err != nil {
		return err
	}
	return writeAll(w, body)
}

func writeAll(w io.Writer, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, err := w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	return err
}

func checkStatus(code int, reason string) (string, error) {
	if code < 100 || code > 999 {
		return "", argErr(ErrBadStatus, "status code "+strconv.Itoa(code)+" is not three digits from 100 to 999")
	}
	if reason == "" {
		if reason = http.StatusText(code); reason == "" {
			reason = "Unknown"
		}
	}
	if i := badValueByte(reason); i >= 0 {
		return "", argErr(ErrBadStatus, "control character "+quote(reason[i:i+1])+" in reason phrase")
	}
	return reason, nil
}

// checkFields validates h for writing; it reports whether h has a
// Content-Length, which must equal n, or be any valid length when n < 0.
// Several Content-Length fields must be the same bytes, as a
// MessageReader (and net/http) requires of them: two that differ give a
// peer that reads one of them another message than a peer that reads the
// other.
func checkFields(h *Header, n int) (hasCL bool, err error) {
	if h == nil {
		return false, nil
	}
	var first []byte
	for i, f := range h.fields {
		name, value := h.bytes(f.name), h.bytes(f.value)
		if err := checkField(i, name, value); err != nil {
			return false, err
		}
		// The name is a token (checkField): isContentLength applies.
		switch {
		case isContentLength(name):
			if v, ok := parseContentLength(value); !ok || n >= 0 && v != int64(n) {
				return false, argErr(ErrBadContentLength, "Content-Length "+quote(string(value))+" for a body of "+strconv.Itoa(n)+" bytes")
			}
			if hasCL && string(value) != string(first) {
				return false, argErr(ErrBadContentLength, "Content-Length "+quote(string(value))+" differs from "+quote(string(first)))
			}
			first = value
			hasCL = true
		case isTransferEncoding(name):
			return false, argErr(ErrFramingConflict, "Transfer-Encoding given for a body of known length")
		}
	}
	return hasCL, nil
}

func appendContentLength(b []byte, n int64) []byte {
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, n, 10)
	return append(b, "\r\n"...)
}

// WriteHTTPRequest writes r as an embedded request: an origin-form request
// line with r.URL's path and query only (never its scheme or host, nor
// r.Host), r.Header but its Host, Content-Length, Transfer-Encoding and
// Trailer fields in sorted order, and the body with a Content-Length when
// its length is known or can be found by reading up to 32 KiB of it, else
// chunked, followed by r.Trailer, which may not hold Content-Length,
// Transfer-Encoding or Trailer ([ErrBadHeader], as net/http's
// Request.Write refuses them). A request with a nil URL (a misuse,
// reported by an error that wraps no sentinel) or with an invalid
// method, target or field is an error and nothing is written. The body is
// closed, as [net/http.Request.Write] does.
func (m *MessageWriter) WriteHTTPRequest(w io.Writer, r *http.Request) error {
	if r.Body != nil {
		defer r.Body.Close()
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	if !isToken(method) {
		return argErr(ErrBadMethod, "method "+quote(method)+" is not a token")
	}
	if r.URL == nil {
		return errNoURL
	}
	target := requri.Of(r.URL)
	if err := checkTarget(method, target, &m.opts, 0); err != nil {
		return unpositioned(err)
	}
	b := appendRequestLine(m.buf[:0], method, target)
	m.buf = b
	// Methods that carry a body get "Content-Length: 0" for an empty one,
	// as net/http writes it.
	zeroCL := method == "POST" || method == "PUT" || method == "PATCH"
	return m.writeHTTP(w, &httpMessage{header: r.Header, request: true, body: r.Body, length: r.ContentLength, zeroCL: zeroCL, trailer: r.Trailer})
}

// WriteHTTPResponse writes r as an embedded response: the status line with
// a reason phrase (from r.Status, else the standard one), r.Header but its
// Content-Length, Transfer-Encoding and Trailer fields in sorted order, and
// the body framed as [MessageWriter.WriteHTTPRequest] does. A 1xx, 204 or
// 304 response, or one to a HEAD request (r.Request.Method), is written
// without body. An invalid status, reason or field is an error and nothing
// is written. The body is closed.
func (m *MessageWriter) WriteHTTPResponse(w io.Writer, r *http.Response) error {
	if r.Body != nil {
		defer r.Body.Close()
	}
	code := r.StatusCode
	reason := strings.TrimPrefix(r.Status, strconv.Itoa(code)+" ")
	if reason == r.Status && len(reason) >= 3 && reason[:3] == strconv.Itoa(code) {
		reason = "" // "200" alone
	}
	reason, err := checkStatus(code, reason)
	if err != nil {
		return err
	}
	b := appendStatusLine(m.buf[:0], code, reason)
	m.buf = b
	reqMethod := ""
	if r.Request != nil {
		reqMethod = r.Request.Method
	}
	noBody := bodyless(code, reqMethod)
	return m.writeHTTP(w, &httpMessage{header: r.Header, body: r.Body, length: r.ContentLength, noBody: noBody, zeroCL: true, trailer: r.Trailer})
}

// httpMessage is what writeHTTP writes after the start line in m.buf:
// the fields, the framing and the body of a net/http message.
type httpMessage struct {
	header  http.Header
	request bool // a request: its Host field is not written
	body    io.Reader
	length  int64 // ContentLength: <= 0 for unknown (or empty)
	noBody  bool  // a response that has no body (see bodyless)
	zeroCL  bool  // write "Content-Length: 0" for an empty body
	trailer http.Header
}

// framing is how writeHTTP frames a body, found before anything is
// written.
type framing struct {
	body    io.Reader // the rest of the body after probe, or nil
	probe   []byte    // the body's first bytes, read to find its length
	length  int64
	chunked bool
}

// writeHTTP validates the fields and trailer of msg, appends the fields and
// the framing fields to the start line in m.buf, and writes the head and
// the body.
func (m *MessageWriter) writeHTTP(w io.Writer, msg *httpMessage) error {
	keys, n, err := headerKeys(msg.header, msg.request)
	if err != nil {
		return err
	}
	tkeys, err := m.trailerKeys(msg.trailer)
	if err != nil {
		return err
	}
	f, err := m.frame(msg)
	if err != nil {
		return err
	}
	if err := m.writeHead(w, msg, keys, n, &f); err != nil || msg.noBody {
		return err
	}
	if !f.chunked {
		return m.writeLengthBody(w, &f)
	}
	return m.writeChunkedBody(w, &f, msg.trailer, tkeys)
}

// headerKeys returns the names of hdr to write, sorted, and the number of
// fields they hold, once every field has passed checkField. The framing
// fields are left out (writeHTTP writes its own), and Host for a request.
func headerKeys(hdr http.Header, request bool) ([]string, int, error) {
	keys := make([]string, 0, len(hdr))
	for k := range hdr {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		case "Host":
			if request {
				continue
			}
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	n := 0
	for _, k := range keys {
		for _, v := range hdr[k] {
			if err := checkField(n, k, trimString(v)); err != nil {
				return nil, 0, err
			}
			n++
		}
	}
	return keys, n, nil
}

// trailerKeys returns the names of trailer, sorted, once every field has
// passed checkField and the section is within the head limits. A field
// that decides the framing (Content-Length, Transfer-Encoding, Trailer)
// cannot be a trailer field (RFC 9110 §6.5.1): net/http's Request.Write and
// Response.Write refuse it, and a peer that merges trailer fields into the
// header would frame the message anew.
func (m *MessageWriter) trailerKeys(trailer http.Header) ([]string, error) {
	keys := make([]string, 0, len(trailer))
	n, size := 0, 2
	for k, vs := range trailer {
		switch {
		case strings.EqualFold(k, "Content-Length"), strings.EqualFold(k, "Transfer-Encoding"), strings.EqualFold(k, "Trailer"):
			return nil, argErr(ErrBadHeader, "trailer field "+quote(k)+": a framing field cannot be a trailer field")
		}
		for _, v := range vs {
			v = trimString(v)
			if err := checkField(0, k, v); err != nil {
				return nil, err
			}
			n++
			size += len(k) + len(v) + 4
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	o := m.opts.withDefaults()
	if err := checkHeadLimits(n, o.MaxHeaderFields, size, o.MaxHeaderBytes, "trailer section"); err != nil {
		return nil, err
	}
	return keys, nil
}

// frame finds the framing of msg's body before anything is written: a
// body of unknown length is read up to the buffer's size, and sent with
// a Content-Length when it ends there, chunked otherwise.
func (m *MessageWriter) frame(msg *httpMessage) (framing, error) {
	f := framing{body: msg.body, length: msg.length}
	if f.body == http.NoBody || msg.noBody {
		f.body = nil
	}
	if f.body == nil && f.length > 0 && !msg.noBody {
		return f, argErr(ErrBadContentLength, "ContentLength "+strconv.FormatInt(f.length, 10)+" without a body")
	}
	if m.bbuf == nil {
		m.bbuf = make([]byte, 32<<10)
	}
	if f.body != nil && f.length <= 0 {
		n, err := io.ReadFull(f.body, m.bbuf)
		f.probe = m.bbuf[:n]
		switch err {
		case nil:
			f.chunked = true
		case io.EOF, io.ErrUnexpectedEOF:
			f.length = int64(n)
			f.body = nil
		default:
			return f, err
		}
	}
	return f, nil
}

// writeHead appends the n fields of msg named by keys and the framing
// fields to the start line in m.buf, checks the head against the limits
// and writes it.
func (m *MessageWriter) writeHead(w io.Writer, msg *httpMessage, keys []string, n int, f *framing) error {
	start := len(m.buf) - 2 // the start line, without its CRLF
	b := appendHTTPFields(m.buf, msg.header, keys)
	switch {
	case msg.noBody:
	case f.chunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
		n++
	case f.length > 0 || msg.zeroCL:
		b = appendContentLength(b, max(f.length, 0))
		n++
	}
	if err := m.checkHead(b, start, n); err != nil {
		return err
	}
	b = append(b, "\r\n"...)
	m.buf = b
	return writeAll(w, b)
}

// writeLengthBody writes a body of known length: the probe, then exactly
// f.length bytes in all.
func (m *MessageWriter) writeLengthBody(w io.Writer, f *framing) error {
	if err := writeAll(w, f.probe); err != nil || f.body == nil {
		return err
	}
	n, err := io.CopyBuffer(w, io.LimitReader(f.body, f.length), m.bbuf)
	if err != nil {
		return err
	}
	if n < f.length {
		return argErr(ErrBadContentLength, "body of "+strconv.FormatInt(n, 10)+" bytes, shorter than its ContentLength "+strconv.FormatInt(f.length, 10))
	}
	if k, _ := f.body.Read(m.bbuf[:1]); k > 0 {
		return argErr(ErrBadContentLength, "body longer than its ContentLength "+strconv.FormatInt(f.length, 10))
	}
	return nil
}

// writeChunkedBody writes the probe and the rest of the body as chunks,
// then the last chunk and the trailer fields named by tkeys.
func (m *MessageWriter) writeChunkedBody(w io.Writer, f *framing, trailer http.Header, tkeys []string) error {
	if err := m.writeChunk(w, f.probe); err != nil {
		return err
	}
	for {
		n, err := f.body.Read(m.bbuf)
		if n > 0 {
			if werr := m.writeChunk(w, m.bbuf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	b := append(m.buf[:0], "0\r\n"...)
	b = appendHTTPFields(b, trailer, tkeys)
	b = append(b, "\r\n"...)
	m.buf = b
	return writeAll(w, b)
}

// writeChunk writes c as one chunk of a chunked body.
func (m *MessageWriter) writeChunk(w io.Writer, c []byte) error {
	if len(c) == 0 {
		return nil
	}
	b := strconv.AppendInt(m.buf[:0], int64(len(c)), 16)
	b = append(b, "\r\n"...)
	b = append(b, c...)
	b = append(b, "\r\n"...)
	m.buf = b
	return writeAll(w, b)
}

// appendHTTPFields appends the fields of hdr named by keys, in that order,
// their values trimmed.
func appendHTTPFields(b []byte, hdr http.Header, keys []string) []byte {
	for _, k := range keys {
		for _, v := range hdr[k] {
			b = appendField(b, k, trimString(v))
		}
	}
	return b
}

// trimString trims the white space around a net/http header value, as
// net/http's own Header.Write does.
func trimString(v string) string { return strings.Trim(v, " \t") }
