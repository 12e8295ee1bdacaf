package batch

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A batch request bounded in bytes (Limits.MaxBodyBytes) is sent with its
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
		{"bounded in bytes", Limits{MaxBodyBytes: 1 << 20}, func(n int64) framing {
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

// Each call's part carries Content-Type: application/http,
// Content-Transfer-Encoding: binary (which Azure Blob batch documents as
// required) and its Content-ID, as the standard library's mime/multipart
// reads them.
func TestClientPartFields(t *testing.T) {
	var (
		mu  sync.Mutex
		got []textproto.MIMEHeader
	)
	bh := NewHandler(farm())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil {
			t.Error(err)
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				if err != io.EOF {
					t.Error(err)
				}
				break
			}
			mu.Lock()
			got = append(got, p.Header)
			mu.Unlock()
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		bh.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := &Client{Endpoint: srv.URL + "/batch/farm/v1", HTTPClient: srv.Client()}
	b := c.NewBatch()
	var want []textproto.MIMEHeader
	for i, target := range []string{"/farm/v1/animals/pony", "/farm/v1/animals/cow"} {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		if _, err := b.Add(req, strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		want = append(want, textproto.MIMEHeader{
			"Content-Type":              {"application/http"},
			"Content-Transfer-Encoding": {"binary"},
			"Content-Id":                {strconv.Itoa(i)},
		})
	}
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the parts' fields (-want +got):\n%s", diff)
	}
}
