package batch

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
)

// A response whose head no part can carry (over the 64 KiB or 100 fields
// a reader of the batch response takes, a 502 in its part) lets go of its
// fields when its call ends, not when its part is written: the heads of
// the calls behind a slow one are not held outside MaxBufferedBytes,
// which counts bodies only. A hostile client gets such heads out of an
// upstream that echoes a request field, which every call inherits from
// the batch request.
func TestHandlerDropsUnwritableHeads(t *testing.T) {
	const calls, echo = 160, 512 << 10
	value := strings.Repeat("x", echo)
	var done atomic.Int64
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			for done.Load() < calls-1 {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond) // the heap is sampled meanwhile
			return
		}
		switch r.URL.Path {
		case "/fields":
			for i := range 10000 {
				w.Header()[fmt.Sprint("X-", i)] = []string{strings.Clone(value[:50])}
			}
		default:
			w.Header().Set("X-Echo", strings.Clone(value)) // its own copy, as a transport's
		}
		w.Write([]byte("ok"))
		done.Add(1)
	})
	srv := httptest.NewServer(NewHandlerOptions(inner, HandlerOptions{}))
	defer srv.Close()
	parts := []string{part("0", "GET /slow HTTP/1.1\r\n")}
	for i := 1; i < calls; i++ {
		target := "/echo"
		if i%10 == 0 {
			target = "/fields"
		}
		parts = append(parts, part(fmt.Sprint(i), "GET "+target+" HTTP/1.1\r\n"))
	}
	// Garbage collected promptly: what is measured is what is held, not
	// what the collector's pacing (or the tests before this one) left.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak.Store(max(peak.Load(), m.HeapInuse))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	resp, err := http.Post(srv.URL, "multipart/mixed; boundary=b", strings.NewReader(batchBody(parts...)))
	if err != nil {
		t.Fatal(err)
	}
	got := readBatchResponse(t, resp)
	resp.Body.Close()
	close(stop)
	<-sampled
	if len(got) != calls || got[0].Status != 200 {
		t.Fatalf("%d parts, the first %+v", len(got), got[0])
	}
	for _, p := range got[1:] {
		if p.Status != http.StatusBadGateway || !strings.Contains(p.Body, "cannot be written") {
			t.Fatalf("part %s: %d %q, want the 502 of a head no part can carry", p.ContentID, p.Status, p.Body)
		}
	}
	// The heads are 80 MiB in all; the batch's budget is 32 MiB.
	if grew := int64(peak.Load()) - int64(base.HeapInuse); grew > 40<<20 {
		t.Errorf("the heap grew by %d MiB while the calls behind the slow one waited: their heads were held", grew>>20)
	}
}

// In a JSON batch too, a response head no multipart part could carry (over
// 64 KiB or 100 fields) answers 502 when its call ends: a headers object
// has no limit of its own, and the heads of the calls behind a slow one
// would be held outside MaxBufferedBytes, without any bound.
func TestHandlerJSONUnwritableHeads(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/large":
			w.Header().Set("X-Echo", strings.Repeat("x", 100<<10))
		case "/many":
			for i := range 150 {
				w.Header().Set(fmt.Sprint("X-", i), "v")
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok " + r.URL.Path))
	})
	show := func(b []byte) string {
		for _, e := range []error{mixed.ErrHeaderTooLarge, mixed.ErrTooManyFields} {
			if strings.Contains(string(b), "cannot be written: "+e.Error()) {
				return e.Error()
			}
		}
		return string(b)
	}
	for _, tc := range []struct {
		f     Format
		paths []string
		want  []string
	}{
		{FormatGraphJSON, []string{"/large", "/many", "/fine"}, []string{
			"502 application/json " + mixed.ErrHeaderTooLarge.Error(),
			"502 application/json " + mixed.ErrTooManyFields.Error(),
			"200 text/plain ok /fine",
		}},
		// OData halts at its first error: one call each.
		{FormatODataJSON, []string{"/large"}, []string{"502 application/json " + mixed.ErrHeaderTooLarge.Error()}},
		{FormatODataJSON, []string{"/many"}, []string{"502 application/json " + mixed.ErrTooManyFields.Error()}},
	} {
		srv := httptest.NewServer(NewHandlerOptions(inner, HandlerOptions{JSONFormat: tc.f}))
		got := getThrough(t, srv, tc.f, tc.paths, show)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%v: (-want +got):\n%s", tc.f, diff)
		}
		srv.Close()
	}
}
