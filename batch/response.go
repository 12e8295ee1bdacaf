package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/mixedcodec/mixed"
	"github.com/mixedcodec/mixed/internal/bodyform"
)

// streamAfter is how much of its body the call at the head of the request
// order buffers before its part starts to stream: smaller responses go
// out whole, with a Content-Length, as they always have.
const streamAfter = 64 << 10

// errCallEnded is what a call's ResponseWriter returns once its call is
// over: its handler returned, or was abandoned.
var errCallEnded = errors.New("batch: write after the call ended")

// errOverBudget is what a changeset call's Write returns when the batch, or
// the Handler, has no room left for its response: a changeset's responses
// are held until it commits, so they cannot stream (nor can a JSON body in
// a JSON batch), and waiting for room could wait for ever on a client that
// does not read. Its part says so with 500 when the batch's own budget was
// short (or the Handler's would be with no other batch: see busy), and
// with 503 and errHandlerBusy when only the Handler's was: the other
// batches held it, and the call may succeed later.
var errOverBudget = errors.New("batch: response over the batch's MaxBufferedBytes or the Handler's MaxTotalBufferedBytes, and it must be held whole (a changeset's, or a JSON body in a JSON batch)")

// errHandlerBusy is the message of the 503 that answers a call whose
// response must be held whole when the other batches hold the Handler's
// MaxTotalBufferedBytes.
var errHandlerBusy = errors.New("batch: the Handler holds as many buffered responses as its MaxTotalBufferedBytes allows, and this one must be held whole (a changeset's, or a JSON body in a JSON batch): try again later")

// A response is the [http.ResponseWriter] of one call. Until its call
// reaches the head of the request order it buffers the response, within
// the batch's budget (see [HandlerOptions].MaxBufferedBytes); at the head,
// past streamAfter bytes or on Flush, its part streams to the client.
//
// Every field but h is guarded by the batch's out.mu, and the wire by
// out.wmu. A response serves one call and is never reused: its handler may
// keep it after it returned (a goroutine it left behind, a call timeout
// that abandoned it), and all it can do with it then is fail to write
// (and change a Header of its own that no one reads). Only the memory of
// its body, which a handler never sees, goes to another call (see
// retire).
type response struct {
	out  *output
	unit int  // the index of the top-level unit (call or changeset) it belongs to
	held bool // a changeset call: held whole until its changeset ends
	head bool // the answer to a HEAD request: the body is not sent
	keep bool // referenced by a later call: keep the body for its result
	// In a JSON batch, the Content-Type its response object carries and
	// the body's form follows (see contentType), once known: ct, and
	// whether there is one. (The bools share the words of those above,
	// and the last group below is one word: a response takes the
	// allocator's size class it did before ct.)
	hasCT   bool
	ctKnown bool
	// wroteHeader: the head is fixed. streaming: its part is on the wire
	// (set with o.wmu held too: see beginStream). (With the bools above,
	// one word: room for sniffed in the size class.)
	wroteHeader bool
	streaming   bool
	ct          string
	// sniffed is the Content-Type net/http would sniff from the first
	// Write of a handler that set none: it goes into the part's head
	// (see fieldsOf and measure) while h has no Content-Type, but never
	// into h, where net/http's handler would not find it either. A
	// multipart part's head sniffs again what is buffered when it is
	// written (see fieldsOf), as net/http sniffs what it buffered; a
	// JSON response object keeps this one (see contentType).
	sniffed string

	h         http.Header
	late      http.Header // what Header returns once the head is fixed (guarded by out.mu)
	status    int
	body      bytes.Buffer // what is buffered, or kept
	headBytes int64        // body bytes written to a HEAD response, discarded
	// headMem is what the budgets count of h (see holdHead).
	headMem int64

	// sent: body bytes streamed. Written with o.wmu held (not o.mu), by
	// writes that may go on after the call is over (a goroutine its
	// handler left behind): atomic, so that observe reads it under
	// o.mu alone.
	sent      atomic.Int64
	length    int64 // the Content-Length streamed, or -1
	endErr    error // what writes fail with once ended
	dropped   bool  // a kept body grew past the budget and was dropped
	abandoned bool  // its handler was left running: nothing of it counts
	failed    bool  // the handler panicked or timed out after streaming began
	overflow  bool  // a changeset call's response did not fit in the budget
	busy      bool  // it did fit in its batch's: the Handler's was full
	bigHead   bool  // its head was over the limits as its handler returned (see returned)
	// over: the call is over, and writes fail. Set under o.mu, but
	// atomic so that Header, asked for by a goroutine left behind once
	// the call is over, answers without the lock. (With the bools above
	// it is one word, as they were with the bool it replaces.)
	over atomic.Bool
}

// maxReusedBody is the largest body buffer a batch keeps for the
// responses of its later calls and batches, and maxReusedBodies the most
// memory it keeps in all for them.
const (
	maxReusedBody   = 64 << 10
	maxReusedBodies = 1 << 20
)

// init makes rw, zero, the response of a call of the batch st, its body
// in memory the batch kept from an earlier response, if any.
func (rw *response) init(st *batchState) {
	rw.out, rw.h = &st.out, make(http.Header)
	if n := len(st.bodies); n > 0 {
		b := st.bodies[n-1]
		st.bodies[n-1] = nil
		st.bodies = st.bodies[:n-1]
		st.bodyBytes -= cap(b)
		rw.body = *bytes.NewBuffer(b)
	}
}

// retire ends the batch's use of rw once its part is written: the memory
// of its body goes back to st for the response of another call, and rw
// keeps nothing of it, nor of its header fields, which the batch would
// otherwise keep until it ends (the response is in an allocation with
// others: see run) past the room it gives back. o.mu is held; the call is
// over, and Header reads h no more.
func (rw *response) retire(st *batchState) {
	st.out.release(int64(rw.body.Len()) + rw.headMem)
	rw.headMem, rw.h = 0, nil
	rw.body.Reset()
	if b := rw.body.Bytes(); cap(b) > 0 && cap(b) <= maxReusedBody && st.bodyBytes+cap(b) <= maxReusedBodies && !rw.abandoned {
		st.bodies = append(st.bodies, b)
		st.bodyBytes += cap(b)
	}
	rw.body = bytes.Buffer{}
}

// Header returns the response header, to be changed before WriteHeader or
// the first Write, as net/http documents. Once the head is fixed it returns
// a copy of it, made once, which nothing reads: net/http sends no field
// set after then as a header field, and a part, which has no trailer
// section, must not carry as one what a handler sets then for a trailer
// (httputil.ReverseProxy sets its upstream's trailer fields there). Once
// the call is over it returns a new Header each time, which nothing reads:
// a handler that kept its ResponseWriter changes nothing that is written,
// and races with nothing.
//
// It looks under the batch's lock: the batch writes what it reads (h,
// dropped or replaced by an error response's; wroteHeader, fixed by the
// call's end) once the handler returned or was abandoned, while a
// goroutine the handler left behind, which waits for nothing of the
// batch's (a handler that returns at its deadline without waiting for
// the goroutine it gave the ResponseWriter to), may be asking for it.
func (rw *response) Header() http.Header {
	if rw.over.Load() {
		return make(http.Header)
	}
	o := rw.out
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case rw.over.Load() || rw.h == nil:
		return make(http.Header)
	case !rw.wroteHeader:
		return rw.h
	}
	if rw.late == nil {
		rw.late = rw.h.Clone()
	}
	return rw.late
}

// WriteHeader records the status code. Informational (1xx) codes are
// ignored, since the batch response carries only final responses; a second
// final code is ignored, as net/http does (it logs a "superfluous" call).
func (rw *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic("batch: invalid WriteHeader code " + strconv.Itoa(code))
	}
	o := rw.out
	o.mu.Lock()
	defer o.mu.Unlock()
	if rw.writeHeader(code) {
		// Its head is fixed: it counts now, and waits for room behind
		// the head of the order as a Write does (a Write that follows
		// fails if the wait failed).
		o.holdHead(rw)
	}
}

// writeHeader fixes the head with status code, unless it is fixed already
// (or code is informational), and reports whether it did.
func (rw *response) writeHeader(code int) bool {
	if rw.over.Load() || rw.wroteHeader || code < 200 {
		return false
	}
	rw.status = code
	rw.wroteHeader = true
	return true
}

// Write buffers or streams p, sending a 200 first if WriteHeader was not
// called. Statuses that have no body (204, 304) refuse it with
// [http.ErrBodyNotAllowed], as net/http does; the answer to HEAD discards
// it. A call behind the head of the order waits while the batch holds
// MaxBufferedBytes of responses, until the head moves on to it. An empty
// p is written at once, as net/http writes it: it needs no room.
func (rw *response) Write(p []byte) (int, error) {
	o := rw.out
	o.mu.Lock()
	if rw.over.Load() {
		o.mu.Unlock()
		return 0, rw.endErr
	}
	rw.writeHeader(http.StatusOK)
	if len(p) == 0 {
		// Nothing to hold or send: it asks for no room, which a budget
		// past its limit by an error body of ours has none of (a
		// changeset call's fmt.Fprint(w, "") failed its changeset), and
		// net/http answers it so, whatever the status.
		o.mu.Unlock()
		return 0, nil
	}
	if !bodyAllowed(rw.status) {
		o.mu.Unlock()
		return 0, http.ErrBodyNotAllowed
	}
	var head int64
	first := rw.body.Len() == 0 && rw.sent.Load() == 0 && rw.headBytes == 0
	if first {
		// p is sniffed (see measureSniffing), and the head, fixed and
		// sniffed, counts with p: one room to wait for, all or
		// nothing, as for p alone before heads counted (a call holding
		// its head while it waits for room for its body would hold what
		// another's may wait for).
		head, _ = o.headGrowth(rw, p)
	}
	if rw.head {
		rw.headBytes += int64(len(p))
		if head > 0 {
			if err := o.holdHead(rw); err != nil {
				o.mu.Unlock()
				return 0, err
			}
		}
		o.mu.Unlock()
		return len(p), nil
	}
	if rw.streaming {
		rw.keepCopy(p)
		o.unlock()
		return o.stream(rw, p)
	}
	n := head + int64(len(p))
	if rw.held {
		if !o.reserve(n, false) {
			rw.overflow, rw.busy = true, o.busy(n)
			o.mu.Unlock()
			return 0, errOverBudget
		}
		rw.headMem += head
		rw.body.Write(p)
		o.mu.Unlock()
		return len(p), nil
	}
	// Behind the head, wait for room in the batch's budget and the
	// Handler's (reserve takes it). over first: a call that ended while
	// it waited looks at nothing of the output, which may serve the next
	// batch by now.
	reserved := false
	for !rw.over.Load() && !o.gone && o.head != rw.unit {
		if reserved = o.reserve(n, true); reserved {
			break
		}
		o.cond.Wait()
		if first {
			// Another write of rw (a goroutine of its handler's) may
			// have counted the head meanwhile: it counts once.
			head, _ = o.headGrowth(rw, nil)
			n = head + int64(len(p))
		}
	}
	switch {
	case reserved:
	case rw.over.Load():
		o.mu.Unlock()
		return 0, rw.endErr
	case o.gone:
		o.mu.Unlock()
		return 0, errClientGone
	case o.wholeBody(rw):
		// At the head, which never waits, a JSON body that does not
		// fit: it cannot go out as JSON.
		if !o.reserveAtHead(n, &head) {
			rw.overflow, rw.busy = true, o.busy(n-head)
			o.mu.Unlock()
			return 0, errOverBudget
		}
	case rw.body.Len()+len(p) > streamAfter || !o.reserveAtHead(n, &head):
		// At the head, with more than a small response, or one that
		// does not fit: the part goes out now, what was buffered first,
		// its head uncounted (on the wire).
		o.mu.Unlock()
		if err := o.beginStream(rw); err != nil {
			return 0, err
		}
		o.mu.Lock()
		if rw.over.Load() {
			// The call ended, or was abandoned, as its part began: p
			// goes out no more than it is kept, where nothing would
			// give back the room it took (retire, or serveTimed, gave
			// back the body's already).
			o.mu.Unlock()
			return 0, rw.endErr
		}
		rw.keepCopy(p)
		o.unlock()
		return o.stream(rw, p)
	}
	rw.headMem += head
	rw.body.Write(p)
	o.mu.Unlock()
	return len(p), nil
}

// keepCopy adds p to the kept body of a referenced call that streams,
// dropping the copy when it would take the batch past its budget or the
// Handler past its own: the head never waits. o.mu is held, and let go
// with unlock.
func (rw *response) keepCopy(p []byte) {
	if !rw.keep || rw.dropped {
		return
	}
	o := rw.out
	if !o.reserve(int64(len(p)), false) {
		rw.dropped = true
		o.release(int64(rw.body.Len()))
		rw.body = bytes.Buffer{}
		return
	}
	rw.body.Write(p)
}

// holdHead counts the head of rw against the budgets once it is fixed (by
// WriteHeader, the first Write, or its handler's return), as a Write
// counts its body: its header fields, at what measureHead bounds their
// memory by (the status is in the call's record). A head counted already
// takes what it grew by since (a handler may change the map Header gave
// it, after WriteHeader too, until it returns). It counts until its part
// goes out, written whole or beginning to stream (see sendBuffered), or
// the call is dropped. A changeset's call, held until its changeset ends,
// fails as its body would (errOverBudget: 500, or 503 when only the
// Handler's budget was short); a call behind the head of the order waits
// for room, its turn, its deadline or its client's going; and at the head
// of the order, where nothing waits, a head that finds no room goes
// uncounted: its part goes out next (a body that does not fit streams),
// and one a batch at most is in that state or streaming, within the 64
// KiB a part's head may take. A head over those limits does not count
// either: its call answers 502 as it ends, and the fields are the
// handler's own until then. o.mu is held.
func (o *output) holdHead(rw *response) error {
	if n, _ := o.headGrowth(rw, nil); n > 0 {
		return o.holdRoom(rw, n)
	}
	return nil
}

// holdRoom takes n bytes of room for the head of rw, as holdHead says.
// o.mu is held.
func (o *output) holdRoom(rw *response, n int64) error {
	if rw.held {
		if !o.reserve(n, false) {
			rw.overflow, rw.busy = true, o.busy(n)
			return errOverBudget
		}
		rw.headMem += n
		return nil
	}
	for !rw.over.Load() && !o.gone && o.head != rw.unit {
		if o.reserve(n, true) {
			rw.headMem += n
			return nil
		}
		o.cond.Wait()
		// What the head grew by since, once: another write of rw (a
		// goroutine of its handler's) may have counted it meanwhile.
		n, _ = o.headGrowth(rw, nil)
	}
	switch {
	case rw.over.Load():
		return rw.endErr
	case o.gone:
		return errClientGone
	case n > 0 && o.reserve(n, false):
		rw.headMem += n
	}
	return nil
}

// reserveAtHead takes room for n bytes, *head of them the head's, for
// the response at the head of the order, which never waits: when there is
// no room for both, the head goes uncounted (see holdHead), and *head is
// 0. o.mu is held.
func (o *output) reserveAtHead(n int64, head *int64) bool {
	if o.reserve(n, false) {
		return true
	}
	if *head > 0 && o.reserve(n-*head, false) {
		*head = 0
		return true
	}
	return false
}

// headGrowth is what the head of rw is to count in the budgets that it
// does not yet, and whether it is within the limits of a head: 0 once the
// call is over or its part streams (when the head is not measured), or
// for a head over the limits (see holdHead). With sniff, the bytes of
// the first Write of rw, it sniffs them (see measureSniffing). o.mu is
// held.
func (o *output) headGrowth(rw *response, sniff []byte) (n int64, within bool) {
	if rw.over.Load() || rw.streaming || rw.abandoned {
		if sniff != nil {
			if _, set := rw.h["Content-Type"]; !set {
				rw.sniffed = http.DetectContentType(sniff)
			}
		}
		return 0, true
	}
	m := rw.measureSniffing(sniff)
	if !m.withinLimits() {
		return 0, false
	}
	return max(m.mem-rw.headMem, 0), true
}

// returned ends what its handler does with rw: the head, fixed now if it
// was not before, counts (see holdHead), and end is told whether it is
// over the limits (one look at the fields for both: it runs just before
// end, the handler done with them); unless the call was abandoned: then
// the fields go, which nothing reads any more (a fresh response answers
// the call) and which the batch would keep until it ends.
func (rw *response) returned() {
	o := rw.out
	o.mu.Lock()
	n, within := o.headGrowth(rw, nil)
	rw.bigHead = !within
	if n > 0 {
		o.holdRoom(rw, n)
	}
	abandoned, streaming := rw.abandoned, rw.streaming
	if abandoned && !streaming {
		rw.h, rw.late = nil, nil // no part of it begins now: it is over
	}
	o.mu.Unlock()
	if abandoned && streaming {
		// Its part may be beginning, by a goroutine the handler left
		// behind, and startStream reads the fields under wmu alone.
		o.wmu.Lock()
		o.mu.Lock()
		rw.h, rw.late = nil, nil
		o.mu.Unlock()
		o.wmu.Unlock()
	}
}

// Flush starts the part of the call at the head of the order streaming,
// and sends what it has written; elsewhere it does nothing yet, as the
// part cannot go out before the parts ahead of it.
func (rw *response) Flush() {
	o := rw.out
	o.mu.Lock()
	if rw.over.Load() || rw.held || rw.head || o.head != rw.unit || o.wholeBody(rw) {
		o.mu.Unlock()
		return
	}
	rw.writeHeader(http.StatusOK)
	o.mu.Unlock()
	if o.beginStream(rw) != nil {
		return
	}
	o.flush(rw)
}

// wholeBody reports whether the body of rw must be written whole: a JSON
// body in a JSON batch, written as JSON, or an OData text body, written as
// a string (both fall back to base64 when the body does not fit, which is
// known only at its end). o.mu is held.
func (o *output) wholeBody(rw *response) bool {
	if o.format == FormatMultipart {
		return false
	}
	ct, _ := rw.contentType()
	return bodyFormOf(o.format, ct) != bodyBase64
}

// contentType returns the Content-Type the JSON response object of rw
// carries (see mediaTypeOf), and whether it has one. It is taken once, the
// first time it is asked for: at the first Write or Flush (when net/http
// fixes the header of a response: a handler that changes it later changes
// nothing), or else when the object is written. Each Write asks whether
// the body is to be held whole, and the object's head and its body must
// follow the same Content-Type, however the handler changed its Header
// in between. o.mu is held, or the call is over.
func (rw *response) contentType() (string, bool) {
	if !rw.ctKnown {
		rw.ct, rw.hasCT = mediaTypeOf(rw.h)
		if sniffed := rw.sniffedType(); sniffed != "" {
			// As if it were in h under that key, which sorts before
			// the other spellings of the name.
			if rw.ct == "" {
				rw.ct = sniffed
			} else {
				rw.ct = string(bodyform.Append(bodyform.Append(nil, sniffed), rw.ct))
			}
			rw.hasCT = true
		}
		rw.ctKnown = true
	}
	return rw.ct, rw.hasCT
}

// sniffedType returns the Content-Type sniffed for rw (see sniffed) while
// its handler's fields have none, or "": a handler that sets one after
// its first Write, or sets it to nil, has no sniffed type. o.mu is held,
// or the call is over.
func (rw *response) sniffedType() string {
	if _, set := rw.h["Content-Type"]; set {
		return ""
	}
	return rw.sniffed
}

// bodyAllowed reports whether a response with this status may have a body.
func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}

// end finishes a call whose handler returned: a response never written is
// a 200, and writes fail from now on.
func (rw *response) end() {
	o := rw.out
	o.mu.Lock()
	rw.writeHeader(http.StatusOK)
	rw.endErr = errCallEnded
	rw.over.Store(true)
	// The copy Header made once the head was fixed, which nothing reads:
	// Header makes no other now.
	rw.late = nil
	overflow, busy := rw.overflow, rw.busy
	var unwritable error
	if !rw.streaming && rw.bigHead {
		unwritable = rw.measure().overLimits()
	}
	o.mu.Unlock()
	switch {
	case overflow && busy:
		// The batch had room; the other batches held the Handler's:
		// the server is busy, not the response too large, and a client
		// may try the call again (batch.Client does, for a 503).
		rw.fail(http.StatusServiceUnavailable, errHandlerBusy.Error())
	case overflow:
		rw.fail(http.StatusInternalServerError, errOverBudget.Error())
	case unwritable != nil:
		// Answered now as writePart would answer it, so that the fields,
		// which the budgets do not count (see holdHead), are not held
		// until then; in a JSON batch too, whose headers objects have no
		// limit of their own: a head no multipart part could carry is
		// not held for one.
		rw.fail(http.StatusBadGateway, strings.TrimSuffix(unwritableMessage(unwritable), "\n"))
	}
}

// overLimits says why no part can carry a response with the fields m
// measures, when the fields alone, as writePart writes them, are over the
// limits of a head (mixed.MessageOptions' defaults, which its writer
// applies), or take more memory than a head may (maxHeadMem): nil when
// they are within them, which the write then checks with the status line
// too.
func (m headMeasure) overLimits() error {
	switch {
	case m.fields > mixed.DefaultMaxHeaderFields:
		return fmt.Errorf("%w: a response head with %d fields, over %d", mixed.ErrTooManyFields, m.fields, mixed.DefaultMaxHeaderFields)
	case m.wire > mixed.DefaultMaxHeaderBytes:
		return fmt.Errorf("%w: a response head of over %d bytes, over %d", mixed.ErrHeaderTooLarge, m.wire, mixed.DefaultMaxHeaderBytes)
	case m.mem > maxHeadMem:
		return fmt.Errorf("%w: a response head whose fields take up to %d bytes of memory, over %d (the fields no part carries, such as Trailer, count too)", mixed.ErrHeaderTooLarge, m.mem, maxHeadMem)
	}
	return nil
}

// withinLimits reports whether a part can carry the fields m measures:
// overLimits, without making its error.
func (m headMeasure) withinLimits() bool {
	return m.fields <= mixed.DefaultMaxHeaderFields && m.wire <= mixed.DefaultMaxHeaderBytes && m.mem <= maxHeadMem
}

// maxErrorMessage is the most bytes of a message that an error response
// of the Handler's own carries. Those bodies count against the budgets
// without waiting, as a slack their size must keep small, and a message
// may quote what the client sent (a Host field of up to a MiB, in each of
// a thousand calls).
const maxErrorMessage = 512

// clipMessage is msg, cut to maxErrorMessage bytes at a character
// boundary, "…" saying where.
func clipMessage(msg string) string {
	if len(msg) <= maxErrorMessage {
		return msg
	}
	n := maxErrorMessage
	for n > 0 && !utf8.RuneStart(msg[n]) {
		n--
	}
	return msg[:n] + "…"
}

// fail replaces whatever was recorded with an error response, unless the
// part has begun to stream (then the part ends short, and failed says so).
func (rw *response) fail(code int, msg string) {
	msg = clipMessage(msg)
	// The format under the lock: an abandoned call's handler may fail
	// (a panic after its deadline) while its output serves the next
	// batch, which open sets up under o.mu.
	o := rw.out
	o.mu.Lock()
	format, abandoned := o.format, rw.abandoned
	o.mu.Unlock()
	if abandoned {
		return // a fresh response took its place (see replace)
	}
	if format != FormatMultipart {
		rw.failJSON(code, msg) // a JSON batch's bodies are JSON
		return
	}
	rw.replace(code, "text/plain; charset=utf-8", []byte(msg+"\n"))
}

// failJSON replaces whatever was recorded with a JSON error response. Its
// code is the status text without spaces ("FailedDependency"), as in the
// handler's other error objects: OData requires a string there, and Graph
// sends one.
func (rw *response) failJSON(code int, msg string) {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": errorCode(code), "message": clipMessage(msg)}})
	rw.replace(code, "application/json", append(b, '\n'))
}

func (rw *response) replace(code int, contentType string, body []byte) {
	o := rw.out
	o.mu.Lock()
	defer o.unlock()
	if rw.abandoned {
		return // a fresh response took its place
	}
	if rw.streaming {
		rw.failed = true
		return
	}
	// A new map, not the handler's cleared: a map does not shrink, and
	// one that held more fields than a head may would keep their slots.
	rw.h = make(http.Header)
	rw.ctKnown, rw.sniffed = false, ""
	o.release(int64(rw.body.Len()) + rw.headMem)
	rw.body.Reset()
	rw.h.Set("Content-Type", contentType)
	if code == http.StatusServiceUnavailable {
		// Only errHandlerBusy's: room frees as other clients read. Set
		// with the rest of the head, under the same lock, so that no
		// part goes out without it.
		rw.h.Set("Retry-After", "1")
	}
	if contentType != "application/json" {
		rw.h.Set("X-Content-Type-Options", "nosniff")
	}
	rw.status, rw.wroteHeader = code, true
	rw.headBytes = 0
	// Error responses are small (see maxErrorMessage); their heads and
	// bodies count, but never wait.
	rw.headMem = measureHead(rw.h).mem
	o.force(rw.headMem)
	if !rw.head {
		rw.body.Write(body)
		o.force(int64(len(body)))
	}
}
