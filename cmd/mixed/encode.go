package main

import (
	"bufio"
	"bytes"
	"encoding/json"
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

const encodeHelp = `usage: mixed encode [-boundary B] [-envelope "METHOD URL"] [-host HOST] [FILE]

Reads the JSON lines that "mixed decode" prints, from FILE or standard
input, and writes the multipart body they describe: each part's headers,
then its "body" (or "body_base64"), or, without one, its "http" message or
its nested "parts". A part with "http" gets "Content-Type: application/http"
when its headers have no Content-Type. A key encode does not know is an
error naming the line and the key, and so is an input without any line.
Nothing is written unless every line is valid, so a partial output is
never mistaken for a complete batch.

A first line of kind "envelope" (as decode prints it) gives the boundary
and, with "http", the head of a whole HTTP message to write around the
body: its start line and fields as they are, but Content-Length set to the
body's length, and the Content-Type's boundary replaced when -boundary
changes it (a message without Content-Length or Transfer-Encoding gets a
Content-Length if it is a request, and none if it is a response, whose
body ends with the output). So decode | encode gives back the message
decode read.

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

	var body bytes.Buffer
	w := mixed.NewWriter(&body)
	env, err := encode(bufio.NewReaderSize(in, 64<<10), w, *boundary)
	if err != nil {
		return fail(stderr, err)
	}
	head := req
	if head == nil && env != nil {
		head = env.HTTP
	}
	var out bytes.Buffer
	if head != nil {
		if err := writeEnvelope(&out, head, w, body.Bytes()); err != nil {
			return fail(stderr, fmt.Errorf("the envelope: %w", err))
		}
	} else {
		out = body
	}
	if _, err := stdout.Write(out.Bytes()); err != nil {
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

// encode writes a part for each JSON line of in, then closes w. It returns
// the envelope line, if the input starts with one. The boundary is
// boundary, else the envelope's, else w's own.
func encode(in *bufio.Reader, w *mixed.Writer, boundary string) (*envelopeJSON, error) {
	var env *envelopeJSON
	seen := false
	for line := 1; ; line++ {
		b, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			e, p, lerr := readLine(b)
			switch {
			case lerr != nil:
				return nil, fmt.Errorf("line %d: %w", line, lerr)
			case e != nil && seen:
				return nil, fmt.Errorf("line %d: an envelope line must be the first line", line)
			case e != nil:
				env = e
				if boundary == "" {
					boundary = e.Boundary
				}
			}
			if !seen && boundary != "" {
				if err := w.SetBoundary(boundary); err != nil {
					return nil, fmt.Errorf("line %d: %w", line, err)
				}
			}
			seen = true
			if p != nil {
				if perr := writePart(w, p); perr != nil {
					return nil, fmt.Errorf("line %d: %w", line, perr)
				}
			}
		}
		if err == io.EOF {
			if !seen {
				return nil, errors.New("the input is empty: want JSON lines as \"mixed decode\" prints them")
			}
			return env, w.Close()
		}
		if err != nil {
			return nil, err
		}
	}
}

// readLine decodes one line: an envelope or a part. A key that neither
// knows is an error.
func readLine(b []byte) (*envelopeJSON, *partJSON, error) {
	var probe struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, nil, err
	}
	switch probe.Kind {
	case "envelope":
		var e envelopeJSON
		if err := strictUnmarshal(b, &e); err != nil {
			return nil, nil, err
		}
		if e.Boundary == "" {
			return nil, nil, errors.New(`the envelope has no "boundary"`)
		}
		if e.HTTP != nil && (e.HTTP.Body != nil || e.HTTP.BodyB64 != nil) {
			return nil, nil, errors.New(`the envelope's "http" has no body: the parts are its body`)
		}
		return &e, nil, nil
	case "", "part":
		var p partJSON
		if err := strictUnmarshal(b, &p); err != nil {
			return nil, nil, err
		}
		return nil, &p, nil
	}
	return nil, nil, fmt.Errorf(`unknown kind %q: want "envelope" or "part"`, probe.Kind)
}

// strictUnmarshal decodes the JSON value b into v, refusing unknown keys.
// (readLine has checked that b is one JSON value.)
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if k, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fmt.Errorf("unknown key %s", k)
		}
		return err
	}
	return nil
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
		if strings.EqualFold(f[0], name) {
			return true
		}
	}
	return false
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
		mw := mixed.NewMessageWriter(decodeOpts)
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
		b, err := mixed.ParseBoundary(string(h.Get("Content-Type")))
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

// writeEnvelope writes the whole message whose head is e and whose body
// is the multipart body of w, body. The start line and fields are written
// as given, but for the framing: Content-Length is set to len(body), a
// chunked body is written as one chunk, and a Content-Type that does not
// name w's boundary is replaced by w's. A request without framing fields
// gets a Content-Length; a response without them ends with the output.
func writeEnvelope(out *bytes.Buffer, e *httpJSON, w *mixed.Writer, body []byte) error {
	proto := e.Proto
	if proto == "" {
		proto = "HTTP/1.1"
	}
	protos := envelopeProtos
	if e.Method != "" {
		protos = protos[:2] // a request line is HTTP/1.x
	}
	if !slices.Contains(protos, proto) {
		return fmt.Errorf("proto %q: want one of %s", proto, strings.Join(protos, ", "))
	}
	// Check the start line and fields as the MessageWriter would write
	// them, framing fields aside.
	var check mixed.Header
	fields := make([][2]string, 0, len(e.Headers)+2)
	hasCT, hasCL, chunked := false, false, false
	for _, f := range e.Headers {
		switch {
		case strings.EqualFold(f[0], "Content-Length"):
			if hasCL {
				continue // one is enough, and it is right
			}
			hasCL = true
			f[1] = strconv.Itoa(len(body))
		case strings.EqualFold(f[0], "Transfer-Encoding"):
			if !strings.EqualFold(strings.TrimSpace(f[1]), "chunked") || chunked {
				return fmt.Errorf("Transfer-Encoding %q: want one \"chunked\"", f[1])
			}
			chunked = true
		case strings.EqualFold(f[0], "Content-Type"):
			if hasCT {
				return errors.New("two Content-Type fields")
			}
			hasCT = true
			if b, err := mixed.ParseBoundary(f[1]); err != nil || b != w.Boundary() {
				f[1] = w.ContentType()
			}
			check.Add(f[0], f[1])
		default:
			check.Add(f[0], f[1])
		}
		fields = append(fields, f)
	}
	if hasCL && chunked {
		return errors.New("both Content-Length and Transfer-Encoding")
	}
	if chunked && proto == "HTTP/1.0" {
		return errors.New("Transfer-Encoding in an HTTP/1.0 message")
	}
	if !hasCT {
		fields = append(fields, [2]string{"Content-Type", w.ContentType()})
	}
	mw := mixed.NewMessageWriter(decodeOpts)
	var start string
	if e.Method != "" {
		if err := mw.WriteRequest(io.Discard, e.Method, e.Target, &check, nil); err != nil {
			return err
		}
		start = e.Method + " " + e.Target + " " + proto
		if !hasCL && !chunked {
			fields = append(fields, [2]string{"Content-Length", strconv.Itoa(len(body))})
		}
	} else {
		if e.Status < 200 || e.Status == 204 || e.Status == 304 {
			return fmt.Errorf("status %d: want a status whose response has a body", e.Status)
		}
		reason := ""
		if e.Reason == nil {
			reason = http.StatusText(e.Status)
		} else {
			reason = *e.Reason
		}
		if err := mw.WriteResponse(io.Discard, e.Status, reason, &check, nil); err != nil {
			return err
		}
		start = proto + " " + strconv.Itoa(e.Status)
		if reason != "" {
			start += " " + reason
		}
	}
	out.WriteString(start)
	out.WriteString("\r\n")
	for _, f := range fields {
		out.WriteString(f[0])
		out.WriteString(": ")
		out.WriteString(f[1])
		out.WriteString("\r\n")
	}
	out.WriteString("\r\n")
	if chunked {
		out.WriteString(strconv.FormatInt(int64(len(body)), 16))
		out.WriteString("\r\n")
		out.Write(body)
		out.WriteString("\r\n0\r\n\r\n")
	} else {
		out.Write(body)
	}
	return nil
}
