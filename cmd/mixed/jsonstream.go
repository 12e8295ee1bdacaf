package main

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the streaming halves of the JSON lines: a string
// encoder that writes one JSON string in pieces, exactly as encoding/json
// escapes it, a base64 encoder and decoder that work in pieces, and a
// string decoder that reads one JSON string from a bufio.Reader in pieces,
// unescaping it exactly as encoding/json does. encoding/json cannot do
// either for one string: it holds the whole value.

const hexDigits = "0123456789abcdef"

// jsonSafe[b] reports whether the byte b is ASCII and stands for itself
// inside a JSON string written by encoding/json with HTML escaping off;
// jsonSafeHTML with it on (<, > and & escaped too). Indexed by any byte,
// they make the loop over a run of safe bytes a load and a test a byte.
// (Eight bytes a round, as bytetab.All checks them, was slower: the runs
// of the JSON bodies these strings hold end at every quote, and are short.)
var jsonSafe, jsonSafeHTML [256]bool

func init() {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		jsonSafe[b] = b != '"' && b != '\\'
		jsonSafeHTML[b] = jsonSafe[b] && b != '<' && b != '>' && b != '&'
	}
}

// A jsonStringWriter writes the contents of one JSON string (without its
// quotes) in pieces: the concatenation of what Write is given is escaped
// as encoding/json escapes a string, invalid UTF-8 included (each byte
// that does not start a valid sequence becomes \ufffd), even when a UTF-8
// sequence is split between two Writes. Close writes what a split
// sequence left over. It writes to a bufio.Writer, whose errors it
// returns.
type jsonStringWriter struct {
	w     *bufio.Writer
	html  bool // escape <, > and & as json.Marshal does
	carry [utf8.UTFMax]byte
	nc    int
}

func (s *jsonStringWriter) Write(p []byte) (int, error) {
	n := len(p)
	for s.nc > 0 && len(p) > 0 {
		// Complete the sequence the last Write began.
		k := copy(s.carry[s.nc:], p)
		b := s.carry[:s.nc+k]
		if !utf8.FullRune(b) {
			s.nc += k
			return n, nil
		}
		_, size := utf8.DecodeRune(b)
		rest := s.escape(b[:size], true)
		if len(rest) > 0 {
			panic("unreachable: a full rune was left over")
		}
		// The bytes of b past size were p's, or held from before.
		if size >= s.nc {
			p = p[size-s.nc:]
			s.nc = 0
		} else {
			s.nc = copy(s.carry[:], s.carry[size:s.nc])
		}
	}
	if len(p) > 0 {
		s.nc = copy(s.carry[:], s.escape(p, false))
	}
	return n, werr(s.w)
}

// Close writes what is left of a split sequence (each byte \ufffd).
func (s *jsonStringWriter) Close() error {
	if s.nc > 0 {
		s.escape(s.carry[:s.nc], true)
		s.nc = 0
	}
	return werr(s.w)
}

// escape writes p escaped. Unless final, it stops before a sequence that
// p cuts short and returns it.
func (s *jsonStringWriter) escape(p []byte, final bool) []byte {
	safe := &jsonSafe
	if s.html {
		safe = &jsonSafeHTML
	}
	w := s.w
	start := 0
	for i := 0; i < len(p); {
		for i < len(p) && safe[p[i]] {
			i++
		}
		if i == len(p) {
			break
		}
		b := p[i]
		if b < utf8.RuneSelf {
			w.Write(p[start:i])
			switch b {
			case '\\', '"':
				w.WriteByte('\\')
				w.WriteByte(b)
			case '\b':
				w.WriteString(`\b`)
			case '\f':
				w.WriteString(`\f`)
			case '\n':
				w.WriteString(`\n`)
			case '\r':
				w.WriteString(`\r`)
			case '\t':
				w.WriteString(`\t`)
			default:
				w.Write([]byte{'\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF]})
			}
			i++
			start = i
			continue
		}
		if !final && !utf8.FullRune(p[i:]) {
			w.Write(p[start:i])
			return p[i:]
		}
		c, size := utf8.DecodeRune(p[i:])
		if c == utf8.RuneError && size == 1 {
			w.Write(p[start:i])
			w.WriteString(`\ufffd`)
			i++
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			w.Write(p[start:i])
			w.WriteString(`\u202`)
			w.WriteByte(hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	w.Write(p[start:])
	return nil
}

// A base64Writer writes standard base64 (with padding) of what it is
// given in pieces, to a bufio.Writer.
type base64Writer struct {
	w     *bufio.Writer
	carry [3]byte
	nc    int
	buf   [4 * 1024]byte
}

func (e *base64Writer) Write(p []byte) (int, error) {
	n := len(p)
	if e.nc > 0 {
		k := copy(e.carry[e.nc:], p)
		e.nc += k
		p = p[k:]
		if e.nc < 3 {
			return n, nil
		}
		base64.StdEncoding.Encode(e.buf[:4], e.carry[:])
		e.w.Write(e.buf[:4])
		e.nc = 0
	}
	const step = len(base64Writer{}.buf) / 4 * 3
	for len(p) >= 3 {
		k := min(len(p)/3*3, step)
		base64.StdEncoding.Encode(e.buf[:], p[:k])
		e.w.Write(e.buf[:k/3*4])
		p = p[k:]
	}
	e.nc = copy(e.carry[:], p)
	return n, werr(e.w)
}

// Close writes the last bytes, padded.
func (e *base64Writer) Close() error {
	if e.nc > 0 {
		base64.StdEncoding.Encode(e.buf[:4], e.carry[:e.nc])
		e.w.Write(e.buf[:4])
		e.nc = 0
	}
	return werr(e.w)
}

// werr returns the error a bufio.Writer holds, without flushing it.
func werr(w *bufio.Writer) error {
	_, err := w.Write(nil)
	return err
}

// errUnterminated is the error of a string cut short.
var errUnterminated = errors.New("unexpected end of JSON input in a string")

// A jsonStringReader reads one JSON string from r, whose opening quote
// has been read, and returns its value in pieces, unescaped as
// encoding/json unescapes it: escapes, surrogate pairs (a lone surrogate
// becomes U+FFFD), and each byte of invalid UTF-8 as U+FFFD. A control
// character, a bad escape or the end of the line or input before the
// closing quote is an error. The quote is consumed.
type jsonStringReader struct {
	r    *bufio.Reader
	out  []byte
	done bool
}

// jsonPlain[b] reports whether b is copied from a JSON string as it is.
var jsonPlain [256]bool

func init() {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		jsonPlain[b] = b != '"' && b != '\\'
	}
}

// jsonEscaped[c] is the byte the escape \c stands for, or 0 when \c is
// not a two-byte escape.
var jsonEscaped = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// maxPiece bounds the pieces Next returns.
const maxPiece = 32 << 10

func newJSONStringReader(r *bufio.Reader) *jsonStringReader {
	return &jsonStringReader{r: r, out: make([]byte, 0, maxPiece+8)}
}

func (s *jsonStringReader) reset() { s.done = false }

// Next returns the next piece of the string's value, a view valid until
// the next call, or nil and io.EOF after the closing quote.
func (s *jsonStringReader) Next() ([]byte, error) {
	if s.done {
		return nil, io.EOF
	}
	out := s.out[:0]
	for len(out) < maxPiece {
		n := s.r.Buffered()
		if n == 0 {
			n = 1
		}
		buf, err := s.r.Peek(n)
		if len(buf) == 0 {
			if err == io.EOF {
				err = errUnterminated
			}
			return nil, err
		}
		buf = buf[:min(len(buf), maxPiece-len(out))]
		// Plain runs, and the two-byte escapes between them (\" above
		// all: a JSON body in a JSON string has one at every quote),
		// are taken from buf as they are; the rest, one at a time.
		i, start := 0, 0
		for {
			for i < len(buf) && jsonPlain[buf[i]] {
				i++
			}
			if i+1 < len(buf) && buf[i] == '\\' && jsonEscaped[buf[i+1]] != 0 {
				out = append(out, buf[start:i]...)
				out = append(out, jsonEscaped[buf[i+1]])
				i += 2
				start = i
				continue
			}
			break
		}
		out = append(out, buf[start:i]...)
		s.r.Discard(i)
		if i == len(buf) {
			continue
		}
		switch c := buf[i]; {
		case c == '"':
			s.r.Discard(1)
			s.done = true
			s.out = out
			if len(out) == 0 {
				return nil, io.EOF
			}
			return out, nil
		case c == '\\':
			var err error
			if out, err = s.unescape(out); err != nil {
				return nil, err
			}
		case c < 0x20:
			if c == '\n' {
				return nil, errors.New("the line ends inside a string")
			}
			return nil, fmt.Errorf("invalid character %q in string literal", c)
		default:
			p, _ := s.r.Peek(utf8.UTFMax) // fewer at the end of the input
			r, size := utf8.DecodeRune(p)
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, p[:size]...)
			}
			s.r.Discard(size)
		}
	}
	s.out = out
	return out, nil
}

// unescape reads one escape, the backslash first, and appends its value.
func (s *jsonStringReader) unescape(out []byte) ([]byte, error) {
	p, _ := s.r.Peek(2)
	if len(p) < 2 {
		return nil, errUnterminated
	}
	var c byte
	switch p[1] {
	case '"', '\\', '/':
		c = p[1]
	case 'b':
		c = '\b'
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'u':
		r, ok := s.u4(0)
		if !ok {
			return nil, errors.New(`invalid \u escape in string`)
		}
		n := 6
		if utf16.IsSurrogate(r) {
			// A pair, or U+FFFD for a lone surrogate (the next escape,
			// if any, read on its own).
			if r2, ok := s.u4(6); ok {
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r, n = d, 12
				} else {
					r = utf8.RuneError
				}
			} else {
				r = utf8.RuneError
			}
		}
		s.r.Discard(n)
		return utf8.AppendRune(out, r), nil
	default:
		return nil, fmt.Errorf("invalid character %q in string escape code", p[1])
	}
	s.r.Discard(2)
	return append(out, c), nil
}

// u4 reads the \uXXXX escape at offset off of what is buffered, without
// consuming it.
func (s *jsonStringReader) u4(off int) (rune, bool) {
	p, _ := s.r.Peek(off + 6)
	if len(p) < off+6 || p[off] != '\\' || p[off+1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range p[off+2 : off+6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	return r, true
}

// A base64Decoder decodes standard base64 given in pieces, as
// base64.StdEncoding.DecodeString decodes the whole: padding required,
// CR and LF ignored, nothing after the padding.
type base64Decoder struct {
	quad  [4]byte
	nq    int
	ended bool // a padded quad was decoded
	off   int64
	out   []byte
}

// decode decodes p and returns the bytes it completes, a view valid until
// the next call.
func (d *base64Decoder) decode(p []byte) ([]byte, error) {
	out := d.out[:0]
	for len(p) > 0 {
		if d.nq == 0 && !d.ended {
			// Whole quads straight from p, up to a CR, LF or padding.
			n := 0
			for n < len(p) && p[n] != '\r' && p[n] != '\n' && p[n] != '=' {
				n++
			}
			n = n / 4 * 4
			if n > 0 {
				m := len(out)
				out = slices.Grow(out, n/4*3)[:m+n/4*3]
				k, err := base64.StdEncoding.Decode(out[m:], p[:n])
				if err != nil {
					return nil, d.corrupt(err)
				}
				out = out[:m+k]
				d.off += int64(n)
				p = p[n:]
				continue
			}
		}
		c := p[0]
		p = p[1:]
		if c == '\r' || c == '\n' {
			continue
		}
		if d.ended {
			return nil, fmt.Errorf("illegal base64 data at input byte %d", d.off)
		}
		d.quad[d.nq] = c
		d.nq++
		if d.nq < 4 {
			continue
		}
		var b [3]byte
		k, err := base64.StdEncoding.Decode(b[:], d.quad[:])
		if err != nil {
			return nil, d.corrupt(err)
		}
		out = append(out, b[:k]...)
		d.ended = k < 3
		d.off += 4
		d.nq = 0
	}
	d.out = out
	return out, nil
}

func (d *base64Decoder) corrupt(err error) error {
	var c base64.CorruptInputError
	if errors.As(err, &c) {
		return fmt.Errorf("illegal base64 data at input byte %d", d.off+int64(c))
	}
	return err
}

// finish reports an error when the input stopped inside a quad.
func (d *base64Decoder) finish() error {
	if d.nq > 0 {
		return fmt.Errorf("illegal base64 data at input byte %d", d.off+int64(d.nq))
	}
	return nil
}
