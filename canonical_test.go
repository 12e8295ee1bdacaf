package mixed

import (
	"net/http"
	"testing"

	"pgregory.net/rapid"
)

// TestCanonicalNameMatchesNetHTTP: canonicalName is
// http.CanonicalHeaderKey, whatever the bytes: canonical names, names in
// other cases, names with bytes that are not token bytes (NUL among them),
// which net/http leaves as they are.
func TestCanonicalNameMatchesNetHTTP(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		name := rapid.OneOf(
			rapid.SampledFrom([]string{"Accept", "Content-Type", "content-type", "X-Forwarded-For", "X-y-Z", "-", "--a", "A-", "\x00", "Accept\x00", "a b", "A B", "Accept-Ümlaut"}),
			rapid.StringMatching("[a-zA-Z-]{0,20}"),
			rapid.StringMatching("[!#$%&'*+.^_`|~0-9A-Za-z-]{0,20}"),
			rapid.String(),
		).Draw(t, "name")
		if got, want := canonicalName(name), http.CanonicalHeaderKey(name); got != want {
			t.Fatalf("canonicalName(%q) = %q, want %q", name, got, want)
		}
	})
}
