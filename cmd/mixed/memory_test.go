package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"hash/crc32"
	"io"
	"strings"
	"testing"
	"time"
)

// largeBatch writes a bare batch of one application/octet-stream part of
// n bytes, then another small one, through a pipe.
func largeBatch(n int64) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		bw.WriteString("--" + memBoundary + "\r\nContent-Type: application/octet-stream\r\n\r\n")
		err := writeBody(bw, n)
		bw.WriteString("\r\n--" + memBoundary + "\r\nContent-Type: text/plain\r\n\r\nlast\r\n--" + memBoundary + "--\r\n")
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// largeLines writes the JSON lines of largeBatch(n), as decode prints
// them, through a pipe.
func largeLines(n int64) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		bw.WriteString(`{"kind":"envelope","boundary":"` + memBoundary + `"}` + "\n")
		bw.WriteString(`{"index":0,"headers":[["Content-Type","application/octet-stream"]],"body_base64":"`)
		enc := base64.NewEncoder(base64.StdEncoding, bw)
		err := writeBody(enc, n)
		enc.Close()
		bw.WriteString(`"}` + "\n" + `{"index":1,"headers":[["Content-Type","text/plain"]],"body":"last"}` + "\n")
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// crcWriter counts and checksums what is written to it, and keeps its
// last bytes.
type crcWriter struct {
	n    int64
	crc  uint32
	tail []byte
}

func (w *crcWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	w.crc = crc32.Update(w.crc, crc32.IEEETable, p)
	w.tail = append(w.tail, p[max(0, len(p)-256):]...)
	w.tail = w.tail[max(0, len(w.tail)-256):]
	return len(p), nil
}

// decode and encode of a 1 GiB part, generated as it is read, each stay
// under 64 MiB of heap; and decode | encode gives the batch back.
func TestLargePartMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB through decode and encode")
	}
	if raceEnabled {
		t.Skip("1 GiB is too slow under the race detector; run without -race")
	}
	const size = 1 << 30
	const limit = 64 << 20
	want := &crcWriter{}
	in := largeBatch(size)
	io.Copy(want, in)

	t.Run("decode", func(t *testing.T) {
		in := largeBatch(size)
		defer in.Close()
		out := &crcWriter{}
		var res cmdResult
		start := time.Now()
		peak := peakHeap(func() {
			var errb bytes.Buffer
			res.Code = run([]string{"decode"}, in, out, &errb)
			res.Stderr = errb.String()
		})
		t.Logf("decode: %d bytes in, %d out in %v; peak HeapInuse %.1f MiB", want.n, out.n, time.Since(start).Round(time.Millisecond), float64(peak)/(1<<20))
		if res.Code != 0 {
			t.Fatalf("exit %d: %s", res.Code, res.Stderr)
		}
		if wantOut := int64(len(`{"kind":"envelope","boundary":"`+memBoundary+`"}`)+1) + int64(len(`{"index":0,"headers":[["Content-Type","application/octet-stream"]],"body_base64":""}`)+1) + (size+2)/3*4 +
			int64(len(`{"index":1,"headers":[["Content-Type","text/plain"]],"body":"last"}`)+1); out.n != wantOut {
			t.Errorf("decode printed %d bytes, want %d", out.n, wantOut)
		}
		if !strings.HasSuffix(string(out.tail), `"}`+"\n"+`{"index":1,"headers":[["Content-Type","text/plain"]],"body":"last"}`+"\n") {
			t.Errorf("decode's output ends %q", out.tail)
		}
		if peak > limit {
			t.Errorf("peak HeapInuse %d bytes, over %d", peak, limit)
		}
	})
	t.Run("encode", func(t *testing.T) {
		in := largeLines(size)
		defer in.Close()
		out := &crcWriter{}
		var res cmdResult
		start := time.Now()
		peak := peakHeap(func() {
			var errb bytes.Buffer
			res.Code = run([]string{"encode"}, in, out, &errb)
			res.Stderr = errb.String()
		})
		t.Logf("encode: %d bytes out in %v; peak HeapInuse %.1f MiB", out.n, time.Since(start).Round(time.Millisecond), float64(peak)/(1<<20))
		if res.Code != 0 {
			t.Fatalf("exit %d: %s", res.Code, res.Stderr)
		}
		if out.n != want.n || out.crc != want.crc {
			t.Errorf("encode wrote %d bytes (CRC %08x), want the batch's %d (%08x)", out.n, out.crc, want.n, want.crc)
		}
		if peak > limit {
			t.Errorf("peak HeapInuse %d bytes, over %d", peak, limit)
		}
	})
}
