package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed/batch"
)

// The JSON batches of testdata/jsonbatch are written by hand after the
// examples of OData JSON Format 4.01 §19 (odata-request.json: a GET, an
// atomicity group of a PATCH and a POST that depends on it, a GET that
// depends on the group; odata-response.json: its answer, with a text and a
// binary body) and of Microsoft Graph's "JSON batching" page
// (graph-request.json is its first example, spaces in a url included;
// graph-response.json its answer, out of order, with a base64 text body).

// TestDecodeJSONBatch prints Graph's example request as the lines of the
// application/http parts that would carry it.
func TestDecodeJSONBatch(t *testing.T) {
	res := runCmd(mustRead(t, "testdata/jsonbatch/graph-request.json"), "decode")
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	part := func(i int, id string, h map[string]any) map[string]any {
		return map[string]any{"index": float64(i), "headers": []any{[]any{"Content-Type", "application/http"}, []any{"Content-ID", id}}, "http": h}
	}
	get := func(target string, headers ...any) map[string]any {
		return map[string]any{"method": "GET", "target": target, "proto": "HTTP/1.1", "headers": append([]any{}, headers...), "body": ""}
	}
	want := []map[string]any{
		{"kind": "envelope", "boundary": "", "format": "json"},
		part(0, "1", get("/me/drive/root:/{file}:/content")),
		part(1, "2", get("/me/planner/tasks")),
		part(2, "3", get("/groups/{id}/events")),
		part(3, "4", map[string]any{"method": "PATCH", "target": "/me", "proto": "HTTP/1.1",
			"headers": []any{[]any{"Content-Type", "application/json"}},
			"body":    "{\n        \"city\" : \"Redmond\"\n      }"}),
		// A request line has no spaces: the url's are escaped.
		part(4, "5", get("users?$select=id,displayName,userPrincipalName&$filter=city%20eq%20null&$count=true",
			[]any{"ConsistencyLevel", "eventual"})),
	}
	if diff := cmp.Diff(want, lines(t, res.Stdout)); diff != "" {
		t.Errorf("decode (-want +got):\n%s", diff)
	}
}

// TestDecodeJSONBatchGroups prints OData's atomicity group and dependsOn
// on the lines, and a response's status and headers.
func TestDecodeJSONBatchGroups(t *testing.T) {
	res := runCmd(mustRead(t, "testdata/jsonbatch/odata-request.json"), "decode")
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	type got struct{ ID, Group, Deps, Method string }
	var g []got
	for _, l := range parts(t, res.Stdout) {
		deps, _ := json.Marshal(l["depends_on"])
		group, _ := l["atomicity_group"].(string)
		g = append(g, got{l["headers"].([]any)[1].([]any)[1].(string), group, string(deps), l["http"].(map[string]any)["method"].(string)})
	}
	want := []got{{"0", "", "null", "get"}, {"1", "group1", `["0"]`, "patch"}, {"2", "group1", "null", "post"}, {"3", "", `["group1"]`, "get"}}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("ids, groups, dependencies (-want +got):\n%s", diff)
	}

	res = runCmd(mustRead(t, "testdata/jsonbatch/odata-response.json"), "decode")
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	p := parts(t, res.Stdout)
	wantHTTP := []map[string]any{
		// content-length is dropped: the JSON batch frames the body.
		{"proto": "HTTP/1.1", "status": 200.0, "reason": "OK", "headers": []any{[]any{"content-type", "application/json"}},
			"body": `{"@odata.context": "$metadata#Customers/$entity", "CustomerID": "ALFKI"}`},
		{"proto": "HTTP/1.1", "status": 204.0, "reason": "No Content", "headers": []any{}, "body": ""},
		{"proto": "HTTP/1.1", "status": 201.0, "reason": "Created", "headers": []any{
			[]any{"location", "http://host/service/Customers('POIUY')"}, []any{"content-type", "application/json"}},
			"body": `{"CustomerID": "POIUY", "CompanyName": "Poiuy Ltd"}`},
		{"proto": "HTTP/1.1", "status": 200.0, "reason": "OK", "headers": []any{[]any{"content-type", "text/plain"}}, "body": "77 products, façade included"},
		// base64url, unpadded, decoded: the PNG signature and two bytes.
		{"proto": "HTTP/1.1", "status": 200.0, "reason": "OK", "headers": []any{[]any{"content-type", "image/png"}}, "body_base64": "iVBORw0KGgo+/w=="},
	}
	var gotHTTP []map[string]any
	for _, l := range p {
		gotHTTP = append(gotHTTP, l["http"].(map[string]any))
	}
	if diff := cmp.Diff(wantHTTP, gotHTTP); diff != "" {
		t.Errorf("responses (-want +got):\n%s", diff)
	}
	if p[1]["atomicity_group"] != "group1" || p[2]["atomicity_group"] != "group1" || p[0]["atomicity_group"] != nil {
		t.Errorf("groups: %v %v %v, want none, group1, group1", p[0]["atomicity_group"], p[1]["atomicity_group"], p[2]["atomicity_group"])
	}
}

// Each example converts to the JSON format and back, directly (decode |
// encode -format) and through multipart (decode | encode | decode |
// encode -format), to the same batch: one object a line, JSON bodies
// compacted, base64 padded, content-length dropped, the url's spaces
// escaped; through multipart dependsOn is lost (multipart runs in order
// and has no such field), while an atomicity group survives as a
// changeset whose Content-ID is the group's name.
func TestJSONBatchRoundTrip(t *testing.T) {
	odataRequest := `{"requests":[
{"id":"0","method":"get","url":"/service/Customers('ALFKI')"},
{"id":"1","method":"patch","url":"/service/Customers('ALFKI')","atomicityGroup":"group1","dependsOn":["0"],"headers":{"Prefer":"return=minimal","Content-Type":"application/json"},"body":{"CompanyName":"Alfreds Futterkiste GmbH"}},
{"id":"2","method":"post","url":"/service/Customers","atomicityGroup":"group1","headers":{"Content-Type":"application/json"},"body":{"CustomerID":"POIUY","CompanyName":"Poiuy Ltd"}},
{"id":"3","method":"get","url":"/service/Products","dependsOn":["group1"]}
]}
`
	odataResponse := `{"responses":[
{"id":"0","status":200,"headers":{"content-type":"application/json"},"body":{"@odata.context":"$metadata#Customers/$entity","CustomerID":"ALFKI"}},
{"id":"1","status":204,"atomicityGroup":"group1"},
{"id":"2","status":201,"atomicityGroup":"group1","headers":{"location":"http://host/service/Customers('POIUY')","content-type":"application/json"},"body":{"CustomerID":"POIUY","CompanyName":"Poiuy Ltd"}},
{"id":"3","status":200,"headers":{"content-type":"text/plain"},"body":"77 products, façade included"},
{"id":"4","status":200,"headers":{"content-type":"image/png"},"body":"iVBORw0KGgo-_w=="}
]}
`
	graphRequest := `{"requests":[
{"id":"1","method":"GET","url":"/me/drive/root:/{file}:/content"},
{"id":"2","method":"GET","url":"/me/planner/tasks"},
{"id":"3","method":"GET","url":"/groups/{id}/events"},
{"id":"4","method":"PATCH","url":"/me","headers":{"Content-Type":"application/json"},"body":{"city":"Redmond"}},
{"id":"5","method":"GET","url":"users?$select=id,displayName,userPrincipalName&$filter=city%20eq%20null&$count=true","headers":{"ConsistencyLevel":"eventual"}}
]}
`
	graphResponse := `{"responses":[
{"id":"1","status":302,"headers":{"location":"https://files.example/y23vmagahszhxzlcvhasdhasghasodfi"}},
{"id":"3","status":401,"headers":{"Content-Type":"application/json"},"body":{"error":{"code":"Forbidden","message":"Not allowed to read the group's events."}}},
{"id":"2","status":200,"headers":{"Content-Type":"application/json","Retry-After":"5"},"body":{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.plannerTask)","value":[]}},
{"id":"4","status":204},
{"id":"5","status":200,"headers":{"Content-Type":"text/plain"},"body":"SGVsbG8sIEdyYXBo"}
]}
`
	for _, c := range []struct {
		file, format, direct, viaMultipart string
	}{
		{"odata-request.json", "odata-json", odataRequest, strings.NewReplacer(`,"dependsOn":["0"]`, "", `,"dependsOn":["group1"]`, "").Replace(odataRequest)},
		{"odata-response.json", "odata-json", odataResponse, odataResponse},
		{"graph-request.json", "graph-json", graphRequest, graphRequest},
		{"graph-response.json", "graph-json", graphResponse, graphResponse},
	} {
		t.Run(c.file, func(t *testing.T) {
			in := mustRead(t, filepath.Join("testdata/jsonbatch", c.file))
			got := pipe(t, in, []string{"decode", "-format", c.format}, []string{"encode", "-format", c.format})
			if diff := cmp.Diff(c.direct, got); diff != "" {
				t.Errorf("decode | encode -format %s (-want +got):\n%s", c.format, diff)
			}
			mp := pipe(t, in, []string{"decode", "-format", c.format}, []string{"encode"})
			if !strings.HasPrefix(mp, "--") {
				t.Errorf("decode | encode wrote %q, want a multipart body", mp)
			}
			got = pipe(t, mp, []string{"decode"}, []string{"encode", "-format", c.format})
			if diff := cmp.Diff(c.viaMultipart, got); diff != "" {
				t.Errorf("through multipart (-want +got):\n%s", diff)
			}
			// And the JSON written is read back to itself.
			again := pipe(t, got, []string{"decode", "-format", c.format}, []string{"encode", "-format", c.format})
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("the written batch read again (-want +got):\n%s", diff)
			}
		})
	}
}

// A multipart OData batch with a changeset, written by hand, becomes an
// OData JSON batch with an atomicity group named by the changeset's
// Content-ID (or numbered without one).
func TestEncodeJSONFromMultipart(t *testing.T) {
	in := "--b\r\nContent-Type: application/http\r\nContent-ID: <g1>\r\n\r\nGET Customers?$top=2 HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n" +
		"--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n" +
		"--cs\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\nPOST Customers HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{ \"Name\": \"Al\" }\r\n" +
		"--cs\r\nContent-Type: application/http\r\nContent-ID: 3\r\n\r\nPUT $2/Photo HTTP/1.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\n\xff\xfe\xfd\r\n" +
		"--cs--\r\n" +
		"--b--\r\n"
	want := `{"requests":[
{"id":"g1","method":"GET","url":"Customers?$top=2","headers":{"Accept":"application/json"}},
{"id":"2","method":"POST","url":"Customers","atomicityGroup":"changeset1","headers":{"Content-Type":"application/json"},"body":{"Name":"Al"}},
{"id":"3","method":"PUT","url":"$2/Photo","atomicityGroup":"changeset1","headers":{"Content-Type":"application/octet-stream"},"body":"__79"}
]}
`
	if diff := cmp.Diff(want, pipe(t, in, []string{"decode"}, []string{"encode", "-format", "odata-json"})); diff != "" {
		t.Errorf("odata-json (-want +got):\n%s", diff)
	}
	// Graph's batching has no atomicity groups: the changeset is refused.
	dec := runCmd(in, "decode")
	res := runCmd(dec.Stdout, "encode", "-format", "graph-json")
	if res.Code != 1 || res.Stdout != "" || !strings.Contains(res.Stderr, `a request in atomicity group (changeset) "changeset1": Graph's JSON batching has none`) {
		t.Errorf("graph-json of a changeset: exit %d, stdout %q, stderr %q", res.Code, res.Stdout, res.Stderr)
	}
}

// A whole HTTP message with a JSON batch, as curl -i prints it, is
// decoded with its head in the envelope, and encode writes a head around
// the body it writes, in either format, with its Content-Type and length.
func TestJSONBatchEnvelope(t *testing.T) {
	body := `{"requests":[{"id":"1","method":"GET","url":"/me"}]}`
	in := "POST /v1.0/$batch HTTP/1.1\r\nHost: graph.example\r\nContent-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body
	dec := runCmd(in, "decode")
	if dec.Code != 0 {
		t.Fatalf("decode: exit %d: %s", dec.Code, dec.Stderr)
	}
	env := lines(t, dec.Stdout)[0]
	wantEnv := map[string]any{"kind": "envelope", "boundary": "", "format": "json", "http": map[string]any{
		"method": "POST", "target": "/v1.0/$batch", "proto": "HTTP/1.1",
		"headers": []any{[]any{"Host", "graph.example"}, []any{"Content-Type", "application/json"}, []any{"Content-Length", fmt.Sprint(len(body))}}}}
	if diff := cmp.Diff(wantEnv, env); diff != "" {
		t.Errorf("envelope (-want +got):\n%s", diff)
	}
	out := `{"requests":[` + "\n" + `{"id":"1","method":"GET","url":"/me"}` + "\n]}\n"
	want := "POST /v1.0/$batch HTTP/1.1\r\nHost: graph.example\r\nContent-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(out)) + "\r\n\r\n" + out
	if diff := cmp.Diff(want, pipe(t, dec.Stdout, []string{"encode", "-format", "graph-json"})); diff != "" {
		t.Errorf("encode -format graph-json (-want +got):\n%s", diff)
	}
	// In multipart, the Content-Type names the boundary instead.
	mp := pipe(t, dec.Stdout, []string{"encode", "-boundary", "b1"})
	if !strings.Contains(mp, "\r\nContent-Type: multipart/mixed; boundary=b1\r\n") || !strings.HasSuffix(mp, "GET /me HTTP/1.1\r\n\r\n\r\n--b1--\r\n") {
		t.Errorf("encode to multipart:\n%s", mp)
	}
	// decode -content-type application/json reads a bare JSON batch.
	res := runCmd("  \n"+body, "decode", "-content-type", "application/json")
	if res.Code != 0 || len(lines(t, res.Stdout)) != 2 {
		t.Errorf("decode -content-type application/json: exit %d: %s %s", res.Code, res.Stdout, res.Stderr)
	}
}

// Bad JSON batches: a request object that is not one prints its line
// with "error" and the decode goes on (exit 1); a batch that is not JSON,
// or not a batch, stops it.
func TestDecodeJSONBatchErrors(t *testing.T) {
	for _, c := range []struct{ in, errLine, stderr string }{
		{`{"requests":[{"id":"1","url":"/me"},{"id":"2","method":"GET","url":"/x"}]}`, `a request needs "method" and "url"`, "1 part(s) did not parse"},
		{`{"requests":[{"id":{},"method":"GET","url":"/me"}]}`, `"id" {}: want a string`, "1 part(s) did not parse"},
		{`{"requests":[{"id":"1","method":"GET","url":"/me","headers":{"A":[1]}}]}`, `header "A": want a string`, "1 part(s) did not parse"},
		{`{"requests":[{"id":"1","method":"PUT","url":"/me","headers":{"Content-Type":"image/png"},"body":"!!"}]}`, `the body of type "image/png" is not base64`, "1 part(s) did not parse"},
		{`{"responses":[{"id":"1","status":42}]}`, `a response needs a "status" of three digits, not 42`, "1 part(s) did not parse"},
		{`{"requests":[{"id":"1","method":"GET","url":"/me"}`, "", "the JSON batch: unexpected EOF"},
		{`{"requests":[],"responses":[]}`, "", `the JSON batch has "responses" after "requests"`},
		{`{"value":[]}`, "", `the JSON batch has neither "requests" nor "responses"`},
		{`{"requests":[]} {}`, "", "after the JSON batch: a value"},
		{`{"requests":{}}`, "", `the JSON batch: "requests": found {, want "["`},
	} {
		res := runCmd(c.in, "decode")
		if res.Code != 1 || !strings.Contains(res.Stderr, c.stderr) {
			t.Errorf("decode %s: exit %d, stderr %q, want 1 and %q", c.in, res.Code, res.Stderr, c.stderr)
			continue
		}
		if c.errLine == "" {
			continue
		}
		p := parts(t, res.Stdout)
		if len(p) == 0 || !strings.Contains(fmt.Sprint(p[0]["error"]), c.errLine) {
			t.Errorf("decode %s: lines %v, want the first with error %q", c.in, p, c.errLine)
		}
	}
}

// encode -format refuses what a JSON batch cannot hold.
func TestEncodeJSONErrors(t *testing.T) {
	req := func(extra string) string {
		return `{"headers":[["Content-Type","application/http"]]` + extra + `,"http":{"method":"GET","target":"/a","headers":[]}}` + "\n"
	}
	resp := `{"headers":[["Content-Type","application/http"]],"http":{"status":200,"headers":[["Content-Type","application/json"]],"body":"{not json"}}` + "\n"
	for _, c := range []struct{ in, format, want string }{
		{req("") + `{"headers":[["Content-Type","text/plain"]],"body":"x"}` + "\n", "odata-json", `line 2: a part of type "text/plain": a JSON batch holds only application/http requests or responses`},
		{req("") + `{"headers":[["Content-Type","application/http"]],"http":{"status":200,"headers":[]}}` + "\n", "odata-json", "line 2: a part of response after requests"},
		{resp, "graph-json", `line 1: a body of type "application/json" that is not JSON cannot be written in a JSON batch`},
		{strings.Replace(resp, `"body":"{not json"`, `"body":"{\"a\":\"","body_base64":"vCJ9"`, 1), "odata-json", `line 1: a body of type "application/json" that is JSON but not UTF-8 cannot be written in a JSON batch`},
		{`{"headers":[["Content-Type","application/http"]],"depends_on":["1"],"http":{"status":200,"headers":[]}}` + "\n", "odata-json", "only requests have dependsOn"},
		{`{"headers":[["Content-Type","application/http"]],"body":"GET /a HTTP/1.1\r\n\r\n","atomicity_group":"g"}` + "\n", "odata-json", `line 1: "atomicity_group" after the body: give it first`},
	} {
		res := runCmd(c.in, "encode", "-format", c.format)
		if res.Code != 1 || res.Stdout != "" || !strings.Contains(res.Stderr, c.want) {
			t.Errorf("encode -format %s of\n%s: exit %d, stdout %q, stderr %q; want 1, nothing, %q", c.format, c.in, res.Code, res.Stdout, res.Stderr, c.want)
		}
	}
	// Lines in a group become one changeset in multipart, named by it.
	in := req(`,"atomicity_group":"g"`) + req(`,"atomicity_group":"g"`) + req("")
	mp := pipe(t, in, []string{"encode", "-boundary", "outer"})
	p := parts(t, pipe(t, mp, []string{"decode"}))
	if len(p) != 2 || len(p[0]["parts"].([]any)) != 2 || fmt.Sprint(p[0]["headers"].([]any)[1]) != "[Content-ID g]" {
		t.Errorf("two lines of group g and one without, in multipart:\n%s", mp)
	}
}

// jsonBatchOf writes a JSON batch of n requests, each with a JSON body of
// about size bytes, through a pipe.
func jsonBatchOf(n, size int) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		bw.WriteString(`{"requests":[`)
		pad := strings.Repeat("x", size)
		var err error
		for i := 0; i < n && err == nil; i++ {
			if i > 0 {
				bw.WriteString(",")
			}
			_, err = fmt.Fprintf(bw, `{"id":"%d","method":"POST","url":"/items","headers":{"Content-Type":"application/json"},"body":{"n":%d,"pad":"%s"}}`, i, i, pad)
		}
		bw.WriteString("]}")
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// lineCount counts lines and keeps the last one.
type lineCount struct {
	n    int
	last bytes.Buffer
	nl   bool
}

func (c *lineCount) Write(p []byte) (int, error) {
	for _, b := range p {
		if c.nl {
			c.last.Reset()
			c.nl = false
		}
		if b == '\n' {
			c.n++
			c.nl = true
		}
		c.last.WriteByte(b)
	}
	return len(p), nil
}

// decode holds one request of a JSON batch at a time: 8000 requests of 16
// KiB (128 MiB) take 24 MiB of heap at most, over what was live before
// (the whole process's, decode and encode together in the second half),
// and encode -format odata-json of the lines likewise.
func TestJSONBatchMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("128 MiB through decode and encode")
	}
	const n, size = 8000, 16 << 10
	// The heap that earlier tests left live counts in HeapInuse, and the
	// collector lets the heap grow to twice what is live: the limit is
	// over that, by far less than the batch.
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	limit := 2*ms.HeapAlloc + 24<<20
	t.Logf("live heap before: %.1f MiB; limit %.1f MiB", float64(ms.HeapAlloc)/(1<<20), float64(limit)/(1<<20))
	out := &lineCount{}
	var res cmdResult
	start := time.Now()
	peak := peakHeap(func() {
		in := jsonBatchOf(n, size)
		defer in.Close()
		var errb bytes.Buffer
		res.Code = run([]string{"decode"}, in, out, &errb)
		res.Stderr = errb.String()
	})
	t.Logf("decode: %d lines in %v; peak HeapInuse %.1f MiB", out.n, time.Since(start).Round(time.Millisecond), float64(peak)/(1<<20))
	if res.Code != 0 || out.n != n+1 {
		t.Fatalf("exit %d, %d lines, want 0 and %d: %s", res.Code, out.n, n+1, res.Stderr)
	}
	if !strings.Contains(out.last.String(), fmt.Sprintf(`"body":"{\"n\":%d,\"pad\":\"xxx`, n-1)) {
		t.Errorf("the last line %.200q", out.last.String())
	}
	if peak > limit {
		t.Errorf("decode: peak HeapInuse %d bytes, over %d", peak, limit)
	}

	pr, pw := io.Pipe()
	go func() {
		in := jsonBatchOf(n, size)
		defer in.Close()
		var errb bytes.Buffer
		if code := run([]string{"decode"}, in, pw, &errb); code != 0 {
			pw.CloseWithError(fmt.Errorf("decode: exit %d: %s", code, errb.String()))
			return
		}
		pw.Close()
	}()
	out = &lineCount{}
	peak = peakHeap(func() {
		var errb bytes.Buffer
		res.Code = run([]string{"encode", "-format", "odata-json"}, pr, out, &errb)
		res.Stderr = errb.String()
	})
	t.Logf("encode -format odata-json: %d lines; peak HeapInuse %.1f MiB", out.n, float64(peak)/(1<<20))
	if res.Code != 0 || out.n != n+2 {
		t.Fatalf("exit %d, %d lines, want 0 and %d: %s", res.Code, out.n, n+2, res.Stderr)
	}
	if peak > limit {
		t.Errorf("encode: peak HeapInuse %d bytes, over %d", peak, limit)
	}
}

// One request longer than decode holds is refused, with the error of
// that limit, once the limit is read: not after the whole body.
func TestDecodeJSONItemLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("a 64 MiB request")
	}
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		bw.WriteString(`{"requests":[{"id":"1","method":"POST","url":"/x","body":"`)
		chunk := strings.Repeat("A", 64<<10)
		var err error
		// Twice the limit: decode must stop half way.
		for i := 0; i < 2*maxJSONItem/len(chunk) && err == nil; i++ {
			_, err = bw.WriteString(chunk)
		}
		bw.WriteString(`"}]}`)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	var out, errb bytes.Buffer
	code := run([]string{"decode"}, pr, &out, &errb)
	pr.CloseWithError(io.ErrClosedPipe)
	if code != 1 || !strings.Contains(errb.String(), errJSONItemTooLong.Error()) {
		t.Errorf("exit %d, stderr %q; want 1 and %q", code, errb.String(), errJSONItemTooLong)
	}
}

// A changeset's random boundary never starts with a short batch boundary
// (here "b", which 40% of random boundaries would start with): 300
// groups, each its own changeset, are written and read back.
func TestEncodeGroupsShortBoundary(t *testing.T) {
	var in strings.Builder
	for i := range 300 {
		fmt.Fprintf(&in, `{"headers":[["Content-Type","application/http"]],"atomicity_group":"g%d","http":{"method":"GET","target":"/a","headers":[]}}`+"\n", i)
	}
	mp := pipe(t, in.String(), []string{"encode", "-boundary", "b"})
	p := parts(t, pipe(t, mp, []string{"decode"}))
	if len(p) != 300 {
		t.Fatalf("%d parts, want 300", len(p))
	}
	for i, l := range p {
		if n := len(l["parts"].([]any)); n != 1 || fmt.Sprint(l["headers"].([]any)[1]) != fmt.Sprintf("[Content-ID g%d]", i) {
			t.Fatalf("part %d: %v", i, l)
		}
	}
}

// TestJSONBodyFormAgreesWithBatch: decode reads a request body in the form
// package batch's Handler reads it in, whatever the Content-Type members
// (both follow internal/bodyform): an empty or blank member is a
// Content-Type that is neither JSON nor text, so the body is base64; a
// blank member beside another adds nothing to it; no member at all makes
// the body JSON. decode once read an empty member as none (JSON) and a
// blank one before "text/plain" as part of the value (not text), where the
// Handler read base64 and text.
func TestJSONBodyFormAgreesWithBatch(t *testing.T) {
	const raw, decoded = `"aGk="`, "hi" // the body as written, as base64
	tests := []struct {
		headers      string
		odata, graph string
	}{
		{`{}`, raw, raw},
		{`{"Content-Type":""}`, decoded, decoded},
		{`{"Content-Type":" \t"}`, decoded, decoded},
		{`{"content-type":" ","Content-Type":"text/plain"}`, "aGk=", decoded},
		{`{"Content-Type":"text/plain","content-type":""}`, "aGk=", decoded},
		{`{"Content-Type":"","content-type":"application/json"}`, raw, raw},
		{`{"Content-Type":"TEXT/plain ; charset=utf-8"}`, "aGk=", decoded},
	}
	for _, tt := range tests {
		in := `{"requests":[{"id":"1","method":"PUT","url":"/x","headers":` + tt.headers + `,"body":"aGk="}]}`
		for _, f := range []struct {
			flag   string
			format batch.Format
			want   string
		}{{"odata-json", batch.FormatODataJSON, tt.odata}, {"graph-json", batch.FormatGraphJSON, tt.graph}} {
			res := runCmd(in, "decode", "-content-type", "application/json", "-format", f.flag)
			if res.Code != 0 {
				t.Fatalf("%s %s: decode: exit %d: %s", f.flag, tt.headers, res.Code, res.Stderr)
			}
			h := parts(t, res.Stdout)[0]["http"].(map[string]any)
			text, _ := h["body"].(string)
			b64, _ := h["body_base64"].(string)
			got, _ := base64.StdEncoding.DecodeString(b64)
			got = append([]byte(text), got...)

			var seen []byte
			inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen, _ = io.ReadAll(r.Body) })
			req := httptest.NewRequest("POST", "/batch", strings.NewReader(in))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			batch.NewHandlerOptions(inner, batch.HandlerOptions{JSONFormat: f.format}).ServeHTTP(rec, req)
			if seen == nil {
				t.Fatalf("%s %s: the Handler ran no call: %s", f.flag, tt.headers, rec.Body)
			}
			if diff := cmp.Diff([]string{f.want, f.want}, []string{string(got), string(seen)}); diff != "" {
				t.Errorf("%s %s: the body decode read, the Handler read (-want +got):\n%s", f.flag, tt.headers, diff)
			}
		}
	}
}

// TestEncodeJSONContentType: encode writes a repeated Content-Type as one
// member, its values joined as readers join them (an empty one adds
// nothing), and picks the body's form by that value; a body without a
// Content-Type gets the one net/http would sniff, as batch's Client gives
// it (application/octet-stream for text OData's text form cannot carry),
// since its reader would take it for JSON (encode once wrote such a body
// as base64, which the Handler then read as a JSON string). Each batch
// goes to the Handler, whose inner handler sees the body as it was.
func TestEncodeJSONContentType(t *testing.T) {
	line := func(headers, body string) string {
		return `{"headers":[["Content-Type","application/http"]],"http":{"method":"PUT","target":"/x","headers":` + headers + `,` + body + `}}` + "\n"
	}
	tests := []struct {
		headers, body    string // the line's
		want             string // the body's bytes
		odata, graph     string // the request object encode writes
		ctOData, ctGraph string // the Content-Type the Handler's inner handler sees
	}{
		{`[]`, `"body":"h\u00e9llo"`, "h\u00e9llo",
			`{"id":"1","method":"PUT","url":"/x","headers":{"Content-Type":"text/plain; charset=utf-8"},"body":"héllo"}`,
			`{"id":"1","method":"PUT","url":"/x","headers":{"Content-Type":"text/plain; charset=utf-8"},"body":"aMOpbGxv"}`,
			"text/plain; charset=utf-8", "text/plain; charset=utf-8"},
		// Latin-1 text sniffs as UTF-8 text, which OData's text form
		// cannot carry.
		{`[]`, `"body_base64":"Y2Fm6Q=="`, "caf\xe9",
			`{"id":"1","method":"PUT","url":"/x","headers":{"Content-Type":"application/octet-stream"},"body":"Y2Fm6Q=="}`,
			`{"id":"1","method":"PUT","url":"/x","headers":{"Content-Type":"text/plain; charset=utf-8"},"body":"Y2Fm6Q=="}`,
			"application/octet-stream", "text/plain; charset=utf-8"},
		{`[["Content-Type",""],["content-type","text/plain"]]`, `"body":"h\u00e9llo"`, "h\u00e9llo",
			`{"id":"1","method":"PUT","url":"/x","headers":{"Content-Type":"text/plain"},"body":"héllo"}`,
			`{"id":"1","method":"PUT","url":"/x","headers":{"Content-Type":"text/plain"},"body":"aMOpbGxv"}`,
			"text/plain", "text/plain"},
		{`[["Content-Type","application/json"],["Content-Type",""]]`, `"body":"{\"a\":1}"`, `{"a":1}`,
			`{"id":"1","method":"PUT","url":"/x","headers":{"Content-Type":"application/json"},"body":{"a":1}}`,
			`{"id":"1","method":"PUT","url":"/x","headers":{"Content-Type":"application/json"},"body":{"a":1}}`,
			"application/json", "application/json"},
	}
	for _, tt := range tests {
		for _, f := range []struct {
			flag     string
			format   batch.Format
			want, ct string
		}{{"odata-json", batch.FormatODataJSON, tt.odata, tt.ctOData}, {"graph-json", batch.FormatGraphJSON, tt.graph, tt.ctGraph}} {
			res := runCmd(line(tt.headers, tt.body), "encode", "-format", f.flag)
			if res.Code != 0 {
				t.Fatalf("%s %s: encode: exit %d: %s", f.flag, tt.headers, res.Code, res.Stderr)
			}
			if diff := cmp.Diff(`{"requests":[`+"\n"+f.want+"\n]}\n", res.Stdout); diff != "" {
				t.Errorf("%s %s: encode (-want +got):\n%s", f.flag, tt.headers, diff)
			}
			var body []byte
			var ct []string
			inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ = io.ReadAll(r.Body)
				ct = r.Header.Values("Content-Type")
			})
			req := httptest.NewRequest("POST", "/batch", strings.NewReader(res.Stdout))
			req.Header.Set("Content-Type", "application/json")
			batch.NewHandlerOptions(inner, batch.HandlerOptions{JSONFormat: f.format}).ServeHTTP(httptest.NewRecorder(), req)
			if diff := cmp.Diff([]any{tt.want, []string{f.ct}}, []any{string(body), ct}); diff != "" {
				t.Errorf("%s %s: the body and Content-Type the Handler's inner handler saw (-want +got):\n%s", f.flag, tt.headers, diff)
			}
		}
	}
}
