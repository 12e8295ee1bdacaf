package batch

// The model of a JSON batch response that FuzzClientJSONResponse holds the
// Client's reader to: the document decoded by encoding/json alone, and
// read by the rules doc.go and client_json.go state, written here again
// without the reader's code, so that a reader that gives a call other
// bytes, fields or status than its response object says is caught.

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
	"pgregory.net/rapid"
)

// oracleMaxDoc is the largest document the model speaks for. The reader
// bounds each value of the document by MaxResponseBytes plus 64 KiB, and
// a response object's headers by mixed.DefaultMaxHeaderBytes (counted as
// name: value lines); below it neither bound can be reached, and the
// model leaves them out.
const oracleMaxDoc = 60 << 10

// oracleMaxResp is the MaxResponseBytes the reader is given.
const oracleMaxResp = 64

// oracleT is what the checks need of a *testing.T or a *rapid.T.
type oracleT interface {
	Helper()
	Errorf(format string, args ...any)
	Fatal(args ...any)
}

// An oracleKind is what a call gets from a JSON batch response.
type oracleKind int

const (
	oracleNone      oracleKind = iota // no answer: ErrNoResponse once the batch is over
	oracleErr                         // an error of its own: bad status, headers or body
	oracleTooLarge                    // an error wrapping ErrResponseTooLarge
	oracleResp                        // a response
	oracleChangeset                   // a ChangesetError holding the response of call failed
	oracleUnknown                     // either is right (see oracleBase64)
)

func (k oracleKind) String() string {
	return [...]string{"no answer", "an error", "ErrResponseTooLarge", "a response", "a ChangesetError", "unknown"}[k]
}

// An oracleOutcome is what a call gets, by the model.
type oracleOutcome struct {
	kind   oracleKind
	status int
	header http.Header
	body   []byte
	isJSON bool   // body is a JSON value, compared as one
	failed string // oracleChangeset: the id of the call whose response it holds
}

// An oracleElem is one usable element of a responses array: the id it
// names and what it says, as a response of its own.
type oracleElem struct {
	id  string
	out oracleOutcome
}

// An oracleModel is what the model makes of a document read as the JSON
// batch response to some calls.
type oracleModel struct {
	// exact: the document is JSON (encoding/json reads it whole), within
	// oracleMaxDoc, and its envelope can be read to its end within the
	// reader's bound on values; then outcomes and problem say all.
	exact bool
	// valid: encoding/json reads the document.
	valid bool
	// cut: the reader stops inside a responses array (the document is
	// not JSON there, or has too many values), before the changesets
	// are answered at the end.
	cut bool
	// elems are the usable response objects the reader reaches, in
	// document order (up to where it stops, when the document is not
	// JSON or is past a bound).
	elems    []oracleElem
	outcomes map[string]oracleOutcome // by call id, when exact
	// problem: a response object names no call, or a call twice
	// (ErrResponseMismatch).
	problem bool
}

// An oracleDoc is a document as encoding/json reads it, before the
// format and the calls give it a meaning.
type oracleDoc struct {
	valid, complete, cut bool // see oracleModel, oracleEnvelope
	size                 int
	objects              []oracleObj // the usable response objects
}

// An oracleObj is one usable response object (see oracleObject).
type oracleObj struct {
	id            string
	status        int
	headers, body json.RawMessage
}

// oracleParse reads doc as the reader reads a JSON batch response, with
// at most maxValues values (members of the envelope and response
// objects).
func oracleParse(doc []byte, maxValues int) *oracleDoc {
	d := &oracleDoc{valid: json.Valid(doc), size: len(doc)}
	var raws []json.RawMessage
	raws, d.complete, d.cut = oracleEnvelope(doc, maxValues)
	for _, raw := range raws {
		if o, ok := oracleObject(raw); ok {
			d.objects = append(d.objects, o)
		}
		// else JSON, but not a response object: skipped, as no problem
	}
	return d
}

// oracleRead is the model of document d read, in format f, as the
// response to calls with ids ids; group[id] is the changeset of the call
// (0: none).
func oracleRead(f Format, d *oracleDoc, ids []string, group map[string]int) *oracleModel {
	m := &oracleModel{valid: d.valid, cut: d.cut, exact: d.valid && d.complete && d.size < oracleMaxDoc}
	known := map[string]bool{}
	for _, id := range ids {
		known[id] = true
	}
	n := map[string]int{}
	for _, o := range d.objects {
		m.elems = append(m.elems, oracleElem{o.id, oracleResponse(f, o.status, o.headers, o.body)})
		n[o.id]++
		if !known[o.id] || n[o.id] > 1 {
			m.problem = true
		}
	}
	if !m.exact {
		return m
	}
	// A call answered twice keeps neither answer, and its changeset
	// none; the others of a changeset are answered together, from their
	// objects in document order.
	m.outcomes = map[string]oracleOutcome{}
	byGroup := map[int][]oracleElem{}
	twice := map[int]bool{}
	for _, id := range ids {
		if n[id] > 1 {
			twice[group[id]] = true
		}
	}
	for _, e := range m.elems {
		if !known[e.id] || n[e.id] > 1 {
			continue
		}
		if g := group[e.id]; g != 0 {
			byGroup[g] = append(byGroup[g], e)
		} else {
			m.outcomes[e.id] = e.out
		}
	}
	for g, answers := range byGroup {
		if twice[g] {
			continue
		}
		var members []string
		for _, id := range ids {
			if group[id] == g {
				members = append(members, id)
			}
		}
		for id, out := range oracleGroup(answers) {
			if id == "" {
				for _, id := range members {
					m.outcomes[id] = out
				}
			} else {
				m.outcomes[id] = out
			}
		}
	}
	return m
}

// oracleGroup is what the calls of one changeset get from their response
// objects, in document order: by call id, or for every call of the
// changeset under "". When a response cannot be read the outcome of the
// group is unknown: each call gets that error (the first). When one
// failed (4xx, 5xx) each gets a ChangesetError holding it, the first that
// is not a 424 (which only says another failed), else the last 424. Else
// each call with a response object gets its response.
func oracleGroup(answers []oracleElem) map[string]oracleOutcome {
	for _, a := range answers {
		switch a.out.kind {
		case oracleUnknown:
			return map[string]oracleOutcome{"": {kind: oracleUnknown}}
		case oracleErr, oracleTooLarge:
			return map[string]oracleOutcome{"": a.out}
		}
	}
	var failed *oracleElem
	for i, a := range answers {
		if a.out.status >= 400 && a.out.status != http.StatusFailedDependency {
			failed = &answers[i]
			break
		}
		if a.out.status == http.StatusFailedDependency {
			failed = &answers[i]
		}
	}
	if failed != nil {
		out := failed.out
		out.kind, out.failed = oracleChangeset, failed.id
		return map[string]oracleOutcome{"": out}
	}
	outs := map[string]oracleOutcome{}
	for _, a := range answers {
		outs[a.id] = a.out
	}
	return outs
}

// oracleEnvelope returns the elements of every responses array of doc
// (the member named exactly "responses": JSON names are case-sensitive;
// every one of them, so that a call answered in two is answered twice),
// in document order, as encoding/json's Decoder reads them one value at a
// time, whether the envelope could be read to its end, and whether it
// stopped inside a responses array. It stops at the first thing that is
// not JSON, at a member named responses that is not an array, and past
// maxValues values.
func oracleEnvelope(doc []byte, maxValues int) (elems []json.RawMessage, complete, cut bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false, false
	}
	values := 0
	for dec.More() {
		if values++; values > maxValues {
			return elems, false, false
		}
		key, err := dec.Token()
		if err != nil {
			return elems, false, false
		}
		if key != "responses" {
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return elems, false, false
			}
			continue
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			return elems, false, false
		}
		for dec.More() {
			if values++; values > maxValues {
				return elems, false, true
			}
			var raw json.RawMessage
			if dec.Decode(&raw) != nil {
				return elems, false, true
			}
			elems = append(elems, raw)
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
			return elems, false, true
		}
	}
	tok, err := dec.Token()
	return elems, err == nil && tok == json.Delim('}'), false
}

// A jsonMember is one member of a JSON object, as the object gives it.
type jsonMember struct {
	key   string
	value json.RawMessage
}

// jsonMembers returns the members of the JSON object raw in order,
// repeated keys included, or false if raw is not an object.
func jsonMembers(raw []byte) ([]jsonMember, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var ms []jsonMember
	for dec.More() {
		tok, err := dec.Token()
		key, isKey := tok.(string)
		if err != nil || !isKey {
			return nil, false
		}
		var v json.RawMessage
		if dec.Decode(&v) != nil {
			return nil, false
		}
		ms = append(ms, jsonMember{key, bytes.TrimSpace(v)})
	}
	return ms, true
}

// oracleObject reads one element of a responses array as encoding/json
// decodes it into a struct of id, status, headers and body, which is how
// the reader decodes it: keys matched without regard to case (Unicode
// folding, as encoding/json's), the last of a repeated key kept, a null
// status changing nothing. The element is unusable (ok false: the reader
// skips it) when it is neither an object nor null, or when any of those
// keys has a value of the wrong type: an id that is not a string or a
// number (a number is its text; null names no call), a status that is
// not an integer.
func oracleObject(raw json.RawMessage) (o oracleObj, ok bool) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return o, true
	}
	ms, isObject := jsonMembers(raw)
	if !isObject {
		return o, false
	}
	for _, m := range ms {
		v := m.value
		switch {
		case strings.EqualFold(m.key, "id"):
			switch {
			case v[0] == '"':
				if json.Unmarshal(v, &o.id) != nil {
					return o, false
				}
			case v[0] == '-' || '0' <= v[0] && v[0] <= '9':
				o.id = string(v)
			case string(v) == "null":
				o.id = ""
			default:
				return o, false
			}
		case strings.EqualFold(m.key, "status"):
			if string(v) == "null" {
				continue
			}
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return o, false
			}
			o.status = int(n)
		case strings.EqualFold(m.key, "headers"):
			o.headers = v
		case strings.EqualFold(m.key, "body"):
			o.body = v
		}
	}
	return o, true
}

// oracleResponse is what a call gets from a response object of status,
// headers and body in a batch of format f, answered alone.
//
// Headers: an object whose values are strings, numbers or booleans (their
// text), null (no field) or arrays of those (a field given more than
// once), each value trimmed of spaces and tabs; Content-Length and
// Transfer-Encoding left out (the batch frames the body); at most
// mixed.DefaultMaxHeaderFields fields.
//
// Body, by the Content-Type the fields give (all its values joined): none
// for null; without a Content-Type, a JSON value, which gets
// application/json; a JSON value as it is under a JSON type, or when it
// is not a string; else, in OData under a text type, the string's text;
// else the string base64-decoded, in either alphabet, padded or not. A
// body over oracleMaxResp bytes is ErrResponseTooLarge.
func oracleResponse(f Format, status int, headers, body json.RawMessage) oracleOutcome {
	bad := oracleOutcome{kind: oracleErr}
	if status < 100 || status > 999 {
		return bad
	}
	h := http.Header{}
	var cts []string
	fields := 0
	if len(headers) > 0 && string(headers) != "null" {
		ms, isObject := jsonMembers(headers)
		if !isObject {
			return bad
		}
		for _, m := range ms {
			vs, ok := oracleHeaderValues(m.value)
			if !ok {
				return bad
			}
			if equalFoldASCIIOracle(m.key, "Content-Length") || equalFoldASCIIOracle(m.key, "Transfer-Encoding") {
				continue
			}
			for _, v := range vs {
				v = strings.Trim(v, " \t")
				if fields++; fields > mixed.DefaultMaxHeaderFields {
					return bad
				}
				// A field net/http's ReadResponse refuses: a name that
				// is not a token, a value with a control character.
				if !oracleToken(m.key) || strings.IndexFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0 {
					return bad
				}
				h.Add(m.key, v)
				if equalFoldASCIIOracle(m.key, "Content-Type") {
					cts = append(cts, v)
				}
			}
		}
	}
	var nonEmpty []string
	for _, v := range cts {
		if v != "" {
			nonEmpty = append(nonEmpty, v)
		}
	}
	ct, hasCT := strings.Join(nonEmpty, ", "), len(cts) > 0
	// A body under a Content-Encoding is bytes, whatever its type: a
	// string holds it in base64.
	encoded := slices.ContainsFunc(h.Values("Content-Encoding"), func(v string) bool {
		v = strings.TrimSpace(v)
		return v != "" && !strings.EqualFold(v, "identity")
	})
	out := oracleOutcome{kind: oracleResp, status: status, header: h}
	switch {
	case len(body) == 0 || string(body) == "null":
	case !hasCT:
		h.Set("Content-Type", "application/json")
		out.body, out.isJSON = body, true
	case body[0] != '"' || oracleIsJSON(ct) && !encoded:
		out.body, out.isJSON = body, true
	default:
		var s string
		if err := json.Unmarshal(body, &s); err != nil {
			panic(err) // body is a JSON string
		}
		if f == FormatODataJSON && oracleIsText(ct) && !encoded {
			out.body = []byte(s)
			break
		}
		b, known := oracleBase64(s)
		switch {
		case !known:
			return oracleOutcome{kind: oracleUnknown}
		case b == nil:
			return bad
		}
		out.body = b
	}
	if len(out.body) > oracleMaxResp {
		return oracleOutcome{kind: oracleTooLarge}
	}
	// As net/http's transport: a gzip body (by the first Content-Encoding)
	// comes decoded to a call that did not ask for it, and none of the
	// model's calls do.
	if ce := h.Values("Content-Encoding"); len(out.body) > 0 && len(ce) > 0 && strings.EqualFold(strings.TrimSpace(ce[0]), "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(out.body))
		if err != nil {
			return bad
		}
		plain, err := io.ReadAll(zr)
		switch {
		case len(plain) > oracleMaxResp:
			return oracleOutcome{kind: oracleTooLarge}
		case err != nil:
			return bad
		}
		h.Del("Content-Encoding")
		out.body, out.isJSON = plain, false
	}
	return out
}

// oracleToken reports whether s is an RFC 9110 token: one or more of
// the tchar bytes, written out here apart from the reader's table.
func oracleToken(s string) bool {
	const tchar = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.Contains(tchar, s[i:i+1]) {
			return false
		}
	}
	return true
}

// oracleHeaderValues returns the values of the header member value v.
func oracleHeaderValues(v json.RawMessage) ([]string, bool) {
	if v[0] == '[' {
		var elems []json.RawMessage
		if json.Unmarshal(v, &elems) != nil {
			return nil, false
		}
		var vs []string
		for _, e := range elems {
			s, null, ok := oracleHeaderValue(bytes.TrimSpace(e))
			if !ok {
				return nil, false
			}
			if !null {
				vs = append(vs, s)
			}
		}
		return vs, true
	}
	s, null, ok := oracleHeaderValue(v)
	if null || !ok {
		return nil, ok
	}
	return []string{s}, true
}

// oracleHeaderValue returns the text of one header value v: a string, a
// number or a boolean; null is no value.
func oracleHeaderValue(v json.RawMessage) (s string, null, ok bool) {
	switch v[0] {
	case '{', '[':
		return "", false, false
	case '"':
		return s, false, json.Unmarshal(v, &s) == nil
	case 'n':
		return "", true, true
	}
	return string(v), false, true // a number, true or false, as written
}

// oracleBase64 decodes s by the standard library's four base64 encodings
// (standard and URL alphabets, padded and not, line breaks ignored): the
// bytes, or nil when none reads it. The reader is more lenient about
// padding (it ignores '=' at the end, however many), so a string none
// reads that holds a '=' may or may not be read: known is false.
func oracleBase64(s string) (b []byte, known bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return append([]byte{}, b...), true
		}
	}
	return nil, !strings.Contains(s, "=")
}

// oracleMediaType is the media type of Content-Type ct in lower case,
// without parameters and the spaces and tabs around it.
func oracleMediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return asciiLowerOracle(strings.Trim(mt, " \t"))
}

// asciiLowerOracle is s with ASCII letters in lower case: media types and
// field names are ASCII tokens, and a Unicode fold would match names no
// HTTP peer takes as the same.
func asciiLowerOracle(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// oracleIsJSON: application/json or a +json type.
func oracleIsJSON(ct string) bool {
	mt := oracleMediaType(ct)
	return mt == "application/json" || len(mt) > len("+json") && strings.HasSuffix(mt, "+json")
}

// oracleIsText: top-level type text.
func oracleIsText(ct string) bool { return strings.HasPrefix(oracleMediaType(ct), "text/") }

// equalFoldASCIIOracle reports whether a and b are equal, ASCII case
// aside.
func equalFoldASCIIOracle(a, b string) bool { return asciiLowerOracle(a) == asciiLowerOracle(b) }

// A gotOutcome is what a call got from the reader, its bodies read.
type gotOutcome struct {
	resp    *http.Response
	body    []byte
	err     error
	ce      *ChangesetError
	ceBody  []byte
	readErr error
}

// gotOf reads the answer of c.
func gotOf(c *Call) gotOutcome {
	g := gotOutcome{resp: c.aResp, err: c.aErr}
	if g.resp != nil {
		g.body, g.readErr = io.ReadAll(g.resp.Body)
	}
	if errors.As(g.err, &g.ce) && g.ce.Response != nil {
		var err error
		g.ceBody, err = io.ReadAll(g.ce.Response.Body)
		g.readErr = errors.Join(g.readErr, err)
	}
	return g
}

// diffResponse returns how resp, with body body, differs from the
// response want says, or "".
func diffResponse(want oracleOutcome, resp *http.Response, body []byte) string {
	var d []string
	if resp.StatusCode != want.status {
		d = append(d, fmt.Sprintf("status %d, want %d", resp.StatusCode, want.status))
	}
	// cmp.Diff for the report only: the fuzzer runs this for every call.
	if !maps.EqualFunc(want.header, resp.Header, slices.Equal) {
		d = append(d, "header (-want +got):\n"+cmp.Diff(want.header, resp.Header))
	}
	if resp.ContentLength != int64(len(body)) {
		d = append(d, fmt.Sprintf("ContentLength %d, body of %d bytes", resp.ContentLength, len(body)))
	}
	if want.isJSON {
		// The value the document gives, not its spelling: a reader may
		// render it as it likes.
		w, errW := decodeJSONValue(want.body)
		g, errG := decodeJSONValue(body)
		if errW != nil || errG != nil {
			d = append(d, fmt.Sprintf("body %q is not the JSON value %q: %v", body, want.body, errors.Join(errW, errG)))
		} else if !reflect.DeepEqual(w, g) {
			d = append(d, fmt.Sprintf("body %q, want the JSON value %q (-want +got):\n%s", body, want.body, cmp.Diff(w, g)))
		}
	} else if !bytes.Equal(body, want.body) {
		d = append(d, fmt.Sprintf("body %q, want %q", body, want.body))
	}
	return strings.Join(d, "; ")
}

// decodeJSONValue is the JSON value b, numbers as written.
func decodeJSONValue(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("more after the value")
	}
	return v, nil
}

// checkExact fails t unless call c (id) got exactly want.
func checkExact(t oracleT, f Format, id string, want oracleOutcome, got gotOutcome, c *Call) {
	t.Helper()
	switch want.kind {
	case oracleUnknown:
		return
	case oracleNone:
		if got.resp != nil || !errors.Is(got.err, ErrNoResponse) {
			t.Errorf("%v: call %s: got %v, %v; want no answer", f, id, got.resp, got.err)
		}
	case oracleErr, oracleTooLarge:
		isTooLarge := errors.Is(got.err, ErrResponseTooLarge)
		if got.resp != nil || got.err == nil || errors.Is(got.err, ErrNoResponse) || got.ce != nil || isTooLarge != (want.kind == oracleTooLarge) {
			t.Errorf("%v: call %s: got %v, %v; want %v", f, id, got.resp, got.err, want.kind)
		}
	case oracleResp:
		if got.resp == nil || got.err != nil {
			t.Errorf("%v: call %s: got %v; want a response %d", f, id, got.err, want.status)
			return
		}
		if got.resp.Request != c.req {
			t.Errorf("%v: call %s: the response's Request is not the call's", f, id)
		}
		if d := diffResponse(want, got.resp, got.body); d != "" {
			t.Errorf("%v: call %s: %s", f, id, d)
		}
	case oracleChangeset:
		if got.ce == nil || got.resp != nil {
			t.Errorf("%v: call %s: got %v, %v; want a ChangesetError of call %s", f, id, got.resp, got.err, want.failed)
			return
		}
		if got.ce.ID != want.failed || got.ce.StatusCode != want.status {
			t.Errorf("%v: call %s: ChangesetError of call %q, %d; want %q, %d", f, id, got.ce.ID, got.ce.StatusCode, want.failed, want.status)
		}
		if d := diffResponse(want, got.ce.Response, got.ceBody); d != "" {
			t.Errorf("%v: call %s: the ChangesetError's response: %s", f, id, d)
		}
	}
}

// checkProduced fails t if call c got a response, or a ChangesetError,
// that no response object the reader reached could have produced: one
// that answers the call alone (no other for it), or for a
// ChangesetError, a call of its changeset, with the same status (4xx,
// 5xx), fields and body.
func checkProduced(t oracleT, f Format, m *oracleModel, c *Call, group map[string]int, got gotOutcome) {
	t.Helper()
	// the one response a call with id may have been given, if any
	only := func(id string) (oracleOutcome, bool) {
		var out oracleOutcome
		n := 0
		for _, e := range m.elems {
			if e.id == id {
				out, n = e.out, n+1
			}
		}
		return out, n == 1 && (out.kind == oracleResp || out.kind == oracleUnknown)
	}
	if got.resp != nil {
		out, ok := only(c.id)
		if !ok {
			t.Errorf("%v: call %s: got a response %d, which no response object of the document gives", f, c.id, got.resp.StatusCode)
		} else if d := diffResponse(out, got.resp, got.body); out.kind == oracleResp && d != "" {
			t.Errorf("%v: call %s: got a response the document does not give: %s", f, c.id, d)
		}
	}
	if got.ce != nil {
		out, ok := only(got.ce.ID)
		switch {
		case group[c.id] == 0 || group[got.ce.ID] != group[c.id]:
			t.Errorf("%v: call %s: a ChangesetError naming call %q, of another changeset", f, c.id, got.ce.ID)
		case !ok || out.kind == oracleResp && out.status < 400:
			t.Errorf("%v: call %s: a ChangesetError naming call %q, %d, which no response object gives", f, c.id, got.ce.ID, got.ce.StatusCode)
		case out.kind == oracleResp:
			if got.ce.StatusCode != out.status {
				t.Errorf("%v: call %s: ChangesetError status %d, want %d", f, c.id, got.ce.StatusCode, out.status)
			}
			if d := diffResponse(out, got.ce.Response, got.ceBody); d != "" {
				t.Errorf("%v: call %s: the ChangesetError's response: %s", f, c.id, d)
			}
		}
	}
}

// checkCutGroups fails t if a call of a changeset got a response, or a
// ChangesetError, from a document cut inside its responses array (see
// oracleModel.cut) while another call of the changeset has no response
// object before the cut: a changeset's calls are answered together, once
// all their responses are known, and the response of that other call,
// which could undo the changeset, never came.
func checkCutGroups(t oracleT, f Format, m *oracleModel, ids []string, group map[string]int, got map[string]gotOutcome) {
	t.Helper()
	if !m.cut {
		return
	}
	n := map[string]int{}
	for _, e := range m.elems {
		n[e.id]++
	}
	for _, id := range ids {
		if g := got[id]; group[id] == 0 || g.resp == nil && g.ce == nil {
			continue
		}
		for _, other := range ids {
			if group[other] == group[id] && n[other] != 1 {
				t.Errorf("%v: call %s answered from a document cut before the one response of call %s, of its changeset", f, id, other)
			}
		}
	}
}

// TestClientJSONResponseModel holds the reader to the model on JSON batch
// responses drawn from the shapes the model tells apart, which the fuzzer,
// mutating bytes, seldom keeps JSON: every document is JSON, and most
// read to their end, so the model says exactly what each call gets.
func TestClientJSONResponseModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		doc := drawJSONResponseDoc(t)
		d := oracleParse(doc, maxResponseParts(len(clientJSONCalls)))
		for _, f := range []Format{FormatODataJSON, FormatGraphJSON} {
			checkClientJSONResponse(t, f, doc, d)
		}
	})
}

// drawJSONResponseDoc draws a JSON batch response to clientJSONCalls.
func drawJSONResponseDoc(t *rapid.T) []byte {
	var b []byte
	ws := func() {
		b = append(b, rapid.SampledFrom([]string{"", "", "", " ", "\n\t "}).Draw(t, "space")...)
	}
	pick := func(label string, from ...string) {
		ws()
		b = append(b, rapid.SampledFrom(from).Draw(t, label)...)
		ws()
	}
	// a JSON string of s, escaped or not
	str := func(label, s string) {
		ws()
		if rapid.IntRange(0, 3).Draw(t, label+" escaped") == 0 {
			b = append(b, '"')
			for _, r := range s {
				b = fmt.Appendf(b, `\u%04x`, r)
			}
			b = append(b, '"')
		} else {
			q, _ := json.Marshal(s)
			b = append(b, q...)
		}
		ws()
	}
	ctValues := []string{"application/json", "Application/JSON; charset=utf-8", "application/problem+json", " text/plain ",
		"text/csv;charset=utf-8", "image/png", "application/octet-stream", "", "text/plain, application/json"}
	headerValue := func() {
		switch rapid.IntRange(0, 19).Draw(t, "header value kind") {
		case 0, 1:
			pick("header scalar", "1.5", "true", "null", "-0", "120", `"\ud800"`, `"\ud83d\ude00"`)
		case 2:
			pick("header object", `{"o":1}`, `[["x"]]`, `[{}]`)
		default:
			str("header string", rapid.SampledFrom(append(ctValues, "a\u00e9", " x ", "\U0001F600",
				"gzip", "gzip", " GZIP ", "identity", "br", "a\tb", "a\x01b", "\x7f", "a\r\nSet-Cookie: s=1")).Draw(t, "header string"))
		}
	}
	headers := func() {
		switch rapid.IntRange(0, 19).Draw(t, "headers kind") {
		case 0:
			pick("headers", "null", "[]", `"x"`, "5")
			return
		}
		b = append(b, '{')
		n := rapid.IntRange(0, 4).Draw(t, "fields")
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			str("field name", rapid.SampledFrom([]string{"Content-Type", "content-type", "Content-Type", "CONTENT-TYPE", "X-A", "x-a",
				"Content-Length", "transfer-encoding", "Set-Cookie", "x-\u00e9", "", "x y",
				"Content-Encoding", "content-encoding", "Set-Cookie: a=b; X", "x\r\ny", "x:"}).Draw(t, "field name"))
			b = append(b, ':')
			if rapid.IntRange(0, 3).Draw(t, "array") == 0 {
				ws()
				b = append(b, '[')
				m := rapid.IntRange(0, 3).Draw(t, "values")
				for j := range m {
					if j > 0 {
						b = append(b, ',')
					}
					headerValue()
				}
				b = append(b, ']')
				ws()
			} else {
				headerValue()
			}
		}
		b = append(b, '}')
	}
	body := func() {
		raw := rapid.SliceOfN(rapid.Byte(), 0, 70).Draw(t, "bytes")
		switch rapid.IntRange(0, 9).Draw(t, "body kind") {
		case 0:
			pick("json body", "null", `{"k":[1,"v",null,{"n":12.50}]}`, "[]", "12.50", "true", `"s"`,
				`[`+strings.Repeat("1,", 31)+`1]`, `[`+strings.Repeat("1,", 30)+`1]`)
		case 1, 2, 3:
			enc := rapid.SampledFrom([]*base64.Encoding{base64.StdEncoding, base64.URLEncoding,
				base64.RawStdEncoding, base64.RawURLEncoding}).Draw(t, "base64")
			str("base64 body", enc.EncodeToString(raw))
		case 4, 5:
			str("text body", rapid.StringN(0, 70, -1).Draw(t, "text"))
		case 6:
			str("text body", strings.Repeat("x", rapid.IntRange(60, 70).Draw(t, "length")))
		case 7:
			// gzip, whole or cut short, of a body that may decode past
			// the bound
			z := gzipOf(append(raw, make([]byte, rapid.SampledFrom([]int{0, 0, 100}).Draw(t, "gzip zeros"))...))
			z = z[:len(z)-rapid.SampledFrom([]int{0, 0, 0, 1, 9}).Draw(t, "gzip cut")]
			str("gzip body", base64.StdEncoding.EncodeToString(z))
		default:
			pick("odd body", `"%%%"`, `"QQ="`, `"QQ==="`, `"QUJD\nREVG"`, `""`, `"a+b-"`)
		}
	}
	b = append(b, '{')
	for i := range rapid.IntRange(1, 3).Draw(t, "envelope members") {
		if i > 0 {
			b = append(b, ',')
		}
		key := rapid.SampledFrom([]string{"responses", "responses", "responses", "Responses", "@odata.context"}).Draw(t, "key")
		str("key", key)
		b = append(b, ':')
		if key == "@odata.context" {
			pick("context", `"$metadata#x"`, `{"responses":[{"id":"a","status":200}]}`)
			continue
		}
		ws()
		b = append(b, '[')
		for j := range rapid.IntRange(0, 6).Draw(t, "responses") {
			if j > 0 {
				b = append(b, ',')
			}
			if rapid.IntRange(0, 19).Draw(t, "not an object") == 0 {
				pick("element", "null", "7", `"x"`, "[]")
				continue
			}
			// Mostly an id and a status, so that most objects answer a
			// call; now and then a key again, or in another case.
			var names []string
			for _, m := range []struct {
				name string
				in   int // in 10
			}{{"id", 9}, {"status", 9}, {"headers", 7}, {"body", 6}, {"atomicityGroup", 2}} {
				if rapid.IntRange(0, 9).Draw(t, m.name) < m.in {
					names = append(names, m.name)
				}
			}
			for range rapid.IntRange(0, 1).Draw(t, "extra members") {
				names = append(names, rapid.SampledFrom([]string{"id", "status", "headers", "body", "ID", "Status", "HEADERS", "Body", "\u017ftatus", "x"}).Draw(t, "extra member"))
			}
			b = append(b, '{')
			for k, name := range rapid.Permutation(names).Draw(t, "members") {
				if k > 0 {
					b = append(b, ',')
				}
				str("member", name)
				b = append(b, ':')
				switch strings.ToLower(name) {
				case "id":
					pick("id", `"a"`, `"a"`, `"1"`, `"b"`, `"c"`, `"x"`, "1", "1.0", `"\u0062"`, "null", "true")
				case "status", "\u017ftatus":
					if rapid.IntRange(0, 3).Draw(t, "odd status") > 0 {
						pick("status", "200", "201", "204", "400", "424", "500")
					} else {
						pick("status", "100", "999", "99", "1000", `"200"`, "null", "2e2", "-0")
					}
				case "headers":
					headers()
				case "body":
					body()
				default:
					pick("other", `"g"`, "{}", "[1,[2]]")
				}
			}
			b = append(b, '}')
		}
		b = append(b, ']')
		ws()
	}
	return append(b, '}')
}
