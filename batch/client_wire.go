package batch

// The client's wire: writing a batch request's calls as parts, and
// reading the response parts back into the calls, matched by Content-ID
// (see contentid.go) or by position.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mixedcodec/mixed"
)

// send makes one attempt at calls: it writes them in one batch request to
// the endpoint, with the outer headers outer, and records each call's
// answer (see Call.aResp). Fields of outer are left out of the calls' own
// headers where a call has the same values: the server applies them to
// every call anyway. It returns the failure of the batch request, which
// every call it sent and that got no answer has as its answer too.
func (s *sender) send(ctx context.Context, outer http.Header, calls []*Call) (err error) {
	for _, c := range calls {
		c.attempts.Add(1)
		c.aResp, c.aErr, c.answered, c.aBatch, c.unsent = nil, nil, false, false, false
	}
	sent, wires := s.prepareCalls(calls, outer)
	defer func() {
		// Whatever happened, every call has an answer.
		for _, c := range sent {
			if c.answered {
				continue
			}
			if cctx := c.req.Context(); err != nil && cctx.Err() != nil {
				// The call's own context ended, which may be why
				// the batch request was cancelled (see
				// cancelWhenAllDone): that is the call's error, as
				// when Do settles it on its own.
				c.aErr = callGone(c, cctx)
			} else if err != nil {
				c.aErr, c.aBatch = err, true
			} else {
				c.aErr = fmt.Errorf("%w %q", ErrNoResponse, c.id)
			}
			c.answered = true
		}
	}()
	if len(sent) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cancelWhenAllDone(ctx, cancel, sent)
	body, contentType, stop, err := s.requestBody(ctx, sent, wires, outer)
	if err != nil {
		if !strings.HasPrefix(err.Error(), "batch: ") {
			err = fmt.Errorf("batch: %w", err)
		}
		return err
	}
	if s.sized && s.format == FormatMultipart {
		// The calls left out of the body (see writeCalls) are
		// answered: the response is matched against those it carries,
		// by position too when a server gives no Content-IDs.
		sent = slices.DeleteFunc(slices.Clone(sent), func(c *Call) bool { return c.answered })
		if len(sent) == 0 {
			return nil
		}
	}
	// A server may answer before it has read every call: the writer
	// stops then. It has the wire requests of this attempt to itself.
	defer stop(errAnswered)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, body)
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	for k, vv := range outer {
		req.Header[k] = vv
	}
	req.Header.Set("Content-Type", contentType)
	if s.format == FormatODataJSON {
		req.Header.Set("OData-Version", "4.01")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		stop(err)
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			// The body's end at ctx's (see stopWriting) may have
			// ended the request first, with a pipe's error: the cause
			// is ctx's.
			err = fmt.Errorf("%w (%v)", cerr, err)
		}
		return &transportError{err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &StatusError{StatusCode: resp.StatusCode, Status: resp.Status, Body: string(msg), Header: resp.Header}
	}
	if s.format != FormatMultipart {
		err = s.readJSONResponses(resp, sent)
	} else {
		boundary, berr := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
		if berr != nil {
			return fmt.Errorf("batch: response is not a batch: %w", berr)
		}
		err = s.readResponses(resp.Body, boundary, sent)
	}
	if _, failed := err.(*transportError); !failed {
		drainEnd(resp.Body, cancel)
	}
	return err
}

// How much of a batch response drainEnd reads past its last part, and for
// how long at most.
const (
	drainBytes = 4 << 10
	drainWait  = 50 * time.Millisecond
)

// drainEnd reads what follows the last part of a batch response read to
// its end (an epilogue, the end of the chunked framing), so that net/http
// gives the connection back to the pool for the next request: it closes
// a connection whose response body is closed before its end, and the next
// batch request would pay for a new one. A server that sends more than
// drainBytes, or stalls for drainWait, loses the connection instead:
// cancel ends its request.
func drainEnd(body io.Reader, cancel context.CancelFunc) {
	t := time.AfterFunc(drainWait, cancel)
	io.CopyN(io.Discard, body, drainBytes)
	t.Stop()
}

// errAnswered stops writing a batch request its server has answered.
var errAnswered = errors.New("batch: the batch request was answered")

// cancelWhenAllDone calls cancel once the request context of every call
// has ended: no one waits for the batch request any more.
func cancelWhenAllDone(ctx context.Context, cancel context.CancelFunc, calls []*Call) {
	for _, c := range calls {
		if c.req.Context().Done() == nil {
			return
		}
	}
	var live atomic.Int64
	live.Store(int64(len(calls)))
	for _, c := range calls {
		stop := context.AfterFunc(c.req.Context(), func() {
			if live.Add(-1) == 0 {
				cancel()
			}
		})
		context.AfterFunc(ctx, func() { stop() })
	}
}

// prepareCalls returns the calls to send and the request each is written
// as: a call whose body or PrepareCall fails is answered with that error,
// and so is every call of its changeset.
func (s *sender) prepareCalls(calls []*Call, outer http.Header) ([]*Call, []*http.Request) {
	var failed map[*Changeset]*Call
	anyFailed := false
	wires := make([]*http.Request, len(calls))
	for i, c := range calls {
		w, err := s.wireRequest(c, outer)
		if err != nil {
			c.notSent(err)
			anyFailed = true
			if c.cs != nil {
				if failed == nil {
					failed = make(map[*Changeset]*Call)
				}
				failed[c.cs] = c
			}
			continue
		}
		wires[i] = w
	}
	if !anyFailed {
		return calls, wires
	}
	sent := make([]*Call, 0, len(calls))
	sentWires := make([]*http.Request, 0, len(calls))
	for i, c := range calls {
		if f := failed[c.cs]; c.cs != nil && f != nil {
			if !c.answered {
				if wires[i].Body != nil {
					wires[i].Body.Close()
				}
				c.notSent(changesetNotSent(c.cs, f.aErr))
			}
			continue
		}
		if !c.answered {
			sent = append(sent, c)
			sentWires = append(sentWires, wires[i])
		}
	}
	return sent, sentWires
}

// wireRequest returns the request written for call c: the caller's own
// when nothing changes, else a copy without the fields it shares with
// outer, with a fresh body, passed through PrepareCall.
func (s *sender) wireRequest(c *Call, outer http.Header) (*http.Request, error) {
	req := c.req
	shared := sharedWith(req.Header, outer)
	if shared == 0 && s.prepare == nil && c.getBody == nil {
		return req, nil
	}
	// Never modify the caller's request: write a shallow copy with its
	// own header (deep, for PrepareCall to change as it likes).
	r2 := *req
	if shared > 0 || s.prepare != nil {
		r2.Header = make(http.Header, len(req.Header)-shared)
		for k, vv := range req.Header {
			if ov, ok := outer[k]; !ok || !slices.Equal(ov, vv) {
				if s.prepare != nil {
					vv = slices.Clone(vv)
				}
				r2.Header[k] = vv
			}
		}
	}
	if c.getBody != nil {
		body, err := c.getBody()
		if err != nil {
			return nil, fmt.Errorf("batch: call %q: GetBody: %w", c.id, err)
		}
		r2.Body = body
	}
	if c.length >= 0 {
		r2.ContentLength = c.length
	}
	if s.prepare != nil {
		if err := s.prepare(&r2); err != nil {
			if r2.Body != nil {
				r2.Body.Close()
			}
			return nil, fmt.Errorf("batch: call %q: PrepareCall: %w", c.id, err)
		}
	}
	return &r2, nil
}

// writeCalls writes the batch request body: each call's wire request
// (wires[i] for calls[i]). The calls of a changeset, consecutive in calls,
// go in one nested multipart part.
//
// mem is the body when it is built in memory (a sized request, on the
// sender's goroutine), else nil. Then a call that cannot be written (its
// body fails to read, or is not as long as its ContentLength) is left out,
// with the rest of its changeset: what was written of its part is taken
// back, and it is answered with its error, not sent, while the request
// carries the others. A body that fails as the request is streaming fails
// the request: its part is on the wire, and no framing can take it back
// that every server would read as "no call" rather than as a shorter one.
func writeCalls(rw *reqWriter, calls []*Call, wires []*http.Request, g *bodyGuard, mem *bytes.Buffer) error {
	// The bodies of the calls not written, when the writing stops (the
	// server answered, or the request failed), are closed too, as
	// net/http closes a request's body whatever happens: WriteHTTPRequest
	// closes the others'.
	next := 0
	defer func() { g.closeFrom(next) }()
	for i := 0; i < len(calls); {
		j := i + 1
		if cs := calls[i].cs; cs != nil {
			for j < len(calls) && calls[j].cs == cs {
				j++
			}
		}
		mark := 0
		if mem != nil {
			mark = mem.Len() + rw.bw.Buffered() // where the unit starts
		}
		failed, err := writeUnit(rw, calls, wires, g, i, j, &next)
		if err != nil {
			if mem == nil || failed < 0 || g.isStopped() || errors.Is(err, mixed.ErrDelimiterInBody) {
				// Not the call's own failure: the request's (its
				// context ended), or one that leaves the writer
				// failed (a body holding the delimiter, which its
				// random boundary makes a matter of chance).
				return err
			}
			g.closeRange(next, j) // the rest of its changeset
			next = j
			skipUnit(calls[i:j], calls[failed], err)
			// Take back what was written of the unit. The writer has a
			// part open, which the next part's delimiter closes as it
			// would have closed the unit's; with nothing before the
			// unit, it starts afresh, with the same boundary, as the
			// body's first delimiter has no CRLF before it.
			if err := rw.bw.Flush(); err != nil { // into mem, which takes all
				return err
			}
			mem.Truncate(mark)
			if mark == 0 {
				boundary := rw.mw.Boundary()
				rw.mw.Reset(rw.bw)
				if err := rw.mw.SetBoundary(boundary); err != nil {
					return err
				}
			}
		}
		i = j
	}
	return rw.mw.Close()
}

// writeUnit writes the top-level unit calls[i:j] of writeCalls: a call, or
// the calls of one changeset in its part. It keeps *next at the index of
// the first call whose body it has not begun to read. On an error it
// returns the index of the call that failed to be written, or -1 when the
// failure is the unit's part's own.
func writeUnit(rw *reqWriter, calls []*Call, wires []*http.Request, g *bodyGuard, i, j int, next *int) (int, error) {
	w, h, msgw, nested := &rw.mw, &rw.h, rw.msgw, &rw.nested
	c := calls[i]
	if c.cs == nil {
		*next = i + 1
		wire := g.wire(wires, i)
		if err := writeCall(w, h, msgw, c, &wire); err != nil {
			return i, err
		}
		return 0, nil
	}
	// Each changeset gets a random boundary of its own, drawn before
	// its part's header names it.
	nested.Reset(nil)
	boundary := nested.Boundary()
	h.Reset()
	h.Add("Content-Type", nested.ContentType())
	h.Add("Content-ID", c.cs.id)
	pw, err := w.CreatePart(h)
	if err != nil {
		return -1, err
	}
	nested.Reset(pw)
	if err := nested.SetBoundary(boundary); err != nil {
		return -1, err
	}
	for k := i; k < j; k++ {
		*next = k + 1
		wire := g.wire(wires, k)
		if err := writeCall(nested, h, msgw, calls[k], &wire); err != nil {
			return k, err
		}
	}
	if err := nested.Close(); err != nil {
		return -1, err
	}
	return 0, nil
}

// skipUnit answers the calls of a unit left out of a sized request because
// failed could not be written (err): failed with err, the others of its
// changeset with the changeset's not being sent, as prepareCalls answers
// a call whose request cannot be made.
func skipUnit(unit []*Call, failed *Call, err error) {
	for _, c := range unit {
		if c == failed {
			c.notSent(err)
		} else {
			c.notSent(changesetNotSent(c.cs, err))
		}
	}
}

// notSent answers c, in this attempt, with err: the attempt did not send
// it, and is none of its attempts.
func (c *Call) notSent(err error) {
	c.aResp, c.aErr, c.answered, c.aBatch, c.unsent = nil, err, true, false, true
	c.attempts.Add(-1)
}

// changesetNotSent is the error of the other calls of changeset cs when
// one of them cannot be sent, with err: a changeset goes whole or not at
// all.
func changesetNotSent(cs *Changeset, err error) error {
	return fmt.Errorf("batch: changeset %q not sent: %w", cs.id, err)
}

// writeCall writes call c, as request wire, as an application/http part of
// w.
func writeCall(w *mixed.Writer, h *mixed.Header, msgw *mixed.MessageWriter, c *Call, wire *http.Request) error {
	h.Reset()
	h.Add("Content-Type", "application/http")
	// Azure Blob batch documents this field as required in each part,
	// and Google's and OData's own clients send it.
	h.Add("Content-Transfer-Encoding", "binary")
	h.Add("Content-ID", c.id)
	pw, err := w.CreatePart(h)
	if err != nil {
		closeBodies([]*http.Request{wire})
		return err
	}
	if err := msgw.WriteHTTPRequest(pw, wire); err != nil {
		return fmt.Errorf("batch: call %q: %w", c.id, err)
	}
	return nil
}

// closeBodies closes the bodies of the wire requests wires.
func closeBodies(wires []*http.Request) {
	for _, w := range wires {
		if w != nil && w.Body != nil {
			w.Body.Close()
		}
	}
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

// readResponses reads the batch response and answers each call it
// answers. Parts are matched to the top-level parts of the request (calls
// and changesets) by Content-ID or by position (see matcher). A
// changeset's answer is either a nested multipart of one part per call,
// matched the same way, or a single application/http response: the
// changeset failed, and each of its calls gets a ChangesetError. It
// returns what went wrong with the response as a whole: a failure to read
// it, or parts that do not match the calls.
func (s *sender) readResponses(body io.Reader, boundary string, calls []*Call) error {
	units, m := unitsOf(calls)
	limit := s.maxResponseBytes()
	// A response is bounded by what its calls may be answered with: a
	// server that sends parts for no call, blank lines after a body, or
	// a body that never ends is cut off, its calls left unanswered.
	st := s.bufs.reader(body, responseBudget(len(calls), limit), boundary)
	// Every answer is a copy (see respReader.response): nothing of st
	// is reachable once the response has been read.
	defer s.bufs.putReader(st)
	r, rr := st.r, &st.rr
	maxParts := maxResponseParts(len(units))
	var readErr error
	var last []*Call // the calls of the part read last
	for i := 0; ; i++ {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err == nil && i == maxParts {
			err = tooManyParts(maxParts)
		}
		if err != nil {
			// A response cut short: the calls it did not answer may
			// not have run, or may have. The part read last may
			// have been cut too: its calls that failed to read it
			// share the response's failure (and may be retried as
			// such), rather than keep a parse error of their own.
			readErr = &transportError{fmt.Errorf("reading the batch response: %w", err)}
			for _, c := range last {
				var ce *ChangesetError
				if c.aResp == nil && !errors.As(c.aErr, &ce) {
					c.aErr, c.answered = nil, false
				}
			}
			break
		}
		last = nil
		cid := p.Header.GetBytes("Content-ID")
		k := m.match(cid, i)
		if k < 0 {
			continue // a part for no call of ours for sure
		}
		last = units[k]
		readUnit(rr, p, cid, units[k], limit)
	}
	ok, merr := m.finish()
	if merr != nil {
		merr = revoke(units, ok, merr)
	}
	if readErr != nil {
		return readErr
	}
	return merr
}

// unitsOf groups calls into the top-level parts of their request (a call,
// or the calls of a changeset) and returns them with a matcher of their
// ids.
func unitsOf(calls []*Call) ([][]*Call, *matcher) {
	units := make([][]*Call, 0, len(calls))
	m := &matcher{byID: make(map[string]int, len(calls)), hint: make([]string, 0, len(calls))}
	for i := 0; i < len(calls); {
		j := i + 1
		if cs := calls[i].cs; cs != nil {
			for j < len(calls) && calls[j].cs == cs {
				j++
			}
			m.add(cs.id, len(units))
		}
		for _, c := range calls[i:j] {
			m.add(c.id, len(units))
		}
		units = append(units, calls[i:j])
		i = j
	}
	m.n, m.seen = len(units), make([]int8, len(units))
	return units, m
}

// readUnit answers the calls of unit u, a call or a changeset, from part p
// whose Content-ID is cid.
func readUnit(rr *respReader, p *mixed.Part, cid []byte, u []*Call, limit int64) {
	cs := u[0].cs
	if cs == nil {
		readCall(rr, p, u[0], limit)
		return
	}
	ct := p.Header.Get("Content-Type")
	if nb, err := mixed.ParseBoundary(ct); err == nil {
		readChangeset(rr, p, nb, u, limit)
		return
	} else if isMultipart(ct) {
		answerRest(u, fmt.Errorf("batch: changeset %q: response part: %w", cs.id, err))
		return
	}
	failed := ""
	if id := callID(cid); cid != nil && id != cs.id {
		failed = id // Content-ID, if any, names the call that failed
	}
	readFailure(rr, p, failed, u, limit)
}

// revoke takes back the answers of the units the matcher could not vouch
// for (ok false) and returns merr, the matcher's error, with the reason a
// revoked answer gives, if any.
func revoke(units [][]*Call, ok []bool, merr error) error {
	var why *http.Response // a revoked answer: the server's reason?
	for k, u := range units {
		if ok[k] {
			continue
		}
		for _, c := range u {
			if why == nil && c.aResp != nil {
				why = c.aResp
			}
			c.aResp, c.aErr, c.answered = nil, nil, false
		}
	}
	if why == nil {
		return merr
	}
	// A server that refuses a batch as a whole may say so in a part that
	// answers no call in particular, as Azurite's 202 holding one 400
	// part without a Content-ID: its status and the start of its body
	// are the reason.
	return fmt.Errorf("%w; a part answers %s: %q", merr, why.Status, excerpt(why.Body, 256))
}

// maxResponseParts bounds the parts of a response to n calls or
// changesets: one each, and as many again that the matcher reports (parts
// for no call, duplicates) before the response is given up.
func maxResponseParts(n int) int { return 2*n + 16 }

// Per-call slack of responseBudget: a part's header and a response's head
// (64 KiB each by default), chunked framing and blank lines.
const (
	responsePartSlack = 256 << 10
	responseSlack     = 1 << 20
)

// responseBudget bounds the bytes of a batch response to n calls whose
// bodies may have max bytes each; 0 means no bound (it would overflow).
func responseBudget(n int, max int64) int64 {
	per := max + responsePartSlack
	if per < max || per > (1<<62)/int64(n+1) {
		return 0
	}
	return int64(n)*per + responseSlack
}

// A budgetReader reads at most limit bytes of r (0: no bound), and fails
// after them with ErrResponseTooLarge.
type budgetReader struct {
	r           io.Reader
	read, limit int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.limit > 0 {
		if b.read >= b.limit {
			return 0, fmt.Errorf("%w: the batch response exceeds %d bytes", ErrResponseTooLarge, b.limit)
		}
		if int64(len(p)) > b.limit-b.read {
			p = p[:b.limit-b.read]
		}
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	return n, err
}

// excerpt returns the first n bytes of an in-memory body, with "..." when
// there is more.
func excerpt(body io.Reader, n int) string {
	b, _ := io.ReadAll(io.LimitReader(body, int64(n)+1))
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// isMultipart reports whether a Content-Type is a multipart one.
func isMultipart(ct string) bool {
	return len(ct) >= 10 && strings.EqualFold(ct[:10], "multipart/")
}

// initialBodyBuffer bounds the buffer respReader.body allocates for a body before
// its bytes arrive.
const initialBodyBuffer = 256 << 10

// memBody is a response body in memory: a bytes.Reader that closes.
type memBody struct{ bytes.Reader }

func (*memBody) Close() error { return nil }

// readCall answers c with the response in part p: the final response,
// after any interim (1xx) ones, as net/http's client skips them. Anything
// but blank lines after it is c's error (mixed.ErrDataAfterBody), and
// only c's.
func readCall(rr *respReader, p io.Reader, c *Call, max int64) {
	resp, _, err := rr.response(p, c.req, max)
	if err != nil {
		c.answer(nil, fmt.Errorf("batch: call %q: %w", c.id, err))
		return
	}
	c.answer(resp, nil)
}

// readChangeset answers the calls of a committed changeset from its
// nested multipart part p, matched by Content-ID or else by position.
func readChangeset(rr *respReader, p *mixed.Part, boundary string, calls []*Call, max int64) {
	r := rr.nestedReader(p, boundary)
	maxParts := maxResponseParts(len(calls))
	m := newMatcher(len(calls))
	for k, c := range calls {
		m.add(c.id, k)
	}
	for i := 0; ; i++ {
		q, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err == nil && i == maxParts {
			err = tooManyParts(maxParts)
		}
		if err != nil {
			// The calls answered so far keep their responses, but
			// those answered twice (or by a part that names two
			// calls): which answer is theirs cannot be told.
			for k, seen := range m.seen {
				if seen < 0 {
					c := calls[k]
					c.aResp, c.aErr, c.answered = nil, nil, false
				}
			}
			answerRest(calls, fmt.Errorf("batch: changeset %q: reading its response: %w", calls[0].cs.id, err))
			return
		}
		if k := m.match(q.Header.GetBytes("Content-ID"), i); k >= 0 {
			readCall(rr, q, calls[k], max)
		}
	}
	ok, err := m.finish()
	if err != nil {
		for k, c := range calls {
			if !ok[k] {
				c.aResp, c.aErr, c.answered = nil, fmt.Errorf("batch: changeset %q: %w", c.cs.id, err), true
			}
		}
	}
}

// readFailure answers every call of a changeset, calls, with a
// ChangesetError holding the single response in part p; failed is the id
// of the call it answers, "" for the changeset as a whole.
func readFailure(rr *respReader, p io.Reader, failed string, calls []*Call, max int64) {
	cs := calls[0].cs
	var req *http.Request
	for _, c := range calls {
		if matchKey(c.id) == failed {
			req = c.req
		}
	}
	resp, b, err := rr.response(p, req, max)
	if err != nil {
		answerRest(calls, fmt.Errorf("batch: changeset %q: %w", cs.id, err))
		return
	}
	for _, c := range calls {
		c.answer(nil, &ChangesetError{ID: failed, StatusCode: resp.StatusCode, Response: ownResponse(resp, b), changeset: cs.id})
	}
}

// answerRest answers the calls not answered yet with err.
func answerRest(calls []*Call, err error) {
	for _, c := range calls {
		if !c.answered {
			c.answer(nil, err)
		}
	}
}

// settleAll settles the calls not settled yet with err.
func settleAll(calls []*Call, err error) {
	for _, c := range calls {
		c.settle(nil, err)
	}
}

// answer records the answer of c's current attempt; the first one stands.
func (c *Call) answer(resp *http.Response, err error) {
	if c.answered {
		return
	}
	c.aResp, c.aErr, c.answered = resp, err, true
}
