package batch

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
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

// errResultsOverBudget is decodeResult's error for a result that would
// take the batch's decoded results past MaxBufferedBytes, or the Handler's
// buffered bytes past MaxTotalBufferedBytes.
var errResultsOverBudget = errors.New("batch: the results of references are over MaxBufferedBytes or MaxTotalBufferedBytes")

// A resultBudget takes the memory of one decoded result from what the
// batch has left for them and from the Handler's budget, and gives it back
// if the result is dropped.
type resultBudget struct {
	left   *atomic.Int64
	shared *sharedBudget
	used   int64 // taken from left
	held   int64 // taken from shared
}

// take reports whether n more bytes fit, and counts them either way in
// the batch's room; the Handler's gives them only if they fit.
func (b *resultBudget) take(n int64) bool {
	b.used += n
	if b.left.Add(-n) < 0 || !b.shared.tryTake(n) {
		return false
	}
	b.held += n
	return true
}

// refund gives back all that b took.
func (b *resultBudget) refund() {
	b.left.Add(b.used)
	b.used = 0
	b.shared.giveWake(b.held)
	b.held = 0
}

// Costs of decoded JSON in Go values (encoding/json into any, numbers as
// json.Number), beyond the bytes of its text, as measured on amd64 with
// Go 1.26: about 33 bytes an element of an array of numbers, 50 of an
// array of short strings, 19 of an array of empty arrays, 46 to 100 a
// member of a large object, 368 a small object (a map of one member).
// Rounded up, they overestimate what a decoded value holds (up to 7 times;
// TestResultCostBoundsMemory): JSON of 2 MiB decoded whole held 34 MiB.
const (
	elementCost = 64  // each comma and [: an element or an array
	memberCost  = 128 // each colon: an object's member
	objectCost  = 400 // each {: a map
)

// valueCost is an upper bound on the memory the next JSON value of src
// takes once decoded (src begins where json.Decoder.InputOffset points:
// at the value, or at the colon or comma before it). It looks at the
// value's text only, to its end, and never fails: a text that is not
// JSON gets a cost, and the decoder's error.
func valueCost(src []byte) int64 {
	i := 0
	for i < len(src) && strings.IndexByte(" \t\r\n:,", src[i]) >= 0 {
		i++
	}
	if i == len(src) {
		return 0
	}
	end := valueEnd(src, i)
	n := int64(end - i)
	for j := i; j < end; j++ {
		switch src[j] {
		case '"':
			j = stringEnd(src, j) - 1
		case ',', '[':
			n += elementCost
		case ':':
			n += memberCost
		case '{':
			n += objectCost
		}
	}
	return n
}

// decodeResult decodes the next JSON value of dec, numbers as json.Number:
// whole where t says so (or t is nil), else only the members and elements
// on the paths of t, which lookup then finds as in the whole value; the
// others are checked and dropped. What it decodes is taken from room
// first, and a value that does not fit is not decoded: its error is
// errResultsOverBudget. A response referenced whole, decoded, is tens of
// times its text, and without the bound a batch's calls could reference
// responses of a few MiB each and hold GiB until the batch ends.
//
// src is all of dec's input, which it reads from memory: the cost of a
// value is found in its text before it is decoded.
func decodeResult(dec *json.Decoder, src []byte, t *resultPaths, room *resultBudget) (any, error) {
	if t == nil || t.whole {
		if off := dec.InputOffset(); off >= 0 && off <= int64(len(src)) && !room.take(valueCost(src[off:])) {
			return nil, errResultsOverBudget
		}
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
		// A lookup past it fails as it would have.
		if s, ok := tok.(string); ok && !room.take(int64(len(s))+elementCost) {
			return nil, errResultsOverBudget
		}
		return tok, nil
	}
	if !room.take(objectCost) {
		return nil, errResultsOverBudget
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
				if !room.take(int64(len(key)) + memberCost) {
					return nil, errResultsOverBudget
				}
				if m[key], err = decodeResult(dec, src, c, room); err != nil {
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
			if !room.take(memberCost) {
				return nil, errResultsOverBudget
			}
			if a.vals[a.n], err = decodeResult(dec, src, c, room); err != nil {
				return nil, err
			}
		} else if err := dec.Decode(&skipped); err != nil {
			return nil, err
		}
	}
	_, err = dec.Token()
	return a, err
}
