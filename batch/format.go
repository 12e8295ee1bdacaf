package batch

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// A Format is a batch wire format: how the calls of a batch are written in
// its request body, and their responses in the response body. The
// [Handler] reads all three and answers in the format of the request; the
// calls, references, halt-on-error, concurrency, limits and atomic groups
// behave the same in each.
type Format int

const (
	// FormatMultipart is multipart/mixed with application/http parts:
	// Google's batch format, and OData's multipart $batch with changesets.
	// It is the zero Format.
	FormatMultipart Format = iota
	// FormatODataJSON is OData 4.01's JSON batch format: a body
	// {"requests": [...]}, each request an object with id, method, url,
	// headers, body, atomicityGroup and dependsOn, answered by
	// {"responses": [...]}.
	FormatODataJSON
	// FormatGraphJSON is Microsoft Graph's JSON batching: the same shape
	// as OData's without atomicity groups, at most 20 requests by
	// default, and a batch response whose status is always 200.
	FormatGraphJSON
)

// String returns the Format's name: "multipart", "odata-json" or
// "graph-json".
func (f Format) String() string {
	switch f {
	case FormatMultipart:
		return "multipart"
	case FormatODataJSON:
		return "odata-json"
	case FormatGraphJSON:
		return "graph-json"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// DefaultMaxGraphCalls is the most requests of one Graph JSON batch, Graph's
// own limit, when HandlerOptions.MaxCalls is zero.
const DefaultMaxGraphCalls = 20

// DefaultMaxJSONDepth bounds the nesting of a JSON batch body: the
// envelope, a request object and the JSON body it carries.
const DefaultMaxJSONDepth = 64

// Errors of the JSON batch formats, which a 400 response or entry wraps.
var (
	// ErrJSONTooDeep is the error of a JSON batch body, or of one request
	// in it, nested deeper than HandlerOptions.MaxJSONDepth.
	ErrJSONTooDeep = errors.New("batch: JSON nested too deeply")
	// ErrJSONRequest is the error of a request object of a JSON batch that
	// is well-formed JSON but not a request: its call answers 400 and the
	// batch goes on.
	ErrJSONRequest = errors.New("batch: bad request object in a JSON batch")
	// ErrJSONBatch is the error of a JSON batch body that is not one (bad
	// JSON, no requests array, a request object over MaxPartBytes): the
	// whole batch answers 400 (413 for size) before any call runs.
	ErrJSONBatch = errors.New("batch: bad JSON batch")
)

// requestFormat is the format of batch request r by its Content-Type:
// application/json is a JSON format, told apart as
// HandlerOptions.JSONFormat documents; anything else, and everything when
// HandlerOptions.MultipartOnly is set, goes the multipart way, which
// refuses what is not multipart/mixed.
func (h *Handler) requestFormat(r *http.Request) Format {
	mt, params, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if h.opts.MultipartOnly || !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		return FormatMultipart
	}
	switch {
	case h.opts.JSONFormat == FormatODataJSON || h.opts.JSONFormat == FormatGraphJSON:
		return h.opts.JSONFormat
	case h.opts.OData || h.opts.Changesets || r.Header.Get("OData-Version") != "" ||
		r.Header.Get("OData-MaxVersion") != "" || strings.Contains(strings.ToLower(params), "odata"):
		return FormatODataJSON
	}
	return FormatGraphJSON
}
