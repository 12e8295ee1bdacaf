package caddybatch

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// farm is the Calendar documentation's demo API, as the batch package's
// interop test serves it: ETags honoured by If-Match and If-None-Match.
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

// TestInteropGoogleAPIPython runs the batch package's python interop
// script (Debian's python3-googleapi, google-api-python-client 1.7.12,
// BatchHttpRequest) against Caddy: the batch module on /batch/farm/v1,
// then reverse_proxy over three upstreams serving the farm API. The
// callbacks receive what they receive from the batch package's Handler
// alone.
func TestInteropGoogleAPIPython(t *testing.T) {
	const python = "/usr/bin/python3"
	needPeer(t, "Debian's python3-googleapi", exec.Command(python, "-c", "import googleapiclient.http").Run())

	var dials []string
	for range 3 {
		srv := httptest.NewServer(farm())
		t.Cleanup(srv.Close)
		dials = append(dials, srv.Listener.Addr().String())
	}
	base, _ := startCaddy(t,
		obj{"match": []obj{{"path": []string{"/batch/farm/v1"}}}, "handle": []obj{{"handler": "batch"}}},
		route(proxyTo(dials...)))

	out, err := exec.Command(python, "../batch/testdata/interop/googleapi_batch.py", base).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("python client failed: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	want := map[string]map[string]any{
		"pony":    {"status": 200.0, "etag": `"etag/pony"`, "body": `{"animalName":"pony","auth":"Bearer py"}`},
		"sheep":   {"status": 200.0, "etag": `"etag/sheep"`, "body": `{"put":23}`},
		"animals": {"error": "HttpError", "status": 304.0},
		"missing": {"error": "HttpError", "status": 404.0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what the python client's callbacks received (-want +got):\n%s", diff)
	}
}
