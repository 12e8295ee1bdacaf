package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A call's request body dies with the call: a handler that outlives its
// call (http.TimeoutHandler's inner handler goes on) and reads its body
// later gets http.ErrBodyReadAfterClose, never the next call's bytes, nor
// those of the next batch that reuses the memory.
func TestHandlerBodyOutlivesCall(t *testing.T) {
	gate := make(chan struct{})
	stale := make(chan string, 1)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-gate // past TimeoutHandler's deadline, and past the batch
			b, err := io.ReadAll(r.Body)
			stale <- fmt.Sprintf("%q %v", b, err)
			return
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s", b)
	})
	// Only /slow runs under the 1 ms deadline: under load (-race, a busy CI
	// machine) /next would miss it too, and the test is about the body that
	// outlives its call, not about how fast the next call runs.
	th := http.TimeoutHandler(inner, time.Millisecond, "timed out")
	route := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			th.ServeHTTP(w, r)
			return
		}
		inner.ServeHTTP(w, r)
	})
	h := NewHandlerOptions(route, HandlerOptions{Concurrency: 1})
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(body string) []gotPart { return postBatch(t, srv.URL, body) }
	got := post(batchBody(
		part("1", "POST /slow HTTP/1.1\r\nContent-Length: 5\r\n\r\nfirst"),
		part("2", "POST /next HTTP/1.1\r\nContent-Length: 11\r\n\r\nnext-secret"),
	))
	if diff := cmp.Diff([]int{503, 200}, statuses(got)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if got[1].Body != "next-secret" {
		t.Errorf("the next call read %q, want its own body whole", got[1].Body)
	}
	// Another client's batch reuses the pooled memory.
	post(batchBody(part("3", "POST /other HTTP/1.1\r\nContent-Length: 12\r\n\r\nother-secret")))
	close(gate)
	if want := `"" http: invalid Read on closed Body`; <-stale != want {
		t.Errorf("a stale read of the first call's body: got something else, want %s", want)
	}
}

// Behind httputil.ReverseProxy the transport may go on copying a call's
// body upstream after the response came back. Every upstream must see
// only its own call's bytes, and -race must see no race with the reuse of
// the worker's parser.
func TestHandlerBodyBehindReverseProxy(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Answer first, then read: the transport is still sending.
		w.WriteHeader(http.StatusAccepted)
		http.NewResponseController(w).Flush()
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.URL.Path+"="+string(b))
		mu.Unlock()
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }, ErrorLog: discardLog()}
	srv := httptest.NewServer(NewHandlerOptions(proxy, HandlerOptions{Concurrency: 2}))
	defer srv.Close()
	for round := range 3 {
		var parts []string
		for i := range 20 {
			c := string(rune('a' + i))
			body := strings.Repeat(c, 200<<10)
			parts = append(parts, part(c, fmt.Sprintf("POST /%s HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s", c, len(body), body)))
		}
		resp, err := http.Post(srv.URL, "multipart/mixed; boundary=b", strings.NewReader(batchBody(parts...)))
		if err != nil {
			t.Fatal(err)
		}
		readBatchResponse(t, resp)
		resp.Body.Close()
		_ = round
	}
	up.Close() // waits for the upstream's handlers
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		path, body, _ := strings.Cut(s, "=")
		if strings.Trim(body, path[1:]) != "" {
			t.Errorf("upstream %s read bytes of another call: %q...", path, body[:min(len(body), 40)])
		}
	}
}

// References are looked for only where they are documented: the target,
// the query and a JSON body. A text body or a header value that holds one
// reaches the handler unchanged.
func TestHandlerReferencesOnlyWhereDocumented(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"x":%q,"body":%q}`, r.URL.Path, r.Header.Get("X-Note"), b)
	})
	body := batchBody(
		part("a", "GET /first HTTP/1.1\r\n"),
		part("b", "POST /text HTTP/1.1\r\nX-Note: $result[a][path]\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\n$result[a][path]"),
		part("c", "POST /json/$result[a][path] HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n\"$result[a][path]\""),
		part("d", "POST /bin HTTP/1.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 12\r\n\r\n$result[x][y"),
	)
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{ResultReferences: true}, "/", nil, body))
	ok := func(v map[string]any) any { return map[string]any{"status": 200.0, "json": v} }
	want := []any{
		ok(map[string]any{"path": "/first", "x": "", "body": ""}),
		ok(map[string]any{"path": "/text", "x": "$result[a][path]", "body": "$result[a][path]"}),
		// The value's slash was escaped (%2F): decoded, as URL.Path
		// is, it shows as a slash.
		ok(map[string]any{"path": "/json//first", "x": "", "body": `"/first"`}),
		ok(map[string]any{"path": "/bin", "x": "", "body": "$result[x][y"}),
	}
	if diff := cmp.Diff(want, jsonParts(t, got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Responses are not buffered without bound: the part at the head of the
// order streams, and the calls behind it hold at most MaxBufferedBytes in
// all; calls that would take the batch past it wait for their turn.
func TestHandlerBoundsBufferedResponses(t *testing.T) {
	const size = 1 << 20
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	for _, limit := range []int64{256 << 10, 2 << 20} {
		h := NewHandlerOptions(inner, HandlerOptions{Concurrency: 8, MaxBufferedBytes: limit})
		srv := httptest.NewServer(h)
		var parts []string
		for i := range 24 {
			parts = append(parts, part(fmt.Sprint(i), "GET /big HTTP/1.1\r\n"))
		}
		resp, err := http.Post(srv.URL, "multipart/mixed; boundary=b", strings.NewReader(batchBody(parts...)))
		if err != nil {
			t.Fatal(err)
		}
		got := readBatchResponse(t, resp)
		resp.Body.Close()
		srv.Close()
		if len(got) != 24 {
			t.Fatalf("limit %d: %d parts, want 24", limit, len(got))
		}
		for i, p := range got {
			if p.Status != 200 || len(p.Body) != size || p.ContentID != fmt.Sprintf("response-%d", i) {
				t.Errorf("limit %d: part %d: %s status %d, %d bytes", limit, i, p.ContentID, p.Status, len(p.Body))
			}
		}
		// One Write may pass the limit by its own size, once.
		if peak := h.peakBuffered.Load(); peak > limit+int64(len(chunk)) {
			t.Errorf("limit %d: the batch held %d bytes of responses at once", limit, peak)
		}
	}
}

// A call's response streams when it reaches the head: its first bytes
// reach the client while its handler is still writing.
func TestHandlerStreamsHeadResponse(t *testing.T) {
	gate := make(chan struct{})
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(bytes.Repeat([]byte("a"), 100<<10)) // past streamAfter
		<-gate
		w.Write([]byte("end"))
	})
	srv := httptest.NewServer(NewHandler(inner))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "multipart/mixed; boundary=b", strings.NewReader(batchBody(part("1", "GET /stream HTTP/1.1\r\n"))))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 90<<10)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatalf("reading the streamed start: %v", err)
	}
	close(gate)
	rest, _ := io.ReadAll(resp.Body)
	all := string(buf) + string(rest)
	if !strings.Contains(all, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\naaaa") || !strings.Contains(all, "aend\r\n--") {
		t.Errorf("streamed part: %q ... %q", all[:200], all[len(all)-100:])
	}
}

// A changeset's responses are held until it ends, so they cannot stream:
// one past the budget fails the changeset instead of waiting forever.
func TestHandlerChangesetOverBudget(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := w.Write(make([]byte, 64<<10)); err != nil {
			http.Error(w, err.Error(), http.StatusInsufficientStorage)
		}
	})
	body := batchBody(changeset("cs",
		part("1", "GET /a HTTP/1.1\r\n"),
		part("2", "GET /b HTTP/1.1\r\n"),
	), part("3", "GET /c HTTP/1.1\r\n"))
	// One call at a time: were call 3 to run first, its 64 KiB held behind
	// the changeset would make call 1 the one past the budget.
	got, _ := serveTree(t, inner, HandlerOptions{Changesets: true, MaxBufferedBytes: 100 << 10, Concurrency: 1}, nil, body)
	if len(got) != 2 || got[0].ContentID != "response-2" || got[0].Status != 500 || got[1].Status != 200 {
		t.Errorf("got %d parts (%q %d, ...), want the changeset failed with 500 at call 2, and call 3 answered", len(got), got[0].ContentID, got[0].Status)
	}
}

// CallTimeout: a call still running at its deadline answers 504, its
// context is cancelled, and its handler, left behind, can no longer write.
func TestHandlerCallTimeout(t *testing.T) {
	cancelled := make(chan error, 1)
	late := make(chan error, 1)
	gate := make(chan struct{})
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stuck" {
			<-r.Context().Done()
			cancelled <- r.Context().Err()
			<-gate // ignores its context for a while yet
			_, err := w.Write([]byte("late"))
			late <- err
			return
		}
		w.Write([]byte("ok"))
	})
	// /fine meets the deadline: 20 ms made that depend on the scheduler.
	resp := serve(t, inner, HandlerOptions{CallTimeout: roomyCallTimeout}, "/", nil,
		batchBody(part("1", "GET /stuck HTTP/1.1\r\n"), part("2", "GET /fine HTTP/1.1\r\n")))
	got := readBatchResponse(t, resp)
	if diff := cmp.Diff([]int{504, 200}, statuses(got)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if err := <-cancelled; err != context.DeadlineExceeded {
		t.Errorf("the call's context ended with %v, want DeadlineExceeded", err)
	}
	close(gate)
	if err := <-late; err != http.ErrHandlerTimeout {
		t.Errorf("a write after the timeout: %v, want http.ErrHandlerTimeout", err)
	}
}

// A handler that returns, silent, as soon as its context ends answers 504,
// never an empty 200: which one it gets must not depend on whether the
// batch saw the deadline or the handler's return first.
func TestHandlerCallTimeoutSilentReturn(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done()
			return
		}
		w.Write([]byte("ok"))
	})
	var parts []string
	var want []int
	for i := range 20 {
		parts = append(parts, part(strconv.Itoa(i), "GET /slow HTTP/1.1\r\n"))
		want = append(want, 504)
	}
	parts = append(parts, part("fine", "GET /fine HTTP/1.1\r\n"))
	want = append(want, 200)
	// /fine meets the deadline: 5 ms, which under load it missed, made the
	// test depend on the scheduler; how the slow calls end does not.
	resp := serve(t, inner, HandlerOptions{CallTimeout: roomyCallTimeout, Concurrency: 4}, "/", nil, batchBody(parts...))
	if diff := cmp.Diff(want, statuses(readBatchResponse(t, resp))); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
}

// Targets cannot leave PathPrefix, however the dot segments are written,
// nor through a reference's value; inside it they are resolved.
func TestHandlerPathPrefix(t *testing.T) {
	var served pathLog
	inner := served.handler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"up":"..","slash":"../../admin"}`)
	})
	body := batchBody(
		part("a", "GET /api/v1/x/../y HTTP/1.1\r\n"),
		part("b", "GET /api/v1/../../admin HTTP/1.1\r\n"),
		part("c", "GET /api/v1/%2e%2e/%2E%2E/admin HTTP/1.1\r\n"),
		part("d", "GET /api/v1/..%2f..%2fadmin HTTP/1.1\r\n"),
		part("e", "GET /api/v10 HTTP/1.1\r\n"),
		part("f", "GET /api/v1/$result[a][up]/$result[a][up]/admin HTTP/1.1\r\n"),
		part("g", "GET /api/v1/$result[a][slash] HTTP/1.1\r\n"),
		part("h", "GET /api/v1 HTTP/1.1\r\n"),
		// Dot segments as Tomcat, Jetty and Spring (path parameters cut
		// off) or IIS (backslashes as slashes) read them, each /admin to
		// them; and harmless semicolons and dots.
		part("i", "GET /api/v1/..;/admin HTTP/1.1\r\n"),
		part("j", "GET /api/v1/..;x=1/..;/admin HTTP/1.1\r\n"),
		part("k", "GET /api/v1/..%3B/admin HTTP/1.1\r\n"),
		part("l", "GET /api/v1/.;/x HTTP/1.1\r\n"),
		part("m", "GET /api/v1/..\\..\\admin HTTP/1.1\r\n"),
		part("n", "GET /api/v1/x%5C..%5C..%5Cadmin HTTP/1.1\r\n"),
		part("o", "GET /api/v1/a;jsessionid=1/..x;y/.b HTTP/1.1\r\n"),
	)
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{PathPrefix: "/api/v1/", ResultReferences: true}, "/", nil, body))
	// f's and g's values are dot segments, or hold them between their
	// slashes: escaped, they would still count as what they encode, and
	// the call fails with 424 before its target is resolved.
	if diff := cmp.Diff([]int{200, 400, 400, 400, 400, 424, 424, 200, 400, 400, 400, 400, 400, 400, 200}, statuses(got)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if !strings.Contains(got[8].Body, "dot segment") {
		t.Errorf("400 body %q does not say why", got[8].Body)
	}
	if diff := cmp.Diff([]string{"/api/v1", "/api/v1/a;jsessionid=1/..x;y/.b", "/api/v1/y"}, served.sorted()); diff != "" {
		t.Errorf("paths that reached the handler (-want +got):\n%s", diff)
	}
}

// The outer request's Accept-Encoding concerns the outer response: calls
// do not inherit it.
func TestHandlerDoesNotInheritAcceptEncoding(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ae=%q auth=%q", r.Header.Get("Accept-Encoding"), r.Header.Get("Authorization"))
	})
	hdr := http.Header{"Accept-Encoding": {"gzip"}, "Authorization": {"Bearer t"}}
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{}, "/", hdr, batchBody(part("1", "GET /x HTTP/1.1\r\n"), part("2", "GET /y HTTP/1.1\r\nAccept-Encoding: br\r\n"))))
	if diff := cmp.Diff([]string{`ae="" auth="Bearer t"`, `ae="br" auth="Bearer t"`}, []string{got[0].Body, got[1].Body}); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// The answer to a HEAD call has no body in its part, and keeps the
// Content-Length its handler set, so that ReadResponse("HEAD") reads it.
func TestHandlerHeadCall(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set" {
			w.Header().Set("Content-Length", "1234")
		}
		w.Write([]byte("the body a GET would get"))
	})
	resp := serve(t, inner, HandlerOptions{}, "/", nil, batchBody(part("1", "HEAD /set HTTP/1.1\r\n"), part("2", "HEAD /unset HTTP/1.1\r\n"), part("3", "GET /unset HTTP/1.1\r\n")))
	raw, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\r\n--",
		"HTTP/1.1 200 OK\r\nContent-Length: 24\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\r\n--",
		"Content-Length: 24\r\n\r\nthe body a GET would get\r\n--",
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("response lacks %q:\n%s", want, raw)
		}
	}
}

// Every part counts toward MaxCalls, empty changesets too.
func TestHandlerCountsEmptyChangesets(t *testing.T) {
	var parts []string
	for range 11 {
		parts = append(parts, changeset(""))
	}
	resp := serve(t, http.NotFoundHandler(), HandlerOptions{Changesets: true, MaxCalls: 10}, "/", nil, batchBody(parts...))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("11 empty changesets with MaxCalls 10: status %d, want 400", resp.StatusCode)
	}
}

// A panicking call is logged, value and stack, through Logger; one that
// aborts its response with http.ErrAbortHandler is not, as net/http logs
// none, and its part says it was aborted.
func TestHandlerLogsPanics(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/abort" {
			panic(http.ErrAbortHandler) // net/http does not log this one
		}
		panic("boom at " + r.URL.Path)
	})
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{Logger: log}, "/", nil,
		batchBody(part("p", "GET /panic HTTP/1.1\r\n"), part("q", "GET /abort HTTP/1.1\r\n"))))
	if diff := cmp.Diff([]int{500, 500}, statuses(got)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if !strings.Contains(got[0].Body, "panicked") || !strings.Contains(got[1].Body, "aborted its response") {
		t.Errorf("bodies %q, %q: want a panic and an abort", got[0].Body, got[1].Body)
	}
	s := buf.String()
	if !strings.Contains(s, "boom at /panic") || !strings.Contains(s, "goroutine ") || !strings.Contains(s, "handler_attack_test.go") {
		t.Errorf("the log lacks the panic value or its stack:\n%s", s)
	}
	if strings.Contains(s, "/abort") {
		t.Errorf("http.ErrAbortHandler was logged:\n%s", s)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The Handler reads the request body to its end before it answers, so
// that net/http notices a client that goes away and cancels the calls:
// here when the chunked body's last chunk comes late, and when a long
// epilogue follows the close delimiter. A too long epilogue is refused.
func TestHandlerDisconnectCancelsCalls(t *testing.T) {
	for _, tc := range []struct {
		name string
		tail string // after the close delimiter, before the body's end
	}{
		{"late-last-chunk", ""},
		{"long-epilogue", strings.Repeat("epilogue\r\n", 20<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			running := make(chan struct{})
			cancelled := make(chan struct{})
			inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(running)
				select {
				case <-r.Context().Done():
					close(cancelled)
				case <-time.After(20 * time.Second):
				}
			})
			srv := httptest.NewServer(NewHandlerOptions(inner, HandlerOptions{MaxEpilogueBytes: 1 << 20}))
			defer srv.Close()
			conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			body := batchBody(part("1", "GET /slow HTTP/1.1\r\n")) + tc.tail
			fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/mixed; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(body), body)
			select {
			case <-running:
				t.Fatal("a call ran before the body's last chunk arrived")
			default:
			}
			fmt.Fprintf(conn, "0\r\n\r\n") // the last chunk, late
			<-running
			conn.Close()
			select {
			case <-cancelled:
			case <-time.After(10 * time.Second):
				t.Fatal("the call's context was not cancelled when the client went away")
			}
		})
	}
	resp := serve(t, http.NotFoundHandler(), HandlerOptions{MaxEpilogueBytes: 10}, "/", nil, batchBody(part("1", "GET / HTTP/1.1\r\n"))+"an epilogue longer than ten bytes")
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 400 || !strings.Contains(string(b), "after the close delimiter") {
		t.Errorf("a long epilogue: %d %s, want 400 naming it", resp.StatusCode, b)
	}
}

// A referenced call's body is kept for the calls that use it, within the
// budget: one too large to keep fails those calls with 424, saying why,
// and still reaches the client whole.
func TestHandlerReferenceTooLargeToKeep(t *testing.T) {
	big := `{"id":"` + strings.Repeat("x", 200<<10) + `"}`
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/big" {
			io.WriteString(w, big)
			return
		}
		fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	})
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{ResultReferences: true, MaxBufferedBytes: 64 << 10}, "/", nil,
		batchBody(part("a", "GET /big HTTP/1.1\r\n"), part("b", "GET /x/$result[a][id] HTTP/1.1\r\n"))))
	if diff := cmp.Diff([]int{200, 424}, statuses(got)); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	if got[0].Body != big || !strings.Contains(got[1].Body, "too large to use in a reference") {
		t.Errorf("parts: %d bytes (want %d), then %q", len(got[0].Body), len(big), got[1].Body)
	}
}

// A part that holds more than one message answers 400 before its call
// runs, whether the first message has a body or not; a response whose
// head is over what the batch response's readers accept answers 502.
func TestHandlerOneMessagePerPartAndHeadLimits(t *testing.T) {
	var served pathLog
	inner := served.handler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/many" {
			for i := range 150 {
				w.Header().Set(fmt.Sprintf("X-Field-%d", i), "v")
			}
		}
		io.WriteString(w, "ok")
	})
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{}, "/", nil, batchBody(
		part("1", "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /smuggled HTTP/1.1\r\n\r\n"),
		part("2", "GET /b HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET /smuggled HTTP/1.1\r\n"),
		part("3", "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n"),
		part("4", "GET /many HTTP/1.1\r\n"),
		part("5", "POST /fine HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi\r\n\r\n"),
	)))
	if diff := cmp.Diff([]int{400, 400, 400, 502, 200}, statuses(got)); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if !strings.Contains(got[3].Body, "fields") {
		t.Errorf("the 502 says %q; want it to name the fields limit", got[3].Body)
	}
	if diff := cmp.Diff([]string{"/fine", "/many"}, served.sorted()); diff != "" {
		t.Errorf("calls that reached the handler (-want +got):\n%s", diff)
	}
}

// A call whose part had begun to stream when CallTimeout abandoned it: its
// handler, still running after the batch has ended, can no longer write,
// and nothing of its ResponseWriter is reused under it (this crashed the
// process: found by cmd/mixed's load test).
func TestHandlerAbandonedStreamingCall(t *testing.T) {
	gate := make(chan struct{})
	wrote := make(chan error, 1)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/next" {
			io.WriteString(w, "next")
			return
		}
		w.Write(bytes.Repeat([]byte("x"), 100<<10)) // the head: its part streams
		<-r.Context().Done()                        // CallTimeout: the call is abandoned
		<-gate                                      // the batch response has ended
		_, err := w.Write([]byte("late"))           // a reverse proxy still copying, say
		wrote <- err
	})
	var log syncBuffer
	// Room for the head to begin its part, and for /next, before the
	// deadline: under load 50 ms was not.
	h := NewHandlerOptions(inner, HandlerOptions{CallTimeout: roomyCallTimeout, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := batchBody(part("1", "GET /x HTTP/1.1\r\n"), part("2", "GET /next HTTP/1.1\r\n"))
	for range 2 { // the second batch reuses the first one's state
		got := postBatch(t, srv.URL, body)
		if len(got) != 2 || got[0].Status != 200 || len(got[0].Body) != 100<<10 || got[1].Body != "next" {
			t.Fatalf("parts: %d; want the streamed part as it stood, then the next call's", len(got))
		}
	}
	close(gate)
	for range 2 {
		if err := <-wrote; err != http.ErrHandlerTimeout {
			t.Errorf("a write after the call was abandoned: %v, want http.ErrHandlerTimeout", err)
		}
	}
	if !strings.Contains(log.String(), "had begun to stream, with status 504") {
		t.Errorf("the cut part was not logged:\n%s", log.String())
	}
}

// A call waiting for room to buffer its response is released when the
// client goes away, even while the call ahead of it ignores its context.
func TestHandlerWaitingWriteEndsWithClient(t *testing.T) {
	gate := make(chan struct{})
	head := make(chan struct{})
	waited := make(chan error, 1)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/head" {
			close(head)
			<-gate // ignores its context
			return
		}
		<-head
		_, err := w.Write(make([]byte, 64<<10)) // over the budget: waits for its turn
		waited <- err
	})
	srv := httptest.NewServer(NewHandlerOptions(inner, HandlerOptions{MaxBufferedBytes: 1 << 10}))
	defer srv.Close()
	defer close(gate) // before srv.Close, which waits for the handlers
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	body := batchBody(part("1", "GET /head HTTP/1.1\r\n"), part("2", "GET /behind HTTP/1.1\r\n"))
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	<-head
	conn.Close()
	select {
	case err := <-waited:
		if err == nil {
			t.Error("the waiting write succeeded for a client that is gone")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting write was not released when the client went away")
	}
}

// A handler that keeps its ResponseWriter after its call returned (a
// goroutine it left behind, a cache of writers) sees nothing of the calls
// that come after it, of its batch or of the next batches on the same
// Handler, and changes nothing of theirs: its header is its own, its
// writes fail, its status is ignored.
func TestHandlerResponseWriterOutlivesCall(t *testing.T) {
	var mu sync.Mutex
	// The writers of calls that are over, and of calls that may still
	// run (a writer is used only once its call is over: until then it
	// is the call's own).
	var kept, pending []http.ResponseWriter
	var seen []string // what the kept writers showed while later calls ran
	oneWorker := false
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/keep") {
			w.Header().Set("X-Mine", r.URL.Path)
			io.WriteString(w, "mine")
			mu.Lock()
			pending = append(pending, w)
			mu.Unlock()
			return
		}
		w.Header().Set("X-Secret", "s3cr3t"+r.URL.Path)
		io.WriteString(w, "secret"+r.URL.Path)
		mu.Lock()
		defer mu.Unlock()
		if oneWorker {
			// The calls run one after another: those before this one
			// are over.
			kept, pending = append(kept, pending...), nil
		}
		for _, k := range kept {
			seen = append(seen, fmt.Sprint(k.Header()))
			k.Header().Set("X-Evil", "1")
			if n, err := io.WriteString(k, "EVIL"); err == nil || n > 0 {
				seen = append(seen, fmt.Sprintf("a stale Write wrote %d bytes, %v", n, err))
			}
			k.WriteHeader(http.StatusTeapot)
			if f, ok := k.(http.Flusher); ok {
				f.Flush()
			}
		}
	})
	for _, conc := range []int{1, 4} {
		h := NewHandlerOptions(inner, HandlerOptions{Concurrency: conc})
		srv := httptest.NewServer(h)
		mu.Lock()
		oneWorker = conc == 1
		mu.Unlock()
		post := func(body string) []gotPart {
			parts := postBatch(t, srv.URL, body)
			mu.Lock()
			kept, pending = append(kept, pending...), nil // the batch is over
			mu.Unlock()
			return parts
		}
		for round := range 5 {
			var keeps, secrets []string
			for i := range 4 {
				keeps = append(keeps, part(fmt.Sprint(i), fmt.Sprintf("GET /keep%d-%d HTTP/1.1\r\n", round, i)))
				secrets = append(secrets, part(fmt.Sprint(i), fmt.Sprintf("GET /s%d-%d HTTP/1.1\r\n", round, i)))
			}
			// Calls that keep their writers, then calls in the same batch
			// after them, then a batch of calls that reuse its memory.
			first := post(batchBody(append(keeps, secrets...)...))
			second := post(batchBody(secrets...))
			for j, p := range append(first, second...) {
				delete(p.Header, "Content-Length")
				want := gotPart{ContentID: p.ContentID, Status: 200, Body: "mine",
					Header: map[string]string{"Content-Type": "text/plain; charset=utf-8", "X-Mine": fmt.Sprintf("/keep%d-%d", round, j)}}
				if j >= 4 {
					path := fmt.Sprintf("/s%d-%d", round, j%4)
					want.Body, want.Header = "secret"+path, map[string]string{"Content-Type": "text/plain; charset=utf-8", "X-Secret": "s3cr3t" + path}
				}
				if diff := cmp.Diff(want, p); diff != "" {
					t.Errorf("concurrency %d, round %d, part %d (-want +got):\n%s", conc, round, j, diff)
				}
			}
		}
		srv.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		if strings.Contains(s, "s3cr3t") || strings.Contains(s, "stale Write") {
			t.Errorf("a kept ResponseWriter: %s", s)
		}
	}
}

// A call part whose Content-Transfer-Encoding encodes (quoted-printable,
// base64: anything but binary, 7bit and 8bit, in any case) answers 400
// and the other calls run: the Handler reads a call as it is sent, and
// mime/multipart, which decodes quoted-printable, reads another request
// from the same part ("GET /a=64min" is "GET /admin" to it), so a
// gateway and the Handler behind it could disagree on what was asked.
func TestHandlerRefusesEncodedCalls(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ran "+r.URL.Path)
	})
	encoded := func(cid, msg string, cte ...string) string {
		h := "--b\r\nContent-Type: application/http\r\nContent-ID: " + cid + "\r\n"
		for _, v := range cte {
			h += "Content-Transfer-Encoding:" + v + "\r\n"
		}
		return h + "\r\n" + msg + "\r\n"
	}
	body := batchBody(
		encoded("bin", "GET /a=64min HTTP/1.1\r\n", " binary"),
		encoded("qp", "GET /a=64min HTTP/1.1\r\n", " quoted-printable"),
		encoded("b64", "R0VUIC9hZG1pbiBIVFRQLzEuMQ0K\r\n", " BASE64 "),
		encoded("twice", "GET /a=64min HTTP/1.1\r\n", " 8bit", "Quoted-Printable"),
		encoded("7bit", "GET /seven HTTP/1.1\r\n", "7BIT"),
		encoded("none", "GET /none HTTP/1.1\r\n"),
		changeset("cs",
			encoded("m1", "GET /member HTTP/1.1\r\n", " 8BIT"),
			encoded("m2", "GET /a=64min HTTP/1.1\r\n", " quoted-printable"),
		),
	)
	got, _ := serveTree(t, inner, HandlerOptions{Changesets: true}, nil, body)
	refused := func(cid, where, cte string) treePart {
		return treePart{ContentID: "response-" + cid, Status: 400,
			JSON: where + ": Content-Transfer-Encoding " + strconv.Quote(cte) + ": a call is read as it is sent (binary, 7bit or 8bit), never decoded\n"}
	}
	want := []treePart{
		{ContentID: "response-bin", Status: 200, JSON: "ran /a=64min"},
		refused("qp", "part 1", "quoted-printable"),
		refused("b64", "part 2", "BASE64"),
		refused("twice", "part 3", "Quoted-Printable"),
		{ContentID: "response-7bit", Status: 200, JSON: "ran /seven"},
		{ContentID: "response-none", Status: 200, JSON: "ran /none"},
		// A changeset with a refused call fails as a whole, answered by
		// that call's response.
		refused("m2", "part 6, changeset part 1", "quoted-printable"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}

// A call cannot switch protocols, its response being a part of the
// batch's: its Upgrade field never reaches the inner handler, so that a
// reverse proxy there never asks its upstream for a 101 whose connection
// it could neither hand on nor, as httputil.ReverseProxy does, close.
func TestHandlerCallsDoNotUpgrade(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upgrade=%q connection=%q", r.Header.Get("Upgrade"), r.Header.Get("Connection"))
	})
	hdr := http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{}, "/", hdr, batchBody(
		part("1", "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"),
		part("2", "GET /h2c HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"),
		part("3", "GET /plain HTTP/1.1\r\n"))))
	want := []string{`upgrade="" connection="Upgrade"`, `upgrade="" connection="Upgrade, HTTP2-Settings"`, `upgrade="" connection=""`}
	if diff := cmp.Diff(want, []string{got[0].Body, got[1].Body, got[2].Body}); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A field the batch request's Connection field names is hop-by-hop too
// (RFC 9110 §7.6.1): it describes the client's connection, and no call
// inherits it, whatever its name; the others still are.
func TestHandlerDoesNotInheritConnectionOptions(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hop=%q auth=%q xff=%q keep=%q", r.Header.Get("X-Hop"), r.Header.Get("Authorization"), r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Kept"))
	})
	hdr := http.Header{
		"Connection":      {"keep-alive, x-hop", " X-Forwarded-For "},
		"X-Hop":           {"secret"},
		"X-Forwarded-For": {"6.6.6.6"},
		"Authorization":   {"Bearer t"},
		"X-Kept":          {"k"},
	}
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{}, "/", hdr, batchBody(part("1", "GET /x HTTP/1.1\r\n"), part("2", "GET /y HTTP/1.1\r\nX-Hop: own\r\n"))))
	want := []string{`hop="" auth="Bearer t" xff="" keep="k"`, `hop="own" auth="Bearer t" xff="" keep="k"`}
	if diff := cmp.Diff(want, []string{got[0].Body, got[1].Body}); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Result references must not let a few bytes of request copy a large
// result many times over: 500 references to a 256 KiB value were a
// 125 MiB body (or target) for the inner handler, from a 10 KiB batch;
// and calls each within MaxPartBytes added up without bound. A call's
// substituted body is bounded by MaxPartBytes, its target by the head
// limit, and all of a batch's by MaxBodyBytes; past them it answers 400.
func TestHandlerReferenceSubstitutionBounded(t *testing.T) {
	value := strings.Repeat("a", 256<<10)
	var received atomic.Int64
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/big" {
			fmt.Fprintf(w, `{"x":%q}`, value)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		n += int64(len(r.URL.RequestURI()))
		received.Add(n)
		fmt.Fprintf(w, `{"n":%d}`, n)
	})
	opts := HandlerOptions{ResultReferences: true, MaxPartBytes: 1 << 20, MaxBodyBytes: 4 << 20}
	many := strings.Repeat(`"$result[a][x]",`, 500)
	for _, tc := range []struct{ name, req string }{
		{"body", `{"id":"b","method":"POST","url":"/sink","body":[` + many + `0]}`},
		{"body text", `{"id":"b","method":"POST","url":"/sink","body":"` + strings.Repeat(`$result[a][x]`, 500) + `"}`},
		{"target", `{"id":"b","method":"GET","url":"/sink?q=` + strings.Repeat(`$result[a][x]`, 500) + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			received.Store(0)
			body := `{"requests":[{"id":"a","method":"GET","url":"/big"},` + tc.req + `]}`
			var got []jsonEntry
			n := allocated(func() { _, got = serveJSON(t, inner, opts, "/$batch", odataHeader, body) })
			if len(got) != 2 || got[0].Status != 200 || got[1].Status != 400 || !strings.Contains(string(got[1].Body), "substituted") {
				t.Fatalf("responses %v", statusesOf(got))
			}
			if n > 32<<20 || received.Load() != 0 {
				t.Errorf("allocated %d MiB, the inner handler received %d bytes, for a %d KiB batch", n>>20, received.Load(), len(body)>>10)
			}
		})
	}
	t.Run("batch", func(t *testing.T) {
		received.Store(0)
		reqs := `{"id":"a","method":"GET","url":"/big"}`
		for i := range 20 {
			reqs += fmt.Sprintf(`,{"id":"c%d","method":"POST","url":"/sink","body":["$result[a][x]","$result[a][x]","$result[a][x]"]}`, i)
		}
		// Graph JSON, which does not halt at the first error.
		opts := opts
		opts.MaxCalls = 30
		_, got := serveJSON(t, inner, opts, "/$batch", nil, `{"requests":[`+reqs+`]}`)
		// Five bodies of 768 KiB fit in 4 MiB, whichever five calls
		// come first.
		st := statusesOf(got)
		ok := 0
		for _, s := range st[1:] {
			if s == 200 {
				ok++
			}
		}
		if len(got) != 21 || st[0] != 200 || ok != 5 {
			t.Fatalf("responses %v", st)
		}
		if n := received.Load(); n > opts.MaxBodyBytes {
			t.Errorf("the inner handler received %d bytes of substituted bodies, over MaxBodyBytes %d", n, opts.MaxBodyBytes)
		}
	})
}

func statusesOf(es []jsonEntry) []int {
	var s []int
	for _, e := range es {
		s = append(s, e.Status)
	}
	return s
}

// A call that the inner handler brings back to a batch handler, as a
// ServeMux that holds the batch endpoint does, is not unwrapped: it
// answers 400 in its part, in its own format, and none of its calls runs,
// through the same Handler or another. Unwrapped, each level's calls ran
// with a buffer budget and a concurrency of their own.
func TestHandlerBatchesDoNotNest(t *testing.T) {
	var served pathLog
	mux := http.NewServeMux()
	mux.Handle("/batch", NewHandler(mux))
	mux.Handle("/other-batch", NewHandler(mux))
	mux.Handle("/", served.handler(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	// Boundary "nb": "b" would end the outer part.
	nested := strings.ReplaceAll(batchBody(part("n1", "GET /nested HTTP/1.1\r\n")), "--b", "--nb")
	multipartCall := func(target string) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nContent-Type: multipart/mixed; boundary=nb\r\nContent-Length: %d\r\n\r\n%s", target, len(nested), nested)
	}
	jsonBatch := `{"requests":[{"id":"1","method":"GET","url":"/nested-json"}]}`
	jsonCall := fmt.Sprintf("POST /batch HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(jsonBatch), jsonBatch)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	body := batchBody(
		part("a", "GET /plain HTTP/1.1\r\n"),
		part("b", multipartCall("/batch")),
		part("c", multipartCall("/other-batch")),
		part("d", jsonCall),
	)
	resp, err := http.Post(srv.URL+"/batch", "multipart/mixed; boundary=b", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	got := readBatchResponse(t, resp)
	if diff := cmp.Diff([]int{200, 400, 400, 400}, statuses(got)); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	for _, p := range got[1:3] {
		if want := "batch: a call of a batch reached a batch handler; batches do not nest\n"; p.Body != want {
			t.Errorf("part %s: body %q, want %q", p.ContentID, p.Body, want)
		}
	}
	var jerr struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(got[3].Body), &jerr); err != nil || jerr.Error.Code != "BadRequest" || !strings.Contains(jerr.Error.Message, "do not nest") {
		t.Errorf("JSON batch call: body %q (%v), want a JSON error saying batches do not nest", got[3].Body, err)
	}
	if diff := cmp.Diff([]string{"/plain"}, served.sorted()); diff != "" {
		t.Errorf("paths served (-want +got):\n%s", diff)
	}
	// The same batch, sent to the endpoint directly, is served.
	resp, err = http.Post(srv.URL+"/other-batch", "multipart/mixed; boundary=nb", strings.NewReader(nested))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{200}, statuses(readBatchResponse(t, resp))); diff != "" {
		t.Errorf("a batch sent alone: statuses (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/nested", "/plain"}, served.sorted()); diff != "" {
		t.Errorf("paths served (-want +got):\n%s", diff)
	}
}

// A dot segment encoded twice (%252e%252e, which a call's path holds as
// %2e%2e once decoded) is ".." to a server that decodes the path again,
// as some proxies and frameworks do before they route: refused as the
// other disguises are, with encoded slashes and backslashes around it
// too. A percent sign that encodes nothing of the kind stays.
func TestHandlerPathDoubleEncodedDotSegments(t *testing.T) {
	var served pathLog
	inner := served.handler(nil)
	refused := []string{
		"/api/v1/%252e%252e/admin",
		"/api/v1/%252E%252E/admin",
		"/api/v1/.%252e/admin",
		"/api/v1/%252e./admin",
		"/api/v1/%252e/x",
		"/api/v1/x%252f%252e%252e%252fadmin",
		"/api/v1/x%252F..%252Fadmin",
		"/api/v1/x%255c%252e%252e%255cadmin",
		"/api/v1/%252e%252e;x/admin",
	}
	allowed := []string{
		"/api/v1/a%252eb",
		"/api/v1/%2525/x",
		"/api/v1/%252e%252ex",
		"/api/v1/100%2525",
	}
	var parts []string
	var want []int
	for i, p := range refused {
		parts = append(parts, part("r"+strconv.Itoa(i), "GET "+p+" HTTP/1.1\r\n"))
		want = append(want, 400)
	}
	for i, p := range allowed {
		parts = append(parts, part("a"+strconv.Itoa(i), "GET "+p+" HTTP/1.1\r\n"))
		want = append(want, 200)
	}
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{PathPrefix: "/api/v1/"}, "/", nil, batchBody(parts...)))
	if diff := cmp.Diff(want, statuses(got)); diff != "" {
		t.Errorf("statuses, refused then allowed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/api/v1/%25/x", "/api/v1/%2e%2ex", "/api/v1/100%25", "/api/v1/a%2eb"}, served.sorted()); diff != "" {
		t.Errorf("paths that reached the handler (-want +got):\n%s", diff)
	}
}
