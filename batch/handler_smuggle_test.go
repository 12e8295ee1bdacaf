package batch

import (
	"github.com/mixedcodec/mixed"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A field a handler sets once the head of its response is fixed (after
// WriteHeader, or after its first Write) is not sent as a header field,
// as net/http sends none: a declared trailer, a Trailer:-prefixed one
// (httputil.ReverseProxy puts an upstream's trailer fields there, and a
// part has no trailer section) or a late Location. The part of such a
// call said otherwise when it was buffered behind a slower call: the
// fields were read when the part was written, not when the head was
// fixed, and a Trailer:-prefixed name made the call a 500.
func TestSmuggleLateHeaderFields(t *testing.T) {
	handlers := map[string]func(w http.ResponseWriter){
		"/after-writeheader": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusCreated)
			w.Header().Set("Location", "/elsewhere")
			io.WriteString(w, "body")
			w.Header().Set("Content-Type", "text/html")
		},
		"/after-write": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "body")
			w.Header().Set("Location", "/elsewhere")
			w.Header().Set("Set-Cookie", "session=evil")
		},
		"/trailers": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Trailer", "X-Sum")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "body")
			w.Header().Set("X-Sum", "1")
			w.Header().Set(http.TrailerPrefix+"X-Undeclared", "2")
		},
	}
	paths := []string{"/after-writeheader", "/after-write", "/trailers"}
	// The calls behind /first are buffered until it ends, which it does
	// once they have.
	var wg sync.WaitGroup
	wg.Add(len(paths))
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/first" {
			wg.Wait()
			io.WriteString(w, "first")
			return
		}
		defer wg.Done()
		handlers[r.URL.Path](w)
	})
	// What net/http sends for each, as header fields.
	type head struct {
		Status int
		Header map[string]string
		Body   string
	}
	oracle := httptest.NewServer(inner)
	defer oracle.Close()
	want := []head{{200, map[string]string{"Content-Type": "text/plain; charset=utf-8"}, "first"}}
	for _, p := range paths {
		resp, err := http.Get(oracle.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := map[string]string{}
		for k := range resp.Header {
			switch k {
			case "Date", "Content-Length", "Transfer-Encoding":
			default:
				h[k] = strings.Join(resp.Header[k], ", ")
			}
		}
		want = append(want, head{resp.StatusCode, h, string(b)})
	}
	wg.Add(len(paths)) // the oracle's requests counted down once
	body := []string{part("0", "GET /first HTTP/1.1\r\n")}
	for i, p := range paths {
		body = append(body, part(string(rune('1'+i)), "GET "+p+" HTTP/1.1\r\n"))
	}
	var got []head
	for _, p := range readBatchResponse(t, serve(t, inner, HandlerOptions{}, "/", nil, batchBody(body...))) {
		delete(p.Header, "Content-Length")
		got = append(got, head{p.Status, p.Header, p.Body})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the parts' heads against net/http's (-want +got):\n%s", diff)
	}
}

// Every Host field of a call must name the batch endpoint, not only the
// first: a call with a second Host naming another host answers 400, as
// one whose only Host names it does (net/http refuses several Host
// fields outright), and never reaches the handler.
func TestSmuggleEveryHostField(t *testing.T) {
	var served pathLog
	srv := httptest.NewServer(NewHandler(served.handler(nil)))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	got := postBatch(t, srv.URL, batchBody(
		part("1", "GET /second HTTP/1.1\r\nHost: "+host+"\r\nHost: evil.example\r\n"),
		part("2", "GET /first HTTP/1.1\r\nHost: evil.example\r\nHost: "+host+"\r\n"),
		part("3", "GET /same HTTP/1.1\r\nHost: "+host+"\r\nHost: "+strings.ToUpper(host)+"\r\n"),
	))
	if diff := cmp.Diff([]int{400, 400, 200}, statuses(got)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if !strings.Contains(got[0].Body, `"evil.example"`) {
		t.Errorf("the 400 says %q; want it to name the other host", got[0].Body)
	}
	if diff := cmp.Diff([]string{"/same"}, served.sorted()); diff != "" {
		t.Errorf("calls that reached the handler (-want +got):\n%s", diff)
	}
}

// A response cannot add a part to the batch response, even one that knows
// its boundary (as an upstream told it by the client could): a body or a
// field name that holds the delimiter is refused by the codec's Writer,
// and the batch response stops there, visibly cut short (no close
// delimiter), rather than carry a part the call did not answer; a field
// value with a line break answers 500 in the call's own part.
func TestSmuggleResponseCarriesBoundary(t *testing.T) {
	boundary := make(chan string, 1)
	fake := func(b string) string {
		return "\r\n--" + b + "\r\nContent-Type: application/http\r\nContent-ID: response-fake\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected"
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/after" {
			io.WriteString(w, "after")
			return
		}
		b := <-boundary
		switch r.URL.Path {
		case "/buffered":
			io.WriteString(w, fake(b))
		case "/streamed":
			io.WriteString(w, strings.Repeat("x", 70<<10))
			io.WriteString(w, fake(b))
		case "/field-name":
			w.Header()["--"+b] = []string{"x"}
		case "/field-value":
			w.Header().Set("X-A", "a\r\n--"+b)
		}
	})
	srv := httptest.NewServer(NewHandler(inner))
	defer srv.Close()
	for _, tc := range []struct {
		path string
		cut  bool     // the batch response stops short
		want []string // how the parts read start: status, body
	}{
		{"/buffered", true, nil},
		{"/streamed", true, []string{"200 xxx"}}, // what streamed before
		{"/field-name", true, nil},
		{"/field-value", false, []string{"500 batch: the call's response cannot be written", "200 after"}},
	} {
		resp, err := http.Post(srv.URL, "multipart/mixed; boundary=b", strings.NewReader(batchBody(
			part("1", "GET "+tc.path+" HTTP/1.1\r\n"), part("2", "GET /after HTTP/1.1\r\n"))))
		if err != nil {
			t.Fatal(err)
		}
		b, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		boundary <- b
		var got []string
		r := mixed.NewReader(resp.Body, b)
		for {
			p, err := r.NextPart()
			if err != nil {
				if cut := err != io.EOF; cut != tc.cut {
					t.Errorf("%s: the batch response ends with %v; want it cut short: %v", tc.path, err, tc.cut)
				}
				break
			}
			m, err := mixed.NewMessageReader(p).ReadResponse("")
			if err != nil {
				got = append(got, "unreadable: "+err.Error())
				continue
			}
			body, _ := io.ReadAll(m.Body)
			if p.Header.Get("Content-ID") == "response-fake" || strings.Contains(string(body), "injected") {
				t.Errorf("%s: a part the call did not answer: %q", tc.path, body)
			}
			got = append(got, strconv.Itoa(m.StatusCode)+" "+string(body))
		}
		resp.Body.Close()
		ok := len(got) == len(tc.want)
		for i := 0; ok && i < len(got); i++ {
			ok = strings.HasPrefix(got[i], tc.want[i])
		}
		if !ok {
			t.Errorf("%s: parts %.200q, want them to start %q", tc.path, got, tc.want)
		}
	}
}
