package batch

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The Content-Type sniffed for a handler that wrote a body without one
// goes on the wire only, as net/http's does: a handler that looks at its
// header after the first Write (through Header, or the map Header gave
// it before) finds none there. Before, the sniffed type was set in the
// handler's own map, and a handler saw it under the Handler and not under
// net/http. net/http, serving the same handler alone, is the oracle for
// what the handler observes and for the Content-Type on the wire; the
// part, in a multipart and a Graph JSON batch, carries the sniffed type
// too.
func TestHandlerSniffLeavesHandlerHeader(t *testing.T) {
	bodies := map[string]string{
		"/html": "<html><body>sniffed</body></html>",
		"/text": "plain text, sniffed",
		"/bin":  "\x00\x01\x02binary",
		"/nil":  "<html>no type: Content-Type set to nil</html>",
		"/set":  "<html>typed by the handler</html>",
	}
	var mu sync.Mutex
	seen := map[string]string{} // by "via path": what the handler observed
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kept := w.Header() // the map, as a handler keeps it before writing
		kept.Set("X-Before", "1")
		switch r.URL.Path {
		case "/nil":
			kept["Content-Type"] = nil // net/http: no sniffing
		case "/set":
			kept.Set("Content-Type", "text/plain; charset=utf-8")
		}
		w.Write([]byte(bodies[r.URL.Path]))
		after := w.Header()
		ct, set := after["Content-Type"]
		keptCT, keptSet := kept["Content-Type"]
		obs := fmt.Sprintf("Header() after Write: Content-Type %q (key %v), %d fields; map kept from before: Content-Type %q (key %v), %d fields",
			ct, set, len(after), keptCT, keptSet, len(kept))
		mu.Lock()
		seen[r.URL.Query().Get("via")+" "+r.URL.Path] = obs
		mu.Unlock()
	})

	// The oracle: each path served alone by net/http.
	direct := httptest.NewServer(inner)
	defer direct.Close()
	wire := map[string]string{}
	for path := range bodies {
		resp, err := http.Get(direct.URL + path + "?via=direct")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		wire[path] = resp.Header.Get("Content-Type")
	}

	srv := httptest.NewServer(NewHandler(inner))
	defer srv.Close()
	for _, f := range []Format{FormatMultipart, FormatGraphJSON} {
		via := fmt.Sprint("batch", f)
		var paths, want []string
		for _, path := range []string{"/html", "/text", "/bin", "/nil", "/set"} {
			paths = append(paths, path+"?via="+via)
			ct := wire[path]
			if ct == "" && f == FormatGraphJSON {
				// A JSON batch says that a body without a type is
				// octet-stream (see appendEntryHead).
				ct = "application/octet-stream"
			}
			want = append(want, "200 "+ct+" "+bodies[path])
		}
		got := getThrough(t, srv, f, paths, func(b []byte) string { return string(b) })
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%v: the parts, against net/http's Content-Type (-want +got):\n%s", f, diff)
		}
		mu.Lock()
		for path := range bodies {
			if diff := cmp.Diff(seen["direct "+path], seen[via+" "+path]); diff != "" {
				t.Errorf("%v %s: what the handler observes, under net/http (-want) and the Handler (+got):\n%s", f, path, diff)
			}
		}
		mu.Unlock()
	}
	if !strings.HasPrefix(wire["/html"], "text/html") {
		t.Errorf("net/http sniffed %q for HTML", wire["/html"])
	}
}

// A handler that writes its body in pieces gets the Content-Type net/http
// sniffs from what it buffered, not from its first piece: "<" and then
// "html>…" is text/html (the Handler sniffed "<" alone, text/plain). The
// same handler served alone by net/http is the oracle; a part whose head
// goes out before the rest is written (a Flush at the head of the order)
// sniffs what it has then, as net/http does at its Flush.
func TestHandlerSniffsWhatIsBuffered(t *testing.T) {
	writes := map[string][]string{
		"/html":    {"<", "html><body>pieces</body></html>"},
		"/pdf":     {"%", "PDF-1.4 ..."},
		"/text":    {"plain", " text"},
		"/bin":     {"\x00", "\x01\x02"},
		"/flushed": {"<", "flush", "html><body>late</body></html>"},
		"/long":    {strings.Repeat(" ", 600), "<html>past the 512 bytes sniffed</html>"},
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i, s := range writes[r.URL.Path] {
			if s == "flush" && i > 0 {
				w.(http.Flusher).Flush()
				continue
			}
			io.WriteString(w, s)
		}
	})
	direct := httptest.NewServer(inner)
	defer direct.Close()
	// /flushed first: at the head of the order, its Flush sends its head.
	paths := []string{"/flushed", "/html", "/pdf", "/text", "/bin", "/long"}
	var want, calls []string
	for _, path := range paths {
		resp, err := http.Get(direct.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		want = append(want, path+" "+resp.Header.Get("Content-Type"))
		calls = append(calls, part(path, "GET "+path+" HTTP/1.1\r\n"))
	}
	var got []string
	for i, p := range readBatchResponse(t, serve(t, inner, HandlerOptions{}, "/", nil, batchBody(calls...))) {
		got = append(got, paths[i]+" "+p.Header["Content-Type"])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Content-Type of each part (-net/http +Handler):\n%s", diff)
	}
}

// maxSniffed, at which measure counts a sniffed Content-Type, is at least
// as long as anything http.DetectContentType returns, for each of the
// byte sequences its signatures start with.
func TestMaxSniffed(t *testing.T) {
	longest := ""
	for _, in := range []string{"", "\x00", "<html>", "%PDF-", "\xfe\xff", "\xff\xfe", "\xef\xbb\xbf", "GIF89a", "\x89PNG\r\n\x1a\n", "\xff\xd8\xff",
		"RIFF\x00\x00\x00\x00WEBPVP", "PK\x03\x04", "Rar!\x1a\x07\x00", "Rar!\x1a\x07\x01\x00", "\x1f\x8b\x08", "BZh", "\x00\x00\x01\x00", "wOFF", "wOF2",
		"OTTO", "\x00\x01\x00\x00", "ttcf", "\x00\x00\x00\x00\x00\x00\x00\x00\x4c\x50" + strings.Repeat("\x00", 24) + "LP", "\x00asm", "OggS\x00", "MThd\x00\x00\x00\x06",
		"ID3", "FORM\x00\x00\x00\x00AIFF", ".snd", "RIFF\x00\x00\x00\x00WAVE", "RIFF\x00\x00\x00\x00AVI ", "\x1aE\xdf\xa3", "\x00\x00\x00\x18ftypmp42", "<?xml", "{"} {
		if ct := http.DetectContentType([]byte(in)); len(ct) > len(longest) {
			longest = ct
		}
	}
	if len(longest) > maxSniffed {
		t.Errorf("DetectContentType gives %q, %d bytes, over maxSniffed %d", longest, len(longest), maxSniffed)
	}
}
