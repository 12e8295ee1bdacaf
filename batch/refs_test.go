package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

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
			if !strings.Contains(failed, tc.msg) || !strings.Contains(failed, `"code":"FailedDependency"`) {
				t.Errorf("424 body %q, want a JSON error containing %q", failed, tc.msg)
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
		got, err := substituteTarget(tc.in, resolve, 1<<20)
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
		got, err := substituteJSON([]byte(tc.in), resolve, 1<<20)
		if err != nil || string(got) != tc.want {
			t.Errorf("substituteJSON(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := substituteTarget("/p/$result[nobody][x]", resolve, 1<<20); err == nil {
		t.Error("a reference to an unknown call substituted without error")
	}
}

// Finding references is one pass over the part, whatever it holds; a
// quadratic scan took 10 s of CPU for 256 KiB of unterminated references.
func TestFindRefsLinear(t *testing.T) {
	for _, unit := range []string{"$result[", "$result[a", "%24result%5B", "$result[a][", "$$result[[", "$result[a]["} {
		s := strings.Repeat(unit, (4<<20)/len(unit))
		sc := newRefScanner(s)
		if _, err := sc.all(context.Background()); err != nil {
			t.Fatal(err)
		}
		if sc.steps > 2*len(s) {
			t.Errorf("%q × %d: the scan looked at %d bytes, more than twice the input", unit, len(s)/len(unit), sc.steps)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := findRefs(ctx, strings.Repeat("$result[", 1<<18)); !errors.Is(err, context.Canceled) {
		t.Errorf("findRefs with a done context: %v, want context.Canceled", err)
	}
}

// TestFindRefsPrefilter: findRefs, which skips the scan of a string
// without "result", finds what the scan of every byte finds.
func TestFindRefsPrefilter(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		atoms := rapid.SliceOfN(rapid.SampledFrom([]string{"$", "%24", "result", "resul", "[", "]", "%5B", "%5d", "a", "/", "%"}), 0, 12).Draw(t, "atoms")
		s := strings.Join(atoms, "")
		got, err := findRefs(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		sc := newRefScanner(s)
		want, _ := sc.all(context.Background())
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(ref{})); diff != "" {
			t.Fatalf("references in %q (-scan +findRefs):\n%s", s, diff)
		}
	})
}
