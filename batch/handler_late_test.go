package batch

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A goroutine a handler leaves behind may write, past streamAfter, as its
// call ends: the call's part then streams that body, if it began before
// the call ended, or is written whole without it, in its place either way.
// Once, a write that had decided to stream waited for the wire while its
// call ended and the batch moved on; then it began a part of its own where
// the wire stood (out of order, in a JSON batch an object cut in two, in
// the next batch the Handler's reused state served, or a panic indexing
// that batch's calls). The test makes that interleaving likely: the
// batch's wire is held (heldFlush) while the late write begins, and
// released by the call after it, once the late call is over.
func TestHandlerLateWriterBeginsNoPart(t *testing.T) {
	big := strings.Repeat("x", streamAfter+1)
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex
	var cur *heldFlush // the batch being served
	current := func() *heldFlush {
		mu.Lock()
		defer mu.Unlock()
		return cur
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		switch r.URL.Path {
		case "/late":
			// At the head of the order, the batch flushing the part
			// before it.
			g := current()
			select {
			case <-g.held:
			case <-time.After(5 * time.Second):
				t.Error("the batch did not flush before the late call ended")
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.WriteString(w, big) // it may fail: the call ends
			}()
			time.Sleep(100 * time.Microsecond) // the write waits for the wire
		case "/c2":
			current().open()
			fallthrough
		default:
			io.WriteString(w, "ok "+r.URL.Path)
		}
	})
	h := NewHandlerOptions(inner, HandlerOptions{Concurrency: 1})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := &heldFlush{ResponseWriter: w, held: make(chan struct{}), release: make(chan struct{})}
		mu.Lock()
		cur = g
		mu.Unlock()
		h.ServeHTTP(g, r)
		g.open()
	}))
	defer srv.Close()
	for _, f := range []Format{FormatMultipart, FormatGraphJSON} {
		for round := range 60 {
			// Batches of 4 calls and of 1, in turn: the late call is the
			// second of the long ones.
			paths := []string{"/c0"}
			if round%2 == 0 {
				paths = append(paths, "/late", "/c2", "/c3")
			}
			got := postPaths(t, srv.URL, f, paths)
			var want []string
			for i, p := range paths {
				want = append(want, fmt.Sprintf("%d 200 ok %s", i, p))
			}
			if len(paths) > 1 {
				want[1] = "1 200 "
				if len(got) > 1 && got[1] == want[1]+big {
					want[1] = got[1]
				}
			}
			for i := range got {
				if len(got[i]) > 60 && got[i] != big {
					got[i] = fmt.Sprintf("%s... (%d bytes)", got[i][:60], len(got[i]))
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("%v, round %d: the responses (-want +got):\n%s", f, round, diff)
			}
		}
	}
}

// heldFlush is the ResponseWriter of a batch whose first Flush after the
// first call's part holds the batch's wire until open is called, as a
// slow network holds it.
type heldFlush struct {
	http.ResponseWriter
	seen    bool          // the first call's part is written
	held    chan struct{} // closed when a Flush holds the wire
	release chan struct{} // closed by open
	once    sync.Once
}

func (g *heldFlush) Write(p []byte) (int, error) {
	g.seen = g.seen || bytes.Contains(p, []byte("ok /c0")) || bytes.Contains(p, []byte(base64.StdEncoding.EncodeToString([]byte("ok /c0"))))
	return g.ResponseWriter.Write(p)
}

func (g *heldFlush) Flush() {
	select {
	case <-g.held:
	default:
		if g.seen {
			close(g.held)
			select {
			case <-g.release:
			case <-time.After(5 * time.Second):
			}
		}
	}
	http.NewResponseController(g.ResponseWriter).Flush()
}

func (g *heldFlush) open() { g.once.Do(func() { close(g.release) }) }

// postPaths sends a batch of GETs of paths in format f, and returns each
// response as "id status body", in the order of the batch response.
func postPaths(t *testing.T, url string, f Format, paths []string) []string {
	t.Helper()
	var body, ct string
	if f == FormatMultipart {
		var parts []string
		for i, p := range paths {
			parts = append(parts, part(fmt.Sprint(i), "GET "+p+" HTTP/1.1\r\n"))
		}
		body, ct = batchBody(parts...), "multipart/mixed; boundary=b"
	} else {
		var reqs []map[string]string
		for i, p := range paths {
			reqs = append(reqs, map[string]string{"id": fmt.Sprint(i), "method": "GET", "url": p})
		}
		b, _ := json.Marshal(map[string]any{"requests": reqs})
		body, ct = string(b), "application/json"
	}
	resp, err := http.Post(url, ct, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []string
	if f == FormatMultipart {
		for _, p := range readBatchResponse(t, resp) {
			out = append(out, fmt.Sprintf("%s %d %s", strings.TrimPrefix(p.ContentID, "response-"), p.Status, p.Body))
		}
		return out
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Responses []struct {
			ID     string
			Status int
			Body   []byte // base64: every body here is text/plain
		}
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("JSON batch response: %v\n%.300q", err, raw)
	}
	for _, r := range v.Responses {
		out = append(out, fmt.Sprintf("%s %d %s", r.ID, r.Status, r.Body))
	}
	return out
}

// A call whose deadline passes while its part begins to stream (the wire
// slow: the buffered body is still being written) is abandoned as it
// stands: the body it had buffered goes out whole, the batch's other calls
// answer as ever, and under -race nothing of the abandoned response is
// touched by two goroutines at once (the abandoning took the body from
// under the write that was sending it).
func TestHandlerTimeoutWhileStreamBegins(t *testing.T) {
	buffered := strings.Repeat("b", 40<<10) // more than the batch's write buffer
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Path == "/slow" {
			stallUntilDone(r)
			io.WriteString(w, buffered)
			http.NewResponseController(w).Flush() // begins the part: its write waits for the wire
			<-r.Context().Done()
			return
		}
		io.WriteString(w, "ok "+r.URL.Path)
	})
	h := NewHandlerOptions(inner, HandlerOptions{CallTimeout: roomyCallTimeout, Concurrency: 2, Logger: discardSlog()})
	srv := httptest.NewServer(slowWireServer(h))
	defer srv.Close()
	for round := range 3 {
		// The slow call first: at the head of the order from the start.
		got := postPaths(t, srv.URL, FormatMultipart, []string{"/slow", "/c1", "/c2"})
		want := []string{"0 200 " + buffered, "1 200 ok /c1", "2 200 ok /c2"}
		for _, s := range [][]string{want, got} {
			for i := range s {
				if len(s[i]) > 60 {
					s[i] = fmt.Sprintf("%s... (%d bytes)", s[i][:60], len(s[i]))
				}
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("round %d: the responses (-want +got):\n%s", round, diff)
		}
	}
}

// slowWire is the ResponseWriter of a batch whose wire stalls once, as a
// slow network does, when more than 16 KiB have been written to it: until
// the deadline of the call that stallUntilDone named has passed, and
// 100 ms longer, so that the call is abandoned while its write waits for
// the wire. The stall ends with the deadline, not after a fixed time, so
// that the deadline can be one that the calls that do not wait for it
// meet however slowly the machine runs them (a stall of 150 ms past a
// CallTimeout of 50 ms was not: the calls after the slow one missed it).
type slowWire struct {
	http.ResponseWriter
	call    chan context.Context // the context of the call that ends the stall
	written int
	stalled bool
}

type slowWireKey struct{}

// slowWireServer serves each batch to h through a slowWire of its own.
func slowWireServer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wire := &slowWire{ResponseWriter: w, call: make(chan context.Context, 1)}
		h.ServeHTTP(wire, r.WithContext(context.WithValue(r.Context(), slowWireKey{}, wire)))
	})
}

// stallUntilDone makes the deadline of the call of r the one its batch's
// slowWire stalls until.
func stallUntilDone(r *http.Request) {
	r.Context().Value(slowWireKey{}).(*slowWire).call <- r.Context()
}

func (s *slowWire) Write(p []byte) (int, error) {
	s.written += len(p)
	if s.written > 16<<10 && !s.stalled {
		s.stalled = true
		select {
		case ctx := <-s.call:
			select {
			case <-ctx.Done():
				time.Sleep(100 * time.Millisecond)
			case <-time.After(10 * time.Second): // a hang, not a timing
			}
		case <-time.After(10 * time.Second):
		}
	}
	return s.ResponseWriter.Write(p)
}

func (s *slowWire) Flush() { http.NewResponseController(s.ResponseWriter).Flush() }

// A goroutine a handler leaves behind may be writing its streaming part,
// the wire slow, as its call ends: the call is reported (OnCall) while the
// write goes on, and under -race the report reads nothing that the write
// changes unguarded. Once, OnCall's byte count read the streamed count
// under o.mu, which the write updates under o.wmu only.
func TestHandlerOnCallWhileLateWriteStreams(t *testing.T) {
	big := strings.Repeat("x", streamAfter+1)
	var wg sync.WaitGroup
	defer wg.Wait()
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "start ")
		wire := r.Context().Value(stallKey{}).(*stalledWire)
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.WriteString(w, big) // streams, and stalls on the wire
		}()
		select {
		case <-wire.stalled:
		case <-time.After(5 * time.Second):
			t.Error("the late write did not reach the wire")
		}
	})
	var mu sync.Mutex
	var infos []CallInfo
	h := NewHandlerOptions(inner, HandlerOptions{Concurrency: 1, OnCall: func(ci CallInfo) {
		mu.Lock()
		infos = append(infos, ci)
		mu.Unlock()
	}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wire := &stalledWire{ResponseWriter: w, stalled: make(chan struct{})}
		h.ServeHTTP(wire, r.WithContext(context.WithValue(r.Context(), stallKey{}, wire)))
	}))
	defer srv.Close()
	got := postPaths(t, srv.URL, FormatMultipart, []string{"/late"})
	want := []string{"0 200 start " + big}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("the responses (-want +got):\n%.300s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(infos) != 1 || infos[0].Status != http.StatusOK {
		t.Errorf("OnCall got %+v, want one call, status 200", infos)
	}
}

type stallKey struct{}

// stalledWire is the ResponseWriter of a batch whose first large write
// stalls for a while, as a slow network does; stalled is closed when it
// does. It resumes on a timer of its own, so that under -race nothing the
// batch does meanwhile is ordered before what follows the write.
type stalledWire struct {
	http.ResponseWriter
	stalled chan struct{}
	once    sync.Once
}

func (s *stalledWire) Write(p []byte) (int, error) {
	if len(p) >= 16<<10 {
		s.once.Do(func() {
			resume := make(chan struct{})
			time.AfterFunc(100*time.Millisecond, func() { close(resume) })
			close(s.stalled)
			<-resume
		})
	}
	return s.ResponseWriter.Write(p)
}

func (s *stalledWire) Flush() { http.NewResponseController(s.ResponseWriter).Flush() }

// A goroutine a handler leaves behind may write to its streaming part
// while the handler's own write waits for the wire, and the write may
// reach the wire only once the call is over and its batch has ended:
// under -race, what it looks at of the batch's wire (whose part is on
// it) is never changed by the batch's end unguarded. Once, the batch's
// end cleared the wire's owner without its lock, while the late write
// read it under the lock. One processor makes the interleaving likely: the
// wire freed, the handler returns and the batch runs to its end before
// the late write runs again.
func TestHandlerLateWriteAsBatchEnds(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	big := strings.Repeat("x", streamAfter+1)
	var wg sync.WaitGroup
	defer wg.Wait()
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		wire := r.Context().Value(stallKey{}).(*stalledWire)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-wire.stalled
			io.WriteString(w, "late") // waits for the wire, and may fail: the call ends
		}()
		io.WriteString(w, big) // streams, and stalls on the wire
	})
	h := NewHandlerOptions(inner, HandlerOptions{Concurrency: 1})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wire := &stalledWire{ResponseWriter: w, stalled: make(chan struct{})}
		h.ServeHTTP(wire, r.WithContext(context.WithValue(r.Context(), stallKey{}, wire)))
	}))
	defer srv.Close()
	for round := range 5 {
		got := postPaths(t, srv.URL, FormatMultipart, []string{"/late"})
		want := []string{"0 200 " + big}
		if len(got) == 1 && got[0] == want[0]+"late" {
			want = got
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("round %d: the responses (-want +got):\n%.300s", round, diff)
		}
	}
}

// A referenced call (its body kept for the calls that use it) whose
// deadline passes while its part begins to stream, the wire slow, is
// abandoned, and what its write keeps of its body counts against the
// batch's budget no more: a later call's JSON body, which must be held
// whole, fits as it would have. Once, the write that began the part kept
// its bytes after the call had been abandoned, and they were never given
// back: the budget shrank by them for the rest of the batch.
func TestHandlerAbandonedStreamKeepsNothing(t *testing.T) {
	const limit = 256 << 10
	buffered := strings.Repeat("b", 40<<10) // more than the batch's write buffer
	chunk := strings.Repeat("c", 150<<10)
	jsonBody := `"` + strings.Repeat("j", 150<<10) + `"`
	slowDone := make(chan struct{})
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			defer close(slowDone)
			stallUntilDone(r)
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, buffered)
			io.WriteString(w, chunk) // begins the part: its write waits for the wire past the deadline
		case "/json":
			select {
			case <-slowDone:
			case <-time.After(5 * time.Second):
				t.Error("the slow call's write did not return")
			}
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, jsonBody)
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"a":1}`)
		}
	})
	h := NewHandlerOptions(inner, HandlerOptions{CallTimeout: roomyCallTimeout, Concurrency: 1,
		ResultReferences: true, MaxBufferedBytes: limit, Logger: discardSlog()})
	srv := httptest.NewServer(slowWireServer(h))
	defer srv.Close()
	body := `{"requests":[{"id":"0","method":"GET","url":"/slow"},` +
		`{"id":"1","method":"GET","url":"/ref?x=$result[0][a]"},{"id":"2","method":"GET","url":"/json"}]}`
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Responses []struct {
			ID     string
			Status int
			Body   json.RawMessage
		}
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("JSON batch response: %v\n%.300q", err, raw)
	}
	var got []string
	for _, r := range v.Responses {
		if r.ID == "2" {
			got = append(got, fmt.Sprintf("%s %d %v", r.ID, r.Status, string(r.Body) == jsonBody))
		}
	}
	if diff := cmp.Diff([]string{"2 200 true"}, got); diff != "" {
		t.Errorf("the JSON call's response, and whether its body is the JSON written (-want +got):\n%s", diff)
	}
}

// A call whose deadline passes while its part is beginning (its head on
// the way to the wire, the Flush that began it holding the wire) still
// sends what its handler buffered before the deadline: the part is cut
// where it stands after that. Once, the deadline took the buffered body
// away before startStream sent it, and the part went out as an empty 200,
// which a part without a Content-Length cannot tell from a whole one
// (seen as "0 200 " in TestHandlerTimeoutWhileStreamBegins with the test
// starved). The test holds the wire as startStream does while it writes
// the head, and sends the buffered body as it does once the head is out.
func TestAbandonWhileStreamBegins(t *testing.T) {
	const buffered = "written before the deadline"
	o := &output{limit: 1 << 20, shared: &sharedBudget{limit: 1 << 20}}
	o.cond.L = &o.mu
	rw := &response{out: o, h: http.Header{}, length: -1, status: 200, wroteHeader: true}
	rw.body.WriteString(buffered)
	o.force(int64(len(buffered)))
	o.wmu.Lock() // startStream, from beginStream, which set streaming
	o.mu.Lock()
	rw.streaming = true
	o.mu.Unlock()
	o.owner = rw
	done := make(chan *response)
	go func() { done <- o.abandon(rw) }() // the deadline, meanwhile
	for !rw.over.Load() {
		runtime.Gosched()
	}
	var wire bytes.Buffer
	if err := o.sendBuffered(&wire, rw); err != nil {
		t.Fatal(err)
	}
	o.wmu.Unlock()
	fresh := <-done
	if got := wire.String(); got != buffered {
		t.Errorf("the part's body: %q, want what was buffered before the deadline, %q", got, buffered)
	}
	type outcome struct {
		Status      int
		Cut         bool
		Sent        int64
		FreshOwns   bool
		BudgetInUse int64
		SharedInUse int64
	}
	o.mu.Lock()
	got := outcome{fresh.status, fresh.failed, fresh.sent.Load(), o.owner == fresh, o.buffered, o.shared.used.Load()}
	o.mu.Unlock()
	want := outcome{Status: 504, Cut: true, Sent: int64(len(buffered)), FreshOwns: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the call's outcome (-want +got):\n%s", diff)
	}
}

// A handler that gives its ResponseWriter to a goroutine and returns at
// its deadline without waiting for it (select on the goroutine's end and
// ctx.Done) leaves a goroutine that may be in Header as the call ends:
// under -race, Header, asked for from it before and after the deadline,
// touches nothing the batch writes. Once, Header read the response's
// fields and whether its head was fixed without the batch's lock, while
// the call's end wrote them: the abandoned call's fields, dropped as its
// handler returned, and the 504 that replaced those of a handler that
// returned as its context ended.
func TestHandlerAbandonedHeaderRacesNothing(t *testing.T) {
	var wg sync.WaitGroup
	defer wg.Wait()
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Mark", "1")
		asked := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if _, ok := w.Header()["X-Mark"]; !ok {
					return // the call is over: a Header of its own
				}
				if i == 0 {
					close(asked)
				}
				time.Sleep(10 * time.Microsecond)
			}
		}()
		<-asked
		<-r.Context().Done()
	})
	h := NewHandlerOptions(inner, HandlerOptions{CallTimeout: 20 * time.Millisecond, Logger: discardSlog()})
	srv := httptest.NewServer(h)
	defer srv.Close()
	for range 3 {
		got := postPaths(t, srv.URL, FormatMultipart, []string{"/a", "/b"})
		want := []string{"0 504 batch: the call did not finish within 20ms\n", "1 504 batch: the call did not finish within 20ms\n"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("responses (-want +got):\n%s", diff)
		}
	}
	wg.Wait()
	checkBudgetSettled(t, h)
}
