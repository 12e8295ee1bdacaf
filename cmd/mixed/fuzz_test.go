package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// FuzzJSONString checks the streaming halves of the JSON lines against
// encoding/json and encoding/base64, whatever the pieces: the string
// writer escapes any bytes as json.Marshal does (HTML escaping on) and as
// a json.Encoder with SetEscapeHTML(false) does; the string reader gives
// back what json.Unmarshal gives for any string literal it accepts, and
// inverts the writer; the base64 writer and decoder agree with
// base64.StdEncoding.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "é日🎉", "\"\\/\b\f\n\r\t\x00\x1f\x7f", "<&>\u2028\u2029", "\xff\xfe", "ab\xe6\x97", `\ud83c\udf89 \ud800 \udc00x \u00e9 \/`, "QUJDRA==", "QQ==QQ==", "Q\r\nUJD"} {
		f.Add(s, uint64(len(s)))
	}
	f.Fuzz(fuzzBody)
}

func fuzzBody(t *testing.T, s string, seed uint64) {
	for _, html := range []bool{true, false} {
		var want []byte
		if html {
			want, _ = json.Marshal(s)
		} else {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			enc.Encode(s)
			want = bytes.TrimSuffix(b.Bytes(), []byte("\n"))
		}
		var out bytes.Buffer
		bw := bufio.NewWriterSize(&out, 16)
		sw := &jsonStringWriter{w: bw, html: html}
		bw.WriteByte('"')
		for _, p := range pieces([]byte(s), seed) {
			sw.Write(p)
		}
		sw.Close()
		bw.WriteByte('"')
		bw.Flush()
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("html=%v: jsonStringWriter wrote %q, json %q", html, out.Bytes(), want)
		}
		// The reader inverts it, as json.Unmarshal does.
		var back string
		if err := json.Unmarshal(want, &back); err != nil {
			t.Fatal(err)
		}
		got, err := readString(append(want[1:], "}\n"...), seed)
		if err != nil || got != back {
			t.Fatalf("reading %q: %q, %v; json gives %q", want, got, err, back)
		}
	}

	// Any literal that encoding/json accepts reads the same.
	lit := `"` + s + `"`
	var want string
	if json.Unmarshal([]byte(lit), &want) == nil && !strings.Contains(s, "\n") {
		got, err := readString([]byte(s+`"`), seed)
		if err != nil || got != want {
			t.Fatalf("reading %q: %q, %v; json gives %q", lit, got, err, want)
		}
	}

	// base64 in pieces.
	var out bytes.Buffer
	bw := bufio.NewWriterSize(&out, 16)
	ew := &base64Writer{w: bw}
	for _, p := range pieces([]byte(s), seed+1) {
		ew.Write(p)
	}
	ew.Close()
	bw.Flush()
	if want := base64.StdEncoding.EncodeToString([]byte(s)); out.String() != want {
		t.Fatalf("base64Writer wrote %q, want %q", out.String(), want)
	}
	for _, in := range []string{out.String(), s} {
		want, werr := base64.StdEncoding.DecodeString(in)
		var d base64Decoder
		var got []byte
		var err error
		for _, p := range pieces([]byte(in), seed+2) {
			var c []byte
			if c, err = d.decode(p); err != nil {
				break
			}
			got = append(got, c...)
		}
		if err == nil {
			err = d.finish()
		}
		if (err == nil) != (werr == nil) || err == nil && !bytes.Equal(got, want) {
			t.Fatalf("base64Decoder of %q: %q, %v; want %q, %v", in, got, err, want, werr)
		}
	}
}

// readString reads the JSON string whose opening quote has been read
// from b, through a bufio.Reader of the smallest size fed in pieces.
func readString(b []byte, seed uint64) (string, error) {
	r := jsonStringReaderOn(bufio.NewReaderSize(&pieceReader{p: pieces(b, seed)}, 16))
	var out []byte
	for {
		c, err := r.Next()
		if err == io.EOF {
			return string(out), nil
		}
		if err != nil {
			return "", err
		}
		out = append(out, c...)
	}
}

func jsonStringReaderOn(r *bufio.Reader) *jsonStringReader { return newJSONStringReader(r) }

// pieceReader returns its pieces one Read at a time.
type pieceReader struct{ p [][]byte }

func (r *pieceReader) Read(b []byte) (int, error) {
	for len(r.p) > 0 && len(r.p[0]) == 0 {
		r.p = r.p[1:]
	}
	if len(r.p) == 0 {
		return 0, io.EOF
	}
	n := copy(b, r.p[0])
	r.p[0] = r.p[0][n:]
	return n, nil
}

// FuzzJSONBatch feeds decode any bytes as a JSON batch: it never panics,
// and what it reads without error that encode -format writes as a JSON
// batch is read back and written again to the same bytes, in each JSON
// format (the first pass normalizes: bodies compacted, ids given, header
// names merged), in UTF-8; and it is written as multipart and read back.
func FuzzJSONBatch(f *testing.F) {
	for _, name := range []string{"odata-request", "odata-response", "graph-request", "graph-response"} {
		b, err := os.ReadFile("testdata/jsonbatch/" + name + ".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"requests":[]}`,
		`{"requests":[{"method":"GET","url":"a b%zz\u00e9"}]}`,
		`{"responses":[{"id":1,"status":200,"headers":{"A":"1","a":"2","Content-Length":"9"},"body":"x"}]}`,
		`{"requests":[{"id":"1","method":"PUT","url":"/x","headers":{"content-type":"text/plain"},"body":"caf\u00e9"}]}`,
		`{"requests":[{"id":"1","method":"PUT","url":"/x","headers":{"content-type":"application/octet-stream"},"body":"_-8"}]}`,
		`{"x":[1,{"y":2}],"requests":[{"id":"1","method":"GET","url":"/","atomicityGroup":"g","dependsOn":["0"]}]}`,
		// Empty and blank Content-Type members, alone and beside another.
		`{"requests":[{"id":"1","method":"PUT","url":"/x","headers":{"Content-Type":""},"body":"aGk="},{"id":"2","method":"PUT","url":"/x","headers":{"content-type":" ","Content-Type":"text/plain"},"body":"aGk="}]}`,
		`{"responses":[{"id":"1","status":200,"headers":{"Content-Type":"\t","content-type":"application/json"},"body":"x"},{"id":"2","status":200,"body":"aGk="}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, format := range []string{"odata-json", "graph-json"} {
			dec := runCmd(string(in), "decode", "-content-type", "application/json", "-format", format)
			if dec.Code != 0 {
				continue
			}
			// A line decode prints without "error" is one encode
			// writes as multipart, and decode reads that back.
			mp := runCmd(dec.Stdout, "encode")
			if mp.Code != 0 {
				t.Fatalf("%s: encode as multipart: exit %d: %s\n%s", format, mp.Code, mp.Stderr, dec.Stdout)
			}
			if back := runCmd(mp.Stdout, "decode"); back.Code != 0 {
				t.Fatalf("%s: decode of the multipart: exit %d: %s\n%s", format, back.Code, back.Stderr, mp.Stdout)
			}
			enc := runCmd(dec.Stdout, "encode", "-format", format)
			if enc.Code != 0 {
				continue
			}
			if !utf8.ValidString(enc.Stdout) {
				// RFC 8259 §8.1: its readers would refuse it whole.
				t.Fatalf("%s: encode wrote a JSON batch that is not UTF-8:\n%q", format, enc.Stdout)
			}
			dec2 := runCmd(enc.Stdout, "decode", "-format", format)
			if dec2.Code != 0 {
				t.Fatalf("%s: decode of what encode wrote: exit %d: %s\n%s", format, dec2.Code, dec2.Stderr, enc.Stdout)
			}
			enc2 := runCmd(dec2.Stdout, "encode", "-format", format)
			if enc2.Code != 0 {
				t.Fatalf("%s: encode again: exit %d: %s\n%s", format, enc2.Code, enc2.Stderr, dec2.Stdout)
			}
			if enc2.Stdout != enc.Stdout {
				t.Fatalf("%s: written again differs:\nfirst:  %s\nsecond: %s", format, enc.Stdout, enc2.Stdout)
			}
		}
	})
}

// FuzzDecode feeds decode any bytes as a multipart batch or a whole
// message: it never panics, and what it reads without error encode writes
// back, and decode reads that, and the two passes after it agree to the
// byte (the first pass normalizes: the preamble and epilogue dropped, line
// ends CRLF, an envelope's Content-Length made that of the body written).
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"calendar-batch-request.http", "calendar-batch-response.http", "people-batch-request.http", "people-batch-response.http", "farm-changeset.mixed"} {
		b, err := os.ReadFile("../../testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"--b\r\nContent-Type: application/http\r\n\r\nGET /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi\r\n--b--\r\n",
		"--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\n\nx\n--c--\n--b--\n",
		"--b\r\nContent-Type: text/plain\r\n\r\n\xff\xfe\r\n--b--\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		dec := runCmd(string(in), "decode")
		if dec.Code != 0 {
			return
		}
		if strings.Contains(dec.Stdout, `\ufffd`) {
			// Outside the round trip decode's help promises: a header
			// value that is not UTF-8 (obs-text) is printed with
			// U+FFFD, as a JSON string must be UTF-8.
			return
		}
		enc := runCmd(dec.Stdout, "encode")
		if enc.Code != 0 && strings.Contains(enc.Stderr, "body contains the boundary delimiter") {
			// A body that holds "\n--boundary", which a CRLF batch
			// reads as content and a reader of LF lines as a delimiter:
			// the writer never writes it (and the round trip decode's
			// help promises is for CRLF line ends).
			return
		}
		if enc.Code != 0 {
			t.Fatalf("encode of what decode read: exit %d: %s\n%s", enc.Code, enc.Stderr, dec.Stdout)
		}
		dec2 := runCmd(enc.Stdout, "decode")
		if dec2.Code != 0 {
			t.Fatalf("decode of what encode wrote: exit %d: %s\n%q", dec2.Code, dec2.Stderr, enc.Stdout)
		}
		enc2 := runCmd(dec2.Stdout, "encode")
		if enc2.Code != 0 {
			t.Fatalf("encode of what decode read again: exit %d: %s\n%s", enc2.Code, enc2.Stderr, dec2.Stdout)
		}
		if enc2.Stdout != enc.Stdout {
			t.Fatalf("written again differs:\nfirst:  %q\nsecond: %q", enc.Stdout, enc2.Stdout)
		}
		if dec3 := runCmd(enc2.Stdout, "decode"); dec3.Stdout != dec2.Stdout {
			t.Fatalf("read again differs:\nfirst:  %s\nsecond: %s", dec2.Stdout, dec3.Stdout)
		}
	})
}

// FuzzServeGateway sends any target through serve's gateway to an upstream
// with the base path /api/v1: as a call of a multipart batch, as the url of
// a JSON batch's request, and as a direct request's target (with any
// Upgrade field), while the call c0 has the upstream answer {"v": value},
// so that a target's $result[c0][v] gets a value the input chose. Whatever
// they are, every request that reaches the upstream resolves inside
// /api/v1/, decoding what an upstream may (%2E as a dot; %2F, %5C and a
// backslash as slashes), none asks it to upgrade to h2c, and nothing
// panics. It runs in-process, the proxy's requests going to the upstream
// through their wire form (TestServeGatewayBasePath and
// TestServeGatewayRefusesH2C go through sockets).
func FuzzServeGateway(f *testing.F) {
	for _, s := range []struct{ target, value, upgrade string }{
		{"/farm/v1/animals/pony", "x", ""},
		{"/farm/$result[c0][v]", "../../admin", "h2c"},
		{"/farm/%24result%5Bc0%5D%5Bv%5D/x", "..\\..", "websocket, h2c"},
		{"/farm/x?q=$result[c0][v]", "a/../../b", "H2C/1.0, websocket"},
		{"/%2e%2e/%2E%2E/admin", "%2e%2e", ""},
		{"/..%2f..%5cadmin", "..%2f..", "websocket"},
		{"farm/../../admin", ".", ""},
		{"//evil.example/admin", "", ""},
		{"http://evil.example/admin", "x", ""},
		{"$result[c0][v]/x", "..", ""},
	} {
		f.Add(s.target, s.value, s.upgrade)
	}
	up := &gatewayUpstream{}
	u, err := parseUpstream("http://upstream.example/api/v1")
	if err != nil {
		f.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.upstream = u
	var log bytes.Buffer
	logw := &syncWriter{w: &log}
	gw := upstreamHandler(u, logw)
	gw.(*gateway).proxy.(*httputil.ReverseProxy).Transport = wireTransport{up}
	mux := serveMux(cfg, gw, logw)
	serveOne := func(req *http.Request) {
		req.RemoteAddr = "192.0.2.1:1234"
		mux.ServeHTTP(httptest.NewRecorder(), req)
	}
	post := func(contentType, body string) {
		req := httptest.NewRequest("POST", "http://gw.example/batch", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		serveOne(req)
	}

	f.Fuzz(func(t *testing.T, target, value, upgrade string) {
		up.reset()
		logw.mu.Lock()
		log.Reset()
		logw.mu.Unlock()
		first := "/value?v=" + url.QueryEscape(value)
		post("multipart/mixed; boundary=b",
			"--b\r\nContent-Type: application/http\r\nContent-ID: c0\r\n\r\nGET "+first+" HTTP/1.1\r\n\r\n\r\n"+
				"--b\r\nContent-Type: application/http\r\nContent-ID: c1\r\n\r\nGET "+target+" HTTP/1.1\r\n\r\n\r\n--b--\r\n")
		js, _ := json.Marshal(map[string]any{"requests": []map[string]string{
			{"id": "c0", "method": "GET", "url": first},
			{"id": "c1", "method": "GET", "url": target},
		}})
		post("application/json", string(js))
		hdr := ""
		if upgrade != "" {
			hdr = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: " + upgrade + "\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
		}
		// As the server reads it; one it refuses reaches nothing.
		if req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: gw.example\r\n" + hdr + "\r\n"))); err == nil {
			serveOne(req)
		}

		for _, s := range up.requests() {
			if p, inside := resolve(s.uri); !inside || !strings.HasPrefix(p, "/api/v1/") {
				t.Errorf("the upstream saw %q, which resolves to %q, outside /api/v1/", s.uri, p)
			}
			if _, h2c := withoutH2C(s.upgrade); h2c {
				t.Errorf("the upstream saw %q asking to upgrade to %q", s.uri, s.upgrade)
			}
		}
		logw.mu.Lock()
		defer logw.mu.Unlock()
		if strings.Contains(log.String(), "panic serving") {
			t.Errorf("serve logged a panic:\n%s", log.String())
		}
	})
}

// wireTransport serves each request with h in-process, once written as
// the proxy's transport would write it and read back, so that h sees the
// request line an upstream would.
type wireTransport struct{ h http.Handler }

func (w wireTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var b bytes.Buffer
	if err := req.Write(&b); err != nil {
		return nil, err
	}
	r, err := http.ReadRequest(bufio.NewReader(&b))
	if err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, r)
	res := rec.Result()
	res.Request = req
	return res, nil
}

// gatewayUpstream is FuzzServeGateway's upstream: it records what reaches
// it, and answers .../value?v=V with {"v": V}, and anything else with a
// JSON object.
type gatewayUpstream struct {
	mu   sync.Mutex
	seen []forwardedRequest
}

// forwardedRequest is what gatewayUpstream saw of a request.
type forwardedRequest struct {
	uri     string
	upgrade []string
}

func (up *gatewayUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	up.mu.Lock()
	up.seen = append(up.seen, forwardedRequest{r.RequestURI, r.Header["Upgrade"]})
	up.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if strings.HasSuffix(r.URL.Path, "/value") {
		json.NewEncoder(w).Encode(map[string]string{"v": r.URL.Query().Get("v")})
		return
	}
	io.WriteString(w, `{"ok":true}`)
}

func (up *gatewayUpstream) reset() {
	up.mu.Lock()
	defer up.mu.Unlock()
	up.seen = nil
}

func (up *gatewayUpstream) requests() []forwardedRequest {
	up.mu.Lock()
	defer up.mu.Unlock()
	return slices.Clone(up.seen)
}
