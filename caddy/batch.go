// Package caddybatch is the batch handler of
// github.com/mixedcodec/mixed/batch as a Caddy module: http.handlers.batch
// unwraps a multipart/mixed batch (Google's batch format, or OData's
// $batch), or a JSON one (OData 4.01's or Microsoft Graph's) unless
// multipart_only is set, on its route and serves each call with the rest
// of the route, so that reverse_proxy, with its load balancing, health
// checks and retries, and every other handler after it apply to each call
// as if it had arrived alone.
//
// Importing the package registers the module and the Caddyfile directive
// "batch", ordered before reverse_proxy; cmd/caddy builds a Caddy binary
// with it, as xcaddy would.
package caddybatch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/mixedcodec/mixed/batch"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func init() {
	caddy.RegisterModule(Batch{})
}

// Batch is the http.handlers.batch module. Every field is the
// batch.HandlerOptions field of the same name, and a zero field selects
// that option's default. The batch's log lines (a panic in a call's
// handler, a response that failed after it began to stream) go to Caddy's
// logger of this module, "http.handlers.batch".
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
	logger  *zap.Logger
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
		MaxCalls:         b.MaxCalls,
		MaxBodyBytes:     b.MaxBodyBytes,
		MaxPartBytes:     b.MaxPartBytes,
		Concurrency:      b.Concurrency,
		MaxBufferedBytes: b.MaxBufferedBytes,
		CallTimeout:      time.Duration(b.CallTimeout),
		PathPrefix:       b.PathPrefix,
		MaxEpilogueBytes: b.MaxEpilogueBytes,
		ResultReferences: b.ResultReferences,
		HaltOnError:      b.HaltOnError,
		HaltHeader:       b.HaltHeader,
		Changesets:       b.Changesets,
		OData:            b.OData,
		MultipartOnly:    b.MultipartOnly,
		JSONFormat:       jsonFormats[b.JSONFormat],
		MaxJSONDepth:     b.MaxJSONDepth,
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
	b.logger = ctx.Logger()
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
// rest of its route, and the variables set on it before the batch handler.
type outer struct {
	next caddyhttp.Handler
	vars map[string]any
}

type outerKey struct{}

// ServeHTTP serves r as a batch: each call goes through next.
func (b *Batch) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	o := &outer{next: next}
	if vars, ok := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any); ok {
		o.vars = maps.Clone(vars)
	}
	b.handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), outerKey{}, o)))
	return nil
}

// serveCall serves one call of a batch with the rest of the batch's route.
// The call gets a request context of its own, as Caddy's server prepares
// one for each request (a replacer whose {http.request.*} placeholders are
// the call's, its own variables, route groups and log fields), since the
// calls of a batch run concurrently and the handlers after this one write
// into those; the variables start as the batch request's, so that the
// client IP Caddy determined for the connection stays the call's. An error
// from the route becomes the call's response the way Caddy's server turns
// one into a response when the site has no error routes: the status of a
// caddyhttp.HandlerError (500 for any other error), no body, and a log
// line (at error level for 5xx, debug otherwise).
func (b *Batch) serveCall(w http.ResponseWriter, r *http.Request) {
	o, _ := r.Context().Value(outerKey{}).(*outer)
	if o == nil {
		// Not reached: every call's context descends from the batch's.
		http.Error(w, "batch: call outside a batch", http.StatusInternalServerError)
		return
	}
	srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, srv)
	if vars, ok := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any); ok {
		maps.Copy(vars, o.vars)
	}
	err := o.next.ServeHTTP(w, r)
	if err == nil {
		return
	}
	status := http.StatusInternalServerError
	var herr caddyhttp.HandlerError
	if errors.As(err, &herr) && herr.StatusCode != 0 {
		status = herr.StatusCode
	}
	level := zapcore.DebugLevel
	if status >= 500 {
		level = zapcore.ErrorLevel
	}
	if c := b.logger.Check(level, "batch call failed"); c != nil {
		c.Write(
			zap.String("method", r.Method),
			zap.String("uri", r.URL.RequestURI()),
			zap.Int("status", status),
			zap.Error(err),
		)
	}
	w.WriteHeader(status)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Batch)(nil)
	_ caddy.Validator             = (*Batch)(nil)
	_ caddyhttp.MiddlewareHandler = (*Batch)(nil)
)
