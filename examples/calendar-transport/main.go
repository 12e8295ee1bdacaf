// Command calendar-transport drives Google's generated Calendar client
// (google.golang.org/api/calendar/v3) through batch.Transport against a
// local upstream that serves the Calendar paths behind batch.Handler, and
// checks that every event comes back right while the calls travel in a few
// batch requests. It is the proof that a generated client gains batching
// without a line of its code changing.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mixedcodec/mixed/batch"
	"google.golang.org/api/calendar/v3"
	"google.golang.org/api/option"
)

func main() {
	res, err := run(context.Background(), 200)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d events fetched with %d batch requests and %d plain requests\n", res.events, res.batches, res.plain)
}

type result struct {
	events         int
	batches, plain int64
}

// upstream serves events.get for calendar "primary": event eN has summary
// "Event N".
func upstream() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /calendar/v3/calendars/{cal}/events/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("cal") != "primary" || r.Header.Get("Authorization") != "Bearer test-token" {
			http.Error(w, `{"error":{"code":404,"message":"not found"}}`, http.StatusNotFound)
			return
		}
		id := r.PathValue("id")
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		fmt.Fprintf(w, `{"kind":"calendar#event","id":%q,"summary":"Event %s","status":"confirmed"}`, id, strings.TrimPrefix(id, "e"))
	})
	return mux
}

// bearer adds the token, as the generated client's auth transport would.
type bearer struct{ next http.RoundTripper }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.Header.Set("Authorization", "Bearer test-token")
	return b.next.RoundTrip(r2)
}

func run(ctx context.Context, n int) (result, error) {
	var res result
	var batches, plain atomic.Int64
	api := upstream()
	bh := batch.NewHandler(api)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/batch/calendar/v3" {
			batches.Add(1)
			bh.ServeHTTP(w, r)
			return
		}
		plain.Add(1)
		api.ServeHTTP(w, r)
	}))
	defer srv.Close()

	tr := &batch.Transport{Endpoint: srv.URL + "/batch/calendar/v3", Window: 10 * time.Millisecond}
	hc := &http.Client{Transport: bearer{tr}}
	svc, err := calendar.NewService(ctx, option.WithHTTPClient(hc), option.WithEndpoint(srv.URL+"/calendar/v3/"))
	if err != nil {
		return res, err
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev, err := svc.Events.Get("primary", fmt.Sprintf("e%d", i)).Context(ctx).Do()
			switch {
			case err != nil:
				errs[i] = err
			case ev.Id != fmt.Sprintf("e%d", i) || ev.Summary != fmt.Sprintf("Event %d", i) || ev.Status != "confirmed":
				errs[i] = fmt.Errorf("event %d: got %+v", i, ev)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return res, fmt.Errorf("call %d: %w", i, err)
		}
	}
	res.events, res.batches, res.plain = n, batches.Load(), plain.Load()
	if res.plain != 0 {
		return res, fmt.Errorf("%d calls bypassed the batch endpoint", res.plain)
	}
	return res, nil
}
