package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mixedcodec/mixed"
)

// This file reads encode's input: a scanner for the shape of decode's
// lines, one JSON object per line, that streams the strings of "body",
// "body_base64" and "http"'s "body" and "body_base64" into the part
// being written, and hands every other value, small, to encoding/json.

// maxValue bounds a value that encode reads whole: every value but the
// streamed bodies ("parts" above all, which holds nested parts whole).
const maxValue = 16 << 20

// A lineScanner reads encode's JSON lines.
type lineScanner struct {
	r       *bufio.Reader
	line    int // of the line being read, from 1
	str     *jsonStringReader
	raw     []byte
	scratch []byte
	b64     base64Decoder
}

func newLineScanner(r *bufio.Reader) *lineScanner {
	return &lineScanner{r: r, str: newJSONStringReader(r)}
}

// skipSpace skips JSON white space but LF, and returns the next byte,
// unread, or 0 at the end of the input.
func (s *lineScanner) skipSpace() (byte, error) {
	for {
		c, err := s.r.ReadByte()
		if err == io.EOF {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		if c != ' ' && c != '\t' && c != '\r' {
			s.r.UnreadByte()
			return c, nil
		}
	}
}

// nextLine skips blank lines and reports whether a line follows, its
// first byte unread.
func (s *lineScanner) nextLine() (bool, error) {
	for {
		c, err := s.skipSpace()
		if err != nil || c == 0 {
			return false, err
		}
		s.line++
		if c != '\n' {
			return true, nil
		}
		s.r.ReadByte()
	}
}

// endLine checks that only white space follows the object on its line,
// and reads the line end.
func (s *lineScanner) endLine() error {
	c, err := s.skipSpace()
	switch {
	case err != nil:
		return err
	case c == '\n':
		s.r.ReadByte()
		return nil
	case c == 0:
		return nil
	}
	return fmt.Errorf("invalid character %q after top-level value", c)
}

// expect reads the byte want, after white space.
func (s *lineScanner) expect(want byte, what string) error {
	c, err := s.skipSpace()
	if err != nil {
		return err
	}
	if c != want {
		return s.unexpected(c, what)
	}
	s.r.ReadByte()
	return nil
}

func (s *lineScanner) unexpected(c byte, what string) error {
	switch c {
	case 0:
		return errors.New("unexpected end of JSON input")
	case '\n':
		return errors.New("the line ends inside a JSON object: want one object per line")
	}
	return fmt.Errorf("invalid character %q %s", c, what)
}

// object reads a JSON object, calling key for each key, which must read
// the value.
func (s *lineScanner) object(key func(string) error) error {
	if err := s.expect('{', "looking for beginning of object"); err != nil {
		return err
	}
	c, err := s.skipSpace()
	if err != nil {
		return err
	}
	if c == '}' {
		s.r.ReadByte()
		return nil
	}
	for {
		if err := s.expect('"', "looking for beginning of object key string"); err != nil {
			return err
		}
		k, err := s.key()
		if err != nil {
			return err
		}
		if err := s.expect(':', "after object key"); err != nil {
			return err
		}
		if err := key(k); err != nil {
			return err
		}
		c, err := s.skipSpace()
		if err != nil {
			return err
		}
		s.r.ReadByte()
		switch c {
		case ',':
			continue
		case '}':
			return nil
		}
		return s.unexpected(c, "after object key:value pair")
	}
}

// knownKeys are the keys of the lines, which key returns without
// allocating.
var knownKeys = map[string]string{}

func init() {
	for _, k := range []string{"kind", "boundary", "index", "headers", "body", "body_base64", "http", "parts", "error", "method", "target", "proto", "status", "reason"} {
		knownKeys[k] = k
	}
}

// key reads the rest of a key string whose quote has been read.
func (s *lineScanner) key() (string, error) {
	b, err := s.appendString(s.raw[:0], maxValue)
	s.raw = b
	if err != nil {
		return "", err
	}
	if k, ok := knownKeys[string(b)]; ok {
		return k, nil
	}
	return string(b), nil
}

// wholeString reads the rest of a string whose quote has been read.
func (s *lineScanner) wholeString(limit int) (string, error) {
	b, err := s.appendString(s.scratch[:0], limit)
	if cap(b) <= 64<<10 {
		s.scratch = b
	}
	return string(b), err
}

// commonFields are the field names of batch parts and their messages
// that fieldName returns without allocating.
var commonFields = map[string]string{}

func init() {
	for _, k := range []string{"Content-Type", "Content-ID", "Content-Id", "Content-Length", "Content-Transfer-Encoding", "ETag", "Etag", "Location", "Date", "Cache-Control", "Vary", "Host", "Accept", "Authorization", "If-Match", "If-None-Match", "OData-Version", "Prefer", "Preference-Applied", "Retry-After", "content-type", "content-id", "content-length", "etag", "location"} {
		commonFields[k] = k
	}
}

// fieldName reads the rest of a header field name string whose quote has
// been read.
func (s *lineScanner) fieldName() (string, error) {
	b, err := s.appendString(s.scratch[:0], maxValue)
	if cap(b) <= 64<<10 {
		s.scratch = b
	}
	if k, ok := commonFields[string(b)]; ok {
		return k, err
	}
	return string(b), err
}

var errHeaders = errors.New(`want "headers" as [["name", "value"], ...]`)

// headers reads a value of "headers": null, or an array of [name,
// value] string pairs.
func (s *lineScanner) headers() ([][2]string, error) {
	if null, err := s.isNull(); null || err != nil {
		return nil, err
	}
	bad := errHeaders
	if err := s.expect('[', "looking for beginning of an array"); err != nil {
		return nil, err
	}
	h := make([][2]string, 0, 4) // room for a typical head's fields
	size := 0
	for {
		c, err := s.skipSpace()
		if err != nil {
			return nil, err
		}
		s.r.ReadByte()
		switch {
		case c == ']' && len(h) == 0:
			return h, nil
		case c != '[':
			return nil, bad
		}
		var f [2]string
		for i := range f {
			if err := s.expect('"', "looking for a string"); err != nil {
				return nil, bad
			}
			if i == 0 {
				f[i], err = s.fieldName()
			} else {
				f[i], err = s.wholeString(maxValue)
			}
			if err != nil {
				return nil, err
			}
			if size += len(f[i]) + 4; size > maxValue {
				return nil, fmt.Errorf(`"headers" longer than %d bytes`, maxValue)
			}
			sep := byte(',')
			if i == 1 {
				sep = ']'
			}
			if err := s.expect(sep, "in a header field"); err != nil {
				return nil, bad
			}
		}
		h = append(h, f)
		c, err = s.skipSpace()
		if err != nil {
			return nil, err
		}
		s.r.ReadByte()
		switch c {
		case ']':
			return h, nil
		case ',':
			continue
		}
		return nil, bad
	}
}

// appendString appends the value of a string whose quote has been read
// to b.
func (s *lineScanner) appendString(b []byte, limit int) ([]byte, error) {
	s.str.reset()
	for {
		c, err := s.str.Next()
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b)+len(c) > limit {
			return b, fmt.Errorf("a string longer than %d bytes", limit)
		}
		b = append(b, c...)
	}
}

// isNull reads a null, if one comes next.
func (s *lineScanner) isNull() (bool, error) {
	c, err := s.skipSpace()
	if err != nil || c != 'n' {
		return false, err
	}
	v, err := s.rawValue()
	if err != nil {
		return false, err
	}
	if string(v) != "null" {
		return false, fmt.Errorf("invalid value %q", v)
	}
	return true, nil
}

// rawValue returns the text of the next JSON value, read whole (up to
// maxValue bytes) and checked only for where it ends: encoding/json
// checks the rest.
func (s *lineScanner) rawValue() ([]byte, error) {
	if _, err := s.skipSpace(); err != nil {
		return nil, err
	}
	b := s.raw[:0]
	depth, inString, escaped := 0, false, false
	for {
		c, err := s.r.ReadByte()
		if err == io.EOF {
			if depth == 0 && !inString && len(b) > 0 {
				s.raw = b
				return b, nil
			}
			return nil, errors.New("unexpected end of JSON input")
		}
		if err != nil {
			return nil, err
		}
		if len(b) >= maxValue {
			return nil, fmt.Errorf("a value longer than %d bytes", maxValue)
		}
		switch {
		case c == '\n':
			if depth == 0 && !inString && len(b) > 0 {
				s.r.UnreadByte()
				s.raw = b
				return b, nil
			}
			return nil, s.unexpected(c, "")
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']' || c == ',' || c == ' ' || c == '\t' || c == '\r':
			if depth == 0 {
				if len(b) == 0 {
					return nil, s.unexpected(c, "looking for beginning of value")
				}
				s.r.UnreadByte()
				s.raw = b
				return b, nil
			}
			if c == '}' || c == ']' {
				depth--
			}
		}
		b = append(b, c)
		if depth == 0 && !inString && (c == '}' || c == ']' || c == '"') {
			s.raw = b
			return b, nil
		}
	}
}

// value reads the next value into v, strictly (unknown keys are errors).
// A string into a *string and a plain integer into an *int are read here,
// as encoding/json would read them; anything else is encoding/json's.
func (s *lineScanner) value(v any) error {
	if p, ok := v.(*string); ok {
		c, err := s.skipSpace()
		if err != nil {
			return err
		}
		if c == '"' {
			s.r.ReadByte()
			*p, err = s.wholeString(maxValue)
			return err
		}
	}
	b, err := s.rawValue()
	if err != nil {
		return err
	}
	if p, ok := v.(*int); ok && plainInt(b) {
		if n, err := strconv.Atoi(string(b)); err == nil {
			*p = n
			return nil
		}
	}
	if _, ok := v.(*[]partJSON); ok {
		return strictUnmarshal(b, v)
	}
	return json.Unmarshal(b, v) // no keys to check
}

// plainInt reports whether b is a JSON integer: an optional minus, then
// 0 or digits that do not start with 0.
func plainInt(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || b[0] == '0' && len(b) > 1 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// bodyString reads a "body" (b64 false) or "body_base64" string value
// (whose quote has been read), giving each decoded piece to write.
func (s *lineScanner) bodyString(b64 bool, write func([]byte) error) error {
	s.str.reset()
	s.b64 = base64Decoder{out: s.b64.out}
	for {
		c, err := s.str.Next()
		if err == io.EOF {
			if b64 {
				return s.b64.finish()
			}
			return nil
		}
		if err != nil {
			return err
		}
		if b64 {
			if c, err = s.b64.decode(c); err != nil {
				return err
			}
		}
		if err := write(c); err != nil {
			return err
		}
	}
}

// A partLine is what one line has given so far, and the part it writes.
type partLine struct {
	s *lineScanner
	// target gives the writer of the part, by its atomicity group: the
	// batch's, or a changeset's (see groupWriter).
	target func(group string) (*mixed.Writer, error)

	kind       *string
	partKey    string // the first key no envelope has, for a late "kind"
	boundary   *string
	format     *string
	p          partJSON
	headers    bool
	body       []byte // held: the part is not created yet
	bodyKeys   string // "b" for "body", "6" for "body_base64", in order
	pw         io.Writer
	streamed   string // "body" or "http" once the part is created
	httpBody   []byte
	httpKeys   string
	httpLength int64 // the Content-Length of a streamed http body
	httpN      int64 // its bytes written
}

// readLine reads the line the scanner is at: an envelope, returned, or a
// part, written to the writer target gives for its group (streamed into
// it when the keys come in decode's order), and returned.
func readLine(s *lineScanner, target func(group string) (*mixed.Writer, error)) (*envelopeJSON, *partJSON, error) {
	l := &partLine{s: s, target: target}
	if err := s.object(l.key); err != nil {
		return nil, nil, err
	}
	if err := s.endLine(); err != nil {
		return nil, nil, err
	}
	kind := ""
	if l.kind != nil {
		kind = *l.kind
	}
	if kind == "envelope" {
		e, err := l.envelope()
		return e, nil, err
	}
	if l.boundary != nil {
		return nil, nil, errors.New(`unknown key "boundary"`)
	}
	if l.format != nil {
		return nil, nil, errors.New(`unknown key "format"`)
	}
	return nil, &l.p, l.finish()
}

func (l *partLine) isEnvelope() bool { return l.kind != nil && *l.kind == "envelope" }

// key reads the value of a key of the line.
func (l *partLine) key(k string) error {
	s := l.s
	if k != "kind" && k != "boundary" && k != "format" && k != "http" {
		if l.isEnvelope() {
			return fmt.Errorf("unknown key %q", k)
		}
		if l.partKey == "" {
			l.partKey = k
		}
	}
	switch k {
	case "kind":
		l.kind = new(string)
		if err := s.value(l.kind); err != nil {
			return err
		}
		switch *l.kind {
		case "envelope", "part", "":
		default:
			return fmt.Errorf(`unknown kind %q: want "envelope" or "part"`, *l.kind)
		}
		if l.isEnvelope() && l.partKey != "" {
			return fmt.Errorf("unknown key %q", l.partKey)
		}
		l.p.Kind = *l.kind
		return nil
	case "boundary":
		l.boundary = new(string)
		return s.value(l.boundary)
	case "format":
		l.format = new(string)
		if err := s.value(l.format); err != nil {
			return err
		}
		if *l.format != "json" && *l.format != "multipart" {
			return fmt.Errorf(`unknown format %q: want "json" or "multipart"`, *l.format)
		}
		return nil
	case "atomicity_group", "depends_on":
		if l.pw != nil {
			return fmt.Errorf("%q after the body: give it first", k)
		}
		if k == "depends_on" {
			return s.value(&l.p.DependsOn)
		}
		return s.value(&l.p.Group)
	case "index":
		return s.value(&l.p.Index)
	case "headers":
		if l.streamed != "" {
			return fmt.Errorf(`"headers" after the body: give it first`)
		}
		l.headers = true
		var err error
		l.p.Headers, err = s.headers()
		return err
	case "error":
		return s.value(&l.p.Error)
	case "parts":
		return s.value(&l.p.Parts)
	case "body", "body_base64":
		return l.bodyValue(k)
	case "http":
		if null, err := s.isNull(); null || err != nil {
			return err
		}
		if l.p.HTTP != nil {
			return errors.New(`"http" given twice`)
		}
		l.p.HTTP = &httpJSON{}
		if l.streamed == "body" && !hasField(l.p.Headers, "Content-Type") {
			return errors.New(`"http" after "body" in a part without Content-Type: give "http" first, or a Content-Type`)
		}
		return s.object(l.httpKey)
	}
	return fmt.Errorf("unknown key %q", k)
}

// bodyKey checks the order of body keys: "body", "body_base64", or
// "body" then "body_base64" (the rest of a body that is not all UTF-8).
func bodyKey(keys *string, k string) error {
	c := "b"
	if k == "body_base64" {
		c = "6"
	}
	if *keys == "" || *keys == "b" && c == "6" {
		*keys += c
		return nil
	}
	return errBothBodies
}

// bodyValue reads the part's "body" or "body_base64".
func (l *partLine) bodyValue(k string) error {
	s := l.s
	if null, err := s.isNull(); null || err != nil {
		return err
	}
	if err := s.expect('"', "looking for beginning of a string"); err != nil {
		return err
	}
	if err := bodyKey(&l.bodyKeys, k); err != nil {
		return err
	}
	if l.streamed == "http" {
		return fmt.Errorf("%q after \"http\" whose body was written: give %q first", k, k)
	}
	b64 := k == "body_base64"
	if !l.headers {
		// Held until the headers come.
		return s.bodyString(b64, func(c []byte) error {
			l.body = append(l.body, c...)
			return nil
		})
	}
	if err := l.create("body"); err != nil {
		return err
	}
	return s.bodyString(b64, func(c []byte) error {
		_, err := l.pw.Write(c)
		return err
	})
}

// create writes the part's header, then what of its body was held.
func (l *partLine) create(what string) error {
	if l.pw != nil {
		return nil
	}
	var h mixed.Header
	if l.p.HTTP != nil && !hasField(l.p.Headers, "Content-Type") {
		h.Add("Content-Type", "application/http")
	}
	for _, f := range l.p.Headers {
		h.Add(f[0], f[1])
	}
	w, err := l.target(l.p.Group)
	if err != nil {
		return err
	}
	pw, err := w.CreatePart(&h)
	if err != nil {
		return err
	}
	l.pw, l.streamed = pw, what
	if len(l.body) > 0 {
		if _, err := pw.Write(l.body); err != nil {
			return err
		}
		l.body = nil
	}
	return nil
}

// httpKey reads a key of "http".
func (l *partLine) httpKey(k string) error {
	s, m := l.s, l.p.HTTP
	if l.streamed == "http" && k != "body" && k != "body_base64" {
		return fmt.Errorf(`%q after "http"'s body: give the head first`, k)
	}
	switch k {
	case "method":
		return s.value(&m.Method)
	case "target":
		return s.value(&m.Target)
	case "proto":
		return s.value(&m.Proto)
	case "status":
		return s.value(&m.Status)
	case "reason":
		return s.value(&m.Reason)
	case "headers":
		var err error
		m.Headers, err = s.headers()
		return err
	case "body", "body_base64":
		if null, err := s.isNull(); null || err != nil {
			return err
		}
		if err := s.expect('"', "looking for beginning of a string"); err != nil {
			return err
		}
		if l.isEnvelope() {
			return errors.New(`the envelope's "http" has no body: the parts are its body`)
		}
		if err := bodyKey(&l.httpKeys, k); err != nil {
			return fmt.Errorf("http: %w", err)
		}
		b64 := k == "body_base64"
		switch {
		case l.bodyKeys != "":
			// The part's own body wins; this one is read and dropped.
			return s.bodyString(b64, func([]byte) error { return nil })
		case l.streamed == "http":
		case l.headers && hasField(m.Headers, "Content-Length"):
			if err := l.httpHead(); err != nil {
				return fmt.Errorf("http: %w", err)
			}
		default:
			return s.bodyString(b64, func(c []byte) error {
				l.httpBody = append(l.httpBody, c...)
				return nil
			})
		}
		return s.bodyString(b64, func(c []byte) error {
			l.httpN += int64(len(c))
			if l.httpN > l.httpLength {
				return fmt.Errorf("http: Content-Length %d for a longer body", l.httpLength)
			}
			_, err := l.pw.Write(c)
			return err
		})
	}
	return fmt.Errorf("unknown key %q", k)
}

// httpHead creates the part and writes the head of its message, whose
// body streams after it: the fields as given, Content-Length among them,
// checked as the MessageWriter checks them.
func (l *partLine) httpHead() error {
	m := l.p.HTTP
	var mh, check mixed.Header
	first := ""
	for _, f := range m.Headers {
		mh.Add(f[0], f[1])
		if !equalFoldASCII(f[0], "Content-Length") {
			check.Add(f[0], f[1])
			continue
		}
		// Decimal digits alone (ParseInt takes "+5" too), and several
		// fields the same bytes ("5" and "05" too differ), as a
		// MessageReader requires.
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || strings.Trim(f[1], "0123456789") != "" {
			return fmt.Errorf("Content-Length %q is not the length", f[1])
		}
		if first != "" && f[1] != first {
			return fmt.Errorf("Content-Length %q differs from %q", f[1], first)
		}
		first, l.httpLength = f[1], n
	}
	mw := mixed.NewMessageWriterOptions(decodeOpts)
	var head bytes.Buffer
	if m.Method != "" {
		if err := mw.WriteRequest(io.Discard, m.Method, m.Target, &check, nil); err != nil {
			return err
		}
		head.WriteString(m.Method + " " + m.Target + " HTTP/1.1\r\n")
		for _, f := range m.Headers {
			head.WriteString(f[0] + ": " + f[1] + "\r\n")
		}
		head.WriteString("\r\n")
	} else {
		reason := ""
		if m.Reason != nil {
			reason = *m.Reason
		}
		if err := mw.WriteResponseHead(&head, m.Status, reason, &mh); err != nil {
			return err
		}
		if l.httpLength > 0 && (m.Status < 200 || m.Status == 204 || m.Status == 304) {
			return fmt.Errorf("status %d cannot have a body", m.Status)
		}
	}
	if err := l.create("http"); err != nil {
		return err
	}
	_, err := l.pw.Write(head.Bytes())
	return err
}

// envelope checks the envelope line.
func (l *partLine) envelope() (*envelopeJSON, error) {
	e := &envelopeJSON{Kind: "envelope", HTTP: l.p.HTTP}
	if l.httpKeys != "" {
		return nil, errors.New(`the envelope's "http" has no body: the parts are its body`)
	}
	if l.format != nil {
		e.Format = *l.format
	}
	if (l.boundary == nil || *l.boundary == "") && e.Format != "json" {
		return nil, errors.New(`the envelope has no "boundary"`)
	}
	if l.boundary != nil {
		e.Boundary = *l.boundary
	}
	return e, nil
}

// finish writes what the line gave and was not streamed.
func (l *partLine) finish() error {
	switch l.streamed {
	case "body":
		return nil
	case "http":
		if l.httpN != l.httpLength {
			return fmt.Errorf("http: Content-Length %d for a body of %d bytes", l.httpLength, l.httpN)
		}
		return nil
	}
	if l.bodyKeys != "" {
		s := string(l.body)
		l.p.Body = &s
	}
	if l.httpKeys != "" {
		s := string(l.httpBody)
		l.p.HTTP.Body = &s
	}
	w, err := l.target(l.p.Group)
	if err != nil {
		return err
	}
	return writePart(w, &l.p)
}

// strictUnmarshal decodes the JSON value b into v, refusing unknown keys.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if k, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fmt.Errorf("unknown key %s", k)
		}
		return err
	}
	if dec.More() {
		return fmt.Errorf("invalid value %q", b)
	}
	return nil
}
