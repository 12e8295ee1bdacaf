package mixed

import "io"

// Large reads without a copy through the Reader's buffer.
//
// When the caller reads a part body into a buffer at least as large as the
// Reader's (Part.Read with a large p, io.ReadFull, io.CopyBuffer with a
// large buffer) and the Reader holds no unread input, the source is read
// straight into the caller's buffer and searched there, as bufio.Reader.Read
// does for large reads. What follows the body (a delimiter and whatever
// comes after it), or what may be the start of a delimiter split across
// reads, is moved to the Reader's buffer, where the ordinary path decides
// it: so the result is the same as through the buffer, whatever the
// chunking. Part.WriteTo and ReadChunk hand out views of the Reader's
// buffer as before.

// readDirect reads body bytes from the source straight into p, when the
// state allows it, and reports whether it did; it returns the number of
// body bytes in p, at least one. Otherwise the caller goes the buffered
// way, to which readDirect may have handed bytes or an error from src.
func (mr *Reader) readDirect(p []byte) (int, bool) {
	if len(p) < len(mr.buf) || mr.r != mr.w || mr.avail != 0 || mr.state != stateBody ||
		mr.bodyEnd || mr.atStart || mr.err != nil || mr.rerr != nil || mr.src == nil {
		return 0, false
	}
	// At most a buffer's worth: whatever follows the body must fit the
	// buffer once given back.
	p = p[:len(mr.buf)]
	var n int
	var err error
	for range 100 {
		n, err = mr.src.Read(p)
		if n != 0 || err != nil {
			break
		}
	}
	if n < 0 || n > len(p) {
		mr.rerr = errInvalidRead
		return 0, false
	}
	if n == 0 && err == nil {
		mr.rerr = io.ErrNoProgress
		return 0, false
	}
	base := mr.off + int64(mr.w) // stream offset of p[0]
	keep := n                    // p[keep:n] goes back to the buffer
	if err != nil {
		// The end of the input, or an error: the buffered path knows what
		// they mean for the bytes before them.
		mr.rerr = err
		keep = 0
	} else {
		keep = mr.bodyPrefix(p[:n])
	}
	copy(mr.buf, p[keep:n])
	mr.off = base + int64(keep)
	mr.r, mr.w = 0, n-keep
	mr.scan = 0
	if keep == 0 {
		return 0, false
	}
	return keep, true
}

// bodyPrefix returns how many bytes at the start of b, body bytes read
// after all body bytes before them were given out, are surely body: up to
// the first candidate delimiter that is not ruled out by the bytes after
// it, or else up to a possible partial delimiter at the end of b.
func (mr *Reader) bodyPrefix(b []byte) int {
	for from := 0; ; {
		i := mr.find.index(b[from:])
		if i < 0 {
			break
		}
		i += from
		if k, _ := delimLine(b[i+len(mr.delim):], mr.crlf, false, false, mr.opts.MaxLineBytes); k != dlNot {
			return i
		}
		from = i + 1
	}
	return len(b) - partialSuffix(b, mr.delim)
}
