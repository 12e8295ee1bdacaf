package mixed

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// The finder, its rare-byte filter and its Horspool fallback all agree with
// bytes.Index, on data that makes each path run.
func TestFinderAgreesWithIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, boundary := range []string{"batch_foobarbaz", "batch_pK7JBAk73-E=_AA5eFwv4m2Q=", "aaaa", "a", "QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"} {
		pat := []byte("\r\n--" + boundary)
		var f finder
		f.reset(pat, 4)
		rare := pat[f.rare]
		fillers := map[string][]byte{
			"rare":    bytes.Repeat([]byte{rare}, 3000),              // every byte a false hit: the fallback runs
			"prefix":  bytes.Repeat(pat[:len(pat)-1], 3000/len(pat)), // near-delimiters
			"crlf":    bytes.Repeat([]byte("ab\r\n--"), 500),
			"random":  make([]byte, 3000),
			"pattern": []byte{},
		}
		if f.rare2 >= 0 {
			// A flood of the first filter byte, then of the second: the
			// second filter runs, then the fallback; both, alternating:
			// the fallback after the second filter.
			rare2 := pat[f.rare2]
			fillers["rare-then-rare2"] = append(bytes.Repeat([]byte{rare}, 1500), bytes.Repeat([]byte{rare2}, 1500)...)
			fillers["both"] = bytes.Repeat([]byte{rare, rare2}, 1500)
		}
		for i := range fillers["random"] {
			fillers["random"][i] = "\r\n-abQ"[rng.IntN(6)]
		}
		for name, fill := range fillers {
			for _, at := range []int{-1, 0, min(1, len(fill)), len(fill) / 2, len(fill)} {
				s := append([]byte(nil), fill...)
				if at >= 0 {
					s = append(append(append([]byte(nil), fill[:at]...), pat...), fill[at:]...)
				}
				want := bytes.Index(s, pat)
				if got := f.index(s); got != want {
					t.Errorf("boundary %q, %s, delimiter at %d: index = %d, want %d", boundary, name, at, got, want)
				}
				if got := f.horspool(s); got != want {
					t.Errorf("boundary %q, %s, delimiter at %d: horspool = %d, want %d", boundary, name, at, got, want)
				}
			}
		}
	}
}
