package mixed

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

func TestBytesReaderViews(t *testing.T) {
	data := []byte("preamble\r\n--b\r\nA: 1\r\n\r\nfirst body\r\n--b\r\n\r\nsecond\r\n--b--\r\n")
	br := NewBytesReader(data, "b")
	var views [][]byte
	for {
		p, err := br.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.ReadChunk()
		if err != nil {
			t.Fatal(err)
		}
		views = append(views, c)
		if c, err := p.ReadChunk(); c != nil || err != io.EOF {
			t.Fatalf("after the whole body: %q, %v", c, err)
		}
	}
	// Views outlive NextPart and Reset: they are data's bytes.
	br.Reset([]byte("--b--\r\n"), "b")
	if _, err := br.NextPart(); err != io.EOF {
		t.Fatalf("reset: %v", err)
	}
	if string(views[0]) != "first body" || string(views[1]) != "second" {
		t.Fatalf("views %q", views)
	}
}

func TestAllocsBytesReader(t *testing.T) {
	in := benchBatchResponse(allocBatchParts)
	var br BytesReader
	var fail string
	allocCheck(t, func() {
		br.Reset(in, benchBoundary)
		parts := 0
		for {
			p, err := br.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				fail = err.Error()
				return
			}
			if p.Header.GetBytes("Content-ID") == nil {
				fail = "a part without Content-ID"
				return
			}
			if _, err := p.WriteTo(io.Discard); err != nil {
				fail = err.Error()
				return
			}
			parts++
		}
		if parts != allocBatchParts {
			fail = "read the wrong parts"
		}
	})
	if fail != "" {
		t.Fatal(fail)
	}
}

func TestAllocsLargeReads(t *testing.T) {
	in := benchLargeBody(benchRandomBytes(1 << 20))
	var (
		src  bytes.Reader
		r    Reader
		fail string
	)
	buf := make([]byte, DefaultBufferSize)
	allocCheck(t, func() {
		src.Reset(in)
		r.Reset(&src, benchBoundary)
		p, err := r.NextPart()
		if err != nil {
			fail = err.Error()
			return
		}
		total := 0
		for {
			n, err := p.Read(buf)
			total += n
			if err == io.EOF {
				break
			}
			if err != nil {
				fail = err.Error()
				return
			}
		}
		if total != 1<<20 {
			fail = fmt.Sprint("read ", total, " bytes")
		}
	})
	if fail != "" {
		t.Fatal(fail)
	}
}
