package batch

import (
	"bytes"
	"io"
	"net/http"
)

// requestBody returns the body of a batch request carrying calls, written
// as wires (see writeCalls) with a writer from bufs, its Content-Type, and
// stop, which ends the writing with err when the request has failed or
// been answered (it may be called more than once).
//
// With sized set (Limits.MaxBodyBytes bounds each request, so the body is at
// most that large) the body is built in memory and the request carries its
// Content-Length: Azure Blob batch requires one (Content-Length is a
// required header of Submit Batch, and Azurite answers a chunked batch with
// an empty 400). Otherwise the parts stream as they are written, chunked.
func requestBody(calls []*Call, wires []*http.Request, sized bool, bufs *bufPool) (body io.Reader, contentType string, stop func(err error), err error) {
	if sized {
		// The buffer becomes the request's body, which net/http may
		// still read after the response (and again, through GetBody):
		// it is never pooled, the writer is.
		var buf bytes.Buffer
		w := bufs.writer(&buf)
		w.mw.Reset(w.bw)
		if err = writeCalls(w, calls, wires); err == nil {
			err = w.bw.Flush()
		}
		if err != nil {
			return nil, "", nil, err
		}
		contentType = w.mw.ContentType()
		bufs.putWriter(w)
		// A *bytes.Reader: http.NewRequest sets ContentLength and
		// GetBody from it.
		return bytes.NewReader(buf.Bytes()), contentType, func(error) {}, nil
	}
	pr, pw := io.Pipe()
	w := bufs.writer(pw)
	w.mw.Reset(w.bw)
	contentType = w.mw.ContentType() // before w is the goroutine's alone
	go func() {
		err := writeCalls(w, calls, wires)
		if err == nil {
			err = w.bw.Flush()
		}
		pw.CloseWithError(err)
		if err == nil {
			// A pipe's Write returns once its reader has copied
			// every byte out: nothing reads w's buffers any more.
			bufs.putWriter(w)
		}
	}()
	return pr, contentType, func(err error) { pr.CloseWithError(err) }, nil
}
