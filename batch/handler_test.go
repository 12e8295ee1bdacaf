package batch

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

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

// TestHandlerBatchesBackToBack serves small batches one right after
// another, in memory, so that a batch's state is reused while the workers
// of the one before may still be looking for work: every call is answered
// by its own batch, with its own path.
func TestHandlerBatchesBackToBack(t *testing.T) {
	h := NewHandlerOptions(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}), HandlerOptions{Concurrency: 8})
	for n := range 300 {
		var parts, want []string
		for k := range 1 + n%4 {
			path := fmt.Sprintf("/b%d/c%d", n, k)
			parts = append(parts, part(strconv.Itoa(k), "GET "+path+" HTTP/1.1\r\n"))
			want = append(want, path)
		}
		req := httptest.NewRequest("POST", "/batch", strings.NewReader(batchBody(parts...)))
		req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var got []string
		for _, p := range readBatchResponse(t, rec.Result()) {
			got = append(got, p.Body)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("batch %d: bodies (-want +got):\n%s", n, diff)
		}
	}
}
