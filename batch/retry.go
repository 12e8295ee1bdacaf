package batch

// Retrying the calls that failed, alone, in new batch requests.

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// defaultRetryStatuses are the statuses a RetryPolicy with nil Statuses
// retries: 429 Too Many Requests, and the 5xx that say "try again".
var defaultRetryStatuses = [...]int{
	http.StatusTooManyRequests,
	http.StatusInternalServerError,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
}

// Defaults of a [RetryPolicy]'s backoff.
const (
	// DefaultBaseBackoff is the backoff before the first retry.
	DefaultBaseBackoff = 100 * time.Millisecond
	// DefaultMaxBackoff bounds a backoff, and the Retry-After a retry
	// waits for.
	DefaultMaxBackoff = 10 * time.Second
)

// A RetryPolicy says which failed calls a [Client] or [Transport] sends
// again, and when. Its zero value retries nothing.
//
// A call is retried when its response has one of Statuses, when its
// changeset was answered as a whole with one of them, when its batch
// request failed (a transport error, or one of Statuses for the whole
// request), or when the batch response did not answer it
// ([ErrNoResponse], [ErrResponseMismatch]); and only if its method is
// idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) or its request
// carries an Idempotency-Key or X-Idempotency-Key field (the call opts in,
// as net/http's Transport reads these fields), and its body can be read
// again (no body, or GetBody set, as http.NewRequest sets it for in-memory
// bodies). The failed calls of a request are sent again together, in a new
// batch request, after a backoff: a random time up to BaseBackoff×2ⁿ⁻¹
// for the n-th retry, at most MaxBackoff ("full jitter"), or the
// Retry-After the responses ask for when it is longer. A call whose
// Retry-After exceeds MaxBackoff is not retried: its response stands. A
// call's result is its last attempt's.
//
// A changeset is retried whole, when all its calls may be; a call that
// references another call's result is retried only together with it (a
// server resolves references within one request), so a call whose
// referenced call succeeded keeps its failure.
type RetryPolicy struct {
	// MaxAttempts is the most times a call is sent, the first time
	// included; 0 or 1 means no retries.
	MaxAttempts int
	// Statuses are the response statuses retried; nil means 429, 500,
	// 502, 503 and 504.
	Statuses []int
	// BaseBackoff is the backoff before the first retry (default
	// DefaultBaseBackoff); it doubles with each retry.
	BaseBackoff time.Duration
	// MaxBackoff bounds each backoff, and the Retry-After the client
	// waits for (default DefaultMaxBackoff).
	MaxBackoff time.Duration
}

func (p *RetryPolicy) retries(status int) bool {
	if p.Statuses == nil {
		return slices.Contains(defaultRetryStatuses[:], status)
	}
	return slices.Contains(p.Statuses, status)
}

func (p *RetryPolicy) maxBackoff() time.Duration {
	if p.MaxBackoff <= 0 {
		return DefaultMaxBackoff
	}
	return p.MaxBackoff
}

// backoff returns the wait before the retry that follows attempt n (1 for
// the first attempt): full jitter over an exponential bound.
func (p *RetryPolicy) backoff(n int) time.Duration {
	base := p.BaseBackoff
	if base <= 0 {
		base = DefaultBaseBackoff
	}
	limit := p.maxBackoff()
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// idempotent reports whether a request may be sent twice: its method is
// idempotent, or it carries an idempotency key (as net/http's Transport
// reads it).
func idempotent(r *http.Request) bool {
	switch r.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	if _, ok := r.Header["Idempotency-Key"]; ok {
		return true
	}
	_, ok := r.Header["X-Idempotency-Key"]
	return ok
}

// parseRetryAfter reads a Retry-After value: whole seconds, fractional
// seconds (as Microsoft Graph sends them) or an HTTP date, relative to now.
// A date in the past is no wait.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if c := v[0]; c >= '0' && c <= '9' {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1e9 {
			return 0, false
		}
		return time.Duration(f * float64(time.Second)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// retryAfter returns the Retry-After of header h, if it has a valid one.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if h == nil {
		return 0, false
	}
	return parseRetryAfter(h.Get("Retry-After"), now)
}

// failure classifies a call's attempt for retrying: whether it may be
// retried at all, and the Retry-After it asks for.
func (p *RetryPolicy) failure(resp *http.Response, err error, now time.Time) (retry bool, after time.Duration) {
	var h http.Header
	switch {
	case err == nil && resp != nil:
		if !p.retries(resp.StatusCode) {
			return false, 0
		}
		h = resp.Header
	case err == nil:
		return false, 0
	default:
		var se *StatusError
		var ce *ChangesetError
		var te *transportError
		switch {
		case errors.As(err, &ce):
			if !p.retries(ce.StatusCode) {
				return false, 0
			}
			if ce.Response != nil {
				h = ce.Response.Header
			}
		case errors.As(err, &se):
			if !p.retries(se.StatusCode) {
				return false, 0
			}
			h = se.Header
		case errors.As(err, &te), errors.Is(err, ErrNoResponse), errors.Is(err, ErrResponseMismatch):
		default:
			return false, 0
		}
	}
	after, _ = retryAfter(h, now)
	if after > p.maxBackoff() {
		return false, 0
	}
	return true, after
}

// A transportError is the failure of a batch request to get any response:
// its calls may be retried.
type transportError struct{ err error }

func (e *transportError) Error() string { return "batch: request failed: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }
