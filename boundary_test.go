package mixed

import (
	"errors"
	"mime"
	"strings"
	"testing"
)

func TestParseBoundary(t *testing.T) {
	for _, c := range []struct {
		ct, want string
		err      error
	}{
		{"multipart/mixed; boundary=batch_foobarbaz", "batch_foobarbaz", nil},
		{`multipart/mixed; boundary="batch_foobarbaz"`, "batch_foobarbaz", nil},
		{"multipart/mixed;boundary=abc", "abc", nil},
		{"multipart/mixed ;  boundary=abc  ", "abc", nil},
		{"multipart/mixed; boundary = abc", "abc", nil},
		{"MULTIPART/MIXED; BOUNDARY=abc", "abc", nil},
		{"Multipart/Related; Boundary=\"a b\"", "a b", nil},
		{"multipart/alternative; boundary=abc", "abc", nil},
		{"multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW", "----WebKitFormBoundary7MA4YWxkTrZu0gW", nil},
		{"multipart/mixed; charset=utf-8; boundary=abc", "abc", nil},
		{"multipart/mixed; boundary=abc; charset=utf-8", "abc", nil},
		{`multipart/mixed; type="application/http"; boundary="abc"; msgtype=request`, "abc", nil},
		// A quoted value of an earlier parameter may hold ';' and
		// "boundary=": it is not a parameter.
		{`multipart/mixed; note="x; boundary=evil"; boundary=good`, "good", nil},
		{`multipart/mixed; xboundary=evil; boundary=good`, "good", nil},
		// An escaped quote does not end a quoted value: read as the
		// end, it would expose "boundary=evil" as a parameter.
		{`multipart/mixed; note="a\"; boundary=evil"; boundary=good`, "good", nil},
		// Google's unquoted boundaries hold '=', which is not a token
		// character.
		{"multipart/mixed; boundary=batch_pK7JBAk73-E=_AA5eFwv4m2Q=", "batch_pK7JBAk73-E=_AA5eFwv4m2Q=", nil},
		{"multipart/mixed; boundary=batch_pK7JBAk73-E=_AA5eFwv4m2Q=; charset=UTF-8", "batch_pK7JBAk73-E=_AA5eFwv4m2Q=", nil},
		{`multipart/mixed; boundary="a\"b"`, `a"b`, nil},
		// RFC 2045's quoted-pair: "\c" is "c". mime.ParseMediaType
		// keeps the backslash before a character that is not a tspecial
		// (for Windows paths in form-data filenames), so it is not
		// compared below.
		{`multipart/mixed; boundary="a\\b\c"`, `a\bc`, nil},
		{`multipart/mixed; boundary="` + strings.Repeat("x", 70) + `"`, strings.Repeat("x", 70), nil},

		{"application/json", "", ErrNotMultipart},
		{"application/json; boundary=abc", "", ErrNotMultipart},
		{"text/plain; boundary=abc", "", ErrNotMultipart},
		{"multipart; boundary=abc", "", ErrNotMultipart},
		{"multipart/; boundary=abc", "", ErrNotMultipart},
		{"multipart/mi xed; boundary=abc", "", ErrNotMultipart},
		{"", "", ErrNotMultipart},
		{"multipart/mixed", "", ErrNotMultipart},
		{"multipart/mixed;", "", ErrNotMultipart},
		{"multipart/mixed; charset=utf-8", "", ErrNotMultipart},
		{"multipart/mixed; boundaryx=abc", "", ErrNotMultipart},

		{`multipart/mixed; boundary=""`, "", ErrBadBoundary},
		{"multipart/mixed; boundary=", "", ErrBadBoundary},
		{`multipart/mixed; boundary="` + strings.Repeat("x", 71) + `"`, "", ErrBadBoundary},
		{"multipart/mixed; boundary=" + strings.Repeat("x", 71), "", ErrBadBoundary},
		{`multipart/mixed; boundary="abc "`, "", ErrBadBoundary},
		{`multipart/mixed; boundary="a` + "\x01" + `b"`, "", ErrBadBoundary},
		{"multipart/mixed; boundary=caf\xc3\xa9", "", ErrBadBoundary},
		{`multipart/mixed; boundary="unterminated`, "", ErrBadBoundary},
		{`multipart/mixed; boundary="unterminated\"`, "", ErrBadBoundary},
	} {
		got, err := ParseBoundary(c.ct)
		if got != c.want {
			t.Errorf("ParseBoundary(%q) = %q, want %q", c.ct, got, c.want)
		}
		switch {
		case c.err == nil && err != nil:
			t.Errorf("ParseBoundary(%q): %v", c.ct, err)
		case c.err != nil && !errors.Is(err, c.err):
			t.Errorf("ParseBoundary(%q): %v, want %v", c.ct, err, c.err)
		case c.err != nil:
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Errorf("ParseBoundary(%q): %v is not a *SyntaxError", c.ct, err)
			}
		}
		// Where the standard library parses the value too, it finds the
		// same boundary.
		if c.err == nil && !strings.Contains(c.ct, `\c`) {
			if _, params, err := mime.ParseMediaType(c.ct); err == nil && params["boundary"] != got {
				t.Errorf("ParseBoundary(%q) = %q, mime.ParseMediaType says %q", c.ct, got, params["boundary"])
			}
		}
	}
}

// The reason ParseBoundary exists: the standard library cannot read the
// Content-Type of Google's batch responses.
func TestParseBoundaryGoogleVsStdlib(t *testing.T) {
	const ct = "multipart/mixed; boundary=batch_pK7JBAk73-E=_AA5eFwv4m2Q="
	if _, _, err := mime.ParseMediaType(ct); err == nil {
		t.Errorf("mime.ParseMediaType(%q) succeeded; the README's claim that it fails is stale", ct)
	}
	if b, err := ParseBoundary(ct); err != nil || b != "batch_pK7JBAk73-E=_AA5eFwv4m2Q=" {
		t.Errorf("ParseBoundary(%q) = %q, %v", ct, b, err)
	}
}

func TestParseBoundaryAllocs(t *testing.T) {
	for _, ct := range []string{
		"multipart/mixed; boundary=batch_foobarbaz",
		`multipart/mixed; boundary="batch_foobarbaz"`,
		"multipart/mixed; boundary=batch_pK7JBAk73-E=_AA5eFwv4m2Q=",
		`Multipart/Mixed; type="application/http"; BOUNDARY="abc"; charset=utf-8`,
	} {
		var b string
		allocs := testing.AllocsPerRun(100, func() {
			b, _ = ParseBoundary(ct)
		})
		if b == "" || allocs != 0 {
			t.Errorf("ParseBoundary(%q) = %q with %v allocs, want 0", ct, b, allocs)
		}
	}
}
