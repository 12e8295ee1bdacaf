package mixed

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
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

// The header fields of a BytesReader's parts are views of data, not
// copies, and outlive NextPart and Reset; an unfolded value is assembled
// in the Header's buffer, and the fields read the same as a Reader's.
func TestBytesReaderHeaderViews(t *testing.T) {
	data := []byte("--b\r\nA: 1\r\nFolded: x\r\n  y\r\n\tz\r\nEmpty:\r\nEmpty-Folded:\r\n w\r\nB:\t two \r\n\r\nbody\r\n--b\r\nC: 3\r\n\r\n\r\n--b--\r\n")
	// inData reports whether v is a subslice of data, by address.
	inData := func(v []byte) bool {
		for i := range data {
			if len(v) > 0 && &data[i] == &v[0] {
				return i+len(v) <= len(data)
			}
		}
		return false
	}
	type fieldView struct {
		Name, Value         string
		NameView, ValueView bool
	}
	var got [][]fieldView
	var names, values [][]byte
	br := NewBytesReader(data, "b")
	for {
		p, err := br.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var fs []fieldView
		for name, value := range p.Header.All() {
			fs = append(fs, fieldView{string(name), string(value), inData(name), inData(value)})
			names, values = append(names, name), append(values, value)
		}
		got = append(got, fs)
	}
	want := [][]fieldView{
		{
			{"A", "1", true, true},
			{"Folded", "x y z", true, false},
			{"Empty", "", true, false},
			{"Empty-Folded", "w", true, false},
			{"B", "two", true, true},
		},
		{{"C", "3", true, true}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("fields (-want +got):\n%s", diff)
	}
	// The same fields as a Reader reads.
	stream, err := readParts(bytes.NewReader(data), "b", ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var fromStream [][]fieldView
	for _, p := range stream {
		var fs []fieldView
		for _, f := range p.Header {
			fs = append(fs, fieldView{Name: f[0], Value: f[1]})
		}
		fromStream = append(fromStream, fs)
	}
	for _, fs := range got {
		for i := range fs {
			fs[i].NameView, fs[i].ValueView = false, false
		}
	}
	if diff := cmp.Diff(fromStream, got); diff != "" {
		t.Fatalf("BytesReader and Reader fields (-Reader +BytesReader):\n%s", diff)
	}
	// Views of data outlive NextPart and Reset.
	br.Reset([]byte("--b\r\nD: 4\r\n\r\n\r\n--b--\r\n"), "b")
	if p, err := br.NextPart(); err != nil || p.Header.Get("D") != "4" {
		t.Fatalf("after Reset: %v", err)
	}
	if string(names[0]) != "A" || string(values[0]) != "1" || string(names[5]) != "C" || string(values[5]) != "3" {
		t.Fatalf("views after Reset: %q %q", names, values)
	}
}
