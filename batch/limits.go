package batch

// Per-service limits of one batch request, and splitting a batch by bytes
// as well as by calls.

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/mixedcodec/mixed/internal/requri"
)

// Limits bound one batch request: the most calls, and the most bytes of
// its body. A zero field means the default: DefaultMaxCalls calls, and no
// bound on bytes.
//
// The named profiles ([LimitsGoogle], [LimitsAzureBlob]...) return the
// limits the services publish.
type Limits struct {
	// MaxCalls is the most calls in one request; each call of a
	// changeset counts.
	MaxCalls int
	// MaxBodyBytes is the most bytes of one request's body (its parts and
	// their framing), what HandlerOptions.MaxBodyBytes bounds on the
	// server. The client counts each call's bytes from its
	// request line, fields, Content-Length and framing, rounding up.
	// When it is set, each request's body is built in memory (it is at
	// most this large) and sent with its Content-Length, which services
	// with a byte limit may require (Azure Blob batch does); when it is
	// not, the body streams, chunked. A call's body of unknown length
	// (no ContentLength) is read to measure it, through GetBody, or into
	// memory once without it, never past this many bytes: a longer one
	// fails its call with ErrCallTooLarge.
	MaxBodyBytes int64
}

// The named limits of services that publish them, as functions so that no
// program can change a profile for every other user of the package: use
// them as c.Limits = batch.LimitsAzureBlob().

// LimitsGoogle is Google's batch endpoints' limit: 1000 calls.
func LimitsGoogle() Limits { return Limits{MaxCalls: 1000} }

// LimitsGmail is the Gmail API's: 100 calls.
func LimitsGmail() Limits { return Limits{MaxCalls: 100} }

// LimitsDrive is the Drive API's: 100 calls.
func LimitsDrive() Limits { return Limits{MaxCalls: 100} }

// LimitsCalendar is the Calendar API's: 50 calls.
func LimitsCalendar() Limits { return Limits{MaxCalls: 50} }

// LimitsAzureBlob is Azure Blob Storage's batch: 256 sub-requests and 4 MiB.
func LimitsAzureBlob() Limits { return Limits{MaxCalls: 256, MaxBodyBytes: 4 << 20} }

// LimitsAzureTable is Azure Table Storage's batch: 100 operations and 4 MiB.
func LimitsAzureTable() Limits { return Limits{MaxCalls: 100, MaxBodyBytes: 4 << 20} }

// LimitsDataverse is Microsoft Dataverse's $batch: 1000 requests.
func LimitsDataverse() Limits { return Limits{MaxCalls: 1000} }

// LimitsGraph is Microsoft Graph's JSON batch: 20 requests.
func LimitsGraph() Limits { return Limits{MaxCalls: 20} }

// ErrCallTooLarge is the error of a call, or of every call of a changeset
// or chain of result references, that alone exceeds Limits.MaxBodyBytes: it is
// not sent, and the batch's other calls are.
var ErrCallTooLarge = errors.New("batch: call larger than the limit of one batch request")

func (l Limits) maxCalls() int {
	if l.MaxCalls <= 0 {
		return DefaultMaxCalls
	}
	return l.MaxCalls
}

// Framing bounds, for counting a request's bytes from above: a delimiter
// (CRLF "--" boundary CRLF, the boundary at most 70 bytes), a part's own
// fields, and the nested multipart part of a changeset.
const (
	delimiterBytes = 2 + 2 + 70 + 2
	// closeBytes is the close delimiter that ends a body.
	closeBytes = delimiterBytes + 2
	// callPartBytes: "Content-Type: application/http",
	// "Content-Transfer-Encoding: binary" and "Content-ID: " fields, and
	// the blank line; the id's own bytes are added.
	callPartBytes = delimiterBytes + 32 + 35 + 14 + 2
	// changesetPartBytes: "Content-Type: multipart/mixed; boundary=" with
	// its boundary, "Content-ID: ", the blank line, and the nested close
	// delimiter; the id is added.
	changesetPartBytes = delimiterBytes + 41 + 70 + 2 + 14 + 2 + closeBytes
)

// callBytes bounds from above the bytes call c takes in a request body:
// its part framing, request line, fields and body (of length length, or
// framed chunked when it is unknown). A body of unknown length counts as
// unknownLength.
func callBytes(c *Call, length int64) int64 {
	return requestBytes(c.req, c.id, length)
}

// requestBytes is callBytes for request r under id.
func requestBytes(r *http.Request, id string, length int64) int64 {
	n := int64(callPartBytes + len(id))
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	n += int64(len(method) + 1 + len(requri.Of(r.URL)) + len(" HTTP/1.1\r\n"))
	for k, vv := range r.Header {
		for _, v := range vv {
			n += int64(len(k) + 2 + len(v) + 2)
		}
	}
	n += int64(len("Content-Length: 18446744073709551615\r\n") + 2)
	return n + length
}

// tooLargeError is the error of the calls of a unit group whose bytes
// exceed max.
func (b *Batch) bytesTooLarge(g *unitGroup, size, max int64) error {
	first := b.units[g.units[0]]
	switch {
	case len(g.units) == 1 && first.cs == nil:
		return fmt.Errorf("%w: call %q takes %d bytes, over the %d of one request", ErrCallTooLarge, first.call.id, size, max)
	case len(g.units) == 1:
		return fmt.Errorf("%w: changeset %q takes %d bytes, over the %d of one request", ErrCallTooLarge, first.cs.id, size, max)
	}
	return fmt.Errorf("%w: %d calls linked by result references take %d bytes, over the %d of one request", ErrCallTooLarge, g.n, size, max)
}
