package mixed_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
	"pgregory.net/rapid"
)

func headerFields(h *mixed.Header) [][2]string {
	var out [][2]string
	for name, value := range h.All() {
		out = append(out, [2]string{string(name), string(value)})
	}
	return out
}

func TestHeaderFrom(t *testing.T) {
	hh := http.Header{"X-B": {"2", "1"}, "Content-Type": {"application/http"}, "X-A": {"a"}}
	want := [][2]string{{"Content-Type", "application/http"}, {"X-A", "a"}, {"X-B", "2"}, {"X-B", "1"}}
	if diff := cmp.Diff(want, headerFields(mixed.HeaderFrom(hh))); diff != "" {
		t.Errorf("HeaderFrom(http.Header) (-want +got):\n%s", diff)
	}
	mh := textproto.MIMEHeader(hh)
	if diff := cmp.Diff(want, headerFields(mixed.HeaderFrom(mh))); diff != "" {
		t.Errorf("HeaderFrom(textproto.MIMEHeader) (-want +got):\n%s", diff)
	}

	var h mixed.Header
	h.Add("Content-ID", "<1>")
	h.AddMap(hh)
	want = append([][2]string{{"Content-ID", "<1>"}}, want...)
	if diff := cmp.Diff(want, headerFields(&h)); diff != "" {
		t.Errorf("AddMap after Add (-want +got):\n%s", diff)
	}
	if got := mixed.HeaderFrom(nil).Len(); got != 0 {
		t.Errorf("HeaderFrom(nil) has %d fields", got)
	}
}

// An http.Header goes through CreatePart in one call, and mime/multipart
// reads back the same header.
func TestCreatePartHeaderFrom(t *testing.T) {
	hh := http.Header{"Content-Type": {"application/http"}, "Content-Id": {"<a>"}, "X-Dup": {"1", "2"}}
	var body bytes.Buffer
	w := mixed.NewWriter(&body)
	pw, err := w.CreatePart(mixed.HeaderFrom(hh))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(pw, "x")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p, err := multipart.NewReader(&body, w.Boundary()).NextRawPart()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(textproto.MIMEHeader(hh), p.Header); diff != "" {
		t.Errorf("header read back by mime/multipart (-want +got):\n%s", diff)
	}
}

// HTTPHeader and MIMEHeader undo HeaderFrom for any map whose names are
// canonical.
func TestHeaderConversionRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		name := rapid.Map(rapid.StringMatching(`[A-Za-z][A-Za-z0-9-]{0,8}`), textproto.CanonicalMIMEHeaderKey)
		m := rapid.MapOf(name, rapid.SliceOfN(rapid.StringMatching(`[ -~]{0,6}`), 1, 3)).Draw(t, "m")
		h := mixed.HeaderFrom(m)
		if diff := cmp.Diff(http.Header(m), h.HTTPHeader()); diff != "" {
			t.Fatalf("HTTPHeader(HeaderFrom(m)) (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(textproto.MIMEHeader(m), h.MIMEHeader()); diff != "" {
			t.Fatalf("MIMEHeader(HeaderFrom(m)) (-want +got):\n%s", diff)
		}
	})
}

// The conversion copies: the http.Header does not change with the Header.
func TestHTTPHeaderCopies(t *testing.T) {
	var h mixed.Header
	h.Add("x-a", "1")
	hh := h.HTTPHeader()
	h.Reset()
	h.Add("x-a", "2")
	if diff := cmp.Diff(http.Header{"X-A": {"1"}}, hh); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
