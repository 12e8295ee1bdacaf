package bodyform

import (
	"mime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

func TestOf(t *testing.T) {
	tests := []struct {
		ct          string
		odata, json Form // the form in OData, in Graph
	}{
		{"application/json", JSON, JSON},
		{"Application/JSON; charset=utf-8", JSON, JSON},
		{" \tapplication/json ;odata.metadata=minimal", JSON, JSON},
		{"application/problem+json", JSON, JSON},
		{"x/y+JSON", JSON, JSON},
		{"+json", Base64, Base64}, // no type before the suffix
		{"application/jsonx", Base64, Base64},
		{"text/plain", Text, Base64},
		{"TEXT/html; charset=utf-8", Text, Base64},
		{" text/", Text, Base64},
		{"text", Base64, Base64},
		{"application/octet-stream", Base64, Base64},
		{"", Base64, Base64},
		{" ", Base64, Base64},
		{"\napplication/json", Base64, Base64},           // not white space in HTTP
		{"application/json\u212a", Base64, Base64},       // no Unicode folding
		{"application/j\u017fon", Base64, Base64},        // ſ folds to s in Unicode, not in ASCII
		{"application/json, text/plain", Base64, Base64}, // two values joined: neither
		{"text/plain, application/json", Text, Base64},
	}
	for _, tt := range tests {
		got := []Form{Of(tt.ct, true), Of(tt.ct, false), Of([]byte(tt.ct), true), Of([]byte(tt.ct), false)}
		want := []Form{tt.odata, tt.json, tt.odata, tt.json}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Of(%q) in OData, Graph, OData and Graph as bytes (-want +got):\n%s", tt.ct, diff)
		}
	}
}

// TestOfAgreesWithMime: for every Content-Type mime.ParseMediaType reads,
// the form is the one its media type names (mime lowers the case).
func TestOfAgreesWithMime(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ct := rapid.StringMatching(`[ \t]{0,2}(application|text|Text|x|APPLICATION)/(json|JSON|plain|a\+json|vnd\.b\+Json|octet-stream)[ \t]{0,2}(; ?charset=utf-8)?`).Draw(t, "ct")
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Skip(err)
		}
		want := Base64
		switch {
		case mt == "application/json" || strings.HasSuffix(mt, "+json"):
			want = JSON
		case strings.HasPrefix(mt, "text/"):
			want = Text
		}
		if got := Of(ct, true); got != want {
			t.Fatalf("Of(%q) = %v, want %v (media type %q)", ct, got, want, mt)
		}
	})
}

func TestJoin(t *testing.T) {
	tests := []struct {
		v    []string
		want string
	}{
		{nil, ""},
		{[]string{""}, ""},
		{[]string{" \t "}, ""},
		{[]string{" a "}, "a"},
		{[]string{"a", "b"}, "a, b"},
		{[]string{"", "a"}, "a"},
		{[]string{"a", " ", "\tb\t", ""}, "a, b"},
		{[]string{"a, ", "b"}, "a,, b"}, // a value is trimmed, not split
	}
	for _, tt := range tests {
		if got := Join(tt.v); got != tt.want {
			t.Errorf("Join(%q) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

// TestJoinIsAppend: Join and Append, one value at a time, as strings or
// bytes, give the same value, which is the non-blank values trimmed and
// joined (strings.Join as oracle), and re-joining it changes nothing.
func TestJoinIsAppend(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := rapid.SliceOfN(rapid.StringMatching(`[ \t]{0,2}[a-z/;=,+ ]{0,6}[ \t]{0,2}`), 0, 5).Draw(t, "v")
		var kept []string
		var s, b []byte
		for _, x := range v {
			if x = strings.Trim(x, " \t"); x != "" {
				kept = append(kept, x)
			}
			s, b = Append(s, x), Append(b, []byte(x))
		}
		want := strings.Join(kept, ", ")
		got := []string{Join(v), string(s), string(b), Join([]string{Join(v)})}
		if diff := cmp.Diff([]string{want, want, want, want}, got); diff != "" {
			t.Fatalf("Join, Append of strings, of bytes, Join again (-want +got):\n%s", diff)
		}
	})
}

func TestJoinAllocs(t *testing.T) {
	v := []string{" ", "application/json ", ""}
	if n := testing.AllocsPerRun(100, func() { Join(v) }); n != 0 {
		t.Errorf("Join of one non-empty value: %v allocations, want 0", n)
	}
	var buf []byte
	if n := testing.AllocsPerRun(100, func() { buf = Append(Append(buf[:0], "a"), []byte("b")) }); n != 0 {
		t.Errorf("Append into a buffer with room: %v allocations, want 0", n)
	}
}

func TestFormString(t *testing.T) {
	got := []string{Base64.String(), JSON.String(), Text.String()}
	if diff := cmp.Diff([]string{"base64", "json", "text"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
