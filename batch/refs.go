package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
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
	if s != "" && ctx.Err() != nil {
		return nil, ctx.Err() // as all's first look at the context
	}
	if !strings.Contains(s, "result") {
		// Every reference spells "result" as it is (match): a target
		// without it, as most are, is not scanned byte by byte.
		return nil, nil
	}
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
		case sparseArray:
			n, err := strconv.Atoi(key)
			if err != nil || n < 0 || n >= x.n {
				return nil, &refError{r.text, fmt.Sprintf("the result of call %q has no element %q", r.id, key)}
			}
			v = x.vals[n]
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

// pathValue escapes a reference's value for a path: one segment, that
// checkPath's resolution of dot segments (which counts %2E as a dot and
// %2F as a slash) cannot climb out of. A value that is a dot segment, or
// holds one between its slashes, is refused: escaped, "../../admin" still
// took the call out of its own path, to /admin. Backslashes count as
// slashes, and path parameters (";x") as nothing, as they do for some
// servers behind a batch handler (see hasDisguisedDotSegment).
func pathValue(r ref, v string) (string, error) {
	if hasDisguisedDotSegment(v) {
		return "", &refError{r.text, fmt.Sprintf("its value %q would be a dot segment in the call's path", clip(v))}
	}
	return url.PathEscape(v), nil
}

// queryValue escapes a reference's value for a query.
func queryValue(_ ref, v string) (string, error) { return url.QueryEscape(v), nil }

// asIs puts a reference's value in as it is, into a JSON string.
func asIs(_ ref, v string) (string, error) { return v, nil }

// A substitutionError is a target or body that its references would make
// larger than it may be: the call answers 400, as an oversized part does.
type substitutionError struct {
	what string // "target" or "JSON body"
	max  int
}

func (e *substitutionError) Error() string {
	return fmt.Sprintf("batch: the call's %s with its result references substituted would be over %d bytes", e.what, e.max)
}

// textOver reports whether the text of v (see text) is longer than n
// bytes, looking at no more of v than it takes to know: a reference to a
// large value is refused before its text is made.
func textOver(v any, n int) bool {
	switch x := v.(type) {
	case string:
		return len(x) > n
	case json.Number:
		return len(x) > n
	}
	return jsonOver(v, n)
}

// jsonOver reports whether json.Marshal(v) is longer than n bytes,
// exactly, looking at no more of v than it takes to know. A value whose
// JSON is longer than the text it was read from ("<" is "\u003c") is
// refused without being encoded: each refusal of a 1 MiB value encoded it
// first, and a few bytes of call cost tens of MiB.
func jsonOver(v any, n int) bool {
	left := n
	var walk func(v any) bool // reports whether left went below 0
	walk = func(v any) bool {
		switch x := v.(type) {
		case string:
			left -= jsonStringLen(x, left)
		case json.Number:
			left -= len(x) // as it is: a decoded number is valid
		case map[string]any:
			left -= 2 + max(len(x)-1, 0) // braces and commas
			for k, e := range x {
				if left -= jsonStringLen(k, left) + 1; left < 0 || walk(e) {
					return true
				}
			}
		case []any:
			left -= 2 + max(len(x)-1, 0)
			for _, e := range x {
				if left < 0 || walk(e) {
					return true
				}
			}
		case bool:
			left -= len(strconv.FormatBool(x))
		case nil:
			left -= len("null")
		default: // no decoded value is another type
			b, _ := json.Marshal(x)
			left -= len(b)
		}
		return left < 0
	}
	return walk(v)
}

// jsonStringLen is the length of s as json.Marshal writes it: quoted, the
// quote, the backslash, control characters, <, >, &, U+2028, U+2029 and
// each byte that is not UTF-8 escaped. Once that is over limit it returns
// what it has counted, more than limit.
func jsonStringLen(s string, limit int) int {
	n := len(s) + 2 // escapes only lengthen it
	if n > limit {
		return n
	}
	for i := 0; i < len(s) && n <= limit; {
		b := s[i]
		if b < utf8.RuneSelf {
			switch b {
			case '"', '\\', '\b', '\f', '\n', '\r', '\t':
				n++
			case '<', '>', '&':
				n += 5
			default:
				if b < ' ' {
					n += 5
				}
			}
			i++
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 || c == '\u2028' || c == '\u2029' {
			n += 6 - size
		}
		i += size
	}
	return n
}

// substituteTarget replaces the references in a request target with their
// values' text, path-escaped in the path and query-escaped in the query. A
// target that would be over max bytes is a *substitutionError.
func substituteTarget(target string, resolve func(ref) (any, error), max int) (string, error) {
	path, query, hasQuery := strings.Cut(target, "?")
	p, err := substituteText(path, resolve, pathValue, max)
	if err != nil || !hasQuery {
		if _, ok := err.(*substitutionError); ok {
			err = &substitutionError{"target", max}
		}
		return p, err
	}
	q, err := substituteText(query, resolve, queryValue, max-len(p)-1)
	if _, ok := err.(*substitutionError); ok {
		err = &substitutionError{"target", max}
	}
	return p + "?" + q, err
}

// substituteText replaces the references in s with their values' text,
// escaped by escape, which may refuse a value; a result over max bytes is
// a *substitutionError.
func substituteText(s string, resolve func(ref) (any, error), escape func(ref, string) (string, error), max int) (string, error) {
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
		room := max - b.Len() - (i - last)
		if textOver(v, room) {
			return "", &substitutionError{"text", max}
		}
		e, err := escape(r, text(v))
		if err != nil {
			return "", err
		}
		if len(e) > room {
			return "", &substitutionError{"text", max}
		}
		b.WriteString(s[last:i])
		b.WriteString(e)
		last, i = end, end-1
	}
	if last == 0 {
		return s, nil
	}
	if b.Len()+len(s)-last > max {
		return "", &substitutionError{"text", max}
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

// refStrings calls f for each string literal of the JSON document doc
// that may hold a reference, with where it starts and ends in doc and its
// text, in order; it stops at f's first error. Linking and substitution
// both find a body's references this way, so that a call is given exactly
// the results it was linked to: a reference spelled with escapes
// ("$result[p\u0071]"), read as the bytes say by one and as the text says
// by the other, could otherwise name a call the batch never made it wait
// for.
func refStrings(doc []byte, f func(start, end int, s string) error) error {
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
			return nil // not JSON; leave the rest as it is
		}
		lit := doc[i : end+1]
		if bytes.Contains(lit, []byte("$result")) {
			if s, err := unquote(lit); err == nil {
				if err := f(i, end+1, s); err != nil {
					return err
				}
			}
		}
		i = end
	}
	return nil
}

// jsonRefs returns the references in the string literals of the JSON
// document doc, as substituteJSON finds them; more than limit is
// errTooManyRefs.
func jsonRefs(ctx context.Context, doc []byte, limit int) ([]ref, error) {
	var out []ref
	err := refStrings(doc, func(_, _ int, s string) error {
		rs, err := findRefs(ctx, s)
		if out = append(out, rs...); err == nil && len(out) > limit {
			err = errTooManyRefs
		}
		return err
	})
	return out, err
}

// isKey reports whether the string literal that rest follows is an
// object's key: whitespace, then a colon.
func isKey(rest []byte) bool {
	rest = bytes.TrimLeft(rest, " \t\r\n")
	return len(rest) > 0 && rest[0] == ':'
}

// substituteJSON replaces the references inside the string literals of a
// JSON document: a string that is exactly one reference becomes the
// referenced JSON value itself, unless it is an object's key; references
// within a longer string, or a key, become their text. The rest of the
// document is kept byte for byte. A document that would be over max bytes
// is a *substitutionError.
func substituteJSON(doc []byte, resolve func(ref) (any, error), max int) ([]byte, error) {
	var out []byte
	last := 0
	err := refStrings(doc, func(i, end int, s string) error {
		rs, _ := findRefs(context.Background(), s)
		room := max - len(out) - (i - last)
		var repl []byte
		switch {
		case len(rs) == 1 && rs[0].text == s && !isKey(doc[end:]):
			v, err := resolve(rs[0])
			if err != nil {
				return err
			}
			if jsonOver(v, room) {
				return &substitutionError{"JSON body", max}
			}
			repl, _ = json.Marshal(v)
		case len(rs) > 0:
			t, err := substituteText(s, resolve, asIs, room)
			if err == nil && jsonOver(t, room) {
				err = &substitutionError{"text", max}
			}
			if err != nil {
				if _, ok := err.(*substitutionError); ok {
					err = &substitutionError{"JSON body", max}
				}
				return err
			}
			repl, _ = json.Marshal(t)
		}
		if len(repl) > room {
			return &substitutionError{"JSON body", max}
		}
		if repl != nil {
			out = append(append(out, doc[last:i]...), repl...)
			last = end
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return doc, nil
	}
	if len(out)+len(doc)-last > max {
		return nil, &substitutionError{"JSON body", max}
	}
	return append(out, doc[last:]...), nil
}
