package mixed

import (
	"bytes"
	"io"
	"strconv"
)

// What a MessageReader reads next: its one state variable.
const (
	msgHead      = iota // the head: nothing read yet, or after an interim response
	msgNoBody           // no body; only blank lines may follow
	msgLength           // a Content-Length body: remain bytes left
	msgChunkSize        // a chunked body: a chunk-size line
	msgChunkData        // a chunked body: remain bytes of chunk data left
	msgChunkEnd         // a chunked body: the line end after chunk data
	msgTrailer          // a chunked body: the trailer section
	msgRest             // the rest of the input is the body
	msgTail             // after the body: only blank lines may follow
	msgDone             // the message has been read: io.EOF
)

// A MessageBody is the body of a message read by a [MessageReader],
// decoded from its transfer coding. It belongs to the MessageReader and is
// valid until its next Reset; views from ReadChunk are valid until the next
// call to a method of the MessageBody or the MessageReader.
//
// At its end a MessageBody returns [io.EOF], once it has checked that only
// blank lines follow a Content-Length or chunked body; an input that ends
// inside the body gives an error wrapping [io.ErrUnexpectedEOF].
type MessageBody struct {
	m *MessageReader
}

// Read reads body bytes into p.
func (b *MessageBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c, err := b.m.bodyChunk(len(p))
	return copy(p, c), err
}

// ReadChunk returns the next piece of the body as a view, without copying
// it when the MessageReader reads from a [*Part]. The view is valid until
// the next call to a method of the MessageBody or its MessageReader. At the
// end of the body it returns nil, [io.EOF]. The sizes of the pieces depend
// on how the input was split; their concatenation does not.
func (b *MessageBody) ReadChunk() ([]byte, error) {
	return b.m.bodyChunk(int(^uint(0) >> 1))
}

// WriteTo writes the rest of the body to w. It implements [io.WriterTo],
// so [io.Copy] uses it.
func (b *MessageBody) WriteTo(w io.Writer) (int64, error) {
	m := b.m
	if r := m.rest; m.state == msgLength && m.err == nil && m.remain > 0 && int64(len(r)) >= m.remain && !m.part.gone() {
		// The whole body is buffered, as the short body of a call
		// usually is behind its head: one Write, and the check of what
		// follows, without the round trips through ReadChunk and
		// bodyChunk, which cost as much as the rest of the body's
		// delivery. What it does is what writeChunks would.
		n := int(m.remain)
		m.rest = r[n:]
		m.off += int64(n)
		m.remain = 0
		m.state = msgTail
		k, err := w.Write(r[:n:n])
		if err == nil && k < n {
			err = io.ErrShortWrite
		}
		if err != nil {
			return int64(k), err
		}
		m.tail()
		return int64(k), m.err
	}
	return writeChunks(w, b)
}

// truncated records the end of the input, or a read error, inside the body.
func (m *MessageReader) truncated(err error, where string) {
	if err == io.EOF {
		err = syntaxErr(m.off, io.ErrUnexpectedEOF, where)
	}
	m.err = err
}

// bodyChunk returns up to limit bytes of body as a view, or io.EOF at the end.
func (m *MessageReader) bodyChunk(limit int) ([]byte, error) {
	for {
		if m.err != nil {
			return nil, m.err
		}
		switch m.state {
		case msgLength:
			if m.remain == 0 {
				m.state = msgTail
				continue
			}
			if r := m.rest; len(r) > 0 && !m.part.gone() {
				// The next bytes are buffered (the part's chunk that
				// held the head): counted without the round trip
				// through next and unread.
				n := int(min(int64(len(r)), m.remain, int64(limit)))
				m.rest = r[n:]
				m.off += int64(n)
				m.remain -= int64(n)
				return r[:n:n], nil
			}
			if c := m.counted(limit, "input ends inside a Content-Length body"); c != nil {
				return c, nil
			}
		case msgRest:
			c, err := m.next()
			if len(c) == 0 {
				if err == io.EOF {
					m.state = msgDone
				} else {
					m.err = err
				}
				continue
			}
			n := min(len(c), limit)
			m.unread(c[n:])
			return c[:n:n], nil
		case msgChunkSize, msgChunkData, msgChunkEnd, msgTrailer:
			if c := m.chunked(limit); len(c) > 0 {
				return c, nil
			}
		case msgNoBody, msgTail:
			m.tail()
		default: // msgDone, or msgHead: no message yet
			return nil, io.EOF
		}
	}
}

// counted returns the next bytes of the m.remain left in a Content-Length
// body or a chunk, at most limit (> 0) of them, as a view; or nil, with
// m.err set, when the input ends first (where says inside what).
func (m *MessageReader) counted(limit int, where string) []byte {
	c, err := m.next()
	if len(c) == 0 {
		m.truncated(err, where)
		return nil
	}
	n := int(min(int64(len(c)), m.remain, int64(limit)))
	m.unread(c[n:])
	m.remain -= int64(n)
	return c[:n:n]
}

// tail checks that only blank lines follow the body.
func (m *MessageReader) tail() {
	afterCR := false // a CR, which only LF may follow
	for {
		c, err := m.next()
		if len(c) == 0 {
			switch {
			case err != io.EOF:
				m.err = err
			case afterCR:
				m.err = syntaxErr(m.off, ErrDataAfterBody, "CR without LF after the body")
			default:
				m.state = msgDone
			}
			return
		}
		for i, x := range c {
			switch {
			case x == '\n':
				afterCR = false
				continue
			case x == '\r' && !afterCR:
				afterCR = true
				continue
			}
			m.err = syntaxErr(m.off-int64(len(c)-i), ErrDataAfterBody, "byte "+quote(string(c[i:i+1]))+" after the end of the body")
			return
		}
	}
}

// readLine returns the next line of the input without its LF (a CR before
// it is kept), as a view valid until the next call to next. A line longer
// than limit bytes is an error of class tooLong.
func (m *MessageReader) readLine(limit int, tooLong error, what string) ([]byte, int64, bool) {
	m.lineBuf = m.lineBuf[:0]
	start := m.off
	for {
		c, err := m.next()
		if len(c) == 0 {
			m.truncated(err, "input ends inside a "+what)
			return nil, 0, false
		}
		if i := bytes.IndexByte(c, '\n'); i >= 0 {
			m.unread(c[i+1:])
			line := c[:i]
			if len(m.lineBuf)+len(line) > limit+1 {
				m.err = syntaxErr(start, tooLong, what+" longer than "+strconv.Itoa(limit)+" bytes")
				return nil, 0, false
			}
			if len(m.lineBuf) > 0 {
				m.lineBuf = append(m.lineBuf, line...)
				line = m.lineBuf
			}
			return line, start, true
		}
		// Keep no more than the limit allows (and one byte to tell that
		// it is exceeded), whatever the size of the chunk.
		m.lineBuf = append(m.lineBuf, c[:min(len(c), limit+2-len(m.lineBuf))]...)
		if len(m.lineBuf) > limit+1 {
			m.err = syntaxErr(start, tooLong, what+" longer than "+strconv.Itoa(limit)+" bytes")
			return nil, 0, false
		}
	}
}

// chunked decodes a chunked body (RFC 9112 §7.1). It returns the next
// piece of chunk data, or nil after a state change or an error.
func (m *MessageReader) chunked(limit int) []byte {
	switch m.state {
	case msgChunkSize:
		line, off, ok := m.readLine(m.opts.MaxStartLineBytes, ErrBadChunk, "chunk-size line")
		if !ok {
			return nil
		}
		// A bare LF ends no chunk line: net/http rejects it too since
		// CVE-2025-22871, as a proxy may frame such a body differently.
		if len(line) == 0 || line[len(line)-1] != '\r' {
			m.err = syntaxErr(off+int64(len(line)), ErrBadChunk, "chunk-size line ends with a bare LF")
			return nil
		}
		size, err := parseChunkSize(line, off)
		if err != nil {
			m.err = err
			return nil
		}
		if size == 0 {
			m.state = msgTrailer
			m.trailerBuf = m.trailerBuf[:0]
			return nil
		}
		m.state, m.remain = msgChunkData, size
	case msgChunkData:
		c := m.counted(limit, "input ends inside a chunk")
		if m.remain == 0 {
			m.state = msgChunkEnd
		}
		return c
	case msgChunkEnd:
		line, off, ok := m.readLine(1, ErrBadChunk, "line end after chunk data")
		if !ok {
			return nil
		}
		if len(line) != 1 || line[0] != '\r' {
			m.err = syntaxErr(off, ErrBadChunk, "chunk data not followed by CRLF")
			return nil
		}
		m.state = msgChunkSize
	case msgTrailer:
		line, off, ok := m.readLine(m.opts.MaxHeaderBytes, ErrHeaderTooLarge, "trailer field line")
		if !ok {
			return nil
		}
		start := len(m.trailerBuf)
		m.trailerBuf = append(m.trailerBuf, line...)
		m.trailerBuf = append(m.trailerBuf, '\n')
		if len(m.trailerBuf) > m.opts.MaxHeaderBytes {
			m.err = syntaxErr(off, ErrHeaderTooLarge, "trailer section longer than "+strconv.Itoa(m.opts.MaxHeaderBytes)+" bytes")
			return nil
		}
		if len(line) > 1 || len(line) == 1 && line[0] != '\r' {
			return nil // a field line; wait for the empty line
		}
		// The empty line: parse the section. Its offset is that of the
		// last line less the lines before it.
		h := m.trailer
		h.buf = m.trailerBuf
		h.fields = h.fields[:0]
		var fr framingScan // a trailer section frames nothing
		if _, err := parseHTTPFields(h, 0, off-int64(start), m.opts.MaxHeaderFields, false, &fr); err != nil {
			m.err = err
			return nil
		}
		m.state = msgTail
	}
	return nil
}

// parseChunkSize parses a chunk-size line: 1 to 16 hex digits for a size
// that fits an int64, then optionally white space and chunk extensions
// (";" and anything but control characters), then CRLF. off is the line's
// stream offset.
func parseChunkSize(line []byte, off int64) (int64, error) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	var size uint64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c|0x20 >= 'a' && c|0x20 <= 'f':
			d = c | 0x20 - 'a' + 10
		default:
			goto done
		}
		if size > (1<<63-1)>>4 || i == 16 {
			// Over 16 digits, even leading zeros: net/http refuses
			// them ("http chunk length too large").
			return 0, syntaxErr(off, ErrBadChunk, "chunk size overflows")
		}
		size = size<<4 | uint64(d)
	}
done:
	if i == 0 {
		return 0, syntaxErr(off, ErrBadChunk, "chunk size "+quote(string(line))+" is not hexadecimal")
	}
	ext := line[i:]
	for len(ext) > 0 && (ext[0] == ' ' || ext[0] == '\t') {
		ext = ext[1:]
	}
	if len(ext) > 0 && ext[0] != ';' {
		return 0, syntaxErr(off+int64(i), ErrBadChunk, "chunk size "+quote(string(line))+" is not hexadecimal")
	}
	if j := badValueByte(ext); j >= 0 {
		return 0, syntaxErr(off+int64(len(line)-len(ext)+j), ErrBadChunk, "control character in chunk extension")
	}
	return int64(size), nil
}
