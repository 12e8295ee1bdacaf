package batch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/mixedcodec/mixed"
)

// readCalls reads the whole batch body, so that no call starts before the
// batch is known to be within its limits, and keeps each part's raw bytes.
func (h *Handler) readCalls(st *batchState, body io.Reader, boundary string) (int, error) {
	st.rd.Reset(body, boundary)
	// Part bodies go into one arena; positions are kept first and turned
	// into slices at the end, since the arena moves as it grows.
	st.spans, st.ncalls = st.spans[:0], 0
	npart := -1
	for {
		p, err := st.rd.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if status, err := tooLarge(err); status != 0 {
				return status, err
			}
			return http.StatusBadRequest, err
		}
		npart++
		ct := p.Header.GetBytes("Content-Type")
		if h.opts.Changesets && isMediaType(ct, "multipart/mixed") {
			at := len(st.calls)
			if err := h.readChangeset(st, p, npart); err != nil {
				if status, err := tooLarge(err); status != 0 {
					return status, err
				}
				if st.ncalls > h.opts.MaxCalls {
					return http.StatusBadRequest, fmt.Errorf("more than %d calls in one batch", h.opts.MaxCalls)
				}
				// The changeset is answered as one 400; the rest of its
				// part is skipped by the next NextPart.
				st.calls, st.spans = st.calls[:at+1], st.spans[:at+1]
				st.calls[at].members = 0
				st.calls[at].err = fmt.Errorf("part %d: changeset: %w", npart, err)
			}
			continue
		}
		if st.ncalls == h.opts.MaxCalls {
			return http.StatusBadRequest, fmt.Errorf("more than %d calls in one batch", h.opts.MaxCalls)
		}
		st.ncalls++
		c := call{part: npart}
		if !isMediaType(ct, "application/http") {
			c.err = fmt.Errorf("part %d: Content-Type %q is not application/http", npart, ct)
		} else if cte := encodedAs(&p.Header); cte != nil {
			c.err = fmt.Errorf("part %d: Content-Transfer-Encoding %q: %s", npart, cte, errEncoded)
		}
		if err := h.readCall(st, p, &c, -1); err != nil {
			if status, err := tooLarge(err); status != 0 {
				return status, err
			}
			return http.StatusBadRequest, err
		}
		st.calls = append(st.calls, c)
	}
	for i, sp := range st.spans {
		st.calls[i].cid = st.arena[sp.idStart:sp.idEnd:sp.idEnd]
		st.calls[i].raw = st.arena[sp.rawStart:sp.rawEnd:sp.rawEnd]
	}
	return h.readEpilogue(st, body)
}

// tooLarge is the outer status and error for err, when err says the body
// went past MaxBodyBytes; status 0 otherwise.
func tooLarge(err error) (int, error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("batch body over %d bytes", mbe.Limit)
	}
	return 0, nil
}

// readEpilogue reads the body to its end, epilogue and all, before any
// call runs: net/http notices a client that goes away, and cancels the
// calls' contexts, only once the request body has been read to its end.
func (h *Handler) readEpilogue(st *batchState, body io.Reader) (int, error) {
	n, err := io.Copy(io.Discard, io.LimitReader(body, h.opts.MaxEpilogueBytes+1))
	n += int64(st.rd.Buffered())
	if err != nil {
		if status, err := tooLarge(err); status != 0 {
			return status, err
		}
		return http.StatusBadRequest, fmt.Errorf("reading after the close delimiter: %w", err)
	}
	if n > h.opts.MaxEpilogueBytes {
		return http.StatusBadRequest, fmt.Errorf("%w: more than %d bytes after the close delimiter", ErrEpilogueTooLarge, h.opts.MaxEpilogueBytes)
	}
	return 0, nil
}

// A span locates a call's Content-ID and raw request in the arena.
type span struct{ idStart, idEnd, rawStart, rawEnd int }

// readCall appends the Content-ID and body of part p to the arena, noting
// where they are. p is part c.part of the batch, or part member of the
// changeset that is part c.part (member ≥ 0).
func (h *Handler) readCall(st *batchState, p *mixed.Part, c *call, member int) error {
	npart := c.part
	var sp span
	sp.idStart = len(st.arena)
	st.arena = append(st.arena, p.Header.GetBytes("Content-ID")...)
	sp.idEnd = len(st.arena)
	sp.rawStart = len(st.arena)
	n, err := readAppend(&st.arena, p, h.opts.MaxPartBytes)
	if err != nil {
		return err
	}
	if n > h.opts.MaxPartBytes {
		st.arena = st.arena[:sp.rawStart]
		c.err = fmt.Errorf("part %d: over %d bytes", npart, h.opts.MaxPartBytes)
		if member >= 0 {
			c.err = fmt.Errorf("part %d, changeset part %d: over %d bytes", npart, member, h.opts.MaxPartBytes)
		}
	}
	sp.rawEnd = len(st.arena)
	st.spans = append(st.spans, sp)
	return nil
}

// readChangeset reads a changeset part: its head, then one member per
// nested part. A nested multipart part is a member that fails with 400,
// since changesets do not nest.
func (h *Handler) readChangeset(st *batchState, p *mixed.Part, npart int) error {
	at := len(st.calls)
	var sp span
	sp.idStart = len(st.arena)
	st.arena = append(st.arena, p.Header.GetBytes("Content-ID")...)
	sp.idEnd, sp.rawStart, sp.rawEnd = len(st.arena), len(st.arena), len(st.arena)
	st.calls = append(st.calls, call{kind: changesetHead, part: npart})
	st.spans = append(st.spans, sp)
	boundary, err := mixed.ParseBoundary(p.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	st.crd.Reset(p, boundary)
	for {
		q, err := st.crd.NextPart()
		if err == io.EOF {
			if st.calls[at].members > 0 {
				return nil
			}
			// An empty changeset is a part of its own, answered with a
			// 400: it counts toward the limit like a call.
			if st.ncalls == h.opts.MaxCalls {
				st.ncalls++
				return fmt.Errorf("more than %d calls in one batch", h.opts.MaxCalls)
			}
			st.ncalls++
			return errors.New("a changeset with no calls")
		}
		if err != nil {
			return err
		}
		if st.ncalls == h.opts.MaxCalls {
			st.ncalls++
			return fmt.Errorf("more than %d calls in one batch", h.opts.MaxCalls)
		}
		st.ncalls++
		c := call{kind: memberCall, head: at, part: npart}
		member := len(st.calls) - at - 1
		if ct := q.Header.GetBytes("Content-Type"); !isMediaType(ct, "application/http") {
			c.err = fmt.Errorf("part %d, changeset part %d: Content-Type %q is not application/http (changesets do not nest)", npart, member, ct)
		} else if cte := encodedAs(&q.Header); cte != nil {
			c.err = fmt.Errorf("part %d, changeset part %d: Content-Transfer-Encoding %q: %s", npart, member, cte, errEncoded)
		}
		if err := h.readCall(st, q, &c, member); err != nil {
			return err
		}
		st.calls = append(st.calls, c)
		st.calls[at].members++
	}
}

// readAppend appends the rest of r to *dst, up to limit+1 bytes, and
// reports how many it read (over limit when r held more); the rest of r is
// left for the caller to skip.
func readAppend(dst *[]byte, p *mixed.Part, limit int64) (int64, error) {
	var n int64
	for {
		c, err := p.ReadChunk()
		if len(c) > 0 && n <= limit {
			take := c
			if n+int64(len(take)) > limit+1 {
				take = take[:limit+1-n]
			}
			*dst = append(*dst, take...)
		}
		n += int64(len(c))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// errEncoded says why a call part with a Content-Transfer-Encoding that
// encodes is refused.
const errEncoded = "a call is read as it is sent (binary, 7bit or 8bit), never decoded"

// encodedAs returns the first value of a Content-Transfer-Encoding field
// of h, a call part's header, that is not binary, 7bit or 8bit, or nil.
// A call is read raw; a part encoded quoted-printable or base64 would be
// another request to a reader that decodes it (mime/multipart decodes
// quoted-printable: "GET /a=64min" is "GET /admin" to it), so it is
// refused rather than read two ways.
func encodedAs(h *mixed.Header) []byte {
	for i := range h.Len() {
		name, v := h.Field(i)
		// The length first: EqualFold has no such test, and walked
		// "Content-T" of each Content-Type and Content-ID first.
		if len(name) != len("Content-Transfer-Encoding") || !bytes.EqualFold(name, []byte("Content-Transfer-Encoding")) {
			continue
		}
		switch t := bytes.TrimSpace(v); {
		case bytes.EqualFold(t, []byte("binary")), bytes.EqualFold(t, []byte("7bit")), bytes.EqualFold(t, []byte("8bit")):
		default:
			return v
		}
	}
	return nil
}

// isMediaType reports whether the Content-Type ct has media type mt.
func isMediaType(ct []byte, mt string) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	// As senders write it, compared whole, before the byte-by-byte fold.
	return string(ct) == mt || bytes.EqualFold(ct, []byte(mt))
}
