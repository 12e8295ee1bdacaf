// Package bytetab checks every byte of a string against a table, eight
// bytes a round with no branch between them: the field names, targets and
// paths the codec writes and reads, where a loop that stopped at each byte
// took about six instructions a byte.
package bytetab

// All reports whether t holds 1 for every byte of s (true for an empty
// s); t holds 1 or 0 for each byte, so that the bytes of a round can be
// ANDed.
func All[T ~string | ~[]byte](t *[256]uint8, s T) bool {
	ok := uint8(1)
	for len(s) >= 8 {
		p := s[:8]
		ok &= t[p[0]] & t[p[1]] & t[p[2]] & t[p[3]] & t[p[4]] & t[p[5]] & t[p[6]] & t[p[7]]
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		ok &= t[s[i]]
	}
	return ok != 0
}
