package mixed

import (
	"encoding/binary"
	"strconv"

	"github.com/mixedcodec/mixed/internal/bytetab"
)

// The character classes and checks that both layers share, multipart
// headers and embedded HTTP messages, so that every reader and writer of
// the package applies the same rule to the same bytes.

// tokenTable marks RFC 9110 tchar bytes.
var tokenTable = [256]bool{
	'!': true, '#': true, '$': true, '%': true, '&': true, '\'': true, '*': true,
	'+': true, '-': true, '.': true, '^': true, '_': true, '`': true, '|': true, '~': true,
	'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true, '7': true, '8': true, '9': true,
	'A': true, 'B': true, 'C': true, 'D': true, 'E': true, 'F': true, 'G': true, 'H': true, 'I': true,
	'J': true, 'K': true, 'L': true, 'M': true, 'N': true, 'O': true, 'P': true, 'Q': true, 'R': true,
	'S': true, 'T': true, 'U': true, 'V': true, 'W': true, 'X': true, 'Y': true, 'Z': true,
	'a': true, 'b': true, 'c': true, 'd': true, 'e': true, 'f': true, 'g': true, 'h': true, 'i': true,
	'j': true, 'k': true, 'l': true, 'm': true, 'n': true, 'o': true, 'p': true, 'q': true, 'r': true,
	's': true, 't': true, 'u': true, 'v': true, 'w': true, 'x': true, 'y': true, 'z': true,
}

// isToken reports whether s is a non-empty RFC 9110 token. Every field
// name written is checked: a table pass (bytetab.All), where the loop that
// stopped at each byte took about six instructions a byte.
func isToken[T string | []byte](s T) bool {
	return len(s) > 0 && bytetab.All(&tokenBits, s)
}

// tokenBits is tokenTable as 1 and 0, for isToken to AND.
var tokenBits = func() (t [256]uint8) {
	for c, ok := range tokenTable {
		if ok {
			t[c] = 1
		}
	}
	return t
}()

// badValueByte returns the index of the first byte of v that may not appear
// in a field value (a control character other than HTAB, or DEL), or -1.
// The reader and the writer share it, so the writer never emits a value the
// reader would reject.
func badValueByte[T string | []byte](v T) int {
	i := 0
	for ; i+8 <= len(v); i += 8 {
		x := uint64(v[i]) | uint64(v[i+1])<<8 | uint64(v[i+2])<<16 | uint64(v[i+3])<<24 |
			uint64(v[i+4])<<32 | uint64(v[i+5])<<40 | uint64(v[i+6])<<48 | uint64(v[i+7])<<56
		if ctlBytes(x) != 0 {
			break
		}
	}
	for ; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return i
		}
	}
	return -1
}

// trimWS trims spaces and tabs around b.
func trimWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// isWS reports a space or a tab.
func isWS(c byte) bool { return c == ' ' || c == '\t' }

// equalFoldString reports whether b and s are equal under ASCII case
// folding, without allocating. Names of eight bytes or more are compared
// a word at a time (Header.GetBytes asks it of every field of the length
// it looks for).
func equalFoldString(b []byte, s string) bool {
	n := len(b)
	if n != len(s) {
		return false
	}
	if n < 8 {
		for i := 0; i < n; i++ {
			x, y := b[i], s[i]
			if x == y {
				continue
			}
			if x|0x20 != y|0x20 || lower(x) < 'a' || lower(x) > 'z' {
				return false
			}
		}
		return true
	}
	for i := 0; i < n-8; i += 8 {
		if !foldEqual8(binary.LittleEndian.Uint64(b[i:]), le64(s[i:])) {
			return false
		}
	}
	// The last word, which may overlap the one before.
	return foldEqual8(binary.LittleEndian.Uint64(b[n-8:]), le64(s[n-8:]))
}

// foldEqual8 reports whether the words x and y are equal byte by byte
// under ASCII case folding: each pair of bytes is equal, or differs in bit
// 0x20 alone and is a letter.
func foldEqual8(x, y uint64) bool {
	d := x ^ y
	if d == 0 {
		return true
	}
	if d&^(0x20*swarLo) != 0 {
		return false
	}
	// Bit 7 of each byte of letter: x|0x20 is from 'a' to 'z'. The
	// sums stay within their bytes (the addends are below 0x80 and so
	// is t), and a byte of x from 0x80 up is no letter.
	l := x | 0x20*swarLo
	t := l & swarLo7
	letter := (t + (0x80-'a')*swarLo) &^ (t + (0x80-'z'-1)*swarLo) &^ l
	// The bytes that differ (in bit 0x20: d<<2 moves it to bit 7) must
	// be letters.
	return (d<<2)&^letter&swarHi == 0
}

func lower(c byte) byte { return c | 0x20 }

// isHex reports a hexadecimal digit.
func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f'
}

// quote quotes s for an error message, cut to a readable length.
func quote(s string) string {
	const maxQuoted = 64
	if len(s) > maxQuoted {
		s = s[:maxQuoted] + "..."
	}
	return strconv.Quote(s)
}

// tokenIs reports whether name, a token, equals lower under ASCII case
// folding. lower is made of lower-case letters and '-' and is at least 8
// bytes long. It compares eight bytes at a time, lowering each byte of
// name by setting its bit 0x20: that lowers the letters, leaves '-', and
// makes no other token byte a letter or '-' (only CR, which no token
// holds, becomes '-').
func tokenIs(name []byte, lower string) bool {
	n := len(name)
	if n != len(lower) || n < 8 {
		return false
	}
	const fold = 0x2020202020202020
	for i := 0; i < n; i += 8 {
		if i > n-8 {
			i = n - 8 // the last word overlaps the one before
		}
		if binary.LittleEndian.Uint64(name[i:])|fold != le64(lower[i:]) {
			return false
		}
	}
	return true
}

// tokenFold sets bit 0x20 of each byte of a word, as tokenIs does.
const tokenFold = 0x2020202020202020

// Little-endian words of "content-length" and "transfer-encoding", at the
// offsets isContentLength and isTransferEncoding read them.
const (
	wordContent = uint64('c') | uint64('o')<<8 | uint64('n')<<16 | uint64('t')<<24 | uint64('e')<<32 | uint64('n')<<40 | uint64('t')<<48 | uint64('-')<<56 // [0:8]
	wordTLength = uint64('t') | uint64('-')<<8 | uint64('l')<<16 | uint64('e')<<24 | uint64('n')<<32 | uint64('g')<<40 | uint64('t')<<48 | uint64('h')<<56 // [6:14]
	wordTransfe = uint64('t') | uint64('r')<<8 | uint64('a')<<16 | uint64('n')<<24 | uint64('s')<<32 | uint64('f')<<40 | uint64('e')<<48 | uint64('r')<<56 // [0:8]
	wordEncodin = uint64('-') | uint64('e')<<8 | uint64('n')<<16 | uint64('c')<<24 | uint64('o')<<32 | uint64('d')<<40 | uint64('i')<<48 | uint64('n')<<56 // [8:16]
	wordNcoding = uint64('e') | uint64('n')<<8 | uint64('c')<<16 | uint64('o')<<24 | uint64('d')<<32 | uint64('i')<<40 | uint64('n')<<48 | uint64('g')<<56 // [9:17]
)

// isContentLength is tokenIs(name, "content-length") with the words of
// the name as constants: framing asks it of every head.
func isContentLength(name []byte) bool {
	return len(name) == 14 &&
		binary.LittleEndian.Uint64(name)|tokenFold == wordContent &&
		binary.LittleEndian.Uint64(name[6:])|tokenFold == wordTLength
}

// isTransferEncoding is tokenIs(name, "transfer-encoding"), as
// isContentLength.
func isTransferEncoding(name []byte) bool {
	return len(name) == 17 &&
		binary.LittleEndian.Uint64(name)|tokenFold == wordTransfe &&
		binary.LittleEndian.Uint64(name[8:])|tokenFold == wordEncodin &&
		binary.LittleEndian.Uint64(name[9:])|tokenFold == wordNcoding
}

// le64 reads the first eight bytes of s as a little-endian word.
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
