package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mixedcodec/mixed"
)

// decodeOpts are the message options of decode: it is a decoder, not a
// server, so it reports every target form as written.
var decodeOpts = mixed.MessageOptions{AllowAbsoluteTargets: true, AllowRelativeTargets: true}

const decodeHelp = `usage: mixed decode [-boundary B | -content-type VALUE] [-dechunked] [-format F] [FILE]

Reads a batch from FILE, or standard input when FILE is absent or "-", and
prints one JSON object per line, each as soon as it is read:

  - first the envelope: {"kind": "envelope", "boundary", and "http" (the
    head of a whole HTTP message: "method", "target" or "status",
    "reason"; "proto" and "headers") when the input is one};
  - then each top-level part: {"index", "headers", "body" or
    "body_base64", and "http" for an application/http part, "parts" for a
    nested multipart part, "error" when a part's content does not parse}.

A part is printed as soon as its end is read, and in memory bounded
whatever its size: decode holds the first 64 KiB of a part, no more.

  - A part that ends within 64 KiB is printed whole: "body" when its
    content is valid UTF-8, else "body_base64"; and "http" or "parts" as
    read from that content.
  - A longer part is printed as it is read, its body escaped and written
    in pieces. Its body is text ("body") when its Content-Type is textual
    (text/*, application/json, application/xml, application/javascript,
    application/x-www-form-urlencoded, or a +json or +xml type) and its
    first 64 KiB are valid UTF-8; else it is "body_base64". Text that
    turns out not to be UTF-8 further on ends its "body" before the first
    invalid byte, and "body_base64" follows with the rest: the body is
    "body" then "body_base64", which encode reads back as one.
  - A longer application/http part whose head encode writes back as it
    is ("METHOD target HTTP/1.1" or "HTTP/1.1 code reason", "Name: value"
    fields with CRLF, one Content-Length) is printed as "http" alone, its
    body streamed by the same rule (its own Content-Type), with no raw
    "body". Any other longer part, a multipart one among them, is printed
    as its raw "body" or "body_base64", without "http" or "parts".

"mixed encode" reads these lines back: decode | encode gives the input
again, byte for byte, for a message with CRLF line ends, "Name: value"
header lines whose values are UTF-8 (a byte that is not, which HTTP
allows, is printed as U+FFFD: a JSON string is UTF-8), and no preamble
or epilogue (which decode skips); for a
streamed application/http part, blank lines after its Content-Length
body are dropped (the embedded message ends at its length).

The input is a bare multipart body, or a whole HTTP request or response
whose Content-Type names the boundary. Without -boundary or -content-type,
the boundary is taken from the first line when the input starts with "--";
otherwise the input is read as a whole HTTP message, framed by its own
head: its Content-Length, its chunked coding, or (a response only) the end
of the input. A message that ends early is an error.

A JSON batch is read too, found by itself: a body whose first byte
after white space is "{" (or any body, with -content-type
application/json), or a whole message whose Content-Type is JSON. Its
format is OData 4.01's JSON batch or Microsoft Graph's JSON batching,
which share a shape: {"requests": [...]}, each request an object with
"id", "method", "url", "headers", "body", "atomicityGroup" and
"dependsOn"; or {"responses": [...]}, with "status" for "method" and
"url". The envelope says {"format": "json"} and has an empty
"boundary". Each request or response is printed as the line of the
application/http part that would carry it in multipart:

  - "headers": Content-Type: application/http, and Content-ID: the "id";
  - "atomicity_group" and "depends_on": the request's "atomicityGroup"
    and "dependsOn", when it has them;
  - "http": the method and the url as the target (spaces and other bytes
    a request line cannot hold percent-encoded), or the status; the
    "headers" in order (but Content-Length and Transfer-Encoding, as the
    JSON batch frames the body), with Content-Type: application/json
    added to a body that has none; and the body as bytes: a JSON body as
    it is written, a string in OData of a text/* type as its text, any
    other string as base64 (either alphabet, padded or not). -format
    graph-json reads text/* bodies as base64 too, as Graph writes them.

A request object that is not one (no "method", an "id" that is not a
string or number, a body that is not base64, a method, header, "id" or
"atomicityGroup" that multipart cannot carry, such as a CR or LF in a
value) is printed with "error" and its JSON as "body", and decode goes
on. SP and HTAB around a header value are dropped, as HTTP drops them. A JSON batch is read one
request or response at a time, each held whole up to 64 MiB.

What "curl -i" and "curl -si" print is read as it is: the status line of
an HTTP/2 or HTTP/3 response ("HTTP/2 200"), interim 1xx responses before
the final one (skipped), and a body that curl has already de-chunked under
a "Transfer-Encoding: chunked" field. Such a body is recognized by its
first line, which is not a chunk size; -dechunked says so when the first
line is ambiguous. Each of these is noted on standard error.

Flags:
`

func decodeCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	var o decodeOptions
	fs.StringVar(&o.boundary, "boundary", "", "the multipart boundary of a bare body")
	fs.StringVar(&o.contentType, "content-type", "", "the Content-Type of a bare body, naming its boundary (or application/json: a JSON batch)")
	format := ""
	fs.StringVar(&format, "format", "", "how a JSON batch's string bodies are read: odata-json (text/* as text, the default) or graph-json (all base64)")
	fs.BoolVar(&o.dechunked, "dechunked", false, "the whole message's body was de-chunked already (curl -i), whatever its Transfer-Encoding says")
	if code := parseFlags(fs, decodeHelp, args, stdout, stderr); code >= 0 {
		return code
	}
	switch {
	case fs.NArg() > 1:
		return usageErr(stderr, "mixed decode", fmt.Sprintf("%d files given, want at most one", fs.NArg()))
	case o.boundary != "" && o.contentType != "":
		return usageErr(stderr, "mixed decode", "-boundary and -content-type cannot both be given")
	case o.dechunked && (o.boundary != "" || o.contentType != ""):
		return usageErr(stderr, "mixed decode", "-dechunked is for a whole HTTP message, not with -boundary or -content-type")
	}
	var err error
	if o.format, err = parseFormat(format); err != nil || o.format == formatMultipart && format != "" {
		return usageErr(stderr, "mixed decode", fmt.Sprintf("-format %q: want odata-json or graph-json", format))
	}
	if mt, _ := mediaType([]byte(o.contentType)); isJSONType(mt) {
		o.json = true
	} else if o.contentType != "" {
		b, err := mixed.ParseBoundary(o.contentType)
		if err != nil {
			return usageErr(stderr, "mixed decode", "-content-type: "+errText(err))
		}
		o.boundary = b
	}
	in, err := openInput(fs.Arg(0), stdin)
	if err != nil {
		return fail(stderr, err)
	}
	defer in.Close()

	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	o.note = func(s string) { fmt.Fprintf(stderr, "mixed: note: %s\n", s) }
	failed, err := decode(bufio.NewReaderSize(in, 64<<10), o, out)
	if err != nil {
		out.Flush()
		return fail(stderr, err)
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "mixed: %d part(s) did not parse; see their \"error\"\n", failed)
		return 1
	}
	return 0
}

// decodeOptions are decode's flags, and where it notes what it did.
type decodeOptions struct {
	boundary    string // of a bare body; "" to find it
	contentType string
	json        bool        // the bare body is a JSON batch (-content-type says so)
	format      batchFormat // how a JSON batch's string bodies are read
	dechunked   bool
	note        func(string)
}

// decode reads the batch in in and writes its JSON lines to out, the
// envelope first, flushing out at the end of each line. It returns how
// many parts carry an "error", and the error that stopped it.
func decode(in *bufio.Reader, o decodeOptions, out *bufio.Writer) (int, error) {
	if o.note == nil {
		o.note = func(string) {}
	}
	var body io.Reader = in
	env := &envelopeJSON{Kind: "envelope", Boundary: o.boundary}
	finish := func() error { return nil }
	if o.boundary == "" && (o.json || startsJSON(in)) {
		return decodeJSONLines(in, &envelopeJSON{Kind: "envelope", Format: "json"}, o, out, finish)
	}
	if o.boundary == "" {
		if first, _ := in.Peek(2); string(first) == "--" {
			b, err := firstLineBoundary(in)
			if err != nil {
				return 0, err
			}
			env.Boundary = b
		} else {
			m, err := readEnvelope(in, o)
			if err != nil {
				return 0, err
			}
			env, body, finish = m.json, m.body, m.finish
			if env.Format == "json" {
				return decodeJSONLines(body, env, o, out, finish)
			}
		}
	}
	lw := newJSONLineWriter(out)
	if err := lw.line(env); err != nil {
		return 0, err
	}
	r := mixed.NewReader(body, env.Boundary)
	failed := 0
	for i := 0; ; i++ {
		p, err := r.NextPart()
		if err == io.EOF {
			return failed, finish()
		}
		if err != nil {
			return failed, err
		}
		n, err := lw.part(i, p)
		failed += n
		if err != nil {
			return failed, fmt.Errorf("part %d: %w", i, err)
		}
	}
}

// decodeJSONLines prints the envelope env, then the lines of the JSON
// batch in body, then calls finish.
func decodeJSONLines(body io.Reader, env *envelopeJSON, o decodeOptions, out *bufio.Writer, finish func() error) (int, error) {
	lw := newJSONLineWriter(out)
	if err := lw.line(env); err != nil {
		return 0, err
	}
	failed, err := decodeJSON(body, o.format, lw)
	if err != nil {
		return failed, err
	}
	return failed, finish()
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

// peekLine returns the first line of what in holds, its line end included,
// without consuming it, as soon as it has arrived: it asks the source for
// no more than that. A line longer than limit is returned cut at limit;
// one cut by the end of the input is returned with the read error.
func peekLine(in *bufio.Reader, limit int) ([]byte, error) {
	n, seen := 1, 0
	for {
		b, err := in.Peek(n)
		if i := bytes.IndexByte(b[seen:], '\n'); i >= 0 {
			return b[:seen+i+1], nil
		}
		if len(b) >= limit {
			return b[:limit], nil
		}
		if err != nil {
			return b, err
		}
		seen = len(b)
		n = min(max(len(b)+1, in.Buffered()), limit)
	}
}

// firstLineBoundary takes the boundary from the first line of a bare body,
// "--" boundary with optional padding, or the close delimiter of an empty
// body. It reads no further than that line.
func firstLineBoundary(in *bufio.Reader) (string, error) {
	line, _ := peekLine(in, 4+70+mixed.DefaultMaxLineBytes)
	line = bytes.TrimRight(line, "\r\n \t")
	// A first line ending in "--" is the close delimiter of an empty body.
	b := bytes.TrimSuffix(line[2:], []byte("--"))
	if len(b) == 0 || len(b) > 70 {
		return "", fmt.Errorf("the first line %q is not a boundary delimiter", line)
	}
	return string(b), nil
}

// message is the envelope of a whole HTTP message: its JSON line, its
// body, and finish, which reads what follows the close delimiter to the
// message's end, so that a truncated message is an error.
type message struct {
	json   *envelopeJSON
	body   io.Reader
	finish func() error
}

// maxInterim bounds the interim (1xx) responses skipped before the final one.
const maxInterim = 8

// readEnvelope reads the head of a whole HTTP request or response and
// returns its envelope line and its body, framed by its own head:
// Content-Length, chunked coding, or for a response the end of the input.
// It reads what curl -i prints: HTTP/2 and HTTP/3 status lines, interim
// responses, and bodies de-chunked under Transfer-Encoding: chunked.
func readEnvelope(in *bufio.Reader, o decodeOptions) (*message, error) {
	var head []byte
	var proto string // the version as written, when rewritten for the reader
	isResp := false
	for interim := 0; ; interim++ {
		var err error
		if head, err = readHead(in); err != nil {
			return nil, err
		}
		line, _, _ := bytes.Cut(bytes.TrimLeft(head, "\r\n"), []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if !bytes.HasPrefix(line, []byte("HTTP/")) {
			break // a request
		}
		isResp = true
		ver, rest, _ := bytes.Cut(line, []byte(" "))
		switch string(ver) {
		case "HTTP/1.0", "HTTP/1.1":
		case "HTTP/2", "HTTP/2.0", "HTTP/3", "HTTP/3.0":
			proto = string(ver)
			i := bytes.Index(head, ver)
			head = append(append(append([]byte(nil), head[:i]...), "HTTP/1.1"...), head[i+len(ver):]...)
		default:
			return nil, fmt.Errorf("the status line %q has HTTP version %q; want HTTP/1.0, HTTP/1.1, HTTP/2 or HTTP/3", line, ver)
		}
		// 1xx but 101 (after which the connection is no longer HTTP).
		if len(rest) < 3 || rest[0] != '1' || string(rest[:3]) == "101" || interim == maxInterim {
			break
		}
		o.note(fmt.Sprintf("skipped the interim response %q", line))
	}
	if proto != "" {
		o.note(fmt.Sprintf("read the %s response as curl prints it", proto))
	}

	var body io.Reader = in
	if te := headerValue(head, "Transfer-Encoding"); te != nil && bytes.EqualFold(bytes.TrimSpace(te), []byte("chunked")) {
		first, err := peekLine(in, mixed.DefaultMaxStartLineBytes)
		if o.dechunked || !isChunkSizeLine(first, err) {
			why := "its first line is not a chunk size"
			if o.dechunked {
				why = "-dechunked"
			}
			o.note("the body says Transfer-Encoding: chunked but was de-chunked already (" + why + ", as curl -i prints it); reading it as it is, to the end of the input")
			body = &rechunker{src: in}
		}
	}
	mr := mixed.NewMessageReaderOptions(io.MultiReader(bytes.NewReader(head), body), decodeOpts)
	var h *mixed.Header
	env := &envelopeJSON{Kind: "envelope", HTTP: &httpJSON{}}
	var mb *mixed.MessageBody
	var length int64
	if isResp {
		m, err := mr.ReadResponse("")
		if err != nil {
			return nil, fmt.Errorf("reading the HTTP response: %w", err)
		}
		if proto == "" {
			proto = protoText(m.ProtoMajor, m.ProtoMinor)
		}
		reason := string(m.Reason)
		*env.HTTP = httpJSON{Proto: proto, Status: m.StatusCode, Reason: &reason}
		h, mb, length = &m.Header, m.Body, m.ContentLength
	} else {
		m, err := mr.ReadRequest()
		if err != nil {
			return nil, fmt.Errorf("reading the HTTP request (or give -boundary): %w", err)
		}
		if m.ContentLength < 0 && !m.Chunked {
			return nil, errors.New("the HTTP request has neither Content-Length nor Transfer-Encoding: chunked, so it has no body (RFC 9112 §6.3)")
		}
		*env.HTTP = httpJSON{Method: string(m.Method), Target: string(m.Target), Proto: protoText(m.ProtoMajor, m.ProtoMinor)}
		h, mb, length = &m.Header, m.Body, m.ContentLength
	}
	env.HTTP.Headers = headerPairs(h)
	ct := h.GetBytes("Content-Type")
	if ct == nil {
		return nil, errors.New("the HTTP message has no Content-Type naming a boundary")
	}
	if n := len(h.Values("Content-Type")); n > 1 {
		// Which one names the body's form? Readers differ (net/http
		// takes the first); encode refuses such an envelope too.
		return nil, fmt.Errorf("the HTTP message has %d Content-Type fields; want one", n)
	}
	if mt, _ := mediaType(ct); isJSONType(mt) {
		env.Format = "json"
	} else {
		b, err := mixed.ParseBoundary(string(ct))
		if err != nil {
			return nil, fmt.Errorf("the HTTP message's Content-Type: %w", err)
		}
		env.Boundary = b
	}
	cb := &countingReader{r: mb}
	finish := func() error {
		if _, err := io.Copy(io.Discard, cb); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && length >= 0 {
				return fmt.Errorf("the HTTP message is truncated: its body ends after %d of the %d bytes its Content-Length says", cb.n, length)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("the HTTP message is truncated: %w", err)
			}
			return fmt.Errorf("after the close delimiter: %w", err)
		}
		return nil
	}
	return &message{json: env, body: cb, finish: finish}, nil
}

// maxHead bounds the head of a whole message.
const maxHead = 64 << 10

// readHead reads a message head, its start line (after blank lines) to
// the empty line that ends it, or to the end of the input.
func readHead(in *bufio.Reader) ([]byte, error) {
	var head []byte
	started := false
	for {
		line, err := in.ReadSlice('\n')
		head = append(head, line...)
		if len(head) > maxHead {
			return nil, fmt.Errorf("the HTTP message's head is longer than %d bytes", maxHead)
		}
		blank := len(bytes.TrimRight(line, "\r\n")) == 0 && len(line) > 0
		if blank && started {
			return head, nil
		}
		started = started || !blank
		if err == io.EOF {
			return head, nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return nil, err
		}
	}
}

// headerValue returns the value of the first field named name in head,
// or nil.
func headerValue(head []byte, name string) []byte {
	lines := bytes.Split(head, []byte("\n"))
	for _, l := range lines[1:] {
		n, v, ok := bytes.Cut(l, []byte(":"))
		if ok && bytes.EqualFold(n, []byte(name)) {
			return bytes.TrimSpace(v)
		}
	}
	return nil
}

// isChunkSizeLine reports whether line (with the error peekLine returned)
// is a chunk-size line: hexadecimal digits, maybe extensions, a line end.
func isChunkSizeLine(line []byte, err error) bool {
	if err != nil || !bytes.HasSuffix(line, []byte("\n")) {
		return false
	}
	line = bytes.TrimRight(line, "\r\n")
	size, _, _ := bytes.Cut(line, []byte(";"))
	size = bytes.TrimRight(size, " \t")
	if len(size) == 0 {
		return false
	}
	for _, c := range size {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// rechunker gives a de-chunked body the chunked coding its head declares,
// as it streams.
type rechunker struct {
	src     io.Reader
	buf     [32 << 10]byte
	out     []byte
	pending []byte
	done    bool
}

func (c *rechunker) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.done {
			return 0, io.EOF
		}
		n, err := c.src.Read(c.buf[:])
		c.out = c.out[:0]
		if n > 0 {
			c.out = strconv.AppendInt(c.out, int64(n), 16)
			c.out = append(c.out, "\r\n"...)
			c.out = append(c.out, c.buf[:n]...)
			c.out = append(c.out, "\r\n"...)
		}
		if err == io.EOF {
			c.out = append(c.out, "0\r\n\r\n"...)
			c.done = true
		} else if err != nil {
			return 0, err
		}
		c.pending = c.out
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// describe builds the JSON object of a part whose raw body is body,
// reading embedded messages with mr.
func describe(mr *mixed.MessageReader, index int, h *mixed.Header, body []byte, depth int) partJSON {
	p := partJSON{Index: index, Headers: headerPairs(h)}
	setBody(&p.Body, &p.BodyB64, body)
	mt, boundary := mediaType(h.GetBytes("Content-Type"))
	switch {
	case mt == "application/http":
		p.HTTP, p.Error = describeHTTP(mr, body)
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
				p.Error = errText(err)
				break
			}
			p.Parts = append(p.Parts, describe(mr, i, &np.Header, bytes.Clone(raw.Bytes()), depth+1))
		}
	}
	return p
}

// describeHTTP parses an embedded message with mr: a response when it
// starts with "HTTP/" (after blank lines), else a request. It returns what
// it read and the error that stopped it.
func describeHTTP(mr *mixed.MessageReader, body []byte) (*httpJSON, string) {
	mr.Reset(bytes.NewReader(body))
	// The message and the strings its pointers point to, in one
	// allocation: a batch of small parts made a dozen a part.
	a := new(struct {
		j            httpJSON
		reason, body string
	})
	j := &a.j
	var b io.Reader
	if bytes.HasPrefix(bytes.TrimLeft(body, "\r\n"), []byte("HTTP/")) {
		m, err := mr.ReadResponse("")
		if err != nil {
			return nil, errText(err)
		}
		a.reason = string(m.Reason)
		*j = httpJSON{Proto: protoText(m.ProtoMajor, m.ProtoMinor), Status: m.StatusCode, Reason: &a.reason, Headers: headerPairs(&m.Header)}
		b = m.Body
	} else {
		m, err := mr.ReadRequest()
		if err != nil {
			return nil, errText(err)
		}
		*j = httpJSON{Method: string(m.Method), Target: string(m.Target), Proto: protoText(m.ProtoMajor, m.ProtoMinor), Headers: headerPairs(&m.Header)}
		b = m.Body
	}
	data, err := io.ReadAll(b)
	setBodyIn(&j.Body, &j.BodyB64, data, &a.body)
	if err != nil {
		return j, errText(err)
	}
	return j, ""
}

// protoText is the protocol version major.minor as an HTTP message names
// it; the usual ones are constants.
func protoText(major, minor int) string {
	switch {
	case major == 1 && minor == 1:
		return "HTTP/1.1"
	case major == 1 && minor == 0:
		return "HTTP/1.0"
	}
	return "HTTP/" + strconv.Itoa(major) + "." + strconv.Itoa(minor)
}

// headerPairs returns the fields of h as name, value pairs, every name and
// value a substring of one string: two allocations, not two a field.
func headerPairs(h *mixed.Header) [][2]string {
	n := 0
	for name, v := range h.All() {
		n += len(name) + len(v)
	}
	var sb strings.Builder
	sb.Grow(n)
	for name, v := range h.All() {
		sb.Write(name)
		sb.Write(v)
	}
	s := sb.String()
	out := make([][2]string, 0, h.Len())
	for name, v := range h.All() {
		k := len(name)
		out = append(out, [2]string{s[:k], s[k : k+len(v)]})
		s = s[k+len(v):]
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
	mt = bytes.TrimSpace(mt)
	var s string
	switch {
	case equalFoldASCII(string(mt), "application/http"):
		s = "application/http" // the type of nearly every part of a batch
	case equalFoldASCII(string(mt), "application/json"):
		s = "application/json"
	default:
		s = string(bytes.ToLower(mt))
	}
	if len(s) > 10 && s[:10] == "multipart/" {
		if b, err := mixed.ParseBoundary(string(ct)); err == nil {
			return s, b
		}
	}
	return s, ""
}
