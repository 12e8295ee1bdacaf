package batch

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// allocated runs f and returns the bytes it allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Header objects that cost the client little and the server much: an
// array of empty strings under a long name (3 bytes a field for the client,
// the name's length for the server), or 100000 keys. The fields stop at
// the head's limits while they are read.
func TestJSONAttackHeaderAmplification(t *testing.T) {
	var keys strings.Builder
	for i := range 100000 {
		if i > 0 {
			keys.WriteByte(',')
		}
		fmt.Fprintf(&keys, `"h%d":"v"`, i)
	}
	name := strings.Repeat("X", 4<<10)
	vals := strings.TrimSuffix(strings.Repeat(`"",`, 50000), ",")
	for _, tc := range []struct{ name, headers, want string }{
		{"array under a long name", `{"` + name + `":[` + vals + `]}`, "header"},
		{"many keys", `{` + keys.String() + `}`, "too many header fields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"requests":[{"id":"1","method":"GET","url":"/a","headers":` + tc.headers + `}]}`
			var rec *httptest.ResponseRecorder
			var got []jsonEntry
			n := allocated(func() { rec, got = serveJSON(t, echo(), HandlerOptions{}, "/$batch", nil, body) })
			if rec.Code != 200 || len(got) != 1 || got[0].Status != 400 || !strings.Contains(string(got[0].Body), tc.want) {
				t.Fatalf("code %d entries %+v", rec.Code, got)
			}
			if n > 16<<20 {
				t.Errorf("allocated %d MB for a %d KB body", n>>20, len(body)>>10)
			}
		})
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestJSONAttackTooManyCallsRefusedEarly(t *testing.T) {
	obj := `{"id":"x","method":"GET","url":"/a"},`
	body := `{"requests":[` + strings.Repeat(obj, 100000) + `{}]}`
	cr := &countingReader{r: strings.NewReader(body)}
	req := httptest.NewRequest("POST", "/$batch", cr)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	NewHandler(echo()).ServeHTTP(rec, req)
	if rec.Code != 400 {
		t.Fatalf("code %d: %s", rec.Code, rec.Body)
	}
	if cr.n > 64<<10 {
		t.Errorf("read %d bytes of a batch refused after 21 calls", cr.n)
	}
}

// encoding/json keeps the last of two requests arrays, matching the key
// without regard to case: a proxy reading the batch that way must not see
// other calls than the ones that run.
func TestJSONAttackRequestsTwice(t *testing.T) {
	for _, second := range []string{"requests", "Requests", "REQUESTS"} {
		body := `{"requests":[{"id":"1","method":"GET","url":"/a"}],"` + second + `":[{"id":"1","method":"DELETE","url":"/b"}]}`
		rec, _ := serveJSON(t, echo(), HandlerOptions{}, "/$batch", nil, body)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), "twice") {
			t.Errorf("%s: code %d: %s", second, rec.Code, rec.Body)
		}
	}
	// One array under another spelling is the requests array, as
	// encoding/json reads it.
	rec, got := serveJSON(t, echo(), HandlerOptions{}, "/$batch", nil, `{"Requests":[{"id":"1","method":"GET","url":"/a"}]}`)
	if rec.Code != 200 || len(got) != 1 || got[0].Status != 200 {
		t.Errorf("Requests: code %d %+v", rec.Code, got)
	}
}

func TestJSONAttackQuadraticDependsOn(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"requests":[`)
	for i := range 1000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%d","method":"GET","url":"/a","dependsOn":[`, i)
		for j := range i {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%d"`, j)
		}
		b.WriteString(`]}`)
	}
	b.WriteString(`]}`)
	start := time.Now()
	var rec *httptest.ResponseRecorder
	var got []jsonEntry
	n := allocated(func() {
		rec, got = serveJSON(t, echo(), HandlerOptions{}, "/$batch", odataHeader, b.String())
	})
	if rec.Code != 200 || len(got) != 1000 || got[999].Status != 200 {
		t.Fatalf("code %d, %d entries", rec.Code, len(got))
	}
	// Linear in the dependsOn entries (half a million): tens of bytes,
	// and well under a second, each.
	if n > 64<<20 {
		t.Errorf("allocated %d MB for a %d KB body", n>>20, b.Len()>>10)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestHandlerMultipartOnly(t *testing.T) {
	var calls atomic.Int32
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, "ok")
	})
	h := NewHandlerOptions(inner, HandlerOptions{MultipartOnly: true, JSONFormat: FormatODataJSON})
	for _, ct := range []string{"application/json", "application/json;odata.metadata=minimal"} {
		req := httptest.NewRequest("POST", "/$batch", strings.NewReader(`{"requests":[{"id":"a","method":"GET","url":"/x"}]}`))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("OData-Version", "4.01")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest || calls.Load() != 0 {
			t.Errorf("%s: status %d, %d calls run: %s", ct, rec.Code, calls.Load(), rec.Body)
		}
	}
	// Multipart goes on as ever.
	req := httptest.NewRequest("POST", "/batch", strings.NewReader("--b\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nGET /x HTTP/1.1\r\n\r\n\r\n--b--\r\n"))
	req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || calls.Load() != 1 || !strings.Contains(rec.Body.String(), "\r\n\r\nok") {
		t.Errorf("multipart: status %d, %d calls: %q", rec.Code, calls.Load(), rec.Body)
	}
}

// entryStatuses is the status of each entry, by id.
func entryStatuses(entries []jsonEntry) map[string]int {
	m := map[string]int{}
	for _, e := range entries {
		m[e.ID] = e.Status
	}
	return m
}

func TestJSONAttackDependsOnRules(t *testing.T) {
	body := `{"requests":[
		{"id":"self","method":"GET","url":"/a","dependsOn":["self"]},
		{"id":"fwd","method":"GET","url":"/a","dependsOn":["later"]},
		{"id":"unknown","method":"GET","url":"/a","dependsOn":["nobody"]},
		{"id":"cycle1","method":"GET","url":"/a","dependsOn":["cycle2"]},
		{"id":"cycle2","method":"GET","url":"/a","dependsOn":["cycle1"]},
		{"id":"later","method":"GET","url":"/a"},
		{"id":"later","method":"GET","url":"/dup"},
		{"id":"onDup","method":"GET","url":"/a","dependsOn":["later"]},
		{"id":"ok","method":"GET","url":"/a","dependsOn":["later","later"]},
		{"id":"onBad","method":"GET","url":"/a","dependsOn":["ok","self"]}
	]}`
	hdr := http.Header{"Odata-Version": {"4.01"}, "Prefer": {"continue-on-error"}}
	rec, got := serveJSON(t, echo(), HandlerOptions{}, "/$batch", hdr, body)
	if rec.Code != 200 {
		t.Fatalf("code %d: %s", rec.Code, rec.Body)
	}
	// The duplicate "later" is a second entry of that id: check the order.
	var order []string
	var codes []int
	for _, e := range got {
		order = append(order, e.ID)
		codes = append(codes, e.Status)
	}
	if diff := cmp.Diff([]string{"self", "fwd", "unknown", "cycle1", "cycle2", "later", "later", "onDup", "ok", "onBad"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{400, 400, 400, 400, 424, 200, 400, 200, 200, 424}, codes); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	// An error names the request, or the dependency, it is about.
	for _, e := range got {
		if e.Status >= 400 && !strings.Contains(string(e.Body), e.ID) && !strings.Contains(string(e.Body), "cycle1") && !strings.Contains(string(e.Body), "self") {
			t.Errorf("%s: the error does not name the request: %s", e.ID, e.Body)
		}
	}
}

// blockUntilDone answers /slow only when its request's context ends, and
// anything else at once.
func blockUntilDone() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done()
			return
		}
		io.WriteString(w, "ok")
	})
}

func TestJSONAttackDependencyTimesOut(t *testing.T) {
	body := `{"requests":[
		{"id":"a","method":"GET","url":"/slow"},
		{"id":"b","method":"GET","url":"/x","dependsOn":["a"]},
		{"id":"c","method":"GET","url":"/x"}
	]}`
	start := time.Now()
	// c meets the deadline, however slowly it is scheduled.
	rec, got := serveJSON(t, blockUntilDone(), HandlerOptions{CallTimeout: roomyCallTimeout}, "/$batch", nil, body)
	if rec.Code != 200 {
		t.Fatalf("code %d: %s", rec.Code, rec.Body)
	}
	if diff := cmp.Diff(map[string]int{"a": 504, "b": 424, "c": 200}, entryStatuses(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestJSONAttackClientGoneWhileDependentsWait(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"requests":[{"id":"a","method":"GET","url":"/slow"}`)
	for i := range 50 {
		fmt.Fprintf(&b, `,{"id":"w%d","method":"GET","url":"/x","dependsOn":["a"]}`, i)
	}
	b.WriteString(`]}`)
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("POST", "/$batch", strings.NewReader(b.String())).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewHandlerOptions(blockUntilDone(), HandlerOptions{MaxCalls: 100}).ServeHTTP(httptest.NewRecorder(), req)
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the batch still runs 5s after its client went away")
	}
}

// hostileJSON is a batch server that answers every batch with body.
func hostileJSON(body string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
}

// outcomes is what each call of b came to: its status, or its error.
func outcomes(t *testing.T, b *Batch) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, c := range b.Calls() {
		resp, err := c.Wait(context.Background())
		if err != nil {
			got[c.ID()] = "error: " + err.Error()
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		got[c.ID()] = fmt.Sprintf("%d %s", resp.StatusCode, body)
	}
	return got
}

// A server that answers a call twice, or calls nobody asked for, or not at
// all: as in a multipart response, a call answered twice keeps neither
// answer (which one is its own cannot be told), in an atomicity group the
// whole group; Do reports the mismatch, which the calls without an answer
// share; the calls answered once keep their answers.
func TestClientJSONAttackDuplicateAndMissingAnswers(t *testing.T) {
	srv := hostileJSON(`{"responses":[
		{"id":"1","atomicityGroup":"g","status":201,"body":{"n":1}},
		{"id":"2","atomicityGroup":"g","status":201,"body":{"n":2}},
		{"id":"2","atomicityGroup":"g","status":500,"body":{"n":"again"}},
		{"id":"9","status":200,"body":{"n":9}},
		{"id":"3","status":200,"body":{"n":3}},
		{"id":"3","status":500,"body":{"n":"again"}},
		{"id":"3","status":200,"body":{"n":"third"}},
		{"id":"5","status":200,"body":{"n":5}}
	]}`)
	defer srv.Close()
	c := &Client{Endpoint: srv.URL + "/$batch", Format: FormatODataJSON}
	b := c.NewBatch()
	cs := b.Changeset()
	cs.Add(jsonRequest(t, "POST", "/a", `{}`), "1")
	cs.Add(jsonRequest(t, "POST", "/a", `{}`), "2")
	b.Add(jsonRequest(t, "GET", "/a", ""), "3")
	b.Add(jsonRequest(t, "GET", "/a", ""), "4")
	b.Add(jsonRequest(t, "GET", "/a", ""), "5")
	err := b.Do(context.Background())
	if !errors.Is(err, ErrResponseMismatch) {
		t.Fatalf("Do: %v, want ErrResponseMismatch", err)
	}
	mismatch := "error: " + err.Error()
	got := outcomes(t, b)
	want := map[string]string{
		"1": mismatch,
		"2": mismatch,
		"3": mismatch,
		"4": mismatch,
		"5": `200 {"n":5}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, what := range []string{`call "2" answered twice`, `call "3" answered twice`, `a response for no call (id "9")`} {
		if !strings.Contains(err.Error(), what) {
			t.Errorf("Do's error %q does not say %s", err, what)
		}
	}
}

// A response object larger than MaxResponseBytes allows, a JSON body or a
// base64 one, ends the batch with ErrResponseTooLarge once that much is
// read, not when the server stops.
func TestClientJSONAttackHugeResponse(t *testing.T) {
	for _, tc := range []struct{ name, open, fill, close string }{
		{"JSON body", `{"responses":[{"id":"1","status":200,"headers":{"content-type":"application/json"},"body":[`, `0,`, `0]}]}`},
		{"base64 body", `{"responses":[{"id":"1","status":200,"body":"`, `AAAA`, `"}]}`},
		{"header value", `{"responses":[{"id":"1","status":200,"headers":{"x":"`, `aaaa`, `"}}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tc.open)
				chunk := strings.Repeat(tc.fill, 16<<10)
				for range 1 << 10 { // 64 MiB at most
					n, err := io.WriteString(w, chunk)
					sent.Add(int64(n))
					if err != nil {
						return
					}
				}
				io.WriteString(w, tc.close)
			}))
			defer srv.Close()
			c := &Client{Endpoint: srv.URL + "/$batch", Format: FormatGraphJSON, MaxResponseBytes: 1 << 20}
			b := c.NewBatch()
			b.Add(jsonRequest(t, "GET", "/a", ""), "1")
			b.Do(context.Background())
			_, err := b.Calls()[0].Wait(context.Background())
			if !errors.Is(err, ErrResponseTooLarge) {
				t.Errorf("err %v, want ErrResponseTooLarge", err)
			}
			if n := sent.Load(); n > 32<<20 {
				t.Errorf("the server wrote %d MiB before the client stopped", n>>20)
			}
		})
	}
}

// MaxJSONDepth counts every value of a request object, not only its body:
// encoding/json would otherwise let an unknown key nest 10000 deep.
func TestJSONAttackDepthOutsideBody(t *testing.T) {
	for _, tc := range []struct {
		depth int
		want  int
	}{{8, 200}, {9, 400}} {
		deep := strings.Repeat("[", tc.depth) + strings.Repeat("]", tc.depth)
		for _, key := range []string{"x", "body"} {
			body := `{"requests":[{"id":"1","method":"POST","url":"/a","` + key + `":` + deep + `}]}`
			rec, got := serveJSON(t, echo(), HandlerOptions{MaxJSONDepth: 10}, "/$batch", nil, body)
			if rec.Code != 200 || len(got) != 1 || got[0].Status != tc.want {
				t.Errorf("%s nested %d deep: code %d %+v, want an entry %d", key, tc.depth, rec.Code, got, tc.want)
			}
		}
	}
}

// JSON escapes reach every string of a request object: none of them may
// write a field, a request line or a body of its own into the call.
func TestJSONAttackInjection(t *testing.T) {
	seen := make(chan string, 1)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- fmt.Sprintf("%s %s %q %q", r.Method, r.URL.RequestURI(), r.Header.Values("X-Evil"), b)
	})
	for _, tc := range []struct{ obj, want string }{
		{`{"id":"1","method":"GET","url":"/a","headers":{"X-A":"v\r\nX-Evil: 1"}}`, `400 control character`},
		{`{"id":"1","method":"GET","url":"/a","headers":{"X-A":"v\nX-Evil: 1"}}`, `400 control character`},
		{`{"id":"1","method":"GET","url":"/a","headers":{"X-A":"v\u0000X-Evil: 1"}}`, `400 control character`},
		{`{"id":"1","method":"GET","url":"/a","headers":{"X-A\r\nX-Evil":"1"}}`, `400 is not a token`},
		{`{"id":"1","method":"GET","url":"/a","headers":{"X-A: x\r\nX-Evil":"1"}}`, `400 is not a token`},
		{`{"id":"1","method":"GET /b HTTP/1.1\r\nX-Evil: 1\r\n\r\nGET","url":"/a"}`, `400 is not a token`},
		{`{"id":"1","method":"GET","url":"/a HTTP/1.1\r\nX-Evil: 1\r\n\r\n"}`, `GET /a%20HTTP/1.1%0D%0AX-Evil:%201%0D%0A%0D%0A [] ""`},
		{`{"id":"1","method":"POST","url":"/a","headers":{"Content-Type":"text/plain","Content-Length":"1"},"body":"YWJj"}`, `POST /a [] "abc"`},
		{`{"id":"1","method":"GET","url":"/a","headers":{"Host":"evil.example"}}`, `400 not the batch endpoint`},
		{`{"id":"1","method":"GET","url":"http://evil.example/a"}`, `400 not on the batch endpoint`},
		{`{"id":"1","method":"GET","url":"//evil.example/a"}`, `400 not on the batch endpoint`},
		{`{"id":"1","method":"GET","url":"/a/../../etc"}`, `GET /etc [] ""`},
	} {
		rec, got := serveJSON(t, inner, HandlerOptions{}, "/$batch", nil, `{"requests":[`+tc.obj+`]}`)
		if rec.Code != 200 || len(got) != 1 {
			t.Errorf("%s: code %d %+v", tc.obj, rec.Code, got)
			continue
		}
		var s string
		select {
		case s = <-seen:
		default:
			var e struct{ Error struct{ Message string } }
			json.Unmarshal(got[0].Body, &e)
			s = fmt.Sprintf("%d %s", got[0].Status, e.Error.Message)
		}
		// want is the status or method, then what the rest holds.
		first, rest, _ := strings.Cut(tc.want, " ")
		if !strings.HasPrefix(s, first+" ") || !strings.Contains(s, rest) {
			t.Errorf("%s: got %s, want %s", tc.obj, s, tc.want)
		}
	}
}

// A $id url names an earlier request: one naming itself or a later one is
// refused, as in a multipart changeset, not sent on as the path $id; one
// naming no request ($metadata) is a path.
func TestJSONAttackLocationAhead(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/made")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(r.URL.RequestURI())
	})
	body := `{"requests":[
		{"id":"self","method":"GET","url":"$self/x"},
		{"id":"fwd","method":"GET","url":"$later"},
		{"id":"meta","method":"GET","url":"$metadata"},
		{"id":"later","method":"GET","url":"/a"},
		{"id":"back","method":"GET","url":"$later/x"},
		{"id":"g1","atomicityGroup":"g","method":"GET","url":"$g2"},
		{"id":"g2","atomicityGroup":"g","method":"GET","url":"/b"}
	]}`
	hdr := http.Header{"Odata-Version": {"4.01"}, "Prefer": {"continue-on-error"}}
	rec, got := serveJSON(t, inner, HandlerOptions{}, "/svc/$batch", hdr, body)
	if rec.Code != 200 {
		t.Fatalf("code %d: %s", rec.Code, rec.Body)
	}
	var out []string
	for _, e := range got {
		var b string
		json.Unmarshal(e.Body, &b)
		if e.Status >= 400 {
			var er struct{ Error struct{ Message string } }
			json.Unmarshal(e.Body, &er)
			b = er.Error.Message
		}
		out = append(out, fmt.Sprintf("%s %d %s", e.ID, e.Status, b))
	}
	want := []string{
		`self 400 request 0 (id "self"): batch: bad request object in a JSON batch: url $self names request 0, not an earlier one`,
		`fwd 400 request 1 (id "fwd"): batch: bad request object in a JSON batch: url $later names request 3, not an earlier one`,
		`meta 200 /svc/$metadata`,
		`later 200 /a`,
		`back 200 /made/x`,
		`g1 400 request 5 (id "g1"): batch: bad request object in a JSON batch: url $g2 names request 6, not an earlier one`,
		`g2 400 request 5 (id "g1"): batch: bad request object in a JSON batch: url $g2 names request 6, not an earlier one`,
	}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A response object of a changeset's call that cannot be read leaves the
// group's outcome unknown: both calls say so, neither is a success nor a
// rollback.
func TestClientJSONAttackUnreadableGroupAnswer(t *testing.T) {
	srv := hostileJSON(`{"responses":[
		{"id":"1","atomicityGroup":"g","status":0},
		{"id":"2","atomicityGroup":"g","status":700}
	]}`)
	defer srv.Close()
	c := &Client{Endpoint: srv.URL + "/$batch", Format: FormatODataJSON}
	b := c.NewBatch()
	cs := b.Changeset()
	cs.Add(jsonRequest(t, "POST", "/a", `{}`), "1")
	cs.Add(jsonRequest(t, "POST", "/a", `{}`), "2")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"1": `error: batch: call "1": response status 0`,
		"2": `error: batch: call "1": response status 0`,
	}
	if diff := cmp.Diff(want, outcomes(t, b)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// One request with a long id that fails, and many that answer 424 because
// of it (halted, or depending on it): each 424 names the failed request by
// a clipped id, so the response stays the size of the request, not the
// id's length times the calls.
func TestJSONAttackLongIDInEveryError(t *testing.T) {
	long := strings.Repeat("i", 64<<10)
	for _, tc := range []struct {
		name string
		hdr  http.Header
		dep  string
	}{
		{"halted", odataHeader, ``},
		{"dependsOn", http.Header{"Odata-Version": {"4.01"}, "Prefer": {"continue-on-error"}}, `,"dependsOn":["` + long + `"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString(`{"requests":[{"id":"` + long + `","method":"GET"}`)
			for i := range 200 {
				fmt.Fprintf(&b, `,{"id":"%d","method":"GET","url":"/a"%s}`, i, tc.dep)
			}
			b.WriteString(`]}`)
			rec, got := serveJSON(t, echo(), HandlerOptions{}, "/$batch", tc.hdr, b.String())
			if rec.Code != 200 || len(got) != 201 || got[200].Status != 424 {
				t.Fatalf("code %d, %d entries", rec.Code, len(got))
			}
			if !strings.Contains(string(got[200].Body), strings.Repeat("i", maxQuotedID)+"…") {
				t.Errorf("the 424 does not name the failed request: %s", got[200].Body)
			}
			if in, out := b.Len(), rec.Body.Len(); out > 2*in+200<<10 {
				t.Errorf("%d bytes answer %d", out, in)
			}
		})
	}
}

// A $id url names a request of its own batch only: the Handler's pooled
// state keeps nothing of an earlier batch's ids or Locations.
func TestJSONAttackLocationAcrossBatches(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/secret"+r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(r.URL.RequestURI())
	})
	h := NewHandler(inner)
	serve := func(body string) []jsonEntry {
		req := httptest.NewRequest("POST", "/svc/$batch", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out struct{ Responses []jsonEntry }
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%v: %s", err, rec.Body)
		}
		return out.Responses
	}
	first := serve(`{"requests":[{"id":"1","method":"POST","url":"/made"},{"id":"2","method":"GET","url":"$1/x"}]}`)
	second := serve(`{"requests":[{"id":"2","method":"GET","url":"$1/x"}]}`)
	var got []string
	for _, e := range append(first, second...) {
		got = append(got, fmt.Sprintf("%s %d %s", e.ID, e.Status, e.Body))
	}
	want := []string{`1 200 "/made"`, `2 200 "/secret/made/x"`, `2 200 "/svc/$1/x"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A response object's headers are a response head: no more fields, nor
// bytes, than a multipart response part's head may have, whatever room
// MaxResponseBytes leaves the object.
func TestClientJSONAttackResponseHeaders(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"responses":[{"id":"1","status":200,"headers":{`)
	for i := range 200000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"h%d":"v"`, i)
	}
	b.WriteString(`}},{"id":"2","status":200,"headers":{"x":"` + strings.Repeat("v", 100<<10) + `"}},{"id":"3","status":200,"headers":{"x":"v"}}]}`)
	srv := hostileJSON(b.String())
	defer srv.Close()
	c := &Client{Endpoint: srv.URL + "/$batch", Format: FormatGraphJSON}
	bt := c.NewBatch()
	for _, id := range []string{"1", "2", "3"} {
		bt.Add(jsonRequest(t, "GET", "/a", ""), id)
	}
	var got map[string]string
	n := allocated(func() {
		if err := bt.Do(context.Background()); err != nil {
			t.Fatal(err)
		}
		got = outcomes(t, bt)
	})
	want := map[string]string{
		"1": `error: batch: call "1": response headers: mixed: too many header fields: more than 100`,
		"2": `error: batch: call "2": response headers: mixed: header block too large: more than 65536 bytes`,
		"3": `200 `,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if n > 32<<20 {
		t.Errorf("allocated %d MB reading a %d KB response", n>>20, b.Len()>>10)
	}
}

// Calls that wait for their dependencies never hold up the ones they wait
// for: one worker, small buffers, large responses and a chain of
// dependencies finish.
func TestJSONAttackDependencyChainOneWorker(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `"`+strings.Repeat("x", 12<<10)+`"`)
	})
	var b strings.Builder
	b.WriteString(`{"requests":[{"id":"0","method":"GET","url":"/a"}`)
	for i := 1; i < 20; i++ {
		fmt.Fprintf(&b, `,{"id":"%d","method":"GET","url":"/a","dependsOn":["%d","0"]}`, i, i-1)
	}
	b.WriteString(`]}`)
	// Room to buffer one 12 KiB response at a time.
	for _, workers := range []int{1, 4} {
		done := make(chan []jsonEntry)
		go func() {
			_, got := serveJSON(t, inner, HandlerOptions{Concurrency: workers, MaxBufferedBytes: 16 << 10}, "/$batch", nil, b.String())
			done <- got
		}()
		select {
		case got := <-done:
			if len(got) != 20 || got[19].Status != 200 {
				t.Errorf("%d workers: %d entries, the first %d %s", workers, len(got), got[0].Status, got[0].Body)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d workers: the batch did not finish in 10 s", workers)
		}
	}
}

// One request object with a large value under a key the Handler skips is
// read whole into the batch's scratch memory; that memory must not be kept
// past the garbage collector by the spare state, which is bounded by
// maxSpareBytes.
func TestJSONAttackLargeObjectNotKeptSpare(t *testing.T) {
	h := NewHandler(echo())
	pad := strings.Repeat("x", 2*maxSpareBytes)
	body := `{"requests":[{"id":"1","method":"GET","url":"/a","pad":"` + pad + `"}]}`
	req := httptest.NewRequest("POST", "/$batch", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("code %d: %s", rec.Code, rec.Body)
	}
	if st := h.spare.Load(); st != nil && st.jb.stream.retained() > maxSpareBytes {
		t.Errorf("the spare state keeps %d bytes of a request object, over maxSpareBytes %d", st.jb.stream.retained(), maxSpareBytes)
	}
}

// An OData JSON batch carries a text body as a JSON string, built in the
// output's scratch buffer: that buffer, as large as the largest text body
// answered, must not be kept past the garbage collector by the spare state.
func TestJSONLargeTextBodyNotKeptSpare(t *testing.T) {
	text := strings.Repeat("x", 2*maxSpareBytes)
	h := NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, text)
	}))
	req := httptest.NewRequest("POST", "/$batch", strings.NewReader(`{"requests":[{"id":"1","method":"GET","url":"/a"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("OData-Version", "4.01")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out struct{ Responses []jsonEntry }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Responses) != 1 || string(out.Responses[0].Body) != `"`+text+`"` {
		t.Fatalf("code %d, err %v, %d responses", rec.Code, err, len(out.Responses))
	}
	if st := h.spare.Load(); st != nil && cap(st.out.jbuf) > maxSpareBytes {
		t.Errorf("the spare state keeps %d bytes of a response body, over maxSpareBytes %d", cap(st.out.jbuf), maxSpareBytes)
	}
}

// Without ResultReferences, a $result[...] in a call's url or JSON body is
// text like any other, dependsOn or not: a note whose text happens to be
// a reference is stored as written, not as "null" (nor does the call
// fail with 424 when the text names a field).
func TestJSONAttackDependsOnWithoutReferences(t *testing.T) {
	body := `{"requests":[
	 {"id":"a","method":"GET","url":"/json"},
	 {"id":"b","dependsOn":["a"],"method":"POST","url":"/n/$result[a]/json","body":{"note":"$result[a]"}},
	 {"id":"c","dependsOn":["a"],"method":"POST","url":"/n/json?q=$result[a][x]","body":["$result[a][x]"]}
	]}`
	_, got := serveJSON(t, echo(), HandlerOptions{}, "/$batch", odataHeader, body)
	want := []string{"", `{"note":"$result[a]"}`, `["$result[a][x]"]`}
	if len(got) != len(want) {
		t.Fatalf("%d responses, want %d: %+v", len(got), len(want), got)
	}
	for i, e := range got {
		if e.Status != 200 || string(e.Body) != want[i] {
			t.Errorf("response %s: status %d body %s; want 200 %s", e.ID, e.Status, e.Body, want[i])
		}
	}
}

// A response body that encoding/json calls valid JSON is not always one
// the batch response can carry as JSON: one with invalid UTF-8 in a
// string made the whole batch response invalid JSON (RFC 8259 wants
// UTF-8; .NET's reader refuses it), and one nested 9998 levels, which
// json.Valid accepts, put the batch response past encoding/json's
// 10000 levels, so that no Go reader (this package's Client included)
// could read any response of the batch. Such bodies go as base64, as
// other bodies that are not JSON do; MaxJSONDepth bounds a response
// body's nesting as it does a request's.
func TestJSONAttackResponseBodiesKeepBatchReadable(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	bodies := map[string]string{
		"/utf8":    "{\"a\":\"\xff\"}",
		"/deep":    nest(9998),
		"/deeper":  nest(DefaultMaxJSONDepth - 1),
		"/deepest": nest(DefaultMaxJSONDepth - 2), // with the envelope, MaxJSONDepth levels
		"/ok":      `{"ok":true}`,
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, bodies[r.URL.Path])
	})
	paths := []string{"/utf8", "/deep", "/deeper", "/deepest", "/ok"}
	var reqs []string
	for i, p := range paths {
		reqs = append(reqs, fmt.Sprintf(`{"id":"%d","method":"GET","url":%q}`, i, p))
	}
	for _, f := range []Format{FormatODataJSON, FormatGraphJSON} {
		t.Run(f.String(), func(t *testing.T) {
			rec, got := serveJSON(t, inner, HandlerOptions{JSONFormat: f}, "/$batch", nil, `{"requests":[`+strings.Join(reqs, ",")+`]}`)
			if !utf8.Valid(rec.Body.Bytes()) {
				t.Errorf("the batch response is not UTF-8")
			}
			if len(got) != len(paths) {
				t.Fatalf("%d responses", len(got))
			}
			enc := base64.StdEncoding
			if f == FormatODataJSON {
				enc = base64.URLEncoding
			}
			for i, p := range paths {
				want := bodies[p]
				if p == "/utf8" || p == "/deep" || p == "/deeper" {
					want = strconv.Quote(enc.EncodeToString([]byte(want)))
				}
				if g := string(got[i].Body); g != want {
					t.Errorf("%s: body %.80s..., want %.80s...", p, g, want)
				}
			}
		})
	}
}

// A reference in a JSON body is found as substitution finds it, in the
// text of a string literal: one spelled with an escape, $result[p\u0071]
// in the body's bytes, was linked by its bytes to the call whose id is
// p\u0071, then substituted by its text with the result of call pq, a
// later call the batch never made it wait for.
func TestJSONAttackEscapedReferenceNamesAnotherCall(t *testing.T) {
	second := make(chan struct{})
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/first":
			// Until the later call has answered and published its result.
			select {
			case <-second:
			case <-time.After(5 * time.Second):
			}
			time.Sleep(50 * time.Millisecond)
			io.WriteString(w, `{"x":"one"}`)
		case "/second":
			io.WriteString(w, `{"x":"secret"}`)
			close(second)
		default:
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, `{"body":%q}`, b)
		}
	})
	body := `{"requests":[
	 {"id":"p\\u0071","method":"GET","url":"/first"},
	 {"id":"c","method":"POST","url":"/echo","body":["$result[p\u0071][x]"]},
	 {"id":"pq","method":"GET","url":"/second"},
	 {"id":"d","method":"GET","url":"/echo?q=$result[pq][x]"}
	]}`
	_, got := serveJSON(t, inner, HandlerOptions{ResultReferences: true}, "/$batch", nil, body)
	if len(got) != 4 {
		t.Fatalf("%d responses", len(got))
	}
	if c := got[1]; c.Status != http.StatusFailedDependency || !strings.Contains(string(c.Body), "later") {
		t.Errorf("call c: %d %s; want 424, a reference to a later call", c.Status, c.Body)
	}
}
