package batch

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// callPlan is what one call's handler writes.
type callPlan struct {
	Head     bool  // a HEAD call
	SetLen   bool  // the handler sets Content-Length
	Flush    bool  // the handler flushes after each write
	Writes   []int // sizes of its writes
	Panics   bool  // it panics after writing
	Status   int
	Referred bool
}

// TestHandlerBudgetProperty: whatever the calls write, in whatever sizes,
// with whatever budget and concurrency, every part carries exactly its
// call's response, in order, and the batch never holds more than its
// budget plus one write.
func TestHandlerBudgetProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 12).Draw(t, "calls")
		limit := rapid.Int64Range(1<<10, 128<<10).Draw(t, "limit")
		conc := rapid.IntRange(1, 6).Draw(t, "concurrency")
		maxWrite := 0
		plans := make([]callPlan, n)
		for i := range plans {
			p := &plans[i]
			p.Head = rapid.IntRange(0, 9).Draw(t, "head") == 0
			p.SetLen = rapid.Bool().Draw(t, "setLen")
			p.Flush = rapid.IntRange(0, 4).Draw(t, "flush") == 0
			p.Writes = rapid.SliceOfN(rapid.IntRange(0, 48<<10), 0, 6).Draw(t, "writes")
			p.Panics = rapid.IntRange(0, 9).Draw(t, "panics") == 0
			p.Status = rapid.SampledFrom([]int{200, 201, 404, 500}).Draw(t, "status")
			for _, w := range p.Writes {
				maxWrite = max(maxWrite, w)
			}
		}
		body := func(i, n int) []byte {
			b := make([]byte, n)
			for j := range b {
				b[j] = "abcdefghijklmnopqrstuvwxyz"[(i+j/7)%26]
			}
			return b
		}
		inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			i, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
			p := plans[i]
			total := 0
			for _, n := range p.Writes {
				total += n
			}
			if p.SetLen {
				w.Header().Set("Content-Length", strconv.Itoa(total))
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(p.Status)
			off := 0
			for _, n := range p.Writes {
				chunk := body(i, off+n)[off:]
				off += n
				if _, err := w.Write(chunk); err != nil {
					panic(fmt.Sprintf("write: %v", err))
				}
				if p.Flush {
					w.(http.Flusher).Flush()
				}
			}
			if p.Panics {
				panic(http.ErrAbortHandler)
			}
		})
		h := NewHandlerOptions(inner, HandlerOptions{MaxBufferedBytes: limit, Concurrency: conc, Logger: discardSlog()})
		srv := httptest.NewServer(h)
		defer srv.Close()
		var parts []string
		for i, p := range plans {
			m := "GET"
			if p.Head {
				m = "HEAD"
			}
			parts = append(parts, part(strconv.Itoa(i), m+" /"+strconv.Itoa(i)+" HTTP/1.1\r\n"))
		}
		resp, err := http.Post(srv.URL, "multipart/mixed; boundary=b", strings.NewReader(batchBody(parts...)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got := readRawParts(t, resp)
		if len(got) != n {
			t.Fatalf("%d parts, want %d", len(got), n)
		}
		for i, p := range plans {
			total := 0
			for _, n := range p.Writes {
				total += n
			}
			want := string(body(i, total))
			status := p.Status
			if p.Head {
				want = "" // the part of a HEAD call has no body
			}
			// An abort before the part began to stream (which depends on
			// when the call reached the head) makes it a 500 of ours.
			panicked := "batch: the call's handler aborted its response\n"
			if p.Head {
				panicked = ""
			}
			ok := got[i].status == status && got[i].body == want ||
				p.Panics && got[i].status == 500 && got[i].body == panicked
			if !ok {
				t.Fatalf("call %d (%+v): status %d, %d body bytes; want %d, %d bytes", i, p, got[i].status, len(got[i].body), status, len(want))
			}
		}
		if peak := h.peakBuffered.Load(); peak > limit+int64(maxWrite)+64 {
			t.Fatalf("the batch held %d bytes, over the budget %d plus one write %d", peak, limit, maxWrite)
		}
	})
}

type rawPart struct {
	status int
	body   string
}

// readRawParts splits the parts of a batch response by hand, keeping
// each embedded response's body as it is on the wire.
func readRawParts(t *rapid.T, resp *http.Response) []rawPart {
	var out []rawPart
	for _, p := range splitParts(t, resp) {
		head, body, _ := strings.Cut(p, "\r\n\r\n")
		var status int
		fmt.Sscanf(head, "HTTP/1.1 %d", &status)
		out = append(out, rawPart{status, body})
	}
	return out
}

// splitParts returns the body of each part of a batch response.
func splitParts(t *rapid.T, resp *http.Response) []string {
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	ct := resp.Header.Get("Content-Type")
	boundary := ct[strings.Index(ct, "boundary=")+len("boundary="):]
	segs := bytes.Split(append([]byte("\r\n"), b...), []byte("\r\n--"+boundary))
	var out []string
	for _, s := range segs[1:] {
		if bytes.HasPrefix(s, []byte("--")) {
			break
		}
		_, rest, _ := bytes.Cut(s, []byte("\r\n\r\n")) // the part header
		out = append(out, string(rest))
	}
	return out
}

// measureHead's mem, what a head counts in the budgets, bounds the memory
// its fields hold, with the runtime as the oracle: the heap that n maps of
// each shape take, made as a handler makes them (names and values of
// their own, as a proxy copies its upstream's; fields Set, or Added one
// value at a time), is at most n times it. The shapes are those the bound
// is loosest and tightest for: one field, a table past its first group,
// 100 fields of a byte, a value of 60 KiB, values whose size class wastes
// the most (33 bytes take 48), many values of one name.
func TestMeasureHeadBoundsMemory(t *testing.T) {
	v := func(n int, seed int) string { return strings.Repeat(string(rune('a'+seed%26)), n) }
	for _, tc := range []struct {
		name  string
		n     int
		build func(i int) http.Header
	}{
		{"one field", 4000, func(i int) http.Header {
			h := make(http.Header)
			h.Set("Content-Type", "application/json")
			return h
		}},
		{"9 fields", 2000, func(i int) http.Header {
			h := make(http.Header)
			for j := range 9 {
				h.Set("X-F-"+strconv.Itoa(j), strconv.Itoa(i+1000))
			}
			return h
		}},
		{"100 fields of a byte", 400, func(i int) http.Header {
			h := make(http.Header)
			for j := range 100 {
				h["X-"+strconv.Itoa(j)] = []string{v(1, i)}
			}
			return h
		}},
		{"60 fields of 1 KiB", 100, func(i int) http.Header {
			h := make(http.Header)
			for j := range 60 {
				h["X-Field-"+strconv.Itoa(j)] = []string{v(1<<10, i)}
			}
			return h
		}},
		{"a value of 60 KiB", 100, func(i int) http.Header {
			h := make(http.Header)
			h.Set("X-Big", v(60<<10+1, i))
			return h
		}},
		{"names and values of 33 bytes", 1000, func(i int) http.Header {
			h := make(http.Header)
			for j := range 15 {
				h[v(31, j)+strconv.Itoa(10+j)] = []string{v(33, i)}
			}
			return h
		}},
		{"100 values of one name", 400, func(i int) http.Header {
			h := make(http.Header)
			for j := range 100 {
				h.Add("X-A", v(17, i+j))
			}
			return h
		}},
	} {
		bound := measureHead(tc.build(0)).mem
		held := make([]http.Header, tc.n)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range held {
			held[i] = tc.build(i)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / int64(tc.n)
		runtime.KeepAlive(held)
		t.Logf("%s: %d bytes each on the heap, counted %d", tc.name, per, bound)
		if per > bound {
			t.Errorf("%s: the fields hold %d bytes each, over the %d measureHead counts", tc.name, per, bound)
		}
	}
}
