package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mixedcodec/mixed"
)

// ErrEpilogueTooLarge is the outer error of a batch whose body goes on past
// its close delimiter for more than HandlerOptions.MaxEpilogueBytes.
var ErrEpilogueTooLarge = errors.New("batch: too many bytes after the close delimiter")

// ErrInheritTooLarge is the error of a batch request whose header fields
// or query, which each of its calls inherits, are more than the head of
// one call may hold (see the package's Limits): the batch is answered
// 431 or 414 before any call runs.
var ErrInheritTooLarge = errors.New("batch: more header fields or query than a call may inherit")

// HandlerOptions configures a [Handler]. A zero field selects its default.
type HandlerOptions struct {
	// MaxCalls limits the calls of one batch (default 1000, Google's
	// limit; for a Graph JSON batch 20, Graph's). A larger batch is
	// refused with 400 before any call runs.
	MaxCalls int
	// MaxBodyBytes limits the whole batch request body (default 64 MiB).
	// A larger one is refused with 413 before any call runs. The body is
	// read into memory before the calls run, and held until the batch
	// ends: bytes its client sent, which MaxTotalBufferedBytes does not
	// count (so a Handler holds up to MaxBodyBytes for each batch in
	// flight, beside the responses).
	MaxBodyBytes int64
	// MaxPartBytes limits one part (default 16 MiB). A larger part gets
	// a 400 response part; the other calls still run. In a JSON batch it
	// limits one request object, whose end cannot be found without
	// reading it: a larger one is an outer 413 (as is any other value,
	// or run of white space between two, over MaxPartBytes).
	MaxPartBytes int64
	// Concurrency limits the calls of one batch that run at once
	// (default 4 × GOMAXPROCS). Calls may run in any order, as Google's
	// batch documentation allows; their responses are written in request
	// order.
	Concurrency int
	// MaxBufferedBytes limits the response bytes a batch holds in memory
	// (default 32 MiB): the response at the head of the request order
	// streams to the client as its handler writes it, and the calls
	// behind it, which finished or wrote early, buffer theirs; a call
	// whose Write would take the batch past the limit waits until room
	// frees or its turn comes. The header fields of a response held count
	// as its body does, from when its head is fixed (by WriteHeader, the
	// first Write, or its handler's return, which wait for room alike)
	// until its part goes out, at an upper bound of the memory they take
	// (a field 200 bytes and a quarter more than its text, a head with
	// fields 400 bytes more). The head never waits, so a batch always
	// progresses. With ResultReferences it bounds, apart, the results
	// that references decode, held until the batch ends, each counted at
	// an upper bound of its size as Go values (several times its text):
	// a reference to a result past it fails its call with 424. The
	// Locations that $id urls of a JSON batch name, kept until the batch
	// ends too, count in that same room (a Location a quarter and 16
	// bytes more than its text): a $id url naming one past it fails its
	// call with 424.
	MaxBufferedBytes int64
	// MaxTotalBufferedBytes limits the response bytes that all the
	// batches the Handler serves at once hold together, the results
	// references decode and the Locations $id urls name included
	// (default 8 × MaxBufferedBytes, after
	// that one's default: 256 MiB, DefaultMaxTotalBufferedBytes, when
	// MaxBufferedBytes is left at its default). Without it, each client
	// that posts a small batch of large GETs and never reads the answer
	// makes the Handler hold MaxBufferedBytes. A call whose Write would
	// take the Handler past it waits as it does for its batch's
	// MaxBufferedBytes, until room frees in both, its turn comes, its
	// call times out or its client goes; the head of each batch still
	// never waits, so every batch progresses at its own client's pace,
	// whatever the others hold. What cannot wait fails: a changeset's
	// response, held until it ends, or a JSON body in a JSON batch, with
	// 503 Service Unavailable and Retry-After (the other batches hold the
	// room, and the call may succeed later: Client retries it), where past
	// its batch's MaxBufferedBytes, or past MaxTotalBufferedBytes with
	// what its own batch holds (no other batch could make room), it fails
	// with 500; a decoded result, or a Location a $id url names, with
	// 424 for the calls that reference it. The
	// header fields of the responses held count as their bodies do (see
	// MaxBufferedBytes), and a held response whose head does not fit
	// fails as one whose body does not. The error responses the Handler
	// writes itself count without waiting, and may take it past the limit
	// by their size (their heads about 1 KiB, their messages cut to 512
	// bytes, quoted input included). A Handler's memory for its batches
	// as a whole is then bounded by the concurrent batches × MaxBodyBytes
	// of request bodies (bytes their clients sent), plus
	// MaxTotalBufferedBytes of responses (their bodies up to twice that in
	// buffers, which grow by doubling), plus, per batch, about 200 KiB of
	// buffers and the header fields of the responses not counted: that of
	// the head of the order (streaming, or about to go out), and those of
	// the calls that wait for room to hold theirs, up to Concurrency (each
	// within the 64 KiB a part's head may take on the wire, and 128 KiB
	// in memory, the fields no part carries, such as Trailer, included: a
	// head past that answers 502).
	MaxTotalBufferedBytes int64
	// CallTimeout bounds each call (default: none). A call still running
	// at the deadline has its context cancelled and answers 504 Gateway
	// Timeout in its part, unless its response had begun to stream; its
	// handler may go on, but its request body and ResponseWriter are dead
	// to it from then on. The time counts everything the call does,
	// waiting for room to buffer its response and for a slow client to
	// take its streaming part included.
	CallTimeout time.Duration
	// PathPrefix is the path the calls must stay inside (default "/"),
	// such as a gateway's upstream base path. A call target's dot
	// segments are resolved first (RFC 3986 §5.2.4, counting %2E as a
	// dot and %2F as a slash), after result references are substituted;
	// a target that would leave the prefix answers 400 in its part. So
	// does, whatever the prefix, a target with a dot segment as servers
	// behind the handler may read it: with its path parameters cut off
	// ("/..;/", as Tomcat, Jetty and Spring do), a backslash for a
	// slash (as IIS does), or decoded once more ("%252e%252e", which
	// is ".." to a server that decodes the path twice).
	PathPrefix string
	// MaxEpilogueBytes limits the bytes after the close delimiter that
	// the Handler reads and discards (default 64 KiB); more is an outer
	// 400. The Handler reads the request body to its end before it
	// answers, so that net/http notices a client that goes away and
	// cancels the calls' contexts.
	MaxEpilogueBytes int64
	// Logger receives what the batch cannot tell its client, at error
	// level: a panic in the inner handler, with its stack, or a response
	// that failed after it began to stream; and a debug line for each
	// call. Nil logs errors through slog.Default(), and nothing else.
	Logger *slog.Logger
	// OnCall, if set, is called once for each call of a batch when it
	// has ended (its handler returned, or it was answered without one):
	// for metrics and traces. It may be called from several goroutines
	// at once and must not block.
	OnCall func(CallInfo)

	// ResultReferences turns on Bitrix24-style result references: a
	// call's target, query or JSON body may hold $result[id][key]...,
	// the value at that path in the JSON response of the earlier call
	// whose Content-ID (without angle brackets) is id. A call runs only
	// after the calls it references (calls without references still run
	// concurrently); in a target or query the value's text goes in
	// URL-escaped (in the path as one segment: a value that is, or holds
	// between its slashes or backslashes, a dot segment fails the call
	// with 424), in a JSON body a string that is exactly one reference
	// becomes the JSON value itself (as an object's key, the value's
	// text). A reference to an unknown or later call, to itself, to a
	// missing field or to a call that failed (status ≥ 400) fails the
	// call with 424 Failed Dependency and a JSON error saying which
	// reference and why; such a call never reaches the inner handler.
	// The $, [ and ] of a reference may be percent-encoded.
	// What references make is bounded: a call's target, its values
	// substituted, to 64 KiB, its body to MaxPartBytes, and the targets
	// and bodies a batch's references make to MaxBodyBytes in all; a call
	// that would go past a bound answers 400, and spends the room it had
	// of MaxBodyBytes all the same, so that refused calls cannot make
	// more than the batch may. A batch holds at most 10000 references
	// (each takes memory until it ends): the call that would take it past
	// them answers 400. The results references decode count against
	// MaxBufferedBytes (see there).
	ResultReferences bool
	// HaltOnError stops starting calls after the first call that ends
	// with status ≥ 400; every call not started gets a 424 part saying
	// which call it was skipped for. Calls already running finish and are
	// reported.
	HaltOnError bool
	// HaltHeader names an outer request header that turns HaltOnError on
	// for one batch when its value is "true" or "1"; "" for none.
	HaltHeader string

	// Changesets turns on changesets, OData's atomic groups: a part whose
	// media type is multipart/mixed holds calls (application/http parts)
	// that run in order, one at a time, as one unit that commits or rolls
	// back (see BeginGroup); the changeset as a whole runs concurrently
	// with the batch's other calls. When every call of a changeset ends
	// with a status below 400, its response is one multipart/mixed part
	// holding their responses, with "response-" Content-IDs (the
	// requests' own in OData mode); otherwise the
	// calls after the failed one do not run, and the changeset's response
	// is the failed call's response alone.
	//
	// Inside a changeset, a target that starts with $id, id the
	// Content-ID of an earlier call of the same changeset, followed by the
	// end, "/" or "?" (OData's "$1/Orders"), stands for the Location of
	// that call's response: the call fails with 424 Failed Dependency when
	// that response has no Location, or when id names the call itself or
	// a later one. Other targets that start with $ ($metadata) are left
	// as they are. With changesets on, relative targets ("Customers") are
	// accepted, resolved against the batch request's URL.
	//
	// A result reference (see ResultReferences) may name a call inside a
	// changeset; its result is known once the changeset has committed, and
	// a call that was rolled back counts as failed.
	Changesets bool
	// BeginGroup, when set, makes changesets atomic (and turns them on):
	// it is called with the batch request's context before the first call
	// of each changeset, and each call of the changeset gets a context
	// carrying the Group (see GroupFromContext), so that the inner handler
	// can join it. The Group is committed when every call of the
	// changeset succeeded, and rolled back otherwise. An error from
	// BeginGroup or Commit fails the whole changeset with 500. A changeset
	// waits for the calls outside it that its calls reference before its
	// group begins, never inside it.
	BeginGroup func(ctx context.Context) (Group, error)
	// OData turns on the rules of OData's multipart $batch: changesets;
	// the calls and changesets of a batch run one at a time in request
	// order, whatever Concurrency says, as OData requires; responses carry
	// the Content-ID of their request unchanged (not "response-" ones),
	// under boundaries that start "batchresponse_" and
	// "changesetresponse_" as Microsoft's OData library writes them; relative
	// targets resolved against the batch URL (Customers sent to
	// /service/$batch is /service/Customers); and halt-on-error, unless the
	// batch request carries "Prefer: odata.continue-on-error" (or OData
	// 4.01's "continue-on-error"), in which case the response says
	// "Preference-Applied: odata.continue-on-error".
	OData bool

	// JSONFormat chooses how a batch whose Content-Type is
	// application/json is read, and answered: FormatODataJSON or
	// FormatGraphJSON. Zero (FormatMultipart, which is never JSON)
	// decides by the request: OData JSON when the Handler is in OData
	// mode or has changesets on, or when the batch request carries an
	// OData-Version or OData-MaxVersion field or a Content-Type parameter
	// naming odata (application/json;odata.metadata=minimal), and Graph
	// JSON otherwise. A multipart/mixed body is read as ever, whatever
	// JSONFormat says. See the package documentation for what each JSON
	// format means.
	JSONFormat Format
	// MultipartOnly refuses JSON batches, as the Handler did before it
	// read them: a batch whose Content-Type is application/json is
	// answered like any other body that is not multipart/mixed, with
	// 400, and no call of it runs, whatever JSONFormat says. For a
	// server whose batch endpoint is to keep the one format it has
	// always had.
	MultipartOnly bool
	// MaxJSONDepth limits the nesting of a JSON batch (default 64):
	// the envelope, a request object and its JSON body count. A request
	// nested deeper answers 400 wrapping ErrJSONTooDeep. A JSON response
	// body nested deeper than a request's may be goes as base64, as a
	// body that is not JSON does.
	MaxJSONDepth int
}

func (o HandlerOptions) withDefaults() HandlerOptions {
	if o.MaxCalls <= 0 {
		o.MaxCalls = DefaultMaxCalls
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.MaxPartBytes <= 0 {
		o.MaxPartBytes = DefaultMaxPartBytes
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4 * runtime.GOMAXPROCS(0)
	}
	if o.MaxBufferedBytes <= 0 {
		o.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if o.MaxTotalBufferedBytes <= 0 {
		o.MaxTotalBufferedBytes = defaultTotalBuffered(o.MaxBufferedBytes)
	}
	if o.MaxEpilogueBytes <= 0 {
		o.MaxEpilogueBytes = DefaultMaxEpilogueBytes
	}
	if o.MaxJSONDepth <= 0 {
		o.MaxJSONDepth = DefaultMaxJSONDepth
	}
	if o.PathPrefix == "" {
		o.PathPrefix = "/"
	}
	o.Changesets = o.Changesets || o.OData || o.BeginGroup != nil
	return o
}

// A Handler serves Google-style batch requests: a POST whose body is
// multipart/mixed, each part (Content-Type: application/http) a complete
// HTTP/1.1 request. It unwraps every call into an [*http.Request], serves it
// with the inner handler exactly as if it had arrived alone, and answers
// with a multipart/mixed response whose parts are the calls' responses, in
// request order, each echoing the call's Content-ID with "response-"
// inserted ("1" → "response-1", "<a+b>" → "<response-a+b>").
//
// Each call sees the outer request's headers, but Content-* and hop-by-hop
// ones (those its Connection field names too), and its query parameters,
// unless it sets its own; its Host, RemoteAddr and TLS state are the outer
// request's, and its context is the outer request's context. A call's own
// Upgrade field is dropped: its response is a part, which cannot switch
// protocols. When the batch request came from a browser (it has Origin
// or a Sec-Fetch- field), each call's Origin, Referer and Sec- fields
// (Sec_ ones too, which CGI gateways read as the same) are the batch
// request's, never the call's own, and its Connection field names none
// of them (a reverse proxy behind the Handler would drop what it names):
// a browser sets them and a script may not, and handlers tell cross-site
// requests by them ([http.CrossOriginProtection] among them), which a
// script allowed to post a batch could otherwise pass by setting them in
// its calls. A batch request from anything else leaves its calls their
// own. Only origin-form targets (/path?query) are accepted, and
// absolute-form ones whose scheme and host are the batch endpoint's own
// (reduced to their path, as Google's .NET client sends them); any other
// target, or a Host field naming another host, gets a 400 response part
// and never reaches the inner handler. A target such as
// "//evil.example/x" is a path on the batch host.
//
// A Host field, and the host of an absolute-form target, names the batch
// endpoint when the host names are equal (case-insensitively) and its port
// is absent or the endpoint's: Google's Ruby client writes the host name
// alone. Another host is a 400 part.
//
// Batches do not nest: a call that the inner handler brings back to a
// Handler (a ServeMux that holds the batch endpoint, whichever Handler
// serves it) is answered 400 there, its body unread, since unwrapped its
// calls would run with limits of their own, and theirs again.
//
// Failures stay as local as they can: a malformed or oversized part, or a
// panic in the inner handler, gets a response part of its own (400, or 500
// for the panic) while the other calls run; a malformed envelope (not
// multipart/mixed, bad boundary, truncated) gets an outer 400, too many calls an
// outer 400 and too large a body an outer 413, before any call runs.
//
// The response streams: a part is sent as soon as its call and every call
// before it are done, flushed through [http.ResponseController], so
// middleware that wraps the ResponseWriter must implement [http.Flusher]
// or an Unwrap method; without either the parts go out together at the
// end.
//
// A Handler is made by [NewHandler] or [NewHandlerOptions]: a zero Handler,
// or one with a nil inner handler, has nothing to call and answers every
// request with 500.
type Handler struct {
	inner http.Handler
	opts  HandlerOptions
	pool  sync.Pool // *batchState
	// spare keeps one batch's memory, when it is small, past the
	// garbage collections that empty pool: a server that serves one
	// batch at a time reuses it every time.
	spare atomic.Pointer[batchState]
	// maxGraphCalls is MaxCalls for a Graph JSON batch.
	maxGraphCalls int

	// peakBuffered is the most response bytes any of its batches held
	// at once, for the tests of MaxBufferedBytes.
	peakBuffered atomic.Int64
	// shared is MaxTotalBufferedBytes, which every batch's output takes
	// from; leftover counts the bytes batches ended with still counted,
	// which settleBudget gave back, for the tests (it should stay 0).
	shared   sharedBudget
	leftover atomic.Int64
}

// NewHandler returns a Handler that dispatches each call of a batch to
// inner, with the default options.
func NewHandler(inner http.Handler) *Handler {
	return NewHandlerOptions(inner, HandlerOptions{})
}

// NewHandlerOptions is like [NewHandler] with options; a zero field of opts
// means that option's default.
func NewHandlerOptions(inner http.Handler, opts HandlerOptions) *Handler {
	graph := opts.MaxCalls
	if graph <= 0 {
		graph = DefaultMaxGraphCalls
	}
	h := &Handler{inner: inner, opts: opts.withDefaults(), maxGraphCalls: graph}
	h.shared.limit = h.opts.MaxTotalBufferedBytes
	return h
}

// A kind says what a call record of a batch is.
type kind uint8

const (
	plainCall     kind = iota // a call at the top level
	changesetHead             // a changeset: no request, its members follow it
	memberCall                // a call inside a changeset
)

// call is one call of a batch: its part's Content-ID and raw body (views
// into the batch's arena), then its response.
type call struct {
	kind kind
	part int // the batch part it came in, for messages
	cid  []byte
	raw  []byte
	err  error // a problem found while reading the part: a 400 part
	rec  *response

	// With result references: the earlier calls this one waits for, a
	// reference that cannot be resolved, and, for a call that others
	// reference, its outcome, published by closing done.
	refs       []ref
	deps       []int
	refErr     error
	referenced bool
	wantResult bool // a result reference needs its decoded JSON response
	// wantLocation: a later call's $id url names this call (see
	// location); locDropped: its Location was not kept, over the budgets.
	wantLocation bool
	locDropped   bool
	done         chan struct{}
	status       int
	want         *resultPaths // the parts of result its references use
	result       any
	resultErr    error

	// A changeset head records how many members follow it and, once it
	// has run, which one failed (0 for none: a member is never at index
	// 0); a member knows its head, and keeps its URL for the $id targets
	// of the members after it.
	members int
	failed  int
	head    int
	url     *url.URL
	// groupErr is why a member's success does not count: its changeset
	// rolled back or never ran.
	groupErr string

	// A JSON batch's dependsOn: the calls (or changeset heads) that must
	// have succeeded before this one runs, also in deps. locRef is 1 +
	// the index of the call whose response's Location a $id url names
	// (0 for none), and locRest what follows $id; location is the
	// Location of a call a $id url names, kept once it has run, within
	// the room of the results of references (see keepLocation).
	after    []int
	locRef   int
	locRest  string
	location string
}

// batchState is the memory of one batch, reused across batches.
type batchState struct {
	rd    mixed.Reader
	arena []byte
	// spans locate the calls' bytes in the arena while it grows; ncalls
	// counts the calls read so far, for MaxCalls.
	spans  []span
	ncalls int
	calls  []call
	prog   *progress // which units are done, for respond
	// starts are the indexes of the top-level units in calls, which the
	// workers take in order.
	starts []int
	out    output
	// workers keep their parsers, and bodies the memory of the calls'
	// response bodies, across batches.
	workers []*worker
	bodies  [][]byte
	// bodyBytes is the memory of bodies, which retire bounds.
	bodyBytes int
	// halt reports halt-on-error for this batch; haltedBy is the index
	// of the call that halted it, or -1.
	halt     bool
	haltedBy atomic.Int64
	ids      map[string]int // call ids, with result references
	// substituted counts the bytes of the targets and bodies that result
	// references made in this batch, which MaxBodyBytes bounds.
	substituted atomic.Int64
	// resultRoom is what is left of MaxBufferedBytes for the decoded
	// results of the calls that others reference (see valueCost) and the
	// Locations $id urls name, held until the batch ends; resultsHeld is
	// what they took of the Handler's MaxTotalBufferedBytes, given back
	// when it ends.
	resultRoom  atomic.Int64
	resultsHeld atomic.Int64
	// A reader for the nested bodies of changesets, and the number of
	// top-level units (calls and changesets) of the batch.
	crd   mixed.Reader
	units int
	// lmr parses the calls that may hold result references.
	lmr *mixed.MessageReader
	// The batch request, and the URL its calls' targets resolve against;
	// the fields of its header its calls inherit, and its query (nil when
	// it has none).
	outer   *http.Request
	base    url.URL
	inherit []field
	query   url.Values
	// browser: the batch request came from a browser (fromBrowser),
	// whose provenance fields its calls carry instead of their own.
	browser bool
	// The format of the batch, and what reading a JSON one keeps.
	format Format
	jb     jsonBatch
}

// ServeHTTP serves one batch request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.inner == nil {
		// A setup mistake, said as such rather than as the limits of a
		// zero HandlerOptions (a 413 for any body).
		http.Error(w, "batch: Handler without inner handler: make it with NewHandler", http.StatusInternalServerError)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "batch: method "+r.Method+" not allowed; a batch is a POST", http.StatusMethodNotAllowed)
		return
	}
	format := h.requestFormat(r)
	var boundary string
	if format == FormatMultipart {
		var err error
		ct := r.Header.Get("Content-Type")
		if boundary, err = mixed.ParseBoundary(ct); err != nil {
			http.Error(w, "batch: "+err.Error(), http.StatusBadRequest)
			return
		}
		if !isMediaType([]byte(ct), "multipart/mixed") {
			// Not any multipart type: a browser sends multipart/form-data
			// cross-site without a CORS preflight, with the user's
			// cookies, which the calls inherit; a page on any site could
			// make calls through the batch that no cross-site request
			// can make (DELETE, custom fields, a JSON body).
			mt, _, _ := strings.Cut(ct, ";")
			http.Error(w, "batch: media type "+strconv.Quote(clip(strings.TrimSpace(mt)))+" is not multipart/mixed", http.StatusBadRequest)
			return
		}
	}
	if r.Context().Value(inBatchKey{}) != nil {
		// A call of a batch that the inner handler brought back to a
		// batch handler (a ServeMux that holds the batch endpoint):
		// unwrapped, its calls would run with a budget of their own,
		// and their batches' calls with theirs, as deep as the bodies
		// allow.
		if format != FormatMultipart {
			jsonError(w, http.StatusBadRequest, errNested)
			return
		}
		http.Error(w, errNested.Error(), http.StatusBadRequest)
		return
	}
	if status, err := checkInheritable(r); err != nil {
		if format != FormatMultipart {
			jsonError(w, status, err)
			return
		}
		http.Error(w, err.Error(), status)
		return
	}
	st := h.spare.Swap(nil)
	if st == nil {
		st, _ = h.pool.Get().(*batchState)
	}
	if st == nil {
		st = &batchState{}
	}
	defer h.release(st)

	st.format = format
	body := http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)
	var status int
	var err error
	if format == FormatMultipart {
		status, err = h.readCalls(st, body, boundary)
	} else {
		status, err = h.readJSON(st, body, r)
	}
	if err != nil {
		if format != FormatMultipart {
			jsonError(w, status, err)
			return
		}
		http.Error(w, "batch: "+err.Error(), status)
		return
	}
	st.resultRoom.Store(h.opts.MaxBufferedBytes)
	if h.opts.ResultReferences {
		if err := h.linkReferences(r.Context(), st); err != nil {
			return // the client is gone
		}
	}
	h.startHalt(st, w, r)
	h.open(st, w)
	// A client that goes away releases the calls that wait for room to
	// buffer their responses; the wake-up never outlives this batch.
	woken := make(chan struct{})
	stop := context.AfterFunc(r.Context(), func() {
		defer close(woken)
		st.out.goneAway()
	})
	defer func() {
		if !stop() {
			<-woken
		}
	}()
	h.run(st, r.WithContext(context.WithValue(r.Context(), inBatchKey{}, struct{}{})))
	h.respond(st)
}

// inBatchKey marks the contexts of the calls of a batch, which a Handler
// does not serve as batches: see errNested.
type inBatchKey struct{}

// errNested answers a batch that is a call of a batch.
var errNested = errors.New("batch: a call of a batch reached a batch handler; batches do not nest")

func (h *Handler) release(st *batchState) {
	for i := range st.calls {
		st.calls[i] = call{}
	}
	st.calls = st.calls[:0]
	st.arena = st.arena[:0]
	// Under the wire's lock: a write or Flush whose call was not over
	// when it looked may take the lock only now, from a goroutine its
	// handler left behind, and find the part not its own.
	st.out.wmu.Lock()
	st.out.owner, st.out.part = nil, nil
	st.out.wmu.Unlock()
	st.outer, st.query, st.prog = nil, nil, nil
	st.jb.stream.reset(nil) // nothing of the request kept
	// The batch's results are dropped with its calls, and what its
	// responses held is given back as their parts went out.
	st.out.shared.giveWake(st.resultsHeld.Swap(0))
	h.leftover.Add(st.out.settleBudget())
	clear(st.inherit)
	st.inherit = st.inherit[:0]
	if st.retained() <= maxSpareBytes && h.spare.CompareAndSwap(nil, st) {
		return
	}
	h.pool.Put(st)
}

// maxSpareBytes bounds the memory a Handler keeps for its next batch
// whatever the garbage collector does (see Handler.spare): the arena and
// call records of a batch of a few thousand small calls.
const maxSpareBytes = 4 << 20

// retained estimates the memory st keeps for the next batch: its arena,
// its call records, its response bodies, the buffer a JSON batch's
// request objects are read into (as large as the largest object read,
// up to MaxPartBytes) and the one its response objects are built in (as
// large as the largest text body carried as a string).
func (st *batchState) retained() int {
	return cap(st.arena) + cap(st.calls)*int(reflect.TypeFor[call]().Size()) + st.bodyBytes +
		st.jb.stream.retained() + cap(st.out.jbuf)
}

// logf reports what the batch cannot tell its client.
func (h *Handler) logf(format string, args ...any) {
	l := h.opts.Logger
	if l == nil {
		l = slog.Default()
	}
	l.Error(fmt.Sprintf(format, args...))
}
