package batch

import (
	"net"
	"strings"
)

// sameHost reports whether a call's host (its Host field, or the host of an
// absolute-form target) names the batch endpoint, whose host is endpoint
// and whose scheme is scheme. The host names must be equal, compared case
// insensitively (IPv6 literals without their brackets, a trailing dot
// ignored); the call's port may be absent, as Google's Ruby client writes
// it (the URL's host name only), or equal to the endpoint's, the scheme's
// default port counting for an endpoint that names none.
func sameHost(call, endpoint, scheme string) bool {
	ch, cp := splitHostPort(call)
	eh, ep := splitHostPort(endpoint)
	if !strings.EqualFold(ch, eh) || ch == "" {
		return false
	}
	if cp == "" || cp == ep {
		return true
	}
	return ep == "" && cp == defaultPort(scheme)
}

// splitHostPort splits host[:port], [v6][:port] or a bare IPv6 literal;
// the host comes back without brackets or a trailing dot.
func splitHostPort(hostport string) (host, port string) {
	host = hostport
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	}
	return strings.TrimSuffix(host, "."), port
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}
