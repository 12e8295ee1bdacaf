package mixed

import (
	"encoding/binary"
	"math/bits"
)

// The header-block scanner: one pass over the bytes of a header block (a
// part's header or an HTTP head) finds, for each line, its line end, its
// first colon and its forbidden bytes (a bare CR, a control character other
// than HTAB, DEL), eight bytes at a time. It replaces a call of IndexByte
// per line (whose setup costs more than the scan of a 30-byte line) plus
// a second pass for control characters. Part headers (Reader, BytesReader)
// and HTTP heads (MessageReader) share it, and share fieldLine, which reads
// the field lines peers send with less work still (no colon search, the
// name's bytes looked at once) and hands every other line to scanLine.

// lineState is what the scan of one line has found so far: positions in
// the scanned slice, or -1. It is kept across calls when a line arrives in
// pieces, so that no byte is scanned twice.
type lineState struct {
	next  int // where the scan resumes
	colon int // the first ':'
	cr    int // the first CR not followed by LF (a bare CR)
	bad   int // the first control character other than HTAB, CR and LF, or DEL
}

// start resets s for a line that starts at b[at]. Field by field: a
// composite literal is built on the stack and copied in 16-byte moves,
// which the 8-byte loads of scanLine then wait for (a store-forwarding
// stall, a tenth of Reader.header's time).
func (s *lineState) start(at int) {
	s.next, s.colon, s.cr, s.bad = at, -1, -1, -1
}

const (
	swarLo  = 0x0101010101010101
	swarHi  = 0x8080808080808080
	swarLo7 = 0x7f7f7f7f7f7f7f7f
)

// specialBytes returns a mask with bit 7 of each byte of x set exactly
// when that byte is a control character (below 0x20), DEL or ':'. The
// tests are exact per byte: no carry crosses a byte, so every set bit
// names a special byte, not just the lowest one.
func specialBytes(x uint64) uint64 {
	ge20 := ((x & swarLo7) + 0x6060606060606060) | x // bit 7: byte >= 0x20
	c := x ^ (':' * swarLo)
	c = ((c & swarLo7) + swarLo7) | c // bit 7: byte != ':'
	d := x ^ (0x7f * swarLo)
	d = ((d & swarLo7) + swarLo7) | d // bit 7: byte != DEL
	return ^(ge20 & c & d) & swarHi
}

// hdrSpecial marks the bytes specialBytes flags, for the tail of a slice
// shorter than a word.
var hdrSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t[':'], t[0x7f] = true, true
	return t
}()

// scanLine scans b from s.next for the LF that ends the current line,
// recording the line's first colon, bare CR and forbidden byte in s. It
// returns the index of the LF, or -1 when b ends first; s.next then says
// where to resume once b has grown (a CR as the last byte of b is left
// for then, since what follows decides whether it is bare).
func scanLine(b []byte, s *lineState) int {
	i := s.next
	for {
		var m uint64
		if i+8 <= len(b) {
			m = specialBytes(binary.LittleEndian.Uint64(b[i : i+8]))
			if m == 0 {
				i += 8
				continue
			}
		} else {
			// The tail: a byte at a time.
			for ; i < len(b) && !hdrSpecial[b[i]]; i++ {
			}
			if i == len(b) {
				s.next = i
				return -1
			}
			m = 0x80 // b[i] is special; one at a time from here
		}
		for m != 0 {
			p := i + bits.TrailingZeros64(m)>>3
			m &= m - 1
			switch b[p] {
			case '\n':
				s.next = p + 1
				return p
			case ':':
				if s.colon < 0 {
					s.colon = p
				}
			case '\r':
				if p+1 == len(b) {
					s.next = p
					return -1
				}
				if b[p+1] == '\n' {
					s.next = p + 2
					return p + 1
				}
				if s.cr < 0 {
					s.cr = p
				}
			case '\t':
			default:
				if s.bad < 0 {
					s.bad = p
				}
			}
		}
		if i+8 <= len(b) {
			i += 8
		} else {
			i++
		}
	}
}

// addMIMEField parses one non-empty line of a part's header block into h,
// as parseHeaderLine does, from what scanLine found: line is the line
// without its line end and found's positions are relative to line[0] (a
// position at or past len(line) is none: the CR of the line end). lineOff
// is the line's stream offset, for errors. The checks and their order are
// parseHeaderLine's, so the errors are the same.
func addMIMEField(h *Header, line []byte, found lineState, lineOff int64, maxFields int) error {
	colon, cr, bad := found.colon, found.cr, found.bad
	if cr >= 0 && cr < len(line) {
		return syntaxErr(lineOff+int64(cr), ErrSyntax, "bare CR in header")
	}
	if line[0] == ' ' || line[0] == '\t' {
		// Obsolete folding: rare, so the general code.
		return parseHeaderLine(h, line, lineOff, maxFields)
	}
	if colon < 0 || colon >= len(line) {
		return syntaxErr(lineOff, ErrSyntax, "header line without colon")
	}
	name := line[:colon]
	if len(name) == 0 || tokenEnd(name, 0) != len(name) { // isToken, unrolled
		return headerNameErr(name, lineOff)
	}
	if bad >= 0 && bad < len(line) {
		// After the colon: a control byte in the name is no token byte.
		return syntaxErr(lineOff+int64(bad), ErrSyntax, "control character in header value")
	}
	if len(h.fields) == maxFields {
		return syntaxErr(lineOff, ErrTooManyFields, "")
	}
	h.addView(name, trimWS(line[colon+1:]))
	return nil
}

// relative returns the positions of s relative to a line starting at
// base, keeping -1 for none.
func (s *lineState) relative(base int) lineState {
	return lineState{colon: rel(s.colon, base), cr: rel(s.cr, base), bad: rel(s.bad, base)}
}

// rel makes a position found by scanLine relative to a line starting at
// base, keeping -1 for none.
func rel(p, base int) int {
	if p < 0 {
		return -1
	}
	return p - base
}

// ctlBytes returns a mask in which the lowest set bit 7 marks the first
// byte of x that is a control character (below 0x20) or DEL, and which is
// 0 when there is none. Only the lowest set bit is exact: a borrow may
// mark the bytes above it.
func ctlBytes(x uint64) uint64 {
	// Below the first such byte nothing borrows: a byte from 0x20 to
	// 0x7e stays below 0x80 in both differences, and one from 0x80 up
	// has bit 7 set in x, which the mask clears.
	return ((x - 0x20*swarLo) | (x ^ 0x7f*swarLo - swarLo)) &^ x & swarHi
}

// ctlEnd returns the index of the first byte of b from i that is a
// control character other than HTAB, or DEL, or len(b) when there is
// none: the end of a field value or a reason phrase, eight bytes at a
// time.
func ctlEnd(b []byte, i int) int {
	for {
		if i+8 <= len(b) {
			m := ctlBytes(binary.LittleEndian.Uint64(b[i : i+8]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else {
			for i < len(b) && b[i] >= 0x20 && b[i] != 0x7f {
				i++
			}
			if i == len(b) {
				return i
			}
		}
		if b[i] != '\t' {
			return i
		}
		i++
	}
}

// fieldLine reads the field line at b[pos] when it is one of the lines
// peers send: a token name, a colon, a value free of control characters
// but HTAB, then CRLF or LF. It returns the colon's index, the bounds of
// the value trimmed of spaces and tabs, and where the next line starts;
// next is -1 for any other line (a bad one, a folded one, the empty line)
// and for one that the end of b cuts. Such a line needs no scanLine: its
// name is the token before its only possible first colon, and the value
// is looked at for control characters and the line end together, eight
// bytes at a time, so each byte is read once and the colon is never
// searched for. Callers read the lines it refuses with scanLine, so that
// what a line means, and the error it gives, never depend on the path.
// Part headers (Reader.header) and HTTP heads (scanHTTPFields) share it.
func fieldLine(b []byte, pos int) (colon, vs, ve, next int) {
	// One function, no calls: a line costs about as much as the calls
	// to a name scan and a value scan would.
	i := pos
	var end byte // the byte after the name, which must be the colon
	for {
		if i+8 > len(b) {
			// The tail, a byte at a time.
			for i < len(b) && tokenTable[b[i]] {
				i++
			}
			if i == len(b) {
				return 0, 0, 0, -1
			}
			end = b[i]
			break
		}
		// A word that ends the name hands over the byte after it,
		// which the colon test then need not load again.
		w := b[i : i+8 : i+8]
		if !tokenTable[w[0]] {
			end = w[0]
			break
		}
		if !tokenTable[w[1]] {
			end = w[1]
			i++
			break
		}
		if !tokenTable[w[2]] {
			end = w[2]
			i += 2
			break
		}
		if !tokenTable[w[3]] {
			end = w[3]
			i += 3
			break
		}
		if !tokenTable[w[4]] {
			end = w[4]
			i += 4
			break
		}
		if !tokenTable[w[5]] {
			end = w[5]
			i += 5
			break
		}
		if !tokenTable[w[6]] {
			end = w[6]
			i += 6
			break
		}
		if !tokenTable[w[7]] {
			end = w[7]
			i += 7
			break
		}
		i += 8
	}
	if i == pos || end != ':' {
		return 0, 0, 0, -1
	}
	colon = i
	i++
	for i < len(b) && isWS(b[i]) {
		i++
	}
	vs = i
	// The value, eight bytes at a time, up to its first control byte,
	// which must be HTAB or the line end: a bare CR, or any other, refuses
	// the line.
	for {
		if i+8 <= len(b) {
			m := ctlBytes(binary.LittleEndian.Uint64(b[i : i+8]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else {
			for i < len(b) && b[i] >= 0x20 && b[i] != 0x7f {
				i++
			}
			if i >= len(b) {
				return 0, 0, 0, -1
			}
		}
		c := b[i]
		if c == '\r' {
			if i+1 < len(b) && b[i+1] == '\n' {
				next = i + 2
				break
			}
			return 0, 0, 0, -1
		}
		if c == '\n' {
			next = i + 1
			break
		}
		if c != '\t' {
			return 0, 0, 0, -1
		}
		i++
	}
	ve = i
	for ve > vs && isWS(b[ve-1]) {
		ve--
	}
	return colon, vs, ve, next
}

// tokenEnd returns the end of the run of token bytes that starts at b[i].
// Unrolled four bytes at a time, it is faster on field names than the
// plain loop, and than a SWAR test (the token class is no byte range).
func tokenEnd(b []byte, i int) int {
	for i+4 <= len(b) {
		w := b[i : i+4 : i+4]
		switch {
		case !tokenTable[w[0]]:
			return i
		case !tokenTable[w[1]]:
			return i + 1
		case !tokenTable[w[2]]:
			return i + 2
		case !tokenTable[w[3]]:
			return i + 3
		}
		i += 4
	}
	for i < len(b) && tokenTable[b[i]] {
		i++
	}
	return i
}
