package batch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
)

// countBatches counts the batch requests that reach h, and keeps their
// Content-Types.
type countBatches struct {
	h   http.Handler
	mu  sync.Mutex
	cts []string
}

func (cb *countBatches) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cb.mu.Lock()
	cb.cts = append(cb.cts, r.Header.Get("Content-Type"))
	cb.mu.Unlock()
	cb.h.ServeHTTP(w, r)
}

// TestClientFormats sends the same 45 calls with the Client in each format
// to the Handler: every call gets the response the inner handler gave it,
// the same in every format; Graph's batches are split at 20.
func TestClientFormats(t *testing.T) {
	type result struct {
		Status            int
		CT, XEcho, Method string
		Body              string
	}
	var results [3][]result
	for _, f := range []Format{FormatMultipart, FormatODataJSON, FormatGraphJSON} {
		cb := &countBatches{h: NewHandlerOptions(propInner(), HandlerOptions{MaxCalls: 1000})}
		srv := httptest.NewServer(cb)
		c := &Client{Endpoint: srv.URL + "/batch", Format: f}
		b := c.NewBatch()
		b.Header.Set("Prefer", "odata.continue-on-error")
		for i := range 45 {
			var body io.Reader
			method, kind := "GET", []string{"json", "bin"}[i%2]
			status := []int{200, 201, 404, 500, 204}[i%5]
			var payload []byte
			switch i % 3 {
			case 1:
				method, payload = "POST", []byte(fmt.Sprintf(`{"n":%d,"s":"\u00e9\"x"}`, i))
			case 2:
				method, payload = "PUT", []byte{0, 1, 2, 0xff, byte(i)}
			}
			if payload != nil {
				body = bytes.NewReader(payload)
			}
			req, err := http.NewRequest(method, fmt.Sprintf("%s/%d/%s/c%d", srv.URL, status, kind, i), body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Test", fmt.Sprintf("call %d", i))
			switch i % 3 {
			case 1:
				req.Header.Set("Content-Type", "application/json")
			case 2:
				// Without one, a JSON batch would say what net/http
				// sniffs, where a multipart one says nothing.
				req.Header.Set("Content-Type", "application/octet-stream")
			}
			if _, err := b.Add(req, ""); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Do(context.Background()); err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		for _, call := range b.Calls() {
			resp, err := call.Wait(context.Background())
			if err != nil {
				t.Fatalf("%v: call %s: %v", f, call.ID(), err)
			}
			body, _ := io.ReadAll(resp.Body)
			results[f] = append(results[f], result{resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("X-Echo"), resp.Header.Get("X-Method"), normalBody(resp.Header.Get("Content-Type"), body)})
		}
		srv.Close()
		want := map[Format][]string{
			FormatMultipart: {"multipart/mixed"},
			FormatODataJSON: {"application/json"},
			FormatGraphJSON: {"application/json", "application/json", "application/json"},
		}[f]
		var got []string
		for _, ct := range cb.cts {
			got = append(got, strings.Split(ct, ";")[0])
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%v: batch requests (-want +got):\n%s", f, diff)
		}
	}
	if results[0][2].Status != 404 || results[0][1].Body == "" {
		t.Fatalf("the multipart results are not what the inner handler answers: %+v", results[0][:3])
	}
	for _, f := range []Format{FormatODataJSON, FormatGraphJSON} {
		if diff := cmp.Diff(results[FormatMultipart], results[f]); diff != "" {
			t.Errorf("%v against multipart (-want +got):\n%s", f, diff)
		}
	}
}

// TestClientODataJSONChangesets: with the OData JSON format a changeset is
// an atomicity group: one commits, one rolls back and each of its calls
// reports the failed call; a $1 target depends on call 1.
func TestClientODataJSONChangesets(t *testing.T) {
	s := newShop()
	var sent bytes.Buffer
	h := NewHandlerOptions(s, HandlerOptions{BeginGroup: s.begin})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sent.Write(b)
		r.Body = io.NopCloser(bytes.NewReader(b))
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c := &Client{Endpoint: srv.URL + "/odata/$batch", Format: FormatODataJSON}
	b := c.NewBatch()
	b.Header.Set("Prefer", "odata.continue-on-error")
	ok := b.Changeset()
	ok.Add(jsonRequest(t, "POST", "Customers", `{"Name":"Ann"}`), "1")
	ok.Add(jsonRequest(t, "POST", "$1/Orders", `{"Qty":2}`), "2")
	bad := b.Changeset()
	bad.Add(jsonRequest(t, "POST", "Customers", `{"Name":"Bob"}`), "3")
	bad.Add(jsonRequest(t, "POST", "$3/Orders", `{"Qty":0}`), "4")
	b.Add(jsonRequest(t, "GET", "Customers(1)", ""), "5")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, call := range b.Calls() {
		resp, err := call.Wait(context.Background())
		var ce *ChangesetError
		switch {
		case errors.As(err, &ce):
			body, _ := io.ReadAll(ce.Response.Body)
			got = append(got, fmt.Sprintf("%s: rolled back at %s: %d %s", call.ID(), ce.ID, ce.StatusCode, body))
		case err != nil:
			t.Fatalf("call %s: %v", call.ID(), err)
		default:
			body, _ := io.ReadAll(resp.Body)
			got = append(got, fmt.Sprintf("%s: %d %s %s", call.ID(), resp.StatusCode, resp.Header.Get("Location"), body))
		}
	}
	want := []string{
		`1: 201 /odata/Customers(1) {"ID":1,"Name":"Ann"}`,
		`2: 201 /odata/Orders(2) {"ID":2,"Customer":1}`,
		`3: rolled back at 4: 400 {"error":"Qty must be positive"}`,
		`4: rolled back at 4: 400 {"error":"Qty must be positive"}`,
		`5: 200  {"ID":1,"Name":"Ann"}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	var req struct {
		Requests []struct {
			ID, AtomicityGroup, URL string
			DependsOn               []string
		}
	}
	if err := json.Unmarshal(sent.Bytes(), &req); err != nil {
		t.Fatalf("the batch sent is not JSON: %v: %s", err, sent.Bytes())
	}
	var shape []string
	for _, r := range req.Requests {
		shape = append(shape, fmt.Sprintf("%s %t %s %v", r.ID, r.AtomicityGroup != "", r.URL, r.DependsOn))
	}
	wantShape := []string{`1 true Customers []`, `2 true $1/Orders [1]`, `3 true Customers []`, `4 true $3/Orders [3]`, `5 false Customers(1) []`}
	if diff := cmp.Diff(wantShape, shape); diff != "" {
		t.Errorf("requests sent (-want +got):\n%s", diff)
	}
}

// TestClientGraphJSONRefusesChangesets: Graph has no atomic groups.
func TestClientGraphJSONRefusesChangesets(t *testing.T) {
	c := &Client{Endpoint: "http://example.com/v1.0/$batch", Format: FormatGraphJSON}
	b := c.NewBatch()
	cs := b.Changeset()
	call, _ := cs.Add(jsonRequest(t, "GET", "/v1.0/me", ""), "1")
	if err := b.Do(context.Background()); err == nil || !strings.Contains(err.Error(), "no atomic groups") {
		t.Errorf("Do: %v", err)
	}
	if _, err := call.Wait(context.Background()); err == nil {
		t.Error("the call has no error")
	}
}

// TestTransportJSONFormats: a Transport in a JSON format batches
// concurrent calls as a JSON batch (Graph's 20 calls make one full batch),
// each call getting the response it would get alone, and the shared
// Authorization once on the outer request.
func TestTransportJSONFormats(t *testing.T) {
	for _, f := range []Format{FormatODataJSON, FormatGraphJSON} {
		t.Run(f.String(), func(t *testing.T) {
			a := newTestAPI(t, 0)
			const n = 20
			c := a.client(&Transport{Window: time.Minute, Format: f, Limits: Limits{MaxCalls: map[Format]int{FormatODataJSON: n}[f]}})
			checkItemsAlone(t, a, doItems(c, a, n))
			if b := a.batches.Load(); b != 1 || a.plain.Load() != n {
				t.Errorf("%d batch requests and %d plain ones (the %d alone), want 1 batch", b, a.plain.Load(), n)
			}
			if a.outerAuth.Load() != 1 {
				t.Errorf("Authorization on %d outer requests, want 1", a.outerAuth.Load())
			}
		})
	}
}

// TestClientGraphJSONRetries: the Client's RetryPolicy works on a JSON
// batch: a call answered 429 with Retry-After, a per-response field Graph
// keeps, is sent again in a new batch request and succeeds.
func TestClientGraphJSONRetries(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path]++
		n := seen[r.URL.Path]
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1.0/throttled" && n == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"code":"TooManyRequests"}}`)
			return
		}
		fmt.Fprintf(w, `{"path":%q,"n":%d}`, r.URL.Path, n)
	})
	cb := &countBatches{h: NewHandlerOptions(inner, HandlerOptions{JSONFormat: FormatGraphJSON})}
	srv := httptest.NewServer(cb)
	defer srv.Close()
	c := &Client{Endpoint: srv.URL + "/v1.0/$batch", Format: FormatGraphJSON, Retry: RetryPolicy{MaxAttempts: 3, BaseBackoff: time.Millisecond}}
	b := c.NewBatch()
	one, _ := b.Add(jsonRequest(t, "GET", srv.URL+"/v1.0/me", ""), "1")
	two, _ := b.Add(jsonRequest(t, "GET", srv.URL+"/v1.0/throttled", ""), "2")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, call := range []*Call{one, two} {
		resp, err := call.Wait(context.Background())
		if err != nil {
			t.Fatalf("call %s: %v", call.ID(), err)
		}
		body, _ := io.ReadAll(resp.Body)
		got = append(got, fmt.Sprintf("%d %s", resp.StatusCode, body))
	}
	want := []string{`200 {"path":"/v1.0/me","n":1}`, `200 {"path":"/v1.0/throttled","n":2}`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if len(cb.cts) != 2 {
		t.Errorf("%d batch requests, want 2 (the retry alone)", len(cb.cts))
	}
}

// TestJSONRepeatedContentType: a JSON batch carries a repeated Content-Type
// as one member, its values joined, so a body's form (JSON, text, base64)
// is chosen from the joined value on both sides. Choosing it from the first
// value wrote `"x"` as JSON under "application/json, text/plain", which the
// reader, seeing no JSON type, took for base64 (FuzzJSONBatch found the
// same in cmd/mixed). Each body goes from the Client to the Handler and is
// echoed back under the same Content-Type values. (A body that does not fit
// its form, JSON that does not parse or OData text that is not UTF-8, is
// not sent by the Client, TestClientBodyFormErrors, and does not
// round-trip from the Handler, TestJSONResponseBodyNotFittingItsForm.)
func TestJSONRepeatedContentType(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header()["Content-Type"] = r.Header.Values("Content-Type")
		w.Write(body)
	})
	tests := []struct {
		ct   []string
		body string
	}{
		{[]string{"application/json", "text/plain"}, `"x"`},
		{[]string{"text/plain", "application/octet-stream"}, "caf\u00e9 !"},
		{[]string{"text/plain", "application/json"}, `"not base64!"`},
		{[]string{"x/y", "a+json"}, `"s"`},
		{[]string{"application/json", ""}, `"x"`},
		{[]string{" text/plain"}, "h\u00e9llo"},
	}
	for _, f := range []Format{FormatODataJSON, FormatGraphJSON} {
		srv := httptest.NewServer(NewHandlerOptions(echo, HandlerOptions{JSONFormat: f}))
		c := &Client{Endpoint: srv.URL + "/batch", Format: f}
		b := c.NewBatch()
		for _, tt := range tests {
			req, err := http.NewRequest("POST", srv.URL+"/echo", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header["Content-Type"] = tt.ct
			if _, err := b.Add(req, ""); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Do(context.Background()); err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		for i, call := range b.Calls() {
			resp, err := call.Wait(context.Background())
			if err != nil {
				t.Errorf("%v: call %d (%q): %v", f, i, tests[i].ct, err)
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			if diff := cmp.Diff(tests[i].body, string(body)); diff != "" {
				t.Errorf("%v: call %d (%q): body (-want +got):\n%s", f, i, tests[i].ct, diff)
			}
		}
		srv.Close()
	}
}

// TestJSONContentTypeKeysOfAnyCase: an http.Header may hold Content-Type
// under keys that differ in case only (set through the map, as a proxy or
// an HTTP/2 peer's lower-case names leave them). A JSON batch writes each
// key as a member of its own, which its reader joins into one field, so
// the writer picks a body's form from every such key, in the order it
// writes them; and it sniffs a Content-Type only when the header has none
// under any case. Picking it from the canonical key alone wrote a body as
// text or JSON that the reader, seeing the joined value, took for base64
// or text. An explicitly empty member adds nothing to the joined value.
func TestJSONContentTypeKeysOfAnyCase(t *testing.T) {
	tests := []struct {
		name      string
		req, resp http.Header
		body      string
	}{
		{"request, lower-case key", http.Header{"content-type": {"application/json"}}, nil, `"x"`},
		{"request, two keys", http.Header{"Content-Type": {"application/json"}, "content-type": {"text/plain"}}, nil, `"x"`},
		{"request, lower-case text", http.Header{"content-type": {"text/plain"}}, nil, "h\u00e9llo"},
		{"request, empty", http.Header{"Content-Type": {""}}, nil, "h\u00e9llo"},
		{"request, empty key beside", http.Header{"Content-Type": {"text/plain"}, "content-type": {""}}, nil, `"x"`},
		{"response, two keys", nil, http.Header{"Content-Type": {"application/json"}, "content-type": {"text/plain"}}, `"x"`},
		{"response, lower-case key", nil, http.Header{"content-type": {"application/json"}}, `"x"`},
		{"response, empty key beside", nil, http.Header{"Content-Type": {"application/json"}, "content-type": {""}}, `"x"`},
		{"response, blank key beside", nil, http.Header{"Content-Type": {"text/plain"}, "content-type": {" "}}, `"x"`},
	}
	for _, f := range []Format{FormatODataJSON, FormatGraphJSON} {
		for _, tt := range tests {
			echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				for k, v := range tt.resp {
					w.Header()[k] = v
				}
				w.Write(body)
			})
			srv := httptest.NewServer(NewHandlerOptions(echo, HandlerOptions{JSONFormat: f}))
			c := &Client{Endpoint: srv.URL + "/batch", Format: f}
			b := c.NewBatch()
			req, err := http.NewRequest("POST", srv.URL+"/echo", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.req {
				req.Header[k] = v
			}
			if _, err := b.Add(req, ""); err != nil {
				t.Fatal(err)
			}
			if err := b.Do(context.Background()); err != nil {
				t.Fatalf("%v, %s: %v", f, tt.name, err)
			}
			resp, err := b.Calls()[0].Wait(context.Background())
			if err != nil {
				t.Errorf("%v, %s: %v", f, tt.name, err)
			} else {
				body, _ := io.ReadAll(resp.Body)
				if diff := cmp.Diff(tt.body, string(body)); diff != "" {
					t.Errorf("%v, %s: body (-want +got):\n%s", f, tt.name, diff)
				}
			}
			srv.Close()
		}
	}
}

// TestClientJSONResponseBodyWithoutContentType: a response object whose
// headers have no Content-Type carries a JSON body, as a request object
// without one does for the Handler (OData JSON Format 4.01, 19.1:
// application/json is assumed) and as `mixed decode` reads one: the Client
// hands out the JSON text, a string with its quotes, under Content-Type
// application/json, rather than decode a string as base64 (which failed
// the call for a string that is not base64, and turned one that looks
// like it into other bytes).
func TestClientJSONResponseBodyWithoutContentType(t *testing.T) {
	bodies := []string{`"aGVsbG8="`, `"not base64!"`, `{"a":1}`, `[1,2]`, `42`}
	for _, f := range []Format{FormatODataJSON, FormatGraphJSON} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			var b strings.Builder
			b.WriteString(`{"responses":[`)
			for i, body := range bodies {
				if i > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, `{"id":"c%d","status":200,"body":%s}`, i, body)
			}
			b.WriteString("]}")
			io.WriteString(w, b.String())
		}))
		c := &Client{Endpoint: srv.URL + "/batch", Format: f}
		b := c.NewBatch()
		for i := range bodies {
			req, err := http.NewRequest("GET", srv.URL+"/x", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.Add(req, "c"+strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Do(context.Background()); err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		var got, want []string
		for i, call := range b.Calls() {
			want = append(want, "application/json "+bodies[i])
			resp, err := call.Wait(context.Background())
			if err != nil {
				got = append(got, err.Error())
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			got = append(got, resp.Header.Get("Content-Type")+" "+string(body))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%v: Content-Type and body of each call (-want +got):\n%s", f, diff)
		}
		srv.Close()
	}
}

// A handler may set Content-Type to nil so that none is sniffed, as
// net/http documents. A JSON batch then writes its body as base64 under
// application/octet-stream, whether it goes whole or streams: without a
// Content-Type a reader takes the body for JSON, and would hand the Client
// the base64 string, quotes and all. A response without a body gets no
// Content-Type.
func TestJSONResponseWithoutContentType(t *testing.T) {
	big := bytes.Repeat([]byte("not JSON \x00\xff "), streamAfter/8)
	bodies := map[string][]byte{"/small": []byte("hello"), "/json": []byte(`{"a":1}`), "/big": big, "/empty": nil}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		w.Write(bodies[r.URL.Path])
	})
	paths := []string{"/small", "/json", "/big", "/empty"}
	for _, f := range []Format{FormatODataJSON, FormatGraphJSON} {
		srv := httptest.NewServer(NewHandlerOptions(inner, HandlerOptions{JSONFormat: f}))
		got := getThrough(t, srv, f, paths, clipped)
		var want []string
		for _, p := range paths {
			ct := "application/octet-stream"
			if len(bodies[p]) == 0 {
				ct = ""
			}
			want = append(want, "200 "+ct+" "+clipped(bodies[p]))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%v: Content-Type and body of each call (-want +got):\n%s", f, diff)
		}
		srv.Close()
	}
}

// clipped is b quoted, or for a long b its length and a digest of it, so
// that a diff stays readable.
func clipped(b []byte) string {
	if len(b) <= 64 {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("%d bytes, SHA-256 %x", len(b), sha256.Sum256(b))
}

// A base64 body may end its last line after the padding, as a MIME
// encoder does; encoding/base64 reads it, and so do the Client and the
// Handler. (The '=' was taken off the end before the line breaks were
// skipped, and "QUI=\n" refused.)
func TestJSONBase64LineBreakAfterPadding(t *testing.T) {
	for body, want := range map[string]string{`"QUI\n"`: "AB", `"QUI=\n"`: "AB", `"QQ==\r\n"`: "A", `"QUJD\r\nREU=\r\n"`: "ABCDE", `"QQ=\n=\n"`: "A"} {
		b := (&Client{Endpoint: "http://example.com/$batch"}).NewBatch()
		req, _ := http.NewRequest("GET", "http://example.com/x", nil)
		c, _ := b.Add(req, "a")
		doc := `{"responses":[{"id":"a","status":200,"headers":{"Content-Type":"application/octet-stream"},"body":` + body + `}]}`
		s := &sender{format: FormatGraphJSON}
		resp := &http.Response{Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(doc))}
		if err := s.readJSONResponses(resp, b.Calls()); err != nil || c.aErr != nil {
			t.Errorf("client, body %s: %v, %v", body, err, c.aErr)
			continue
		}
		if got, _ := io.ReadAll(c.aResp.Body); string(got) != want {
			t.Errorf("client, body %s: %q, want %q", body, got, want)
		}

		req2 := `{"requests":[{"id":"1","method":"PUT","url":"/svc/bin","headers":{"content-type":"application/octet-stream"},"body":` + body + `}]}`
		rec, got := serveJSON(t, echo(), HandlerOptions{}, "/svc/$batch", odataHeader, req2)
		wantEntries := []jsonEntry{{ID: "1", Status: 200, Headers: map[string]string{"content-type": "text/plain"}, Body: textBody("PUT /svc/bin application/octet-stream " + want)}}
		if diff := cmp.Diff(wantEntries, got); diff != "" {
			t.Errorf("handler, body %s (-want +got):\n%s\n%s", body, diff, rec.Body)
		}
	}
}

// Framing field names are compared in ASCII case folding, as everywhere,
// and left out: "transfer-encoding" is the framing field.
// "Tran\u017ffer-Encoding" (a long s, which Unicode folding takes for an
// s) is not, nor any other field: a name outside ASCII is not a token, and
// fails the call as net/http's ReadResponse fails such a response.
func TestClientJSONLongSTransferEncoding(t *testing.T) {
	for _, tc := range []struct {
		headers string
		want    http.Header // nil: the call fails with mixed.ErrSyntax
	}{
		{`{"TRANSFER-encoding":"chunked","X-A":"y","content-length":"12"}`, http.Header{"X-A": {"y"}}},
		{`{"Tran\u017ffer-Encoding":"x","transfer-encoding":"chunked"}`, nil},
		{`{"X-\u017f":"y"}`, nil},
	} {
		b := (&Client{Endpoint: "http://example.com/$batch"}).NewBatch()
		req, _ := http.NewRequest("GET", "http://example.com/x", nil)
		c, _ := b.Add(req, "a")
		doc := `{"responses":[{"id":"a","status":200,"headers":` + tc.headers + `}]}`
		s := &sender{format: FormatODataJSON}
		resp := &http.Response{Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(doc))}
		if err := s.readJSONResponses(resp, b.Calls()); err != nil {
			t.Fatal(err)
		}
		if tc.want == nil {
			if !errors.Is(c.aErr, mixed.ErrSyntax) {
				t.Errorf("%s: call: %v, %v; want an error wrapping mixed.ErrSyntax", tc.headers, c.aResp, c.aErr)
			}
			continue
		}
		if c.aErr != nil {
			t.Errorf("%s: %v", tc.headers, c.aErr)
			continue
		}
		if diff := cmp.Diff(tc.want, c.aResp.Header); diff != "" {
			t.Errorf("%s: fields (-want +got):\n%s", tc.headers, diff)
		}
	}
}

// MaxResponseBytes may be as large as an int64 holds (no bound): the
// bound on each value of a JSON batch response, the body base64-encoded
// at worst, saturates rather than overflows. It overflowed to a negative
// bound, and every response object was "over" it: the calls all failed
// with ErrResponseTooLarge.
func TestClientJSONUnboundedResponseBytes(t *testing.T) {
	srv := jsonBatchServer(t, func(w http.ResponseWriter) {
		io.WriteString(w, `{"responses":[{"id":"1","status":200,"headers":{"Content-Type":"application/json"},"body":{"ok":true}}]}`)
	})
	for _, f := range []Format{FormatGraphJSON, FormatODataJSON} {
		for _, max := range []int64{math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64 / 4 * 3, 1 << 62} {
			c := &Client{Endpoint: srv.URL + "/$batch", HTTPClient: srv.Client(), Format: f, MaxResponseBytes: max}
			b := c.NewBatch()
			call, _ := b.Add(jsonRequest(t, "GET", "/a", ""), "1")
			if err := b.Do(context.Background()); err != nil {
				t.Errorf("%v, MaxResponseBytes %d: Do: %v", f, max, err)
			}
			if diff := cmp.Diff(result{Status: 200, Body: `{"ok":true}`}, outcome(t, call)); diff != "" {
				t.Errorf("%v, MaxResponseBytes %d (-want +got):\n%s", f, max, diff)
			}
		}
	}
}

// A JSON batch response cut short, wherever, fails the calls it did not
// answer with an error wrapping io.ErrUnexpectedEOF, as encoding/json's
// Decoder reports a document that ends inside a value; those it answered
// keep their answers.
func TestClientJSONResponseCutShort(t *testing.T) {
	whole := `{"responses":[{"id":"1","status":200,"body":{"n":1}},{"id":"2","status":201,"body":[true,false,null,-1.5e3,"x\u00e9"]}],"nextLink":null}`
	second := strings.Index(whole, `{"id":"2"`)
	end := strings.Index(whole, `,"nextLink"`)
	for cut := 1; cut < len(whole); cut++ {
		body := whole[:cut]
		srv := jsonBatchServer(t, func(w http.ResponseWriter) { io.WriteString(w, body) })
		c := &Client{Endpoint: srv.URL + "/$batch", HTTPClient: srv.Client(), Format: FormatGraphJSON}
		b := c.NewBatch()
		one, _ := b.Add(jsonRequest(t, "GET", "/a", ""), "1")
		two, _ := b.Add(jsonRequest(t, "GET", "/b", ""), "2")
		// A call is answered once its object has been read whole
		// (up to the closing brace), and Do fails only for a call
		// that was not: its error is that call's result.
		oneDone, twoDone := cut >= second-1, cut >= end-1
		err := b.Do(context.Background())
		if !twoDone && !errors.Is(err, io.ErrUnexpectedEOF) || twoDone && err != nil {
			t.Errorf("cut at %d (%q): Do: %v, want io.ErrUnexpectedEOF while a call is unanswered", cut, body[max(0, cut-10):], err)
		}
		for _, c := range []struct {
			call     *Call
			answered bool
			want     result
		}{{one, oneDone, result{Status: 200, Body: `{"n":1}`}}, {two, twoDone, result{Status: 201, Body: `[true,false,null,-1.5e3,"x\u00e9"]`}}} {
			if !c.answered {
				if _, err := c.call.Wait(context.Background()); !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("cut at %d: call %s: %v, want io.ErrUnexpectedEOF", cut, c.call.ID(), err)
				}
				continue
			}
			if diff := cmp.Diff(c.want, outcome(t, c.call)); diff != "" {
				t.Errorf("cut at %d: call %s (-want +got):\n%s", cut, c.call.ID(), diff)
			}
		}
		srv.Close()
	}
}
