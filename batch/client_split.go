package batch

// Splitting a batch into requests of at most MaxCalls calls, keeping
// each changeset and each chain of result references whole.

import (
	"fmt"
	"io"
	"net/http"
	"slices"
)

// requestRefs returns the result references ($result[id][key]...) in a
// request's target and JSON body. The body is read through GetBody, so the
// request is left as it was; a body without GetBody is not searched.
func requestRefs(req *http.Request) ([]ref, error) {
	refs, err := findRefs(req.Context(), req.URL.RequestURI())
	if err != nil {
		return nil, err
	}
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody && isJSON(req.Header.Get("Content-Type")) {
		rc, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("batch: reading the request body for references: %w", err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("batch: reading the request body for references: %w", err)
		}
		if hasRefMarker(body) {
			more, err := findRefs(req.Context(), string(body))
			if err != nil {
				return nil, err
			}
			refs = append(refs, more...)
		}
	}
	return refs, nil
}

// chunks splits the calls into batch requests of at most max calls, so
// that every chain of result references stays in one request (a server
// can only resolve references within a request), and every changeset too:
// the top-level parts (calls and changesets) linked by references form
// groups, kept whole and in order. Empty changesets are left out.
func (b *Batch) chunks(max int) ([][]*Call, error) {
	var out [][]int
	var cur []int
	n := 0
	for _, g := range b.groups() {
		if g.n > max {
			return nil, b.groupTooLarge(g, max)
		}
		if n+g.n > max {
			out = append(out, cur)
			cur, n = nil, 0
		}
		cur = append(cur, g.units...)
		n += g.n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	chunks := make([][]*Call, len(out))
	for i, ch := range out {
		// References point to earlier parts: keep the wire order.
		slices.Sort(ch)
		for _, k := range ch {
			if u := b.units[k]; u.cs != nil {
				chunks[i] = append(chunks[i], u.cs.calls...)
			} else {
				chunks[i] = append(chunks[i], u.call)
			}
		}
	}
	return chunks, nil
}

// A unitGroup is top-level units linked by result references, which one
// request must carry together, and their number of calls.
type unitGroup struct {
	units []int
	n     int
}

// groups returns the batch's units grouped by the references that link
// them (a union-find over the units), in the order of their first unit.
func (b *Batch) groups() []*unitGroup {
	parent := make([]int, len(b.units))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for _, c := range b.calls {
		for _, d := range c.deps {
			parent[find(c.unit)] = find(d.unit)
		}
	}
	byRoot := map[int]*unitGroup{}
	var out []*unitGroup
	for i, u := range b.units {
		size := 1
		if u.cs != nil {
			size = len(u.cs.calls)
		}
		if size == 0 {
			continue
		}
		r := find(i)
		g := byRoot[r]
		if g == nil {
			g = &unitGroup{}
			byRoot[r] = g
			out = append(out, g)
		}
		g.units = append(g.units, i)
		g.n += size
	}
	return out
}

// groupTooLarge is the error for group g, which one request of max calls
// cannot carry.
func (b *Batch) groupTooLarge(g *unitGroup, max int) error {
	first := b.units[g.units[0]]
	if len(g.units) == 1 && first.cs != nil {
		return fmt.Errorf("batch: changeset %q has %d calls, which exceed the %d calls of one batch request", first.cs.id, g.n, max)
	}
	what, name := "call", ""
	if first.cs != nil {
		what, name = "changeset", first.cs.id
	} else {
		name = first.call.id
	}
	return fmt.Errorf("batch: %d calls linked by result references (from %s %q) exceed the %d calls of one batch request", g.n, what, name, max)
}
