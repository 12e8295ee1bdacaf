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
	// Union-find over the units, by index.
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
	size := func(u unit) int {
		if u.cs != nil {
			return len(u.cs.calls)
		}
		return 1
	}
	type group struct {
		units []int
		n     int
	}
	groups := map[int]*group{}
	var order []int
	for i, u := range b.units {
		if size(u) == 0 {
			continue
		}
		r := find(i)
		g := groups[r]
		if g == nil {
			g = &group{}
			groups[r] = g
			order = append(order, r)
		}
		g.units = append(g.units, i)
		g.n += size(u)
	}
	var out [][]int
	var cur []int
	n := 0
	for _, r := range order {
		g := groups[r]
		if g.n > max {
			first := b.units[g.units[0]]
			if len(g.units) == 1 && first.cs != nil {
				return nil, fmt.Errorf("batch: changeset %q has %d calls, which exceed the %d calls of one batch request", first.cs.id, g.n, max)
			}
			what := "call"
			name := ""
			if first.cs != nil {
				what, name = "changeset", first.cs.id
			} else {
				name = first.call.id
			}
			return nil, fmt.Errorf("batch: %d calls linked by result references (from %s %q) exceed the %d calls of one batch request", g.n, what, name, max)
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
