package batch

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"
)

// A batch split at the per-request limit keeps each chain of references
// in one request.
func TestClientSplitKeepsChains(t *testing.T) {
	srv, n := countingServer(t, &bitrix{}, HandlerOptions{ResultReferences: true, MaxCalls: 3})
	b := (&Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Limits: Limits{MaxCalls: 3}}).NewBatch()
	b.Add(jsonRequest(t, "POST", "/rest/user.current", `{}`), "a")
	b.Add(jsonRequest(t, "GET", "/rest/c", ""), "c")
	b.Add(jsonRequest(t, "GET", "/rest/b/$result[a][ID]", ""), "b")
	b.Add(jsonRequest(t, "GET", "/rest/e", ""), "e")
	b.Add(jsonRequest(t, "GET", "/rest/d/$result[a][NAME]/$result[b][path]", ""), "d")
	b.Add(jsonRequest(t, "GET", "/rest/f", ""), "f")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]result{}
	for id, c := range b.Results() {
		got[id] = outcome(t, c)
	}
	want := map[string]result{
		"a": {Status: 200, Body: `{"ID":"1","NAME":"Ann Lee","LAST_NAME":"Lee","UF_DEPARTMENT":[1,5],"BOSS":{"ID":7}}`},
		"b": {Status: 200, Body: `{"path":"/rest/b/1"}`},
		"c": {Status: 200, Body: `{"path":"/rest/c"}`},
		"d": {Status: 200, Body: `{"path":"/rest/d/Ann Lee//rest/b/1"}`},
		"e": {Status: 200, Body: `{"path":"/rest/e"}`},
		"f": {Status: 200, Body: `{"path":"/rest/f"}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if n.Load() != 2 {
		t.Errorf("%d batch requests, want 2: the chain a-b-d whole, then c, e, f", n.Load())
	}
}

func TestClientChainLongerThanLimit(t *testing.T) {
	b := (&Client{Endpoint: "http://127.0.0.1:1/batch", Limits: Limits{MaxCalls: 2}}).NewBatch()
	b.Add(jsonRequest(t, "GET", "/a", ""), "a")
	b.Add(jsonRequest(t, "GET", "/b/$result[a][x]", ""), "b")
	b.Add(jsonRequest(t, "GET", "/c/$result[b][x]", ""), "c")
	err := b.Do(context.Background())
	if err == nil || !strings.Contains(err.Error(), "exceed the 2 calls") {
		t.Fatalf("Do: %v, want an error about the chain", err)
	}
	for _, c := range b.Calls() {
		if c.Err() == nil {
			t.Errorf("call %s has no error", c.ID())
		}
	}
}

func TestClientSplitsLargeBatches(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.URL.Path)
	})
	srv, n := countingServer(t, echo, HandlerOptions{MaxCalls: 10})
	c := &Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Limits: Limits{MaxCalls: 10}, Concurrency: 2}
	b := c.NewBatch()
	const calls = 35
	for i := range calls {
		req, _ := http.NewRequest("GET", fmt.Sprintf("/item/%d", i), nil)
		if _, err := b.Add(req, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, call := range b.Calls() {
		if diff := cmp.Diff(result{Status: 200, Body: fmt.Sprintf("/item/%d", i)}, outcome(t, call)); diff != "" {
			t.Errorf("call %d (-want +got):\n%s", i, diff)
		}
	}
	if got := n.Load(); got != 4 {
		t.Errorf("%d batch requests for %d calls of at most 10, want 4", got, calls)
	}
}

// TestRequestRefsMatchesTarget: the references requestRefs finds in a
// request's target are those findRefs finds in its RequestURI, however the
// URL is spelt (an escaped RawPath, a query, an opaque target with a
// scheme, "result" in any of them or in none), and a request whose
// context has ended gets the context's error either way.
func TestRequestRefsMatchesTarget(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		piece := rapid.SampledFrom([]string{"/", "a", "result", "$result[x][y]", "%24result%5Bx%5D%5By%5D", "%24", "$", "[", "]", " ", "%", "res", "ult", "?"})
		text := func(label string) string {
			s := ""
			for _, p := range rapid.SliceOfN(piece, 0, 6).Draw(t, label) {
				s += p
			}
			return s
		}
		u := &url.URL{Path: text("path"), RawQuery: text("query")}
		switch rapid.IntRange(0, 2).Draw(t, "spelling") {
		case 1:
			u.RawPath = text("rawPath")
		case 2:
			u.Scheme = rapid.SampledFrom([]string{"http", "result"}).Draw(t, "scheme")
			u.Opaque = rapid.SampledFrom([]string{"//h/p", "//h/$result[x][y]", "x"}).Draw(t, "opaque")
		}
		ctx := context.Background()
		if rapid.Bool().Draw(t, "cancelled") {
			c, cancel := context.WithCancel(ctx)
			cancel()
			ctx = c
		}
		req := (&http.Request{Method: "GET", URL: u, Header: http.Header{}}).WithContext(ctx)
		got, gotErr := requestRefs(req, 0)
		want, wantErr := findRefs(ctx, u.RequestURI())
		if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Fatalf("%q: error %v, want %v", u.RequestURI(), gotErr, wantErr)
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(ref{}), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%q: references (-want +got):\n%s", u.RequestURI(), diff)
		}
	})
}
