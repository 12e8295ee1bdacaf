package mixed

import (
	"bufio"
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
)

const httpBenchBoundary = "batch_GOMozbDceUiJkwfCeHo28pGmhwRG5o50"

// httpBenchJSON is a ~300-byte JSON body, the size of a typical Google API
// resource in a batch response.
var httpBenchJSON = `{"kind":"calendar#event","etag":"\"3181161784712000\"","id":"4eahs9ghkhrvkld72hogu9ph3e","status":"confirmed",` +
	`"htmlLink":"https://www.google.com/calendar/event?eid=NGVhaHM5Z2hraHJ2a2xkNzJob2d1OXBoM2Ug","created":"2020-01-22T18:56:00.000Z",` +
	`"summary":"Weekly sync","start":{"dateTime":"2020-01-23T10:00:00Z"}}`

func httpBenchResponse(i int) string {
	return "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nETag: \"etag/" + strconv.Itoa(i) +
		"\"\r\nContent-Length: " + strconv.Itoa(len(httpBenchJSON)) + "\r\n\r\n" + httpBenchJSON + "\r\n"
}

func httpBenchRequest(i int) string {
	return "PUT /calendar/v3/calendars/primary/events/" + strconv.Itoa(i) + " HTTP/1.1\r\nContent-Type: application/json\r\nIf-Match: \"etag/" +
		strconv.Itoa(i) + "\"\r\nContent-Length: " + strconv.Itoa(len(httpBenchJSON)) + "\r\n\r\n" + httpBenchJSON
}

// httpBenchBatch returns a batch response body of n parts.
func httpBenchBatch(n int) []byte {
	var b strings.Builder
	for i := range n {
		b.WriteString("--" + httpBenchBoundary + "\r\nContent-Type: application/http\r\nContent-ID: response-" + strconv.Itoa(i) + "\r\n\r\n")
		b.WriteString(httpBenchResponse(i))
		b.WriteString("\r\n")
	}
	b.WriteString("--" + httpBenchBoundary + "--\r\n")
	return []byte(b.String())
}

func httpBenchMessages(n int, msg func(int) string) ([][]byte, int64) {
	out := make([][]byte, n)
	var total int64
	for i := range out {
		out[i] = []byte(msg(i))
		total += int64(len(out[i]))
	}
	return out, total
}

func BenchmarkReadResponse(b *testing.B) {
	msgs, total := httpBenchMessages(1000, httpBenchResponse)
	b.Run("impl=mixed", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(total)
		var m MessageReader
		var src bytes.Reader
		for b.Loop() {
			for _, msg := range msgs {
				src.Reset(msg)
				m.Reset(&src)
				r, err := m.ReadResponse("")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.Body.WriteTo(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("impl=std", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(total)
		var src bytes.Reader
		br := bufio.NewReader(&src)
		for b.Loop() {
			for _, msg := range msgs {
				src.Reset(msg)
				br.Reset(&src)
				r, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r.Body); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func BenchmarkReadRequest(b *testing.B) {
	msgs, total := httpBenchMessages(1000, httpBenchRequest)
	b.Run("impl=mixed", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(total)
		var m MessageReader
		var src bytes.Reader
		for b.Loop() {
			for _, msg := range msgs {
				src.Reset(msg)
				m.Reset(&src)
				r, err := m.ReadRequest()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := r.Body.WriteTo(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("impl=std", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(total)
		var src bytes.Reader
		br := bufio.NewReader(&src)
		for b.Loop() {
			for _, msg := range msgs {
				src.Reset(msg)
				br.Reset(&src)
				r, err := http.ReadRequest(br)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r.Body); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func BenchmarkReadBatchHTTP(b *testing.B) {
	batch := httpBenchBatch(1000)
	b.Run("impl=mixed", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(batch)))
		var r Reader
		var m MessageReader
		var src bytes.Reader
		for b.Loop() {
			src.Reset(batch)
			r.Reset(&src, httpBenchBoundary)
			for {
				p, err := r.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				m.Reset(p)
				resp, err := m.ReadResponse("")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := resp.Body.WriteTo(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("impl=std", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(batch)))
		var src bytes.Reader
		br := bufio.NewReader(nil)
		for b.Loop() {
			src.Reset(batch)
			r := multipart.NewReader(&src, httpBenchBoundary)
			for {
				p, err := r.NextRawPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				br.Reset(p)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func BenchmarkWriteBatchHTTP(b *testing.B) {
	const n = 1000
	targets := make([]string, n)
	ids := make([]string, n)
	etags := make([]string, n)
	for i := range targets {
		targets[i] = "/calendar/v3/calendars/primary/events/" + strconv.Itoa(i)
		ids[i] = "<item" + strconv.Itoa(i) + ":12930812@barnyard.example.com>"
		etags[i] = `"etag/` + strconv.Itoa(i) + `"`
	}
	body := []byte(httpBenchJSON)
	var out bytes.Buffer
	b.Run("impl=mixed", func(b *testing.B) {
		b.ReportAllocs()
		var w Writer
		var mw MessageWriter
		var ph, h Header
		for b.Loop() {
			out.Reset()
			w.Reset(&out)
			for i := range n {
				ph.Reset()
				ph.Add("Content-Type", "application/http")
				ph.Add("Content-ID", ids[i])
				pw, err := w.CreatePart(&ph)
				if err != nil {
					b.Fatal(err)
				}
				h.Reset()
				h.Add("Content-Type", "application/json")
				h.Add("If-Match", etags[i])
				if err := mw.WriteRequest(pw, "PUT", targets[i], &h, body); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(out.Len()))
	})
	b.Run("impl=std", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out.Reset()
			w := multipart.NewWriter(&out)
			for i := range n {
				pw, err := w.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/http"}, "Content-Id": {ids[i]}})
				if err != nil {
					b.Fatal(err)
				}
				req, err := http.NewRequest("PUT", "https://www.googleapis.com"+targets[i], bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("If-Match", etags[i])
				if err := req.Write(pw); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(out.Len()))
	})
}
