package batch_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/mixedcodec/mixed/batch"
)

// post sends a JSON batch body to url, with pairs of header names and
// values, and prints the answer, one response object a line.
func post(url, body string, fields ...string) {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(fields); i += 2 {
		req.Header.Set(fields[i], fields[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(strings.TrimSpace(resp.Status + " " + resp.Header.Get("Content-Type") + " " + resp.Header.Get("OData-Version")))
	fmt.Println(strings.ReplaceAll(string(b), `},{"id"`, "},\n{\"id\""))
}

// people is a small JSON API for the JSON batch examples: GET and PATCH
// /people/{id}, POST /people (201 with a Location), and a photo that is
// not JSON.
func people() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /people/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.PathValue("id") != "7" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":"NotFound"}}`)
			return
		}
		fmt.Fprint(w, `{"id":7,"name":"Ann"}`)
	})
	mux.HandleFunc("POST /people", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/people/8")
		w.WriteHeader(http.StatusCreated)
		io.Copy(w, r.Body)
	})
	mux.HandleFunc("PATCH /people/{id}", func(w http.ResponseWriter, r *http.Request) {
		if g, ok := batch.GroupFromContext(r.Context()).(*printGroup); ok {
			g.writes = append(g.writes, r.URL.Path)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /people/{id}/photo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("\x89PNG"))
	})
	return mux
}

// A Microsoft Graph JSON batch: requests with ids and dependsOn, answered
// in request order, the batch itself 200 whatever the calls' statuses.
// JSON bodies stay JSON, others are base64; a call whose dependency failed
// does not run and answers 424.
func ExampleHandler_graphJSON() {
	srv := httptest.NewServer(http.StripPrefix("/v1.0", batch.NewHandlerOptions(people(), batch.HandlerOptions{
		JSONFormat: batch.FormatGraphJSON,
	})))
	defer srv.Close()
	post(srv.URL+"/v1.0/$batch", `{"requests": [
		{"id": "1", "method": "GET", "url": "/people/7"},
		{"id": "2", "method": "GET", "url": "/people/9"},
		{"id": "3", "method": "GET", "url": "/people/7/photo", "dependsOn": ["1"]},
		{"id": "4", "method": "PATCH", "url": "/people/9", "dependsOn": ["2"],
		 "headers": {"Content-Type": "application/json"}, "body": {"name": "Bo"}}
	]}`)
	// Output:
	// 200 OK application/json
	// {"responses":[{"id":"1","status":200,"headers":{"Content-Type":"application/json"},"body":{"id":7,"name":"Ann"}},
	// {"id":"2","status":404,"headers":{"Content-Type":"application/json"},"body":{"error":{"code":"NotFound"}}},
	// {"id":"3","status":200,"headers":{"Content-Type":"image/png"},"body":"iVBORw=="},
	// {"id":"4","status":424,"headers":{"Content-Type":"application/json"},"body":{"error":{"code":"FailedDependency","message":"dependsOn \"2\": the request failed with status 404"}}}]}
}

// An OData 4.01 JSON batch: an atomicity group, run in one Group that
// commits, whose second request targets $1, the Location of the first
// one's response; relative urls resolve against the service root (where
// the batch was sent), response header names are lower case, and each
// response of the group names it.
func ExampleHandler_odataJSON() {
	srv := httptest.NewServer(http.StripPrefix("/service", batch.NewHandlerOptions(people(), batch.HandlerOptions{
		BeginGroup: func(context.Context) (batch.Group, error) { return &printGroup{}, nil },
	})))
	defer srv.Close()
	post(srv.URL+"/service/$batch", `{"requests": [
		{"id": "1", "atomicityGroup": "g", "method": "POST", "url": "people",
		 "headers": {"content-type": "application/json"}, "body": {"name": "Bo"}},
		{"id": "2", "atomicityGroup": "g", "method": "PATCH", "url": "$1",
		 "headers": {"content-type": "application/json"}, "body": {"name": "Bob"}},
		{"id": "3", "method": "GET", "url": "people/7", "dependsOn": ["g"]}
	]}`, "OData-Version", "4.01")
	// Output:
	// commit [/people/8]
	// 200 OK application/json 4.01
	// {"responses":[{"id":"1","atomicityGroup":"g","status":201,"headers":{"content-type":"application/json","location":"/people/8"},"body":{"name": "Bo"}},
	// {"id":"2","atomicityGroup":"g","status":204,"headers":{}},
	// {"id":"3","status":200,"headers":{"content-type":"application/json"},"body":{"id":7,"name":"Ann"}}]}
}
