package mixed

import (
	"testing"

	"pgregory.net/rapid"
)

// checkTargetBytewise is checkTarget as it was written first, one byte at
// a time through the switch: the oracle for the word-at-a-time pass that
// skips the switch when no byte needs it.
func checkTargetBytewise(method, target string, o *MessageOptions, off int64) error {
	if len(target) == 0 {
		return syntaxErr(off, ErrBadTarget, "empty request target")
	}
	for i := 0; i < len(target); i++ {
		switch c := target[i]; {
		case c <= ' ' || c == 0x7f:
			return syntaxErr(off+int64(i), ErrBadTarget, "control character or space in request target")
		case c == '%':
			if i+2 >= len(target) || !isHex(target[i+1]) || !isHex(target[i+2]) {
				return syntaxErr(off+int64(i), ErrBadTarget, "'%' not followed by two hex digits in request target")
			}
		}
	}
	return checkTarget(method, target, o, off) // the form, for a target whose bytes pass
}

// TestCheckTargetMatchesBytewise draws targets of the bytes checkTarget
// looks at (controls, space, DEL, '%' with good and bad escapes, bytes
// over 0x7f) at every position of an eight-byte round, and requires the
// same verdict, error and offset as the byte-at-a-time check, for both
// instances of the generic function.
func TestCheckTargetMatchesBytewise(t *testing.T) {
	alphabet := []string{"/", "a", "Z", "?", "=", "%", "%2F", "%2", "%g0", " ", "\x00", "\t", "\x1f", "\x7f", "\x80", "é", "*", "http://h"}
	rapid.Check(t, func(t *rapid.T) {
		parts := rapid.SliceOfN(rapid.SampledFrom(alphabet), 0, 20).Draw(t, "parts")
		target := ""
		for _, p := range parts {
			target += p
		}
		method := rapid.SampledFrom([]string{"GET", "OPTIONS", "CONNECT"}).Draw(t, "method")
		o := &MessageOptions{AllowAbsoluteTargets: rapid.Bool().Draw(t, "abs"), AllowRelativeTargets: rapid.Bool().Draw(t, "rel")}
		want := checkTargetBytewise(method, target, o, 7)
		for _, got := range []error{checkTarget(method, target, o, 7), checkTarget([]byte(method), []byte(target), o, 7)} {
			if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
				t.Fatalf("checkTarget(%q, %q) = %v, want %v", method, target, got, want)
			}
		}
	})
}
