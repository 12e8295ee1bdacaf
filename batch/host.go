package batch

import "strings"

// sameHost reports whether a call's host (its Host field, or the host of an
// absolute-form target) names the batch endpoint, whose host is endpoint
// and whose scheme is scheme. The host names must be equal, compared case
// insensitively (IPv6 literals without their brackets, a trailing dot
// ignored); the call's port may be absent, as Google's Ruby client writes
// it (the URL's host name only), or equal to the endpoint's, the scheme's
// default port counting for an endpoint that names none.
func sameHost(call, endpoint, scheme string) bool {
	if call != "" && (call == endpoint || strings.EqualFold(call, endpoint)) {
		return true // the common case, without splitting
	}
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

// splitHostPort splits host[:port] or [v6][:port]; the host comes back
// without brackets or a trailing dot. Unlike net.SplitHostPort it
// allocates nothing, a port being optional here.
func splitHostPort(hostport string) (host, port string) {
	host = hostport
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return hostport, ""
		}
		host = hostport[1:end]
		if rest := hostport[end+1:]; strings.HasPrefix(rest, ":") {
			port = rest[1:]
		}
	} else if i := strings.LastIndexByte(hostport, ':'); i >= 0 && strings.IndexByte(hostport[:i], ':') < 0 {
		host, port = hostport[:i], hostport[i+1:]
	}
	return strings.TrimSuffix(host, "."), port
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}
