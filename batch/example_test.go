package batch_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/mixedcodec/mixed/batch"
)

// A batch server in front of an API, and a client sending it one batch of
// three calls.
func Example() {
	api := http.NewServeMux()
	api.HandleFunc("GET /farm/v1/animals/{name}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"animalName":%q}`, r.PathValue("name"))
	})
	mux := http.NewServeMux()
	mux.Handle("/batch/farm/v1", batch.NewHandler(api))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	client := &batch.Client{Endpoint: srv.URL + "/batch/farm/v1"}
	b := client.NewBatch()
	b.Header.Set("Authorization", "Bearer token") // sent once, applies to every call
	for _, name := range []string{"pony", "sheep", "goat"} {
		req, _ := http.NewRequest("GET", "/farm/v1/animals/"+name, nil)
		if _, err := b.Add(req, name); err != nil {
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
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(call.ID(), resp.StatusCode, string(body))
	}
	// Output:
	// pony 200 {"animalName":"pony"}
	// sheep 200 {"animalName":"sheep"}
	// goat 200 {"animalName":"goat"}
}
