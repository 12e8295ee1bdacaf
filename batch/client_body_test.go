package batch

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A batch request bounded in bytes (Limits.MaxBytes) is sent with its
// Content-Length, as Azure Blob batch requires; an unbounded one streams,
// chunked. The server, net/http's, is the oracle of the framing.
func TestClientContentLengthWhenSized(t *testing.T) {
	type framing struct {
		ContentLength    int64
		TransferEncoding []string
		BodyBytes        int64
		Calls            int
	}
	var (
		mu  sync.Mutex
		got []framing
	)
	bh := NewHandler(farm())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := framing{ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		f.BodyBytes = int64(len(body))
		f.Calls = strings.Count(string(body), "Content-Type: application/http")
		mu.Lock()
		got = append(got, f)
		mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		bh.ServeHTTP(w, r)
	}))
	defer srv.Close()

	for _, tc := range []struct {
		name   string
		limits Limits
		want   func(body int64) framing
	}{
		{"unbounded", Limits{}, func(int64) framing {
			return framing{ContentLength: -1, TransferEncoding: []string{"chunked"}, Calls: 3}
		}},
		{"bounded in calls only", Limits{MaxCalls: 10}, func(int64) framing {
			return framing{ContentLength: -1, TransferEncoding: []string{"chunked"}, Calls: 3}
		}},
		{"bounded in bytes", Limits{MaxBytes: 1 << 20}, func(n int64) framing {
			return framing{ContentLength: n, Calls: 3}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			c := &Client{Endpoint: srv.URL + "/batch/farm/v1", HTTPClient: srv.Client(), Limits: tc.limits}
			b := c.NewBatch()
			for _, target := range []string{"/farm/v1/animals/pony", "/farm/v1/animals/cow", "/farm/v1/animals/sheep"} {
				req, _ := http.NewRequest(http.MethodGet, target, nil)
				if _, err := b.Add(req, ""); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Do(context.Background()); err != nil {
				t.Fatal(err)
			}
			for _, call := range b.Calls() {
				if r := outcome(t, call); r.Status != http.StatusOK {
					t.Errorf("call %s: %+v", call.ID(), r)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 {
				t.Fatalf("%d batch requests, want 1", len(got))
			}
			want := tc.want(got[0].BodyBytes)
			want.BodyBytes = got[0].BodyBytes
			if diff := cmp.Diff(want, got[0]); diff != "" {
				t.Errorf("the batch request's framing (-want +got):\n%s", diff)
			}
		})
	}
}
