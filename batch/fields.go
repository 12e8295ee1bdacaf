package batch

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/mixedcodec/mixed"
)

// The header rules both sides share. A call of a batch inherits the outer
// request's fields it does not set itself (Google's rule), except those
// that describe the outer message or connection; the Transport, hoisting
// the fields its calls share onto the outer request, hoists only those.

// Hop-by-hop fields (RFC 9110 §7.6.1) describe the outer connection and
// never apply to the calls.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Proxy-Authenticate": true, "Proxy-Authorization": true, "Expect": true,
}

// inherited reports whether the outer request's field k applies to the
// calls: not Content-* and hop-by-hop fields, which describe the outer
// message, nor Accept-Encoding, which is about the outer response (net/http's
// transport adds it on its own and decodes only the outer body).
func inherited(k string) bool {
	return !strings.HasPrefix(k, "Content-") && !hopByHop[k] && k != "Accept-Encoding"
}

// provenance reports whether k (canonical) is a field by which a browser
// says where a request came from: Origin, Referer and the Sec- fields,
// which a browser sets itself and a script may not (the Fetch standard's
// forbidden request-header names), and by which servers tell cross-site
// requests (net/http's CrossOriginProtection reads Sec-Fetch-Site, then
// Origin). "Sec_" counts too: a CGI gateway (net/http/cgi's among them),
// nginx and many a framework read Sec_Fetch_Site as Sec-Fetch-Site, and a
// script may set it.
func provenance(k string) bool {
	return k == "Origin" || k == "Referer" || strings.HasPrefix(k, "Sec-") || strings.HasPrefix(k, "Sec_")
}

// fromBrowser reports whether h, the header of a batch request, is a
// browser's: it has Origin or a Sec-Fetch- field. The calls of such a
// batch carry its provenance fields, not their own (see callRequest).
func fromBrowser(h http.Header) bool {
	if _, ok := h["Origin"]; ok {
		return true
	}
	for k := range h {
		if strings.HasPrefix(k, "Sec-Fetch-") {
			return true
		}
	}
	return false
}

// withoutProvenanceOptions returns conn, the values of a call's Connection
// field, without the options that name a provenance field: a proxy drops
// the fields its request's Connection field names, and a call of a
// browser's batch would have its proxied request lose the provenance the
// browser gave it. A call may set the field; a script may not set it on a
// request. conn itself, when no option names one.
func withoutProvenanceOptions(conn []string) []string {
	named := false
	for _, v := range conn {
		for opt := range strings.SplitSeq(v, ",") {
			named = named || provenance(http.CanonicalHeaderKey(strings.TrimSpace(opt)))
		}
	}
	if !named {
		return conn
	}
	var out []string
	for _, v := range conn {
		var keep []string
		for opt := range strings.SplitSeq(v, ",") {
			if opt = strings.TrimSpace(opt); opt != "" && !provenance(http.CanonicalHeaderKey(opt)) {
				keep = append(keep, opt)
			}
		}
		if len(keep) > 0 {
			out = append(out, strings.Join(keep, ", "))
		}
	}
	return out
}

// connectionOption reports whether the values of a Connection field name
// the field k (canonical): a field of the connection the message came on
// (RFC 9110 §7.6.1), hop-by-hop whatever its name.
func connectionOption(conn []string, k string) bool {
	for _, v := range conn {
		for opt := range strings.SplitSeq(v, ",") {
			if opt = strings.TrimSpace(opt); opt != "" && http.CanonicalHeaderKey(opt) == k {
				return true
			}
		}
	}
	return false
}

// checkInheritable reports whether what the calls of batch request r
// inherit fits the limits a call's own head is read with: the inherited
// fields (see inherited) within mixed.DefaultMaxHeaderFields lines and
// mixed.DefaultMaxHeaderBytes, counted as "name: value" lines, and the
// query within mixed.DefaultMaxStartLineBytes. Else it returns the status
// to answer (431 or 414) and why. The client sends them once, and each
// call takes them in again (a field a map entry of its header, the query
// merged and encoded into its target), and carries them on to a gateway's
// upstream: 50000 fields, 600 KB, cost a batch of 1000 calls 5 s of CPU,
// and a query of 9000 parameters 1.6 s.
func checkInheritable(r *http.Request) (int, error) {
	conn := r.Header["Connection"]
	fields, size := 0, 0
	for k, vv := range r.Header {
		if !inherited(k) || connectionOption(conn, k) {
			continue
		}
		fields += len(vv)
		for _, v := range vv {
			size += len(k) + len(v) + 4
		}
	}
	if fields > mixed.DefaultMaxHeaderFields || size > mixed.DefaultMaxHeaderBytes {
		return http.StatusRequestHeaderFieldsTooLarge, fmt.Errorf("%w: %d fields, %d bytes, which every call would inherit; a call's head holds at most %d fields, %d bytes",
			ErrInheritTooLarge, fields, size, mixed.DefaultMaxHeaderFields, mixed.DefaultMaxHeaderBytes)
	}
	if n := len(r.URL.RawQuery); n > mixed.DefaultMaxStartLineBytes {
		return http.StatusRequestURITooLong, fmt.Errorf("%w: a query of %d bytes, which every call would inherit; a call's request line holds at most %d",
			ErrInheritTooLarge, n, mixed.DefaultMaxStartLineBytes)
	}
	return 0, nil
}
