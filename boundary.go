package mixed

import (
	"crypto/rand"
	"strconv"
	"strings"
)

// maxBoundary is RFC 2046's limit on the length of a boundary.
const maxBoundary = 70

// ParseBoundary returns the boundary parameter of a multipart Content-Type
// value such as `multipart/mixed; boundary="batch_foobarbaz"`.
//
// The media type must be multipart/* (any case); parameters may come in any
// order, names in any case, and the boundary quoted or not. Unlike
// [mime.ParseMediaType], ParseBoundary accepts an unquoted boundary holding
// characters that are not token characters but are RFC 2046 bchars, such as
// the '=' in Google's `boundary=batch_pK7JBAk73-E=_AA5eFwv4m2Q=`: an unquoted
// value runs to the next ';' or white space. The boundary is checked with the
// same rules as [NewReader]'s. The result is a substring of contentType, so
// ParseBoundary does not allocate unless the quoted value holds a
// backslash escape.
//
// Errors wrap [ErrNotMultipart] (another media type, or no boundary) or
// [ErrBadBoundary].
func ParseBoundary(contentType string) (string, error) {
	s := contentType
	semi := strings.IndexByte(s, ';')
	mt := s
	if semi >= 0 {
		mt, s = s[:semi], s[semi+1:]
	} else {
		s = ""
	}
	mt = strings.TrimSpace(mt)
	if len(mt) < len("multipart/") || !equalFoldString([]byte(mt[:10]), "multipart/") || !isToken(mt[10:]) {
		return "", argErr(ErrNotMultipart, "media type "+quote(mt))
	}
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \t")
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		name := strings.TrimRight(s[:eq], " \t")
		s = strings.TrimLeft(s[eq+1:], " \t")
		var value string
		if len(s) > 0 && s[0] == '"' {
			v, rest, ok := unquote(s)
			if !ok {
				return "", argErr(ErrBadBoundary, "unterminated quoted parameter value")
			}
			value, s = v, rest
		} else {
			end := strings.IndexAny(s, "; \t")
			if end < 0 {
				end = len(s)
			}
			value, s = s[:end], s[end:]
		}
		if strings.EqualFold(name, "boundary") {
			if err := checkReadBoundary(value); err != nil {
				return "", err
			}
			return value, nil
		}
		// Skip to the next parameter.
		if i := strings.IndexByte(s, ';'); i >= 0 {
			s = s[i+1:]
		} else {
			break
		}
	}
	return "", argErr(ErrNotMultipart, "no boundary parameter")
}

// unquote reads a quoted-string at the start of s and returns its value and
// the rest of s.
func unquote(s string) (value, rest string, ok bool) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '"':
			return s[1:i], s[i+1:], true
		case '\\':
			// Escapes are rare: build the value only now.
			var b strings.Builder
			b.WriteString(s[1:i])
			for ; i < len(s); i++ { // from the backslash, which the loop unescapes
				switch c := s[i]; c {
				case '"':
					return b.String(), s[i+1:], true
				case '\\':
					i++
					if i < len(s) {
						b.WriteByte(s[i])
					}
				default:
					b.WriteByte(c)
				}
			}
			return "", "", false
		}
	}
	return "", "", false
}

// checkReadBoundary applies the Reader's rules: 1 to 70 bytes, printable
// ASCII (space included, but not last). These are looser than RFC 2046's
// bchars, which [Writer.SetBoundary] enforces, because real peers send
// boundaries outside bchars and reading them is harmless.
func checkReadBoundary(b string) error {
	if len(b) == 0 || len(b) > maxBoundary {
		return argErr(ErrBadBoundary, "length "+strconv.Itoa(len(b))+" is not between 1 and 70")
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c > 0x7e {
			return argErr(ErrBadBoundary, "byte "+quote(b[i:i+1])+" in boundary")
		}
	}
	if b[len(b)-1] == ' ' {
		return argErr(ErrBadBoundary, "boundary ends with a space")
	}
	return nil
}

// bcharTable marks RFC 2046 bcharsnospace.
var bcharTable = [256]bool{
	'\'': true, '(': true, ')': true, '+': true, '_': true, ',': true, '-': true,
	'.': true, '/': true, ':': true, '=': true, '?': true,
}

func init() {
	for c := '0'; c <= '9'; c++ {
		bcharTable[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		bcharTable[c] = true
		bcharTable[c-'a'+'A'] = true
	}
}

// checkWriteBoundary applies RFC 2046 §5.1.1 exactly.
func checkWriteBoundary(b string) error {
	if len(b) == 0 || len(b) > maxBoundary {
		return argErr(ErrBadBoundary, "length "+strconv.Itoa(len(b))+" is not between 1 and 70")
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; !bcharTable[c] && c != ' ' {
			return argErr(ErrBadBoundary, "byte "+quote(b[i:i+1])+" is not an RFC 2046 bchar")
		}
	}
	if b[len(b)-1] == ' ' {
		return argErr(ErrBadBoundary, "boundary ends with a space")
	}
	return nil
}

const boundaryAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomBoundary fills dst with random characters from boundaryAlphabet
// (about 5.95 bits each, from crypto/rand).
func randomBoundary(dst []byte) {
	rand.Read(dst) // never fails (crypto/rand documents a crash instead)
	for i, c := range dst {
		// 62*4 = 248: reject nothing, accept a slight bias (< 4%) on the
		// first 8 symbols; still over 170 bits for 30 characters.
		dst[i] = boundaryAlphabet[int(c)%len(boundaryAlphabet)]
	}
}

// quote quotes s for an error message, cut to a readable length.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}
