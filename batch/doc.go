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
// request order.
package batch
