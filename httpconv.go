package mixed

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
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
// Body streams from r.Body, and Trailer is filled once it has been read to
// its end. ContentLength is r.ContentLength. The returned request's body
// is valid as long as the MessageReader's next Reset has not been called.
func (r *Request) HTTPRequest(ctx context.Context, base *url.URL) (*http.Request, error) {
	target := string(r.Target)
	var u *url.URL
	var err error
	switch r.form {
	case originForm, asteriskForm:
		// ParseRequestURI never reads "//host/path" as an authority.
		u, err = url.ParseRequestURI(target)
		if err == nil && base != nil {
			v := *base
			v.Path, v.RawPath, v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = u.Path, u.RawPath, u.RawQuery, u.ForceQuery, "", ""
			v.Opaque = ""
			u = &v
		}
	case relativeForm:
		// "./" keeps a first segment with a colon from being a scheme.
		u, err = url.Parse("./" + target)
		if err == nil && base != nil {
			u = base.ResolveReference(u)
		}
	case absoluteForm:
		u, err = url.ParseRequestURI(target)
	case authorityForm:
		u = &url.URL{Host: target}
	}
	if err != nil {
		return nil, syntaxErr(0, ErrBadTarget, err.Error())
	}
	req, err := http.NewRequestWithContext(ctx, string(r.Method), "/", nil)
	if err != nil {
		return nil, err
	}
	req.URL = u
	req.RequestURI = target
	req.Proto = "HTTP/" + strconv.Itoa(r.ProtoMajor) + "." + strconv.Itoa(r.ProtoMinor)
	req.ProtoMajor, req.ProtoMinor = r.ProtoMajor, r.ProtoMinor
	req.Host = u.Host
	if base != nil && (r.form == originForm || r.form == relativeForm || r.form == asteriskForm) {
		req.Host = base.Host
	}
	req.Header = toHTTPHeader(&r.Header, true)
	req.ContentLength = r.ContentLength
	if r.Chunked {
		req.TransferEncoding = []string{"chunked"}
	}
	if r.ContentLength == 0 {
		req.Body = http.NoBody
	} else {
		req.Body = &httpBody{b: r.Body, trailer: &r.Trailer, dst: &req.Trailer}
	}
	req.GetBody = nil
	return req, nil
}

// HTTPResponse converts r to an [*http.Response] answering req (which may
// be nil), as a client would receive it. The Header is copied, names
// canonicalized; Body streams from r.Body, and Trailer is filled once it
// has been read to its end. Status is the code and the reason phrase, or
// the standard one when the status line had none.
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
	if r.Chunked {
		resp.TransferEncoding = []string{"chunked"}
	}
	if r.ContentLength == 0 {
		resp.Body = http.NoBody
	} else {
		resp.Body = &httpBody{b: r.Body, trailer: &r.Trailer, dst: &resp.Trailer}
	}
	return resp
}

func toHTTPHeader(h *Header, request bool) http.Header {
	out := make(http.Header, h.Len())
	for _, f := range h.fields {
		k := http.CanonicalHeaderKey(string(h.bytes(f.name)))
		if request && k == "Host" {
			continue
		}
		out[k] = append(out[k], string(h.bytes(f.value)))
	}
	return out
}

// httpBody adapts a MessageBody to net/http: it closes, and copies the
// trailer into the request or response at the end of the body.
type httpBody struct {
	b       *MessageBody
	trailer *Header
	dst     *http.Header
	done    bool
}

func (hb *httpBody) Read(p []byte) (int, error) {
	n, err := hb.b.Read(p)
	if err == io.EOF && !hb.done {
		hb.done = true
		if hb.trailer.Len() > 0 {
			*hb.dst = toHTTPHeader(hb.trailer, false)
		}
	}
	return n, err
}

// Close does not drain the body: the rest of the part is skipped by the
// next Reader.NextPart.
func (hb *httpBody) Close() error { return nil }
