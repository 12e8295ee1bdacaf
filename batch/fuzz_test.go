package batch

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mixedcodec/mixed"
)

// handlerSeeds are batch bodies (boundary "b") for FuzzHandler: the
// Calendar seed, changesets that commit and roll back, $<Content-ID>
// targets, result references into and out of changesets, and malformed
// changesets.
func handlerSeeds(tb testing.TB) map[string]string {
	raw, err := os.ReadFile("../testdata/calendar-batch-request.http")
	if err != nil {
		tb.Fatal(err)
	}
	_, cal, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	return map[string]string{
		"calendar": strings.ReplaceAll(string(cal), "batch_foobarbaz", "b"),
		"commit": batchBody(changeset("",
			part("1", jsonPart("POST", "Customers", `{"Name":"Ann"}`)),
			part("2", jsonPart("POST", "$1/Orders", `{"Qty":2}`)),
		), part("3", jsonPart("GET", "/odata/Customers(1)", ""))),
		"rollback": batchBody(changeset("cs",
			part("1", jsonPart("POST", "Customers", `{"Name":"Ann"}`)),
			part("2", jsonPart("POST", "$1/Orders", `{"Qty":0}`)),
			part("3", jsonPart("POST", "$2", `{}`)),
		)),
		"references": batchBody(
			changeset("", part("ann", jsonPart("POST", "Customers", `{"Name":"Ann"}`))),
			part("r", jsonPart("POST", "Customers($result[ann][ID])/Orders", `{"Qty":1}`)),
			part("s", jsonPart("GET", "Customers($result[r][Customer])", "")),
			changeset("", part("t", jsonPart("POST", "Customers($result[s][ID])/Orders", `{"Qty":"$result[r][ID]"}`))),
		),
		"malformed": batchBody(
			"--b\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n",
			"--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x--\r\n--cs--\r\n",
			"--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: application/http\r\n\r\nGET /x HTTP/1.1\r\n",
		),
	}
}

// FuzzHandler serves any batch body with every feature on, against the
// transactional shop. Whatever the body: no panic and no deadlock; an
// error answer is an outer 4xx; a 200 answer is a multipart body with one
// part per part of the request, in order; a changeset's part is nested
// with one part per call when it committed; each call's response part
// echoes its Content-ID as the request part had it (with "response-" but
// in OData mode); and no group is left open.
func FuzzHandler(f *testing.F) {
	seeds := handlerSeeds(f)
	for _, name := range slices.Sorted(maps.Keys(seeds)) {
		f.Add([]byte(seeds[name]), byte(0))
		f.Add([]byte(seeds[name]), byte(0xff))
	}
	f.Fuzz(func(t *testing.T, body []byte, flags byte) {
		s := newShop()
		opts := HandlerOptions{
			ResultReferences: true,
			BeginGroup:       s.begin,
			OData:            flags&1 != 0,
			HaltOnError:      flags&2 != 0,
			Concurrency:      1 + int(flags>>2&7),
			MaxCalls:         64,
			MaxPartBytes:     1 << 12,
		}
		h := NewHandlerOptions(s, opts)
		req := httptest.NewRequest("POST", "http://shop.example/odata/$batch", bytes.NewReader(body))
		req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
		rec := serveShopBounded(t, h, req, s)

		resp := rec.Result()
		if resp.StatusCode != 200 {
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Fatalf("outer status %d", resp.StatusCode)
			}
			return
		}
		// The request's own top-level parts, read with the codec, are
		// what the response must answer one by one.
		var want []int // members of each part; -1 for a plain call
		// The Content-IDs of the parts, and of a changeset's parts,
		// which their responses echo.
		var wantIDs [][]string
		respID := func(cid []byte) string {
			if len(cid) == 0 || opts.OData {
				return string(cid)
			}
			return string(appendResponseID(nil, cid))
		}
		rd := mixed.NewReader(bytes.NewReader(body), "b")
		for {
			p, err := rd.NextPart()
			if err != nil {
				break
			}
			n := -1
			ids := []string{respID(p.Header.GetBytes("Content-ID"))}
			if ct := p.Header.GetBytes("Content-Type"); isMediaType(ct, "multipart/mixed") {
				if b, err := mixed.ParseBoundary(string(ct)); err == nil {
					n = 0
					cr := mixed.NewReader(p, b)
					ids = nil
					for {
						q, err := cr.NextPart()
						if err != nil {
							break
						}
						ids = append(ids, respID(q.Header.GetBytes("Content-ID")))
						n++
					}
				}
			}
			want = append(want, n)
			wantIDs = append(wantIDs, ids)
		}
		b, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		var gotIDs [][]string
		r := mixed.NewReader(resp.Body, b)
		for {
			p, err := r.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("response part %d: %v", len(got), err)
			}
			ct := p.Header.Get("Content-Type")
			if !strings.HasPrefix(ct, "multipart/mixed") {
				if _, err := mixed.NewMessageReader(p).ReadResponse(""); err != nil {
					t.Fatalf("response part %d: %v", len(got), err)
				}
				got = append(got, -1)
				gotIDs = append(gotIDs, []string{p.Header.Get("Content-ID")})
				continue
			}
			cb, err := mixed.ParseBoundary(ct)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			var ids []string
			cr := mixed.NewReader(p, cb)
			for {
				q, err := cr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("response part %d, changeset part %d: %v", len(got), n, err)
				}
				if _, err := mixed.NewMessageReader(q).ReadResponse(""); err != nil {
					t.Fatalf("response part %d, changeset part %d: %v", len(got), n, err)
				}
				ids = append(ids, q.Header.Get("Content-ID"))
				n++
			}
			got = append(got, n)
			gotIDs = append(gotIDs, ids)
		}
		if len(got) != len(want) {
			t.Fatalf("%d response parts for %d request parts", len(got), len(want))
		}
		for i := range got {
			// A changeset that failed is answered by one response.
			if got[i] != want[i] && !(want[i] >= 0 && got[i] == -1) {
				t.Errorf("part %d: %d nested responses for %d calls", i, got[i], want[i])
			}
			// A call's response, and a committed changeset's, echo
			// the Content-IDs ("response-" ones but in OData mode).
			if got[i] == want[i] && !slices.Equal(gotIDs[i], wantIDs[i]) {
				t.Errorf("part %d: Content-IDs %q answer %q", i, gotIDs[i], wantIDs[i])
			}
		}
	})
}

// jsonBatchSeeds are JSON batch bodies for FuzzODataJSON and FuzzGraphJSON:
// atomicity groups that commit and roll back, dependsOn, $id urls, base64
// bodies, and malformed request objects.
var jsonBatchSeeds = []string{
	// More members than the scanner notes: read by a walk of the object.
	`{"requests":[{"x0":0,"x1":1,"x2":2,"x3":3,"x4":4,"x5":5,"x6":6,"x7":7,"x8":8,"x9":9,"x10":10,"x11":11,"x12":12,"x13":13,"x14":14,"x15":15,"id":"1","method":"GET","url":"/odata/Customers(1)","ID":"2"},{"id":"3","method":"GET","url":"/x"}]}`,
	`{"requests":[{"id":"1","method":"GET","url":"/odata/Customers(1)"}]}`,
	`{"requests":[
	 {"id":"c1","atomicityGroup":"g1","method":"POST","url":"Customers","body":{"Name":"Ada"}},
	 {"id":"o1","atomicityGroup":"g1","method":"POST","url":"$c1/Orders","body":{"Qty":2}},
	 {"id":"c2","atomicityGroup":"g2","method":"POST","url":"Customers","headers":{"Content-Type":"application/json"},"body":{"Name":"Bob"}},
	 {"id":"o2","atomicityGroup":"g2","method":"POST","url":"$c2/Orders","body":{"Qty":0}},
	 {"id":"r1","method":"GET","url":"$c1","dependsOn":["g1"]},
	 {"id":"r2","method":"GET","url":"Customers(1)","dependsOn":["g2","r1"]}]}`,
	`{"requests":[{"id":1,"method":"PUT","url":"/odata/x","headers":{"content-type":"image/png","X":["a","b"]},"body":"iVBORw0KGgo="},
	 {"id":"2","method":"POST","url":"http://shop.example/odata/nogroup","body":"a string"}]}`,
	`{"x":{"y":[1,2,{}]},"requests":[5,null,{},{"id":"a"},{"id":"a","method":"GET","url":"/x","dependsOn":["a","zz"]}],"requests":[]}`,
	`{"requests":[{"id":"1","method":"GET","url":"/odata/Customers(1)","atomicityGroup":"1"}]} `,
	`{"requests":[{"id":"e","method":"POST","url":"/echo","body":{"a":[1,"x",{"b":null}]}},{"id":"f","method":"POST","url":"/echo","dependsOn":["e"],"body":[]}]}`,
	`{"requests":[{"id":"1","method":"GET","url":"/x"}],"Requests":[{"id":"2","method":"GET","url":"/y"}],"requeſts":[]}`,
	`{"\u0072equests":[{"id":"1","method":"GET","url":"$1","headers":{"XXXXXXXX":["","","","","",""]},"x":[[[[[[[[1]]]]]]]]}]}`,
	`{"requests":[{"id":"a","method":"GET","url":"$b/x"},{"id":"b","method":"GET","url":"$a/x","dependsOn":["a"]}]}`,
	// Result references (flags 0x20): into an echo's object, in a url,
	// a query, a body's value and key, escaped, to a failed call.
	`{"requests":[{"id":"e","method":"POST","url":"/echo","body":{"a":"x","n":[1,{"b":"../y"}]}},
	 {"id":"f","method":"POST","url":"/echo?q=$result[e][a]","body":{"v":"$result[e][n]","k":{"$result[e][a]":"%24result%5Be%5D%5Bn%5D%5B1%5D"}}},
	 {"id":"g","method":"GET","url":"/odata/Customers($result[f][v][0])"},
	 {"id":"h","method":"POST","url":"/echo","body":["\u0024result[e][n][1][b]","$result[g][x]","$result[h]","$result[z]"]},
	 {"id":"i","method":"GET","url":"/odata/$result[e][n][1][b]"}]}`,
}

// fuzzJSONBatch serves body as a JSON batch of format f against the
// transactional shop, with result references on when flags has 0x20, and
// checks what any answer must be: no panic, no deadlock, no group left
// open; an outer error is a 4xx with a JSON error; a 200 is JSON with one
// response object per request object, in order, each with the request's
// id, JSON bodies as JSON and others in base64; its size bounded by the
// request's (and, with references, by MaxPartBytes a call, what a call's
// substituted body may reach); and a request whose body is a JSON object
// reaches the inner handler, and comes back, as that object (as base64 of
// its bytes when it is not UTF-8, which a batch response cannot carry as
// JSON), unless a reference may have changed it.
func fuzzJSONBatch(t *testing.T, f Format, body []byte, flags byte) {
	s := newShop()
	refs := flags&0x20 != 0
	opts := HandlerOptions{
		JSONFormat:       f,
		BeginGroup:       s.begin,
		HaltOnError:      flags&2 != 0,
		Concurrency:      1 + int(flags>>2&7),
		MaxCalls:         64,
		MaxPartBytes:     1 << 12,
		MaxJSONDepth:     8,
		ResultReferences: refs,
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/echo" {
			w.Header().Set("Content-Type", "application/json")
			io.Copy(w, r.Body)
			return
		}
		s.ServeHTTP(w, r)
	})
	h := NewHandlerOptions(inner, opts)
	req := httptest.NewRequest("POST", "http://shop.example/odata/$batch", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if flags&1 != 0 {
		req.Header.Set("Prefer", "odata.continue-on-error")
	}
	rec := serveShopBounded(t, h, req, s)
	if rec.Code != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string }
		}
		if rec.Code < 400 || rec.Code >= 500 || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error.Message == "" {
			t.Fatalf("outer answer %d: %q", rec.Code, rec.Body)
		}
		return
	}
	var resp struct{ Responses []jsonEntry }
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("the answer is not JSON: %v: %q", err, rec.Body)
	}
	perCall := 1024
	if refs {
		// A call's body, its references substituted, may reach
		// MaxPartBytes, and come back as base64.
		perCall += 2 * int(opts.MaxPartBytes)
	}
	if max := 4*len(body) + perCall*len(resp.Responses) + 1024; rec.Body.Len() > max {
		t.Errorf("%d bytes answer %d bytes of batch", rec.Body.Len(), len(body))
	}
	if name := repeatedHeaderName(t, rec.Body.Bytes()); name != "" {
		t.Errorf("a headers object names %q twice, case aside: %s", name, rec.Body)
	}
	// The request objects, read by encoding/json on its own: a batch
	// answered is one it reads the same requests array of, however its
	// key is spelled, since a second one is refused.
	var in struct{ Requests []json.RawMessage }
	if json.Unmarshal(body, &in) != nil {
		return
	}
	if len(resp.Responses) != len(in.Requests) {
		t.Fatalf("%d response objects for %d request objects", len(resp.Responses), len(in.Requests))
	}
	for i, raw := range in.Requests {
		e := resp.Responses[i]
		var r struct {
			ID     json.RawMessage
			Method string
			URL    string
			Body   json.RawMessage
		}
		if json.Unmarshal(raw, &r) != nil {
			continue
		}
		var id string
		if json.Unmarshal(r.ID, &id) != nil {
			var n json.Number
			if json.Unmarshal(r.ID, &n) == nil {
				id = n.String()
			}
		}
		if e.ID != id {
			t.Errorf("response %d has id %q for request id %q", i, e.ID, id)
		}
		ct := e.Headers["Content-Type"] + e.Headers["content-type"]
		if len(e.Body) > 0 && !isJSONMedia(ct) {
			var s string
			if json.Unmarshal(e.Body, &s) != nil || decodeBase64Check(s) != nil {
				t.Errorf("response %d: a %q body that is not base64: %s", i, ct, e.Body)
			}
		}
		// Every reference spells "result" in the text of the request
		// object's strings (JSON escapes read): without it, the echo is
		// the body sent.
		mayRef := refs && mentionsResult(raw)
		if r.URL == "/echo" && r.Method == "POST" && e.Status == 200 && len(r.Body) > 0 && r.Body[0] == '{' && !mayRef {
			if !utf8.Valid(r.Body) {
				// JSON that encoding/json reads, but not UTF-8: the
				// Handler passes it on as it is, and writes the echo
				// back as base64 in the batch's alphabet, not as JSON
				// (RFC 8259 §8.1; see carriesJSON).
				enc := base64.StdEncoding
				if f == FormatODataJSON {
					enc = base64.URLEncoding
				}
				var s string
				if json.Unmarshal(e.Body, &s) != nil {
					t.Errorf("response %d: body %q came back as %s, not a base64 string", i, r.Body, e.Body)
				} else if got, err := enc.DecodeString(s); err != nil || !bytes.Equal(got, r.Body) {
					t.Errorf("response %d: body %q came back as base64 of %q (%v)", i, r.Body, got, err)
				}
				continue
			}
			var a, b bytes.Buffer
			json.Compact(&a, r.Body)
			json.Compact(&b, e.Body)
			if a.String() != b.String() {
				t.Errorf("response %d: body %s came back as %s", i, a.Bytes(), b.Bytes())
			}
		}
	}
}

// mentionsResult reports whether the text of a string of the JSON value
// raw, key or value, holds "result" in any case, as a result reference
// does, however it is escaped.
func mentionsResult(raw json.RawMessage) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return true
	}
	b, err := json.Marshal(v) // writes letters as they are
	return err != nil || bytes.Contains(bytes.ToLower(b), []byte("result"))
}

// repeatedHeaderName returns a name that a headers object of the JSON
// batch response b has twice, case aside, or "": JSON parsers keep one
// of two members of the same name, or both.
func repeatedHeaderName(t *testing.T, b []byte) string {
	var resp struct {
		Responses []struct{ Headers json.RawMessage }
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatalf("the answer is not JSON: %v", err)
	}
	for _, e := range resp.Responses {
		if len(e.Headers) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(e.Headers))
		if _, err := dec.Token(); err != nil {
			t.Fatalf("headers %s: %v", e.Headers, err)
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatalf("headers %s: %v", e.Headers, err)
			}
			name := strings.ToLower(tok.(string))
			if seen[name] {
				return name
			}
			seen[name] = true
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("headers %s: %v", e.Headers, err)
			}
		}
	}
	return ""
}

// decodeBase64Check decodes s in either alphabet, padded.
func decodeBase64Check(s string) error {
	if _, err := base64.StdEncoding.DecodeString(s); err == nil {
		return nil
	}
	_, err := base64.URLEncoding.DecodeString(s)
	return err
}

// FuzzJSONScan holds the scanner that reads JSON batches to encoding/json
// on any input: the same documents valid, the same refusals in the same
// words, the same values found one after another, however the input
// arrives, and nesting counted as checkDepth counts it (checkJSONScan).
func FuzzJSONScan(f *testing.F) {
	for _, s := range jsonScanCases {
		f.Add([]byte(s))
	}
	for _, s := range jsonBatchSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) { checkJSONScan(t, doc) })
}

// FuzzODataJSON serves any body as an OData JSON batch: see fuzzJSONBatch.
func FuzzODataJSON(f *testing.F) {
	for _, s := range jsonBatchSeeds {
		f.Add([]byte(s), byte(0))
		f.Add([]byte(s), byte(0xff))
	}
	f.Fuzz(func(t *testing.T, body []byte, flags byte) { fuzzJSONBatch(t, FormatODataJSON, body, flags) })
}

// FuzzGraphJSON serves any body as a Graph JSON batch: see fuzzJSONBatch.
func FuzzGraphJSON(f *testing.F) {
	for _, s := range jsonBatchSeeds {
		f.Add([]byte(s), byte(0))
		f.Add([]byte(s), byte(0xff))
	}
	f.Fuzz(func(t *testing.T, body []byte, flags byte) { fuzzJSONBatch(t, FormatGraphJSON, body, flags) })
}

// clientJSONSeeds are JSON batch responses to the calls of
// FuzzClientJSONResponse ("a", "1", and "b" and "c" in a changeset) that
// its model tells apart: nested JSON bodies, base64 in either alphabet,
// text, header arrays and numbers, ids repeated or given as numbers or
// escapes, escaped and unpaired surrogates, bodies at and past the limit,
// keys in other cases, changesets that fail and are answered in part,
// documents cut short or followed by more, and more values than the
// reader reads.
var clientJSONSeeds = []string{
	// More members than the scanner notes: read by a walk of the object.
	`{"responses":[{"x0":0,"x1":1,"x2":2,"x3":3,"x4":4,"x5":5,"x6":6,"x7":7,"x8":8,"x9":9,"x10":10,"x11":11,"x12":12,"x13":13,"x14":14,"x15":15,"id":"a","status":200,"body":{"k":1},"Status":201},{"id":"1","status":204}]}`,
	`{"responses":[{"id":"a","status":200,"headers":{"Content-Type":"application/json"},"body":{"x":1}},` +
		`{"id":"b","atomicityGroup":"g","status":201,"headers":{"content-type":"image/png"},"body":"iVBORw=="},` +
		`{"id":"c","atomicityGroup":"g","status":400,"body":{"error":{}}}]}`,
	`{"responses":[{"id":1,"status":"x"},{"id":"a","status":99},{"id":"b","status":204,"headers":{"a":["b","c"]}}],"@odata.nextLink":"x"}`,
	`{"responses":[{"id":"a","status":200,"body":"%%%"}]} trailing`,
	// Nested JSON, under a +json type and under none, and as a string.
	`{"responses":[{"id":"a","status":200,"headers":{"content-type":"application/problem+json; charset=utf-8"},` +
		`"body":{"v":[{"x":[1,2.50,{"y":null}]},true,"\u00e9"]}},{"id":1,"status":201,"body":[ {"z" : -0 } ]},` +
		`{"id":"b","status":200,"headers":{"Content-Type":"application/json"},"body":"text"}]}`,
	// base64: standard, URL, unpadded, MIME line breaks, bad; text.
	`{"responses":[{"id":"a","status":200,"headers":{"Content-Type":"image/png"},"body":"iVBORw0KGgo="},` +
		`{"id":"1","status":200,"headers":{"Content-Type":"application/octet-stream"},"body":"-_-_"},` +
		`{"id":"b","status":200,"headers":{"Content-Type":"x/y"},"body":"QUJD\nREVGRw"},` +
		`{"id":"c","status":200,"headers":{"Content-Type":"text/plain"},"body":"h\u00e9llo \ud83d\ude00"}]}`,
	`{"responses":[{"id":"a","status":200,"headers":{"Content-Type":"x/y"},"body":"QQ==\r\n"},{"id":"1","status":200,"headers":{"Content-Type":"x/y"},"body":"QQ="}]}`,
	`{"responses":[{"id":"a","status":200,"headers":{"Content-Type":"text/csv"},"body":"a,b\n\ud800"},{"id":"1","status":200,"headers":{"Content-Type":["text/plain",""]},"body":"+/+/"}]}`,
	// Header arrays, numbers, booleans, nulls, framing fields, repeats.
	`{"responses":[{"id":"a","status":204,"headers":{"Set-Cookie":["a=1","b=2"],"x-n":[1,true,null," x "],` +
		`"Retry-After":120,"x-empty":"","x-null":null,"Content-Length":"5","transfer-encoding":["chunked"],"X-N":"again",` +
		`"x-\u00e9":"\u00e9\ud83d\ude00","content-TYPE":[" text/plain ",""]},"body":"dA"},` +
		`{"id":"1","status":200,"headers":{"Tran\u017ffer-Encoding":"x"}}]}`,
	`{"responses":[{"id":"a","status":200,"headers":{"a":{"b":1}}},{"id":"1","status":200,"headers":["a"]},{"id":"b","status":200,"headers":{"a":[["x"]]}}]}`,
	// Ids: repeated, numeric, escaped, null; keys in other cases.
	`{"responses":[{"id":"a","status":200},{"id":"a","status":201},{"id":1.0,"status":200},{"id":"\u0031","status":202}]}`,
	`{"responses":[{"ID":"1","Status":203,"HEADERS":{"x":"y"},"Body":{"k":"v"}},{"\u017ftatus":200,"id":"a"},{"id":"b","status":200},{"id":"b","status":200}]}`,
	`{"responses":[{"id":"a","status":200,"id":null},{"id":true,"id":"1","status":200},{"id":"b","status":"200"},null,7,"x",[]]}`,
	`{"Responses":[{"id":"a","status":200}],"responses":[{"id":"1","status":200}],"responses":[{"id":"1","status":201}]}`,
	// Statuses at and past the ends of the range.
	`{"responses":[{"id":"a","status":1000},{"id":"1","status":100},{"id":"b","status":999},{"id":"c","status":-200}]}`,
	`{"responses":[{"id":"a","status":999},{"id":"1","status":99},{"id":"b","status":1e2},{"id":"c","status":200.0}]}`,
	// Bodies at and past the limit of 64 bytes.
	`{"responses":[{"id":"a","status":200,"headers":{"content-type":"text/plain"},"body":"` + strings.Repeat("x", 64) + `"},` +
		`{"id":"1","status":200,"headers":{"content-type":"text/plain"},"body":"` + strings.Repeat("\u00e9", 33) + `"},` +
		`{"id":"b","status":200,"headers":{"content-type":"a/b"},"body":"` + base64.StdEncoding.EncodeToString(make([]byte, 65)) + `"},` +
		`{"id":"c","status":200,"body":[` + strings.Repeat("1,", 31) + `1]}]}`,
	// Changesets: failed, 424 first, all 424, answered in part, bad.
	`{"responses":[{"id":"b","status":424},{"id":"c","status":500,"headers":{"x":"y"},"body":{"error":"e"}}]}`,
	`{"responses":[{"id":"c","status":424,"body":{"n":1}},{"id":"b","status":424,"body":{"n":2}}]}`,
	`{"responses":[{"id":"b","status":200},{"id":"1","status":201}]}`,
	`{"responses":[{"id":"c","status":201,"body":{"c":1}},{"id":"b","status":200,"headers":{"x":"b"}}]}`,
	`{"responses":[{"id":"b","status":400},{"id":"c","status":99}]}`,
	// Cut short, followed by more.
	`{"responses":[{"id":"a","status":200,"body":{"x":1}},{"id":"b","status":200}]`,
	`{"responses":[{"id":"a","status":200},{"id":"1","status":200,"body":{"x":`,
	`{"responses":[{"id":"b","status":200},{"id":"c","status":201}]]`,
	`{"responses":[{"id":"a","status":200}]}{"responses":[{"id":"a","status":200}]}`,
	`{"responses":[{"id":"b","status":200},{"id":"a","status":200},{"id":"a","status":200},{"id":"c","st`,
	// JSON, but no envelope, or responses not an array.
	`[{"id":"a","status":200}]`,
	`{"responses":[{"id":"a","status":200}],"responses":null}`,
	// More values than the reader reads (2 × 4 calls + 16).
	`{"responses":[` + strings.Repeat(`{"id":"x","status":200},`, 22) + `{"id":"a","status":200},{"id":"1","status":200}]}`,
	`{"responses":[` + strings.Repeat(`{"id":"x","status":200},`, 22) + `{"id":"b","status":200},{"id":"c","status":200}]}`,
}

// FuzzClientJSONResponse reads any body as the JSON batch response, in
// OData's format and Graph's, to four calls, two of them in a changeset,
// and holds what each call gets to a model of the response the document
// gives it (client_json_oracle_test.go), built from encoding/json alone.
// When the document is JSON and its envelope can be read to its end, each
// call gets exactly what the model says: the status, fields and body of
// its response object (a JSON body as a JSON value), an error of its own,
// a ChangesetError holding the response that failed, or no answer, and
// the reader's error is ErrResponseMismatch exactly when an object names
// no call or a call twice. Otherwise no call gets a response, or a
// ChangesetError, that no response object the reader reached gives; when
// the document is JSON the reader fails. Whatever the body, no panic, and
// a changeset's calls fail together, naming the same call.
func FuzzClientJSONResponse(f *testing.F) {
	for _, seed := range clientJSONSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var doc *oracleDoc
		if len(body) < oracleMaxDoc {
			doc = oracleParse(body, maxResponseParts(len(clientJSONCalls)))
		}
		for _, format := range []Format{FormatODataJSON, FormatGraphJSON} {
			checkClientJSONResponse(t, format, body, doc)
		}
	})
}

// clientJSONCalls are the ids of the calls of FuzzClientJSONResponse, and
// clientJSONGroups their changesets (0: none).
var (
	clientJSONCalls  = []string{"a", "1", "b", "c"}
	clientJSONGroups = map[string]int{"b": 1, "c": 1}
)

// checkClientJSONResponse reads body as the batch response in format f to
// the calls clientJSONCalls, and checks what they get (see
// FuzzClientJSONResponse) against doc, body as oracleParse reads it (nil
// when body is too large for the model).
func checkClientJSONResponse(t oracleT, f Format, body []byte, doc *oracleDoc) {
	b := (&Client{Endpoint: "http://example.com/$batch", Format: f}).NewBatch()
	ids, group := clientJSONCalls, clientJSONGroups
	var cs *Changeset
	for _, id := range ids {
		req, err := http.NewRequest("GET", "http://example.com/x", nil)
		if err != nil {
			t.Fatal(err)
		}
		if group[id] == 0 {
			_, err = b.Add(req, id)
		} else {
			if cs == nil {
				cs = b.Changeset()
			}
			_, err = cs.Add(req, id)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s := &sender{maxResp: oracleMaxResp, format: f}
	resp := &http.Response{Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(body))}
	err := s.readJSONResponses(resp, b.Calls())
	// As send does, the calls not answered get ErrNoResponse.
	answerRest(b.Calls(), ErrNoResponse)
	got := map[string]gotOutcome{}
	for _, c := range b.Calls() {
		g := gotOf(c)
		got[c.id] = g
		if g.resp != nil && (g.resp.StatusCode < 100 || g.resp.StatusCode > 999) {
			t.Errorf("%v: call %s: status %d", f, c.id, g.resp.StatusCode)
		}
		if g.readErr != nil || len(g.body) > oracleMaxResp || len(g.ceBody) > oracleMaxResp {
			t.Errorf("%v: call %s: body of %d bytes (ChangesetError: %d): %v", f, c.id, len(g.body), len(g.ceBody), g.readErr)
		}
	}
	ceB, ceC := got["b"].ce, got["c"].ce
	if (ceB != nil) != (ceC != nil) || ceB != nil && ceB.ID != ceC.ID {
		t.Errorf("%v: the changeset's calls did not fail together: b %v, c %v", f, got["b"].err, got["c"].err)
	}
	if doc == nil {
		return
	}
	m := oracleRead(f, doc, ids, group)
	if !m.exact {
		if m.valid && err == nil {
			t.Errorf("%v: the document is JSON but its envelope cannot be read to its end, and the reader has no error", f)
		}
		for _, c := range b.Calls() {
			checkProduced(t, f, m, c, group, got[c.id])
		}
		checkCutGroups(t, f, m, ids, group, got)
		return
	}
	if m.problem != errors.Is(err, ErrResponseMismatch) || !m.problem && err != nil {
		t.Errorf("%v: error %v; want ErrResponseMismatch: %v", f, err, m.problem)
	}
	for _, c := range b.Calls() {
		want, ok := m.outcomes[c.id]
		if !ok {
			want = oracleOutcome{kind: oracleNone}
		}
		checkExact(t, f, c.id, want, got[c.id], c)
	}
}

// FuzzClientResponse reads any batch response (boundary "r") into a
// request of three calls and a changeset of two, as the Client does.
// Whatever the body: no panic; every answer is a response whose body is
// within MaxResponseBytes, or an error; a call left unanswered (no part
// for it, or one the matcher revoked) holds nothing; and the changeset's
// calls fail together, naming the same call. Where every part names a
// distinct call or changeset by its Content-ID, each call gets what
// clientResponseModel reads for it, from the parts read on their own: the
// response, status, fields, body and trailer, an error, a ChangesetError
// holding the changeset's single response, or nothing; and where net/http
// reads the part's message too, its Header (but the framing fields),
// Trailer and TransferEncoding are the ones http.ReadResponse gives. Each
// call's ChangesetError.Response has a Header and Trailer of its own.
func FuzzClientResponse(f *testing.F) {
	part := func(cid, body string) string {
		return fmt.Sprintf("--r\r\nContent-Type: application/http\r\nContent-ID: %s\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s\r\n", cid, len(body), body)
	}
	cs := "--r\r\nContent-Type: multipart/mixed; boundary=c\r\nContent-ID: response-cs\r\n\r\n" +
		"--c\r\nContent-Type: application/http\r\nContent-ID: response-c1\r\n\r\nHTTP/1.1 201 Created\r\n\r\n" +
		"--c\r\nContent-Type: application/http\r\nContent-ID: response-c2\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n--c--\r\n"
	for _, seed := range []string{
		part("response-a", "A") + part("response-0.0", "Z") + part("response-b", "B") + cs + "--r--\r\n",
		part("response- a", "A") + part("<0.0>", "Z") + part(" < response-b > ", "B") + "--r--\r\n",
		part("b", "B") + part("response-a", "A") + "--r--\r\n",
		part("response-a", "A") + part("response-a", "A2") + "--r--\r\n",
		"--r\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\n\r\nA\r\n--r--\r\n",
		part("response-cs", "rolled back") + "--r--\r\n",
		part("response-a", strings.Repeat("x", 100)) + "--r--\r\n",
		"--r\r\nContent-ID: response-a\r\n\r\nHTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n\x1f\x8b\r\n--r--\r\n",
		// For the model: out of order, fields, a trailer, an interim
		// response, a failure without a body, a changeset answered in
		// part and in reverse.
		"--r\r\nContent-ID: response-b\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Gone\r\nX-A: 1\r\nx-a: 2\r\n" +
			"Transfer-Encoding: chunked\r\nTrailer: T\r\n\r\n1\r\nb\r\n0\r\nT: t\r\n\r\n\r\n" +
			"--r\r\nContent-ID: response-cs\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n" +
			"--c\r\nContent-ID: response-c2\r\n\r\nHTTP/1.0 200\r\n\r\nc2 body\r\n--c--\r\n" +
			part("response-a", "") + "--r--\r\n",
		"--r\r\nContent-ID: response-cs\r\n\r\nHTTP/1.1 409 Conflict\r\nContent-Length: 3\r\n\r\nno!\r\n--r--\r\n",
		// Trailers as net/http's client reads them: declared and sent,
		// declared only, sent only, a chunked response without a body,
		// a Trailer field without chunking; a changeset's single
		// response with a trailer.
		"--r\r\nContent-ID: response-a\r\n\r\nHTTP/1.1 200 OK\r\nTrailer: x-a, X-B\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-A: 1\r\nx-c: 3\r\n\r\n\r\n" +
			"--r\r\nContent-ID: response-b\r\n\r\nHTTP/1.1 204 No Content\r\nTrailer: x-a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n" +
			"--r\r\nContent-ID: response-0.0\r\n\r\nHTTP/1.1 200 OK\r\nTrailer: x-a\r\nContent-Length: 1\r\n\r\na\r\n" +
			"--r\r\nContent-ID: response-cs\r\n\r\nHTTP/1.1 409 Conflict\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nno\r\n0\r\n\r\n\r\n--r--\r\n",
		"--r\r\nContent-ID: response-a\r\n\r\nHTTP/1.1 304 Not Modified\r\nPragma: no-cache\r\nTrailer: ,\r\nTransfer-Encoding: chunked\r\n\r\n\r\n--r--\r\n",
		"--r\r\nContent-ID: < response- c2 >\r\n\r\nHTTP/1.1 412 Precondition Failed\r\n\r\n\r\n" +
			"--r\r\nContent-ID: <0.0>\r\n\r\nHTTP/1.1 200 OK\r\n\r\nrest of the part\r\n--r--\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b := (&Client{Endpoint: "https://example.com/batch"}).NewBatch()
		for _, id := range []string{"a", "0.0", "b"} {
			if _, err := b.Add(httptest.NewRequest("GET", "/"+id, nil), id); err != nil {
				t.Fatal(err)
			}
		}
		cs := b.Changeset()
		cs.id = "cs"
		for _, id := range []string{"c1", "c2"} {
			if _, err := cs.Add(httptest.NewRequest("PUT", "/"+id, nil), id); err != nil {
				t.Fatal(err)
			}
		}
		s := &sender{maxResp: 64}
		// Its error is the batch's: the calls are what is checked.
		s.readResponses(bytes.NewReader(body), "r", b.calls)
		got := map[string]gotOutcome{}
		for _, c := range b.calls {
			if !c.answered {
				if c.aResp != nil || c.aErr != nil {
					t.Fatalf("call %s: unanswered but holds %v, %v", c.id, c.aResp, c.aErr)
				}
				continue
			}
			if c.aResp == nil && c.aErr == nil {
				t.Fatalf("call %s: answered with nothing", c.id)
			}
			g := gotOf(c)
			if g.readErr != nil || len(g.body) > 64 || len(g.ceBody) > 64 {
				t.Fatalf("call %s: body of %d bytes (ChangesetError: %d): %v, over MaxResponseBytes 64", c.id, len(g.body), len(g.ceBody), g.readErr)
			}
			got[c.id] = g
		}
		ce1, ce2 := got["c1"].ce, got["c2"].ce
		if (ce1 != nil) != (ce2 != nil) || ce1 != nil && ce1.ID != ce2.ID {
			t.Fatalf("the changeset's calls did not fail together: c1 %v, c2 %v", got["c1"].err, got["c2"].err)
		}
		want, exact := clientResponseModel(body, 64)
		if exact {
			for _, id := range []string{"a", "0.0", "b", "c1", "c2"} {
				w, ok := want[id]
				if !ok {
					w = modelOutcome{kind: modelNone}
				}
				if d := w.diff(got[id]); d != "" {
					t.Fatalf("call %s: %s", id, d)
				}
			}
		}
		// Each call's ChangesetError.Response is its own to change.
		if ce1 != nil && ce1.Response != nil && ce2.Response != nil {
			r1, r2 := ce1.Response, ce2.Response
			r1.Header.Set("X-Fuzz-Own", "c1")
			if r1.Trailer != nil {
				r1.Trailer.Set("X-Fuzz-Own", "c1")
			}
			if r2.Header.Get("X-Fuzz-Own") != "" || r2.Trailer.Get("X-Fuzz-Own") != "" {
				t.Fatalf("c2's ChangesetError.Response shares c1's Header or Trailer")
			}
		}
	})
}

// The kinds of answer clientResponseModel gives a call.
const (
	modelNone    = iota // unanswered
	modelAnswer         // the response resp
	modelErr            // an error, not a ChangesetError
	modelCE             // a ChangesetError with resp, naming the changeset
	modelUnknown        // not modelled (a Content-Encoding the Client may undo)
)

// modelOutcome is what clientResponseModel expects a call to get.
type modelOutcome struct {
	kind   int
	resp   modelResp
	failed string // the call a ChangesetError names
	// std is what net/http's client reads of the same message, when it
	// reads it: the answer's Header (but the framing fields), Trailer
	// and TransferEncoding are its, nil and empty told apart.
	std *answerOf
}

// modelResp is a response as a call gets it.
type modelResp struct {
	Status, Proto   string
	StatusCode      int
	Header, Trailer http.Header
	Body            string
}

// diff returns how g differs from o, or "".
func (o modelOutcome) diff(g gotOutcome) string {
	switch o.kind {
	case modelUnknown:
		return ""
	case modelNone:
		if g.resp != nil || g.err != nil {
			return fmt.Sprintf("answered (%v, %v), want no answer", g.resp, g.err)
		}
	case modelErr:
		if g.err == nil || g.ce != nil {
			return fmt.Sprintf("got %v, %v; want an error of its own", g.resp, g.err)
		}
	case modelAnswer:
		if g.resp == nil {
			return fmt.Sprintf("error %v, want a response", g.err)
		}
		if d := cmp.Diff(o.resp, asModelResp(g.resp, g.body), cmpopts.EquateEmpty()); d != "" {
			return d
		}
		return o.diffStd(g.resp, g.body)
	case modelCE:
		if g.ce == nil || g.ce.Response == nil {
			return fmt.Sprintf("got %v, %v; want a ChangesetError", g.resp, g.err)
		}
		if g.ce.ID != o.failed || g.ce.StatusCode != o.resp.StatusCode {
			return fmt.Sprintf("ChangesetError %q with status %d, want %q and %d", g.ce.ID, g.ce.StatusCode, o.failed, o.resp.StatusCode)
		}
		if d := cmp.Diff(o.resp, asModelResp(g.ce.Response, g.ceBody), cmpopts.EquateEmpty()); d != "" {
			return d
		}
		return o.diffStd(g.ce.Response, g.ceBody)
	}
	return ""
}

// diffStd returns how r, with body body, differs from what net/http's
// client reads of the same message, or "".
func (o modelOutcome) diffStd(r *http.Response, body []byte) string {
	if o.std == nil {
		return ""
	}
	want := *o.std
	if _, ok := r.Header["Cache-Control"]; !ok && slices.Equal(want.Header["Cache-Control"], []string{"no-cache"}) {
		// net/http adds it to a response whose first Pragma is
		// no-cache and that has no Cache-Control (RFC 7234 §5.4); a
		// call's answer has the fields sent.
		want.Header = want.Header.Clone()
		delete(want.Header, "Cache-Control")
	}
	if d := cmp.Diff(want, answerFields(r, string(body))); d != "" {
		return "net/http (-) and the Client (+) disagree:\n" + d
	}
	return ""
}

func asModelResp(r *http.Response, body []byte) modelResp {
	return modelResp{r.Status, r.Proto, r.StatusCode, r.Header, r.Trailer, string(body)}
}

// clientResponseModel reads body, the multipart response (boundary "r")
// to FuzzClientResponse's calls, part by part with the codec alone, and
// returns what each call gets from it, and whether it could tell: it can
// when every part names a distinct unit (a, 0.0, b, or the changeset: cs,
// c1 or c2) by its Content-ID, as the matcher's documentation says a part
// may name it (modelID). A message is read as the final response to the
// call's method, up to max bytes of body. A changeset's part that is not
// multipart is its single response, which each of its calls gets in a
// ChangesetError naming the call the part names ("" for the changeset),
// read as the answer to that call or else to a POST; one with a multipart
// type but no boundary is an error for both; a nested response answers
// its calls as the batch's parts do. A response cut short by a malformed
// part leaves the calls of the part read last in doubt (they may have
// read their answer before, or not), and the calls after it unanswered;
// so does a nested response, for its calls.
func clientResponseModel(body []byte, max int) (map[string]modelOutcome, bool) {
	out := map[string]modelOutcome{}
	parts, last, _, ok := modelParts(body, "r", map[string]string{"a": "a", "0.0": "0.0", "b": "b", "cs": "cs", "c1": "cs", "c2": "cs"})
	if !ok {
		return nil, false
	}
	methods := map[string]string{"a": "GET", "0.0": "GET", "b": "GET", "c1": "PUT", "c2": "PUT", "cs": "POST"}
	unknown := modelOutcome{kind: modelUnknown}
	for unit, p := range parts {
		if unit != "cs" {
			out[unit] = modelMessage(p.body, methods[unit], max)
			continue
		}
		ct := p.header.Get("Content-Type")
		if nb, err := mixed.ParseBoundary(ct); err == nil {
			nested, nlast, cut, ok := modelParts(p.body, nb, map[string]string{"c1": "c1", "c2": "c2"})
			if !ok {
				return nil, false
			}
			for id, q := range nested {
				out[id] = modelMessage(q.body, methods[id], max)
			}
			if cut {
				// The calls not answered fail.
				if nlast != "" {
					out[nlast] = unknown
				}
				for _, id := range []string{"c1", "c2"} {
					if _, ok := out[id]; !ok {
						out[id] = modelOutcome{kind: modelErr}
					}
				}
			}
			continue
		} else if len(ct) >= 10 && strings.EqualFold(ct[:10], "multipart/") {
			out["c1"], out["c2"] = modelOutcome{kind: modelErr}, modelOutcome{kind: modelErr}
			continue
		}
		o := modelMessage(p.body, methods[p.id], max)
		if o.kind == modelAnswer {
			o.kind = modelCE
			if p.id != "cs" {
				o.failed = p.id
			}
		}
		out["c1"], out["c2"] = o, o
	}
	switch last {
	case "":
	case "cs":
		out["c1"], out["c2"] = unknown, unknown
	default:
		out[last] = unknown
	}
	return out, true
}

// modelPart is a part of a response: its header, its body, and the id
// its Content-ID names.
type modelPart struct {
	header *mixed.Header
	body   []byte
	id     string
}

// modelParts reads the parts of body, each of which must name by its
// Content-ID one of the ids of units, a different unit, and returns them
// by unit. When body is cut short (a part or a delimiter line is
// malformed: cut), the unit of the part read last, if any, is returned as
// last, not with the parts.
func modelParts(body []byte, boundary string, units map[string]string) (parts map[string]modelPart, last string, cut, ok bool) {
	out := map[string]modelPart{}
	r := mixed.NewReader(bytes.NewReader(body), boundary)
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out, "", false, true
		}
		if err != nil {
			delete(out, last)
			return out, last, true, true
		}
		id := modelID(p.Header.Get("Content-ID"))
		unit, ok := units[id]
		if _, dup := out[unit]; !ok || dup {
			return nil, "", false, false
		}
		last = unit
		b, err := io.ReadAll(p)
		out[unit] = modelPart{p.Header.Clone(), b, id}
		if err != nil {
			delete(out, last)
			return out, last, true, true
		}
	}
}

// modelID is the id a response part's Content-ID names, as the matcher's
// documentation says: the id, or "response-" and the id, with or without
// angle brackets, and white space around it and after "response-".
func modelID(cid string) string {
	cid = strings.TrimSpace(cid)
	if strings.HasPrefix(cid, "<") && strings.HasSuffix(cid, ">") && len(cid) > 1 {
		cid = strings.TrimSpace(cid[1 : len(cid)-1])
	}
	if id, ok := strings.CutPrefix(cid, "response-"); ok {
		return strings.TrimSpace(id)
	}
	return cid
}

// modelMessage reads the final response in b, answering method, as a
// call gets it: its head and a body of at most max bytes.
func modelMessage(b []byte, method string, max int) modelOutcome {
	m, err := mixed.NewMessageReader(bytes.NewReader(b)).ReadFinalResponse(method)
	if err != nil {
		return modelOutcome{kind: modelErr}
	}
	if m.Header.Get("Content-Encoding") != "" {
		return modelOutcome{kind: modelUnknown}
	}
	res := m.HTTPResponse(nil)
	body, err := io.ReadAll(res.Body)
	if err != nil || len(body) > max {
		return modelOutcome{kind: modelErr}
	}
	// Header and Trailer as the codec's HTTPResponse gives them: the
	// Trailer field of a chunked response moved into Trailer's names,
	// the trailer fields sent set once the body is read.
	r := modelResp{Status: res.Status, Proto: res.Proto, StatusCode: res.StatusCode, Header: res.Header, Trailer: res.Trailer, Body: string(body)}
	o := modelOutcome{kind: modelAnswer, resp: r}
	if std, ok := stdAnswerOf(b, method); ok {
		o.std = &std
	}
	return o
}

// stdAnswerOf reads the final response in b, answering method, as
// net/http's client does (http.ReadResponse, interim responses but 101
// skipped, the body read to its end), and returns what the trailer tests
// compare of it, or false if net/http refuses it.
func stdAnswerOf(b []byte, method string) (answerOf, bool) {
	br := bufio.NewReader(bytes.NewReader(b))
	req := &http.Request{Method: method}
	for n := 0; ; n++ {
		resp, err := http.ReadResponse(br, req)
		if err != nil || n == 5 {
			return answerOf{}, false
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != 101 {
			continue
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return answerOf{}, false
		}
		return answerFields(resp, string(body)), true
	}
}

// serveShopBounded serves req with h, failing t if the Handler does not
// finish in 10 s (a deadlock) or leaves a changeset's group of s open.
func serveShopBounded(t *testing.T, h http.Handler, req *http.Request, s *shop) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the Handler did not finish in 10 s: a deadlock")
	}
	if !s.mu.TryLock() {
		t.Fatal("a changeset's group was left open")
	}
	s.mu.Unlock()
	return rec
}
