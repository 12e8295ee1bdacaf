package batch

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// A response's head counts once in the budgets, however many of its
// writes wait for room with it. Here a goroutine of the handler fixes the
// head with WriteHeader while the batch has no room for it, and waits;
// the handler's Write, the first, waits too, for the head (which it finds
// uncounted) and its body. When room frees, both went on with the head's
// growth they measured before they waited, and each took it: the head
// counted twice (3106 bytes, as WriteHeader measured it, and 3351, as the
// Write did with the sniffed Content-Type, for a head of 3351). Now each
// measures again after a wait, and the second finds nothing left to
// count, or what the head grew by. What
// the budgets hold once both returned is compared with what the head and
// the body take (measureHead's bound, which TestMeasureHeadBoundsMemory
// measures against the heap).
func TestHandlerHeadCountedOnceWhileWaiting(t *testing.T) {
	const (
		budget = 64 << 10
		fill   = budget - 1<<10 // leaves no room for the big head
		body   = 1 << 10
	)
	big := strings.Repeat("b", 2000)
	release, filled := make(chan struct{}), make(chan struct{})
	waiting := make(chan *response, 1)
	type charged struct{ head, want, used int64 }
	got := make(chan charged, 1)
	var h *Handler
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow": // the head of the order, until the test lets it go
			<-release
		case "/fill":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(make([]byte, fill))
			close(filled)
		case "/big":
			<-filled
			rw := w.(*response)
			o := rw.out
			w.Header().Set("X-Big", big)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // waits for room for the head
				defer wg.Done()
				w.WriteHeader(http.StatusOK)
			}()
			// WriteHeader fixes the head and waits under one hold of
			// the lock: once the head is fixed, it waits.
			for fixed := false; !fixed; time.Sleep(time.Millisecond) {
				o.mu.Lock()
				fixed = rw.wroteHeader
				o.mu.Unlock()
			}
			waiting <- rw
			w.Write(make([]byte, body)) // sniffs, then waits for the head and the body
			wg.Wait()
			o.mu.Lock()
			got <- charged{rw.headMem, rw.measure().mem, h.shared.used.Load()}
			o.mu.Unlock()
		}
	})
	h = NewHandlerOptions(inner, HandlerOptions{MaxBufferedBytes: budget, Logger: discardSlog()})
	srv := httptest.NewServer(h)
	defer srv.Close()
	done := make(chan []gotPart, 1)
	go func() {
		done <- postBatch(t, srv.URL, batchBody(
			part("0", "GET /slow HTTP/1.1\r\n"),
			part("1", "GET /fill HTTP/1.1\r\n"),
			part("2", "GET /big HTTP/1.1\r\n")))
	}()
	rw := <-waiting
	// The Write sniffs its body's type and waits under one hold of the
	// lock too.
	waitFor(t, "the Write to wait for room", func() bool {
		rw.out.mu.Lock()
		defer rw.out.mu.Unlock()
		return rw.sniffed != ""
	})
	close(release) // the parts of /slow and /fill go out: room frees
	c := <-got
	parts := <-done
	if c.head != c.want {
		t.Errorf("the head counts %d bytes in the budgets, want %d, what it takes (measureHead)", c.head, c.want)
	}
	// The parts before it are written: the budgets hold its head and
	// body alone.
	if c.used != c.want+body {
		t.Errorf("the Handler's budget holds %d bytes, want %d: the head (%d) and the body (%d)", c.used, c.want+body, c.want, body)
	}
	var statuses []string
	for _, p := range parts {
		statuses = append(statuses, fmt.Sprint(p.Status))
	}
	if s := strings.Join(statuses, " "); s != "200 200 200" {
		t.Errorf("statuses %s, want 200 200 200", s)
	}
	if left := h.shared.used.Load(); left != 0 {
		t.Errorf("the Handler's budget holds %d bytes after the batch, want 0", left)
	}
}
