package batch

import (
	"net/http"
	"slices"
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

// mediaTypeOf returns the Content-Type of h, a header a JSON batch writer
// writes, as the batch's reader will see it, so that the writer picks the
// body form the reader infers. The writers write each key of h as a member
// of its own, in sorted order, its values as jsonMember joins them; a key
// that differs from Content-Type in case only (set through the map) is one
// more member of that name, which the reader joins to the others
// (joinValues) just as it joins the values of one member.
func mediaTypeOf(h http.Header) string {
	var buf [2]string
	keys := buf[:0]
	for k := range h {
		if len(k) == len("Content-Type") && strings.EqualFold(k, "Content-Type") {
			keys = append(keys, k)
		}
	}
	switch len(keys) {
	case 0:
		return ""
	case 1:
		return strings.Trim(jsonMember(h[keys[0]]), " \t")
	}
	slices.Sort(keys)
	members := make([]string, len(keys))
	for i, k := range keys {
		members[i] = jsonMember(h[k])
	}
	return joinValues(members)
}

// jsonMember is the value of the member a JSON batch writer writes for the
// values v of one key of an http.Header: each trimmed of spaces and tabs,
// joined with ", ".
func jsonMember(v []string) string {
	if len(v) == 1 {
		return strings.Trim(v[0], " \t")
	}
	var b strings.Builder
	for i, s := range v {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strings.Trim(s, " \t"))
	}
	return b.String()
}

// joinValues is the one Content-Type a reader of a JSON batch takes from
// the values v it read under that name, one for each member (or array
// element): each trimmed of spaces and tabs, the empty ones left out
// (empty list elements mean nothing, RFC 9110 section 5.6.1, as cmd/mixed
// reads them too), the rest joined with ", ".
func joinValues(v []string) string {
	if len(v) == 1 {
		return strings.Trim(v[0], " \t")
	}
	var b strings.Builder
	for _, s := range v {
		if s = strings.Trim(s, " \t"); s == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s)
	}
	return b.String()
}

// textFits reports whether body can be carried as a JSON string of text:
// JSON strings hold Unicode, so a body that is not UTF-8 goes as base64.
func textFits(body []byte) bool { return utf8.Valid(body) }
