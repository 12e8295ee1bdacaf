package batch_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"

	"github.com/mixedcodec/mixed/batch"
)

// An ordinary *http.Client whose concurrent calls travel as batches: its
// Transport is a batch.Transport aimed at a server's batch endpoint (here a
// batch.Handler in front of the API). Each call still gets its own
// *http.Response; none goes to the API on its own.
func ExampleTransport() {
	api := http.NewServeMux()
	api.HandleFunc("GET /farm/v1/animals/{name}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"animalName":%q}`, r.PathValue("name"))
	})
	var batches, alone atomic.Int32
	mux := http.NewServeMux()
	handler := batch.NewHandler(api)
	mux.HandleFunc("/batch/farm/v1", func(w http.ResponseWriter, r *http.Request) {
		batches.Add(1)
		handler.ServeHTTP(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		alone.Add(1)
		api.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	client := &http.Client{Transport: &batch.Transport{Endpoint: srv.URL + "/batch/farm/v1"}}
	names := []string{"pony", "sheep", "goat", "cow", "hen"}
	bodies := make([]string, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() { // concurrent calls within the Transport's Window share a batch
			defer wg.Done()
			resp, err := client.Get(srv.URL + "/farm/v1/animals/" + name)
			if err != nil {
				log.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			bodies[i] = fmt.Sprint(resp.StatusCode, " ", string(b))
		}()
	}
	wg.Wait()
	for _, b := range bodies {
		fmt.Println(b)
	}
	fmt.Printf("sent alone: %d, batched: %t\n", alone.Load(), batches.Load() >= 1)
	// Output:
	// 200 {"animalName":"pony"}
	// 200 {"animalName":"sheep"}
	// 200 {"animalName":"goat"}
	// 200 {"animalName":"cow"}
	// 200 {"animalName":"hen"}
	// sent alone: 0, batched: true
}
