package mixed

import (
	"bytes"
	"strconv"

	"github.com/mixedcodec/mixed/internal/bytetab"
)

// DefaultMaxStartLineBytes is the default limit on a request line or status
// line; see [MessageOptions].
const DefaultMaxStartLineBytes = 8 << 10

// MessageOptions configures a [MessageReader] or a [MessageWriter]. A zero
// or negative limit selects its default, so the zero value means "all
// defaults, origin-form targets only".
type MessageOptions struct {
	// MaxStartLineBytes limits the request line or status line, without
	// its line end (default 8 KiB): ErrStartLineTooLong. It also bounds a
	// chunk-size line of a chunked body (ErrBadChunk).
	MaxStartLineBytes int
	// MaxHeaderBytes limits the head, counted as on the wire: the start
	// line, the field lines and the empty line that ends them, line ends
	// included (default 64 KiB): ErrHeaderTooLarge. It counts as
	// ReaderOptions.MaxHeaderBytes does for a part's header, with the
	// start line besides. It also bounds the trailer section of a chunked
	// body, counted the same way.
	MaxHeaderBytes int
	// MaxHeaderFields limits the fields of the head, and of the trailer
	// section (default 100): ErrTooManyFields, as
	// ReaderOptions.MaxHeaderFields does for a part's header. It also
	// limits the names a chunked message's Trailer field declares, which
	// HTTPRequest and HTTPResponse make a map of.
	MaxHeaderFields int

	// AllowAbsoluteTargets accepts request targets in absolute-form
	// (https://host/path) and authority-form (CONNECT host:port). They
	// are rejected by default with ErrBadTargetForm: a batch server must
	// not let one call choose another host.
	AllowAbsoluteTargets bool
	// AllowRelativeTargets accepts targets relative to a service root,
	// without the leading slash of origin-form, as OData sends them
	// (Customers('ALFKI'), $1/Orders). [Request.HTTPRequest] resolves them
	// against the base URL it is given.
	AllowRelativeTargets bool
}

func (o MessageOptions) withDefaults() MessageOptions {
	if o.MaxStartLineBytes <= 0 {
		o.MaxStartLineBytes = DefaultMaxStartLineBytes
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	// Field spans are 32-bit.
	if o.MaxHeaderBytes > 1<<30 {
		o.MaxHeaderBytes = 1 << 30
	}
	if o.MaxHeaderFields <= 0 {
		o.MaxHeaderFields = DefaultMaxHeaderFields
	}
	return o
}

// Request target forms (RFC 9112 §3.2), plus the service-root-relative form
// OData uses.
const (
	originForm    = iota // /path?query
	absoluteForm         // scheme://authority/path?query
	authorityForm        // host:port, for CONNECT
	asteriskForm         // *, for OPTIONS
	relativeForm         // path?query relative to a service root
)

// targetForm classifies target, which the caller has checked to be
// non-empty and free of spaces and control characters.
func targetForm(method, target []byte) int {
	switch {
	case string(method) == "CONNECT":
		return authorityForm
	case target[0] == '/':
		return originForm
	case len(target) == 1 && target[0] == '*':
		return asteriskForm
	}
	// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then "://".
	// Anything else without a leading slash is a relative reference:
	// "people:createContact" has no "//" and cannot name a host.
	if c := target[0] | 0x20; c >= 'a' && c <= 'z' {
		for i := 1; i < len(target); i++ {
			c := target[i]
			switch {
			case c|0x20 >= 'a' && c|0x20 <= 'z', c >= '0' && c <= '9', c == '+', c == '-', c == '.':
				continue
			case c == ':':
				if bytes.HasPrefix(target[i+1:], []byte("//")) {
					return absoluteForm
				}
			}
			break
		}
	}
	return relativeForm
}

// checkTarget validates a request target's bytes and its form against the
// policy. off is the offset of target[0], for errors.
func checkTarget[T string | []byte](method, target T, o *MessageOptions, off int64) error {
	if len(target) == 0 {
		return syntaxErr(off, ErrBadTarget, "empty request target")
	}
	if !bytetab.All(&quietTargetByte, target) {
		for i := 0; i < len(target); i++ {
			switch c := target[i]; {
			case c <= ' ' || c == 0x7f:
				return syntaxErr(off+int64(i), ErrBadTarget, "control character or space in request target")
			case c == '%':
				// net/http (url.ParseRequestURI) rejects a bad escape too.
				if i+2 >= len(target) || !isHex(target[i+1]) || !isHex(target[i+2]) {
					return syntaxErr(off+int64(i), ErrBadTarget, "'%' not followed by two hex digits in request target")
				}
			}
		}
	}
	switch targetForm([]byte(method), []byte(target)) {
	case absoluteForm:
		if !o.AllowAbsoluteTargets {
			return syntaxErr(off, ErrBadTargetForm, "absolute-form target "+quote(string(target))+": full URLs are not allowed")
		}
	case authorityForm:
		if !o.AllowAbsoluteTargets {
			return syntaxErr(off, ErrBadTargetForm, "authority-form target "+quote(string(target)))
		}
	case asteriskForm:
		if string(method) != "OPTIONS" {
			return syntaxErr(off, ErrBadTargetForm, "asterisk-form target with method "+quote(string(method)))
		}
	case relativeForm:
		if !o.AllowRelativeTargets {
			return syntaxErr(off, ErrBadTargetForm, "target "+quote(string(target))+" is not origin-form (/path)")
		}
	}
	return nil
}

// quietTargetByte holds 1 for the bytes no look of checkTarget's needs:
// all but the controls, the space, DEL and '%'. A table pass over them
// (bytetab.All) spares the switch, a dozen instructions a byte of every
// target written.
var quietTargetByte = func() (t [256]uint8) {
	for c := '!'; c <= 0xff; c++ {
		if c != 0x7f && c != '%' {
			t[c] = 1
		}
	}
	return t
}()

// A Request is the head of an embedded HTTP/1.1 request read by a
// [MessageReader], and its body.
//
// A Request belongs to the MessageReader that returned it and is reused by
// it: the Request and every []byte view it holds (Method, Target, the
// fields of Header and Trailer) are valid until the next call to
// [MessageReader.Reset] or the next Read method of that MessageReader.
// Copy what must outlive that.
type Request struct {
	// Method is the request method, a token, as written.
	Method []byte
	// Target is the request target as written: origin-form (/path?query)
	// unless MessageOptions allows other forms.
	Target []byte
	// ProtoMajor and ProtoMinor give the HTTP version: 1.1 when the
	// request line has none, as the Calendar batch example and npm's
	// batchelor send them.
	ProtoMajor, ProtoMinor int
	// Header holds the fields of the head, names as written, in wire
	// order.
	Header Header
	// ContentLength is the body's length: the Content-Length, 0 when the
	// message has no body, or -1 when unknown (chunked, or the rest of
	// the part).
	ContentLength int64
	// Chunked reports Transfer-Encoding: chunked.
	Chunked bool
	// Trailer holds the trailer fields of a chunked body, once Body has
	// been read to its end.
	Trailer Header
	// Body reads the body, decoded from its transfer coding.
	Body *MessageBody

	form int
}

// A Response is the head of an embedded HTTP/1.1 response read by a
// [MessageReader], and its body. Its lifetime is that of a [Request]: valid
// until the next call to Reset or to a Read method of the MessageReader.
type Response struct {
	// ProtoMajor and ProtoMinor give the HTTP version of the status line.
	ProtoMajor, ProtoMinor int
	// StatusCode is the three-digit status code, 100 to 999.
	StatusCode int
	// Reason is the reason phrase; empty when the status line has none
	// ("HTTP/1.1 200").
	Reason []byte
	// Header holds the fields of the head, names as written, in wire
	// order.
	Header Header
	// ContentLength is the body's length: the Content-Length, 0 when the
	// response has no body (1xx, 204, 304, a response to HEAD), or -1 when
	// unknown (chunked, or the rest of the part).
	ContentLength int64
	// Chunked reports Transfer-Encoding: chunked.
	Chunked bool
	// Trailer holds the trailer fields of a chunked body, once Body has
	// been read to its end.
	Trailer Header
	// Body reads the body, decoded from its transfer coding.
	Body *MessageBody

	head bool // read as the answer to HEAD
}

// parseContentLength parses a plain non-negative decimal int64.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// bodyless reports whether a response with statusCode, to a request with
// method reqMethod ("" if unknown), has no body whatever its fields say
// (RFC 9112 §6.3): a 1xx, 204 or 304 response, or one to HEAD.
func bodyless(statusCode int, reqMethod string) bool {
	return statusCode < 200 || statusCode == 204 || statusCode == 304 || reqMethod == "HEAD"
}

// appendRequestLine appends an HTTP/1.1 request line, CRLF included.
func appendRequestLine(b []byte, method, target string) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, target...)
	return append(b, " HTTP/1.1\r\n"...)
}

// appendStatusLine appends an HTTP/1.1 status line, CRLF included.
func appendStatusLine(b []byte, statusCode int, reason string) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(statusCode), 10)
	b = append(b, ' ')
	b = append(b, reason...)
	return append(b, "\r\n"...)
}
