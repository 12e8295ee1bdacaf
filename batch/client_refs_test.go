package batch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestClientReferencesCheckedAtAdd(t *testing.T) {
	b := (&Client{Endpoint: "http://127.0.0.1/batch"}).NewBatch()
	if _, err := b.Add(jsonRequest(t, "GET", "/rest/user.current", ""), "get_user"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  *http.Request
		ok   bool
	}{
		{"earlier call in the body", jsonRequest(t, "POST", "/rest/department.get", `{"ID":"$result[get_user][UF_DEPARTMENT]"}`), true},
		{"earlier call in the query, escaped", jsonRequest(t, "GET", "/rest/x?ID=%24result%5Bget_user%5D%5BID%5D", ""), true},
		{"unknown call", jsonRequest(t, "GET", "/rest/x/$result[nobody][ID]", ""), false},
		{"unknown call in the body", jsonRequest(t, "POST", "/rest/x", `{"a":"$result[later][ID]"}`), false},
	} {
		_, err := b.Add(tc.req, "")
		if (err == nil) != tc.ok {
			t.Errorf("%s: Add error %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// The Bitrix24 seed's example, sent by the Client.
func TestClientBitrixSeed(t *testing.T) {
	srv, n := countingServer(t, &bitrix{}, HandlerOptions{ResultReferences: true})
	b := (&Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client()}).NewBatch()
	b.Add(jsonRequest(t, "POST", "/rest/user.current", `{}`), "get_user")
	dep, err := b.Add(jsonRequest(t, "POST", "/rest/department.get", `{"ID":"$result[get_user][UF_DEPARTMENT]"}`), "get_department")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(result{Status: 200, Body: `{"query":"","body":{"ID":[1,5]}}`}, outcome(t, dep)); diff != "" {
		t.Errorf("get_department (-want +got):\n%s", diff)
	}
	if n.Load() != 1 {
		t.Errorf("%d batch requests, want 1", n.Load())
	}
}

func TestClientHaltOnErrorAcrossRequests(t *testing.T) {
	inner := &bitrix{userStatus: http.StatusUnauthorized}
	srv, n := countingServer(t, inner, HandlerOptions{HaltHeader: DefaultHaltHeader, Concurrency: 1})
	b := (&Client{Endpoint: srv.URL + "/batch", HTTPClient: srv.Client(), Limits: Limits{MaxCalls: 2}}).NewBatch()
	b.HaltOnError = true
	b.Add(jsonRequest(t, "POST", "/rest/user.current", `{}`), "user")
	b.Add(jsonRequest(t, "GET", "/rest/x", ""), "x")
	b.Add(jsonRequest(t, "GET", "/rest/y", ""), "y")
	b.Add(jsonRequest(t, "GET", "/rest/z", ""), "z")
	if err := b.Do(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for id, c := range b.Results() {
		resp, err := c.Wait(context.Background())
		switch {
		case errors.Is(err, ErrSkipped):
			got[id] = "skipped"
		case err != nil:
			got[id] = err.Error()
		default:
			got[id] = fmt.Sprint(resp.StatusCode)
		}
	}
	// Within the first request the server (one call at a time) halts
	// after "user" fails; the second request is never sent.
	want := map[string]string{"user": "401", "x": "424", "y": "skipped", "z": "skipped"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if n.Load() != 1 {
		t.Errorf("%d batch requests, want 1", n.Load())
	}
}
