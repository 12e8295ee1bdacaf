package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// checkOnePrefix fails when a line of stderr repeats the command's prefix.
func checkOnePrefix(t *testing.T, stderr string) {
	t.Helper()
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Count(l, "mixed: ") > 1 {
			t.Errorf("stderr line %q has more than one prefix", l)
		}
	}
}

// lineWriter sends each complete line written to it on a channel.
type lineWriter struct {
	buf   []byte
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.lines <- string(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

// Each line is printed as soon as what it describes has been read: the
// test writes the input piece by piece into a pipe and waits for each
// line before it writes the next piece.
func TestDecodeStreams(t *testing.T) {
	part := func(body string) string {
		return "Content-Type: text/plain\r\n\r\n" + body + "\r\n--b"
	}
	bare := []string{"--b\r\n", part("one") + "\r\n", part("two") + "\r\n", part("three") + "--\r\n"}
	bareWant := []string{`{"kind":"envelope","boundary":"b"}`, `"body":"one"`, `"body":"two"`, `"body":"three"`}
	bodyLen := 0
	for _, s := range bare {
		bodyLen += len(s)
	}
	head := "POST /batch HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Length: " + strconv.Itoa(bodyLen) + "\r\n\r\n"
	for _, tc := range []struct {
		name   string
		args   []string
		pieces []string
		want   []string // a piece of each line, printed once pieces[i] is written
	}{
		{"bare body", nil, bare, bareWant},
		{"-boundary", []string{"-boundary", "b"}, append([]string{""}, bare...), append([]string{`{"kind":"envelope","boundary":"b"}`, ""}, bareWant[1:]...)},
		{"whole message", nil, append([]string{head}, bare...), append([]string{`"method":"POST"`, ""}, bareWant[1:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			out := &lineWriter{lines: make(chan string, 16)}
			done := make(chan cmdResult, 1)
			go func() {
				var errb bytes.Buffer
				code := run(append([]string{"decode"}, tc.args...), pr, out, &errb)
				done <- cmdResult{Code: code, Stderr: errb.String()}
			}()
			for i, piece := range tc.pieces {
				if piece != "" {
					if _, err := pw.Write([]byte(piece)); err != nil {
						t.Fatal(err)
					}
				}
				if tc.want[i] == "" {
					continue
				}
				var l string
				select {
				case l = <-out.lines:
				case <-time.After(10 * time.Second): // a hang, not a timing
					t.Fatalf("after piece %d (%q), no line: decode waits for more input", i, piece)
				}
				if !strings.Contains(l, tc.want[i]) {
					t.Fatalf("after piece %d, line %s; want it to hold %s", i, l, tc.want[i])
				}
			}
			pw.Close()
			if res := <-done; res.Code != 0 {
				t.Errorf("exit %d: %s", res.Code, res.Stderr)
			}
			select {
			case l := <-out.lines:
				t.Errorf("extra line %s", l)
			default:
			}
		})
	}
}

// A whole message is framed by its own head: Content-Length, chunked, or
// the end of the input for a response; anything else is an error.
func TestDecodeEnvelopeFraming(t *testing.T) {
	req := mustRead(t, "../../testdata/calendar-batch-request.http")
	head, body, _ := strings.Cut(req, "\r\n\r\n")
	withLength := func(n string) string {
		return strings.Replace(head, "Content-Length: 602", "Content-Length: "+n, 1) + "\r\n\r\n"
	}
	chunked := strings.Replace(head, "Content-Length: 602", "Transfer-Encoding: chunked", 1) + "\r\n\r\n" +
		"100\r\n" + body[:0x100] + "\r\n" + strings.ToUpper(strconv.FormatInt(int64(len(body)-0x100), 16)) + "\r\n" + body[0x100:] + "\r\n0\r\n\r\n"
	resp := mustRead(t, "../../testdata/people-batch-response.http")
	for _, tc := range []struct {
		name      string
		in        string
		wantCode  int
		wantParts int
		wantErr   string
	}{
		{"as it is", req, 0, 3, ""},
		{"truncated after the close delimiter", req[:len(req)-2], 1, 3, "truncated: its body ends after 600 of the 602 bytes"},
		{"truncated in a part", req[:len(req)-100], 1, 2, "unexpected EOF"},
		{"huge Content-Length", withLength("9223372036854775807") + body, 1, 3, "truncated: its body ends after 602 of the 9223372036854775807 bytes"},
		{"Content-Length too short", withLength("500") + body[:500], 1, 2, "unexpected EOF"},
		{"data after the body", req + "GET /x HTTP/1.1\r\n\r\n", 1, 3, "after the close delimiter"},
		{"chunked", chunked, 0, 3, ""},
		{"chunked, truncated", chunked[:len(chunked)-5], 1, 3, "truncated"},
		{"request without framing", strings.Replace(req, "Content-Length: 602\r\n", "", 1), 1, 0, "no body"},
		{"response to the end", resp, 0, 2, ""},
		{"response to the end, truncated", resp[:len(resp)-4], 1, 1, "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(tc.in, "decode")
			if res.Code != tc.wantCode || !strings.Contains(res.Stderr, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", res.Code, res.Stderr, tc.wantCode, tc.wantErr)
			}
			if n := len(parts(t, res.Stdout)); n != tc.wantParts {
				t.Errorf("%d parts, want %d", n, tc.wantParts)
			}
			checkOnePrefix(t, res.Stderr)
		})
	}
}

// A Content-Length of 2^63-1 costs no more memory than a small one.
func TestDecodeHugeContentLength(t *testing.T) {
	req := mustRead(t, "../../testdata/calendar-batch-request.http")
	in := strings.Replace(req, "Content-Length: 602", "Content-Length: 9223372036854775807", 1)
	runCmd(in, "decode") // warm up
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res := runCmd(in, "decode")
	runtime.ReadMemStats(&after)
	if res.Code != 1 {
		t.Errorf("exit %d: %s", res.Code, res.Stderr)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("decode allocated %d bytes", n)
	}
}

// What curl -si and curl -i print: HTTP/2 and HTTP/3 status lines, interim
// responses, and a body curl has de-chunked under its Transfer-Encoding.
func TestDecodeCurlOutput(t *testing.T) {
	body := "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi\r\n--b--\r\n"
	chunked := "50\r\n" + body[:0x50] + "\r\n" + strconv.FormatInt(int64(len(body)-0x50), 16) + "\r\n" + body[0x50:] + "\r\n0\r\n\r\n"
	h11 := "HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n"
	for _, tc := range []struct {
		name      string
		in        string
		args      []string
		wantCode  int
		wantProto string
		wantNote  string // in stderr; "" for none
	}{
		{"HTTP/2", "HTTP/2 200 \r\ncontent-type: multipart/mixed; boundary=b\r\n\r\n" + body, nil, 0, "HTTP/2", "read the HTTP/2 response as curl prints it"},
		{"HTTP/2 with length", "HTTP/2 200 \r\ncontent-type: multipart/mixed; boundary=b\r\ncontent-length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body, nil, 0, "HTTP/2", "HTTP/2"},
		{"HTTP/3", "HTTP/3 200 \r\ncontent-type: multipart/mixed; boundary=b\r\n\r\n" + body, nil, 0, "HTTP/3", "HTTP/3"},
		{"de-chunked", h11 + body, nil, 0, "HTTP/1.1", "de-chunked already (its first line is not a chunk size"},
		{"chunked", h11 + chunked, nil, 0, "HTTP/1.1", ""},
		{"-dechunked, ambiguous preamble", h11 + "abc\r\n" + body, []string{"-dechunked"}, 0, "HTTP/1.1", "de-chunked already (-dechunked"},
		{"ambiguous preamble", h11 + "abc\r\n" + body, nil, 1, "", ""},
		{"100 Continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + body, nil, 0, "HTTP/1.1", `skipped the interim response "HTTP/1.1 100 Continue"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(tc.in, append([]string{"decode"}, tc.args...)...)
			if res.Code != tc.wantCode {
				t.Fatalf("exit %d, want %d: %s", res.Code, tc.wantCode, res.Stderr)
			}
			checkOnePrefix(t, res.Stderr)
			if tc.wantCode != 0 {
				return
			}
			l := lines(t, res.Stdout)
			if len(l) != 2 {
				t.Fatalf("%d lines, want the envelope and a part: %s", len(l), res.Stdout)
			}
			if got := l[0]["http"].(map[string]any)["proto"]; got != tc.wantProto {
				t.Errorf("envelope proto %v, want %s", got, tc.wantProto)
			}
			if got := l[1]["http"].(map[string]any)["body"]; got != "hi" {
				t.Errorf("part's body %v, want hi", got)
			}
			if tc.wantNote == "" && res.Stderr != "" || !strings.Contains(res.Stderr, tc.wantNote) {
				t.Errorf("stderr %q, want the note %q", res.Stderr, tc.wantNote)
			}
			if tc.wantNote != "" && !strings.HasPrefix(res.Stderr, "mixed: note: ") {
				t.Errorf("stderr %q: want a note", res.Stderr)
			}
		})
	}
	// A version decode does not read is quoted as written.
	for _, v := range []string{"HTTP/9", "HTTP/2.5", "HTTP/1.2", "HTTP/"} {
		res := runCmd(v+" 200\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"+body, "decode")
		if want := `HTTP version "` + v + `"`; res.Code != 1 || !strings.Contains(res.Stderr, want) {
			t.Errorf("%s: exit %d, stderr %q; want 1 and %s", v, res.Code, res.Stderr, want)
		}
		checkOnePrefix(t, res.Stderr)
	}
}

// testdataFiles are the whole messages and bodies in testdata/.
func testdataFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"../../testdata", "testdata"} {
		entries, err := os.ReadDir(dir)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
	}
	if len(files) < 5 {
		t.Fatalf("only %d files in testdata: %v", len(files), files)
	}
	return files
}

// decode | encode gives every file of testdata back, byte for byte: the
// envelope line carries the message's own head and boundary.
func TestDecodeEncodeByteForByte(t *testing.T) {
	for _, name := range testdataFiles(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			in := mustRead(t, name)
			dec := runCmd(in, "decode")
			if dec.Code != 0 {
				t.Fatalf("decode: exit %d: %s", dec.Code, dec.Stderr)
			}
			l := lines(t, dec.Stdout)
			if l[0]["kind"] != "envelope" || l[0]["boundary"] == "" {
				t.Errorf("first line %v: want the envelope with its boundary", l[0])
			}
			if _, isMessage := l[0]["http"]; isMessage != strings.HasSuffix(name, ".http") {
				t.Errorf("envelope %v: want \"http\" for a whole message only", l[0])
			}
			enc := runCmd(dec.Stdout, "encode")
			if enc.Code != 0 {
				t.Fatalf("encode: exit %d: %s", enc.Code, enc.Stderr)
			}
			if diff := cmp.Diff(in, enc.Stdout); diff != "" {
				t.Errorf("decode | encode (-input +output):\n%s", diff)
			}
		})
	}
}

// The envelope line's framing fields follow the body when the parts
// change, and -boundary replaces the boundary in its Content-Type.
func TestEncodeEnvelopeLine(t *testing.T) {
	env := `{"kind":"envelope","boundary":"b","http":{"method":"POST","target":"/batch","proto":"HTTP/1.1","headers":[["Host","h"],["Content-Type","multipart/mixed; boundary=b"],["Content-Length","1"]]}}` + "\n"
	part := `{"headers":[["Content-Type","text/plain"]],"body":"x"}` + "\n"
	res := runCmd(env+part, "encode", "-boundary", "c")
	want := "POST /batch HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/mixed; boundary=c\r\nContent-Length: 43\r\n\r\n" +
		"--c\r\nContent-Type: text/plain\r\n\r\nx\r\n--c--\r\n"
	if diff := cmp.Diff(cmdResult{Stdout: want}, res); diff != "" {
		t.Errorf("encode (-want +got):\n%s", diff)
	}
	chunkedResp := `{"kind":"envelope","boundary":"b","http":{"proto":"HTTP/2","status":200,"reason":"","headers":[["content-type","multipart/mixed; boundary=b"],["transfer-encoding","chunked"]]}}` + "\n"
	res = runCmd(chunkedResp+part, "encode")
	want = "HTTP/2 200\r\ncontent-type: multipart/mixed; boundary=b\r\ntransfer-encoding: chunked\r\n\r\n" +
		"2b\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n\r\n0\r\n\r\n"
	if diff := cmp.Diff(cmdResult{Stdout: want}, res); diff != "" {
		t.Errorf("encode (-want +got):\n%s", diff)
	}
	// What decode would refuse is not written.
	for _, bad := range []string{
		`{"kind":"envelope","boundary":"b","http":{"method":"POST","target":"/","proto":"HTTP/2","headers":[]}}`,
		`{"kind":"envelope","boundary":"b","http":{"status":200,"proto":"HTTP/1.0","headers":[["Transfer-Encoding","chunked"]]}}`,
		`{"kind":"envelope","boundary":"b","http":{"status":200,"headers":[["Transfer-Encoding","chunked"],["Content-Length","5"]]}}`,
		`{"kind":"envelope","boundary":"b","http":{"status":204,"headers":[]}}`,
		`{"kind":"envelope","boundary":"b","http":{"status":200,"headers":[["Bad Name","x"]]}}`,
		`{"kind":"envelope","boundary":"b","http":{"method":"POST","target":"x y","headers":[]}}`,
	} {
		if res := runCmd(bad+"\n"+part, "encode"); res.Code != 1 || res.Stdout != "" || !strings.HasPrefix(res.Stderr, "mixed: the envelope: ") {
			t.Errorf("%s: %+v", bad, res)
		}
	}
	// And decode reads that back, chunked and all.
	if back := runCmd(res.Stdout, "decode"); back.Code != 0 || len(parts(t, back.Stdout)) != 1 {
		t.Errorf("decode of %q: %+v", res.Stdout, back)
	}
}

// -envelope writes Host, from its URL or from -host; without a host it is
// a usage error; a server reads what it writes.
func TestEncodeEnvelopeHost(t *testing.T) {
	part := `{"headers":[["Content-Type","text/plain"]],"body":"x"}` + "\n"
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantHost string
		wantURI  string
		wantErr  string
	}{
		{"URL", []string{"-envelope", "POST http://api.example:8080/batch/farm/v1?x=1"}, 0, "api.example:8080", "/batch/farm/v1?x=1", ""},
		{"URL without path", []string{"-envelope", "POST https://api.example"}, 0, "api.example", "/", ""},
		{"path and -host", []string{"-envelope", "POST /batch HTTP/1.1", "-host", "api.example"}, 0, "api.example", "/batch", ""},
		{"URL and the same -host", []string{"-envelope", "POST http://a/batch", "-host", "a"}, 0, "a", "/batch", ""},
		{"path without host", []string{"-envelope", "POST /batch"}, 2, "", "", "has no host: give a URL (POST http://host/batch) or -host"},
		{"URL and another -host", []string{"-envelope", "POST http://a/batch", "-host", "b"}, 2, "", "", `-host "b" differs`},
		{"-host alone", []string{"-host", "a"}, 2, "", "", "-host needs -envelope"},
		{"relative target", []string{"-envelope", "POST batch", "-host", "a"}, 2, "", "", "neither a URL nor a path"},
		{"bad method", []string{"-envelope", "PO:ST http://a/batch"}, 1, "", "", "method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(part, append([]string{"encode", "-boundary", "b"}, tc.args...)...)
			if res.Code != tc.wantCode || !strings.Contains(res.Stderr, tc.wantErr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", res.Code, res.Stderr, tc.wantCode, tc.wantErr)
			}
			checkOnePrefix(t, res.Stderr)
			if tc.wantCode != 0 {
				if res.Stdout != "" {
					t.Errorf("output %q on error", res.Stdout)
				}
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(res.Stdout)))
			if err != nil {
				t.Fatalf("net/http reads %q: %v", res.Stdout, err)
			}
			got := []string{req.Host, req.RequestURI, req.Header.Get("Content-Type")}
			if diff := cmp.Diff([]string{tc.wantHost, tc.wantURI, "multipart/mixed; boundary=b"}, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
		})
	}
}

// encode adds Content-Type: application/http to an "http" part without
// one, refuses unknown keys and empty input.
func TestEncodeStrict(t *testing.T) {
	res := runCmd(`{"http":{"method":"GET","target":"/a"}}`+"\n"+
		`{"headers":[["content-type","application/http; msgtype=request"]],"http":{"method":"GET","target":"/b"}}`+"\n", "encode", "-boundary", "b")
	want := "--b\r\nContent-Type: application/http\r\n\r\nGET /a HTTP/1.1\r\n\r\n" +
		"\r\n--b\r\ncontent-type: application/http; msgtype=request\r\n\r\nGET /b HTTP/1.1\r\n\r\n" +
		"\r\n--b--\r\n"
	if diff := cmp.Diff(cmdResult{Stdout: want}, res); diff != "" {
		t.Errorf("encode (-want +got):\n%s", diff)
	}
	// What it writes decodes back to the same "http".
	if back := parts(t, runCmd(res.Stdout, "decode").Stdout); len(back) != 2 || back[0]["http"].(map[string]any)["target"] != "/a" {
		t.Errorf("decode of the output: %v", back)
	}

	good := `{"index":0,"headers":[["Content-Type","text/plain"]],"body":"x"}` + "\n"
	env := `{"kind":"envelope","boundary":"b"}` + "\n"
	for _, tc := range []struct {
		name, in, wantErr string
	}{
		{"unknown key", good + `{"header":[["A","b"]],"body":"x"}` + "\n", `line 2: unknown key "header"`},
		{"unknown key in http", good + good + `{"http":{"method":"GET","target":"/","header":[]}}` + "\n", `line 3: unknown key "header"`},
		{"unknown key in parts", `{"headers":[["Content-Type","multipart/mixed; boundary=c"]],"parts":[{"bdy":"x"}]}` + "\n", `line 1: unknown key "bdy"`},
		{"unknown key in the envelope", `{"kind":"envelope","boundary":"b","preamble":"x"}` + "\n", `line 1: unknown key "preamble"`},
		{"unknown kind", `{"kind":"epilogue","body":"x"}` + "\n", `line 1: unknown kind "epilogue"`},
		{"envelope not first", good + env, "line 2: an envelope line must be the first line"},
		{"envelope with a body", `{"kind":"envelope","boundary":"b","http":{"status":200,"headers":[],"body":"x"}}` + "\n", "line 1: the envelope's \"http\" has no body"},
		{"envelope with a body, kind last", `{"boundary":"b","http":{"status":200,"headers":[],"body":"x"},"kind":"envelope"}` + "\n", "line 1: the envelope's \"http\" has no body"},
		{"envelope with part keys, kind last", `{"boundary":"b","headers":[],"kind":"envelope"}` + "\n", `line 1: unknown key "headers"`},
		{"part with a boundary", `{"boundary":"b","headers":[],"body":"x"}` + "\n", `line 1: unknown key "boundary"`},
		{"two values", `{"body":"x"} {"body":"y"}` + "\n", "line 1: invalid character '{' after top-level value"},
		{"empty", "", "the input is empty"},
		{"blank lines", "\n \n", "the input is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(tc.in, "encode")
			if res.Code != 1 || !strings.Contains(res.Stderr, tc.wantErr) || res.Stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing and %q", res.Code, res.Stdout, res.Stderr, tc.wantErr)
			}
			checkOnePrefix(t, res.Stderr)
		})
	}
	// An envelope alone is an empty batch, as decode prints one.
	if res := runCmd(env, "encode"); res.Code != 0 || res.Stdout != "--b--\r\n" {
		t.Errorf("envelope alone: %+v", res)
	}
	if res := runCmd("--b--\r\n", "decode"); res.Code != 0 || res.Stdout != env {
		t.Errorf("decode of an empty batch: %+v", res)
	}
}

// Usage errors say what is wrong in one line and point to the help; help
// goes to stdout with exit 0.
func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string // the first line of stderr
		help    string // the second
	}{
		{nil, "mixed: no command given", "mixed help"},
		{[]string{"frobnicate"}, `mixed: unknown command "frobnicate"`, "mixed help"},
		{[]string{"help", "nope"}, `mixed: help: unknown command "nope"`, "mixed help"},
		{[]string{"version", "x"}, "mixed: version takes no arguments", "mixed help"},
		{[]string{"decode", "a", "b"}, "mixed decode: 2 files given, want at most one", "mixed decode -help"},
		{[]string{"decode", "-boundary", "b", "-content-type", "multipart/mixed; boundary=b"}, "mixed decode: -boundary and -content-type cannot both be given", "mixed decode -help"},
		{[]string{"decode", "-content-type", "text/plain"}, "mixed decode: -content-type: not a multipart media type", "mixed decode -help"},
		{[]string{"decode", "-x"}, "mixed decode: flag provided but not defined: -x", "mixed decode -help"},
		{[]string{"encode", "a", "b"}, "mixed encode: 2 files given, want at most one", "mixed encode -help"},
		{[]string{"encode", "-boundary", "a;b"}, `mixed encode: -boundary: invalid boundary: byte ";" is not an RFC 2046 bchar`, "mixed encode -help"},
		{[]string{"serve", "extra"}, `mixed serve: unexpected argument "extra": serve takes flags only`, "mixed serve -help"},
		{[]string{"serve", "-upstream", "ftp://x"}, `mixed serve: -upstream "ftp://x": want an http or https URL with a host`, "mixed serve -help"},
		{[]string{"serve", "-path", "/"}, `mixed serve: -path "/": want a path below /, which the upstream serves`, "mixed serve -help"},
		{[]string{"serve", "-read-timeout", "soon"}, `mixed serve: invalid value "soon" for flag -read-timeout: parse error`, "mixed serve -help"},
		{[]string{"serve", "-call-timeout", "-1s"}, `mixed serve: -call-timeout -1s: want 0 (none) or more`, "mixed serve -help"},
		{[]string{"serve", "-json-format", "multipart"}, `mixed serve: -json-format "multipart": want odata-json or graph-json`, "mixed serve -help"},
		{[]string{"decode", "-format", "multipart"}, `mixed decode: -format "multipart": want odata-json or graph-json`, "mixed decode -help"},
		{[]string{"encode", "-format", "xml"}, `mixed encode: -format "xml": want multipart, odata-json or graph-json`, "mixed encode -help"},
		{[]string{"encode", "-format", "odata-json", "-boundary", "b"}, "mixed encode: -boundary is for -format multipart", "mixed encode -help"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			res := runCmd("", tc.args...)
			want := cmdResult{Code: 2, Stderr: tc.wantErr + "\nrun \"" + tc.help + "\" for usage\n"}
			if strings.HasPrefix(res.Stderr, tc.wantErr) {
				// Only the start of the message is the test's.
				first, rest, _ := strings.Cut(res.Stderr, "\n")
				want.Stderr = first + "\n" + strings.TrimPrefix(want.Stderr, tc.wantErr+"\n")
				if rest != strings.TrimPrefix(want.Stderr, first+"\n") {
					t.Errorf("second line %q", rest)
				}
			}
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			checkOnePrefix(t, res.Stderr)
		})
	}

	for _, cmd := range []string{"decode", "encode", "serve"} {
		for _, args := range [][]string{{cmd, "-help"}, {cmd, "-h"}, {"help", cmd}} {
			res := runCmd("", args...)
			if res.Code != 0 || res.Stderr != "" || !strings.HasPrefix(res.Stdout, "usage: mixed "+cmd) || !strings.Contains(res.Stdout, "\nFlags:\n  -") {
				t.Errorf("%q: exit %d, stderr %q, stdout %.60q...", args, res.Code, res.Stderr, res.Stdout)
			}
		}
	}
	for _, args := range [][]string{{"help"}, {"-help"}, {"--help"}, {"-h"}} {
		if res := runCmd("", args...); res.Code != 0 || res.Stderr != "" || res.Stdout != usage {
			t.Errorf("%q: %+v", args, res)
		}
	}
	res := runCmd("", "version")
	if res.Code != 0 || res.Stderr != "" || !strings.HasPrefix(res.Stdout, "mixed ") || !strings.HasSuffix(res.Stdout, " "+runtime.Version()+"\n") {
		t.Errorf("version: %+v", res)
	}
	// serve's -help prints the defaults of its timeouts.
	help := runCmd("", "serve", "-help").Stdout
	for _, d := range []string{"-read-timeout 2m -write-timeout 10m -idle-timeout 2m -call-timeout 60s\n", "-read-timeout duration", "(default 2m0s)", "-write-timeout duration", "(default 10m0s)", "-idle-timeout duration", "-call-timeout duration", "(default 1m0s)"} {
		if !strings.Contains(help, d) {
			t.Errorf("serve -help lacks %q", d)
		}
	}
}

func TestBatchPath(t *testing.T) {
	for in, want := range map[string]string{"nolead": "/nolead", "/batch/": "/batch", "a//b/../c": "/a/c", "/batch": "/batch"} {
		if got, err := batchPathOf(in); got != want || err != nil {
			t.Errorf("batchPathOf(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
