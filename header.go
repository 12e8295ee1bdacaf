package mixed

import (
	"bytes"
	"iter"
	"net/textproto"
	"strconv"
)

// A Header is an ordered list of header fields: the header of a part read by
// a [Reader], or the header that [Writer.CreatePart] writes.
//
// Fields keep their wire order and their duplicates; names are compared
// case-insensitively (ASCII) and kept as written. Values are unfolded (an
// obsolete folded line becomes one space) and trimmed of surrounding spaces
// and tabs.
//
// The []byte names and values returned by Header's methods ([Header.GetBytes],
// [Header.ValuesBytes], [Header.All], [Header.Field]) are views into a
// buffer the Header owns; the methods that return strings ([Header.Get],
// [Header.Values]) return copies. For a Header that belongs to a [Part], they are valid
// until the next call to [Reader.NextPart] (or [Reader.Reset]); for a Header
// the caller builds, until the next call that modifies it. Use [Header.Clone]
// or copy the bytes to keep them longer.
//
// The Header of a Part of a [BytesReader] does not copy its fields: a name,
// and a value written on one line, are views of the BytesReader's data,
// which stay valid, and keep their contents, as long as data is not
// modified, after NextPart too. A value unfolded from several lines is
// assembled in the Header's buffer and, like anything the caller adds or
// sets, valid until the next NextPart or Reset. Code that does not know
// which it holds can count on the shorter lifetime.
//
// The zero value is an empty Header ready to use. Adding fields to a Header
// that has been [Header.Reset] reuses its memory, so that building one header
// per part allocates nothing in steady state.
type Header struct {
	buf    []byte
	fields []field
	// ext is memory the Header does not own, the input of a BytesReader:
	// spans marked with extBit are views of it (see addView).
	ext []byte
}

type field struct {
	name, value span
}

// A span is a name or value: buf[start:end], or ext[start&^extBit :
// end&^extBit] when start has extBit set (then end has it too).
type span struct{ start, end uint32 }

const extBit = 1 << 31

func (h *Header) bytes(s span) []byte {
	if s.start&extBit != 0 {
		start, end := s.start&^extBit, s.end&^extBit
		return h.ext[start:end:end]
	}
	return h.buf[s.start:s.end:s.end]
}

// addView appends a field whose name and value are subslices of h.ext,
// as views, without copying them; or copies them like AddBytes when h has
// no ext or they lie beyond what a span can mark. The caller guarantees
// that they are subslices of h.ext, so that their offsets in it are the
// differences of the capacities.
func (h *Header) addView(name, value []byte) {
	if h.ext == nil {
		h.AddBytes(name, value)
		return
	}
	ns, vs := cap(h.ext)-cap(name), cap(h.ext)-cap(value)
	ne, ve := ns+len(name), vs+len(value)
	if ns < 0 || vs < 0 || ne >= extBit || ve >= extBit || ne > len(h.ext) || ve > len(h.ext) {
		h.AddBytes(name, value)
		return
	}
	h.fields = append(h.fields, field{
		span{uint32(ns) | extBit, uint32(ne) | extBit},
		span{uint32(vs) | extBit, uint32(ve) | extBit},
	})
}

// addLine appends the field whose name is line[:colon] and whose value is
// line[vs:], line being a view of a field line of h.ext as addView takes
// them; without ext it copies the line once rather than the name and the
// value apart (the bytes between them stay unused in buf).
func (h *Header) addLine(line []byte, colon, vs int) {
	if h.ext != nil {
		h.addView(line[:colon], line[vs:])
		return
	}
	s := uint32(len(h.buf))
	h.buf = append(h.buf, line...)
	h.fields = append(h.fields, field{span{s, s + uint32(colon)}, span{s + uint32(vs), uint32(len(h.buf))}})
}

// Reset removes every field and keeps the memory for reuse.
func (h *Header) Reset() {
	h.buf = h.buf[:0]
	h.fields = h.fields[:0]
}

// Len returns the number of fields.
func (h *Header) Len() int { return len(h.fields) }

// Field returns the name and value of field i, in wire order. It panics if
// i is out of range, like a slice index. The views are valid as described
// on [Header].
func (h *Header) Field(i int) (name, value []byte) {
	f := h.fields[i]
	return h.bytes(f.name), h.bytes(f.value)
}

// All returns an iterator over the fields in wire order, yielding name and
// value views valid as described on [Header].
func (h *Header) All() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		for _, f := range h.fields {
			if !yield(h.bytes(f.name), h.bytes(f.value)) {
				return
			}
		}
	}
}

// Get returns the value of the first field named name (ASCII
// case-insensitive), or "" if there is none. The string is a copy, so it
// stays valid after the Header changes; use [Header.GetBytes] for a view
// that does not allocate.
func (h *Header) Get(name string) string {
	return string(h.GetBytes(name))
}

// GetBytes returns a view of the value of the first field named name (ASCII
// case-insensitive), or nil if there is none. A present field with an empty
// value returns a non-nil empty slice. The view is valid as described on
// [Header]; copy it, or use [Header.Get], to keep it longer. GetBytes does
// not allocate.
func (h *Header) GetBytes(name string) []byte {
	// index's loop, without its call: parts are looked up by Content-ID
	// one by one.
	for _, f := range h.fields {
		if int(f.name.end-f.name.start) == len(name) && equalFoldString(h.bytes(f.name), name) {
			return h.bytes(f.value)
		}
	}
	return nil
}

// Has reports whether a field named name (ASCII case-insensitive) is present.
func (h *Header) Has(name string) bool { return h.index(name) >= 0 }

// Values returns the values of every field named name (ASCII
// case-insensitive), in wire order, or nil if there is none, as
// [net/http.Header.Values] does. The strings are copies, so they stay
// valid after the Header changes; use [Header.ValuesBytes] for views that
// do not allocate.
func (h *Header) Values(name string) []string {
	var vs []string
	for v := range h.ValuesBytes(name) {
		vs = append(vs, string(v))
	}
	return vs
}

// ValuesBytes returns an iterator over views of the values of every field
// named name (ASCII case-insensitive), in wire order. The views are valid
// as described on [Header]; use [Header.Values] to keep copies.
func (h *Header) ValuesBytes(name string) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for _, f := range h.fields {
			if int(f.name.end-f.name.start) == len(name) && equalFoldString(h.bytes(f.name), name) && !yield(h.bytes(f.value)) {
				return
			}
		}
	}
}

func (h *Header) index(name string) int {
	for i, f := range h.fields {
		// The lengths first, without the call.
		if int(f.name.end-f.name.start) == len(name) && equalFoldString(h.bytes(f.name), name) {
			return i
		}
	}
	return -1
}

// Add appends a field. It copies name and value into the Header's own
// buffer and does not validate them: [Writer.CreatePart] does.
func (h *Header) Add(name, value string) {
	ns := uint32(len(h.buf))
	h.buf = append(h.buf, name...)
	vs := uint32(len(h.buf))
	h.buf = append(h.buf, value...)
	h.fields = append(h.fields, field{span{ns, vs}, span{vs, uint32(len(h.buf))}})
}

// AddBytes is like [Header.Add] for byte slices, so that a view from another
// Header can be copied in without a conversion.
func (h *Header) AddBytes(name, value []byte) {
	ns := uint32(len(h.buf))
	h.buf = append(h.buf, name...)
	vs := uint32(len(h.buf))
	h.buf = append(h.buf, value...)
	h.fields = append(h.fields, field{span{ns, vs}, span{vs, uint32(len(h.buf))}})
}

// Set replaces the value of the first field named name (ASCII
// case-insensitive) and removes any later ones; without such a field it
// appends one.
func (h *Header) Set(name, value string) {
	i := h.index(name)
	if i < 0 {
		h.Add(name, value)
		return
	}
	vs := uint32(len(h.buf))
	h.buf = append(h.buf, value...)
	h.fields[i].value = span{vs, uint32(len(h.buf))}
	h.del(name, i+1)
}

// Del removes every field named name (ASCII case-insensitive).
func (h *Header) Del(name string) { h.del(name, 0) }

func (h *Header) del(name string, from int) {
	out := h.fields[:from]
	for _, f := range h.fields[from:] {
		if int(f.name.end-f.name.start) != len(name) || !equalFoldString(h.bytes(f.name), name) {
			out = append(out, f)
		}
	}
	h.fields = out
}

// Clone returns a deep copy of h whose views stay valid independently of h.
func (h *Header) Clone() *Header {
	c := &Header{fields: make([]field, 0, len(h.fields))}
	for _, f := range h.fields {
		c.AddBytes(h.bytes(f.name), h.bytes(f.value))
	}
	return c
}

// MIMEHeader converts h to a [textproto.MIMEHeader]: names canonicalized
// with [textproto.CanonicalMIMEHeaderKey], values copied, order of values of
// the same name kept.
func (h *Header) MIMEHeader() textproto.MIMEHeader {
	m := make(textproto.MIMEHeader, len(h.fields))
	for _, f := range h.fields {
		k := textproto.CanonicalMIMEHeaderKey(string(h.bytes(f.name)))
		m[k] = append(m[k], string(h.bytes(f.value)))
	}
	return m
}

// parseHeaderLine parses one non-empty line of a part's header block,
// without its line end, into h: a field, or the continuation of the
// previous field's value (obsolete folding, RFC 5322 §3.2.2, unfolded with
// one space). lineOff is the line's stream offset, for errors. The Reader
// calls it for each line as it finds the line, so a header block is read
// once.
func parseHeaderLine(h *Header, line []byte, lineOff int64, maxFields int) error {
	if i := bytes.IndexByte(line, '\r'); i >= 0 {
		return syntaxErr(lineOff+int64(i), ErrSyntax, "bare CR in header")
	}
	if line[0] == ' ' || line[0] == '\t' {
		if len(h.fields) == 0 {
			return syntaxErr(lineOff, ErrSyntax, "header starts with a continuation line")
		}
		if i := badValueByte(line); i >= 0 {
			return syntaxErr(lineOff+int64(i), ErrSyntax, "control character in header value")
		}
		if v := trimWS(line); len(v) > 0 {
			f := &h.fields[len(h.fields)-1]
			if f.value.start&extBit != 0 || int(f.value.end) != len(h.buf) {
				// The value is a view of ext (or, which parsing never
				// makes, not at the end of buf): copy it to the end of
				// buf, where it can grow.
				start := len(h.buf)
				h.buf = append(h.buf, h.bytes(f.value)...)
				f.value = span{uint32(start), uint32(len(h.buf))}
			}
			if f.value.end > f.value.start {
				h.buf = append(h.buf, ' ')
			}
			h.buf = append(h.buf, v...)
			f.value.end = uint32(len(h.buf))
		}
		return nil
	}
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return syntaxErr(lineOff, ErrSyntax, "header line without colon")
	}
	name := line[:colon]
	if !isToken(name) {
		return headerNameErr(name, lineOff)
	}
	value := line[colon+1:]
	if i := badValueByte(value); i >= 0 {
		return syntaxErr(lineOff+int64(colon+1+i), ErrSyntax, "control character in header value")
	}
	if len(h.fields) == maxFields {
		return syntaxErr(lineOff, ErrTooManyFields, "")
	}
	h.AddBytes(name, trimWS(value))
	return nil
}

// headerNameErr is the error for a part header name that is not a token,
// name starting at stream offset off: where its first bad byte is, or that
// it is empty.
func headerNameErr(name []byte, off int64) error {
	for i, c := range name {
		if !tokenTable[c] {
			return syntaxErr(off+int64(i), ErrSyntax, "invalid byte in header name")
		}
	}
	return syntaxErr(off, ErrSyntax, "empty header name")
}

// checkField applies the rule every writer of this package shares, so that
// none writes a field a reader would refuse or read differently: the name
// a token; the value free of control characters but HTAB, and not starting
// or ending with white space (readers trim it away).
func checkField[T string | []byte](i int, name, value T) *SyntaxError {
	if !isToken(name) {
		return argErr(ErrBadHeader, "field "+strconv.Itoa(i)+": name "+quote(string(name))+" is not a token")
	}
	if j := badValueByte(value); j >= 0 {
		return argErr(ErrBadHeader, "field "+strconv.Itoa(i)+" ("+string(name)+"): control character "+quote(string(value[j:j+1]))+" in value")
	}
	if n := len(value); n > 0 && (isWS(value[0]) || isWS(value[n-1])) {
		return argErr(ErrBadHeader, "field "+strconv.Itoa(i)+" ("+string(name)+"): value begins or ends with white space, which readers drop")
	}
	return nil
}

// checkHeadLimits is the limit check every writer shares: n fields and
// size bytes (the empty line included) for a header block or head, so that
// no writer writes what a reader with the same limits refuses.
func checkHeadLimits(n, maxFields, size, maxBytes int, what string) error {
	if n > maxFields {
		return argErr(ErrTooManyFields, what+" with "+strconv.Itoa(n)+" fields, over "+strconv.Itoa(maxFields))
	}
	if size > maxBytes {
		return argErr(ErrHeaderTooLarge, what+" of "+strconv.Itoa(size)+" bytes, over "+strconv.Itoa(maxBytes))
	}
	return nil
}

// appendField appends one field line, "name: value" and CRLF, as every
// writer of the package writes it: the caller has checked the field with
// checkField.
func appendField[T string | []byte](b []byte, name, value T) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// appendFields appends the field lines of h, which may be nil.
func appendFields(b []byte, h *Header) []byte {
	if h == nil {
		return b
	}
	for _, f := range h.fields {
		b = appendField(b, h.bytes(f.name), h.bytes(f.value))
	}
	return b
}
