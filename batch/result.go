package batch

import (
	"encoding/json"
	"strconv"
)

// A resultPaths is the parts of a call's JSON response that the result
// references to it use: settle decodes only those. Decoded into Go values,
// JSON takes tens of times the memory of its text (an 8 MB array of
// numbers takes 450 MB), and a response referenced for one field of one
// element would be held whole, for the rest of the batch.
type resultPaths struct {
	whole bool                    // a reference uses the value here whole
	next  map[string]*resultPaths // by key or index, as the path gives it
}

// add notes that a reference uses path; t may be nil.
func (t *resultPaths) add(path []string) *resultPaths {
	if t == nil {
		t = &resultPaths{}
	}
	n := t
	for _, k := range path {
		if n.whole {
			return t
		}
		c := n.next[k]
		if c == nil {
			if n.next == nil {
				n.next = make(map[string]*resultPaths)
			}
			c = &resultPaths{}
			n.next[k] = c
		}
		n = c
	}
	n.whole, n.next = true, nil
	return t
}

// merge adds what u uses to t; t may be nil.
func (t *resultPaths) merge(u *resultPaths) *resultPaths {
	if t == nil {
		t = &resultPaths{}
	}
	if t.whole || u.whole {
		t.whole, t.next = true, nil
		return t
	}
	for k, c := range u.next {
		if t.next == nil {
			t.next = make(map[string]*resultPaths)
		}
		t.next[k] = t.next[k].merge(c)
	}
	return t
}

// elements maps the keys of t that lookup takes for an array index to
// what each index uses: "1" and "+1" name the same element.
func (t *resultPaths) elements() map[int]*resultPaths {
	var els map[int]*resultPaths
	for k, c := range t.next {
		if n, err := strconv.Atoi(k); err == nil && n >= 0 {
			if els == nil {
				els = make(map[int]*resultPaths)
			}
			els[n] = els[n].merge(c)
		}
	}
	return els
}

// A sparseArray is a JSON array of which only the elements some reference
// uses were decoded.
type sparseArray struct {
	n    int         // its length
	vals map[int]any // the elements decoded
}

// decodeResult decodes the next JSON value of dec, numbers as json.Number:
// whole where t says so (or t is nil), else only the members and elements
// on the paths of t, which lookup then finds as in the whole value; the
// others are checked and dropped.
func decodeResult(dec *json.Decoder, t *resultPaths) (any, error) {
	if t == nil || t.whole {
		var v any
		err := dec.Decode(&v)
		return v, err
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // a lookup past it fails as it would have
	}
	var skipped json.RawMessage
	if d == '{' {
		m := make(map[string]any)
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := kt.(string)
			if c := t.next[key]; c != nil {
				if m[key], err = decodeResult(dec, c); err != nil {
					return nil, err
				}
			} else if err := dec.Decode(&skipped); err != nil {
				return nil, err
			}
		}
		_, err := dec.Token()
		return m, err
	}
	a := sparseArray{vals: make(map[int]any)}
	els := t.elements()
	for ; dec.More(); a.n++ {
		if c := els[a.n]; c != nil {
			if a.vals[a.n], err = decodeResult(dec, c); err != nil {
				return nil, err
			}
		} else if err := dec.Decode(&skipped); err != nil {
			return nil, err
		}
	}
	_, err = dec.Token()
	return a, err
}
