package batch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// readHook is a request body of unknown length whose first Read runs
// hook, then ends.
type readHook struct {
	hook func()
	done bool
}

func (r *readHook) Read(p []byte) (int, error) {
	if !r.done {
		r.done = true
		r.hook()
	}
	return 0, io.EOF
}

func (r *readHook) Close() error { return nil }

// A call whose own context ends after Do has begun, but before the
// sender has looked at its calls, is settled on the goroutine
// context.AfterFunc starts, which runs OnCall before it publishes the
// result; the sender, finding the call settled (unsettled), no longer
// settles it itself, and so never waited for that result: Do returned
// with Err and Response nil for a call that had failed. Here the call's
// context ends while Do measures another call's body (Limits.MaxBodyBytes,
// a body of unknown length), before the first attempt.
func TestDoWaitsForCallSettledBeforeSendingAttack20(t *testing.T) {
	srv := httptest.NewServer(NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})))
	defer srv.Close()
	hookIn := make(chan struct{})
	c := &Client{Endpoint: srv.URL, HTTPClient: srv.Client(), Limits: Limits{MaxBodyBytes: 1 << 20},
		OnCall: func(info CallInfo) {
			if info.ID == "gone" {
				close(hookIn)
				// Slow, as a hook that takes a lock may be: the
				// result is published once it returns.
				time.Sleep(300 * time.Millisecond)
			}
		}}
	b := c.NewBatch()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gone, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/gone", nil)
	goneCall, err := b.Add(gone, "gone")
	if err != nil {
		t.Fatal(err)
	}
	body := &readHook{hook: func() {
		cancel()
		select {
		case <-hookIn:
		case <-time.After(10 * time.Second):
			t.Error("the call's OnCall did not run within 10 s of its context's end")
		}
	}}
	measured, _ := http.NewRequest("POST", srv.URL+"/measured", body)
	measured.ContentLength = -1
	if _, err := b.Add(measured, "measured"); err != nil {
		t.Fatal(err)
	}
	b.Do(context.Background())
	if err := goneCall.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("after Do: Err %v, Response %v; want the call's context's error", err, goneCall.Response())
	}
	select {
	case <-goneCall.Done():
	default:
		t.Error("after Do: the call's Done channel is open")
	}
}
