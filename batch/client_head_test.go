package batch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A batch of HEADs asks for sizes: the answer to a HEAD call has the
// ContentLength its Content-Length field announces, or -1 without one, as
// net/http's client gives it (the Client gave 0, the length of the body
// it holds), while the OnCall hook still counts the bytes received, none.
func TestClientHeadAnswerContentLength(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sized":
			w.Header().Set("Content-Length", "1234")
		case "/chunked":
			w.Header().Set("Content-Type", "text/plain")
			w.(http.Flusher).Flush() // no length: chunked under net/http
		}
		if r.Method != http.MethodHead {
			w.Write(make([]byte, 1234))
		}
	})
	plain := httptest.NewServer(inner)
	defer plain.Close()
	batched := httptest.NewServer(NewHandler(inner))
	defer batched.Close()
	paths := []string{"/sized", "/chunked", "/empty"}
	type answer struct {
		Method        string
		Path          string
		Status        int
		ContentLength int64
	}
	var want, got []answer
	var mu sync.Mutex
	bytes := map[string]int64{}
	c := &Client{Endpoint: batched.URL, OnCall: func(info CallInfo) {
		mu.Lock()
		defer mu.Unlock()
		bytes[info.Method+" "+info.Target] = info.Bytes
	}}
	b := c.NewBatch()
	var calls []*Call
	for _, m := range []string{http.MethodHead, http.MethodGet} {
		for _, p := range paths {
			req, _ := http.NewRequest(m, plain.URL+p, nil)
			resp, err := plain.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want = append(want, answer{m, p, resp.StatusCode, resp.ContentLength})
			req, _ = http.NewRequest(m, batched.URL+p, nil)
			call, err := b.Add(req, "")
			if err != nil {
				t.Fatal(err)
			}
			calls = append(calls, call)
		}
	}
	// A body read whole has its length: net/http's -1 for a chunked
	// GET is the Client's 1234.
	want[len(paths)+1].ContentLength = 1234
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, call := range calls {
		resp, err := call.Wait(context.Background())
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		got = append(got, answer{call.Request().Method, call.Request().URL.Path, resp.StatusCode, resp.ContentLength})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-net/http +Client):\n%s", diff)
	}
	// OnCall: the body bytes received, none for the HEADs.
	wantBytes := map[string]int64{"HEAD /sized": 0, "HEAD /chunked": 0, "HEAD /empty": 0, "GET /sized": 1234, "GET /chunked": 1234, "GET /empty": 1234}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(wantBytes, bytes); diff != "" {
		t.Errorf("CallInfo.Bytes (-want +got):\n%s", diff)
	}
}
