package batch

// The memory a Client's (or a Transport's) batch requests reuse. Writing a
// request takes a 32 KiB bufio.Writer and the MessageWriter's 32 KiB body
// buffer, reading its response a Reader with a 64 KiB buffer and the
// respReader's parser: made afresh for each request, they were most of
// its bytes (128 of 308 KiB for 100 small calls), and their churn (clearing
// them, the scavenger handing them back to the OS, the heap lock of large
// spans) a quarter of the Client's CPU time per call
// (BenchmarkClientPerCall).
//
// A buffer goes back only once nothing can reach it: a request's writer
// when its goroutine has written the whole body to a pipe whose reader has
// copied every byte out (or to a bytes.Buffer that is not pooled); a
// response's reader when the response has been read, as every value
// handed to a caller is a copy (see respReader.response: bodies, header
// and trailer strings, Status, errors). Nothing caller-visible points into
// them.
//
// What is kept is bounded whatever the batches: every pooled buffer has a
// fixed size (the bufio.Writer's and the MessageWriter's body buffer) or
// one bounded by the default limits of a head or a part header (64 KiB:
// the Reader's buffer, which grows only to hold a header block within
// MaxHeaderBytes, the MessageWriter's head, respReader.scratch); what
// grows with a batch (its calls, ids, bodies, the matcher) is never pooled.
// A writer whose request failed is dropped, not pooled: a head refused for
// its size has grown a buffer past the limit before it was checked. A
// sync.Pool holds no more than the batch requests that were in flight at
// once gave back, and lets the collector take what stays idle over two
// cycles, so an idle Client keeps nothing.

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/mixedcodec/mixed"
)

// A bufPool keeps the buffers of finished batch requests for the next
// ones. The nil *bufPool keeps nothing: each request makes its own.
type bufPool struct {
	writers sync.Pool // *reqWriter
	readers sync.Pool // *respState
}

// A reqWriter writes one batch request body: mw writes the parts to bw,
// msgw the calls in them, nested a changeset's parts.
type reqWriter struct {
	bw     *bufio.Writer
	mw     mixed.Writer
	nested mixed.Writer
	msgw   *mixed.MessageWriter
	h      mixed.Header
}

// writer returns a reqWriter whose bw writes to dst; its mw is not reset.
func (bp *bufPool) writer(dst io.Writer) *reqWriter {
	if bp != nil {
		if w, _ := bp.writers.Get().(*reqWriter); w != nil {
			w.bw.Reset(dst)
			return w
		}
	}
	return &reqWriter{
		// Buffer the parts: each write to the pipe becomes a chunk
		// of the request body, and a system call, on the other side.
		bw: bufio.NewWriterSize(dst, 32<<10),
		// Relative targets are OData's (Customers, $1/Orders); a
		// server without changesets answers them with a 400 part of
		// their own.
		msgw: mixed.NewMessageWriterOptions(mixed.MessageOptions{AllowRelativeTargets: true}),
	}
}

// putWriter keeps w, which has written a whole request body without error,
// for the next request.
func (bp *bufPool) putWriter(w *reqWriter) {
	if bp == nil {
		return
	}
	w.bw.Reset(nil) // lets the request's pipe or buffer go
	bp.writers.Put(w)
}

// A respState reads one multipart batch response: r its parts, from
// budget, and rr the responses in them.
type respState struct {
	r      *mixed.Reader
	budget budgetReader
	rr     respReader
}

// reader returns a respState whose r reads body, bounded to limit bytes
// (see budgetReader), delimited by boundary.
func (bp *bufPool) reader(body io.Reader, limit int64, boundary string) *respState {
	var st *respState
	if bp != nil {
		st, _ = bp.readers.Get().(*respState)
	}
	if st == nil {
		st = new(respState)
	}
	st.budget = budgetReader{r: body, limit: limit}
	if st.r == nil {
		st.r = mixed.NewReaderOptions(&st.budget, boundary, mixed.ReaderOptions{MaxParts: uncountedParts})
	} else {
		st.r.Reset(&st.budget, boundary)
	}
	return st
}

// putReader keeps st, whose response has been read, for the next one.
func (bp *bufPool) putReader(st *respState) {
	if bp == nil {
		return
	}
	// The Readers read only from st.budget (rr's from st.r's parts):
	// this lets the response body go.
	st.budget = budgetReader{}
	bp.readers.Put(st)
}

// uncountedParts is the MaxParts of the Readers of batch responses: a
// Reader keeps the options it was made with, and the bound on parts
// depends on each response's calls (maxResponseParts), so the reader of
// the parts counts them (see tooManyParts).
const uncountedParts = math.MaxInt

// tooManyParts is the error of a response that goes on past its max parts,
// as a Reader with MaxParts max reports it.
func tooManyParts(max int) error {
	return fmt.Errorf("%w: more than %d parts", mixed.ErrTooManyParts, max)
}

// nestedReader returns rr's Reader for the nested multipart body of a
// changeset's response part p, delimited by boundary.
func (rr *respReader) nestedReader(p *mixed.Part, boundary string) *mixed.Reader {
	if rr.nested == nil {
		rr.nested = mixed.NewReaderOptions(p, boundary, mixed.ReaderOptions{MaxParts: uncountedParts})
	} else {
		rr.nested.Reset(p, boundary)
	}
	return rr.nested
}
