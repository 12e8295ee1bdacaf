package batch

import (
	"fmt"
	"net/http"
	"net/http/httptest"
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
