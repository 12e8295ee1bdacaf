package main

import (
	"encoding/base64"
	"errors"
	"unicode/utf8"
)

// envelopeJSON is the first line of decode's output, and may be the first
// of encode's input: the boundary of the body and, for a whole HTTP
// message, its head (an httpJSON without body).
type envelopeJSON struct {
	Kind     string    `json:"kind"` // "envelope"
	Boundary string    `json:"boundary"`
	Format   string    `json:"format,omitempty"` // "json" for a JSON batch, whose boundary is ""
	HTTP     *httpJSON `json:"http,omitempty"`
}

// partJSON is one line of decode's output and of encode's input. Keys are
// never renamed; new ones may be added.
type partJSON struct {
	Kind    string      `json:"kind,omitempty"` // "part" or absent; only encode's input
	Index   int         `json:"index"`
	Headers [][2]string `json:"headers"`
	// Group and DependsOn are a JSON batch's atomicityGroup and
	// dependsOn: members of a group are adjacent lines, which encode
	// writes as one changeset in multipart.
	Group     string     `json:"atomicity_group,omitempty"`
	DependsOn []string   `json:"depends_on,omitempty"`
	Body      *string    `json:"body,omitempty"`
	BodyB64   *string    `json:"body_base64,omitempty"`
	HTTP      *httpJSON  `json:"http,omitempty"`
	Parts     []partJSON `json:"parts,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// httpJSON is an embedded HTTP message: a request (method, target) or a
// response (status, reason). The fields of the other kind are omitted.
type httpJSON struct {
	Method  string      `json:"method,omitempty"`
	Target  string      `json:"target,omitempty"`
	Proto   string      `json:"proto"`
	Status  int         `json:"status,omitempty"`
	Reason  *string     `json:"reason,omitempty"`
	Headers [][2]string `json:"headers"`
	Body    *string     `json:"body,omitempty"`
	BodyB64 *string     `json:"body_base64,omitempty"`
}

// setBody stores b as text when it is valid UTF-8, else as base64.
func setBody(text, b64 **string, b []byte) { setBodyIn(text, b64, b, new(string)) }

// setBodyIn is setBody, the string stored in box, which the caller
// allocates with others.
func setBodyIn(text, b64 **string, b []byte, box *string) {
	if utf8.Valid(b) {
		*box = string(b)
		*text = box
		return
	}
	*box = base64.StdEncoding.EncodeToString(b)
	*b64 = box
}

// getBody returns the bytes of a body given as text or base64, or both
// (text, then base64: the rest of a body that is not all UTF-8), and
// whether one was given.
func getBody(text, b64 *string) ([]byte, bool, error) {
	switch {
	case text != nil && b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		return append([]byte(*text), b...), true, err
	case text != nil:
		return []byte(*text), true, nil
	case b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		return b, true, err
	}
	return nil, false, nil
}

var errBothBodies = errors.New(`"body" and "body_base64" given twice, or "body_base64" before "body": a body is "body", "body_base64", or "body" followed by "body_base64" (the rest of a body that is not all UTF-8)`)
