package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"pgregory.net/rapid"
)

// Any batch of parts of any size around holdBytes, any media type and
// any content (text, text with invalid UTF-8 anywhere, binary, embedded
// messages) comes back byte for byte from decode | encode, and decode
// prints one line per part.
func TestPropDecodeEncodeStreams(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 3).Draw(t, "parts")
		var in strings.Builder
		for i := range n {
			size := rapid.OneOf(rapid.IntRange(0, 64), rapid.IntRange(holdBytes-8, holdBytes+8), rapid.IntRange(holdBytes, 3*holdBytes)).Draw(t, "size")
			var body []byte
			switch rapid.IntRange(0, 2).Draw(t, "content") {
			case 0:
				body = textBytes(size)
			case 1:
				body = textBytes(size)
				if size > 0 {
					at := rapid.IntRange(0, size-1).Draw(t, "invalid at")
					body[at] = rapid.SampledFrom([]byte{0x80, 0xc3, 0xe6, 0xf0, 0xff}).Draw(t, "invalid byte")
				}
			default:
				body = randomBytes(uint64(i), size)
			}
			ct := rapid.SampledFrom([]string{"", "text/plain", "application/json; charset=utf-8", "application/octet-stream", "application/http", "image/svg+xml"}).Draw(t, "type")
			in.WriteString("--" + memBoundary + "\r\n")
			if ct != "" {
				in.WriteString("Content-Type: " + ct + "\r\n")
			}
			in.WriteString("\r\n")
			if ct == "application/http" {
				inner := rapid.SampledFrom([]string{"text/plain", "application/octet-stream"}).Draw(t, "inner type")
				if rapid.Bool().Draw(t, "request") {
					in.WriteString("PUT /x HTTP/1.1\r\n")
				} else {
					in.WriteString("HTTP/1.1 200 OK\r\n")
				}
				in.WriteString("Content-Type: " + inner + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
			}
			in.Write(body)
			in.WriteString("\r\n")
		}
		in.WriteString("--" + memBoundary + "--\r\n")
		dec := runCmd(in.String(), "decode")
		if dec.Code != 0 {
			t.Fatalf("decode: exit %d: %s", dec.Code, dec.Stderr)
		}
		if got := strings.Count(dec.Stdout, "\n"); got != n+1 {
			t.Fatalf("%d lines, want %d", got, n+1)
		}
		enc := runCmd(dec.Stdout, "encode")
		if enc.Code != 0 {
			t.Fatalf("encode: exit %d: %s", enc.Code, enc.Stderr)
		}
		if enc.Stdout != in.String() {
			t.Fatalf("decode | encode differs from the input (%d bytes, %d in)", len(enc.Stdout), in.Len())
		}
		// The same, whatever the chunking of the input.
		for _, c := range []struct{ cmd, in, want string }{{"decode", in.String(), dec.Stdout}, {"encode", dec.Stdout, in.String()}} {
			var out, errb bytes.Buffer
			if code := run([]string{c.cmd}, iotest.OneByteReader(strings.NewReader(c.in)), &out, &errb); code != 0 || out.String() != c.want {
				t.Fatalf("%s, one byte at a time: exit %d (%s), output differs: %v", c.cmd, code, errb.String(), out.String() != c.want)
			}
		}
	})
}
