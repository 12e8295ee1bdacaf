package batch

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mixedcodec/mixed"
	"pgregory.net/rapid"
)

// serveJSON posts a JSON batch body to a Handler of inner with opts, at
// path, and decodes its answer.
func serveJSON(t *testing.T, inner http.Handler, opts HandlerOptions, path string, hdr http.Header, body string) (*httptest.ResponseRecorder, []jsonEntry) {
	t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, vv := range hdr {
		req.Header[k] = vv
	}
	rec := httptest.NewRecorder()
	NewHandlerOptions(inner, opts).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return rec, nil
	}
	var out struct{ Responses []jsonEntry }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("the response is not JSON: %v\n%s", err, rec.Body)
	}
	return rec, out.Responses
}

var odataHeader = http.Header{"Odata-Version": {"4.01"}}

func b64url(s string) json.RawMessage {
	return json.RawMessage(`"` + base64.URLEncoding.EncodeToString([]byte(s)) + `"`)
}

// textBody is s as a JSON string: how OData carries a text/* body.
func textBody(s string) json.RawMessage {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return b
}

func b64std(s string) json.RawMessage {
	return json.RawMessage(`"` + base64.StdEncoding.EncodeToString([]byte(s)) + `"`)
}

// echo answers each call with its method, target, Content-Type and body as
// text/plain, and POST /json with its body as JSON.
func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/json" || strings.HasSuffix(r.URL.Path, "/json") {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Write(b)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), b)
	})
}

func TestODataJSONBatch(t *testing.T) {
	body := `{"requests":[
	 {"id":"1","method":"get","url":"Things?x=1"},
	 {"id":"2","method":"POST","url":"/svc/json","headers":{"Content-Type":"application/json"},"body":{"a":[1,2,{"b":null}]}},
	 {"id":"3","method":"PUT","url":"http://example.com/svc/bin","headers":{"content-type":"application/octet-stream"},"body":"AAEC_w"},
	 {"id":"4","method":"PATCH","url":"Things(1)","body":"just a string"},
	 {"id":"5","method":"DELETE","url":"$metadata","headers":{"if-match":["a","b"],"Content-Length":"99"}},
	 {"id":"6","method":"POST","url":"Notes","headers":{"content-type":"text/plain; charset=utf-8"},"body":"caf\u00e9 \"6\"\n"},
	 {"id":"7","method":"POST","url":"Notes","headers":{"content-type":"text/csv"},"body":"\u0000\u0001,\ud83d\ude00"}
	]}`
	rec, got := serveJSON(t, echo(), HandlerOptions{}, "/svc/$batch", odataHeader, body)
	want := []jsonEntry{
		// A text/* body is a string of its text, as OData 4.01 says...
		{ID: "1", Status: 200, Headers: map[string]string{"content-type": "text/plain"}, Body: textBody("get /svc/Things?x=1  ")},
		{ID: "2", Status: 200, Headers: map[string]string{"content-type": "application/json; charset=utf-8"}, Body: json.RawMessage(`{"a":[1,2,{"b":null}]}`)},
		// ...unless it is not UTF-8, which no JSON string holds.
		{ID: "3", Status: 200, Headers: map[string]string{"content-type": "text/plain"}, Body: b64url("PUT /svc/bin application/octet-stream \x00\x01\x02\xff")},
		{ID: "4", Status: 200, Headers: map[string]string{"content-type": "text/plain"}, Body: textBody(`PATCH /svc/Things(1) application/json "just a string"`)},
		{ID: "5", Status: 200, Headers: map[string]string{"content-type": "text/plain"}, Body: textBody("DELETE /svc/$metadata  ")},
		{ID: "6", Status: 200, Headers: map[string]string{"content-type": "text/plain"}, Body: textBody("POST /svc/Notes text/plain; charset=utf-8 caf\u00e9 \"6\"\n")},
		{ID: "7", Status: 200, Headers: map[string]string{"content-type": "text/plain"}, Body: textBody("POST /svc/Notes text/csv \x00\x01,\U0001F600")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("responses (-want +got):\n%s\n%s", diff, rec.Body)
	}
	if diff := cmp.Diff(http.Header{"Content-Type": {"application/json"}, "Odata-Version": {"4.01"}}, rec.Header()); diff != "" {
		t.Errorf("batch response fields (-want +got):\n%s", diff)
	}
}

func TestGraphJSONBatch(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1.0/me":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"displayName":"Ada"}`)
		case "/v1.0/throttled":
			w.Header().Set("Retry-After", "7")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"code":"TooManyRequests"}}`)
		default:
			echo().ServeHTTP(w, r)
		}
	})
	body := `{"requests":[
	 {"id":"1","method":"GET","url":"/v1.0/me"},
	 {"id":"2","method":"GET","url":"/v1.0/throttled"},
	 {"id":"3","method":"GET","url":"/v1.0/me","dependsOn":["1"]},
	 {"id":"4","method":"GET","url":"/v1.0/me","dependsOn":["2"]},
	 {"id":"5","method":"POST","url":"relative","headers":{"Content-Type":"image/png"},"body":"iVBORw0KGgo="},
	 {"id":"6","method":"GET","url":"/v1.0/me","atomicityGroup":"ignored in Graph"}
	]}`
	rec, got := serveJSON(t, inner, HandlerOptions{}, "/v1.0/$batch", nil, body)
	me := json.RawMessage(`{"displayName":"Ada"}`)
	js := map[string]string{"Content-Type": "application/json"}
	want := []jsonEntry{
		{ID: "1", Status: 200, Headers: js, Body: me},
		{ID: "2", Status: 429, Headers: map[string]string{"Content-Type": "application/json", "Retry-After": "7"}, Body: json.RawMessage(`{"error":{"code":"TooManyRequests"}}`)},
		{ID: "3", Status: 200, Headers: js, Body: me},
		{ID: "4", Status: 424, Headers: js, Body: json.RawMessage(`{"error":{"code":"FailedDependency","message":"dependsOn \"2\": the request failed with status 429"}}`)},
		{ID: "5", Status: 200, Headers: map[string]string{"Content-Type": "text/plain"}, Body: b64std("POST /v1.0/relative image/png \x89PNG\r\n\x1a\n")},
		{ID: "6", Status: 200, Headers: js, Body: me},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("responses (-want +got):\n%s\n%s", diff, rec.Body)
	}
	if rec.Header().Get("Odata-Version") != "" {
		t.Errorf("a Graph batch answers with OData-Version %q", rec.Header().Get("Odata-Version"))
	}
}

// TestJSONFormatChoice checks how an application/json batch is told apart:
// JSONFormat first, then OData mode, OData fields and parameters; Graph
// otherwise. The OData format shows in lower-case header names.
func TestJSONFormatChoice(t *testing.T) {
	body := `{"requests":[{"id":"a","method":"GET","url":"/x"}]}`
	for _, tc := range []struct {
		name string
		opts HandlerOptions
		hdr  http.Header
		ct   string
		want Format
	}{
		{"default", HandlerOptions{}, nil, "application/json", FormatGraphJSON},
		{"OData-Version", HandlerOptions{}, odataHeader, "application/json", FormatODataJSON},
		{"OData-MaxVersion", HandlerOptions{}, http.Header{"Odata-Maxversion": {"4.01"}}, "application/json", FormatODataJSON},
		{"odata parameter", HandlerOptions{}, nil, "application/json;odata.metadata=minimal", FormatODataJSON},
		{"OData mode", HandlerOptions{OData: true}, nil, "Application/JSON", FormatODataJSON},
		{"option wins", HandlerOptions{OData: true, JSONFormat: FormatGraphJSON}, odataHeader, "application/json", FormatGraphJSON},
		{"option OData", HandlerOptions{JSONFormat: FormatODataJSON}, nil, "application/json", FormatODataJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/$batch", strings.NewReader(body))
			req.Header = tc.hdr.Clone()
			if req.Header == nil {
				req.Header = http.Header{}
			}
			req.Header.Set("Content-Type", tc.ct)
			rec := httptest.NewRecorder()
			NewHandlerOptions(echo(), tc.opts).ServeHTTP(rec, req)
			got := FormatGraphJSON
			if strings.Contains(rec.Body.String(), `"content-type"`) {
				got = FormatODataJSON
			}
			if got != tc.want {
				t.Errorf("format %v, want %v:\n%s", got, tc.want, rec.Body)
			}
		})
	}
}

func TestODataJSONAtomicityGroups(t *testing.T) {
	s := newShop()
	opts := HandlerOptions{BeginGroup: s.begin}
	hdr := http.Header{"Odata-Version": {"4.01"}, "Prefer": {"odata.continue-on-error"}}
	body := `{"requests":[
	 {"id":"c1","atomicityGroup":"g1","method":"POST","url":"Customers","body":{"Name":"Ada"}},
	 {"id":"o1","atomicityGroup":"g1","method":"POST","url":"$c1/Orders","body":{"Qty":2}},
	 {"id":"c2","atomicityGroup":"g2","method":"POST","url":"Customers","body":{"Name":"Bob"}},
	 {"id":"o2","atomicityGroup":"g2","method":"POST","url":"$c2/Orders","body":{"Qty":0}},
	 {"id":"o3","atomicityGroup":"g2","method":"POST","url":"$c2/Orders","body":{"Qty":1}},
	 {"id":"r1","method":"GET","url":"$c1","dependsOn":["g1"]},
	 {"id":"r2","method":"GET","url":"Customers(1)","dependsOn":["g2"]},
	 {"id":"r3","method":"GET","url":"$o1","dependsOn":["r1"]}
	]}`
	rec, got := serveJSON(t, s, opts, "/odata/$batch", hdr, body)
	js := map[string]string{"content-type": "application/json"}
	created := func(loc string) map[string]string {
		return map[string]string{"content-type": "application/json", "location": loc}
	}
	want := []jsonEntry{
		{ID: "c1", AtomicityGroup: "g1", Status: 201, Headers: created("/odata/Customers(1)"), Body: json.RawMessage(`{"ID":1,"Name":"Ada"}`)},
		{ID: "o1", AtomicityGroup: "g1", Status: 201, Headers: created("/odata/Orders(2)"), Body: json.RawMessage(`{"ID":2,"Customer":1}`)},
		{ID: "c2", AtomicityGroup: "g2", Status: 424, Headers: js},
		{ID: "o2", AtomicityGroup: "g2", Status: 400, Headers: js, Body: json.RawMessage(`{"error":"Qty must be positive"}`)},
		{ID: "o3", AtomicityGroup: "g2", Status: 424, Headers: js},
		{ID: "r1", Status: 200, Headers: js, Body: json.RawMessage(`{"ID":1,"Name":"Ada"}`)},
		{ID: "r2", Status: 424, Headers: js},
		{ID: "r3", Status: 404, Headers: js, Body: json.RawMessage(`{"error":"no route GET /odata/Orders(2)"}`)},
	}
	// The 424s say why in bodies of their own, checked below.
	if diff := cmp.Diff(want, got, cmp.Transformer("no424body", func(e jsonEntry) jsonEntry {
		if e.Status == 424 {
			e.Body = nil
		}
		return e
	})); diff != "" {
		t.Errorf("responses (-want +got):\n%s\n%s", diff, rec.Body)
	}
	for _, e := range got {
		if e.Status != 424 {
			continue
		}
		var msg struct{ Error struct{ Message string } }
		json.Unmarshal(e.Body, &msg)
		wantMsg := map[string]string{
			"c2": `rolled back: request "o2" of its atomicity group failed`,
			"o3": `not run: request "o2" of its atomicity group failed`,
			"r2": `dependsOn "g2": the atomicity group failed with status 400`,
		}[e.ID]
		if msg.Error.Message != wantMsg {
			t.Errorf("424 of %s says %q, want %q", e.ID, msg.Error.Message, wantMsg)
		}
	}
	if diff := cmp.Diff(map[string]any{"customers": 1, "orders": 1, "log": "begin commit begin rollback"}, s.state()); diff != "" {
		t.Errorf("store (-want +got):\n%s", diff)
	}
}

// TestODataJSONHaltsOnError: without continue-on-error an OData batch stops
// at its first failure; the requests after it answer 424.
func TestODataJSONHaltsOnError(t *testing.T) {
	body := `{"requests":[
	 {"id":"1","method":"GET","url":"/missing"},
	 {"id":"2","method":"GET","url":"/json"},
	 {"id":"3","atomicityGroup":"g","method":"GET","url":"/json"}
	]}`
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		echo().ServeHTTP(w, r)
	})
	rec, got := serveJSON(t, inner, HandlerOptions{}, "/$batch", odataHeader, body)
	var statuses []int
	for _, e := range got {
		statuses = append(statuses, e.Status)
	}
	if diff := cmp.Diff([]int{404, 424, 424}, statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s\n%s", diff, rec.Body)
	}
	if rec.Header().Get("Preference-Applied") != "" {
		t.Errorf("Preference-Applied %q without the preference", rec.Header().Get("Preference-Applied"))
	}
}

// TestJSONMalformedRequests: a request object that is JSON but not a
// request answers 400 in its place and the batch goes on; a group with
// such a member fails as a whole.
func TestJSONMalformedRequests(t *testing.T) {
	body := `{"odata.note":{"x":[1,2]},"requests":[
	 5,
	 {"id":"a","url":"/x"},
	 {"id":"b","method":"GET"},
	 {"id":"c","method":"G ET","url":"/x"},
	 {"id":"d","method":"GET","url":"/x","headers":{"X":"a\r\nInjected: 1"}},
	 {"id":"e","method":"GET","url":"/x HTTP/1.1\r\nInjected: 1\r\n\r\n"},
	 {"id":"f","method":"GET","url":"/x","dependsOn":["nope"]},
	 {"id":"f","method":"GET","url":"/x"},
	 {"id":"g","method":"GET","url":"//evil.example/x"},
	 {"id":"h","method":"GET","url":"http://evil.example/x"},
	 {"id":"i","method":"GET","url":"/x","headers":{"Host":"evil.example"}},
	 {"id":"j","method":"POST","url":"/x","headers":{"Content-Type":"image/png"},"body":"not base64!"},
	 {"id":"k","method":"POST","url":"/x","body":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `},
	 {"id":"l","method":"GET","url":"/x","headers":{"X":{"no":1}}},
	 {"id":"m1","atomicityGroup":"grp","method":"GET","url":"/x"},
	 {"id":"m2","atomicityGroup":"grp","method":"GET"},
	 {"id":"p","method":"GET","url":"/y z/é"},
	 {"id":"n","atomicityGroup":"grp","method":"GET","url":"/x"},
	 {"id":"q","atomicityGroup":"p","method":"GET","url":"/x"},
	 {"id":"r","method":"GET","url":"/x","dependsOn":["r"]}
	],"more":"ignored"}`
	rec, got := serveJSON(t, echo(), HandlerOptions{MaxJSONDepth: 16}, "/$batch", http.Header{"Prefer": {"continue-on-error"}, "Odata-Version": {"4.0"}}, body)
	type short struct {
		ID, Group string
		Status    int
		Msg       string
	}
	var shorts []short
	for _, e := range got {
		s := short{ID: e.ID, Group: e.AtomicityGroup, Status: e.Status}
		var msg struct{ Error struct{ Message string } }
		if json.Unmarshal(e.Body, &msg) == nil {
			s.Msg = msg.Error.Message
		} else {
			json.Unmarshal(e.Body, &s.Msg) // a text/plain body: a string of its text
		}
		shorts = append(shorts, s)
	}
	bad := "request %d (id %q): batch: bad request object in a JSON batch: "
	want := []short{
		{"", "", 400, fmt.Sprintf(bad, 0, "") + "a request must be an object, not 5"},
		{"a", "", 400, fmt.Sprintf(bad, 1, "a") + "no method"},
		{"b", "", 400, fmt.Sprintf(bad, 2, "b") + "no url"},
		{"c", "", 400, `request 3 (id "c"): mixed: invalid HTTP method: method "G ET" is not a token`},
		{"d", "", 400, `request 4 (id "d"): mixed: invalid header field: field 0 (X): control character "\r" in value`},
		{"e", "", 200, "GET /x%20HTTP/1.1%0D%0AInjected:%201%0D%0A%0D%0A  "},
		{"f", "", 400, fmt.Sprintf(bad, 6, "f") + `dependsOn "nope" names no earlier request or atomicity group`},
		{"f", "", 400, fmt.Sprintf(bad, 7, "f") + `the id "f" is not unique`},
		{"g", "", 400, `batch: call target "http://evil.example/x" is not on the batch endpoint http://example.com`},
		{"h", "", 400, `batch: call target "http://evil.example/x" is not on the batch endpoint http://example.com`},
		{"i", "", 400, `batch: call to host "evil.example", not the batch endpoint's "example.com"`},
		{"j", "", 400, fmt.Sprintf(bad, 11, "j") + `the body of a request of type "image/png" is not base64: illegal base64 data at input byte 3`},
		{"k", "", 400, `request 12 (id "k"): batch: JSON nested too deeply: more than 14 levels`},
		{"l", "", 400, fmt.Sprintf(bad, 13, "l") + "a header value must be a string"},
		{"m1", "grp", 400, fmt.Sprintf(bad, 15, "m2") + "no url"},
		{"m2", "grp", 400, fmt.Sprintf(bad, 15, "m2") + "no url"},
		{"p", "", 200, "GET /y%20z/%C3%A9  "},
		{"n", "", 400, fmt.Sprintf(bad, 17, "n") + `the requests of atomicity group "grp" are not adjacent`},
		{"q", "", 400, fmt.Sprintf(bad, 18, "q") + `atomicityGroup "p" is the id of a request`},
		{"r", "", 400, fmt.Sprintf(bad, 19, "r") + `dependsOn "r" names no earlier request or atomicity group`},
	}
	if diff := cmp.Diff(want, shorts); diff != "" {
		t.Errorf("responses (-want +got):\n%s\n%s", diff, rec.Body)
	}
}

// TestJSONBatchErrors: a body that is not a JSON batch, or too large, is
// refused as a whole before any call runs.
func TestJSONBatchErrors(t *testing.T) {
	var calls atomic.Int32
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
	one := `{"id":"1","method":"GET","url":"/x"}`
	many := func(n int) string {
		return `{"requests":[` + strings.TrimSuffix(strings.Repeat(one+",", n), ",") + `]}`
	}
	for _, tc := range []struct {
		name   string
		opts   HandlerOptions
		body   string
		status int
		is     error
	}{
		{"not JSON", HandlerOptions{}, `{"requests":[` + one + `,}`, 400, ErrJSONBatch},
		{"truncated", HandlerOptions{}, `{"requests":[` + one, 400, ErrJSONBatch},
		{"no requests", HandlerOptions{}, `{"request":[]}`, 400, ErrJSONBatch},
		{"requests not an array", HandlerOptions{}, `{"requests":{}}`, 400, ErrJSONBatch},
		{"an array", HandlerOptions{}, `[` + one + `]`, 400, ErrJSONBatch},
		{"after the object", HandlerOptions{}, many(1) + ` {}`, 400, ErrJSONBatch},
		{"Graph's 20", HandlerOptions{}, many(21), 400, ErrJSONBatch},
		{"MaxCalls", HandlerOptions{MaxCalls: 2}, many(3), 400, ErrJSONBatch},
		{"request over MaxPartBytes", HandlerOptions{MaxPartBytes: 100}, `{"requests":[{"id":"1","method":"GET","url":"/` + strings.Repeat("x", 200) + `"}]}`, 413, ErrJSONBatch},
		{"envelope value over MaxPartBytes", HandlerOptions{MaxPartBytes: 100}, `{"x":"` + strings.Repeat("x", 200) + `","requests":[]}`, 413, ErrJSONBatch},
		{"envelope too deep", HandlerOptions{MaxJSONDepth: 8}, `{"x":[[[[[[[[[[1]]]]]]]]]],"requests":[]}`, 400, ErrJSONTooDeep},
		{"body over MaxBodyBytes", HandlerOptions{MaxBodyBytes: 1000, MaxCalls: 100}, many(40), 413, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls.Store(0)
			rec, _ := serveJSON(t, inner, tc.opts, "/$batch", nil, tc.body)
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("the error is not JSON: %v: %s", err, rec.Body)
			}
			if rec.Code != tc.status || e.Error.Code != errorCode(tc.status) {
				t.Errorf("status %d, code %q, want %d: %s", rec.Code, e.Error.Code, tc.status, rec.Body)
			}
			if tc.is != nil && !strings.HasPrefix(e.Error.Message, strings.TrimPrefix(tc.is.Error(), "batch: ")) && !strings.Contains(e.Error.Message, tc.is.Error()) {
				t.Errorf("message %q does not say %q", e.Error.Message, tc.is)
			}
			if calls.Load() != 0 {
				t.Errorf("%d calls ran", calls.Load())
			}
		})
	}
	// The sentinels are errors.Is-able from what readJSON returns.
	h := NewHandler(inner)
	st := &batchState{format: FormatGraphJSON}
	req := httptest.NewRequest("POST", "/$batch", nil)
	if _, err := h.readJSON(st, strings.NewReader(`{"requests":[1,]}`), req); !errors.Is(err, ErrJSONBatch) {
		t.Errorf("readJSON: %v, not ErrJSONBatch", err)
	}
}

// TestJSONStreamsLargeBodies: a large body that is not JSON streams
// base64-encoded at the head of the order, whole; a JSON body over
// MaxBufferedBytes cannot go out as JSON and answers 500.
func TestJSONStreamsLargeBodies(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdefg"), 20000) // 340 000 bytes, not a multiple of 3
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/bin":
			w.Header().Set("Content-Type", "application/octet-stream")
			for b := big; len(b) > 0; b = b[min(len(b), 1001):] {
				w.Write(b[:min(len(b), 1001)])
				w.(http.Flusher).Flush()
			}
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`"`))
			w.Write(big)
			w.Write([]byte(`"`))
		case "/small":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"ok":true}`))
		}
	})
	body := `{"requests":[{"id":"1","method":"GET","url":"/bin"},{"id":"2","method":"GET","url":"/json"},{"id":"3","method":"GET","url":"/small"},{"id":"4","method":"GET","url":"/bin"}]}`
	for _, f := range []Format{FormatODataJSON, FormatGraphJSON} {
		t.Run(f.String(), func(t *testing.T) {
			rec, got := serveJSON(t, inner, HandlerOptions{JSONFormat: f, MaxBufferedBytes: 100 << 10, Concurrency: 1}, "/$batch", http.Header{"Prefer": {"odata.continue-on-error"}}, body)
			if len(got) != 4 {
				t.Fatalf("%d responses: %.300s", len(got), rec.Body)
			}
			enc := base64.StdEncoding
			if f == FormatODataJSON {
				enc = base64.URLEncoding
			}
			for _, i := range []int{0, 3} {
				var s string
				json.Unmarshal(got[i].Body, &s)
				b, err := enc.DecodeString(s)
				if err != nil || !bytes.Equal(b, big) {
					t.Errorf("response %d: %d bytes, %v", i, len(b), err)
				}
			}
			if got[1].Status != 500 || !strings.Contains(string(got[1].Body), "MaxBufferedBytes") {
				t.Errorf("the JSON body over the budget: %d %s", got[1].Status, got[1].Body)
			}
			if diff := cmp.Diff(`{"ok":true}`, string(got[2].Body)); diff != "" {
				t.Errorf("small body (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGraphJSONConcurrency: Graph calls without dependsOn run at once;
// dependsOn orders them.
func TestGraphJSONConcurrency(t *testing.T) {
	var running, peak atomic.Int32
	var order []string
	var mu = make(chan struct{}, 1)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		// The three independent calls wait for each other (a run that
		// serialises them waits 5 s each and fails), so the peak does not
		// depend on how quickly the goroutines were scheduled.
		for deadline := time.Now().Add(5 * time.Second); r.URL.Path != "/d" && peak.Load() < 3 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		running.Add(-1)
		mu <- struct{}{}
		order = append(order, r.URL.Path)
		<-mu
	})
	body := `{"requests":[
	 {"id":"1","method":"GET","url":"/a"},{"id":"2","method":"GET","url":"/b"},{"id":"3","method":"GET","url":"/c"},
	 {"id":"4","method":"GET","url":"/d","dependsOn":["1","2","3"]}]}`
	_, got := serveJSON(t, inner, HandlerOptions{Concurrency: 4}, "/$batch", nil, body)
	if len(got) != 4 || peak.Load() != 3 || order[3] != "/d" {
		t.Errorf("%d responses, %d at once at most, order %v", len(got), peak.Load(), order)
	}
}

// TestGraphJSONInODataMode: a Graph batch sent to a Handler in OData mode
// follows Graph's rules: no halting on the first error.
func TestGraphJSONInODataMode(t *testing.T) {
	body := `{"requests":[{"id":"1","method":"GET","url":"/missing"},{"id":"2","method":"GET","url":"/json"}]}`
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		echo().ServeHTTP(w, r)
	})
	rec, got := serveJSON(t, inner, HandlerOptions{OData: true, JSONFormat: FormatGraphJSON}, "/$batch", nil, body)
	if len(got) != 2 || got[0].Status != 404 || got[1].Status != 200 {
		t.Errorf("%s", rec.Body)
	}
}

// TestJSONDependsOnRepeats: a dependsOn that names one request a hundred
// thousand times is one dependency, found in one pass.
func TestJSONDependsOnRepeats(t *testing.T) {
	body := `{"requests":[{"id":"1","method":"GET","url":"/json"},{"id":"2","method":"GET","url":"/json","dependsOn":[` +
		strings.TrimSuffix(strings.Repeat(`"1",`, 100000), ",") + `]}]}`
	st := &batchState{format: FormatGraphJSON}
	h := NewHandler(echo())
	if _, err := h.readJSON(st, strings.NewReader(body), httptest.NewRequest("POST", "/$batch", nil)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{0}, st.calls[1].after); diff != "" {
		t.Errorf("dependencies (-want +got):\n%s", diff)
	}
	_, got := serveJSON(t, echo(), HandlerOptions{}, "/$batch", nil, body)
	if len(got) != 2 || got[1].Status != 200 {
		t.Errorf("responses: %+v", got)
	}
}

// TestAddJSONHeadersAgreesWithEncodingJSON: the walk over a headers object
// reads what encoding/json reads from it, white space, escapes, arrays
// and scalars included.
func TestAddJSONHeadersAgreesWithEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 6).Draw(t, "fields")
		ws := func() string { return rapid.SampledFrom([]string{"", " ", "\n\t ", "\r\n"}).Draw(t, "ws") }
		var doc strings.Builder
		doc.WriteString("{" + ws())
		seen := map[string]bool{}
		for i := 0; i < n; i++ {
			name := rapid.StringMatching(`[A-Za-z0-9-]{1,8}`).Draw(t, "name")
			if seen[name] {
				continue
			}
			seen[name] = true
			if len(seen) > 1 {
				doc.WriteString("," + ws())
			}
			q, _ := json.Marshal(name)
			doc.Write(q)
			doc.WriteString(ws() + ":" + ws())
			str := func() string {
				v := rapid.StringMatching(`[ -~é\x{2028}]{0,10}`).Draw(t, "value")
				b, _ := json.Marshal(v)
				return string(b)
			}
			switch rapid.IntRange(0, 3).Draw(t, "kind") {
			case 0:
				doc.WriteString(str())
			case 1:
				doc.WriteString("[" + ws())
				for j := range rapid.IntRange(0, 3).Draw(t, "values") {
					if j > 0 {
						doc.WriteString("," + ws())
					}
					doc.WriteString(str() + ws())
				}
				doc.WriteString("]")
			case 2:
				doc.WriteString(rapid.SampledFrom([]string{"12", "-1.5e3", "true", "false", "null"}).Draw(t, "scalar"))
			case 3:
				doc.WriteString(`"\u0041\t\"x\\"`)
			}
			doc.WriteString(ws())
		}
		doc.WriteString("}")
		var want map[string]jsonValues
		if err := json.Unmarshal([]byte(doc.String()), &want); err != nil {
			t.Fatalf("the generator wrote bad JSON %q: %v", doc.String(), err)
		}
		var hdr mixed.Header
		if err := addJSONHeaders(&hdr, json.RawMessage(doc.String()), 1<<30, 1<<30, plainOf([]byte(doc.String()))); err != nil {
			t.Fatalf("%q: %v", doc.String(), err)
		}
		got := map[string]jsonValues{}
		for name, value := range hdr.All() {
			got[string(name)] = append(got[string(name)], string(value))
		}
		for k, vv := range want {
			for i := range vv {
				vv[i] = strings.Trim(vv[i], " \t")
			}
			if len(vv) == 0 {
				delete(want, k)
			}
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%q (-encoding/json +walk):\n%s", doc.String(), diff)
		}
	})
}

// badID finds an id that is neither a string nor a number, in the
// documents of TestParseRequestObjectAgreesWithEncodingJSON.
var badID = regexp.MustCompile(`"(id|ID)"\s*:\s*[tf\[{]`)

// TestParseRequestObjectAgreesWithEncodingJSON: the walk over a request
// object reads the fields encoding/json reads into a struct (keys in any
// case, the last of a repeated key, escapes, white space), and refuses a
// value of the wrong type where encoding/json does.
func TestParseRequestObjectAgreesWithEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ws := func() string { return rapid.SampledFrom([]string{"", " ", "\n\t"}).Draw(t, "ws") }
		str := func() string {
			b, _ := json.Marshal(rapid.StringMatching(`[ -~é]{0,8}`).Draw(t, "s"))
			return strings.Replace(string(b), "a", `\u0061`, 1)
		}
		values := map[string]func() string{
			"id": func() string {
				return rapid.SampledFrom([]string{str(), "12", "-3", "null", "true", "[]"}).Draw(t, "id")
			},
			"method":         func() string { return rapid.SampledFrom([]string{str(), "null", "1"}).Draw(t, "method") },
			"url":            func() string { return rapid.SampledFrom([]string{str(), "null", "{}"}).Draw(t, "url") },
			"atomicityGroup": func() string { return rapid.SampledFrom([]string{str(), "null"}).Draw(t, "group") },
			"dependsOn": func() string {
				return rapid.SampledFrom([]string{"[]", "null", "[" + str() + "," + ws() + str() + "]", `["a",1]`, `"x"`}).Draw(t, "deps")
			},
			"headers": func() string { return rapid.SampledFrom([]string{`{"a":"b"}`, "null", `{ }`}).Draw(t, "headers") },
			"body": func() string {
				return rapid.SampledFrom([]string{`{"a":[1,{"b":"}"}]}`, `"x"`, "null", "3", `[[]]`}).Draw(t, "body")
			},
			"other": func() string { return rapid.SampledFrom([]string{`{"id":"inner"}`, `["]"]`, "false"}).Draw(t, "other") },
		}
		keys := []string{"id", "method", "url", "atomicityGroup", "dependsOn", "headers", "body", "other"}
		var doc strings.Builder
		doc.WriteString("{" + ws())
		for i := range rapid.IntRange(0, 10).Draw(t, "n") {
			k := rapid.SampledFrom(keys).Draw(t, "key")
			name := k
			if rapid.Bool().Draw(t, "upper") {
				name = strings.ToUpper(k)
			}
			if i > 0 {
				doc.WriteString("," + ws())
			}
			doc.WriteString(`"` + name + `"` + ws() + ":" + ws() + values[k]() + ws())
		}
		doc.WriteString("}")
		var std struct {
			ID                          json.RawMessage
			Method, URL, AtomicityGroup string
			DependsOn                   []string
			Headers, Body               json.RawMessage
		}
		stdErr := json.Unmarshal([]byte(doc.String()), &std)
		if stdErr == nil && badID.MatchString(doc.String()) {
			// An id is a string or a number (the walk's rule, which a
			// RawMessage cannot say), wherever the key repeats.
			stdErr = errors.New("an id that is neither a string nor a number")
		}
		var jr requestObject
		err := parseRequestObject([]byte(doc.String()), &jr, DefaultMaxJSONDepth, plainOf([]byte(doc.String())), nil)
		if (stdErr != nil) != (err != nil) {
			t.Fatalf("%s: encoding/json says %v, the walk %v", doc.String(), stdErr, err)
		}
		if stdErr != nil {
			return
		}
		var id string
		if len(std.ID) > 0 && string(std.ID) != "null" {
			if json.Unmarshal(std.ID, &id) != nil {
				id = string(std.ID)
			}
		}
		deps := []string{}
		for _, d := range jr.DependsOn {
			deps = append(deps, string(d))
		}
		norm := func(b []byte) string {
			if string(b) == "null" {
				return ""
			}
			return string(b)
		}
		want := []any{id, std.Method, std.URL, std.AtomicityGroup, std.DependsOn, norm(std.Headers), norm(std.Body)}
		got := []any{jr.ID, jr.Method, jr.URL, jr.AtomicityGroup, deps, norm(jr.Headers), norm(jr.Body)}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%s (-encoding/json +walk):\n%s", doc.String(), diff)
		}
	})
}

// jsonValues is a header value as encoding/json reads it, the oracle of
// addJSONHeaders: a string, a number or a boolean as its
// text, or an array of strings for a field given more than once.
type jsonValues []string

func (v *jsonValues) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		var ss []string
		err := json.Unmarshal(b, &ss)
		*v = ss
		return err
	}
	if len(b) > 0 && b[0] == '"' {
		s, err := unquote(b)
		*v = jsonValues{s}
		return err
	}
	if string(b) == "null" {
		*v = nil
		return nil
	}
	if len(b) > 0 && b[0] == '{' {
		return fmt.Errorf("%w: a header value must be a string", ErrJSONRequest)
	}
	*v = jsonValues{string(b)}
	return nil
}

// A text body goes into an OData JSON batch response escaped a piece at a
// time (textPiece): every rune whole, whatever piece boundary it sits on,
// and a body of control characters, which escaping makes six times longer,
// the same as escaped at once. encoding/json is the oracle.
func TestODataJSONTextBodyInPieces(t *testing.T) {
	var bodies []string
	for _, r := range []string{"é", "€", "😀"} {
		for shift := range 4 {
			bodies = append(bodies, strings.Repeat("a", textPiece-shift)+strings.Repeat(r, 3)+strings.Repeat("b", textPiece))
		}
	}
	bodies = append(bodies,
		strings.Repeat("\x01\"\\\n", 20<<10),
		strings.Repeat("<&>\u2028é", 3*textPiece),
		"",
		"x",
	)
	for i, want := range bodies {
		inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, want)
		})
		// Behind the first call too, where the body is buffered whole.
		rec, got := serveJSON(t, inner, HandlerOptions{}, "/svc/$batch", odataHeader, `{"requests":[{"id":"1","method":"GET","url":"x"},{"id":"2","method":"GET","url":"y"}]}`)
		if len(got) != 2 {
			t.Fatalf("body %d: %d responses: %s", i, len(got), rec.Body)
		}
		for _, e := range got {
			var s string
			if want != "" {
				if err := json.Unmarshal(e.Body, &s); err != nil {
					t.Fatalf("body %d, call %s: %v", i, e.ID, err)
				}
			}
			if s != want {
				t.Errorf("body %d, call %s: %d bytes, want %d; first difference at %d", i, e.ID, len(s), len(want), firstDiff(s, want))
			}
		}
	}
}

// firstDiff returns the index of the first byte where a and b differ.
func firstDiff(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
