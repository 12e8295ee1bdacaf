package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"

	gmtextproto "github.com/emersion/go-message/textproto"
	"github.com/mixedcodec/mixed"
	"github.com/valyala/fasthttp"
)

// A runner handles one workload once. It keeps whatever its library lets a
// caller reuse between bodies (buffers, readers with Reset), and nothing
// else: each run parses or writes the whole workload again.
type runner interface {
	run(w *workload, s *sink) error
}

// A goImpl is one Go implementation. runner returns nil and the reason
// when the implementation has nothing for that kind of workload.
type goImpl struct {
	Key    string // id for -impls
	Name   string // label in the table and chart
	runner func(kind string) (runner, string)

	// baseline marks a reference point that yields no parts (so it is not
	// verified, and it is never "first"): the reference point of the README's Performance section.
	baseline bool
}

const baselineName = "bytes.Index (in memory)"

// mixedHTTP, when set (by httplayer_mixed.go), gives the runners of the
// root package's httpmsg layer for the "parse-http" and "write-http" kinds.
var mixedHTTP func(kind string) runner

const noHTTPMsg = "the root package has no httpmsg layer in this build (see bench/README.md, \"HTTP layer\")"

var goImpls = []goImpl{
	{Key: "mixed", Name: "mixed", runner: func(kind string) (runner, string) {
		switch kind {
		case "parse":
			return &mixedParser{}, ""
		case "write":
			return &mixedWriter{}, ""
		}
		if mixedHTTP != nil {
			if r := mixedHTTP(kind); r != nil {
				return r, ""
			}
		}
		return nil, noHTTPMsg
	}},
	{Key: "mixedmem", Name: mixedMemName, runner: func(kind string) (runner, string) {
		switch kind {
		case "parse":
			return &mixedMemParser{}, ""
		case "parse-http":
			return &mixedMemParser{http: true}, ""
		}
		return nil, "the in-memory reader parses; writing is the Writer's job (the mixed column)"
	}},
	{Key: "std", Name: "mime/multipart", runner: func(kind string) (runner, string) {
		switch kind {
		case "parse":
			return &stdParser{}, ""
		case "parse-http":
			return &stdParser{http: true}, ""
		case "write":
			return &stdWriter{}, ""
		case "write-http":
			return &stdWriter{http: true}, ""
		}
		return nil, "unknown kind"
	}},
	{Key: "gomessage", Name: "emersion/go-message", runner: func(kind string) (runner, string) {
		switch kind {
		case "parse":
			return &gmParser{}, ""
		case "write":
			return &gmWriter{}, ""
		}
		return nil, "go-message/textproto has no HTTP message layer"
	}},
	{Key: "fasthttp", Name: "valyala/fasthttp", runner: func(kind string) (runner, string) {
		switch kind {
		case "parse-http":
			return &fastParser{}, ""
		case "write-http":
			return &fastWriter{}, ""
		}
		return nil, "fasthttp has no multipart/mixed reader or writer (its multipart support is form-data through mime/multipart); it is measured on the embedded HTTP heads, over mime/multipart"
	}},
	{Key: "limit", Name: baselineName, baseline: true, runner: func(kind string) (runner, string) {
		if kind == "parse" {
			return limitScanner{}, ""
		}
		return nil, "a baseline for parsing only"
	}},
	{Key: "enmime", Name: "jhillyerd/enmime", runner: func(kind string) (runner, string) {
		return nil, enmimeReason
	}},
}

// enmimeReason is why enmime v2.3.0 is not measured: its multipart entry
// points (ReadParts, ReadEnvelope, Parser.ReadParts) read a whole MIME
// message, headers included, into an in-memory Part tree with decoded
// content (io.ReadAll per part, charset detection), and its boundary reader
// is unexported, so it has no streaming part reader to compare.
const enmimeReason = "enmime v2.3.0 has no streaming part reader for multipart/mixed: ReadParts/ReadEnvelope read a whole e-mail message into an in-memory Part tree (its boundary reader is unexported) and it has no HTTP layer"

// ---- parsers ----

// limitScanner finds every delimiter of the body with bytes.Index, in
// memory, without copying or parsing anything: no streaming parser that
// must look at every byte can beat it by much (the README's Performance section).
type limitScanner struct{}

func (limitScanner) run(w *workload, s *sink) error {
	delim := "\r\n--" + boundary
	if bytes.HasPrefix(w.Data, []byte("--"+boundary+"\n")) {
		delim = "\n--" + boundary // LF-only line ends
	}
	b := w.Data
	for {
		i := bytes.Index(b, []byte(delim))
		if i < 0 {
			break
		}
		s.body(b[:i])
		b = b[i+len(delim):]
	}
	return nil
}

type mixedParser struct {
	src bytes.Reader
	mr  *mixed.Reader
}

func (p *mixedParser) run(w *workload, s *sink) error {
	p.src.Reset(w.Data)
	if p.mr == nil {
		p.mr = mixed.NewReader(&p.src, boundary)
	} else {
		p.mr.Reset(&p.src, boundary)
	}
	for {
		part, err := p.mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		s.beginPart()
		for name, value := range part.Header.All() {
			s.fieldB(name, value)
		}
		for {
			c, err := part.ReadChunk()
			s.body(c)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		s.endPart()
	}
}

// mixedMemName is the column of mixed's BytesReader: the body is in
// memory, as it is for the Node parsers, and its parts are views of it.
const mixedMemName = "mixed (in memory)"

type mixedMemParser struct {
	http bool
	mr   mixed.BytesReader
	msg  mixed.MessageReader
}

func (p *mixedMemParser) run(w *workload, s *sink) error {
	p.mr.Reset(w.Data, boundary)
	for {
		part, err := p.mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		s.beginPart()
		for name, value := range part.Header.All() {
			s.fieldB(name, value)
		}
		var body interface{ ReadChunk() ([]byte, error) } = part
		if p.http {
			p.msg.Reset(part)
			resp, err := p.msg.ReadResponse("")
			if err != nil {
				return err
			}
			s.status(resp.StatusCode)
			for name, value := range resp.Header.All() {
				s.fieldB(name, value)
			}
			body = resp.Body
		}
		for {
			c, err := body.ReadChunk()
			s.body(c)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
		s.endPart()
	}
}

type stdParser struct {
	http bool
	src  bytes.Reader
	br   *bufio.Reader
	buf  []byte
}

func (p *stdParser) run(w *workload, s *sink) error {
	p.src.Reset(w.Data)
	if p.buf == nil {
		p.buf = make([]byte, 32<<10)
		p.br = bufio.NewReader(nil)
	}
	mr := multipart.NewReader(&p.src, boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		s.beginPart()
		for name, values := range part.Header {
			for _, v := range values {
				s.fieldS(name, v)
			}
		}
		body := io.Reader(part)
		if p.http {
			p.br.Reset(part)
			resp, err := http.ReadResponse(p.br, nil)
			if err != nil {
				return err
			}
			s.status(resp.StatusCode)
			for name, values := range resp.Header {
				for _, v := range values {
					s.fieldS(name, v)
				}
			}
			body = resp.Body
		}
		if _, err := io.CopyBuffer(s, body, p.buf); err != nil {
			return err
		}
		s.endPart()
	}
}

type gmParser struct {
	src bytes.Reader
	buf []byte
}

func (p *gmParser) run(w *workload, s *sink) error {
	p.src.Reset(w.Data)
	if p.buf == nil {
		p.buf = make([]byte, 32<<10)
	}
	mr := gmtextproto.NewMultipartReader(&p.src, boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		s.beginPart()
		for f := part.Header.Fields(); f.Next(); {
			s.fieldS(f.Key(), f.Value())
		}
		if _, err := io.CopyBuffer(s, part, p.buf); err != nil {
			return err
		}
		s.endPart()
	}
}

// fastParser reads the parts with mime/multipart (fasthttp has no
// multipart/mixed reader) and their embedded responses with fasthttp.
type fastParser struct {
	src  bytes.Reader
	br   *bufio.Reader
	resp fasthttp.Response
}

func (p *fastParser) run(w *workload, s *sink) error {
	p.src.Reset(w.Data)
	if p.br == nil {
		p.br = bufio.NewReader(nil)
	}
	mr := multipart.NewReader(&p.src, boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		s.beginPart()
		for name, values := range part.Header {
			for _, v := range values {
				s.fieldS(name, v)
			}
		}
		p.br.Reset(part)
		p.resp.Reset()
		if err := p.resp.Read(p.br); err != nil {
			return err
		}
		s.status(p.resp.StatusCode())
		for name, value := range p.resp.Header.All() {
			s.fieldB(name, value)
		}
		s.body(p.resp.Body())
		s.endPart()
	}
}

// ---- writers ----
//
// A writer's output goes to a reused buffer. A timed sink is credited with
// its length; a verifying sink gets it decoded by mime/multipart (+
// http.ReadRequest), so every writer is checked by the same reader.

func finishWrite(out []byte, http bool, s *sink) error {
	if !s.verify {
		s.n += int64(len(out))
		return nil
	}
	return decodeStd(out, http, s)
}

// decodeStd is the oracle for writers: mime/multipart for the parts and
// http.ReadRequest for the embedded requests.
func decodeStd(out []byte, withHTTP bool, s *sink) error {
	mr := multipart.NewReader(bytes.NewReader(out), boundary)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		s.beginPart()
		for name, values := range part.Header {
			for _, v := range values {
				s.fieldS(name, v)
			}
		}
		body := io.Reader(part)
		if withHTTP {
			req, err := http.ReadRequest(bufio.NewReader(part))
			if err != nil {
				return err
			}
			s.request(req.Method, req.RequestURI)
			s.fieldS("Host", req.Host)
			for name, values := range req.Header {
				for _, v := range values {
					s.fieldS(name, v)
				}
			}
			body = req.Body
		}
		if _, err := io.Copy(s, body); err != nil {
			return err
		}
		// Whatever follows the embedded message in the part is compared
		// too, so a writer cannot hide bytes after it.
		if _, err := io.Copy(s, part); err != nil {
			return err
		}
		s.endPart()
	}
}

type stdWriter struct {
	http bool
	out  bytes.Buffer
}

func (wr *stdWriter) run(w *workload, s *sink) error {
	wr.out.Reset()
	mw := multipart.NewWriter(&wr.out)
	if err := mw.SetBoundary(boundary); err != nil {
		return err
	}
	for i := range w.Calls {
		c := &w.Calls[i]
		h := make(textproto.MIMEHeader, len(c.PartHeader))
		for _, f := range c.PartHeader {
			h.Add(f[0], f[1])
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if !wr.http {
			if _, err := pw.Write(c.Rendered); err != nil {
				return err
			}
			continue
		}
		req, err := c.request()
		if err != nil {
			return err
		}
		if err := req.Write(pw); err != nil {
			return err
		}
	}
	if err := mw.Close(); err != nil {
		return err
	}
	return finishWrite(wr.out.Bytes(), wr.http, s)
}

type mixedWriter struct {
	out bytes.Buffer
	mw  *mixed.Writer
	h   mixed.Header
}

func (wr *mixedWriter) run(w *workload, s *sink) error {
	wr.out.Reset()
	if wr.mw == nil {
		wr.mw = mixed.NewWriter(&wr.out)
	} else {
		wr.mw.Reset(&wr.out)
	}
	if err := wr.mw.SetBoundary(boundary); err != nil {
		return err
	}
	for i := range w.Calls {
		c := &w.Calls[i]
		wr.h.Reset()
		for _, f := range c.PartHeader {
			wr.h.Add(f[0], f[1])
		}
		pw, err := wr.mw.CreatePart(&wr.h)
		if err != nil {
			return err
		}
		if _, err := pw.Write(c.Rendered); err != nil {
			return err
		}
	}
	if err := wr.mw.Close(); err != nil {
		return err
	}
	return finishWrite(wr.out.Bytes(), false, s)
}

type gmWriter struct {
	out bytes.Buffer
}

func (wr *gmWriter) run(w *workload, s *sink) error {
	wr.out.Reset()
	mw := gmtextproto.NewMultipartWriter(&wr.out)
	if err := mw.SetBoundary(boundary); err != nil {
		return err
	}
	for i := range w.Calls {
		c := &w.Calls[i]
		var h gmtextproto.Header
		for _, f := range c.PartHeader {
			h.Add(f[0], f[1])
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if _, err := pw.Write(c.Rendered); err != nil {
			return err
		}
	}
	if err := mw.Close(); err != nil {
		return err
	}
	return finishWrite(wr.out.Bytes(), false, s)
}

// fastWriter writes the parts with mime/multipart and the embedded
// requests with fasthttp.Request.Write.
type fastWriter struct {
	out bytes.Buffer
	bw  *bufio.Writer
	req fasthttp.Request
}

func (wr *fastWriter) run(w *workload, s *sink) error {
	wr.out.Reset()
	mw := multipart.NewWriter(&wr.out)
	if err := mw.SetBoundary(boundary); err != nil {
		return err
	}
	for i := range w.Calls {
		c := &w.Calls[i]
		h := make(textproto.MIMEHeader, len(c.PartHeader))
		for _, f := range c.PartHeader {
			h.Add(f[0], f[1])
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if wr.bw == nil {
			wr.bw = bufio.NewWriter(pw)
		} else {
			wr.bw.Reset(pw)
		}
		wr.req.Reset()
		wr.req.Header.SetMethod(c.Method)
		wr.req.SetRequestURI(c.Path)
		wr.req.Header.SetHost(callHost)
		for _, f := range c.Header {
			wr.req.Header.Add(f[0], f[1])
		}
		wr.req.SetBodyRaw(c.Body)
		if err := wr.req.Write(wr.bw); err != nil {
			return err
		}
		if err := wr.bw.Flush(); err != nil {
			return err
		}
	}
	if err := mw.Close(); err != nil {
		return err
	}
	return finishWrite(wr.out.Bytes(), true, s)
}

// reference computes a workload's expected hash with mime/multipart (and
// net/http), and for writes its reference output.
func (w *workload) reference() error {
	s := newVerifySink()
	switch w.Kind {
	case "parse":
		if err := (&stdParser{}).run(w, s); err != nil {
			return err
		}
	case "parse-http":
		if err := (&stdParser{http: true}).run(w, s); err != nil {
			return err
		}
	case "write", "write-http":
		wr := &stdWriter{http: w.Kind == "write-http"}
		if err := wr.run(w, newTimedSink()); err != nil {
			return err
		}
		w.Data = bytes.Clone(wr.out.Bytes())
		if err := decodeStd(w.Data, wr.http, s); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown kind %q", w.Kind)
	}
	if w.Kind == "write" || w.Kind == "write-http" {
		if s.parts != len(w.Calls) {
			return fmt.Errorf("reference output has %d parts, want %d", s.parts, len(w.Calls))
		}
	}
	w.Want = s.sum()
	return nil
}

// verify runs r once on w with a hashing sink and says whether it agrees
// with the reference; detail says how it differs when it does not.
func verify(r runner, w *workload) (ok bool, detail string, err error) {
	s := newVerifySink()
	if err := r.run(w, s); err != nil {
		return false, "", err
	}
	if got := s.sum(); got != w.Want {
		ref := newVerifySink()
		_ = refRunner(w).run(w, ref)
		return false, "hash " + got[:12] + " != " + w.Want[:12] + ", " + strconv.Itoa(s.parts) + " parts (reference " + strconv.Itoa(ref.parts) + ")", nil
	}
	return true, "", nil
}

func refRunner(w *workload) runner {
	switch w.Kind {
	case "parse":
		return &stdParser{}
	case "parse-http":
		return &stdParser{http: true}
	case "write":
		return &stdWriter{}
	}
	return &stdWriter{http: true}
}
