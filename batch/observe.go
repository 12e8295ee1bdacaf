package batch

// What a Client and a Handler report about each call, for metrics and
// traces, without this module depending on any of them.

import "time"

// CallInfo describes one finished call, for [Client].OnCall,
// [Transport].OnCall and [HandlerOptions].OnCall.
type CallInfo struct {
	// ID is the call's id (its Content-ID without angle brackets).
	ID string
	// Method and Target are its request's method and target (path and
	// query).
	Method, Target string
	// Status is the status of its response, 0 if it has none.
	Status int
	// Err is why it has no response, for a Client; nil for a Handler.
	Err error
	// Duration is the time from the start of the Do (on a Client) or of
	// the call (on a Handler) to its result.
	Duration time.Duration
	// Attempts is how many times the call was sent (always 1 on a
	// Handler).
	Attempts int
	// Bytes is the size of its response body.
	Bytes int64
}
