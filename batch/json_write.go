package batch

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The responses of a JSON batch go out as {"responses":[...]}, one object
// per request in request order, each written as soon as its call and the
// ones before it are done: {"id", "atomicityGroup" (OData, in a group),
// "status", "headers", "body"}. Header names are lower case in OData (as
// OData 4.01 writes them) and as net/http keys them in Graph (whose
// JavaScript client looks for "Content-Type"); a field given more than once,
// or under keys that differ in case only, is one member, its values joined
// with ", " (see appendJSONFields). Bodies take the form json_body.go gives
// them by the Content-Type the object carries: a body whose Content-Type is
// JSON and which is valid JSON (UTF-8, and within MaxJSONDepth) is written
// as that JSON, an OData text/*
// body that is UTF-8 as a string of its text, any other body as a base64
// string (base64url in OData, as OData 4.01 says; standard base64 in
// Graph). JSON and OData text bodies
// must be buffered whole, within MaxBufferedBytes; other bodies stream,
// base64-encoded, like a multipart part.

// jsonError answers a JSON batch that cannot be read with an error object
// in the shape OData and Graph use.
func jsonError(w http.ResponseWriter, status int, err error) {
	b := append([]byte(`{"error":{"code":`), appendJSONString(nil, errorCode(status))...)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, err.Error())
	b = append(b, "}}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b)
}

// errorCode is Graph's kind of error code for a status: its text without
// spaces ("BadRequest").
func errorCode(status int) string {
	return strings.ReplaceAll(http.StatusText(status), " ", "")
}

// openJSON starts the response of a JSON batch.
func (o *output) openJSON(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	if o.format == FormatODataJSON {
		w.Header().Set("OData-Version", "4.01")
	}
	w.WriteHeader(http.StatusOK)
	o.entries = 0
	o.bw.WriteString(`{"responses":[`)
}

// b64 is the base64 alphabet of the batch's format.
func (o *output) b64() *base64.Encoding {
	if o.format == FormatODataJSON {
		return base64.URLEncoding
	}
	return base64.StdEncoding
}

// appendEntryHead appends the start of the response object for the call
// whose id is cid, in atomicity group group (nil for none): up to its
// headers, inclusive. withBody says that a body follows: one without
// Content-Type (a handler can set it to nil, as net/http documents, so
// that none is sniffed) goes as base64, which a reader would take for
// JSON text, so it is said to be application/octet-stream.
func (o *output) appendEntryHead(b, cid, group []byte, rw *response, withBody bool) []byte {
	if o.entries > 0 {
		b = append(b, ',')
	}
	o.entries++
	b = append(b, `{"id":`...)
	b = appendJSONString(b, cid)
	if group != nil && o.format == FormatODataJSON {
		b = append(b, `,"atomicityGroup":`...)
		b = appendJSONString(b, group)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(rw.status), 10)
	b = append(b, `,"headers":{`...)
	ct, hasCT := rw.contentType()
	if ct == "" && withBody {
		ct, hasCT = "application/octet-stream", true
	}
	b, o.keys = appendJSONFields(b, rw.h, o.keys, o.format == FormatODataJSON, false, ct, hasCT)
	return append(b, '}')
}

// writeJSONEntry writes the response object of call c, with rw its
// response (c's own, or its changeset's), in atomicity group group.
func (o *output) writeJSONEntry(cid, group []byte, rw *response) error {
	body := rw.body.Bytes()
	b := o.appendEntryHead(o.jbuf[:0], cid, group, rw, !rw.head && len(body) > 0)
	if rw.head || len(body) == 0 {
		o.jbuf = append(b, '}')
		_, err := o.bw.Write(o.jbuf)
		return err
	}
	ct, _ := rw.contentType()
	switch bodyFormOf(o.format, ct) {
	case bodyJSON:
		if !o.carriesJSON(body) {
			break
		}
		body = bytes.TrimSpace(body)
		o.jbuf = append(b, `,"body":`...)
		o.bw.Write(o.jbuf)
		o.bw.Write(body)
		_, err := o.bw.WriteString("}")
		return err
	case bodyText:
		if !textFits(body) {
			break
		}
		o.jbuf = append(b, `,"body":"`...)
		o.bw.Write(o.jbuf)
		// A piece at a time, as the base64 stream goes: escaped whole,
		// a body of control characters would take six times its size
		// in jbuf, past the budget that counted it, and jbuf would keep
		// that for the batches after.
		for len(body) > 0 {
			n := min(len(body), textPiece)
			for n < len(body) && !utf8.RuneStart(body[n]) {
				n-- // body is UTF-8 (textFits): a rune start is at most 3 back
			}
			o.jbuf = appendJSONStringBody(o.jbuf[:0], body[:n])
			o.bw.Write(o.jbuf)
			body = body[n:]
		}
		_, err := o.bw.WriteString(`"}`)
		return err
	}
	o.jbuf = append(b, `,"body":"`...)
	o.bw.Write(o.jbuf)
	o.enc = b64Stream{o: o, enc: o.b64()}
	o.enc.Write(body)
	return o.enc.close()
}

// carriesJSON reports whether body can go into the batch response as the
// JSON value it is: valid JSON, and UTF-8 (RFC 8259 §8.1: encoding/json
// takes invalid UTF-8 in a string for valid, and a strict reader would
// refuse the whole batch response for it), nested no deeper than
// MaxJSONDepth allows a request's body (so that, with the envelope, it
// stays within encoding/json's 10000 levels). A body that cannot goes as
// base64. It is called with o.wmu held, which o.scan needs.
func (o *output) carriesJSON(body []byte) bool {
	return utf8.Valid(body) && o.scan.validJSON(body, min(o.h.opts.MaxJSONDepth, 9999)-2)
}

// writeJSONSkip writes a 424 response object for call cid of a group that
// failed at another of its calls.
func (o *output) writeJSONSkip(cid, group []byte, msg string) error {
	var rw response
	rw.status = http.StatusFailedDependency
	rw.h = http.Header{"Content-Type": {"application/json"}}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": errorCode(rw.status), "message": msg}})
	rw.body.Write(b)
	return o.writeJSONEntry(cid, group, &rw)
}

// writeJSONUnit writes the response objects of unit i, a call or an
// atomicity group; st.out.wmu is held.
func (h *Handler) writeJSONUnit(st *batchState, i int) error {
	o := &st.out
	c := &st.calls[i]
	if c.kind != changesetHead {
		return o.writeJSONEntry(c.cid, nil, c.rec)
	}
	for j := range st.members(i) {
		m := &st.calls[j]
		var err error
		switch {
		case c.failed == j || c.failed == 0 && !c.rec.wroteHeader:
			err = o.writeJSONEntry(m.cid, c.cid, m.rec)
		case c.failed == 0:
			// The group failed as a whole (it could not begin or
			// commit, or was skipped): each request says so.
			err = o.writeJSONEntry(m.cid, c.cid, c.rec)
		case j < c.failed:
			err = o.writeJSONSkip(m.cid, c.cid, "rolled back: request "+strconv.Quote(clip(requestID(st.calls[c.failed].cid)))+" of its atomicity group failed")
		default:
			err = o.writeJSONSkip(m.cid, c.cid, "not run: request "+strconv.Quote(clip(requestID(st.calls[c.failed].cid)))+" of its atomicity group failed")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// startJSONStream writes the start of the response object of rw, the
// response at the head of the order, up to its body's opening quote, and
// what it buffered; its later writes follow base64-encoded through o.enc.
// o.wmu is held.
func (o *output) startJSONStream(rw *response) error {
	rw.length = contentLength(rw.h)
	b := o.appendEntryHead(o.jbuf[:0], o.st.calls[rw.unit].cid, nil, rw, true)
	o.jbuf = append(b, `,"body":"`...)
	o.bw.Write(o.jbuf)
	o.enc = b64Stream{o: o, enc: o.b64()}
	o.part, o.owner = &o.enc, rw
	return o.sendBuffered(&o.enc, rw)
}

// b64Stream writes what is written to it base64-encoded to the batch
// response, carrying up to two bytes from one write to the next; close
// writes the rest, padded, and ends the response object.
type b64Stream struct {
	o     *output
	enc   *base64.Encoding
	carry [3]byte
	n     int
	buf   [4096]byte
}

func (s *b64Stream) Write(p []byte) (int, error) {
	total := len(p)
	if s.n > 0 {
		k := copy(s.carry[s.n:], p)
		s.n += k
		p = p[k:]
		if s.n < 3 {
			return total, nil
		}
		s.enc.Encode(s.buf[:4], s.carry[:3])
		s.n = 0
		if _, err := s.o.bw.Write(s.buf[:4]); err != nil {
			return 0, err
		}
	}
	for len(p) >= 3 {
		chunk := min(len(p)/3*3, len(s.buf)/4*3)
		s.enc.Encode(s.buf[:], p[:chunk])
		if _, err := s.o.bw.Write(s.buf[:chunk/3*4]); err != nil {
			return 0, err
		}
		p = p[chunk:]
	}
	s.n = copy(s.carry[:], p)
	return total, nil
}

func (s *b64Stream) close() error {
	if s.n > 0 {
		n := s.enc.EncodedLen(s.n)
		s.enc.Encode(s.buf[:n], s.carry[:s.n])
		s.o.bw.Write(s.buf[:n])
		s.n = 0
	}
	_, err := s.o.bw.WriteString(`"}`)
	return err
}

// textPiece is how much of a text body writeJSONEntry escapes at a time.
const textPiece = 4 << 10

// appendJSONString appends s as a JSON string.
func appendJSONString[T string | []byte](b []byte, s T) []byte {
	b = append(b, '"')
	b = appendJSONStringBody(b, s)
	return append(b, '"')
}

// jsonSafe is true for the bytes a JSON string holds as they are: ASCII
// but control characters, quotes and backslashes.
var jsonSafe = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONStringBody appends s escaped for the inside of a JSON string:
// quotes, backslashes and control characters escaped (LF, CR and TAB as
// \n, \r and \t, as encoding/json writes them), invalid UTF-8 replaced by
// U+FFFD.
func appendJSONStringBody[T string | []byte](b []byte, s T) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		// A run of bytes that stand for themselves, appended at once.
		j := i
		for j < len(s) && jsonSafe[s[j]] {
			j++
		}
		if j > i {
			b = append(b, s[i:j]...)
			if i = j; i == len(s) {
				break
			}
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}
