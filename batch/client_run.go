package batch

// Running one batch request's calls to their results: sending them,
// halving a request the server finds too large, and sending the failed
// calls again as the RetryPolicy allows.

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// A sender sends the batch requests of a Client or a Transport.
type sender struct {
	hc       *http.Client
	endpoint string
	retry    RetryPolicy
	prepare  func(*http.Request) error
	maxResp  int64
	sized    bool // send Content-Length (see requestBody)
	log      *slog.Logger
	format   Format // the wire format of the batch requests
	// halt: the server halts each request on its first failure (see
	// Batch.HaltOnError), skipping the later calls with 424.
	halt bool
	// bufs keeps the buffers of its Client's or Transport's batch
	// requests; nil keeps none.
	bufs *bufPool
}

func (s *sender) maxResponseBytes() int64 {
	if s.maxResp <= 0 {
		return DefaultMaxResponseBytes
	}
	return s.maxResp
}

// run sends calls, which one request may carry, and settles every one of
// them. It returns the failures of the batch requests that are some call's
// result.
func (s *sender) run(ctx context.Context, outer http.Header, calls []*Call) error {
	var errs []error
	for attempt := 1; len(calls) > 0; attempt++ {
		calls = unsettled(calls)
		if len(calls) == 0 {
			break
		}
		begin := time.Now()
		err := s.send(ctx, outer, calls)
		if s.log != nil {
			s.log.LogAttrs(ctx, slog.LevelDebug, "batch request", slog.String("endpoint", s.endpoint),
				slog.Int("calls", len(calls)), slog.Int("attempt", attempt),
				slog.Duration("duration", time.Since(begin)), slog.Any("err", err))
		}
		if err != nil && refusedForSize(err) && ctx.Err() == nil {
			// Send the calls again in halves, but those whose body
			// cannot be read again: the refusal is their result.
			calls = settleUnsent(calls)
			keep, drop := replayableGroups(calls)
			a, b, ok := halve(keep)
			if ok || len(drop) > 0 {
				for _, c := range drop {
					c.settle(c.aResp, c.aErr)
				}
				if len(drop) > 0 {
					errs = append(errs, err)
				}
				for _, c := range keep {
					c.attempts.Add(-1) // refused as a whole: not an attempt
				}
				if s.log != nil {
					s.log.LogAttrs(ctx, slog.LevelInfo, "batch request too large: halved",
						slog.String("endpoint", s.endpoint), slog.Int("calls", len(calls)), slog.Any("err", err))
				}
				if ok {
					errs = append(errs, s.run(ctx, outer, a), s.run(ctx, outer, b))
				} else if len(keep) > 0 {
					errs = append(errs, s.run(ctx, outer, keep))
				}
				break
			}
		}
		next, wait := s.retryable(ctx, calls)
		reported := false
		for _, c := range calls {
			if !slices.Contains(next, c) {
				c.settle(c.aResp, c.aErr)
				if c.aBatch && err != nil && !reported {
					errs = append(errs, err)
					reported = true
				}
			}
		}
		if len(next) == 0 {
			break
		}
		if s.log != nil {
			s.log.LogAttrs(ctx, slog.LevelInfo, "batch retry", slog.String("endpoint", s.endpoint),
				slog.Int("calls", len(next)), slog.Int("attempt", attempt+1), slog.Duration("after", wait))
		}
		t := time.NewTimer(wait)
		gone, stop := allDone(next)
		select {
		case <-t.C:
		case <-gone:
			// Every call's own context ended: no one waits for
			// the retry.
		case <-ctx.Done():
			t.Stop()
			stop()
			settleAll(next, ctx.Err())
			return errors.Join(append(errs, ctx.Err())...)
		}
		t.Stop()
		stop()
		calls = next
	}
	return errors.Join(errs...)
}

// allDone returns a channel closed once every call of calls has its
// result, and stop, which ends the wait for it.
func allDone(calls []*Call) (<-chan struct{}, func()) {
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		for _, c := range calls {
			select {
			case <-c.Done():
			case <-quit:
				return
			}
		}
		close(done)
	}()
	return done, sync.OnceFunc(func() { close(quit) })
}

// unsettled returns the calls without a result, keeping a changeset whole
// while any of its calls has none (its cancelled calls' answers are then
// dropped).
func unsettled(calls []*Call) []*Call {
	if !slices.ContainsFunc(calls, func(c *Call) bool { return c.settled.Load() }) {
		return calls
	}
	out := calls[:0:0]
	for i, c := range calls {
		if !c.settled.Load() || c.cs != nil && slices.ContainsFunc(calls, func(m *Call) bool { return m.cs == c.cs && !m.settled.Load() }) {
			out = append(out, calls[i])
		}
	}
	return out
}

// retryable returns the calls of the attempt just made that are to be sent
// again, in wire order, and how long to wait first. Each call counts its
// own attempts: a request halved for its size starts no count afresh.
func (s *sender) retryable(ctx context.Context, calls []*Call) ([]*Call, time.Duration) {
	p := &s.retry
	if p.MaxAttempts <= 1 || ctx.Err() != nil {
		return nil, 0
	}
	now := time.Now()
	again := make(map[*Call]bool)
	var wait time.Duration
	attempt := 0 // the most attempts of a call sent again
	eligible := func(c *Call) bool {
		return !c.settled.Load() && c.Attempts() < p.MaxAttempts && idempotent(c.req) && c.replayable()
	}
	for _, c := range calls {
		if !eligible(c) {
			continue
		}
		ok, after := p.failure(c.aResp, c.aErr, now)
		if !ok && c.aResp != nil && c.aResp.StatusCode == http.StatusFailedDependency {
			// Failed for a call it references, which goes again.
			ok = slices.ContainsFunc(c.deps, func(d *Call) bool { return again[d] })
		}
		if ok {
			again[c] = true
			wait = max(wait, after)
			attempt = max(attempt, c.Attempts())
		}
	}
	if s.halt && len(again) > 0 {
		// The server halted at a failure that goes again: the calls
		// it skipped after it (424) never ran, and go again behind
		// it, in order, up to the first that may not.
		first := slices.IndexFunc(calls, func(c *Call) bool { return again[c] })
		if slices.ContainsFunc(calls[:first], func(c *Call) bool { return c.aErr != nil || statusOf(c) >= 400 }) {
			first = len(calls) // the server halted at a failure that stands
		}
		for _, c := range calls[min(first+1, len(calls)):] {
			if again[c] || statusOf(c) != http.StatusFailedDependency {
				continue
			}
			if !eligible(c) {
				break
			}
			again[c] = true
			attempt = max(attempt, c.Attempts())
		}
	}
	// A call goes again only with the calls it references, and a
	// changeset only whole: drop what cannot, until nothing changes.
	for changed := true; changed; {
		changed = false
		for _, c := range calls {
			if !again[c] {
				continue
			}
			keep := !slices.ContainsFunc(c.deps, func(d *Call) bool { return slices.Contains(calls, d) && !again[d] })
			if keep && c.cs != nil {
				keep = !slices.ContainsFunc(calls, func(m *Call) bool { return m.cs == c.cs && !again[m] })
			}
			if !keep {
				delete(again, c)
				changed = true
			}
		}
	}
	var next []*Call
	for _, c := range calls {
		if again[c] {
			next = append(next, c)
		}
	}
	if len(next) == 0 {
		return nil, 0
	}
	return next, max(wait, p.backoff(attempt))
}

// statusOf returns the status of c's answer in the attempt just made: its
// response's, or its changeset's as a whole; 0 when it has neither.
func statusOf(c *Call) int {
	if c.aResp != nil {
		return c.aResp.StatusCode
	}
	var ce *ChangesetError
	if errors.As(c.aErr, &ce) {
		return ce.StatusCode
	}
	return 0
}

// replayable reports whether c can be sent again: it has no body, or a
// way to get it again.
func (c *Call) replayable() bool { return c.getBody != nil || c.length == 0 }

// replayableGroups splits calls (in wire order) into those that can be
// sent again, by whole changesets and chains of result references, and the
// others.
func replayableGroups(calls []*Call) (keep, drop []*Call) {
	if !slices.ContainsFunc(calls, func(c *Call) bool { return !c.replayable() }) {
		return calls, nil
	}
	out := make(map[*Call]bool)
	for _, g := range groupCalls(calls) {
		if slices.ContainsFunc(g, func(c *Call) bool { return !c.replayable() }) {
			for _, c := range g {
				out[c] = true
			}
		}
	}
	for _, c := range calls {
		if out[c] {
			drop = append(drop, c)
		} else {
			keep = append(keep, c)
		}
	}
	return keep, drop
}

// settleUnsent settles each call of calls that its attempt did not send,
// with its own error (see prepareCalls, skippedCalls), and returns the
// others. A batch request refused for its size says nothing of such a
// call: sending it again in a half would fail it again, at the cost of
// another PrepareCall, and take one more attempt off its count.
func settleUnsent(calls []*Call) []*Call {
	if !slices.ContainsFunc(calls, func(c *Call) bool { return c.unsent }) {
		return calls
	}
	rest := make([]*Call, 0, len(calls))
	for _, c := range calls {
		if c.unsent {
			c.settle(c.aResp, c.aErr)
		} else {
			rest = append(rest, c)
		}
	}
	return rest
}

// refusedForSize reports a batch request refused as a whole for its size:
// 413, or a 400 that says so: Google's "too many requests in a batch",
// Graph's "exceeds the maximum", this package's Handler's "more than N calls
// in one batch". Halving a 400 that meant something else costs a few
// requests, each refused the same way down to one call, which then has it
// as its result.
func refusedForSize(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	if se.StatusCode == http.StatusRequestEntityTooLarge {
		return true
	}
	if se.StatusCode != http.StatusBadRequest {
		return false
	}
	b := strings.ToLower(se.Body)
	return strings.Contains(b, "too many") || strings.Contains(b, "exceed") ||
		strings.Contains(b, "more than") || strings.Contains(b, "maximum")
}

// halve splits calls into two requests of about half the calls each,
// keeping changesets and calls linked by result references together and in
// wire order; ok is false when they are one such group.
func halve(calls []*Call) (a, b []*Call, ok bool) {
	groups := groupCalls(calls)
	if len(groups) < 2 {
		return nil, nil, false
	}
	in := make(map[*Call]bool)
	n := 0
	for i, g := range groups {
		if i > 0 && 2*(n+len(g)) > len(calls) {
			break
		}
		for _, c := range g {
			in[c] = true
		}
		n += len(g)
	}
	for _, c := range calls {
		if in[c] {
			a = append(a, c)
		} else {
			b = append(b, c)
		}
	}
	return a, b, true
}

// groupCalls returns calls (in wire order) grouped by changeset and result
// references, the groups in the order of their first call.
func groupCalls(calls []*Call) [][]*Call {
	parent := make(map[*Call]*Call, len(calls))
	find := func(c *Call) *Call {
		for parent[c] != c {
			c = parent[c]
		}
		return c
	}
	first := make(map[*Changeset]*Call)
	for _, c := range calls {
		parent[c] = c
		if c.cs != nil {
			if f := first[c.cs]; f != nil {
				parent[find(c)] = find(f)
			} else {
				first[c.cs] = c
			}
		}
		for _, d := range c.deps {
			if _, ok := parent[d]; ok {
				parent[find(c)] = find(d)
			}
		}
	}
	var groups [][]*Call
	at := make(map[*Call]int)
	for _, c := range calls {
		r := find(c)
		k, ok := at[r]
		if !ok {
			k = len(groups)
			at[r] = k
			groups = append(groups, nil)
		}
		groups[k] = append(groups[k], c)
	}
	return groups
}
