package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
	"github.com/mixedcodec/mixed/batch"
)

// cmdResult is what one run of the command did.
type cmdResult struct {
	Code   int
	Stdout string
	Stderr string
}

func runCmd(stdin string, args ...string) cmdResult {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return cmdResult{code, out.String(), errb.String()}
}

// lines decodes JSON lines into generic values for comparison.
func lines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("output %q: %v", s, err)
		}
		out = append(out, m)
	}
	return out
}

const bareBody = "--b\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nGET /farm/v1/animals/pony\r\n\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\n\xff\xfe\r\n" +
	"--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\nPOST Customers HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}\r\n--cs--\r\n" +
	"--b--\r\n"

// parts returns the part lines of decode's output: the lines after the
// envelope line, which it checks is first.
func parts(t *testing.T, s string) []map[string]any {
	t.Helper()
	l := lines(t, s)
	if len(l) == 0 {
		return nil
	}
	if l[0]["kind"] != "envelope" {
		t.Errorf("first line %v is not the envelope", l[0])
		return l
	}
	for _, m := range l[1:] {
		if _, ok := m["kind"]; ok {
			t.Errorf("line %v has a kind", m)
		}
	}
	return l[1:]
}

func TestDecodeBareBody(t *testing.T) {
	res := runCmd(bareBody, "decode")
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	want := []map[string]any{
		{"kind": "envelope", "boundary": "b"},
		{
			"index":   0.0,
			"headers": []any{[]any{"Content-Type", "application/http"}, []any{"Content-ID", "1"}},
			"body":    "GET /farm/v1/animals/pony\r\n",
			"http":    map[string]any{"method": "GET", "target": "/farm/v1/animals/pony", "proto": "HTTP/1.1", "headers": []any{}, "body": ""},
		},
		{
			"index":       1.0,
			"headers":     []any{[]any{"Content-Type", "text/plain"}},
			"body_base64": "//4=",
		},
		{
			"index":   2.0,
			"headers": []any{[]any{"Content-Type", "multipart/mixed; boundary=cs"}},
			"body":    "--cs\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\nPOST Customers HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}\r\n--cs--",
			"parts": []any{map[string]any{
				"index":   0.0,
				"headers": []any{[]any{"Content-Type", "application/http"}, []any{"Content-ID", "2"}},
				"body":    "POST Customers HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
				"http":    map[string]any{"method": "POST", "target": "Customers", "proto": "HTTP/1.1", "headers": []any{[]any{"Content-Length", "2"}}, "body": "{}"},
			}},
		},
	}
	if diff := cmp.Diff(want, lines(t, res.Stdout)); diff != "" {
		t.Errorf("decode (-want +got):\n%s", diff)
	}
}

func TestDecodeFlagsAndExitStatus(t *testing.T) {
	calendar, err := os.ReadFile("../../testdata/calendar-batch-response.http")
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(calendar), "\r\n\r\n")
	broken := "--b\r\nContent-Type: application/http\r\n\r\nGET /a\r\nBad Field: x\r\n\r\n--b\r\nContent-Type: application/http\r\n\r\nGET /b\r\n\r\n--b--\r\n"
	truncated := "--b\r\nContent-Type: application/http\r\n\r\nGET /a\r\n\r\n--b\r\nContent-Type: application/http\r\n\r\nGET /b"
	for _, tc := range []struct {
		name      string
		stdin     string
		args      []string
		wantCode  int
		wantParts int
		wantErr   string
	}{
		{"whole response file", "", []string{"decode", "../../testdata/calendar-batch-response.http"}, 0, 3, ""},
		{"whole request on stdin", mustRead(t, "../../testdata/people-batch-request.http"), []string{"decode", "-"}, 0, 2, ""},
		{"-boundary", body, []string{"decode", "-boundary", "batch_foobarbaz"}, 0, 3, ""},
		{"-content-type", body, []string{"decode", "-content-type", "multipart/mixed; boundary=\"batch_foobarbaz\""}, 0, 3, ""},
		{"part that does not parse", broken, []string{"decode"}, 1, 2, "1 part(s) did not parse"},
		{"truncated body", truncated, []string{"decode"}, 1, 1, "unexpected EOF"},
		{"not a batch", "hello\r\n", []string{"decode"}, 1, 0, "mixed: "},
		{"missing file", "", []string{"decode", "no-such-file"}, 1, 0, "no-such-file"},
		{"both flags", "", []string{"decode", "-boundary", "b", "-content-type", "multipart/mixed; boundary=b"}, 2, 0, "-boundary and -content-type cannot both be given"},
		{"unknown flag", "", []string{"decode", "-x"}, 2, 0, "flag provided but not defined"},
		{"no command", "", nil, 2, 0, "no command"},
		{"unknown command", "", []string{"frobnicate"}, 2, 0, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(tc.stdin, tc.args...)
			if res.Code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", res.Code, tc.wantCode, res.Stderr)
			}
			if n := len(parts(t, res.Stdout)); n != tc.wantParts {
				t.Errorf("%d parts printed, want %d", n, tc.wantParts)
			}
			if !strings.Contains(res.Stderr, tc.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", res.Stderr, tc.wantErr)
			}
			if tc.wantCode == 1 && tc.wantErr != "" && !strings.HasPrefix(res.Stderr, "mixed: ") {
				t.Errorf("stderr %q does not start with \"mixed: \"", res.Stderr)
			}
		})
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// decode | encode | decode gives the same lines.
func TestDecodeEncodeRoundTrip(t *testing.T) {
	for _, in := range []string{bareBody, mustRead(t, "../../testdata/calendar-batch-request.http"), mustRead(t, "../../testdata/people-batch-response.http")} {
		first := runCmd(in, "decode")
		if first.Code != 0 {
			t.Fatalf("decode: %d %s", first.Code, first.Stderr)
		}
		enc := runCmd(first.Stdout, "encode")
		if enc.Code != 0 {
			t.Fatalf("encode: %d %s", enc.Code, enc.Stderr)
		}
		second := runCmd(enc.Stdout, "decode")
		if diff := cmp.Diff(lines(t, first.Stdout), lines(t, second.Stdout)); diff != "" {
			t.Errorf("decode|encode|decode (-want +got):\n%s", diff)
		}
		// With -envelope, the output is a whole request that decodes the same.
		env := runCmd(first.Stdout, "encode", "-boundary", "batch_x", "-envelope", "POST http://example.com/batch/farm/v1")
		if !strings.HasPrefix(env.Stdout, "POST /batch/farm/v1 HTTP/1.1\r\nHost: example.com\r\nContent-Type: multipart/mixed; boundary=batch_x\r\nContent-Length: ") {
			t.Errorf("-envelope output starts %q", env.Stdout[:min(len(env.Stdout), 120)])
		}
		third := runCmd(env.Stdout, "decode")
		if diff := cmp.Diff(parts(t, first.Stdout), parts(t, third.Stdout)); diff != "" {
			t.Errorf("decode|encode -envelope|decode (-want +got):\n%s", diff)
		}
	}
}

func TestEncodeFromHTTPAndParts(t *testing.T) {
	in := `{"index":0,"headers":[["Content-Type","application/http"],["Content-ID","1"]],"http":{"method":"PUT","target":"/farm/v1/animals/sheep","proto":"HTTP/1.1","headers":[["If-Match","\"etag/sheep\""]],"body":"{}"}}
{"index":1,"headers":[["Content-Type","multipart/mixed; boundary=cs"]],"parts":[{"index":0,"headers":[["Content-Type","application/http"]],"http":{"status":201,"proto":"HTTP/1.1","headers":[]}}]}
`
	res := runCmd(in, "encode", "-boundary", "b")
	want := "--b\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nPUT /farm/v1/animals/sheep HTTP/1.1\r\nIf-Match: \"etag/sheep\"\r\nContent-Length: 2\r\n\r\n{}" +
		"\r\n--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n\r\n--cs--\r\n" +
		"\r\n--b--\r\n"
	if diff := cmp.Diff(cmdResult{Stdout: want}, res); diff != "" {
		t.Errorf("encode (-want +got):\n%s", diff)
	}
}

func TestEncodeErrors(t *testing.T) {
	good := `{"index":0,"headers":[["Content-Type","text/plain"]],"body":"x"}` + "\n"
	for _, tc := range []struct {
		name, in string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"not JSON", good + "nope\n", nil, 1, "line 2: "},
		{"wrong type", good + `{"index":0,"headers":[["A",1]],"body":"x"}` + "\n", nil, 1, "line 2: "},
		{"CR in a header value", good + good + `{"index":0,"headers":[["A","x\r\nB: y"]],"body":"x"}` + "\n", nil, 1, "line 3: "},
		{"no content", `{"index":0,"headers":[]}` + "\n", nil, 1, "line 1: "},
		{"body_base64 before body", `{"index":0,"headers":[],"body_base64":"","body":""}` + "\n", nil, 1, `line 1: "body" and "body_base64" given twice, or "body_base64" before "body"`},
		{"body twice", `{"index":0,"headers":[],"body":"a","body":"b"}` + "\n", nil, 1, "line 1: "},
		{"http body_base64 before body", `{"index":0,"headers":[],"http":{"method":"GET","target":"/","headers":[],"body_base64":"","body":""}}` + "\n", nil, 1, `line 1: http: "body" and "body_base64"`},
		{"delimiter in body", `{"index":0,"headers":[],"body":"a\r\n--b\r\n"}` + "\n", []string{"-boundary", "b"}, 1, "line 1: "},
		{"bad boundary", good, []string{"-boundary", "bad\x01"}, 2, "-boundary"},
		{"bad envelope", good, []string{"-envelope", "POST"}, 2, "-envelope"},
		{"envelope without host", good, []string{"-envelope", "POST /batch"}, 2, "no host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(tc.in, append([]string{"encode"}, tc.args...)...)
			if res.Code != tc.wantCode || !strings.Contains(res.Stderr, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", res.Code, res.Stderr, tc.wantCode, tc.wantErr)
			}
			if res.Stdout != "" {
				t.Errorf("partial output %q: nothing may be written on error", res.Stdout)
			}
		})
	}
}

// The Calendar documentation's batch request, sent to "mixed serve" with
// the demo API, gets the documentation's response back.
func TestServeCalendarSeed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var log bytes.Buffer
	done := make(chan error)
	go func() { done <- serve(ctx, ln, newFarm(), defaultConfig(), &syncWriter{w: &log}) }()

	reqFile := mustRead(t, "../../testdata/calendar-batch-request.http")
	seed, err := http.ReadRequest(bufio.NewReader(strings.NewReader(reqFile)))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+seed.URL.Path, seed.Body)
	req.Header = seed.Header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got := responseParts(t, resp)
	resp.Body.Close()

	wantResp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(mustRead(t, "../../testdata/calendar-batch-response.http"))), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := responseParts(t, wantResp)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response to the seed's batch (-seed's response +got):\n%s", diff)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	if !strings.Contains(log.String(), "calls=3 statuses=200:2,304:1") {
		t.Errorf("log %q lacks the batch line", log.String())
	}
}

// seedPart is a response part reduced to what the documentation shows:
// JSON bodies compared as values.
type seedPart struct {
	ContentID string
	Status    int
	ETag      string
	JSON      any
}

func responseParts(t *testing.T, resp *http.Response) []seedPart {
	t.Helper()
	b, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	r := mixed.NewReader(resp.Body, b)
	var out []seedPart
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
		sp := seedPart{ContentID: p.Header.Get("Content-ID"), Status: m.StatusCode, ETag: m.Header.Get("ETag")}
		body, err := io.ReadAll(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		if len(body) > 0 {
			if err := json.Unmarshal(body, &sp.JSON); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
		}
		out = append(out, sp)
	}
}

// serve turns result references on and halts a batch on its first error
// when the outer header asks.
func TestServeReferencesAndHalt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The later calls wait at a gate that opens when the first byte of
	// the response arrives. The handler writes part 0 only once call 0
	// has ended and, with halt on, has halted the batch; so the calls
	// that reached the farm before that are exactly the ones already
	// running, and every other later call must be skipped. Call 0 holds
	// one of the handler's workers, so at most Concurrency-1 later calls
	// can be running: with more later calls than that, some are skipped
	// on any machine and under any scheduling.
	var gate atomic.Pointer[chan struct{}]
	var entered atomic.Int64
	farm := newFarm()
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g := gate.Load(); g != nil && strings.HasSuffix(r.URL.Path, "/pony") {
			entered.Add(1)
			select {
			case <-*g:
			case <-r.Context().Done():
			}
		}
		farm.ServeHTTP(w, r)
	})
	go serve(ctx, ln, inner, defaultConfig(), io.Discard)
	post := func(halt bool, parts ...string) []seedPart {
		body := ""
		for i, p := range parts {
			body += fmt.Sprintf("--b\r\nContent-Type: application/http\r\nContent-ID: c%d\r\n\r\n%s\r\n", i, p)
		}
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/batch/farm/v1", strings.NewReader(body+"--b--\r\n"))
		req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
		if halt {
			req.Header.Set(batch.DefaultHaltHeader, "true")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if g := gate.Load(); g != nil {
			resp.Body = &onFirstRead{ReadCloser: resp.Body, f: func() { close(*g) }}
		}
		return responseParts(t, resp)
	}
	got := post(false, "GET /farm/v1/animals/pony HTTP/1.1\r\n", "GET /farm/v1/animals/$result[c0][animalName] HTTP/1.1\r\n")
	if len(got) != 2 || got[1].Status != 200 || got[1].ETag != `"etag/pony"` {
		t.Errorf("reference through serve: %+v", got)
	}

	later := 4*runtime.GOMAXPROCS(0) + 4 // more than the handler's default Concurrency
	calls := []string{"GET /farm/v1/animals/nobody HTTP/1.1\r\n"}
	for range later {
		calls = append(calls, "GET /farm/v1/animals/pony HTTP/1.1\r\n")
	}
	for _, halt := range []bool{false, true} {
		g := make(chan struct{})
		gate.Store(&g)
		entered.Store(0)
		got := post(halt, calls...)
		if len(got) != 1+later {
			t.Fatalf("halt=%v: %d parts, want %d", halt, len(got), 1+later)
		}
		if got[0].Status != 404 {
			t.Errorf("halt=%v: first part %+v, want 404", halt, got[0])
		}
		ran, skipped := 0, 0
		for _, p := range got[1:] {
			switch p.Status {
			case 424:
				skipped++
			case 200:
				ran++
			default:
				t.Errorf("halt=%v: later call status %d", halt, p.Status)
			}
		}
		if n := int(entered.Load()); ran != n {
			t.Errorf("halt=%v: %d later calls reached the farm but %d answered 200", halt, n, ran)
		}
		if !halt && skipped != 0 {
			t.Errorf("halt=false: %d of %d later calls skipped", skipped, later)
		}
		if halt && (skipped == 0 || ran+skipped != later) {
			t.Errorf("halt=true: %d of %d later calls skipped, %d ran", skipped, later, ran)
		}
	}
}

// onFirstRead calls f when the first bytes are read.
type onFirstRead struct {
	io.ReadCloser
	f func()
}

func (o *onFirstRead) Read(p []byte) (int, error) {
	n, err := o.ReadCloser.Read(p)
	if n > 0 && o.f != nil {
		o.f()
		o.f = nil
	}
	return n, err
}

// csPart is a response part of a batch with changesets.
type csPart struct {
	ContentID string
	Status    int
	Location  string
	Parts     []csPart
}

func changesetParts(t *testing.T, body io.Reader, boundary string) []csPart {
	t.Helper()
	r := mixed.NewReader(body, boundary)
	var out []csPart
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		cp := csPart{ContentID: p.Header.Get("Content-ID")}
		if ct := p.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/mixed") {
			b, err := mixed.ParseBoundary(ct)
			if err != nil {
				t.Fatal(err)
			}
			cp.Parts = changesetParts(t, p, b)
		} else {
			m, err := mixed.NewMessageReader(p).ReadResponse("")
			if err != nil {
				t.Fatal(err)
			}
			cp.Status, cp.Location = m.StatusCode, m.Header.Get("Location")
		}
		out = append(out, cp)
	}
}

// The changeset of "mixed serve -help", sent as it says: it rolls back;
// with the right ETag it commits; $1 addresses what call 1 created.
func TestServeChangesetFromHelp(t *testing.T) {
	help := runCmd("", "serve", "-help").Stdout
	start := strings.Index(help, "  --b\n")
	end := strings.Index(help, "  --b--\n")
	if start < 0 || end < 0 {
		t.Fatalf("no changeset example in serve -help:\n%s", help)
	}
	var example strings.Builder
	for _, line := range strings.Split(help[start:end+len("  --b--\n")], "\n") {
		example.WriteString(strings.TrimPrefix(line, "  "))
		example.WriteString("\r\n")
	}
	rollback := strings.TrimSuffix(example.String(), "\r\n")
	file, err := os.ReadFile("../../testdata/farm-changeset.mixed")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rollback, string(file)); diff != "" {
		t.Errorf("testdata/farm-changeset.mixed is not the example of serve -help (-help +file):\n%s", diff)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go serve(ctx, ln, newFarm(), defaultConfig(), io.Discard)
	post := func(body string) []csPart {
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/batch/farm/v1", strings.NewReader(body))
		req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		return changesetParts(t, resp.Body, b)
	}
	get := `--b` + "\r\n" + "Content-Type: application/http\r\nContent-ID: get\r\n\r\nGET /farm/v1/animals/cow HTTP/1.1\r\n\r\n--b--\r\n"
	if diff := cmp.Diff([]csPart{{ContentID: "response-2", Status: 412}}, post(rollback)); diff != "" {
		t.Errorf("the help's changeset (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]csPart{{ContentID: "response-get", Status: 404}}, post(get)); diff != "" {
		t.Errorf("after the rollback (-want +got):\n%s", diff)
	}
	commit := strings.Replace(rollback, `"etag/wrong"`, `"etag/sheep"`, 1)
	commit = strings.Replace(commit, "--cs--", "--cs\r\nContent-Type: application/http\r\nContent-ID: 3\r\n\r\nGET $1 HTTP/1.1\r\n\r\n--cs--", 1)
	want := []csPart{{Parts: []csPart{
		{ContentID: "response-1", Status: 201, Location: "/farm/v1/animals/cow"},
		{ContentID: "response-2", Status: 204},
		{ContentID: "response-3", Status: 200},
	}}}
	if diff := cmp.Diff(want, post(commit)); diff != "" {
		t.Errorf("the committed changeset (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]csPart{{ContentID: "response-get", Status: 200}}, post(get)); diff != "" {
		t.Errorf("after the commit (-want +got):\n%s", diff)
	}
}
