package batch

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mixedcodec/mixed"
)

// errClientGone is what a waiting call's Write returns once the batch
// response cannot reach its client any more.
var errClientGone = errors.New("batch: the batch response cannot be written: the client is gone")

// An output is the batch response on its way out: the parts in request
// order, the one at the head of the order streaming as its handler writes
// it, and the budget the calls behind it buffer within.
//
// mu guards the order (head), the budget and every response's state; wmu
// guards the wire: the writers, the open part and its owner. When both are
// taken, wmu comes first.
type output struct {
	mu       sync.Mutex
	cond     sync.Cond // signalled when head moves, the budget frees or the client goes
	head     int       // the unit whose part goes out next
	buffered int64     // response bytes the batch holds
	limit    int64
	peak     int64 // the most buffered at once, for the tests' bound
	gone     bool  // the client is gone: nothing more goes out
	// shared is the Handler's budget, which buffered counts against too;
	// enlisted (guarded by shared.mu) says that o is on its list of
	// outputs to wake, and wakeShared that a release under mu gave room
	// back that another batch waits for: unlock wakes it.
	shared     *sharedBudget
	enlisted   bool
	wakeShared bool

	wmu  sync.Mutex
	h    *Handler
	st   *batchState
	bw   *bufio.Writer
	w    mixed.Writer // the batch response
	cw   mixed.Writer // a changeset's nested response
	rc   *http.ResponseController
	msgw mixed.MessageWriter // writes each call's response message
	// partHeader and respHeader are the header of the part being written
	// and the fields of its response; fields and keys are room for the
	// fields (fieldsOf) and their names (a JSON batch's), and scratch for
	// a Content-ID being rewritten.
	partHeader mixed.Header
	respHeader mixed.Header
	fields     []headField
	keys       []string
	scratch    []byte
	part       interface{ Write([]byte) (int, error) } // the part being streamed
	owner      *response                               // whose part it is
	err        error                                   // sticky: writing to the client failed
	// noFlush: the ResponseWriter cannot flush (asking again allocates
	// an error each time).
	noFlush bool

	// A JSON batch's response: its format, the response objects written
	// so far, a buffer for their heads and the base64 stream of a body.
	format  Format
	entries int
	jbuf    []byte
	enc     b64Stream
	scan    jsonScanner // checks the JSON bodies that go out as JSON
}

// reserve takes n bytes from the batch's budget and from the Handler's,
// when both have room for them, and reports whether it did; o.mu is held.
// With enlist, an output that finds no room in the Handler's budget (and
// is to wait on o.cond) is woken by the next release of any batch.
func (o *output) reserve(n int64, enlist bool) bool {
	if o.buffered+n > o.limit {
		return false
	}
	if enlist && !o.shared.take(n, o) || !enlist && !o.shared.tryTake(n) {
		return false
	}
	o.buffered += n
	o.peak = max(o.peak, o.buffered)
	return true
}

// busy reports, after reserve refused n bytes, whether the batch had room
// for them and the Handler's budget did not, for what the other batches
// held: with what the batch holds itself, they fit the Handler's budget
// when it is empty. A response that cannot fit it even then would never
// fit, and a retry the Handler invites with 503 would fail the same.
// o.mu is held.
func (o *output) busy(n int64) bool {
	return o.buffered+n <= min(o.limit, o.shared.limit)
}

// force counts n more buffered bytes, room or not; o.mu is held.
func (o *output) force(n int64) {
	o.buffered += n
	o.peak = max(o.peak, o.buffered)
	o.shared.force(n)
}

// release returns n buffered bytes to the budgets; o.mu is held. It wakes
// the calls of this batch that wait now, and leaves those of other
// batches to unlock (see sharedBudget).
func (o *output) release(n int64) {
	if n > 0 {
		o.buffered -= n
		o.cond.Broadcast()
		if o.shared.give(n) {
			o.wakeShared = true
		}
	}
}

// unlock lets o.mu go, then wakes the calls of other batches that wait
// for the room a release gave back meanwhile. Every section of o.mu that
// may release ends with it.
func (o *output) unlock() {
	wake := o.wakeShared
	o.wakeShared = false
	o.mu.Unlock()
	if wake {
		o.shared.wake()
	}
}

// settleBudget ends the batch's use of the Handler's budget: what it still
// counts as buffered goes back. Every response gives its bytes back as its
// part is written, so nothing should be left; were anything left by a
// mistake in the counting, the Handler would hold it for ever, for every
// batch after, and it returns it rather than shrink. It returns what was
// left, for the tests.
func (o *output) settleBudget() int64 {
	o.mu.Lock()
	left := o.buffered
	o.buffered = 0
	o.mu.Unlock()
	if o.shared != nil {
		o.shared.giveWake(left)
	}
	return left
}

// fail records a failed write to the client and wakes everyone who waits;
// o.wmu is held.
func (o *output) fail(err error) {
	if o.err == nil {
		o.err = err
		o.mu.Lock()
		o.gone = true
		o.cond.Broadcast()
		o.mu.Unlock()
	}
}

// goneAway marks the client gone, for its request's context is done, and
// wakes the calls that wait for their turn or for room.
func (o *output) goneAway() {
	o.mu.Lock()
	o.gone = true
	o.cond.Broadcast()
	o.mu.Unlock()
}

// beginStream makes the part of rw, the response at the head of the
// order, the one on the wire, unless a write of its began it already.
// rw.streaming is set with both locks held, and wmu is held on until the
// part has begun: whoever sees it set (writeUnit, serveTimed, replace) sees
// a part that began, or that the holder of wmu is beginning. A goroutine
// its handler left behind that decided to stream just as its call ended
// finds the call over and begins nothing: its batch writes the call's part
// whole, in its place, and the batch state, which may serve the next batch
// by then, is not looked at.
func (o *output) beginStream(rw *response) error {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	o.mu.Lock()
	over, began, err := rw.over.Load(), rw.streaming, rw.endErr
	if !over {
		rw.streaming = true
	}
	o.mu.Unlock()
	switch {
	case over:
		return err
	case began:
		return nil // stream tells whether it is still the call's part
	}
	return o.startStream(rw)
}

// startStream opens the part of rw, the response at the head of the order,
// and writes its head and what it had buffered; its later writes follow
// through stream. o.wmu is held.
func (o *output) startStream(rw *response) error {
	if o.err != nil {
		return o.err
	}
	if o.format != FormatMultipart {
		return o.startJSONStream(rw)
	}
	o.partHeader.Reset()
	o.partHeader.Add("Content-Type", "application/http")
	o.addResponseID(o.st.calls[rw.unit].cid)
	pw, err := o.w.CreatePart(&o.partHeader)
	if err != nil {
		o.fail(err)
		return err
	}
	o.part, o.owner = pw, rw
	// The handler's Content-Length frames the streamed body when it is
	// valid; without one, the body runs to the end of the part.
	rw.length = contentLength(rw.h)
	o.fieldsOf(rw, rw.length >= 0)
	if err := o.msgw.WriteResponseHead(pw, rw.status, "", &o.respHeader); err != nil {
		// A field the wire cannot carry: the call answers an error of
		// our own instead, as writePart does.
		err = o.writeUnwritable(pw, err)
		o.owner = nil
		if err != nil {
			o.fail(err)
			return err
		}
		return errCallEnded
	}
	return o.sendBuffered(pw, rw)
}

// contentLength is the length a handler's Content-Length field gives
// (which then frames its streamed body), or -1 for none that is valid.
func contentLength(h http.Header) int64 {
	if v := h.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			return n
		}
	}
	return -1
}

// sendBuffered writes to w what rw buffered before it streamed, up to its
// length, and gives the room back to the budget unless rw keeps its body;
// the room of its head goes back in any case, now written (its fields,
// which the part that streams keeps until it ends, are the one head of
// the batch that does not count: see holdHead). o.wmu is held. The body
// is looked at under o.mu: serveTimed may take it away meanwhile, and a
// kept body grows by the writes that follow (neither touches the bytes
// written here).
func (o *output) sendBuffered(w io.Writer, rw *response) error {
	o.mu.Lock()
	buffered := rw.body.Bytes()
	o.release(rw.headMem)
	rw.headMem = 0
	o.unlock()
	if rw.length >= 0 && int64(len(buffered)) > rw.length {
		buffered = buffered[:rw.length]
	}
	if _, err := w.Write(buffered); err != nil {
		o.fail(err)
		return err
	}
	rw.sent.Store(int64(len(buffered)))
	if !rw.keep {
		o.mu.Lock()
		o.release(int64(rw.body.Len()))
		rw.body.Reset()
		o.unlock()
	}
	return nil
}

// stream writes p into the streaming part of rw.
func (o *output) stream(rw *response, p []byte) (int, error) {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	switch {
	case o.owner != rw:
		return 0, errCallEnded // its call ended or failed meanwhile
	case o.err != nil:
		return 0, o.err
	}
	var over error
	if sent := rw.sent.Load(); rw.length >= 0 && sent+int64(len(p)) > rw.length {
		p, over = p[:rw.length-sent], http.ErrContentLength
	}
	n, err := o.part.Write(p)
	rw.sent.Add(int64(n))
	if err != nil {
		o.fail(err)
		return n, err
	}
	return n, over
}

// flush sends what is written, for a handler's Flush.
func (o *output) flush(rw *response) {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	if o.owner == rw && o.err == nil {
		o.flushWire()
	}
}

// flushWire sends what is buffered to the client; o.wmu is held.
func (o *output) flushWire() {
	if err := o.bw.Flush(); err != nil {
		o.fail(err)
		return
	}
	if !o.noFlush && o.rc.Flush() != nil {
		o.noFlush = true // http.ErrNotSupported: the parts go out at the end
	}
}

// open starts the batch response, before any call runs: the call at the
// head of the order may stream into it at once.
func (h *Handler) open(st *batchState, w http.ResponseWriter) {
	o := &st.out
	// Under both locks: a goroutine a handler of an earlier batch left
	// behind may still wake in Write, or come to the wire, and look at
	// the output before it finds its call over.
	o.wmu.Lock()
	o.mu.Lock()
	if o.cond.L == nil {
		o.cond.L = &o.mu
	}
	o.h, o.st, o.format, o.shared = h, st, st.format, &h.shared
	o.head, o.buffered, o.peak, o.limit, o.gone, o.err = 0, 0, 0, h.opts.MaxBufferedBytes, false, nil
	o.mu.Unlock()
	o.wmu.Unlock()
	if o.bw == nil {
		o.bw = bufio.NewWriterSize(w, 32<<10)
	} else {
		o.bw.Reset(w)
	}
	// A ResponseController, not a w.(http.Flusher) assertion, so that
	// middleware which wraps w and has Unwrap still streams the parts.
	o.rc = http.NewResponseController(w)
	o.noFlush = false
	if o.format != FormatMultipart {
		o.openJSON(w)
		return
	}
	o.w.Reset(o.bw)
	if h.opts.OData {
		// The prefix of Microsoft's OData library, which some OData
		// clients look for (32 random characters follow).
		o.w.SetBoundary("batchresponse_" + o.w.Boundary())
	}
	w.Header().Set("Content-Type", o.w.ContentType())
	w.WriteHeader(http.StatusOK)
}

// respond writes the response parts in request order: each as soon as its
// call is done, or while it runs for the call at the head of the order;
// it flushes whenever the next part is not ready yet.
func (h *Handler) respond(st *batchState) {
	o := &st.out
	n := len(st.calls)
	for next := 0; next < n; next += 1 + st.calls[next].members {
		if !st.prog.fin[next].Load() {
			// About to wait for a call: send what is written so far,
			// and only then, so that fast calls share a write.
			o.wmu.Lock()
			if o.err == nil {
				o.flushWire()
			}
			o.wmu.Unlock()
			st.prog.await(next)
		}
		h.writeUnit(st, next)
	}
	o.wmu.Lock()
	switch {
	case o.err != nil:
	case o.format != FormatMultipart:
		if _, err := o.bw.WriteString("]}"); err == nil {
			o.bw.Flush()
		}
	default:
		if err := o.w.Close(); err == nil {
			o.bw.Flush()
		}
	}
	o.wmu.Unlock()
	for {
		p := h.peakBuffered.Load()
		if o.peak <= p || h.peakBuffered.CompareAndSwap(p, o.peak) {
			break
		}
	}
}

// writeUnit writes the part of unit i, a call or a changeset, unless it
// streamed already, gives its responses back, and moves the head of the
// order on to the next unit, waking the calls that wait for their turn or
// for room.
func (h *Handler) writeUnit(st *batchState, i int) {
	o := &st.out
	c := &st.calls[i]
	o.wmu.Lock()
	switch {
	case c.rec.streaming:
		if o.format != FormatMultipart && o.err == nil {
			// The body's string and the response object end here.
			if err := o.enc.close(); err != nil {
				o.fail(err)
			}
		}
		o.owner, o.part = nil, nil
		if rw := c.rec; rw.failed || rw.length >= 0 && rw.sent.Load() < rw.length {
			h.logf("batch: call %d (%q) ended after its response had begun to stream, with status %d; its part stops after %d body bytes (Content-Length %d, -1 for none)",
				c.part, c.cid, rw.status, rw.sent.Load(), rw.length)
		}
	case o.err != nil:
	case o.format != FormatMultipart:
		if err := h.writeJSONUnit(st, i); err != nil {
			o.fail(err)
		}
	case c.kind == changesetHead:
		if err := h.writeChangeset(st, i); err != nil {
			o.fail(err)
		}
	default:
		if err := o.writePart(&o.w, c); err != nil {
			o.fail(err)
		}
	}
	o.wmu.Unlock()
	o.mu.Lock()
	for j := i; j <= i+c.members; j++ {
		st.calls[j].rec.retire(st)
	}
	o.head = i + 1 + c.members
	o.cond.Broadcast()
	o.unlock()
}

// writePart writes the response part of call c with w; o.wmu is held.
func (o *output) writePart(w *mixed.Writer, c *call) error {
	o.partHeader.Reset()
	o.partHeader.Add("Content-Type", "application/http")
	o.addResponseID(c.cid)
	pw, err := w.CreatePart(&o.partHeader)
	if err != nil {
		return err
	}
	rw := c.rec
	if rw.head {
		// The answer to HEAD: the fields the handler set, its
		// Content-Length among them, and no body. Like net/http, a
		// handler that wrote a body and set no length gets that of the
		// body it wrote.
		if rw.h.Get("Content-Length") == "" && rw.headBytes > 0 && bodyAllowed(rw.status) {
			rw.h.Set("Content-Length", strconv.FormatInt(rw.headBytes, 10))
		}
		o.fieldsOf(rw, true)
		err = o.msgw.WriteResponseHead(pw, rw.status, "", &o.respHeader)
	} else {
		o.fieldsOf(rw, false)
		err = o.msgw.WriteResponse(pw, rw.status, "", &o.respHeader, rw.body.Bytes())
	}
	if err != nil && !errors.Is(err, mixed.ErrDelimiterInBody) {
		return o.writeUnwritable(pw, err)
	}
	return err
}

// writeUnwritable answers, in place of a response the wire cannot carry,
// an error of our own saying so, rather than dropping the call: a 502 for
// a head over the limits a reader of the batch response would apply (the
// inner handler, often an upstream, answered more than a batch can
// carry), a 500 for a field no reader would accept.
func (o *output) writeUnwritable(pw interface{ Write([]byte) (int, error) }, cause error) error {
	var e mixed.Header
	e.Add("Content-Type", "text/plain; charset=utf-8")
	status := http.StatusInternalServerError
	if errors.Is(cause, mixed.ErrTooManyFields) || errors.Is(cause, mixed.ErrHeaderTooLarge) || errors.Is(cause, mixed.ErrStartLineTooLong) {
		status = http.StatusBadGateway
	}
	return o.msgw.WriteResponse(pw, status, "", &e, []byte(unwritableMessage(cause)))
}

// unwritableMessage is the body of the error response that stands for a
// response the wire cannot carry.
func unwritableMessage(cause error) string {
	return "batch: the call's response cannot be written: " + cause.Error() + "\n"
}

// fieldsOf puts the fields of rw into o.respHeader, sorted by name, values trimmed
// as net/http writes them; Content-Length is kept only when withLength,
// Transfer-Encoding never (the part is framed by the codec), nor Trailer
// (a part has no trailer section, and a handler's trailer fields are not
// sent: see response.Header). A Content-Type sniffed for rw goes in while
// the handler's fields have none (see response.sniffed).
func (o *output) fieldsOf(rw *response, withLength bool) {
	o.respHeader.Reset()
	if s, ok := probeHead(rw.h); ok {
		// In order: Content-Length sorts before Content-Type.
		if s.hasCL && withLength {
			o.addValues("Content-Length", s.cl)
		}
		switch {
		case s.hasCT:
			o.addValues("Content-Type", s.ct)
		case rw.sniffed != "": // rw.sniffedType(), without a lookup
			o.respHeader.Add("Content-Type", rw.bodyType())
		}
		return
	}
	o.fields = o.fields[:0]
	for k, vv := range rw.h {
		if k == "Transfer-Encoding" || k == "Trailer" || k == "Content-Length" && !withLength {
			continue
		}
		o.fields = append(o.fields, headField{k, vv})
	}
	sniffed := rw.sniffedType() != ""
	if sniffed {
		// Its values are bodyType's, and h has no Content-Type.
		o.fields = append(o.fields, headField{name: "Content-Type"})
	}
	slices.SortFunc(o.fields, func(a, b headField) int { return strings.Compare(a.name, b.name) })
	for _, f := range o.fields {
		if sniffed && f.name == "Content-Type" {
			o.respHeader.Add(f.name, rw.bodyType())
			continue
		}
		o.addValues(f.name, f.values)
	}
}

// addValues adds the field k with values vv to o.respHeader, trimmed.
func (o *output) addValues(k string, vv []string) {
	for _, v := range vv {
		o.respHeader.Add(k, trimOWS(v))
	}
}

// bodyType is the Content-Type sniffed for the body of rw as its head is
// written: net/http sniffs what it has buffered when the head goes out,
// not the first Write alone ("<", then "html>…", is text/html); here, the
// start of the body held, which holds the first Write and those after
// it, or else what the first Write sniffed (a HEAD response's).
func (rw *response) bodyType() string {
	if rw.body.Len() > 0 {
		return http.DetectContentType(rw.body.Bytes())
	}
	return rw.sniffed
}

// A headField is a field of a response's head, as fieldsOf sorts them.
type headField struct {
	name   string
	values []string
}

// addResponseID adds the Content-ID of the response to a call or changeset
// whose Content-ID is cid, if it has one: Google's "response-" form, or in
// OData mode cid itself, as OData requires of the responses in a changeset.
func (o *output) addResponseID(cid []byte) {
	switch {
	case len(cid) == 0:
	case o.h.opts.OData:
		o.partHeader.AddBytes([]byte("Content-ID"), cid)
	default:
		o.scratch = appendResponseID(o.scratch[:0], cid)
		o.partHeader.AddBytes([]byte("Content-ID"), o.scratch)
	}
}
