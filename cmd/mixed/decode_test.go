package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

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
