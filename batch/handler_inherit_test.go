package batch

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mixedcodec/mixed"
)

// Every call inherits the batch request's header fields and its query,
// which the client sends once: an outer head of net/http's 1 MiB made each
// of a thousand calls copy its fields into its own header map (a
// hundred thousand of them, each a map entry) and merge, sort and encode
// a query of as many parameters, tens of seconds of CPU for a request
// of about 1 MiB, and the calls carried to a gateway's upstream a
// thousand times what the client sent. What a call inherits must fit the
// limits its own head is read with (mixed.DefaultMaxHeaderFields and
// DefaultMaxHeaderBytes for the fields, DefaultMaxStartLineBytes for the
// query): past them the batch is refused before any call runs, with 431
// or 414, in either format.
func TestHandlerRefusesInheritanceOverCallLimits(t *testing.T) {
	var calls atomic.Int32
	var sawFields atomic.Int32
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		n := 0
		for k := range r.Header {
			if strings.HasPrefix(k, "X-F") {
				n++
			}
		}
		sawFields.Store(int32(n))
	})
	srv := httptest.NewServer(NewHandler(inner))
	defer srv.Close()
	many := func(n int) http.Header {
		h := http.Header{}
		for i := range n {
			h.Set(fmt.Sprintf("X-F%d", i), "v")
		}
		return h
	}
	query := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "&q%d=1", i)
		}
		return b.String()[1:]
	}
	multipart := batchBody(part("1", "GET /a HTTP/1.1\r\n\r\n"), part("2", "GET /b HTTP/1.1\r\n\r\n"))
	jsonBody := `{"requests":[{"id":"1","method":"GET","url":"/a"},{"id":"2","method":"GET","url":"/b"}]}`
	for _, tc := range []struct {
		name   string
		header http.Header
		query  string
		status int // for the batch; 200 runs both calls
		fields int // inherited, as the calls see them
	}{
		{"fields at the limit", many(mixed.DefaultMaxHeaderFields - 4), "", 200, mixed.DefaultMaxHeaderFields - 4},
		{"fields over the limit", many(mixed.DefaultMaxHeaderFields + 1), "", http.StatusRequestHeaderFieldsTooLarge, 0},
		{"fifty thousand fields", many(50000), "", http.StatusRequestHeaderFieldsTooLarge, 0},
		{"bytes over the limit", http.Header{"X-Big": {strings.Repeat("v", mixed.DefaultMaxHeaderBytes)}}, "", http.StatusRequestHeaderFieldsTooLarge, 0},
		{"values over the limit", http.Header{"X-Many": strings.Split(strings.Repeat("v,", mixed.DefaultMaxHeaderFields+1), ",")}, "", http.StatusRequestHeaderFieldsTooLarge, 0},
		{"a query at the limit", nil, query(100), 200, 0},
		{"a query over the limit", nil, query(mixed.DefaultMaxStartLineBytes / 4), http.StatusRequestURITooLong, 0},
	} {
		for _, format := range []string{"multipart", "json"} {
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				calls.Store(0)
				sawFields.Store(-1)
				body, ct := multipart, "multipart/mixed; boundary=b"
				if format == "json" {
					body, ct = jsonBody, "application/json"
				}
				u := srv.URL + "/batch"
				if tc.query != "" {
					u += "?" + tc.query
				}
				req, _ := http.NewRequest("POST", u, strings.NewReader(body))
				for k, vv := range tc.header {
					req.Header[k] = vv
				}
				req.Header.Set("Content-Type", ct)
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tc.status, msg)
				}
				if tc.status != 200 {
					if !strings.Contains(string(msg), strings.TrimPrefix(ErrInheritTooLarge.Error(), "batch: ")) {
						t.Errorf("the answer does not say ErrInheritTooLarge: %.200s", msg)
					}
					if n := calls.Load(); n != 0 {
						t.Errorf("%d calls ran; want none", n)
					}
					return
				}
				if n := calls.Load(); n != 2 {
					t.Errorf("%d calls ran; want 2", n)
				}
				if tc.fields > 0 && int(sawFields.Load()) != tc.fields {
					t.Errorf("a call saw %d inherited fields, want %d", sawFields.Load(), tc.fields)
				}
			})
		}
	}
}
