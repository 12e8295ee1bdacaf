package batch

import (
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mixedcodec/mixed"
	"github.com/mixedcodec/mixed/internal/bodyform"
)

// How a JSON batch carries a body depends on its media type (OData JSON
// Format 4.01, section 19.1): JSON as the JSON value itself; in OData, a
// body of top-level type text as a string holding the text; any other
// body as a string holding it base64-encoded (base64url in OData). Graph
// documents JSON and base64 only. The rule itself, and how a Content-Type
// given more than once is joined, is internal/bodyform's, which cmd/mixed
// follows too; this file applies it to the http.Header a writer writes
// from and the mixed.Header a reader reads into, for the Handler and the
// Client alike.

// A bodyForm is how a JSON batch carries one body.
type bodyForm = bodyform.Form

const (
	bodyBase64 = bodyform.Base64 // a string: the body, base64-encoded
	bodyJSON   = bodyform.JSON   // the body's JSON value
	bodyText   = bodyform.Text   // a string: the body's text (OData, text/*)
)

// bodyFormOf is the form a body of media type ct takes in a batch of
// format f. A writer still falls back to base64 for a body that does not
// fit the form (JSON that does not parse, text that is not UTF-8).
func bodyFormOf[T string | []byte](f Format, ct T) bodyForm {
	return bodyform.Of(ct, f == FormatODataJSON)
}

// isJSONMedia reports whether the Content-Type ct is JSON:
// application/json or a +json type, parameters aside.
func isJSONMedia[T string | []byte](ct T) bool { return bodyform.IsJSON(ct) }

// mediaTypeOf returns the Content-Type of h, a header a JSON batch writer
// writes, as the batch's reader will see it, and whether h has one (a key
// with a value), so that the writer picks the body form the reader
// infers: appendJSONFields writes every key of Content-Type's name, of any
// case, as one member, their values in sorted key order joined as the
// reader joins them (bodyform.Join). It does not allocate unless two or
// more of the values are not empty.
func mediaTypeOf(h http.Header) (string, bool) {
	var buf [2]string
	keys := buf[:0]
	if s, ok := probeHead(h); ok {
		// Content-Type is the only key of its name (see probeHead).
		if s.hasCT {
			keys = append(keys, "Content-Type")
		}
	} else {
		for k := range h {
			if isContentType(k) {
				keys = append(keys, k)
			}
		}
	}
	one, n, has := "", 0, false
	for _, k := range keys {
		vs := h[k]
		has = has || len(vs) > 0
		for _, v := range vs {
			if v = strings.Trim(v, " \t"); v != "" {
				one, n = v, n+1
			}
		}
	}
	if n <= 1 {
		return one, has
	}
	slices.Sort(keys)
	var b []byte
	for _, k := range keys {
		for _, v := range h[k] {
			b = bodyform.Append(b, v)
		}
	}
	return string(b), true
}

// contentTypeOf appends to dst the Content-Type a reader of a JSON batch
// takes from the fields hdr read from a headers object (every value of
// that name, joined as bodyform.Join joins them), and reports whether hdr
// has one. The values are read in place: a reader that keeps dst for the
// next object allocates nothing for it.
func contentTypeOf(dst []byte, hdr *mixed.Header) ([]byte, bool) {
	has := false
	for v := range hdr.ValuesBytes("Content-Type") {
		dst, has = bodyform.Append(dst, v), true
	}
	return dst, has
}

// appendJSONFields appends the members of a headers object that carries
// the fields of h, and returns it with keys, scratch space, for reuse.
// Keys that differ in case only (set through the map, as lower-case names
// from a proxy or an HTTP/2 peer leave them) are one member: a JSON
// object's reader keeps one of two members of the same name (most keep
// the last), and a reader of HTTP fields would join them anyway. A member
// is named by the first of its keys in byte order (in lower case when
// lower is set, as OData writes response headers); its value is the
// values of its keys in that order, joined as bodyform.Join joins them,
// which is the field value a reader takes from it. Members come in sorted
// order, case aside. The framing fields (Content-Length,
// Transfer-Encoding: the batch frames each body) are left out, and Host
// when noHost is set. Content-Type, when hasCT, is ct, the one the body's
// form was chosen by (see mediaTypeOf), whatever keys h has for it.
func appendJSONFields(b []byte, h http.Header, keys []string, lower, noHost bool, ct string, hasCT bool) ([]byte, []string) {
	keys = jsonFieldKeys(keys[:0], h, noHost)
	if hasCT {
		keys = append(keys, "Content-Type")
	}
	slices.SortFunc(keys, compareFold)
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && equalFoldASCII(keys[j], keys[i]) {
			j++
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		start := len(b)
		b = appendJSONStringBody(b, keys[i])
		if lower {
			// Escapes are in lower case already: only the name's
			// own letters change.
			for k := start; k < len(b); k++ {
				if 'A' <= b[k] && b[k] <= 'Z' {
					b[k] += 'a' - 'A'
				}
			}
		}
		b = append(b, '"', ':', '"')
		if isContentType(keys[i]) {
			b = appendJSONStringBody(b, ct)
		} else {
			n := len(b)
			for _, k := range keys[i:j] {
				for _, v := range h[k] {
					if v = strings.Trim(v, " \t"); v == "" {
						continue
					}
					if len(b) > n {
						b = append(b, ", "...)
					}
					b = appendJSONStringBody(b, v)
				}
			}
		}
		b = append(b, '"')
		i = j
	}
	return b, keys
}

// jsonFieldKeys appends to keys the keys of h that appendJSONFields
// writes members for, but Content-Type's: those with values, but the
// framing fields and, when noHost is set, Host.
func jsonFieldKeys(keys []string, h http.Header, noHost bool) []string {
	if _, ok := probeHead(h); ok {
		// h holds only Content-Type and Content-Length (see probeHead).
		return keys
	}
	return rangedJSONFieldKeys(keys, h, noHost)
}

// rangedJSONFieldKeys is jsonFieldKeys for any h: it ranges over the map.
func rangedJSONFieldKeys(keys []string, h http.Header, noHost bool) []string {
	for k, vs := range h {
		if len(vs) > 0 && !isContentType(k) && !equalFoldASCII(k, "Content-Length") &&
			!equalFoldASCII(k, "Transfer-Encoding") && !(noHost && equalFoldASCII(k, "Host")) {
			keys = append(keys, k)
		}
	}
	return keys
}

// isContentType reports whether the header key k is Content-Type, in any
// case.
func isContentType(k string) bool { return equalFoldASCII(k, "Content-Type") }

// equalFoldASCII reports whether a and b are equal, ASCII case aside.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

// compareFold orders header keys by name, ASCII case aside, and keys of
// the same name by their bytes: keys that differ in case only are
// adjacent, in the order mediaTypeOf joins them.
func compareFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if ca, cb := lowerASCII(a[i]), lowerASCII(b[i]); ca != cb {
			return int(ca) - int(cb)
		}
	}
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// textFits reports whether body can be carried as a JSON string of text:
// JSON strings hold Unicode, so a body that is not UTF-8 goes as base64.
func textFits(body []byte) bool { return utf8.Valid(body) }
