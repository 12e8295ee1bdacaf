package bytetab

import (
	"strings"
	"testing"
)

// All agrees with a loop over the bytes, for every length up to past two
// rounds and a byte outside the table at every position.
func TestAllMatchesLoop(t *testing.T) {
	var tab [256]uint8
	for c := 'a'; c <= 'z'; c++ {
		tab[c] = 1
	}
	for n := range 20 {
		s := strings.Repeat("x", n)
		if !All(&tab, s) || !All(&tab, []byte(s)) {
			t.Errorf("All(%q) = false, want true", s)
		}
		for i := range n {
			bad := s[:i] + "-" + s[i+1:]
			if All(&tab, bad) || All(&tab, []byte(bad)) {
				t.Errorf("All(%q) = true, want false", bad)
			}
		}
	}
}
