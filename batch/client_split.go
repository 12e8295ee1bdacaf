package batch

// Splitting a batch into requests within its Limits, keeping
// each changeset and each chain of result references whole.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/mixedcodec/mixed/internal/requri"
)

// requestRefs returns the result references ($result[id][key]...) in a
// request's target and JSON body. The body is read through GetBody, so the
// request is left as it was; a body without GetBody is not searched. The
// read ends with the request's context, as net/http's would, and stops
// past maxBytes when that is positive (Limits.MaxBodyBytes): such a body
// fails its call with ErrCallTooLarge in Do, and is not searched further.
func requestRefs(req *http.Request, maxBytes int64) ([]ref, error) {
	var refs []ref
	if u := req.URL; u.Opaque != "" || req.Context().Err() != nil ||
		strings.Contains(u.Path, "result") || strings.Contains(u.RawQuery, "result") {
		// Otherwise the target holds no "result", which every reference
		// spells as it is, and findRefs would find none: escaping the
		// path writes no lower-case letter (and a "result" in RawPath,
		// its escaped form, is one in Path), and the target is not made.
		var err error
		if refs, err = findRefs(req.Context(), requri.Of(u)); err != nil {
			return nil, err
		}
	}
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody && isJSON(req.Header.Get("Content-Type")) {
		rc, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("batch: reading the request body for references: %w", err)
		}
		var buf bytes.Buffer
		if req.ContentLength > 0 {
			// The caller's word, not bytes read: grown no further
			// than a response body's buffer is (see respReader.body).
			buf.Grow(int(min(req.ContentLength, initialBodyBuffer)) + 1)
		}
		limit := int64(-1)
		if maxBytes > 0 {
			limit = maxBytes
		}
		if _, err := readClosing(&buf, rc, limit, req.Context()); err != nil {
			return nil, fmt.Errorf("batch: reading the request body for references: %w", err)
		}
		if body := buf.Bytes(); hasRefMarker(body) {
			more, err := findRefs(req.Context(), string(body))
			if err != nil {
				return nil, err
			}
			refs = append(refs, more...)
		}
	}
	return refs, nil
}

// chunks splits the calls into batch requests within limits, so that
// every chain of result references stays in one request (a server can only
// resolve references within a request), and every changeset too: the
// top-level parts (calls and changesets) linked by references form groups,
// kept whole and in order. Empty changesets are left out. A group over
// limits.MaxBodyBytes fails its calls here with ErrCallTooLarge.
func (b *Batch) chunks(ctx context.Context, limits Limits) ([][]*Call, error) {
	max, maxBytes := limits.maxCalls(), limits.MaxBodyBytes
	if len(b.csIDs) == 0 && !b.linked && maxBytes <= 0 {
		// Calls alone: cut them in wire (Add) order.
		var chunks [][]*Call
		for calls := b.calls; len(calls) > 0; {
			n := min(max, len(calls))
			chunks = append(chunks, calls[:n:n])
			calls = calls[n:]
		}
		return chunks, nil
	}
	var out [][]int
	var cur []int
	n, size := 0, int64(closeBytes)
	for _, g := range b.groups() {
		if g.n > max {
			return nil, b.groupTooLarge(g, max)
		}
		var gsize int64
		if maxBytes > 0 {
			var err error
			if gsize, err = b.groupBytes(ctx, g, maxBytes); err == nil && gsize+closeBytes > maxBytes {
				err = b.bytesTooLarge(g, gsize+closeBytes, maxBytes)
			}
			if err != nil {
				b.settleGroup(g, err)
				continue
			}
		}
		if n+g.n > max || maxBytes > 0 && size+gsize > maxBytes {
			out = append(out, cur)
			cur, n, size = nil, 0, closeBytes
		}
		cur = append(cur, g.units...)
		n += g.n
		size += gsize
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

// groupBytes bounds from above the bytes group g takes in a request body.
// A body of unknown length is measured, read through GetBody, or read
// into memory once when it has none.
func (b *Batch) groupBytes(ctx context.Context, g *unitGroup, maxBytes int64) (int64, error) {
	var n int64
	for _, k := range g.units {
		u := b.units[k]
		calls := []*Call{u.call}
		if u.cs != nil {
			calls = u.cs.calls
			n += int64(changesetPartBytes + len(u.cs.id))
		}
		for _, c := range calls {
			if err := c.measure(ctx, maxBytes); err != nil {
				return 0, err
			}
			n += callBytes(c, c.length)
		}
	}
	return n, nil
}

// settleGroup fails every call of group g with err.
func (b *Batch) settleGroup(g *unitGroup, err error) {
	for _, k := range g.units {
		if u := b.units[k]; u.cs != nil {
			settleAll(u.cs.calls, err)
		} else {
			u.call.settle(nil, err)
		}
	}
}

// bodyOf returns how to get req's body for each attempt (nil: req.Body,
// which can be sent once) and its length (-1 when unknown).
func bodyOf(req *http.Request) (func() (io.ReadCloser, error), int64) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, 0
	}
	length := req.ContentLength
	if length <= 0 {
		// net/http reads a ContentLength of 0 with a body as unknown.
		length = -1
	}
	return req.GetBody, length
}

// measure finds the length of c's body when it is unknown, reading it
// through getBody, or into memory (which then replays it) without one. It
// reads on Do's goroutine: should ctx (Do's) or the call's own context
// end first, closing the body ends the read (see bodyGuard), and that
// context's error is the call's. It reads no more than maxBytes, the
// limit of a whole batch request, and a byte: a larger body is
// ErrCallTooLarge, which no request can carry, and one that never ends
// costs no more.
func (c *Call) measure(ctx context.Context, maxBytes int64) error {
	if c.length >= 0 {
		return nil
	}
	var rc io.ReadCloser = c.req.Body
	if c.getBody != nil {
		var err error
		if rc, err = c.getBody(); err != nil {
			return fmt.Errorf("batch: call %q: GetBody: %w", c.id, err)
		}
	}
	var body bytes.Buffer
	dst := io.Writer(&body)
	if c.getBody != nil {
		dst = io.Discard // it can be read again
	}
	n, err := readClosing(dst, rc, maxBytes, c.req.Context(), ctx)
	switch {
	case err != nil:
		return fmt.Errorf("batch: call %q: reading its body: %w", c.id, err)
	case n > maxBytes:
		return fmt.Errorf("%w: call %q has a body of more than %d bytes, the limit of one request", ErrCallTooLarge, c.id, maxBytes)
	case c.getBody != nil:
		c.length = n
		return nil
	}
	b := body.Bytes()
	c.length = n
	c.getBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return nil
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
