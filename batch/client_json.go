package batch

// The client's JSON wire: a batch request written as an OData 4.01 or a
// Microsoft Graph JSON batch, and the response objects read back into the
// calls by id.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/mixedcodec/mixed"
	"github.com/mixedcodec/mixed/internal/requri"
)

// formatLimits are the limits l of a client in format f: Graph's 20 calls
// when l sets no MaxCalls.
func formatLimits(l Limits, f Format) Limits {
	if l.MaxCalls <= 0 && f == FormatGraphJSON {
		l.MaxCalls = DefaultMaxGraphCalls
	}
	return l
}

// requestBody is requestBody in the sender's format.
func (s *sender) requestBody(ctx context.Context, calls []*Call, wires []*http.Request, outer http.Header) (io.Reader, string, func(error), error) {
	switch s.format {
	case FormatMultipart:
		return requestBody(ctx, calls, wires, s.sized, s.bufs)
	case FormatODataJSON, FormatGraphJSON:
	default:
		closeBodies(wires) // none is read
		return nil, "", nil, fmt.Errorf("the format %v is not a batch format", s.format)
	}
	if s.format == FormatGraphJSON {
		for _, c := range calls {
			if c.cs != nil {
				closeBodies(wires)
				return nil, "", nil, fmt.Errorf("changeset %q: Graph JSON batches have no atomic groups", c.cs.id)
			}
		}
	}
	sk := &skippedCalls{}
	g := guardBodies(wires)
	if s.sized {
		// As in requestBody: buf is the request's, the writer pooled,
		// and the bodies closed should ctx end while they are read.
		var buf bytes.Buffer
		w := s.bufs.writer(&buf)
		unwatch := g.closeOnDone(ctx)
		err := writeJSONCalls(w.bw, s.format, calls, wires, g, sk)
		if err == nil {
			err = w.bw.Flush()
		}
		unwatch()
		if err != nil {
			return nil, "", nil, ctxOr(ctx, err)
		}
		s.bufs.putWriter(w)
		return bytes.NewReader(buf.Bytes()), "application/json", sk.answer, nil
	}
	pr, pw := io.Pipe()
	w := s.bufs.writer(pw)
	go func() {
		err := writeJSONCalls(w.bw, s.format, calls, wires, g, sk)
		if err == nil {
			err = w.bw.Flush()
		}
		pw.CloseWithError(err)
		if err == nil {
			s.bufs.putWriter(w) // see requestBody
		}
	}()
	stop := stopWriting(ctx, pr, g)
	return pr, "application/json", func(err error) {
		stop(err)
		sk.answer(err)
	}, nil
}

// ErrBodyForm is the error of a call, or of every call of its changeset,
// whose request body cannot go in a JSON batch in the form its
// Content-Type asks for: JSON that does not parse under a JSON type, or
// in OData text that is not UTF-8 under a text/* type. Its server would
// read any other form (base64) as that one, and so hand its handler other
// bytes than the call's. It is not sent, and the batch's other calls are.
var ErrBodyForm = errors.New("batch: the body cannot take the form its Content-Type asks for in a JSON batch")

// skippedCalls are the calls writeJSONCalls left out of the batch request,
// with their errors. The writer may run on while the response is read
// (see requestBody): the calls are answered by the sender, in answer,
// which the sender calls once it has read the response.
type skippedCalls struct {
	mu    sync.Mutex
	calls []*Call
	errs  []error
}

func (sk *skippedCalls) add(c *Call, err error) {
	sk.mu.Lock()
	sk.calls, sk.errs = append(sk.calls, c), append(sk.errs, err)
	sk.mu.Unlock()
}

// answer gives each call skipped so far its error, in place of whatever
// the response said of it (a server that answers a call it was never sent
// is wrong). The call was not sent: it is no attempt.
func (sk *skippedCalls) answer(error) {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	for i, c := range sk.calls {
		c.notSent(sk.errs[i])
	}
	sk.calls, sk.errs = sk.calls[:0], sk.errs[:0]
}

// writeJSONCalls writes the request objects of calls, as wires has them
// (fields shared with the outer request left out, PrepareCall applied): a
// changeset's calls in an atomicity group named by its id; a target that
// starts with $id of an earlier call depends on it. Bodies are read whole:
// a JSON batch carries each as one JSON value. A call whose body does not
// fit its form (ErrBodyForm) is left out, with the rest of its changeset,
// whose bodies are read before any of them is written; sk gets them.
func writeJSONCalls(w *bufio.Writer, f Format, calls []*Call, wires []*http.Request, g *bodyGuard, sk *skippedCalls) error {
	// As writeCalls does, the bodies not read when the writing stops
	// are closed: readBody closes the others.
	next := 0
	defer func() { g.closeFrom(next) }()
	ids := make(map[string]bool, len(calls))
	b := []byte(`{"requests":[`)
	var keys []string
	var bodies [][]byte
	var cts []string
	var hasCTs []bool
	written := 0
	for i := 0; i < len(calls); {
		j := i + 1
		if cs := calls[i].cs; cs != nil {
			for j < len(calls) && calls[j].cs == cs {
				j++
			}
		}
		bodies, cts, hasCTs = bodies[:0], cts[:0], hasCTs[:0]
		var failed *Call
		var ferr error
		for k := i; k < j; k++ {
			next = k + 1
			wire := g.wire(wires, k)
			body, err := readBody(&wire)
			if err != nil {
				err = fmt.Errorf("batch: call %q: body: %w", calls[k].id, err)
				if g.isStopped() {
					return err // the request ended (see bodyGuard)
				}
				// Read whole before any of it is written: the call is
				// left out, as one whose body does not fit its form.
				if failed == nil {
					failed, ferr = calls[k], err
				}
				bodies, cts, hasCTs = append(bodies, nil), append(cts, ""), append(hasCTs, false)
				continue
			}
			ct, has := wireContentType(f, wires[k].Header, body)
			if err := bodyFits(f, ct, body); err != nil && failed == nil {
				failed, ferr = calls[k], fmt.Errorf("batch: call %q: %w", calls[k].id, err)
			}
			bodies, cts, hasCTs = append(bodies, body), append(cts, ct), append(hasCTs, has)
		}
		if failed != nil {
			for k := i; k < j; k++ {
				err := ferr
				if calls[k] != failed {
					err = changesetNotSent(calls[k].cs, ferr)
				}
				sk.add(calls[k], err)
			}
			i = j
			continue
		}
		for k := i; k < j; k++ {
			c, req, body, ct, hasCT := calls[k], wires[k], bodies[k-i], cts[k-i], hasCTs[k-i]
			if written > 0 {
				b = append(b, ',')
			}
			written++
			b = append(b, `{"id":`...)
			b = appendJSONString(b, c.id)
			if c.cs != nil {
				b = append(b, `,"atomicityGroup":`...)
				b = appendJSONString(b, c.cs.id)
			}
			b = append(b, `,"method":`...)
			b = appendJSONString(b, req.Method)
			b = appendJSONTarget(b, req.URL, ids)
			ids[c.id] = true
			b = append(b, `,"headers":{`...)
			b, keys = appendJSONFields(b, req.Header, keys, false, true, ct, hasCT)
			b = append(b, '}')
			if len(body) > 0 {
				b = append(b, `,"body":`...)
				b = appendJSONBody(b, f, ct, body)
			}
			b = append(b, '}')
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
		i = j
	}
	_, err := w.Write(append(b, "]}"...))
	return err
}

// readBody reads the body of the wire request req whole, and closes it.
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	// As WriteHTTPRequest writes a multipart call's, a body as long as
	// its ContentLength says, when it says (net/http's Transport too).
	var buf bytes.Buffer
	limit := req.ContentLength
	if limit <= 0 {
		limit = -1 // unknown (net/http reads 0 with a body so): all of it
	}
	n, err := readClosing(&buf, req.Body, limit)
	if err == nil && req.ContentLength > 0 && n != req.ContentLength {
		err = errLength(req.ContentLength, n)
	}
	return buf.Bytes(), err
}

// wireContentType is the Content-Type a request with fields h and body
// body goes with in a batch of format f (see mediaTypeOf), and whether it
// has one: a body without one, or with an empty one, would be JSON, or
// base64, to the server; it goes with what net/http would sniff instead,
// as long as the body fits that type's form (text that is not UTF-8 goes
// as application/octet-stream in OData).
func wireContentType(f Format, h http.Header, body []byte) (string, bool) {
	ct, has := mediaTypeOf(h)
	if len(body) == 0 || ct != "" {
		return ct, has
	}
	ct = http.DetectContentType(body)
	if bodyFits(f, ct, body) != nil {
		ct = "application/octet-stream"
	}
	return ct, true
}

// bodyFits returns nil if body, of media type ct, can take the form its
// type asks for in a batch of format f, else an ErrBodyForm saying why.
func bodyFits(f Format, ct string, body []byte) error {
	if len(body) == 0 {
		return nil
	}
	switch bodyFormOf(f, ct) {
	case bodyJSON:
		if !json.Valid(body) {
			return fmt.Errorf("%w: Content-Type %q, and the body is not JSON", ErrBodyForm, ct)
		}
		if !utf8.Valid(body) {
			// encoding/json reads it, but a batch body is UTF-8 (RFC 8259
			// §8.1), and the Handler answers such a body in base64.
			return fmt.Errorf("%w: Content-Type %q, and the body is JSON but not UTF-8", ErrBodyForm, ct)
		}
	case bodyText:
		if !textFits(body) {
			return fmt.Errorf("%w: Content-Type %q, and the body is not UTF-8", ErrBodyForm, ct)
		}
	}
	return nil
}

// appendJSONTarget appends the url of a request object for u, and its
// dependsOn when the url starts with $id of an earlier call (one of ids).
func appendJSONTarget(b []byte, u *url.URL, ids map[string]bool) []byte {
	target := requri.Of(u)
	if u.Host == "" && !strings.HasPrefix(u.Path, "/") && u.Opaque == "" {
		// A relative target (OData's Customers, $1/Orders) as it is.
		target = u.String()
	}
	b = append(b, `,"url":`...)
	b = appendJSONString(b, target)
	if strings.HasPrefix(target, "$") {
		id, _, _ := strings.Cut(target[1:], "/")
		id, _, _ = strings.Cut(id, "?")
		if ids[id] {
			b = append(b, `,"dependsOn":[`...)
			b = appendJSONString(b, id)
			b = append(b, ']')
		}
	}
	return b
}

// appendJSONBody appends body, of media type ct, in the form json_body.go
// gives it in a batch of format f, which it fits (see bodyFits).
func appendJSONBody(b []byte, f Format, ct string, body []byte) []byte {
	switch bodyFormOf(f, ct) {
	case bodyJSON:
		return append(b, bytes.TrimSpace(body)...)
	case bodyText:
		return appendJSONString(b, body)
	}
	enc := base64.StdEncoding
	if f == FormatODataJSON {
		enc = base64.URLEncoding
	}
	b = append(b, '"')
	b = enc.AppendEncode(b, body)
	return append(b, '"')
}

// readJSONResponses reads the JSON batch response resp, one response
// object at a time (none larger than the sender's MaxResponseBytes allows,
// base64 included), and answers the calls by id. A changeset whose calls
// did not all succeed gives each of them a ChangesetError holding the
// response that failed (the first that is not a 424, which only says
// another failed).
//
// The document is read as encoding/json's Decoder read it, a token or a
// value at a time (FuzzClientJSONResponse holds it to that model), by
// jsonScanner, in one look at each byte: the Decoder looked at a response
// object's bytes three times, and was half of a JSON call's cost to the
// Client (BenchmarkClientPerCall).
func (s *sender) readJSONResponses(resp *http.Response, calls []*Call) error {
	if !isJSONMedia(resp.Header.Get("Content-Type")) {
		return fmt.Errorf("batch: response is not a JSON batch: Content-Type %q", resp.Header.Get("Content-Type"))
	}
	max := s.maxResponseBytes()
	// A body base64-encoded at worst, and the rest of its object; as for
	// a multipart response (see readResponses), the response as a whole
	// is bounded by the number of calls.
	encoded := int64(math.MaxInt64)
	if max <= (math.MaxInt64-(64<<10))/4*3 {
		encoded = max/3*4 + 4
	}
	var js jsonStream
	js.reset(&budgetReader{r: resp.Body, limit: responseBudget(len(calls), encoded)})
	perObject := satAdd(encoded, 64<<10)
	js.setMark(perObject)
	a := &jsonAnswers{f: s.format, limit: max, byID: make(map[string]*Call, len(calls)),
		held: map[*Changeset][]answer{}, isHeld: map[*Call]bool{}}
	for _, c := range calls {
		a.byID[c.id] = c
	}
	fail := func(err error) error {
		if errors.Is(err, errObjectTooLarge) {
			// The bound is a body of max bytes base64-encoded: a text
			// body escaped in JSON may take more (OData's text/plain).
			err = fmt.Errorf("%w: the value at byte %d is over %d bytes, more than a body of MaxResponseBytes (%d) base64-encoded in its response object", ErrResponseTooLarge, js.mark, perObject, max)
		}
		// A call answered twice keeps neither answer, whether or
		// not the response could be read to its end.
		a.revokeTwice()
		return &transportError{fmt.Errorf("reading the batch response: %w", err)}
	}
	// As many values as a multipart response may have parts (see
	// maxResponseParts): response objects and members of the envelope.
	// Each costs far more than its few bytes, and a server could send
	// tens of millions within the byte budget.
	values, maxValues := 0, maxResponseParts(len(calls))
	tooMany := func() bool {
		values++
		return values > maxValues
	}
	errTooMany := fmt.Errorf("%w: more than %d response objects and members", mixed.ErrTooManyParts, maxValues)
	// next takes the byte after a member or an element: a comma, or the
	// end of the object or array, which it reports.
	next := func(end byte, context string) (bool, error) {
		c, err := js.peek()
		if err != nil {
			return false, js.noEOF(err)
		}
		js.take()
		if c == end {
			return true, nil
		}
		if c != ',' {
			return false, js.syntaxBefore(c, context)
		}
		return false, nil
	}
	if err := expectJSON(&js, '{'); err != nil {
		return fail(err)
	}
	if c, err := js.peek(); err != nil {
		return fail(js.noEOF(err))
	} else if c == '}' {
		return a.finish()
	}
	var e responseObject
	for {
		if tooMany() {
			return fail(errTooMany)
		}
		c, err := js.peek()
		if err != nil {
			return fail(js.noEOF(err))
		}
		if c != '"' {
			return fail(js.syntax(c, "looking for beginning of object key string"))
		}
		raw, err := js.value(jsonMaxNesting)
		if err != nil {
			return fail(err)
		}
		// JSON names are case-sensitive: the Decoder's Token gave the
		// key, unquoted, and only "responses" was the array.
		key, err := unquoteIn(raw, js.scan.plain)
		if err != nil {
			return fail(err)
		}
		isResponses := string(key) == "responses"
		if err := expectJSON(&js, ':'); err != nil {
			return fail(err)
		}
		if !isResponses {
			if _, err := js.value(jsonMaxNesting - 1); err != nil {
				return fail(err)
			}
		} else {
			if err := expectJSON(&js, '['); err != nil {
				return fail(err)
			}
			c, err := js.peek()
			if err != nil {
				return fail(js.noEOF(err))
			}
			if c == ']' {
				js.take()
			} else {
				for {
					if tooMany() {
						return fail(errTooMany)
					}
					// A view of the stream's buffer, valid until the
					// next value is read: take copies what it keeps.
					raw, err := js.value(jsonMaxNesting - 2)
					if err != nil {
						return fail(err)
					}
					if parseResponseObject(raw, &e, js.scan.plain, js.scan.topMembers()) {
						a.take(&e)
					} // else JSON, but not a response object we can use
					end, err := next(']', "after array element")
					if err != nil {
						return fail(err)
					}
					if end {
						break
					}
				}
			}
		}
		end, err := next('}', "after object key:value pair")
		if err != nil {
			return fail(err)
		}
		if end {
			return a.finish()
		}
	}
}

// expectJSON takes the next byte of js (after white space), which must be
// d.
func expectJSON(js *jsonStream, d byte) error {
	c, err := js.peek()
	if err != nil {
		return js.noEOF(err)
	}
	if c != d {
		return fmt.Errorf("found %s where '%c' belongs, at byte %d", quoteJSONChar(c), d, js.pos())
	}
	js.take()
	return nil
}

// satAdd is a + b for non-negative a and b, or math.MaxInt64 when that
// overflows (a MaxResponseBytes near math.MaxInt64 means no bound).
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// responseObject is one response object of a JSON batch response. Headers
// and Body are views of the document (see parseResponseObject).
type responseObject struct {
	ID            string
	Status        int
	Headers, Body []byte
}

// parseResponseObject reads b, an element of a responses array (one JSON
// value, as jsonScanner checked it; plain when every string of it is its
// own text), into e, as encoding/json decoded it into a struct of id,
// status, headers and body: keys matched without regard to case (Unicode
// folding, as encoding/json's), the last of a repeated key kept; null, or
// a null status, changes nothing; an id may be a string or a number (its
// text), and null names no call. It reports false for an element that is
// neither an object nor null, or that has a value of the wrong type for
// one of those keys (an id that is not a string or a number, a status that
// is not an integer): encoding/json failed to decode it, and the reader
// skipped it. Headers and Body are views of b. members, when not nil,
// are where the scanner found the object's members
// (jsonScanner.topMembers), which spares a walk over the object.
func parseResponseObject(b []byte, e *responseObject, plain bool, members []memberSpan) bool {
	*e = responseObject{}
	switch b[0] {
	case 'n':
		return true
	case '{':
	default:
		return false
	}
	ok := true
	for m := range objectMembers(b, 0, members) {
		key, err := unquoteIn(b[m.key:stringEnd(b, m.key)], plain)
		if err != nil {
			return false
		}
		v := b[m.start:m.end]
		switch responseKey(key) {
		case "id":
			switch {
			case v[0] == '"':
				if plain {
					e.ID = string(v[1 : len(v)-1])
				} else if e.ID, err = unquote(v); err != nil {
					ok = false
				}
			case v[0] == '-' || '0' <= v[0] && v[0] <= '9':
				e.ID = string(v) // some servers echo numeric ids as numbers
			case v[0] == 'n':
				e.ID = ""
			default:
				ok = false
			}
		case "status":
			if v[0] != 'n' {
				n, err := strconv.ParseInt(string(v), 10, 0)
				if err != nil {
					ok = false
				}
				e.Status = int(n)
			}
		case "headers":
			e.Headers = v
		case "body":
			e.Body = v
		}
	}
	return ok
}

// responseKeys are the keys of a response object that parseResponseObject
// reads.
var responseKeys = [...]string{"id", "body", "status", "headers"}

// responseKey returns the key of a response object that key is, or "" for
// none (see foldedKey).
func responseKey(key []byte) string { return foldedKey(key, responseKeys[:]) }

// jsonAnswers gives the calls of a JSON batch their response objects. As
// in a multipart response (see matcher), a response object for no call,
// or a second one for a call, is a problem of the batch
// (ErrResponseMismatch), and a call answered twice keeps neither answer:
// which one is its own cannot be told.
type jsonAnswers struct {
	f     Format
	limit int64 // of a response body
	byID  map[string]*Call
	// A changeset's calls are answered at the end, together.
	held     map[*Changeset][]answer
	isHeld   map[*Call]bool
	twice    map[*Call]bool
	problems []string // the first few, for the error
	nProblem int
	rr       respReader // its header and scratch memory
}

// problem records what is wrong with the response as a whole.
func (a *jsonAnswers) problem(format string, args ...any) {
	if a.nProblem++; len(a.problems) < 8 {
		a.problems = append(a.problems, fmt.Sprintf(format, args...))
	}
}

// take answers the call e names with e.
func (a *jsonAnswers) take(e *responseObject) {
	c := a.byID[e.ID]
	switch {
	case c == nil:
		a.problem("a response for no call (id %q)", clip(e.ID))
		return
	case a.twice[c]:
		return
	case c.answered || a.isHeld[c]:
		if a.twice == nil {
			a.twice = map[*Call]bool{}
		}
		a.twice[c] = true
		a.problem("call %q answered twice", clip(c.id))
		return
	}
	r, err := jsonResponse(&a.rr, a.f, c, e, a.limit)
	switch {
	case c.cs != nil:
		a.isHeld[c] = true
		a.held[c.cs] = append(a.held[c.cs], answer{c, r, err})
	case err != nil:
		c.answer(nil, err)
	default:
		c.answer(r, nil)
	}
}

// finish answers the changesets, takes back the answers of the calls
// answered twice (with their changesets), and reports the problems of the
// response, if any.
func (a *jsonAnswers) finish() error {
	a.revokeTwice()
	for cs, answers := range a.held {
		answerGroup(cs, answers)
	}
	if a.nProblem == 0 {
		return nil
	}
	msg := strings.Join(a.problems, "; ")
	if a.nProblem > len(a.problems) {
		msg += fmt.Sprintf("; and %d more", a.nProblem-len(a.problems))
	}
	return fmt.Errorf("%w: %s", ErrResponseMismatch, msg)
}

// revokeTwice takes back the answers of the calls answered twice, with
// their changesets'.
func (a *jsonAnswers) revokeTwice() {
	for c := range a.twice {
		if c.cs != nil {
			delete(a.held, c.cs)
		} else {
			c.aResp, c.aErr, c.answered = nil, nil, false
		}
	}
}

// jsonResponse is the *http.Response of call c from its response object e
// in a batch of format f; a body over limit bytes is ErrResponseTooLarge.
func jsonResponse(rr *respReader, f Format, c *Call, e *responseObject, limit int64) (*http.Response, error) {
	status, headers, raw := e.Status, e.Headers, e.Body
	if status < 100 || status > 999 {
		return nil, fmt.Errorf("batch: call %q: response status %d", c.id, status)
	}
	// The headers are read with the limits of a multipart response
	// part's head, which a map decoded by encoding/json would not have,
	// into rr's scratch Header, which rr.header copies out of.
	mh := &rr.jsonHead
	mh.Reset()
	if err := addJSONHeaders(mh, headers, mixed.DefaultMaxHeaderFields, mixed.DefaultMaxHeaderBytes, false); err != nil {
		return nil, fmt.Errorf("batch: call %q: response headers: %w", c.id, err)
	}
	if err := checkJSONFields(mh); err != nil {
		return nil, fmt.Errorf("batch: call %q: response headers: %w", c.id, err)
	}
	// The Response, its body reader and value lists in one allocation,
	// and the names (canonicalized) and values all in one string, as a
	// multipart response part's are (see respReader.response).
	a := new(answerAlloc)
	h := rr.header(mh, a.vals[:0])
	var b []byte
	raw = bytes.TrimSpace(raw)
	var buf [64]byte
	ct, has := contentTypeOf(buf[:0], mh)
	// A body with a Content-Encoding (gzip) is bytes, never JSON or
	// text, whatever its type: a string holds it base64-encoded, as
	// the Handler writes a JSON body it cannot carry as JSON. Taken for a
	// JSON string, the call got its quoted base64 text.
	encoded := contentEncoded(h)
	switch {
	case len(raw) == 0 || string(raw) == "null":
	case !has:
		// JSON, as a request body without Content-Type is for the
		// Handler and for mixed decode (OData JSON Format 4.01, 19.1).
		// raw is a view of the response document: copied.
		h.Set("Content-Type", "application/json")
		b = bytes.Clone(raw)
	case raw[0] != '"' || isJSONMedia(ct) && !encoded:
		b = bytes.Clone(raw)
	default:
		s, err := unquote(raw)
		if err == nil && bodyFormOf(f, ct) == bodyText && !encoded {
			b = []byte(s)
		} else if err == nil {
			b, err = decodeBase64(s)
		}
		if err != nil {
			return nil, fmt.Errorf("batch: call %q: response body: %w", c.id, err)
		}
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("batch: call %q: %w: over %d bytes", c.id, ErrResponseTooLarge, limit)
	}
	h.Del("Content-Length")
	a.resp = http.Response{
		Status:        jsonStatus(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		ContentLength: int64(len(b)),
		Request:       c.req,
	}
	// As a multipart response part's body (see respReader.response), and
	// as net/http's transport does: a gzip body the call did not ask for
	// comes decoded.
	b, err := decodeContent(&a.resp, c.req, b, limit)
	if err != nil {
		return nil, fmt.Errorf("batch: call %q: response body: %w", c.id, err)
	}
	a.resp.ContentLength = int64(len(b))
	a.body.Reset(b)
	a.resp.Body = &a.body
	return &a.resp, nil
}

// contentEncoded reports whether h has a Content-Encoding other than
// identity.
func contentEncoded(h http.Header) bool {
	for _, v := range h["Content-Encoding"] {
		if v = strings.TrimSpace(v); v != "" && !strings.EqualFold(v, "identity") {
			return true
		}
	}
	return false
}

// checkJSONFields refuses a field of a response object's headers whose
// name is not a token (RFC 9110: empty, or holding a space, a colon, a
// control character or a byte outside ASCII) or whose value holds a
// control character (but HTAB), as the MessageReader refuses such a line
// in the head of a multipart response part, and net/http's ReadResponse
// in a response (wrapping mixed.ErrSyntax). A JSON string can hold any of
// them ("a\r\nSet-Cookie: ...", a name "Set-Cookie: a=b; X"), which no
// response that net/http or a multipart batch reads can give: a caller
// copying the fields into a head of its own, or into a log line, wrote
// what the server chose.
func checkJSONFields(h *mixed.Header) error {
	for i := range h.Len() {
		name, value := h.Field(i)
		if len(name) == 0 {
			return fmt.Errorf("%w: empty field name", mixed.ErrSyntax)
		}
		for j, c := range name {
			if !tokenByte(c) {
				return fmt.Errorf("%w: %q in field name %q", mixed.ErrSyntax, name[j:j+1], clip(string(name)))
			}
		}
		for _, c := range value {
			if c < ' ' && c != '\t' || c == 0x7f {
				return fmt.Errorf("%w: control character %q in the value of field %q", mixed.ErrSyntax, c, clip(string(name)))
			}
		}
	}
	return nil
}

// jsonStatus is the Status of a response object's status code: the code
// and its standard text, made once for the codes net/http names.
func jsonStatus(code int) string {
	if code >= 0 && code < len(statusLines) && statusLines[code] != "" {
		return statusLines[code]
	}
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

// An answer is the response of a call of a changeset, held until every
// response of the changeset is known.
type answer struct {
	c    *Call
	resp *http.Response
	err  error // why the response object is unusable, instead of resp
}

// answerGroup answers the calls of changeset cs from their answers, in
// response order. A response that cannot be read leaves the outcome of the
// whole group unknown: each of its calls gets that error.
func answerGroup(cs *Changeset, answers []answer) {
	for _, a := range answers {
		if a.err != nil {
			for _, c := range cs.calls {
				c.answer(nil, a.err)
			}
			return
		}
	}
	var failed *answer
	for i, a := range answers {
		if a.resp.StatusCode >= 400 && (failed == nil || failed.resp.StatusCode == http.StatusFailedDependency) {
			failed = &answers[i]
		}
	}
	if failed == nil {
		for _, a := range answers {
			a.c.answer(a.resp, nil)
		}
		return
	}
	body, _ := io.ReadAll(failed.resp.Body)
	for _, c := range cs.calls {
		c.answer(nil, &ChangesetError{ID: failed.c.id, StatusCode: failed.resp.StatusCode, Response: ownResponse(failed.resp, body), changeset: cs.id})
	}
}
