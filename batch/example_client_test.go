package batch_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mixedcodec/mixed/batch"
)

// Limits split a batch by calls and bytes: 600 deletes in Azure Blob's
// profile go as three requests of at most 256 calls (and 4 MiB).
func ExampleLimits() {
	var requests atomic.Int64
	h := batch.NewHandlerOptions(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}), batch.HandlerOptions{MaxCalls: 256})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	client := &batch.Client{Endpoint: srv.URL + "/?comp=batch", Limits: batch.LimitsAzureBlob()}
	b := client.NewBatch()
	for i := range 600 {
		req, _ := http.NewRequest("DELETE", fmt.Sprintf("/container/blob%d", i), nil)
		if _, err := b.Add(req, ""); err != nil {
			log.Fatal(err)
		}
	}
	if err := b.Do(context.Background()); err != nil {
		log.Fatal(err)
	}
	accepted := 0
	for _, call := range b.Calls() {
		if resp := call.Response(); resp != nil && resp.StatusCode == http.StatusAccepted {
			accepted++
		}
	}
	fmt.Println(requests.Load(), "requests,", accepted, "deletes accepted")
	// Output:
	// 3 requests, 600 deletes accepted
}

// A RetryPolicy sends again, alone, the calls that failed with 429 or 5xx,
// after the Retry-After they ask for; a POST without an Idempotency-Key
// is never sent twice.
func ExampleRetryPolicy() {
	var mu sync.Mutex
	served := map[string]int{}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served[r.Method+" "+r.URL.Path]++
		first := served[r.Method+" "+r.URL.Path] == 1
		mu.Unlock()
		if first && r.URL.Path != "/ok" {
			w.Header().Set("Retry-After", "0.01") // fractional seconds, as Graph sends them
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		fmt.Fprint(w, "done")
	})
	srv := httptest.NewServer(batch.NewHandler(api))
	defer srv.Close()

	client := &batch.Client{
		Endpoint: srv.URL + "/batch",
		Retry:    batch.RetryPolicy{MaxAttempts: 3, BaseBackoff: 10 * time.Millisecond},
	}
	b := client.NewBatch()
	for _, call := range [][3]string{{"read-ok", "GET", "/ok"}, {"read-busy", "GET", "/busy"}, {"create-busy", "POST", "/busy"}} {
		req, _ := http.NewRequest(call[1], call[2], nil)
		if _, err := b.Add(req, call[0]); err != nil {
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
		fmt.Printf("%s: %d after %d attempt(s)\n", call.ID(), resp.StatusCode, call.Attempts())
	}
	// Output:
	// read-ok: 200 after 1 attempt(s)
	// read-busy: 200 after 2 attempt(s)
	// create-busy: 429 after 1 attempt(s)
}
