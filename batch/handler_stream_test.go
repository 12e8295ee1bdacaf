package batch

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
)

// unwrapOnly is middleware's usual ResponseWriter wrapper: it hides the
// Flusher but has Unwrap, for http.ResponseController.
type unwrapOnly struct{ http.ResponseWriter }

func (u unwrapOnly) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// The Handler sends each part as soon as it and the parts before it are
// done, also behind middleware: the first part must reach the client while
// the second call is still running.
func TestHandlerStreamsParts(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(http.Handler) http.Handler
	}{
		{"direct", func(h http.Handler) http.Handler { return h }},
		{"unwrap-middleware", func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(unwrapOnly{w}, r) })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/slow" {
					select {
					case <-release:
					case <-time.After(10 * time.Second):
						// The first part never arrived: not streamed.
						w.WriteHeader(http.StatusGatewayTimeout)
						return
					}
				}
				w.WriteHeader(http.StatusNoContent)
			})
			srv := httptest.NewServer(tc.wrap(NewHandlerOptions(inner, HandlerOptions{Concurrency: 2})))
			defer srv.Close()
			body := "--b\r\nContent-Type: application/http\r\nContent-ID: fast\r\n\r\nGET /fast HTTP/1.1\r\n\r\n" +
				"--b\r\nContent-Type: application/http\r\nContent-ID: slow\r\n\r\nGET /slow HTTP/1.1\r\n\r\n" +
				"--b--\r\n"
			resp, err := http.Post(srv.URL, "multipart/mixed; boundary=b", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			boundary, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
			if err != nil {
				t.Fatal(err)
			}
			r := mixed.NewReader(resp.Body, boundary)
			var got []string
			for range 2 {
				p, err := r.NextPart()
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, p.Header.Get("Content-ID"))
				if len(got) == 1 {
					// Not after reading the part: its end shows only
					// when the next delimiter arrives.
					close(release)
				}
				m, err := mixed.NewMessageReader(p).ReadResponse("")
				if err != nil {
					t.Fatal(err)
				}
				if m.StatusCode != http.StatusNoContent {
					t.Errorf("part %q: status %d, want 204", got[len(got)-1], m.StatusCode)
				}
			}
			if diff := cmp.Diff([]string{"response-fast", "response-slow"}, got); diff != "" {
				t.Errorf("Content-IDs (-want +got):\n%s", diff)
			}
		})
	}
}
