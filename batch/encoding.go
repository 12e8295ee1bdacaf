package batch

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// decodeContent undoes a gzip Content-Encoding that the call did not ask
// for, as net/http's transport does for a request it sent without
// Accept-Encoding: the body b of resp comes back decoded, and resp loses its
// Content-Encoding and Content-Length fields and is marked Uncompressed. A
// call that set Accept-Encoding itself gets the body as it came. req may be
// nil (a changeset's failure answered as a whole). The decoded body may
// have at most max bytes (ErrResponseTooLarge): a small compressed part can
// expand without limit.
func decodeContent(resp *http.Response, req *http.Request, b []byte, max int64) ([]byte, error) {
	// The Header's names are canonical (respReader.header): a look-up
	// by the canonical name finds what Get would, without Get's check of
	// the name, which took more than the look-up for every call.
	ce := resp.Header["Content-Encoding"]
	if len(b) == 0 || len(ce) == 0 || !strings.EqualFold(strings.TrimSpace(ce[0]), "gzip") {
		return b, nil
	}
	if req != nil && req.Header.Get("Accept-Encoding") != "" {
		return b, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("batch: gzip response body: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, max+1))
	if err != nil {
		return nil, fmt.Errorf("batch: gzip response body: %w", err)
	}
	if int64(len(out)) > max {
		return nil, fmt.Errorf("%w: gzip response body decodes to more than %d bytes", ErrResponseTooLarge, max)
	}
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Content-Length")
	resp.Uncompressed = true
	return out, nil
}
