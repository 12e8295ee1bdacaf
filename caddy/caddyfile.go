package caddybatch

import (
	"errors"
	"math"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

// The directive runs before invoke: after the middleware directives
// (basic_auth, rewrite, encode, ...), which apply to the batch request as
// they do to each of its calls, and before every directive that
// dispatches or responds (handle, route, respond, reverse_proxy), any of
// which, without a matcher, would otherwise take the batch endpoint's
// requests first. Where batch runs matters to the batch request alone:
// its calls go through the whole server.
func init() {
	httpcaddyfile.RegisterHandlerDirective("batch", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("batch", httpcaddyfile.Before, "invoke")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	b := new(Batch)
	err := b.UnmarshalCaddyfile(h.Dispenser)
	return b, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	batch [<matcher>] {
//		max_calls                <n>
//		max_body_bytes           <size>
//		max_part_bytes           <size>
//		concurrency              <n>
//		max_buffered_bytes       <size>
//		max_total_buffered_bytes <size>
//		call_timeout             <duration>
//		path_prefix              <path>
//		max_epilogue_bytes       <size>
//		references
//		halt_on_error
//		halt_header              <field>
//		changesets
//		odata
//		multipart_only
//		json_format              odata|graph
//		max_json_depth           <n>
//	}
//
// Sizes are byte counts with an optional unit (32MiB, 64KB, 1000);
// durations are Caddy's (60s, 1m30s, 2d). The flags (references,
// halt_on_error, changesets, odata, multipart_only) take no argument. The block may be
// left out for the defaults.
func (b *Batch) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		switch opt {
		case "references", "halt_on_error", "changesets", "odata", "multipart_only":
			if d.NextArg() {
				return d.Errf("%s takes no argument", opt)
			}
			switch opt {
			case "references":
				b.ResultReferences = true
			case "halt_on_error":
				b.HaltOnError = true
			case "changesets":
				b.Changesets = true
			case "odata":
				b.OData = true
			case "multipart_only":
				b.MultipartOnly = true
			}
			continue
		}
		var arg string
		if !d.Args(&arg) {
			return d.ArgErr()
		}
		if d.NextArg() {
			return d.Errf("%s takes one argument", opt)
		}
		var err error
		switch opt {
		case "max_calls":
			b.MaxCalls, err = count(arg)
		case "concurrency":
			b.Concurrency, err = count(arg)
		case "max_body_bytes":
			b.MaxBodyBytes, err = size(arg)
		case "max_part_bytes":
			b.MaxPartBytes, err = size(arg)
		case "max_buffered_bytes":
			b.MaxBufferedBytes, err = size(arg)
		case "max_total_buffered_bytes":
			b.MaxTotalBufferedBytes, err = size(arg)
		case "max_epilogue_bytes":
			b.MaxEpilogueBytes, err = size(arg)
		case "call_timeout":
			var dur caddy.Duration
			dur, err = parseDuration(arg)
			b.CallTimeout = dur
		case "path_prefix":
			b.PathPrefix = arg
		case "halt_header":
			b.HaltHeader = arg
		case "json_format":
			if _, ok := jsonFormats[arg]; !ok || arg == "" {
				err = errors.New("neither odata nor graph")
			}
			b.JSONFormat = arg
		case "max_json_depth":
			b.MaxJSONDepth, err = count(arg)
		default:
			return d.Errf("unknown batch option %q", opt)
		}
		if err != nil {
			return d.Errf("%s %s: %v", opt, arg, err)
		}
	}
	return nil
}

func count(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err == nil && n <= 0 {
		err = strconv.ErrRange
	}
	return n, err
}

func size(s string) (int64, error) {
	n, err := humanize.ParseBytes(s)
	if err == nil && (n == 0 || n > math.MaxInt64) {
		err = strconv.ErrRange
	}
	return int64(n), err
}

func parseDuration(s string) (caddy.Duration, error) {
	dur, err := caddy.ParseDuration(s)
	if err == nil && dur <= 0 {
		err = strconv.ErrRange
	}
	return caddy.Duration(dur), err
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Batch)(nil)
