package mixed

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/bits"
	"net/http"
	"strconv"
)

// A MessageReader reads the HTTP/1.1 message embedded in a part of a batch
// (Content-Type: application/http), or in any [io.Reader] that holds
// exactly one message: a request with [MessageReader.ReadRequest] or a
// response with [MessageReader.ReadResponse].
//
// The head is parsed with the rules of RFC 9112, lenient where real batch
// peers need it and strict where two parsers could disagree:
//
//   - Accepted: a request line without HTTP-version (read as HTTP/1.1), a
//     status line without reason phrase, LF-only line ends, empty lines
//     before the start line, a head that ends with the input instead of an
//     empty line (then the body is empty), blank lines after a
//     Content-Length or chunked body.
//   - Rejected, each with its own error wrapped in a [*SyntaxError] that
//     gives the offset from the first byte of the message: a method that
//     is not a token ([ErrBadMethod]); a bad or disallowed target
//     ([ErrBadTarget], [ErrBadTargetForm]); a version other than HTTP/1.0 or
//     HTTP/1.1 ([ErrBadVersion]); a status code that is not three digits
//     from 100 to 999 ([ErrBadStatus]); a bare CR, a control character, a
//     field line without colon, whitespace between a field name and its
//     colon, obsolete line folding ([ErrSyntax]); the limits of
//     [MessageOptions] ([ErrStartLineTooLong], [ErrHeaderTooLarge],
//     [ErrTooManyFields], which also refuses a chunked message whose
//     Trailer field declares more names than MaxHeaderFields, more than its
//     trailer section may hold; net/http takes any number); Content-Length with Transfer-Encoding,
//     Transfer-Encoding in an HTTP/1.0 message, or a chunked message whose
//     Trailer field names Content-Length, Transfer-Encoding or Trailer,
//     as net/http refuses it ([ErrFramingConflict]); a
//     malformed or disagreeing Content-Length ([ErrBadContentLength]); a
//     Transfer-Encoding other than chunked ([ErrBadTransferEncoding]); a
//     malformed chunked body ([ErrBadChunk]); anything but blank lines
//     after the message ([ErrDataAfterBody]): after its body, found when
//     the body has been read to its end, or after the head of a message
//     without body (Content-Length: 0, a 1xx, 204 or 304 response, a
//     response to HEAD), found by ReadRequest or ReadResponse themselves.
//
// The body is framed by Content-Length, or by chunked transfer coding, or
// else is the rest of the input, for requests too: the input holds one
// message, and nothing in it is ever read as a second one. It streams:
// the library never holds more of it than one read of the input.
//
// Reading from a [*Part] (or any source with a ReadChunk method like
// Part's), a MessageReader copies only the head into its own buffer and
// serves the body as views of the part's buffer, so that
// [MessageBody.ReadChunk] and [MessageBody.WriteTo] copy nothing.
//
// What a MessageReader keeps between messages is bounded by its limits
// (about twice MaxHeaderBytes for the head and for a trailer section, and a
// read buffer of 32 KiB for sources without ReadChunk), whatever the size
// of the chunks its source hands out.
//
// A MessageReader reset for every message allocates nothing in steady
// state. The zero MessageReader is ready to use after Reset, with the
// default options; before, its Read methods return an error.
//
// Reading from a *Part, the MessageReader belongs to that part: once its
// Reader has moved to the next part (or been Reset), every read of the
// message, its body included, fails with an error wrapping
// [http.ErrBodyReadAfterClose], rather than return the next part's bytes.
type MessageReader struct {
	opts      MessageOptions
	defaulted bool // opts holds the defaults for its zero fields

	// lease is shared by the body adapters (httpBody) made from the
	// current message, which other goroutines may own; nil while none
	// was made, so that a Reset costs no lock then.
	lease *bodyLease

	// tmpl is a Request carrying tmplCtx, copied by Request.HTTPRequest.
	tmpl    *http.Request
	tmplCtx context.Context

	src   io.Reader
	part  partRef     // src, when it is a *Part
	cr    chunkReader // src, when it has ReadChunk
	rbuf  []byte      // read buffer for other sources
	keep  int         // rbuf[:keep] holds the head, which reads must not overwrite
	rest  []byte      // unread bytes of the last chunk
	rerr  error       // error from src, once its data are used up
	off   int64       // stream offset just past the bytes handed out
	state int         // what to read next: msgHead, ...
	err   error       // sticky

	head       []byte      // the head, when copied (see readHead); Header views point into it, or into rbuf
	headOff    int64       // stream offset of head[0]
	slen       int         // length of the start line parsed last
	fr         framingScan // the framing fields of the head parsed last
	lineBuf    []byte      // a line split across chunks
	trailerBuf []byte      // the trailer section
	req        Request
	resp       Response
	body       MessageBody
	trailer    *Header // where the trailer of the current message goes
	remain     int64   // bytes left in a Content-Length body or in a chunk
}

// NewMessageReader returns a MessageReader that reads one message from src
// with the default options.
func NewMessageReader(src io.Reader) *MessageReader {
	return NewMessageReaderOptions(src, MessageOptions{})
}

// NewMessageReaderOptions returns a MessageReader that reads one message
// from src with the given options.
func NewMessageReaderOptions(src io.Reader, opts MessageOptions) *MessageReader {
	m := &MessageReader{opts: opts}
	m.Reset(src)
	return m
}

// Reset discards the MessageReader's state and makes it read a message
// from src, keeping its options and reusing its buffers. Views handed out
// before are no longer valid, and the bodies of the *http.Request and
// *http.Response values made from its last message fail from then on
// (see [Request.HTTPRequest]); Reset waits for a Read of such a body in
// progress on another goroutine.
func (m *MessageReader) Reset(src io.Reader) {
	if l := m.lease; l != nil {
		// Waits for a Read in progress.
		l.mu.Lock()
		l.gone = true
		l.mu.Unlock()
		m.lease = nil
	}
	if !m.defaulted {
		// Once: the options never change after.
		m.opts, m.defaulted = m.opts.withDefaults(), true
	}
	m.src = src
	m.part = refOf(src)
	if m.part.p != nil {
		m.cr = m.part.p // spares the assertion to an interface type
	} else {
		m.cr, _ = src.(chunkReader)
	}
	m.rest, m.rerr, m.off, m.keep = nil, nil, 0, 0
	m.state, m.err = msgHead, nil
	m.head = m.head[:0]
	m.req.Header.Reset()
	m.req.Trailer.Reset()
	m.resp.Header.Reset()
	m.resp.Trailer.Reset()
	m.body.m = m
}

// ReadRequest reads the head of the request. Its body is then read through
// Request.Body. The Request and its views are valid until the next call to
// Reset or to a Read method of m; a second ReadRequest or ReadResponse
// without a Reset returns [io.EOF], since a source holds one message.
func (m *MessageReader) ReadRequest() (*Request, error) {
	if m.src == nil {
		return nil, errZeroMessageReader
	}
	r := &m.req
	// Field by field, keeping the Headers' memory: assigning a whole
	// Request costs a copy of it and a bulk write barrier per message.
	r.Method, r.Target = nil, nil
	r.ProtoMajor, r.ProtoMinor, r.form = 0, 0, 0
	r.ContentLength, r.Chunked = 0, false
	r.Body = &m.body
	r.Trailer.Reset()
	m.trailer = &r.Trailer
	if err := m.readHead(true); err != nil {
		return nil, err
	}
	if m.lengthFraming(false) {
		r.ContentLength = m.remain
		if m.remain > 0 {
			return r, nil // a body: endBodyless has nothing to check
		}
	} else {
		cl, err := m.framing(&r.Header, r.ProtoMinor == 0, false)
		if err != nil {
			m.err = err
			return nil, err
		}
		r.ContentLength, r.Chunked = cl, m.state == msgChunkSize
	}
	if err := m.endBodyless(); err != nil {
		return nil, err
	}
	return r, nil
}

// ReadResponse reads the head of the response. Its body is then read
// through Response.Body. reqMethod is the method of the request it answers,
// or "" if unknown: a response to HEAD, like a 1xx, 204 or 304 response,
// has no body, whatever its Content-Length says (RFC 9112 §6.3).
//
// ReadResponse reads one response: an interim (1xx) response followed by
// another is an error wrapping [ErrDataAfterBody], like anything but blank
// lines after any message; use [MessageReader.ReadFinalResponse] to skip
// interim responses.
//
// The Response and its views are valid until the next call to Reset or to
// a Read method of m; a second ReadRequest or ReadResponse without a Reset
// returns [io.EOF].
func (m *MessageReader) ReadResponse(reqMethod string) (*Response, error) {
	return m.readResponse(reqMethod, false)
}

// maxInterim is how many interim responses ReadFinalResponse skips, as
// net/http's Transport does (max1xxResponses).
const maxInterim = 5

// ReadFinalResponse is like [MessageReader.ReadResponse], but skips
// interim (1xx) responses to the final one, as net/http's client does: the
// input may hold up to 5 interim responses (100 Continue, 103 Early Hints,
// ...), each a head without body, before the final response, which it
// returns. It never returns a 1xx response: one that the input does not
// follow with a final response is an error wrapping
// [io.ErrUnexpectedEOF], more than 5 or a 101 Switching Protocols (which
// net/http returns as final, and which cannot answer a call embedded in a
// part) are errors wrapping [ErrBadStatus].
func (m *MessageReader) ReadFinalResponse(reqMethod string) (*Response, error) {
	for n := 0; ; n++ {
		r, err := m.readResponse(reqMethod, true)
		if err != nil || r.StatusCode >= 200 {
			return r, err
		}
		switch {
		case r.StatusCode == http.StatusSwitchingProtocols:
			m.err = syntaxErr(m.headOff, ErrBadStatus, "101 Switching Protocols in an embedded response")
			return nil, m.err
		case n == maxInterim:
			m.err = syntaxErr(m.headOff, ErrBadStatus, "more than "+strconv.Itoa(maxInterim)+" interim (1xx) responses")
			return nil, m.err
		}
		m.state = msgHead // read the next head
	}
}

// readResponse reads a response head; with interim, a 1xx response may be
// followed by another response, which the caller reads.
func (m *MessageReader) readResponse(reqMethod string, interim bool) (*Response, error) {
	if m.src == nil {
		return nil, errZeroMessageReader
	}
	r := &m.resp
	// As in ReadRequest, field by field.
	r.ProtoMajor, r.ProtoMinor, r.StatusCode = 0, 0, 0
	r.Reason = nil
	r.ContentLength, r.Chunked = 0, false
	r.head = reqMethod == "HEAD"
	r.Body = &m.body
	r.Trailer.Reset()
	m.trailer = &r.Trailer
	if err := m.readHead(false); err != nil {
		return nil, err
	}
	noBody := bodyless(r.StatusCode, reqMethod)
	if m.lengthFraming(noBody) {
		r.ContentLength = m.remain
		if m.remain > 0 {
			return r, nil // a body: endBodyless has nothing to check
		}
	} else {
		cl, err := m.framing(&r.Header, r.ProtoMinor == 0, noBody)
		if err != nil {
			m.err = err
			return nil, err
		}
		r.ContentLength, r.Chunked = cl, m.state == msgChunkSize
	}
	if interim && r.StatusCode < 200 {
		return r, nil
	}
	if err := m.endBodyless(); err != nil {
		return nil, err
	}
	return r, nil
}

// endBodyless checks, for a message without body (or with an empty
// Content-Length body), that only blank lines follow its head: the
// message has been read when its head has, and bytes after it must not go
// unnoticed because no one reads its empty body.
func (m *MessageReader) endBodyless() error {
	switch {
	case m.state == msgNoBody:
	case m.state == msgLength && m.remain == 0:
		m.state = msgTail
	default:
		return nil
	}
	m.tail()
	return m.err
}

// errPartGone is the error of a read from a part that its Reader has left
// for the next one. It wraps [http.ErrBodyReadAfterClose], as the body of
// an http.Request or http.Response made from the message does then.
var errPartGone error = &partGoneError{}

type partGoneError struct{}

func (*partGoneError) Error() string {
	return errPrefix + "message body read after its part: the Reader has moved on"
}

func (*partGoneError) Unwrap() error { return http.ErrBodyReadAfterClose }

// next returns the next bytes of the source: a non-empty view, or nil and
// an error (io.EOF at the end). The view is valid until the next call.
func (m *MessageReader) next() ([]byte, error) {
	if m.part.gone() {
		// The Reader has moved to the next part, into the same *Part and
		// buffer: what is left of this one, rest included, is gone.
		return nil, errPartGone
	}
	if len(m.rest) > 0 {
		c := m.rest
		m.rest = nil
		m.off += int64(len(c))
		return c, nil
	}
	if m.rerr != nil {
		return nil, m.rerr
	}
	for range 100 {
		var c []byte
		var err error
		if p := m.part.p; p != nil {
			c, err = p.ReadChunk() // a direct call, the common case
		} else if m.cr != nil {
			c, err = m.cr.ReadChunk()
		} else {
			if m.rbuf == nil {
				m.rbuf = make([]byte, 32<<10)
			}
			var n int
			free := m.rbuf[m.keep:]
			n, err = m.src.Read(free)
			if n < 0 || n > len(free) {
				n, err = 0, errInvalidRead
			}
			c = free[:n]
		}
		if err != nil {
			m.rerr = err
		}
		if len(c) > 0 {
			m.off += int64(len(c))
			return c, nil
		}
		if err != nil {
			return nil, err
		}
	}
	m.rerr = io.ErrNoProgress
	return nil, m.rerr
}

// unread gives back c, a suffix of the view next returned last.
func (m *MessageReader) unread(c []byte) {
	if len(c) > 0 {
		m.rest = c
		m.off -= int64(len(c))
	}
}

// headScan is the state of the search for the end of a head, kept across
// chunks so that no byte is scanned twice.
type headScan struct {
	base  int64 // stream offset of the buffer's first byte
	skip  int   // leading empty lines
	line  int   // start of the current line
	scan  int   // where to look for the next LF
	first bool
}

// find looks for the empty line that ends the head in b, which grows
// between calls. It returns the end of the head (just past the empty line)
// or -1.
func (s *headScan) find(b []byte, o *MessageOptions) (int, error) {
	for {
		nl := bytes.IndexByte(b[s.scan:], '\n')
		if nl < 0 {
			s.scan = len(b)
			if !s.first && len(b)-s.line > o.MaxStartLineBytes+1 {
				return -1, syntaxErr(s.base+int64(s.line), ErrStartLineTooLong, "start line longer than "+strconv.Itoa(o.MaxStartLineBytes)+" bytes")
			}
			if len(b) > o.MaxHeaderBytes {
				return -1, syntaxErr(s.base, ErrHeaderTooLarge, "message head longer than "+strconv.Itoa(o.MaxHeaderBytes)+" bytes")
			}
			return -1, nil
		}
		end := s.scan + nl + 1
		n := end - s.line - 1 // line length without LF
		if n > 0 && b[end-2] == '\r' {
			n--
		}
		if end > o.MaxHeaderBytes {
			if !s.first && n > o.MaxStartLineBytes {
				return -1, syntaxErr(s.base+int64(s.line), ErrStartLineTooLong, "start line longer than "+strconv.Itoa(o.MaxStartLineBytes)+" bytes")
			}
			return -1, syntaxErr(s.base, ErrHeaderTooLarge, "message head longer than "+strconv.Itoa(o.MaxHeaderBytes)+" bytes")
		}
		switch {
		case !s.first && n == 0 && (end-s.line == 1 || b[s.line] == '\r'):
			s.skip = end // an empty line before the start line
		case !s.first:
			if n > o.MaxStartLineBytes {
				return -1, syntaxErr(s.base+int64(s.line), ErrStartLineTooLong, "start line longer than "+strconv.Itoa(o.MaxStartLineBytes)+" bytes")
			}
			s.first = true
		case end-s.line == 1 || end-s.line == 2 && b[s.line] == '\r':
			return end, nil
		}
		s.line, s.scan = end, end
	}
}

// readHead reads the head, copies it into m.head (or leaves it in rbuf,
// where it arrived whole, see rbuf and keep) and parses it into m.req
// (request) or m.resp, leaving the body unread. When the input ends before
// the empty line, the head is all of it and the body is empty (state is
// msgNoBody). The head starts at the start line.
func (m *MessageReader) readHead(request bool) error {
	if m.err != nil {
		return m.err
	}
	if m.state != msgHead {
		return io.EOF
	}
	m.head = m.head[:0]
	m.keep = 0     // the views of the head before, if any, are no longer valid
	start := m.off // 0 but after an interim response
	m.headOff = start
	m.state = msgRest
	c, err := m.next()
	if len(c) > 0 && c[0] != '\r' && c[0] != '\n' {
		// Fast path: a head that lies whole in the first chunk, with no
		// empty line before it, is parsed in place and copied once, or
		// not at all when the chunk is the MessageReader's own rbuf.
		// Any other case, errors included, goes the slow way, so that
		// the result never depends on how the input was split.
		// parseHead's fast path, without its call.
		h := &m.resp.Header
		var next int
		if request {
			h = &m.req.Header
			next = m.requestLineFast(c)
		} else {
			next = m.statusLineFast(c)
		}
		end := -1
		if next >= 0 {
			h.buf = c
			h.fields = h.fields[:0]
			end, _ = parseHTTPFields(h, next, m.headOff, m.opts.MaxHeaderFields, true, &m.fr)
		} else {
			end = m.parseHead(c, request, true)
		}
		if end > 0 && end <= m.opts.MaxHeaderBytes {
			if m.slen <= m.opts.MaxStartLineBytes {
				if m.cr == nil {
					// c is a piece of rbuf (see next): the views
					// stay where they are, and reads of the body
					// go after the head, as long as enough of
					// rbuf is left for them.
					if at := len(m.rbuf) - cap(c) + end; len(m.rbuf)-at >= minBodyRead {
						m.keep = at
						// Bounded, so that fields added to the
						// Header are appended elsewhere.
						h.buf = c[:end:end]
						m.unread(c[end:])
						return nil
					}
				}
				m.head = append(m.head, c[:end]...)
				m.rebind(request)
				m.unread(c[end:])
				return nil
			}
		}
	}
	s := headScan{base: start}
	for {
		if len(c) == 0 {
			if err != io.EOF {
				m.err = err
				return err
			}
			// The part ends the head: accepted when there is one.
			if len(m.head) == s.skip {
				m.err = syntaxErr(m.off, io.ErrUnexpectedEOF, "no HTTP message")
				return m.err
			}
			if !s.first && len(m.head)-s.line > m.opts.MaxStartLineBytes {
				m.err = syntaxErr(s.base+int64(s.line), ErrStartLineTooLong, "start line longer than "+strconv.Itoa(m.opts.MaxStartLineBytes)+" bytes")
				return m.err
			}
			copy(m.head, m.head[s.skip:])
			m.head = m.head[:len(m.head)-s.skip]
			m.headOff = start + int64(s.skip)
			m.state = msgNoBody
			return m.parseWhole(request)
		}
		// Copy a piece of the chunk at a time: a source may hand out a
		// chunk of any size (a whole call), and what the head buffer
		// keeps must stay within the head limit, which find enforces
		// after each piece.
		k := min(len(c), headPiece)
		m.head = append(m.head, c[:k]...)
		end, ferr := s.find(m.head, &m.opts)
		if ferr != nil {
			m.err = ferr
			return ferr
		}
		if end >= 0 {
			// Give back what follows the head: the body.
			m.unread(c[k-(len(m.head)-end):])
			copy(m.head, m.head[s.skip:end])
			m.head = m.head[:end-s.skip]
			m.headOff = start + int64(s.skip)
			return m.parseWhole(request)
		}
		if k < len(c) {
			c = c[k:]
			continue
		}
		c, err = m.next()
	}
}

// minBodyRead is the least room in rbuf left for the reads of the body
// when the head stays in rbuf rather than being copied out.
const minBodyRead = 4 << 10

// headPiece is how much of a source's chunk readHead copies at a time
// while it looks for the end of the head.
const headPiece = 4 << 10

// parseWhole parses the complete head in m.head.
func (m *MessageReader) parseWhole(request bool) error {
	if m.parseHead(m.head, request, false) < 0 {
		return m.err
	}
	return nil
}

// parseHead parses the head at the start of b into m.req or m.resp, with
// views into b. With partial, b may hold less than the head: parseHead
// then returns -1 when it finds no empty line, and leaves m.err unset on
// errors; otherwise it returns the end of the head, or -1 and sets m.err.
func (m *MessageReader) parseHead(b []byte, request, partial bool) int {
	// The start lines peers send are read in one pass, which finds
	// their end too (requestLineFast, statusLineFast); any other line,
	// errors included, is cut at its LF and read by the general parser,
	// so that the result never depends on the path.
	var h *Header
	var next int
	if request {
		h = &m.req.Header
		next = m.requestLineFast(b)
	} else {
		h = &m.resp.Header
		next = m.statusLineFast(b)
	}
	if next < 0 {
		line := b
		next = len(b)
		if nl := bytes.IndexByte(b, '\n'); nl >= 0 {
			line, next = b[:nl], nl+1
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			m.slen = len(line)
		} else if partial {
			return -1
		}
		var err error
		if request {
			err = m.parseRequestLine(&m.req, line)
		} else {
			err = m.parseStatusLine(&m.resp, line)
		}
		if err != nil {
			if !partial {
				m.err = err
			}
			return -1
		}
	}
	h.buf = b
	h.fields = h.fields[:0]
	end, err := parseHTTPFields(h, next, m.headOff, m.opts.MaxHeaderFields, partial, &m.fr)
	if err != nil {
		if !partial {
			m.err = err
		}
		return -1
	}
	return end
}

// lineEnd returns where the line that ends at b[i] (a CR or LF) is
// followed by the next one: past CRLF or LF, or -1 when b[i] is neither
// or is a CR that b does not follow with LF.
func lineEnd(b []byte, i int) int {
	switch {
	case b[i] == '\n':
		return i + 1
	case b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n':
		return i + 2
	}
	return -1
}

// rebind points the views of the parsed head at m.head, a copy of the
// buffer parseHead parsed: the start line's views sit at fixed places.
func (m *MessageReader) rebind(request bool) {
	if request {
		r := &m.req
		r.Header.buf = m.head
		n, t := len(r.Method), len(r.Target)
		r.Method = m.head[:n:n]
		r.Target = m.head[n+1 : n+1+t : n+1+t]
		return
	}
	r := &m.resp
	r.Header.buf = m.head
	if n := len(r.Reason); n > 0 {
		r.Reason = m.head[13 : 13+n : 13+n]
	}
}

// parseVersion parses "HTTP/1.0" or "HTTP/1.1".
func parseVersion(v []byte) (major, minor int, ok bool) {
	if len(v) != 8 || string(v[:7]) != "HTTP/1." || v[7] != '0' && v[7] != '1' {
		return 0, 0, false
	}
	return 1, int(v[7] - '0'), true
}

// requestLineFast reads the request line at the start of b, in one pass
// that finds its end too, when it is one peers send: a token method (not
// CONNECT), one space, an origin-form target of bytes above the space but
// DEL with valid escapes, " HTTP/1.x" or nothing, then CRLF or LF. It
// returns where the next line starts, or -1, leaving m alone, for any
// other line (parseRequestLine reads them).
func (m *MessageReader) requestLineFast(b []byte) int {
	sp := tokenEnd(b, 0)
	if sp == 0 || sp+1 >= len(b) || b[sp] != ' ' || b[sp+1] != '/' || string(b[:sp]) == "CONNECT" {
		return -1
	}
	// The line end stops targetEnd where the end of the line would: a
	// CR or LF is neither a target byte nor a hex digit.
	end := targetEnd(b, sp+1)
	e, minor := end, 1
	if end+10 <= len(b) && b[end] == ' ' {
		if v := binary.LittleEndian.Uint64(b[end+1:]); v != wordHTTP11 && v != wordHTTP10 {
			return -1
		}
		e, minor = end+9, int(b[end+8]-'0')
	}
	if e >= len(b) {
		return -1
	}
	next := lineEnd(b, e)
	if next < 0 {
		return -1
	}
	r := &m.req
	r.Method = b[:sp:sp]
	r.Target = b[sp+1 : end : end]
	r.ProtoMajor, r.ProtoMinor = 1, minor
	r.form = originForm
	m.slen = e
	return next
}

// targetEnd returns the end of the run of request-target bytes that
// starts at b[i]: bytes above the space but DEL, '%' followed by two hex
// digits. It looks at eight bytes at a time.
func targetEnd(b []byte, i int) int {
	for {
		if i+16 <= len(b) {
			// Two words a round: targets are a few words long.
			w := b[i : i+16 : i+16]
			m, n := targetStops(binary.LittleEndian.Uint64(w)), targetStops(binary.LittleEndian.Uint64(w[8:]))
			if m|n == 0 {
				i += 16
				continue
			}
			if m == 0 {
				i, m = i+8, n
			}
			i += bits.TrailingZeros64(m) >> 3
		} else if i+8 <= len(b) {
			m := targetStops(binary.LittleEndian.Uint64(b[i : i+8]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else {
			for i < len(b) && b[i] > ' ' && b[i] != 0x7f && b[i] != '%' {
				i++
			}
			if i == len(b) {
				return i
			}
		}
		if b[i] != '%' || i+2 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) {
			return i
		}
		i += 3
	}
}

// targetStops returns a mask with bit 7 of each byte of x set exactly
// when targetEnd stops there: a byte up to the space, DEL, '%'. It works
// on the low seven bits of each byte, whose sums stay in their byte: bit 7
// of le20 is clear for a byte up to the space, of del set for DEL, of pct
// clear for '%'; a byte from 0x80 up is a target byte (&^ x).
func targetStops(x uint64) uint64 {
	t := x & swarLo7
	le20 := t + (0x80-0x21)*swarLo
	del := t + swarLo
	pct := t ^ '%'*swarLo + swarLo7
	return (del | ^(le20 & pct)) &^ x & swarHi
}

// parseRequestLine parses any request line, and gives each error.
func (m *MessageReader) parseRequestLine(r *Request, line []byte) error {
	base := m.headOffset()
	if i := bytes.IndexByte(line, '\r'); i >= 0 {
		return syntaxErr(base+int64(i), ErrSyntax, "bare CR in request line")
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		if !isToken(line) {
			return syntaxErr(base, ErrBadMethod, "method "+quote(string(line))+" is not a token")
		}
		return syntaxErr(base+int64(len(line)), ErrSyntax, "request line without target")
	}
	r.Method = line[:sp:sp]
	if !isToken(r.Method) {
		return syntaxErr(base, ErrBadMethod, "method "+quote(string(r.Method))+" is not a token")
	}
	rest := line[sp+1:]
	toff := base + int64(sp+1)
	r.ProtoMajor, r.ProtoMinor = 1, 1
	if sp2 := bytes.IndexByte(rest, ' '); sp2 >= 0 {
		v := rest[sp2+1:]
		var ok bool
		if r.ProtoMajor, r.ProtoMinor, ok = parseVersion(v); !ok {
			return syntaxErr(toff+int64(sp2+1), ErrBadVersion, "version "+quote(string(v)))
		}
		rest = rest[:sp2]
	}
	r.Target = rest[:len(rest):len(rest)]
	if err := checkTarget(r.Method, r.Target, &m.opts, toff); err != nil {
		return err
	}
	r.form = targetForm(r.Method, r.Target)
	return nil
}

// statusLineFast reads the status line at the start of b, in one pass
// that finds its end too, when it is one peers send: HTTP/1.1 or
// HTTP/1.0, a space, a code from 100 to 999, and nothing or a space and a
// reason phrase free of control characters but HTAB, then CRLF or LF. It
// returns where the next line starts, or -1, leaving m alone, for any
// other line (parseStatusLine reads them).
func (m *MessageReader) statusLineFast(b []byte) int {
	if len(b) < 13 || b[8] != ' ' {
		return -1
	}
	if v := binary.LittleEndian.Uint64(b); v != wordHTTP11 && v != wordHTTP10 {
		return -1
	}
	d0, d1, d2 := b[9]-'1', b[10]-'0', b[11]-'0'
	if d0 >= 9 || d1 >= 10 || d2 >= 10 {
		return -1
	}
	e := 12 // the line end, when there is no reason phrase
	if b[12] == ' ' {
		e = ctlEnd(b, 13)
		if e == len(b) {
			return -1
		}
	}
	next := lineEnd(b, e)
	if next < 0 {
		return -1
	}
	r := &m.resp
	r.ProtoMajor, r.ProtoMinor = 1, int(b[7]-'0')
	r.StatusCode = int(d0+1)*100 + int(d1)*10 + int(d2)
	r.Reason = nil
	if e > 12 {
		r.Reason = b[13:e:e]
	}
	m.slen = e
	return next
}

// Little-endian words of the versions.
const (
	wordHTTP10 = uint64('H') | uint64('T')<<8 | uint64('T')<<16 | uint64('P')<<24 | uint64('/')<<32 | uint64('1')<<40 | uint64('.')<<48 | uint64('0')<<56
	wordHTTP11 = wordHTTP10 + 1<<56
)

// parseStatusLine parses any status line, and gives each error.
func (m *MessageReader) parseStatusLine(r *Response, line []byte) error {
	base := m.headOffset()
	var ok bool
	if len(line) < 8 {
		return syntaxErr(base, ErrBadVersion, "status line "+quote(string(line)))
	}
	if r.ProtoMajor, r.ProtoMinor, ok = parseVersion(line[:8]); !ok {
		return syntaxErr(base, ErrBadVersion, "version "+quote(string(line[:8])))
	}
	if len(line) < 12 || line[8] != ' ' || len(line) > 12 && line[12] != ' ' {
		return syntaxErr(base+8, ErrBadStatus, "status line "+quote(string(line))+": want a space and three digits after the version")
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return syntaxErr(base+9, ErrBadStatus, "status code "+quote(string(line[9:12])))
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return syntaxErr(base+9, ErrBadStatus, "status code "+quote(string(line[9:12]))+" below 100")
	}
	r.StatusCode = code
	if len(line) > 12 {
		reason := line[13:]
		if i := badValueByte(reason); i >= 0 {
			return syntaxErr(base+13+int64(i), ErrBadStatus, "control character in reason phrase")
		}
		r.Reason = reason[:len(reason):len(reason)]
	}
	return nil
}

// headOffset returns the stream offset of m.head[0].
func (m *MessageReader) headOffset() int64 { return m.headOff }

// parseHTTPFields parses the field lines of h.buf from pos, up to an empty
// line or the end of h.buf, into h's fields (views of h.buf), and returns
// the position after the empty line (or len(h.buf)). off is the stream
// offset of h.buf[0]. With partial, h.buf may end inside the head: a line
// without LF, or no empty line, gives -1. Unlike the MIME header blocks of
// parts (parseHeaderLine), HTTP fields follow RFC 9112 §5: no obsolete
// line folding, no whitespace between name and colon. It notes in fr the
// fields that decide the framing.
func parseHTTPFields(h *Header, pos int, off int64, maxFields int, partial bool, fr *framingScan) (int, error) {
	return scanHTTPFields(h, pos, off, maxFields, partial, fr) // scan.go: one pass per line
}

// A framingScan is what scanHTTPFields notes of a head for framing, so
// that framing does not go over the fields again: the index of its
// Content-Length field and its value, and whether framingSlow must decide
// (a second Content-Length, a Transfer-Encoding, a field read by the
// general path).
type framingScan struct {
	cl   int   // -1: none
	n    int64 // the value of field cl, when ok
	ok   bool  // field cl holds a valid Content-Length
	slow bool
}

// fieldNameErr explains why line, a field line at stream offset off, has
// no valid name before a colon.
func fieldNameErr(line []byte, off int64) error {
	i := 0
	for ; i < len(line) && line[i] != ':'; i++ {
		if tokenTable[line[i]] {
			continue
		}
		switch c := line[i]; {
		case i == 0 && (c == ' ' || c == '\t'):
			return syntaxErr(off, ErrSyntax, "obsolete line folding (a field line starting with white space)")
		case c == ' ' || c == '\t':
			if rest := trimWS(line[i:]); len(rest) > 0 && rest[0] == ':' {
				return syntaxErr(off+int64(i), ErrSyntax, "white space between field name and colon")
			}
			return syntaxErr(off+int64(i), ErrSyntax, "white space in field name")
		case c == '\r':
			return syntaxErr(off+int64(i), ErrSyntax, "bare CR in field line")
		}
		return syntaxErr(off+int64(i), ErrSyntax, "invalid byte "+quote(string(line[i:i+1]))+" in field name")
	}
	if i == len(line) {
		return syntaxErr(off, ErrSyntax, "field line without colon")
	}
	return syntaxErr(off, ErrSyntax, "empty field name")
}

// framing decides how the body is delimited from the fields in h, and sets
// the body state. It returns the ContentLength to report. http10 reports
// an HTTP/1.0 message, which cannot be chunked.
func (m *MessageReader) framing(h *Header, http10, noBody bool) (int64, error) {
	base := m.headOffset()
	// What parseHead noted (m.fr), for the common case: at most one
	// Content-Length, no Transfer-Encoding; framingSlow for any other.
	cl, hasCL, te := int64(-1), false, false
	var err error
	if m.fr.slow {
		cl, hasCL, te, err = framingSlow(h, base, m.opts.MaxHeaderFields)
	} else if m.fr.cl >= 0 {
		if m.fr.ok {
			cl, hasCL = m.fr.n, true
		} else {
			cl, hasCL, te, err = framingSlow(h, base, m.opts.MaxHeaderFields)
		}
	}
	if err != nil {
		return 0, err
	}
	if te && hasCL {
		return 0, syntaxErr(base, ErrFramingConflict, "both Content-Length and Transfer-Encoding")
	}
	if te && http10 {
		// RFC 9112 §6.1: the framing of such a message is faulty. net/http
		// ignores the field and reads the body another way, so a parser
		// that decoded the chunks would see another message than it.
		return 0, syntaxErr(base, ErrFramingConflict, "Transfer-Encoding in an HTTP/1.0 message")
	}
	if noBody {
		m.state = msgNoBody
		return 0, nil
	}
	if m.state == msgNoBody {
		// The input ended the head: fine for a message without body,
		// truncation for one that announced a body.
		if te || cl > 0 {
			return 0, syntaxErr(m.off, io.ErrUnexpectedEOF, "input ends before the announced body")
		}
		return 0, nil
	}
	switch {
	case te:
		m.state = msgChunkSize
		return -1, nil
	case hasCL:
		m.state, m.remain = msgLength, cl
		return cl, nil
	}
	return -1, nil // msgRest
}

// lengthFraming is framing's common case, small enough to be inlined: a
// message with a body, one valid Content-Length and no Transfer-Encoding,
// whose body state it sets.
func (m *MessageReader) lengthFraming(noBody bool) bool {
	if fr := &m.fr; fr.ok && !fr.slow && !noBody && m.state != msgNoBody {
		m.state, m.remain = msgLength, fr.n
		return true
	}
	return false
}

// framingSlow returns the Content-Length of h (-1 if none) and whether
// it has one, and whether it has Transfer-Encoding: chunked, or the error
// of a bad or conflicting value, for any head: several Content-Length
// fields, a Transfer-Encoding, a bad value, a chunked message whose Trailer
// field names a framing field or more than maxFields fields. base is the
// stream offset of h.buf[0]. The names are tokens, read by parseHead, so
// tokenIs applies.
func framingSlow(h *Header, base int64, maxFields int) (cl int64, hasCL, te bool, err error) {
	cl = -1
	var clv, declared []byte
	var doff int64
	names, manyOff := 0, int64(-1) // names the Trailer fields declare; where they pass maxFields
	for _, f := range h.fields {
		switch int(f.name.end - f.name.start) {
		case len("Content-Length"):
			if !tokenIs(h.bytes(f.name), "content-length") {
				continue
			}
			v := h.bytes(f.value)
			voff := base + int64(f.value.start)
			if clv != nil {
				if string(clv) != string(v) {
					return 0, false, false, syntaxErr(voff, ErrBadContentLength, "Content-Length "+quote(string(v))+" differs from "+quote(string(clv)))
				}
				continue
			}
			n, ok := parseContentLength(v)
			if !ok {
				return 0, false, false, syntaxErr(voff, ErrBadContentLength, "Content-Length "+quote(string(v))+" is not a non-negative decimal int64")
			}
			cl, clv = n, v
		case len("Transfer-Encoding"):
			if !tokenIs(h.bytes(f.name), "transfer-encoding") {
				continue
			}
			v := h.bytes(f.value)
			if te || !equalFoldString(v, "chunked") {
				return 0, false, false, syntaxErr(base+int64(f.value.start), ErrBadTransferEncoding, "Transfer-Encoding "+quote(string(v))+": only a single \"chunked\" is supported")
			}
			te = true
		case len("Trailer"):
			if !equalFoldString(h.bytes(f.name), "trailer") {
				continue
			}
			v := h.bytes(f.value)
			if declared == nil {
				if name := framingTrailer(v); name != nil {
					declared, doff = name, base+int64(f.value.start)
				}
			}
			if names += countElements(v); names > maxFields && manyOff < 0 {
				manyOff = base + int64(f.value.start)
			}
		}
	}
	if te && declared != nil {
		// RFC 9110 §6.5.1: framing fields cannot be trailer fields.
		// net/http refuses the message (fixTrailer); a peer that merges
		// trailers into the header would see a second framing.
		return 0, false, false, syntaxErr(doff, ErrFramingConflict, "Trailer declares "+quote(string(declared))+" a trailer field")
	}
	if te && manyOff >= 0 {
		// The trailer section can hold at most maxFields fields, so
		// more names declare nothing it could send; and each name
		// declared costs a map entry in HTTPRequest's and
		// HTTPResponse's Trailer (some 80 bytes a name: a 64 KiB head
		// would otherwise make a map of 1 MiB, outside every limit).
		return 0, false, false, syntaxErr(manyOff, ErrTooManyFields, "Trailer declares more than "+strconv.Itoa(maxFields)+" field names")
	}
	return cl, clv != nil, te, nil
}

// countElements returns the number of non-empty elements of the
// comma-separated list v.
func countElements(v []byte) int {
	n := 0
	for len(v) > 0 {
		var e []byte
		e, v, _ = bytes.Cut(v, []byte(","))
		if len(trimWS(e)) > 0 {
			n++
		}
	}
	return n
}

// framingTrailer returns the first element of v, the value of a Trailer
// field, that names a field which decides the framing (Content-Length,
// Transfer-Encoding, Trailer), or nil: the elements net/http refuses.
func framingTrailer(v []byte) []byte {
	for len(v) > 0 {
		var e []byte
		e, v, _ = bytes.Cut(v, []byte(","))
		switch e = trimWS(e); len(e) {
		case len("Content-Length"), len("Transfer-Encoding"), len("Trailer"):
			if isContentLength(e) || isTransferEncoding(e) || equalFoldString(e, "trailer") {
				return e
			}
		}
	}
	return nil
}

// httpField checks one field line of an HTTP head as parseHTTPFields does,
// from what scanLine found (positions relative to line[0], as for
// addMIMEField), and returns the value's bounds in line.
func httpField(line []byte, found lineState, loff int64) (vs, ve int, err error) {
	colon, cr, bad := found.colon, found.cr, found.bad
	ok := colon > 0 && colon < len(line)
	if ok {
		for _, c := range line[:colon] {
			if !tokenTable[c] {
				ok = false
				break
			}
		}
	}
	if !ok {
		return 0, 0, fieldNameErr(line, loff)
	}
	if cr >= len(line) {
		cr = -1
	}
	if bad >= len(line) {
		bad = -1
	}
	if cr >= 0 && (bad < 0 || cr < bad) {
		return 0, 0, syntaxErr(loff+int64(cr), ErrSyntax, "bare CR in field value")
	}
	if bad >= 0 {
		return 0, 0, syntaxErr(loff+int64(bad), ErrSyntax, "control character in field value")
	}
	vs, ve = colon+1, len(line)
	for vs < ve && (line[vs] == ' ' || line[vs] == '\t') {
		vs++
	}
	for ve > vs && (line[ve-1] == ' ' || line[ve-1] == '\t') {
		ve--
	}
	return vs, ve, nil
}

// scanHTTPFields is parseHTTPFields in one pass over the field lines.
// Each line first takes the fast path, fieldLine, which reads the lines
// peers send. Any other line (a bad one, or one that the end of b
// cuts) is read again by the general line scanner and httpField, so that
// what a line means and the error it gives never depend on the path.
func scanHTTPFields(h *Header, pos int, off int64, maxFields int, partial bool, fr *framingScan) (int, error) {
	b := h.buf
	*fr = framingScan{cl: -1}
	for pos < len(b) {
		switch b[pos] {
		case '\n':
			return pos + 1, nil
		case '\r':
			if pos+1 < len(b) && b[pos+1] == '\n' {
				return pos + 2, nil
			}
		}
		if colon, vs, ve, next := fieldLine(b, pos); next >= 0 {
			if len(h.fields) == maxFields {
				return 0, syntaxErr(off+int64(pos), ErrTooManyFields, "more than "+strconv.Itoa(maxFields)+" fields")
			}
			h.fields = append(h.fields, field{span{uint32(pos), uint32(colon)}, span{uint32(vs), uint32(ve)}})
			// The fields that decide the framing, noted (and a
			// Content-Length parsed) while the line is at hand.
			switch colon - pos {
			case len("Content-Length"):
				if isContentLength(b[pos:colon]) {
					if fr.cl >= 0 {
						fr.slow = true
					}
					fr.cl = len(h.fields) - 1
					fr.n, fr.ok = parseContentLength(b[vs:ve])
				}
			case len("Transfer-Encoding"):
				if isTransferEncoding(b[pos:colon]) {
					fr.slow = true
				}
			}
			pos = next
			continue
		}
		fr.slow = true
		next, done, err := slowHTTPField(h, pos, off, maxFields, partial)
		if done {
			return next, err
		}
		pos = next
	}
	if partial {
		return -1, nil
	}
	return len(b), nil
}

// slowHTTPField reads the line at b[pos] of h.buf with scanLine and
// httpField, which scanHTTPFields's fast path does not read: it returns
// where the next line starts, or with done what scanHTTPFields returns.
func slowHTTPField(h *Header, pos int, off int64, maxFields int, partial bool) (next int, done bool, err error) {
	b := h.buf
	var s lineState
	s.start(pos)
	end := len(b)
	next = len(b)
	if nl := scanLine(b, &s); nl >= 0 {
		end, next = nl, nl+1
	} else if partial {
		return -1, true, nil
	}
	if end > pos && b[end-1] == '\r' {
		end--
	}
	if end == pos {
		return next, true, nil
	}
	line := b[pos:end]
	loff := off + int64(pos)
	vs, ve, err := httpField(line, s.relative(pos), loff)
	if err != nil {
		return 0, true, err
	}
	if len(h.fields) == maxFields {
		return 0, true, syntaxErr(loff, ErrTooManyFields, "more than "+strconv.Itoa(maxFields)+" fields")
	}
	p := uint32(pos)
	h.fields = append(h.fields, field{span{p, p + uint32(s.colon-pos)}, span{p + uint32(vs), p + uint32(ve)}})
	return next, false, nil
}
