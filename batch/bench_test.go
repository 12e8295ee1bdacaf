package batch

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mixedcodec/mixed/internal/cputime"
)

// discardWriter is an http.ResponseWriter that keeps nothing, for measuring
// the Handler alone.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// trivial is the inner handler of the benchmarks: a small JSON answer that
// allocates nothing itself.
var trivial = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = jsonCT
	w.Write(smallJSON)
})

var (
	jsonCT    = []string{"application/json"}
	smallJSON = []byte(`{"kind":"calendar#event","id":"abc123","status":"confirmed"}`)
)

// batchOf returns a batch body of n events.get-shaped calls (boundary "b").
func batchOf(n int) []byte {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "--b\r\nContent-Type: application/http\r\nContent-ID: %d\r\n\r\nGET /calendar/v3/calendars/primary/events/e%d HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n", i, i)
	}
	sb.WriteString("--b--\r\n")
	return []byte(sb.String())
}

// BenchmarkHandler measures the Handler's own cost per call: 1000 calls to
// a trivial handler, in memory, no network. allocs/call is the figure the
// issue bounds (≤ 4 beyond the inner handler's own, which are 0 here).
// features=refs turns result references on, and features=all changesets
// too, over the same batch, which has neither: they must not slow the
// independent case. batch=changesets sends the same calls as 100
// changesets of 10, each in a group.
func BenchmarkHandler(b *testing.B) {
	const n = 1000
	plain := batchOf(n)
	grouped := changesetsOf(n/10, 10)
	begin := func(context.Context) (Group, error) { return nopGroup{}, nil }
	for _, bc := range []struct {
		name string
		body []byte
		opts HandlerOptions
	}{
		{"features=off", plain, HandlerOptions{}},
		{"features=refs", plain, HandlerOptions{ResultReferences: true}},
		{"features=all", plain, HandlerOptions{ResultReferences: true, BeginGroup: begin}},
		{"batch=changesets", grouped, HandlerOptions{ResultReferences: true, BeginGroup: begin}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := NewHandlerOptions(trivial, bc.opts)
			var br bytes.Reader
			req := httptest.NewRequest("POST", "/batch", &br)
			req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
			w := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				br.Reset(bc.body)
				clear(w.h)
				h.ServeHTTP(w, req)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/call")
		})
	}
}

type nopGroup struct{}

func (nopGroup) Commit() error   { return nil }
func (nopGroup) Rollback() error { return nil }

// changesetsOf returns a batch body of n changesets of m calls each, shaped
// as batchOf's calls.
func changesetsOf(n, m int) []byte {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "--b\r\nContent-Type: multipart/mixed; boundary=cs%d\r\n\r\n", i)
		for j := range m {
			fmt.Fprintf(&sb, "--cs%d\r\nContent-Type: application/http\r\nContent-ID: %d.%d\r\n\r\nGET /calendar/v3/calendars/primary/events/e%d HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n", i, i, j, j)
		}
		fmt.Fprintf(&sb, "--cs%d--\r\n", i)
	}
	sb.WriteString("--b--\r\n")
	return []byte(sb.String())
}

// BenchmarkBatchLoopback compares, on 127.0.0.1, 1000 small JSON calls
// made three ways: one batch through Client and Handler; sequential calls
// on one keep-alive connection; and calls over 8 keep-alive connections.
func BenchmarkBatchLoopback(b *testing.B) {
	const n = 1000
	mux := http.NewServeMux()
	mux.Handle("/batch", NewHandler(trivial))
	mux.Handle("/", trivial)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	urls := make([]string, n)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/calendar/v3/calendars/primary/events/e%d", srv.URL, i)
	}
	get := func(u string) {
		resp, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	// The machines here are shared: CPU time per call (client and server,
	// this process) is the figure that others' load does not blur.
	var cpu time.Duration
	report := func(b *testing.B) {
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "calls/s")
		b.ReportMetric(float64((cputime.Used()-cpu).Nanoseconds())/float64(n*b.N), "cpu-ns/call")
	}
	b.Run("way=batch", func(b *testing.B) {
		c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: client}
		cpu = cputime.Used()
		for b.Loop() {
			bt := c.NewBatch()
			for _, u := range urls {
				req, _ := http.NewRequest("GET", u, nil)
				bt.Add(req, "")
			}
			if err := bt.Do(context.Background()); err != nil {
				b.Fatal(err)
			}
			for _, call := range bt.Calls() {
				if call.Err() != nil || call.Response().StatusCode != 200 {
					b.Fatalf("call %s: %v", call.ID(), call.Err())
				}
			}
		}
		report(b)
	})
	b.Run("way=sequential", func(b *testing.B) {
		cpu = cputime.Used()
		for b.Loop() {
			for _, u := range urls {
				get(u)
			}
		}
		report(b)
	})
	b.Run("way=conns8", func(b *testing.B) {
		cpu = cputime.Used()
		for b.Loop() {
			var wg sync.WaitGroup
			next := make(chan string, n)
			for _, u := range urls {
				next <- u
			}
			close(next)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for u := range next {
						get(u)
					}
				}()
			}
			wg.Wait()
		}
		report(b)
	})
}

// BenchmarkTransport compares 1000 concurrent events.get-shaped calls made
// through an http.Client whose Transport batches them with the same calls
// through the plain keep-alive transport, on 127.0.0.1.
func BenchmarkTransport(b *testing.B) {
	const n = 1000
	mux := http.NewServeMux()
	mux.Handle("/batch/calendar/v3", NewHandler(trivial))
	mux.Handle("/", trivial)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base := &http.Transport{MaxIdleConnsPerHost: 64}
	defer base.CloseIdleConnections()
	urls := make([]string, n)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/calendar/v3/calendars/primary/events/e%d", srv.URL, i)
	}
	run := func(b *testing.B, c *http.Client) {
		for b.Loop() {
			var wg sync.WaitGroup
			for _, u := range urls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest("GET", u, nil)
					req.Header.Set("Authorization", "Bearer token")
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
					}
				}()
			}
			wg.Wait()
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "calls/s")
	}
	b.Run("transport=batch", func(b *testing.B) {
		run(b, &http.Client{Transport: &Transport{Endpoint: srv.URL + "/batch/calendar/v3", Base: base}})
	})
	b.Run("transport=plain", func(b *testing.B) {
		run(b, &http.Client{Transport: base})
	})
}

// BenchmarkHandlerLargeResponses is the gateway's worst case of issue 12: a
// small batch of 200 GETs each answered with 4 MiB. The parts stream in
// order and the calls behind the head buffer at most MaxBufferedBytes, so
// the peak heap stays near the budget (32 MiB by default) whatever the
// responses add up to (800 MiB here). It reports the peak heap in use,
// sampled, and the most the batch held in response buffers.
func BenchmarkHandlerLargeResponses(b *testing.B) {
	for _, budget := range []int64{8 << 20, DefaultMaxBufferedBytes} {
		b.Run(fmt.Sprintf("budget=%dMiB", budget>>20), func(b *testing.B) {
			benchmarkLargeResponses(b, budget)
		})
	}
}

func benchmarkLargeResponses(b *testing.B, budget int64) {
	const calls, size = 200, 4 << 20
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4<<10) // 64 KiB
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	h := NewHandlerOptions(inner, HandlerOptions{MaxBufferedBytes: budget})
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := batchOf(calls)
	runtime.GC()
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}()
	b.SetBytes(calls * size)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Post(srv.URL, "multipart/mixed; boundary=b", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n < calls*size {
			b.Fatalf("read %d bytes of the batch response: %v", n, err)
		}
	}
	close(stop)
	<-sampled
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(h.peakBuffered.Load())/(1<<20), "peak-buffered-MiB")
}

// BenchmarkFindRefsAdversarial scans 16 MiB of references that start and
// never end, which a quadratic scan took minutes over; one pass takes a
// few ms per MiB at most.
func BenchmarkFindRefsAdversarial(b *testing.B) {
	for _, unit := range []string{"$result[", "%24result%5B", "$result[a]["} {
		s := strings.Repeat(unit, (16<<20)/len(unit))
		b.Run("unit="+unit, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := findRefs(context.Background(), s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// jsonBatchOf returns a JSON batch body of n calls shaped as batchOf's,
// each with a JSON body of bodyBytes bytes when bodyBytes > 0.
func jsonBatchOf(n, bodyBytes int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"requests":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":"%d","method":"GET","url":"/calendar/v3/calendars/primary/events/e%d","headers":{"Accept":"application/json"}`, i, i)
		if bodyBytes > 0 {
			fmt.Fprintf(&sb, `,"body":{"pad":"%s"}`, strings.Repeat("x", bodyBytes))
		}
		sb.WriteByte('}')
	}
	sb.WriteString("]}")
	return []byte(sb.String())
}

// BenchmarkHandlerFormats measures the same 1000 calls to the trivial
// handler read and answered in each format: format=multipart is
// BenchmarkHandler's features=off, and graph-json runs the calls the same
// way (concurrently); multipart-odata and odata-json run them one at a
// time in order, as OData requires in either format. The JSON formats must
// cost no more than twice as much per call as multipart.
func BenchmarkHandlerFormats(b *testing.B) {
	const n = 1000
	for _, bc := range []struct {
		name  string
		ct    string
		body  []byte
		f     Format
		odata bool
	}{
		{"format=multipart", "multipart/mixed; boundary=b", batchOf(n), FormatMultipart, false},
		{"format=graph-json", "application/json", jsonBatchOf(n, 0), FormatGraphJSON, false},
		{"format=multipart-odata", "multipart/mixed; boundary=b", batchOf(n), FormatMultipart, true},
		{"format=odata-json", "application/json", jsonBatchOf(n, 0), FormatODataJSON, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := NewHandlerOptions(trivial, HandlerOptions{MaxCalls: n, JSONFormat: bc.f, OData: bc.odata})
			var br bytes.Reader
			req := httptest.NewRequest("POST", "/batch", &br)
			req.Header.Set("Content-Type", bc.ct)
			req.Header.Set("Prefer", "odata.continue-on-error")
			w := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			cpu := cputime.Used()
			for b.Loop() {
				br.Reset(bc.body)
				clear(w.h)
				h.ServeHTTP(w, req)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/call")
			// The machines here are shared: CPU time per call is the
			// figure to compare formats by.
			b.ReportMetric(float64((cputime.Used()-cpu).Nanoseconds())/float64(b.N)/n, "cpu-ns/call")
		})
	}
}

// TestJSONReadAllocsPerCall: reading a JSON batch allocates per request
// object, not per byte: 200 calls allocate twice what 100 do, and bodies
// of 16 KiB each no more than bodies of 256 bytes (the arena and the
// decoder's buffer, reused or grown by doubling, are per batch; a body is
// one allocation whatever its size).
func TestJSONReadAllocsPerCall(t *testing.T) {
	h := NewHandlerOptions(trivial, HandlerOptions{MaxCalls: 1000})
	st := &batchState{format: FormatGraphJSON}
	req := httptest.NewRequest("POST", "/batch", nil)
	allocs := func(body []byte) float64 {
		var br bytes.Reader
		return testing.AllocsPerRun(10, func() {
			br.Reset(body)
			st.calls, st.arena = st.calls[:0], st.arena[:0]
			if _, err := h.readJSON(st, &br, req); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, double := allocs(jsonBatchOf(100, 0)), allocs(jsonBatchOf(200, 0))
	short, long := allocs(jsonBatchOf(100, 256)), allocs(jsonBatchOf(100, 16<<10))
	t.Logf("allocations: 100 calls %.0f, 200 calls %.0f; 100 calls with bodies of 256 B %.0f, of 16 KiB %.0f", small, double, short, long)
	if perCall := (double - small) / 100; perCall > 16 || double < 1.8*small {
		t.Errorf("%.1f allocations per call (100 calls %.0f, 200 calls %.0f)", perCall, small, double)
	}
	if long > short+20 {
		t.Errorf("bodies of 16 KiB: %.0f allocations, against %.0f for 256 bytes", long, short)
	}
}

// roundTripper is an in-memory http.RoundTripper for measuring a client's
// own cost: it takes in the whole request as a server would and answers
// with the response that answer builds, without a network.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// BenchmarkClientPerCall measures the Client's own cost per call: building
// a batch of 100 events.get-shaped calls, writing it, and reading the
// response parts back into the calls (the batch response is canned, the
// request body read to its end and dropped, in memory). Its twin sends the
// same calls one by one through net/http's Client over an in-memory
// transport that does the same wire work for each: the request written
// (http.Request.Write) and the response read (http.ReadResponse). Both
// report ns/call and allocs/call.
func BenchmarkClientPerCall(b *testing.B) {
	const n = 100
	const target = "/calendar/v3/calendars/primary/events/e"
	single := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(smallJSON), smallJSON)
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "--r\r\nContent-Type: application/http\r\nContent-ID: response-e%d\r\n\r\n%s\r\n", i, single)
	}
	sb.WriteString("--r--\r\n")
	canned := []byte(sb.String())
	perCall := func(b *testing.B, run func()) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for b.Loop() {
			run()
		}
		runtime.ReadMemStats(&after)
		calls := float64(n * b.N)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/calls, "ns/call")
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/calls, "allocs/call")
	}
	// The same answers as a Graph JSON batch response.
	var jb strings.Builder
	jb.WriteString(`{"responses":[`)
	for i := range n {
		if i > 0 {
			jb.WriteByte(',')
		}
		fmt.Fprintf(&jb, `{"id":"e%d","status":200,"headers":{"Content-Type":"application/json"},"body":%s}`, i, smallJSON)
	}
	jb.WriteString(`]}`)
	cannedJSON := []byte(jb.String())
	for _, f := range []Format{FormatMultipart, FormatGraphJSON} {
		name, ct, body := "impl=mixed", "multipart/mixed; boundary=r", canned
		if f == FormatGraphJSON {
			name, ct, body = "impl=mixed-json", "application/json", cannedJSON
		}
		b.Run(name, func(b *testing.B) {
			clientPerCall(b, perCall, f, ct, body, n, target)
		})
	}
	b.Run("impl=std", func(b *testing.B) {
		var wire bytes.Buffer
		hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			wire.Reset()
			if err := r.Write(&wire); err != nil {
				return nil, err
			}
			return http.ReadResponse(bufio.NewReader(strings.NewReader(single)), r)
		})}
		perCall(b, func() {
			for i := range n {
				resp, err := hc.Get("https://www.googleapis.com" + target + strconv.Itoa(i))
				if err != nil {
					b.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || len(body) != len(smallJSON) {
					b.Fatalf("status %d, %d bytes, %v", resp.StatusCode, len(body), err)
				}
			}
		})
	})
}

// clientPerCall runs BenchmarkClientPerCall's batches of n calls in format
// f, the batch response canned: body, of media type ct.
func clientPerCall(b *testing.B, perCall func(*testing.B, func()), f Format, ct string, body []byte, n int, target string) {
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {ct}},
			Body:   io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
	})}
	// One batch of n calls, in either format (Graph allows 20 by default).
	c := &Client{Endpoint: "https://www.googleapis.com/batch/calendar/v3", HTTPClient: hc, Format: f, Limits: Limits{MaxCalls: n}}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("e%d", i)
	}
	perCall(b, func() {
		bt := c.NewBatch()
		for i, id := range ids {
			req, _ := http.NewRequest("GET", target+id[1:], nil)
			if _, err := bt.Add(req, ids[i]); err != nil {
				b.Fatal(err)
			}
		}
		if err := bt.Do(context.Background()); err != nil {
			b.Fatal(err)
		}
		for _, call := range bt.Calls() {
			if call.Err() != nil || call.Response().StatusCode != 200 {
				b.Fatalf("call %s: %v", call.ID(), call.Err())
			}
		}
	})
}
