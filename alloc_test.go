package mixed

import (
	"bytes"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// These tests pin the steady-state allocation promises of the package
// (the zero-allocation promise of the package doc): a Reader or Writer reused through Reset, a
// reused Header, header lookups and Part.WriteTo allocate nothing. Each
// measured function also checks what it read or wrote, so that a run that
// fails early and allocates nothing cannot pass.

func TestAllocsReadBatch(t *testing.T) {
	in := benchBatchResponse(allocBatchParts)
	want, err := stdParts(in, benchBoundary)
	if err != nil {
		t.Fatal(err)
	}
	var wantBody int64
	for _, p := range want {
		wantBody += int64(len(p.Body))
	}
	var (
		br   bytes.Reader
		r    Reader
		fail string
	)
	allocCheck(t, func() {
		br.Reset(in)
		r.Reset(&br, benchBoundary)
		parts := 0
		var body int64
		for {
			p, err := r.NextPart()
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
			n, err := io.Copy(io.Discard, p)
			if err != nil {
				fail = err.Error()
				return
			}
			parts++
			body += n
		}
		if parts != len(want) || body != wantBody {
			fail = "read the wrong parts"
		}
	})
	if fail != "" {
		t.Fatal(fail)
	}
}

func TestAllocsHeaderGet(t *testing.T) {
	in := benchBatchResponse(1)
	r := NewReader(bytes.NewReader(in), benchBoundary)
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	wantID := benchContentID(0)
	var ct, id []byte
	// Lookups in another case than the wire's, so that the case-folding
	// path is what is measured.
	allocCheck(t, func() {
		ct = p.Header.GetBytes("content-type")
		id = p.Header.GetBytes("CONTENT-ID")
	})
	if string(ct) != "application/http" || string(id) != wantID {
		t.Fatalf("Get = %q, %q; want %q, %q", ct, id, "application/http", wantID)
	}
}

func TestAllocsWriteBatch(t *testing.T) {
	parts := benchWriteParts(allocBatchParts)
	var (
		dst bytes.Buffer
		w   Writer
		h   Header
		err error
	)
	// The delimiter check is on by default; say so, since it is part of
	// what is pinned.
	w.SetDelimiterCheck(true)
	write := func() {
		dst.Reset()
		w.Reset(&dst)
		if err = w.SetBoundary(benchBoundary); err != nil {
			return
		}
		for _, p := range parts {
			h.Reset()
			h.Add("Content-Type", "application/http")
			h.Add("Content-ID", p.id)
			var pw io.Writer
			if pw, err = w.CreatePart(&h); err != nil {
				return
			}
			if _, err = pw.Write(p.body); err != nil {
				return
			}
		}
		err = w.Close()
	}
	allocCheck(t, write)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readParts(bytes.NewReader(dst.Bytes()), benchBoundary, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]testPart, len(parts))
	for i, p := range parts {
		want[i] = testPart{Header: [][2]string{{"Content-Type", "application/http"}, {"Content-ID", p.id}}, Body: string(p.body)}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("written batch reads back differently (-want +got):\n%s", diff)
	}
}

func TestAllocsPartWriteTo(t *testing.T) {
	body := benchText(200 << 10) // several buffers' worth
	in := benchLargeBody(body)
	var (
		br   bytes.Reader
		r    Reader
		n    int64
		fail error
	)
	allocCheck(t, func() {
		br.Reset(in)
		r.Reset(&br, benchBoundary)
		p, err := r.NextPart()
		if err != nil {
			fail = err
			return
		}
		if n, fail = p.WriteTo(io.Discard); fail != nil {
			return
		}
		if _, err := r.NextPart(); err != io.EOF {
			fail = err
		}
	})
	if fail != nil {
		t.Fatal(fail)
	}
	if n != int64(len(body)) {
		t.Fatalf("WriteTo wrote %d bytes, want %d", n, len(body))
	}
}
