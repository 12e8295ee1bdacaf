// Package requri finds a URL's request target (url.URL.RequestURI) without
// the per-byte escaping pass of net/url in the common case, a path of
// bytes that escaping leaves alone: a client writes, and looks into, the
// target of every call of a batch.
package requri

import (
	"net/url"

	"github.com/mixedcodec/mixed/internal/bytetab"
)

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
// RawPath escapes to path itself.
func PlainPath(path string) bool { return bytetab.All(&plain, path) }

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
