package batch

import (
	"fmt"
	"net/http"
	"strings"
)

// checkPath resolves the dot segments of a call's path and refuses a path
// that leaves HandlerOptions.PathPrefix. The path is req.URL.Path, in which
// %2E is already a dot and %2F a slash, so an encoded ".." counts as what
// it encodes; a call whose path had dot segments goes on with the resolved
// one (its RawPath dropped), so that what the inner handler, or an
// upstream behind it, sees is what was checked. A path that still holds a
// dot segment as other servers read paths (see hasDisguisedDotSegment) is
// refused, whatever the prefix: an upstream behind the inner handler may
// have a base path of its own, which such a segment would climb out of.
func (h *Handler) checkPath(req *http.Request) error {
	p := req.URL.Path
	if !strings.HasPrefix(p, "/") {
		return nil // "*", OPTIONS' asterisk form
	}
	clean := removeDotSegments(p)
	if hasDisguisedDotSegment(clean) {
		return fmt.Errorf("batch: call target %q has a dot segment for servers that cut path parameters (\";\"), read \"\\\" as \"/\" or decode the path twice", p)
	}
	if clean != p {
		req.URL.Path, req.URL.RawPath = clean, ""
		req.RequestURI = req.URL.RequestURI()
	}
	if !underPrefix(clean, h.opts.PathPrefix) {
		return fmt.Errorf("batch: call target %q leaves the path %q that calls are confined to", p, h.opts.PathPrefix)
	}
	return nil
}

// hasDisguisedDotSegment reports whether the decoded path p holds a "." or
// ".." segment once a backslash counts as a slash and a segment's path
// parameters, from its ";" on, as nothing. Tomcat, Jetty and Spring cut
// the parameters, and IIS reads a backslash as a slash, before they
// resolve dot segments: "/api/..;/admin" and "/api/..\admin" are "/admin"
// to them, where RFC 3986 leaves both alone. It looks at p decoded once
// more too, as a server that decodes a path twice reads it (some proxies
// and frameworks decode it before they route, and again as they serve):
// "/api/%2e%2e/admin", which the client sent as %252e%252e, is "/admin" to
// them.
func hasDisguisedDotSegment(p string) bool {
	if strings.Contains(p, "%") && hasDotSegment(decodeDisguises(p)) {
		return true
	}
	return hasDotSegment(p)
}

// decodeDisguises decodes the escapes in p of the bytes that make or
// bound a dot segment: the dot, the slash, the backslash and the
// semicolon. Other escapes, and a percent sign that starts none, stay.
func decodeDisguises(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
			var c byte
			switch hi, lo := p[i+1], p[i+2]|0x20; { // the second digit in lower case
			case hi == '2' && lo == 'e':
				c = '.'
			case hi == '2' && lo == 'f':
				c = '/'
			case hi == '5' && lo == 'c':
				c = '\\'
			case hi == '3' && lo == 'b':
				c = ';'
			}
			if c != 0 {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// hasDotSegment reports whether p holds a "." or ".." segment, a
// backslash counting as a slash and a segment's path parameters as
// nothing (see hasDisguisedDotSegment).
func hasDotSegment(p string) bool {
	if !strings.Contains(p, ".") {
		return false // most paths: checked once per call
	}
	for seg := range strings.FieldsFuncSeq(p, func(c rune) bool { return c == '/' || c == '\\' }) {
		seg, _, _ = strings.Cut(seg, ";")
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// underPrefix reports whether path is prefix or lies below it, segment by
// segment ("/api/v1" holds "/api/v1/x", not "/api/v10").
func underPrefix(path, prefix string) bool {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return true // no prefix, the usual case: nothing to build
	}
	prefix = "/" + prefix
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// removeDotSegments is RFC 3986 §5.2.4's remove_dot_segments.
func removeDotSegments(in string) string {
	if !strings.Contains(in, ".") {
		return in
	}
	out := make([]byte, 0, len(in))
	pop := func() {
		if i := strings.LastIndexByte(string(out), '/'); i >= 0 {
			out = out[:i]
		} else {
			out = out[:0]
		}
	}
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			pop()
		case in == "/..":
			in = "/"
			pop()
		case in == "." || in == "..":
			in = ""
		default:
			j := strings.IndexByte(in[1:], '/')
			if j < 0 {
				j = len(in)
			} else {
				j++
			}
			out = append(out, in[:j]...)
			in = in[j:]
		}
	}
	return string(out)
}
