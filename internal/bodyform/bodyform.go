// Package bodyform is the one home of the rule by which a JSON batch (OData
// 4.01's JSON $batch, Microsoft Graph's JSON batching) carries a request
// or response body, shared by package batch (its Handler and Client,
// reading and writing) and cmd/mixed (decode and encode), so that every
// writer picks the form that every reader infers.
//
// A body's form follows its Content-Type (OData JSON Format 4.01, section
// 19.1): JSON as the JSON value itself; in OData, a body of top-level type
// text as a string holding the text; any other body as a string holding it
// base64-encoded. Graph documents JSON and base64 only.
//
// A headers object may give Content-Type more than once (several members
// whose names differ in case, or an array of values): a reader takes one
// value from all of them, [Join]'s, and a writer writes that one value as
// one member, so that the form it chose by is the one the reader sees.
//
// Case is ASCII case: media types are ASCII tokens, and a Unicode fold
// would let a writer and a reader that fold differently disagree.
package bodyform

// A Form is how a JSON batch carries one body.
type Form uint8

const (
	Base64 Form = iota // a string: the body, base64-encoded
	JSON               // the body's JSON value
	Text               // a string: the body's text (OData, top-level type text)
)

// String returns the name of f.
func (f Form) String() string {
	switch f {
	case JSON:
		return "json"
	case Text:
		return "text"
	}
	return "base64"
}

// Of returns the form a body of Content-Type ct, as [Join] gives it, takes
// in a JSON batch; odata says whether the batch is OData's, whose text
// bodies are strings of text. A writer still falls back to base64 for a
// body that does not fit the form (JSON that does not parse, text that is
// not UTF-8), which a reader cannot tell from a body that does.
func Of[T string | []byte](ct T, odata bool) Form {
	switch {
	case IsJSON(ct):
		return JSON
	case odata && IsText(ct):
		return Text
	}
	return Base64
}

// IsJSON reports whether the Content-Type ct is JSON: application/json or
// a +json type, in any case, parameters and white space aside.
func IsJSON[T string | []byte](ct T) bool {
	mt := mediaType(ct)
	return equalFold(mt, "application/json") ||
		len(mt) > len("+json") && equalFold(mt[len(mt)-len("+json"):], "+json")
}

// IsText reports whether the Content-Type ct is of top-level type text,
// in any case, parameters and white space aside.
func IsText[T string | []byte](ct T) bool {
	mt := mediaType(ct)
	return len(mt) >= len("text/") && equalFold(mt[:len("text/")], "text/")
}

// mediaType is ct without its parameters and the white space around it.
func mediaType[T string | []byte](ct T) T {
	for i := 0; i < len(ct); i++ {
		if ct[i] == ';' {
			ct = ct[:i]
			break
		}
	}
	return trim(ct)
}

// Join returns the one value a reader takes from the values v it read
// under one name, in the order it read them (the members of that name,
// of any case, and the elements of an array value): each trimmed of
// spaces and tabs, the empty ones left out (an empty list element means
// nothing, RFC 9110 section 5.6.1), the rest joined with ", ". It does
// not allocate unless two or more values are not empty.
func Join(v []string) string {
	var one string
	n := 0
	for _, s := range v {
		if s = trim(s); s != "" {
			one = s
			n++
		}
	}
	if n <= 1 {
		return one
	}
	var b []byte
	for _, s := range v {
		b = Append(b, s)
	}
	return string(b)
}

// Append returns dst, the values joined so far as [Join] joins them, with
// v joined to it: a reader that reads the values one at a time joins them
// into a buffer of its own with Append, without allocating for each.
func Append[T string | []byte](dst []byte, v T) []byte {
	v = trim(v)
	if len(v) == 0 {
		return dst
	}
	if len(dst) > 0 {
		dst = append(dst, ", "...)
	}
	return append(dst, v...)
}

// trim is s without the spaces and tabs (HTTP's optional white space) at
// its ends.
func trim[T string | []byte](s T) T {
	i, j := 0, len(s)
	for i < j && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	for j > i && (s[j-1] == ' ' || s[j-1] == '\t') {
		j--
	}
	return s[i:j]
}

// equalFold reports whether s equals lower, which is in lower case, in
// ASCII case.
func equalFold[T string | []byte](s T, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
