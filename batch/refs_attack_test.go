package batch

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed/internal/cputime"
	"pgregory.net/rapid"
)

// Result references as a hostile client, or a buggy inner handler, would
// use them.

// refEcho answers /user with a record whose values are hostile to a
// target or a body, /arr?n=N with an array of N zeros, /raw/NAME with a
// response body that is not quite JSON, and anything else with what the
// call was: its path, raw path, request URI and body.
var refEcho = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/user":
		io.WriteString(w, `{"up":"../../admin/delete","bs":"..\\..\\admin","dots":"..","dot":".","mid":"a/../../b","slash":"a/b","param":"..;x",`+
			`"crlf":"a\r\nX-Evil: 1","amp":"a&b=c#d?e f","nul":"a\u0000b","quote":"a\"b\\c","uni":"é\u2028",`+
			`"obj":{"k":[1,"<x>"]},"n":1e999,"dup":1,"dup":2,"bad":"\ud800","sp":{"my key":"v"}}`)
	case r.URL.Path == "/arr":
		var n int
		fmt.Sscanf(r.URL.Query().Get("n"), "%d", &n)
		io.WriteString(w, "["+strings.TrimSuffix(strings.Repeat("0,", n), ",")+"]")
	case strings.HasPrefix(r.URL.Path, "/raw/"):
		io.WriteString(w, map[string]string{
			"text":     `not json`,
			"trailing": `{"a":1} {"a":2}`,
			"cut":      `{"a":1,"b":[`,
			"utf8":     "{\"a\":\"\xff\xfe\"}",
		}[strings.TrimPrefix(r.URL.Path, "/raw/")])
	default:
		b, _ := io.ReadAll(r.Body)
		json.NewEncoder(w).Encode(echoed{r.URL.Path, r.URL.RawPath, r.RequestURI, string(b)})
	}
})

// echoed is what refEcho said a call was.
type echoed struct {
	Path string `json:"path"`
	Raw  string `json:"raw"`
	URI  string `json:"uri"`
	Body string `json:"body"`
}

func readEcho(t *testing.T, p gotPart) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal([]byte(p.Body), &e); err != nil {
		t.Fatalf("part %s (%d): %q: %v", p.ContentID, p.Status, p.Body, err)
	}
	return e
}

// A value substituted into a path is one segment, never a way out of it:
// the Handler resolves dot segments counting %2E as a dot and %2F as a
// slash (PathPrefix), so a value of "..", or with "/.." in it, escaped as
// it was, still climbed out of the call's own path: a user's name of
// "../../admin/delete", read by one call, sent the next one to
// /admin/delete. Such a value fails the call with 424, backslashes
// counted as slashes and path parameters (";x") as nothing, as some
// servers read them; a value with a slash but no dot segment stays below
// the call's path.
func TestRefAttackPathValueStaysInSegment(t *testing.T) {
	body := batchBody(
		part("u", "GET /user HTTP/1.1\r\n"),
		part("up", "GET /api/users/$result[u][up] HTTP/1.1\r\n"),
		part("dots", "GET /api/users/$result[u][dots]/x HTTP/1.1\r\n"),
		part("dot", "GET /api/users/$result[u][dot]/x HTTP/1.1\r\n"),
		part("mid", "GET /api/users/$result[u][mid] HTTP/1.1\r\n"),
		part("glued", "GET /api/users/.$result[u][dot] HTTP/1.1\r\n"),
		part("slash", "GET /api/users/$result[u][slash] HTTP/1.1\r\n"),
		part("query", "GET /api/users?q=$result[u][up] HTTP/1.1\r\n"),
		part("backslash", "GET /api/users/$result[u][bs] HTTP/1.1\r\n"),
		part("param", "GET /api/users/$result[u][param]/x HTTP/1.1\r\n"),
	)
	got := readBatchResponse(t, serve(t, refEcho, HandlerOptions{ResultReferences: true}, "/batch", nil, body))
	if diff := cmp.Diff([]int{200, 424, 424, 424, 424, 424, 200, 200, 424, 424}, statuses(got)); diff != "" {
		for _, p := range got {
			t.Logf("%s %d %s", p.ContentID, p.Status, p.Body)
		}
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	if !strings.Contains(got[1].Body, "dot segment") {
		t.Errorf("424 body %q does not say why", got[1].Body)
	}
	want := []echoed{
		{Path: "/api/users/a/b", Raw: "/api/users/a%2Fb", URI: "/api/users/a%2Fb"},
		{Path: "/api/users", URI: "/api/users?q=..%2F..%2Fadmin%2Fdelete"},
	}
	if diff := cmp.Diff(want, []echoed{readEcho(t, got[6]), readEcho(t, got[7])}); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// Values that would break the request line, smuggle a header, or end the
// path or the query early go in escaped: the inner handler sees them in
// the one query value or path segment they were put in.
func TestRefAttackTargetInjection(t *testing.T) {
	body := batchBody(
		part("u", "GET /user HTTP/1.1\r\n"),
		part("q", "GET /x?a=$result[u][crlf]&b=$result[u][amp]&c=$result[u][nul]&d=$result[u][uni]&e=$result[u][quote] HTTP/1.1\r\n"),
		part("p", "GET /x/$result[u][crlf]/$result[u][amp]/$result[u][nul]/$result[u][bad] HTTP/1.1\r\n"),
	)
	got := readBatchResponse(t, serve(t, refEcho, HandlerOptions{ResultReferences: true}, "/batch", nil, body))
	if diff := cmp.Diff([]int{200, 200, 200}, statuses(got)); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	q := readEcho(t, got[1])
	req := httptest.NewRequest("GET", q.URI, nil)
	wantQuery := map[string][]string{"a": {"a\r\nX-Evil: 1"}, "b": {"a&b=c#d?e f"}, "c": {"a\x00b"}, "d": {"é\u2028"}, "e": {`a"b\c`}}
	if diff := cmp.Diff(wantQuery, map[string][]string(req.URL.Query())); diff != "" {
		t.Errorf("query of %q (-want +got):\n%s", q.URI, diff)
	}
	p := readEcho(t, got[2])
	segs := strings.Split(strings.TrimPrefix(p.URI, "/x/"), "/")
	if len(segs) != 4 || p.Path != "/x/a\r\nX-Evil: 1/a&b=c#d?e f/a\x00b/\ufffd" {
		t.Errorf("path %q (%q): want the values as four segments", p.Path, p.URI)
	}
	for _, b := range []byte(p.URI) {
		if b <= ' ' || b >= 0x7f || b == '#' || b == '?' {
			t.Errorf("request URI %q has the byte %q unescaped", p.URI, b)
			break
		}
	}
}

// Whatever the values, a JSON body is JSON after substitution: a string
// that is one reference becomes the value, one that holds references their
// text, escaped; an object key stays a string. A key that was exactly one
// reference became the value itself: an object value made the body
// {{"k":...}:1}, which is not JSON.
func TestRefAttackJSONBodyStaysJSON(t *testing.T) {
	in := `{"$result[u][obj]":1, "$result[u][dot]" :2, "k $result[u][n]":3,` +
		`"v":["$result[u][crlf]","$result[u][quote]","$result[u][obj]","$result[u][n]","$result[u][dup]","$result[u][bad]",` +
		`"<$result[u][quote]|$result[u][obj]|$result[u][uni]>"],"$result[u][nul]":$result[u][dot]}`
	body := batchBody(
		part("u", "GET /user HTTP/1.1\r\n"),
		part("b", jsonPart("POST", "/sink", in)),
	)
	got := readBatchResponse(t, serve(t, refEcho, HandlerOptions{ResultReferences: true}, "/batch", nil, body))
	if diff := cmp.Diff([]int{200, 200}, statuses(got)); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	sent := readEcho(t, got[1]).Body
	// Outside a string a reference is not one: the body was not JSON,
	// and stays as the client wrote it there.
	const tail = `,"a\u0000b":$result[u][dot]}`
	if !strings.HasSuffix(sent, tail) {
		t.Fatalf("body %s: want it to end %s", sent, tail)
	}
	dec := json.NewDecoder(strings.NewReader(strings.TrimSuffix(sent, tail) + "}"))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		t.Fatalf("body %s is not JSON: %v", sent, err)
	}
	n := func(s string) json.Number { return json.Number(s) }
	want := map[string]any{
		`{"k":[1,"\u003cx\u003e"]}`: n("1"), ".": n("2"), "k 1e999": n("3"),
		"v": []any{"a\r\nX-Evil: 1", `a"b\c`, map[string]any{"k": []any{n("1"), "<x>"}}, n("1e999"), n("2"), "\ufffd", `<a"b\c|{"k":[1,"\u003cx\u003e"]}|é` + "\u2028>"},
	}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("body %s (-want +got):\n%s", sent, diff)
	}
}

// Substitution keeps a JSON document JSON, whatever strings hold
// references, in keys or values, and whatever the values are.
func TestRefAttackSubstituteJSONValid(t *testing.T) {
	result := map[string]any{"s": "a\"b\\\u2028<", "n": json.Number("-1e999"), "o": map[string]any{"k": []any{nil, true, "x"}}, "e": ""}
	resolve := func(r ref) (any, error) { return lookup(result, r) }
	str := rapid.SampledFrom([]string{`"$result[u][s]"`, `"$result[u][n]"`, `"$result[u][o]"`, `"$result[u][e]"`, `"x$result[u][o]y"`, `"\"$result[u][s]"`, `"plain"`, `"$result"`})
	var value func(depth int) *rapid.Generator[string]
	value = func(depth int) *rapid.Generator[string] {
		if depth == 0 {
			return rapid.OneOf(str, rapid.SampledFrom([]string{`1`, `null`, `[]`, `{}`}))
		}
		return rapid.Custom(func(t *rapid.T) string {
			n := rapid.IntRange(0, 3).Draw(t, "n")
			var els []string
			if rapid.Bool().Draw(t, "object") {
				for range n {
					els = append(els, str.Draw(t, "key")+rapid.SampledFrom([]string{":", " : ", "\n:"}).Draw(t, "colon")+value(depth-1).Draw(t, "val"))
				}
				return "{" + strings.Join(els, ",") + "}"
			}
			for range n {
				els = append(els, value(depth-1).Draw(t, "el"))
			}
			return "[ " + strings.Join(els, " , ") + " ]"
		})
	}
	rapid.Check(t, func(t *rapid.T) {
		doc := value(3).Draw(t, "doc")
		got, err := substituteJSON([]byte(doc), resolve, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(got) {
			t.Fatalf("%s became %s, not JSON", doc, got)
		}
	})
}

// The batch request's query, which every call inherits, is added to a
// call's query once its references are substituted: before, a reference
// whose key was escaped in a way the query's encoding writes otherwise
// ("my%20key", then "my+key") was no longer the reference the call was
// linked by, and failed with 424 whenever the batch URL had a query; and
// a reference in the batch URL's own query was substituted into calls
// that had not asked for it.
func TestRefAttackOuterQuery(t *testing.T) {
	body := batchBody(
		part("u", "GET /user HTTP/1.1\r\n"),
		part("a", "GET /x?v=$result[u][sp][my%20key] HTTP/1.1\r\n"),
		part("b", "GET /x?v=$result[u][dot] HTTP/1.1\r\n"),
	)
	for _, tc := range []struct{ target, a, b string }{
		{"/batch", "/x?v=v", "/x?v=."},
		{"/batch?alt=json", "/x?alt=json&v=v", "/x?alt=json&v=."},
		{"/batch?w=$result[u][dot]", "/x?v=v&w=%24result%5Bu%5D%5Bdot%5D", "/x?v=.&w=%24result%5Bu%5D%5Bdot%5D"},
	} {
		got := readBatchResponse(t, serve(t, refEcho, HandlerOptions{ResultReferences: true}, tc.target, nil, body))
		if diff := cmp.Diff([]int{200, 200, 200}, statuses(got)); diff != "" {
			t.Errorf("%s: statuses (-want +got):\n%s\n%s", tc.target, diff, got[1].Body)
			continue
		}
		if diff := cmp.Diff([]string{tc.a, tc.b}, []string{readEcho(t, got[1]).URI, readEcho(t, got[2]).URI}); diff != "" {
			t.Errorf("%s: targets (-want +got):\n%s", tc.target, diff)
		}
	}
}

// Each reference of a call is checked against those it was linked by in
// constant time: a scan of them for each reference made a body of 20000
// distinct references (380 KiB) take 2 s, and one of MaxPartBytes hours.
// A body of distinct references takes about as long as one of the same
// reference as many times, which the scan found at once. The time is the
// process's CPU time where the system gives it: under the full -race set
// on a loaded machine, the wall clock once made the distinct run 4.5 times
// the other, which took the same work.
func TestRefAttackManyDistinctReferences(t *testing.T) {
	const n = 6000
	run := func(index func(int) int) time.Duration {
		var b strings.Builder
		b.WriteByte('[')
		for i := range n {
			fmt.Fprintf(&b, `"$result[a][%05d]",`, index(i))
		}
		b.WriteString("0]")
		body := batchBody(
			part("a", fmt.Sprintf("GET /arr?n=%d HTTP/1.1\r\n", n)),
			part("b", jsonPart("POST", "/sink", b.String())),
		)
		start := cputime.Start()
		got := readBatchResponse(t, serve(t, refEcho, HandlerOptions{ResultReferences: true}, "/batch", nil, body))
		took := start.Elapsed()
		if diff := cmp.Diff([]int{200, 200}, statuses(got)); diff != "" {
			t.Fatalf("statuses (-want +got):\n%s", diff)
		}
		if want := "[" + strings.Repeat("0,", n) + "0]"; readEcho(t, got[1]).Body != want {
			t.Errorf("body %.100q..., want %d zeros", readEcho(t, got[1]).Body, n+1)
		}
		return took
	}
	same := run(func(int) int { return 0 })
	distinct := run(func(i int) int { return i })
	// Scanned, the distinct ones took 8 times as long or more.
	slow := func() bool { return distinct > 3*same+50*time.Millisecond }
	if slow() {
		// Once more, for the shorter of two runs: the machine may have
		// been busy for one.
		same = min(same, run(func(int) int { return 0 }))
		distinct = min(distinct, run(func(i int) int { return i }))
	}
	if slow() {
		t.Errorf("%d references: %v when distinct, %v when the same", n, distinct, same)
	}
	t.Logf("%d references: %v when distinct, %v when the same", n, distinct, same)
}

// A value whose JSON text is longer than the text it was read from (each
// "<" is "\u003c") is measured before it is written: one over the call's
// room is refused without being encoded. Each refusal of a 1 MiB value
// encoded it first, 6 MiB of JSON and about 35 MiB of allocations, for a
// call of 60 bytes.
func TestRefAttackRefusedValueNotEncoded(t *testing.T) {
	value := strings.Repeat("<", 160<<10)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/big" {
			fmt.Fprintf(w, `{"s":%q,"o":{"a":%q}}`, value, value)
			return
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{}`)
	})
	const calls = 10
	for _, form := range []string{`"$result[a][s]"`, `"$result[a][o]"`, `"x $result[a][s]"`, `"x $result[a][o]"`} {
		parts := []string{part("a", "GET /big HTTP/1.1\r\n")}
		for i := range calls {
			parts = append(parts, part(fmt.Sprint("c", i), jsonPart("POST", "/sink", `{"x":`+form+`}`)))
		}
		opts := HandlerOptions{ResultReferences: true, MaxPartBytes: 512 << 10}
		var got []gotPart
		n := allocated(func() {
			got = readBatchResponse(t, serve(t, inner, opts, "/batch", nil, batchBody(parts...)))
		})
		st := statuses(got)
		if len(st) != calls+1 || st[0] != 200 || st[1] != 400 || !strings.Contains(got[1].Body, "substituted") {
			t.Fatalf("%s: statuses %v, %q", form, st, got[1].Body)
		}
		// The response is 320 KiB, held as text and decoded; a refusal
		// encodes nothing, and makes at most the text of the value (for
		// a reference within a string).
		t.Logf("%s: %d calls refused, %d KiB allocated", form, calls, n>>10)
		if n > 10<<20 {
			t.Errorf("%s: %d calls refused, %d KiB allocated", form, calls, n>>10)
		}
	}
}

// jsonOver measures exactly what json.Marshal writes, escapes included,
// so that what it lets through fits and what it refuses would not have.
func TestRefAttackJSONOverExact(t *testing.T) {
	str := rapid.Custom(func(t *rapid.T) string {
		parts := rapid.SliceOfN(rapid.SampledFrom([]string{"a", "é", "\u2028", "\u2029", "<", ">", "&", "\"", "\\", "\n", "\t", "\b", "\f", "\x00", "\x1f", "\x7f", "\xff", "\xe2\x80", "😀", " "}), 0, 8).Draw(t, "parts")
		return strings.Join(parts, "")
	})
	var value func(depth int) *rapid.Generator[any]
	value = func(depth int) *rapid.Generator[any] {
		scalar := rapid.OneOf(
			rapid.Map(str, func(s string) any { return s }),
			rapid.Map(rapid.SampledFrom([]string{"0", "-1.5e999", "12"}), func(s string) any { return json.Number(s) }),
			rapid.Map(rapid.Bool(), func(b bool) any { return b }),
			rapid.Just[any](nil),
		)
		if depth == 0 {
			return scalar
		}
		return rapid.OneOf(scalar,
			rapid.Map(rapid.SliceOfN(value(depth-1), 0, 3), func(s []any) any { return s }),
			rapid.Map(rapid.MapOfN(str, value(depth-1), 0, 3), func(m map[string]any) any { return m }),
		)
	}
	rapid.Check(t, func(t *rapid.T) {
		v := value(3).Draw(t, "v")
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if jsonOver(v, len(b)) || !jsonOver(v, len(b)-1) {
			t.Fatalf("%s: %d bytes; jsonOver(%d) = %t, jsonOver(%d) = %t", b, len(b), len(b), jsonOver(v, len(b)), len(b)-1, jsonOver(v, len(b)-1))
		}
		if s, ok := v.(string); ok && (textOver(s, len(s)) || !textOver(s, len(s)-1)) {
			t.Fatalf("textOver(%q) is not its length", s)
		}
	})
}

// Two batches at once with the same Content-IDs each get their own
// results, from one Handler (whose batch state is reused).
func TestRefAttackConcurrentBatchesSameIDs(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if who, ok := strings.CutPrefix(r.URL.Path, "/me/"); ok {
			fmt.Fprintf(w, `{"who":%q}`, who)
			return
		}
		fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	})
	srv := httptest.NewServer(NewHandlerOptions(inner, HandlerOptions{ResultReferences: true}))
	defer srv.Close()
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				who := fmt.Sprintf("client%d-%d", c, i)
				got := postBatch(t, srv.URL, batchBody(
					part("me", "GET /me/"+who+" HTTP/1.1\r\n"),
					part("use", "GET /use/$result[me][who] HTTP/1.1\r\n"),
				))
				if len(got) != 2 || got[1].Body != fmt.Sprintf(`{"path":"/use/%s"}`, who) {
					t.Errorf("%s: %+v", who, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// References across changesets, in chains, and to calls whose response
// cannot be used: each call runs after what it names, or fails with 424
// saying why, and the batch ends.
func TestRefAttackOrderAndFailures(t *testing.T) {
	body := batchBody(
		part("u", "GET /user HTTP/1.1\r\n"),
		changeset("cs",
			part("in1", "GET /in/$result[u][dup] HTTP/1.1\r\n"),
			part("in2", "GET /in2/$result[in1][path] HTTP/1.1\r\n"),
			part("in3", "GET /in3/$result[out][path] HTTP/1.1\r\n"),
		),
		part("out", "GET /out/$result[in2][path] HTTP/1.1\r\n"),
		part("self", "GET /self/$result[self][path] HTTP/1.1\r\n"),
		part("text", "GET /raw/text HTTP/1.1\r\n"),
		part("trailing", "GET /raw/trailing HTTP/1.1\r\n"),
		part("cut", "GET /raw/cut HTTP/1.1\r\n"),
		part("utf8", "GET /raw/utf8 HTTP/1.1\r\n"),
		part("r1", "GET /r/$result[text][a] HTTP/1.1\r\n"),
		part("r2", "GET /r/$result[trailing][a] HTTP/1.1\r\n"),
		part("r3", "GET /r/$result[cut][a] HTTP/1.1\r\n"),
		part("r4", "GET /r/$result[utf8][a] HTTP/1.1\r\n"),
		part("r5", "GET /r/$result[u][dup]/$result[u][n] HTTP/1.1\r\n"),
		part("idx", "GET /r/$result[u][obj][k][999999999999] HTTP/1.1\r\n"),
		part("neg", "GET /r/$result[u][obj][k][-1] HTTP/1.1\r\n"),
		part("digit", "GET /r/$result[u][obj][k][\u0661] HTTP/1.1\r\n"),
		part("plus", "GET /r/$result[u][obj][k][+1] HTTP/1.1\r\n"),
	)
	tree, _ := serveTree(t, refEcho, HandlerOptions{ResultReferences: true, Changesets: true}, nil, body)
	var got []string
	var walk func([]treePart)
	walk = func(ps []treePart) {
		for _, p := range ps {
			if p.Parts != nil {
				walk(p.Parts)
				continue
			}
			s := fmt.Sprint(p.Status)
			switch j := p.JSON.(type) {
			case map[string]any:
				if e, ok := j["error"].(map[string]any); ok {
					s += " " + e["message"].(string)
				} else if path, ok := j["path"].(string); ok {
					s += " " + path
				}
			}
			got = append(got, s)
		}
	}
	walk(tree)
	// The changeset failed at in3 (a later call), and so counts as failed
	// for out, which uses in2.
	want := []string{
		"424 reference $result[out][path]: call \"out\" comes later in the batch; a call can only use the results of earlier ones",
		"424 reference $result[in2][path]: call \"in2\" does not count: its changeset was rolled back",
		"424 reference $result[self][path]: a call cannot use its own result (a cycle)",
		"200", "200", "200", "200",
		"424 reference $result[text][a]: the response of call \"text\" is not JSON: invalid character 'o' in literal null (expecting 'u')",
		"200 /r/1",
		"424 reference $result[cut][a]: the response of call \"cut\" is not JSON: unexpected EOF",
		"200 /r/\ufffd\ufffd",
		"200 /r/2/1e999",
		"424 reference $result[u][obj][k][999999999999]: the result of call \"u\" has no element \"999999999999\"",
		"424 reference $result[u][obj][k][-1]: the result of call \"u\" has no element \"-1\"",
		"424 reference $result[u][obj][k][\u0661]: the result of call \"u\" has no element \"\u0661\"",
		"200 /r/<x>",
	}
	if len(got) < 1 || got[0] != "200" {
		t.Fatalf("parts %q", got)
	}
	if diff := cmp.Diff(want, got[1:]); diff != "" {
		t.Errorf("parts (-want +got):\n%s", diff)
	}
}

// A chain of 1000 calls, each using the one before it, runs in order and
// passes the value down to the last.
func TestRefAttackLongChain(t *testing.T) {
	parts := []string{part("c0", "GET /start HTTP/1.1\r\n")}
	for i := 1; i < 1000; i++ {
		parts = append(parts, part(fmt.Sprint("c", i), fmt.Sprintf("GET /n/$result[c%d][path] HTTP/1.1\r\n", i-1)))
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		var n int
		fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/n/"), "%d", &n)
		fmt.Fprintf(w, `{"path":"%d"}`, n+1)
	})
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{ResultReferences: true}, "/batch", nil, batchBody(parts...)))
	if len(got) != 1000 || got[999].Status != 200 || got[999].Body != `{"path":"1000"}` {
		t.Fatalf("%d parts, the last %+v", len(got), got[len(got)-1])
	}
}

// A call refused for what its references would make spends the room it
// had, as one that was not refused spends what it made: the work of all a
// batch's substitutions is bounded by MaxBodyBytes, refused or not. Each
// refused call made up to MaxPartBytes of body and spent nothing, so 1000
// of them made 1000 times MaxPartBytes.
func TestRefAttackRefusalsSpendTheBudget(t *testing.T) {
	const (
		partBytes = 256 << 10
		bodyBytes = 1 << 20
	)
	big := strings.Repeat("s", 100<<10)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/big" {
			fmt.Fprintf(w, `{"s":%q}`, big)
			return
		}
		io.WriteString(w, `{}`)
	})
	parts := []string{part("a", "GET /big HTTP/1.1\r\n")}
	for i := range 12 {
		// 300 KiB of body each, over its 256 KiB.
		parts = append(parts, part(fmt.Sprint("b", i), jsonPart("POST", "/sink", `["$result[a][s]","$result[a][s]","$result[a][s]"]`)))
	}
	got := readBatchResponse(t, serve(t, inner, HandlerOptions{ResultReferences: true, Concurrency: 1,
		MaxPartBytes: partBytes, MaxBodyBytes: bodyBytes}, "/", nil, batchBody(parts...)))
	var why []string
	for _, p := range got[1:] {
		switch {
		case p.Status != 400:
			why = append(why, fmt.Sprintf("status %d", p.Status))
		case strings.Contains(p.Body, "MaxBodyBytes"):
			why = append(why, "the batch's budget")
		case strings.Contains(p.Body, fmt.Sprintf("over %d bytes", partBytes)):
			why = append(why, "its room")
		default:
			why = append(why, p.Body)
		}
	}
	// Four rooms of 256 KiB spend the 1 MiB.
	want := slices.Repeat([]string{"its room"}, 4)
	want = append(want, slices.Repeat([]string{"the batch's budget"}, 8)...)
	if diff := cmp.Diff(want, why); diff != "" {
		t.Errorf("why each call was refused (-want +got):\n%s", diff)
	}
}

// A batch holds at most maxBatchRefs result references: each takes about
// 1 KiB until the batch ends, 50 times the bytes it is written in, and a
// body of MaxPartBytes holds nearly a million. The call that would take
// the batch past them answers 400, before any is resolved; the calls
// before it run.
func TestRefAttackTooManyReferences(t *testing.T) {
	refs := func(n int) string {
		var b strings.Builder
		b.WriteByte('[')
		for i := range n {
			fmt.Fprintf(&b, `"$result[a][%d]",`, i%3)
		}
		b.WriteString("0]")
		return b.String()
	}
	body := batchBody(
		part("a", "GET /arr?n=3 HTTP/1.1\r\n"),
		part("b", jsonPart("POST", "/sink", refs(maxBatchRefs-10))),
		part("c", jsonPart("POST", "/sink", refs(5))),
		part("d", jsonPart("POST", "/sink", refs(6))),
		part("e", jsonPart("POST", "/sink?x=$result[a][0]", "")),
		part("f", jsonPart("POST", "/sink", refs(maxBatchRefs+1))),
	)
	got := readBatchResponse(t, serve(t, refEcho, HandlerOptions{ResultReferences: true}, "/batch", nil, body))
	if diff := cmp.Diff([]int{200, 200, 200, 400, 200, 400}, statuses(got)); diff != "" {
		t.Fatalf("statuses (-want +got):\n%s", diff)
	}
	for _, p := range []gotPart{got[3], got[5]} {
		if !strings.Contains(p.Body, fmt.Sprintf("more than %d result references", maxBatchRefs)) {
			t.Errorf("part %s: %q does not say why", p.ContentID, p.Body)
		}
	}
}
