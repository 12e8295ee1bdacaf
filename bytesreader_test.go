package mixed

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readBytesReader reads every part of data with a BytesReader, draining
// bodies with how ("WriteTo", "ReadChunk", "Read"). With ReadChunk it
// checks that every view is a subslice of data with no spare capacity.
func readBytesReader(data []byte, boundary string, opts ReaderOptions, how string) ([]testPart, error) {
	br := NewBytesReaderOptions(data, boundary, opts)
	base := reflect.ValueOf(data).Pointer()
	var parts []testPart
	for {
		p, err := br.NextPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return parts, err
		}
		var body bytes.Buffer
		switch how {
		case "WriteTo":
			_, err = p.WriteTo(&body)
		case "Read":
			_, err = io.Copy(&body, struct{ io.Reader }{p})
		case "ReadChunk":
			for {
				c, cerr := p.ReadChunk()
				if len(c) > 0 {
					off := int(reflect.ValueOf(c).Pointer() - base)
					if off < 0 || off+len(c) > len(data) || !bytes.Equal(data[off:off+len(c)], c) {
						return parts, fmt.Errorf("ReadChunk view %q is not a view of data", c)
					}
					if cap(c) != len(c) {
						return parts, fmt.Errorf("ReadChunk view has spare capacity %d > %d", cap(c), len(c))
					}
				}
				body.Write(c)
				if cerr == io.EOF {
					break
				}
				if cerr != nil {
					err = cerr
					break
				}
			}
		}
		if err != nil {
			return parts, err // as readFrom: the parts read completely
		}
		parts = append(parts, testPart{Header: fields(&p.Header), Body: body.String()})
	}
}

// readLargeReads reads every part with Part.Read into buffers at least as
// large as the Reader's (the path that reads the source straight into the
// caller's buffer), their sizes cycling through extra above it.
func readLargeReads(src io.Reader, boundary string, opts ReaderOptions, extra []int) ([]testPart, error) {
	r := NewReaderOptions(src, boundary, opts)
	var parts []testPart
	k := 0
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return parts, err
		}
		var body []byte
		for {
			n := len(r.buf)
			if len(extra) > 0 {
				n += extra[k%len(extra)]
				k++
			}
			b := make([]byte, n)
			m, err := p.Read(b)
			body = append(body, b[:m]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				return parts, err
			}
		}
		parts = append(parts, testPart{Header: fields(&p.Header), Body: string(body)})
	}
}

// checkSameRead fails t unless a BytesReader (each way of draining) and
// large reads through a Reader give the parts read completely and the
// error (class, offset and reason) that a Reader gives (want, wantErr from
// readComplete).
func checkSameRead(t interface {
	Helper()
	Fatalf(string, ...any)
}, data []byte, boundary string, opts ReaderOptions, want []testPart, wantErr error, cuts []int) {
	t.Helper()
	for _, how := range []string{"WriteTo", "ReadChunk", "Read"} {
		got, err := readBytesReader(data, boundary, opts, how)
		if errString(err) != errString(wantErr) {
			t.Fatalf("BytesReader (%s): error %v, Reader: %v\ninput: %q", how, err, wantErr, data)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("BytesReader (%s): parts (-Reader +BytesReader):\n%s\ninput: %q", how, diff, data)
		}
	}
	got, err := readLargeReads(&chunkedReader{src: data, cuts: cuts}, boundary, opts, []int{0, 1, 7})
	if errString(err) != errString(wantErr) {
		t.Fatalf("large reads: error %v, Reader: %v\ninput: %q", err, wantErr, data)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("large reads: parts (-Reader +large reads):\n%s\ninput: %q", diff, data)
	}
}

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
