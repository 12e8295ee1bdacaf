package batch

import (
	"math"
	"sync"
	"sync/atomic"
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
