package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed/batch"
)

// newServer serves a fresh service over a SQLite file in t.TempDir(); the
// returned *sql.DB is the service's own, for checking the rows directly.
func newServer(t *testing.T) (*httptest.Server, *sql.DB) {
	t.Helper()
	db, err := openDB(filepath.Join(t.TempDir(), "odata.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newService(db).Handler())
	t.Cleanup(func() {
		srv.Close()
		db.Close()
	})
	return srv, db
}

// crlf turns the LF line ends of a hand-written body into the CRLF of the
// wire.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// A part is one response part as the tests compare it, read with
// mime/multipart and http.ReadResponse: the standard library is the oracle.
type part struct {
	ContentType string // the media type, without parameters
	ContentID   string
	// The embedded response of an application/http part.
	Status   int
	Location string
	Body     any // JSON, decoded
	// The parts of a nested multipart/mixed part: a committed changeset.
	Parts []part
}

// postBatch sends a batch request and reads its multipart response.
func postBatch(t *testing.T, srv *httptest.Server, contentType, body string, header http.Header) (*http.Response, []part) {
	t.Helper()
	resp, parts, err := doBatch(srv, contentType, body, header)
	if err != nil {
		t.Fatal(err)
	}
	return resp, parts
}

// doBatch is postBatch for goroutines other than the test's.
func doBatch(srv *httptest.Server, contentType, body string, header http.Header) (*http.Response, []part, error) {
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/odata/$batch", strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, vv := range header {
		req.Header[k] = vv
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := srv.Client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, nil, fmt.Errorf("batch status %d: %s", resp.StatusCode, b)
	}
	parts, err := readParts(resp.Body, resp.Header.Get("Content-Type"))
	return resp, parts, err
}

// readParts reads a multipart/mixed body of response parts, recursing into
// nested multipart/mixed parts.
func readParts(r io.Reader, contentType string) ([]part, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, err
	}
	if mt != "multipart/mixed" || params["boundary"] == "" {
		return nil, fmt.Errorf("Content-Type %q is not multipart/mixed with a boundary", contentType)
	}
	mr := multipart.NewReader(r, params["boundary"])
	parts := []part{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return nil, err
		}
		ct := p.Header.Get("Content-Type")
		pt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return nil, err
		}
		got := part{ContentType: pt, ContentID: p.Header.Get("Content-ID")}
		switch pt {
		case "multipart/mixed":
			if got.Parts, err = readParts(p, ct); err != nil {
				return nil, err
			}
		case "application/http":
			resp, err := http.ReadResponse(bufio.NewReader(p), nil)
			if err != nil {
				return nil, err
			}
			got.Status = resp.StatusCode
			got.Location = resp.Header.Get("Location")
			if got.Body, err = decodeJSON(resp); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unexpected part type %q", ct)
		}
		parts = append(parts, got)
	}
}

// decodeJSON decodes a JSON response body.
func decodeJSON(resp *http.Response) (any, error) {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil, fmt.Errorf("status %d, Content-Type %q, body %q: want JSON", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("body %q: %v", b, err)
	}
	return v, nil
}

// skipped blanks the message of the batch handler's 424 parts (its wording
// is the handler's, not this service's) after checking that there is one.
func skipped(t *testing.T, parts []part) {
	t.Helper()
	for i := range parts {
		skipped(t, parts[i].Parts)
		if parts[i].Status != http.StatusFailedDependency {
			continue
		}
		e, _ := parts[i].Body.(map[string]any)["error"].(map[string]any)
		if msg, _ := e["message"].(string); msg == "" {
			t.Errorf("424 part %+v: no error message", parts[i])
		}
		delete(e, "message")
	}
}

// customer, order and odataErr are the JSON bodies the service answers
// with, as encoding/json decodes them into any.
func customer(id int, name string) any {
	return map[string]any{"ID": float64(id), "Name": name}
}

func order(id, cust int, item string, qty int) any {
	return map[string]any{"ID": float64(id), "CustomerID": float64(cust), "Item": item, "Quantity": float64(qty)}
}

func odataErr(code, msg string) any {
	return map[string]any{"error": map[string]any{"code": code, "message": msg}}
}

// handlerErr is the body of a 424 part from the batch handler, once
// skipped has blanked its message: its code is the status text without
// spaces, a string as OData requires.
func handlerErr(status int) any {
	return map[string]any{"error": map[string]any{"code": strings.ReplaceAll(http.StatusText(status), " ", "")}}
}

// A row of the store, read straight from SQLite.
type row struct {
	Customer int64
	Name     string
	Order    sql.NullInt64
	Item     sql.NullString
	Quantity sql.NullInt64
}

func rows(t *testing.T, db *sql.DB) []row {
	t.Helper()
	rs, err := db.Query(`SELECT c.ID, c.Name, o.ID, o.Item, o.Quantity
		FROM Customers c LEFT JOIN Orders o ON o.CustomerID = c.ID ORDER BY c.ID, o.ID`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	got := []row{}
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.Customer, &r.Name, &r.Order, &r.Item, &r.Quantity); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	var orphans int
	if err := db.QueryRow(`SELECT COUNT(*) FROM Orders WHERE CustomerID NOT IN (SELECT ID FROM Customers)`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d orders without a customer", orphans)
	}
	return got
}

func withOrder(cust int64, name string, ord int64, item string, qty int64) row {
	return row{cust, name, sql.NullInt64{Int64: ord, Valid: true}, sql.NullString{String: item, Valid: true}, sql.NullInt64{Int64: qty, Valid: true}}
}

// changeset is the changeset of the OData v4 spec's §11.7 example, adapted
// to this service: create a customer (Content-ID 1), then an order of it
// through $1.
func changeset(name, item string, qty int) string {
	return `Content-Type: multipart/mixed; boundary=changeset_77162fcd-b8da-41ac-a9f8-9357efbbd621

--changeset_77162fcd-b8da-41ac-a9f8-9357efbbd621
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

POST Customers HTTP/1.1
Content-Type: application/json
Accept: application/json

{"Name": "` + name + `"}
--changeset_77162fcd-b8da-41ac-a9f8-9357efbbd621
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 2

POST $1/Orders HTTP/1.1
Content-Type: application/json
Accept: application/json

{"Item": "` + item + `", "Quantity": ` + fmt.Sprint(qty) + `}
--changeset_77162fcd-b8da-41ac-a9f8-9357efbbd621--
`
}

const batchType = "multipart/mixed; boundary=batch_36522ad7-fc75-4b56-8c71-56071383e77b"

func TestChangesetCommits(t *testing.T) {
	srv, db := newServer(t)
	body := crlf(`--batch_36522ad7-fc75-4b56-8c71-56071383e77b
` + changeset("Ada Lovelace", "Analytical Engine", 2) + `
--batch_36522ad7-fc75-4b56-8c71-56071383e77b--
`)
	_, got := postBatch(t, srv, batchType, body, nil)
	want := []part{{
		ContentType: "multipart/mixed",
		Parts: []part{
			{ContentType: "application/http", ContentID: "1", Status: 201, Location: "/odata/Customers(1)", Body: customer(1, "Ada Lovelace")},
			{ContentType: "application/http", ContentID: "2", Status: 201, Location: "/odata/Orders(1)", Body: order(1, 1, "Analytical Engine", 2)},
		},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response parts (-want +got):\n%s", diff)
	}
	wantRows := []row{withOrder(1, "Ada Lovelace", 1, "Analytical Engine", 2)}
	if diff := cmp.Diff(wantRows, rows(t, db)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestChangesetRollsBack(t *testing.T) {
	srv, db := newServer(t)
	body := crlf(`--batch_36522ad7-fc75-4b56-8c71-56071383e77b
` + changeset("Ada Lovelace", "Analytical Engine", 0) + `
--batch_36522ad7-fc75-4b56-8c71-56071383e77b--
`)
	_, got := postBatch(t, srv, batchType, body, nil)
	want := []part{{
		ContentType: "application/http", ContentID: "2", Status: 400,
		Body: odataErr("BadRequest", "Quantity must be greater than 0"),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response parts (-want +got):\n%s", diff)
	}
	// The customer that call 1 created is gone with the transaction.
	if diff := cmp.Diff([]row{}, rows(t, db)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// TestHaltAndContinueOnError sends a GET, a changeset that fails, and a GET
// again: by default OData halts at the failure, with Prefer:
// odata.continue-on-error it goes on.
func TestHaltAndContinueOnError(t *testing.T) {
	body := crlf(`--batch_36522ad7-fc75-4b56-8c71-56071383e77b
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: before

GET Customers(1) HTTP/1.1
Accept: application/json


--batch_36522ad7-fc75-4b56-8c71-56071383e77b
` + changeset("Grace Hopper", "A-0", 0) + `
--batch_36522ad7-fc75-4b56-8c71-56071383e77b
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: after

GET Customers(1) HTTP/1.1
Accept: application/json


--batch_36522ad7-fc75-4b56-8c71-56071383e77b--
`)
	failed := part{
		ContentType: "application/http", ContentID: "2", Status: 400,
		Body: odataErr("BadRequest", "Quantity must be greater than 0"),
	}
	before := part{ContentType: "application/http", ContentID: "before", Status: 200, Body: customer(1, "Ada Lovelace")}
	for _, tc := range []struct {
		name    string
		prefer  string
		applied string
		want    []part
	}{
		{
			name: "halt",
			want: []part{before, failed, {
				ContentType: "application/http", ContentID: "after", Status: 424,
				Body: handlerErr(424),
			}},
		},
		{
			name:    "continue",
			prefer:  "odata.continue-on-error",
			applied: "odata.continue-on-error",
			want: []part{before, failed, {
				ContentType: "application/http", ContentID: "after", Status: 200,
				Body: customer(1, "Ada Lovelace"),
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, db := newServer(t)
			if _, err := db.Exec(`INSERT INTO Customers (Name) VALUES ('Ada Lovelace')`); err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			if tc.prefer != "" {
				h.Set("Prefer", tc.prefer)
			}
			resp, got := postBatch(t, srv, batchType, body, h)
			skipped(t, got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("response parts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.applied, resp.Header.Get("Preference-Applied")); diff != "" {
				t.Errorf("Preference-Applied (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]row{{Customer: 1, Name: "Ada Lovelace"}}, rows(t, db)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPrintedExample sends the body of the curl command that main prints,
// with its LF-only lines, as curl would.
func TestPrintedExample(t *testing.T) {
	srv, db := newServer(t)
	if !strings.Contains(curlExample("127.0.0.1:8081"), exampleBatch) {
		t.Fatal("the curl example does not send exampleBatch")
	}
	_, got := postBatch(t, srv, exampleContentType, exampleBatch, nil)
	want := []part{
		{
			ContentType: "multipart/mixed",
			Parts: []part{
				{ContentType: "application/http", ContentID: "1", Status: 201, Location: "/odata/Customers(1)", Body: customer(1, "Ada Lovelace")},
				{ContentType: "application/http", ContentID: "2", Status: 201, Location: "/odata/Orders(1)", Body: order(1, 1, "Analytical Engine", 1)},
			},
		},
		{ContentType: "application/http", Status: 200, Body: map[string]any{"value": []any{customer(1, "Ada Lovelace")}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response parts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]row{withOrder(1, "Ada Lovelace", 1, "Analytical Engine", 1)}, rows(t, db)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// TestClientChangesets builds the changesets with batch.Client instead of
// by hand.
func TestClientChangesets(t *testing.T) {
	srv, db := newServer(t)
	client := &batch.Client{Endpoint: srv.URL + "/odata/$batch", HTTPClient: srv.Client()}
	post := func(target, body string) *http.Request {
		req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	add := func(cs *batch.Changeset, req *http.Request, id string) *batch.Call {
		c, err := cs.Add(req, id)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	b := client.NewBatch()
	// Continue on error, so that the second changeset runs although the
	// first one fails.
	b.Header.Set("Prefer", "odata.continue-on-error")
	bad := b.Changeset()
	badCalls := []*batch.Call{
		add(bad, post("Customers", `{"Name": "Nobody"}`), "c1"),
		add(bad, post("$c1/Orders", `{"Item": "Nothing", "Quantity": -1}`), "o1"),
	}
	good := b.Changeset()
	goodCalls := []*batch.Call{
		add(good, post("Customers", `{"Name": "Grace Hopper"}`), "c2"),
		add(good, post("$c2/Orders", `{"Item": "A-0", "Quantity": 1}`), "o2"),
		add(good, post("$c2/Orders", `{"Item": "COBOL", "Quantity": 2}`), "o3"),
	}
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}

	type outcome struct {
		Status   int
		Location string
		Body     any
		Failed   string // ChangesetError.ID
	}
	var got []outcome
	for _, c := range append(badCalls, goodCalls...) {
		resp, err := c.Wait(context.Background())
		var o outcome
		if ce := (*batch.ChangesetError)(nil); errors.As(err, &ce) {
			o.Failed, resp = ce.ID, ce.Response
		} else if err != nil {
			t.Fatalf("call %s: %v", c.ID(), err)
		}
		o.Status = resp.StatusCode
		o.Location = resp.Header.Get("Location")
		if o.Body, err = decodeJSON(resp); err != nil {
			t.Fatalf("call %s: %v", c.ID(), err)
		}
		got = append(got, o)
	}
	rolledBack := outcome{Status: 400, Body: odataErr("BadRequest", "Quantity must be greater than 0"), Failed: "o1"}
	want := []outcome{
		rolledBack,
		rolledBack,
		// Customer 1 was rolled back: SQLite hands its ID out again.
		{Status: 201, Location: "/odata/Customers(1)", Body: customer(1, "Grace Hopper")},
		{Status: 201, Location: "/odata/Orders(1)", Body: order(1, 1, "A-0", 1)},
		{Status: 201, Location: "/odata/Orders(2)", Body: order(2, 1, "COBOL", 2)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("call outcomes (-want +got):\n%s", diff)
	}
	wantRows := []row{withOrder(1, "Grace Hopper", 1, "A-0", 1), withOrder(1, "Grace Hopper", 2, "COBOL", 2)}
	if diff := cmp.Diff(wantRows, rows(t, db)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// TestResources exercises the resources outside batches.
func TestResources(t *testing.T) {
	srv, _ := newServer(t)
	type exchange struct {
		Status   int
		Location string
		Allow    string
		Body     any
	}
	steps := []struct {
		method, target, body string
		want                 exchange
	}{
		{"GET", "/odata/Customers", "", exchange{Status: 200, Body: map[string]any{"value": []any{}}}},
		{"POST", "/odata/Customers", `{"Name": "Ada Lovelace"}`, exchange{Status: 201, Location: "/odata/Customers(1)", Body: customer(1, "Ada Lovelace")}},
		{"POST", "/odata/Customers", `{"Name": ""}`, exchange{Status: 400, Body: odataErr("BadRequest", "Name is required")}},
		{"GET", "/odata/Customers(1)", "", exchange{Status: 200, Body: customer(1, "Ada Lovelace")}},
		{"GET", "/odata/Customers(2)", "", exchange{Status: 404, Body: odataErr("NotFound", "no customer 2")}},
		{"POST", "/odata/Customers(1)/Orders", `{"Item": "Engine", "Quantity": 0}`, exchange{Status: 400, Body: odataErr("BadRequest", "Quantity must be greater than 0")}},
		{"POST", "/odata/Customers(1)/Orders", `{"Quantity": 1}`, exchange{Status: 400, Body: odataErr("BadRequest", "Item is required")}},
		{"POST", "/odata/Customers(2)/Orders", `{"Item": "Engine", "Quantity": 1}`, exchange{Status: 404, Body: odataErr("NotFound", "no customer 2")}},
		{"POST", "/odata/Customers(1)/Orders", `{"Item": "Engine", "Quantity": 1}`, exchange{Status: 201, Location: "/odata/Orders(1)", Body: order(1, 1, "Engine", 1)}},
		{"GET", "/odata/Customers(1)/Orders", "", exchange{Status: 200, Body: map[string]any{"value": []any{order(1, 1, "Engine", 1)}}}},
		{"GET", "/odata/Customers(2)/Orders", "", exchange{Status: 404, Body: odataErr("NotFound", "no customer 2")}},
		{"GET", "/odata/Orders(1)", "", exchange{Status: 200, Body: order(1, 1, "Engine", 1)}},
		{"GET", "/odata/Orders(2)", "", exchange{Status: 404, Body: odataErr("NotFound", "no order 2")}},
		{"DELETE", "/odata/Customers(1)", "", exchange{Status: 405, Allow: "GET", Body: odataErr("MethodNotAllowed", "allowed: GET")}},
		{"GET", "/odata/Customers(x)", "", exchange{Status: 404, Body: odataErr("NotFound", "no resource at /odata/Customers(x)")}},
		{"GET", "/odata/Products(1)", "", exchange{Status: 404, Body: odataErr("NotFound", "no resource at /odata/Products(1)")}},
	}
	for _, s := range steps {
		req, err := http.NewRequest(s.method, srv.URL+s.target, strings.NewReader(s.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got := exchange{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Allow: resp.Header.Get("Allow")}
		if got.Body, err = decodeJSON(resp); err != nil {
			t.Fatalf("%s %s: %v", s.method, s.target, err)
		}
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s %s %s (-want +got):\n%s", s.method, s.target, s.body, diff)
		}
	}
	// Unknown properties are refused, as an OData service does; the
	// decoder's wording is encoding/json's, so only the status is checked.
	resp, err := srv.Client().Post(srv.URL+"/odata/Customers", "application/json", strings.NewReader(`{"Name": "x", "Age": 3}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if diff := cmp.Diff(400, resp.StatusCode); diff != "" {
		t.Errorf("unknown property: status (-want +got):\n%s", diff)
	}
}

// TestConcurrentChangesetsDoNotDeadlock runs batches whose changesets hold
// the one SQLite connection while other batches and plain requests wait
// for it. A deadlock hangs the test (until
// go test's -timeout); a lost write shows in the counts.
func TestConcurrentChangesetsDoNotDeadlock(t *testing.T) {
	const batches, plain = 6, 6
	srv, db := newServer(t)
	body := crlf(`--batch_36522ad7-fc75-4b56-8c71-56071383e77b
Content-Type: application/http

POST Customers HTTP/1.1
Content-Type: application/json

{"Name": "outside"}
--batch_36522ad7-fc75-4b56-8c71-56071383e77b
` + changeset("inside", "Thing", 1) + `
--batch_36522ad7-fc75-4b56-8c71-56071383e77b
Content-Type: application/http

GET Customers HTTP/1.1


--batch_36522ad7-fc75-4b56-8c71-56071383e77b
` + changeset("rolled back", "Thing", 0) + `
--batch_36522ad7-fc75-4b56-8c71-56071383e77b--
`)
	// status reduces parts to their statuses: the IDs and the listing
	// depend on the interleaving.
	var status func([]part) []any
	status = func(ps []part) []any {
		out := []any{}
		for _, p := range ps {
			if p.Parts != nil {
				out = append(out, status(p.Parts))
			} else {
				out = append(out, p.Status)
			}
		}
		return out
	}
	want := []any{201, []any{201, 201}, 200, 400}
	var wg sync.WaitGroup
	for range batches {
		wg.Go(func() {
			h := http.Header{"Prefer": {"odata.continue-on-error"}}
			_, got, err := doBatch(srv, batchType, body, h)
			if err != nil {
				t.Error(err)
				return
			}
			if diff := cmp.Diff(want, status(got)); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
		})
	}
	for range plain {
		wg.Go(func() {
			resp, err := srv.Client().Post(srv.URL+"/odata/Customers", "application/json", strings.NewReader(`{"Name": "plain"}`))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("plain POST: status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()

	counts := map[string]int{}
	rs, err := db.Query(`SELECT c.Name, COUNT(o.ID) FROM Customers c LEFT JOIN Orders o ON o.CustomerID = c.ID GROUP BY c.ID`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for rs.Next() {
		var name string
		var orders int
		if err := rs.Scan(&name, &orders); err != nil {
			t.Fatal(err)
		}
		counts[fmt.Sprintf("%s with %d orders", name, orders)]++
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	wantCounts := map[string]int{
		"outside with 0 orders": batches,
		"inside with 1 orders":  batches,
		"plain with 0 orders":   plain,
	}
	if diff := cmp.Diff(wantCounts, counts); diff != "" {
		t.Errorf("customers (-want +got):\n%s", diff)
	}
}
