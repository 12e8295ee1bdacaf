package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func httpPart(head string, body []byte) string {
	return "Content-Type: application/http\r\n\r\n" + head + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
}

// Parts longer than holdBytes stream: as their raw "body" or
// "body_base64" (or text, then base64 from the first invalid byte), or as
// "http" with a streamed body when encode writes the head back as it is.
// decode | encode gives every such batch back byte for byte.
func TestDecodeEncodeLargeParts(t *testing.T) {
	big := holdBytes + 3000
	text := textBytes(big)
	badTail := append(textBytes(big), "\xff and more text"...)
	cut := append(textBytes(holdBytes-1), "é"...) // a character across holdBytes
	bin := randomBytes(1, big)
	for _, tc := range []struct {
		name string
		part string   // after "--b\r\n"
		keys []string // of the part line
		http []string // of its "http", if any
	}{
		{"text", "Content-Type: text/plain; charset=utf-8\r\n\r\n" + string(text), []string{"body", "headers", "index"}, nil},
		{"text, then invalid UTF-8", "Content-Type: text/csv\r\n\r\n" + string(badTail), []string{"body", "body_base64", "headers", "index"}, nil},
		{"text cut in a character", "Content-Type: application/json\r\n\r\n" + string(cut), []string{"body", "headers", "index"}, nil},
		{"text ending in a cut character", "Content-Type: application/json\r\n\r\n" + string(text) + "\xc3", []string{"body", "body_base64", "headers", "index"}, nil},
		{"not textual", "Content-Type: application/octet-stream\r\n\r\n" + string(text), []string{"body_base64", "headers", "index"}, nil},
		{"no header", "\r\n" + string(bin), []string{"body_base64", "headers", "index"}, nil},
		{"http response", httpPart("HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n", bin), []string{"headers", "http", "index"}, []string{"body_base64", "headers", "proto", "reason", "status"}},
		{"http request", httpPart("PUT /upload HTTP/1.1\r\nContent-Type: application/json\r\n", text), []string{"headers", "http", "index"}, []string{"body", "headers", "method", "proto", "target"}},
		{"http text then binary", httpPart("HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\n", badTail), []string{"headers", "http", "index"}, []string{"body", "body_base64", "headers", "proto", "reason", "status"}},
		{"http without version", httpPart("PUT /upload\r\n", bin), []string{"body_base64", "headers", "index"}, nil},
		{"http without reason", httpPart("HTTP/1.1 200 \r\n", bin), []string{"body_base64", "headers", "index"}, nil},
		{"http chunked", "Content-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strconv.FormatInt(int64(len(bin)), 16) + "\r\n" + string(bin) + "\r\n0\r\n\r\n", []string{"body_base64", "headers", "index"}, nil},
		{"nested multipart", "Content-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\n" + httpPart("HTTP/1.1 200 OK\r\n", text) + "\r\n--cs--", []string{"body_base64", "headers", "index"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := "--b\r\n" + tc.part + "\r\n--b\r\nContent-Type: text/plain\r\n\r\nsmall\r\n--b--\r\n"
			dec := runCmd(in, "decode")
			if dec.Code != 0 {
				t.Fatalf("decode: exit %d: %s", dec.Code, dec.Stderr)
			}
			l := parts(t, dec.Stdout)
			if len(l) != 2 || l[1]["body"] != "small" {
				t.Fatalf("decode printed %d parts, the last %v", len(l), l[len(l)-1]["body"])
			}
			if diff := cmp.Diff(tc.keys, slices.Sorted(maps.Keys(l[0]))); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			if tc.http != nil {
				if diff := cmp.Diff(tc.http, slices.Sorted(maps.Keys(l[0]["http"].(map[string]any)))); diff != "" {
					t.Errorf("http keys (-want +got):\n%s", diff)
				}
			}
			enc := runCmd(dec.Stdout, "encode")
			if enc.Code != 0 {
				t.Fatalf("encode: exit %d: %s", enc.Code, enc.Stderr)
			}
			if enc.Stdout != in {
				t.Errorf("decode | encode differs from the input (%d bytes, %d in)", len(enc.Stdout), len(in))
			}
		})
	}
}

// A streamed part's JSON is what encoding/json makes of the same values.
func TestDecodeLargePartJSON(t *testing.T) {
	text := textBytes(holdBytes + 100)
	in := "--b\r\nContent-Type: text/plain\r\n\r\n" + string(text) + "\r\n--b--\r\n"
	dec := runCmd(in, "decode")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	s := string(text)
	enc.Encode(partJSON{Index: 0, Headers: [][2]string{{"Content-Type", "text/plain"}}, Body: &s})
	want := `{"kind":"envelope","boundary":"b"}` + "\n" + buf.String()
	if dec.Stdout != want {
		i := 0
		for i < min(len(want), len(dec.Stdout)) && want[i] == dec.Stdout[i] {
			i++
		}
		t.Errorf("decode printed %d bytes, want %d; from byte %d: %.100q, want %.100q", len(dec.Stdout), len(want), i, dec.Stdout[i:], want[i:])
	}
}

// encode streams "body", "body_base64" and "http"'s body, in any
// chunking of its input, when the keys come in decode's order; in another
// order it holds what it must.
func TestEncodeKeyOrders(t *testing.T) {
	bin := randomBytes(2, 3*maxPiece+5)
	b64 := base64.StdEncoding.EncodeToString(bin)
	// With "\/" escapes and line breaks, which encoding/json accepts.
	b64esc := strings.ReplaceAll(b64, "/", `\/`)
	b64esc = b64esc[:100] + `\r\n` + b64esc[100:]
	want := "--b\r\nContent-Type: application/octet-stream\r\n\r\n" + string(bin) + "\r\n--b--\r\n"
	wantHTTP := "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(bin)) + "\r\n\r\n" + string(bin) + "\r\n--b--\r\n"
	hdr := `"headers":[["Content-Type","application/octet-stream"]]`
	httpHead := `"status":200,"reason":"OK","headers":[["Content-Length","` + strconv.Itoa(len(bin)) + `"]]`
	for _, tc := range []struct {
		name, line, want string
	}{
		{"decode's order", `{"index":0,` + hdr + `,"body_base64":"` + b64 + `"}`, want},
		{"escapes and line breaks in base64", `{"index":0,` + hdr + `,"body_base64":"` + b64esc + `"}`, want},
		{"body first", `{"body_base64":"` + b64 + `",` + hdr + `}`, want},
		{"spaces", ` { "index" : 0 , ` + hdr + ` , "body_base64" : "` + b64 + `" } `, want},
		{"http in decode's order", `{"headers":[],"http":{` + httpHead + `,"body_base64":"` + b64 + `"}}`, wantHTTP},
		{"http body first", `{"headers":[],"http":{"body_base64":"` + b64 + `",` + httpHead + `}}`, wantHTTP},
		{"http before headers", `{"http":{` + httpHead + `,"body_base64":"` + b64 + `"},"headers":[]}`, wantHTTP},
		{"http without Content-Length", `{"headers":[],"http":{"status":200,"reason":"OK","headers":[],"body_base64":"` + b64 + `"}}`, wantHTTP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(tc.line+"\n", "encode", "-boundary", "b")
			if diff := cmp.Diff(cmdResult{Stdout: tc.want}, res); diff != "" {
				t.Errorf("encode (-want +got):\n%.2000s", diff)
			}
		})
	}
	for _, tc := range []struct{ name, line, wantErr string }{
		{"http body too long", `{"headers":[],"http":{"status":200,"headers":[["Content-Length","5"]],"body":"123456"}}`, "line 1: http: Content-Length 5 for a longer body"},
		{"http body too short", `{"headers":[],"http":{"status":200,"headers":[["Content-Length","5"]],"body":"1234"}}`, "line 1: http: Content-Length 5 for a body of 4 bytes"},
		{"head after the http body", `{"headers":[],"http":{"method":"GET","target":"/","headers":[["Content-Length","1"]],"body":"1","proto":"HTTP/1.1"}}`, `line 1: "proto" after "http"'s body`},
		{"http after a body without Content-Type", `{"headers":[],"body":"x","http":{"method":"GET","target":"/"}}`, `line 1: "http" after "body"`},
		{"bad base64", `{"headers":[],"body_base64":"QQ=="}` + "\n" + `{"headers":[],"body_base64":"QQ==QQ=="}`, "line 2: illegal base64 data at input byte 4"},
		{"base64 cut short", `{"headers":[],"body_base64":"QUJ"}`, "line 1: illegal base64 data"},
		{"a line break in a string", `{"headers":[],"body":"a` + "\n" + `"}`, "line 1: the line ends inside a string"},
		{"an object over two lines", `{"headers":[],` + "\n" + `"body":"a"}`, "line 1: the line ends inside a JSON object"},
		{"a control character", `{"headers":[],"body":"a` + "\x01" + `"}`, `line 1: invalid character '\x01' in string literal`},
		{"a bad escape", `{"headers":[],"body":"a\x"}`, `line 1: invalid character 'x' in string escape code`},
		{"not an object", `["headers"]`, `line 1: invalid character '[' looking for beginning of object`},
		{"unterminated", `{"headers":[],"body":"abc`, "line 1: the line ends inside a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(tc.line+"\n", "encode", "-boundary", "b")
			if res.Code != 1 || !strings.Contains(res.Stderr, tc.wantErr) || res.Stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing and %q", res.Code, res.Stdout, res.Stderr, tc.wantErr)
			}
			checkOnePrefix(t, res.Stderr)
		})
	}
}

// Past the output encode holds, a whole message streams: in chunks when
// chunked, to the end when a response has no framing, and spooled to
// learn its Content-Length; decode | encode still gives it back.
func TestEncodeLargeEnvelopes(t *testing.T) {
	bin := string(randomBytes(4, holdOutput+5000))
	body := "--b\r\nContent-Type: application/octet-stream\r\n\r\n" + bin + "\r\n--b\r\nContent-Type: text/plain\r\n\r\nlast\r\n--b--\r\n"
	withLength := "POST /batch HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	toEnd := "HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + body
	chunked := "HTTP/1.1 200 OK\r\nContent-Type: multipart/mixed; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n"
	for _, tc := range []struct{ name, in string }{{"Content-Length", withLength}, {"to the end", toEnd}, {"chunked", chunked}} {
		t.Run(tc.name, func(t *testing.T) {
			dec := runCmd(tc.in, "decode")
			if dec.Code != 0 {
				t.Fatalf("decode: exit %d: %s", dec.Code, dec.Stderr)
			}
			enc := runCmd(dec.Stdout, "encode")
			if enc.Code != 0 {
				t.Fatalf("encode: exit %d: %s", enc.Code, enc.Stderr)
			}
			if tc.name != "chunked" {
				if enc.Stdout != tc.in {
					t.Errorf("decode | encode differs from the input (%d bytes, %d in)", len(enc.Stdout), len(tc.in))
				}
				return
			}
			// Chunked, the chunks differ; what they carry does not.
			oneChunk := "\r\n\r\n" + strconv.FormatInt(int64(len(body)), 16) + "\r\n"
			if !strings.HasSuffix(enc.Stdout, "\r\n0\r\n\r\n") || strings.Contains(enc.Stdout, oneChunk) {
				t.Errorf("chunked output: want chunks as it streams, and the last chunk")
			}
			back := runCmd(enc.Stdout, "decode")
			if back.Stdout != dec.Stdout {
				t.Errorf("decode of the chunked output differs")
			}
		})
	}
}

// A long batch that fails past the held output stops before its close
// delimiter: what was written never reads as a whole batch.
func TestEncodeLargeFailure(t *testing.T) {
	bin := randomBytes(5, holdOutput+5000)
	line := `{"headers":[],"body_base64":"` + base64.StdEncoding.EncodeToString(bin) + `"}` + "\n"
	for _, tc := range []struct{ name, in, wantErr string }{
		{"a bad line after", line + `{"headers":[],"bdy":"x"}` + "\n", `line 2: unknown key "bdy"`},
		{"a delimiter in a long body", `{"headers":[],"body":"` + strings.Repeat("x", holdOutput+10) + `\r\n--b\r\n"}` + "\n", "line 1: body contains the boundary delimiter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(tc.in, "encode", "-boundary", "b")
			if res.Code != 1 || !strings.Contains(res.Stderr, tc.wantErr) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", res.Code, res.Stderr, tc.wantErr)
			}
			if !strings.HasPrefix(res.Stdout, "--b\r\n") || strings.Contains(res.Stdout, "--b--") {
				t.Errorf("output of %d bytes: want a batch without its close delimiter", len(res.Stdout))
			}
			if back := runCmd(res.Stdout, "decode"); back.Code != 1 {
				t.Errorf("decode of the partial output: exit %d", back.Code)
			}
		})
	}
}

// A long part cut short prints what was read, with its error, as a valid
// line; decode exits 1.
func TestDecodeLargeTruncated(t *testing.T) {
	in := "--b\r\nContent-Type: text/plain\r\n\r\n" + string(textBytes(holdBytes+100))
	res := runCmd(in, "decode")
	if res.Code != 1 || !strings.Contains(res.Stderr, "part 0: ") {
		t.Errorf("exit %d, stderr %q", res.Code, res.Stderr)
	}
	l := parts(t, res.Stdout)
	if len(l) != 1 || l[0]["error"] == nil || len(l[0]["body"].(string)) != holdBytes+100 {
		t.Errorf("%d lines; want one with the body read and its error", len(l))
	}
}

// decode prints a long part's line before the part's end has arrived.
func TestDecodeLargeStreams(t *testing.T) {
	pr, pw := io.Pipe()
	out := &jsonLineWriterProbe{seen: make(chan struct{})}
	done := make(chan int, 1)
	go func() { done <- run([]string{"decode"}, pr, out, io.Discard) }()
	pw.Write([]byte("--b\r\nContent-Type: text/plain\r\n\r\n" + string(textBytes(4*holdBytes))))
	select {
	case <-out.seen:
	case <-time.After(10 * time.Second): // a hang, not a timing
		t.Fatal("no output while the part streams")
	}
	pw.Write([]byte("\r\n--b--\r\n"))
	pw.Close()
	if code := <-done; code != 0 {
		t.Errorf("exit %d", code)
	}
}

// jsonLineWriterProbe closes seen at the first write of a part's body.
type jsonLineWriterProbe struct {
	seen chan struct{}
	once sync.Once
}

func (p *jsonLineWriterProbe) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte(`"body":"`)) {
		p.once.Do(func() { close(p.seen) })
	}
	return len(b), nil
}
