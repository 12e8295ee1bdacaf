package mixed

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/mixedcodec/mixed/internal/requri"
)

// HTTPRequest converts r to an [*http.Request] with context ctx, as a
// server handler would receive it. Its URL is r.Target resolved against
// base (the URL of the service root, or of the batch endpoint's host):
// scheme and host always come from base for origin-form and relative
// targets, whatever the target or a Host field says, so a call cannot
// choose another host; Host is base.Host. A Host field of the message is
// dropped, as net/http moves it out of the Header. Absolute-form and
// authority-form targets, when the options allowed them, give their own
// host. base may be nil, for a URL with a path and query only.
//
// The names and values of the Header are copied (names canonicalized); the
// Body streams from r.Body. As in net/http's server, the Trailer field of
// a chunked request moves out of the Header into Trailer, as the names it
// declares with nil values, so that a handler, or a Transport forwarding
// the request, knows before the body which trailer fields to expect; the
// trailer fields sent are set in that map once the body has been read to
// its end. ContentLength is r.ContentLength. The returned request's body
// reads the message until it is closed, the MessageReader is Reset or the
// Reader of the part it reads from moves to the next part; from then on
// every Read returns an error wrapping [http.ErrBodyReadAfterClose], as
// net/http's request bodies do after the handler returned, never bytes of
// another message. It may be read on another goroutine (a reverse proxy's
// transport does): Reset waits for a Read in progress.
func (r *Request) HTTPRequest(ctx context.Context, base *url.URL) (*http.Request, error) {
	// One allocation holds the request, its URL and its body adapter; one
	// string holds every name and value, as substrings; one slice backs
	// every value list. With the Header map, that is 4 allocations for a
	// typical request, where building it through net/http takes 15 or more.
	a := new(requestAlloc)
	req := &a.req
	if m := r.Body.m; m != nil {
		if m.tmpl == nil || m.tmplCtx != ctx {
			// Only WithContext can set a Request's context; it copies
			// the Request, so one template per context is made and then
			// copied, context and all, for each request.
			m.tmpl, m.tmplCtx = new(http.Request).WithContext(ctx), ctx
		}
		*req = *m.tmpl
	} else {
		*req = *new(http.Request).WithContext(ctx)
	}
	head := string(r.Header.buf)
	// The Method and Target of a Request read by a MessageReader lie at
	// the start of Header.buf (see rebind); check by address, and copy
	// anything else.
	at := func(b []byte, off int) string {
		if len(b) > 0 && off+len(b) <= len(r.Header.buf) && &r.Header.buf[off] == &b[0] {
			return head[off : off+len(b)]
		}
		return string(b)
	}
	target := at(r.Target, len(r.Method)+1)
	u, err := r.targetURL(&a.url, target, base)
	if err != nil {
		return nil, err
	}
	req.Method = at(r.Method, 0)
	req.URL = u
	req.RequestURI = target
	req.Proto = "HTTP/1.1"
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 {
		req.Proto = "HTTP/" + strconv.Itoa(r.ProtoMajor) + "." + strconv.Itoa(r.ProtoMinor)
	}
	req.ProtoMajor, req.ProtoMinor = r.ProtoMajor, r.ProtoMinor
	req.Host = u.Host
	if base != nil && (r.form == originForm || r.form == relativeForm || r.form == asteriskForm) {
		req.Host = base.Host
	}
	req.Header = fieldsToHTTP(&r.Header, true, head, a.vals[:0])
	req.ContentLength = r.ContentLength
	if r.Chunked {
		req.TransferEncoding = []string{"chunked"}
		req.Trailer = declaredTrailer(req.Header)
	}
	if r.ContentLength == 0 {
		req.Body = http.NoBody
	} else {
		a.body.init(r.Body, &r.Trailer, &req.Trailer)
		req.Body = &a.body
	}
	return req, nil
}

// targetURL returns the URL of a request with the target r.Target (given
// as a string), resolved against base as HTTPRequest documents; buf is
// the URL to fill when one need not be allocated.
func (r *Request) targetURL(buf *url.URL, target string, base *url.URL) (*url.URL, error) {
	var u *url.URL
	switch r.form {
	case originForm, asteriskForm:
		if path, query, ok := plainOriginForm(target); ok {
			*buf = url.URL{Path: path, RawQuery: query}
			u = buf
		} else {
			// ParseRequestURI never reads "//host/path" as an authority.
			v, err := url.ParseRequestURI(target)
			if err != nil {
				return nil, argErr(ErrBadTarget, err.Error())
			}
			u = v
		}
		if base != nil {
			path, rawPath, query, force := u.Path, u.RawPath, u.RawQuery, u.ForceQuery
			*buf = *base
			buf.Path, buf.RawPath, buf.RawQuery, buf.ForceQuery = path, rawPath, query, force
			buf.Opaque, buf.Fragment, buf.RawFragment = "", "", ""
			u = buf
		}
	case relativeForm:
		// "./" keeps a first segment with a colon from being a scheme.
		v, err := url.Parse("./" + target)
		if err != nil {
			return nil, argErr(ErrBadTarget, err.Error())
		}
		if base != nil {
			v = base.ResolveReference(v)
		}
		u = v
	case absoluteForm:
		v, err := url.ParseRequestURI(target)
		if err != nil {
			return nil, argErr(ErrBadTarget, err.Error())
		}
		u = v
	case authorityForm:
		// As net/http's server reads a CONNECT target: an authority,
		// or a path when it starts with a slash (net/rpc's "CONNECT
		// /_goRPC_"), not a host named "/_goRPC_" (nor "a/b" one).
		raw := target
		if target[0] != '/' {
			raw = "http://" + target
		}
		v, err := url.ParseRequestURI(raw)
		if err != nil {
			return nil, argErr(ErrBadTarget, err.Error())
		}
		v.Scheme = ""
		u = v
	}
	return u, nil
}

// requestAlloc is what HTTPRequest allocates at once.
type requestAlloc struct {
	req  http.Request
	url  url.URL
	body httpBody
	vals [8]string // the values of a typical head
}

// plainOriginForm splits an origin-form target into path and query when
// url.ParseRequestURI would give exactly these substrings: no escapes, no
// fragment, and only bytes that a path keeps unescaped (so RawPath stays
// empty). It reports false for anything else.
func plainOriginForm(target string) (path, query string, ok bool) {
	if len(target) == 0 || target[0] != '/' {
		return "", "", false
	}
	path = target
	if i := strings.IndexByte(target, '?'); i >= 0 {
		path, query = target[:i], target[i+1:]
		if query == "" {
			return "", "", false // ForceQuery
		}
	}
	if len(path) > 1 && path[1] == '/' {
		return "", "", false // "//x" is a path here too, but leave it to ParseRequestURI
	}
	if !requri.PlainPath(path) {
		return "", "", false
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c == '#' || c < 0x21 || c > 0x7e {
			return "", "", false
		}
	}
	return path, query, true
}

// HTTPResponse returns a new [*http.Response] made from r, answering req
// (which may be nil), as a client would receive it. The Response, its
// Status, Proto and Header (names canonicalized, values copied) are its
// own and stay valid for as long as the caller keeps them, after the
// MessageReader moves on. The Trailer field of a chunked response is in
// Trailer, not Header, as the names it declares with nil values (as
// net/http's client gives it). Only its Body is tied to the MessageReader: it
// streams from r.Body, sets the trailer fields sent in Trailer once read
// to its end and, like a
// request's from [Request.HTTPRequest], fails with an error wrapping
// [http.ErrBodyReadAfterClose] once closed, once the MessageReader is
// Reset, or once the Reader of the part it reads from moves to the next
// part, never giving bytes of another message: read it before
// [Reader.NextPart], or use [ReadResponses], which copies it. Status is the
// code and the reason phrase, or the standard one when the status line had
// none. TransferEncoding is ["chunked"] when the Transfer-Encoding field
// is chunked, also for a response without body; the ContentLength of an
// answer to HEAD (r read for HEAD, or req a HEAD request) is the value
// of its Content-Length field, or -1: the length a GET would have had,
// as net/http gives it. The Transfer-Encoding field stays in Header.
func (r *Response) HTTPResponse(req *http.Request) *http.Response {
	reason := string(r.Reason)
	if reason == "" {
		reason = http.StatusText(r.StatusCode)
	}
	status := strconv.Itoa(r.StatusCode)
	if reason != "" {
		status += " " + reason
	}
	resp := &http.Response{
		Status:        status,
		StatusCode:    r.StatusCode,
		Proto:         "HTTP/" + strconv.Itoa(r.ProtoMajor) + "." + strconv.Itoa(r.ProtoMinor),
		ProtoMajor:    r.ProtoMajor,
		ProtoMinor:    r.ProtoMinor,
		Header:        toHTTPHeader(&r.Header, false),
		ContentLength: r.ContentLength,
		Request:       req,
	}
	if r.Chunked || chunkedField(resp.Header["Transfer-Encoding"], r.ProtoMajor, r.ProtoMinor) {
		// Also where a chunked response has no body (1xx, 204, 304,
		// HEAD's), as net/http does.
		resp.TransferEncoding = []string{"chunked"}
		resp.Trailer = declaredTrailer(resp.Header)
	}
	if r.head || req != nil && req.Method == http.MethodHead {
		// What the body of a GET would be, as net/http gives it: the
		// Content-Length field, or -1.
		resp.ContentLength = -1
		if vv := resp.Header["Content-Length"]; len(vv) > 0 {
			if n, ok := parseContentLength([]byte(vv[0])); ok {
				resp.ContentLength = n
			}
		}
	}
	if r.ContentLength == 0 {
		resp.Body = http.NoBody
	} else {
		hb := new(httpBody)
		hb.init(r.Body, &r.Trailer, &resp.Trailer)
		resp.Body = hb
	}
	return resp
}

// chunkedField reports whether a message of version major.minor with the
// Transfer-Encoding values vv is chunked as net/http reads it: HTTP/1.1 or
// later, one value, "chunked" in any case of ASCII letters.
func chunkedField(vv []string, major, minor int) bool {
	if major < 1 || major == 1 && minor < 1 || len(vv) != 1 || len(vv[0]) != len("chunked") {
		return false
	}
	for i := 0; i < len(vv[0]); i++ {
		if vv[0][i]|0x20 != "chunked"[i] {
			return false
		}
	}
	return true
}

// declaredTrailer moves the Trailer field of a chunked message out of h
// and returns the names it declares, canonicalized, each with a nil value,
// or nil when it declares none: what net/http's fixTrailer makes of it.
// (net/http refuses a message whose Trailer field names Content-Length,
// Transfer-Encoding or Trailer; a MessageReader does too, and such a name
// in a Request or Response built otherwise is left out.)
func declaredTrailer(h http.Header) http.Header {
	vv, ok := h["Trailer"]
	if !ok {
		return nil
	}
	delete(h, "Trailer")
	var t http.Header
	for _, v := range vv {
		for e := range strings.SplitSeq(v, ",") {
			e = strings.Trim(e, " \t")
			if e == "" {
				continue
			}
			switch k := http.CanonicalHeaderKey(e); k {
			case "Content-Length", "Transfer-Encoding", "Trailer":
			default:
				if t == nil {
					t = make(http.Header)
				}
				t[k] = nil
			}
		}
	}
	return t
}

func toHTTPHeader(h *Header, request bool) http.Header {
	return fieldsToHTTP(h, request, "", nil)
}

// fieldsToHTTP converts fields to an http.Header, names canonicalized. When
// head is string(h.buf), names and values are substrings of it; otherwise
// each is copied. One slice backs the value lists of names that appear once:
// vals when it has room, else a new one.
func fieldsToHTTP(h *Header, request bool, head string, vals []string) http.Header {
	str := func(s span) string {
		if head != "" {
			return head[s.start:s.end]
		}
		return string(h.bytes(s))
	}
	out := make(http.Header, len(h.fields))
	if cap(vals) < len(h.fields) {
		vals = make([]string, len(h.fields))
	}
	vals = vals[:len(h.fields)]
	for i, f := range h.fields {
		k := canonicalName(str(f.name))
		if request && k == "Host" {
			continue
		}
		vals[i] = str(f.value)
		if vv, ok := out[k]; ok {
			out[k] = append(vv, vals[i])
		} else {
			out[k] = vals[i : i+1 : i+1]
		}
	}
	return out
}

// canonicalName returns http.CanonicalHeaderKey(name). A name already
// canonical, as most that peers send are, is seen to be in one pass of
// table look-ups, where net/http's own check of it took about twice the
// instructions; any other name is left to net/http.
func canonicalName(name string) string {
	t := &canonicalAtStart
	for i := 0; i < len(name); i++ {
		c := name[i]
		if t[c] != c {
			return http.CanonicalHeaderKey(name)
		}
		t = &canonicalInside
		if c == '-' {
			t = &canonicalAtStart
		}
	}
	return name
}

// canonicalAtStart and canonicalInside map a token byte to itself where
// a canonical name has it at the start of a word (an upper-case letter,
// or any token byte but a lower-case letter) and inside one (any token
// byte but an upper-case letter); every other byte maps to another, so
// that canonicalName hands it to net/http.
var canonicalAtStart, canonicalInside = func() (start, inside [256]byte) {
	for c := range 256 {
		start[c], inside[c] = byte(c)+1, byte(c)+1
		if !tokenTable[c] {
			continue
		}
		if c < 'a' || c > 'z' {
			start[c] = byte(c)
		}
		if c < 'A' || c > 'Z' {
			inside[c] = byte(c)
		}
	}
	return start, inside
}()

// httpBody adapts a MessageBody to net/http: it closes, and copies the
// trailer into the request or response at the end of the body. It belongs
// to one message of its MessageReader (through its lease): once that message
// is gone, or the body closed, it reads nothing more.
type httpBody struct {
	b       *MessageBody
	trailer *Header
	dst     *http.Header
	lease   *bodyLease
	done    bool
	closed  bool
	// own is the lease of the message when this is the first adapter made
	// from it: the adapters share it, and it lives as long as they do,
	// with no allocation of its own.
	own bodyLease
}

// A bodyLease is shared by the body adapters made from one message of a
// MessageReader. Reset marks it gone under mu, which an adapter holds
// while it reads, so that Reset waits for a Read in progress and no Read
// starts on the next message's bytes.
type bodyLease struct {
	mu   sync.Mutex
	gone bool
}

// init makes hb, at its final address, the adapter of b. It is called by
// the goroutine that reads the message, as Reset is, so m.lease needs no
// lock.
func (hb *httpBody) init(b *MessageBody, trailer *Header, dst *http.Header) {
	*hb = httpBody{b: b, trailer: trailer, dst: dst}
	if m := b.m; m != nil {
		if m.lease == nil {
			m.lease = &hb.own
		}
		hb.lease = m.lease
	}
}

func (hb *httpBody) Read(p []byte) (int, error) {
	if l := hb.lease; l != nil {
		l.mu.Lock()
		defer l.mu.Unlock()
		if hb.closed || l.gone {
			return 0, http.ErrBodyReadAfterClose
		}
	}
	n, err := hb.b.Read(p)
	if err == io.EOF && !hb.done {
		hb.done = true
		if hb.trailer.Len() > 0 {
			// Set in the map that declared the names, not a new one: a
			// Transport forwarding the message holds that map, and
			// sends what it has at the end of the body.
			t := toHTTPHeader(hb.trailer, false)
			if *hb.dst == nil {
				*hb.dst = t
			} else {
				for k, v := range t {
					(*hb.dst)[k] = v
				}
			}
		}
	}
	return n, err
}

// Close does not drain the body (the rest of the part is skipped by the
// next Reader.NextPart); it makes later reads fail.
func (hb *httpBody) Close() error {
	if l := hb.lease; l != nil {
		l.mu.Lock()
		hb.closed = true
		l.mu.Unlock()
	}
	return nil
}
