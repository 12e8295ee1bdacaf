package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mixedcodec/mixed/batch"
)

var serveHelp = `usage: mixed serve [-listen ADDR] [-upstream URL] [-path PREFIX] [-json-format F] [timeouts] [-max-buffered-bytes N]

A batch gateway: answers POST of multipart/mixed on PREFIX (and below it)
like Google's batch endpoints, and POST of application/json there as a
JSON batch (-json-format: OData 4.01's JSON batch, the default, or
Microsoft Graph's JSON batching), each in its own format, sending each
call to the upstream API over pooled keep-alive connections, so that any
REST API gains batching. Without
-upstream it serves the demo "farm" API of Google Calendar's batch
documentation in-process (GET /farm/v1/animals, GET/PUT/DELETE
/farm/v1/animals/{name}), so that the documentation's example works
(the demo store holds at most ` + strconv.Itoa(farmMaxAnimals) + ` animals, answering 507 past them,
and PUT bodies of at most ` + strconv.Itoa(farmMaxBody>>10) + ` KiB, answering 413 past it):

  mixed serve &
  curl -s --data-binary @body -H 'Content-Type: multipart/mixed; boundary=batch_foobarbaz' \
       http://127.0.0.1:8080/batch/farm/v1

With -upstream http://host/base, a call to /farm/v1/animals, or a direct
request for it, goes to http://host/base/farm/v1/animals, with Host set to
the upstream's host and X-Forwarded-For, -Host and -Proto saying where it
came from (a client's own are dropped, X_Forwarded_For and the like
too, and X-Real-IP, which the gateway does not set). Calls never leave the upstream's base path: a call's path is
relative to it, so the batch handler keeps call targets inside "/" (its
PathPrefix) after resolving dot segments, percent-encoded ones included;
and the gateway answers 400 to any request whose path still holds a dot
segment ("..", "%2e%2e", "..%2f", "..;" and the like), in a call or not.
It never forwards an Upgrade to h2c, whose HTTP/2 requests would pass it
unseen.

A call may use an earlier call's JSON result, Bitrix24 style: a target,
query or JSON body holding $result[id][field] gets that field of the
response of the call whose Content-ID is id. Send the outer header
"` + batch.DefaultHaltHeader + `: true" to stop starting calls after the first one that
fails (the others get 424).

A part of type multipart/mixed is a changeset, as in OData's $batch: its
calls run in order and succeed or fail together. The demo API's store takes
part: a changeset holds the store from its first call to its last, and if a
call fails (status 400 or more) the changes of the calls before it are
undone and the changeset's answer is that failed response alone; otherwise
the answer is a nested multipart/mixed of every response. In a JSON
batch, the requests of one "atomicityGroup" are such a changeset (OData
only: Graph's batching has none), and "dependsOn" orders calls: a call
whose dependency failed answers 424. A target
"$1/..." in a changeset means the Location of the response of its call
with Content-ID 1 (a PUT that creates an animal gives one). Try, with
CRLF line ends (curl --data-binary @file):

  --b
  Content-Type: multipart/mixed; boundary=cs

  --cs
  Content-Type: application/http
  Content-ID: 1

  PUT /farm/v1/animals/cow HTTP/1.1
  Content-Type: application/json
  Content-Length: 33

  {"animalAge":3,"peltColor":"red"}
  --cs
  Content-Type: application/http
  Content-ID: 2

  DELETE /farm/v1/animals/sheep HTTP/1.1
  If-Match: "etag/wrong"

  --cs--
  --b--

The DELETE fails with 412, so the cow is not created: the answer is the
412 alone (Content-ID: response-2). With -upstream, changesets still run in
order and stop at the first failure, but the gateway cannot undo what the
upstream did before it.

Other paths are served by the upstream (or the demo API) directly. Logs one
line per batch to standard error, and what a batch cannot tell its client
(a panic in a call, with its stack); stops on SIGINT or SIGTERM after the
batches in flight. With -log text or -log json the lines are log/slog's
in that format, and -log-level debug adds one line per call.

Timeouts bound what a client can hold: -read-timeout the whole request,
body included (a batch whose body stops arriving ends, and its connection
is closed), -write-timeout the response, -idle-timeout a keep-alive
connection between requests, -call-timeout each call of a batch (a call
past it answers 504 in its part) and the wait of a direct request for
its response to begin (504 past it; a response that has begun, a long
download, runs on), -tunnel-idle-timeout a connection switched to another
protocol (a WebSocket), which the others no longer bound: once it has
carried no byte either way for that long, it is closed, and so is its
connection to the upstream (a half close, one side ending its way, lets
the other way run on when mixed is built with Go 1.25 or later; Go
1.24's reverse proxy ends both). 0 means none. The defaults:

  -read-timeout ` + shortDuration(defaultReadTimeout) + ` -write-timeout ` + shortDuration(defaultWriteTimeout) + ` -idle-timeout ` + shortDuration(defaultIdleTimeout) + ` -call-timeout ` + shortDuration(defaultCallTimeout) + `
  -tunnel-idle-timeout ` + shortDuration(defaultTunnelIdleTimeout) + `

Memory is bounded too: -max-buffered-bytes (default ` + strconv.Itoa(batch.DefaultMaxTotalBufferedBytes>>20) + ` MiB) bounds the
response bytes all the batches in flight hold together while the part at
the head of each streams to its client: calls past it wait (a changeset's
calls fail with 500), so that clients that post batches and do not read
the answers cannot make the gateway hold more. A batch holds at most
` + strconv.Itoa(batch.DefaultMaxBufferedBytes>>20) + ` MiB of responses of its own, and its request body at most ` + strconv.Itoa(batch.DefaultMaxBodyBytes>>20) + ` MiB.

Flags:
`

// shortDuration writes d as a flag would take it, without zero units:
// "2m", "60s", "1h30m".
func shortDuration(d time.Duration) string {
	if d < 2*time.Minute && d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	if d < time.Hour && d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

// serveConfig is what serve needs beside its listener and inner handler.
type serveConfig struct {
	path         string   // the batch path, normalized
	upstream     *url.URL // nil: the demo API
	readTimeout  time.Duration
	writeTimeout time.Duration
	idleTimeout  time.Duration
	callTimeout  time.Duration
	// tunnelIdleTimeout closes a switched connection (a WebSocket) that
	// carried no byte either way for that long; 0 means never.
	tunnelIdleTimeout time.Duration
	// maxBufferedBytes is the batch handler's MaxTotalBufferedBytes.
	maxBufferedBytes int64
	jsonFormat       batch.Format // of an application/json batch
	// logger, if set, takes serve's log lines (-log): a batch's at info
	// level, each call's at debug level. Nil writes the plain lines.
	logger *slog.Logger
}

// Default timeouts of serve; see its -help.
const (
	defaultReadTimeout       = 2 * time.Minute
	defaultWriteTimeout      = 10 * time.Minute
	defaultIdleTimeout       = 2 * time.Minute
	defaultCallTimeout       = 60 * time.Second
	defaultReadHeaderTimeout = 10 * time.Second
	defaultTunnelIdleTimeout = 5 * time.Minute
)

// defaultConfig is serve's configuration when no flag is given.
func defaultConfig() serveConfig {
	return serveConfig{
		path:         "/batch",
		readTimeout:  defaultReadTimeout,
		writeTimeout: defaultWriteTimeout,
		idleTimeout:  defaultIdleTimeout,
		callTimeout:  defaultCallTimeout,
		// A WebSocket that pings every minute or so, as browsers'
		// and servers' keep-alives do, outlasts it.
		tunnelIdleTimeout: defaultTunnelIdleTimeout,
		// The handler's own default for its MaxBufferedBytes, which
		// serve leaves at its default.
		maxBufferedBytes: batch.DefaultMaxTotalBufferedBytes,
		jsonFormat:       batch.FormatODataJSON,
	}
}

func serveCmd(args []string, stdout, stderr io.Writer) int {
	a, code := parseServeArgs(args, stdout, stderr)
	if code >= 0 {
		return code
	}
	cfg := a.cfg
	ln, err := net.Listen("tcp", a.listen)
	if err != nil {
		return fail(stderr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := &syncWriter{w: stderr}
	if cfg.logger, err = newLogger(a.logFormat, a.logLevel, log); err != nil {
		ln.Close()
		return usageErr(stderr, "mixed serve", err.Error())
	}
	fmt.Fprintf(log, "mixed: serving batches on http://%s%s\n", ln.Addr(), cfg.path)
	if err := serve(ctx, ln, upstreamHandler(cfg.upstream, log), cfg, log); err != nil {
		return fail(stderr, err)
	}
	return 0
}

// serveArgs is what serve's arguments say: its configuration, the address
// to listen on, and the log's format and level (-log, -log-level).
type serveArgs struct {
	cfg                 serveConfig
	listen              string
	logFormat, logLevel string
}

// parseServeArgs reads serve's flags. It returns -1 when they were read,
// else the exit status (see parseFlags), having said why on stderr.
func parseServeArgs(args []string, stdout, stderr io.Writer) (serveArgs, int) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg := defaultConfig()
	listen := fs.String("listen", "127.0.0.1:8080", "the address to listen on")
	upstream := fs.String("upstream", "", "the API that calls go to, http://host/base (default: the built-in demo farm API)")
	batchPath := fs.String("path", cfg.path, "the path prefix that answers batches")
	fs.DurationVar(&cfg.readTimeout, "read-timeout", cfg.readTimeout, "the time to read a whole request, body included")
	fs.DurationVar(&cfg.writeTimeout, "write-timeout", cfg.writeTimeout, "the time to write a response, from the end of its request's head")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", cfg.idleTimeout, "the time a keep-alive connection may wait for its next request")
	fs.DurationVar(&cfg.callTimeout, "call-timeout", cfg.callTimeout, "the time each call of a batch may take (504 in its part past it), and a direct request may wait for its response to begin (504)")
	fs.DurationVar(&cfg.tunnelIdleTimeout, "tunnel-idle-timeout", cfg.tunnelIdleTimeout, "the time a connection switched to another protocol (a WebSocket) may carry no byte either way before it is closed, with its connection to the upstream")
	fs.Int64Var(&cfg.maxBufferedBytes, "max-buffered-bytes", cfg.maxBufferedBytes, "the response bytes all the batches in flight may hold in memory together (HandlerOptions.MaxTotalBufferedBytes); past it their calls wait")
	jsonFormat := fs.String("json-format", cfg.jsonFormat.String(), "how an application/json batch is read and answered: odata-json or graph-json")
	logFormat := fs.String("log", "", "the log's format: text or json (log/slog's); default: plain lines")
	logLevel := fs.String("log-level", "info", "with -log: info (a line per batch) or debug (and a line per call)")
	if code := parseFlags(fs, serveHelp, args, stdout, stderr); code >= 0 {
		return serveArgs{}, code
	}
	if fs.NArg() > 0 {
		return serveArgs{}, usageErr(stderr, "mixed serve", fmt.Sprintf("unexpected argument %q: serve takes flags only", fs.Arg(0)))
	}
	var err error
	if cfg.jsonFormat, err = parseServeJSONFormat(*jsonFormat); err != nil {
		return serveArgs{}, usageErr(stderr, "mixed serve", err.Error())
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read-timeout", cfg.readTimeout}, {"write-timeout", cfg.writeTimeout}, {"idle-timeout", cfg.idleTimeout}, {"call-timeout", cfg.callTimeout}, {"tunnel-idle-timeout", cfg.tunnelIdleTimeout}} {
		if d.v < 0 {
			return serveArgs{}, usageErr(stderr, "mixed serve", fmt.Sprintf("-%s %v: want 0 (none) or more", d.name, d.v))
		}
	}
	if cfg.maxBufferedBytes <= 0 {
		return serveArgs{}, usageErr(stderr, "mixed serve", fmt.Sprintf("-max-buffered-bytes %d: want 1 or more", cfg.maxBufferedBytes))
	}
	if cfg.path, err = batchPathOf(*batchPath); err != nil {
		return serveArgs{}, usageErr(stderr, "mixed serve", err.Error())
	}
	if *upstream != "" {
		if cfg.upstream, err = parseUpstream(*upstream); err != nil {
			return serveArgs{}, usageErr(stderr, "mixed serve", err.Error())
		}
	}
	return serveArgs{cfg: cfg, listen: *listen, logFormat: *logFormat, logLevel: *logLevel}, -1
}

// parseServeJSONFormat reads -json-format.
func parseServeJSONFormat(s string) (batch.Format, error) {
	for _, f := range []batch.Format{batch.FormatODataJSON, batch.FormatGraphJSON} {
		if s == f.String() {
			return f, nil
		}
	}
	return 0, fmt.Errorf("-json-format %q: want odata-json or graph-json", s)
}

// newLogger returns the logger of -log format and -log-level level,
// writing to w; nil for the plain lines (no -log).
func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	switch level {
	case "info":
		lv = slog.LevelInfo
	case "debug":
		lv = slog.LevelDebug
	default:
		return nil, fmt.Errorf("-log-level %q: want info or debug", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "":
		if level != "info" {
			return nil, fmt.Errorf("-log-level %s needs -log text or -log json", level)
		}
		return nil, nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log %q: want text or json", format)
}

// batchPathOf normalizes -path: a leading slash, no trailing one, no dot
// segments. "/" is refused: the other paths belong to the upstream. So are
// braces, white space and control characters, which the path's ServeMux
// pattern would not take literally: "/{x}" matched every path of one
// segment (the upstream's too), and "/a b" panicked (a method "/a").
func batchPathOf(p string) (string, error) {
	clean := path.Clean("/" + p)
	if clean == "/" {
		return "", fmt.Errorf("-path %q: want a path below /, which the upstream serves", p)
	}
	if strings.ContainsFunc(clean, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '{' || r == '}' }) {
		return "", fmt.Errorf("-path %q: want no braces, white space or control characters", p)
	}
	return clean, nil
}

// parseUpstream checks -upstream: an http or https URL with a host, and
// no query, fragment or user.
func parseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("-upstream %q: %v", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("-upstream %q: want an http or https URL with a host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("-upstream %q: want no query, fragment or user", s)
	}
	return u, nil
}

// upstreamHandler returns the handler calls go to: a gateway to the
// upstream, or the demo API when upstream is nil.
func upstreamHandler(upstream *url.URL, log io.Writer) http.Handler {
	if upstream == nil {
		return newFarm()
	}
	u := *upstream
	errLog := slog.NewLogLogger(slog.NewTextHandler(log, nil), slog.LevelError)
	p := &httputil.ReverseProxy{
		// SetURL sends the request to the upstream with its Host (not
		// the client's) and its base path joined with the request's.
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&u)
			pr.SetXForwarded()
			// A client's trailer fields never reach the upstream: the
			// values arrive, at the end of the body, in the request
			// the proxy copied, not in its copy, which holds only the
			// names the Trailer field declared; sent alone, they would
			// announce fields that never come.
			pr.Out.Trailer = nil
		},
		ModifyResponse: checkUpstreamResponse,
		ErrorHandler:   proxyError(errLog),
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			// http.DefaultTransport's bounds on connecting: a zero
			// Transport has none, and an upstream that takes SYNs or
			// TLS hellos and never answers would hold each request for
			// the OS's connect timeout, or for ever.
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			// Not net/http's 10 MB: every running call may read a
			// head, and a call's head over 64 KiB answers 502 anyway.
			MaxResponseHeaderBytes: maxUpstreamHead,
		},
		ErrorLog:   errLog,
		BufferPool: new(copyBuffers),
	}
	return &gateway{proxy: p}
}

// copyBuffers are the proxy's buffers for copying response bodies: without
// a BufferPool it allocates 32 KiB for every response, which in a batch of
// small calls was most of the gateway's garbage.
type copyBuffers struct{ pool sync.Pool }

// Get returns a buffer of 32 KiB, the size the proxy would allocate.
func (b *copyBuffers) Get() []byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, 32<<10)
}

// Put keeps p for a later response.
func (b *copyBuffers) Put(p []byte) { b.pool.Put(&p) }

// proxyError answers a request the upstream did not, as
// httputil.ReverseProxy does (a line in its log, 502), except that a
// request whose response head did not come within the time headDeadline
// gave it, or whose context's deadline passed (a batch call's
// CallTimeout), is answered 504.
func proxyError(lg *stdlog.Logger) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		status := http.StatusBadGateway
		switch {
		case errors.Is(context.Cause(r.Context()), errNoResponseHead):
			status, err = http.StatusGatewayTimeout, errNoResponseHead
		case errors.Is(r.Context().Err(), context.DeadlineExceeded):
			// The call's deadline, which the batch answers with 504
			// when it sees it before this call returns, and with the
			// status written here when it sees it after (a race CI
			// lost): 504 either way.
			status = http.StatusGatewayTimeout
		}
		lg.Printf("http: proxy error: %v", err)
		w.WriteHeader(status)
	}
}

// maxUpstreamHead is the largest response head the gateway reads from the
// upstream; a larger one answers 502.
const maxUpstreamHead = 1 << 20

// checkUpstreamResponse fails the upstream's responses that the gateway
// cannot pass on: a status below 100 (see validStatus) and a switch of
// protocols nobody asked for (see refuseUnaskedSwitch). The proxy then
// answers 502 and closes the response's body.
func checkUpstreamResponse(res *http.Response) error {
	if !validStatus(res.StatusCode) {
		return fmt.Errorf("the upstream answered with status %d, which is no HTTP status", res.StatusCode)
	}
	if err := refuseUnaskedSwitch(res); err != nil {
		return err
	}
	if tn, ok := res.Request.Context().Value(tunnelKey{}).(*tunnel); ok && res.StatusCode == http.StatusSwitchingProtocols {
		// The proxy copies to and from the body of a 101, the
		// upstream's connection: the tunnel sees those bytes, and can
		// close it.
		if rwc, ok := res.Body.(io.ReadWriteCloser); ok {
			res.Body = tn.upstreamConn(rwc)
		}
	}
	return nil
}

// validStatus reports whether code is a status a ResponseWriter takes.
// net/http's client reads any three digits as one ("099", "+99"), where
// its server, and a batch's part, panic on a code below 100: the proxy's
// WriteHeader then panicked, which closed a direct request's connection
// without an answer (a client's retry sent it upstream again) and made a
// call's part a 500 with a stack in the log.
func validStatus(code int) bool { return code >= 100 && code <= 999 }

// refuseUnaskedSwitch fails a 101 Switching Protocols of the upstream to
// another protocol than the request asked for, none included (a call of a
// batch never asks): the proxy then closes its connection, which it
// would leave open were it to fail it itself (golang/go#80875).
func refuseUnaskedSwitch(res *http.Response) error {
	if res.StatusCode != http.StatusSwitchingProtocols {
		return nil
	}
	asked, got := upgradeType(res.Request.Header), upgradeType(res.Header)
	if asked == "" || !strings.EqualFold(asked, got) {
		return fmt.Errorf("the upstream switched protocols to %q when %q was asked for", got, asked)
	}
	return nil
}

// upgradeType is the protocol a message's Upgrade field names, when its
// Connection field has the upgrade option; "" otherwise.
func upgradeType(h http.Header) string {
	for _, v := range h["Connection"] {
		for opt := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(opt), "upgrade") {
				return h.Get("Upgrade")
			}
		}
	}
	return ""
}

// gateway sends requests to the upstream, refusing the paths that could
// leave its base path once joined with it.
type gateway struct {
	proxy http.Handler
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if hasDotSegment(r.URL.EscapedPath()) || hasDotSegment(r.URL.Path) {
		writeError(w, http.StatusBadRequest, "the path "+r.URL.EscapedPath()+" has a dot segment, which could leave the upstream's base path")
		return
	}
	if names := forwardingLookalikes(r.Header); names != nil {
		r = r.Clone(r.Context())
		for _, k := range names {
			delete(r.Header, k)
		}
	}
	if up, ok := withoutH2C(r.Header["Upgrade"]); ok {
		// An upstream that took the upgrade would speak HTTP/2 with the
		// client on this connection, which the proxy then only copies:
		// requests for any path, outside the base path, unchecked.
		r = r.Clone(r.Context())
		r.Header.Del("HTTP2-Settings")
		if len(up) == 0 {
			r.Header.Del("Upgrade")
		} else {
			r.Header["Upgrade"] = up
		}
	}
	g.proxy.ServeHTTP(w, r)
}

// errNoResponseHead is the cause of the context of a direct request that
// had no response head within -call-timeout.
var errNoResponseHead = errors.New("no response head from the upstream within -call-timeout")

// headDeadline bounds the time next may take to begin its response: past
// d without one, the request's context ends with the cause
// errNoResponseHead (the gateway then answers 504), so that an upstream
// that hangs does not hold a request, and its goroutine and connections,
// for as long as the client waits. Unlike a deadline on the whole request
// it leaves a response that has begun, a download or a stream, to run as
// long as the client reads it. d <= 0 means none.
func headDeadline(next http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		t := time.AfterFunc(d, func() { cancel(errNoResponseHead) })
		defer t.Stop()
		next.ServeHTTP(&headWriter{ResponseWriter: w, t: t}, r.WithContext(ctx))
	})
}

// headWriter stops its timer once the response has begun: a final status
// (not 1xx, which an upstream may send before it), a byte of body, or a
// hijack (httputil.ReverseProxy's for an upgrade, whose connections the
// end of the context would close).
type headWriter struct {
	http.ResponseWriter
	t *time.Timer
}

func (w *headWriter) WriteHeader(code int) {
	if code >= 200 {
		w.t.Stop()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *headWriter) Write(p []byte) (int, error) {
	w.t.Stop()
	return w.ResponseWriter.Write(p)
}

func (w *headWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.t.Stop()
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap gives http.ResponseController the server's writer, for Flush and
// the rest.
func (w *headWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// idleTunnels closes the tunnels of next that stay idle for d: a direct
// request switched to another protocol (a WebSocket) becomes a hijacked
// connection that httputil.ReverseProxy copies both ways with no deadline,
// past the server's read, write and idle timeouts, so that a client could
// hold any number of idle ones, each with a connection to the upstream,
// two descriptors and a goroutine pair, for ever. d <= 0 means none.
func idleTunnels(next http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if upgradeType(r.Header) == "" {
			next.ServeHTTP(w, r)
			return
		}
		tn := &tunnel{idle: d, start: time.Now()}
		defer tn.stop()
		next.ServeHTTP(&tunnelWriter{ResponseWriter: w, tn: tn}, r.WithContext(context.WithValue(r.Context(), tunnelKey{}, tn)))
	})
}

// tunnelKey is the context key of a request's *tunnel, which
// checkUpstreamResponse gives the upstream's connection of a 101.
type tunnelKey struct{}

// tunnel closes both connections of a switched request once neither has
// moved a byte for idle. The reads and writes only store the time of
// their last byte; a single timer per tunnel, set for when the tunnel
// would be idle were no byte to move, looks at that time when it fires
// and either sets itself for the rest or closes both connections. Closing
// them ends the proxy's copies, blocked in a read or a write on either,
// and the proxy's handler with them: closing the client's alone would
// leave a copy blocked writing to an upstream that reads nothing.
type tunnel struct {
	idle  time.Duration
	start time.Time
	// last is when the last byte moved, either way, as time since
	// start: monotonic, and an atomic store per read or write.
	last atomic.Int64

	mu       sync.Mutex
	timer    *time.Timer // set once the client's connection is hijacked
	ended    bool        // closed, or its handler returned
	client   net.Conn
	upstream io.Closer
}

// moved notes that n bytes went through the tunnel, if any did.
func (tn *tunnel) moved(n int) {
	if n > 0 {
		tn.last.Store(int64(time.Since(tn.start)))
	}
}

// upstreamConn returns the upstream's connection rwc (a 101's body) noting
// what moves through it, and keeps rwc to close.
func (tn *tunnel) upstreamConn(rwc io.ReadWriteCloser) io.ReadWriteCloser {
	tn.mu.Lock()
	tn.upstream = rwc
	tn.mu.Unlock()
	return &tunnelBackend{ReadWriteCloser: rwc, tn: tn}
}

// hijacked starts the tunnel on the client's connection c and returns c
// noting what moves through it.
func (tn *tunnel) hijacked(c net.Conn) net.Conn {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	tn.client = c
	if !tn.ended {
		tn.moved(1) // the idle clock starts now
		tn.timer = time.AfterFunc(tn.idle, tn.check)
	}
	return &tunnelConn{Conn: c, tn: tn}
}

// check closes the tunnel if it has been idle for tn.idle, else sets the
// timer for the rest of that time from the last byte.
func (tn *tunnel) check() {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if tn.ended {
		return
	}
	if quiet := time.Since(tn.start) - time.Duration(tn.last.Load()); quiet < tn.idle {
		tn.timer.Reset(tn.idle - quiet)
		return
	}
	tn.ended = true
	tn.client.Close()
	if tn.upstream != nil {
		tn.upstream.Close()
	}
}

// stop ends the tunnel's timer once its handler has returned, having
// closed both connections itself.
func (tn *tunnel) stop() {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	tn.ended = true
	if tn.timer != nil {
		tn.timer.Stop()
	}
}

// tunnelWriter gives the proxy the client's connection of a tunnel when it
// hijacks it for a 101.
type tunnelWriter struct {
	http.ResponseWriter
	tn *tunnel
}

func (w *tunnelWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return c, brw, err
	}
	return w.tn.hijacked(c), brw, nil
}

// Unwrap gives http.ResponseController the writer below, for Flush and
// the rest (a request that asked for an upgrade may get a response that
// streams instead).
func (w *tunnelWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// tunnelConn is the client's connection of a tunnel, noting the bytes it
// moves.
type tunnelConn struct {
	net.Conn
	tn *tunnel
}

func (c *tunnelConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.tn.moved(n)
	return n, err
}

func (c *tunnelConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.tn.moved(n)
	return n, err
}

// CloseWrite passes on the proxy's half close of the client's connection,
// when the upstream has ended its side: without it, the proxy would end
// the tunnel both ways, where it lets the client go on sending.
func (c *tunnelConn) CloseWrite() error { return closeWrite(c.Conn) }

// tunnelBackend is the upstream's connection of a tunnel, noting the bytes
// it moves.
type tunnelBackend struct {
	io.ReadWriteCloser
	tn *tunnel
}

func (u *tunnelBackend) Read(p []byte) (int, error) {
	n, err := u.ReadWriteCloser.Read(p)
	u.tn.moved(n)
	return n, err
}

func (u *tunnelBackend) Write(p []byte) (int, error) {
	n, err := u.ReadWriteCloser.Write(p)
	u.tn.moved(n)
	return n, err
}

// CloseWrite passes on the proxy's half close of the upstream's
// connection, when the client has ended its side (net/http's 101 body has
// it): without it, the proxy would end the tunnel both ways, and the
// upstream's answer to the client's last bytes would be lost.
func (u *tunnelBackend) CloseWrite() error { return closeWrite(u.ReadWriteCloser) }

// closeWrite half closes c, if it can: errors.ErrUnsupported if not.
func closeWrite(c any) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// forwardingLookalikes returns the names of the fields of h that an
// upstream may read as a forwarding field the proxy sets: the proxy drops
// a client's own X-Forwarded-For, -Host and -Proto only as spelled with
// dashes, and the servers that map field names to CGI-style variables
// (HTTP_X_FORWARDED_FOR: PHP's, Rack's and WSGI's among them) read an
// underscore as a dash, so that "X_Forwarded_For" would stand beside, or
// for, the gateway's own.
//
// X-Real-IP goes too, however it is spelled: the gateway does not set it,
// and an upstream that takes it from a trusted proxy, as many do (nginx's
// real_ip module, Caddy's and others' trusted-proxy rules), would read a
// client's own as the client's address.
func forwardingLookalikes(h http.Header) []string {
	var names []string
	for k := range h {
		d := strings.ReplaceAll(k, "_", "-")
		switch {
		case strings.EqualFold(d, "X-Real-Ip"):
			names = append(names, k)
		case d == k:
		case strings.EqualFold(d, "X-Forwarded-For"), strings.EqualFold(d, "X-Forwarded-Host"), strings.EqualFold(d, "X-Forwarded-Proto"):
			names = append(names, k)
		}
	}
	return names
}

// withoutH2C returns the values of an Upgrade field without the h2c
// protocol (any version), and whether there was one to remove.
func withoutH2C(vv []string) ([]string, bool) {
	var keep []string
	found := false
	for _, v := range vv {
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.TrimSpace(tok)
			if name, _, _ := strings.Cut(tok, "/"); strings.EqualFold(strings.TrimSpace(name), "h2c") {
				found = true
			} else if tok != "" {
				keep = append(keep, tok)
			}
		}
	}
	if len(keep) > 0 {
		keep = []string{strings.Join(keep, ", ")}
	}
	return keep, found
}

// hasDotSegment reports whether the escaped path p holds a "." or ".."
// segment, counting what an upstream may decode: %2E as a dot, %2F,
// backslash and %5C as slashes, and a segment's path parameters, from a
// ";" or %3B on, as nothing, since Tomcat, Jetty and Spring take them off
// before they resolve dot segments ("..;x" is ".." to them).
func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(slashes.Replace(p), "/") {
		seg, _, _ = strings.Cut(seg, ";")
		if d := dots.Replace(seg); d == "." || d == ".." {
			return true
		}
	}
	return false
}

// slashes decodes what an upstream may take for a slash, and %3B for the
// ";" that starts a segment's parameters; dots decodes dots.
var (
	slashes = strings.NewReplacer("%2f", "/", "%2F", "/", "%5c", "/", "%5C", "/", "\\", "/", "%3b", ";", "%3B", ";")
	dots    = strings.NewReplacer("%2e", ".", "%2E", ".")
)

// handlerOptions are the batch handler's options in serve.
func handlerOptions(cfg serveConfig, inner http.Handler, log io.Writer) batch.HandlerOptions {
	opts := batch.HandlerOptions{
		ResultReferences:      true,
		HaltHeader:            batch.DefaultHaltHeader,
		Changesets:            true,
		CallTimeout:           cfg.callTimeout,
		MaxTotalBufferedBytes: cfg.maxBufferedBytes,
		JSONFormat:            cfg.jsonFormat,
		Logger:                cfg.logger,
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(log, nil))
	}
	if f, ok := inner.(*farm); ok {
		opts.BeginGroup = f.begin
	}
	if cfg.upstream != nil {
		// A call's path is relative to the upstream's base path, which
		// the proxy's SetURL puts in front of it: "/" is the root of
		// what the upstream serves here, not its base path.
		opts.PathPrefix = "/"
	}
	return opts
}

// serve serves batches on ln until ctx is done, then shuts down gracefully.
// log must be safe for concurrent writes.
func serve(ctx context.Context, ln net.Listener, inner http.Handler, cfg serveConfig, log io.Writer) error {
	srv := newServer(cfg, serveMux(cfg, inner, log), log)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serveMux routes what serve answers: the batch path, and the paths below
// it, to the batch handler, whose calls go to inner; any other path to
// inner directly.
func serveMux(cfg serveConfig, inner http.Handler, log io.Writer) http.Handler {
	bh := batch.NewHandlerOptions(counting(inner), handlerOptions(cfg, inner, log))
	lb := &logged{next: bh, log: log, logger: cfg.logger}
	mux := http.NewServeMux()
	mux.Handle(cfg.path, lb)
	mux.Handle(cfg.path+"/", lb)
	mux.Handle("/", headDeadline(idleTunnels(inner, cfg.tunnelIdleTimeout), cfg.callTimeout))
	return mux
}

// newServer is serve's http.Server, with its timeouts.
func newServer(cfg serveConfig, h http.Handler, log io.Writer) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: defaultReadHeaderTimeout,
		ReadTimeout:       cfg.readTimeout,
		WriteTimeout:      cfg.writeTimeout,
		IdleTimeout:       cfg.idleTimeout,
		ErrorLog:          slog.NewLogLogger(errorHandler(cfg, log), slog.LevelError),
	}
}

// errorHandler is the slog.Handler of serve's error lines: -log's, else
// text.
func errorHandler(cfg serveConfig, log io.Writer) slog.Handler {
	if cfg.logger != nil {
		return cfg.logger.Handler()
	}
	return slog.NewTextHandler(log, nil)
}

// syncWriter serializes writes, so that the batch log and the error log
// can share standard error (or a test's buffer).
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// stats collects the statuses of one batch's calls.
type stats struct {
	mu      sync.Mutex
	status  map[int]int
	running map[*statusWriter]bool // calls that have not returned
}

func newStats() *stats {
	return &stats{status: map[int]int{}, running: map[*statusWriter]bool{}}
}

// snapshot returns the number of calls and "code:n,..." in order of code.
// It is taken when the batch has ended, so a call still running then was
// left behind at its deadline (-call-timeout): the batch answered it 504,
// unless it had begun to write its own answer.
func (st *stats) snapshot() (int, string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	counts := maps.Clone(st.status)
	for sw := range st.running {
		if code, wrote := sw.result(); wrote {
			counts[code]++
		} else {
			counts[http.StatusGatewayTimeout]++
		}
	}
	codes := slices.Sorted(maps.Keys(counts))
	calls := 0
	var sb strings.Builder
	for i, c := range codes {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%d:%d", c, counts[c])
		calls += counts[c]
	}
	return calls, sb.String()
}

type statsKey struct{}

// counting wraps the calls' handler to count their statuses into the stats
// of their batch, found in the context the calls share with it: the
// status a call wrote when it returns, 500 when it panics (the batch
// handler answers so, and the panic goes on to it).
func counting(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		st, _ := r.Context().Value(statsKey{}).(*stats)
		if st == nil {
			next.ServeHTTP(sw, r)
			return
		}
		st.mu.Lock()
		st.running[sw] = true
		st.mu.Unlock()
		panicked := true
		defer func() {
			code, _ := sw.result()
			if panicked {
				code = http.StatusInternalServerError
			}
			st.mu.Lock()
			delete(st.running, sw)
			st.status[code]++
			st.mu.Unlock()
		}()
		next.ServeHTTP(sw, r)
		panicked = false
	})
}

// statusWriter notes the status a handler writes. Its handler may write
// while another goroutine asks (a call left running past its deadline).
type statusWriter struct {
	http.ResponseWriter
	mu     sync.Mutex
	status int
	wrote  bool
}

func (s *statusWriter) WriteHeader(code int) {
	s.mu.Lock()
	if !s.wrote && code >= 200 {
		s.status, s.wrote = code, true
	}
	s.mu.Unlock()
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.wrote = true
	s.mu.Unlock()
	return s.ResponseWriter.Write(p)
}

// result returns the status written (200 when none was) and whether
// anything was.
func (s *statusWriter) result() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status, s.wrote
}

// Unwrap lets http.ResponseController reach the batch's own writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logged logs one line per batch: to logger if set, else as a plain line
// to log.
type logged struct {
	next   http.Handler
	log    io.Writer
	logger *slog.Logger
	mu     sync.Mutex
}

func (l *logged) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := newStats()
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	l.next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), statsKey{}, st)))
	calls, statuses := st.snapshot()
	status, _ := sw.result()
	if l.logger != nil {
		l.logger.LogAttrs(r.Context(), slog.LevelInfo, "batch", slog.String("remote", r.RemoteAddr),
			slog.String("path", r.URL.Path), slog.Int("status", status), slog.Int("calls", calls),
			slog.String("statuses", statuses), slog.Duration("duration", time.Since(start)))
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// The path escaped: decoded, a client's %0A would end the line and
	// write one of its own, and a %20 split the fields.
	fmt.Fprintf(l.log, "batch %s %s status=%d calls=%d statuses=%s duration=%s\n",
		r.RemoteAddr, r.URL.EscapedPath(), status, calls, statuses, time.Since(start).Round(time.Microsecond))
}
