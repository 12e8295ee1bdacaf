// Package caddybatch is the batch handler of
// github.com/mixedcodec/mixed/batch as a Caddy module: http.handlers.batch
// unwraps a multipart/mixed batch (Google's batch format, or OData's
// $batch), or a JSON one (OData 4.01's or Microsoft Graph's) unless
// multipart_only is set, on its route and serves each call with the whole
// server the batch request came to, from its first route, as if the call
// had arrived alone on the batch request's connection: basic_auth,
// forward_auth, rewrite, header and every other handler and route that
// matches the call run for it, before the batch handler's place as well as
// after it; reverse_proxy balances, health-checks and retries each call;
// an error goes through the server's error routes; each call has its own
// access log entry. A call that reaches a batch handler again answers 400
// (batches do not nest), and a call's client IP is the batch request's,
// whatever forwarding headers it carries.
//
// Importing the package registers the module and the Caddyfile directive
// "batch", ordered before invoke (after the middleware directives, before
// those that dispatch or respond: handle, route, respond, reverse_proxy),
// so that a handle block or a respond without matcher cannot take the
// batch endpoint's requests first; cmd/caddy builds a Caddy binary with
// it, as xcaddy would.
package caddybatch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/mixedcodec/mixed/batch"
)

func init() {
	caddy.RegisterModule(Batch{})
}

// Batch is the http.handlers.batch module. It serves every request it is
// given as a batch and never calls the next handler: the calls go through
// the server. Every field is the batch.HandlerOptions field of the same
// name, and a zero field selects that option's default. The batch's log
// lines (a panic in a call's handler, a response that failed after it
// began to stream) go to Caddy's logger of this module,
// "http.handlers.batch"; a call's errors go to the server's error log, as
// a lone request's do.
type Batch struct {
	// MaxCalls limits the calls of one batch (default 1000).
	MaxCalls int `json:"max_calls,omitempty"`
	// MaxBodyBytes limits the batch request body (default 64 MiB).
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// MaxPartBytes limits one part (default 16 MiB).
	MaxPartBytes int64 `json:"max_part_bytes,omitempty"`
	// Concurrency limits the calls of one batch that run at once
	// (default 4 × GOMAXPROCS).
	Concurrency int `json:"concurrency,omitempty"`
	// MaxBufferedBytes limits the response bytes a batch holds in memory
	// (default 32 MiB).
	MaxBufferedBytes int64 `json:"max_buffered_bytes,omitempty"`
	// MaxTotalBufferedBytes limits the response bytes all the batches
	// this handler serves at once hold together (default 8 ×
	// MaxBufferedBytes, 256 MiB with its default). Each batch handler of
	// the config (and of each config loaded) has its own.
	MaxTotalBufferedBytes int64 `json:"max_total_buffered_bytes,omitempty"`
	// CallTimeout bounds each call (default: none); a call past it
	// answers 504 in its part.
	CallTimeout caddy.Duration `json:"call_timeout,omitempty"`
	// PathPrefix is the path the calls must stay inside (default "/").
	PathPrefix string `json:"path_prefix,omitempty"`
	// MaxEpilogueBytes limits the bytes after the close delimiter
	// (default 64 KiB).
	MaxEpilogueBytes int64 `json:"max_epilogue_bytes,omitempty"`
	// ResultReferences turns on $result[id][key] references to earlier
	// calls' JSON results.
	ResultReferences bool `json:"result_references,omitempty"`
	// HaltOnError stops starting calls after the first that fails.
	HaltOnError bool `json:"halt_on_error,omitempty"`
	// HaltHeader names a request header that turns HaltOnError on for
	// one batch ("true" or "1").
	HaltHeader string `json:"halt_header,omitempty"`
	// Changesets turns on OData-style changesets (nested
	// multipart/mixed parts whose calls run in order and stop at the
	// first failure).
	Changesets bool `json:"changesets,omitempty"`
	// OData turns on the rules of OData's multipart $batch.
	OData bool `json:"odata,omitempty"`
	// MultipartOnly refuses JSON batches (application/json bodies) with
	// 400, so that the endpoint serves multipart/mixed alone.
	MultipartOnly bool `json:"multipart_only,omitempty"`
	// JSONFormat is how a JSON batch is read: "odata" (OData 4.01 JSON),
	// "graph" (Microsoft Graph JSON), or empty to decide by the request.
	JSONFormat string `json:"json_format,omitempty"`
	// MaxJSONDepth limits the nesting of a JSON batch (default 64).
	MaxJSONDepth int `json:"max_json_depth,omitempty"`

	handler *batch.Handler
}

// CaddyModule returns the Caddy module information.
func (Batch) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.batch",
		New: func() caddy.Module { return new(Batch) },
	}
}

// Options is the batch.HandlerOptions that b configures, without Logger.
func (b *Batch) Options() batch.HandlerOptions {
	return batch.HandlerOptions{
		MaxCalls:              b.MaxCalls,
		MaxBodyBytes:          b.MaxBodyBytes,
		MaxPartBytes:          b.MaxPartBytes,
		Concurrency:           b.Concurrency,
		MaxBufferedBytes:      b.MaxBufferedBytes,
		MaxTotalBufferedBytes: b.MaxTotalBufferedBytes,
		CallTimeout:           time.Duration(b.CallTimeout),
		PathPrefix:            b.PathPrefix,
		MaxEpilogueBytes:      b.MaxEpilogueBytes,
		ResultReferences:      b.ResultReferences,
		HaltOnError:           b.HaltOnError,
		HaltHeader:            b.HaltHeader,
		Changesets:            b.Changesets,
		OData:                 b.OData,
		MultipartOnly:         b.MultipartOnly,
		JSONFormat:            jsonFormats[b.JSONFormat],
		MaxJSONDepth:          b.MaxJSONDepth,
	}
}

// jsonFormats are the values of json_format; "" is the zero Format, which
// decides by the request.
var jsonFormats = map[string]batch.Format{
	"":      batch.FormatMultipart,
	"odata": batch.FormatODataJSON,
	"graph": batch.FormatGraphJSON,
}

// Provision builds the batch handler, logging to Caddy's logger.
func (b *Batch) Provision(ctx caddy.Context) error {
	opts := b.Options()
	opts.Logger = ctx.Slogger()
	b.handler = batch.NewHandlerOptions(http.HandlerFunc(b.serveCall), opts)
	return nil
}

// Validate refuses negative limits, a path prefix that is not a path and
// an unknown json_format.
func (b *Batch) Validate() error {
	for _, l := range []struct {
		name string
		v    int64
	}{
		{"max_calls", int64(b.MaxCalls)},
		{"max_body_bytes", b.MaxBodyBytes},
		{"max_part_bytes", b.MaxPartBytes},
		{"concurrency", int64(b.Concurrency)},
		{"max_buffered_bytes", b.MaxBufferedBytes},
		{"max_total_buffered_bytes", b.MaxTotalBufferedBytes},
		{"call_timeout", int64(b.CallTimeout)},
		{"max_epilogue_bytes", b.MaxEpilogueBytes},
		{"max_json_depth", int64(b.MaxJSONDepth)},
	} {
		if l.v < 0 {
			return fmt.Errorf("batch: %s is negative (%d)", l.name, l.v)
		}
	}
	if _, ok := jsonFormats[b.JSONFormat]; !ok {
		return fmt.Errorf("batch: json_format %q is neither odata nor graph", b.JSONFormat)
	}
	if b.PathPrefix != "" && b.PathPrefix[0] != '/' {
		return fmt.Errorf("batch: path_prefix %q does not start with /", b.PathPrefix)
	}
	return nil
}

// outer is what the calls of one batch need from the batch request: the
// server that serves them, and the header fields that say who sent the
// batch request and how it came (see forwardingFields).
type outer struct {
	srv        *caddyhttp.Server
	forwarding []field
}

// A field is a header field of the batch request, values nil when the
// batch request has none.
type field struct {
	name   string
	values []string
}

type outerKey struct{}

// errNested is the 400 that answers a call of a batch that reaches a
// batch handler: batches do not nest.
var errNested = errors.New("batch: a call of a batch reached a batch handler; batches do not nest")

// ServeHTTP serves r as a batch: each call goes through the whole server,
// as if it had arrived alone (see serveCall). The handler never calls
// next: the calls go through it. A request that is itself a call of a
// batch, which the server brought back here, answers 400: a batch in a
// batch would be unwrapped in turn, and its calls again, as deep as the
// bodies would allow.
func (b *Batch) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	if r.Context().Value(outerKey{}) != nil {
		http.Error(w, errNested.Error(), http.StatusBadRequest)
		return nil
	}
	srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if srv == nil {
		// Not reached: Caddy's server puts itself in every request's
		// context.
		return caddyhttp.Error(http.StatusInternalServerError, errors.New("batch: no Caddy server in the request's context"))
	}
	o := &outer{srv: srv, forwarding: forwardingFields(srv, r.Header)}
	b.handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), outerKey{}, o)))
	return nil
}

// forwardedNames are the header fields by which proxies say who the
// client is and how it came: Caddy's reverse_proxy trusts the three
// X-Forwarded ones from a trusted proxy, upstreams commonly trust all
// five.
var forwardedNames = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip"}

// forwardingFields are the fields of h, the batch request's header, that
// every call gets in place of its own: forwardedNames and the server's
// client_ip_headers. A proxy in front of Caddy set them on the batch
// request; on a call, they were written by the client, inside the batch
// body, and a call that kept its own would pick its client IP (the
// client_ip matcher, {client_ip}, the X-Forwarded-For that reverse_proxy
// sends upstream) whenever the proxy is trusted.
func forwardingFields(srv *caddyhttp.Server, h http.Header) []field {
	fs := make([]field, 0, len(forwardedNames)+len(srv.ClientIPHeaders))
	add := func(name string) {
		name = http.CanonicalHeaderKey(name)
		for _, f := range fs {
			if f.name == name {
				return
			}
		}
		fs = append(fs, field{name: name, values: h[name]})
	}
	for _, name := range forwardedNames {
		add(name)
	}
	for _, name := range srv.ClientIPHeaders {
		add(name)
	}
	return fs
}

// serveCall serves one call of a batch with the server the batch request
// came to, as if it had arrived alone on the batch request's connection:
// from the first route on, the routes before the batch handler's (and
// those that run before it in its own route) included, then the server's
// error routes if it fails, with an access log entry of its own, and with
// a request context of its own (the server's ServeHTTP prepares one for
// each request: a replacer whose {http.request.*} placeholders are the
// call's, its own variables, route groups and log fields), since the
// calls of a batch run concurrently. Its forwarding header fields are the
// batch request's (see forwardingFields), so that the client IP Caddy
// determines for it is the batch request's; its context hides the idle
// timeouts of the batch request's connection, which are not the call's
// to change (Caddy makes its own for the call, over its part, where
// deadlines are not supported).
func (b *Batch) serveCall(w http.ResponseWriter, r *http.Request) {
	o, _ := r.Context().Value(outerKey{}).(*outer)
	if o == nil {
		// Not reached: every call's context descends from the batch's.
		http.Error(w, "batch: call outside a batch", http.StatusInternalServerError)
		return
	}
	for _, f := range o.forwarding {
		if f.values == nil {
			delete(r.Header, f.name)
		} else {
			// A copy: the calls run at once, and a handler may change
			// a value in place.
			r.Header[f.name] = slices.Clone(f.values)
		}
	}
	ctx := caddyhttp.ContextWithIdleTimeouts(r.Context(), nil, nil)
	o.srv.ServeHTTP(callWriter{w}, r.WithContext(ctx))
}

// callWriter is a call's ResponseWriter as the server sees it. It enables
// full duplex, which Caddy's server asks for each HTTP/1 request when
// enable_full_duplex is set (and warns of when refused): a call's body is
// in memory, so reading it never waits for the response to be written.
// Everything else is the part's.
type callWriter struct{ http.ResponseWriter }

// Unwrap gives http.ResponseController the part's ResponseWriter.
func (w callWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush flushes the part, for handlers that look for http.Flusher.
func (w callWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// EnableFullDuplex does nothing: a call is full duplex already.
func (callWriter) EnableFullDuplex() error { return nil }

// Interface guards
var (
	_ caddy.Provisioner           = (*Batch)(nil)
	_ caddy.Validator             = (*Batch)(nil)
	_ caddyhttp.MiddlewareHandler = (*Batch)(nil)
)
