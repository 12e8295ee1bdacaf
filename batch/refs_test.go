package batch

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// bitrix serves the two methods of the Bitrix24 seed's callBatch example,
// user.current and department.get, and records what department.get got.
type bitrix struct {
	userStatus int
	reached    atomic.Int64
}

func (b *bitrix) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.reached.Add(1)
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/rest/user.current":
		if b.userStatus != 0 {
			w.WriteHeader(b.userStatus)
			fmt.Fprint(w, `{"error":"NO_AUTH_FOUND"}`)
			return
		}
		fmt.Fprint(w, `{"ID":"1","NAME":"Ann Lee","LAST_NAME":"Lee","UF_DEPARTMENT":[1,5],"BOSS":{"ID":7}}`)
	case "/rest/department.get":
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, `{"query":%q,"body":%s}`, r.URL.RawQuery, orNull(body))
	default:
		// Echo the path, to check substitution in paths.
		fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	}
}

func orNull(b []byte) string {
	if len(b) == 0 {
		return "null"
	}
	return string(b)
}

// jsonParts returns each response part's status and decoded JSON body.
func jsonParts(t *testing.T, parts []gotPart) []any {
	t.Helper()
	var out []any
	for _, p := range parts {
		var v any
		if p.Body != "" {
			if err := json.Unmarshal([]byte(p.Body), &v); err != nil {
				t.Fatalf("part %s: body %q: %v", p.ContentID, p.Body, err)
			}
		}
		out = append(out, map[string]any{"status": float64(p.Status), "json": v})
	}
	return out
}

func jsonPart(method, target, body string) string {
	if body == "" {
		return method + " " + target + " HTTP/1.1\r\n"
	}
	return fmt.Sprintf("%s %s HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", method, target, len(body), body)
}

// The Bitrix24 seed's example: get_user, then get_department with
// ID: $result[get_user][UF_DEPARTMENT].
func TestResultReferencesBitrixSeed(t *testing.T) {
	inner := &bitrix{}
	body := batchBody(
		part("get_user", jsonPart("POST", "/rest/user.current", `{}`)),
		part("get_department", jsonPart("POST", "/rest/department.get", `{"ID":"$result[get_user][UF_DEPARTMENT]","NOTE":"boss $result[get_user][BOSS][ID] of $result[get_user][NAME]"}`)),
		part("<by_query>", jsonPart("GET", "/rest/department.get?ID=$result[get_user][ID]&NAME=%24result%5Bget_user%5D%5BNAME%5D", "")),
		part("by_path", jsonPart("GET", "/rest/users/$result[get_user][UF_DEPARTMENT][1]/$result[get_user][NAME]", "")),
	)
	got := jsonParts(t, readBatchResponse(t, serve(t, inner, HandlerOptions{ResultReferences: true}, "/batch", nil, body)))
	want := []any{
		map[string]any{"status": 200.0, "json": map[string]any{"ID": "1", "NAME": "Ann Lee", "LAST_NAME": "Lee", "UF_DEPARTMENT": []any{1.0, 5.0}, "BOSS": map[string]any{"ID": 7.0}}},
		map[string]any{"status": 200.0, "json": map[string]any{"query": "", "body": map[string]any{"ID": []any{1.0, 5.0}, "NOTE": "boss 7 of Ann Lee"}}},
		map[string]any{"status": 200.0, "json": map[string]any{"query": "ID=1&NAME=Ann+Lee", "body": nil}},
		map[string]any{"status": 200.0, "json": map[string]any{"path": "/rest/users/5/Ann Lee"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("responses (-want +got):\n%s", diff)
	}
}

func TestResultReferenceFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		parts     []string
		opts      HandlerOptions
		userFails bool
		want      []int // statuses
		reached   int64
		msg       string // in the last part's error message
	}{
		{name: "unknown id", parts: []string{jsonPart("GET", "/rest/x/$result[nobody][ID]", "")}, want: []int{200, 424}, reached: 1, msg: `no call of this batch has the id \"nobody\"`},
		{name: "later call", parts: []string{jsonPart("GET", "/rest/x/$result[later][ID]", ""), jsonPart("GET", "/rest/y", "")}, want: []int{200, 424, 200}, reached: 2, msg: ""},
		{name: "itself", parts: []string{jsonPart("GET", "/rest/x/$result[c1][ID]", "")}, want: []int{200, 424}, reached: 1, msg: "cycle"},
		{name: "absent field", parts: []string{jsonPart("GET", "/rest/x/$result[get_user][NOPE]", "")}, want: []int{200, 424}, reached: 1, msg: `has no field \"NOPE\"`},
		{name: "bad index", parts: []string{jsonPart("GET", "/rest/x/$result[get_user][UF_DEPARTMENT][9]", "")}, want: []int{200, 424}, reached: 1, msg: `no element \"9\"`},
		{name: "failed call", userFails: true, parts: []string{jsonPart("POST", "/rest/department.get", `{"ID":"$result[get_user][UF_DEPARTMENT]"}`)}, want: []int{401, 424}, reached: 1, msg: `failed with status 401`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &bitrix{}
			if tc.userFails {
				inner.userStatus = http.StatusUnauthorized
			}
			parts := []string{part("get_user", jsonPart("POST", "/rest/user.current", `{}`))}
			for i, p := range tc.parts {
				id := fmt.Sprintf("c%d", i+1)
				if i == len(tc.parts)-1 && tc.name == "later call" {
					id = "later"
				}
				parts = append(parts, part(id, p))
			}
			opts := tc.opts
			opts.ResultReferences = true
			got := readBatchResponse(t, serve(t, inner, opts, "/batch", nil, batchBody(parts...)))
			if diff := cmp.Diff(tc.want, statuses(got)); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			if n := inner.reached.Load(); n != tc.reached {
				t.Errorf("inner reached %d times, want %d: a failed reference must not reach it", n, tc.reached)
			}
			var failed string
			for _, p := range got {
				if p.Status == http.StatusFailedDependency {
					failed = p.Body
				}
			}
			if !strings.Contains(failed, tc.msg) || !strings.Contains(failed, `"code":424`) {
				t.Errorf("424 body %q, want a JSON error containing %q", failed, tc.msg)
			}
		})
	}
}

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

// Calls without references still run concurrently when references are on.
func TestReferencesKeepIndependentCallsConcurrent(t *testing.T) {
	var running, peak atomic.Int64
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		// a and b wait for each other, so that they overlap if they can
		// at all, however slowly the machine schedules them; c, which
		// follows a, has a finished.
		for start := time.Now(); r.URL.Path != "/c" && peak.Load() < 2 && time.Since(start) < 5*time.Second; {
			time.Sleep(time.Millisecond)
		}
		running.Add(-1)
		fmt.Fprint(w, `{"ok":true}`)
	})
	body := batchBody(part("a", jsonPart("GET", "/a", "")), part("b", jsonPart("GET", "/b", "")), part("c", jsonPart("GET", "/c?x=$result[a][ok]", "")))
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{ResultReferences: true, Concurrency: 4}, "/batch", nil, body))
	if len(got) != 3 || got[2].Status != 200 {
		t.Fatalf("responses %+v", got)
	}
	if peak.Load() < 2 {
		t.Errorf("peak concurrency %d: independent calls did not overlap", peak.Load())
	}
}

func TestSubstitution(t *testing.T) {
	result := map[string]any{"s": "a b/c", "n": json.Number("42"), "arr": []any{"x", json.Number("2")}, "obj": map[string]any{"k": true}}
	resolve := func(r ref) (any, error) {
		if r.id != "u" {
			return nil, &refError{r.text, "unknown"}
		}
		return lookup(result, r)
	}
	for _, tc := range []struct{ in, want string }{
		{"/p/$result[u][s]?q=$result[u][s]", "/p/a%20b%2Fc?q=a+b%2Fc"},
		{"/p?n=$result[u][n]&a=$result[u][arr][0]", "/p?n=42&a=x"},
		{"/p?o=%24result%5Bu%5D%5Bobj%5D", "/p?o=%7B%22k%22%3Atrue%7D"},
		{"/p/$resultless/$result", "/p/$resultless/$result"},
	} {
		got, err := substituteTarget(tc.in, resolve)
		if err != nil || got != tc.want {
			t.Errorf("substituteTarget(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{`{"a":"$result[u][arr]","b":"n=$result[u][n]","c":"$result","d":[1, "x"]}`, `{"a":["x",2],"b":"n=42","c":"$result","d":[1, "x"]}`},
		{`{"esc":"q\"$result[u][s]"}`, `{"esc":"q\"a b/c"}`},
		{`["$result[u][obj]"]`, `[{"k":true}]`},
		{`not json "$result[u][n]`, `not json "$result[u][n]`},
	} {
		got, err := substituteJSON([]byte(tc.in), resolve)
		if err != nil || string(got) != tc.want {
			t.Errorf("substituteJSON(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := substituteTarget("/p/$result[nobody][x]", resolve); err == nil {
		t.Error("a reference to an unknown call substituted without error")
	}
}
