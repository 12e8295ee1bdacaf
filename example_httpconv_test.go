package mixed_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"

	"github.com/mixedcodec/mixed"
)

// Serve each call of a batch request with an ordinary http.Handler:
// Request.HTTPRequest turns the embedded request into the *http.Request a
// handler expects, its URL resolved against the batch endpoint's host.
func ExampleRequest_HTTPRequest() {
	api := http.NewServeMux()
	api.HandleFunc("/farm/v1/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s: %d body bytes, If-Match %q", r.Method, r.URL, len(body), r.Header.Get("If-Match"))
	})

	f, err := os.Open("testdata/calendar-batch-request.http")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	outer, err := http.ReadRequest(bufio.NewReader(f))
	if err != nil {
		log.Fatal(err)
	}
	boundary, err := mixed.ParseBoundary(outer.Header.Get("Content-Type"))
	if err != nil {
		log.Fatal(err)
	}
	base := &url.URL{Scheme: "https", Host: outer.Host}
	r := mixed.NewReader(outer.Body, boundary)
	var m mixed.MessageReader
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		m.Reset(part)
		call, err := m.ReadRequest()
		if err != nil {
			log.Fatal(err)
		}
		req, err := call.HTTPRequest(context.Background(), base)
		if err != nil {
			log.Fatal(err)
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		fmt.Printf("%s -> %d %s\n", part.Header.Get("Content-ID"), rec.Code, rec.Body)
	}
	// Output:
	// <item1:12930812@barnyard.example.com> -> 200 GET https://www.googleapis.com/farm/v1/animals/pony: 0 body bytes, If-Match ""
	// <item2:12930812@barnyard.example.com> -> 200 PUT https://www.googleapis.com/farm/v1/animals/sheep: 77 body bytes, If-Match "\"etag/sheep\""
	// <item3:12930812@barnyard.example.com> -> 200 GET https://www.googleapis.com/farm/v1/animals: 0 body bytes, If-Match ""
}
