// Package requri finds a URL's request target (url.URL.RequestURI) without
// the per-byte escaping pass of net/url in the common case, a path of
// bytes that escaping leaves alone: a client writes, and looks into, the
// target of every call of a batch.
package requri

import "net/url"

// plain holds 1 for the bytes url.URL.EscapedPath leaves as they are, 0
// for the others; bytes, not bools, so that PlainPath can AND them.
var plain = func() (t [256]uint8) {
	for _, c := range []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~$&+,;=:@/") {
		t[c] = 1
	}
	return t
}()

// PlainPath reports whether every byte of path is one that
// url.URL.EscapedPath leaves as it is, so that a URL with that Path and no
// RawPath escapes to path itself. It looks at eight bytes a round, with no
// branch between them.
func PlainPath(path string) bool {
	ok := uint8(1)
	for len(path) >= 8 {
		p := path[:8]
		ok &= plain[p[0]] & plain[p[1]] & plain[p[2]] & plain[p[3]] &
			plain[p[4]] & plain[p[5]] & plain[p[6]] & plain[p[7]]
		if ok == 0 {
			return false
		}
		path = path[8:]
	}
	for i := 0; i < len(path); i++ {
		ok &= plain[path[i]]
	}
	return ok != 0
}

// Of returns u.RequestURI(). A URL with a plain path (see PlainPath), no
// RawPath and no Opaque, the usual target, is answered without escaping;
// everything else is handed to RequestURI.
func Of(u *url.URL) string {
	if u.Opaque != "" || u.RawPath != "" || u.Path == "" || !PlainPath(u.Path) {
		return u.RequestURI()
	}
	if u.ForceQuery || u.RawQuery != "" {
		return u.Path + "?" + u.RawQuery
	}
	return u.Path
}
