package main

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
	"github.com/mixedcodec/mixed/batch"
)

// The load test's shape. Counts, not durations, bound it: timing only
// shapes the load (the slow calls wait a few ms), it never decides a
// result.
const (
	loadClients       = 64
	loadMaxCalls      = 12 // calls per batch: 1 to this
	loadMaxLarge      = 2  // large calls per batch, at most
	loadSlowMaxMillis = 5
	loadEchoMax       = 16 << 10
	loadSeed          = 0x6d69786564 // "mixed"

	// loadStallAfter is no timing assertion: a run whose clients have
	// received no byte for that long is stuck (a lost part, a call that
	// never ends), and the test fails with every goroutine's stack rather
	// than at go test's timeout. It is generous because a loaded machine
	// under -race can be very slow without being stuck.
	loadStallAfter = 2 * time.Minute
)

// A loadShape is how much a run sends.
type loadShape struct {
	batches            int // per client, one at a time
	largeMin, largeMax int // the size of a large body
}

// Under the race detector every byte copied costs tens of times more
// (most of the time goes to checking memory ranges) and every call several
// times more: the clients send fewer batches, with smaller large bodies
// (still well past the size at which a part starts streaming).
var (
	loadFull  = loadShape{batches: 20, largeMin: 1 << 20, largeMax: 4 << 20}
	loadSmall = loadShape{batches: 3, largeMin: 256 << 10, largeMax: 1 << 20}
)

// The kinds of call a batch mixes.
type loadKind int

const (
	kindFast    loadKind = iota // GET, small JSON
	kindSlow                    // GET answered after a few ms
	kindFail                    // GET answered with an error status
	kindMissing                 // GET of a path the upstream does not serve: its 404
	kindPanic                   // POST whose upstream handler panics before answering: the proxy's 502
	kindBroken                  // GET whose upstream handler panics mid-body: the proxy aborts, the Handler's 500
	kindEcho                    // POST of a body, echoed back
	kindLarge                   // GET of 1–4 MiB (see loadShape) of bytes derived from the path
)

var loadWeights = [...]struct {
	kind   loadKind
	weight int
}{
	{kindFast, 30}, {kindSlow, 15}, {kindFail, 8}, {kindMissing, 4},
	{kindPanic, 5}, {kindBroken, 4}, {kindEcho, 20}, {kindLarge, 6},
}

// brokenBody is what the Handler answers for a call whose handler aborts
// its response (the reverse proxy panics with http.ErrAbortHandler when
// the upstream dies mid-body).
const brokenBody = "batch: the call's handler aborted its response\n"

// A loadCall is one call of a batch, as sent.
type loadCall struct {
	kind   loadKind
	id     string // unique in the run
	cid    string // the Content-ID sent
	method string
	target string
	body   []byte // the request body (echo, panic)
	n      int    // fast: q; slow: ms; fail: status; large: size
}

// loadPart is one response part, reduced to what the test checks. A large
// body is summarized (its length and whether every byte is right), so that
// the client never holds it.
type loadPart struct {
	ContentID   string
	Status      int
	ContentType string
	Body        string
}

// largeBlock is the source of the large bodies: the body of
// /large/KEY/SIZE is SIZE bytes of the block read in a circle from an
// offset hashed from KEY (a call's unique id), so that a part holding
// bytes of another call's body differs from its own. It is made on first
// use, not for every test of the package.
var largeBlock = sync.OnceValue(func() []byte {
	b := make([]byte, 1<<20+7)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
})

func largeOffset(key string) int {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int(h.Sum64() % uint64(len(largeBlock())))
}

// writeLarge writes n bytes of key's body to w, a slice of the block at a
// time (no copy, no allocation).
func writeLarge(w io.Writer, key string, n int) error {
	block, off := largeBlock(), largeOffset(key)
	for n > 0 {
		chunk := block[off:min(len(block), off+min(n, 32<<10))]
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		n -= len(chunk)
		off = (off + len(chunk)) % len(block)
	}
	return nil
}

// checkLarge reads r to its end and summarizes it against key's body.
func checkLarge(r io.Reader, key string) (string, error) {
	block, off := largeBlock(), largeOffset(key)
	buf := make([]byte, 32<<10)
	n, bad := 0, -1
	for {
		m, err := r.Read(buf)
		for i := 0; i < m && bad < 0; {
			k := min(m-i, len(block)-off)
			if !bytes.Equal(buf[i:i+k], block[off:off+k]) {
				for j := range k {
					if buf[i+j] != block[off+j] {
						bad = n + i + j
						break
					}
				}
			}
			i += k
			off = (off + k) % len(block)
		}
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return largeSummary(key, n, bad), nil
}

func largeSummary(key string, n, bad int) string {
	if bad >= 0 {
		return fmt.Sprintf("<%d bytes, differing from large/%s at byte %d>", n, key, bad)
	}
	return fmt.Sprintf("<%d bytes of large/%s>", n, key)
}

// echoBody is a request body of n bytes: any byte but '-', so that it
// never holds a delimiter.
func echoBody(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
		if b[i] == '-' {
			b[i] = '+'
		}
	}
	return b
}

// loadUpstream is the API behind the gateway, under /api.
func loadUpstream(panics *atomic.Int64) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/fast/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"id\":%q,\"q\":%s}\n", r.PathValue("id"), r.URL.Query().Get("q"))
	})
	mux.HandleFunc("GET /api/slow/{id}", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "slow %s %dms\n", r.PathValue("id"), ms)
	})
	mux.HandleFunc("GET /api/fail/{id}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		http.Error(w, "fail "+r.PathValue("id"), code)
	})
	mux.HandleFunc("POST /api/panic/{id}", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		panics.Add(1)
		panic("load test: upstream panic in " + r.PathValue("id"))
	})
	mux.HandleFunc("GET /api/broken/{id}", func(w http.ResponseWriter, r *http.Request) {
		// Promise 1000 bytes, send 100, then die: the proxy has begun
		// the response when its copy fails.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", "1000")
		w.Write(bytes.Repeat([]byte("x"), 100))
		w.(http.Flusher).Flush()
		panics.Add(1)
		panic("load test: upstream panic mid-body in " + r.PathValue("id"))
	})
	mux.HandleFunc("POST /api/echo/{id}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		fmt.Fprintf(w, "echo %s %d\n", r.PathValue("id"), len(body))
		w.Write(body)
	})
	mux.HandleFunc("GET /api/large/{key}/{size}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("size"))
		w.Header().Set("Content-Type", "application/octet-stream")
		// Half the large bodies have a length; the others are chunked,
		// which the reverse proxy flushes write by write.
		if r.URL.Query().Get("cl") == "1" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		writeLarge(w, r.PathValue("key"), n)
	})
	return mux
}

// planBatch draws the calls of batch b of client c.
func planBatch(r *rand.Rand, shape loadShape, c, b int) []loadCall {
	total := 0
	for _, w := range loadWeights {
		total += w.weight
	}
	calls := make([]loadCall, 1+r.IntN(loadMaxCalls))
	large := 0
	for i := range calls {
		x := r.IntN(total)
		var kind loadKind
		for _, w := range loadWeights {
			if x < w.weight {
				kind = w.kind
				break
			}
			x -= w.weight
		}
		if kind == kindLarge {
			if large == loadMaxLarge {
				kind = kindFast
			} else {
				large++
			}
		}
		id := fmt.Sprintf("c%db%dp%d", c, b, i)
		lc := loadCall{kind: kind, id: id, method: http.MethodGet, cid: id}
		if r.IntN(2) == 0 {
			lc.cid = "<" + id + "@load.example>"
		}
		switch kind {
		case kindFast:
			lc.n = r.IntN(1000)
			lc.target = fmt.Sprintf("/fast/%s?q=%d", id, lc.n)
		case kindSlow:
			lc.n = 1 + r.IntN(loadSlowMaxMillis)
			lc.target = fmt.Sprintf("/slow/%s?ms=%d", id, lc.n)
		case kindFail:
			lc.n = []int{400, 404, 409, 500, 503}[r.IntN(5)]
			lc.target = fmt.Sprintf("/fail/%s?code=%d", id, lc.n)
		case kindMissing:
			lc.target = "/missing/" + id
		case kindPanic:
			lc.method = http.MethodPost
			lc.target = "/panic/" + id
			lc.body = echoBody(r, r.IntN(512))
		case kindBroken:
			lc.target = "/broken/" + id
		case kindEcho:
			lc.method = http.MethodPost
			lc.target = "/echo/" + id
			lc.body = echoBody(r, r.IntN(loadEchoMax+1))
		case kindLarge:
			lc.n = shape.largeMin + r.IntN(shape.largeMax-shape.largeMin+1)
			lc.target = fmt.Sprintf("/large/%s/%d?cl=%d", id, lc.n, r.IntN(2))
		}
		calls[i] = lc
	}
	return calls
}

// expect is the part call c must get, worked out from the call alone.
func expect(c loadCall) loadPart {
	cid := "response-" + c.cid
	if strings.HasPrefix(c.cid, "<") {
		cid = "<response-" + c.cid[1:]
	}
	p := loadPart{ContentID: cid, Status: http.StatusOK}
	switch c.kind {
	case kindFast:
		p.ContentType = "application/json"
		p.Body = fmt.Sprintf("{\"id\":%q,\"q\":%d}\n", c.id, c.n)
	case kindSlow:
		p.ContentType = "text/plain; charset=utf-8"
		p.Body = fmt.Sprintf("slow %s %dms\n", c.id, c.n)
	case kindFail:
		p.Status = c.n
		p.ContentType = "text/plain; charset=utf-8"
		p.Body = "fail " + c.id + "\n"
	case kindMissing:
		p.Status = http.StatusNotFound
		p.ContentType = "text/plain; charset=utf-8"
		p.Body = "404 page not found\n"
	case kindPanic:
		// httputil.ReverseProxy's default ErrorHandler: a bare 502.
		p.Status = http.StatusBadGateway
	case kindBroken:
		p.Status = http.StatusInternalServerError
		p.ContentType = "text/plain; charset=utf-8"
		p.Body = brokenBody
	case kindEcho:
		p.ContentType = "application/octet-stream"
		p.Body = fmt.Sprintf("echo %s %d\n", c.id, len(c.body)) + string(c.body)
	case kindLarge:
		p.ContentType = "application/octet-stream"
		p.Body = largeSummary(c.id, c.n, -1)
	}
	return p
}

// responseBytes bounds what the gateway can hold of c's response: its
// body and a head.
func responseBytes(c loadCall) int64 {
	const head = 1 << 10
	switch c.kind {
	case kindLarge:
		return int64(c.n) + head
	case kindEcho:
		return int64(len(c.body)) + 64 + head
	}
	return 256 + head
}

const loadBoundary = "load_batch_boundary"

func batchBody(calls []loadCall) []byte {
	var b bytes.Buffer
	for _, c := range calls {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: application/http\r\nContent-ID: %s\r\n\r\n%s %s HTTP/1.1\r\n", loadBoundary, c.cid, c.method, c.target)
		if c.body != nil {
			fmt.Fprintf(&b, "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n", len(c.body))
		}
		b.WriteString("\r\n")
		b.Write(c.body)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", loadBoundary)
	return b.Bytes()
}

// readParts reads a batch response to its end, summarizing large bodies
// as it goes.
func readParts(resp *http.Response, calls []loadCall) ([]loadPart, error) {
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("batch status %d: %q", resp.StatusCode, b)
	}
	boundary, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	r := mixed.NewReader(resp.Body, boundary)
	var parts []loadPart
	for i := 0; ; i++ {
		p, err := r.NextPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return parts, fmt.Errorf("part %d: %w", i, err)
		}
		lp := loadPart{ContentID: p.Header.Get("Content-ID")}
		m, err := mixed.NewMessageReader(p).ReadResponse("")
		if err != nil {
			return parts, fmt.Errorf("part %d (%s): %w", i, lp.ContentID, err)
		}
		lp.Status = m.StatusCode
		lp.ContentType = m.Header.Get("Content-Type")
		if i < len(calls) && calls[i].kind == kindLarge && lp.Status == http.StatusOK {
			lp.Body, err = checkLarge(m.Body, calls[i].id)
		} else {
			var b []byte
			b, err = io.ReadAll(io.LimitReader(m.Body, 1<<20))
			lp.Body = string(b)
		}
		if err != nil {
			return parts, fmt.Errorf("part %d (%s) body: %w", i, lp.ContentID, err)
		}
		parts = append(parts, lp)
	}
}

// lineCounter counts the lines written to it that start with prefix.
type lineCounter struct {
	prefix string
	n      atomic.Int64
}

func (l *lineCounter) Write(p []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line != "" && strings.HasPrefix(line, l.prefix) {
			l.n.Add(1)
		}
	}
	return len(p), nil
}

// gatewayLog is serve's log: one line per batch, whose calls and statuses
// it adds up, and anything else (errors of the batch handler or of the
// server), which it keeps.
type gatewayLog struct {
	mu       sync.Mutex
	batches  int
	calls    int
	statuses map[int]int
	other    []string
}

func (g *gatewayLog) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.statuses == nil {
		g.statuses = map[int]int{}
	}
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "batch ") {
			if len(g.other) < 20 {
				g.other = append(g.other, line)
			}
			continue
		}
		g.batches++
		for _, field := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(field, "calls="); ok {
				n, _ := strconv.Atoi(v)
				g.calls += n
			}
			if v, ok := strings.CutPrefix(field, "statuses="); ok {
				for _, cn := range strings.Split(v, ",") {
					code, n, _ := strings.Cut(cn, ":")
					c, _ := strconv.Atoi(code)
					k, _ := strconv.Atoi(n)
					g.statuses[c] += k
				}
			}
		}
	}
	return len(p), nil
}

// lingerListener makes the connections it accepts abort (RST) when closed,
// rather than end (FIN).
type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	return c, err
}

// progressBody counts the bytes read through it.
type progressBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (p progressBody) Read(b []byte) (int, error) {
	n, err := p.ReadCloser.Read(b)
	p.n.Add(int64(n))
	return n, err
}

func goroutineDump() string {
	var b strings.Builder
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	return b.String()
}

// gatewayTransport is the transport the gateway's reverse proxy reaches
// the upstream with, when it can be reached from here.
func gatewayTransport(h http.Handler) *http.Transport {
	if g, ok := h.(*gateway); ok {
		h = g.proxy
	}
	if p, ok := h.(*httputil.ReverseProxy); ok {
		if tr, ok := p.Transport.(*http.Transport); ok {
			return tr
		}
	}
	return nil
}

// 64 clients send batches mixing fast, slow, failing, panicking, echoed and
// large calls to "mixed serve" in front of an upstream, all on loopback.
// Every response must be complete and exactly right, no goroutine may be
// left once everything is shut down, and the heap must stay under the
// bound worked out below.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: skipped with -short")
	}
	shape := loadFull
	if loadRace {
		shape = loadSmall
	}
	batches := shape.batches

	// The plan: every client's batches, drawn before anything starts.
	plan := make([][][]loadCall, loadClients)
	totalCalls, panicCalls := 0, int64(0)
	var totalBytes int64
	kinds := map[loadKind]int{}
	wantStatuses := map[int]int{}
	for c := range plan {
		r := rand.New(rand.NewPCG(loadSeed, uint64(c)))
		plan[c] = make([][]loadCall, batches)
		for b := range plan[c] {
			plan[c][b] = planBatch(r, shape, c, b)
			for _, call := range plan[c][b] {
				totalCalls++
				kinds[call.kind]++
				totalBytes += responseBytes(call)
				wantStatuses[expect(call).Status]++
				if call.kind == kindPanic || call.kind == kindBroken {
					panicCalls++
				}
			}
		}
	}

	// The heap bound. Each client has at most one batch in flight, and
	// the gateway holds of a batch at most what the batch's responses
	// add up to, and never more than MaxBufferedBytes (the head streams,
	// the calls behind it buffer within the budget; serve leaves the
	// budget at its default). A buffered response sits in a bytes.Buffer,
	// whose capacity is at most twice its length. Clients check large
	// bodies as they stream, and the upstream writes them from one shared
	// block, so neither holds a body. On top of that, a fixed allowance
	// of 64 MiB for what does not depend on the responses: the
	// connections' bufio buffers (4 KiB each way, on the 64 client
	// connections, up to 64 × Concurrency = 512 gateway-to-upstream
	// connections and their server side), the reverse proxy's 32 KiB
	// copy buffer per call in flight (512 × 32 KiB = 16 MiB), request
	// bodies (each batch under 200 KiB, both in the client and in the
	// gateway's read buffer), pooled workers. The garbage collector lets
	// the heap grow to (1 + GOGC/100) times what is live before it
	// collects, so HeapInuse may reach that multiple of the live bound.
	budget := int64(batch.DefaultMaxBufferedBytes)
	var held int64
	for _, batches := range plan {
		var most int64
		for _, calls := range batches {
			var n int64
			for _, c := range calls {
				n += responseBytes(c)
			}
			most = max(most, min(n, budget))
		}
		held += 2 * most
	}
	const fixed = 64 << 20
	gcPercent := debug.SetGCPercent(100)
	debug.SetGCPercent(gcPercent) // only read it

	largeBlock() // made before the heap is measured
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapInuse
	bound := (heapBefore + uint64(held) + fixed) * uint64(100+gcPercent) / 100
	goroutinesBefore := runtime.NumGoroutine()

	var panics atomic.Int64
	upstreamPanicLog := &lineCounter{prefix: "http: panic serving"}
	up := httptest.NewUnstartedServer(loadUpstream(&panics))
	up.Config.ErrorLog = log.New(upstreamPanicLog, "", 0)
	// The upstream aborts its connections (RST) rather than closing them
	// (FIN) when a handler panics. With FIN, each of the hundreds of
	// panics leaves a TIME_WAIT socket on the upstream's side of the
	// loopback, and a later dial of the gateway's transport that picks
	// the same port is answered by it and retries its SYN a second later:
	// dials of a second, which only slow the run down.
	up.Listener = lingerListener{up.Listener}
	up.Start()
	upstreamClosed := false
	defer func() {
		if !upstreamClosed {
			up.Close()
		}
	}()

	upURL, err := url.Parse(up.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	// The reverse proxy logs an error for each panicking call: count
	// them rather than print hundreds of lines.
	proxyLog := &lineCounter{}
	inner := upstreamHandler(upURL, proxyLog)
	cfg := defaultConfig()
	cfg.upstream = upURL
	// serve's timeouts stay on, so that their code paths run (each call
	// on a goroutine of its own under -call-timeout), but long enough
	// never to fire: timing must not decide the outcome, and on a loaded
	// machine under -race a call can take more than the default minute
	// (it then answers 504, or its part is cut short if it streams, as
	// documented).
	cfg.readTimeout, cfg.writeTimeout, cfg.idleTimeout, cfg.callTimeout = time.Hour, time.Hour, time.Hour, time.Hour
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var glog gatewayLog
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, inner, cfg, &glog) }()
	batchURL := "http://" + ln.Addr().String() + cfg.path

	// The heap, sampled every few ms while the clients run.
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-tick.C:
			case <-stopSampling:
				return
			}
		}
	}()

	var progress atomic.Int64 // bytes the clients have received
	var failures atomic.Int64
	report := func(format string, args ...any) {
		if failures.Add(1) <= 10 {
			t.Errorf(format, args...)
		}
	}
	transports := make([]*http.Transport, loadClients)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range loadClients {
		tr := &http.Transport{}
		transports[c] = tr
		client := &http.Client{Transport: tr}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b, calls := range plan[c] {
				req, err := http.NewRequest(http.MethodPost, batchURL, bytes.NewReader(batchBody(calls)))
				if err != nil {
					report("client %d batch %d: %v", c, b, err)
					return
				}
				req.Header.Set("Content-Type", "multipart/mixed; boundary="+loadBoundary)
				resp, err := client.Do(req)
				if err != nil {
					report("client %d batch %d: %v", c, b, err)
					continue
				}
				resp.Body = progressBody{resp.Body, &progress}
				got, err := readParts(resp, calls)
				resp.Body.Close()
				if err != nil {
					report("client %d batch %d: %v", c, b, err)
				}
				want := make([]loadPart, len(calls))
				for i, call := range calls {
					want[i] = expect(call)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					report("client %d batch %d (-want +got):\n%s", c, b, diff)
				}
			}
		}()
	}
	clientsDone := make(chan struct{})
	go func() { wg.Wait(); close(clientsDone) }()
	tick := time.NewTicker(time.Second)
	for seen, since := int64(-1), time.Now(); ; {
		select {
		case <-clientsDone:
		case <-tick.C:
			if p := progress.Load(); p != seen {
				seen, since = p, time.Now()
			} else if time.Since(since) > loadStallAfter {
				t.Fatalf("the clients have received nothing for %v: stuck\n%s", loadStallAfter, goroutineDump())
			}
			continue
		}
		break
	}
	tick.Stop()
	elapsed := time.Since(start)
	close(stopSampling)
	<-sampled
	if n := failures.Load(); n > 10 {
		t.Errorf("... and %d more failed batches", n-10)
	}

	// Shut everything down, then count goroutines.
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(loadStallAfter):
		t.Fatalf("serve has not returned %v after its context was cancelled\n%s", loadStallAfter, goroutineDump())
	}
	up.Close()
	upstreamClosed = true
	gt := gatewayTransport(inner)
	if gt != nil {
		gt.CloseIdleConnections()
	} else {
		t.Logf("the gateway's transport is out of reach: its idle connections end with the upstream's")
	}
	for _, tr := range transports {
		tr.CloseIdleConnections()
	}
	// Every goroutine of ours must be gone; a goroutine of the runtime or
	// the testing package that comes and goes is waited for like ours.
	const slack = 0
	goroutinesAfter := runtime.NumGoroutine()
	for deadline := time.Now().Add(10 * time.Second); goroutinesAfter > goroutinesBefore+slack; goroutinesAfter = runtime.NumGoroutine() {
		if time.Now().After(deadline) {
			t.Errorf("%d goroutines before the test, %d 10s after everything was shut down:\n%s", goroutinesBefore, goroutinesAfter, goroutineDump())
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	if p := peak.Load(); p >= bound && gcPercent >= 0 { // no bound with GOGC=off
		t.Errorf("peak HeapInuse %.1f MiB, want under %.1f MiB", mib(p), mib(bound))
	}
	// The bound above allows for every client's largest batch at once;
	// the run sends only a few times more in all, so it would miss a
	// leak. The heap after the run shows one: once everything is shut
	// down, two collections (the second empties the sync.Pools) must find
	// the heap back where it was, give or take retainedSlack (about 2 MiB
	// is measured: fragmentation, the servers' and transports' leftovers).
	// Keeping a few of the large responses, or a few hundred bytes per
	// call, would exceed it.
	const retainedSlack = 8 << 20
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapAfter := ms.HeapInuse
	runtime.KeepAlive(plan)
	if heapAfter > heapBefore+retainedSlack {
		t.Errorf("HeapInuse %.1f MiB after the run, %.1f MiB before: %.1f MiB more, want under %d MiB",
			mib(heapAfter), mib(heapBefore), mib(heapAfter-heapBefore), retainedSlack>>20)
	}

	// serve logs a line per batch, counting its calls' statuses as the
	// inner handler answered them (a panic as 500), and nothing else:
	// neither the batch handler nor the server had an error to log.
	glog.mu.Lock()
	if glog.batches != loadClients*batches || glog.calls != totalCalls {
		t.Errorf("serve logged %d batches of %d calls in all, want %d of %d", glog.batches, glog.calls, loadClients*batches, totalCalls)
	}
	if diff := cmp.Diff(wantStatuses, glog.statuses); diff != "" {
		t.Errorf("statuses in serve's log (-want +got):\n%s", diff)
	}
	if len(glog.other) > 0 {
		t.Errorf("serve logged more than its batches:\n%s", strings.Join(glog.other, ""))
	}
	glog.mu.Unlock()
	t.Logf("%d clients × %d batches, %d calls (%v), %.0f MiB of responses in %v: %.0f calls/s, %.0f batches/s",
		loadClients, batches, totalCalls, kinds, mib(uint64(totalBytes)), elapsed.Round(time.Millisecond),
		float64(totalCalls)/elapsed.Seconds(), float64(loadClients*batches)/elapsed.Seconds())
	t.Logf("HeapInuse %.1f MiB before, peak %.1f MiB (bound %.1f MiB: %.1f MiB held at most, %d MiB fixed, GOGC=%d), %.1f MiB after; goroutines %d before, %d after; %d proxy log lines",
		mib(heapBefore), mib(peak.Load()), mib(bound), mib(uint64(held)), fixed>>20, gcPercent, mib(heapAfter), goroutinesBefore, goroutinesAfter, proxyLog.n.Load())
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

func (k loadKind) String() string {
	return [...]string{"fast", "slow", "fail", "missing", "panic", "broken", "echo", "large"}[k]
}
