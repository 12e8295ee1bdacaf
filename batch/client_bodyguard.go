package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/mixedcodec/mixed"
)

// A bodyGuard closes the bodies of one batch request's calls, each once:
// the writer closes each as it is written (WriteHTTPRequest and readBody
// close what they read), and closeAll closes every other, the one being
// read included, when the request ends before its writer does: its server
// answered, it failed, or no one waits for it any more. A body whose Read
// blocks (an upload a slow client streams through a proxy) then returns,
// as net/http closes a request's body from another goroutine when the
// request is cancelled, and neither Do nor the writer's goroutine waits
// for it.
type bodyGuard struct {
	bodies []onceBody
	// stopped: closeAll ran, and the read errors from now on are the
	// request's end, not the bodies' own failures.
	stopped atomic.Bool
}

// A onceBody is a call's body that closes once, whoever asks first.
type onceBody struct {
	rc     io.ReadCloser
	closed atomic.Bool
}

// Read reads from the body until it is closed, and fails after: closing
// stops the writing of an in-memory body (whose Close does nothing) too,
// at its next Read.
func (b *onceBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errBodyClosed
	}
	return b.rc.Read(p)
}

// errBodyClosed is what a call's body reads once its batch request ended
// while the body was being written (see bodyGuard).
var errBodyClosed = errors.New("batch: the call's body was closed: its batch request ended")

func (b *onceBody) Close() error {
	if b.rc == nil || !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	return b.rc.Close()
}

// guardBodies returns the guard of the bodies of wires, or nil if none has
// one to close.
func guardBodies(wires []*http.Request) *bodyGuard {
	var g *bodyGuard
	for i, w := range wires {
		if w == nil || w.Body == nil || w.Body == http.NoBody {
			continue
		}
		if g == nil {
			g = &bodyGuard{bodies: make([]onceBody, len(wires))}
		}
		g.bodies[i].rc = w.Body
	}
	return g
}

// wire returns wires[i] as the writer is to read it: with the guarded
// body. The copy is the caller's, which may keep it on its stack.
func (g *bodyGuard) wire(wires []*http.Request, i int) http.Request {
	r := *wires[i]
	if g != nil && g.bodies[i].rc != nil {
		r.Body = &g.bodies[i]
	}
	return r
}

// closeFrom closes the bodies of the wires from i on.
func (g *bodyGuard) closeFrom(i int) {
	if g != nil {
		g.closeRange(i, len(g.bodies))
	}
}

// closeRange closes the bodies of the wires from i to j, j not included.
func (g *bodyGuard) closeRange(i, j int) {
	if g == nil {
		return
	}
	for k := i; k < j; k++ {
		g.bodies[k].Close()
	}
}

// closeAll closes every body not closed yet; it may run on any goroutine.
func (g *bodyGuard) closeAll() {
	if g != nil {
		g.stopped.Store(true)
		g.closeFrom(0)
	}
}

// isStopped reports whether closeAll ran.
func (g *bodyGuard) isStopped() bool { return g != nil && g.stopped.Load() }

// closeOnDone closes every body not closed yet when ctx ends, until stop
// is called.
func (g *bodyGuard) closeOnDone(ctx context.Context) (stop func() bool) {
	if g == nil {
		return func() bool { return false }
	}
	return context.AfterFunc(ctx, g.closeAll)
}

// readClosing copies the body rc to dst and closes it, reading no more
// than limit bytes and one (all of it when limit < 0), so that a body
// longer than its limit, even one that never ends, is seen as such at
// that cost. Should one of ctxs end first, rc is closed (once: see
// onceBody), which ends a Read that blocks, and the error is that
// context's, with the read's in its text.
func readClosing(dst io.Writer, rc io.ReadCloser, limit int64, ctxs ...context.Context) (int64, error) {
	if len(ctxs) > 0 {
		// Closed by whoever comes first, the contexts or the end.
		ob := &onceBody{rc: rc}
		for _, ctx := range ctxs {
			defer context.AfterFunc(ctx, func() { ob.Close() })()
		}
		rc = ob
	}
	defer rc.Close()
	var r io.Reader = rc
	if limit >= 0 {
		r = io.LimitReader(rc, limit+1)
	}
	n, err := io.Copy(dst, r)
	if err != nil {
		for _, ctx := range ctxs {
			if cerr := ctx.Err(); cerr != nil {
				return n, fmt.Errorf("%w (reading the body: %v)", cerr, err)
			}
		}
	}
	return n, err
}

// errLength is the error of a body of got bytes (more than announced,
// when readClosing stopped at announced and one) that announced a
// ContentLength of announced, as net/http's Transport words it.
func errLength(announced, got int64) error {
	more := ""
	if got > announced {
		more = " or more"
	}
	return fmt.Errorf("%w: ContentLength=%d with body length %d%s", mixed.ErrBadContentLength, announced, got, more)
}
