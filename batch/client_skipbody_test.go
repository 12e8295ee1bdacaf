package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
	"pgregory.net/rapid"
)

var errBrokenBody = errors.New("broken body")

// brokenRequest is a PUT whose body gives a few bytes, then errBrokenBody,
// and announces more than it gives: a stream (no GetBody) that fails.
func brokenRequest(t *testing.T, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("PUT", path, io.NopCloser(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(errBrokenBody))))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 10
	req.Header.Set("Content-Type", "application/octet-stream")
	return req
}

// bigBrokenRequest is brokenRequest with 100 KiB before the error: more
// than the writer buffers, so that part of the call is in the request
// body already when it fails.
func bigBrokenRequest(t *testing.T, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("PUT", path, io.NopCloser(io.MultiReader(strings.NewReader(strings.Repeat("z", 100<<10)), iotest.ErrReader(errBrokenBody))))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 200 << 10
	req.Header.Set("Content-Type", "application/octet-stream")
	return req
}

// shortRequest is a PUT whose body is shorter than its ContentLength.
func shortRequest(t *testing.T, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("PUT", path, io.NopCloser(strings.NewReader("xy")))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 5
	return req
}

// In a request built in memory (Limits.MaxBodyBytes set), or a JSON batch
// (whose bodies are read whole before they are written), a call whose body
// cannot be written, because it fails to read or is not as long as it
// says, is left out with the rest of its changeset and answered with its
// error, and the request carries the others, which the server runs and
// answers: nothing else is lost. Before, the whole request failed, and
// every call of it with that one body's error (and a JSON body shorter
// than its ContentLength went as it was).
func TestClientSizedLeavesOutCallsWhoseBodyFails(t *testing.T) {
	var mu sync.Mutex
	var served []string
	srv := httptest.NewServer(NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		served = append(served, r.Method+" "+r.URL.Path+" "+string(body))
		mu.Unlock()
		fmt.Fprintf(w, "ran %s", r.URL.Path)
	})))
	defer srv.Close()
	type call struct {
		req  func() *http.Request
		cs   int // the changeset it is in, from 1; 0 for none
		want error
		ran  bool
	}
	ok := func(path string) func() *http.Request {
		return func() *http.Request { return jsonRequest(t, "PUT", path, `{"v":1}`) }
	}
	for _, tc := range []struct {
		name  string
		calls []call
	}{
		{"the first fails", []call{
			{func() *http.Request { return brokenRequest(t, "/b") }, 0, errBrokenBody, false},
			{ok("/a"), 0, nil, true},
		}},
		{"one in the middle, a changeset and the last", []call{
			{ok("/a"), 0, nil, true},
			{func() *http.Request { return brokenRequest(t, "/b") }, 0, errBrokenBody, false},
			{ok("/c"), 0, nil, true},
			{ok("/d"), 1, errBrokenBody, false},
			{func() *http.Request { return brokenRequest(t, "/e") }, 1, errBrokenBody, false},
			{ok("/f"), 1, errBrokenBody, false},
			{ok("/g"), 0, nil, true},
			{func() *http.Request { return shortRequest(t, "/h") }, 0, mixed.ErrBadContentLength, false},
		}},
		{"large bodies", []call{
			{ok("/a"), 0, nil, true},
			{func() *http.Request { return bigBrokenRequest(t, "/b") }, 0, errBrokenBody, false},
			{ok("/c"), 0, nil, true},
			{func() *http.Request { return bigBrokenRequest(t, "/d") }, 0, errBrokenBody, false},
		}},
		{"every call", []call{
			{func() *http.Request { return shortRequest(t, "/h") }, 0, mixed.ErrBadContentLength, false},
			{func() *http.Request { return brokenRequest(t, "/b") }, 0, errBrokenBody, false},
		}},
	} {
		for _, mode := range []struct {
			format Format
			sized  bool
		}{{FormatMultipart, true}, {FormatODataJSON, true}, {FormatODataJSON, false}} {
			t.Run(fmt.Sprintf("%v/sized=%t/%s", mode.format, mode.sized, tc.name), func(t *testing.T) {
				served = nil
				c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Format: mode.format}
				if mode.sized {
					c.Limits.MaxBodyBytes = 1 << 20
				}
				b := c.NewBatch()
				sets := map[int]*Changeset{}
				var calls []*Call
				var wantServed []string
				for _, cl := range tc.calls {
					req := cl.req()
					var call *Call
					var err error
					if cl.cs == 0 {
						call, err = b.Add(req, "")
					} else {
						if sets[cl.cs] == nil {
							sets[cl.cs] = b.Changeset()
						}
						call, err = sets[cl.cs].Add(req, "")
					}
					if err != nil {
						t.Fatal(err)
					}
					calls = append(calls, call)
					if cl.ran {
						wantServed = append(wantServed, "PUT "+req.URL.Path+` {"v":1}`)
					}
				}
				if err := b.Do(t.Context()); err != nil {
					t.Errorf("Do: %v", err)
				}
				for i, cl := range tc.calls {
					call := calls[i]
					if cl.want != nil {
						if err := call.Err(); !errors.Is(err, cl.want) {
							t.Errorf("call %d: %v, want %v", i, err, cl.want)
						}
						if n := call.Attempts(); n != 0 {
							t.Errorf("call %d: %d attempts, want 0 (not sent)", i, n)
						}
						continue
					}
					resp, err := call.Wait(t.Context())
					if err != nil {
						t.Errorf("call %d: %v", i, err)
						continue
					}
					body, _ := io.ReadAll(resp.Body)
					if want := "ran " + call.Request().URL.Path; string(body) != want {
						t.Errorf("call %d: answered %q, want %q", i, body, want)
					}
				}
				mu.Lock()
				defer mu.Unlock()
				slices.Sort(served) // the Handler runs the calls at once
				slices.Sort(wantServed)
				if diff := cmp.Diff(wantServed, served); diff != "" {
					t.Errorf("calls the server ran (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// The same against a server that answers by position, without Content-IDs
// (mime/multipart reads the request, as a plain server would): the calls
// left out are not counted among the answers, so each call sent gets its
// own.
func TestClientSizedLeftOutCallsKeepPositions(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		var out strings.Builder
		mw := multipart.NewWriter(&out)
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			msg, _ := io.ReadAll(p)
			line, _, _ := strings.Cut(string(msg), "\r\n")
			path := strings.Fields(line)[1]
			pw, _ := mw.CreatePart(map[string][]string{"Content-Type": {"application/http"}})
			fmt.Fprintf(pw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\nran %s", len("ran ")+len(path), path)
		}
		mw.Close()
		w.Header().Set("Content-Type", mw.FormDataContentType())
		io.WriteString(w, out.String())
	}))
	defer srv.Close()
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Limits: Limits{MaxBodyBytes: 1 << 20}}
	b := c.NewBatch()
	var calls []*Call
	for _, req := range []*http.Request{
		jsonRequest(t, "PUT", "/a", `{}`), brokenRequest(t, "/b"), jsonRequest(t, "PUT", "/c", `{}`),
	} {
		call, err := b.Add(req, "")
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, call)
	}
	if err := b.Do(t.Context()); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if err := calls[1].Err(); !errors.Is(err, errBrokenBody) {
		t.Errorf("the broken call: %v, want %v", err, errBrokenBody)
	}
	for _, i := range []int{0, 2} {
		resp, err := calls[i].Wait(t.Context())
		if err != nil {
			t.Errorf("call %d: %v", i, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		if want := "ran " + calls[i].Request().URL.Path; string(body) != want {
			t.Errorf("call %d: answered %q, want %q", i, body, want)
		}
	}
}

// Any calls, in any changesets, any of whose bodies may fail after any
// number of bytes or be shorter than they say, in a request built in
// memory: the server runs exactly the calls whose changeset (or themselves)
// had no failing body, with their bodies byte for byte, and every other
// call fails with its own error or its changeset's, unsent.
func TestClientSizedLeavesOutProperty(t *testing.T) {
	var mu sync.Mutex
	served := map[string]string{}
	srv := httptest.NewServer(NewHandlerOptions(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		served[r.URL.Path] = string(body)
		mu.Unlock()
		io.WriteString(w, r.URL.Path)
	}), HandlerOptions{Changesets: true}))
	defer srv.Close()
	rapid.Check(t, func(t *rapid.T) {
		mu.Lock()
		clear(served)
		mu.Unlock()
		format := rapid.SampledFrom([]Format{FormatMultipart, FormatODataJSON}).Draw(t, "format")
		c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Limits: Limits{MaxBodyBytes: 8 << 20}, Format: format}
		b := c.NewBatch()
		n := rapid.IntRange(1, 12).Draw(t, "calls")
		type drawn struct {
			call  *Call
			body  string
			fails error
			group int // its changeset, from 1, or 0
		}
		var calls []drawn
		var cs *Changeset
		group := 0
		for i := range n {
			size := rapid.SampledFrom([]int{0, 1, 7, 4 << 10, 40 << 10, 100 << 10}).Draw(t, "size")
			body := strings.Repeat(string(rune('a'+i)), size)
			kind := rapid.SampledFrom([]string{"ok", "ok", "ok", "broken", "short"}).Draw(t, "kind")
			var rc io.Reader = strings.NewReader(body)
			length := int64(size)
			var fails error
			switch kind {
			case "broken":
				rc = io.MultiReader(rc, iotest.ErrReader(errBrokenBody))
				length += 10
				fails = errBrokenBody
			case "short":
				length += 3
				fails = mixed.ErrBadContentLength
			}
			req, err := http.NewRequest("PUT", fmt.Sprintf("/c%d", i), io.NopCloser(rc))
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = length
			req.Header.Set("Content-Type", "application/octet-stream")
			switch rapid.SampledFrom([]string{"alone", "new changeset", "same changeset"}).Draw(t, "unit") {
			case "alone":
				cs = nil
			case "new changeset":
				cs = b.Changeset()
				group++
			default:
				if cs == nil {
					cs = b.Changeset()
					group++
				}
			}
			var call *Call
			if cs == nil {
				call, err = b.Add(req, "")
			} else {
				call, err = cs.Add(req, "")
			}
			if err != nil {
				t.Fatal(err)
			}
			g := 0
			if cs != nil {
				g = group
			}
			calls = append(calls, drawn{call, body, fails, g})
		}
		if err := b.Do(context.Background()); err != nil {
			t.Fatalf("Do: %v", err)
		}
		// A changeset stops at its first failing body: that call has its
		// error, the others the changeset's.
		groupFails := map[int]*Call{}
		for _, d := range calls {
			if d.fails != nil && d.group > 0 && groupFails[d.group] == nil {
				groupFails[d.group] = d.call
			}
		}
		want := map[string]string{}
		for i, d := range calls {
			path := d.call.Request().URL.Path
			switch {
			case d.fails != nil && (d.group == 0 || groupFails[d.group] == d.call):
				if err := d.call.Err(); !errors.Is(err, d.fails) {
					t.Errorf("call %d: %v, want %v", i, err, d.fails)
				}
			case groupFails[d.group] != nil:
				if err := d.call.Err(); err == nil || !strings.Contains(err.Error(), "not sent") {
					t.Errorf("call %d, in a changeset with a failing body: %v, want it not sent", i, err)
				}
			default:
				want[path] = d.body
				resp, err := d.call.Wait(context.Background())
				if err != nil {
					t.Errorf("call %d: %v", i, err)
					continue
				}
				got, _ := io.ReadAll(resp.Body)
				if string(got) != path {
					t.Errorf("call %d: answered %q, want %q", i, got, path)
				}
				continue
			}
			if d.call.Attempts() != 0 {
				t.Errorf("call %d: %d attempts, want 0", i, d.call.Attempts())
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff(want, served); diff != "" {
			t.Errorf("what the server ran, path to body (-want +got):\n%s", diff)
		}
	})
}
