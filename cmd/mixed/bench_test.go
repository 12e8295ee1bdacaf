package main

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
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
// second.
func BenchmarkDecode(b *testing.B) {
	for _, in := range benchInputs() {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.batch)))
			b.ReportAllocs()
			for b.Loop() {
				if code := run([]string{"decode"}, bytes.NewReader(in.batch), io.Discard, io.Discard); code != 0 {
					b.Fatalf("exit %d", code)
				}
			}
		})
	}
}

// BenchmarkEncode measures encode's throughput in bytes of batch written
// per second, from decode's lines.
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
			for b.Loop() {
				if code := run([]string{"encode"}, bytes.NewReader(lines.Bytes()), io.Discard, io.Discard); code != 0 {
					b.Fatalf("exit %d", code)
				}
			}
		})
	}
}
