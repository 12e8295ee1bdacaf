// Package batch implements both sides of Google-style HTTP batching on top
// of the [github.com/mixedcodec/mixed] codec: many HTTP calls sent in one
// POST of multipart/mixed, each part (Content-Type: application/http) a
// complete HTTP/1.1 request, answered by one multipart/mixed response whose
// parts are the calls' responses, in order, with "response-" Content-IDs.
//
// The server side is [Handler]: wrap any [net/http.Handler] and it serves
// batches of calls to it, each call exactly as if it had arrived alone.
// The client side is [Client] and [Batch]: build a batch from ordinary
// [*net/http.Request] values with [Batch.Add], send it with [Batch.Do], and
// read each [Call]'s result, or the map of results by id, as gapi's
// newBatch().add(req, {id}) does.
//
// The wire format and its rules come from Google's batch documentation
// (People, Calendar and the other APIs): at most 1000 calls per batch; the
// outer request's headers (but Content-*) and query parameters apply to
// every call that does not set its own; call targets are paths on the batch
// endpoint's host; calls may run in any order, responses come back in
// request order. A call is read as it is sent: a part whose
// Content-Transfer-Encoding is not binary, 7bit or 8bit (quoted-printable,
// base64, which a reader that decodes would read as another request)
// answers 400, as does one that is not application/http.
//
// # Dependent calls and atomic groups
//
// Two extensions share the same wire format. Result references, from
// Bitrix24's callBatch: with [HandlerOptions].ResultReferences, a call's
// target, query or JSON body may hold $result[id][key]..., the value at that
// path in the JSON response of the earlier call whose Content-ID is id; the
// call waits for that one, and fails with 424 Failed Dependency when the
// value cannot be had. Halt-on-error ([HandlerOptions].HaltOnError, or the
// outer header HaltHeader names) stops starting calls after the first
// failure. A call the handler answers for in this way (424, or 400 in a
// JSON batch) has the JSON body {"error":{"code":"FailedDependency",
// "message":"..."}}: the status text without spaces, a string as OData's
// error objects require, and the reason.
//
// Changesets, from OData's $batch: a part of type multipart/mixed holds
// calls that run in order and commit or roll back together, inside the
// [Group] that [HandlerOptions].BeginGroup starts (a *sql.Tx, found by the
// inner handler with [GroupFromContext]). A later call of a changeset may
// target "$1/Orders", where $1 stands for the Location of the response of
// its call with Content-ID 1. [HandlerOptions].OData adds the rest of
// OData's rules. On the client, [Batch.Changeset] builds one; a rolled-back
// changeset gives each of its calls a [*ChangesetError].
//
// A [Client] splitting a large batch keeps each changeset, and each chain
// of references, in one request, and checks references when they are
// added, not on the wire: [Batch.Add] reads a JSON body that has GetBody
// through it to find them, a read that ends with the request's context
// and stops past [Limits].MaxBodyBytes when that is set.
//
// # JSON batches
//
// The [Handler] also serves the two JSON batch formats ([Format]): OData
// 4.01's JSON $batch and Microsoft Graph's JSON batching, a body
// {"requests":[...]} of objects with id, method, url, headers, body and
// dependsOn (and, in OData, atomicityGroup), answered by {"responses":[...]}
// in request order. A batch whose Content-Type is application/json is one
// of them, told apart as [HandlerOptions].JSONFormat says. Each request
// object is read, one at a time, into the same call a multipart part
// becomes, so every rule of this package holds in every format; the
// formats differ in these:
//
//   - dependsOn names earlier requests, or in OData atomicity groups: the
//     call waits for them, and answers 424 Failed Dependency without
//     running when one of them failed (a rolled-back group counts as
//     failed).
//   - An OData atomicityGroup is a changeset: its requests are adjacent,
//     run in order inside the Group of BeginGroup; each response names the
//     group, and when one request fails the others answer 424. A url
//     $id/rest stands for the Location of request id's response (the call
//     depends on it; the Location is kept within the room MaxBufferedBytes
//     leaves for the results of references, and past it the call answers
//     424); one naming the request itself or a later one answers 400;
//     other relative urls ($metadata) resolve against the batch URL. An
//     OData batch runs in order and halts at its first error unless it
//     prefers odata.continue-on-error, as OData's multipart batches do.
//   - A Graph batch has at most 20 requests unless MaxCalls says
//     otherwise, runs its calls concurrently, and never halts. Its urls are
//     paths from the host's root (/v1.0/me) or relative to the batch URL.
//   - Bodies: a JSON body is JSON in the batch, both ways; in OData a
//     text/* body is a string of its text (as OData 4.01 says); any other
//     body is a base64 string (base64url in OData, standard base64 in
//     Graph); a body without Content-Type is JSON, a request's for the
//     Handler and a response's for the Client, so the Handler writes a
//     response body its handler left without one (a nil Content-Type)
//     as base64 under application/octet-stream. Response header
//     names are lower case in OData and canonical in Graph; a field given
//     more than once, or under keys that differ in case only, is one
//     member, its values joined with ", " (empty ones left out), and a
//     body's form follows the Content-Type so joined, on both sides (the
//     Handler takes a response's at its first Write or Flush, when
//     net/http fixes the header). Request headers keep the order of their
//     object.
//   - A response body that cannot take its form (JSON that does not
//     parse, OData text that is not UTF-8) is written as a base64 string
//     under its own Content-Type. No reader can tell that string from a
//     body that fits: the [Client] gets the string (under a JSON type the
//     JSON string, quotes included; under a text type its text) in place
//     of the bytes. The Client sends no such request body: the call fails
//     with [ErrBodyForm], unsent; a request body without Content-Type goes
//     with the type net/http sniffs (in OData, application/octet-stream
//     when that is text the body does not fit).
//   - The batch response is 200 whenever the batch could be read; a batch
//     that cannot be (not JSON, too large) is answered with a JSON error
//     object {"error":{"code","message"}}. A request object that is JSON
//     but not a request answers 400 in its place and the others run.
//
// On the client side, [Client].Format and [Transport].Format send batches
// in a JSON format; a changeset is an atomicity group (OData only), and
// results come back to the same [Call] values by id.
//
// The limits are those of multipart batches, with two more: a request
// object over MaxPartBytes is an outer 413 (its end cannot be found without
// reading it), as is any other value of the body, or run of white space
// between two, over it; and MaxJSONDepth (64) bounds nesting. A JSON response body,
// and in OData a text one, is written whole, within MaxBufferedBytes (a
// larger one answers 500); other bodies stream base64-encoded like
// multipart parts.
//
// # The client's limits and retries
//
// [Client].Limits bounds each request by calls and bytes ([LimitsGoogle],
// [LimitsAzureBlob] and the other services' profiles); a request a server
// refuses for its size is halved. [Client].Retry, a [RetryPolicy], sends
// again only the calls that failed (429 and 5xx, honouring each part's
// Retry-After; idempotent methods, or a request with an Idempotency-Key),
// together, in a new batch request. Each call's own context, a bound on
// its response ([Client].MaxResponseBytes), a hook to sign it
// ([Client].PrepareCall) and one to observe it ([Client].OnCall) apply to
// it alone; response parts are matched to calls by Content-ID, leniently,
// but never guessed ([ErrResponseMismatch]).
//
// # Limits
//
// A [Handler] is meant to face the internet; everything a request can make
// it hold or do is bounded, each by a [HandlerOptions] field whose zero
// value selects a safe default:
//
//   - MaxBodyBytes (64 MiB): the batch request body; more is an outer 413.
//   - MaxCalls (1000): calls per batch, each part counting, an empty
//     changeset too; more is an outer 400.
//   - MaxPartBytes (16 MiB): one part; more is a 400 part.
//   - MaxEpilogueBytes (64 KiB): what follows the close delimiter (the
//     body is read to its end before any call runs); more is an outer 400
//     wrapping [ErrEpilogueTooLarge].
//   - What each call inherits of the batch request, its header fields
//     (but Content-* and hop-by-hop ones) and its query: no more than a
//     call's own head may hold (100 fields and 64 KiB, the
//     [mixed.MessageOptions] defaults, and a query of 8 KiB); more is an
//     outer 431 or 414 wrapping [ErrInheritTooLarge], before any call
//     runs.
//   - MaxBufferedBytes (32 MiB): the responses a batch holds while the
//     part at the head of the order streams, their header fields counted
//     with their bodies (at an upper bound of the memory they take);
//     calls past it wait for room or their turn, a changeset's calls fail
//     with 500. It bounds apart the results that result references
//     decode, held until the batch ends (counted at an upper bound of
//     their size as Go values, several times their text), and with them
//     the Locations that $id urls of a JSON batch name: a reference to a
//     result past it, or a $id url to such a Location, fails its call
//     with 424.
//   - MaxTotalBufferedBytes (8 × MaxBufferedBytes, 256 MiB by default):
//     the responses, decoded results and Locations kept for $id urls
//     that all the batches of a Handler hold together, so that clients
//     that post batches of large responses and never read them cannot
//     make it hold MaxBufferedBytes each; past it calls wait as they do
//     past MaxBufferedBytes, and what cannot wait fails (a held response
//     with 503 and Retry-After: the server is busy, and the call may
//     succeed later; a decoded result, or a Location, with 424), while
//     the head of every batch streams on.
//   - Concurrency (4 × GOMAXPROCS): calls of one batch running at once.
//   - CallTimeout (none): one call's time; past it the call answers 504.
//   - PathPrefix ("/"): the path every call target must stay inside, dot
//     segments resolved; one with "..;" or "..\" segments is refused.
//   - Result references (10000 a batch): the call that would hold more
//     answers 400.
//
// What a Handler holds of its batches is then bounded as a whole: the
// concurrent batches × MaxBodyBytes of request bodies (read whole before
// their calls run, but only bytes their clients sent), plus
// MaxTotalBufferedBytes of responses, header fields and bodies (the
// bodies up to twice that in buffers, which grow by doubling), plus, per
// batch, about 200 KiB of buffers and the header fields of up to 1 +
// Concurrency responses that do not count: the one at the head of the
// order, streaming or about to go out, and those of the calls that wait
// for room to hold theirs (the inner handler's, each within the 64 KiB a
// part's head may take on the wire, and 128 KiB in memory with the fields
// no part carries, such as Trailer: a head past that answers 502).
//
// Reference scanning is one pass over the target and JSON body of each
// call, and stops when the request's context is done. A call's request
// body and ResponseWriter are dead once the call has ended, so a handler
// that outlives its call (a reverse proxy's transport, a timed-out
// handler) can never read or write another call's bytes.
package batch
