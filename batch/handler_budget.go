package batch

import (
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mixedcodec/mixed"
)

// totalBufferedPerBatch is how many batches' MaxBufferedBytes a Handler's
// MaxTotalBufferedBytes is by default.
const totalBufferedPerBatch = 8

// defaultTotalBuffered is MaxTotalBufferedBytes's default for a batch
// budget of perBatch bytes: totalBufferedPerBatch times it, or the largest
// int64 where that would overflow.
func defaultTotalBuffered(perBatch int64) int64 {
	if perBatch > math.MaxInt64/totalBufferedPerBatch {
		return math.MaxInt64
	}
	return perBatch * totalBufferedPerBatch
}

// A sharedBudget is a Handler's MaxTotalBufferedBytes: the response bytes
// (and decoded results of references) that all the batches it serves at
// once hold together. Each batch's output takes from it what it takes
// from its own budget, and gives it back with it.
//
// Waiting. A call's Write that finds no room here waits on its batch's
// output.cond, as it does for its batch's own budget; the pool wakes it
// when another batch gives room back. It must do so without a lost
// wake-up and without a cycle of locks, which two rules give:
//
//   - Lock order: one output's mu (never two), then sharedBudget.mu.
//     A release runs with the releasing batch's o.mu held; it only gives
//     the bytes back and notes whether anyone waits. The waking is done
//     by output.unlock once that o.mu is let go: it takes mu to take the
//     list of waiting outputs, lets mu go, and then takes each waiting
//     output's mu alone, to broadcast its cond.
//   - No lost wake-up: a writer that finds no room enlists its output
//     (under mu, its o.mu held), then looks at the room again, and holds
//     its o.mu from that look until cond.Wait has queued it. A releaser
//     gives the bytes back (used), then looks at waiting. Go's atomics
//     are sequentially consistent: of the writer's store of waiting then
//     load of used, and the releaser's store of used then load of
//     waiting, one sees the other's store. Either the writer sees the
//     room and takes it, or the releaser sees the writer enlisted and
//     wakes it, which it can do only by taking the writer's o.mu: once
//     the writer waits. (An output found enlisted already stores
//     nothing: waiting has been above 0 since it was enlisted, for only
//     a wake, which takes it off the list, stores 0; and that wake has
//     yet to take its o.mu.)
//
// An enlisted output stays on the list until a wake takes the list; a
// wake may find it no longer waiting (its call ended, its head moved, or
// it serves another batch by then), and its broadcast is then spurious,
// which every waiter allows for by looking again.
type sharedBudget struct {
	limit int64
	used  atomic.Int64 // bytes held by the batches together
	peak  atomic.Int64 // the most used at once, for the tests' bound
	// waiting is len(waiters), read without mu by releasers.
	waiting atomic.Int32

	mu      sync.Mutex
	waiters []*output // outputs with a call waiting for room; each once (output.enlisted)
}

// tryTake takes n bytes if they fit, and reports whether they did.
func (b *sharedBudget) tryTake(n int64) bool {
	for {
		u := b.used.Load()
		if n > b.limit-u {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			b.notePeak(u + n)
			return true
		}
	}
}

// take is tryTake, but an output o that finds no room is enlisted to be
// woken by the next release; o.mu is held, and held on until o waits (see
// sharedBudget).
func (b *sharedBudget) take(n int64, o *output) bool {
	if b.tryTake(n) {
		return true
	}
	b.mu.Lock()
	if !o.enlisted {
		o.enlisted = true
		b.waiters = append(b.waiters, o)
		b.waiting.Store(int32(len(b.waiters)))
	}
	b.mu.Unlock()
	// Again, now that a release would see o enlisted: one that gave its
	// bytes back before may have looked before o was.
	return b.tryTake(n)
}

// force takes n bytes whether they fit or not: for the Handler's own error
// responses, which never wait.
func (b *sharedBudget) force(n int64) {
	b.notePeak(b.used.Add(n))
}

// give returns n bytes, and reports whether an output waits for room: then
// the caller must call wake, once it holds no output's mu.
func (b *sharedBudget) give(n int64) bool {
	b.used.Add(-n)
	return b.waiting.Load() > 0
}

// wake wakes the calls of every enlisted output, which look for room
// again (and enlist again if they find none). No output's mu may be held.
func (b *sharedBudget) wake() {
	b.mu.Lock()
	ws := b.waiters
	b.waiters = nil // a wake-up allocates, once per waiting episode
	for _, o := range ws {
		o.enlisted = false
	}
	b.waiting.Store(0)
	b.mu.Unlock()
	for _, o := range ws {
		o.mu.Lock()
		o.cond.Broadcast()
		o.mu.Unlock()
	}
}

// giveWake returns n bytes and wakes the waiters, if any; no output's mu
// may be held.
func (b *sharedBudget) giveWake(n int64) {
	if n != 0 && b.give(n) {
		b.wake()
	}
}

func (b *sharedBudget) notePeak(u int64) {
	for p := b.peak.Load(); u > p && !b.peak.CompareAndSwap(p, u); p = b.peak.Load() {
	}
}

// A headMeasure is what the header fields of a response take: as
// writePart writes them, for the limits of a head (fields, and wire
// bytes with the blank line), and in memory, for the budgets (mem).
type headMeasure struct {
	fields, wire int
	mem          int64
}

// The parts of the memory a response's header fields hold, as measureHead
// counts them.
const (
	// headMapMem: a map with fields, its header and first group of 8
	// slots (48 and 352 bytes in Go's swiss tables; 48 and a bucket of
	// 352 in the maps before them).
	headMapMem = 400
	// headKeyMem: a field name's slot in a larger table, 41 bytes at
	// its lowest load (7/16, just after the table doubled), 94 bytes,
	// and the size class of the table's groups.
	headKeyMem = 128
	// headValueMem: a value's string header in its name's []string,
	// twice over for the capacity Add's append may have doubled, and
	// the slice's size class.
	headValueMem = 40
)

// maxHeadMem is the most memory, as measureHead bounds it, that the
// fields of a response's head may take. A head within the limits of those
// a part carries (mixed.DefaultMaxHeaderFields fields,
// mixed.DefaultMaxHeaderBytes on the wire) takes at most 102 KB: 400, 200
// for each of 100 fields, and their 64 KiB of text and a quarter. The
// rest is room for the fields that no part carries, which those limits do
// not see (Trailer, Transfer-Encoding, Content-Length): a handler may set
// any number of them, and the heads a batch holds uncounted (see
// holdHead) would hold them unbounded.
const maxHeadMem = 128 << 10

// stringMem bounds what a string of n bytes takes on the heap: an
// allocation of its own, rounded up to Go's size classes, which waste at
// most a quarter of the size and 16 bytes (33 bytes take 48, 32769 take
// 40960).
func stringMem(n int) int64 {
	return int64(n + n/4 + 16)
}

// maxSniffed is the length of the longest value http.DetectContentType
// returns ("application/vnd.ms-fontobject", "text/plain; charset=utf-16be":
// 29 and 28), rounded up; TestMaxSniffed checks it.
const maxSniffed = 32

// measure measures the fields of the part of rw: its header fields, and
// the Content-Type sniffed for it while they have none (see
// response.sniffed), counted as if it were among them (the string itself
// is one of http.DetectContentType's constants: an upper bound). o.mu is
// held, or the call is over.
func (rw *response) measure() headMeasure {
	return rw.measureSniffing(nil)
}

// measureSniffing is measure; with sniff, the bytes of the first Write
// of rw, it first sniffs them for rw.sniffed, as net/http sniffs the
// first write of a handler that set no Content-Type (and did not delete
// it with a nil value): one look at the fields for both.
func (rw *response) measureSniffing(sniff []byte) headMeasure {
	m, ctSet := measureFields(rw.h)
	if ctSet {
		return m
	}
	if sniff != nil {
		rw.sniffed = http.DetectContentType(sniff)
	}
	if rw.sniffed != "" { // rw.sniffedType(), without a lookup
		if len(rw.h) == 0 {
			m.mem += headMapMem
		}
		// At the longest DetectContentType gives: fieldsOf may sniff
		// another from more of the body.
		m.mem += headKeyMem + stringMem(len("Content-Type")) + headValueMem + stringMem(maxSniffed)
		m.fields++
		m.wire += len("Content-Type") + maxSniffed + 4
	}
	return m
}

// measureHead measures the header fields h of a response. Its mem is what
// the head counts in the budgets: an upper bound on the memory the fields
// hold, which the budgets bound, not their size on the wire, which is
// smaller (a field's bytes and 4; the status line, which is in the call's
// record as an int, aside): every name and value is taken for an
// allocation of its own (the handler's, as a proxy's copies of its
// upstream's fields are), in a map (see headMapMem). A map without fields
// costs nothing: it is made with the call's record, which MaxCalls bounds.
// Measured (TestMeasureHeadBoundsMemory, Go 1.26, amd64): 406 bytes for a
// Content-Type (mem: 635), 68.8 KB for 60 fields of 1 KiB (mem: 89.9 KB),
// 7.9 KB for 100 fields of a byte (mem: 21 KB). Not in it: the slots of
// fields a handler deleted (a map does not shrink), and the copy Header
// makes for a handler that asks for it once the head is fixed, dropped as
// the handler returns (see response.end): a handler's working memory
// while it runs, as its own allocations are.
func measureHead(h http.Header) headMeasure {
	m, _ := measureFields(h)
	return m
}

// measureFields is measureHead, and reports whether h has a Content-Type
// field (set, if to nil), which measure asks too: one look at h for both.
func measureFields(h http.Header) (m headMeasure, ctSet bool) {
	m.wire = 2
	if len(h) == 0 {
		return m, false
	}
	m.mem = headMapMem
	if s, ok := probeHead(h); ok {
		if s.hasCT {
			m.add("Content-Type", s.ct)
		}
		if s.hasCL {
			m.add("Content-Length", s.cl)
		}
		ctSet = s.hasCT
	} else {
		for k, vv := range h {
			m.add(k, vv)
		}
		_, ctSet = h["Content-Type"]
	}
	if m.wire > mixed.DefaultMaxHeaderBytes {
		// Over the limit as set: again as written, values trimmed (a
		// look at every byte of them, for heads this large only).
		m.wire = 2
		for k, vv := range h {
			if k != "Transfer-Encoding" && k != "Trailer" && k != "Content-Length" {
				for _, v := range vv {
					m.wire += len(k) + len(trimOWS(v)) + 4
				}
			}
		}
	}
	return m, ctSet
}

// trimOWS is v without the spaces and tabs around it, as net/http writes
// a field's value: strings.Trim, for a value that has any.
func trimOWS(v string) string {
	if len(v) == 0 || v[0] != ' ' && v[0] != '\t' && v[len(v)-1] != ' ' && v[len(v)-1] != '\t' {
		return v
	}
	return strings.Trim(v, " \t")
}

// add counts the field k with values vv, as measureHead says.
func (m *headMeasure) add(k string, vv []string) {
	m.mem += headKeyMem + stringMem(len(k))
	// Those fieldsOf leaves out are not written.
	written := k != "Transfer-Encoding" && k != "Trailer" && k != "Content-Length"
	for _, v := range vv {
		m.mem += headValueMem + stringMem(len(v))
		if written {
			m.fields++
			m.wire += len(k) + len(v) + 4
		}
	}
}

// A probedHead is what probeHead found of a head whose only fields are
// Content-Type and Content-Length, or one of them (the fields a handler's
// head most often holds alone; Content-Type, most heads): their values,
// and whether the head has them (set, if to nil).
type probedHead struct {
	ct, cl       []string
	hasCT, hasCL bool
}

// probeHead finds the fields of h by looking up Content-Type and
// Content-Length, and reports whether those are all its fields; when
// they are not, s is to be ignored, and h ranged over. The batch looks at
// a response's fields two or three times (measureHead as the head is
// fixed and as its handler returns, fieldsOf as its part is written), and
// ranging over a map costs an iterator, a random starting point and a
// step for each field and one more: about 250 instructions for a map of
// one field, where a lookup in a map that small hashes the name and
// compares a slot or two (about 70; callgrind, Go 1.26, amd64). A head of
// one or two fields that holds another name costs a lookup or two more.
func probeHead(h http.Header) (s probedHead, ok bool) {
	n := len(h)
	switch {
	case n == 0:
		return s, true
	case n > 2:
		return s, false
	}
	if s.ct, s.hasCT = h["Content-Type"]; s.hasCT {
		n--
	}
	switch n {
	case 0:
		return s, true
	case 1:
		s.cl, s.hasCL = h["Content-Length"]
		return s, s.hasCL
	}
	return s, false
}
