package mixed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"testing/iotest"
)

// testPart is a part as tests compare it: header fields in wire order and
// the whole body.
type testPart struct {
	Header [][2]string
	Body   string
}

// readParts reads every part of a body with a Reader over src, draining
// bodies with WriteTo. It returns the parts read before any error, and the
// error (nil at a clean end).
func readParts(src io.Reader, boundary string, opts ReaderOptions) ([]testPart, error) {
	return readPartsBy(src, boundary, opts, "WriteTo")
}

// readPartsBy reads every part, draining bodies with how: "Read" (io.Copy
// with WriteTo hidden), "ReadChunk" (checking each view's capacity and
// the final nil, io.EOF), "WriteTo", or "small reads" (3 bytes at a time).
func readPartsBy(src io.Reader, boundary string, opts ReaderOptions, how string) ([]testPart, error) {
	r := NewReaderOptions(src, boundary, opts)
	var parts []testPart
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return parts, err
		}
		var body bytes.Buffer
		switch how {
		case "Read":
			_, err = io.Copy(&body, struct{ io.Reader }{p}) // hides WriteTo
		case "ReadChunk":
			for {
				c, cerr := p.ReadChunk()
				if len(c) > 0 && cap(c) != len(c) {
					return parts, fmt.Errorf("ReadChunk view has spare capacity %d > %d", cap(c), len(c))
				}
				body.Write(c)
				if cerr == io.EOF {
					if c != nil {
						return parts, fmt.Errorf("ReadChunk returned %q with io.EOF", c)
					}
					break
				}
				if cerr != nil {
					err = cerr
					break
				}
			}
		case "WriteTo":
			_, err = p.WriteTo(&body)
		case "small reads":
			buf := make([]byte, 3)
			for {
				n, rerr := p.Read(buf)
				body.Write(buf[:n])
				if rerr == io.EOF {
					break
				}
				if rerr != nil {
					err = rerr
					break
				}
			}
		}
		parts = append(parts, testPart{Header: fields(&p.Header), Body: body.String()})
		if err != nil {
			return parts, err
		}
	}
}

// writeParts encodes parts with a Writer using boundary.
func writeParts(parts []testPart, boundary string) ([]byte, error) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.SetBoundary(boundary); err != nil {
		return nil, err
	}
	var h Header
	for _, p := range parts {
		h.Reset()
		for _, f := range p.Header {
			h.Add(f[0], f[1])
		}
		pw, err := w.CreatePart(&h)
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(pw, p.Body); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// stdParts reads a body with mime/multipart (NextRawPart, so bodies are not
// decoded), the oracle for differential tests. Header fields come back as
// textproto canonicalizes them, sorted by name, since a MIMEHeader keeps no
// order across names.
func stdParts(body []byte, boundary string) ([]testPart, error) {
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	var parts []testPart
	for {
		p, err := r.NextRawPart()
		if errors.Is(err, io.EOF) && err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return parts, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return parts, err
		}
		var tp testPart
		for _, k := range sortedKeys(p.Header) {
			for _, v := range p.Header[k] {
				tp.Header = append(tp.Header, [2]string{k, v})
			}
		}
		tp.Body = string(b)
		parts = append(parts, tp)
	}
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// awkwardReaders returns src wrapped in the readers every table test runs
// through: whole, one byte at a time, half reads, random short reads, and
// data returned together with io.EOF.
func awkwardReaders(src []byte, seed uint64) map[string]io.Reader {
	return map[string]io.Reader{
		"whole":   bytes.NewReader(src),
		"onebyte": iotest.OneByteReader(bytes.NewReader(src)),
		"half":    iotest.HalfReader(bytes.NewReader(src)),
		"random":  &randomReader{src: src, rng: rand.New(rand.NewPCG(seed, 1))},
		"dataerr": iotest.DataErrReader(bytes.NewReader(src)),
	}
}

// randomReader returns src in reads of random sizes from 0 to 2*len/…,
// including empty reads.
type randomReader struct {
	src []byte
	rng *rand.Rand
}

func (r *randomReader) Read(p []byte) (int, error) {
	if len(r.src) == 0 {
		return 0, io.EOF
	}
	n := r.rng.IntN(min(len(p), len(r.src), 300) + 1)
	copy(p, r.src[:n])
	r.src = r.src[n:]
	return n, nil
}

// chunkedReader returns src split at the given cut points, one read per
// piece: a property test drives the cuts.
type chunkedReader struct {
	src  []byte
	cuts []int // lengths of the successive reads; the rest in one read
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.src) == 0 {
		return 0, io.EOF
	}
	n := len(r.src)
	if len(r.cuts) > 0 {
		n = min(r.cuts[0], n)
		r.cuts = r.cuts[1:]
	}
	n = min(n, len(p))
	copy(p, r.src[:n])
	r.src = r.src[n:]
	return n, nil
}
