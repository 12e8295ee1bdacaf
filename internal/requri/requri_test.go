package requri

import (
	"net/url"
	"testing"

	"pgregory.net/rapid"
)

// genPath draws paths rich in the bytes where escaping decides: the plain
// ones, '?', '%', '*', a space, bytes over 0x7f, and runs of each.
var genPath = rapid.Custom(func(t *rapid.T) string {
	alphabet := []string{"/", "a", "Z", "9", "-", ".", "_", "~", "$", "&", "+", ",", ";", "=", ":", "@",
		"?", "%", "%2F", "*", " ", "#", "[", "]", "!", "'", "(", ")", "\"", "<", "\\", "^", "`", "{", "|", "\x7f", "\x00", "é", "\xff"}
	parts := rapid.SliceOfN(rapid.SampledFrom(alphabet), 0, 12).Draw(t, "parts")
	s := ""
	for _, p := range parts {
		s += p
	}
	return s
})

// TestRequestURIMatchesNetURL checks Of against url.URL.RequestURI, the
// oracle, on URLs built field by field (RawPath valid, stale or absent,
// Opaque, ForceQuery) and on URLs parsed from drawn text.
func TestRequestURIMatchesNetURL(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var u *url.URL
		if rapid.Bool().Draw(t, "parsed") {
			s := rapid.SampledFrom([]string{"", "http://h", "//h", "x:"}).Draw(t, "prefix") + genPath.Draw(t, "text")
			v, err := url.Parse(s)
			if err != nil {
				t.Skip("not a URL")
			}
			u = v
		} else {
			u = &url.URL{
				Scheme:     rapid.SampledFrom([]string{"", "http"}).Draw(t, "scheme"),
				Opaque:     rapid.SampledFrom([]string{"", "x", "//h/p"}).Draw(t, "opaque"),
				Path:       genPath.Draw(t, "path"),
				RawPath:    genPath.Draw(t, "rawPath"),
				RawQuery:   rapid.SampledFrom([]string{"", "a=1", "q=%20&b"}).Draw(t, "query"),
				ForceQuery: rapid.Bool().Draw(t, "force"),
			}
			switch rapid.IntRange(0, 2).Draw(t, "rawFrom") {
			case 1:
				u.RawPath = u.Path // valid when the path has no escapes
			case 2:
				// Another valid spelling of the path, which
				// EscapedPath keeps.
				u.Path = "/a" + u.Path
				u.RawPath = "/%61" + u.Path[2:]
			}
		}
		if got, want := Of(u), u.RequestURI(); got != want {
			t.Fatalf("Of(%#v) = %q, want %q", u, got, want)
		}
	})
}

// TestPlainPathByte checks the table byte by byte against EscapedPath: a
// byte is plain exactly when a path holding it escapes to itself.
func TestPlainPathByte(t *testing.T) {
	for c := range 256 {
		p := "/a" + string(rune(c))
		if c >= 0x80 {
			p = "/a" + string([]byte{byte(c)})
		}
		want := (&url.URL{Path: p}).EscapedPath() == p
		if got := PlainPath(p); got != want {
			t.Errorf("PlainPath(%q) = %v, want %v", p, got, want)
		}
		// Every position of an 8-byte stride, and the tail after it.
		for n := 1; n <= 17; n++ {
			q := []byte("/abcdefghijklmnopq"[:n])
			q[n-1] = byte(c)
			// EscapedPath leaves the path "*" alone (OPTIONS' asterisk
			// form), a special case rather than a plain byte.
			want := string(q) != "*" && (&url.URL{Path: string(q)}).EscapedPath() == string(q)
			if got := PlainPath(string(q)); got != want {
				t.Errorf("PlainPath(%q) = %v, want %v", q, got, want)
			}
		}
	}
}
