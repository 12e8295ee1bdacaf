package mixed

import (
	"net/http"
	"slices"
)

// HeaderFrom returns a new Header holding the fields of m, an [http.Header]
// or a [textproto.MIMEHeader] (both convert to map[string][]string without
// a conversion), so that a [Writer.CreatePart] caller holding either passes
// it in one call: w.CreatePart(mixed.HeaderFrom(h)). See [Header.AddMap]
// for the order of the fields. The strings are copied.
func HeaderFrom(m map[string][]string) *Header {
	h := new(Header)
	h.AddMap(m)
	return h
}

// AddMap appends the fields of m, an [http.Header] or a
// [textproto.MIMEHeader]: one field per value, names as they are in m, in
// the order of their names (sorted by byte value, as [http.Header.Write]
// writes them, since a map has no order) and of the values of each name.
// Like [Header.Add] it copies and does not validate: [Writer.CreatePart]
// does. Reusing a Header that was [Header.Reset] reuses its memory; the
// sort of the names allocates one slice.
func (h *Header) AddMap(m map[string][]string) {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for _, v := range m[name] {
			h.Add(name, v)
		}
	}
}

// HTTPHeader converts h to an [http.Header], as [Header.MIMEHeader] does:
// names canonicalized, values copied, the order of the values of the same
// name kept.
func (h *Header) HTTPHeader() http.Header {
	return http.Header(h.MIMEHeader())
}
