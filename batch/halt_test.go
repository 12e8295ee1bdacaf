package batch

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// HaltOnError, and the header HaltHeader names, skip the calls not started
// after the first failure with 424.
func TestHaltOnError(t *testing.T) {
	parts := batchBody(
		part("get_user", jsonPart("POST", "/rest/user.current", `{}`)),
		part("get_department", jsonPart("POST", "/rest/department.get", `{"ID":"$result[get_user][UF_DEPARTMENT]"}`)),
		part("independent", jsonPart("GET", "/rest/other", "")),
	)
	for _, tc := range []struct {
		name    string
		opts    HandlerOptions
		hdr     http.Header
		want    []int
		reached int64
	}{
		{"off", HandlerOptions{}, nil, []int{401, 424, 200}, 2},
		{"option", HandlerOptions{HaltOnError: true}, nil, []int{401, 424, 424}, 1},
		{"header", HandlerOptions{HaltHeader: "X-Halt-On-Error"}, http.Header{"X-Halt-On-Error": {"true"}}, []int{401, 424, 424}, 1},
		{"header off", HandlerOptions{HaltHeader: "X-Halt-On-Error"}, http.Header{"X-Halt-On-Error": {"false"}}, []int{401, 424, 200}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &bitrix{userStatus: http.StatusUnauthorized}
			opts := tc.opts
			opts.ResultReferences = true
			opts.Concurrency = 1 // with one call at a time, which calls start is certain
			got := readBatchResponse(t, serve(t, inner, opts, "/batch", tc.hdr, parts))
			if diff := cmp.Diff(tc.want, statuses(got)); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			if n := inner.reached.Load(); n != tc.reached {
				t.Errorf("inner reached %d times, want %d", n, tc.reached)
			}
			if tc.want[2] == 424 && !strings.Contains(got[2].Body, "skipped") {
				t.Errorf("skipped call's body %q does not say it was skipped", got[2].Body)
			}
		})
	}
}

// A failed changeset halts an OData batch; the skipped calls name it by
// its part number.
func TestODataFailedChangesetHalts(t *testing.T) {
	s := newShop()
	body := batchBody(
		part("0", jsonPart("POST", "Customers", `{"Name":"Ann"}`)),
		changeset("cs", part("1", jsonPart("POST", "Customers(1)/Orders", `{"Qty":0}`))),
		part("2", jsonPart("GET", "Customers(1)", "")),
	)
	got, resp := serveTree(t, s, HandlerOptions{OData: true, BeginGroup: s.begin}, nil, body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/mixed; boundary=batchresponse_") {
		t.Errorf("OData batch response Content-Type %q, want a batchresponse_ boundary", ct)
	}
	want := []treePart{
		{ContentID: "0", Status: 201, Location: "/odata/Customers(1)", JSON: obj{"ID": 1.0, "Name": "Ann"}},
		{ContentID: "1", Status: 400, JSON: obj{"error": "Qty must be positive"}},
		errPart("2", 424, `skipped: changeset 1 ("cs") failed with status 400 and the batch halts on errors`),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
}
