package batch

import (
	"bufio"
	"bytes"
	"io"
	"net/http"

	"github.com/mixedcodec/mixed"
)

// requestBody returns the body of a batch request carrying calls, written
// as wires (see writeCalls), its Content-Type, and stop, which ends the
// writing with err when the request has failed or been answered (it may
// be called more than once).
//
// With sized set (Limits.MaxBodyBytes bounds each request, so the body is at
// most that large) the body is built in memory and the request carries its
// Content-Length: Azure Blob batch requires one (Content-Length is a
// required header of Submit Batch, and Azurite answers a chunked batch with
// an empty 400). Otherwise the parts stream as they are written, chunked.
func requestBody(calls []*Call, wires []*http.Request, sized bool) (body io.Reader, contentType string, stop func(err error), err error) {
	if sized {
		var buf bytes.Buffer
		mw := mixed.NewWriter(&buf)
		if err := writeCalls(mw, calls, wires); err != nil {
			return nil, "", nil, err
		}
		// A *bytes.Reader: http.NewRequest sets ContentLength and
		// GetBody from it.
		return bytes.NewReader(buf.Bytes()), mw.ContentType(), func(error) {}, nil
	}
	pr, pw := io.Pipe()
	mw := mixed.NewWriter(pw)
	boundary, contentType := mw.Boundary(), mw.ContentType()
	go func() {
		// Buffer the parts: each write to the pipe becomes a chunk of
		// the request body, and a system call, on the other side.
		bw := bufio.NewWriterSize(pw, 32<<10)
		mw.Reset(bw)
		// The boundary the Writer chose, announced in contentType: it
		// cannot be refused, but an error must not go unseen.
		err := mw.SetBoundary(boundary)
		if err == nil {
			err = writeCalls(mw, calls, wires)
		}
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	return pr, contentType, func(err error) { pr.CloseWithError(err) }, nil
}
