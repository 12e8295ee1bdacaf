package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
)

// OData's example: create a customer, then POST $1/Orders; both commit.
func TestChangesetCommits(t *testing.T) {
	s := newShop()
	body := batchBody(
		changeset("",
			part("1", jsonPart("POST", "Customers", `{"Name":"Ann"}`)),
			part("2", jsonPart("POST", "$1/Orders", `{"Qty":2}`)),
		),
		part("3", jsonPart("GET", "/odata/Customers(1)", "")),
	)
	// One call at a time: call 3 runs after the changeset committed,
	// not beside it.
	got, _ := serveTree(t, s, HandlerOptions{BeginGroup: s.begin, Concurrency: 1}, nil, body)
	want := []treePart{
		{Parts: []treePart{
			{ContentID: "response-1", Status: 201, Location: "/odata/Customers(1)", JSON: obj{"ID": 1.0, "Name": "Ann"}},
			{ContentID: "response-2", Status: 201, Location: "/odata/Orders(2)", JSON: obj{"ID": 2.0, "Customer": 1.0}},
		}},
		{ContentID: "response-3", Status: 200, JSON: obj{"ID": 1.0, "Name": "Ann"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(obj{"customers": 1, "orders": 1, "log": "begin commit"}, s.state()); diff != "" {
		t.Errorf("store (-want +got):\n%s", diff)
	}
}

// A changeset whose second call fails rolls back the first, and its
// response is the failed call's alone; the calls after it never run.
func TestChangesetRollsBack(t *testing.T) {
	s := newShop()
	body := batchBody(
		part("0", jsonPart("POST", "nogroup", `{}`)),
		changeset("cs1",
			part("1", jsonPart("POST", "Customers", `{"Name":"Ann"}`)),
			part("2", jsonPart("POST", "$1/Orders", `{"Qty":0}`)),
			part("3", jsonPart("POST", "Customers", `{"Name":"Bob"}`)),
		),
	)
	got, _ := serveTree(t, s, HandlerOptions{BeginGroup: s.begin}, nil, body)
	want := []treePart{
		{ContentID: "response-0", Status: 200, JSON: obj{"group": false}},
		{ContentID: "response-2", Status: 400, JSON: obj{"error": "Qty must be positive"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(obj{"customers": 0, "orders": 0, "log": "begin rollback"}, s.state()); diff != "" {
		t.Errorf("store (-want +got):\n%s", diff)
	}
}

func TestChangesetContentIDTargets(t *testing.T) {
	s := newShop()
	for _, tc := range []struct {
		name    string
		members []string
		want    treePart
	}{
		{"no Location", []string{
			part("1", jsonPart("POST", "nogroup", `{}`)),
			part("2", jsonPart("POST", "$1/Orders", `{"Qty":1}`)),
		}, errPart("response-2", 424, `reference $1: the response of call "1" has no Location`)},
		{"itself", []string{
			part("1", jsonPart("POST", "$1/Orders", `{"Qty":1}`)),
		}, errPart("response-1", 424, "reference $1: a call can only use the Location of an earlier call of its changeset")},
		{"later", []string{
			part("1", jsonPart("POST", "$2/Orders", `{"Qty":1}`)),
			part("2", jsonPart("POST", "Customers", `{"Name":"Ann"}`)),
		}, errPart("response-1", 424, "reference $2: a call can only use the Location of an earlier call of its changeset")},
		{"not a call: left alone", []string{
			part("1", jsonPart("POST", "$metadata", `{}`)),
		}, treePart{ContentID: "response-1", Status: 404, JSON: obj{"error": "no route POST /odata/$metadata"}}},
		{"changesets do not nest", []string{
			part("1", jsonPart("POST", "Customers", `{"Name":"Ann"}`)),
			"--b\r\nContent-Type: multipart/mixed; boundary=inner\r\nContent-ID: 2\r\n\r\n--inner--\r\n",
		}, treePart{ContentID: "response-2", Status: 400, JSON: "part 0, changeset part 1: Content-Type \"multipart/mixed; boundary=inner\" is not application/http (changesets do not nest)\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := serveTree(t, s, HandlerOptions{BeginGroup: s.begin}, nil, batchBody(changeset("", tc.members...)))
			if diff := cmp.Diff([]treePart{tc.want}, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
	wantLog := strings.TrimSpace(strings.Repeat("begin rollback ", 5))
	if diff := cmp.Diff(obj{"customers": 0, "orders": 0, "log": wantLog}, s.state()); diff != "" {
		t.Errorf("store (-want +got):\n%s", diff)
	}
}

// A changeset whose group cannot begin or commit fails as a whole with
// 500, under its own Content-ID; the batch's other calls still run.
func TestChangesetGroupFailures(t *testing.T) {
	members := []string{
		part("1", jsonPart("POST", "Customers", `{"Name":"Ann"}`)),
		part("2", jsonPart("POST", "nogroup", `{}`)),
	}
	for _, tc := range []struct {
		name    string
		setup   func(*shop, *HandlerOptions)
		wantMsg string
		wantLog string
	}{
		{"begin fails", func(s *shop, o *HandlerOptions) { s.failBegin = errors.New("database is locked") },
			"batch: changeset: cannot begin its group: database is locked\n", ""},
		{"begin panics", func(s *shop, o *HandlerOptions) {
			o.BeginGroup = func(context.Context) (Group, error) { panic("boom") }
		}, "batch: changeset: cannot begin its group: panic: boom\n", ""},
		{"begin returns no group", func(s *shop, o *HandlerOptions) {
			o.BeginGroup = func(context.Context) (Group, error) { return nil, nil }
		}, "batch: changeset: cannot begin its group: BeginGroup returned no group\n", ""},
		{"commit fails", func(s *shop, o *HandlerOptions) { s.failCmt = errors.New("disk full") },
			"batch: changeset: commit failed: disk full\n", "begin commit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newShop()
			// One worker: call 3 runs after the changeset, and the
			// Customer IDs it is given follow.
			opts := &HandlerOptions{BeginGroup: s.begin, Concurrency: 1}
			tc.setup(s, opts)
			body := batchBody(changeset("cs", members...), part("3", jsonPart("POST", "Customers", `{"Name":"Bob"}`)))
			got, _ := serveTree(t, s, *opts, nil, body)
			want := []treePart{
				{ContentID: "response-cs", Status: 500, JSON: tc.wantMsg},
				{ContentID: "response-3", Status: 201, Location: "/odata/Customers(1)", JSON: obj{"ID": 1.0, "Name": "Bob"}},
			}
			if tc.name == "commit fails" {
				want[1].Location, want[1].JSON = "/odata/Customers(2)", obj{"ID": 2.0, "Name": "Bob"}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(obj{"customers": 1, "orders": 0, "log": tc.wantLog}, s.state()); diff != "" {
				t.Errorf("store (-want +got):\n%s", diff)
			}
		})
	}
}

// Without BeginGroup, Changesets still run their calls in order and answer
// them as one nested part; calls see no group. An empty changeset is a
// 400 part of its own.
func TestChangesetWithoutGroup(t *testing.T) {
	s := newShop()
	body := batchBody(changeset("",
		part("a", jsonPart("POST", "nogroup", `{}`)),
		part("b", jsonPart("POST", "/odata/Customers", `{"Name":"Ann"}`)),
	), changeset("empty"))
	got, _ := serveTree(t, s, HandlerOptions{Changesets: true}, nil, body)
	want := []treePart{
		{Parts: []treePart{
			{ContentID: "response-a", Status: 200, JSON: obj{"group": false}},
			{ContentID: "response-b", Status: 201, Location: "/odata/Customers(1)", JSON: obj{"ID": 1.0, "Name": "Ann"}},
		}},
		{ContentID: "response-empty", Status: 400, JSON: "part 1: changeset: a changeset with no calls\n"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}

// Calls inside a changeset see its group; a malformed changeset is one 400
// part; without changesets on, a multipart part is a 400 as before.
func TestChangesetParts(t *testing.T) {
	s := newShop()
	body := batchBody(
		changeset("", part("1", jsonPart("POST", "nogroup", `{}`))),
		"--b\r\nContent-Type: multipart/mixed\r\nContent-ID: nob\r\n\r\nno boundary\r\n",
		"--b\r\nContent-Type: multipart/mixed; boundary=cs\r\nContent-ID: trunc\r\n\r\n--cs\r\nContent-Type: application/http\r\n\r\nGET /x HTTP/1.1\r\n\r\n",
	)
	got, _ := serveTree(t, s, HandlerOptions{BeginGroup: s.begin}, nil, body)
	want := []treePart{
		{Parts: []treePart{{ContentID: "response-1", Status: 200, JSON: obj{"group": true}}}},
		{ContentID: "response-nob", Status: 400, JSON: "part 1: changeset: mixed: not a multipart media type: no boundary parameter\n"},
		{ContentID: "response-trunc", Status: 400, JSON: "part 2: changeset: mixed: unexpected EOF: input ends inside a part body at offset 57\n"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	got, _ = serveTree(t, s, HandlerOptions{}, nil, batchBody(changeset("x", part("1", jsonPart("POST", "nogroup", `{}`)))))
	want = []treePart{{ContentID: "response-x", Status: 400, JSON: "part 0: Content-Type \"multipart/mixed; boundary=cs\" is not application/http\n"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("without changesets (-want +got):\n%s", diff)
	}
}

// MaxCalls counts the calls inside changesets.
func TestChangesetMaxCalls(t *testing.T) {
	s := newShop()
	body := batchBody(
		part("1", jsonPart("POST", "nogroup", `{}`)),
		changeset("", part("2", jsonPart("POST", "nogroup", `{}`)), part("3", jsonPart("POST", "nogroup", `{}`))),
	)
	resp := serve(t, s, HandlerOptions{Changesets: true, MaxCalls: 2}, "/odata/$batch", nil, body)
	msg, _ := io.ReadAll(resp.Body)
	if diff := cmp.Diff("400 batch: more than 2 calls in one batch\n", fmt.Sprint(resp.StatusCode, " ", string(msg))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got, _ := serveTree(t, s, HandlerOptions{Changesets: true, MaxCalls: 3}, nil, body)
	if len(got) != 2 || len(got[1].Parts) != 2 {
		t.Errorf("MaxCalls 3: got %+v, want a call and a changeset of two", got)
	}
}

// OData mode halts at the first failure unless the batch prefers
// continue-on-error; a failed changeset is a failure. OData runs a batch in
// order whatever Concurrency says, so the halt is exact: each case runs 20
// times with Concurrency 8.
func TestODataContinueOnError(t *testing.T) {
	body := batchBody(
		part("0", jsonPart("GET", "Customers(9)", "")),
		changeset("", part("1", jsonPart("POST", "Customers", `{"Name":"Ann"}`))),
		part("2", jsonPart("POST", "Customers", `{"Name":"Bob"}`)),
	)
	for _, tc := range []struct {
		prefer, applied string
		want            []treePart
	}{
		{"", "", []treePart{
			{ContentID: "0", Status: 404, JSON: obj{"error": "no customer 9"}},
			errPart("", 424, `skipped: call 0 ("0") failed with status 404 and the batch halts on errors`),
			errPart("2", 424, `skipped: call 0 ("0") failed with status 404 and the batch halts on errors`),
		}},
		{"return=minimal, odata.continue-on-error", "odata.continue-on-error", []treePart{
			{ContentID: "0", Status: 404, JSON: obj{"error": "no customer 9"}},
			{Parts: []treePart{{ContentID: "1", Status: 201, Location: "/odata/Customers(1)", JSON: obj{"ID": 1.0, "Name": "Ann"}}}},
			{ContentID: "2", Status: 201, Location: "/odata/Customers(2)", JSON: obj{"ID": 2.0, "Name": "Bob"}},
		}},
		{"continue-on-error=false", "", nil},
	} {
		t.Run(tc.prefer, func(t *testing.T) {
			for range 20 {
				s := newShop()
				got, resp := serveTree(t, s, HandlerOptions{OData: true, BeginGroup: s.begin, Concurrency: 8}, http.Header{"Prefer": {tc.prefer}}, body)
				if tc.want != nil {
					if diff := cmp.Diff(tc.want, got); diff != "" {
						t.Fatalf("response (-want +got):\n%s", diff)
					}
				} else if len(got) != 3 || got[2].Status != 424 {
					t.Fatalf("continue-on-error=false did not halt: %+v", got)
				}
				if diff := cmp.Diff(tc.applied, resp.Header.Get("Preference-Applied")); diff != "" {
					t.Fatalf("Preference-Applied (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// Result references may name calls inside changesets: a committed call's
// result is used; a rolled-back or never-run one fails the reference.
func TestChangesetResultReferences(t *testing.T) {
	s := newShop()
	body := batchBody(
		changeset("",
			part("ann", jsonPart("POST", "Customers", `{"Name":"Ann"}`)),
			part("annGet", jsonPart("GET", "Customers($result[ann][ID])", "")),
		),
		changeset("",
			part("bob", jsonPart("POST", "Customers", `{"Name":"Bob"}`)),
			part("bad", jsonPart("POST", "$bob/Orders", `{"Qty":0}`)),
			part("never", jsonPart("POST", "Customers", `{"Name":"Cy"}`)),
		),
		part("r1", jsonPart("POST", "Customers($result[ann][ID])/Orders", `{"Qty":1}`)),
		part("r2", jsonPart("GET", "Customers($result[bob][ID])", "")),
		part("r3", jsonPart("GET", "Customers($result[never][ID])", "")),
	)
	// One call at a time, so that the shop's ids do not depend on which
	// changeset begins first.
	got, _ := serveTree(t, s, HandlerOptions{BeginGroup: s.begin, ResultReferences: true, Concurrency: 1}, nil, body)
	want := []treePart{
		{Parts: []treePart{
			{ContentID: "response-ann", Status: 201, Location: "/odata/Customers(1)", JSON: obj{"ID": 1.0, "Name": "Ann"}},
			{ContentID: "response-annGet", Status: 200, JSON: obj{"ID": 1.0, "Name": "Ann"}},
		}},
		{ContentID: "response-bad", Status: 400, JSON: obj{"error": "Qty must be positive"}},
		{ContentID: "response-r1", Status: 201, Location: "/odata/Orders(3)", JSON: obj{"ID": 3.0, "Customer": 1.0}},
		errPart("response-r2", 424, `reference $result[bob][ID]: call "bob" does not count: its changeset was rolled back`),
		errPart("response-r3", 424, `reference $result[never][ID]: call "never" does not count: its changeset stopped before it ran`),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}

// OData mode answers with the request's Content-IDs unchanged, as OData
// requires, under Microsoft's boundary prefixes, which some clients need.
func TestODataResponseForm(t *testing.T) {
	s := newShop()
	body := batchBody(changeset("cs",
		part("1", jsonPart("POST", "Customers", `{"Name":"Ann"}`)),
		part("<two>", jsonPart("POST", "$1/Orders", `{"Qty":1}`)),
	))
	resp := serve(t, s, HandlerOptions{OData: true, BeginGroup: s.begin}, "/odata/$batch", nil, body)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	want := []treePart{{ContentID: "cs", Parts: []treePart{
		{ContentID: "1", Status: 201, Location: "/odata/Customers(1)", JSON: obj{"ID": 1.0, "Name": "Ann"}},
		{ContentID: "<two>", Status: 201, Location: "/odata/Orders(2)", JSON: obj{"ID": 2.0, "Customer": 1.0}},
	}}}
	if diff := cmp.Diff(want, readTree(t, bytes.NewReader(raw), b)); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(b, "batchresponse_") || !bytes.Contains(raw, []byte("Content-Type: multipart/mixed; boundary=changesetresponse_")) {
		t.Errorf("boundaries: outer %q, body:\n%s", b, raw)
	}
}
