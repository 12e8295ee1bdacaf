package batch

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mixedcodec/mixed"
)

// A JSON batch is read into the same call records as a multipart one: each
// request object becomes the raw HTTP/1.1 request it stands for, written
// into the batch's arena by a MessageWriter with the options the calls are
// read with, so that every rule of the multipart path (targets, hosts,
// fields, limits) applies to it unchanged; an atomicity group becomes a
// changeset, dependsOn the dependencies result references use.

// errObjectTooLarge is what the body reader returns once one JSON value of
// the batch, a request object or a field of the envelope, has gone past
// MaxPartBytes: its end cannot be found without reading it, so the batch
// stops there.
var errObjectTooLarge = errors.New("over the size limit")

// requestObject is one request object of a JSON batch. Headers, Body and
// DependsOn are views of the object's bytes, valid until the next object
// is read.
type requestObject struct {
	ID, Method, URL, AtomicityGroup string
	Headers, Body                   []byte
	DependsOn                       [][]byte
	// plain: no string of the object has an escape or a byte outside
	// ASCII (jsonScanner.plain), so each is its own text.
	plain bool
}

// parseRequestObject reads the request object b, which jsonScanner has
// read as a value and so is valid JSON, into jr (plain as the scanner
// said of b): keys matched without regard to case and the last of a
// repeated key kept, as encoding/json does; a value of the wrong type is
// reported (the first one) after the other keys have been read, so that
// the call still has its id. The value of a key it does not know may nest
// maxDepth levels, as a body may. members, when not nil, are where the
// scanner found the object's members (jsonScanner.topMembers), which
// spares a walk over the object.
func parseRequestObject(b []byte, jr *requestObject, maxDepth int, plain bool, members []memberSpan) error {
	*jr = requestObject{DependsOn: jr.DependsOn[:0], plain: plain}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return fmt.Errorf("%w: a request must be an object, not %.20s", ErrJSONRequest, b[i:])
	}
	var first error
	for m := range objectMembers(b, i, members) {
		key, err := unquoteIn(b[m.key:stringEnd(b, m.key)], plain)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrJSONRequest, err)
		}
		if err := jr.set(key, b[m.start:m.end], maxDepth); err != nil && first == nil {
			first = fmt.Errorf("%w: %w", ErrJSONRequest, err)
		}
	}
	return first
}

// set reads v, the value of key in a request object, into jr. It reports
// a value of the wrong type, having kept what it could of it.
func (jr *requestObject) set(key, v []byte, maxDepth int) error {
	switch requestKey(key) {
	case "id":
		switch {
		case v[0] == '-' || '0' <= v[0] && v[0] <= '9':
			jr.ID = string(v) // some clients number their requests
			return nil
		case v[0] == 'n':
			jr.ID = ""
			return nil
		}
		return stringValue("an id", v, &jr.ID, jr.plain)
	case "method":
		return stringValue("method", v, &jr.Method, jr.plain)
	case "url":
		return stringValue("url", v, &jr.URL, jr.plain)
	case "atomicityGroup":
		return stringValue("atomicityGroup", v, &jr.AtomicityGroup, jr.plain)
	case "headers":
		jr.Headers = v
	case "body":
		jr.Body = v
	case "dependsOn":
		var err error
		jr.DependsOn, err = appendDependsOn(jr.DependsOn[:0], v, jr.plain)
		return err
	default:
		return checkDepth(v, maxDepth)
	}
	return nil
}

// requestKeys are the keys of a request object that set reads.
var requestKeys = [...]string{"id", "url", "body", "method", "headers", "dependsOn", "atomicityGroup"}

// requestKey returns the key of a request object that key is, or "" for
// none (see foldedKey).
func requestKey(key []byte) string { return foldedKey(key, requestKeys[:]) }

// foldedKey returns the one of keys that key is, matched without regard to
// case as encoding/json matches a field's name (bytes.EqualFold, which
// also takes "\u017f" for an s and "\u212a" for a k), or "" for none. The
// keys of the same length are tried first: they are the only ones an
// ASCII key can be.
func foldedKey(key []byte, keys []string) string {
	for _, k := range keys {
		if len(k) == len(key) && bytes.EqualFold(key, []byte(k)) {
			return k
		}
	}
	for _, c := range key {
		if c >= utf8.RuneSelf {
			for _, k := range keys {
				if bytes.EqualFold(key, []byte(k)) {
					return k
				}
			}
			break
		}
	}
	return ""
}

// stringValue reads the JSON value v into dst when it is a string (null
// leaves dst as it is); what names the key, for the error; plain as for
// unquoteIn.
func stringValue(what string, v []byte, dst *string, plain bool) error {
	switch v[0] {
	case '"':
		if plain {
			*dst = string(v[1 : len(v)-1])
			return nil
		}
		s, err := unquote(v)
		*dst = s
		return err
	case 'n':
		return nil
	}
	return fmt.Errorf("%s must be a string, not %.20s", what, v)
}

// appendDependsOn appends to dst views of the ids in v, the value of a
// dependsOn key: an array of strings, or null; plain as for unquoteIn.
func appendDependsOn(dst [][]byte, v []byte, plain bool) ([][]byte, error) {
	switch v[0] {
	case 'n':
		return dst, nil
	case '[':
	default:
		return dst, fmt.Errorf("dependsOn must be an array of strings, not %.20s", v)
	}
	var first error
	for j := skipSpace(v, 1); v[j] != ']'; {
		if v[j] != '"' {
			return dst, fmt.Errorf("dependsOn must be an array of strings")
		}
		e := stringEnd(v, j)
		d, err := unquoteIn(v[j:e], plain)
		if err != nil && first == nil {
			first = err
		}
		dst = append(dst, d)
		if j = skipSpace(v, e); v[j] == ',' {
			j = skipSpace(v, j+1)
		}
	}
	return dst, first
}

// valueEnd returns the index just past the JSON value that starts at b[i];
// b is valid JSON.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[j])) {
		j++
	}
	return j
}

// unquote is the JSON string literal b as a string, as json.Unmarshal
// decodes it: sliced out when it holds no escapes and no control
// characters (the common case, one allocation), else decoded by
// encoding/json. (Unmarshal for each literal of a body of many result
// references cost as much memory as the rest of reading them.)
func unquote(b []byte) (string, error) {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && plainString(b[1:len(b)-1]) {
		return string(b[1 : len(b)-1]), nil
	}
	var s string
	err := json.Unmarshal(b, &s)
	return s, err
}

// plainString reports whether b, the inside of a string literal, is its
// own value: UTF-8, without a quote, a backslash or a control character.
func plainString(b []byte) bool {
	var all byte // the bits of every byte: ASCII needs no UTF-8 check
	for _, c := range b {
		if c < ' ' || c == '"' || c == '\\' {
			return false
		}
		all |= c
	}
	return all < utf8.RuneSelf || utf8.Valid(b)
}

// jsonBatch is what reading a JSON batch keeps besides the calls.
type jsonBatch struct {
	ids    map[string]int // request ids and atomicity groups: their call (or head) index
	closed map[string]bool
	group  string     // the atomicity group of the call read last
	stream jsonStream // the body, read through its buffer
	req    requestObject
	// seen[k] is 1 + the index of the last call found to depend on call
	// k: a dependsOn of a million entries costs a million steps.
	seen []int
	// ahead are the calls whose url starts with $id where id named no
	// earlier request: once the batch is read, one that names a later
	// request, or its own, is refused, as a multipart changeset refuses
	// it, rather than sent on as a path.
	ahead []aheadRef
	msgw  *mixed.MessageWriter
	hdr   mixed.Header
	ct    []byte // the Content-Type of the request being read (see jsonBody)
	base  url.URL
}

// An aheadRef is a $id url of call (request part) whose id was not that
// of an earlier request.
type aheadRef struct {
	call, part int
	id         string
}

// arenaWriter appends what is written to the batch's arena.
type arenaWriter struct{ st *batchState }

func (a arenaWriter) Write(p []byte) (int, error) {
	a.st.arena = append(a.st.arena, p...)
	return len(p), nil
}

// readJSON reads a JSON batch body, request object by request object, into
// calls, and the body to its end.
func (h *Handler) readJSON(st *batchState, body io.Reader, r *http.Request) (int, error) {
	h.startJSON(st, r)
	jr := &jsonReader{h: h, st: st, js: &st.jb.stream}
	js := jr.js
	js.reset(body)
	// From here each value, and each stretch of white space, is bounded
	// by MaxPartBytes on its own (see setMark).
	js.setMark(h.opts.MaxPartBytes)
	if err := jr.expect('{'); err != nil {
		return jr.fail(err)
	}
	seen := false
	for first := true; ; first = false {
		c, err := js.peek()
		if err != nil {
			return jr.fail(js.noEOF(err))
		}
		keyAt := js.pos()
		if c == '}' && first {
			js.take()
			break
		}
		if c != '"' {
			return jr.fail(js.syntax(c, "looking for beginning of object key string"))
		}
		raw, err := js.value(jsonMaxNesting)
		if err != nil {
			return jr.fail(err)
		}
		key, err := unquote(raw)
		if err != nil {
			return jr.fail(err)
		}
		if c, err = js.peek(); err != nil {
			return jr.fail(js.noEOF(err))
		}
		if c != ':' {
			return jr.fail(js.syntax(c, "after object key"))
		}
		js.take()
		isRequests := strings.EqualFold(key, "requests")
		if isRequests && seen {
			// encoding/json would keep the last array, and a proxy or
			// log reading the batch that way would see other calls than
			// the ones that run: refused, not chosen.
			return http.StatusBadRequest, fmt.Errorf("%w: the requests array is given twice, again at byte %d", ErrJSONBatch, keyAt)
		}
		if isRequests {
			seen = true
			if status, err := jr.requests(); err != nil {
				return status, err
			}
		} else if err := jr.skipValue(); err != nil {
			return jr.fail(err)
		}
		if c, err = js.peek(); err != nil {
			return jr.fail(js.noEOF(err))
		}
		js.take()
		if c == '}' {
			break
		}
		if c != ',' {
			return jr.fail(js.syntaxBefore(c, "after object key:value pair"))
		}
	}
	if !seen {
		return http.StatusBadRequest, fmt.Errorf("%w: no requests array", ErrJSONBatch)
	}
	// The body is read to its end before any call runs, as the multipart
	// path does: only white space may follow, and only so much of it.
	js.setMark(h.opts.MaxEpilogueBytes)
	if _, err := js.peek(); err != io.EOF {
		switch {
		case err == nil:
			return http.StatusBadRequest, fmt.Errorf("%w: more after the batch object at byte %d", ErrJSONBatch, js.pos())
		case errors.Is(err, errObjectTooLarge):
			return http.StatusBadRequest, fmt.Errorf("%w: more than %d bytes (MaxEpilogueBytes) of white space after the batch object at byte %d", ErrJSONBatch, h.opts.MaxEpilogueBytes, js.mark)
		}
		return jr.fail(err)
	}
	st.finishJSON()
	return 0, nil
}

// startJSON readies st to read a JSON batch of request r.
func (h *Handler) startJSON(st *batchState, r *http.Request) {
	jb := &st.jb
	if jb.ids == nil {
		jb.ids, jb.closed = make(map[string]int), make(map[string]bool)
		jb.msgw = mixed.NewMessageWriterOptions(h.messageOptions())
	}
	clear(jb.ids)
	clear(jb.closed)
	jb.seen = jb.seen[:0]
	jb.ahead = jb.ahead[:0]
	jb.group = ""
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	jb.base = url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path}
	st.spans, st.ncalls = st.spans[:0], 0
}

// A jsonReader reads the body of one JSON batch.
type jsonReader struct {
	h  *Handler
	st *batchState
	js *jsonStream
}

// expect takes the next byte (after white space), which must be d.
func (jr *jsonReader) expect(d byte) error {
	c, err := jr.js.peek()
	if err != nil {
		return jr.js.noEOF(err)
	}
	if c != d {
		return fmt.Errorf("found %s where '%c' belongs, at byte %d", quoteJSONChar(c), d, jr.js.pos())
	}
	jr.js.take()
	return nil
}

// fail is the status and error of a batch whose body cannot be read on.
func (jr *jsonReader) fail(err error) (int, error) {
	if status, err := tooLarge(err); status != 0 {
		return status, err
	}
	if errors.Is(err, errObjectTooLarge) {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("%w: a value of the body over %d bytes (MaxPartBytes) at byte %d", ErrJSONBatch, jr.h.opts.MaxPartBytes, jr.js.mark)
	}
	return http.StatusBadRequest, fmt.Errorf("%w: %w", ErrJSONBatch, err)
}

// skipValue reads the value of a key of the batch object other than
// requests, checking only its depth.
func (jr *jsonReader) skipValue() error {
	_, err := jr.js.value(jr.h.opts.MaxJSONDepth - 1)
	return err
}

// requests reads the requests array, one request object at a time, into
// calls.
func (jr *jsonReader) requests() (int, error) {
	h, st, jb, js := jr.h, jr.st, &jr.st.jb, jr.js
	maxCalls := h.opts.MaxCalls
	if st.format == FormatGraphJSON {
		maxCalls = h.maxGraphCalls
	}
	if err := jr.expect('['); err != nil {
		return jr.fail(err)
	}
	c, err := js.peek()
	if err != nil {
		return jr.fail(js.noEOF(err))
	}
	if c == ']' {
		js.take()
		return 0, nil
	}
	for n := 0; ; n++ {
		if st.ncalls == maxCalls {
			js.peek() // for where the request begins
			return http.StatusBadRequest, fmt.Errorf("%w: more than %d requests in one batch, the next at byte %d", ErrJSONBatch, maxCalls, js.pos())
		}
		// The scanner finds the object's end, and checks that it is
		// JSON; its bytes are a view of the stream's buffer, valid
		// until the next value is read.
		raw, err := js.value(jsonMaxNesting)
		if err != nil {
			return jr.fail(err) // not JSON, or too large: the rest cannot be read
		}
		err = parseRequestObject(raw, &jb.req, h.opts.MaxJSONDepth-2, js.scan.plain, js.scan.topMembers())
		st.ncalls++
		h.addJSONCall(st, n, &jb.req, err)
		if c, err = js.peek(); err != nil {
			return jr.fail(js.noEOF(err))
		}
		js.take()
		if c == ']' {
			return 0, nil
		}
		if c != ',' {
			return jr.fail(js.syntaxBefore(c, "after array element"))
		}
	}
}

// finishJSON checks the $id urls that named a later request, now that
// every id is known, and gives the calls their views of the arena.
func (st *batchState) finishJSON() {
	jb := &st.jb
	for _, a := range jb.ahead {
		c := &st.calls[a.call]
		if k, ok := jb.ids[a.id]; ok && c.err == nil && st.calls[k].kind != changesetHead {
			sp := st.spans[a.call]
			c.err = fmt.Errorf("request %d (id %q): %w: url $%s names request %d, not an earlier one", a.part, st.arena[sp.idStart:sp.idEnd], ErrJSONRequest, a.id, st.calls[k].part)
			if c.kind == memberCall {
				st.calls[c.head].err = c.err
			}
		}
	}
	for i, sp := range st.spans {
		st.calls[i].cid = st.arena[sp.idStart:sp.idEnd:sp.idEnd]
		st.calls[i].raw = st.arena[sp.rawStart:sp.rawEnd:sp.rawEnd]
	}
}

// checkDepth reports ErrJSONTooDeep when the JSON value b nests deeper than
// max, in one pass.
func checkDepth(b []byte, max int) error {
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > max {
				return fmt.Errorf("%w: more than %d levels", ErrJSONTooDeep, max)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// addJSONCall appends request object n of the batch, jr, as a call (after
// its changeset head when it opens an atomicity group); readErr says why
// the object is not a request, if it is not one.
func (h *Handler) addJSONCall(st *batchState, n int, jr *requestObject, readErr error) {
	jb := &st.jb
	id := string(jr.ID)
	group := jr.AtomicityGroup
	if st.format == FormatGraphJSON {
		group = "" // Graph has no atomicity groups
	}
	c := call{part: n}
	err := readErr
	if err == nil && group != "" {
		switch k, known := jb.ids[group]; {
		case group == jb.group:
			c.kind, c.head = memberCall, k
		case known && st.calls[k].kind != changesetHead:
			err = fmt.Errorf("%w: atomicityGroup %q is the id of a request", ErrJSONRequest, group)
		case jb.closed[group]:
			err = fmt.Errorf("%w: the requests of atomicity group %q are not adjacent", ErrJSONRequest, group)
		default:
			if jb.group != "" {
				jb.closed[jb.group] = true
			}
			jb.group = group
			jb.ids[group] = len(st.calls)
			st.appendCall(call{kind: changesetHead, part: n}, group)
			c.kind, c.head = memberCall, len(st.calls)-1
		}
	}
	if c.kind != memberCall && jb.group != "" {
		jb.closed[jb.group] = true
		jb.group = ""
	}
	if err == nil {
		err = h.linkJSON(st, &c, id, jr)
	}
	at := len(st.arena)
	if err == nil {
		err = h.writeJSONCall(st, &c, jr)
	}
	if err != nil {
		st.arena = st.arena[:at]
		c.err = fmt.Errorf("request %d (id %q): %w", n, id, err)
		if c.kind == memberCall {
			// The group cannot run without it: it fails as a whole.
			st.calls[c.head].err = c.err
		}
	}
	if c.kind == memberCall {
		st.calls[c.head].members++
	}
	if _, dup := jb.ids[id]; !dup && id != "" {
		// Even a request that cannot run has its id taken: one that
		// depends on it fails with 424.
		jb.ids[id] = len(st.calls)
	}
	// The span of the id: appendCall writes it first, then the raw
	// request follows in the arena.
	st.appendCallRaw(c, id, at)
}

// appendCall appends call c, which has no request bytes, with id as its
// Content-ID.
func (st *batchState) appendCall(c call, id string) {
	var sp span
	sp.idStart = len(st.arena)
	st.arena = append(st.arena, id...)
	sp.idEnd, sp.rawStart, sp.rawEnd = len(st.arena), len(st.arena), len(st.arena)
	st.calls = append(st.calls, c)
	st.spans = append(st.spans, sp)
}

// appendCallRaw appends call c whose raw request starts at arena offset
// rawStart and runs to the arena's end, with id as its Content-ID.
func (st *batchState) appendCallRaw(c call, id string, rawStart int) {
	sp := span{rawStart: rawStart, rawEnd: len(st.arena)}
	sp.idStart = len(st.arena)
	st.arena = append(st.arena, id...)
	sp.idEnd = len(st.arena)
	st.calls = append(st.calls, c)
	st.spans = append(st.spans, sp)
}

// linkJSON checks the id of call c and resolves its dependsOn, which name
// earlier requests or atomicity groups.
func (h *Handler) linkJSON(st *batchState, c *call, id string, jr *requestObject) error {
	jb := &st.jb
	if id == "" {
		return fmt.Errorf("%w: no id", ErrJSONRequest)
	}
	if _, dup := jb.ids[id]; dup {
		return fmt.Errorf("%w: the id %q is not unique", ErrJSONRequest, id)
	}
	for _, d := range jr.DependsOn {
		k, ok := jb.ids[string(d)]
		switch {
		case !ok:
			return fmt.Errorf("%w: dependsOn %q names no earlier request or atomicity group", ErrJSONRequest, d)
		case c.kind == memberCall && k == c.head:
			return fmt.Errorf("%w: dependsOn %q names its own atomicity group", ErrJSONRequest, d)
		}
		st.dependOn(c, k)
	}
	return nil
}

// dependOn makes call c, the next call of the batch, wait for call k (a
// call or a changeset head), and fail with 424 unless k succeeded.
func (st *batchState) dependOn(c *call, k int) {
	seen := st.jb.seen
	for len(seen) <= k {
		seen = append(seen, 0)
	}
	st.jb.seen = seen
	if seen[k] == len(st.calls)+1 {
		return
	}
	seen[k] = len(st.calls) + 1
	c.after = append(c.after, k)
	c.deps = append(c.deps, k)
	if d := &st.calls[k]; !d.referenced {
		d.referenced = true
		d.done = make(chan struct{})
	}
}

// writeJSONCall writes the HTTP/1.1 request that jr stands for into the
// arena.
func (h *Handler) writeJSONCall(st *batchState, c *call, jr *requestObject) error {
	jb := &st.jb
	if jr.Method == "" {
		return fmt.Errorf("%w: no method", ErrJSONRequest)
	}
	target, err := h.jsonTarget(st, c, jr.URL)
	if err != nil {
		return err
	}
	jb.hdr.Reset()
	if err := addJSONHeaders(&jb.hdr, jr.Headers, mixed.DefaultMaxHeaderFields, mixed.DefaultMaxHeaderBytes, jr.plain); err != nil {
		return fmt.Errorf("%w: %w", ErrJSONRequest, err)
	}
	body, err := h.jsonBody(st.format, &jb.hdr, jr.Body, &jb.ct)
	if err != nil {
		return err
	}
	return jb.msgw.WriteRequest(arenaWriter{st}, jr.Method, target, &jb.hdr, body)
}

// addJSONHeaders adds the fields of the headers object raw, in the order
// it gives them, to hdr: a value is a string, an array of strings (a field
// given more than once), or a number or boolean taken as its text.
// Content-Length and Transfer-Encoding are left out, since the body is
// framed here. raw is valid JSON (jsonScanner, or encoding/json on the
// client), which the walk relies on; plain is as for unquoteIn. The fields stop at maxFields and maxBytes (as
// name: value lines), the limits of the head they go into: an array of
// empty strings under a long name would otherwise repeat the name without
// bound.
func addJSONHeaders(hdr *mixed.Header, raw json.RawMessage, maxFields, maxBytes int, plain bool) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] != '{' {
		return errors.New("headers must be an object")
	}
	var name, value []byte
	var err error
	fields, size := 0, 0
	for i := skipSpace(raw, 1); raw[i] != '}'; {
		end := stringEnd(raw, i)
		if name, err = unquoteIn(raw[i:end], plain); err != nil {
			return fmt.Errorf("header name: %w", err)
		}
		// ASCII folding, as everywhere a field name is compared:
		// bytes.EqualFold would also take "Tran\u017ffer-Encoding" (a
		// long s) for the framing field.
		framing := equalFoldASCII(string(name), "Content-Length") || equalFoldASCII(string(name), "Transfer-Encoding")
		i = skipSpace(raw, skipSpace(raw, end)+1) // past the colon
		inArray := raw[i] == '['
		if inArray {
			i = skipSpace(raw, i+1)
		}
		for !inArray || raw[i] != ']' {
			switch raw[i] {
			case '{', '[':
				return errors.New("a header value must be a string")
			case '"':
				end = stringEnd(raw, i)
				if value, err = unquoteIn(raw[i:end], plain); err != nil {
					return fmt.Errorf("header %q: %w", name, err)
				}
			default:
				end = i
				for end < len(raw) && !strings.ContainsRune(",}] \t\r\n", rune(raw[end])) {
					end++
				}
				value = raw[i:end]
			}
			if null := raw[i] == 'n'; !framing && !null {
				value = bytes.Trim(value, " \t")
				if fields++; fields > maxFields {
					return fmt.Errorf("%w: more than %d", mixed.ErrTooManyFields, maxFields)
				}
				if size += len(name) + len(value) + 4; size > maxBytes {
					return fmt.Errorf("%w: more than %d bytes", mixed.ErrHeaderTooLarge, maxBytes)
				}
				hdr.AddBytes(name, value)
			}
			i = skipSpace(raw, end)
			if !inArray {
				break
			}
			if raw[i] == ',' {
				i = skipSpace(raw, i+1)
			}
		}
		if inArray {
			i = skipSpace(raw, i+1)
		}
		if raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return nil
}

// skipSpace returns the index of the first byte of b at or after i that is
// not JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string literal that
// starts at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// unquoteView is the JSON string literal b decoded: a view of b when it
// holds no escapes and is valid UTF-8, else a decoded copy (invalid UTF-8
// replaced, as encoding/json does).
func unquoteView(b []byte) ([]byte, error) {
	if len(b) >= 2 && viewable(b[1:len(b)-1]) {
		return b[1 : len(b)-1], nil
	}
	s, err := unquote(b)
	return []byte(s), err
}

// unquoteIn is unquoteView of the literal b, which is its own text when
// plain says so (see jsonScanner.plain).
func unquoteIn(b []byte, plain bool) ([]byte, error) {
	if plain {
		return b[1 : len(b)-1], nil
	}
	return unquoteView(b)
}

// viewable reports whether b, the inside of a valid string literal, is
// its own value: UTF-8 without escapes. A byte loop, not IndexByte and
// utf8.Valid: most of these strings are a few bytes long, and ASCII.
func viewable(b []byte) bool {
	var all byte
	for _, c := range b {
		if c == '\\' {
			return false
		}
		all |= c
	}
	return all < utf8.RuneSelf || utf8.Valid(b)
}

// jsonTarget is the request target of a call whose url is u: a path as it
// is, an absolute URL as it is (the call is refused later unless it names
// the batch endpoint's host), $id (OData's reference to the Location of an
// earlier request's response) a placeholder that callRequest replaces,
// and anything else resolved against the batch request's URL, as OData
// resolves against the service root.
func (h *Handler) jsonTarget(st *batchState, c *call, u string) (string, error) {
	if u == "" {
		return "", fmt.Errorf("%w: no url", ErrJSONRequest)
	}
	if !validURL(u) {
		u = escapeURL(u)
	}
	if u[0] == '$' {
		id, rest := u[1:], ""
		if k := strings.IndexAny(id, "/?"); k >= 0 {
			id, rest = id[:k], id[k:]
		}
		k, ok := st.jb.ids[id]
		if ok && st.calls[k].kind != changesetHead {
			st.dependOn(c, k)
			c.locRef, c.locRest = k+1, rest
			st.calls[k].wantLocation = true
			return "/", nil
		}
		if !ok {
			st.jb.ahead = append(st.jb.ahead, aheadRef{call: len(st.calls), part: c.part, id: id})
		}
	}
	if u[0] == '/' && (len(u) == 1 || u[1] != '/') {
		return u, nil
	}
	ref, err := url.Parse(u)
	if err != nil {
		// Quoted once, and clipped: each call's error would repeat a
		// long url many times over (url.Parse's error quotes it too).
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err
		}
		return "", fmt.Errorf("%w: url %q: %w", ErrJSONRequest, clip(u), err)
	}
	if ref.Scheme != "" {
		return u, nil
	}
	return st.jb.base.ResolveReference(ref).String(), nil
}

// validURL reports whether u can stand in a request line as it is: no
// white space, control characters or bytes outside ASCII.
func validURL(u string) bool {
	for i := 0; i < len(u); i++ {
		if u[i] <= ' ' || u[i] >= 0x7f {
			return false
		}
	}
	return true
}

// escapeURL percent-encodes what validURL refuses: a client that wrote a
// name with spaces or accents in a url means those characters.
func escapeURL(u string) string {
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= ' ' || c >= 0x7f {
			b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)>>4, 16)+strconv.FormatUint(uint64(c)&15, 16)))
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// jsonBody is the body of a request object as bytes: a JSON value when
// the request's Content-Type is JSON (or when it has none, which it then
// gets), else a string, base64-encoded (OData: base64url; either
// alphabet, padded or not, is read). scratch holds the Content-Type
// between calls, so that reading it allocates nothing.
func (h *Handler) jsonBody(f Format, hdr *mixed.Header, raw json.RawMessage, scratch *[]byte) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	// A repeated member is one field, its values joined, as a writer of
	// the batch chose the body's form by (see mediaTypeOf).
	ct, has := contentTypeOf((*scratch)[:0], hdr)
	*scratch = ct
	if !has {
		hdr.Add("Content-Type", "application/json")
	}
	if !has || isJSONMedia(ct) || raw[0] != '"' {
		if err := checkDepth(raw, h.opts.MaxJSONDepth-2); err != nil {
			return nil, err
		}
		return raw, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: body: %w", ErrJSONRequest, err)
	}
	if bodyFormOf(f, ct) == bodyText {
		return []byte(s), nil
	}
	b, err := decodeBase64(s)
	if err != nil {
		return nil, fmt.Errorf("%w: the body of a request of type %q is not base64: %w", ErrJSONRequest, ct, err)
	}
	return b, nil
}

// decodeBase64 decodes s in either base64 alphabet, with or without
// padding, ignoring line breaks as encoding/base64 does: those after the
// padding too ("QQ==\r\n", as a MIME encoder ends its last line).
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=\r\n")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
