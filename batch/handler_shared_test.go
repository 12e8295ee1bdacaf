package batch

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
	"pgregory.net/rapid"
)

// Tests of MaxTotalBufferedBytes: the response bytes all the batches of a
// Handler hold together, against clients that post batches of large
// responses and do not read them.

// sizedInner serves /SEED/SIZE/CHUNK with SIZE bytes of sizedBody(SEED),
// written CHUNK bytes at a time; a failed Write ends the call.
var sizedInner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	var seed, size, chunk int
	if _, err := fmt.Sscanf(r.URL.Path, "/%d/%d/%d", &seed, &size, &chunk); err != nil || chunk <= 0 {
		http.Error(w, "bad path "+r.URL.Path, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	b := sizedBodies.get(seed, size)
	for len(b) > 0 {
		n := min(chunk, len(b))
		if _, err := w.Write(b[:n]); err != nil {
			return
		}
		b = b[n:]
	}
})

// octetHead is what the head of a response whose one field is
// Content-Type: application/octet-stream (sizedInner's) counts in the
// budgets, which count the heads of the responses held as they count
// their bodies (see measureHead, and TestMeasureHeadBoundsMemory for the
// bound it is).
var octetHead = measureHead(http.Header{"Content-Type": {"application/octet-stream"}}).mem

// sizedBodies holds the bodies sizedInner answers, made once each (see
// sizedBody): the handler only reads them.
var sizedBodies bodyCache

type bodyCache struct{ m sync.Map }

func (c *bodyCache) get(seed, n int) []byte {
	key := [2]int{seed, n}
	if b, ok := c.m.Load(key); ok {
		return b.([]byte)
	}
	b, _ := c.m.LoadOrStore(key, sizedBody(seed, n))
	return b.([]byte)
}

// sizedBody is the body sizedInner answers for seed: n bytes of a pattern
// that differs from one seed to the next.
func sizedBody(seed, n int) []byte {
	b := make([]byte, n)
	// Runs of 97 bytes, each copied whole: under -race, a store per byte
	// cost the tests of stalled batches seconds for their 16 MiB.
	var runs [26][97]byte
	for c := range runs {
		for i := range runs[c] {
			runs[c][i] = byte('a' + c)
		}
	}
	for i := 0; i < n; i += 97 {
		copy(b[i:], runs[(seed+i/97)%26][:])
	}
	return b
}

// partSummary is how the tests compare a response part: its Content-ID,
// status, body length and a digest of the body (a diff of the bodies
// themselves would be MiB long).
func partSummary(cid string, status int, body []byte) string {
	sum := sha256.New()
	sum.Write(body)
	return digestSummary(cid, status, int64(len(body)), sum)
}

// digestSummary is partSummary for a body of n bytes whose digest is sum's.
func digestSummary(cid string, status int, n int64, sum hash.Hash) string {
	return fmt.Sprintf("%s %d %d bytes %x", cid, status, n, sum.Sum(nil)[:8])
}

// sizedBatch is a batch body of one call to sizedInner for each size, and
// the summaries of the parts that answer it; seed tells the batches apart.
func sizedBatch(seed int, sizes []int, chunk int) (body string, want []string) {
	return sizedBatchHead(seed, sizes, chunk, chunk)
}

// sizedBatchHead is sizedBatch with the first call writing headChunk bytes
// at a time.
func sizedBatchHead(seed int, sizes []int, chunk, headChunk int) (body string, want []string) {
	var parts []string
	for i, n := range sizes {
		s := seed*100 + i
		c := chunk
		if i == 0 {
			c = headChunk
		}
		parts = append(parts, part(strconv.Itoa(i), fmt.Sprintf("GET /%d/%d/%d HTTP/1.1\r\n", s, n, c)))
		want = append(want, partSummary("response-"+strconv.Itoa(i), 200, sizedBody(s, n)))
	}
	return batchBody(parts...), want
}

// smallBuffers is a listener whose connections have small socket send
// buffers: the writes to a client that does not read block after a few
// KiB, not after the MiB the kernel buffers on loopback.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4 << 10)
	}
	return c, err
}

// sharedServer serves h on a small-buffered loopback listener. Close it
// after every client connection is closed or read to its end: Close waits
// for the handlers, which write to them (a test registers it with
// t.Cleanup before stall does, so that it runs after the connections are
// closed).
func sharedServer(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	return srv
}

// rawBatch is a batch request on a connection of its own, whose response
// nothing reads until read is called. A deadline fails a batch that never
// ends (a deadlock) instead of hanging. (Its receive buffer is left alone:
// on loopback, where a segment may be 64 KiB, one of a few KiB stalls
// the connection on zero-window probes.)
type rawBatch struct{ conn net.Conn }

// rawDeadline is how long a rawBatch may take, written and read. It only
// turns a deadlock into a failure: under -race, on a machine whose page
// faults were slow (0.3 ms each, 170,000 of them for the race detector's
// shadow of the MiB these tests move), reading 8 stalled batches took
// over 20 s where it takes 1 s without.
const rawDeadline = 2 * time.Minute

func postRaw(addr, body string) (*rawBatch, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(rawDeadline))
	_, err = fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &rawBatch{c}, nil
}

// read reads the batch response, at most chunk bytes a read with pause
// after each (chunk 0: as fast as it comes), closes the connection, and
// returns the summaries of the parts.
func (b *rawBatch) read(chunk int, pause time.Duration) ([]string, error) {
	defer b.conn.Close()
	var r io.Reader = b.conn
	if chunk > 0 {
		r = &slowReader{r: b.conn, chunk: chunk, pause: pause}
	}
	resp, err := http.ReadResponse(bufio.NewReader(r), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("batch status %d", resp.StatusCode)
	}
	boundary, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	rd := mixed.NewReader(resp.Body, boundary)
	var out []string
	for {
		p, err := rd.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("part %d: %w", len(out), err)
		}
		m, err := mixed.NewMessageReader(p).ReadResponse("")
		if err != nil {
			return out, fmt.Errorf("part %d: %w", len(out), err)
		}
		// Summed as it streams: under -race, each MiB a test allocates
		// and frees costs the race detector page faults, which were
		// slow on some machines.
		sum := sha256.New()
		n, err := io.Copy(sum, m.Body)
		if err != nil {
			return out, fmt.Errorf("part %d: %w", len(out), err)
		}
		out = append(out, digestSummary(p.Header.Get("Content-ID"), m.StatusCode, n, sum))
	}
}

// slowReader reads at most chunk bytes at a time, pausing after each read:
// a client that reads slowly.
type slowReader struct {
	r     io.Reader
	chunk int
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p[:min(len(p), s.chunk)])
	time.Sleep(s.pause)
	return n, err
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	// As rawDeadline, a bound for a deadlock, not a measure of speed.
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
	}
}

// readRaw reads the responses of bs concurrently, each client reading as
// fast as it can, and compares each batch's parts with its want.
func readRaw(t *testing.T, bs []*rawBatch, wants [][]string) {
	t.Helper()
	got := make([][]string, len(bs))
	errs := make([]error, len(bs))
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = b.read(0, 0)
		}()
	}
	wg.Wait()
	for i := range bs {
		if errs[i] != nil {
			t.Errorf("batch %d: %v", i, errs[i])
		}
		if diff := cmp.Diff(wants[i], got[i]); diff != "" {
			t.Errorf("batch %d: parts (-want +got):\n%s", i, diff)
		}
	}
}

// stall posts n batches of calls with size-byte responses, written chunk
// bytes at a time, whose clients do not read; the test closes their
// connections when it ends, if it has not read them. With a size of 256
// KiB, more than the socket buffers take, the head of each batch cannot
// finish: its part streams and stops, and the calls behind it buffer. The
// head writes its response in one Write, over streamAfter, so that it
// streams at once and never counts against a budget: a head that buffered
// first would give its bytes back when it began to stream, after the
// budget looked full, and the calls of other batches could take them.
func stall(t *testing.T, addr string, seed, n, calls, size, chunk int) ([]*rawBatch, [][]string) {
	t.Helper()
	var bs []*rawBatch
	var wants [][]string
	sizes := make([]int, calls)
	for i := range sizes {
		sizes[i] = size
	}
	// The batches and what they answer first, then the connections,
	// whose deadlines start when they are made.
	var bodies []string
	for i := range n {
		body, want := sizedBatchHead(seed+i, sizes, chunk, size)
		bodies, wants = append(bodies, body), append(wants, want)
	}
	for _, body := range bodies {
		b, err := postRaw(addr, body)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.conn.Close() })
		bs = append(bs, b)
	}
	return bs, wants
}

// serveBesideStalled serves h and stalls n batches on it (see stall),
// returning once they fill perBatch of h's budget each (but for less than
// one of their 16 KiB writes): the test then
// posts its own batch beside them, reads the stalled ones (readRaw), and
// closes the server.
func serveBesideStalled(t *testing.T, h *Handler, n int, perBatch int64) (*httptest.Server, []*rawBatch, [][]string) {
	t.Helper()
	srv := sharedServer(h)
	t.Cleanup(srv.Close) // after the stalled connections close
	stalled, wants := stall(t, srv.Listener.Addr().String(), 0, n, 4, 256<<10, 16<<10)
	// Each fills its budget but for less than a write: the heads of its
	// calls take part of it.
	waitFor(t, "the stalled batches to fill their budgets", func() bool { return n == 0 || h.shared.used.Load() > int64(n)*(perBatch-16<<10) })
	return srv, stalled, wants
}

// checkBudgetSettled checks, once every batch of h has ended, that the
// Handler's budget holds nothing: every batch gave back what it took,
// without settleBudget's help.
func checkBudgetSettled(t interface{ Errorf(string, ...any) }, h *Handler) {
	if used, left := h.shared.used.Load(), h.leftover.Load(); used != 0 || left != 0 {
		t.Errorf("after the batches: %d bytes still counted in MaxTotalBufferedBytes, %d left over by batches that ended", used, left)
	}
}

// The attack MaxTotalBufferedBytes is for: batches of large GETs whose
// clients never read. Without it (a total their budgets all fit in) the
// Handler holds each batch's MaxBufferedBytes, 8 of them; with it, the
// batches together hold at most the total, a quarter of that. Once the
// clients read, every batch completes with every call's response.
func TestHandlerSharedBudgetBoundsStalledClients(t *testing.T) {
	const (
		batches, calls   = 8, 8
		size, chunk      = 256 << 10, 16 << 10
		perBatch, total  = 1 << 20, 2 << 20
		unboundedTotal   = 64 << 20
		heldWithoutTotal = batches * perBatch // 7 calls × 256 KiB behind each head: every budget fills
	)
	for _, tc := range []struct {
		name  string
		total int64
		fills int64 // what the stalled batches come to hold, but for less than a write (chunk) each budget
		short int64 // by how much less at most: a write for each budget that fills
	}{
		{"without", unboundedTotal, heldWithoutTotal, batches * chunk},
		{"with", total, total, chunk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHandlerOptions(sizedInner, HandlerOptions{MaxBufferedBytes: perBatch, MaxTotalBufferedBytes: tc.total, Concurrency: calls})
			srv := sharedServer(h)
			t.Cleanup(srv.Close) // after the stalled connections close
			bs, wants := stall(t, srv.Listener.Addr().String(), 0, batches, calls, size, chunk)
			waitFor(t, fmt.Sprintf("the stalled batches to hold %d bytes", tc.fills), func() bool { return h.shared.used.Load() > tc.fills-tc.short })
			time.Sleep(20 * time.Millisecond) // a write past the budget, were one let through, shows
			if peak := h.shared.peak.Load(); peak <= tc.fills-tc.short || peak > tc.fills {
				t.Errorf("the batches held %d bytes at most, want %d but for less than %d", peak, tc.fills, tc.short)
			}
			readRaw(t, bs, wants)
			if peak := h.shared.peak.Load(); peak > tc.total {
				t.Errorf("the batches held %d bytes at once, over MaxTotalBufferedBytes %d", peak, tc.total)
			}
			if peak := h.peakBuffered.Load(); peak > perBatch {
				t.Errorf("a batch held %d bytes, over MaxBufferedBytes %d", peak, perBatch)
			}
			srv.Close()
			checkBudgetSettled(t, h)
		})
	}
}

// While stalled batches hold all of MaxTotalBufferedBytes, a batch from a
// client that reads still completes: its head streams, buffering nothing,
// and each call behind it streams in its turn.
func TestHandlerSharedBudgetFreshBatchProgresses(t *testing.T) {
	const total = 512 << 10
	h := NewHandlerOptions(sizedInner, HandlerOptions{MaxBufferedBytes: 256 << 10, MaxTotalBufferedBytes: total, Concurrency: 8})
	srv := sharedServer(h)
	t.Cleanup(srv.Close) // after the stalled connections close
	addr := srv.Listener.Addr().String()
	stalled, wants := stall(t, addr, 0, 4, 6, 256<<10, 16<<10)
	// All of it but for less than a write: the heads of their calls take
	// part of it.
	full := func() bool { used := h.shared.used.Load(); return used > total-16<<10 && used <= total }
	waitFor(t, "the stalled batches to hold the whole budget", full)
	body, want := sizedBatch(50, []int{300 << 10, 200 << 10, 1 << 10, 500 << 10, 0, 100 << 10}, 8<<10)
	fresh, err := postRaw(addr, body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fresh.read(0, 0)
	if err != nil {
		t.Fatalf("the fresh batch: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the fresh batch's parts (-want +got):\n%s", diff)
	}
	if !full() {
		t.Errorf("after the fresh batch the stalled ones hold %d bytes, want all %d still (but for less than a write)", h.shared.used.Load(), total)
	}
	readRaw(t, stalled, wants)
	if peak := h.shared.peak.Load(); peak > total {
		t.Errorf("the batches held %d bytes at once, over MaxTotalBufferedBytes %d", peak, total)
	}
	srv.Close()
	checkBudgetSettled(t, h)
}

// Room that one batch gives back wakes the calls of another batch that
// wait for it: here a call behind a head that is still running, which
// nothing in its own batch would wake, gets to buffer its response and
// return as soon as the other batch's head lets its calls go out.
func TestHandlerSharedBudgetWakesOtherBatches(t *testing.T) {
	const total = 256 << 10
	gate, hold, returned := make(chan struct{}), make(chan struct{}), make(chan struct{})
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/hold":
			// The other batch's head: while it runs, the calls behind
			// it hold the budget, whatever the sockets let through (a
			// client that does not read stalls a head only once the
			// kernel's buffers, which grow, are full).
			<-hold
			io.WriteString(w, "held")
		case r.URL.Path == "/gate":
			<-gate
			io.WriteString(w, "head")
		case strings.HasPrefix(r.URL.Path, "/waiter"):
			r.URL.Path = strings.TrimPrefix(r.URL.Path, "/waiter")
			sizedInner(w, r)
			close(returned)
		default:
			sizedInner(w, r)
		}
	})
	h := NewHandlerOptions(inner, HandlerOptions{MaxBufferedBytes: total, MaxTotalBufferedBytes: total})
	srv := sharedServer(h)
	t.Cleanup(srv.Close) // after the stalled connections close
	addr := srv.Listener.Addr().String()
	var opened, released sync.Once
	open := func() { opened.Do(func() { close(gate) }) }
	release := func() { released.Do(func() { close(hold) }) }
	defer open()    // before srv.Close, which waits for the heads
	defer release() // the same
	held, err := postRaw(addr, batchBody(part("0", "GET /hold HTTP/1.1\r\n"), part("1", "GET /1/262144/16384 HTTP/1.1\r\n"), part("2", "GET /2/262144/16384 HTTP/1.1\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	stalled := []*rawBatch{held}
	wants := [][]string{{partSummary("response-0", 200, []byte("held")), partSummary("response-1", 200, sizedBody(1, 256<<10)), partSummary("response-2", 200, sizedBody(2, 256<<10))}}
	// All of it but for less than a write: the heads of its calls take
	// part of it, and the waiter's, as it does not fit, none.
	waitFor(t, "the held batch to hold the whole budget", func() bool { return h.shared.used.Load() > total-16<<10 })
	b, err := postRaw(addr, batchBody(part("0", "GET /gate HTTP/1.1\r\n"), part("1", "GET /waiter/7/65536/16384 HTTP/1.1\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	defer b.conn.Close()
	select {
	case <-returned:
		t.Fatal("the call behind the head returned while the budget was full")
	case <-time.After(20 * time.Millisecond):
	}
	release()
	readRaw(t, stalled, wants)
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("the room the held batch gave back never woke the call waiting in the other batch")
	}
	open()
	got, err := b.read(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{partSummary("response-0", 200, []byte("head")), partSummary("response-1", 200, sizedBody(7, 64<<10))}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
	srv.Close()
	checkBudgetSettled(t, h)
}

// A call waiting for room gives up at its deadline: its Write fails with
// http.ErrHandlerTimeout then, not when its batch next moves. Here nothing
// else would wake it: the batch's head is stuck writing to a client that
// does not read, and the call before it holds the whole budget.
func TestHandlerWaitEndsAtCallTimeout(t *testing.T) {
	const total = 64 << 10
	wrote := make(chan error, 1)
	var h *Handler
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fill":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(make([]byte, total-octetHead)) // its head fills the rest
		case "/wait":
			for h.shared.used.Load() < total { // after /fill
				time.Sleep(time.Millisecond)
			}
			_, err := w.Write([]byte("late"))
			wrote <- err
		default:
			sizedInner(w, r)
		}
	})
	h = NewHandlerOptions(inner, HandlerOptions{MaxBufferedBytes: total, MaxTotalBufferedBytes: total, CallTimeout: roomyCallTimeout, Logger: discardSlog()})
	srv := sharedServer(h)
	t.Cleanup(srv.Close) // after the connection closes
	b, err := postRaw(srv.Listener.Addr().String(), batchBody(
		part("0", "GET /0/1048576/16384 HTTP/1.1\r\n"),
		part("1", "GET /fill HTTP/1.1\r\n"),
		part("2", "GET /wait HTTP/1.1\r\n"),
	))
	if err != nil {
		t.Fatal(err)
	}
	defer b.conn.Close()
	select {
	case err := <-wrote:
		if err != http.ErrHandlerTimeout {
			t.Errorf("the waiting Write returned %v, want http.ErrHandlerTimeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting Write did not return at its call's deadline")
	}
}

// A result reference's decoded result counts against MaxTotalBufferedBytes
// too: with a stalled batch holding most of it, a result that fits the
// batch's own room but not what the Handler has left fails the call that
// references it with 424; without the stalled batch the same batch
// succeeds.
func TestHandlerSharedBudgetResults(t *testing.T) {
	const perBatch = 256 << 10
	// 2000 numbers: 4 KiB of text, which the head buffers and keeps, but
	// counted decoded at over 128 KiB (an element is 64 bytes).
	list := "[" + strings.Repeat("1,", 1999) + "1]"
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/list":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"list":`+list+`}`)
		case "/echo":
			w.Header().Set("Content-Type", "application/json")
			io.Copy(w, r.Body)
		default:
			sizedInner(w, r)
		}
	})
	body := batchBody(part("a", "GET /list HTTP/1.1\r\n"), part("b", jsonPart("POST", "/echo", `{"got":"$result[a][list]"}`)))
	for _, tc := range []struct {
		name    string
		stalled int
		want    []int
	}{
		{"alone", 0, []int{200, 200}},
		{"beside a stalled batch", 1, []int{200, 424}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The stalled batch fills its own budget, which leaves 64 KiB
			// of the total: room for the list's text, not its result.
			h := NewHandlerOptions(inner, HandlerOptions{ResultReferences: true, MaxBufferedBytes: perBatch, MaxTotalBufferedBytes: perBatch + 64<<10})
			srv, stalled, wants := serveBesideStalled(t, h, tc.stalled, perBatch)
			resp, err := http.Post(srv.URL, "multipart/mixed; boundary=b", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			got := readBatchResponse(t, resp)
			resp.Body.Close()
			if diff := cmp.Diff(tc.want, statuses(got)); diff != "" {
				t.Fatalf("statuses (-want +got):\n%s", diff)
			}
			if tc.want[1] == 424 {
				if !strings.Contains(got[1].Body, "MaxTotalBufferedBytes") {
					t.Errorf("the 424 says %q, not that the Handler's budget is full", got[1].Body)
				}
			} else if want := `{"got":` + list + `}`; got[1].Body != want {
				t.Errorf("the referencing call got %.80q, want %.80q", got[1].Body, want)
			}
			readRaw(t, stalled, wants)
			srv.Close()
			checkBudgetSettled(t, h)
		})
	}
}

// A changeset's responses are held until it ends, so they cannot wait for
// room: as past its batch's MaxBufferedBytes (TestHandlerChangesetOverBudget),
// one that does not fit what the Handler has left fails the changeset at
// that call, with 503 and a Retry-After (the server is busy: the call may
// succeed later, and batch.Client retries it), and the calls outside it
// still answer.
func TestHandlerSharedBudgetChangeset(t *testing.T) {
	const perBatch = 256 << 10
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/cs") {
			w.Write(make([]byte, 64<<10))
			return
		}
		sizedInner(w, r)
	})
	body := batchBody(changeset("cs",
		part("1", "GET /cs/1 HTTP/1.1\r\n"),
		part("2", "GET /cs/2 HTTP/1.1\r\n"),
	), part("3", "GET /9/1000/100 HTTP/1.1\r\n"))
	for _, tc := range []struct {
		name    string
		stalled int
		want    []string
	}{
		{"alone", 0, []string{"cs: response-1 200, response-2 200", "response-3 200"}},
		{"beside a stalled batch", 1, []string{"response-2 503 retry after 1", "response-3 200"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The stalled batch leaves 100 KiB of the total: room for one
			// of the changeset's responses, not for both.
			h := NewHandlerOptions(inner, HandlerOptions{Changesets: true, MaxBufferedBytes: perBatch, MaxTotalBufferedBytes: perBatch + 100<<10})
			srv, stalled, wants := serveBesideStalled(t, h, tc.stalled, perBatch)
			resp, err := http.Post(srv.URL, "multipart/mixed; boundary=b", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			boundary, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range readTree(t, resp.Body, boundary) {
				if p.Parts == nil {
					s := fmt.Sprintf("%s %d", p.ContentID, p.Status)
					if p.RetryAfter != "" {
						s += " retry after " + p.RetryAfter
					}
					got = append(got, s)
					continue
				}
				var members []string
				for _, m := range p.Parts {
					members = append(members, fmt.Sprintf("%s %d", m.ContentID, m.Status))
				}
				got = append(got, "cs: "+strings.Join(members, ", "))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parts (-want +got):\n%s", diff)
			}
			readRaw(t, stalled, wants)
			srv.Close()
			checkBudgetSettled(t, h)
		})
	}
}

// sharedPlan is one batch of the property: its calls' response sizes, the
// size of their writes, and how its client reads.
type sharedPlan struct {
	Sizes []int
	Chunk int
	Read  int // 0: at once, 1: after a while, 2: slowly
	Delay time.Duration
}

// Whatever the batches, the sizes of their responses and writes, the
// budgets and how fast each client reads: every batch completes (a
// deadlock fails its read at the connection's deadline) with every call's
// response, and the batches never hold more than MaxTotalBufferedBytes
// together nor MaxBufferedBytes each.
func TestHandlerSharedBudgetProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		perBatch := rapid.Int64Range(1<<10, 64<<10).Draw(t, "perBatch")
		total := rapid.Int64Range(1<<10, 128<<10).Draw(t, "total")
		conc := rapid.IntRange(1, 4).Draw(t, "concurrency")
		plans := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) sharedPlan {
			return sharedPlan{
				Sizes: rapid.SliceOfN(rapid.IntRange(0, 32<<10), 1, 6).Draw(t, "sizes"),
				Chunk: rapid.IntRange(1<<9, 16<<10).Draw(t, "chunk"),
				Read:  rapid.IntRange(0, 2).Draw(t, "read"),
				Delay: time.Duration(rapid.IntRange(0, 20).Draw(t, "delayMs")) * time.Millisecond,
			}
		}), 1, 5).Draw(t, "batches")
		h := NewHandlerOptions(sizedInner, HandlerOptions{MaxBufferedBytes: perBatch, MaxTotalBufferedBytes: total, Concurrency: conc})
		srv := sharedServer(h)
		defer srv.Close()
		addr := srv.Listener.Addr().String()
		got := make([][]string, len(plans))
		errs := make([]error, len(plans))
		wants := make([][]string, len(plans))
		var wg sync.WaitGroup
		for i, p := range plans {
			var body string
			body, wants[i] = sizedBatch(i, p.Sizes, p.Chunk)
			b, err := postRaw(addr, body)
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch p.Read {
				case 0:
					got[i], errs[i] = b.read(0, 0)
				case 1:
					time.Sleep(p.Delay)
					got[i], errs[i] = b.read(0, 0)
				default:
					got[i], errs[i] = b.read(2<<10, 100*time.Microsecond)
				}
			}()
		}
		wg.Wait()
		for i := range plans {
			if errs[i] != nil {
				t.Fatalf("batch %d (%+v): %v", i, plans[i], errs[i])
			}
			if diff := cmp.Diff(wants[i], got[i]); diff != "" {
				t.Fatalf("batch %d: parts (-want +got):\n%s", i, diff)
			}
		}
		srv.Close()
		if peak := h.shared.peak.Load(); peak > total {
			t.Fatalf("the batches held %d bytes at once, over MaxTotalBufferedBytes %d", peak, total)
		}
		if peak := h.peakBuffered.Load(); peak > perBatch {
			t.Fatalf("a batch held %d bytes, over MaxBufferedBytes %d", peak, perBatch)
		}
		checkBudgetSettled(t, h)
	})
}

// MaxTotalBufferedBytes's default is 8 × MaxBufferedBytes, after that
// one's default; DefaultMaxTotalBufferedBytes is the default of both.
func TestMaxTotalBufferedBytesDefault(t *testing.T) {
	for _, tc := range []struct{ perBatch, total, want int64 }{
		{0, 0, 256 << 20},
		{0, 0, DefaultMaxTotalBufferedBytes},
		{1 << 20, 0, 8 << 20},
		{1 << 20, 3 << 20, 3 << 20},
		{1 << 62, 0, 1<<63 - 1},
	} {
		h := NewHandlerOptions(sizedInner, HandlerOptions{MaxBufferedBytes: tc.perBatch, MaxTotalBufferedBytes: tc.total})
		if h.opts.MaxTotalBufferedBytes != tc.want || h.shared.limit != tc.want {
			t.Errorf("MaxBufferedBytes %d, MaxTotalBufferedBytes %d: the total is %d (budget %d), want %d", tc.perBatch, tc.total, h.opts.MaxTotalBufferedBytes, h.shared.limit, tc.want)
		}
	}
}
