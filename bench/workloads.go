package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
)

// boundary is shaped like the ones Google's batch endpoints send.
const boundary = "batch_8HBn0xW2n5Q_AAtqI2hcqFo"

// A workload is one set of bytes every implementation of its kind handles.
type workload struct {
	Name  string // short id used by -workloads and in the output
	Title string // label in the table and the chart
	Kind  string // "parse", "parse-http", "write" or "write-http"
	Note  string // one line saying what the bytes are

	// Parse workloads: the multipart body. Write workloads: the reference
	// output (what mime/multipart writes), whose length is the byte count
	// every writer is credited with, so throughput ratios are time ratios.
	Data []byte

	// Write workloads: the calls to write.
	Calls []call

	// Want is the hash every implementation must reproduce (see sink),
	// computed from mime/multipart (and net/http for the HTTP kinds).
	Want string
}

// A call is one embedded request of a batch request.
type call struct {
	PartHeader [][2]string // part header fields, in order
	Method     string
	Path       string
	Header     [][2]string // embedded request fields, in order (Host apart)
	Body       []byte
	Rendered   []byte // the embedded request as http.Request.Write writes it
}

const (
	callHost  = "farm.googleapis.com"
	callAgent = "mixed-bench/1"
	mib       = 1 << 20
)

// sizes lets -quick shrink the big workloads without changing their shape.
type sizes struct {
	Big  int // the 16 MiB single parts
	Near int // the near-delimiter body
}

var fullSizes = sizes{Big: 16 * mib, Near: 4 * mib}

// words fill JSON strings with something that looks like text.
var words = []string{"pony", "cow", "goat", "sheep", "llama", "barn", "hay", "field", "fence", "tractor", "orchard", "silo", "meadow", "stable", "harvest"}

func textOf(rng *rand.Rand, n int) string {
	var b []byte
	for len(b) < n {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, words[rng.IntN(len(words))]...)
	}
	return string(b[:n])
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func alnumOf(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[rng.IntN(len(alnum))]
	}
	return b
}

// multipartBody writes parts with CRLF line endings and no preamble, the
// way batch servers send them.
func multipartBody(parts []rawPart) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		b.WriteString("--" + boundary + "\r\n")
		for _, f := range p.header {
			b.WriteString(f[0] + ": " + f[1] + "\r\n")
		}
		b.WriteString("\r\n")
		b.Write(p.body)
		b.WriteString("\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes()
}

type rawPart struct {
	header [][2]string
	body   []byte
}

// mustNotDelimit guards the generators: a body that contained its own
// delimiter would make every parser right and the comparison meaningless.
func mustNotDelimit(body []byte) {
	if bytes.Contains(body, []byte("\r\n--"+boundary)) || bytes.HasPrefix(body, []byte("--"+boundary)) {
		panic("generated body contains its delimiter")
	}
}

// googleBatchResponse is workload 1: 1000 embedded HTTP responses, each
// with a JSON body of about 300 bytes.
func googleBatchResponse() []byte {
	rng := rand.New(rand.NewPCG(1, 1))
	parts := make([]rawPart, 1000)
	for i := range parts {
		desc := textOf(rng, 150+rng.IntN(40))
		json := fmt.Sprintf(`{"kind":"farm#animal","id":"%d","etag":"\"%016x\"","name":"animal-%d","species":%q,"weightKg":%d,"tags":[%q,%q],"description":%q}`,
			i, rng.Uint64(), i, words[rng.IntN(len(words))], 20+rng.IntN(900), words[rng.IntN(len(words))], words[rng.IntN(len(words))], desc)
		body := "HTTP/1.1 200 OK\r\n" +
			"Content-Type: application/json; charset=UTF-8\r\n" +
			fmt.Sprintf("ETag: \"%016x\"\r\n", rng.Uint64()) +
			"Content-Length: " + strconv.Itoa(len(json)) + "\r\n" +
			"\r\n" + json
		parts[i] = rawPart{
			header: [][2]string{
				{"Content-Type", "application/http"},
				{"Content-ID", fmt.Sprintf("<response-item%d:12930812@barnyard.example.com>", i)},
			},
			body: []byte(body),
		}
	}
	return multipartBody(parts)
}

// smallParts is workload 2: 1000 parts of 130 bytes each.
func smallParts() []byte {
	rng := rand.New(rand.NewPCG(2, 2))
	parts := make([]rawPart, 1000)
	for i := range parts {
		parts[i] = rawPart{
			header: [][2]string{{"Content-Type", "application/octet-stream"}},
			body:   alnumOf(rng, 130),
		}
	}
	return multipartBody(parts)
}

// randomPart is workload 3: one part of random bytes.
func randomPart(n int) []byte {
	rng := rand.NewChaCha8([32]byte{3})
	body := make([]byte, n)
	_, _ = rng.Read(body)
	mustNotDelimit(body)
	return multipartBody([]rawPart{{header: [][2]string{{"Content-Type", "application/octet-stream"}}, body: body}})
}

// crlfJSONPart is workload 4: one JSON array with a CRLF every 40 to 90
// bytes, so a parser that stops at every CR pays for it.
func crlfJSONPart(n int) []byte {
	rng := rand.New(rand.NewPCG(4, 4))
	body := make([]byte, 0, n+128)
	body = append(body, "[\r\n"...)
	for id := 0; ; id++ {
		line := 40 + rng.IntN(51) // bytes including the trailing ",\r\n"
		prefix := `{"id":` + strconv.Itoa(id) + `,"v":"`
		fill := line - len(prefix) - len(`"},`+"\r\n")
		if fill < 1 {
			fill = 1
		}
		body = append(body, prefix...)
		body = append(body, textOf(rng, fill)...)
		if len(body)+8 >= n {
			body = append(body, "\"}\r\n]"...)
			break
		}
		body = append(body, "\"},\r\n"...)
	}
	mustNotDelimit(body)
	return multipartBody([]rawPart{{header: [][2]string{{"Content-Type", "application/json; charset=UTF-8"}}, body: body}})
}

// nearDelimiters is workload 6: a body made of CRLF "--" followed by
// proper prefixes of the boundary, each broken off by a byte that is not
// the boundary's next one, so every few bytes look like a delimiter start.
func nearDelimiters(n int) []byte {
	rng := rand.New(rand.NewPCG(6, 6))
	body := make([]byte, 0, n+128)
	for len(body) < n {
		switch rng.IntN(8) {
		case 0:
			body = append(body, "\r\n"...)
		case 1:
			body = append(body, "\r\n-"...)
		default:
			k := rng.IntN(len(boundary))
			body = append(body, "\r\n--"...)
			body = append(body, boundary[:k]...)
			c := alnum[rng.IntN(len(alnum))]
			for c == boundary[k] {
				c = alnum[rng.IntN(len(alnum))]
			}
			body = append(body, c)
		}
		body = append(body, alnumOf(rng, rng.IntN(6))...)
	}
	// End on a plain byte so that the body's last bytes do not run into
	// the real delimiter.
	body = append(body, 'x')
	mustNotDelimit(body)
	return multipartBody([]rawPart{{header: [][2]string{{"Content-Type", "application/octet-stream"}}, body: body}})
}

// jsonBatch is a batch of 1000 parts whose bodies are CRLF-dense JSON
// objects of about 1 KiB (a line every 40 to 90 bytes), as pretty-printed
// API responses are.
func jsonBatch() []byte {
	rng := rand.New(rand.NewPCG(9, 9))
	parts := make([]rawPart, 1000)
	for i := range parts {
		var body []byte
		body = append(body, "{\r\n"...)
		for k := 0; len(body) < 1000; k++ {
			line := fmt.Sprintf("  \"field%d\": \"%s\",\r\n", k, textOf(rng, 25+rng.IntN(50)))
			body = append(body, line...)
		}
		body = append(body, "  \"end\": true\r\n}"...)
		mustNotDelimit(body)
		parts[i] = rawPart{
			header: [][2]string{
				{"Content-Type", "application/json; charset=UTF-8"},
				{"Content-ID", fmt.Sprintf("<response-item%d:12930812@barnyard.example.com>", i)},
			},
			body: body,
		}
	}
	return multipartBody(parts)
}

// lfBatch is the Google batch response with LF-only line ends everywhere
// (delimiters, part headers, embedded heads), as python's
// googleapiclient sends batches.
func lfBatch(google []byte) []byte {
	return bytes.ReplaceAll(google, []byte("\r\n"), []byte("\n"))
}

// boundaryFlood is one part of n bytes that are all one character of the
// boundary: 'Q', the one mixed's finder filters on first (its rarest in text),
// the worst case for a rare-byte filter.
func boundaryFlood(n int) []byte {
	body := bytes.Repeat([]byte{'Q'}, n)
	mustNotDelimit(body)
	return multipartBody([]rawPart{{header: [][2]string{{"Content-Type", "application/octet-stream"}}, body: body}})
}

// batchCalls is the input of workload 5: 1000 calls of a Google batch
// request, each rendered once with http.Request.Write for the writers that
// take the embedded request as bytes.
func batchCalls() []call {
	rng := rand.New(rand.NewPCG(5, 5))
	calls := make([]call, 1000)
	for i := range calls {
		body := fmt.Sprintf(`{"animalName":"animal-%d","species":%q,"weightKg":%d,"notes":%q}`,
			i, words[rng.IntN(len(words))], 20+rng.IntN(900), textOf(rng, 80+rng.IntN(60)))
		c := call{
			PartHeader: [][2]string{
				{"Content-Type", "application/http"},
				{"Content-ID", fmt.Sprintf("<item%d:12930812@barnyard.example.com>", i)},
			},
			Method: "PATCH",
			Path:   fmt.Sprintf("/farm/v1/animals/animal-%d?fields=id,name,etag", i),
			Header: [][2]string{
				{"Content-Type", "application/json"},
				{"If-Match", fmt.Sprintf("\"%016x\"", rng.Uint64())},
				{"User-Agent", callAgent},
			},
			Body: []byte(body),
		}
		req, err := c.request()
		if err != nil {
			panic(err)
		}
		var b bytes.Buffer
		if err := req.Write(&b); err != nil {
			panic(err)
		}
		c.Rendered = b.Bytes()
		calls[i] = c
	}
	return calls
}

// request builds the net/http form of a call.
func (c *call) request() (*http.Request, error) {
	req, err := http.NewRequest(c.Method, "https://"+callHost+c.Path, bytes.NewReader(c.Body))
	if err != nil {
		return nil, err
	}
	for _, f := range c.Header {
		req.Header.Add(f[0], f[1])
	}
	return req, nil
}

// makeWorkloads generates every workload and its reference hash.
func makeWorkloads(sz sizes) ([]*workload, error) {
	google := googleBatchResponse()
	calls := batchCalls()
	ws := []*workload{
		{Name: "google-batch", Title: "Google batch response, 1000 parts", Kind: "parse",
			Note: "1000 application/http parts (Content-ID <response-…>), each an HTTP/1.1 200 head + ~300-byte JSON; multipart layer only", Data: google},
		{Name: "google-batch-http", Title: "Google batch response + HTTP heads", Kind: "parse-http",
			Note: "the same bytes, each part's embedded HTTP response parsed too (status, fields, body)", Data: google},
		{Name: "small-parts", Title: "1000 × 130-byte parts", Kind: "parse",
			Note: "1000 parts, one Content-Type field, 130-byte alphanumeric bodies", Data: smallParts()},
		{Name: "random-16m", Title: fmt.Sprintf("one %s random part", sizeName(sz.Big)), Kind: "parse",
			Note: "one part of ChaCha8 random bytes", Data: randomPart(sz.Big)},
		{Name: "json-crlf-16m", Title: fmt.Sprintf("one %s CRLF-dense JSON part", sizeName(sz.Big)), Kind: "parse",
			Note: "one JSON array part with a CRLF every 40–90 bytes", Data: crlfJSONPart(sz.Big)},
		{Name: "write-batch", Title: "write 1000-call batch request", Kind: "write",
			Note: "1000 application/http parts whose embedded requests are given as bytes; multipart layer only", Calls: calls},
		{Name: "write-batch-http", Title: "write 1000-call batch request + HTTP heads", Kind: "write-http",
			Note: "the same calls, each embedded request written from method, target, fields and body", Calls: calls},
		{Name: "near-delims", Title: fmt.Sprintf("%s of near-delimiters", sizeName(sz.Near)), Kind: "parse",
			Note: "one part made of CRLF \"--\" + proper boundary prefixes every few bytes", Data: nearDelimiters(sz.Near)},
		{Name: "json-batch", Title: "1000 × 1 KiB CRLF-dense JSON parts", Kind: "parse",
			Note: "1000 application/json parts (Content-ID), pretty-printed JSON bodies of about 1 KiB with a CRLF every 40–90 bytes", Data: jsonBatch()},
		{Name: "lf-batch", Title: "Google batch response, LF-only", Kind: "parse",
			Note: "the google-batch bytes with every CRLF replaced by LF, as python's googleapiclient sends batches", Data: lfBatch(google)},
		{Name: "boundary-flood", Title: fmt.Sprintf("%s of one boundary character", sizeName(sz.Near)), Kind: "parse",
			Note: "one part of 'Q' only, the boundary character mixed's finder filters on first: the worst case for a rare-byte filter", Data: boundaryFlood(sz.Near)},
	}
	for _, w := range ws {
		if err := w.reference(); err != nil {
			return nil, fmt.Errorf("%s: reference: %w", w.Name, err)
		}
	}
	return ws, nil
}

func sizeName(n int) string {
	if n%mib == 0 {
		return strconv.Itoa(n/mib) + " MiB"
	}
	return strconv.Itoa(n>>10) + " KiB"
}
