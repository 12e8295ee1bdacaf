package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mixedcodec/mixed"
)

// A ref is one result reference, Bitrix24's macro $result[id][key]...: the
// value at path in the JSON response body of the call whose id is id.
type ref struct {
	text string   // the macro as written, for error messages
	id   string   // the referenced call's id (its Content-ID, without <>)
	path []string // keys and indexes, outermost first
}

// A refScanner finds result references in a string in one pass.
type refScanner struct {
	s string
	// closeAt is the position of the first "]" (or "%5D") at or after
	// from, or -1 when there is none: a memo that keeps the scan linear
	// when many references start and none ends ("$result[$result[...").
	from, closeAt int
	steps         int // bytes nextClose looked at, for the linearity test
}

func newRefScanner(s string) refScanner { return refScanner{s: s, from: len(s) + 1} }

// nextClose returns the position of the first "]" or "%5D" at or after k,
// or -1.
func (sc *refScanner) nextClose(k int) int {
	if k >= sc.from && (sc.closeAt < 0 || k <= sc.closeAt) {
		return sc.closeAt
	}
	s := sc.s
	end := -1
	for m := k; m < len(s); m++ {
		sc.steps++
		if s[m] == ']' || s[m] == '%' && m+3 <= len(s) && strings.EqualFold(s[m:m+3], "%5D") {
			end = m
			break
		}
	}
	sc.from, sc.closeAt = k, end
	return end
}

// match matches a reference at s[i:], where the characters $, [ and ]
// may each be written as they are or percent-encoded (%24, %5B, %5D), as
// they are once a client has escaped a URL. It returns the reference and
// where it ends.
func (sc *refScanner) match(i int) (ref, int, bool) {
	s := sc.s
	lit := func(j int, c byte, esc string) (int, bool) {
		if j < len(s) && s[j] == c {
			return j + 1, true
		}
		if j+3 <= len(s) && strings.EqualFold(s[j:j+3], esc) {
			return j + 3, true
		}
		return j, false
	}
	j, ok := lit(i, '$', "%24")
	if !ok || !strings.HasPrefix(s[j:], "result") {
		return ref{}, i, false
	}
	j += len("result")
	var keys []string
	for len(keys) < maxRefKeys {
		k, ok := lit(j, '[', "%5B")
		if !ok {
			break
		}
		// The key runs to the next ], written either way.
		end := sc.nextClose(k)
		if end <= k {
			break
		}
		key, err := url.PathUnescape(s[k:end])
		if err != nil {
			key = s[k:end]
		}
		keys = append(keys, key)
		j, _ = lit(end, ']', "%5D")
	}
	if len(keys) == 0 {
		return ref{}, i, false
	}
	return ref{text: s[i:j], id: keys[0], path: keys[1:]}, j, true
}

// maxRefKeys bounds the keys of one reference, id included: a path
// deeper than that names nothing a JSON response holds, and the bound keeps
// a run of "[x][x][x]..." from becoming one reference with a million keys.
const maxRefKeys = 32

// matchRef matches a reference at s[i:]; see refScanner.match.
func matchRef(s string, i int) (ref, int, bool) {
	sc := newRefScanner(s)
	return sc.match(i)
}

// findRefs returns every reference in s, in one pass; it gives up with
// ctx's error once ctx is done.
func findRefs(ctx context.Context, s string) ([]ref, error) {
	sc := newRefScanner(s)
	return sc.all(ctx)
}

func (sc *refScanner) all(ctx context.Context) ([]ref, error) {
	var out []ref
	s := sc.s
	for i := 0; i < len(s); i++ {
		if i&(1<<20-1) == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if s[i] != '$' && s[i] != '%' {
			continue
		}
		if r, end, ok := sc.match(i); ok {
			out = append(out, r)
			i = end - 1
		} else if sc.from <= i && sc.closeAt < 0 {
			break // no "]" from here on: no reference can end
		}
	}
	return out, nil
}

// hasRefMarker reports whether b may hold a reference: a cheap test that
// keeps batches without references on the fast path.
func hasRefMarker(b []byte) bool {
	if bytes.Contains(b, []byte("$result")) {
		return true
	}
	for i := bytes.IndexByte(b, '%'); i >= 0 && i+9 <= len(b); {
		if bytes.EqualFold(b[i:i+9], []byte("%24result")) {
			return true
		}
		j := bytes.IndexByte(b[i+1:], '%')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// isJSON reports whether a Content-Type is a JSON one, whose body may hold
// references.
func isJSON(ct string) bool { return strings.Contains(strings.ToLower(ct), "json") }

// A refError says why a reference cannot be resolved; the call that holds
// it fails with 424 Failed Dependency.
type refError struct {
	ref    string
	reason string
}

func (e *refError) Error() string { return "reference " + e.ref + ": " + e.reason }

// lookup walks path into the decoded JSON value v.
func lookup(v any, r ref) (any, error) {
	for _, key := range r.path {
		switch x := v.(type) {
		case map[string]any:
			val, ok := x[key]
			if !ok {
				return nil, &refError{r.text, fmt.Sprintf("the result of call %q has no field %q", r.id, key)}
			}
			v = val
		case []any:
			n, err := strconv.Atoi(key)
			if err != nil || n < 0 || n >= len(x) {
				return nil, &refError{r.text, fmt.Sprintf("the result of call %q has no element %q", r.id, key)}
			}
			v = x[n]
		default:
			return nil, &refError{r.text, fmt.Sprintf("the result of call %q has no field %q: not an object or array there", r.id, key)}
		}
	}
	return v, nil
}

// text is a JSON value as it goes into text: strings as they are, numbers
// as written, anything else as JSON.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// pathValue escapes a reference's value for a path: never more than one
// segment, and never a dot segment.
func pathValue(v string) string {
	switch e := url.PathEscape(v); e {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	default:
		return e
	}
}

// substituteTarget replaces the references in a request target with their
// values' text, path-escaped in the path and query-escaped in the query.
func substituteTarget(target string, resolve func(ref) (any, error)) (string, error) {
	path, query, hasQuery := strings.Cut(target, "?")
	p, err := substituteText(path, resolve, pathValue)
	if err != nil || !hasQuery {
		return p, err
	}
	q, err := substituteText(query, resolve, url.QueryEscape)
	return p + "?" + q, err
}

func substituteText(s string, resolve func(ref) (any, error), escape func(string) string) (string, error) {
	var b strings.Builder
	last := 0
	sc := newRefScanner(s)
	for i := 0; i < len(s); i++ {
		if s[i] != '$' && s[i] != '%' {
			continue
		}
		r, end, ok := sc.match(i)
		if !ok {
			continue
		}
		v, err := resolve(r)
		if err != nil {
			return "", err
		}
		b.WriteString(s[last:i])
		b.WriteString(escape(text(v)))
		last, i = end, end-1
	}
	if last == 0 {
		return s, nil
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

// substituteJSON replaces the references inside the string literals of a
// JSON document: a string that is exactly one reference becomes the
// referenced JSON value itself; references within a longer string become
// their text. The rest of the document is kept byte for byte.
func substituteJSON(doc []byte, resolve func(ref) (any, error)) ([]byte, error) {
	var out []byte
	last := 0
	for i := 0; i < len(doc); i++ {
		if doc[i] != '"' {
			continue
		}
		// Find the end of the string literal.
		end := i + 1
		for end < len(doc) && doc[end] != '"' {
			if doc[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(doc) {
			break // not JSON; leave the rest as it is
		}
		lit := doc[i : end+1]
		if bytes.Contains(lit, []byte("$result")) {
			var s string
			if err := json.Unmarshal(lit, &s); err == nil {
				rs, _ := findRefs(context.Background(), s)
				var repl []byte
				switch {
				case len(rs) == 1 && rs[0].text == s:
					v, err := resolve(rs[0])
					if err != nil {
						return nil, err
					}
					repl, _ = json.Marshal(v)
				case len(rs) > 0:
					t, err := substituteText(s, resolve, func(x string) string { return x })
					if err != nil {
						return nil, err
					}
					repl, _ = json.Marshal(t)
				}
				if repl != nil {
					out = append(append(out, doc[last:i]...), repl...)
					last = end + 1
				}
			}
		}
		i = end
	}
	if out == nil {
		return doc, nil
	}
	return append(out, doc[last:]...), nil
}

// linkReferences finds the references of every call, in its target and
// query and, when its Content-Type is JSON, its body, and links each to
// the earlier call it names; a reference that names no call, the call
// itself or a later one is kept as the call's refErr. It returns ctx's
// error if ctx ends first.
func (h *Handler) linkReferences(ctx context.Context, st *batchState) error {
	found := false
	for i := range st.calls {
		if st.calls[i].err == nil && hasRefMarker(st.calls[i].raw) {
			found = true
			break
		}
	}
	if !found {
		return nil // the independent case costs one scan of the bytes
	}
	clear(st.ids)
	if st.ids == nil {
		st.ids = make(map[string]int)
	}
	for i := range st.calls {
		if st.calls[i].kind == changesetHead {
			continue // a changeset has no result of its own
		}
		if id := requestID(st.calls[i].cid); id != "" {
			if _, dup := st.ids[id]; !dup {
				st.ids[id] = i
			}
		}
	}
	for i := range st.calls {
		c := &st.calls[i]
		if c.err != nil || c.kind == changesetHead || !hasRefMarker(c.raw) {
			continue
		}
		refs, err := h.callRefs(ctx, st, c)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			continue // the call cannot be read: it answers 400 when it runs
		}
		c.refs = refs
		for _, r := range c.refs {
			k, ok := st.ids[r.id]
			switch {
			case !ok:
				c.refErr = &refError{r.text, fmt.Sprintf("no call of this batch has the id %q", r.id)}
			case k == i:
				c.refErr = &refError{r.text, "a call cannot use its own result (a cycle)"}
			case k > i:
				c.refErr = &refError{r.text, fmt.Sprintf("call %q comes later in the batch; a call can only use the results of earlier ones", r.id)}
			default:
				if !slices.Contains(c.deps, k) {
					c.deps = append(c.deps, k)
				}
				if d := &st.calls[k]; !d.referenced {
					d.referenced = true
					d.done = make(chan struct{})
				}
				continue
			}
			break
		}
	}
	return nil
}

// callRefs returns the references of call c: in its target, and in its
// body when that is JSON. Header values and other bodies are the
// handler's business, and reach it unchanged.
func (h *Handler) callRefs(ctx context.Context, st *batchState, c *call) ([]ref, error) {
	if st.lmr == nil {
		st.lmr = mixed.NewMessageReaderOptions(nil, h.messageOptions())
	}
	src := chunkSource{b: c.raw}
	st.lmr.Reset(&src)
	defer st.lmr.Reset(nil)
	m, err := st.lmr.ReadRequest()
	if err != nil {
		return nil, err
	}
	refs, err := findRefs(ctx, string(m.Target))
	if err != nil || !isJSON(string(m.Header.Get("Content-Type"))) {
		return refs, err
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return nil, err
	}
	more, err := findRefs(ctx, string(body))
	return append(refs, more...), err
}

// awaitDeps waits for the calls c references and reports why c cannot run,
// if it cannot.
func (st *batchState) awaitDeps(c *call) error {
	if c.refErr != nil {
		return c.refErr
	}
	for _, k := range c.deps {
		if d := &st.calls[k]; c.kind != memberCall || d.kind != memberCall || d.head != c.head {
			// An earlier call of the same changeset has run already, and
			// publishes its outcome only when the changeset ends.
			<-d.done
		}
	}
	for _, r := range c.refs {
		d := &st.calls[st.ids[r.id]]
		switch {
		case d.groupErr != "":
			return &refError{r.text, fmt.Sprintf("call %q does not count: %s", r.id, d.groupErr)}
		case d.status >= 400:
			return &refError{r.text, fmt.Sprintf("call %q failed with status %d", r.id, d.status)}
		case d.resultErr != nil:
			return &refError{r.text, d.resultErr.Error()}
		}
	}
	return nil
}

// substitute puts the referenced values into req's target and JSON body.
func (st *batchState) substitute(req *http.Request) error {
	resolve := func(r ref) (any, error) {
		return lookup(st.calls[st.ids[r.id]].result, r)
	}
	target, err := substituteTarget(req.RequestURI, resolve)
	if err != nil {
		return err
	}
	if target != req.RequestURI {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return fmt.Errorf("batch: the target after substitution, %q: %w", target, err)
		}
		req.URL.Path, req.URL.RawPath, req.URL.RawQuery = u.Path, u.RawPath, u.RawQuery
		req.RequestURI = target
	}
	if req.Body == nil || req.Body == http.NoBody || !isJSON(req.Header.Get("Content-Type")) {
		return nil
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return err
	}
	body, err = substituteJSON(body, resolve)
	if err != nil {
		return err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.TransferEncoding = nil
	if req.Header.Get("Content-Length") != "" {
		req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	return nil
}

// settle publishes the outcome of call i: for halt-on-error, and to the
// calls that reference it, which get its decoded JSON response.
func (st *batchState) settle(i int) {
	c := &st.calls[i]
	c.status = c.rec.status
	if st.halt && c.status >= 400 && c.kind != memberCall {
		st.haltedBy.CompareAndSwap(-1, int64(i))
	}
	if !c.referenced {
		return
	}
	switch {
	case c.status >= 400:
	case c.rec.dropped:
		c.resultErr = fmt.Errorf("the response of call %q is over the batch's MaxBufferedBytes, too large to use in a reference", requestID(c.cid))
	default:
		dec := json.NewDecoder(bytes.NewReader(c.rec.body.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&c.result); err != nil {
			c.resultErr = fmt.Errorf("the response of call %q is not JSON: %v", requestID(c.cid), err)
		}
	}
	if c.kind != memberCall {
		close(c.done) // a changeset's calls are published with it
	}
}

// truthy reports whether a header value turns an option on.
func truthy(v string) bool {
	v = strings.TrimSpace(v)
	return v == "1" || strings.EqualFold(v, "true")
}
