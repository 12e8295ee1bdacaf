package batch

import (
	"net/http"
	"strings"
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
