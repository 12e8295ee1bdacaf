package batch

import (
	"bytes"
	"context"
	"fmt"
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
func requestBody(ctx context.Context, calls []*Call, wires []*http.Request, sized bool, bufs *bufPool) (body io.Reader, contentType string, stop func(err error), err error) {
	g := guardBodies(wires)
	if sized {
		// The buffer becomes the request's body, which net/http may
		// still read after the response (and again, through GetBody):
		// it is never pooled, the writer is. The bodies are read here,
		// on Do's goroutine: should ctx end first (Do's, or every
		// call's: see cancelWhenAllDone), closing them ends the read.
		var buf bytes.Buffer
		w := bufs.writer(&buf)
		w.mw.Reset(w.bw)
		unwatch := g.closeOnDone(ctx)
		if err = writeCalls(w, calls, wires, g, &buf); err == nil {
			err = w.bw.Flush()
		}
		unwatch()
		if err != nil {
			return nil, "", nil, ctxOr(ctx, err)
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
		err := writeCalls(w, calls, wires, g, nil)
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
	return pr, contentType, stopWriting(ctx, pr, g), nil
}

// stopWriting returns the stop function of a request body that streams
// from pr: it fails pr's reads with err and closes the calls' bodies (the
// writer may be stuck in one: closing it ends the read, and the writer's
// goroutine). It runs when ctx ends too: net/http's Transport, whose
// request is cancelled while its body is being read, waits for the Read
// to return before RoundTrip does.
func stopWriting(ctx context.Context, pr *io.PipeReader, g *bodyGuard) func(error) {
	stop := func(err error) {
		pr.CloseWithError(err)
		g.closeAll()
	}
	unwatch := context.AfterFunc(ctx, func() { stop(ctx.Err()) })
	return func(err error) {
		unwatch()
		stop(err)
	}
}

// ctxOr returns ctx's error, wrapped with err's text, if ctx has ended
// (err is then most likely what closing a body made of a read), else err.
func ctxOr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("batch: %w (writing the batch request: %v)", cerr, err)
	}
	return err
}
