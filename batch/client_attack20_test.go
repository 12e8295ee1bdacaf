package batch

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
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

// A JSON batch response's headers object is held to what the head of a
// multipart response part may carry: no control character in a field's
// name, nor in its value but HTAB. The Client put whatever the object
// said into the call's http.Response ("X-A": "a\r\nSet-Cookie: ...", a
// name with CR LF in it), which no multipart response, and no response
// net/http reads, can give: a caller that copies the fields into a head
// of its own, or logs them, wrote what the server chose.
func TestClientJSONResponseFieldsAreFieldsAttack20(t *testing.T) {
	objects := []string{
		`{"id":"value-crlf","status":200,"headers":{"X-A":"a\r\nSet-Cookie: s=1"}}`,
		`{"id":"value-lf","status":200,"headers":{"X-A":["ok","a\nb"]}}`,
		`{"id":"value-nul","status":200,"headers":{"X-A":"a\u0000b"}}`,
		`{"id":"value-del","status":200,"headers":{"X-A":"a\u007fb"}}`,
		`{"id":"name-crlf","status":200,"headers":{"X-A\r\nSet-Cookie":"s=1"}}`,
		`{"id":"name-tab","status":200,"headers":{"X-A\t":"v"}}`,
		`{"id":"fine","status":200,"headers":{"X-A":"a\tb","X-N":1,"X-B":true},"body":{"ok":1}}`,
	}
	body := `{"responses":[`
	for i, o := range objects {
		if i > 0 {
			body += ","
		}
		body += o
	}
	body += "]}"
	want := map[string]string{"fine": `200 {"ok":1} X-A="a\tb" X-B="true" X-N="1"`}
	for _, id := range []string{"value-crlf", "value-lf", "value-nul", "value-del", "name-crlf", "name-tab"} {
		want[id] = "refused"
	}
	for _, f := range []Format{FormatGraphJSON, FormatODataJSON} {
		srv := hostileJSON(body)
		c := &Client{Endpoint: srv.URL + "/$batch", Format: f}
		b := c.NewBatch()
		for id := range want {
			if _, err := b.Add(jsonRequest(t, "GET", "/a", ""), id); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Do(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, call := range b.Calls() {
			resp, err := call.Wait(context.Background())
			if err != nil {
				if !errors.Is(err, mixed.ErrSyntax) {
					t.Errorf("%v: call %s: %v, want mixed.ErrSyntax, as a multipart part's head gives", f, call.ID(), err)
				}
				got[call.ID()] = "refused"
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			got[call.ID()] = fmt.Sprintf("%d %s X-A=%q X-B=%q X-N=%q", resp.StatusCode, body,
				resp.Header.Get("X-A"), resp.Header.Get("X-B"), resp.Header.Get("X-N"))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%v (-want +got):\n%s", f, diff)
		}
		srv.Close()
	}
}

// An upstream that compresses whatever it is asked for, behind a JSON
// batch: the Client decodes the gzip body of a call that did not ask for
// gzip, as it does in a multipart batch (TestClientDecodesUnrequestedGzip)
// and as net/http's transport does, and leaves it alone for a call that
// asked. In a JSON batch the Client gave the encoded body, under
// Content-Encoding: gzip, to a call that never asked for it; and the
// Handler writes an encoded JSON body, which is not JSON text, as base64
// under its JSON Content-Type, which the Client took for a JSON string
// and gave as its quoted text ("H4sI..."): an encoded body is bytes, in
// base64, whatever its type.
func TestClientJSONDecodesUnrequestedGzipAttack20(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/binary" {
			w.Header().Set("Content-Type", "application/octet-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gzipOf([]byte(`{"path":"` + r.URL.Path + `"}`)))
	})
	type got struct {
		Body         string
		Encoding     string
		Uncompressed bool
	}
	want := map[string]got{
		"plain":  {`{"path":"/plain"}`, "", true},
		"binary": {`{"path":"/binary"}`, "", true},
		"asked":  {`{"path":"/asked"}`, "gzip", false}, // decoded here
	}
	for _, f := range []Format{FormatGraphJSON, FormatODataJSON} {
		srv := httptest.NewServer(NewHandlerOptions(inner, HandlerOptions{JSONFormat: f}))
		c := &Client{Endpoint: srv.URL + "/$batch", HTTPClient: srv.Client(), Format: f}
		b := c.NewBatch()
		for id := range want {
			req, _ := http.NewRequest("GET", "/"+id, nil)
			if id == "asked" {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			if _, err := b.Add(req, id); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Do(context.Background()); err != nil {
			t.Fatal(err)
		}
		gotten := map[string]got{}
		for id, call := range b.Results() {
			resp, err := call.Wait(context.Background())
			if err != nil {
				gotten[id] = got{Body: "error: " + err.Error()}
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.Header.Get("Content-Encoding") == "gzip" {
				if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
					body, _ = io.ReadAll(zr)
				}
			}
			gotten[id] = got{string(body), resp.Header.Get("Content-Encoding"), resp.Uncompressed}
		}
		if diff := cmp.Diff(want, gotten); diff != "" {
			t.Errorf("%v (-want +got):\n%s", f, diff)
		}
		srv.Close()
	}
}
