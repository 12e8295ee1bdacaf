package batch_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/mixedcodec/mixed"
	"github.com/mixedcodec/mixed/batch"
)

// A Handler unwraps a batch request, as a client such as Google's API
// libraries sends it, into calls to the inner handler, and answers with
// one response part per call, each under the Content-ID "response-" and
// the call's own.
func ExampleHandler() {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
	})
	srv := httptest.NewServer(batch.NewHandler(api))
	defer srv.Close()

	body := "--b\r\nContent-Type: application/http\r\nContent-ID: <a>\r\n\r\nGET /one HTTP/1.1\r\n\r\n" +
		"\r\n--b\r\nContent-Type: application/http\r\nContent-ID: <b>\r\n\r\nDELETE /two HTTP/1.1\r\n\r\n" +
		"\r\n--b--\r\n"
	resp, err := http.Post(srv.URL, `multipart/mixed; boundary=b`, strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	for part, err := range mixed.Responses(resp) {
		if err != nil {
			log.Fatal(err)
		}
		b, _ := io.ReadAll(part.Response.Body)
		fmt.Println(part.ContentID, part.Response.StatusCode, string(b))
	}
	// Output:
	// <response-a> 200 GET /one
	// <response-b> 200 DELETE /two
}

// A Client is configured by its fields; its zero value but the Endpoint is
// ready to use. Each Batch it makes is sent in one request (or several,
// above MaxCalls), and each call gets its own response.
func ExampleClient() {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "found")
	})
	srv := httptest.NewServer(batch.NewHandler(api))
	defer srv.Close()

	client := &batch.Client{Endpoint: srv.URL}
	b := client.NewBatch()
	for _, path := range []string{"/here", "/missing"} {
		req, _ := http.NewRequest("GET", path, nil)
		if _, err := b.Add(req, strings.TrimPrefix(path, "/")); err != nil {
			log.Fatal(err)
		}
	}
	if err := b.Do(context.Background()); err != nil {
		log.Fatal(err)
	}
	for _, call := range b.Calls() {
		resp, err := call.Wait(context.Background())
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(call.ID(), resp.StatusCode)
	}
	// Output:
	// here 200
	// missing 404
}

// The results of a Batch by id, gapi's response map; ids given as "" are
// generated.
func ExampleBatch() {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.URL.Path)
	})
	srv := httptest.NewServer(batch.NewHandler(api))
	defer srv.Close()

	b := (&batch.Client{Endpoint: srv.URL}).NewBatch()
	req, _ := http.NewRequest("GET", "/named", nil)
	if _, err := b.Add(req, "mine"); err != nil {
		log.Fatal(err)
	}
	req, _ = http.NewRequest("GET", "/anonymous", nil)
	anon, err := b.Add(req, "")
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Do(context.Background()); err != nil {
		log.Fatal(err)
	}
	results := b.Results()
	body, _ := io.ReadAll(results["mine"].Response().Body)
	fmt.Println(string(body), len(results), results[anon.ID()] == anon)
	// Output:
	// /named 2 true
}

// A Format chooses the wire format of a Client's batches; a Handler reads
// each format and answers in the format of the request.
func ExampleFormat() {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.URL.Path)
	})
	srv := httptest.NewServer(batch.NewHandler(api))
	defer srv.Close()

	for _, format := range []batch.Format{batch.FormatMultipart, batch.FormatODataJSON, batch.FormatGraphJSON} {
		b := (&batch.Client{Endpoint: srv.URL, Format: format}).NewBatch()
		req, _ := http.NewRequest("GET", "/users/1", nil)
		call, err := b.Add(req, "1")
		if err != nil {
			log.Fatal(err)
		}
		if err := b.Do(context.Background()); err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(call.Response().Body)
		fmt.Println(format, call.Response().StatusCode, string(body))
	}
	// Output:
	// multipart 200 /users/1
	// odata-json 200 /users/1
	// graph-json 200 /users/1
}
