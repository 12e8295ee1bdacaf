package batch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// jsonGen draws a JSON text of objects and arrays whose keys and elements
// the paths of pathGen name (and of duplicate keys, and of numbers written
// in several ways).
func jsonGen(depth int) *rapid.Generator[string] {
	scalar := rapid.SampledFrom([]string{`0`, `1.50`, `-2e3`, `"s"`, `"\u00e9"`, `true`, `null`, `""`, `{}`, `[]`})
	if depth == 0 {
		return scalar
	}
	return rapid.Custom(func(t *rapid.T) string {
		switch rapid.IntRange(0, 2).Draw(t, "kind") {
		case 0:
			return scalar.Draw(t, "scalar")
		case 1:
			n := rapid.IntRange(0, 4).Draw(t, "n")
			var b strings.Builder
			b.WriteByte('[')
			for i := range n {
				if i > 0 {
					b.WriteString(" , ")
				}
				b.WriteString(jsonGen(depth-1).Draw(t, "el"))
			}
			b.WriteByte(']')
			return b.String()
		default:
			keys := rapid.SliceOfN(rapid.SampledFrom([]string{"a", "b", "0", "1", `a\u0062`}), 0, 4).Draw(t, "keys")
			var b strings.Builder
			b.WriteByte('{')
			for i, k := range keys {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%q:%s", k, jsonGen(depth-1).Draw(t, "val"))
			}
			b.WriteByte('}')
			return b.String()
		}
	})
}

// pathGen draws the path of a result reference.
var pathGen = rapid.SliceOfN(rapid.SampledFrom([]string{"a", "b", "ab", "0", "1", "+1", "01", "-1", "2"}), 0, 4)

// Decoding only the parts of a result that references use finds, for
// every reference, what decoding it whole finds: the same value, or the
// same error.
func TestDecodeResultAsWhole(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		text := jsonGen(3).Draw(t, "json")
		if rapid.Bool().Draw(t, "truncate") && len(text) > 1 {
			text = text[:rapid.IntRange(1, len(text)-1).Draw(t, "at")]
		}
		paths := rapid.SliceOfN(pathGen, 1, 4).Draw(t, "paths")
		var want *resultPaths
		for _, p := range paths {
			want = want.add(p)
		}
		whole := json.NewDecoder(strings.NewReader(text))
		whole.UseNumber()
		var all any
		wholeErr := whole.Decode(&all)
		dec := json.NewDecoder(strings.NewReader(text))
		dec.UseNumber()
		part, err := decodeResult(dec, []byte(text), want, unlimitedResults())
		if (wholeErr == nil) != (err == nil) {
			t.Fatalf("%q: decoded whole: %v; in part: %v", text, wholeErr, err)
		}
		if err != nil {
			return
		}
		for _, p := range paths {
			r := ref{text: "$result[x]", id: "x", path: p}
			wv, werr := lookup(all, r)
			pv, perr := lookup(part, r)
			if diff := cmp.Diff(fmt.Sprint(werr), fmt.Sprint(perr)); diff != "" {
				t.Fatalf("%q, path %q: error (-whole +part):\n%s", text, p, diff)
			}
			if diff := cmp.Diff(text2(wv), text2(pv)); diff != "" {
				t.Fatalf("%q, path %q: value (-whole +part):\n%s", text, p, diff)
			}
		}
	})
}

// text2 is v as substitution writes it, or a note that it is not there.
func text2(v any) string {
	if v == nil {
		return "<nil>"
	}
	return text(v)
}

// A large response referenced for one field of one element is not held
// whole: what stays in memory after decoding it is that element, where
// decoding it whole holds tens of times the text (an 8 MB array of
// numbers takes 450 MB as Go values).
func TestDecodeResultMemory(t *testing.T) {
	var b bytes.Buffer
	b.WriteByte('[')
	for range 1 << 20 {
		b.WriteString("0,")
	}
	b.WriteString(`{"id":"x","more":[1,2,3]}]`)
	held := func(want *resultPaths) (any, int64) {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		dec := json.NewDecoder(bytes.NewReader(b.Bytes()))
		dec.UseNumber()
		v, err := decodeResult(dec, b.Bytes(), want, unlimitedResults())
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		return v, int64(after.HeapAlloc) - int64(before.HeapAlloc)
	}
	r := ref{text: "$result[x][1048576][id]", id: "x", path: []string{"1048576", "id"}}
	part, partHeld := held((*resultPaths)(nil).add(r.path))
	pv, perr := lookup(part, r)
	all, wholeHeld := held(nil)
	wv, werr := lookup(all, r)
	if perr != nil || werr != nil || pv != "x" || wv != "x" {
		t.Fatalf("looked up in part %v, %v; in the whole %v, %v; want x", pv, perr, wv, werr)
	}
	if partHeld > 1<<20 || wholeHeld < 10*int64(b.Len()) {
		t.Errorf("%d bytes of JSON: %d bytes held for one element, %d for the whole", b.Len(), partHeld, wholeHeld)
	}
	t.Logf("%d bytes of JSON: %d bytes held for one element, %d for the whole", b.Len(), partHeld, wholeHeld)
	runtime.KeepAlive(part)
	runtime.KeepAlive(all)
}

// The Handler decodes of a referenced response only what its references
// use: while a later call runs, the batch holds the response's text (kept
// for the reference) and one element, not the Go values of the whole.
func TestHandlerHoldsOnlyReferencedResults(t *testing.T) {
	var big bytes.Buffer
	big.WriteByte('[')
	for range 1 << 20 {
		big.WriteString("0,")
	}
	big.WriteString(`{"id":"x"}]`)
	var grew int64
	var base runtime.MemStats
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/big" {
			w.Write(big.Bytes())
			return
		}
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		grew = int64(m.HeapAlloc) - int64(base.HeapAlloc)
		fmt.Fprintf(w, "%q", r.URL.Path)
	})
	body := batchBody(
		part("big", "GET /big HTTP/1.1\r\n"),
		part("use", "GET /use/$result[big][1048576][id] HTTP/1.1\r\n"),
	)
	h := NewHandlerOptions(inner, HandlerOptions{ResultReferences: true})
	runtime.GC()
	runtime.ReadMemStats(&base)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/batch", strings.NewReader(body))
	req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
	h.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), `"/use/x"`) {
		t.Fatalf("the reference was not substituted:\n%.500s", rec.Body.String())
	}
	// The text is 2 MiB, kept twice at most (the call's buffered body and
	// the kept one); decoded whole it would hold over 30 MiB.
	if grew > 12<<20 {
		t.Errorf("while the referencing call ran, the heap held %d MiB more than before the batch", grew>>20)
	}
}

// unlimitedResults is a resultBudget that any result fits.
func unlimitedResults() *resultBudget {
	var left atomic.Int64
	left.Store(math.MaxInt64 / 2)
	return &resultBudget{left: &left, shared: &sharedBudget{limit: math.MaxInt64}}
}

// valueCost is an upper bound on what a decoded result holds: for JSON of
// every shape that decodes to many small Go values (the costly ones), the
// heap that stays in use after decoding it whole is at most its cost.
func TestResultCostBoundsMemory(t *testing.T) {
	const n = 1 << 16
	list := func(elem string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(elem+",", n), ",") + "]"
	}
	var obj strings.Builder
	obj.WriteByte('{')
	for i := range n {
		if i > 0 {
			obj.WriteByte(',')
		}
		fmt.Fprintf(&obj, `"%d":1`, i)
	}
	obj.WriteByte('}')
	for name, doc := range map[string]string{
		"numbers":       list("0"),
		"empty arrays":  list("[]"),
		"empty objects": list("{}"),
		"small objects": list(`{"a":1}`),
		"nested":        list(`[0]`),
		"strings":       list(`""`),
		"escapes":       list(`"\"\\"`),
		"bools":         list("true"),
		"short strings": list(`"ab"`),
		"large object":  obj.String(),
		"grown object":  obj.String()[:strings.Index(obj.String(), `,"32769"`)] + "}",
		"long string":   `"` + strings.Repeat("a", 1<<20) + `"`,
	} {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		v, err := decodeResult(json.NewDecoder(strings.NewReader(doc)), []byte(doc), nil, unlimitedResults())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		// 256 KiB of slack for what else the process allocates meanwhile
		// (a goroutine an earlier test left, finishing).
		if cost := valueCost([]byte(doc)); held > cost+256<<10 {
			t.Errorf("%s: %d bytes of JSON held %d bytes decoded, over its cost %d", name, len(doc), held, cost)
		} else {
			t.Logf("%s: %d bytes of JSON held %d bytes decoded, %.2f of its cost", name, len(doc), held, float64(held)/float64(cost))
		}
		runtime.KeepAlive(v)
	}
}

// The results a batch's references decode count against MaxBufferedBytes
// until the batch ends: past it, a reference to one more fails its call
// with 424, and the batch goes on. Decoded whole, JSON takes tens of times
// its text: a 2 MiB response referenced by eight calls held 285 MiB.
func TestHandlerBoundsReferencedResults(t *testing.T) {
	// Each array's cost is 10001 bytes of text and 5000 elements at
	// elementCost: 330001 bytes. Three fit in 1 MiB; four do not.
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/arr" {
			io.WriteString(w, "["+strings.TrimSuffix(strings.Repeat("0,", 5000), ",")+"]")
			return
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, `{"len":%d}`, len(b))
	})
	var parts []string
	for i := range 6 {
		parts = append(parts, part(fmt.Sprint("a", i), "GET /arr HTTP/1.1\r\n"))
	}
	for i := range 6 {
		body := fmt.Sprintf(`{"all":"$result[a%d]"}`, i)
		parts = append(parts, part(fmt.Sprint("r", i), fmt.Sprintf("POST /use HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)))
	}
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{ResultReferences: true, MaxBufferedBytes: 1 << 20}, "/", nil, batchBody(parts...)))
	count := map[int]int{}
	for _, p := range got[6:] {
		count[p.Status]++
		if p.Status == 424 && !strings.Contains(p.Body, "MaxBufferedBytes") {
			t.Errorf("part %s: 424 %q does not say why", p.ContentID, p.Body)
		}
		if p.Status == 200 && p.Body != fmt.Sprintf(`{"len":%d}`, len(`{"all":[]}`)+2*5000-1) {
			t.Errorf("part %s: %q, want the whole array in its body", p.ContentID, p.Body)
		}
	}
	if diff := cmp.Diff(map[int]int{200: 3, 424: 3}, count); diff != "" {
		t.Errorf("the referencing calls' statuses, counted (-want +got):\n%s", diff)
	}
}

// valueCost looks at one value, to its end and no further, whatever
// follows it and whatever comes before it where a decoder's offset points
// (a colon, a comma, spaces): the cost of each element of a sparse array
// is not a scan of the rest of the array.
func TestValueCostOneValue(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := jsonGen(3).Draw(t, "json")
		before := rapid.SampledFrom([]string{"", " ", ":", " : ", ",", ", \n"}).Draw(t, "before")
		after := rapid.SampledFrom([]string{"", ",", "]", "}", " ", `,"x":[1,2,3]}`, ",0,0,0]"}).Draw(t, "after")
		alone := valueCost([]byte(v))
		if got := valueCost([]byte(before + v + after)); got != alone {
			t.Fatalf("%q: cost %d, %q alone: %d", before+v+after, got, v, alone)
		}
		if alone < int64(len(v)) {
			t.Fatalf("%q: cost %d, under its length", v, alone)
		}
	})
}
