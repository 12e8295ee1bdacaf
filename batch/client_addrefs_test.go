package batch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Add reads a JSON body through GetBody to find the result references it
// holds. That read ends with the call's context, as net/http's would: a
// GetBody whose body blocks (a file on a stalled network mount, a pipe)
// held Add, and the program calling it, for ever.
func TestAddRefsScanEndsWithContext(t *testing.T) {
	c := &Client{Endpoint: "http://example.com/batch"}
	b := c.NewBatch()
	stuck := newStuckBody()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", "/calendars/c/events", http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	req.Body = io.NopCloser(strings.NewReader("{}"))
	req.ContentLength = 10
	req.Header.Set("Content-Type", "application/json")
	req.GetBody = func() (io.ReadCloser, error) { return stuck, nil }
	done := make(chan error, 1)
	go func() {
		_, err := b.Add(req, "")
		done <- err
	}()
	select {
	case <-stuck.read:
	case <-time.After(20 * time.Second):
		t.Fatal("Add never read the body")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Add: %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second): // a deadlock bound only
		t.Fatal("Add still blocked in the body's Read 20 s after its context ended")
	}
	if !stuck.isClosed() {
		t.Error("the body GetBody gave is not closed")
	}
}

// With Limits.MaxBodyBytes set, Add reads a JSON body through GetBody no
// further than that: a longer body fails its call with ErrCallTooLarge in
// Do whatever it holds, and an endless one filled memory for ever.
func TestAddRefsScanWithinMaxBodyBytes(t *testing.T) {
	srv, served := pathRecorder(t)
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Limits: Limits{MaxBodyBytes: 1 << 20}}
	b := c.NewBatch()
	var bodies []*endlessBody
	req, err := http.NewRequest("PUT", "/endless", &endlessBody{newStuckBody()})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.GetBody = func() (io.ReadCloser, error) {
		e := &endlessBody{newStuckBody()}
		bodies = append(bodies, e)
		return e, nil
	}
	type added struct {
		c   *Call
		err error
	}
	done := make(chan added, 1)
	go func() {
		c, err := b.Add(req, "")
		done <- added{c, err}
	}()
	var big *Call
	select {
	case a := <-done:
		if a.err != nil {
			t.Fatalf("Add: %v", a.err)
		}
		big = a.c
	case <-time.After(20 * time.Second): // a deadlock bound only
		t.Fatal("Add still reading the endless body after 20 s")
	}
	if len(bodies) != 1 || !bodies[0].isClosed() {
		t.Errorf("Add opened %d bodies through GetBody; want 1, closed", len(bodies))
	}
	small, err := b.Add(jsonRequest(t, "POST", "/small", `{"a":1}`), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Do(ctx); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if err := big.Err(); !errors.Is(err, ErrCallTooLarge) {
		t.Errorf("the endless call: %v, want ErrCallTooLarge", err)
	}
	if err := small.Err(); err != nil {
		t.Errorf("the small call: %v", err)
	}
	if diff := cmp.Diff([]string{"/small"}, served()); diff != "" {
		t.Errorf("calls served (-want +got):\n%s", diff)
	}
}

// pathRecorder starts a batch server whose calls read their bodies and
// answer 200; served returns the paths of the calls it ran so far, in
// order, and forgets them.
func pathRecorder(t *testing.T) (srv *httptest.Server, served func() []string) {
	var got []string
	var mu sync.Mutex
	srv = httptest.NewServer(NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Path)
		mu.Unlock()
		io.Copy(io.Discard, r.Body)
	})))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		paths := got
		got = nil
		return paths
	}
}
