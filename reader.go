package mixed

import (
	"bytes"
	"io"
	"strconv"
)

// Default limits of a [Reader]; see [ReaderOptions].
const (
	DefaultBufferSize      = 64 << 10
	DefaultMaxHeaderBytes  = 64 << 10
	DefaultMaxHeaderFields = 100
	DefaultMaxParts        = 10000
	DefaultMaxLineBytes    = 8 << 10
	DefaultMaxDepth        = 4
)

// ReaderOptions configures a [Reader]. A zero or negative field selects its
// default, so the zero value means "all defaults". See the package
// documentation's Limits section.
type ReaderOptions struct {
	// BufferSize is the size of the read buffer (default 64 KiB). The
	// Reader grows it when a header block needs more, up to MaxHeaderBytes.
	BufferSize int
	// MaxHeaderBytes limits one part's header block, counted as on the
	// wire: its field lines with their line ends, and the empty line that
	// ends it (default 64 KiB): ErrHeaderTooLarge. It counts the same
	// bytes as WriterOptions.MaxHeaderBytes, and as
	// MessageOptions.MaxHeaderBytes for an embedded message's head (which
	// has a start line besides).
	MaxHeaderBytes int
	// MaxHeaderFields limits the fields of one part's header, a folded
	// field counting once (default 100): ErrTooManyFields.
	MaxHeaderFields int
	// MaxParts limits the parts of one body (default 10,000):
	// ErrTooManyParts.
	MaxParts int
	// MaxLineBytes limits a preamble line, and the transport padding of a
	// delimiter line (default 8 KiB): ErrLineTooLong.
	MaxLineBytes int
	// MaxDepth limits nesting: a Reader on a Part of a Reader on a Part ...
	// may be MaxDepth levels below the outermost one (default 4):
	// ErrNestingTooDeep.
	MaxDepth int
}

func (o ReaderOptions) withDefaults() ReaderOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.BufferSize, DefaultBufferSize)
	def(&o.MaxHeaderBytes, DefaultMaxHeaderBytes)
	def(&o.MaxHeaderFields, DefaultMaxHeaderFields)
	def(&o.MaxParts, DefaultMaxParts)
	def(&o.MaxLineBytes, DefaultMaxLineBytes)
	def(&o.MaxDepth, DefaultMaxDepth)
	// The buffer must hold a whole delimiter line with its padding, and
	// one byte of body beside a held-back partial delimiter.
	if least := o.MaxLineBytes + 2*(4+maxBoundary) + 16; o.BufferSize < least {
		o.BufferSize = least
	}
	return o
}

// Reader states.
const (
	statePreamble = iota // before the first delimiter
	stateHeader          // after a delimiter line, before a part's header
	stateBody            // in a part's body
	stateDone            // after the close delimiter
)

// A Reader reads the parts of a multipart body (RFC 2046 §5.1) as a stream.
//
// The body is split at delimiters: CRLF, "--", the boundary, optional
// transport padding (spaces and tabs), and CRLF. The first delimiter may
// open the body without the CRLF before it; anything before it (the
// preamble) and after the close delimiter ("--" boundary "--", the epilogue)
// is ignored. The CRLF before a delimiter belongs to the delimiter, not to
// the part body before it. "--" boundary followed by another character is
// not a delimiter.
//
// Line endings: the first delimiter line fixes the style for the whole body.
// If it ends in CRLF, only CRLF "--" boundary delimits, and a bare-LF
// "--" boundary inside a body is body data; if it ends in a bare LF (which
// real peers send, and which mime/multipart accepts too), LF "--" boundary
// delimits. Splitting at both would let two parsers of the same bytes see
// different parts. Header lines may end in CRLF or LF either way.
//
// Memory is bounded by the buffer and the limits of [ReaderOptions],
// whatever the input; the work done is linear in the input. The result does
// not depend on how the underlying reader splits its bytes.
//
// A Reader created with [NewReader] on a [*Part] reads a nested multipart
// body (an OData changeset) straight from that part.
type Reader struct {
	src  io.Reader
	buf  []byte
	r, w int   // unread bytes are buf[r:w]
	off  int64 // stream offset of buf[0]
	rerr error // error from src, kept until the buffered bytes are used up
	err  error // sticky error

	given ReaderOptions // as the caller gave them: zero fields inherit
	opts  ReaderOptions // resolved by Reset, from given and the parent's
	depth int
	state int
	parts int

	// The delimiter: dbuf holds "\r\n--" + boundary; delim is dbuf or
	// dbuf[1:] once the first delimiter line has fixed the line endings;
	// dash is "--" + boundary.
	dbuf  [4 + maxBoundary]byte
	delim []byte
	dash  []byte
	crlf  bool
	find  finder

	// Body state: avail bytes at buf[r:] are known to be body; if bodyEnd,
	// a delimiter line of dlen bytes follows them (close reports the close
	// delimiter). atStart reports that no byte of the body has been given
	// out or skipped yet.
	avail   int
	bodyEnd bool
	close   bool
	dlen    int
	atStart bool

	// scan remembers how far a preamble line search got between fills,
	// relative to r, so that short reads never cause a rescan.
	scan int

	// padOff is the stream offset of the bytes after a candidate delimiter
	// whose line was still incomplete, and padN how many spaces and tabs
	// are known to start there, so that padding arriving in short reads is
	// scanned once.
	padOff int64
	padN   int

	pre *preFinder // preamble.go

	part   Part
	parent partRef // src, when it is a *Part
}

// NewReader returns a Reader that reads the parts of a multipart body from
// r, delimited by boundary, with the default [ReaderOptions]; or, when r is
// a [*Part], with the options of the Reader that part belongs to, one
// nesting level deeper.
//
// An invalid boundary (empty, over 70 bytes, ending in a space, or with a
// byte that is not an RFC 2046 bchar: digits, letters, '()+_,-./:=? and
// space) is reported by the first call to NextPart, as an error wrapping
// [ErrBadBoundary].
func NewReader(r io.Reader, boundary string) *Reader {
	return NewReaderOptions(r, boundary, ReaderOptions{})
}

// NewReaderOptions is like [NewReader] with explicit options. When r is a
// [*Part], zero fields of opts are taken from the options of the Reader that
// part belongs to rather than from the defaults.
func NewReaderOptions(r io.Reader, boundary string, opts ReaderOptions) *Reader {
	mr := new(Reader)
	mr.given = opts
	mr.Reset(r, boundary)
	return mr
}

// Reset discards the Reader's state and makes it read a new body from src,
// delimited by boundary, keeping its options and reusing its buffers. A
// Reader reset for every body allocates nothing in steady state.
//
// The options are resolved anew on every Reset from those given to
// [NewReaderOptions]: when src is a [*Part], their zero fields come from
// the options of the Reader that part belongs to, so a Reader reused for
// the parts of different Readers takes each one's limits.
//
// The zero Reader is ready to use after Reset, with the default options.
func (mr *Reader) Reset(src io.Reader, boundary string) {
	mr.depth = 0
	opts := mr.given
	if p, ok := src.(*Part); ok && p.r != nil {
		mr.depth = p.r.depth + 1
		parent := p.r.opts
		inherit := func(v *int, from int) {
			if *v <= 0 {
				*v = from
			}
		}
		inherit(&opts.BufferSize, parent.BufferSize)
		inherit(&opts.MaxHeaderBytes, parent.MaxHeaderBytes)
		inherit(&opts.MaxHeaderFields, parent.MaxHeaderFields)
		inherit(&opts.MaxParts, parent.MaxParts)
		inherit(&opts.MaxLineBytes, parent.MaxLineBytes)
		inherit(&opts.MaxDepth, parent.MaxDepth)
	}
	mr.opts = opts.withDefaults()
	if _, mem := src.(memSource); !mem && cap(mr.buf) < mr.opts.BufferSize { // bytesreader.go
		mr.buf = make([]byte, mr.opts.BufferSize)
	}
	mr.buf = mr.buf[:cap(mr.buf)]
	mr.src = src
	mr.r, mr.w, mr.off = 0, 0, 0
	mr.rerr, mr.err = nil, nil
	mr.state, mr.parts = statePreamble, 0
	mr.avail, mr.bodyEnd, mr.close, mr.dlen, mr.atStart = 0, false, false, 0, false
	mr.scan = 0
	mr.padOff, mr.padN = 0, 0
	mr.part.r = mr
	mr.part.gen++
	mr.part.Header.Reset()
	mr.parent = refOf(src)

	if err := checkBoundary(boundary); err != nil {
		mr.err = err
		return
	}
	if mr.depth > mr.opts.MaxDepth {
		mr.err = argErr(ErrNestingTooDeep, "depth "+strconv.Itoa(mr.depth)+" exceeds "+strconv.Itoa(mr.opts.MaxDepth))
		return
	}
	n := copy(mr.dbuf[:], "\r\n--")
	n += copy(mr.dbuf[n:], boundary)
	mr.delim = mr.dbuf[:n]
	mr.dash = mr.dbuf[2:n]
	mr.crlf = true
	mr.find.reset(mr.delim, 4)
}

// NextPart returns the next part of the body, or [io.EOF] after the close
// delimiter. The rest of the previous part's body, if it was not read to
// the end, is skipped.
//
// The returned Part is owned by the Reader and reused: it, its Header and
// every view they returned are valid until the next call to NextPart or
// Reset.
//
// Errors are sticky: once NextPart or a Part method has failed, NextPart
// returns the same error. A body that ends before its close delimiter gives
// an error wrapping [io.ErrUnexpectedEOF].
func (mr *Reader) NextPart() (*Part, error) {
	if mr.src == nil {
		return nil, errZeroReader
	}
	mr.part.gen++
	for {
		if mr.err != nil {
			return nil, mr.err
		}
		switch mr.state {
		case statePreamble:
			mr.preamble()
		case stateBody:
			mr.skipBody()
		case stateHeader:
			if mr.header() {
				return &mr.part, nil
			}
		case stateDone:
			return nil, io.EOF
		}
	}
}

// Buffered returns how many bytes the Reader has read from its source and
// not yet consumed. After NextPart has returned io.EOF they are the start
// of the epilogue, which came in with the close delimiter.
func (mr *Reader) Buffered() int { return mr.w - mr.r }

// fill reads more input into the buffer, first moving the unread bytes to
// its start. It reads once: a Reader never waits for more input than it
// needs to make progress.
func (mr *Reader) fill() {
	if mr.r > 0 {
		copy(mr.buf, mr.buf[mr.r:mr.w])
		mr.off += int64(mr.r)
		mr.w -= mr.r
		mr.r = 0
	}
	if mr.w == len(mr.buf) {
		// The callers grow the buffer before filling a full one; this
		// would be a bug, reported rather than spun on.
		mr.rerr = io.ErrShortBuffer
		return
	}
	if mr.parent.gone() {
		mr.rerr = errParentGone
		return
	}
	for range 100 {
		n, err := mr.src.Read(mr.buf[mr.w:])
		if n < 0 || n > len(mr.buf)-mr.w {
			mr.rerr = errInvalidRead
			return
		}
		mr.w += n
		if err != nil {
			mr.rerr = err
			return
		}
		if n > 0 {
			return
		}
	}
	mr.rerr = io.ErrNoProgress
}

var errInvalidRead = argErr(io.ErrShortBuffer, "underlying reader returned an invalid count")

// consume advances past n unread bytes.
func (mr *Reader) consume(n int) {
	mr.r += n
	mr.scan = 0
}

// offset returns the stream offset of buf[i].
func (mr *Reader) offset(i int) int64 { return mr.off + int64(i) }

// eofErr turns the end of input inside the body into the error to report.
func (mr *Reader) eofErr(where string) error {
	if mr.rerr == io.EOF {
		return syntaxErr(mr.offset(mr.w), io.ErrUnexpectedEOF, where)
	}
	return mr.rerr
}

// Results of delimLine.
const (
	dlMore  = iota // more input is needed to decide
	dlNot          // not a delimiter: the boundary is followed by other bytes
	dlPart         // a delimiter line; a part follows
	dlClose        // the close delimiter
	dlBad          // boundary, padding, then something other than a line end
	dlLong         // padding longer than the line limit
	dlTrunc        // the input ends inside the delimiter line
)

// delimLine decides what b, the bytes right after "--" boundary, make of
// it, and returns how many bytes of b belong to the delimiter line. first
// reports the first delimiter line, which may end in CRLF or LF and so
// fixes the line-ending style; later ones must end as it did. At eof no
// more input will come.
func delimLine(b []byte, crlf, first, eof bool, maxPad int) (kind, n int) {
	if len(b) == 0 {
		if eof {
			return dlTrunc, 0
		}
		return dlMore, 0
	}
	if b[0] == '-' {
		switch {
		case len(b) < 2 && !eof:
			return dlMore, 0
		case len(b) >= 2 && b[1] == '-':
			return dlClose, 2
		}
		return dlNot, 0
	}
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	if i > maxPad {
		return dlLong, 0
	}
	if i == len(b) {
		if eof {
			return dlTrunc, 0
		}
		return dlMore, 0
	}
	switch b[i] {
	case '\r':
		if i+1 == len(b) {
			if eof {
				return dlTrunc, 0
			}
			return dlMore, 0
		}
		if b[i+1] == '\n' {
			return dlPart, i + 2
		}
		return dlBad, 0
	case '\n':
		if !crlf || first {
			return dlPart, i + 1
		}
		return dlBad, 0
	}
	if i == 0 {
		return dlNot, 0
	}
	return dlBad, 0
}

// preamble skips lines up to and including the first delimiter line.
func (mr *Reader) preamble() {
	mr.startPreamble() // preamble.go
	for {
		if mr.scan == 0 && mr.off+int64(mr.r) >= preambleFastAfter {
			mr.skipPreambleLines() // preamble.go
		}
		b := mr.buf[mr.r:mr.w]
		nl := bytes.IndexByte(b[mr.scan:], '\n')
		if nl < 0 {
			mr.scan = len(b)
			// The limit excludes the line end; a CR may still await its LF.
			if len(b) > mr.opts.MaxLineBytes+1 {
				mr.err = syntaxErr(mr.offset(mr.r), ErrLineTooLong, "preamble line longer than "+strconv.Itoa(mr.opts.MaxLineBytes)+" bytes")
				return
			}
			if mr.rerr != nil {
				// "--boundary--" may end the input without a line end,
				// followed by padding only (see below).
				if bytes.HasPrefix(b, mr.dash) {
					if k, n := delimLine(b[len(mr.dash):], true, true, true, mr.opts.MaxLineBytes); k == dlClose && len(bytes.TrimLeft(b[len(mr.dash)+n:], " \t")) == 0 {
						mr.consume(len(b))
						mr.state = stateDone
						return
					}
				}
				mr.err = syntaxErr(mr.offset(mr.w), io.ErrUnexpectedEOF, "no boundary delimiter found")
				if mr.rerr != io.EOF {
					mr.err = mr.rerr
				}
				return
			}
			mr.fill()
			continue
		}
		line := b[:mr.scan+nl+1]
		content := len(line) - 1 // the limit excludes the line end
		if content > 0 && line[content-1] == '\r' {
			content--
		}
		if content > mr.opts.MaxLineBytes {
			mr.err = syntaxErr(mr.offset(mr.r), ErrLineTooLong, "preamble line longer than "+strconv.Itoa(mr.opts.MaxLineBytes)+" bytes")
			return
		}
		if bytes.HasPrefix(line, mr.dash) {
			switch k, n := delimLine(line[len(mr.dash):], true, true, true, mr.opts.MaxLineBytes); k {
			case dlClose:
				// RFC 2046 allows only padding after a close delimiter
				// on its line: "--boundary--junk" is a preamble line,
				// as mime/multipart reads it, not the end.
				if rest := bytes.TrimLeft(line[len(mr.dash)+n:], " \t"); string(rest) != "\n" && string(rest) != "\r\n" {
					break
				}
				mr.consume(len(line))
				mr.state = stateDone
				return
			case dlPart:
				if line[len(mr.dash)+n-2] != '\r' {
					mr.crlf = false
					mr.delim = mr.dbuf[1 : len(mr.dash)+2]
					mr.find.reset(mr.delim, 3)
				}
				mr.consume(len(line))
				mr.state = stateHeader
				return
			}
		}
		mr.consume(len(line))
	}
}

// header reads a part's header block; it reports whether a part is ready.
func (mr *Reader) header() bool {
	if mr.parts == mr.opts.MaxParts {
		mr.err = syntaxErr(mr.offset(mr.r), ErrTooManyParts, "more than "+strconv.Itoa(mr.opts.MaxParts)+" parts")
		return false
	}
	mr.part.Header.Reset()
	var hdrErr error
	// One scan of the block (scan.go); ln, the start of the current
	// line, and ls survive fills, which move the unread bytes but not
	// their positions relative to mr.r. fresh says that no byte of the
	// line at ln has been looked at yet: ls is then not started, which
	// the lines fieldLine reads never need.
	var ls lineState
	ln, fresh := 0, true
	for {
		b := mr.buf[mr.r:mr.w]
		for {
			nl := -1
			if fresh {
				// The empty line, and the field lines peers send, need
				// no scanLine (fieldLine); it reads the others, and
				// those cut by the end of b.
				if ln+1 < len(b) && b[ln] == '\r' && b[ln+1] == '\n' {
					nl = ln + 1
				} else {
					if hdrErr == nil && len(mr.part.Header.fields) < mr.opts.MaxHeaderFields {
						if colon, vs, ve, next := fieldLine(b, ln); next >= 0 {
							mr.part.Header.addLine(b[ln:ve], colon-ln, vs-ln)
							ln = next
							continue
						}
					}
					ls.start(ln)
					fresh = false
				}
			}
			if nl < 0 {
				if nl = scanLine(b, &ls); nl < 0 {
					break
				}
			}
			start, end := ln, nl+1
			if n := end - start; n == 1 || n == 2 && b[start] == '\r' {
				if end > mr.opts.MaxHeaderBytes {
					mr.err = syntaxErr(mr.offset(mr.r), ErrHeaderTooLarge, "part header longer than "+strconv.Itoa(mr.opts.MaxHeaderBytes)+" bytes")
					return false
				}
				if hdrErr != nil {
					mr.err = hdrErr
					return false
				}
				mr.consume(end)
				mr.parts++
				mr.state = stateBody
				mr.avail, mr.bodyEnd, mr.close, mr.dlen, mr.atStart = 0, false, false, 0, true
				return true
			}
			if hdrErr == nil {
				line := b[start:nl]
				if n := len(line); line[n-1] == '\r' {
					line = line[:n-1]
				}
				hdrErr = addMIMEField(&mr.part.Header, line, ls.relative(start), mr.offset(mr.r+start), mr.opts.MaxHeaderFields)
			}
			ln, fresh = end, true
		}
		if len(b) > mr.opts.MaxHeaderBytes {
			mr.err = syntaxErr(mr.offset(mr.r), ErrHeaderTooLarge, "part header longer than "+strconv.Itoa(mr.opts.MaxHeaderBytes)+" bytes")
			return false
		}
		if mr.rerr != nil {
			mr.err = mr.eofErr("input ends inside a part header")
			return false
		}
		if mr.r == 0 && mr.w == len(mr.buf) {
			mr.grow()
		}
		mr.fill()
	}
}

// grow enlarges a full buffer so that a header block up to MaxHeaderBytes
// fits; it is only needed when BufferSize is smaller than that.
func (mr *Reader) grow() {
	n := 2 * len(mr.buf)
	if limit := mr.opts.MaxHeaderBytes + 2*(4+maxBoundary) + 16; n > limit && limit > len(mr.buf) {
		n = limit
	}
	nb := make([]byte, n)
	copy(nb, mr.buf[:mr.w])
	mr.buf = nb
}

// scanBody finds out how much of the unread input is body, setting avail,
// or finds the end of the body, setting bodyEnd. It may decide nothing, when
// more input is needed.
func (mr *Reader) scanBody() {
	b := mr.buf[mr.r:mr.w]
	eof := mr.rerr != nil
	if mr.atStart && (len(b) == 0 || b[0] == '-') {
		// A delimiter right after the header's empty line: the empty line
		// doubles as the delimiter's CRLF and the body is empty. (The
		// test of b[0] spares the comparisons for the bodies that do
		// not start with '-', nearly all of them.)
		if len(b) < len(mr.dash) && bytes.HasPrefix(mr.dash, b) && !eof {
			return
		}
		if bytes.HasPrefix(b, mr.dash) {
			k, n := mr.delimAt(b, len(mr.dash), eof)
			if mr.endAt(0, len(mr.dash), k, n) {
				return
			}
		}
	}
	for from := 0; ; {
		i := mr.find.index(b[from:])
		if i < 0 {
			break
		}
		i += from
		// The delimiter lines peers send end right after the boundary:
		// the verdict of delimAt, without its calls.
		if j := i + len(mr.delim); j+1 < len(b) && b[j] == '\r' && b[j+1] == '\n' {
			mr.avail, mr.bodyEnd, mr.close, mr.dlen = i, true, false, len(mr.delim)+2
			if i > 0 {
				mr.atStart = false
			}
			return
		}
		k, n := mr.delimAt(b, i+len(mr.delim), eof)
		if mr.endAt(i, len(mr.delim), k, n) {
			return
		}
		from = i + 1
	}
	if eof {
		mr.avail = len(b)
	} else {
		mr.avail = len(b) - partialSuffix(b, mr.delim)
	}
	if mr.avail > 0 {
		mr.atStart = false
	}
}

// delimAt is delimLine for the bytes at b[at:] after a candidate delimiter in
// the body, b being the unread input. It resumes after the padding that an
// earlier call on the same candidate saw: rescanning it on every short read
// would be quadratic in its length.
func (mr *Reader) delimAt(b []byte, at int, eof bool) (kind, n int) {
	rest, skip := b[at:], 0
	if off := mr.offset(mr.r + at); off == mr.padOff && mr.padN > 1 {
		// Keep one known padding byte, so that delimLine sees padding
		// and not the start of the line.
		skip = mr.padN - 1
	}
	k, n := delimLine(rest[skip:], mr.crlf, false, eof, mr.opts.MaxLineBytes-skip)
	if k == dlMore {
		p := skip
		for p < len(rest) && (rest[p] == ' ' || rest[p] == '\t') {
			p++
		}
		mr.padOff, mr.padN = mr.offset(mr.r+at), p
	}
	return k, n + skip
}

// endAt acts on the verdict k of delimLine for a candidate delimiter of dl
// bytes at b[i]; it reports whether the scan is over.
func (mr *Reader) endAt(i, dl, k, n int) bool {
	switch k {
	case dlNot:
		return false
	case dlPart, dlClose:
		mr.avail, mr.bodyEnd, mr.close, mr.dlen = i, true, k == dlClose, dl+n
	case dlMore:
		mr.avail = i
	case dlBad:
		mr.err = syntaxErr(mr.offset(mr.r+i), ErrSyntax, "malformed delimiter line")
	case dlLong:
		mr.err = syntaxErr(mr.offset(mr.r+i), ErrLineTooLong, "transport padding longer than "+strconv.Itoa(mr.opts.MaxLineBytes)+" bytes")
	case dlTrunc:
		mr.err = mr.eofErr("input ends inside a delimiter line")
	}
	if mr.avail > 0 {
		mr.atStart = false
	}
	return true
}

// bodyChunk returns up to limit bytes of body as a view into the buffer, or
// io.EOF at the end of the body.
func (mr *Reader) bodyChunk(limit int) ([]byte, error) {
	for mr.avail == 0 {
		if mr.err != nil {
			return nil, mr.err
		}
		if mr.state != stateBody || mr.bodyEnd {
			return nil, io.EOF
		}
		mr.scanBody()
		if mr.avail > 0 || mr.bodyEnd || mr.err != nil {
			continue
		}
		if mr.rerr != nil {
			mr.err = mr.eofErr("input ends inside a part body")
			continue
		}
		mr.fill()
	}
	n := mr.avail
	if n > limit {
		n = limit
	}
	b := mr.buf[mr.r : mr.r+n : mr.r+n]
	mr.r += n
	mr.avail -= n
	return b, nil
}

// skipBody discards the rest of the current part and its delimiter line.
func (mr *Reader) skipBody() {
	for {
		mr.r += mr.avail
		mr.avail = 0
		if mr.bodyEnd {
			break
		}
		if _, err := mr.bodyChunk(0); err != nil && err != io.EOF {
			return
		}
	}
	mr.consume(mr.dlen)
	mr.bodyEnd = false
	if mr.close {
		mr.state = stateDone
	} else {
		mr.state = stateHeader
	}
}

// A Part is one part of a multipart body: its Header, and its body, read
// through the methods of Part.
//
// A Part belongs to the [Reader] that returned it and is reused by it: the
// Part, its Header and every view they returned are valid until the next
// call to [Reader.NextPart] or [Reader.Reset].
type Part struct {
	// Header is the part's header. Its views are valid until the next
	// call to NextPart.
	Header Header

	r   *Reader
	gen uint64 // changed whenever the Reader moves on: see partRef
}

// A partRef remembers a *Part that something reads from (a nested Reader,
// a MessageReader) and which part it was then: the Reader reuses its Part
// for the next part, and a late read must fail rather than return the
// next part's bytes.
type partRef struct {
	p   *Part
	gen uint64
}

func refOf(src io.Reader) partRef {
	if p, ok := src.(*Part); ok {
		return partRef{p, p.gen}
	}
	return partRef{}
}

// gone reports whether the part's Reader has moved past it.
func (r partRef) gone() bool { return r.p != nil && r.p.gen != r.gen }

// Read reads body bytes into b. It returns [io.EOF] at the end of the body,
// and an error wrapping [io.ErrUnexpectedEOF] if the input ends first.
// When b is at least as large as the Reader's buffer and the Reader holds
// no unread input, the source is read straight into b, without a copy
// through the buffer; the result is the same either way.
func (p *Part) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if n, ok := p.r.readDirect(b); ok { // largeread.go
		return n, nil
	}
	c, err := p.r.bodyChunk(len(b))
	return copy(b, c), err
}

// ReadChunk returns the next piece of the body as a view into the Reader's
// buffer, without copying it. The view is valid until the next call to any
// method of the Part or its Reader; copy it (append([]byte(nil), c...)) to
// keep it. At the end of the body ReadChunk returns nil, [io.EOF]. Pieces
// are as large as the buffered input allows; their sizes depend on how the
// underlying reader splits its bytes, their concatenation does not.
func (p *Part) ReadChunk() ([]byte, error) {
	return p.r.bodyChunk(int(^uint(0) >> 1))
}

// WriteTo writes the rest of the body to w straight from the Reader's
// buffer. It implements [io.WriterTo], so [io.Copy] uses it.
func (p *Part) WriteTo(w io.Writer) (int64, error) {
	mr := p.r
	c, err := mr.bodyChunk(int(^uint(0) >> 1))
	if err == nil && mr.avail == 0 && mr.bodyEnd && mr.err == nil {
		// c is the rest of the body, whose end has been found, as
		// it is for a body buffered whole: one Write, without the
		// call of ReadChunk that would return io.EOF.
		n, werr := w.Write(c)
		if werr == nil && n < len(c) {
			werr = io.ErrShortWrite
		}
		return int64(n), werr
	}
	return writeChunksFrom(w, p, c, err)
}

// writeChunks writes the views src hands out to w until src's io.EOF: the
// WriteTo of every type that has a ReadChunk.
func writeChunks(w io.Writer, src chunkReader) (int64, error) {
	c, err := src.ReadChunk()
	return writeChunksFrom(w, src, c, err)
}

// writeChunksFrom is writeChunks once src has returned c and err.
func writeChunksFrom(w io.Writer, src chunkReader, c []byte, err error) (int64, error) {
	var total int64
	for {
		if len(c) > 0 {
			n, werr := w.Write(c)
			total += int64(n)
			if werr == nil && n < len(c) {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		c, err = src.ReadChunk()
	}
}

// chunkReader is a source that hands out views of its own buffer, such as
// a *Part.
type chunkReader interface {
	ReadChunk() ([]byte, error)
}
