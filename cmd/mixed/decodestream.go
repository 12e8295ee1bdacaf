package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mixedcodec/mixed"
)

// holdBytes is how much of a part decode holds: a part whose content ends
// within it is printed whole (describe), with "body" and, for an
// application/http or multipart part, "http" or "parts"; a longer one is
// printed as it streams, in memory bounded by holdBytes and the buffers.
const holdBytes = 64 << 10

// A jsonLineWriter writes decode's JSON lines to a bufio.Writer, whole or in
// pieces, and flushes it at the end of each line.
type jsonLineWriter struct {
	w    *bufio.Writer
	buf  bytes.Buffer
	enc  *json.Encoder // to buf, for the lines that are not parts
	lb   []byte        // a part line (appendPartJSON)
	hold []byte
	mr   *mixed.MessageReader // for describe
	str  jsonStringWriter
	b64  base64Writer
}

func newJSONLineWriter(w *bufio.Writer) *jsonLineWriter {
	l := &jsonLineWriter{w: w, hold: make([]byte, holdBytes+1), mr: mixed.NewMessageReaderOptions(nil, decodeOpts)}
	l.enc = json.NewEncoder(&l.buf)
	l.enc.SetEscapeHTML(false)
	l.str.w = w
	l.b64.w = w
	return l
}

// line writes v as one line and flushes it.
func (l *jsonLineWriter) line(v any) error {
	l.buf.Reset()
	if err := l.enc.Encode(v); err != nil {
		return err
	}
	l.w.Write(l.buf.Bytes())
	return l.w.Flush()
}

// partLine writes p as one line and flushes it.
func (l *jsonLineWriter) partLine(p *partJSON) error {
	l.lb = append(appendPartJSON(l.lb[:0], p), '\n')
	l.w.Write(l.lb)
	return l.w.Flush()
}

// openPart writes p's JSON object without its closing brace, for more
// keys to follow; openHTTP the same for h.
func (l *jsonLineWriter) openPart(p *partJSON) {
	l.lb = appendPartJSON(l.lb[:0], p)
	l.w.Write(l.lb[:len(l.lb)-1])
}

func (l *jsonLineWriter) openHTTP(h *httpJSON) {
	l.lb = appendHTTPJSON(l.lb[:0], h)
	l.w.Write(l.lb[:len(l.lb)-1])
}

// part prints part i: whole when its content ends within holdBytes, else
// as it streams. It returns whether the part carries an "error" (1 or 0,
// or more for nested parts) and the error that stops decode.
func (l *jsonLineWriter) part(i int, p *mixed.Part) (int, error) {
	n := 0
	var err error
	for n < len(l.hold) && err == nil {
		var k int
		k, err = p.Read(l.hold[n:])
		n += k
	}
	if err == io.EOF {
		pj := describe(l.mr, i, &p.Header, l.hold[:n], 1)
		return countErrors(&pj), l.partLine(&pj)
	}
	if err != nil {
		return 0, err
	}
	return l.stream(i, p, l.hold[:n])
}

// partSource gives the held start of a part, then the rest as the Part
// streams it, and keeps the Part's error.
type partSource struct {
	held []byte
	p    *mixed.Part
	err  error
}

func (s *partSource) next() ([]byte, error) {
	if b := s.held; b != nil {
		s.held = nil
		return b, nil
	}
	b, err := s.p.ReadChunk()
	if err != nil && err != io.EOF {
		s.err = err
	}
	return b, err
}

func (s *partSource) Read(b []byte) (int, error) {
	if len(s.held) > 0 {
		n := copy(b, s.held)
		s.held = s.held[n:]
		return n, nil
	}
	n, err := s.p.Read(b)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// stream prints a part longer than holdBytes as it reads it: an
// application/http part as "http", its body streamed, when encode would
// write its head back as it is (see decodeHelp); any other part as its
// raw "body" or "body_base64", streamed.
func (l *jsonLineWriter) stream(i int, p *mixed.Part, held []byte) (int, error) {
	src := &partSource{held: held, p: p}
	mt, _ := mediaType(p.Header.GetBytes("Content-Type"))
	l.openPart(&partJSON{Index: i, Headers: headerPairs(&p.Header)})
	if mt == "application/http" {
		if head, n := streamableHead(held); head != nil {
			return l.streamHTTP(head, held[n:], src)
		}
	}
	l.w.WriteByte(',')
	err := l.body(isTextual(mt), held, src.next)
	return l.end(err, err)
}

// end ends a streamed part line, with "error" when err is not nil, and
// returns the count of errors and fatal, the error that stops decode.
func (l *jsonLineWriter) end(err, fatal error) (int, error) {
	failed := 0
	if err != nil {
		failed = 1
		l.w.WriteString(`,"error":`)
		l.buf.Reset()
		l.enc.Encode(errText(err))
		l.w.Write(bytes.TrimSuffix(l.buf.Bytes(), []byte("\n")))
	}
	l.w.WriteString("}\n")
	if ferr := l.w.Flush(); ferr != nil && fatal == nil {
		fatal = ferr
	}
	return failed, fatal
}

// streamHTTP prints an application/http part as "http", whose body
// streams. bodyStart is the start of the body, within the held bytes.
func (l *jsonLineWriter) streamHTTP(head *httpJSON, bodyStart []byte, src *partSource) (int, error) {
	mr := mixed.NewMessageReaderOptions(src, decodeOpts)
	var mb *mixed.MessageBody
	var ct []byte
	var err error
	if head.Method != "" {
		var m *mixed.Request
		if m, err = mr.ReadRequest(); err == nil {
			mb, ct = m.Body, m.Header.GetBytes("Content-Type")
		}
	} else {
		var m *mixed.Response
		if m, err = mr.ReadResponse(""); err == nil {
			mb, ct = m.Body, m.Header.GetBytes("Content-Type")
		}
	}
	if err != nil { // read before, from the held bytes alone
		return 0, err
	}
	mt, _ := mediaType(ct)
	l.w.WriteString(`,"http":`)
	l.openHTTP(head)
	l.w.WriteByte(',')
	err = l.body(isTextual(mt), bodyStart, mb.ReadChunk)
	l.w.WriteByte('}')
	return l.end(err, src.err)
}

// streamableHead reads the head of the embedded message that held starts,
// and returns it with its length when encode writes that head back byte for
// byte and the body is framed by Content-Length: a streamed "http" then
// round-trips. Otherwise it returns nil.
func streamableHead(held []byte) (*httpJSON, int) {
	mr := mixed.NewMessageReaderOptions(bytes.NewReader(held), decodeOpts)
	var j httpJSON
	var h *mixed.Header
	var b []byte
	if bytes.HasPrefix(held, []byte("HTTP/")) {
		m, err := mr.ReadResponse("")
		if err != nil || m.Chunked || m.ContentLength < 0 {
			return nil, 0
		}
		reason := string(m.Reason)
		j = httpJSON{Proto: protoText(m.ProtoMajor, m.ProtoMinor), Status: m.StatusCode, Reason: &reason}
		h = &m.Header
		if reason == "" {
			if reason = http.StatusText(m.StatusCode); reason == "" {
				reason = "Unknown"
			}
		}
		b = append(b, "HTTP/1.1 "...)
		b = strconv.AppendInt(b, int64(m.StatusCode), 10)
		b = append(append(append(b, ' '), reason...), "\r\n"...)
	} else {
		m, err := mr.ReadRequest()
		if err != nil || m.Chunked || m.ContentLength < 0 {
			return nil, 0
		}
		j = httpJSON{Method: string(m.Method), Target: string(m.Target), Proto: protoText(m.ProtoMajor, m.ProtoMinor)}
		h = &m.Header
		b = append(append(append(append(b, m.Method...), ' '), m.Target...), " HTTP/1.1\r\n"...)
	}
	if !h.Has("Content-Length") {
		return nil, 0
	}
	for n, v := range h.All() {
		b = append(append(append(append(b, n...), ": "...), v...), "\r\n"...)
	}
	b = append(b, "\r\n"...)
	if !bytes.HasPrefix(held, b) {
		return nil, 0
	}
	j.Headers = headerPairs(h)
	return &j, len(b)
}

// body writes the "body" key and its string, or "body_base64" and its
// base64, for the bytes next returns, in pieces as they come; start is
// what the first call returns (or its beginning), which decides. A body
// is text when textual and start is UTF-8 (up to a sequence it cuts
// short); if invalid UTF-8 follows, the "body" string ends before it and
// "body_base64" continues with the rest. It returns next's error, after
// closing what it opened, so that the line stays valid JSON.
func (l *jsonLineWriter) body(textual bool, start []byte, next func() ([]byte, error)) error {
	text := false
	if textual {
		n, cut := validUTF8(start)
		text = n == len(start) || cut
	}
	if !text {
		l.w.WriteString(`"body_base64":"`)
	} else {
		l.w.WriteString(`"body":"`)
	}
	var carry [utf8.UTFMax]byte
	nc := 0
	var err error
	for {
		var c []byte
		c, err = next()
		if len(c) > 0 && text {
			if nc > 0 {
				// Complete the sequence the last piece cut short.
				k := copy(carry[nc:], c)
				b := carry[:nc+k]
				if utf8.FullRune(b) {
					r, size := utf8.DecodeRune(b)
					if r != utf8.RuneError || size > 1 {
						l.str.Write(b[:size])
						c = c[size-nc:]
					} else {
						c = append(carry[:nc:nc], c...) // rare: the switch below
					}
					nc = 0
				} else {
					nc += k
					c = nil
				}
			}
			n, cut := validUTF8(c)
			l.str.Write(c[:n])
			if cut {
				nc = copy(carry[:], c[n:])
				c = nil
			} else {
				c = c[n:]
			}
			if len(c) > 0 { // invalid UTF-8: base64 from here
				text = false
				l.w.WriteString(`","body_base64":"`)
			}
		}
		if len(c) > 0 {
			l.b64.Write(c)
		}
		if err != nil {
			break
		}
	}
	if text && nc > 0 { // a sequence cut short by the end
		text = false
		l.w.WriteString(`","body_base64":"`)
		l.b64.Write(carry[:nc])
	}
	if !text {
		l.b64.Close()
	}
	l.w.WriteByte('"')
	if err == io.EOF {
		err = nil
	}
	if werr := werr(l.w); werr != nil && err == nil {
		err = werr
	}
	return err
}

// validUTF8 returns the length of the valid UTF-8 prefix of p, and whether
// the rest is a sequence that p cuts short (which more bytes may complete).
func validUTF8(p []byte) (int, bool) {
	if utf8.Valid(p) {
		return len(p), false
	}
	for i := 0; i < len(p); {
		if p[i] < utf8.RuneSelf {
			i++
			continue
		}
		if !utf8.FullRune(p[i:]) {
			return i, true
		}
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size == 1 {
			return i, false
		}
		i += size
	}
	return len(p), false
}

// isTextual reports whether a media type (lower case, no parameters) is
// text: text/*, JSON, XML, JavaScript, form data, and the +json and +xml
// suffixes.
func isTextual(mt string) bool {
	switch {
	case strings.HasPrefix(mt, "text/"),
		strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript",
		"application/ecmascript", "application/x-www-form-urlencoded":
		return true
	}
	return false
}
