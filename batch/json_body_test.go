package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// typedJSONBatchOf is a JSON batch of n requests, each with a JSON body and
// headers ct (the members of a headers object, "Content-Type" among them).
func typedJSONBatchOf(n int, ct string) []byte {
	var sb strings.Builder
	sb.WriteString(`{"requests":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":"%d","method":"POST","url":"/calendar/v3/calendars/primary/events","headers":{%s},"body":{"summary":"event %d"}}`, i, ct, i)
	}
	sb.WriteString("]}")
	return []byte(sb.String())
}

// twoKeys answers as trivial does, with its Content-Type set under two
// keys that differ in case, as a handler that sets a lower-case key
// through the map leaves it.
var twoKeys = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = jsonCT
	w.Header()["content-type"] = jsonCT
	w.Write(smallJSON)
})

// BenchmarkHandlerJSONBodies measures the Handler on 1000 requests that
// carry a Content-Type and a JSON body (BenchmarkHandlerFormats' have
// neither), answered by trivial, or by twoKeys, whose response has its
// Content-Type under two keys.
func BenchmarkHandlerJSONBodies(b *testing.B) {
	const n = 1000
	for _, bc := range []struct {
		name  string
		inner http.Handler
		f     Format
	}{
		{"format=graph-json/inner=trivial", trivial, FormatGraphJSON},
		{"format=odata-json/inner=trivial", trivial, FormatODataJSON},
		{"format=odata-json/inner=two-keys", twoKeys, FormatODataJSON},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := typedJSONBatchOf(n, `"Content-Type":"application/json","Accept":"application/json"`)
			h := NewHandlerOptions(bc.inner, HandlerOptions{MaxCalls: n, JSONFormat: bc.f})
			var br bytes.Reader
			req := httptest.NewRequest("POST", "/batch", &br)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Prefer", "odata.continue-on-error")
			w := &discardWriter{h: make(http.Header)}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				br.Reset(body)
				clear(w.h)
				h.ServeHTTP(w, req)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/call")
		})
	}
}

// caseKeys answers with fields set through the map under keys that differ
// in case only, as a handler that copies lower-case names (from a proxy, an
// HTTP/2 peer) leaves them, and a body that fits none of the joined
// Content-Type's forms but base64.
var caseKeys = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["content-type"] = []string{" text/plain"}
	h["X-Custom"] = []string{"a", " "}
	h["x-custom"] = []string{"b"}
	h["X-Empty"] = []string{""}
	h["x-lower"] = []string{"v"}
	h["content-length"] = []string{"3"}
	h["Gone"] = nil
	w.Write([]byte(`"x"`))
})

// TestJSONHeadersOneMemberPerName: the Handler writes one member for each
// name whatever the case of its keys, its value the values of every key
// (in byte order of the keys) joined with ", ", blank ones left out: two
// members "content-type" in one object would each be read differently
// by JSON parsers that keep the first, the last, or both. The body's form
// follows that one value (neither JSON nor text: base64). OData's names
// are in lower case; Graph's are the first key of the name, Content-Type
// canonical. A lower-case framing field is left out as the canonical one
// is; a key without values is no member, as net/http writes none.
func TestJSONHeadersOneMemberPerName(t *testing.T) {
	in := `{"requests":[{"id":"1","method":"GET","url":"/x"}]}`
	for _, tt := range []struct {
		f    Format
		want string
	}{
		{FormatODataJSON, `{"responses":[{"id":"1","status":200,"headers":{"content-type":"application/json, text/plain","x-custom":"a, b","x-empty":"","x-lower":"v"},"body":"Ingi"}]}`},
		{FormatGraphJSON, `{"responses":[{"id":"1","status":200,"headers":{"Content-Type":"application/json, text/plain","X-Custom":"a, b","X-Empty":"","x-lower":"v"},"body":"Ingi"}]}`},
	} {
		rec, _ := serveJSON(t, caseKeys, HandlerOptions{JSONFormat: tt.f}, "/batch", nil, in)
		if diff := cmp.Diff(tt.want, strings.TrimSpace(rec.Body.String())); diff != "" {
			t.Errorf("%v: batch response (-want +got):\n%s", tt.f, diff)
		}
	}
}

// TestJSONHeadersOneMemberRoundTrip: the Client reads the one member as
// the field its keys made, and the body back as written; and it writes a
// request's keys of one name as one member, which the Handler reads as
// one field: the inner handler sees each name once.
func TestJSONHeadersOneMemberRoundTrip(t *testing.T) {
	for _, f := range []Format{FormatODataJSON, FormatGraphJSON} {
		var seen http.Header
		var sent []byte
		inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen = r.Header.Clone()
			caseKeys(w, r)
		})
		h := NewHandlerOptions(inner, HandlerOptions{JSONFormat: f})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sent, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(sent))
			h.ServeHTTP(w, r)
		}))
		c := &Client{Endpoint: srv.URL + "/batch", Format: f}
		b := c.NewBatch()
		req, err := http.NewRequest("POST", srv.URL+"/x", strings.NewReader(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = http.Header{"Content-Type": {"application/json"}, "content-type": {""}, "X-Req": {"1"}, "x-req": {"2"}, "host": {"elsewhere"}}
		call, err := b.Add(req, "1")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Do(context.Background()); err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		wantSent := `{"requests":[{"id":"1","method":"POST","url":"/x","headers":{"Content-Type":"application/json","X-Req":"1, 2"},"body":{"a":1}}]}`
		if diff := cmp.Diff(wantSent, string(sent)); diff != "" {
			t.Errorf("%v: batch request (-want +got):\n%s", f, diff)
		}
		// The other fields are the batch request's, which its calls
		// inherit.
		wantSeen := [][]string{{"application/json"}, {"1, 2"}}
		if diff := cmp.Diff(wantSeen, [][]string{seen["Content-Type"], seen["X-Req"]}); diff != "" {
			t.Errorf("%v: the inner handler's request header (-want +got):\n%s", f, diff)
		}
		resp, err := call.Wait(context.Background())
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		body, _ := io.ReadAll(resp.Body)
		got := []any{resp.Header, string(body)}
		want := []any{http.Header{"Content-Type": {"application/json, text/plain"}, "X-Custom": {"a, b"}, "X-Empty": {""}, "X-Lower": {"v"}}, `"x"`}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%v: the call's response header and body (-want +got):\n%s", f, diff)
		}
		srv.Close()
	}
}

// TestClientBodyFormErrors: a request body that cannot take the form its
// Content-Type asks for (JSON that does not parse or is not UTF-8; in
// OData, text that is not UTF-8) fails its call, and every call of its changeset, with
// ErrBodyForm, unsent; the batch's other calls go. The Client once sent it
// as base64, which the server, following the same rule, read as a JSON
// string or as text: its handler got other bytes than the call's. Graph
// has no text form: the non-UTF-8 text goes as base64 and arrives whole.
// A body without Content-Type goes with the type net/http sniffs, unless
// it does not fit that type's form (Latin-1 text, sniffed as UTF-8 text):
// then as application/octet-stream. The same holds when the request is
// written whole (Limits.MaxBodyBytes).
func TestClientBodyFormErrors(t *testing.T) {
	type call struct {
		id, group, ct, body string
	}
	calls := []call{
		{"json", "", "application/json", `{"a":1}`},
		{"bad-json", "", "application/json; charset=utf-8", `{not json`},
		{"latin1-json", "", "application/json", "{\"a\":\"caf\xe9\"}"},
		{"latin1", "", "text/plain; charset=iso-8859-1", "caf\xe9"},
		{"sniffed", "", "", "caf\xe9"},
		{"g1", "g", "application/json", `{"b":2}`},
		{"g2", "g", "application/problem+json", `nope`},
		{"after", "", "text/plain", "h\u00e9llo"},
	}
	type outcome struct {
		Err      bool   // errors.Is ErrBodyForm
		Body, CT string // what the server's handler saw, "-" if it did not run
	}
	for _, tt := range []struct {
		f     Format
		sized bool
		want  map[string]outcome
	}{
		{FormatODataJSON, false, map[string]outcome{
			"json": {false, `{"a":1}`, "application/json"}, "bad-json": {true, "-", ""}, "latin1-json": {true, "-", ""},
			"latin1": {true, "-", ""}, "sniffed": {false, "caf\xe9", "application/octet-stream"},
			"g1": {true, "-", ""}, "g2": {true, "-", ""}, "after": {false, "h\u00e9llo", "text/plain"}}},
		{FormatODataJSON, true, nil}, // as above
		{FormatGraphJSON, false, map[string]outcome{
			"json": {false, `{"a":1}`, "application/json"}, "bad-json": {true, "-", ""}, "latin1-json": {true, "-", ""},
			"latin1": {false, "caf\xe9", "text/plain; charset=iso-8859-1"}, "sniffed": {false, "caf\xe9", "text/plain; charset=utf-8"},
			"after": {false, "h\u00e9llo", "text/plain"}}},
	} {
		if tt.want == nil {
			tt.want = map[string]outcome{
				"json": {false, `{"a":1}`, "application/json"}, "bad-json": {true, "-", ""}, "latin1-json": {true, "-", ""},
				"latin1": {true, "-", ""}, "sniffed": {false, "caf\xe9", "application/octet-stream"},
				"g1": {true, "-", ""}, "g2": {true, "-", ""}, "after": {false, "h\u00e9llo", "text/plain"}}
		}
		seen := map[string]outcome{}
		var mu sync.Mutex
		inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			seen[strings.TrimPrefix(r.URL.Path, "/")] = outcome{false, string(body), r.Header.Get("Content-Type")}
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		})
		srv := httptest.NewServer(NewHandlerOptions(inner, HandlerOptions{JSONFormat: tt.f}))
		c := &Client{Endpoint: srv.URL + "/batch", Format: tt.f}
		if tt.sized {
			c.Limits.MaxBodyBytes = 1 << 20
		}
		b := c.NewBatch()
		var cs *Changeset
		for _, cl := range calls {
			if cl.group != "" && tt.f == FormatGraphJSON {
				continue
			}
			req, err := http.NewRequest("POST", srv.URL+"/"+cl.id, strings.NewReader(cl.body))
			if err != nil {
				t.Fatal(err)
			}
			if cl.ct != "" {
				req.Header.Set("Content-Type", cl.ct)
			}
			if cl.group == "" {
				_, err = b.Add(req, cl.id)
			} else {
				if cs == nil {
					cs = b.Changeset()
				}
				_, err = cs.Add(req, cl.id)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Do(context.Background()); err != nil {
			t.Fatalf("%v: %v", tt.f, err)
		}
		got := map[string]outcome{}
		for _, call := range b.Calls() {
			o := outcome{Body: "-"}
			if resp, err := call.Wait(context.Background()); err != nil {
				if !errors.Is(err, ErrBodyForm) {
					t.Errorf("%v: call %q: %v, want an ErrBodyForm", tt.f, call.ID(), err)
				}
				o.Err = true
			} else {
				resp.Body.Close()
			}
			if s, ok := seen[call.ID()]; ok {
				o.Body, o.CT = s.Body, s.CT
			}
			got[call.ID()] = o
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%v (sized %v): each call's ErrBodyForm, and the body and Content-Type its handler saw (-want +got):\n%s", tt.f, tt.sized, diff)
		}
		srv.Close()
	}
}

// TestJSONResponseBodyNotFittingItsForm pins what becomes of a response
// body that cannot take the form its Content-Type asks for: JSON that does
// not parse, and in OData text that is not UTF-8. The Handler writes it as
// a base64 string (base64url in OData), keeping its Content-Type; a reader
// that follows the rule cannot tell that string from a body that fits, so
// the Client gets the string itself: under a JSON type the JSON string,
// quotes included, under a text type its text. The bytes do not round-trip
// (doc.go says so); the status and the Content-Type do.
func TestJSONResponseBodyNotFittingItsForm(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "{not json")
		case "/text":
			w.Header().Set("Content-Type", "text/plain; charset=iso-8859-1")
			io.WriteString(w, "caf\xe9")
		}
	})
	in := `{"requests":[{"id":"1","method":"GET","url":"/json"},{"id":"2","method":"GET","url":"/text"}]}`
	for _, tt := range []struct {
		f              Format
		wire           string
		json, textBody string
	}{
		{FormatODataJSON,
			`{"responses":[{"id":"1","status":200,"headers":{"content-type":"application/json"},"body":"e25vdCBqc29u"},` +
				`{"id":"2","status":200,"headers":{"content-type":"text/plain; charset=iso-8859-1"},"body":"Y2Fm6Q=="}]}`,
			`"e25vdCBqc29u"`, "Y2Fm6Q=="},
		{FormatGraphJSON,
			`{"responses":[{"id":"1","status":200,"headers":{"Content-Type":"application/json"},"body":"e25vdCBqc29u"},` +
				`{"id":"2","status":200,"headers":{"Content-Type":"text/plain; charset=iso-8859-1"},"body":"Y2Fm6Q=="}]}`,
			// Graph has no text form: base64 is the form, and fits.
			`"e25vdCBqc29u"`, "caf\xe9"},
	} {
		rec, _ := serveJSON(t, inner, HandlerOptions{JSONFormat: tt.f}, "/batch", nil, in)
		if diff := cmp.Diff(tt.wire, strings.TrimSpace(rec.Body.String())); diff != "" {
			t.Errorf("%v: batch response (-want +got):\n%s", tt.f, diff)
		}

		srv := httptest.NewServer(NewHandlerOptions(inner, HandlerOptions{JSONFormat: tt.f}))
		got := getThrough(t, srv, tt.f, []string{"/json", "/text"}, func(b []byte) string { return string(b) })
		want := []string{"200 application/json " + tt.json, "200 text/plain; charset=iso-8859-1 " + tt.textBody}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%v: the calls' status, Content-Type and body (-want +got):\n%s", tt.f, diff)
		}
		srv.Close()
	}
}

// TestJSONContentTypeFixedAtFirstWrite: a handler that changes its
// Content-Type after its first Write changes nothing of its response
// object, as net/http writes the header then: the object's head and its
// body's form keep the first one, whether the body is held or streams
// (the Handler takes it once, not at every Write). A response the Handler
// replaces (here, a panic's 500) carries its new type.
func TestJSONContentTypeFixedAtFirstWrite(t *testing.T) {
	big := strings.Repeat("x", streamAfter+1)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		switch r.URL.Path {
		case "/small":
			io.WriteString(w, `"a`)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `"`)
		case "/big":
			io.WriteString(w, big)
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "y")
		case "/panic":
			io.WriteString(w, "partial")
			panic("boom")
		}
	})
	in := `{"requests":[{"id":"1","method":"GET","url":"/small"},{"id":"2","method":"GET","url":"/big"},{"id":"3","method":"GET","url":"/panic"}]}`
	_, got := serveJSON(t, inner, HandlerOptions{JSONFormat: FormatODataJSON, Logger: discardSlog()}, "/batch", nil, in)
	if len(got) != 3 {
		t.Fatalf("%d response objects, want 3", len(got))
	}
	var panicked map[string]any
	if err := json.Unmarshal(got[2].Body, &panicked); err != nil {
		t.Errorf("the panic's body is not JSON: %v: %s", err, got[2].Body)
	}
	got[2].Body = nil
	want := []jsonEntry{
		{ID: "1", Status: 200, Headers: map[string]string{"content-type": "application/octet-stream"}, Body: b64url(`"a"`)},
		{ID: "2", Status: 200, Headers: map[string]string{"content-type": "application/octet-stream"}, Body: b64url(big + "y")},
		{ID: "3", Status: 500, Headers: map[string]string{"content-type": "application/json"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response objects (-want +got):\n%s", diff)
	}
}

// appendJSONStringBody writes a string that encoding/json reads back as
// json.Marshal's own, whatever the bytes: runs of plain ASCII copied at
// once, escapes, control characters, and UTF-8 valid or not.
func TestAppendJSONStringBodyAsEncodingJSON(t *testing.T) {
	pieces := []string{"a", "application/json", " ", `"`, `\`, "\n", "\r", "\t", "\x00", "\x1f", "\x7f", "é", "😀", "\xff", "\xe2\x82", "<&>", "\u2028"}
	rapid.Check(t, func(t *rapid.T) {
		s := strings.Join(rapid.SliceOfN(rapid.SampledFrom(pieces), 0, 12).Draw(t, "pieces"), "")
		got := append(append([]byte{'"'}, appendJSONStringBody([]byte(nil), s)...), '"')
		var back, want string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q wrote %s, not a JSON string: %v", s, got, err)
		}
		std, _ := json.Marshal(s)
		json.Unmarshal(std, &want)
		if back != want {
			t.Fatalf("%q wrote %s, which reads %q; json.Marshal's %s reads %q", s, got, back, std, want)
		}
		if !bytes.Equal(appendJSONStringBody([]byte("x"), []byte(s))[1:], got[1:len(got)-1]) {
			t.Fatalf("%q: the []byte form writes otherwise", s)
		}
	})
}
