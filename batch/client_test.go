package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
)

func TestClientAgainstHandler(t *testing.T) {
	srv, _ := countingServer(t, farm(), HandlerOptions{})
	c := &Client{Endpoint: srv.URL + "/batch/farm/v1", HTTPClient: srv.Client()}
	b := c.NewBatch()
	b.Header.Set("Authorization", "Bearer outer")

	get, _ := http.NewRequest("GET", srv.URL+"/farm/v1/animals/pony", nil)
	own, _ := http.NewRequest("GET", "/farm/v1/animals/cow", nil)
	own.Header.Set("Authorization", "Bearer own")
	put, _ := http.NewRequest("PUT", "/farm/v1/animals/sheep", strings.NewReader(`{"animalName":"sheep"}`))
	put.Header.Set("If-Match", `"etag/sheep"`)
	cond, _ := http.NewRequest("GET", "/farm/v1/animals", nil)
	cond.Header.Set("If-None-Match", `"etag/animals"`)

	calls := map[string]*Call{}
	for id, req := range map[string]*http.Request{"pony": get, "cow": own, "sheep": put, "": cond} {
		call, err := b.Add(req, id)
		if err != nil {
			t.Fatal(err)
		}
		calls[id] = call
	}
	if id := calls[""].ID(); len(id) < 20 {
		t.Errorf("generated id %q is too short to be unguessable", id)
	}
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]result{}
	for id, call := range calls {
		got[id] = outcome(t, call)
	}
	want := map[string]result{
		"pony":  {Status: 200, Body: `{"animalName":"pony","auth":"Bearer outer"}`},
		"cow":   {Status: 200, Body: `{"animalName":"cow","auth":"Bearer own"}`},
		"sheep": {Status: 200, Body: `{"put":22}`},
		"":      {Status: 304},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if r := b.Results()[calls["pony"].ID()]; r != calls["pony"] {
		t.Errorf("Results()[pony] = %p, want the pony call %p", r, calls["pony"])
	}
}

func TestClientAddErrors(t *testing.T) {
	c := &Client{Endpoint: "https://www.googleapis.com/batch/calendar/v3"}
	b := c.NewBatch()
	other, _ := http.NewRequest("GET", "https://evil.example/calendar/v3/x", nil)
	if _, err := b.Add(other, ""); err == nil {
		t.Error("Add of a request to another host succeeded")
	}
	ok, _ := http.NewRequest("GET", "https://www.googleapis.com/calendar/v3/x", nil)
	if _, err := b.Add(ok, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Add(ok, "a"); err == nil {
		t.Error("Add of a duplicate id succeeded")
	}
}

func TestClientOuterFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"status", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "quota", http.StatusTooManyRequests) }, "429"},
		{"not multipart", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, "{}")
		}, "not a batch"},
		{"truncated", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "multipart/mixed; boundary=b")
			fmt.Fprint(w, "--b\r\nContent-Type: application/http\r\nContent-ID: response-1\r\n\r\nHTTP/1.1 200 OK\r\n\r\nok\r\n--b\r\nContent-Type: application/http\r\nContent-ID: response-2\r\n\r\nHTTP/1.1 200 OK\r\n")
		}, "unexpected EOF"},
		{"missing", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "multipart/mixed; boundary=b")
			fmt.Fprint(w, "--b\r\nContent-Type: application/http\r\nContent-ID: response-1\r\n\r\nHTTP/1.1 200 OK\r\n\r\nok\r\n--b--\r\n")
		}, "no response part"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			b := (&Client{Endpoint: srv.URL, HTTPClient: srv.Client()}).NewBatch()
			for _, id := range []string{"1", "2"} {
				req, _ := http.NewRequest("GET", "/x", nil)
				b.Add(req, id)
			}
			err := b.Do(context.Background())
			second := outcome(t, b.Results()["2"])
			if !strings.Contains(second.Err, tc.want) {
				t.Errorf("call 2: %+v, want an error containing %q (Do: %v)", second, tc.want, err)
			}
			if tc.name == "truncated" || tc.name == "missing" {
				if diff := cmp.Diff(result{Status: 200, Body: "ok"}, outcome(t, b.Results()["1"])); diff != "" {
					t.Errorf("call 1, answered before the failure (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestClientCancel(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-block
	}))
	defer srv.Close()
	defer close(block)
	b := (&Client{Endpoint: srv.URL, HTTPClient: srv.Client()}).NewBatch()
	req, _ := http.NewRequest("GET", "/x", nil)
	call, _ := b.Add(req, "1")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { errc <- b.Do(ctx) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("Do after cancel: %v, want context.Canceled", err)
	}
	if _, err := call.Wait(context.Background()); !errors.Is(err, context.Canceled) {
		t.Errorf("call after cancel: %v, want context.Canceled", err)
	}
}

// A response part is read as net/http's client reads a response: interim
// (1xx) responses are skipped to the final one, never returned; bytes after
// the response are that call's error, and the other calls keep theirs.
func TestClientResponsePartFraming(t *testing.T) {
	parts := []struct{ id, msg string }{
		{"continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{"hints", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"},
		{"after204", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n\r\nsecond"},
		{"afterCL0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\nsecond"},
		{"afterBody", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 500 Oops\r\n\r\n"},
		{"interimOnly", "HTTP/1.1 100 Continue\r\n\r\n"},
		{"plain", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "multipart/mixed; boundary=b")
		for _, p := range parts {
			fmt.Fprintf(w, "--b\r\nContent-Type: application/http\r\nContent-ID: response-%s\r\n\r\n%s\r\n", p.id, p.msg)
		}
		fmt.Fprint(w, "--b--\r\n")
	}))
	defer srv.Close()
	b := (&Client{Endpoint: srv.URL, HTTPClient: srv.Client()}).NewBatch()
	for _, p := range parts {
		req, _ := http.NewRequest("GET", "/x", nil)
		if _, err := b.Add(req, p.id); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]result{}
	for _, p := range parts {
		c := b.Results()[p.id]
		resp, err := c.Wait(context.Background())
		switch {
		case errors.Is(err, mixed.ErrDataAfterBody):
			got[p.id] = result{Err: "ErrDataAfterBody"}
		case errors.Is(err, io.ErrUnexpectedEOF):
			got[p.id] = result{Err: "ErrUnexpectedEOF"}
		case err != nil:
			got[p.id] = result{Err: err.Error()}
		default:
			body, _ := io.ReadAll(resp.Body)
			got[p.id] = result{Status: resp.StatusCode, Body: string(body)}
		}
	}
	want := map[string]result{
		"continue":    {Status: 200, Body: "ok"},
		"hints":       {Status: 204},
		"after204":    {Err: "ErrDataAfterBody"},
		"afterCL0":    {Err: "ErrDataAfterBody"},
		"afterBody":   {Err: "ErrDataAfterBody"},
		"interimOnly": {Err: "ErrUnexpectedEOF"},
		"plain":       {Status: 200, Body: "plain"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// Batch requests one after another share one keep-alive connection, in
// both wire formats: the client reads each response to its end, so that
// net/http keeps the connection (it closes one whose body is closed
// early). A server that sends more after its last part, or stalls there,
// costs its connection and nothing else: every call keeps its answer.
func TestClientReusesConnection(t *testing.T) {
	for _, f := range []Format{FormatMultipart, FormatGraphJSON} {
		var conns atomic.Int64
		srv := httptest.NewUnstartedServer(NewHandler(trivial))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		defer srv.Close()
		c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Format: f}
		c.Limits.MaxCalls = 200
		for range 4 {
			b := c.NewBatch()
			addGets(t, b, 200) // a response larger than the readers' buffers
			if err := b.Do(context.Background()); err != nil {
				t.Fatal(err)
			}
			for _, call := range b.Calls() {
				if call.Err() != nil {
					t.Fatalf("format %v: call %s: %v", f, call.ID(), call.Err())
				}
			}
		}
		if n := conns.Load(); n != 1 {
			t.Errorf("format %v: 4 batches took %d connections, want 1", f, n)
		}
	}
	for _, tail := range []string{"stall", "flood"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "multipart/mixed; boundary=r")
			io.WriteString(w, "--r\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\r\n--r--\r\n")
			w.(http.Flusher).Flush()
			if tail == "flood" {
				for range 64 {
					w.Write(bytes.Repeat([]byte("x"), 1<<10))
				}
				return
			}
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}))
		defer srv.Close()
		c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client()}
		b := c.NewBatch()
		call, _ := b.Add(jsonRequest(t, "GET", "/x", ""), "")
		start := time.Now()
		if err := b.Do(context.Background()); err != nil {
			t.Fatalf("%s: %v", tail, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: Do took %v", tail, d)
		}
		if got := outcome(t, call); got.Status != 200 || got.Body != "ok" {
			t.Errorf("%s: call answered %+v, want 200 ok", tail, got)
		}
	}
}

// TestClientGeneratedIDs: generated ids, made idsPerAlloc at a time, are
// handed out in sequence, unique, and skip an id the caller gave meanwhile,
// across the blocks they are made in; changesets draw from the same
// sequence.
func TestClientGeneratedIDs(t *testing.T) {
	c := &Client{Endpoint: "https://www.googleapis.com/batch/calendar/v3"}
	b := c.NewBatch()
	req := func() *http.Request {
		r, _ := http.NewRequest("GET", "https://www.googleapis.com/calendar/v3/x", nil)
		return r
	}
	first, err := b.Add(req(), "")
	if err != nil {
		t.Fatal(err)
	}
	prefix, ok := strings.CutSuffix(first.ID(), "-1")
	if !ok || len(prefix) < 20 {
		t.Fatalf("first generated id %q: want an unguessable prefix and -1", first.ID())
	}
	// Ids the caller gives that the sequence would make next, in this
	// block and in the next one.
	taken := map[string]bool{prefix + "-2": true, fmt.Sprintf("%s-%d", prefix, idsPerAlloc+1): true}
	for id := range taken {
		if _, err := b.Add(req(), id); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{first.ID(): true}
	var got []string
	for i := range 3 * idsPerAlloc {
		id := ""
		if i%10 == 9 {
			id = b.Changeset().ID()
		} else {
			call, err := b.Add(req(), "")
			if err != nil {
				t.Fatal(err)
			}
			id = call.ID()
		}
		if seen[id] || taken[id] {
			t.Fatalf("generated id %q handed out twice", id)
		}
		seen[id] = true
		got = append(got, id)
	}
	var want []string
	for n := 3; len(want) < len(got); n++ {
		if id := fmt.Sprintf("%s-%d", prefix, n); !taken[id] {
			want = append(want, id)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("generated ids (-want +got):\n%s", diff)
	}
	if other := c.NewBatch(); other.nextID()[:len(prefix)] == prefix {
		t.Error("two batches drew the same id prefix")
	}
}

// TestCallDone: a call's Done channel, made when first asked for, is open
// until its result is known and closed from then on, whether it was asked
// for before the result or after; Response and Err say nothing until then.
func TestCallDone(t *testing.T) {
	release := make(chan struct{})
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "ok")
	}), HandlerOptions{})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client()}
	b := c.NewBatch()
	r1, _ := http.NewRequest("GET", srv.URL+"/a", nil)
	r2, _ := http.NewRequest("GET", srv.URL+"/b", nil)
	early, _ := b.Add(r1, "early")
	late, _ := b.Add(r2, "late")
	before := early.Done()
	if early.Done() != before {
		t.Error("Done returned two channels")
	}
	done := make(chan error)
	go func() { done <- b.Do(context.Background()) }()
	select {
	case <-before:
		t.Fatal("Done closed before the call had its result")
	case <-time.After(20 * time.Millisecond):
	}
	if early.Response() != nil || early.Err() != nil || late.Response() != nil || late.Err() != nil {
		t.Error("a pending call reports a result")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	if _, err := late.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on a pending call: %v, want the deadline", err)
	}
	cancel()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-before
	select {
	case <-late.Done():
	default:
		t.Error("Done asked for after the result is not closed")
	}
	for _, call := range []*Call{early, late} {
		if got := outcome(t, call); got.Status != 200 || got.Body != "ok" {
			t.Errorf("call %s: %+v", call.ID(), got)
		}
		resp, err := call.Wait(context.Background())
		if err != nil || resp != call.Response() {
			t.Errorf("call %s: Wait = %p, %v; Response = %p", call.ID(), resp, err, call.Response())
		}
	}
}
