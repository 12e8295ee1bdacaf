package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mixedcodec/mixed"
)

const encodeHelp = `usage: mixed encode [-boundary B | -format F] [-envelope "METHOD URL"] [-host HOST] [FILE]

Reads the JSON lines that "mixed decode" prints, from FILE or standard
input, and writes the multipart body they describe: each part's headers,
then its "body" (or "body_base64"), or, without one, its "http" message or
its nested "parts". A part with "http" gets "Content-Type: application/http"
when its headers have no Content-Type. A key encode does not know is an
error naming the line and the key, and so is an input without any line.
A body may be given as "body" followed by "body_base64" (the rest of a
body that is not all UTF-8, as decode prints a long one).

encode streams: it writes a part's "body", "body_base64" or "http" body
into the part as it reads the string, in memory bounded whatever its
size, when the line's keys come in decode's order ("headers" before the
body; in "http", the head before the body, and a Content-Length among
its "headers", which the body must match). A body given before what it
needs is held until the line ends. Nested "parts" are read whole (up to
16 MiB a value). Every part is checked for its own delimiter as it is
written.

The first MiB of output is held: an input that fails before then writes
nothing. A longer batch streams out, and one that fails later stops
before its close delimiter (and, chunked, its last chunk), so a partial
output never reads as a complete batch. A whole message whose head needs
the body's Content-Length first spools the body to a temporary file.

A first line of kind "envelope" (as decode prints it) gives the boundary
and, with "http", the head of a whole HTTP message to write around the
body: its start line and fields as they are, but Content-Length set to the
body's length, and the Content-Type's boundary replaced when -boundary
changes it (a message without Content-Length or Transfer-Encoding gets a
Content-Length if it is a request, and none if it is a response, whose
body ends with the output). So decode | encode gives back the message
decode read.

Lines with the same "atomicity_group", one after the other, are written
as one changeset: a multipart/mixed part whose Content-ID is the group's
name, holding their parts. "depends_on" has no place in multipart and is
dropped.

-format odata-json or -format graph-json writes a JSON batch instead of
multipart/mixed: {"requests": [...]} or {"responses": [...]}, one object
a line, each from the application/http part a line describes: "id" from
its Content-ID (angle brackets dropped; its position from 1 without
one), "method" and "url" (the target, as it is) or "status",
"atomicityGroup" and "dependsOn" from the line's "atomicity_group" and
"depends_on", and each part of a changeset (a "parts" line) in the
atomicity group named by the changeset's Content-ID (or "changesetN").
"headers" is the message's fields in order, a repeated name's values
joined by ", ", without Content-Length and Transfer-Encoding; OData
responses' names in lower case, as OData 4.01 writes them. "body" is a
JSON body as JSON (compacted; a JSON type that is not valid JSON is an
error); in OData, a text/* body as a string (UTF-8 only) and any other
in base64url; in Graph, any non-JSON body in base64. A part that is not
application/http, requests and responses mixed, or (Graph) an atomicity
group are errors: Graph's batching has no groups. Each line is held
whole, up to 64 MiB, and written before the next is read. An envelope
head gets Content-Type: application/json.

-envelope writes a new HTTP/1.1 request around the body instead, with
Host, Content-Type and Content-Length, and no other field: the request
line's target is a URL ("POST http://host/batch/farm/v1") whose host
goes into Host, or a path with -host giving the Host. A request without
Host is refused by HTTP/1.1 servers ("mixed serve" among them), so one
of the two is required.

Flags:
`

func encodeCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("encode", flag.ContinueOnError)
	boundary := fs.String("boundary", "", "the boundary to write (default: the envelope line's, else random)")
	envelope := fs.String("envelope", "", `write a whole HTTP request with this request line, e.g. "POST http://host/batch/farm/v1"`)
	host := fs.String("host", "", "the Host of the -envelope request, when its target is a path")
	formatName := fs.String("format", "multipart", "the batch format to write: multipart, odata-json or graph-json")
	if code := parseFlags(fs, encodeHelp, args, stdout, stderr); code >= 0 {
		return code
	}
	if fs.NArg() > 1 {
		return usageErr(stderr, "mixed encode", fmt.Sprintf("%d files given, want at most one", fs.NArg()))
	}
	var req *httpJSON
	if *envelope != "" {
		var err error
		if req, err = parseEnvelopeFlag(*envelope, *host); err != nil {
			return usageErr(stderr, "mixed encode", err.Error())
		}
	} else if *host != "" {
		return usageErr(stderr, "mixed encode", "-host needs -envelope")
	}
	format, err := parseFormat(*formatName)
	if err != nil {
		return usageErr(stderr, "mixed encode", err.Error())
	}
	if *boundary != "" && format != formatMultipart {
		return usageErr(stderr, "mixed encode", "-boundary is for -format multipart")
	}
	if *boundary != "" {
		if err := mixed.NewWriter(io.Discard).SetBoundary(*boundary); err != nil {
			return usageErr(stderr, "mixed encode", "-boundary: "+errText(err))
		}
	}
	in, err := openInput(fs.Arg(0), stdin)
	if err != nil {
		return fail(stderr, err)
	}
	defer in.Close()

	out := &output{dst: stdout, limit: holdOutput}
	lines := newLineScanner(bufio.NewReaderSize(in, 64<<10))
	if format == formatMultipart {
		err = encode(lines, mixed.NewWriter(out), *boundary, out, req)
	} else {
		err = encodeJSON(lines, format, out, req)
	}
	if err == nil {
		err = out.finish()
	}
	if err != nil {
		out.abort()
		return fail(stderr, err)
	}
	return 0
}

// parseEnvelopeFlag reads -envelope "METHOD URL" or "METHOD PATH" with
// -host, into the head of a request with Host, Content-Type and
// Content-Length.
func parseEnvelopeFlag(envelope, host string) (*httpJSON, error) {
	f := strings.Fields(envelope)
	if len(f) < 2 || len(f) > 3 || len(f) == 3 && f[2] != "HTTP/1.1" {
		return nil, fmt.Errorf("-envelope %q: want \"METHOD URL\", such as \"POST http://host/batch\"", envelope)
	}
	method, target := f[0], f[1]
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		u, err := url.Parse(target)
		if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
			return nil, fmt.Errorf("-envelope %q: %q is not a URL with a host (and no user or fragment)", envelope, target)
		}
		if host != "" && host != u.Host {
			return nil, fmt.Errorf("-host %q differs from the host of -envelope's URL %q", host, u.Host)
		}
		host, target = u.Host, u.RequestURI()
	} else if !strings.HasPrefix(target, "/") {
		return nil, fmt.Errorf("-envelope %q: the target %q is neither a URL nor a path", envelope, target)
	}
	if host == "" {
		return nil, fmt.Errorf("-envelope %q has no host: give a URL (%s http://host%s) or -host", envelope, method, target)
	}
	return &httpJSON{Method: method, Target: target, Proto: "HTTP/1.1", Headers: [][2]string{
		{"Host", host}, {"Content-Type", ""}, {"Content-Length", ""},
	}}, nil
}

// encode writes a part for each JSON line that s reads, then closes w.
// The boundary is boundary, else the envelope line's, else w's own. The
// head written around the body is req, else the envelope line's "http",
// else none: it is given to out once the first line is read.
func encode(s *lineScanner, w *mixed.Writer, boundary string, out *output, req *httpJSON) error {
	if boundary != "" {
		if err := w.SetBoundary(boundary); err != nil {
			return err
		}
	}
	setHead := func(e *httpJSON) {
		if e != nil {
			out.prepare = func() (*envelopeHead, error) { return prepareEnvelope(e, w.ContentType(), w.Boundary()) }
		}
	}
	setHead(req)
	g := &groupWriter{w: w}
	for n := 1; ; n++ {
		more, err := s.nextLine()
		if err != nil {
			return err
		}
		if !more {
			if n == 1 {
				return errors.New("the input is empty: want JSON lines as \"mixed decode\" prints them")
			}
			if err := g.end(); err != nil {
				return err
			}
			return w.Close()
		}
		e, _, err := readLine(s, g.target)
		switch {
		case err != nil:
			return fmt.Errorf("line %d: %w", s.line, err)
		case e != nil && n > 1:
			return fmt.Errorf("line %d: an envelope line must be the first line", s.line)
		case e != nil:
			if boundary == "" && e.Boundary != "" {
				if err := w.SetBoundary(e.Boundary); err != nil {
					return fmt.Errorf("line %d: %w", s.line, err)
				}
			}
			if req == nil {
				setHead(e.HTTP)
			}
		}
		if n == 1 && out.prepare != nil {
			if out.head, err = out.prepare(); err != nil {
				return fmt.Errorf("the envelope: %w", err)
			}
		}
	}
}

// writePart writes p as a part of w.
func writePart(w *mixed.Writer, p *partJSON) error {
	if p.Kind != "" && p.Kind != "part" {
		return fmt.Errorf(`a nested part of kind %q: want "part" or none`, p.Kind)
	}
	var h mixed.Header
	if p.HTTP != nil && !hasField(p.Headers, "Content-Type") {
		h.Add("Content-Type", "application/http")
	}
	for _, f := range p.Headers {
		h.Add(f[0], f[1])
	}
	body, ok, err := getBody(p.Body, p.BodyB64)
	if err != nil {
		return err
	}
	if !ok {
		body, err = partContent(&h, p)
		if err != nil {
			return err
		}
	}
	pw, err := w.CreatePart(&h)
	if err != nil {
		return err
	}
	_, err = pw.Write(body)
	return err
}

func hasField(fields [][2]string, name string) bool {
	for _, f := range fields {
		if equalFoldASCII(f[0], name) {
			return true
		}
	}
	return false
}

// equalFoldASCII reports whether a and b are equal in ASCII case folding,
// as header names are compared: strings.EqualFold folds Unicode too, and
// would take "Tran\u017ffer-Encoding" (a long s) for Transfer-Encoding.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// partContent builds the raw body of a part given by its "http" or "parts".
func partContent(h *mixed.Header, p *partJSON) ([]byte, error) {
	var buf bytes.Buffer
	switch {
	case p.HTTP != nil:
		m := p.HTTP
		var mh mixed.Header
		for _, f := range m.Headers {
			mh.Add(f[0], f[1])
		}
		body, _, err := getBody(m.Body, m.BodyB64)
		if err != nil {
			return nil, fmt.Errorf("http: %w", err)
		}
		mw := mixed.NewMessageWriterOptions(decodeOpts)
		if m.Method != "" {
			err = mw.WriteRequest(&buf, m.Method, m.Target, &mh, body)
		} else {
			reason := ""
			if m.Reason != nil {
				reason = *m.Reason
			}
			err = mw.WriteResponse(&buf, m.Status, reason, &mh, body)
		}
		if err != nil {
			return nil, fmt.Errorf("http: %w", err)
		}
	case p.Parts != nil:
		b, err := mixed.ParseBoundary(h.Get("Content-Type"))
		if err != nil {
			return nil, fmt.Errorf(`"parts" needs a multipart Content-Type header naming the boundary: %w`, err)
		}
		nw := mixed.NewWriter(&buf)
		if err := nw.SetBoundary(b); err != nil {
			return nil, err
		}
		for i := range p.Parts {
			if err := writePart(nw, &p.Parts[i]); err != nil {
				return nil, fmt.Errorf("parts[%s]: %w", strconv.Itoa(i), err)
			}
		}
		if err := nw.Close(); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New(`a part needs "body", "body_base64", "http" or "parts"`)
	}
	return buf.Bytes(), nil
}

// envelopeProtos are the versions an envelope's start line may carry:
// what decode reads (the first two only in a request line).
var envelopeProtos = []string{"HTTP/1.1", "HTTP/1.0", "HTTP/2", "HTTP/2.0", "HTTP/3", "HTTP/3.0"}

// An envelopeHead is the head of the whole message written around the
// multipart body, and how that body is framed.
type envelopeHead struct {
	start  string
	fields [][2]string
	cl     int // the index of Content-Length in fields, or -1
	frame  int
}

// Framings of the whole message's body.
const (
	frameLength = iota // Content-Length: the body's length is needed first
	frameChunked
	frameToEnd // a response without framing fields: to the end of the output
)

// prepareEnvelope checks the head e of the whole message written around
// the body, whose Content-Type is ct: a multipart one naming boundary, or
// (boundary "") a JSON batch's. The start line and fields are written as
// given, but for the framing: Content-Length is set to the body's length,
// a chunked body is written in chunks, and a Content-Type that does not
// name the boundary (or, for JSON, is not JSON) is replaced by ct. A
// request without framing fields gets a Content-Length; a response
// without them ends with the output.
func prepareEnvelope(e *httpJSON, ct, boundary string) (*envelopeHead, error) {
	proto := e.Proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	protos := envelopeProtos
	if e.Method != "" {
		protos = protos[:2] // a request line is HTTP/1.x
	}
	if !slices.Contains(protos, proto) {
		return nil, fmt.Errorf("proto %q: want one of %s", proto, strings.Join(protos, ", "))
	}
	// Check the start line and fields as the MessageWriter would write
	// them, framing fields aside.
	var check mixed.Header
	h := &envelopeHead{cl: -1, frame: frameToEnd}
	hasCT, chunked := false, false
	for _, f := range e.Headers {
		switch {
		case equalFoldASCII(f[0], "Content-Length"):
			if h.cl >= 0 {
				continue // one is enough, and it is right
			}
			h.cl = len(h.fields)
		case equalFoldASCII(f[0], "Transfer-Encoding"):
			// Only SP and HTAB around it: a CR or LF would end the
			// field, or the head, where it is written.
			if !equalFoldASCII(strings.Trim(f[1], " \t"), "chunked") || chunked {
				return nil, fmt.Errorf("Transfer-Encoding %q: want one \"chunked\"", f[1])
			}
			chunked = true
		case equalFoldASCII(f[0], "Content-Type"):
			if hasCT {
				return nil, errors.New("two Content-Type fields")
			}
			hasCT = true
			if boundary == "" {
				if mt, _ := mediaType([]byte(f[1])); !isJSONType(mt) {
					f[1] = ct
				}
			} else if b, err := mixed.ParseBoundary(f[1]); err != nil || b != boundary {
				f[1] = ct
			}
			check.Add(f[0], f[1])
		default:
			check.Add(f[0], f[1])
		}
		h.fields = append(h.fields, f)
	}
	if h.cl >= 0 && chunked {
		return nil, errors.New("both Content-Length and Transfer-Encoding")
	}
	if chunked && proto == "HTTP/1.0" {
		return nil, errors.New("Transfer-Encoding in an HTTP/1.0 message")
	}
	if !hasCT {
		h.fields = append(h.fields, [2]string{"Content-Type", ct})
	}
	mw := mixed.NewMessageWriterOptions(decodeOpts)
	if e.Method != "" {
		if err := mw.WriteRequest(io.Discard, e.Method, e.Target, &check, nil); err != nil {
			return nil, err
		}
		h.start = e.Method + " " + e.Target + " " + proto
		if h.cl < 0 && !chunked {
			h.cl = len(h.fields)
			h.fields = append(h.fields, [2]string{"Content-Length", ""})
		}
	} else {
		if e.Status < 200 || e.Status == 204 || e.Status == 304 {
			return nil, fmt.Errorf("status %d: want a status whose response has a body", e.Status)
		}
		reason := ""
		if e.Reason == nil {
			reason = http.StatusText(e.Status)
		} else {
			reason = *e.Reason
		}
		if err := mw.WriteResponse(io.Discard, e.Status, reason, &check, nil); err != nil {
			return nil, err
		}
		h.start = proto + " " + strconv.Itoa(e.Status)
		if reason != "" {
			h.start += " " + reason
		}
	}
	switch {
	case chunked:
		h.frame = frameChunked
	case h.cl >= 0:
		h.frame = frameLength
	}
	return h, nil
}

// write writes the head, with Content-Length n when it has one.
func (h *envelopeHead) write(w io.Writer, n int64) error {
	var b bytes.Buffer
	b.WriteString(h.start)
	b.WriteString("\r\n")
	for i, f := range h.fields {
		b.WriteString(f[0])
		b.WriteString(": ")
		if i == h.cl {
			b.WriteString(strconv.FormatInt(n, 10))
		} else {
			b.WriteString(f[1])
		}
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	_, err := w.Write(b.Bytes())
	return err
}
