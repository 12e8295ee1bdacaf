package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/mixedcodec/mixed"
)

// decodeOpts are the message options of decode: it is a decoder, not a
// server, so it reports every target form as written.
var decodeOpts = mixed.MessageOptions{AllowAbsoluteTargets: true, AllowRelativeTargets: true}

func decodeCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	boundary := fs.String("boundary", "", "the multipart boundary of a bare body")
	contentType := fs.String("content-type", "", "the Content-Type of a bare body, naming its boundary")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: mixed decode [-boundary B | -content-type VALUE] [FILE]

Reads a batch from FILE, or standard input when FILE is absent or "-", and
prints one JSON object per line for each top-level part, as soon as it is
read: {"index", "headers", "body" or "body_base64", and "http" for an
application/http part, "parts" for a nested multipart part, "error" when a
part's content does not parse}.

The input is a bare multipart body, or a whole HTTP request or response
whose Content-Type names the boundary. Without -boundary or -content-type,
the boundary is taken from the first line when the input starts with "--";
otherwise the input is read as a whole HTTP message.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 || *boundary != "" && *contentType != "" {
		fs.Usage()
		return 2
	}
	in, err := openInput(fs.Arg(0), stdin)
	if err != nil {
		fmt.Fprintf(stderr, "mixed: %v\n", err)
		return 1
	}
	defer in.Close()

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	failed, err := decode(bufio.NewReaderSize(in, 64<<10), *boundary, *contentType, func(p *partJSON) error {
		if err := enc.Encode(p); err != nil {
			return err
		}
		return out.Flush() // each part as soon as it is read
	})
	if err != nil {
		out.Flush()
		fmt.Fprintf(stderr, "mixed: %v\n", err)
		return 1
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "mixed: %d part(s) did not parse; see their \"error\"\n", failed)
		return 1
	}
	return 0
}

// decode reads the batch in in and calls emit for each top-level part. It
// returns how many parts carry an "error", and the error that stopped it.
func decode(in *bufio.Reader, boundary, contentType string, emit func(*partJSON) error) (int, error) {
	var body io.Reader = in
	switch {
	case boundary != "":
	case contentType != "":
		b, err := mixed.ParseBoundary(contentType)
		if err != nil {
			return 0, err
		}
		boundary = b
	default:
		first, _ := in.Peek(2)
		if string(first) == "--" {
			b, err := firstLineBoundary(in)
			if err != nil {
				return 0, err
			}
			boundary = b
			break
		}
		b, msgBody, err := envelope(in)
		if err != nil {
			return 0, err
		}
		boundary, body = b, msgBody
	}
	r := mixed.NewReader(body, boundary)
	failed := 0
	var raw bytes.Buffer
	for i := 0; ; i++ {
		p, err := r.NextPart()
		if err == io.EOF {
			return failed, nil
		}
		if err != nil {
			return failed, err
		}
		// The command holds one part at a time, to choose between "body"
		// and "body_base64"; the library underneath holds none.
		raw.Reset()
		if _, err := raw.ReadFrom(p); err != nil {
			return failed, fmt.Errorf("part %d: %w", i, err)
		}
		pj := describe(i, &p.Header, raw.Bytes(), 1)
		failed += countErrors(&pj)
		if err := emit(&pj); err != nil {
			return failed, err
		}
	}
}

func countErrors(p *partJSON) int {
	if p.Error != "" {
		return 1
	}
	n := 0
	for i := range p.Parts {
		n += countErrors(&p.Parts[i])
	}
	return n
}

// firstLineBoundary takes the boundary from the first line of a bare body,
// "--" boundary with optional padding, or the close delimiter of an empty
// body.
func firstLineBoundary(in *bufio.Reader) (string, error) {
	peek, _ := in.Peek(4 + 70 + 8<<10)
	line := peek
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, "\r \t")
	// A first line ending in "--" is the close delimiter of an empty body.
	b := bytes.TrimSuffix(line[2:], []byte("--"))
	if len(b) == 0 || len(b) > 70 {
		return "", fmt.Errorf("the first line %q is not a boundary delimiter", line)
	}
	return string(b), nil
}

// envelope reads the head of a whole HTTP request or response and returns
// the boundary its Content-Type names and its body, framed by its
// Content-Length or chunked coding.
func envelope(in *bufio.Reader) (string, io.Reader, error) {
	mr := mixed.NewMessageReaderOptions(in, decodeOpts)
	var h *mixed.Header
	var body io.Reader
	if start, _ := in.Peek(5); string(start) == "HTTP/" {
		m, err := mr.ReadResponse("")
		if err != nil {
			return "", nil, fmt.Errorf("reading the HTTP response: %w", err)
		}
		h, body = &m.Header, m.Body
	} else {
		m, err := mr.ReadRequest()
		if err != nil {
			return "", nil, fmt.Errorf("reading the HTTP request (or give -boundary): %w", err)
		}
		h, body = &m.Header, m.Body
	}
	ct := h.Get("Content-Type")
	if ct == nil {
		return "", nil, errors.New("the HTTP message has no Content-Type naming a boundary")
	}
	b, err := mixed.ParseBoundary(string(ct))
	if err != nil {
		return "", nil, fmt.Errorf("the HTTP message's Content-Type: %w", err)
	}
	return b, body, nil
}

// describe builds the JSON object of a part whose raw body is body.
func describe(index int, h *mixed.Header, body []byte, depth int) partJSON {
	p := partJSON{Index: index, Headers: headerPairs(h)}
	setBody(&p.Body, &p.BodyB64, body)
	mt, boundary := mediaType(h.Get("Content-Type"))
	switch {
	case mt == "application/http":
		p.HTTP, p.Error = describeHTTP(body)
	case len(mt) > 10 && mt[:10] == "multipart/" && boundary != "":
		if depth > mixed.DefaultMaxDepth {
			p.Error = "multipart nesting deeper than " + strconv.Itoa(mixed.DefaultMaxDepth)
			break
		}
		r := mixed.NewReader(bytes.NewReader(body), boundary)
		var raw bytes.Buffer
		for i := 0; ; i++ {
			np, err := r.NextPart()
			if err == io.EOF {
				break
			}
			if err == nil {
				raw.Reset()
				_, err = raw.ReadFrom(np)
			}
			if err != nil {
				p.Error = err.Error()
				break
			}
			p.Parts = append(p.Parts, describe(i, &np.Header, bytes.Clone(raw.Bytes()), depth+1))
		}
	}
	return p
}

// describeHTTP parses an embedded message: a response when it starts with
// "HTTP/" (after blank lines), else a request. It returns what it read and
// the error that stopped it.
func describeHTTP(body []byte) (*httpJSON, string) {
	mr := mixed.NewMessageReaderOptions(bytes.NewReader(body), decodeOpts)
	var j httpJSON
	var b io.Reader
	if bytes.HasPrefix(bytes.TrimLeft(body, "\r\n"), []byte("HTTP/")) {
		m, err := mr.ReadResponse("")
		if err != nil {
			return nil, err.Error()
		}
		reason := string(m.Reason)
		j = httpJSON{Proto: proto(m.ProtoMajor, m.ProtoMinor), Status: m.StatusCode, Reason: &reason, Headers: headerPairs(&m.Header)}
		b = m.Body
	} else {
		m, err := mr.ReadRequest()
		if err != nil {
			return nil, err.Error()
		}
		j = httpJSON{Method: string(m.Method), Target: string(m.Target), Proto: proto(m.ProtoMajor, m.ProtoMinor), Headers: headerPairs(&m.Header)}
		b = m.Body
	}
	data, err := io.ReadAll(b)
	setBody(&j.Body, &j.BodyB64, data)
	if err != nil {
		return &j, err.Error()
	}
	return &j, ""
}

func proto(major, minor int) string {
	return "HTTP/" + strconv.Itoa(major) + "." + strconv.Itoa(minor)
}

func headerPairs(h *mixed.Header) [][2]string {
	out := make([][2]string, 0, h.Len())
	for n, v := range h.All() {
		out = append(out, [2]string{string(n), string(v)})
	}
	return out
}

// mediaType returns the lower-case media type of a Content-Type value and,
// for multipart types, its boundary.
func mediaType(ct []byte) (string, string) {
	mt := ct
	if i := bytes.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	s := string(bytes.ToLower(bytes.TrimSpace(mt)))
	if len(s) > 10 && s[:10] == "multipart/" {
		if b, err := mixed.ParseBoundary(string(ct)); err == nil {
			return s, b
		}
	}
	return s, ""
}
