//go:build go1.25

// The oracle here, net/http's CrossOriginProtection, came with Go 1.25;
// the module asks for Go 1.24.

package batch

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seen is what an inner handler behind net/http's CrossOriginProtection
// was told of where a call came from, and what the protection answered.
type seen struct {
	Status         int
	Origin         string
	Referer        string
	SecFetchSite   string
	SecFetchMode   string
	SecChUA        string
	XRequestedWith string
}

// provenanceServer is a batch Handler (on host api.example) whose calls
// pass through http.CrossOriginProtection, as a server's cross-site
// defense, to a handler that records the fields each call arrived with,
// by path. post sends body as a batch with the outer header fields hdr
// (name, value pairs) and returns what each call's path saw.
func provenanceServer(t *testing.T, format string) func(hdr []string, calls ...provenanceCall) map[string]seen {
	return func(hdr []string, calls ...provenanceCall) map[string]seen {
		t.Helper()
		var mu sync.Mutex
		got := map[string]seen{}
		inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got[r.URL.Path] = seen{
				Status:         http.StatusOK,
				Origin:         r.Header.Get("Origin"),
				Referer:        r.Header.Get("Referer"),
				SecFetchSite:   r.Header.Get("Sec-Fetch-Site"),
				SecFetchMode:   r.Header.Get("Sec-Fetch-Mode"),
				SecChUA:        r.Header.Get("Sec-Ch-Ua"),
				XRequestedWith: r.Header.Get("X-Requested-With"),
			}
			mu.Unlock()
		})
		cop := http.NewCrossOriginProtection()
		cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got[r.URL.Path] = seen{Status: http.StatusForbidden}
			mu.Unlock()
			w.WriteHeader(http.StatusForbidden)
		}))
		var body, ct string
		switch format {
		case "multipart":
			var parts []string
			for i, c := range calls {
				msg := "POST " + c.path + " HTTP/1.1\r\n"
				for j := 0; j < len(c.fields); j += 2 {
					msg += c.fields[j] + ": " + c.fields[j+1] + "\r\n"
				}
				parts = append(parts, part(fmt.Sprint(i), msg))
			}
			body, ct = batchBody(parts...), "multipart/mixed; boundary=b"
		case "graph-json":
			var reqs []string
			for i, c := range calls {
				var fields []string
				for j := 0; j < len(c.fields); j += 2 {
					fields = append(fields, fmt.Sprintf("%q:%q", c.fields[j], c.fields[j+1]))
				}
				reqs = append(reqs, fmt.Sprintf(`{"id":"%d","method":"POST","url":%q,"headers":{%s}}`, i, c.path, strings.Join(fields, ",")))
			}
			body, ct = `{"requests":[`+strings.Join(reqs, ",")+`]}`, "application/json"
		}
		req := httptest.NewRequest("POST", "http://api.example/batch", strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		for j := 0; j < len(hdr); j += 2 {
			req.Header.Add(hdr[j], hdr[j+1])
		}
		rec := httptest.NewRecorder()
		NewHandler(cop.Handler(inner)).ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("batch status %d: %s", rec.Code, rec.Body)
		}
		return got
	}
}

// A provenanceCall is a call to path with its own header fields (name,
// value pairs).
type provenanceCall struct {
	path   string
	fields []string
}

// A browser sets Origin, Referer and the Sec- fields itself, and a script
// may set none of them (the Fetch standard forbids them); servers tell
// cross-site requests by them (net/http's CrossOriginProtection reads
// Sec-Fetch-Site, then Origin). A call of a batch inherits the batch
// request's fields but those it sets itself: a script allowed to post a
// batch cross-site (by a CORS policy that lets it, or the batch
// endpoint's own) could make each call say it came from the API's own
// origin, and pass every cross-site defense of the handlers behind the
// batch. So when the batch request came from a browser (it has Origin or
// a Sec-Fetch- field), its calls' Origin, Referer and Sec- fields are its
// own, whatever the calls set; a batch request from anything else, which
// could have set them all itself, leaves its calls theirs.
func TestHandlerCallsCarryTheBatchRequestsProvenance(t *testing.T) {
	sameOrigin := []string{"Sec-Fetch-Site", "same-origin", "Origin", "http://api.example", "Referer", "http://api.example/app", "Sec-Fetch-Mode", "same-origin", "Sec-Ch-Ua", `"Fake";v="1"`}
	claims := provenanceCall{"/transfer", append([]string{"X-Requested-With", "XMLHttpRequest"}, sameOrigin...)}
	// Only the Sec-Fetch-Site field; Origin alone; the two in another
	// spelling: each makes the call a same-origin one.
	siteOnly := provenanceCall{"/site-only", []string{"sec-fetch-site", "same-origin"}}
	originOnly := provenanceCall{"/origin-only", []string{"ORIGIN", "http://api.example"}}
	plain := provenanceCall{"/plain", nil}
	for _, format := range []string{"multipart", "graph-json"} {
		t.Run(format, func(t *testing.T) {
			post := provenanceServer(t, format)
			tests := []struct {
				name  string
				outer []string
				want  map[string]seen
			}{{
				name:  "cross-site browser",
				outer: []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "cors", "Origin", "https://evil.example", "Referer", "https://evil.example/page"},
				want: map[string]seen{
					"/transfer": {Status: 403}, "/site-only": {Status: 403}, "/origin-only": {Status: 403}, "/plain": {Status: 403},
				},
			}, {
				// An older browser sends Origin and no Sec-Fetch- field:
				// a call's Sec-Fetch-Site would be read first.
				name:  "cross-site browser without Sec-Fetch",
				outer: []string{"Origin", "https://evil.example"},
				want: map[string]seen{
					"/transfer": {Status: 403}, "/site-only": {Status: 403}, "/origin-only": {Status: 403}, "/plain": {Status: 403},
				},
			}, {
				// Sec-Fetch- fields alone mark a browser too; the call's
				// Origin, which CrossOriginProtection does not read
				// then, is dropped all the same.
				name:  "same-origin browser",
				outer: []string{"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors"},
				want: map[string]seen{
					"/transfer":    {Status: 200, SecFetchSite: "same-origin", SecFetchMode: "cors", XRequestedWith: "XMLHttpRequest"},
					"/site-only":   {Status: 200, SecFetchSite: "same-origin", SecFetchMode: "cors"},
					"/origin-only": {Status: 200, SecFetchSite: "same-origin", SecFetchMode: "cors"},
					"/plain":       {Status: 200, SecFetchSite: "same-origin", SecFetchMode: "cors"},
				},
			}, {
				name:  "same-origin browser with Origin",
				outer: []string{"Sec-Fetch-Site", "same-origin", "Origin", "http://api.example", "Referer", "http://api.example/batch-page"},
				want: map[string]seen{
					"/transfer":    {Status: 200, SecFetchSite: "same-origin", Origin: "http://api.example", Referer: "http://api.example/batch-page", XRequestedWith: "XMLHttpRequest"},
					"/site-only":   {Status: 200, SecFetchSite: "same-origin", Origin: "http://api.example", Referer: "http://api.example/batch-page"},
					"/origin-only": {Status: 200, SecFetchSite: "same-origin", Origin: "http://api.example", Referer: "http://api.example/batch-page"},
					"/plain":       {Status: 200, SecFetchSite: "same-origin", Origin: "http://api.example", Referer: "http://api.example/batch-page"},
				},
			}, {
				// Not a browser: it could have sent any of these fields
				// on the batch request; its calls keep their own, so a
				// proxy that batches browsers' requests keeps their
				// provenance.
				name:  "not a browser",
				outer: []string{"User-Agent", "batcher/1.0"},
				want: map[string]seen{
					"/transfer":    {Status: 200, SecFetchSite: "same-origin", SecFetchMode: "same-origin", Origin: "http://api.example", Referer: "http://api.example/app", SecChUA: `"Fake";v="1"`, XRequestedWith: "XMLHttpRequest"},
					"/site-only":   {Status: 200, SecFetchSite: "same-origin"},
					"/origin-only": {Status: 200, Origin: "http://api.example"},
					"/plain":       {Status: 200},
				},
			}}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got := post(tt.outer, claims, siteOnly, originOnly, plain)
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("what the calls' handlers saw (-want +got):\n%s", diff)
					}
				})
			}
			t.Run("not a browser, calls cross-site", func(t *testing.T) {
				got := post(nil, provenanceCall{"/site", []string{"Sec-Fetch-Site", "cross-site"}}, provenanceCall{"/origin", []string{"Origin", "https://evil.example"}})
				want := map[string]seen{"/site": {Status: 403}, "/origin": {Status: 403}}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("what the calls' handlers saw (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// A Transport sends the fields all its calls share once, on the batch
// request; never the provenance fields, even when every call has the
// same: on the batch request they would make it a browser's, and the
// Handler would give every call those and drop the rest of each call's
// own. A program that forwards browsers' requests through a Transport
// (each with its own Sec-Fetch-Site, and one Origin) gets for each the
// answer it would get alone.
func TestTransportKeepsEachCallsProvenance(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Header.Get("Sec-Fetch-Site")))
	})
	protected := http.NewCrossOriginProtection().Handler(inner)
	mux := http.NewServeMux()
	mux.Handle("/batch", NewHandler(protected))
	mux.Handle("/", protected)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	sites := []string{"same-origin", "cross-site", "same-site", "none", "same-origin", "cross-site"}
	send := func(c *http.Client, site string) string {
		req, _ := http.NewRequest("POST", srv.URL+"/item", nil)
		req.Header.Set("Origin", "https://app.example")
		req.Header.Set("Sec-Fetch-Site", site)
		resp, err := c.Do(req)
		if err != nil {
			t.Error(err)
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	var want []string
	for _, site := range sites {
		want = append(want, send(srv.Client(), site))
	}
	c := &http.Client{Transport: &Transport{Endpoint: srv.URL + "/batch", Window: time.Minute, Limits: Limits{MaxCalls: len(sites)}}}
	got := make([]string, len(sites))
	var wg sync.WaitGroup
	for i, site := range sites {
		wg.Go(func() { got[i] = send(c, site) })
	}
	wg.Wait()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers through the Transport (-alone +batched):\n%s", diff)
	}
}
