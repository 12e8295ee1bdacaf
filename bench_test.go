package mixed

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// Every benchmark here runs our codec (impl=mixed) beside mime/multipart
// (impl=std), and for large parts beside the least work any streaming reader
// must do (impl=limit), on the same input in the same run, so that ratios can
// be read with
//
//	go test -run='^$' -bench=. -count=6 . > bench.txt
//	benchstat -col /impl bench.txt
//
// The machines are shared and noisy; quote ratios, not absolute times.
//
// Each benchmark first checks, outside the timed loop, that the
// implementations agree on what they read or wrote, so that a fast path that
// reads the wrong thing cannot win.
//
// The std readers use NextRawPart rather than NextPart: NextPart would
// decode a quoted-printable body, and our Reader returns raw bytes, so
// NextRawPart is the like-for-like call (for these inputs, which have no
// Content-Transfer-Encoding, both return the same bytes).

// benchSummary is what a timed loop can afford to remember about a body:
// enough to notice a reader that skips or misplaces bytes.
type benchSummary struct {
	Parts     int
	IDBytes   int
	BodyBytes int64
}

// benchMixedBatch reads batches with one Reader reused through Reset, as a
// server or client that handles many batches would.
type benchMixedBatch struct {
	br  bytes.Reader
	src io.Reader // br, possibly wrapped
	r   Reader
	buf []byte // if set, bodies are read with Part.Read into it
}

func newBenchMixedBatch(wrap func(io.Reader) io.Reader) *benchMixedBatch {
	m := new(benchMixedBatch)
	m.src = &m.br
	if wrap != nil {
		m.src = wrap(&m.br)
	}
	return m
}

func (m *benchMixedBatch) read(in []byte) (benchSummary, error) {
	var s benchSummary
	m.br.Reset(in)
	m.r.Reset(m.src, benchBoundary)
	for {
		p, err := m.r.NextPart()
		if err == io.EOF {
			return s, nil
		}
		if err != nil {
			return s, err
		}
		s.Parts++
		s.IDBytes += len(p.Header.GetBytes("Content-ID"))
		if m.buf != nil {
			for {
				n, err := p.Read(m.buf)
				s.BodyBytes += int64(n)
				if err == io.EOF {
					break
				}
				if err != nil {
					return s, err
				}
			}
			continue
		}
		n, err := io.Copy(io.Discard, p)
		s.BodyBytes += n
		if err != nil {
			return s, err
		}
	}
}

// benchStdBatch reads a batch with mime/multipart as a user of the standard
// library would: a new multipart.Reader per body.
func benchStdBatch(src io.Reader) (benchSummary, error) {
	var s benchSummary
	r := multipart.NewReader(src, benchBoundary)
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			return s, nil
		}
		if err != nil {
			return s, err
		}
		s.Parts++
		s.IDBytes += len(p.Header.Get("Content-Id"))
		n, err := io.Copy(io.Discard, p)
		s.BodyBytes += n
		if err != nil {
			return s, err
		}
	}
}

// benchCheckRead fails b unless our Reader and mime/multipart read the same
// parts from in, and the benchmark loops of both (wrapped as they will be
// timed) agree on the summary, twice in a row for the reused Reader.
func benchCheckRead(b *testing.B, in []byte, wantParts int, mixedRun func() (benchSummary, error), stdRun func() (benchSummary, error)) {
	b.Helper()
	got, err := readParts(bytes.NewReader(in), benchBoundary, ReaderOptions{})
	if err != nil {
		b.Fatalf("mixed: %v", err)
	}
	want, err := stdParts(in, benchBoundary)
	if err != nil {
		b.Fatalf("std: %v", err)
	}
	if len(want) != wantParts {
		b.Fatalf("std read %d parts, the input has %d", len(want), wantParts)
	}
	if diff := cmp.Diff(want, stdForm(got)); diff != "" {
		b.Fatalf("mixed and std read different parts (-std +mixed):\n%s", diff)
	}
	var ids int
	var body int64
	for _, p := range want {
		for _, f := range p.Header {
			if f[0] == "Content-Id" {
				ids += len(f[1])
				break
			}
		}
		body += int64(len(p.Body))
	}
	wantSum := benchSummary{Parts: len(want), IDBytes: ids, BodyBytes: body}
	for _, run := range []struct {
		name string
		f    func() (benchSummary, error)
	}{{"mixed", mixedRun}, {"mixed again", mixedRun}, {"std", stdRun}} {
		s, err := run.f()
		if err != nil {
			b.Fatalf("%s loop: %v", run.name, err)
		}
		if diff := cmp.Diff(wantSum, s); diff != "" {
			b.Fatalf("%s loop summary (-want +got):\n%s", run.name, diff)
		}
	}
}

func BenchmarkReadBatch(b *testing.B) {
	benchReadBatch(b, 1000, nil)
}

// BenchmarkReadBatchOneByte is BenchmarkReadBatch through a reader that
// returns one byte per Read, on a smaller batch: the per-Read overhead of
// each implementation.
func BenchmarkReadBatchOneByte(b *testing.B) {
	benchReadBatch(b, 50, iotest.OneByteReader)
}

func benchReadBatch(b *testing.B, n int, wrap func(io.Reader) io.Reader) {
	in := benchBatchResponse(n)
	m := newBenchMixedBatch(wrap)
	var sbr bytes.Reader
	ssrc := io.Reader(&sbr)
	if wrap != nil {
		ssrc = wrap(&sbr)
	}
	stdRun := func() (benchSummary, error) {
		sbr.Reset(in)
		return benchStdBatch(ssrc)
	}
	benchCheckRead(b, in, n, func() (benchSummary, error) { return m.read(in) }, stdRun)

	benchImpl(b, "impl=mixed", int64(len(in)), func() error { _, err := m.read(in); return err })
	benchImpl(b, "impl=std", int64(len(in)), func() error { _, err := stdRun(); return err })
}

const benchLargeSize = 16 << 20

func BenchmarkReadLarge(b *testing.B) {
	benchReadLarge(b, benchLargeBody(benchRandomBytes(benchLargeSize)))
}

func BenchmarkReadLargeText(b *testing.B) {
	benchReadLarge(b, benchLargeBody(benchText(benchLargeSize)))
}

// benchLimit is the least work a streaming reader must do on in: read it
// through a buffer of DefaultBufferSize and search each chunk for the
// delimiter with bytes.Index, carrying len(delim)-1 bytes over so that a
// delimiter split between chunks is found. It returns the offset of the last
// delimiter found.
type benchLimit struct {
	br    bytes.Reader
	buf   []byte
	delim []byte
}

func (l *benchLimit) scan(in []byte) (int64, error) {
	l.br.Reset(in)
	last := int64(-1)
	var base int64 // stream offset of buf[0]
	keep := 0
	for {
		n, err := io.ReadFull(&l.br, l.buf[keep:])
		chunk := l.buf[:keep+n]
		for from := 0; ; {
			i := bytes.Index(chunk[from:], l.delim)
			if i < 0 {
				break
			}
			last = base + int64(from+i)
			from += i + 1
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return last, nil
		}
		if err != nil {
			return last, err
		}
		keep = min(len(l.delim)-1, len(chunk))
		copy(l.buf, chunk[len(chunk)-keep:])
		base += int64(len(chunk) - keep)
	}
}

func benchReadLarge(b *testing.B, in []byte) {
	m := newBenchMixedBatch(nil)
	var sbr bytes.Reader
	stdRun := func() (benchSummary, error) {
		sbr.Reset(in)
		return benchStdBatch(&sbr)
	}
	benchCheckRead(b, in, 1, func() (benchSummary, error) { return m.read(in) }, stdRun)
	l := &benchLimit{buf: make([]byte, DefaultBufferSize), delim: []byte("\r\n--" + benchBoundary)}
	if last, err := l.scan(in); err != nil || last != int64(len(in)-len(benchBoundary)-8) {
		b.Fatalf("limit found the last delimiter at %d, %v; want %d", last, err, len(in)-len(benchBoundary)-8)
	}

	benchImpl(b, "impl=mixed", int64(len(in)), func() error { _, err := m.read(in); return err })
	benchImpl(b, "impl=std", int64(len(in)), func() error { _, err := stdRun(); return err })
	benchImpl(b, "impl=limit", int64(len(in)), func() error { _, err := l.scan(in); return err })
	// Part.Read into a 64 KiB buffer, as io.ReadFull and io.CopyBuffer
	// callers read: the source is read straight into it (largeread.go).
	buf := make([]byte, DefaultBufferSize)
	mr := newBenchMixedBatch(nil)
	mr.buf = buf
	if s, err := mr.read(in); err != nil || s != mustSummary(m.read(in)) {
		b.Fatalf("large reads: %+v, %v", s, err)
	}
	benchImpl(b, "impl=mixed-read", int64(len(in)), func() error { _, err := mr.read(in); return err })
	// The body in memory: a BytesReader hands out views of it.
	var mb benchBytesBatch
	if s, err := mb.read(in); err != nil || s != mustSummary(m.read(in)) {
		b.Fatalf("BytesReader: %+v, %v", s, err)
	}
	benchImpl(b, "impl=bytes", int64(len(in)), func() error { _, err := mb.read(in); return err })
}

// benchMixedWrite writes a batch with a reused Writer and Header. The
// fields are named and ordered as mime/multipart writes them (canonical
// names, sorted), so that both outputs can be compared byte for byte.
type benchMixedWrite struct {
	w Writer
	h Header
}

func (m *benchMixedWrite) write(dst *bytes.Buffer, parts []benchWritePart) error {
	dst.Reset()
	m.w.Reset(dst)
	if err := m.w.SetBoundary(benchBoundary); err != nil {
		return err
	}
	for _, p := range parts {
		m.h.Reset()
		m.h.Add("Content-Id", p.id)
		m.h.Add("Content-Type", "application/http")
		pw, err := m.w.CreatePart(&m.h)
		if err != nil {
			return err
		}
		if _, err := pw.Write(p.body); err != nil {
			return err
		}
	}
	return m.w.Close()
}

// benchStdWrite writes a batch with mime/multipart. The MIMEHeader is built
// once and only its Content-Id value changes: the cheapest way to use
// multipart.Writer, so the comparison is not inflated by a map per part.
type benchStdWrite struct {
	h textproto.MIMEHeader
}

func (s *benchStdWrite) write(dst *bytes.Buffer, parts []benchWritePart) error {
	dst.Reset()
	w := multipart.NewWriter(dst)
	if err := w.SetBoundary(benchBoundary); err != nil {
		return err
	}
	if s.h == nil {
		s.h = textproto.MIMEHeader{"Content-Type": {"application/http"}, "Content-Id": {""}}
	}
	for _, p := range parts {
		s.h["Content-Id"][0] = p.id
		pw, err := w.CreatePart(s.h)
		if err != nil {
			return err
		}
		if _, err := pw.Write(p.body); err != nil {
			return err
		}
	}
	return w.Close()
}

func BenchmarkWriteBatch(b *testing.B) {
	parts := benchWriteParts(1000)
	m := new(benchMixedWrite)
	s := new(benchStdWrite)
	var mbuf, sbuf bytes.Buffer
	if err := m.write(&mbuf, parts); err != nil {
		b.Fatalf("mixed: %v", err)
	}
	if err := s.write(&sbuf, parts); err != nil {
		b.Fatalf("std: %v", err)
	}
	if !bytes.Equal(mbuf.Bytes(), sbuf.Bytes()) {
		b.Fatalf("mixed and std wrote different bytes:\n%s", cmp.Diff(sbuf.String(), mbuf.String()))
	}
	// Reading back checks the bytes against the parts, not just mixed
	// against std.
	got, err := stdParts(mbuf.Bytes(), benchBoundary)
	if err != nil {
		b.Fatal(err)
	}
	want := make([]testPart, len(parts))
	for i, p := range parts {
		want[i] = testPart{Header: [][2]string{{"Content-Id", p.id}, {"Content-Type", "application/http"}}, Body: string(p.body)}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		b.Fatalf("written batch reads back differently (-want +got):\n%s", diff)
	}
	size := int64(mbuf.Len())

	b.Run("impl=mixed", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			if err := m.write(&mbuf, parts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=std", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			if err := s.write(&sbuf, parts); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Embedded HTTP messages.

func httpBenchRequest(i int) string {
	return "PUT /calendar/v3/calendars/primary/events/" + strconv.Itoa(i) + " HTTP/1.1\r\nContent-Type: application/json\r\nIf-Match: \"etag/" +
		strconv.Itoa(i) + "\"\r\nContent-Length: " + strconv.Itoa(len(httpBenchJSON)) + "\r\n\r\n" + httpBenchJSON
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

// Workloads real users send that the rows above do not cover, and
// adversarial inputs beside ordinary twins of the same size.

// benchReadInput is benchReadBatch on given bytes of n parts, with the
// in-memory BytesReader (impl=bytes) beside the streaming Reader.
func benchReadInput(b *testing.B, in []byte, n int) {
	m := newBenchMixedBatch(nil)
	var sbr bytes.Reader
	stdRun := func() (benchSummary, error) {
		sbr.Reset(in)
		return benchStdBatch(&sbr)
	}
	var mb benchBytesBatch
	benchCheckRead(b, in, n, func() (benchSummary, error) { return m.read(in) }, stdRun)
	if s, err := mb.read(in); err != nil || s != mustSummary(m.read(in)) {
		b.Fatalf("BytesReader: %+v, %v", s, err)
	}
	benchImpl(b, "impl=mixed", int64(len(in)), func() error { _, err := m.read(in); return err })
	benchImpl(b, "impl=bytes", int64(len(in)), func() error { _, err := mb.read(in); return err })
	benchImpl(b, "impl=std", int64(len(in)), func() error { _, err := stdRun(); return err })
}

func mustSummary(s benchSummary, err error) benchSummary {
	if err != nil {
		panic(err)
	}
	return s
}

// benchBytesBatch reads batches in memory with a reused BytesReader.
type benchBytesBatch struct {
	r BytesReader
}

func (m *benchBytesBatch) read(in []byte) (benchSummary, error) {
	var s benchSummary
	m.r.Reset(in, benchBoundary)
	for {
		p, err := m.r.NextPart()
		if err == io.EOF {
			return s, nil
		}
		if err != nil {
			return s, err
		}
		s.Parts++
		s.IDBytes += len(p.Header.GetBytes("Content-ID"))
		n, err := p.WriteTo(io.Discard)
		s.BodyBytes += n
		if err != nil {
			return s, err
		}
	}
}

// benchJSONBatch is a batch of n parts whose bodies are CRLF-dense JSON
// of about 1 KiB each.
func benchJSONBatch(n int) []byte {
	text := benchText(1000 * n)
	var b bytes.Buffer
	for i := range n {
		b.WriteString("--" + benchBoundary + "\r\nContent-Type: application/json; charset=UTF-8\r\nContent-ID: " + benchContentID(i) + "\r\n\r\n{\r\n")
		b.Write(text[1000*i : 1000*(i+1)])
		b.WriteString("\r\n}\r\n")
	}
	b.WriteString("--" + benchBoundary + "--\r\n")
	return b.Bytes()
}

// BenchmarkReadBatchJSON: 1000 parts with CRLF-dense JSON bodies.
func BenchmarkReadBatchJSON(b *testing.B) {
	benchReadInput(b, benchJSONBatch(1000), 1000)
}

// BenchmarkReadBatchLF: the 1000-part batch response with LF-only line
// ends throughout, as python's googleapiclient sends batches.
func BenchmarkReadBatchLF(b *testing.B) {
	benchReadInput(b, bytes.ReplaceAll(benchBatchResponse(1000), []byte("\r\n"), []byte("\n")), 1000)
}

const benchFloodSize = 4 << 20

// benchRareByte is the byte of the boundary the Reader's finder filters
// on first: a flood of it is the worst case for a rare-byte filter.
func benchRareByte() byte {
	var f finder
	pat := []byte("\r\n--" + benchBoundary)
	f.reset(pat, 4)
	return pat[f.first]
}

// BenchmarkReadBoundaryFlood: one 4 MiB part of a single character of the
// boundary, the one the finder filters on first.
func BenchmarkReadBoundaryFlood(b *testing.B) {
	benchReadLarge(b, benchLargeBody(bytes.Repeat([]byte{benchRareByte()}, benchFloodSize)))
}

// adversarial inputs, each beside an ordinary twin of the same size.
func benchAdversarialInputs() []struct {
	name         string
	attack, twin []byte
} {
	random := benchLargeBody(benchRandomBytes(benchFloodSize))
	// Near-delimiters: CRLF "--" and a proper prefix of the boundary,
	// broken off by another byte, every few bytes.
	var near []byte
	rng := rand.New(rand.NewPCG(6, 6))
	for len(near) < benchFloodSize {
		k := rng.IntN(len(benchBoundary))
		near = append(near, "\r\n--"...)
		near = append(near, benchBoundary[:k]...)
		near = append(near, 0xff)
		near = append(near, benchRandomBytes(rng.IntN(6))...)
	}
	pat := []byte("\r\n--" + benchBoundary)
	// Runs of 300 of each byte of the boundary in turn: each is rare,
	// then dense, so a filter on any one of them keeps giving up.
	var runs []byte
	for i := 0; len(runs) < benchFloodSize; i++ {
		runs = append(runs, bytes.Repeat([]byte{benchBoundary[i%len(benchBoundary)]}, 300)...)
	}
	// Long preamble: 4 MiB of 80-byte lines before an empty part.
	pre := bytes.Repeat([]byte(strings.Repeat("p", 78)+"\r\n"), benchFloodSize/80)
	pre = append(pre, "--"+benchBoundary+"\r\n\r\n\r\n--"+benchBoundary+"--\r\n"...)
	out := []struct {
		name         string
		attack, twin []byte
	}{
		{"near-delims", benchLargeBody(bytes.ReplaceAll(near[:benchFloodSize], pat, []byte("\r\n--x"))), random},
		{"rare-byte-flood", benchLargeBody(bytes.Repeat([]byte{benchRareByte()}, benchFloodSize)), random},
		// The byte before the boundary's last: a Horspool shift of one.
		{"skip1-byte-flood", benchLargeBody(bytes.Repeat([]byte{pat[len(pat)-2]}, benchFloodSize)), random},
		{"crlf-flood", benchLargeBody(bytes.Repeat([]byte("\r\n"), benchFloodSize/2)), random},
		{"boundary-byte-runs", benchLargeBody(runs[:benchFloodSize]), random},
		{"long-preamble", pre, benchLargeBody(benchRandomBytes(len(pre) - len(random) + benchFloodSize))},
	}
	return out
}

// BenchmarkAdversarial times each adversarial input (input=attack) beside
// an ordinary input of the same size (input=twin), so that
// benchstat -col /input gives the cost of the attack: the target is at
// most 2×.
func BenchmarkAdversarial(b *testing.B) {
	benchAdversarial(b, newBenchMixedBatch(nil).read)
}

// BenchmarkAdversarialBytes is BenchmarkAdversarial for the in-memory
// BytesReader, whose searches run over the whole remaining body at once.
func BenchmarkAdversarialBytes(b *testing.B) {
	var m benchBytesBatch
	benchAdversarial(b, m.read)
}

// benchAdversarial runs read over each adversarial input and its twin.
func benchAdversarial(b *testing.B, read func([]byte) (benchSummary, error)) {
	for _, c := range benchAdversarialInputs() {
		for _, in := range []struct {
			name string
			data []byte
		}{{"attack", c.attack}, {"twin", c.twin}} {
			if _, err := read(in.data); err != nil {
				b.Fatalf("%s/%s: %v", c.name, in.name, err)
			}
			b.Run("case="+c.name+"/input="+in.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(in.data)))
				for b.Loop() {
					if _, err := read(in.data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// benchImpl runs read as the sub-benchmark name (impl=mixed, impl=std…)
// over size bytes an iteration, allocations reported.
func benchImpl(b *testing.B, name string, size int64, read func() error) {
	b.Run(name, func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			if err := read(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
