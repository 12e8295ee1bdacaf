package batch

// The client's wire: writing a batch request's calls as parts, and
// reading the response parts back into the calls, matched by Content-ID
// (see contentid.go) or by position.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/mixedcodec/mixed"
)

// send sends one batch request carrying calls to endpoint, with the outer
// headers outer, and settles each call. Fields of outer are left out of the
// calls' own headers where a call has the same values: the server applies
// them to every call anyway.
func send(ctx context.Context, hc *http.Client, endpoint string, outer http.Header, calls []*Call) (err error) {
	defer func() {
		// Whatever happened, no call is left pending.
		for _, c := range calls {
			if err != nil {
				c.settle(nil, err)
			} else {
				c.settle(nil, fmt.Errorf("%w %q", ErrNoResponse, c.id))
			}
		}
	}()
	pr, pw := io.Pipe()
	mw := mixed.NewWriter(pw)
	sendBoundary := mw.Boundary()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, pr)
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	for k, vv := range outer {
		req.Header[k] = vv
	}
	req.Header.Set("Content-Type", mw.ContentType())
	go func() {
		// Buffer the parts: each write to the pipe becomes a chunk of
		// the request body, and a system call, on the other side.
		bw := bufio.NewWriterSize(pw, 32<<10)
		mw.Reset(bw)
		mw.SetBoundary(sendBoundary)
		err := writeCalls(mw, calls, outer)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	resp, err := hc.Do(req)
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("batch: request failed: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &StatusError{StatusCode: resp.StatusCode, Status: resp.Status, Body: string(msg)}
	}
	boundary, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		return fmt.Errorf("batch: response is not a batch: %w", err)
	}
	return readResponses(resp.Body, boundary, calls)
}

// writeCalls writes the batch request body. Fields a call shares with
// outer (same name, same values) are not repeated in its part. The calls
// of a changeset, consecutive in calls, go in one nested multipart part.
func writeCalls(w *mixed.Writer, calls []*Call, outer http.Header) error {
	var h mixed.Header
	// Relative targets are OData's (Customers, $1/Orders); a server
	// without changesets answers them with a 400 part of their own.
	mw := mixed.NewMessageWriterOptions(mixed.MessageOptions{AllowRelativeTargets: true})
	var nested *mixed.Writer
	for i := 0; i < len(calls); {
		c := calls[i]
		if c.cs == nil {
			if err := writeCall(w, &h, mw, c, outer); err != nil {
				return err
			}
			i++
			continue
		}
		j := i + 1
		for j < len(calls) && calls[j].cs == c.cs {
			j++
		}
		if nested == nil {
			nested = new(mixed.Writer)
		}
		// Each changeset gets a random boundary of its own, drawn
		// before its part's header names it.
		nested.Reset(nil)
		boundary := nested.Boundary()
		h.Reset()
		h.Add("Content-Type", nested.ContentType())
		h.Add("Content-ID", c.cs.id)
		pw, err := w.CreatePart(&h)
		if err != nil {
			return err
		}
		nested.Reset(pw)
		if err := nested.SetBoundary(boundary); err != nil {
			return err
		}
		for _, m := range calls[i:j] {
			if err := writeCall(nested, &h, mw, m, outer); err != nil {
				return err
			}
		}
		if err := nested.Close(); err != nil {
			return err
		}
		i = j
	}
	return w.Close()
}

// writeCall writes call c as an application/http part of w.
func writeCall(w *mixed.Writer, h *mixed.Header, mw *mixed.MessageWriter, c *Call, outer http.Header) error {
	h.Reset()
	h.Add("Content-Type", "application/http")
	h.Add("Content-ID", c.id)
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	req := c.req
	if shared := sharedWith(req.Header, outer); shared > 0 {
		// Never modify the caller's request: write a shallow copy
		// with its own header.
		r2 := *req
		r2.Header = make(http.Header, len(req.Header)-shared)
		for k, vv := range req.Header {
			if ov, ok := outer[k]; !ok || !slices.Equal(ov, vv) {
				r2.Header[k] = vv
			}
		}
		req = &r2
	}
	if err := mw.WriteHTTPRequest(pw, req); err != nil {
		return fmt.Errorf("batch: call %q: %w", c.id, err)
	}
	return nil
}

// sharedWith counts the fields of h that outer has with the same values.
func sharedWith(h, outer http.Header) int {
	n := 0
	for k, ov := range outer {
		if vv, ok := h[k]; ok && slices.Equal(ov, vv) {
			n++
		}
	}
	return n
}

// readResponses reads the batch response and settles each call it answers.
// Parts are matched to the top-level parts of the request (calls and
// changesets) by Content-ID ("response-" + id, with or without angle
// brackets), or by position when a part has none. A changeset's answer is
// either a nested multipart of one part per call, matched the same way, or
// a single application/http response: the changeset failed, and each of
// its calls gets a ChangesetError.
func readResponses(body io.Reader, boundary string, calls []*Call) error {
	var units [][]*Call // the calls of each top-level part, in order
	byID := make(map[string]int, len(calls))
	for i := 0; i < len(calls); {
		j := i + 1
		if cs := calls[i].cs; cs != nil {
			for j < len(calls) && calls[j].cs == cs {
				j++
			}
			byID[cs.id] = len(units)
		}
		for _, c := range calls[i:j] {
			byID[c.id] = len(units)
		}
		units = append(units, calls[i:j])
		i = j
	}
	r := mixed.NewReader(body, boundary)
	var mr mixed.MessageReader
	for i := 0; ; i++ {
		p, err := r.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("batch: reading the batch response: %w", err)
		}
		k, id := -1, ""
		if cid := p.Header.GetBytes("Content-ID"); cid != nil {
			id = callID(cid)
			if n, ok := byID[id]; ok {
				k = n
			}
		} else if i < len(units) {
			k = i
		}
		if k < 0 {
			continue // a part for no call of ours: nothing to settle
		}
		u := units[k]
		cs := u[0].cs
		if cs == nil {
			readCall(&mr, p, u[0])
			continue
		}
		ct := p.Header.Get("Content-Type")
		if nb, err := mixed.ParseBoundary(ct); err == nil {
			readChangeset(&mr, p, nb, u)
			continue
		} else if isMultipart(ct) {
			settleAll(u, fmt.Errorf("batch: changeset %q: response part: %w", cs.id, err))
			continue
		}
		failed := ""
		if id != cs.id {
			failed = id // Content-ID, if any, names the call that failed
		}
		readFailure(&mr, p, cs, failed, u)
	}
}

// isMultipart reports whether a Content-Type is a multipart one.
func isMultipart(ct string) bool {
	return len(ct) >= 10 && strings.EqualFold(ct[:10], "multipart/")
}

// readCall settles c with the response in part p: the final response,
// after any interim (1xx) ones, as net/http's client skips them. Anything
// but blank lines after it is c's error (mixed.ErrDataAfterBody), and
// only c's.
func readCall(mr *mixed.MessageReader, p io.Reader, c *Call) {
	mr.Reset(p)
	m, err := mr.ReadFinalResponse(c.req.Method)
	if err != nil {
		c.settle(nil, fmt.Errorf("batch: call %q: response part: %w", c.id, err))
		return
	}
	resp := m.HTTPResponse(c.req)
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		b, err = decodeContent(resp, c.req, b)
	}
	if err != nil {
		c.settle(nil, fmt.Errorf("batch: call %q: response body: %w", c.id, err))
		return
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	c.settle(resp, nil)
}

// readChangeset settles the calls of a committed changeset from its nested
// multipart part p, matched by Content-ID or else by position.
func readChangeset(mr *mixed.MessageReader, p *mixed.Part, boundary string, calls []*Call) {
	r := mixed.NewReader(p, boundary)
	for i := 0; ; i++ {
		q, err := r.NextPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			// The calls answered so far keep their responses.
			settleAll(calls, fmt.Errorf("batch: changeset %q: reading its response: %w", calls[0].cs.id, err))
			return
		}
		var c *Call
		if cid := q.Header.GetBytes("Content-ID"); cid != nil {
			id := callID(cid)
			for _, m := range calls {
				if m.id == id {
					c = m
					break
				}
			}
		} else if i < len(calls) {
			c = calls[i]
		}
		if c != nil {
			readCall(mr, q, c)
		}
	}
}

// readFailure settles every call of changeset cs with a ChangesetError
// holding the single response in part p; failed is the id of the call it
// answers, "" for the changeset as a whole.
func readFailure(mr *mixed.MessageReader, p io.Reader, cs *Changeset, failed string, calls []*Call) {
	method := http.MethodPost
	var req *http.Request
	for _, c := range calls {
		if c.id == failed {
			method, req = c.req.Method, c.req
		}
	}
	mr.Reset(p)
	m, err := mr.ReadFinalResponse(method)
	if err != nil {
		settleAll(calls, fmt.Errorf("batch: changeset %q: response part: %w", cs.id, err))
		return
	}
	resp := m.HTTPResponse(req)
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		b, err = decodeContent(resp, req, b)
	}
	if err != nil {
		settleAll(calls, fmt.Errorf("batch: changeset %q: response body: %w", cs.id, err))
		return
	}
	resp.ContentLength = int64(len(b))
	for _, c := range calls {
		r2 := *resp
		r2.Body = io.NopCloser(bytes.NewReader(b))
		c.settle(nil, &ChangesetError{ID: failed, StatusCode: resp.StatusCode, Response: &r2, changeset: cs.id})
	}
}

// settleAll settles the calls not settled yet with err.
func settleAll(calls []*Call, err error) {
	for _, c := range calls {
		c.settle(nil, err)
	}
}
