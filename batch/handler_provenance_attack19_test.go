//go:build go1.25

// CrossOriginProtection, an oracle here, came with Go 1.25.

package batch

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// cgiEnvName is the name of the environment variable by which a CGI
// gateway hands field k to its program, as net/http/cgi's Handler names
// it (and PHP's, and WSGI's): HTTP_, then the name in upper case with
// '-' made '_'. Sec_Fetch_Site and Sec-Fetch-Site are one variable there,
// as they are to nginx and to many a framework's header lookup.
func cgiEnvName(k string) string {
	return "HTTP_" + strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == '=':
			return '_'
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, k)
}

// The calls of a batch a browser sent carry its provenance fields, and
// none of their own in any spelling a server behind the Handler may read
// as one of them: a CGI gateway (net/http/cgi's Handler among them)
// passes Sec_Fetch_Site to its program as HTTP_SEC_FETCH_SITE, the
// variable Sec-Fetch-Site becomes. A script may set Sec_Fetch_Site (the
// Fetch standard forbids only names that begin "Sec-"), but only on a
// request a CORS preflight let through; in a call, it could set it on
// every call of a batch it was let post.
func TestHandlerCallsProvenanceOtherSpellingsAttack19(t *testing.T) {
	claims := [][2]string{
		{"Sec_Fetch_Site", "same-origin"},
		{"sec_fetch_mode", "navigate"},
		{"SEC_CH_UA", "forged"},
		{"Sec-Fetch_Dest", "document"},
	}
	outer := map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
	for _, format := range []string{"multipart", "graph-json"} {
		t.Run(format, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				for k, vv := range r.Header {
					env := cgiEnvName(k)
					if strings.HasPrefix(env, "HTTP_SEC_") || env == "HTTP_ORIGIN" || env == "HTTP_REFERER" {
						for _, v := range vv {
							got = append(got, env+"="+v)
						}
					}
				}
			})
			var body, ct string
			switch format {
			case "multipart":
				msg := "POST /transfer HTTP/1.1\r\n"
				for _, c := range claims {
					msg += c[0] + ": " + c[1] + "\r\n"
				}
				body, ct = batchBody(part("0", msg)), "multipart/mixed; boundary=b"
			case "graph-json":
				var fields []string
				for _, c := range claims {
					fields = append(fields, fmt.Sprintf("%q:%q", c[0], c[1]))
				}
				body = `{"requests":[{"id":"0","method":"POST","url":"/transfer","headers":{` + strings.Join(fields, ",") + `}}]}`
				ct = "application/json"
			}
			req := httptest.NewRequest("POST", "http://api.example/batch", strings.NewReader(body))
			req.Header.Set("Content-Type", ct)
			for k, v := range outer {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			NewHandler(inner).ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "200 OK") && !strings.Contains(rec.Body.String(), `"status":200`) {
				t.Fatalf("batch: %d %s", rec.Code, rec.Body)
			}
			slices.Sort(got)
			want := []string{"HTTP_ORIGIN=https://evil.example", "HTTP_SEC_FETCH_SITE=cross-site"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("provenance variables a CGI program behind the call would see (-want +got):\n%s", diff)
			}
		})
	}
}

// A call of a browser's batch could name the provenance fields it
// inherits in its own Connection field, which a script may set in a call
// and not on a request: a gateway's reverse proxy (httputil's, as mixed
// serve runs behind the Handler) drops the fields a Connection field
// names before it forwards the call, and the upstream got the call with
// no provenance at all. A server's cross-site defense took it for a
// non-browser's request (CrossOriginProtection lets a request with
// neither Sec-Fetch-Site nor Origin through). A browser's provenance
// fields are end to end: a call of its batch names none of them as a
// field of its connection.
func TestHandlerCallConnectionKeepsProvenanceAttack19(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path] = "refused"
		mu.Unlock()
		w.WriteHeader(http.StatusForbidden)
	}))
	upstream := httptest.NewServer(cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path] = "reached, Origin " + r.Header.Get("Origin") + ", Sec-Fetch-Site " + r.Header.Get("Sec-Fetch-Site")
		mu.Unlock()
	})))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	gateway := NewHandler(httputil.NewSingleHostReverseProxy(u))
	calls := []string{
		"POST /transfer HTTP/1.1\r\nConnection: Origin, Referer, Sec-Fetch-Site, Sec-Fetch-Mode\r\n",
		"POST /spelled HTTP/1.1\r\nConnection: keep-alive\r\nConnection: origin,  SEC-FETCH-SITE \r\n",
		"POST /plain HTTP/1.1\r\n",
	}
	var parts []string
	for i, c := range calls {
		parts = append(parts, part(fmt.Sprint(i), c))
	}
	req := httptest.NewRequest("POST", "http://api.example/batch", strings.NewReader(batchBody(parts...)))
	req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Sec-Fetch-Mode", "cors")
	rec := httptest.NewRecorder()
	gateway.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("batch: %d %s", rec.Code, rec.Body)
	}
	want := map[string]string{"/transfer": "refused", "/spelled": "refused", "/plain": "refused"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what the upstream did with each call (-want +got):\n%s", diff)
	}
}
