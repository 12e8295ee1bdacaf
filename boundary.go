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
// same rules as [NewReader]'s and [Writer.SetBoundary]'s: 1 to 70 RFC 2046
// bchars, not ending in a space.
//
// Where two parsers could find different boundaries, ParseBoundary refuses
// the value: a boundary given more than once (a duplicate parameter, in any
// case, even with the same value) or in the RFC 2231 forms (boundary*=,
// boundary*0=, ...), which mime.ParseMediaType prefers over boundary=;
// another parameter given twice with different values, which
// mime.ParseMediaType refuses; and a malformed parameter list (a parameter without '=' or with an empty
// unquoted value, an unterminated quoted string, a CR or LF inside one).
// A backslash in a quoted value escapes a tspecial, as in
// mime.ParseMediaType, and is kept otherwise (then refused, as it is not a
// bchar).
//
// The result is a substring of contentType, so ParseBoundary does not
// allocate unless the quoted value holds a backslash escape.
//
// Errors wrap [ErrNotMultipart] (another media type, or no boundary) or
// [ErrBadBoundary].
func ParseBoundary(contentType string) (string, error) {
	mt, _, _ := strings.Cut(contentType, ";")
	s := contentType[len(mt):]
	mt = strings.TrimSpace(mt)
	if len(mt) < len("multipart/") || !equalFoldString([]byte(mt[:10]), "multipart/") || !isToken(mt[10:]) {
		return "", argErr(ErrNotMultipart, "media type "+quote(mt))
	}
	boundary, found := "", false
	var seen paramSet
	for {
		s = trimLeftWS(s)
		if s == "" {
			break
		}
		if s[0] != ';' {
			return "", argErr(ErrBadBoundary, "malformed parameter list at "+quote(s))
		}
		if s = trimLeftWS(s[1:]); s == "" {
			break // a trailing ';'
		}
		i := 0
		for i < len(s) && tokenTable[s[i]] {
			i++
		}
		name := s[:i]
		s = trimLeftWS(s[i:])
		if name == "" || s == "" || s[0] != '=' {
			return "", argErr(ErrBadBoundary, "malformed parameter at "+quote(name+s))
		}
		s = trimLeftWS(s[1:])
		var value string
		quoted := s != "" && s[0] == '"'
		if quoted {
			v, rest, ok := unquote(s)
			if !ok {
				return "", argErr(ErrBadBoundary, "unterminated quoted parameter value")
			}
			value, s = v, rest
		} else {
			end := strings.IndexAny(s, ";"+asciiSpace)
			if end < 0 {
				end = len(s)
			}
			if end == 0 {
				return "", argErr(ErrBadBoundary, "parameter "+quote(name)+" without a value")
			}
			value, s = s[:end], s[end:]
		}
		if !seen.add(name, value) {
			// As mime.ParseMediaType refuses it: which value holds?
			return "", argErr(ErrBadBoundary, "parameter "+quote(name)+" given twice with different values")
		}
		base, _, star := strings.Cut(name, "*")
		if !equalFoldString([]byte(base), "boundary") {
			if !quoted && !isToken(value) {
				// As mime.ParseMediaType refuses it: only the boundary
				// may hold what a token cannot (Google's "=").
				return "", argErr(ErrBadBoundary, "parameter "+quote(name)+" has a value that is neither a token nor quoted")
			}
			continue
		}
		switch {
		case star:
			return "", argErr(ErrBadBoundary, "boundary parameter in RFC 2231 form ("+quote(name)+")")
		case found:
			return "", argErr(ErrBadBoundary, "boundary parameter given more than once")
		}
		boundary, found = value, true
	}
	if !found {
		return "", argErr(ErrNotMultipart, "no boundary parameter")
	}
	if err := checkBoundary(boundary); err != nil {
		return "", err
	}
	return boundary, nil
}

// A paramSet holds the parameters of a media type seen so far, to refuse
// a name given twice with different values, as mime.ParseMediaType does
// (the same value twice it accepts). The first few are kept without
// allocating; a list longer than any real one goes to a map, so that the
// check stays linear.
type paramSet struct {
	n      int
	names  [8]string
	values [8]string
	more   map[string]string // lower-case names
}

// add adds the parameter name=value, and reports false if name (in any
// case) was given before with another value.
func (ps *paramSet) add(name, value string) bool {
	if ps.more != nil {
		key := strings.ToLower(name)
		if v, ok := ps.more[key]; ok {
			return v == value
		}
		ps.more[key] = value
		return true
	}
	for i := range ps.n {
		if strings.EqualFold(ps.names[i], name) {
			return ps.values[i] == value
		}
	}
	if ps.n < len(ps.names) {
		ps.names[ps.n], ps.values[ps.n] = name, value
		ps.n++
		return true
	}
	ps.more = make(map[string]string, 2*len(ps.names))
	for i := range ps.n {
		ps.more[strings.ToLower(ps.names[i])] = ps.values[i]
	}
	ps.more[strings.ToLower(name)] = value
	return true
}

// trimLeftWS trims the ASCII white space mime.ParseMediaType trims.
func trimLeftWS(s string) string {
	for len(s) > 0 && strings.IndexByte(asciiSpace, s[0]) >= 0 {
		s = s[1:]
	}
	return s
}

// asciiSpace are the ASCII bytes unicode.IsSpace reports.
const asciiSpace = " \t\n\v\f\r"

// unquote reads a quoted-string at the start of s and returns its value and
// the rest of s. As in mime.ParseMediaType, a backslash escapes a tspecial
// and is kept before any other byte, and a CR or LF makes the string
// invalid.
func unquote(s string) (value, rest string, ok bool) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '"':
			return s[1:i], s[i+1:], true
		case '\r', '\n':
			return "", "", false
		case '\\':
			// Escapes are rare: build the value only now.
			var b strings.Builder
			b.WriteString(s[1:i])
			for ; i < len(s); i++ { // from the backslash
				switch c := s[i]; c {
				case '"':
					return b.String(), s[i+1:], true
				case '\r', '\n':
					return "", "", false
				case '\\':
					if i+1 < len(s) && strings.IndexByte(tspecials, s[i+1]) >= 0 {
						i++
						b.WriteByte(s[i])
					} else {
						b.WriteByte(c)
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

// tspecials are RFC 2045's.
const tspecials = `()<>@,;:\"/[]?=`

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

// checkBoundary applies RFC 2046 §5.1.1 exactly, for reading and writing
// alike: 1 to 70 bchars (digits, letters, '()+_,-./:=? and space), not
// ending in a space.
func checkBoundary(b string) error {
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
		// first 8 symbols; still over 180 bits for the 32 characters of a
		// boundary NewWriter draws.
		dst[i] = boundaryAlphabet[int(c)%len(boundaryAlphabet)]
	}
}
