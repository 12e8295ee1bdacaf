package batch

import (
	"bufio"
	"bytes"
	"io"

	"github.com/mixedcodec/mixed"
)

// requestBody returns the body of a batch request carrying calls, its
// Content-Type, and stop, which ends the writing with err (when the request
// has failed or been answered) and returns once the writer is done with
// the calls; it may be called more than once.
//
// With sized set (Limits.MaxBytes bounds each request, so the body is at
// most that large) the body is built in memory and the request carries its
// Content-Length: Azure Blob batch requires one (Content-Length is a
// required header of Submit Batch, and Azurite answers a chunked batch with
// an empty 400). Otherwise the parts stream as they are written, chunked.
func requestBody(calls []*Call, sized bool) (body io.Reader, contentType string, stop func(err error), err error) {
	if sized {
		var buf bytes.Buffer
		mw := mixed.NewWriter(&buf)
		if err := writeCalls(mw, calls); err != nil {
			return nil, "", nil, err
		}
		// A *bytes.Reader: http.NewRequest sets ContentLength and
		// GetBody from it.
		return bytes.NewReader(buf.Bytes()), mw.ContentType(), func(error) {}, nil
	}
	pr, pw := io.Pipe()
	mw := mixed.NewWriter(pw)
	boundary, contentType := mw.Boundary(), mw.ContentType()
	written := make(chan struct{})
	go func() {
		defer close(written)
		// Buffer the parts: each write to the pipe becomes a chunk of
		// the request body, and a system call, on the other side.
		bw := bufio.NewWriterSize(pw, 32<<10)
		mw.Reset(bw)
		mw.SetBoundary(boundary)
		err := writeCalls(mw, calls)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	stop = func(err error) {
		pr.CloseWithError(err)
		<-written
	}
	return pr, contentType, stop, nil
}
