package mixed

import (
	"bytes"
	"io"
)

// A Writer writes a multipart body: a delimiter line, a header and a body for
// each part, then the close delimiter.
//
// A Writer is strict: it never writes what a [Reader] would reject or read
// differently. Boundaries follow RFC 2046 (1 to 70 bchars, not ending in a
// space); header names must be tokens and values may hold no CR, LF, NUL or
// other control character but HTAB, nor begin or end with white space
// (which readers drop); a part header may have no more fields or bytes
// than a default Reader reads ([WriterOptions] change the limits); and with
// the delimiter check on (the default) a body that contains the Writer's
// own delimiter fails with [ErrDelimiterInBody] instead of silently ending
// its part early.
//
// Writes go straight to the destination: wrap it in a [bufio.Writer] if it
// is costly to write to in small pieces. Line endings are CRLF.
type Writer struct {
	opts    WriterOptions // resolved
	dst     io.Writer
	bnd     [maxBoundary]byte
	blen    int
	buf     []byte // the delimiter line and header of the next part
	parts   int
	closed  bool
	check   delimiterCheck // set by SetDelimiterCheck
	err     error          // sticky: a failed write leaves a body no reader accepts
	written int64
	pw      partWriter
	guard   guard
}

// WriterOptions configures a [Writer]: the limits it enforces on part
// headers, so that it never writes a part a [Reader] with the same limits
// would refuse. A zero or negative field selects its default, the
// default of the matching [ReaderOptions] field, so the zero value means
// "what a default Reader accepts".
type WriterOptions struct {
	// MaxHeaderBytes limits one part's header block as
	// ReaderOptions.MaxHeaderBytes counts it: its field lines with their
	// CRLFs, and the empty line that ends it (default 64 KiB):
	// ErrHeaderTooLarge.
	MaxHeaderBytes int
	// MaxHeaderFields limits the fields of one part's header (default
	// 100): ErrTooManyFields.
	MaxHeaderFields int
}

func (o WriterOptions) withDefaults() WriterOptions {
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxHeaderFields <= 0 {
		o.MaxHeaderFields = DefaultMaxHeaderFields
	}
	return o
}

// NewWriter returns a Writer that writes a multipart body to w, with a
// random boundary of 32 characters from crypto/rand, and the default
// [WriterOptions].
func NewWriter(w io.Writer) *Writer {
	return NewWriterOptions(w, WriterOptions{})
}

// NewWriterOptions is like [NewWriter] with explicit options.
func NewWriterOptions(w io.Writer, opts WriterOptions) *Writer {
	mw := &Writer{opts: opts}
	mw.Reset(w)
	return mw
}

// Reset discards the Writer's state and makes it write a new body to dst,
// with a new random boundary, keeping its buffers, its options and the
// delimiter-check setting. A Writer reset for every body allocates nothing
// in steady state. The zero Writer is ready to use after Reset, with the
// default options; before, CreatePart and Close return an error.
func (w *Writer) Reset(dst io.Writer) {
	w.opts = w.opts.withDefaults()
	w.dst = dst
	w.blen = 32
	randomBoundary(w.bnd[:w.blen])
	w.buf = w.buf[:0]
	w.parts = 0
	w.closed = false
	w.err = nil
	w.written = 0
	w.pw.w = w
	w.guard.reset(w.bnd[:w.blen])
}

// Boundary returns the Writer's boundary.
func (w *Writer) Boundary() string { return string(w.bnd[:w.blen]) }

// SetBoundary replaces the random boundary. It must be called before the
// first part is created or the Writer closed: a later call is a misuse,
// reported by an error that wraps none of the package's sentinels, as
// mime/multipart reports it. The boundary must hold 1 to 70 RFC 2046
// bchars and not end in a space; otherwise the error wraps
// [ErrBadBoundary].
func (w *Writer) SetBoundary(boundary string) error {
	if w.parts > 0 || w.closed {
		return errLateBoundary
	}
	if err := checkBoundary(boundary); err != nil {
		return err
	}
	w.blen = copy(w.bnd[:], boundary)
	w.guard.reset(w.bnd[:w.blen])
	return nil
}

// SetDelimiterCheck turns the check for the Writer's delimiter inside part
// bodies on (the default) or off. Turn it off only for bodies known not to
// contain it, such as ones built from trusted, fixed parts.
func (w *Writer) SetDelimiterCheck(on bool) {
	w.check = checkOff
	if on {
		w.check = checkOn
	}
}

// delimiterCheck is the setting of SetDelimiterCheck, on in the zero value
// (so that a zero Writer after Reset checks) and kept by Reset.
type delimiterCheck uint8

const (
	checkOn delimiterCheck = iota
	checkOff
)

// ContentType returns the Content-Type for the body:
// "multipart/mixed; boundary=" and the boundary, quoted when it is not a
// token.
func (w *Writer) ContentType() string {
	b := w.Boundary()
	if isToken(b) {
		return "multipart/mixed; boundary=" + b
	}
	return `multipart/mixed; boundary="` + b + `"`
}

// CreatePart writes the delimiter and h (which may be nil), and returns a
// writer for the part's body. The returned writer is valid until the next
// call to CreatePart or Close; the Writer reuses it.
//
// If a field of h is invalid, CreatePart writes nothing and returns an error
// wrapping [ErrBadHeader]; if h has more fields or bytes than a Reader
// reads by default (or than [WriterOptions] allow), one wrapping
// [ErrTooManyFields] or [ErrHeaderTooLarge]. The Writer stays usable.
func (w *Writer) CreatePart(h *Header) (io.Writer, error) {
	if w.dst == nil {
		return nil, errZeroWriter
	}
	if w.err != nil {
		return nil, w.err
	}
	if w.closed {
		return nil, ErrClosed
	}
	if h != nil {
		size := 2 // the empty line
		for i, f := range h.fields {
			name, value := h.bytes(f.name), h.bytes(f.value)
			if err := checkField(i, name, value); err != nil {
				return nil, err
			}
			size += len(name) + len(value) + 4
		}
		if err := checkHeadLimits(len(h.fields), w.opts.MaxHeaderFields, size, w.opts.MaxHeaderBytes, "part header"); err != nil {
			return nil, err
		}
	}
	b := w.buf[:0]
	if w.parts > 0 {
		b = append(b, "\r\n"...)
	}
	b = append(b, "--"...)
	b = append(b, w.bnd[:w.blen]...)
	b = append(b, "\r\n"...)
	b = appendFields(b, h)
	b = append(b, "\r\n"...)
	w.buf = b
	if err := w.write(b); err != nil {
		return nil, err
	}
	w.parts++
	w.guard.start()
	return &w.pw, nil
}

// Close writes the close delimiter. It does not close the destination.
// Closing a closed Writer does nothing.
func (w *Writer) Close() error {
	if w.dst == nil {
		return errZeroWriter
	}
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	b := append(w.buf[:0], "\r\n--"...)
	if w.parts == 0 {
		b = b[2:]
	}
	b = append(b, w.bnd[:w.blen]...)
	b = append(b, "--\r\n"...)
	w.buf = b
	w.closed = true
	return w.write(b)
}

func (w *Writer) write(b []byte) error {
	n, err := w.dst.Write(b)
	w.written += int64(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
	}
	return err
}

type partWriter struct{ w *Writer }

// Write writes body bytes of the current part.
func (pw *partWriter) Write(p []byte) (int, error) {
	w := pw.w
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, ErrClosed
	}
	if w.check == checkOn {
		if i := w.guard.check(p); i != notFound {
			w.err = &SyntaxError{Offset: w.written + int64(i), Err: ErrDelimiterInBody, Reason: "the body holds \"\\n--\" and the boundary"}
			return 0, w.err
		}
	}
	n, err := w.dst.Write(p)
	w.written += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
	}
	return n, err
}

const notFound = -1 << 62

// A guard finds LF "--" boundary in a body written in pieces, including
// occurrences split across pieces, by keeping the last len(pat)-1 bytes
// seen. LF covers both the CRLF and the bare-LF form of the delimiter. A
// body that starts with "--" boundary is caught too: the header's last
// line end stands before it.
type guard struct {
	pbuf [3 + maxBoundary]byte
	pat  []byte // "\n--" + boundary
	find finder
	tail [2 * (3 + maxBoundary)]byte
	tlen int
}

func (g *guard) reset(boundary []byte) {
	n := copy(g.pbuf[:], "\n--")
	n += copy(g.pbuf[n:], boundary)
	g.pat = g.pbuf[:n]
	g.find.reset(g.pat, 3)
	g.start()
}

// start begins a body: the header's final line end precedes it.
func (g *guard) start() {
	g.tail[0] = '\n'
	g.tlen = 1
}

// check returns the offset in p where a delimiter starts (negative when it
// starts in an earlier piece), or notFound.
func (g *guard) check(p []byte) int {
	keep := len(g.pat) - 1
	// Occurrences that straddle the previous pieces and p.
	head := p
	if len(head) > keep {
		head = head[:keep]
	}
	n := g.tlen + copy(g.tail[g.tlen:], head)
	if i := bytes.Index(g.tail[:n], g.pat); i >= 0 {
		return i - g.tlen
	}
	if i := g.find.index(p); i >= 0 {
		return i
	}
	// Keep the last keep bytes of everything seen.
	if len(p) >= keep {
		g.tlen = copy(g.tail[:], p[len(p)-keep:])
	} else {
		if n > keep {
			copy(g.tail[:], g.tail[n-keep:n])
			n = keep
		}
		g.tlen = n
	}
	return notFound
}
