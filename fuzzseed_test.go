package mixed

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fuzz targets' seeds, added with f.Add: the wire bodies of the saved
// Google batches in testdata/*.http, their LF-only twins, and hand-written
// bodies for each rule of the Reader (near-delimiters, nested changesets,
// padding, malformed lines); the embedded messages of the saved batches and
// the message tables of httpmsg_test.go for the message readers. Files under
// testdata/fuzz/<Target>/ are inputs the fuzzer found, kept as regressions.

// fuzzSeed is an input of the multipart targets: a body and its boundary.
type fuzzSeed struct {
	name     string
	data     []byte
	boundary string
}

// httpSeedBody returns the multipart body of a saved HTTP message and its
// boundary.
func httpSeedBody(tb testing.TB, file string) ([]byte, string) {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		tb.Fatal(err)
	}
	head, body, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		tb.Fatalf("%s: no end of the message header", file)
	}
	for _, line := range strings.Split(string(head), "\r\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Content-Type") {
			b, err := ParseBoundary(value)
			if err != nil {
				tb.Fatalf("%s: %v", file, err)
			}
			return body, b
		}
	}
	tb.Fatalf("%s: no Content-Type", file)
	return nil, ""
}

func fuzzSeeds(tb testing.TB) []fuzzSeed {
	var seeds []fuzzSeed
	for _, f := range []string{"calendar-batch-request", "calendar-batch-response", "people-batch-request", "people-batch-response"} {
		body, b := httpSeedBody(tb, f+".http")
		seeds = append(seeds,
			fuzzSeed{f, body, b},
			fuzzSeed{f + "-lf", bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), b})
	}
	const changeset = `--batch_36522ad7
Content-Type: multipart/mixed; boundary=changeset_77162fcd

--changeset_77162fcd
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

POST /service/Customers HTTP/1.1
Content-Type: application/json

{"ID": "ALFKI"}
--changeset_77162fcd
Content-Type: application/http
Content-ID: 2

PATCH $1 HTTP/1.1

--changeset_77162fcd--

--batch_36522ad7
Content-Type: application/http

GET /service/Products HTTP/1.1

--batch_36522ad7--
`
	// Three levels: a changeset inside a changeset inside the batch, one
	// past a MaxDepth of 2 when read with the fuzz options.
	const deep = `--a
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: multipart/mixed; boundary="c c"

--c c
Content-Type: multipart/mixed; boundary=d

--d

x
--d--
--c c--
--b--
--a--
`
	add := func(name, data, boundary string) {
		seeds = append(seeds, fuzzSeed{name, crlf(data), boundary})
	}
	addRaw := func(name, data, boundary string) {
		seeds = append(seeds, fuzzSeed{name, []byte(data), boundary})
	}
	add("changeset", changeset, "batch_36522ad7")
	addRaw("changeset-lf", changeset, "batch_36522ad7")
	add("deep", deep, "a")
	// Prefixes of the delimiter, the boundary followed by other bytes, and
	// (in CRLF mode) the bare-LF form, all of them body data.
	add("near-delimiter", "--bnd\n\n\r\n--bn\r\n--bndX\r\n--bnd-x\r\n--\r\n-\n--bnd\r\n--bnd\n--bnd--\n", "bnd")
	addRaw("near-delimiter-lf", "--bnd\n\n\n--bn\n--bndX\n--bnd-x\r\n--bnd\n--\n--bnd--\n", "bnd")
	addRaw("bare-lf-in-crlf-body", "--bnd\r\n\r\na\n--bnd\nb\r\n--bnd--\r\n", "bnd")
	add("padding-preamble-epilogue", "preamble\n--bnd\nmore\n--bnd \t \nA: 1\n\nbody\n--bnd\t\n\n--bnd-- \nepilogue\n", "bnd")
	add("empty-body-after-header", "--bnd\nA: 1\n\n--bnd\n\n--bnd--", "bnd")
	add("folded-header", "--bnd\nA: one\n two\n\t three\nB:\n   \n c\nC:  trailing  \n\nx\n--bnd--\n", "bnd")
	add("google-boundary", "--batch_pK7JBAk73-E=_AA5eFwv4m2Q=\nContent-Type: application/http\nContent-ID: <response-1>\n\nHTTP/1.1 200\n\n--batch_pK7JBAk73-E=_AA5eFwv4m2Q=--\n", "batch_pK7JBAk73-E=_AA5eFwv4m2Q=")
	add("close-only", "--bnd--", "bnd")
	// Not a close delimiter (RFC 2046 allows only padding after it), so a
	// preamble line, as mime/multipart reads it.
	add("close-junk-in-preamble", "pre\n--bnd--junk\n--bnd\n\nx\n--bnd--\n", "bnd")
	addRaw("empty", "", "bnd")
	add("truncated-body", "--bnd\n\nbody without end", "bnd")
	add("truncated-header", "--bnd\nA: 1\n", "bnd")
	add("truncated-delimiter", "--bnd\n\nx\n--bnd", "bnd")
	add("junk-after-delimiter", "--bnd\n\nx\n--bnd  junk\n--bnd--\n", "bnd")
	add("header-without-colon", "--bnd\nno colon\n\nx\n--bnd--\n", "bnd")
	add("header-empty-name", "--bnd\n: v\n\nx\n--bnd--\n", "bnd")
	add("header-continuation-first", "--bnd\n A: 1\n\nx\n--bnd--\n", "bnd")
	add("header-control", "--bnd\nA: a\x01b\n\nx\n--bnd--\n", "bnd")
	addRaw("header-bare-cr", "--bnd\r\nA: a\rb\r\n\r\nx\r\n--bnd--\r\n", "bnd")
	add("long-padding", "--bnd"+strings.Repeat(" ", 600)+"\n\nx\n--bnd--\n", "bnd")
	add("long-preamble", strings.Repeat("p", 600)+"\n--bnd\n\nx\n--bnd--\n", "bnd")
	add("bad-boundary", "--\n\n--\n", "")
	// Bodies longer than the fuzz options' buffer (676 bytes), for large
	// reads straight into the caller's buffer: near-delimiters throughout,
	// a delimiter across the buffer's end, padding after it, LF style.
	add("large-near-delimiters", "--bnd\n\n"+strings.Repeat("x\n--bn\n--bndX\n-", 120)+"\n--bnd \n\n"+strings.Repeat("y", 700)+"\n--bnd--\n", "bnd")
	add("large-split-delimiter", "--bnd\n\n"+strings.Repeat("z", 669)+"\n--bnd\t\n\n"+strings.Repeat("w", 1500)+"\n--bnd--", "bnd")
	addRaw("large-lf", "--bnd\n\n"+strings.Repeat("v\r\n--bnd\r", 150)+"\n--bnd\nA: 1\n\n"+strings.Repeat("u", 2000)+"\n--bnd--\n", "bnd")
	addRaw("large-truncated", "--bnd\r\n\r\n"+strings.Repeat("t\r\n", 600)+"\r\n--bn", "bnd")
	add("boundary-space", "--a b\n\nx\n--a b--\n", "a b")
	return seeds
}

// writerSeed is an input of FuzzWriterRoundTrip: spec lists the parts,
// separated by 0x1e; in a part, fields and then the body are separated by
// 0x1f, and a field's name and value by 0x1d. cuts gives the sizes of the
// Write calls for the bodies, so that a delimiter split across writes is
// tried too.
type writerSeed struct {
	name, boundary string
	spec, cuts     []byte
}

func writerSeeds() []writerSeed {
	spec := func(parts ...[]string) []byte {
		var b []byte
		for i, p := range parts {
			if i > 0 {
				b = append(b, 0x1e)
			}
			b = append(b, strings.Join(p, "\x1f")...)
		}
		return b
	}
	return []writerSeed{
		{"simple", "batch_foobarbaz", spec([]string{"Content-Type\x1dapplication/http", "Content-ID\x1d<item1>", "GET /farm/v1/animals/pony\r\n"}), []byte{5}},
		{"no-header-empty-body", "b", spec([]string{""}, []string{""}), nil},
		{"near-delimiters", "bnd", spec([]string{"A\x1d1", "x\r\n--bn\r\n--bndX"}, []string{"--bn\r\n-\n--b"}), []byte{1, 2, 3}},
		{"delimiter-in-body", "bnd", spec([]string{"a\r\n--bnd\r\nb"}), []byte{3, 1}},
		{"delimiter-at-start", "bnd", spec([]string{"--bnd--"}), nil},
		{"lf-delimiter-split", "bnd", spec([]string{"a\n--bnd"}), []byte{2, 1, 1, 1}},
		{"bad-name", "bnd", spec([]string{"Bad Name\x1dv", "x"}, []string{"Good\x1dv", "y"}), nil},
		{"bad-value", "bnd", spec([]string{"A\x1dv\r\nB: smuggled", "x"}, []string{"A\x1d v ", "y"}), nil},
		{"folded-looking", "bnd", spec([]string{"A\x1da\tb \xff", "x"}), nil},
		{"bad-boundary", "a\nb", spec([]string{"x"}), nil},
		{"space-boundary", "a b", spec([]string{"A\x1d1", "x"}), nil},
		{"google-boundary", "batch_pK7JBAk73-E=_AA5eFwv4m2Q=", spec([]string{"Content-ID\x1d<response-1>", "HTTP/1.1 200\r\n\r\n"}), nil},
	}
}

func httpFuzzSeeds(f *testing.F, request bool) {
	for _, body := range savedMessages(f, request) {
		f.Add(body)
	}
	for _, tt := range requestTests {
		if request {
			f.Add([]byte(tt.in))
		}
	}
	for _, tt := range responseTests {
		if !request {
			f.Add([]byte(tt.in))
		}
	}
	for _, tt := range smugglingTests {
		if tt.response != request {
			f.Add([]byte(tt.in))
		}
	}
	if !request {
		// Interim responses, for ReadFinalResponse.
		for _, in := range []string{
			"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			"HTTP/1.1 103 Early Hints\nLink: </a>\n\nHTTP/1.1 100 Continue\r\n\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
			"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
			"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
		} {
			f.Add([]byte(in))
		}
	}
}

// savedMessages returns the embedded messages of the saved batches in
// testdata: requests or responses.
func savedMessages(tb testing.TB, request bool) [][]byte {
	tb.Helper()
	kind := "response"
	if request {
		kind = "request"
	}
	var msgs [][]byte
	for _, api := range []string{"calendar", "people"} {
		file := api + "-batch-" + kind + ".http"
		body, b := httpSeedBody(tb, file)
		parts, err := readParts(bytes.NewReader(body), b, ReaderOptions{})
		if err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		for _, p := range parts {
			msgs = append(msgs, []byte(p.Body))
		}
	}
	return msgs
}

// contentTypeSeeds are FuzzParseBoundary's: a Google boundary, quoting,
// RFC 2231 forms, and a boundary inside another parameter's value.
var contentTypeSeeds = []string{
	"multipart/mixed; boundary=batch_pK7JBAk73-E=_AA5eFwv4m2Q=",
	`multipart/mixed; type="application/http"; boundary="a b"`,
	"multipart/mixed; boundary=a; boundary*=utf-8''b",
	"multipart/mixed; boundary*0=a; boundary*1=b",
	`multipart/mixed; boundary="batch;x"`,
	`multipart/mixed; note="x; boundary=evil"; boundary=good`,
}
