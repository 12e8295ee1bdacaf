package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// csOutcome is a changeset call's outcome as the tests compare it.
type csOutcome struct {
	Status int
	Body   string
	// For a ChangesetError: the failed call, its status and body.
	FailedID     string
	FailedStatus int
	FailedBody   string
	Err          string
}

func csResult(t *testing.T, c *Call) csOutcome {
	t.Helper()
	resp, err := c.Wait(context.Background())
	var ce *ChangesetError
	switch {
	case errors.As(err, &ce):
		b, rerr := io.ReadAll(ce.Response.Body)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if ce.StatusCode != ce.Response.StatusCode {
			t.Errorf("call %s: ChangesetError.StatusCode %d, its Response's %d", c.ID(), ce.StatusCode, ce.Response.StatusCode)
		}
		return csOutcome{FailedID: ce.ID, FailedStatus: ce.StatusCode, FailedBody: string(b)}
	case err != nil:
		return csOutcome{Err: err.Error()}
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return csOutcome{Status: resp.StatusCode, Body: string(b)}
}

func TestChangesetWireAndCommit(t *testing.T) {
	s := &scripted{respond: func(w io.Writer, req sentRequest) {
		cs := req.Parts[1].CID
		fmt.Fprintf(w, "--resp\r\n"+
			"Content-Type: application/http\r\nContent-ID: response-a\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst\r\n"+
			"--resp\r\n"+
			"Content-Type: multipart/mixed; boundary=cs\r\nContent-ID: response-%s\r\n\r\n"+
			"--cs\r\nContent-Type: application/http\r\nContent-ID: response-2\r\n\r\n"+
			"HTTP/1.1 201 Created\r\nLocation: http://x/odata/Orders(7)\r\nContent-Length: 9\r\n\r\n{\"Id\":7}\n\r\n"+
			"--cs\r\nContent-Type: application/http\r\nContent-ID: response-1\r\n\r\n"+
			"HTTP/1.1 201 Created\r\nLocation: http://x/odata/Customers(3)\r\nContent-Length: 9\r\n\r\n{\"Id\":3}\n\r\n"+
			"--cs--\r\n\r\n"+
			"--resp\r\n"+
			"Content-Type: application/http\r\nContent-ID: response-b\r\n\r\n"+
			"HTTP/1.1 204 No Content\r\n\r\n\r\n"+
			"--resp--\r\n", cs)
	}}
	b := scriptedClient(t, s, 0).NewBatch()
	a, _ := b.Add(jsonRequest(t, "GET", "/odata/Products", ""), "a")
	cs := b.Changeset()
	// Added after the changeset started: it goes after it on the wire.
	late, _ := b.Add(jsonRequest(t, "DELETE", "Products(9)", ""), "b")
	one, err := cs.Add(jsonRequest(t, "POST", "Customers", `{"Name":"Ann"}`), "1")
	if err != nil {
		t.Fatal(err)
	}
	two, err := cs.Add(jsonRequest(t, "POST", "$1/Orders", `{"Total":5}`), "2")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Calls are compared by identity.
	same := cmp.Comparer(func(x, y *Call) bool { return x == y })
	if diff := cmp.Diff([]*Call{a, late, one, two}, b.Calls(), same); diff != "" {
		t.Errorf("Calls(), in Add order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]*Call{one, two}, cs.Calls(), same); diff != "" {
		t.Errorf("cs.Calls() (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]*Call{"a": a, "b": late, "1": one, "2": two}, b.Results(), same); diff != "" {
		t.Errorf("Results() (-want +got):\n%s", diff)
	}
	if len(s.requests) != 1 {
		t.Fatalf("%d batch requests, want 1", len(s.requests))
	}
	sent := s.requests[0]
	want := []sentPart{
		{CID: "a", Type: "application/http", Msg: "GET /odata/Products HTTP/1.1\r\n\r\n"},
		{CID: cs.ID(), Type: "multipart/mixed", Parts: []sentPart{
			{CID: "1", Type: "application/http", Msg: "POST Customers HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{\"Name\":\"Ann\"}"},
			{CID: "2", Type: "application/http", Msg: "POST $1/Orders HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"Total\":5}"},
		}},
		{CID: "b", Type: "application/http", Msg: "DELETE Products(9) HTTP/1.1\r\n\r\n"},
	}
	if diff := cmp.Diff(want, sent.Parts); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	if len(sent.Boundaries) != 2 || sent.Boundaries[0] == sent.Boundaries[1] || len(sent.Boundaries[1]) < 20 {
		t.Errorf("boundaries %q: want an outer one and a distinct random one for the changeset", sent.Boundaries)
	}
	if len(cs.ID()) < 20 || cs.ID() == a.ID() {
		t.Errorf("changeset id %q: want a generated, unguessable one", cs.ID())
	}

	got := map[string]csOutcome{}
	for id, c := range b.Results() {
		got[id] = csResult(t, c)
	}
	wantOut := map[string]csOutcome{
		"a": {Status: 200, Body: "first"},
		"1": {Status: 201, Body: "{\"Id\":3}\n"},
		"2": {Status: 201, Body: "{\"Id\":7}\n"},
		"b": {Status: 204},
	}
	if diff := cmp.Diff(wantOut, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if loc := two.Response().Header.Get("Location"); loc != "http://x/odata/Orders(7)" {
		t.Errorf("call 2 Location %q", loc)
	}
}

// Without Content-IDs, parts are matched by position, at both levels;
// two changesets have distinct boundaries.
func TestChangesetPositional(t *testing.T) {
	s := &scripted{respond: func(w io.Writer, req sentRequest) {
		io.WriteString(w, "--resp\r\n"+
			"Content-Type: multipart/mixed; boundary=cs1\r\n\r\n"+
			"--cs1\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx\r\n"+
			"--cs1\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ny\r\n"+
			"--cs1--\r\n"+
			"--resp\r\n"+
			"Content-Type: multipart/mixed; boundary=cs2\r\n\r\n"+
			"--cs2\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n\r\n"+
			"--cs2--\r\n"+
			"--resp--\r\n")
	}}
	b := scriptedClient(t, s, 0).NewBatch()
	cs1, cs2 := b.Changeset(), b.Changeset()
	cs2.Add(jsonRequest(t, "DELETE", "Orders(1)", ""), "z")
	cs1.Add(jsonRequest(t, "POST", "Customers", `{}`), "x")
	cs1.Add(jsonRequest(t, "PATCH", "$x", `{}`), "y")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]csOutcome{}
	for id, c := range b.Results() {
		got[id] = csResult(t, c)
	}
	want := map[string]csOutcome{"x": {Status: 201, Body: "x"}, "y": {Status: 200, Body: "y"}, "z": {Status: 204}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	bs := s.requests[0].Boundaries
	if len(bs) != 3 || bs[1] == bs[2] {
		t.Errorf("boundaries %q: want distinct ones for the two changesets", bs)
	}
	if ids := []string{s.requests[0].Parts[0].CID, s.requests[0].Parts[1].CID}; ids[0] != cs1.ID() || ids[1] != cs2.ID() {
		t.Errorf("changeset parts %q, want %q then %q (creation order)", ids, cs1.ID(), cs2.ID())
	}
}

// A rolled-back changeset is answered by one application/http part, the
// failed call's response: every call of the changeset gets it as a
// ChangesetError; the other calls are not affected.
func TestChangesetRollback(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cid    func(cs string) string // the failure part's Content-ID field
		failed string
		status int
	}{
		{"call failed", func(string) string { return "Content-ID: <response-2>\r\n" }, "2", 409},
		{"changeset failed", func(cs string) string { return "Content-ID: response-" + cs + "\r\n" }, "", 500},
		{"by position", func(string) string { return "" }, "", 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{respond: func(w io.Writer, req sentRequest) {
				fmt.Fprintf(w, "--resp\r\n"+
					"Content-Type: application/http\r\n%s\r\n"+
					"HTTP/1.1 %d Whatever\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"error\":{}}\r\n"+
					"--resp\r\n"+
					"Content-Type: application/http\r\nContent-ID: response-other\r\n\r\n"+
					"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\r\n"+
					"--resp--\r\n", tc.cid(req.Parts[0].CID), tc.status)
			}}
			b := scriptedClient(t, s, 0).NewBatch()
			cs := b.Changeset()
			cs.Add(jsonRequest(t, "POST", "Customers", `{}`), "1")
			cs.Add(jsonRequest(t, "POST", "$1/Orders", `{}`), "2")
			cs.Add(jsonRequest(t, "POST", "Customers", `{}`), "3")
			b.Add(jsonRequest(t, "GET", "Products", ""), "other")
			if err := b.Do(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := map[string]csOutcome{}
			for id, c := range b.Results() {
				got[id] = csResult(t, c)
			}
			f := csOutcome{FailedID: tc.failed, FailedStatus: tc.status, FailedBody: `{"error":{}}`}
			want := map[string]csOutcome{"1": f, "2": f, "3": f, "other": {Status: 200, Body: "ok"}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			_, err := b.Results()["1"].Wait(context.Background())
			wantMsg := fmt.Sprintf("batch: changeset %q failed with status %d", cs.ID(), tc.status)
			if tc.failed != "" {
				wantMsg = fmt.Sprintf("batch: changeset %q rolled back: call %q failed with status %d", cs.ID(), tc.failed, tc.status)
			}
			if diff := cmp.Diff(wantMsg, err.Error()); diff != "" {
				t.Errorf("error message (-want +got):\n%s", diff)
			}
		})
	}
}

// A changeset the server does not answer leaves its calls with
// ErrNoResponse; a broken nested body fails the changeset's unanswered
// calls and no other.
func TestChangesetUnanswered(t *testing.T) {
	s := &scripted{respond: func(w io.Writer, req sentRequest) {
		fmt.Fprintf(w, "--resp\r\n"+
			"Content-Type: multipart/mixed; boundary=cs\r\nContent-ID: response-%s\r\n\r\n"+
			"--cs\r\nContent-Type: application/http\r\nContent-ID: response-1\r\n\r\nHTTP/1.1 201 Created\r\n\r\n\r\n"+
			"--cs\r\nContent-Type: application/http\r\nContent-ID: response-2\r\n\r\nHTTP/1.1 201 Created\r\n\r\n\r\n"+
			"--cs\r\nContent-Type: application/http\r\nContent-ID: response-3\r\n\r\nHTTP/1.1 201\r\n"+ // truncated
			"--resp\r\n"+
			"Content-Type: application/http\r\nContent-ID: response-t\r\n\r\nHTTP/1.1 200 OK\r\n\r\n\r\n"+
			"--resp--\r\n", req.Parts[0].CID)
	}}
	b := scriptedClient(t, s, 0).NewBatch()
	cs := b.Changeset()
	cs.Add(jsonRequest(t, "POST", "A", `{}`), "1")
	cs.Add(jsonRequest(t, "POST", "B", `{}`), "2")
	cs.Add(jsonRequest(t, "POST", "C", `{}`), "3")
	silent := b.Changeset()
	silent.Add(jsonRequest(t, "POST", "D", `{}`), "4")
	b.Add(jsonRequest(t, "GET", "T", ""), "t")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for id, c := range b.Results() {
		_, err := c.Wait(context.Background())
		switch {
		case err == nil:
			got[id] = "ok"
		case errors.Is(err, ErrNoResponse):
			got[id] = "no response"
		case errors.Is(err, io.ErrUnexpectedEOF):
			got[id] = "truncated"
		default:
			got[id] = err.Error()
		}
	}
	want := map[string]string{"1": "ok", "2": "ok", "3": "truncated", "4": "no response", "t": "ok"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

// sentIDs lists the Content-IDs of each batch request, a changeset as
// "[id id ...]", sorted by the first one (requests are sent concurrently).
func sentIDs(reqs []sentRequest) [][]string {
	var out [][]string
	for _, r := range reqs {
		var ids []string
		for _, p := range r.Parts {
			if p.Parts == nil {
				ids = append(ids, p.CID)
				continue
			}
			var m []string
			for _, q := range p.Parts {
				m = append(m, q.CID)
			}
			ids = append(ids, "["+strings.Join(m, " ")+"]")
		}
		out = append(out, ids)
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// answerAll answers every call with 200 and its id, changesets committed.
func answerAll(w io.Writer, req sentRequest) {
	for _, p := range req.Parts {
		if p.Parts == nil {
			fmt.Fprintf(w, "--resp\r\nContent-Type: application/http\r\nContent-ID: response-%s\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s\r\n", p.CID, len(p.CID), p.CID)
			continue
		}
		fmt.Fprintf(w, "--resp\r\nContent-Type: multipart/mixed; boundary=cs\r\nContent-ID: response-%s\r\n\r\n", p.CID)
		for _, q := range p.Parts {
			fmt.Fprintf(w, "--cs\r\nContent-Type: application/http\r\nContent-ID: response-%s\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s\r\n", q.CID, len(q.CID), q.CID)
		}
		io.WriteString(w, "--cs--\r\n")
	}
	io.WriteString(w, "--resp--\r\n")
}

func TestChangesetSplit(t *testing.T) {
	s := &scripted{respond: answerAll}
	b := scriptedClient(t, s, 4).NewBatch()
	b.Add(jsonRequest(t, "GET", "/a", ""), "a")
	cs := b.Changeset()
	b.Add(jsonRequest(t, "GET", "/b", ""), "b")
	cs.Add(jsonRequest(t, "POST", "/m1", `{}`), "m1")
	cs.Add(jsonRequest(t, "POST", "$m1/x", `{}`), "m2")
	// c joins the changeset's request: it uses m1's result.
	b.Add(jsonRequest(t, "GET", "/c/$result[m1][id]", ""), "c")
	b.Add(jsonRequest(t, "GET", "/d", ""), "d")
	b.Changeset() // empty: not sent
	b.Add(jsonRequest(t, "GET", "/e", ""), "e")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The changeset and c are one group of 3, placed where the
	// changeset is: with a they fill the first request, ahead of b.
	want := [][]string{{"a", "[m1 m2]", "c"}, {"b", "d", "e"}}
	if diff := cmp.Diff(want, sentIDs(s.requests)); diff != "" {
		t.Errorf("batch requests (-want +got):\n%s", diff)
	}
	for id, c := range b.Results() {
		if diff := cmp.Diff(csOutcome{Status: 200, Body: id}, csResult(t, c)); diff != "" {
			t.Errorf("call %s (-want +got):\n%s", id, diff)
		}
	}
}

func TestChangesetTooLarge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(b *Batch) *Changeset
		want  string
	}{
		{"changeset", func(b *Batch) *Changeset {
			cs := b.Changeset()
			for _, id := range []string{"x", "y", "z"} {
				cs.Add(jsonRequest(t, "POST", "/"+id, `{}`), id)
			}
			return cs
		}, `changeset "CS" has 3 calls, which exceed the 2 calls of one batch request`},
		{"chain", func(b *Batch) *Changeset {
			cs := b.Changeset()
			cs.Add(jsonRequest(t, "POST", "/x", `{}`), "x")
			cs.Add(jsonRequest(t, "POST", "/y", `{}`), "y")
			b.Add(jsonRequest(t, "GET", "/z/$result[y][id]", ""), "z")
			return cs
		}, `3 calls linked by result references (from changeset "CS") exceed the 2 calls of one batch request`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{respond: answerAll}
			b := scriptedClient(t, s, 2).NewBatch()
			b.Add(jsonRequest(t, "GET", "/alone", ""), "alone")
			cs := tc.build(b)
			err := b.Do(context.Background())
			want := "batch: " + strings.ReplaceAll(tc.want, "CS", cs.ID())
			if err == nil || err.Error() != want {
				t.Fatalf("Do: %v, want %q", err, want)
			}
			for _, c := range b.Calls() {
				if c.Err() != err {
					t.Errorf("call %s: %v, want the Do error", c.ID(), c.Err())
				}
			}
			if len(s.requests) != 0 {
				t.Errorf("%d batch requests sent, want none", len(s.requests))
			}
		})
	}
}

// An empty changeset is not sent; a batch of nothing but empty changesets
// sends nothing.
func TestChangesetEmpty(t *testing.T) {
	s := &scripted{respond: answerAll}
	b := scriptedClient(t, s, 0).NewBatch()
	b.Changeset()
	b.Add(jsonRequest(t, "GET", "/a", ""), "a")
	b.Changeset()
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{"a"}}, sentIDs(s.requests)); diff != "" {
		t.Errorf("batch requests (-want +got):\n%s", diff)
	}
	b = scriptedClient(t, s, 0).NewBatch()
	b.Changeset()
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(s.requests) != 1 {
		t.Errorf("%d batch requests, want still 1", len(s.requests))
	}
}

// A rolled-back changeset counts as a failure for HaltOnError: the later
// batch requests are not sent.
func TestChangesetHaltOnError(t *testing.T) {
	var halt []string
	s := &scripted{respond: func(w io.Writer, req sentRequest) {
		fmt.Fprintf(w, "--resp\r\nContent-Type: application/http\r\nContent-ID: response-2\r\n\r\n"+
			"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad\r\n--resp--\r\n")
	}}
	c := scriptedClient(t, s, 2)
	srv := c.HTTPClient
	c.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		halt = append(halt, r.Header.Get(DefaultHaltHeader))
		return srv.Transport.RoundTrip(r)
	})}
	b := c.NewBatch()
	b.HaltOnError = true
	cs := b.Changeset()
	cs.Add(jsonRequest(t, "POST", "/1", `{}`), "1")
	cs.Add(jsonRequest(t, "POST", "/2", `{}`), "2")
	b.Add(jsonRequest(t, "GET", "/3", ""), "3")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for id, c := range b.Results() {
		_, err := c.Wait(context.Background())
		var ce *ChangesetError
		switch {
		case errors.As(err, &ce):
			got[id] = fmt.Sprintf("rolled back by %s", ce.ID)
		case errors.Is(err, ErrSkipped):
			got[id] = "skipped"
		default:
			got[id] = fmt.Sprint(err)
		}
	}
	want := map[string]string{"1": "rolled back by 2", "2": "rolled back by 2", "3": "skipped"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"true"}, halt); diff != "" {
		t.Errorf("halt headers of the batch requests (-want +got):\n%s", diff)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestChangesetAddErrors(t *testing.T) {
	b := (&Client{Endpoint: "http://127.0.0.1/odata/$batch"}).NewBatch()
	must := func(c *Call, err error) *Call {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	must(b.Add(jsonRequest(t, "POST", "/before", `{}`), "before"))
	cs1 := b.Changeset()
	must(b.Add(jsonRequest(t, "POST", "/after", `{}`), "after"))
	cs2 := b.Changeset()
	must(cs2.Add(jsonRequest(t, "POST", "Customers", `{}`), "c2"))
	must(cs1.Add(jsonRequest(t, "POST", "Customers", `{}`), "c1"))

	for _, tc := range []struct {
		name string
		add  func() (*Call, error)
		want string // "" for success
	}{
		{"$id of an earlier member", func() (*Call, error) { return cs1.Add(jsonRequest(t, "POST", "$c1/Orders", `{}`), "") }, ""},
		{"$id alone, with a query", func() (*Call, error) { return cs1.Add(jsonRequest(t, "PATCH", "$c1?x=1", `{}`), "") }, ""},
		{"$metadata", func() (*Call, error) { return cs1.Add(jsonRequest(t, "GET", "$metadata", ""), "") }, ""},
		{"$id unknown", func() (*Call, error) { return cs1.Add(jsonRequest(t, "POST", "$9/Orders", `{}`), "") },
			`batch: target "$9/Orders": no earlier call of changeset "CS1" has the id "9"`},
		{"$id of a call outside the changeset", func() (*Call, error) { return cs1.Add(jsonRequest(t, "POST", "$before/Orders", `{}`), "") },
			`batch: target "$before/Orders": call "before" is not in changeset "CS1"; a $<Content-ID> target must name an earlier call of its own changeset`},
		{"$id of another changeset's call", func() (*Call, error) { return cs2.Add(jsonRequest(t, "POST", "$c1/Orders", `{}`), "") },
			`batch: target "$c1/Orders": call "c1" is not in changeset "CS2"; a $<Content-ID> target must name an earlier call of its own changeset`},
		{"$id outside changesets", func() (*Call, error) { return b.Add(jsonRequest(t, "POST", "$c1/Orders", `{}`), "") },
			`batch: target "$c1/Orders": a $<Content-ID> target only works inside a changeset`},
		{"reference to a call before the changeset", func() (*Call, error) {
			return cs1.Add(jsonRequest(t, "POST", "/x", `{"a":"$result[before][id]"}`), "")
		}, ""},
		{"reference to an earlier member", func() (*Call, error) { return cs1.Add(jsonRequest(t, "GET", "/x/$result[c1][id]", ""), "") }, ""},
		{"reference to a call added after the changeset started", func() (*Call, error) {
			return cs1.Add(jsonRequest(t, "POST", "/x", `{"a":"$result[after][id]"}`), "")
		}, `batch: reference $result[after][id]: call "after" comes after changeset "CS1" in the batch`},
		{"reference into a later changeset", func() (*Call, error) { return cs1.Add(jsonRequest(t, "GET", "/x/$result[c2][id]", ""), "") },
			`batch: reference $result[c2][id]: call "c2" comes after changeset "CS1" in the batch`},
		{"reference into an earlier changeset, added later", func() (*Call, error) {
			// c1 was added after cs2 started, but cs1 comes first on the wire.
			return cs2.Add(jsonRequest(t, "GET", "/x/$result[c1][id]", ""), "")
		}, ""},
		{"top-level reference to a member", func() (*Call, error) { return b.Add(jsonRequest(t, "GET", "/x/$result[c2][id]", ""), "") }, ""},
		{"id of a changeset", func() (*Call, error) { return b.Add(jsonRequest(t, "GET", "/x", ""), cs1.ID()) },
			`batch: duplicate call id "CS1"`},
		{"duplicate member id", func() (*Call, error) { return cs2.Add(jsonRequest(t, "GET", "/x", ""), "before") },
			`batch: duplicate call id "before"`},
		{"another host", func() (*Call, error) { return cs2.Add(jsonRequest(t, "GET", "http://evil.example/x", ""), "") },
			`batch: request to host "evil.example", not the batch endpoint's "127.0.0.1"`},
	} {
		n := len(b.Calls())
		c, err := tc.add()
		got := ""
		if err != nil {
			got = err.Error()
		}
		want := strings.NewReplacer("CS1", cs1.ID(), "CS2", cs2.ID()).Replace(tc.want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: error (-want +got):\n%s", tc.name, diff)
		}
		if err != nil && c != nil {
			t.Errorf("%s: a call with the error", tc.name)
		}
		if err != nil && len(b.Calls()) != n {
			t.Errorf("%s: the failed Add added a call", tc.name)
		}
	}
	// A target naming a member added later is refused, as it would be
	// rewritten to nothing; once that member is in, it is fine.
	later := jsonRequest(t, "POST", "$later/Orders", `{}`)
	if _, err := cs1.Add(later, ""); err == nil {
		t.Error("Add of a $<id> target naming a call not added yet succeeded")
	}
	must(cs1.Add(jsonRequest(t, "POST", "Customers", `{}`), "later"))
	must(cs1.Add(later, ""))

	// Do with a cancelled context fails without reaching the network.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Do(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do: %v, want context.Canceled", err)
	}
	if _, err := cs1.Add(jsonRequest(t, "GET", "/x", ""), ""); err == nil {
		t.Error("Changeset.Add after Do succeeded")
	}
}

// End to end: the Client's changesets against NewHandler with BeginGroup,
// over shop, the transactional store of changeset_test.go.

func shopClient(t *testing.T, s *shop, opts HandlerOptions, maxCalls int) (*Client, func() int64) {
	srv, n := countingServer(t, s, opts)
	return &Client{Endpoint: srv.URL + "/odata/$batch", HTTPClient: srv.Client(), Limits: Limits{MaxCalls: maxCalls}}, n.Load
}

func TestChangesetEndToEndCommit(t *testing.T) {
	s := newShop()
	c, _ := shopClient(t, s, HandlerOptions{BeginGroup: s.begin, ResultReferences: true}, 0)
	b := c.NewBatch()
	cs := b.Changeset()
	cs.Add(jsonRequest(t, "POST", "Customers", `{"Name":"Ann"}`), "1")
	order, err := cs.Add(jsonRequest(t, "POST", "$1/Orders", `{"Qty":2}`), "2")
	if err != nil {
		t.Fatal(err)
	}
	// Within the changeset, an earlier call's result is known at once.
	if _, err := cs.Add(jsonRequest(t, "GET", "Customers($result[1][ID])", ""), "1b"); err != nil {
		t.Fatal(err)
	}
	// Known only once the changeset commits: the server holds it back.
	if _, err := b.Add(jsonRequest(t, "GET", "Customers($result[1][ID])", ""), "3"); err != nil {
		t.Fatal(err)
	}
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]csOutcome{}
	for id, c := range b.Results() {
		got[id] = csResult(t, c)
	}
	want := map[string]csOutcome{
		"1":  {Status: 201, Body: `{"ID":1,"Name":"Ann"}`},
		"2":  {Status: 201, Body: `{"ID":2,"Customer":1}`},
		"1b": {Status: 200, Body: `{"ID":1,"Name":"Ann"}`},
		"3":  {Status: 200, Body: `{"ID":1,"Name":"Ann"}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("/odata/Orders(2)", order.Response().Header.Get("Location")); diff != "" {
		t.Errorf("Location of the order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(obj{"customers": 1, "orders": 1, "log": "begin commit"}, s.state()); diff != "" {
		t.Errorf("store (-want +got):\n%s", diff)
	}
}

func TestChangesetEndToEndRollback(t *testing.T) {
	s := newShop()
	c, _ := shopClient(t, s, HandlerOptions{BeginGroup: s.begin, ResultReferences: true}, 0)
	b := c.NewBatch()
	b.Add(jsonRequest(t, "POST", "nogroup", `{}`), "0")
	cs := b.Changeset()
	cs.Add(jsonRequest(t, "POST", "Customers", `{"Name":"Ann"}`), "1")
	cs.Add(jsonRequest(t, "POST", "$1/Orders", `{"Qty":0}`), "2")
	cs.Add(jsonRequest(t, "POST", "Customers", `{"Name":"Bob"}`), "3")
	// A rolled-back call counts as failed for the calls that use it.
	if _, err := b.Add(jsonRequest(t, "GET", "Customers($result[1][ID])", ""), "4"); err != nil {
		t.Fatal(err)
	}
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]csOutcome{}
	for id, c := range b.Results() {
		got[id] = csResult(t, c)
	}
	f := csOutcome{FailedID: "2", FailedStatus: 400, FailedBody: `{"error":"Qty must be positive"}`}
	want := map[string]csOutcome{
		"0": {Status: 200, Body: `{"group":false}`},
		"1": f, "2": f, "3": f,
		"4": {Status: 424, Body: `{"error":{"code":"FailedDependency","message":"reference $result[1][ID]: call \"1\" does not count: its changeset was rolled back"}}` + "\n"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(obj{"customers": 0, "orders": 0, "log": "begin rollback"}, s.state()); diff != "" {
		t.Errorf("store (-want +got):\n%s", diff)
	}
}

// A call of a changeset may use the result of a call of a changeset
// started before it, even one added later: that one is earlier on the wire,
// and the server begins the second group once the first has committed.
func TestChangesetEndToEndAcrossChangesets(t *testing.T) {
	s := newShop()
	c, _ := shopClient(t, s, HandlerOptions{BeginGroup: s.begin, ResultReferences: true}, 0)
	b := c.NewBatch()
	first, second := b.Changeset(), b.Changeset()
	if _, err := first.Add(jsonRequest(t, "POST", "Customers", `{"Name":"Ann"}`), "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Add(jsonRequest(t, "POST", "Customers($result[ann][ID])/Orders", `{"Qty":3}`), "order"); err != nil {
		t.Fatal(err)
	}
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]csOutcome{}
	for id, c := range b.Results() {
		got[id] = csResult(t, c)
	}
	want := map[string]csOutcome{
		"ann":   {Status: 201, Body: `{"ID":1,"Name":"Ann"}`},
		"order": {Status: 201, Body: `{"ID":2,"Customer":1}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(obj{"customers": 1, "orders": 1, "log": "begin commit begin commit"}, s.state()); diff != "" {
		t.Errorf("store (-want +got):\n%s", diff)
	}
}

// A changeset that fails as a whole (its group cannot begin, or commit)
// fails each of its calls with the changeset's own response.
func TestChangesetEndToEndGroupFails(t *testing.T) {
	for _, tc := range []struct {
		name      string
		set       func(s *shop)
		wantBody  string
		wantStore obj
	}{
		{"begin", func(s *shop) { s.failBegin = errors.New("store offline") },
			"batch: changeset: cannot begin its group: store offline\n", obj{"customers": 0, "orders": 0, "log": ""}},
		{"commit", func(s *shop) { s.failCmt = errors.New("disk full") },
			"batch: changeset: commit failed: disk full\n", obj{"customers": 0, "orders": 0, "log": "begin commit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newShop()
			tc.set(s)
			c, _ := shopClient(t, s, HandlerOptions{BeginGroup: s.begin}, 0)
			b := c.NewBatch()
			cs := b.Changeset()
			cs.Add(jsonRequest(t, "POST", "Customers", `{"Name":"Ann"}`), "1")
			cs.Add(jsonRequest(t, "POST", "$1/Orders", `{"Qty":1}`), "2")
			if err := b.Do(context.Background()); err != nil {
				t.Fatal(err)
			}
			f := csOutcome{FailedStatus: 500, FailedBody: tc.wantBody}
			got := map[string]csOutcome{}
			for id, c := range b.Results() {
				got[id] = csResult(t, c)
			}
			if diff := cmp.Diff(map[string]csOutcome{"1": f, "2": f}, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStore, s.state()); diff != "" {
				t.Errorf("store (-want +got):\n%s", diff)
			}
		})
	}
}

// Split at the server's limit, each changeset and the chain of references
// into it stays in one batch request, and every changeset commits.
func TestChangesetEndToEndSplit(t *testing.T) {
	s := newShop()
	c, requests := shopClient(t, s, HandlerOptions{BeginGroup: s.begin, ResultReferences: true, MaxCalls: 3}, 3)
	c.Concurrency = 1 // the store's ids then follow the order of the requests
	b := c.NewBatch()
	for _, name := range []string{"Ann", "Bob", "Cy"} {
		cs := b.Changeset()
		cust, _ := cs.Add(jsonRequest(t, "POST", "Customers", fmt.Sprintf(`{"Name":%q}`, name)), "")
		cs.Add(jsonRequest(t, "POST", "$"+cust.ID()+"/Orders", `{"Qty":1}`), "")
		b.Add(jsonRequest(t, "GET", "Customers($result["+cust.ID()+"][ID])", ""), name)
	}
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]csOutcome{}
	for _, name := range []string{"Ann", "Bob", "Cy"} {
		got[name] = csResult(t, b.Results()[name])
	}
	want := map[string]csOutcome{
		"Ann": {Status: 200, Body: `{"ID":1,"Name":"Ann"}`},
		"Bob": {Status: 200, Body: `{"ID":3,"Name":"Bob"}`},
		"Cy":  {Status: 200, Body: `{"ID":5,"Name":"Cy"}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	for _, call := range b.Calls() {
		if _, err := call.Wait(context.Background()); err != nil {
			t.Errorf("call %s: %v", call.ID(), err)
		}
	}
	if n := requests(); n != 3 {
		t.Errorf("%d batch requests, want 3 (one per changeset and its reader)", n)
	}
	if diff := cmp.Diff(obj{"customers": 3, "orders": 3, "log": "begin commit begin commit begin commit"}, s.state()); diff != "" {
		t.Errorf("store (-want +got):\n%s", diff)
	}
}

// Each call of a rolled-back changeset has its own ChangesetError.Response
// to read on its own: its own Header, Trailer and TransferEncoding, which
// the goroutines answering each call may change at once (the race
// detector catches shared maps), and a change to one is not seen in
// another's. Both formats: a multipart batch's single response part, and
// a JSON batch's failed response.
func TestClientChangesetErrorResponsesOwnTheirHeader(t *testing.T) {
	const n = 4
	multipart := func(t *testing.T) []*Call {
		srv := rawBatchServer(t, func(w http.ResponseWriter, ids []string) {
			startResponse(w)
			io.WriteString(w, "--"+attackBoundary+"\r\nContent-Type: application/http\r\nContent-ID: response-"+strings.Trim(ids[0], "<>")+"\r\n\r\n"+
				"HTTP/1.1 409 Conflict\r\nX-A: 1\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nno\r\n0\r\nX-T: t\r\n\r\n\r\n--"+attackBoundary+"--\r\n")
		})
		b := (&Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client()}).NewBatch()
		cs := b.Changeset()
		for i := range n {
			req, _ := http.NewRequest("PUT", srv.URL+"/x/"+strconv.Itoa(i), strings.NewReader("{}"))
			if _, err := cs.Add(req, ""); err != nil {
				t.Fatal(err)
			}
		}
		b.Do(context.Background())
		return cs.Calls()
	}
	jsonBatch := func(t *testing.T) []*Call {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"responses":[{"id":"0","status":409,"headers":{"X-A":"1","Content-Type":"application/json"},"body":{"e":"no"}}`)
			for i := 1; i < n; i++ {
				fmt.Fprintf(w, `,{"id":"%d","status":424,"headers":{"X-A":"1"}}`, i)
			}
			io.WriteString(w, `]}`)
		}))
		t.Cleanup(srv.Close)
		b := (&Client{Endpoint: srv.URL + "/$batch", HTTPClient: srv.Client(), Format: FormatODataJSON}).NewBatch()
		cs := b.Changeset()
		for i := range n {
			req, _ := http.NewRequest("PUT", srv.URL+"/x/"+strconv.Itoa(i), strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			if _, err := cs.Add(req, strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
		}
		b.Do(context.Background())
		return cs.Calls()
	}
	for name, calls := range map[string]func(*testing.T) []*Call{"multipart": multipart, "json": jsonBatch} {
		t.Run(name, func(t *testing.T) {
			calls := calls(t)
			resps := make([]*http.Response, len(calls))
			for i, c := range calls {
				var ce *ChangesetError
				if _, err := c.Wait(context.Background()); !errors.As(err, &ce) || ce.Response == nil {
					t.Fatalf("call %d: %v, want a ChangesetError with a response", i, err)
				}
				resps[i] = ce.Response
			}
			var wg sync.WaitGroup
			for i, r := range resps {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range 100 {
						r.Header.Set("X-Own", fmt.Sprint(i, j))
						r.Header.Del("X-A")
						_ = r.Header.Get("X-Other")
						if r.Trailer != nil {
							r.Trailer.Set("X-Own", fmt.Sprint(i))
						}
						if len(r.TransferEncoding) > 0 {
							r.TransferEncoding[0] = fmt.Sprint(i)
						}
					}
				}()
			}
			wg.Wait()
			for i, r := range resps {
				if got, want := r.Header.Get("X-Own"), fmt.Sprint(i, 99); got != want {
					t.Errorf("call %d: its Header's X-Own is %q, want %q: another call's", i, got, want)
				}
				if r.Trailer != nil && r.Trailer.Get("X-Own") != fmt.Sprint(i) {
					t.Errorf("call %d: its Trailer's X-Own is %q, want %q: another call's", i, r.Trailer.Get("X-Own"), fmt.Sprint(i))
				}
				if len(r.TransferEncoding) > 0 && r.TransferEncoding[0] != fmt.Sprint(i) {
					t.Errorf("call %d: its TransferEncoding is %q, want %q: another call's", i, r.TransferEncoding, fmt.Sprint(i))
				}
			}
		})
	}
}
