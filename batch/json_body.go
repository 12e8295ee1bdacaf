package batch

import (
	"net/http"
	"strings"
	"unicode/utf8"
)

// How a JSON batch carries a body depends on its media type (OData JSON
// Format 4.01, section 19.1): JSON as the JSON value itself; in OData, a
// body of top-level type text as a string holding the text; any other
// body as a string holding it base64-encoded (base64url in OData). Graph
// documents JSON and base64 only. This file is the one home of that rule,
// for the Handler and the Client, reading and writing.

// A bodyForm is how a JSON batch carries one body.
type bodyForm uint8

const (
	bodyBase64 bodyForm = iota // a string: the body, base64-encoded
	bodyJSON                   // the body's JSON value
	bodyText                   // a string: the body's text (OData, text/*)
)

// bodyFormOf is the form a body of media type ct takes in a batch of
// format f. A writer still falls back to base64 for a body that does not
// fit the form (JSON that does not parse, text that is not UTF-8).
func bodyFormOf(f Format, ct string) bodyForm {
	switch {
	case isJSONMedia(ct):
		return bodyJSON
	case f == FormatODataJSON && isTextMedia(ct):
		return bodyText
	}
	return bodyBase64
}

// isTextMedia reports whether the Content-Type ct is of top-level type
// text, parameters aside.
func isTextMedia(ct string) bool {
	ct = strings.TrimLeft(ct, " \t")
	return len(ct) >= 5 && strings.EqualFold(ct[:5], "text/")
}

// mediaTypeOf returns the Content-Type of h as a JSON batch carries it: one
// member, a repeated field's values joined with ", ". A writer picks a
// body's form from this value rather than the first, because a reader of
// the batch sees only the joined member and must infer the same form (the
// classifiers above trim, so the writers' trimming of each value changes
// nothing).
func mediaTypeOf(h http.Header) string {
	return joinValues(h["Content-Type"])
}

// joinValues joins the values of a repeated field as a JSON batch writes
// them.
func joinValues(v []string) string {
	if len(v) == 1 {
		return v[0]
	}
	return strings.Join(v, ", ")
}

// textFits reports whether body can be carried as a JSON string of text:
// JSON strings hold Unicode, so a body that is not UTF-8 goes as base64.
func textFits(body []byte) bool { return utf8.Valid(body) }
