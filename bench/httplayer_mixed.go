package main

import (
	"bytes"
	"io"

	"github.com/mixedcodec/mixed"
)

// The root package's httpmsg layer (MessageReader, MessageWriter) for the
// "HTTP heads" workloads. Deleting this file leaves the suite measuring
// mixed on the multipart layer only.
func init() {
	mixedHTTP = func(kind string) runner {
		switch kind {
		case "parse-http":
			return &mixedHTTPParser{}
		case "write-http":
			return &mixedHTTPWriter{}
		}
		return nil
	}
}

type mixedHTTPParser struct {
	src bytes.Reader
	mr  *mixed.Reader
	msg mixed.MessageReader
}

func (p *mixedHTTPParser) run(w *workload, s *sink) error {
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
		p.msg.Reset(part)
		resp, err := p.msg.ReadResponse("")
		if err != nil {
			return err
		}
		s.status(resp.StatusCode)
		for name, value := range resp.Header.All() {
			s.fieldB(name, value)
		}
		for {
			c, err := resp.Body.ReadChunk()
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

type mixedHTTPWriter struct {
	out bytes.Buffer
	mw  *mixed.Writer
	msg mixed.MessageWriter
	h   mixed.Header // part header
	rh  mixed.Header // embedded request header
}

func (wr *mixedHTTPWriter) run(w *workload, s *sink) error {
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
		// net/http takes the Host field from the URL; here it is a field
		// like the others.
		wr.rh.Reset()
		wr.rh.Add("Host", callHost)
		for _, f := range c.Header {
			wr.rh.Add(f[0], f[1])
		}
		if err := wr.msg.WriteRequest(pw, c.Method, c.Path, &wr.rh, c.Body); err != nil {
			return err
		}
	}
	if err := wr.mw.Close(); err != nil {
		return err
	}
	return finishWrite(wr.out.Bytes(), true, s)
}
