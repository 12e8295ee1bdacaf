package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/textproto"
	"strconv"
	"strings"
	"testing"

	"github.com/mixedcodec/mixed/internal/cputime"
)

// benchInputs are the batches of the throughput benchmarks: one part of
// 64 MiB (pseudo-random bytes, so base64), and 1000 small application/http
// parts with JSON bodies, as a batch API answers them.
func benchInputs() []struct {
	name  string
	batch []byte
} {
	var large bytes.Buffer
	large.WriteString("--" + memBoundary + "\r\nContent-Type: application/octet-stream\r\n\r\n")
	writeBody(&large, 64<<20)
	large.WriteString("\r\n--" + memBoundary + "--\r\n")

	var small bytes.Buffer
	for i := range 1000 {
		body := `{"kind":"farm#animal","id":"` + strconv.Itoa(i) + `","animalName":"sheep","animalAge":"5","peltColor":"green","notes":"` + strings.Repeat("baa ", 40) + `"}`
		small.WriteString("--" + memBoundary + "\r\nContent-Type: application/http\r\nContent-ID: <response-item" + strconv.Itoa(i) + ">\r\n\r\n")
		small.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nETag: \"etag/" + strconv.Itoa(i) + "\"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body + "\r\n")
	}
	small.WriteString("--" + memBoundary + "--\r\n")
	return []struct {
		name  string
		batch []byte
	}{{"one_64MiB_part", large.Bytes()}, {"1000_small_parts", small.Bytes()}}
}

// BenchmarkDecode measures decode's throughput in bytes of batch per
// second, beside its twin from the standard library: mime/multipart
// reading each part whole and encoding/json printing it (headers and
// body, without the embedded message's fields that decode adds).
func BenchmarkDecode(b *testing.B) {
	for _, in := range benchInputs() {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.batch)))
			b.ReportAllocs()
			defer reportCPU(b, int64(len(in.batch)))()
			for b.Loop() {
				if code := run([]string{"decode"}, bytes.NewReader(in.batch), io.Discard, io.Discard); code != 0 {
					b.Fatalf("exit %d", code)
				}
			}
		})
		b.Run(in.name+"/stdlib", func(b *testing.B) {
			b.SetBytes(int64(len(in.batch)))
			b.ReportAllocs()
			defer reportCPU(b, int64(len(in.batch)))()
			for b.Loop() {
				if err := stdlibDecode(bytes.NewReader(in.batch), io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// reportCPU returns a func that reports, at the end of a benchmark, its
// throughput per second of CPU time (user and system, of every thread):
// on a shared machine, where the wall clock waits for other processes,
// it is the steadier measure.
func reportCPU(b *testing.B, size int64) func() {
	start := cputime.Used()
	return func() {
		if d := cputime.Used() - start; d > 0 && b.N > 0 {
			b.ReportMetric(float64(size)*float64(b.N)/d.Seconds()/1e6, "MB/cpu-s")
		}
	}
}

// stdlibDecode is decode's twin from the standard library.
func stdlibDecode(in io.Reader, out io.Writer) error {
	bw := bufio.NewWriterSize(out, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	r := multipart.NewReader(in, memBoundary)
	for i := 0; ; i++ {
		p, err := r.NextRawPart()
		if err == io.EOF {
			return bw.Flush()
		}
		if err != nil {
			return err
		}
		body, err := io.ReadAll(p)
		if err != nil {
			return err
		}
		pj := partJSON{Index: i}
		for k, vs := range p.Header {
			for _, v := range vs {
				pj.Headers = append(pj.Headers, [2]string{k, v})
			}
		}
		setBody(&pj.Body, &pj.BodyB64, body)
		if err := enc.Encode(&pj); err != nil {
			return err
		}
	}
}

// stdlibEncode is encode's twin from the standard library.
func stdlibEncode(in io.Reader, out io.Writer) error {
	dec := json.NewDecoder(in)
	var env envelopeJSON
	if err := dec.Decode(&env); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	w := multipart.NewWriter(bw)
	if err := w.SetBoundary(env.Boundary); err != nil {
		return err
	}
	for dec.More() {
		var p partJSON
		if err := dec.Decode(&p); err != nil {
			return err
		}
		h := textproto.MIMEHeader{}
		for _, f := range p.Headers {
			h.Add(f[0], f[1])
		}
		body, _, err := getBody(p.Body, p.BodyB64)
		if err != nil {
			return err
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			return err
		}
		pw.Write(body)
	}
	if err := w.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// BenchmarkEncode measures encode's throughput in bytes of batch written
// per second, from decode's lines, beside its twin from the standard
// library: encoding/json reading each line whole and mime/multipart
// writing it.
func BenchmarkEncode(b *testing.B) {
	for _, in := range benchInputs() {
		var lines bytes.Buffer
		if code := run([]string{"decode"}, bytes.NewReader(in.batch), &lines, io.Discard); code != 0 {
			b.Fatalf("decode: exit %d", code)
		}
		b.Run(in.name, func(b *testing.B) {
			var out bytes.Buffer
			if code := run([]string{"encode"}, bytes.NewReader(lines.Bytes()), &out, io.Discard); code != 0 || !bytes.Equal(out.Bytes(), in.batch) {
				b.Fatalf("encode: exit %d, or not the batch back", code)
			}
			b.SetBytes(int64(len(in.batch)))
			b.ReportAllocs()
			defer reportCPU(b, int64(len(in.batch)))()
			for b.Loop() {
				if code := run([]string{"encode"}, bytes.NewReader(lines.Bytes()), io.Discard, io.Discard); code != 0 {
					b.Fatalf("exit %d", code)
				}
			}
		})
		var twin bytes.Buffer
		if err := stdlibDecode(bytes.NewReader(in.batch), &twin); err != nil {
			b.Fatal(err)
		}
		twinLines := append([]byte(`{"kind":"envelope","boundary":"`+memBoundary+`"}`+"\n"), twin.Bytes()...)
		b.Run(in.name+"/stdlib", func(b *testing.B) {
			b.SetBytes(int64(len(in.batch)))
			b.ReportAllocs()
			defer reportCPU(b, int64(len(in.batch)))()
			for b.Loop() {
				if err := stdlibEncode(bytes.NewReader(twinLines), io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
