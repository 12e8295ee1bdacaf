package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

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

// A framing field encode writes itself is checked as the reader reads it:
// an envelope's Transfer-Encoding may not carry CR or LF (which ended the
// head early) nor be named with a non-ASCII letter that Unicode folds to
// an ASCII one; a streamed request's Content-Length is digits alone, and
// several are the same bytes. Each was written, and decode refused it.
func TestEncodeAttackFramingFields(t *testing.T) {
	part := `{"headers":[["Content-Type","text/plain"]],"body":"x"}` + "\n"
	envelope := func(name, value string) string {
		return `{"kind":"envelope","boundary":"b","http":{"method":"POST","target":"/x","proto":"HTTP/1.1","headers":[["Host","h"],[` +
			jsonString(name) + `,` + jsonString(value) + `],["Content-Type","multipart/mixed; boundary=b"]]}}` + "\n" + part
	}
	streamed := func(cl string) string {
		return `{"kind":"envelope","boundary":"b"}` + "\n" +
			`{"headers":[["Content-Type","application/http"]],"http":{"method":"POST","target":"/x","headers":[` + cl + `],"body":"hello"}}` + "\n"
	}
	for _, tc := range []struct{ name, in, wantErr string }{
		{"TE with CRLF after", envelope("Transfer-Encoding", "chunked\r\n"), `Transfer-Encoding "chunked\r\n"`},
		{"TE with CRLF before", envelope("Transfer-Encoding", "\r\nchunked"), `Transfer-Encoding "\r\nchunked"`},
		{"TE named with a long s", envelope("Tran\u017ffer-Encoding", "chunked"), "is not a token"},
		{"CL with a sign", streamed(`["Content-Length","+5"]`), `Content-Length "+5" is not the length`},
		{"CL twice, other bytes", streamed(`["Content-Length","5"],["Content-Length","05"]`), `Content-Length "05" differs from "5"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(tc.in, "encode")
			if res.Code != 1 || res.Stdout != "" || !strings.Contains(res.Stderr, tc.wantErr) {
				t.Errorf("encode: %+v; want exit 1, no output, and %q", res, tc.wantErr)
			}
			checkOnePrefix(t, res.Stderr)
		})
	}
	// What the reader reads is still written: OWS around chunked, one
	// Content-Length given twice.
	for _, in := range []string{envelope("transfer-encoding", " Chunked\t"), streamed(`["Content-Length","5"],["content-length","5"]`)} {
		res := runCmd(in, "encode")
		if res.Code != 0 {
			t.Fatalf("encode of %q: %+v", in, res)
		}
		if back := runCmd(res.Stdout, "decode"); back.Code != 0 {
			t.Errorf("decode of %q: %+v", res.Stdout, back)
		}
	}
}

// jsonString returns s as a JSON string.
func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// A chunked envelope's body is the multipart body encode writes without
// an envelope, de-chunked by net/http, whatever its size: held whole
// (below holdOutput, in several pieces past heldPiece) or streamed past
// it.
func TestEncodeChunkedEnvelopeSizes(t *testing.T) {
	env := `{"kind":"envelope","boundary":"b","http":{"proto":"HTTP/1.1","status":200,"reason":"OK","headers":[["Content-Type","multipart/mixed; boundary=b"],["Transfer-Encoding","chunked"]]}}` + "\n"
	bare := `{"kind":"envelope","boundary":"b"}` + "\n"
	for _, size := range []int{0, 1, heldPiece - 40, heldPiece, 3*heldPiece + 7, holdOutput - 100, holdOutput + heldPiece + 1} {
		body := strings.Repeat("x", size)
		part := `{"headers":[["Content-Type","text/plain"]],"body":"` + body + `"}` + "\n"
		want := runCmd(bare+part, "encode")
		got := runCmd(env+part, "encode")
		if want.Code != 0 || got.Code != 0 {
			t.Fatalf("size %d: exit %d, %d: %s%s", size, want.Code, got.Code, want.Stderr, got.Stderr)
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got.Stdout)), nil)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil || !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
			t.Fatalf("size %d: %v, Transfer-Encoding %q", size, err, resp.TransferEncoding)
		}
		if string(b) != want.Stdout {
			t.Errorf("size %d: the de-chunked body (%d bytes) is not the bare encoding (%d bytes)", size, len(b), len(want.Stdout))
		}
	}
}

// The line scanner reads a string into a *string and an integer into an
// *int itself, and everything else through encoding/json: either way, the
// value is json.Unmarshal's, and so is whether it is an error.
func TestLineValueAsEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`"plain"`, `""`, `"a\u00e9\ud83c\udf89 \ud800 x\"\\\/\b\f\n\r\t"`, "\"\xff\xfe\"", `"tab	in"`,
		`null`, `5`, `-0`, `0`, `-12`, `01`, `-`, `1e2`, `1.5`, `9223372036854775807`, `9223372036854775808`, `-9223372036854775809`,
		`true`, `[1]`, `{"a":1}`, `"5"`,
	} {
		for _, kind := range []string{"string", "int"} {
			var ws, gs string = "keep", "keep"
			var wi, gi int = 7, 7
			var werr, gerr error
			s := newLineScanner(bufio.NewReader(strings.NewReader(in + "\n")))
			if kind == "string" {
				werr = json.Unmarshal([]byte(in), &ws)
				gerr = s.value(&gs)
			} else {
				werr = json.Unmarshal([]byte(in), &wi)
				gerr = s.value(&gi)
			}
			if (werr == nil) != (gerr == nil) {
				t.Errorf("%s into *%s: error %v, want %v", in, kind, gerr, werr)
				continue
			}
			if werr == nil && (gs != ws || gi != wi) {
				t.Errorf("%s into *%s: %q %d, want %q %d", in, kind, gs, gi, ws, wi)
			}
		}
	}
}
