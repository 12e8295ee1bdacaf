package batch

import "time"

// Defaults of the [Handler] (see [HandlerOptions]), the [Client] and the
// [Transport]: what a zero field selects.
const (
	// DefaultMaxCalls is the most calls of one batch request: Google's
	// limit. The Handler refuses more; the Client splits at it.
	DefaultMaxCalls = 1000
	// DefaultMaxBodyBytes bounds a batch request body the Handler reads.
	DefaultMaxBodyBytes = 64 << 20
	// DefaultMaxPartBytes bounds one part the Handler reads.
	DefaultMaxPartBytes = 16 << 20
	// DefaultMaxBufferedBytes bounds the responses a batch holds.
	DefaultMaxBufferedBytes = 32 << 20
	// DefaultMaxTotalBufferedBytes bounds the responses all the batches
	// of a Handler hold together, when MaxBufferedBytes is at its
	// default too: MaxTotalBufferedBytes's default is 8 ×
	// MaxBufferedBytes, whatever that is.
	DefaultMaxTotalBufferedBytes = totalBufferedPerBatch * DefaultMaxBufferedBytes
	// DefaultMaxEpilogueBytes bounds what may follow a batch's close
	// delimiter.
	DefaultMaxEpilogueBytes = 64 << 10

	// DefaultConcurrency is how many batch requests of one Client.Do are
	// in flight at once.
	DefaultConcurrency = 4
	// DefaultMaxResponseBytes bounds the body of one call's response that
	// a Client or Transport reads.
	DefaultMaxResponseBytes = 64 << 20

	// DefaultWindow is how long a Transport waits for more calls before
	// it sends a batch.
	DefaultWindow = 5 * time.Millisecond
	// DefaultMaxBatchedBodyBytes is the largest request body a Transport
	// puts into a batch; larger requests go on their own.
	DefaultMaxBatchedBodyBytes = 256 << 10
	// DefaultMaxInFlight is how many batches a Transport has pending or in
	// flight at once.
	DefaultMaxInFlight = 4
)
