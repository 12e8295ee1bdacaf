package mixed

import (
	"strings"
	"testing"
)

// TestIsTokenEveryBytePosition checks isToken against RFC 9110's tchar,
// spelt out here: every byte value at every position of the first two
// eight-byte rounds and of the tail after them, for both instances of the
// generic function, and the empty string, which is no token.
func TestIsTokenEveryBytePosition(t *testing.T) {
	const tchar = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	if isToken("") || isToken([]byte{}) {
		t.Errorf("the empty string is a token")
	}
	for c := range 256 {
		want := strings.IndexByte(tchar, byte(c)) >= 0
		for n := 1; n <= 19; n++ {
			for at := range n {
				b := []byte(strings.Repeat("a", n))
				b[at] = byte(c)
				if got := isToken(b); got != want {
					t.Fatalf("isToken(%q) = %v, want %v", b, got, want)
				}
				if got := isToken(string(b)); got != want {
					t.Fatalf("isToken(string %q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}
