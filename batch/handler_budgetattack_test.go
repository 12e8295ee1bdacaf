package batch

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
	"pgregory.net/rapid"
)

// Attacks on MaxTotalBufferedBytes (handler_budget.go), as a hostile client
// and a buggy inner handler would make them: every batch must give back
// all it took of the Handler's budget whatever its calls and its client
// do, no batch may wait for ever on room another holds, and no byte of
// one batch's responses may reach another's.

// attackSeq numbers the batches of the attacks, so that each one's bodies
// are its own across the whole run.
var attackSeq atomic.Int64

// attackBody is the body of call c of batch b: n bytes of "{b:c}"
// repeated, so that any byte run of it names its batch.
func attackBody(b, c, n int) []byte {
	tok := fmt.Sprintf("{%d:%d}", b, c)
	out := make([]byte, n)
	for i := range out {
		out[i] = tok[i%len(tok)]
	}
	return out
}

// foreignMarker returns the first batch marker in p that is not batch b's
// ("{7:" in a body of batch 3), or "" if there is none.
func foreignMarker(p []byte, b int) string {
	own := "{" + strconv.Itoa(b) + ":"
	for i := 0; i < len(p); i++ {
		if p[i] != '{' {
			continue
		}
		j := i + 1
		for j < len(p) && p[j] >= '0' && p[j] <= '9' {
			j++
		}
		if j > i+1 && j < len(p) && p[j] == ':' && string(p[i:j+1]) != own {
			return string(p[i:min(j+8, len(p))])
		}
	}
	return ""
}

// The kinds of call of the attacks, each a way an inner handler uses (or
// misuses) its ResponseWriter. A call's path is /KIND/BATCH/CALL/SIZE/CHUNK,
// and a ref's /ref/BATCH/CALL/0/1/VALUE; a query ?f=N has the handler set N
// header fields of 1 KiB first, which the budgets count too.
const (
	kWrite  = "w"      // SIZE bytes in CHUNK-byte writes, application/octet-stream
	kText   = "text"   // the same, text/plain (a string in OData JSON: held whole)
	kJSON   = "json"   // {"n":"{b:c}","pad":"..."}, application/json (held whole in JSON batches)
	kFlush  = "flush"  // Flush before, between and after its writes
	kPanic  = "panic"  // writes half, then panics
	kAbort  = "abort"  // writes half, then panics with http.ErrAbortHandler
	kLinger = "linger" // writes half, returns, and a goroutine goes on writing
	kNoBody = "nobody" // 204 or 304, then writes its body all the same
	kHead   = "head"   // a HEAD request whose handler writes its body
	kRef    = "ref"    // echoes a result reference to an earlier kJSON call
	kHang   = "hang"   // writes half, waits for its deadline, writes on from a goroutine
	kSlow   = "slow"   // ignores its context, writing past its deadline
	kLate   = "late"   // writes its body; a goroutine writes it again once its round of batches is over
)

// attackInner serves the kinds of call. It counts its handlers that run
// and the goroutines they leave behind, so that a test can wait for all
// of them to end: a handler left behind at its deadline may start only
// after its batch has ended (its goroutine is made, not yet run), so once
// the test has closed it, handlers that start do nothing.
type attackInner struct {
	// timeout is the Handler's CallTimeout, which kSlow writes past.
	timeout time.Duration

	mu      sync.Mutex
	idle    sync.Cond // signalled when running falls to 0
	running int
	closed  bool
	late    chan struct{} // closed when the round of batches is over (kLate)
	// fallback serves the paths that are not of a kind, if set.
	fallback http.Handler
}

// endRound lets the goroutines kLate calls left behind write: their batches
// are over, and the next round's may be under way.
func (a *attackInner) endRound() {
	a.mu.Lock()
	defer a.mu.Unlock()
	close(a.late)
	a.late = make(chan struct{})
}

// enter counts a handler that starts, unless a is closed.
func (a *attackInner) enter() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.running++
	return true
}

func (a *attackInner) leave() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running--; a.running == 0 && a.idle.L != nil {
		a.idle.Broadcast()
	}
}

// close waits for the handlers and goroutines that run; those that start
// later do nothing.
func (a *attackInner) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	a.idle.L = &a.mu
	for a.running > 0 {
		a.idle.Wait()
	}
}

// spawn runs f on a goroutine a counts.
func (a *attackInner) spawn(f func()) {
	a.mu.Lock()
	a.running++ // the caller runs: a is not idle
	a.mu.Unlock()
	go func() {
		defer a.leave()
		f()
	}()
}

func (a *attackInner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.enter() {
		return
	}
	defer a.leave()
	seg := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 6)
	if a.fallback != nil && (len(seg) < 5 || seg[0] == "" || seg[0][0] >= '0' && seg[0][0] <= '9') {
		a.fallback.ServeHTTP(w, r)
		return
	}
	if len(seg) < 5 {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	kind := seg[0]
	b, _ := strconv.Atoi(seg[1])
	c, _ := strconv.Atoi(seg[2])
	size, _ := strconv.Atoi(seg[3])
	chunk, _ := strconv.Atoi(seg[4])
	chunk = max(chunk, 1)
	body := attackBody(b, c, size)
	half := attackHalf(b, c, size)
	write := func(p []byte) error {
		for len(p) > 0 {
			n := min(chunk, len(p))
			if _, err := w.Write(p[:n]); err != nil {
				return err
			}
			p = p[n:]
		}
		return nil
	}
	flush := func() { w.(http.Flusher).Flush() }
	w.Header().Set("Content-Type", "application/octet-stream")
	if f, _ := strconv.Atoi(r.URL.Query().Get("f")); f > 0 {
		for j := range f {
			w.Header()["X-Attack-"+strconv.Itoa(j)] = []string{strings.Repeat(strconv.Itoa(j), 1<<10)}
		}
	}
	switch kind {
	case kWrite, kHead:
		write(body)
	case kText:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		write(body)
	case kJSON:
		w.Header().Set("Content-Type", "application/json")
		write(attackJSON(b, c, size))
	case kFlush:
		flush()
		write(body[:size/3])
		flush()
		flush()
		write(body[size/3:])
		flush()
	case kPanic, kAbort:
		write(body[:half])
		if kind == kAbort {
			panic(http.ErrAbortHandler)
		}
		panic("attack: the handler panics after writing")
	case kLinger:
		// The head is fixed before the handler returns: a write of
		// the goroutine may come before its return is seen.
		w.WriteHeader(http.StatusOK)
		write(body[:half])
		a.spawn(func() {
			for range 5 {
				w.Header().Set("X-Late", "1")
				w.WriteHeader(http.StatusTeapot)
				w.Write(body[half:])
				flush()
				time.Sleep(100 * time.Microsecond)
			}
		})
	case kNoBody:
		status := http.StatusNoContent
		if c%2 == 1 {
			status = http.StatusNotModified
		}
		w.WriteHeader(status)
		write(body)
		flush()
	case kRef:
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ref:"+seg[5])
	case kHang:
		write(body[:half])
		a.spawn(func() {
			<-r.Context().Done()
			for range 5 {
				w.Write(body[half:])
				flush()
				time.Sleep(100 * time.Microsecond)
			}
		})
		<-r.Context().Done()
		w.Write(body[half:]) // past the deadline: fails, unless the call is yet to be abandoned
	case kLate:
		write(body)
		a.mu.Lock()
		over := a.late
		a.mu.Unlock()
		a.spawn(func() {
			<-over
			for range 20 {
				w.Header().Set("X-Late", "1")
				w.Write(body)
				flush()
				time.Sleep(200 * time.Microsecond)
			}
		})
	case kSlow:
		for i := range 4 {
			if write(body[i*size/4:(i+1)*size/4]) != nil {
				return
			}
			time.Sleep(a.timeout / 2)
		}
	default:
		http.Error(w, "bad kind", http.StatusBadRequest)
	}
}

// attackHalf is where the body of call c of batch b, of size bytes, is cut
// in two by the calls that write it in two goes: between two markers, as
// a second half that began inside one ("40:3}…{240") and was written
// twice would make a marker of another batch ("{24040:3}").
func attackHalf(b, c, size int) int {
	n := len(fmt.Sprintf("{%d:%d}", b, c))
	return size / 2 / n * n
}

// attackJSON is the body of a kJSON call: an object whose "n" is the call's
// marker, padded to about size bytes.
func attackJSON(b, c, size int) []byte {
	return fmt.Appendf(nil, `{"n":"{%d:%d}","pad":"%s"}`, b, c, attackBody(b, c, size))
}

// An attackCall is one call of an attack batch, and what may answer it.
type attackCall struct {
	Kind   string
	Size   int
	Chunk  int
	Group  int // 1 + the changeset (atomicity group) it belongs to, or 0
	Ref    int // for kRef: the index of the kJSON call it references
	Fields int // header fields of 1 KiB its handler sets first (not kRef's)
	id     string
	status int    // what it answers when all goes well
	want   []byte // the body it answers then
	// ours: when all goes well the Handler answers it, with a body of
	// its own saying why (a panic, a timeout)
	ours bool
}

// An attackBatch is one batch of an attack: its format, calls and how its
// client reads the answer.
type attackBatch struct {
	Format Format
	Calls  []attackCall
	Read   int // see the read* constants
	Delay  time.Duration
	Cut    int // readCut: bytes read before the client goes
	id     int
}

// How an attack's client reads its batch response.
const (
	readFast  = iota // at once, as fast as it comes
	readSlow         // a few KiB at a time, with pauses
	readLater        // after Delay, fast
	readCut          // Cut bytes, then it closes the connection
	readNever        // nothing; it closes the connection after Delay
	readKinds
)

// plan fills in the ids and the answers of b's calls, for batch id n.
func (b *attackBatch) plan(n int) {
	b.id = n
	for i := range b.Calls {
		c := &b.Calls[i]
		c.id = "c" + strconv.Itoa(i)
		c.status, c.want = http.StatusOK, attackBody(n, i, c.Size)
		switch c.Kind {
		case kJSON:
			c.want = attackJSON(n, i, c.Size)
		case kPanic, kAbort:
			c.status, c.want, c.ours = http.StatusInternalServerError, nil, true
		case kLinger:
			c.want = c.want[:attackHalf(n, i, c.Size)]
		case kNoBody:
			c.status, c.want = http.StatusNoContent, nil
			if i%2 == 1 {
				c.status = http.StatusNotModified
			}
		case kHead:
			c.want = nil
		case kRef:
			c.want = fmt.Appendf(nil, "ref:{%d:%d}", n, c.Ref)
		case kHang:
			c.status, c.want, c.ours = http.StatusGatewayTimeout, nil, true
		}
	}
}

// target is the request target of call i.
func (b *attackBatch) target(i int) string {
	c := b.Calls[i]
	if c.Kind == kRef {
		return fmt.Sprintf("/ref/%d/%d/0/1/$result[%s][n]", b.id, i, b.Calls[c.Ref].id)
	}
	target := fmt.Sprintf("/%s/%d/%d/%d/%d", c.Kind, b.id, i, c.Size, c.Chunk)
	if c.Fields > 0 {
		target += "?f=" + strconv.Itoa(c.Fields)
	}
	return target
}

func (b *attackBatch) method(i int) string {
	if b.Calls[i].Kind == kHead {
		return http.MethodHead
	}
	return http.MethodGet
}

// methodOf is the method of the call whose id is id ("" for none).
func (b *attackBatch) methodOf(id string) string {
	for i, c := range b.Calls {
		if c.id == id {
			return b.method(i)
		}
	}
	return ""
}

// String shows b without its calls' bodies.
func (b attackBatch) String() string {
	var calls []string
	for _, c := range b.Calls {
		s := fmt.Sprintf("%s %d/%d", c.Kind, c.Size, c.Chunk)
		if c.Fields > 0 {
			s += fmt.Sprintf(" f%d", c.Fields)
		}
		if c.Group > 0 {
			s += fmt.Sprintf(" in g%d", c.Group)
		}
		if c.Kind == kRef {
			s += fmt.Sprintf(" to c%d", c.Ref)
		}
		calls = append(calls, s)
	}
	return fmt.Sprintf("batch %d, format %d, read %d (delay %s, cut %d): [%s]", b.id, b.Format, b.Read, b.Delay, b.Cut, strings.Join(calls, ", "))
}

// request is the batch request body of b, and its Content-Type.
func (b *attackBatch) request() (body, contentType string) {
	if b.Format != FormatMultipart {
		var reqs []string
		for i, c := range b.Calls {
			r := fmt.Sprintf(`{"id":%q,"method":%q,"url":%q`, c.id, b.method(i), b.target(i))
			if c.Group > 0 {
				r += fmt.Sprintf(`,"atomicityGroup":"g%d"`, c.Group)
			}
			reqs = append(reqs, r+"}")
		}
		return `{"requests":[` + strings.Join(reqs, ",") + `]}`, "application/json"
	}
	var parts []string
	for i := 0; i < len(b.Calls); {
		c := b.Calls[i]
		msg := func(i int) string { return b.method(i) + " " + b.target(i) + " HTTP/1.1\r\n" }
		if c.Group == 0 {
			parts = append(parts, part(c.id, msg(i)))
			i++
			continue
		}
		var members []string
		for ; i < len(b.Calls) && b.Calls[i].Group == c.Group; i++ {
			members = append(members, part(b.Calls[i].id, msg(i)))
		}
		parts = append(parts, changeset("g"+strconv.Itoa(c.Group), members...))
	}
	return batchBody(parts...), "multipart/mixed; boundary=b"
}

// post sends b on a connection of its own, which nothing reads yet.
func (b *attackBatch) post(addr string) (net.Conn, error) {
	body, ct := b.request()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	hdr := ""
	if b.Format == FormatODataJSON {
		// Not halted by its first failure: each call answers.
		hdr = "OData-Version: 4.01\r\nPrefer: odata.continue-on-error\r\n"
	}
	_, err = fmt.Fprintf(conn, "POST /$batch HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Type: %s\r\n%sContent-Length: %d\r\n\r\n%s", addr, ct, hdr, len(body), body)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// An attackAnswer is one response of a batch response: the id of its
// call (without "response-"), its status and body; for a changeset
// answered as a whole, members holds its calls' answers.
type attackAnswer struct {
	ID      string
	Status  int
	Body    []byte
	Members []attackAnswer
}

// read reads the batch response of b on conn as its client is to,
// and returns its answers (nil, nil for a client that reads nothing to
// its end) and every body byte it read.
func (b *attackBatch) read(conn net.Conn) ([]attackAnswer, []byte, error) {
	defer conn.Close()
	var r io.Reader = conn
	switch b.Read {
	case readSlow:
		r = &slowReader{r: conn, chunk: 2 << 10, pause: 50 * time.Microsecond}
	case readLater:
		time.Sleep(b.Delay)
	case readCut:
		_, err := io.CopyN(io.Discard, conn, int64(b.Cut))
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, err
		}
		return nil, nil, nil
	case readNever:
		time.Sleep(b.Delay)
		return nil, nil, nil
	}
	resp, err := http.ReadResponse(bufio.NewReader(r), nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, raw, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, raw, fmt.Errorf("batch status %d: %q", resp.StatusCode, raw)
	}
	if b.Format == FormatMultipart {
		boundary, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
		if err != nil {
			return nil, raw, err
		}
		got, err := readAttackParts(bytes.NewReader(raw), boundary, b.methodOf)
		return got, raw, err
	}
	got, err := b.readJSON(raw)
	return got, raw, err
}

// readAttackParts reads a multipart batch response, nested changesets
// included, with the codec.
func readAttackParts(body io.Reader, boundary string, method func(id string) string) ([]attackAnswer, error) {
	r := mixed.NewReader(body, boundary)
	var out []attackAnswer
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("part %d: %w", len(out), err)
		}
		a := attackAnswer{ID: strings.TrimPrefix(p.Header.Get("Content-ID"), "response-")}
		if ct := p.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/mixed") {
			nb, err := mixed.ParseBoundary(ct)
			if err != nil {
				return out, err
			}
			if a.Members, err = readAttackParts(p, nb, method); err != nil {
				return out, err
			}
			out = append(out, a)
			continue
		}
		m, err := mixed.NewMessageReader(p).ReadResponse(method(a.ID))
		if err != nil {
			return out, fmt.Errorf("part %d: %w", len(out), err)
		}
		a.Status = m.StatusCode
		if a.Body, err = io.ReadAll(m.Body); err != nil {
			return out, fmt.Errorf("part %d: %w", len(out), err)
		}
		out = append(out, a)
	}
}

// readJSON reads a JSON batch response with encoding/json, each body by
// the rules of the format: JSON as itself, an OData text/* body as a
// string, any other as base64 (base64url in OData).
func (b *attackBatch) readJSON(raw []byte) ([]attackAnswer, error) {
	var doc struct {
		Responses []struct {
			ID      string
			Status  int
			Headers map[string]string
			Body    json.RawMessage
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var out []attackAnswer
	for _, e := range doc.Responses {
		a := attackAnswer{ID: e.ID, Status: e.Status}
		ct := ""
		for k, v := range e.Headers {
			if strings.EqualFold(k, "Content-Type") {
				ct = v
			}
		}
		var s string
		switch {
		case len(e.Body) == 0:
		case json.Unmarshal(e.Body, &s) != nil:
			a.Body = e.Body // a JSON value
		case b.Format == FormatODataJSON && strings.HasPrefix(ct, "text/"):
			a.Body = []byte(s)
		default:
			enc := base64.StdEncoding
			if b.Format == FormatODataJSON {
				enc = base64.URLEncoding
			}
			var err error
			if a.Body, err = enc.DecodeString(s); err != nil {
				return out, fmt.Errorf("response %s: body %.40q: %v", e.ID, s, err)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// held reports whether call c's response must be held whole, so that it
// may fail when the budgets have no room for it: in a changeset, or a
// JSON (or, in OData, text) body in a JSON batch.
func (b *attackBatch) held(c attackCall) bool {
	switch {
	case c.Group > 0:
		return true
	case b.Format == FormatMultipart:
		return false
	case c.Kind == kJSON:
		return true
	}
	// A kRef's body is text/plain too.
	return (c.Kind == kText || c.Kind == kRef) && b.Format == FormatODataJSON
}

// check reports whether a is an answer call c may get: its own when all
// goes well; its status and a prefix of its body when its part began to
// stream and the call then failed (it panicked, or timed out); the
// Handler's own 504 when timeouts are on, 503 or 500 when it must be held
// and did not fit, 424 when it depends on a result that failed or did not
// fit, or on a group that failed.
func (b *attackBatch) check(c attackCall, a attackAnswer, timeouts bool) error {
	if m := foreignMarker(a.Body, b.id); m != "" {
		return fmt.Errorf("call %s of batch %d got %q of another batch in %.80q", c.id, b.id, m, a.Body)
	}
	if a.Status == c.status && (c.ours || bytes.Equal(a.Body, c.want)) {
		return nil
	}
	full := attackBody(b.id, indexOf(c.id), c.Size)
	if c.Kind == kJSON {
		full = attackJSON(b.id, indexOf(c.id), c.Size)
	}
	cut := timeouts || c.Kind == kPanic || c.Kind == kAbort || c.Kind == kHang
	switch {
	case cut && !b.held(c) && c.Kind != kHead && c.Kind != kNoBody && a.Status == http.StatusOK && bytes.HasPrefix(full, a.Body):
		return nil
	case (c.Kind == kLinger || c.Kind == kHang) && a.Status == http.StatusOK && lateWrites(a.Body, full[:attackHalf(b.id, indexOf(c.id), c.Size)], full[attackHalf(b.id, indexOf(c.id), c.Size):], cut):
		// A write of the goroutine its handler leaves behind may come
		// between the handler's return (or deadline) and the call's end,
		// which takes it: the call's writes until then.
		return nil
	case a.Status == http.StatusGatewayTimeout && timeouts:
		return nil
	case (a.Status == http.StatusServiceUnavailable || a.Status == http.StatusInternalServerError) && b.held(c):
		return nil
	case a.Status == http.StatusFailedDependency && (c.Kind == kRef || c.Group > 0):
		return nil
	}
	return fmt.Errorf("call %s (%s, %d bytes) of batch %d (format %d): got %d %.80q, want %d %.80q", c.id, c.Kind, c.Size, b.id, b.Format, a.Status, a.Body, c.status, c.want)
}

// lateWrites reports whether body is first followed by copies of rest,
// whole ones unless cut, when the part may stop anywhere.
func lateWrites(body, first, rest []byte, cut bool) bool {
	if !bytes.HasPrefix(body, first) {
		return false
	}
	body = body[len(first):]
	for len(rest) > 0 && len(body) >= len(rest) && bytes.Equal(body[:len(rest)], rest) {
		body = body[len(rest):]
	}
	return len(body) == 0 || cut && bytes.HasPrefix(rest, body)
}

func indexOf(id string) int {
	i, _ := strconv.Atoi(strings.TrimPrefix(id, "c"))
	return i
}

// units are the calls of each top-level unit of b, in order: a call, or
// a changeset's calls (in a JSON batch, each call is a unit: an
// atomicity group's calls are answered each on its own).
func (b *attackBatch) units() [][]int {
	var out [][]int
	for i := 0; i < len(b.Calls); {
		g := b.Calls[i].Group
		j := i + 1
		for g > 0 && b.Format == FormatMultipart && j < len(b.Calls) && b.Calls[j].Group == g {
			j++
		}
		var u []int
		for k := i; k < j; k++ {
			u = append(u, k)
		}
		out = append(out, u)
		i = j
	}
	return out
}

// checkAnswers checks the answers of a batch read to its end: each unit
// answered once, in request order; a changeset either in full, when all
// its calls succeeded, or by the one call that failed it; each answer one
// its call may get (see check).
func (b *attackBatch) checkAnswers(got []attackAnswer, timeouts bool) error {
	units := b.units()
	if len(got) != len(units) {
		return fmt.Errorf("batch %d: %d answers to %d units", b.id, len(got), len(units))
	}
	for u, a := range got {
		calls := units[u]
		first := b.Calls[calls[0]]
		switch {
		case first.Group == 0 || b.Format != FormatMultipart:
			if a.ID != first.id {
				return fmt.Errorf("batch %d: unit %d answered as %q, want %q", b.id, u, a.ID, first.id)
			}
			if err := b.check(first, a, timeouts); err != nil {
				return err
			}
		case a.Members != nil:
			if len(a.Members) != len(calls) {
				return fmt.Errorf("batch %d: changeset %d answered with %d parts, for %d calls", b.id, u, len(a.Members), len(calls))
			}
			for k, m := range a.Members {
				c := b.Calls[calls[k]]
				if m.ID != c.id || m.Status >= 400 {
					return fmt.Errorf("batch %d: changeset %d answered in full with %q %d for call %s", b.id, u, m.ID, m.Status, c.id)
				}
				if err := b.check(c, m, timeouts); err != nil {
					return err
				}
			}
		default:
			k := slices.IndexFunc(calls, func(i int) bool { return b.Calls[i].id == a.ID })
			if k < 0 || a.Status < 400 {
				return fmt.Errorf("batch %d: changeset %d answered alone by %q %d", b.id, u, a.ID, a.Status)
			}
			if err := b.check(b.Calls[calls[k]], a, timeouts); err != nil {
				return err
			}
		}
	}
	return nil
}

// An attackServer is a Handler of attackInner on a loopback listener with
// small socket buffers.
type attackServer struct {
	h        *Handler
	inner    *attackInner
	srv      *httptest.Server
	timeouts bool
}

func newAttackServer(opts HandlerOptions) *attackServer {
	inner := &attackInner{timeout: opts.CallTimeout, late: make(chan struct{})}
	opts.Logger = discardSlog()
	h := NewHandlerOptions(inner, opts)
	return &attackServer{h: h, inner: inner, srv: sharedServer(h), timeouts: opts.CallTimeout > 0}
}

// run posts the batches at once, each client reading as it is to, and
// returns what each read (nil for a client that reads nothing to its
// end), failing if a batch does not end in time (a deadlock), if a batch
// read to its end has an answer its call may not get (see checkAnswers)
// or a byte of another batch.
func (s *attackServer) run(t attackT, batches []attackBatch) [][]attackAnswer {
	t.Helper()
	addr := s.srv.Listener.Addr().String()
	errs := make([]error, len(batches))
	got := make([][]attackAnswer, len(batches))
	var wg sync.WaitGroup
	for i := range batches {
		b := &batches[i]
		b.plan(int(attackSeq.Add(1)))
		conn, err := b.post(addr)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers, raw, err := b.read(conn)
			if err == nil && b.Format == FormatMultipart {
				if m := foreignMarker(raw, b.id); m != "" {
					err = fmt.Errorf("batch %d's response holds %q of another batch", b.id, m)
				}
			}
			if err == nil && (b.Read == readFast || b.Read == readSlow || b.Read == readLater) {
				err = b.checkAnswers(answers, s.timeouts)
			}
			got[i], errs[i] = answers, err
		}()
	}
	within(t, "every batch to be read", 15*time.Second, wg.Wait)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("batch %d (%s): %v", i, batches[i], err)
		}
	}
	return got
}

// close closes the server once every client has gone, and checks that
// the Handler's budget holds nothing, once every batch is over and again
// once every handler and goroutine they left behind is done.
func (s *attackServer) close(t attackT) {
	t.Helper()
	within(t, "the server to close", 15*time.Second, s.srv.Close)
	// Every batch is over: what handlers left behind may still write,
	// and must take nothing (checked again once they are done).
	checkBudgetSettled(t, s.h)
	s.inner.endRound()
	within(t, "the goroutines the handlers left behind", 15*time.Second, s.inner.close)
	checkBudgetSettled(t, s.h)
}

// serveAttack serves the batches with a Handler of options opts (see
// attackServer.run), and checks that its budget comes back to 0 once
// they are over (see attackServer.close).
func serveAttack(t attackT, opts HandlerOptions, batches []attackBatch) *Handler {
	t.Helper()
	s := newAttackServer(opts)
	s.run(t, batches)
	s.close(t)
	return s.h
}

// attackT is what the attacks need of a *testing.T or a *rapid.T.
type attackT interface {
	Helper()
	Fatal(...any)
	Fatalf(string, ...any)
	Errorf(string, ...any)
}

// waitUntil is waitFor for an attackT.
func waitUntil(t attackT, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10 s for %s", what)
		}
	}
}

// within runs f, failing the test with every goroutine's stack if it does
// not return within d.
func within(t attackT, what string, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		buf := make([]byte, 1<<20)
		t.Fatalf("waited %s for %s (a deadlock?):\n%s", d, what, buf[:runtime.Stack(buf, true)])
	}
}

// drawAttack draws batches of every kind of call, format and client.
func drawAttack(t *rapid.T, changesets, refs, timeouts bool) []attackBatch {
	kinds := []string{kWrite, kWrite, kText, kJSON, kFlush, kPanic, kAbort, kLinger, kNoBody, kHead, kLate}
	if timeouts {
		kinds = append(kinds, kHang, kSlow)
	}
	formats := []Format{FormatMultipart, FormatMultipart, FormatODataJSON}
	if !changesets {
		formats = append(formats, FormatGraphJSON) // with changesets, every JSON batch is OData's
	}
	return rapid.SliceOfN(rapid.Custom(func(t *rapid.T) attackBatch {
		b := attackBatch{
			Format: rapid.SampledFrom(formats).Draw(t, "format"),
			Read:   rapid.IntRange(0, readKinds-1).Draw(t, "read"),
			Delay:  time.Duration(rapid.IntRange(0, 20).Draw(t, "delayMs")) * time.Millisecond,
			Cut:    rapid.IntRange(0, 8<<10).Draw(t, "cut"),
		}
		n := rapid.IntRange(1, 6).Draw(t, "calls")
		group := 0
		for i := range n {
			c := attackCall{
				Kind:  rapid.SampledFrom(kinds).Draw(t, "kind"),
				Size:  rapid.IntRange(0, 24<<10).Draw(t, "size"),
				Chunk: rapid.IntRange(1<<8, 16<<10).Draw(t, "chunk"),
			}
			if changesets && b.Format != FormatGraphJSON && rapid.IntRange(0, 3).Draw(t, "inGroup") == 0 {
				if i == 0 || b.Calls[i-1].Group == 0 || rapid.Bool().Draw(t, "newGroup") {
					group++
				}
				c.Group = group
				// A changeset's calls all write bodies of their own.
				c.Kind = rapid.SampledFrom([]string{kWrite, kText, kJSON}).Draw(t, "groupKind")
			}
			if refs && c.Group == 0 {
				var jsons []int
				for j, d := range b.Calls {
					if d.Kind == kJSON {
						jsons = append(jsons, j)
					}
				}
				if len(jsons) > 0 && rapid.IntRange(0, 2).Draw(t, "ref") == 0 {
					c.Kind, c.Ref = kRef, rapid.SampledFrom(jsons).Draw(t, "refTo")
				}
			}
			if c.Kind != kRef {
				c.Fields = rapid.SampledFrom([]int{0, 0, 1, 3}).Draw(t, "fields")
			}
			b.Calls = append(b.Calls, c)
		}
		return b
	}), 1, 6).Draw(t, "batches")
}

// Whatever its calls and its client do, a batch gives back all it took of
// the Handler's budget (checkBudgetSettled: h.shared.used and h.leftover
// both 0 once every batch is over), every batch ends, every batch read to
// its end has an answer each call may get, and no byte of a batch reaches
// another's response: calls with header fields (which count) or without,
// that panic after writing, go on writing from
// a goroutine after they returned or past their deadline, time out while
// they wait for room, write bodies to 204, 304 and HEAD, flush at odd
// times, overflow their changeset, or are referenced by calls whose kept
// copies are dropped; clients that read fast, slowly, late, go away
// mid-stream or never read; multipart, OData JSON and Graph JSON batches
// at once, with budgets of a few KiB to a few times the responses.
func TestBudgetAttackLeaksNothing(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		changesets := rapid.Bool().Draw(t, "changesets")
		refs := rapid.Bool().Draw(t, "refs")
		timeouts := rapid.IntRange(0, 3).Draw(t, "timeouts") == 0
		opts := HandlerOptions{
			MaxBufferedBytes:      rapid.Int64Range(1<<10, 64<<10).Draw(t, "perBatch"),
			MaxTotalBufferedBytes: rapid.Int64Range(1<<10, 96<<10).Draw(t, "total"),
			Concurrency:           rapid.IntRange(1, 4).Draw(t, "concurrency"),
			Changesets:            changesets,
			ResultReferences:      refs,
		}
		if timeouts {
			opts.CallTimeout = time.Duration(rapid.IntRange(20, 60).Draw(t, "timeoutMs")) * time.Millisecond
		}
		serveAttack(t, opts, drawAttack(t, changesets, refs, timeouts))
	})
}

// The enlist-then-retry protocol of sharedBudget under contention, without
// HTTP: writers on several outputs take random amounts of a tiny budget,
// all or nothing, waiting on their output's cond as Write does, hold them
// a moment and give them back as a part going out does. Every amount fits
// the budget on its own, so a writer that waits for ever waits for a
// wake-up that was lost: the test fails at its deadline. Half the outputs
// have a budget of their own of half the Handler's, as a batch's
// MaxBufferedBytes below MaxTotalBufferedBytes. At the end the
// budget holds nothing, and it never held more than its limit.
func TestBudgetAttackNoLostWakeUp(t *testing.T) {
	const (
		outputs, writers = 8, 4
		limit            = 4 << 10
	)
	const rounds = 5000
	var b sharedBudget
	b.limit = limit
	outs := make([]*output, outputs)
	for i := range outs {
		// Some outputs' own budgets are smaller than the Handler's: their
		// writers wait for their own batch's room too.
		o := &output{limit: math.MaxInt64, shared: &b}
		if i%2 == 1 {
			o.limit = limit / 2
		}
		o.cond.L = &o.mu
		outs[i] = o
	}
	var wg sync.WaitGroup
	for i := range outputs * writers {
		o := outs[i%outputs]
		wg.Add(1)
		go func() {
			defer wg.Done()
			seed := uint64(i)*0x9e3779b97f4a7c15 + 1
			next := func() uint64 { // xorshift: each writer its own sizes
				seed ^= seed << 13
				seed ^= seed >> 7
				seed ^= seed << 17
				return seed
			}
			for range rounds {
				n := int64(next()%uint64(min(limit, o.limit))) + 1
				o.mu.Lock()
				for !o.reserve(n, true) {
					o.cond.Wait()
				}
				o.unlock()
				if next()%4 == 0 {
					runtime.Gosched()
				}
				o.mu.Lock()
				o.release(n)
				o.unlock()
			}
		}()
	}
	within(t, "every writer's rounds (a lost wake-up?)", 60*time.Second, wg.Wait)
	if used := b.used.Load(); used != 0 {
		t.Errorf("the budget holds %d bytes once every writer gave its room back", used)
	}
	if peak := b.peak.Load(); peak > limit {
		t.Errorf("the budget held %d bytes at once, over its limit %d", peak, limit)
	}
	for i, o := range outs {
		if o.buffered != 0 {
			t.Errorf("output %d counts %d bytes once its writers gave them back", i, o.buffered)
		}
	}
}

// One release as the only thing that can wake a waiter: two outputs hand
// the whole budget to each other, round after round. The holder gives it
// back a random moment after the other began to try for it (before it
// enlists, as it enlists, as it waits), then waits for it to take the
// budget. A wake-up lost in that window leaves the other waiting with the
// room free and nothing else to give any back: the round never ends.
func TestBudgetAttackHandOff(t *testing.T) {
	const (
		limit  = 1 << 10
		rounds = 10000
	)
	var b sharedBudget
	b.limit = limit
	var outs [2]*output
	for i := range outs {
		outs[i] = &output{limit: limit, shared: &b}
		outs[i].cond.L = &outs[i].mu
	}
	var (
		round   atomic.Int64 // the round under way: its holder is round%2
		trying  atomic.Int64 // the round whose taker has begun to try
		stalled atomic.Bool
	)
	if !outs[0].reserve(limit, false) {
		t.Fatal("the first holder could not take the empty budget")
	}
	var wg sync.WaitGroup
	for me := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := outs[me]
			seed := uint64(me) + 7
			for k := int64(0); k < rounds; k++ {
				for round.Load() != k { // round k-1 ends
					if stalled.Load() {
						return
					}
					runtime.Gosched()
				}
				if int(k%2) == me {
					// The holder: give the budget back once the
					// other is trying for it, after a spin of its own
					// length, then wait for the other to take it.
					for trying.Load() != k {
						if stalled.Load() {
							return
						}
					}
					seed = seed*6364136223846793005 + 1442695040888963407
					for range seed >> 53 { // 0 to 2047 spins
					}
					o.mu.Lock()
					o.release(limit)
					o.unlock()
					continue
				}
				trying.Store(k)
				o.mu.Lock()
				for !o.reserve(limit, true) && !stalled.Load() {
					o.cond.Wait()
				}
				o.unlock()
				round.Store(k + 1)
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	last, since := round.Load(), time.Now()
	for {
		select {
		case <-done:
		case <-time.After(10 * time.Millisecond):
			if r := round.Load(); r != last {
				last, since = r, time.Now()
			} else if time.Since(since) > 5*time.Second {
				stalled.Store(true)
				// Wake the waiter so that its goroutine ends.
				b.giveWake(0)
				for _, o := range outs {
					o.mu.Lock()
					o.cond.Broadcast()
					o.mu.Unlock()
				}
				t.Fatalf("round %d: the budget was given back, and the output waiting for it never took it (a lost wake-up)", r)
			}
			continue
		}
		break
	}
	if r := round.Load(); r != rounds {
		t.Errorf("%d hand-offs of %d", r, rounds)
	}
	// The last taker holds the whole budget.
	if used := b.used.Load(); used != limit {
		t.Errorf("after %d hand-offs the budget holds %d bytes, want all %d", rounds, used, limit)
	}
}

// The Handler reuses a batch's memory for the next (its output, its
// response bodies, its JSON buffers), while goroutines the handlers of
// the last round left behind write and flush into their dead
// ResponseWriters. Round after round of concurrent batches, every answer
// is exactly its own call's (cmp.Diff of the whole bodies), and no byte of
// another batch shows anywhere in a response.
func TestBudgetAttackNoCrossBatchBytes(t *testing.T) {
	// Budgets the batches fit in: every answer is known (nothing held
	// fails), and the bodies the batches keep are reused.
	s := newAttackServer(HandlerOptions{MaxBufferedBytes: 64 << 10, MaxTotalBufferedBytes: 512 << 10, Concurrency: 3, Changesets: true})
	defer s.close(t)
	kinds := []string{kWrite, kText, kJSON, kFlush, kNoBody, kHead, kLate, kLate}
	formats := []Format{FormatMultipart, FormatODataJSON}
	for round := range 25 {
		var batches []attackBatch
		for i := range 4 {
			b := attackBatch{Format: formats[(round+i)%2], Read: []int{readFast, readSlow, readLater}[(round*3+i)%3], Delay: time.Millisecond}
			for j := range 3 + (round+i)%4 {
				k := (round*7 + i*5 + j*3) % len(kinds)
				b.Calls = append(b.Calls, attackCall{Kind: kinds[k], Size: 100 + (round*977+i*331+j*4099)%(20<<10), Chunk: 1 << (8 + (round+j)%7)})
			}
			batches = append(batches, b)
		}
		got := s.run(t, batches)
		for i, b := range batches {
			var want []attackAnswer
			for _, c := range b.Calls {
				want = append(want, attackAnswer{ID: c.id, Status: c.status, Body: c.want})
			}
			if diff := cmp.Diff(want, got[i], cmp.Transformer("text", func(b []byte) string { return string(b) })); diff != "" {
				t.Fatalf("round %d, %s: answers (-want +got):\n%s", round, b, diff)
			}
		}
		s.inner.endRound() // the round's late writers write on into the next
	}
}

// The wake-ups of MaxTotalBufferedBytes chained through batches: one batch
// holds the whole budget behind a head that waits; in each other batch a
// call waits for room to buffer its response (one write, which fixes its
// head: room for both, all or nothing) behind a head that returns only
// once that call has. Nothing but the
// room one batch gives back as it ends can let another's call go on, and
// every batch, its client reading fast, slowly or late, must end with
// every answer.
func TestBudgetAttackWakeChain(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		total := rapid.IntRange(1<<10, 8<<10).Draw(t, "total")
		n := rapid.IntRange(2, 8).Draw(t, "batches")
		seq := int(attackSeq.Add(1))
		release := make(chan struct{})
		returned := make([]chan struct{}, n)
		for i := range returned {
			returned[i] = make(chan struct{})
		}
		var waiting atomic.Int32
		inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var kind string
			var b, size int
			fmt.Sscanf(r.URL.Path, "/%d/%d/%s", &b, &size, &kind)
			body := attackBody(seq, b, size)
			w.Header().Set("Content-Type", "application/octet-stream") // octetHead
			switch kind {
			case "hold":
				<-release
			case "gate":
				<-returned[b]
			case "waiter":
				waiting.Add(1)
				defer close(returned[b])
			}
			w.Write(body)
		})
		h := NewHandlerOptions(inner, HandlerOptions{MaxBufferedBytes: int64(total), MaxTotalBufferedBytes: int64(total)})
		srv := sharedServer(h)
		defer srv.Close()
		defer func() {
			select {
			case <-release:
			default:
				close(release) // a failed check: let the held head go
			}
		}()
		type plan struct {
			conn  *rawBatch
			want  []string
			read  int
			pause time.Duration
		}
		plans := make([]plan, n)
		for i := range plans {
			// A response, its head with its body, fits the budget.
			room := total - int(octetHead)
			sizes := []int{rapid.IntRange(0, 4<<10).Draw(t, "headSize"), rapid.IntRange(1, room).Draw(t, "size")}
			kinds := []string{"gate", "waiter"}
			if i == 0 {
				kinds, sizes[1] = []string{"hold", "fill"}, room
			}
			var parts []string
			for k := range 2 {
				parts = append(parts, part(strconv.Itoa(k), fmt.Sprintf("GET /%d/%d/%s HTTP/1.1\r\n", i, sizes[k], kinds[k])))
				plans[i].want = append(plans[i].want, partSummary("response-"+strconv.Itoa(k), 200, attackBody(seq, i, sizes[k])))
			}
			conn, err := postRaw(srv.Listener.Addr().String(), batchBody(parts...))
			if err != nil {
				t.Fatal(err)
			}
			plans[i].conn = conn
			plans[i].read = rapid.IntRange(0, 2).Draw(t, "read")
			plans[i].pause = time.Duration(rapid.IntRange(0, 5).Draw(t, "pauseMs")) * time.Millisecond
			if i == 0 {
				// The holder's call behind its head fills the budget
				// before the others post.
				waitUntil(t, "the holding batch to fill the budget", func() bool { return h.shared.used.Load() == int64(total) })
			}
		}
		waitUntil(t, "every waiting call to write", func() bool { return waiting.Load() == int32(n-1) })
		errs := make([]error, n)
		got := make([][]string, n)
		var wg sync.WaitGroup
		for i, p := range plans {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch p.read {
				case 0:
					got[i], errs[i] = p.conn.read(0, 0)
				case 1:
					got[i], errs[i] = p.conn.read(512, p.pause/10)
				default:
					time.Sleep(p.pause)
					got[i], errs[i] = p.conn.read(0, 0)
				}
			}()
		}
		close(release)
		within(t, "every batch of the chain to end", 15*time.Second, wg.Wait)
		for i := range plans {
			if errs[i] != nil {
				t.Fatalf("batch %d: %v", i, errs[i])
			}
			if diff := cmp.Diff(plans[i].want, got[i]); diff != "" {
				t.Fatalf("batch %d: parts (-want +got):\n%s", i, diff)
			}
		}
		srv.Close()
		if peak := h.shared.peak.Load(); peak > int64(total) {
			t.Fatalf("the batches held %d bytes at once, over MaxTotalBufferedBytes %d", peak, total)
		}
		checkBudgetSettled(t, h)
	})
}

// "The head of every batch never waits, so every batch progresses at its
// own client's pace whatever the others hold": stalled batches hold
// MaxTotalBufferedBytes (but for less than a write of theirs each), and
// greedy ones, which take the rest, have calls waiting behind heads that
// never end, enlisted to take any room that frees.
// Batches whose clients read (slowly, some of them) must still end, every
// call that need not be held answered in full: the head streams what it
// cannot buffer, and each call behind it streams in its turn. Held ones
// (an OData JSON body) may answer 503, as documented, but answer.
func TestBudgetAttackReadingBatchProgresses(t *testing.T) {
	const perBatch, total = 128 << 10, 256 << 10
	gate := make(chan struct{})
	inner := &attackInner{late: make(chan struct{})}
	inner.fallback = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gated" {
			<-gate
			io.WriteString(w, "gated")
			return
		}
		sizedInner(w, r)
	})
	h := NewHandlerOptions(inner, HandlerOptions{MaxBufferedBytes: perBatch, MaxTotalBufferedBytes: total, Concurrency: 4, Logger: discardSlog()})
	s := &attackServer{h: h, inner: inner, srv: sharedServer(h)}
	t.Cleanup(func() { s.close(t) }) // after the stalled connections close
	var opened sync.Once
	open := func() { opened.Do(func() { close(gate) }) }
	defer open()
	addr := s.srv.Listener.Addr().String()
	stalled, wants := stall(t, addr, 0, 2, 4, 256<<10, 16<<10)
	// Each holds its MaxBufferedBytes but for less than a write: the
	// heads of its calls take part of it.
	waitFor(t, "the stalled batches to hold the whole budget", func() bool { return h.shared.used.Load() > total-2*16<<10 })
	var greedy []*rawBatch
	var greedyWants [][]string
	for i := range 3 {
		parts := []string{part("0", "GET /gated HTTP/1.1\r\n")}
		want := []string{partSummary("response-0", 200, []byte("gated"))}
		for k := 1; k <= 3; k++ {
			seed := 90 + i*10 + k
			parts = append(parts, part(strconv.Itoa(k), fmt.Sprintf("GET /%d/65536/1024 HTTP/1.1\r\n", seed)))
			want = append(want, partSummary("response-"+strconv.Itoa(k), 200, sizedBody(seed, 64<<10)))
		}
		b, err := postRaw(addr, batchBody(parts...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.conn.Close() })
		greedy, greedyWants = append(greedy, b), append(greedyWants, want)
	}
	waitFor(t, "the greedy batches' calls to wait for room", func() bool {
		h.shared.mu.Lock()
		defer h.shared.mu.Unlock()
		return len(h.shared.waiters) == 3
	})
	calls := func(spec ...any) []attackCall {
		var out []attackCall
		for i := 0; i < len(spec); i += 3 {
			out = append(out, attackCall{Kind: spec[i].(string), Size: spec[i+1].(int), Chunk: spec[i+2].(int)})
		}
		return out
	}
	reading := []attackBatch{
		{Format: FormatMultipart, Read: readSlow, Calls: calls(kWrite, 100<<10, 1<<10, kWrite, 3000, 100, kFlush, 20<<10, 512, kJSON, 30<<10, 4<<10, kHead, 5000, 1000, kNoBody, 10, 10, kWrite, 200<<10, 64<<10, kLinger, 9000, 1000, kPanic, 8000, 2000, kLate, 70<<10, 8<<10)},
		{Format: FormatMultipart, Read: readFast, Calls: calls(kWrite, 1, 1, kWrite, 70<<10, 70<<10, kWrite, 50<<10, 3<<10, kText, 40<<10, 40<<10)},
		{Format: FormatGraphJSON, Read: readSlow, Calls: calls(kWrite, 90<<10, 2<<10, kText, 10<<10, 1<<10, kFlush, 30<<10, 700, kWrite, 5, 5, kHead, 100, 100)},
		{Format: FormatODataJSON, Read: readFast, Calls: calls(kJSON, 10<<10, 1<<10, kText, 1<<10, 100, kWrite, 80<<10, 4<<10)},
	}
	got := s.run(t, reading)
	for i, b := range reading {
		for k, a := range got[i] {
			if b.held(b.Calls[k]) || b.Calls[k].Kind == kPanic || b.Calls[k].Kind == kLinger {
				// 503: the other batches hold the room; a panic after
				// the part began is a part cut short; a late write may
				// come before the call ends (run checked them).
				continue
			}
			if c := b.Calls[k]; a.Status != c.status || !c.ours && !bytes.Equal(a.Body, c.want) {
				t.Errorf("%s: call %s got %d with %d bytes, want %d with %d", b, c.id, a.Status, len(a.Body), c.status, len(c.want))
			}
		}
	}
	if used := h.shared.used.Load(); used > total {
		t.Errorf("the budget holds %d bytes, over its %d", used, total)
	}
	open()
	readRaw(t, stalled, wants)
	readRaw(t, greedy, greedyWants)
}

// heapPattern is what heapInner writes from: calls that allocate nothing
// of their own for their bodies, so that the heap their batches hold is
// the Handler's.
var heapPattern = bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB

// heapInner serves /SIZE/CHUNK/FIELDS/CT: SIZE bytes of heapPattern in
// CHUNK-byte writes, after FIELDS header fields of 1 KiB each, with
// Content-Type CT ("bin" application/octet-stream, "ctl" text/plain with
// control characters, "trailer" as "bin" with the fields FIELDS values
// of Trailer); returned counts the calls that returned.
func heapInner(returned *atomic.Int64) http.Handler {
	field := strings.Repeat("v", 1<<10)
	ctl := bytes.Repeat([]byte{1}, len(heapPattern))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer returned.Add(1)
		var size, chunk, fields int
		var ct string
		fmt.Sscanf(r.URL.Path, "/%d/%d/%d/%s", &size, &chunk, &fields, &ct)
		src := heapPattern
		w.Header().Set("Content-Type", "application/octet-stream")
		if ct == "ctl" {
			src = ctl
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
		for i := range fields {
			// Each call's own values, as a proxy's copied from its
			// upstream.
			if ct == "trailer" {
				// Values of a field no part carries.
				w.Header()["Trailer"] = append(w.Header()["Trailer"], strings.Clone(field))
				continue
			}
			w.Header()["X-Field-"+strconv.Itoa(i)] = []string{strings.Clone(field)}
		}
		for size > 0 {
			n := min(size, chunk, len(src))
			if _, err := w.Write(src[:n]); err != nil {
				return
			}
			size -= n
		}
	})
}

// heapLoad is a load of stalled batches for stalledHeap: n batches of
// calls calls, whose clients never read, the first streaming 256 KiB (its
// part stuck in the socket buffers), the others answering size bytes in
// chunk-byte writes after fields header fields of 1 KiB, of content type
// ct (see heapInner), in a batch of format.
type heapLoad struct {
	n, calls, size, chunk, fields int
	ct                            string
	format                        Format
	headToo                       bool // the first call answers as the others
}

// stalledHeap serves load with a Handler of opts and returns how much the
// heap grew (HeapInuse after a GC, against the same before the batches
// came) once the batches are stalled and hold all they can, and what of
// the Handler's budget they hold then.
func stalledHeap(t *testing.T, opts HandlerOptions, load heapLoad) (grew int64, used int64) {
	t.Helper()
	var returned atomic.Int64
	h := NewHandlerOptions(heapInner(&returned), opts)
	srv := sharedServer(h)
	defer srv.Close() // after the connections close
	addr := srv.Listener.Addr().String()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	target := func(k int) string {
		if k == 0 && !load.headToo {
			return fmt.Sprintf("/%d/%d/0/bin", len(heapPattern), len(heapPattern))
		}
		return fmt.Sprintf("/%d/%d/%d/%s", load.size, load.chunk, load.fields, load.ct)
	}
	bodies := make([]string, load.n)
	for i := range bodies {
		var reqs, parts []string
		for k := range load.calls {
			reqs = append(reqs, fmt.Sprintf(`{"id":"%d","method":"GET","url":%q}`, k, target(k)))
			parts = append(parts, part(strconv.Itoa(k), "GET "+target(k)+" HTTP/1.1\r\n"))
		}
		bodies[i] = batchBody(parts...)
		if load.format != FormatMultipart {
			bodies[i] = `{"requests":[` + strings.Join(reqs, ",") + `]}`
		}
	}
	var before, after runtime.MemStats
	// Twice: what sync.Pools hold (an earlier Handler's batch states)
	// survives one collection.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, body := range bodies {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		ct, hdr := "multipart/mixed; boundary=b", ""
		switch load.format {
		case FormatODataJSON:
			ct, hdr = "application/json", "OData-Version: 4.01\r\nPrefer: odata.continue-on-error\r\n"
		case FormatGraphJSON:
			ct = "application/json"
		}
		if _, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n%sContent-Length: %d\r\n\r\n%s", addr, ct, hdr, len(body), body); err != nil {
			t.Fatal(err)
		}
	}
	// Stalled: nothing returns, nothing more is taken, for 200 ms.
	last, lastUsed, since := int64(-1), int64(-1), time.Now()
	for time.Since(since) < 200*time.Millisecond {
		time.Sleep(10 * time.Millisecond)
		if r, u := returned.Load(), h.shared.used.Load(); r != last || u != lastUsed {
			last, lastUsed, since = r, u, time.Now()
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	return int64(after.HeapInuse) - int64(before.HeapInuse), h.shared.used.Load()
}

// What the Handler holds for stalled batches, measured: the heap grows by
// the responses MaxTotalBufferedBytes counts, and a slack for each batch
// that does not grow with them: the batch's reader of its request (a 64
// KiB buffer, multipart only) and writer of its response (32 KiB), the
// records of its calls, net/http's buffers for the connection. With 8
// batches of 16 calls answering 64 KiB each (written 4 KiB at a time)
// against a budget of 2 MiB (where their own budgets of 1 MiB would have
// let them hold 7.5 MiB), the heap grew by 3.3 to 3.8 MiB in multipart,
// 2.9 to 3.1 MiB in Graph JSON (amd64, Go 1.26): 100 to 210 KiB a batch
// past the budget. The bound is the budget and 256 KiB a batch.
func TestBudgetAttackHeapWithinBudget(t *testing.T) {
	const (
		batches, calls = 8, 16
		total          = 2 << 20
		slackPerBatch  = 256 << 10
	)
	opts := HandlerOptions{MaxBufferedBytes: 1 << 20, MaxTotalBufferedBytes: total, Concurrency: calls, Logger: discardSlog()}
	for _, f := range []Format{FormatMultipart, FormatGraphJSON} {
		grew, used := stalledHeap(t, opts, heapLoad{n: batches, calls: calls, size: 64 << 10, chunk: 4 << 10, ct: "bin", format: f})
		t.Logf("format %d: %d stalled batches hold %d bytes of the budget; the heap grew by %d bytes", f, batches, used, grew)
		// All of it but for less than a write: the heads of their
		// calls take part of it.
		if used <= total-4<<10 || used > total {
			t.Errorf("format %d: the stalled batches hold %d bytes of the budget, want all %d but for less than a 4 KiB write", f, used, total)
		}
		if grew > total+batches*slackPerBatch {
			t.Errorf("format %d: the heap grew by %d bytes for %d stalled batches, over the budget %d and %d bytes a batch", f, grew, batches, total, slackPerBatch)
		}
	}
}

// The header fields of the responses a batch holds count against the
// budgets as their bodies do. An inner handler that sets 60 KiB of fields
// on each call (as one that echoes its request's head, or a proxy copying
// its upstream's, may) made 8 stalled batches of 100 such calls grow the
// heap by 56 MB, whatever the budgets of 2 MiB said: 7 MB a batch, as if
// there were none. Now the heads held take room as bodies do, and the
// heap grows by the budget, the slack of each batch that
// TestBudgetAttackHeapWithinBudget measures, and the heads of the calls
// that wait for room to hold them, a handler's working memory until they
// can be counted: Concurrency of them a batch, each bounded by the 64 KiB
// a part's head may take on the wire (taken at headSlack, what 60 fields of
// 1 KiB take in memory, rounded up). Measured after: 3.5 to 4.5 MiB
// (amd64, Go 1.26).
// The calls fix their heads in each of the three ways: by returning
// (no body), by writing (1 KiB of body), and with the heads of the JSON
// batch's response objects.
func TestBudgetAttackHeapHeadersWithinBudget(t *testing.T) {
	const (
		batches, calls, conc = 8, 100, 4
		total                = 2 << 20
		slackPerBatch        = 256 << 10
		headSlack            = 96 << 10
		bound                = total + batches*(slackPerBatch+conc*headSlack)
	)
	// MaxCalls: a Graph JSON batch takes 20 calls by default.
	opts := HandlerOptions{MaxBufferedBytes: 1 << 20, MaxTotalBufferedBytes: total, Concurrency: conc, MaxCalls: calls, Logger: discardSlog()}
	for _, tc := range []struct {
		size   int
		format Format
	}{
		{0, FormatMultipart},
		{1 << 10, FormatMultipart},
		{0, FormatGraphJSON},
	} {
		grew, used := stalledHeap(t, opts, heapLoad{n: batches, calls: calls, size: tc.size, chunk: 1 << 10, fields: 60, ct: "bin", format: tc.format})
		t.Logf("format %d, %d body bytes: %d stalled batches hold %d bytes of the budget; the heap grew by %d bytes", tc.format, tc.size, batches, used, grew)
		if used > total {
			t.Errorf("format %d, %d body bytes: the stalled batches hold %d bytes of the budget, over its %d", tc.format, tc.size, used, total)
		}
		if grew > bound {
			t.Errorf("format %d, %d body bytes: the heap grew by %d bytes for %d stalled batches of %d calls with 60 KiB of header fields each, over %d: the budget %d, %d bytes a batch and %d for each of the %d calls a batch runs at once",
				tc.format, tc.size, grew, batches, calls, bound, total, slackPerBatch, headSlack, conc)
		}
	}
}

// The fields a part does not carry (Trailer, Transfer-Encoding,
// Content-Length) take memory as the others do, and a head is held whole:
// an inner handler that set a MiB of Trailer values on each call, a head
// within the limits of those a part carries, made the calls that waited
// for room to hold their heads (and the head of the order) hold a MiB
// each uncounted, where the bound of TestBudgetAttackHeapHeadersWithinBudget
// says 96 KiB: 2 stalled batches of 16 such calls, with Concurrency 8,
// grew the heap by 15.3 to 15.5 MB, over the bound of 4 MiB. Now such a
// head is over the limits of a head (its memory over maxHeadMem) and
// answers 502 as its handler returns, its fields dropped: the heap grows
// by 0.3 to 0.6 MB (amd64, Go 1.26).
func TestBudgetAttackHeapUnwrittenFieldsWithinBudget(t *testing.T) {
	const (
		batches, calls, conc = 2, 16, 8
		total                = 2 << 20
		slackPerBatch        = 256 << 10
		headSlack            = 96 << 10
		bound                = total + batches*(slackPerBatch+conc*headSlack)
	)
	opts := HandlerOptions{MaxBufferedBytes: 1 << 20, MaxTotalBufferedBytes: total, Concurrency: conc, Logger: discardSlog()}
	grew, used := stalledHeap(t, opts, heapLoad{n: batches, calls: calls, chunk: 1 << 10, fields: 1 << 10, ct: "trailer", format: FormatMultipart})
	t.Logf("%d stalled batches hold %d bytes of the budget; the heap grew by %d bytes", batches, used, grew)
	if grew > bound {
		t.Errorf("the heap grew by %d bytes for %d stalled batches of %d calls with a MiB of Trailer values each, over %d: the budget %d, %d bytes a batch and %d for each of the %d calls a batch runs at once",
			grew, batches, calls, bound, total, slackPerBatch, headSlack, conc)
	}
	// Answered as a head over the limits of those a part carries is
	// (TestHandlerHeadOverBudgetWaitsItsTurn's heads are within them);
	// 8 KiB of Trailer values are within them.
	parts, _ := serveTree(t, heapInner(new(atomic.Int64)), opts, nil, batchBody(
		part("1", "GET /0/1024/1024/trailer HTTP/1.1\r\n"), part("2", "GET /0/1024/8/trailer HTTP/1.1\r\n")))
	var got []string
	for _, p := range parts {
		got = append(got, fmt.Sprintf("%s %d", p.ContentID, p.Status))
	}
	if diff := cmp.Diff([]string{"response-1 502", "response-2 200"}, got); diff != "" {
		t.Errorf("a MiB and 8 KiB of Trailer values: parts (-want +got):\n%s", diff)
	}
}

// An empty Write holds nothing, so it needs no room: net/http answers it
// (0, nil), whatever the status. Here the budgets are past their limits by
// an error body of the Handler's own (which counts without waiting), and a
// changeset's call writes nothing but an empty string (as fmt.Fprint(w,
// "") does): its changeset must still succeed. Before, the empty Write
// asked for 0 bytes of room past the limit, found none, and failed the
// changeset with 500.
func TestBudgetAttackEmptyWriteNeedsNoRoom(t *testing.T) {
	// net/http, the oracle: an empty Write of a 204 and of a 200.
	var oracle [2]error
	std := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/204" {
			w.WriteHeader(http.StatusNoContent)
			_, oracle[0] = w.Write(nil)
			return
		}
		_, oracle[1] = w.Write(nil)
	}))
	for _, p := range []string{"/204", "/200"} {
		resp, err := http.Get(std.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	std.Close()

	const budget = 1 << 10
	var h *Handler
	done := make(chan struct{})
	var wrote [2]error
	// poll waits for cond in a handler (t.Fatal is for the test's own
	// goroutine).
	poll := func(what string, cond func() bool) {
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("waited 10 s for %s", what)
				return
			}
		}
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		full := func() bool { return h.shared.used.Load() >= budget }
		switch r.URL.Path {
		case "/head":
			<-done // the calls behind it stay buffered meanwhile
			io.WriteString(w, "head")
		case "/fill":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(bytes.Repeat([]byte("f"), budget-int(octetHead))) // its head fills the rest
		case "/panic":
			poll("the budget to fill", full)
			panic("attack: an error body of the Handler's own, past the budget")
		case "/empty":
			defer close(done)
			poll("the budget to go past its limit", func() bool { return h.shared.used.Load() > budget })
			_, wrote[1] = fmt.Fprint(w, "")
		case "/empty204":
			w.WriteHeader(http.StatusNoContent)
			_, wrote[0] = w.Write(nil)
		}
	})
	h = NewHandlerOptions(inner, HandlerOptions{Changesets: true, MaxBufferedBytes: budget, MaxTotalBufferedBytes: budget, Concurrency: 4, Logger: discardSlog()})
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Post(srv.URL, "multipart/mixed; boundary=b", strings.NewReader(batchBody(
		part("0", "GET /head HTTP/1.1\r\n"),
		part("1", "GET /fill HTTP/1.1\r\n"),
		part("2", "GET /panic HTTP/1.1\r\n"),
		changeset("cs", part("3", "GET /empty204 HTTP/1.1\r\n"), part("4", "GET /empty HTTP/1.1\r\n")),
	)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	boundary, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAttackParts(resp.Body, boundary, func(string) string { return "GET" })
	if err != nil {
		t.Fatal(err)
	}
	want := []attackAnswer{
		{ID: "0", Status: 200, Body: []byte("head")},
		{ID: "1", Status: 200, Body: bytes.Repeat([]byte("f"), budget-int(octetHead))},
		{ID: "2", Status: 500, Body: []byte("batch: the call's handler panicked\n")},
		{ID: "cs", Members: []attackAnswer{{ID: "3", Status: 204}, {ID: "4", Status: 200}}},
	}
	if diff := cmp.Diff(want, got, cmp.Transformer("text", func(b []byte) string { return string(b) })); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(oracle, wrote, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
		t.Errorf("the empty Writes returned (-net/http's +got):\n%s", diff)
	}
	srv.Close()
	checkBudgetSettled(t, h)
}

// A held response that could not fit MaxTotalBufferedBytes even if no
// other batch held anything is over the budget, not refused for a busy
// Handler: it answers 500, as past its batch's own MaxBufferedBytes, not
// 503 with a Retry-After that Client would follow in vain. Here the
// Handler's budget (16 KiB) is below the batch's (64 KiB), and no other
// batch runs: a changeset's 32 KiB response, and a 32 KiB JSON body in an
// OData JSON batch, can never fit.
func TestBudgetAttackNeverFitsIsNotBusy(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`"` + strings.Repeat("x", 32<<10) + `"`))
			return
		}
		io.WriteString(w, "small")
	})
	opts := HandlerOptions{Changesets: true, MaxBufferedBytes: 64 << 10, MaxTotalBufferedBytes: 16 << 10, Logger: discardSlog()}
	tree, _ := serveTree(t, inner, opts, nil, batchBody(
		changeset("cs", part("1", "GET /small HTTP/1.1\r\n"), part("2", "GET /big HTTP/1.1\r\n")),
		part("3", "GET /small HTTP/1.1\r\n"),
	))
	var got []string
	for _, p := range tree {
		got = append(got, fmt.Sprintf("%s %d %q", p.ContentID, p.Status, p.RetryAfter))
	}
	if diff := cmp.Diff([]string{`response-2 500 ""`, `response-3 200 ""`}, got); diff != "" {
		t.Errorf("multipart: parts (-want +got):\n%s", diff)
	}

	hdr := http.Header{"Odata-Version": {"4.01"}, "Prefer": {"odata.continue-on-error"}}
	_, entries := serveJSON(t, inner, opts, "/$batch", hdr, `{"requests":[{"id":"a","method":"GET","url":"/big"},{"id":"b","method":"GET","url":"/small"}]}`)
	got = nil
	for _, e := range entries {
		got = append(got, fmt.Sprintf("%s %d %q", e.ID, e.Status, e.Headers["retry-after"]))
	}
	if diff := cmp.Diff([]string{`a 500 ""`, `b 200 ""`}, got); diff != "" {
		t.Errorf("OData JSON: responses (-want +got):\n%s", diff)
	}
}

// The Handler's own error bodies count without waiting, as a slack past
// MaxTotalBufferedBytes that their size keeps small; but a message that
// quotes what the client sent is as large as that. A batch request whose
// Host field is 100 KiB (net/http takes a header of up to 1 MiB) and whose
// 100 calls each name another host made 100 error bodies quoting it, 10
// MiB held for a client that does not read, from a request of 110 KiB
// (1000 calls and a Host of 1 MiB: 1 GB). Each error body now quotes at
// most a few hundred bytes of it.
func TestBudgetAttackErrorBodiesStaySmall(t *testing.T) {
	const calls, maxErrorBody = 100, 1 << 10
	h := NewHandlerOptions(heapInner(new(atomic.Int64)), HandlerOptions{MaxBufferedBytes: 1 << 20, MaxTotalBufferedBytes: 2 << 20, Logger: discardSlog()})
	srv := sharedServer(h)
	defer srv.Close() // after the connection closes
	host := strings.Repeat("h", 100<<10)
	parts := []string{part("0", fmt.Sprintf("GET /%d/%[1]d/0/bin HTTP/1.1\r\n", len(heapPattern)))}
	for i := 1; i <= calls; i++ {
		parts = append(parts, part(strconv.Itoa(i), "GET / HTTP/1.1\r\nHost: elsewhere.example\r\n"))
	}
	body := batchBody(parts...)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Length: %d\r\n\r\n%s", host, len(body), body); err != nil {
		t.Fatal(err)
	}
	// The head streams, stuck: the calls behind it, all answered, hold
	// their error bodies.
	waitFor(t, "every call's error body", func() bool { return h.shared.used.Load() > 0 })
	time.Sleep(50 * time.Millisecond)
	if used := h.shared.used.Load(); used > calls*maxErrorBody {
		t.Errorf("the batch's %d error bodies hold %d bytes, over %d each", calls, used, maxErrorBody)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	boundary, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAttackParts(resp.Body, boundary, func(string) string { return "GET" })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != calls+1 {
		t.Fatalf("%d parts, want %d", len(got), calls+1)
	}
	const prefix = `batch: call to host "elsewhere.example", not the batch endpoint's "hhhh`
	for _, a := range got[1:] {
		if a.Status != http.StatusBadRequest || !strings.HasPrefix(string(a.Body), prefix) || len(a.Body) > maxErrorBody {
			t.Fatalf("call %s: %d with %d bytes %.100q, want 400 with at most %d bytes, starting %q", a.ID, a.Status, len(a.Body), a.Body, maxErrorBody, prefix)
		}
	}
	srv.Close()
	checkBudgetSettled(t, h)
}
