package mixed

import (
	"errors"
	"io"
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
		// A backslash escapes a tspecial, as in mime.ParseMediaType.
		{`multipart/mixed; boundary="a\=b\?c"`, `a=b?c`, nil},
		{"multipart/mixed; boundary=abc;", "abc", nil},
		{"multipart/mixed; boundary=abc ; ", "abc", nil},
		{`multipart/mixed; x=""; boundary=abc`, "abc", nil},
		{`multipart/mixed; title*=utf-8''x; boundary=abc`, "abc", nil},
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
		// Characters outside RFC 2046's bchars, quoted: a backslash
		// before a non-tspecial is kept (mime.ParseMediaType keeps it).
		{`multipart/mixed; boundary="batch;x"`, "", ErrBadBoundary},
		{`multipart/mixed; boundary="a\"b"`, "", ErrBadBoundary},
		{`multipart/mixed; boundary="a\\b"`, "", ErrBadBoundary},
		{`multipart/mixed; boundary="a\b"`, "", ErrBadBoundary},
		{`multipart/mixed; boundary="a!b"`, "", ErrBadBoundary},
		{`multipart/mixed; boundary="a@b"`, "", ErrBadBoundary},
		{"multipart/mixed; boundary=a!b", "", ErrBadBoundary},
		{"multipart/mixed; boundary=\"a\rb\"", "", ErrBadBoundary},
		// A boundary given more than once, in any form and case:
		// mime.ParseMediaType prefers boundary* to boundary.
		{"multipart/mixed; boundary=a; boundary*=utf-8''b", "", ErrBadBoundary},
		{"multipart/mixed; boundary*=utf-8''b; boundary=a", "", ErrBadBoundary},
		{"multipart/mixed; boundary=a; boundary*0=b", "", ErrBadBoundary},
		{"multipart/mixed; boundary=a; BOUNDARY*0*=utf-8''b", "", ErrBadBoundary},
		{"multipart/mixed; boundary*=utf-8''b", "", ErrBadBoundary},
		{"multipart/mixed; boundary*0=a; boundary*1=b", "", ErrBadBoundary},
		{"multipart/mixed; boundary=a; boundary=b", "", ErrBadBoundary},
		{"multipart/mixed; boundary=a; Boundary=a", "", ErrBadBoundary},
		{`multipart/mixed; boundary=a; boundary="a"`, "", ErrBadBoundary},
		// Another parameter given twice with different values, which
		// mime.ParseMediaType refuses (the same value twice it takes);
		// more than the few kept without a map too.
		{"multipart/mixed; charset=a; boundary=b; CHARSET=c", "", ErrBadBoundary},
		{"multipart/mixed; charset=a; boundary=b; CHARSET=a", "b", nil},
		{"multipart/mixed; x*=a; boundary=b; x*=c", "", ErrBadBoundary},
		{"multipart/mixed; a=1; b=1; c=1; d=1; e=1; f=1; g=1; h=1; i=1; j=1; boundary=b; A=2", "", ErrBadBoundary},
		{"multipart/mixed; a=1; b=1; c=1; d=1; e=1; f=1; g=1; h=1; i=1; j=1; boundary=b; J=2", "", ErrBadBoundary},
		{"multipart/mixed; a=1; b=1; c=1; d=1; e=1; f=1; g=1; h=1; i=1; j=1; boundary=b; J=1", "b", nil},
		// A malformed parameter list: where does the boundary start?
		{"multipart/mixed; x; boundary=a", "", ErrBadBoundary},
		{"multipart/mixed; x=; boundary=a", "", ErrBadBoundary},
		{"multipart/mixed; boundary=a b", "", ErrBadBoundary},
		{"multipart/mixed; boundary=a;; x=1", "", ErrBadBoundary},
		{"multipart/mixed; =a; boundary=b", "", ErrBadBoundary},
		{"multipart/mixed; x=\"a\nb\"; boundary=b", "", ErrBadBoundary},
		{`multipart/mixed; boundary="a"b`, "", ErrBadBoundary},
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
		if c.err == nil {
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

// Every entry point refuses a boundary with a byte outside RFC 2046's
// bchars: ParseBoundary (quoted, where it could come from),
// NewReader, Reader.Reset and Writer.SetBoundary.
func TestBoundaryBcharsEverywhere(t *testing.T) {
	for c := 0x20; c < 0x7f; c++ {
		b := "batch" + string(rune(c)) + "x"
		valid := strings.IndexByte("'()+_,-./:=? ", byte(c)) >= 0 ||
			'0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z'
		check := func(what string, err error) {
			t.Helper()
			if valid && err != nil {
				t.Errorf("%s(%q): %v", what, b, err)
			}
			if !valid && !errors.Is(err, ErrBadBoundary) {
				t.Errorf("%s(%q): %v, want ErrBadBoundary", what, b, err)
			}
		}
		q := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(b)
		_, err := ParseBoundary(`multipart/mixed; boundary="` + q + `"`)
		check("ParseBoundary", err)
		body := "--" + b + "\r\n\r\nx\r\n--" + b + "--\r\n"
		_, err = NewReader(strings.NewReader(body), b).NextPart()
		check("NewReader", err)
		r := NewReader(strings.NewReader(body), "good")
		r.Reset(strings.NewReader(body), b)
		_, err = r.NextPart()
		check("Reader.Reset", err)
		check("Writer.SetBoundary", NewWriter(io.Discard).SetBoundary(b))
	}
}
