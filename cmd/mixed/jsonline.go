package main

import (
	"strconv"
	"unicode/utf8"
)

// decode's part lines, written by hand: encoding/json's reflection took
// two thirds of decode's time for a batch of small parts. The bytes are
// exactly those of a json.Encoder with HTML escaping off
// (TestAppendPartJSONAsEncoder holds them to it).

// appendPartJSON appends p as encoding/json encodes it, without the
// newline.
func appendPartJSON(b []byte, p *partJSON) []byte {
	b = append(b, '{')
	if p.Kind != "" {
		b = append(b, `"kind":`...)
		b = appendJSONText(b, p.Kind)
		b = append(b, ',')
	}
	b = append(b, `"index":`...)
	b = strconv.AppendInt(b, int64(p.Index), 10)
	b = append(b, `,"headers":`...)
	b = appendHeaderPairs(b, p.Headers)
	if p.Group != "" {
		b = append(b, `,"atomicity_group":`...)
		b = appendJSONText(b, p.Group)
	}
	if len(p.DependsOn) > 0 {
		b = append(b, `,"depends_on":[`...)
		for i, d := range p.DependsOn {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONText(b, d)
		}
		b = append(b, ']')
	}
	b = appendBodies(b, p.Body, p.BodyB64)
	if p.HTTP != nil {
		b = append(b, `,"http":`...)
		b = appendHTTPJSON(b, p.HTTP)
	}
	if len(p.Parts) > 0 {
		b = append(b, `,"parts":[`...)
		for i := range p.Parts {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendPartJSON(b, &p.Parts[i])
		}
		b = append(b, ']')
	}
	if p.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONText(b, p.Error)
	}
	return append(b, '}')
}

// appendHTTPJSON appends h as encoding/json encodes it.
func appendHTTPJSON(b []byte, h *httpJSON) []byte {
	b = append(b, '{')
	if h.Method != "" {
		b = append(b, `"method":`...)
		b = appendJSONText(b, h.Method)
		b = append(b, ',')
	}
	if h.Target != "" {
		b = append(b, `"target":`...)
		b = appendJSONText(b, h.Target)
		b = append(b, ',')
	}
	b = append(b, `"proto":`...)
	b = appendJSONText(b, h.Proto)
	if h.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(h.Status), 10)
	}
	if h.Reason != nil {
		b = append(b, `,"reason":`...)
		b = appendJSONText(b, *h.Reason)
	}
	b = append(b, `,"headers":`...)
	b = appendHeaderPairs(b, h.Headers)
	b = appendBodies(b, h.Body, h.BodyB64)
	return append(b, '}')
}

// appendHeaderPairs appends a headers array: null when h is nil.
func appendHeaderPairs(b []byte, h [][2]string) []byte {
	if h == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, f := range h {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendJSONText(b, f[0])
		b = append(b, ',')
		b = appendJSONText(b, f[1])
		b = append(b, ']')
	}
	return append(b, ']')
}

// appendBodies appends the "body" and "body_base64" members that are set.
func appendBodies(b []byte, text, b64 *string) []byte {
	if text != nil {
		b = append(b, `,"body":`...)
		b = appendJSONText(b, *text)
	}
	if b64 != nil {
		b = append(b, `,"body_base64":`...)
		b = appendJSONText(b, *b64)
	}
	return b
}

// appendJSONText appends s as a JSON string, escaped exactly as
// encoding/json escapes it with HTML escaping off (as jsonStringWriter
// does in pieces): runs of safe bytes copied at once.
func appendJSONText(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		for i < len(s) && jsonSafe[s[i]] {
			i++
		}
		if i == len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
