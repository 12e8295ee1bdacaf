package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mixedcodec/mixed"
	"github.com/mixedcodec/mixed/internal/bodyform"
)

// This file reads and writes the JSON batch formats: OData 4.01's
// ({"requests": [...]}, each request with id, method, url, headers, body,
// atomicityGroup and dependsOn; {"responses": [...]} back) and Microsoft
// Graph's, which has the same shape. decode prints each request or
// response as the line of an application/http part; encode -format writes
// the lines back as a JSON batch. Both hold one request at a time, never
// the whole batch: encoding/json's Decoder reads the array element by
// element.

// A batchFormat is a wire format that encode writes, and the rules by
// which decode reads the bodies of a JSON batch.
type batchFormat int

const (
	formatMultipart batchFormat = iota
	formatODataJSON
	formatGraphJSON
)

// parseFormat reads a -format flag.
func parseFormat(s string) (batchFormat, error) {
	switch s {
	case "", "multipart":
		return formatMultipart, nil
	case "odata-json":
		return formatODataJSON, nil
	case "graph-json":
		return formatGraphJSON, nil
	}
	return 0, fmt.Errorf("-format %q: want multipart, odata-json or graph-json", s)
}

// maxJSONItem bounds one request or response object of a JSON batch,
// which decode and encode hold whole (and nothing more of the batch).
const maxJSONItem = 64 << 20

var errJSONItemTooLong = fmt.Errorf("a request or response of the JSON batch is longer than %d bytes", maxJSONItem)

// A budgetReader fails once more than limit bytes have been read through
// it: decodeJSON moves the limit ahead of each element, so that one
// element, not the whole batch, is bounded.
type budgetReader struct {
	r        io.Reader
	n, limit int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.n >= b.limit {
		return 0, errJSONItemTooLong
	}
	if int64(len(p)) > b.limit-b.n {
		p = p[:b.limit-b.n]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

// startsJSON reports whether what in holds starts, after white space,
// with "{": a JSON batch. It reads nothing.
func startsJSON(in *bufio.Reader) bool {
	for n := 1; n <= 4096; n++ {
		b, _ := in.Peek(n)
		if len(b) < n {
			return false
		}
		switch b[n-1] {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		}
		return false
	}
	return false
}

// decodeJSON reads the JSON batch in in and prints a line for each of its
// requests or responses, as the application/http part that carries it in
// multipart: Content-ID from "id", "atomicity_group" and "depends_on",
// and "http" with the method and url (the target), or the status; the
// headers; and the body as bytes (a JSON value as written; a string by
// f's rules, see jsonBodyBytes). It returns how many lines carry an
// "error" (a request object that is not one), and the error that stopped
// it (bad JSON).
func decodeJSON(in io.Reader, f batchFormat, lw *jsonLineWriter) (int, error) {
	br := &budgetReader{r: in, limit: maxJSONItem}
	dec := json.NewDecoder(br)
	if err := expectDelim(dec, '{'); err != nil {
		return 0, fmt.Errorf("the JSON batch: %w", err)
	}
	kind := ""
	failed, index := 0, 0
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return failed, fmt.Errorf("the JSON batch: %w", err)
		}
		key, _ := t.(string)
		if key != "requests" && key != "responses" {
			br.limit = br.n + maxJSONItem
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return failed, fmt.Errorf("the JSON batch: %q: %w", key, err)
			}
			continue
		}
		if kind != "" {
			return failed, fmt.Errorf("the JSON batch has %q after %q: want one of them", key, kind)
		}
		kind = key
		if err := expectDelim(dec, '['); err != nil {
			return failed, fmt.Errorf("the JSON batch: %q: %w", key, err)
		}
		for dec.More() {
			br.limit = br.n + maxJSONItem
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return failed, fmt.Errorf("the JSON batch: %s[%d]: %w", key, index, err)
			}
			p := jsonItemPart(index, raw, key == "requests", f)
			if p.Error != "" {
				failed++
			}
			if err := lw.partLine(&p); err != nil {
				return failed, err
			}
			index++
		}
		if err := expectDelim(dec, ']'); err != nil {
			return failed, fmt.Errorf("the JSON batch: %w", err)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return failed, fmt.Errorf("the JSON batch: %w", err)
	}
	if kind == "" {
		return failed, errors.New(`the JSON batch has neither "requests" nor "responses"`)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("a value")
		}
		return failed, fmt.Errorf("after the JSON batch: %w", err)
	}
	return failed, nil
}

// expectDelim reads the delimiter want.
func expectDelim(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("found %v, want %q", t, want)
	}
	return nil
}

// jsonItem is a request or response object of a JSON batch.
type jsonItem struct {
	ID             json.RawMessage `json:"id"`
	Method         string          `json:"method"`
	URL            string          `json:"url"`
	Status         int             `json:"status"`
	AtomicityGroup string          `json:"atomicityGroup"`
	DependsOn      []string        `json:"dependsOn"`
	Headers        json.RawMessage `json:"headers"`
	Body           json.RawMessage `json:"body"`
}

// jsonItemPart builds the line of the request or response object raw.
// A malformed one gets "error", and its JSON as "body".
func jsonItemPart(index int, raw []byte, isRequest bool, f batchFormat) partJSON {
	p := partJSON{Index: index, Headers: [][2]string{{"Content-Type", "application/http"}}}
	bad := func(err error) partJSON {
		s := string(raw)
		p.Body, p.Error = &s, errText(err)
		return p
	}
	var it jsonItem
	if err := json.Unmarshal(raw, &it); err != nil {
		return bad(err)
	}
	id, err := jsonID(it.ID)
	if err != nil {
		return bad(err)
	}
	if id != "" {
		if err := checkField("Content-ID", id); err != nil {
			return bad(fmt.Errorf(`"id" %q: %w`, id, err))
		}
		p.Headers = append(p.Headers, [2]string{"Content-ID", id})
	}
	if it.AtomicityGroup != "" {
		// The Content-ID of its changeset in multipart.
		if err := checkField("Content-ID", it.AtomicityGroup); err != nil {
			return bad(fmt.Errorf(`"atomicityGroup" %q: %w`, it.AtomicityGroup, err))
		}
	}
	p.Group, p.DependsOn = it.AtomicityGroup, it.DependsOn
	hdr, err := jsonHeaders(it.Headers)
	if err != nil {
		return bad(err)
	}
	// The body's form follows the Content-Type as fields writes it back:
	// every value, joined (a repeated member is one field), as package
	// batch reads it too (internal/bodyform).
	var ct []byte
	hasCT := false
	for _, h := range hdr {
		if strings.EqualFold(h[0], "Content-Type") {
			ct, hasCT = bodyform.Append(ct, h[1]), true
		}
	}
	body, err := jsonBodyBytes(it.Body, string(ct), hasCT, f)
	if err != nil {
		return bad(err)
	}
	if len(body) > 0 && !hasCT {
		// OData and Graph: a body without Content-Type is JSON.
		hdr = append(hdr, [2]string{"Content-Type", "application/json"})
	}
	h := &httpJSON{Proto: "HTTP/1.1", Headers: hdr}
	if isRequest {
		if it.Method == "" || it.URL == "" {
			return bad(errors.New(`a request needs "method" and "url"`))
		}
		h.Method, h.Target = it.Method, escapeTarget(it.URL)
	} else {
		if it.Status < 100 || it.Status > 999 {
			return bad(fmt.Errorf(`a response needs a "status" of three digits, not %d`, it.Status))
		}
		h.Status = it.Status
		if r := http.StatusText(it.Status); r != "" {
			h.Reason = &r
		}
	}
	if err := checkItem(h, body); err != nil {
		return bad(err)
	}
	setBody(&h.Body, &h.BodyB64, body)
	p.HTTP = h
	return p
}

// checkItem checks the message of a request or response object as encode
// writes it back: its fields, method and status, which a JSON batch does
// not check.
// A line that passes is one encode writes and a reader reads the same: a
// CR or LF in a header value, a name that is not a token, a method with
// a space are an "error" (package batch refuses such a call too).
func checkItem(m *httpJSON, body []byte) error {
	var mh mixed.Header
	for _, f := range m.Headers {
		mh.Add(f[0], f[1])
	}
	mw := mixed.NewMessageWriterOptions(decodeOpts)
	if m.Method != "" {
		return mw.WriteRequest(io.Discard, m.Method, m.Target, &mh, body)
	}
	reason := ""
	if m.Reason != nil {
		reason = *m.Reason
	}
	return mw.WriteResponse(io.Discard, m.Status, reason, &mh, body)
}

// checkField checks a part's field as the multipart Writer does.
func checkField(name, value string) error {
	var h mixed.Header
	h.Add(name, value)
	w := mixed.NewWriter(io.Discard)
	_, err := w.CreatePart(&h)
	return err
}

// jsonID reads an "id": a string, or a number as written.
func jsonID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf(`"id" %s: want a string`, raw)
	}
	return n.String(), nil
}

// jsonHeaders reads a "headers" object in its order. A value is a string
// (a number or boolean is taken as written), without the SP and HTAB
// around it. Content-Length and
// Transfer-Encoding are dropped: they frame the body in HTTP, and a JSON
// batch frames it by itself (a JSON body may be written with other white
// space than the length counted).
func jsonHeaders(raw json.RawMessage) ([][2]string, error) {
	out := [][2]string{}
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return nil, fmt.Errorf(`"headers": %w`, err)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := t.(string)
		if t, err = dec.Token(); err != nil {
			return nil, err
		}
		var v string
		switch t := t.(type) {
		case string:
			v = t
		case json.Number:
			v = t.String()
		case bool:
			v = strconv.FormatBool(t)
		default:
			return nil, fmt.Errorf(`header %q: want a string`, name)
		}
		if strings.EqualFold(name, "Content-Length") || strings.EqualFold(name, "Transfer-Encoding") {
			continue
		}
		// SP and HTAB around a value are not part of it in HTTP, and
		// package batch drops them too.
		out = append(out, [2]string{name, strings.Trim(v, " \t")})
	}
	return out, nil
}

// jsonBodyBytes returns the bytes of a "body" of Content-Type ct (hasCT:
// the headers have one, even empty): a JSON value as it is written (as is
// a string when ct is JSON or there is none); a string of a text/* type in
// OData is the text; any other string is base64 (either alphabet, padding
// or not).
func jsonBodyBytes(raw json.RawMessage, ct string, hasCT bool, f batchFormat) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	form := bodyform.Of(ct, f != formatGraphJSON)
	if raw[0] != '"' || !hasCT || form == bodyform.JSON {
		return raw, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	if form == bodyform.Text {
		return []byte(s), nil
	}
	b, err := decodeAnyBase64(s)
	if err != nil {
		return nil, fmt.Errorf("the body of type %q is not base64: %w", ct, err)
	}
	return b, nil
}

// decodeAnyBase64 decodes s in either base64 alphabet, padded or not.
func decodeAnyBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// isJSONType reports whether a media type (lower case, no parameters) is
// JSON: application/json or a +json type.
func isJSONType(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// escapeTarget percent-encodes what a request line cannot hold: a JSON
// batch's url may have spaces ("$filter=city eq null", in Graph's own
// examples), other bytes outside visible ASCII, and a '%' that starts no
// escape.
func escapeTarget(u string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		c := u[i]
		bad := c <= ' ' || c >= 0x7f ||
			c == '%' && (i+2 >= len(u) || !isHexDigit(u[i+1]) || !isHexDigit(u[i+2]))
		if bad {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// A groupWriter writes parts to a batch, and those of an atomicity group
// (adjacent lines with the same "atomicity_group") into one changeset: a
// nested multipart/mixed part whose Content-ID is the group's name.
type groupWriter struct {
	w     *mixed.Writer
	group string
	cs    *mixed.Writer
}

// target returns the writer of a part of group ("" for none).
func (g *groupWriter) target(group string) (*mixed.Writer, error) {
	if g.cs != nil && group == g.group {
		return g.cs, nil
	}
	if err := g.end(); err != nil {
		return nil, err
	}
	if group == "" {
		return g.w, nil
	}
	fw := &forward{}
	cs := mixed.NewWriter(fw)
	// The changeset's delimiter lines must not read as the batch's: a
	// random boundary that starts with the batch's (a short one, such
	// as "b") is drawn again.
	for tries := 0; strings.HasPrefix(cs.Boundary(), g.w.Boundary()); tries++ {
		if tries == 100 {
			return nil, fmt.Errorf("atomicity group %q: no changeset boundary found that does not start with the batch's %q", group, g.w.Boundary())
		}
		cs = mixed.NewWriter(fw)
	}
	var h mixed.Header
	h.Add("Content-Type", cs.ContentType())
	h.Add("Content-ID", group)
	pw, err := g.w.CreatePart(&h)
	if err != nil {
		return nil, fmt.Errorf("atomicity group %q: %w", group, err)
	}
	fw.w = pw
	g.group, g.cs = group, cs
	return cs, nil
}

// end closes the changeset being written, if any.
func (g *groupWriter) end() error {
	if g.cs == nil {
		return nil
	}
	cs := g.cs
	g.cs, g.group = nil, ""
	return cs.Close()
}

// forward writes to w, set once the part it writes into is created.
type forward struct{ w io.Writer }

func (f *forward) Write(p []byte) (int, error) { return f.w.Write(p) }

// lineBoundary is the boundary of the one part encodeJSON writes for a
// line before it reads the part back; the part is checked not to hold it.
const lineBoundary = "mixed-encode-json-line-7d1f0b3a"

// A capWriter holds what is written up to max bytes, then fails.
type capWriter struct {
	b   bytes.Buffer
	max int
}

func (c *capWriter) Write(p []byte) (int, error) {
	if c.b.Len()+len(p) > c.max {
		return 0, errJSONItemTooLong
	}
	return c.b.Write(p)
}

// encodeJSON writes the JSON batch that the lines s reads describe, in
// format f, to out: each line is written as a multipart part, as encode
// would write it (and checked as such), held, and read back into one
// request or response object (a changeset's "parts" into one per part,
// in one atomicity group). A line's "atomicity_group" and "depends_on"
// become the object's. req, else the envelope line's "http", is the head
// written around the body.
func encodeJSON(s *lineScanner, f batchFormat, out *output, req *httpJSON) error {
	setHead := func(e *httpJSON) {
		if e != nil {
			out.prepare = func() (*envelopeHead, error) { return prepareEnvelope(e, "application/json", "") }
		}
	}
	setHead(req)
	jw := &jsonBatchWriter{w: bufio.NewWriterSize(out, 64<<10), f: f, mr: mixed.NewMessageReaderOptions(nil, decodeOpts)}
	held := &capWriter{max: maxJSONItem}
	// One writer for every line, reset: a line allocates little beyond
	// what it holds.
	w := mixed.NewWriter(held)
	for n := 1; ; n++ {
		more, err := s.nextLine()
		if err != nil {
			return err
		}
		if !more {
			if n == 1 {
				return errors.New("the input is empty: want JSON lines as \"mixed decode\" prints them")
			}
			return jw.close()
		}
		held.b.Reset()
		w.Reset(held)
		if err := w.SetBoundary(lineBoundary); err != nil {
			return err
		}
		e, p, err := readLine(s, func(string) (*mixed.Writer, error) { return w, nil })
		if err == nil && p != nil {
			err = w.Close()
		}
		switch {
		case err != nil:
			return fmt.Errorf("line %d: %w", s.line, err)
		case e != nil && n > 1:
			return fmt.Errorf("line %d: an envelope line must be the first line", s.line)
		case e != nil:
			if req == nil {
				setHead(e.HTTP)
			}
		default:
			if err := jw.part(&held.b, p); err != nil {
				return fmt.Errorf("line %d: %w", s.line, err)
			}
		}
		if n == 1 && out.prepare != nil {
			if out.head, err = out.prepare(); err != nil {
				return fmt.Errorf("the envelope: %w", err)
			}
		}
	}
}

// A jsonBatchWriter writes a JSON batch, one object at a time: the
// "requests" or "responses" array, whichever the first object is.
type jsonBatchWriter struct {
	w      *bufio.Writer
	f      batchFormat
	kind   string // "requests" or "responses", once the first is written
	n      int    // objects written
	groups int    // changesets without Content-ID named so far
	buf    bytes.Buffer
	enc    *json.Encoder
	// Reused from line to line: the readers of the held part and of a
	// changeset in it, and the buffers of their contents.
	mr        *mixed.MessageReader
	r, nr     mixed.Reader
	raw, nraw bytes.Buffer
	body      bytes.Buffer
}

// part writes the objects of the part held in b (the one part of a
// lineBoundary body) that line p described.
func (j *jsonBatchWriter) part(b *bytes.Buffer, p *partJSON) error {
	j.r.Reset(b, lineBoundary)
	part, err := j.r.NextPart()
	if err != nil {
		return err
	}
	j.raw.Reset()
	if _, err := j.raw.ReadFrom(part); err != nil {
		return err
	}
	raw := j.raw.Bytes()
	mt, boundary := mediaType(part.Header.GetBytes("Content-Type"))
	id := contentID(&part.Header)
	if boundary == "" {
		return j.message(mt, raw, id, p.Group, p.DependsOn)
	}
	// A changeset: its parts are the members of one atomicity group.
	group := p.Group
	if group == "" {
		group = id
	}
	if group == "" {
		j.groups++
		group = "changeset" + strconv.Itoa(j.groups)
	}
	j.nr.Reset(bytes.NewReader(raw), boundary)
	for i := 0; ; i++ {
		np, err := j.nr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("changeset part %d: %w", i, err)
		}
		j.nraw.Reset()
		if _, err := j.nraw.ReadFrom(np); err != nil {
			return fmt.Errorf("changeset part %d: %w", i, err)
		}
		nmt, _ := mediaType(np.Header.GetBytes("Content-Type"))
		if err := j.message(nmt, j.nraw.Bytes(), contentID(&np.Header), group, p.DependsOn); err != nil {
			return fmt.Errorf("changeset part %d: %w", i, err)
		}
	}
}

// contentID is a part's Content-ID, without the angle brackets that
// Google's clients put around it.
func contentID(h *mixed.Header) string {
	id := strings.TrimSpace(h.Get("Content-ID"))
	if len(id) > 1 && id[0] == '<' && id[len(id)-1] == '>' {
		id = id[1 : len(id)-1]
	}
	return id
}

// jsonRequestOut and jsonResponseOut are the objects written, in the
// order of the keys in OData's and Graph's examples.
type jsonRequestOut struct {
	ID             string          `json:"id"`
	Method         string          `json:"method"`
	URL            string          `json:"url"`
	AtomicityGroup string          `json:"atomicityGroup,omitempty"`
	DependsOn      []string        `json:"dependsOn,omitempty"`
	Headers        json.RawMessage `json:"headers,omitempty"`
	Body           json.RawMessage `json:"body,omitempty"`
}

type jsonResponseOut struct {
	ID             string          `json:"id"`
	Status         int             `json:"status"`
	AtomicityGroup string          `json:"atomicityGroup,omitempty"`
	Headers        json.RawMessage `json:"headers,omitempty"`
	Body           json.RawMessage `json:"body,omitempty"`
}

// message writes the application/http message raw (a part of media type
// mt) as a request or response object.
func (j *jsonBatchWriter) message(mt string, raw []byte, id, group string, deps []string) error {
	mr := j.mr
	if mt != "application/http" {
		return fmt.Errorf("a part of type %q: a JSON batch holds only application/http requests or responses", mt)
	}
	j.n++
	if id == "" {
		// Both formats require an id; a part without Content-ID gets
		// its position in the batch, from 1.
		id = strconv.Itoa(j.n)
	}
	response := bytes.HasPrefix(bytes.TrimLeft(raw, "\r\n"), []byte("HTTP/"))
	if j.f == formatGraphJSON && group != "" {
		if !response {
			return fmt.Errorf("a request in atomicity group (changeset) %q: Graph's JSON batching has none; write -format odata-json", group)
		}
		group = "" // Graph's responses have no atomicityGroup either
	}
	mr.Reset(bytes.NewReader(raw))
	var v any
	if response {
		m, err := mr.ReadResponse("")
		if err != nil {
			return err
		}
		hdr, body, err := j.fields(&m.Header, m.Body, true)
		if err != nil {
			return err
		}
		v = &jsonResponseOut{ID: id, Status: m.StatusCode, AtomicityGroup: group, Headers: hdr, Body: body}
		if err := j.start("responses", len(deps) > 0); err != nil {
			return err
		}
	} else {
		m, err := mr.ReadRequest()
		if err != nil {
			return err
		}
		hdr, body, err := j.fields(&m.Header, m.Body, false)
		if err != nil {
			return err
		}
		v = &jsonRequestOut{ID: id, Method: string(m.Method), URL: string(m.Target), AtomicityGroup: group, DependsOn: deps, Headers: hdr, Body: body}
		if err := j.start("requests", false); err != nil {
			return err
		}
	}
	if j.enc == nil {
		j.enc = json.NewEncoder(&j.buf)
		j.enc.SetEscapeHTML(false)
	}
	j.buf.Reset()
	if err := j.enc.Encode(v); err != nil {
		return err
	}
	j.w.Write(bytes.TrimSuffix(j.buf.Bytes(), []byte("\n")))
	return werr(j.w)
}

// start writes the opening of the array kind before the first object, or
// the comma between two.
func (j *jsonBatchWriter) start(kind string, deps bool) error {
	switch {
	case deps:
		return errors.New(`"depends_on" on a response: only requests have dependsOn`)
	case j.kind == "":
		j.kind = kind
		j.w.WriteString(`{"` + kind + `":[` + "\n")
	case j.kind != kind:
		return fmt.Errorf("a part of %s after %s: a JSON batch holds requests or responses, not both", strings.TrimSuffix(kind, "s"), j.kind)
	default:
		j.w.WriteString(",\n")
	}
	return nil
}

// close ends the batch (an empty "requests" array when there was no
// object) and flushes it.
func (j *jsonBatchWriter) close() error {
	if j.kind == "" {
		j.w.WriteString(`{"requests":[]}` + "\n")
	} else {
		j.w.WriteString("\n]}\n")
	}
	return j.w.Flush()
}

// fields returns the "headers" object of a message (in order, a repeated
// name's values joined by ", "; without Content-Length and
// Transfer-Encoding; an OData response's names in lower case, as OData
// 4.01 writes them) and its "body" value (see jsonBodyValue).
func (j *jsonBatchWriter) fields(h *mixed.Header, mb *mixed.MessageBody, response bool) (json.RawMessage, json.RawMessage, error) {
	j.body.Reset()
	if _, err := j.body.ReadFrom(mb); err != nil {
		return nil, nil, err
	}
	body := j.body.Bytes()
	var names []string
	values := map[string][]byte{}
	for n, v := range h.All() {
		name := string(n)
		if strings.EqualFold(name, "Content-Length") || strings.EqualFold(name, "Transfer-Encoding") {
			continue
		}
		if response && j.f == formatODataJSON {
			name = strings.ToLower(name)
		}
		// A repeated name is one member, its values joined as every
		// reader of the batch joins them (internal/bodyform).
		key := strings.ToLower(name)
		p, seen := values[key]
		if !seen {
			names = append(names, name)
		}
		values[key] = bodyform.Append(p, v)
	}
	// The form of the body follows the Content-Type as written (all its
	// values, joined), which is what a reader of this batch sees. A body
	// without one would be JSON to its reader: it gets the one net/http
	// would sniff, as package batch's Client gives it (and as it does,
	// application/octet-stream for text that does not fit OData's text
	// form).
	ct, hasCT := values["content-type"]
	if len(body) > 0 && !hasCT {
		ct = []byte(http.DetectContentType(body))
		if bodyform.Of(ct, j.f == formatODataJSON) == bodyform.Text && !utf8.Valid(body) {
			ct = []byte("application/octet-stream")
		}
		name := "Content-Type"
		if response && j.f == formatODataJSON {
			name = "content-type"
		}
		names = append(names, name)
		values["content-type"] = ct
	}
	var hdr json.RawMessage
	if len(names) > 0 {
		b := []byte{'{'}
		for i, n := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, n)
			b = append(b, ':')
			b = appendJSONString(b, string(values[strings.ToLower(n)]))
		}
		hdr = append(b, '}')
	}
	bv, err := jsonBodyValue(body, string(ct), j.f)
	return hdr, bv, err
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// jsonBodyValue is the "body" of a message with Content-Type ct: none
// when empty; the JSON itself for a JSON type (which must then be valid
// JSON); in OData, the text of a text/* type (which must be UTF-8); else
// base64, base64url in OData as its JSON format says, standard in Graph.
func jsonBodyValue(body []byte, ct string, f batchFormat) (json.RawMessage, error) {
	if len(body) == 0 {
		return nil, nil
	}
	switch bodyform.Of(ct, f == formatODataJSON) {
	case bodyform.JSON:
		var b bytes.Buffer
		if err := json.Compact(&b, body); err != nil {
			return nil, fmt.Errorf("a body of type %q that is not JSON cannot be written in a JSON batch: %w", ct, err)
		}
		if !utf8.Valid(body) {
			// encoding/json reads it, but a JSON batch is UTF-8 (RFC 8259
			// §8.1): written as it is, its readers refuse the batch.
			return nil, fmt.Errorf("a body of type %q that is JSON but not UTF-8 cannot be written in a JSON batch", ct)
		}
		return b.Bytes(), nil
	case bodyform.Text:
		if !utf8.Valid(body) {
			return nil, fmt.Errorf("a body of type %q that is not UTF-8 cannot be written in an OData JSON batch, whose text bodies are strings", ct)
		}
		return appendJSONString(nil, string(body)), nil
	}
	enc := base64.StdEncoding
	if f == formatODataJSON {
		enc = base64.URLEncoding
	}
	return appendJSONString(nil, enc.EncodeToString(body)), nil
}
