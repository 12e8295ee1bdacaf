package batch

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
)

// gotPart is a response part as the tests compare it.
type gotPart struct {
	ContentID string
	Status    int
	Header    map[string]string
	Body      string
}

// readBatchResponse reads a batch response with the codec, independently
// of the Client.
func readBatchResponse(t *testing.T, resp *http.Response) []gotPart {
	t.Helper()
	boundary, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("response Content-Type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	r := mixed.NewReader(resp.Body, boundary)
	var out []gotPart
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("part %d: %v", len(out), err)
		}
		if ct := p.Header.Get("Content-Type"); ct != "application/http" {
			t.Errorf("part %d: Content-Type %q, want application/http", len(out), ct)
		}
		mr := mixed.NewMessageReader(p)
		m, err := mr.ReadResponse("")
		if err != nil {
			t.Fatalf("part %d: embedded response: %v", len(out), err)
		}
		g := gotPart{ContentID: p.Header.Get("Content-ID"), Status: m.StatusCode, Header: map[string]string{}}
		for n, v := range m.Header.All() {
			g.Header[string(n)] = string(v)
		}
		b, err := io.ReadAll(m.Body)
		if err != nil {
			t.Fatalf("part %d: body: %v", len(out), err)
		}
		g.Body = string(b)
		out = append(out, g)
	}
}

// statuses is the status of each part, in order.
func statuses(parts []gotPart) []int {
	var out []int
	for _, p := range parts {
		out = append(out, p.Status)
	}
	return out
}

// farm is the Calendar documentation's demo API, enough of it to answer
// the seed's batch: ETags honoured by If-None-Match.
func farm() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /farm/v1/animals/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"etag/`+r.PathValue("name")+`"`)
		fmt.Fprintf(w, `{"animalName":%q,"auth":%q}`, r.PathValue("name"), r.Header.Get("Authorization"))
	})
	mux.HandleFunc("PUT /farm/v1/animals/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-Match") != `"etag/`+r.PathValue("name")+`"` {
			w.WriteHeader(http.StatusPreconditionFailed)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"etag/`+r.PathValue("name")+`"`)
		fmt.Fprintf(w, `{"put":%d}`, len(b))
	})
	mux.HandleFunc("GET /farm/v1/animals", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"etag/animals"` {
			w.Header().Set("ETag", `"etag/animals"`)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, `[]`)
	})
	return mux
}

// postFile sends the HTTP request saved in file to srv, as curl would.
func postFile(t *testing.T, srv *httptest.Server, file string) *http.Response {
	t.Helper()
	f, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(f)))
	if err != nil {
		t.Fatal(err)
	}
	out, err := http.NewRequest(req.Method, srv.URL+req.URL.Path, req.Body)
	if err != nil {
		t.Fatal(err)
	}
	out.Header = req.Header
	resp, err := srv.Client().Do(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestHandlerCalendarSeed(t *testing.T) {
	srv := httptest.NewServer(NewHandler(farm()))
	defer srv.Close()
	resp := postFile(t, srv, "../testdata/calendar-batch-request.http")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := readBatchResponse(t, resp)
	want := []gotPart{
		{
			ContentID: "<response-item1:12930812@barnyard.example.com>", Status: 200,
			Header: map[string]string{"Content-Type": "application/json", "Etag": `"etag/pony"`, "Content-Length": "50"},
			Body:   `{"animalName":"pony","auth":"Bearer your_auth_token"}`,
		},
		{
			ContentID: "<response-item2:12930812@barnyard.example.com>", Status: 200,
			Header: map[string]string{"Content-Type": "application/json", "Etag": `"etag/sheep"`, "Content-Length": "11"},
			Body:   `{"put":77}`,
		},
		{
			ContentID: "<response-item3:12930812@barnyard.example.com>", Status: 304,
			Header: map[string]string{"Etag": `"etag/animals"`},
		},
	}
	// Content-Length values depend on the bodies: compute them.
	for i := range want {
		if _, ok := want[i].Header["Content-Length"]; ok {
			want[i].Header["Content-Length"] = fmt.Sprint(len(want[i].Body))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batch response (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/mixed; boundary=") {
		t.Errorf("outer Content-Type %q", resp.Header.Get("Content-Type"))
	}
}
