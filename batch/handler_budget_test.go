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

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
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
	Fields   []int // sizes of the values of the header fields it sets
}

// planField is the value of header field j of call i, n bytes.
func planField(i, j, n int) string {
	return strings.Repeat(string(rune('A'+(i+j)%26)), n)
}

// TestHandlerBudgetProperty: whatever the calls write, in whatever sizes,
// whatever header fields they set, with whatever budget and concurrency,
// every part carries exactly its call's response, fields and body, in
// order; the batch never holds more than its budget but for the error
// responses of its own that panics make, which count without waiting; and
// it gives back all it took of the Handler's budget.
func TestHandlerBudgetProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 12).Draw(t, "calls")
		limit := rapid.Int64Range(1<<10, 128<<10).Draw(t, "limit")
		conc := rapid.IntRange(1, 6).Draw(t, "concurrency")
		plans := make([]callPlan, n)
		for i := range plans {
			p := &plans[i]
			p.Head = rapid.IntRange(0, 9).Draw(t, "head") == 0
			p.SetLen = rapid.Bool().Draw(t, "setLen")
			p.Flush = rapid.IntRange(0, 4).Draw(t, "flush") == 0
			p.Writes = rapid.SliceOfN(rapid.IntRange(0, 48<<10), 0, 6).Draw(t, "writes")
			p.Panics = rapid.IntRange(0, 9).Draw(t, "panics") == 0
			p.Status = rapid.SampledFrom([]int{200, 201, 404, 500}).Draw(t, "status")
			// Up to 32 KiB of fields: within the 64 KiB of a head, and
			// past many budgets.
			p.Fields = rapid.SliceOfN(rapid.IntRange(0, 4<<10), 0, 8).Draw(t, "fields")
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
			for j, n := range p.Fields {
				w.Header().Set("X-P-"+strconv.Itoa(j), planField(i, j, n))
			}
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
			// Its own answer, not the Handler's error response for a
			// panic, which may look the same (a HEAD call's 500).
			own := got[i].status == status && got[i].body == want && !(p.Panics && strings.Contains(got[i].head, "\r\nX-Content-Type-Options: nosniff\r\n"))
			ok := own || p.Panics && got[i].status == 500 && got[i].body == panicked
			if !ok {
				t.Fatalf("call %d (%+v): status %d, %d body bytes; want %d, %d bytes", i, p, got[i].status, len(got[i].body), status, len(want))
			}
			for j, n := range p.Fields {
				// Set trims the value as net/http writes it: an empty
				// one is "X-P-j: " then CRLF, without the space in a
				// part (fieldsOf trims).
				field := "\r\nX-P-" + strconv.Itoa(j) + ": " + planField(i, j, n) + "\r\n"
				if n == 0 {
					field = "\r\nX-P-" + strconv.Itoa(j) + ":"
				}
				if own && !strings.Contains(got[i].head, field) {
					t.Fatalf("call %d: its head lacks field %d (%d bytes):\n%.300q", i, j, n, got[i].head)
				}
			}
		}
		// An error response of the Handler's own (a panic's) counts
		// without waiting: its head and its message, well within 2 KiB.
		panics := 0
		for _, p := range plans {
			if p.Panics {
				panics++
			}
		}
		if peak := h.peakBuffered.Load(); peak > limit+int64(panics)*2<<10 {
			t.Fatalf("the batch held %d bytes, over the budget %d and 2 KiB for each of %d panics", peak, limit, panics)
		}
		srv.Close()
		checkBudgetSettled(t, h)
	})
}

type rawPart struct {
	status int
	head   string // the status line and the header fields, CRLF ended
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
		out = append(out, rawPart{status, head + "\r\n", body})
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

// headInner serves the calls of the tests of heads that do not fit:
// /small answers "small"; /body 64 KiB of body; the paths of sizedInner
// as it does; /head/HOW sets bigHeadFields fields of 1 KiB (41 KiB on the
// wire, within the 64 KiB of a head; over 50 KiB counted) and fixes its
// head HOW: "return" by returning, "status" by WriteHeader, "write" by
// writing "ok".
var headInner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/small":
		io.WriteString(w, "small")
		return
	case "/body":
		w.Write(make([]byte, 64<<10))
		return
	}
	if !strings.HasPrefix(r.URL.Path, "/head/") {
		sizedInner(w, r) // a stalled batch's
		return
	}
	for i := range bigHeadFields {
		w.Header()["X-Field-"+strconv.Itoa(i)] = []string{strings.Repeat("v", 1<<10)}
	}
	switch r.URL.Path {
	case "/head/status":
		w.WriteHeader(http.StatusCreated)
	case "/head/write":
		io.WriteString(w, "ok")
	}
})

const bigHeadFields = 40

// A held response whose head alone is over its batch's MaxBufferedBytes
// fails as one whose body is (a changeset's call whose body does not fit,
// served alike, is the oracle): 500, its changeset failed at it, whether
// its head was fixed by its handler's return, by WriteHeader or by a
// Write, in a multipart changeset and in an OData JSON atomicity group.
// Beside a batch that holds the Handler's budget, where the head fits its
// own batch's, it answers 503 with Retry-After, as a body does. Before the
// heads counted, every one of these calls succeeded.
func TestHandlerHeldHeadOverBudget(t *testing.T) {
	opts := HandlerOptions{Changesets: true, MaxBufferedBytes: 32 << 10, Concurrency: 1, Logger: discardSlog()}
	batchOf := func(path string) string {
		return batchBody(changeset("cs", part("1", "GET /small HTTP/1.1\r\n"), part("2", "GET "+path+" HTTP/1.1\r\n")), part("3", "GET /small HTTP/1.1\r\n"))
	}
	jsonOf := func(path string) string {
		return `{"requests":[{"id":"1","atomicityGroup":"g","method":"GET","url":"/small"},{"id":"2","atomicityGroup":"g","method":"GET","url":"` + path + `"},{"id":"3","method":"GET","url":"/small"}]}`
	}
	odata := http.Header{"Odata-Version": {"4.01"}, "Prefer": {"odata.continue-on-error"}}
	wantTree, _ := serveTree(t, headInner, opts, nil, batchOf("/body"))
	_, wantJSON := serveJSON(t, headInner, opts, "/$batch", odata, jsonOf("/body"))
	// The oracle is what the tests of bodies say it is.
	if len(wantTree) != 2 || wantTree[0].ContentID != "response-2" || wantTree[0].Status != 500 || len(wantJSON) != 3 || wantJSON[1].Status != 500 {
		t.Fatalf("a body over the budget: %+v, %+v; want call 2 failed with 500", wantTree, wantJSON)
	}
	for _, how := range []string{"return", "status", "write"} {
		path := "/head/" + how
		got, _ := serveTree(t, headInner, opts, nil, batchOf(path))
		if diff := cmp.Diff(wantTree, got); diff != "" {
			t.Errorf("multipart, head fixed by %s: parts (-as a body over the budget +got):\n%s", how, diff)
		}
		_, entries := serveJSON(t, headInner, opts, "/$batch", odata, jsonOf(path))
		if diff := cmp.Diff(wantJSON, entries); diff != "" {
			t.Errorf("OData JSON, head fixed by %s: responses (-as a body over the budget +got):\n%s", how, diff)
		}
	}

	// Busy: the batch's budget has room for the head, and the Handler's,
	// which a stalled batch holds, has not.
	const perBatch = 256 << 10
	h := NewHandlerOptions(headInner, HandlerOptions{Changesets: true, MaxBufferedBytes: perBatch, MaxTotalBufferedBytes: perBatch + 32<<10, Logger: discardSlog()})
	srv, stalled, wants := serveBesideStalled(t, h, 1, perBatch)
	resp, err := http.Post(srv.URL, "multipart/mixed; boundary=b", strings.NewReader(batchOf("/head/write")))
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
		got = append(got, fmt.Sprintf("%s %d %q, %d parts", p.ContentID, p.Status, p.RetryAfter, len(p.Parts)))
	}
	if diff := cmp.Diff([]string{`response-2 503 "1", 0 parts`, `response-3 200 "", 0 parts`}, got); diff != "" {
		t.Errorf("beside a stalled batch: parts (-want +got):\n%s", diff)
	}
	readRaw(t, stalled, wants)
	srv.Close()
	checkBudgetSettled(t, h)
}

// A call behind the head of the order whose head alone is over its
// batch's MaxBufferedBytes is not held: it waits for its turn, as a call
// whose body does not fit does, and answers in full, every field there.
func TestHandlerHeadOverBudgetWaitsItsTurn(t *testing.T) {
	for _, how := range []string{"return", "status", "write"} {
		h := NewHandlerOptions(headInner, HandlerOptions{MaxBufferedBytes: 32 << 10, Logger: discardSlog()})
		srv := httptest.NewServer(h)
		resp, err := http.Post(srv.URL, "multipart/mixed; boundary=b", strings.NewReader(batchBody(
			part("1", "GET /small HTTP/1.1\r\n"), part("2", "GET /head/"+how+" HTTP/1.1\r\n"), part("3", "GET /head/"+how+" HTTP/1.1\r\n"))))
		if err != nil {
			t.Fatal(err)
		}
		parts := readBatchResponse(t, resp)
		resp.Body.Close()
		srv.Close()
		var got []string
		for _, p := range parts {
			n := 0
			for k, v := range p.Header {
				if strings.HasPrefix(k, "X-Field-") && v == strings.Repeat("v", 1<<10) {
					n++
				}
			}
			got = append(got, fmt.Sprintf("%s %d, %d fields, %q", p.ContentID, p.Status, n, p.Body))
		}
		status, body := 200, ""
		switch how {
		case "status":
			status = 201
		case "write":
			body = "ok"
		}
		want := []string{`response-1 200, 0 fields, "small"`}
		for _, id := range []string{"2", "3"} {
			want = append(want, fmt.Sprintf("response-%s %d, %d fields, %q", id, status, bigHeadFields, body))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("head fixed by %s: parts (-want +got):\n%s", how, diff)
		}
		checkBudgetSettled(t, h)
	}
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
