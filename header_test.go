package mixed

import (
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHeaderAddGetSetDel(t *testing.T) {
	var h Header
	h.Add("Content-Type", "application/http")
	h.Add("Content-ID", "<a>")
	h.Add("X-Dup", "1")
	h.Add("x-dup", "2")

	if got := h.Get("content-type"); got != "application/http" {
		t.Errorf("Get(content-type) = %q, want %q", got, "application/http")
	}
	if got := h.GetBytes("Missing"); got != nil {
		t.Errorf("GetBytes(Missing) = %q, want nil", got)
	}
	if got := h.Get("Missing"); got != "" {
		t.Errorf("Get(Missing) = %q, want \"\"", got)
	}
	got := h.Get("Content-ID")
	h.Reset()
	h.Add("Content-ID", "<zz>")
	if got != "<a>" {
		t.Errorf("Get's string changed with the Header: %q, want %q", got, "<a>")
	}
	h.Reset()
	h.Add("Content-Type", "application/http")
	h.Add("Content-ID", "<a>")
	h.Add("X-Dup", "1")
	h.Add("x-dup", "2")
	var dups []string
	for v := range h.ValuesBytes("X-DUP") {
		dups = append(dups, string(v))
	}
	if diff := cmp.Diff([]string{"1", "2"}, dups); diff != "" {
		t.Errorf("ValuesBytes(X-DUP) (-want +got):\n%s", diff)
	}
	vals := h.Values("x-dup")
	h.Set("X-Dup", "changed")
	if diff := cmp.Diff([]string{"1", "2"}, vals); diff != "" {
		t.Errorf("Values(x-dup), after the Header changed (-want +got):\n%s", diff)
	}
	if got := h.Values("Missing"); got != nil {
		t.Errorf("Values(Missing) = %q, want nil", got)
	}

	h.Set("X-Dup", "3")
	h.Del("Content-ID")
	want := [][2]string{{"Content-Type", "application/http"}, {"X-Dup", "3"}}
	if diff := cmp.Diff(want, fields(&h)); diff != "" {
		t.Errorf("after Set and Del (-want +got):\n%s", diff)
	}

	c := h.Clone()
	h.Reset()
	h.Add("Other", "x")
	if diff := cmp.Diff(want, fields(c)); diff != "" {
		t.Errorf("Clone changed by the original's reuse (-want +got):\n%s", diff)
	}
	wantMIME := textproto.MIMEHeader{"Content-Type": {"application/http"}, "X-Dup": {"3"}}
	if diff := cmp.Diff(wantMIME, c.MIMEHeader()); diff != "" {
		t.Errorf("MIMEHeader (-want +got):\n%s", diff)
	}
}

func TestHeaderGetDoesNotAllocate(t *testing.T) {
	var h Header
	h.Add("Content-Type", "application/http")
	h.Add("Content-ID", "response-1")
	allocs := testing.AllocsPerRun(100, func() {
		if h.GetBytes("Content-ID") == nil || h.GetBytes("content-type") == nil {
			t.Fatal("field missing")
		}
	})
	if allocs != 0 {
		t.Errorf("Get allocates %v times, want 0", allocs)
	}
}

// A part's Header converted with MIMEHeader equals the header mime/multipart
// reads from the same bytes.
func TestHeaderMIMEHeaderMatchesStdlib(t *testing.T) {
	in := "--B\r\ncontent-type: text/plain\r\nX-Dup: 1\r\nx-dup: 2\r\nX-Folded: a\r\n b\r\nContent-ID: <1>\r\n\r\nx\r\n--B--\r\n"
	p, err := NewReader(strings.NewReader(in), "B").NextPart()
	if err != nil {
		t.Fatal(err)
	}
	sp, err := multipart.NewReader(strings.NewReader(in), "B").NextRawPart()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sp.Header, p.Header.MIMEHeader()); diff != "" {
		t.Errorf("(-mime/multipart +MIMEHeader):\n%s", diff)
	}
	if diff := cmp.Diff(sp.Header.Values("X-Dup"), p.Header.Values("x-DUP")); diff != "" {
		t.Errorf("Values(x-DUP) (-mime/multipart +Values):\n%s", diff)
	}
}
