package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
)

// tagEcho answers a call with 201, its X-Tag in X-Echo and its body as the
// response body.
var tagEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Echo", r.Header.Get("X-Tag"))
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusCreated)
	w.Write(b)
})

// echoOutcome is what a call answered by tagEcho holds.
type echoOutcome struct {
	ID     string
	Status int
	Echo   string
	Body   string
	Err    string
}

// taggedRequest returns a call's request for tagEcho, with tag in X-Tag
// and tag repeated to about 512 bytes as its body (as long for every tag
// of a length, so that the answers of different batches lie at the same
// places in a reused buffer), and what its call is to hold.
func taggedRequest(t *testing.T, tag string) (*http.Request, echoOutcome) {
	body := strings.Repeat(tag, 512/len(tag))
	req := jsonRequest(t, "POST", "/echo", body)
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("X-Tag", tag)
	return req, echoOutcome{Status: http.StatusCreated, Echo: tag, Body: body}
}

// echoOutcomes reads what calls hold now, their bodies included.
func echoOutcomes(t *testing.T, calls []*Call) []echoOutcome {
	t.Helper()
	var out []echoOutcome
	for _, c := range calls {
		o := echoOutcome{ID: c.ID()}
		if err := c.Err(); err != nil {
			o.Err = err.Error()
		} else if resp := c.Response(); resp != nil {
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			o.Status, o.Echo, o.Body = resp.StatusCode, resp.Header.Get("X-Echo"), string(b)
		}
		out = append(out, o)
	}
	return out
}

// runTagged sends a batch of n calls tagged prefix-0 ... (the last two in a
// changeset, when cs), and returns its calls and what they are to hold.
func runTagged(t *testing.T, c *Client, prefix string, n int, cs bool) ([]*Call, []echoOutcome) {
	t.Helper()
	b := c.NewBatch()
	var set *Changeset
	var want []echoOutcome
	for i := range n {
		tag := fmt.Sprintf("%s-%d.", prefix, i)
		req, w := taggedRequest(t, tag)
		var err error
		if cs && i >= n-2 {
			if set == nil {
				set = b.Changeset()
			}
			_, err = set.Add(req, tag)
		} else {
			_, err = b.Add(req, tag)
		}
		if err != nil {
			t.Fatal(err)
		}
		w.ID = tag
		want = append(want, w)
	}
	if err := b.Do(context.Background()); err != nil {
		t.Errorf("batch %s: %v", prefix, err)
	}
	return b.Calls(), want
}

// A Client reuses the buffers of a batch request for the next one: the
// responses of a batch, bodies and fields, keep what their server sent
// after later batches have been read through the same buffers (a body
// that were a view into the reader's buffer would hold a later batch's
// bytes), in each format and way of sending the request body, for single
// calls and changesets alike.
func TestClientBuffersReusedAnswersKept(t *testing.T) {
	srv, _ := countingServer(t, tagEcho, HandlerOptions{Changesets: true})
	for _, tc := range []struct {
		name   string
		format Format
		limits Limits
		cs     bool
	}{
		{"multipart", FormatMultipart, Limits{}, true},
		{"multipart sized", FormatMultipart, Limits{MaxBodyBytes: 1 << 20}, true},
		{"odata json", FormatODataJSON, Limits{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Format: tc.format, Limits: tc.limits}
			type sent struct {
				calls []*Call
				want  []echoOutcome
			}
			var batches []sent
			for i, n := range []int{1, 1, 4, 4, 1} {
				calls, want := runTagged(t, c, string(rune('a'+i)), n, tc.cs && n > 2)
				batches = append(batches, sent{calls, want})
			}
			for i, b := range batches {
				if diff := cmp.Diff(b.want, echoOutcomes(t, b.calls)); diff != "" {
					t.Errorf("batch %d, read after the others (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

// Concurrent Do calls on one Client share its buffers, each batch request
// with buffers of its own while it is in flight: every call's answer is
// its own, read once all the batches are done.
func TestClientBuffersConcurrentDo(t *testing.T) {
	srv, _ := countingServer(t, tagEcho, HandlerOptions{Changesets: true})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Limits: Limits{MaxCalls: 3}}
	const goroutines, rounds = 6, 4
	var (
		mu   sync.Mutex
		all  []*Call
		want []echoOutcome
		wg   sync.WaitGroup
	)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				calls, w := runTagged(t, c, fmt.Sprintf("g%dr%d", g, r), 5, r%2 == 1)
				mu.Lock()
				all, want = append(all, calls...), append(want, w...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if diff := cmp.Diff(want, echoOutcomes(t, all)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A Transport reuses its buffers as a Client does: a response it returned
// keeps its body and fields after later batches.
func TestTransportBuffersReusedAnswersKept(t *testing.T) {
	srv, _ := countingServer(t, tagEcho, HandlerOptions{})
	tr := &Transport{Endpoint: srv.URL + "/batch", Base: srv.Client().Transport}
	hc := &http.Client{Transport: tr}
	var resps []*http.Response
	var want, got []echoOutcome
	for i := range 4 {
		tag := fmt.Sprintf("t%d.", i)
		req, w := taggedRequest(t, tag)
		req.URL.Scheme, req.URL.Host = "http", strings.TrimPrefix(srv.URL, "http://")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resps, want = append(resps, resp), append(want, w)
	}
	for _, resp := range resps {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, echoOutcome{Status: resp.StatusCode, Echo: resp.Header.Get("X-Echo"), Body: string(b)})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A changeset's nested response is bounded to as many parts as a batch
// response of its calls (maxResponseParts): a server that goes on with
// tiny parts for no call fails the changeset's calls with
// mixed.ErrTooManyParts, and the next batch through the same reused
// buffers is read whole.
func TestClientChangesetTooManyParts(t *testing.T) {
	var endless sync.Once
	srv := rawBatchServer(t, func(w http.ResponseWriter, ids []string) {
		startResponse(w)
		first := false
		endless.Do(func() { first = true })
		if !first {
			for _, id := range ids {
				io.WriteString(w, responsePart(id, "HTTP/1.1 204 No Content\r\n\r\n"))
			}
			io.WriteString(w, "--"+attackBoundary+"--\r\n")
			return
		}
		io.WriteString(w, "--"+attackBoundary+"\r\nContent-Type: multipart/mixed; boundary=cs\r\nContent-ID: response-"+ids[0]+"\r\n\r\n")
		for range 1000 {
			io.WriteString(w, "--cs\r\nContent-Type: application/http\r\nContent-ID: response-none\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n")
		}
		io.WriteString(w, "--cs--\r\n--"+attackBoundary+"--\r\n")
	})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client()}
	b := c.NewBatch()
	cs := b.Changeset()
	var calls []*Call
	for i := range 2 {
		call, err := cs.Add(jsonRequest(t, "GET", fmt.Sprintf("/x/%d", i), ""), "")
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, call)
	}
	b.Do(context.Background())
	for i, call := range calls {
		if err := call.Err(); !errors.Is(err, mixed.ErrTooManyParts) {
			t.Errorf("call %d: %v, want mixed.ErrTooManyParts", i, err)
		}
	}
	b = c.NewBatch()
	calls = addGets(t, b, 3)
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, call := range calls {
		if resp := call.Response(); resp == nil || resp.StatusCode != http.StatusNoContent {
			t.Errorf("next batch, call %d: %v, %v; want 204", i, resp, call.Err())
		}
	}
}
