package batch

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
	"pgregory.net/rapid"
)

// propCall is one call of the format property.
type propCall struct {
	ID, Method, Path, XTest string
	Body                    []byte
	JSONBody                bool
}

// propResult is one response as every format must give it back.
type propResult struct {
	ID                          string
	Status                      int
	ContentType, XEcho, XMethod string
	Body                        string
}

func drawPropCalls(t *rapid.T) []propCall {
	n := rapid.IntRange(1, 20).Draw(t, "calls")
	calls := make([]propCall, n)
	for i := range calls {
		c := &calls[i]
		c.ID = strconv.Itoa(i + 1)
		c.Method = rapid.SampledFrom([]string{"GET", "POST", "PUT", "PATCH", "DELETE"}).Draw(t, "method")
		status := rapid.SampledFrom([]int{200, 201, 204, 400, 404, 429, 500}).Draw(t, "status")
		kind := rapid.SampledFrom([]string{"json", "bin"}).Draw(t, "kind")
		seg := rapid.StringMatching(`[a-zA-Z0-9_\-~.]{0,12}`).Draw(t, "segment")
		if seg == "." || seg == ".." {
			seg = "dot"
		}
		c.Path = fmt.Sprintf("/%d/%s/%s", status, kind, seg)
		c.XTest = rapid.StringMatching(`[ -~]{0,20}`).Draw(t, "x-test")
		c.XTest = strings.TrimSpace(c.XTest)
		if c.Method != "GET" && c.Method != "DELETE" {
			if c.JSONBody = rapid.Bool().Draw(t, "json body"); c.JSONBody {
				v := rapid.SliceOfN(rapid.String(), 0, 4).Draw(t, "json")
				c.Body, _ = json.Marshal(v)
			} else {
				c.Body = rapid.SliceOfN(rapid.Byte(), 1, 300).Draw(t, "bytes")
			}
		}
	}
	return calls
}

func (c *propCall) contentType() string {
	if c.JSONBody {
		return "application/json"
	}
	return "application/octet-stream"
}

// multipartBody writes calls as a multipart batch with the codec.
func multipartBody(t *rapid.T, calls []propCall) (string, []byte) {
	var buf bytes.Buffer
	w := mixed.NewWriter(&buf)
	mw := mixed.NewMessageWriter()
	for _, c := range calls {
		var ph, h mixed.Header
		ph.Add("Content-Type", "application/http")
		ph.Add("Content-ID", "<"+c.ID+">")
		pw, err := w.CreatePart(&ph)
		if err != nil {
			t.Fatal(err)
		}
		if c.XTest != "" {
			h.Add("X-Test", c.XTest)
		}
		if c.Body != nil {
			h.Add("Content-Type", c.contentType())
		}
		if err := mw.WriteRequest(pw, c.Method, c.Path, &h, c.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.ContentType(), buf.Bytes()
}

// jsonBody writes calls as a JSON batch with encoding/json: JSON bodies as
// JSON, others base64 (in the alphabet of format f).
func jsonBatchBody(calls []propCall, f Format) []byte {
	type req struct {
		ID      string            `json:"id"`
		Method  string            `json:"method"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers,omitempty"`
		Body    json.RawMessage   `json:"body,omitempty"`
	}
	var reqs []req
	for _, c := range calls {
		r := req{ID: c.ID, Method: c.Method, URL: c.Path, Headers: map[string]string{}}
		if c.XTest != "" {
			r.Headers["X-Test"] = c.XTest
		}
		if c.Body != nil {
			r.Headers["Content-Type"] = c.contentType()
			r.Body = c.Body
			if !c.JSONBody {
				enc := base64.StdEncoding
				if f == FormatODataJSON {
					enc = base64.RawURLEncoding
				}
				r.Body, _ = json.Marshal(enc.EncodeToString(c.Body))
			}
		}
		reqs = append(reqs, r)
	}
	b, _ := json.Marshal(map[string]any{"requests": reqs})
	return b
}

func readPropMultipart(t *rapid.T, rec *httptest.ResponseRecorder) []propResult {
	boundary, err := mixed.ParseBoundary(rec.Header().Get("Content-Type"))
	if err != nil {
		t.Fatalf("multipart response %d %q: %v: %s", rec.Code, rec.Header(), err, rec.Body)
	}
	r := mixed.NewReader(rec.Body, boundary)
	var out []propResult
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		m, err := mixed.NewMessageReader(p).ReadResponse("")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(m.Body)
		ct := m.Header.Get("Content-Type")
		out = append(out, propResult{ID: callID(p.Header.GetBytes("Content-ID")), Status: m.StatusCode, ContentType: ct,
			XEcho: m.Header.Get("X-Echo"), XMethod: m.Header.Get("X-Method"), Body: normalBody(ct, b)})
	}
}

func readPropJSON(t *rapid.T, rec *httptest.ResponseRecorder, f Format) []propResult {
	var resp struct{ Responses []jsonEntry }
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("%v response %d: %v: %s", f, rec.Code, err, rec.Body)
	}
	var out []propResult
	for _, e := range resp.Responses {
		get := func(name string) string {
			if f == FormatODataJSON {
				name = strings.ToLower(name)
			}
			return e.Headers[name]
		}
		ct := get("Content-Type")
		var body []byte
		switch {
		case len(e.Body) == 0:
		case isJSONMedia(ct):
			body = e.Body
		default:
			var s string
			if err := json.Unmarshal(e.Body, &s); err != nil {
				t.Fatalf("response %s: body %s is not a string", e.ID, e.Body)
			}
			enc := base64.StdEncoding
			if f == FormatODataJSON {
				enc = base64.URLEncoding
			}
			var err error
			if body, err = enc.DecodeString(s); err != nil {
				t.Fatalf("response %s: body %q: %v", e.ID, s, err)
			}
		}
		out = append(out, propResult{ID: e.ID, Status: e.Status, ContentType: ct, XEcho: get("X-Echo"), XMethod: get("X-Method"), Body: normalBody(ct, body)})
	}
	return out
}

// TestFormatsAgree: the same calls, sent as a multipart, an OData JSON and
// a Graph JSON batch to the same inner handler, give the same responses
// (status, fields, body) in the same order.
func TestFormatsAgree(t *testing.T) {
	h := NewHandlerOptions(propInner(), HandlerOptions{MaxCalls: 50})
	rapid.Check(t, func(t *rapid.T) {
		calls := drawPropCalls(t)
		serve := func(ct string, hdr http.Header, body []byte) *httptest.ResponseRecorder {
			req := httptest.NewRequest("POST", "/$batch", bytes.NewReader(body))
			for k, vv := range hdr {
				req.Header[k] = vv
			}
			req.Header.Set("Content-Type", ct)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}
		ct, mp := multipartBody(t, calls)
		want := readPropMultipart(t, serve(ct, nil, mp))
		if len(want) != len(calls) {
			t.Fatalf("%d multipart responses for %d calls", len(want), len(calls))
		}
		odata := readPropJSON(t, serve("application/json", http.Header{"Odata-Version": {"4.01"}, "Prefer": {"odata.continue-on-error"}}, jsonBatchBody(calls, FormatODataJSON)), FormatODataJSON)
		if diff := cmp.Diff(want, odata); diff != "" {
			t.Errorf("OData JSON against multipart (-want +got):\n%s", diff)
		}
		graph := readPropJSON(t, serve("application/json", nil, jsonBatchBody(calls, FormatGraphJSON)), FormatGraphJSON)
		if diff := cmp.Diff(want, graph); diff != "" {
			t.Errorf("Graph JSON against multipart (-want +got):\n%s", diff)
		}
	})
}
