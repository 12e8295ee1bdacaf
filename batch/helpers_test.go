package batch

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mixedcodec/mixed"
)

// Helpers and fixtures shared by the tests of several files, by topic:
// building batch bodies; serving them and reading the responses with the
// codec, independently of the Client; the test services; the Client; JSON
// batches; interop tests with real peers.

// Batch bodies (boundary "b").

// part builds one request part of a batch body with boundary "b".
func part(cid, msg string) string {
	h := "--b\r\nContent-Type: application/http\r\n"
	if cid != "" {
		h += "Content-ID: " + cid + "\r\n"
	}
	return h + "\r\n" + msg + "\r\n"
}

// batchBody closes the parts (boundary "b") into a batch body.
func batchBody(parts ...string) string { return strings.Join(parts, "") + "--b--\r\n" }

// changeset builds a changeset part (boundary "cs") of a batch body with
// boundary "b"; members are built with part and re-delimited.
func changeset(cid string, members ...string) string {
	h := "--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n"
	if cid != "" {
		h += "Content-ID: " + cid + "\r\n"
	}
	body := ""
	for _, m := range members {
		body += "--cs" + strings.TrimPrefix(m, "--b")
	}
	return h + "\r\n" + body + "--cs--\r\n"
}

// jsonPart is an embedded request with a JSON body (none when empty).
func jsonPart(method, target, body string) string {
	if body == "" {
		return method + " " + target + " HTTP/1.1\r\n"
	}
	return fmt.Sprintf("%s %s HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", method, target, len(body), body)
}

// pathLog records the paths of the requests its handler serves, which
// the calls of a batch reach concurrently.
type pathLog struct {
	mu    sync.Mutex
	paths []string
}

// handler records each request's path, then serves it with next, if any.
func (l *pathLog) handler(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.paths = append(l.paths, r.URL.Path)
		l.mu.Unlock()
		if next != nil {
			next(w, r)
		}
	})
}

// sorted returns the paths recorded so far, sorted: calls run in any
// order.
func (l *pathLog) sorted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(slices.Values(l.paths))
}

// Serving a batch and reading its response.

// serve posts body to a Handler around inner and returns the response.
func serve(t *testing.T, inner http.Handler, opts HandlerOptions, target string, hdr http.Header, body string) *http.Response {
	t.Helper()
	srv := httptest.NewServer(NewHandlerOptions(inner, opts))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest("POST", srv.URL+target, strings.NewReader(body))
	req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
	for k, vv := range hdr {
		req.Header[k] = vv
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// postBatch posts body (boundary "b") to the server at url and reads
// its batch response, for tests that send several batches to one Handler.
func postBatch(t *testing.T, url, body string) []gotPart {
	t.Helper()
	resp, err := http.Post(url, "multipart/mixed; boundary=b", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return readBatchResponse(t, resp)
}

// treePart is a response part, with the parts of a nested multipart body.
type treePart struct {
	ContentID  string
	Status     int
	Location   string
	RetryAfter string
	JSON       any
	Parts      []treePart
}

// readTree reads a batch response, nested changesets included.
func readTree(t *testing.T, body io.Reader, boundary string) []treePart {
	t.Helper()
	r := mixed.NewReader(body, boundary)
	var out []treePart
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("part %d: %v", len(out), err)
		}
		tp := treePart{ContentID: p.Header.Get("Content-ID")}
		ct := p.Header.Get("Content-Type")
		if strings.HasPrefix(ct, "multipart/mixed") {
			b, err := mixed.ParseBoundary(ct)
			if err != nil {
				t.Fatalf("part %d: %v", len(out), err)
			}
			tp.Parts = readTree(t, p, b)
			if tp.Parts == nil {
				tp.Parts = []treePart{}
			}
			out = append(out, tp)
			continue
		}
		m, err := mixed.NewMessageReader(p).ReadResponse("")
		if err != nil {
			t.Fatalf("part %d: %v", len(out), err)
		}
		tp.Status = m.StatusCode
		tp.Location = m.Header.Get("Location")
		tp.RetryAfter = m.Header.Get("Retry-After")
		b, _ := io.ReadAll(m.Body)
		if err := json.Unmarshal(b, &tp.JSON); err != nil {
			tp.JSON = string(b) // a text/plain error of the Handler
		}
		out = append(out, tp)
	}
}

// serveTree serves body and reads the 200 response as a tree.
func serveTree(t *testing.T, inner http.Handler, opts HandlerOptions, hdr http.Header, body string) ([]treePart, *http.Response) {
	t.Helper()
	resp := serve(t, inner, opts, "/odata/$batch", hdr, body)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("batch status %d: %s", resp.StatusCode, b)
	}
	b, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	return readTree(t, resp.Body, b), resp
}

// obj is a JSON object as encoding/json decodes it.
type obj = map[string]any

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

// gotPart is a response part as the tests compare it.
type gotPart struct {
	ContentID string
	Status    int
	Header    map[string]string
	Body      string
}

// readBatchResponse reads a batch response with the codec, independently
// of the Client.
func readBatchResponse(t *testing.T, resp *http.Response) []gotPart {
	t.Helper()
	boundary, err := mixed.ParseBoundary(resp.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("response Content-Type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	r := mixed.NewReader(resp.Body, boundary)
	var out []gotPart
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("part %d: %v", len(out), err)
		}
		if ct := p.Header.Get("Content-Type"); ct != "application/http" {
			t.Errorf("part %d: Content-Type %q, want application/http", len(out), ct)
		}
		mr := mixed.NewMessageReader(p)
		m, err := mr.ReadResponse("")
		if err != nil {
			t.Fatalf("part %d: embedded response: %v", len(out), err)
		}
		g := gotPart{ContentID: p.Header.Get("Content-ID"), Status: m.StatusCode, Header: map[string]string{}}
		for n, v := range m.Header.All() {
			g.Header[string(n)] = string(v)
		}
		b, err := io.ReadAll(m.Body)
		if err != nil {
			t.Fatalf("part %d: body: %v", len(out), err)
		}
		g.Body = string(b)
		out = append(out, g)
	}
}

// statuses is the status of each part, in order.
func statuses(parts []gotPart) []int {
	var out []int
	for _, p := range parts {
		out = append(out, p.Status)
	}
	return out
}

// roomyCallTimeout is the CallTimeout of the tests whose calls that do not
// wait for their deadline must still meet it: a call that only writes "ok"
// missed 1 ms under -race on a busy CI machine (TestHandlerBodyOutlivesCall),
// and 5 ms and 50 ms with the test's process starved (pinned to a core
// another process keeps busy, at nice 15). It costs a test its length once
// for each call that does wait for it.
const roomyCallTimeout = 500 * time.Millisecond

// discardSlog and discardLog are loggers that write nowhere.
func discardSlog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }

// errPart is the tree part of a call that failed with status and msg.
func errPart(cid string, status int, msg string) treePart {
	return treePart{ContentID: cid, Status: status, JSON: obj{"error": obj{"code": errorCode(status), "message": msg}}}
}

// Test services.

// shop is a transactional store behind an OData-style API:
//
//	POST /odata/Customers              {"Name": ...}  → 201, Location
//	POST /odata/Customers({id})/Orders {"Qty": n > 0} → 201, Location
//	GET  /odata/Customers({id})                       → 200 or 404
//
// A group holds the store's lock from begin to commit or rollback and
// keeps an undo log; calls outside groups take the lock per call.
type shop struct {
	mu        sync.Mutex
	customers map[int]string
	orders    map[int]int // order id → customer id
	next      int
	log       []string // begin, commit and rollback, in order
	failBegin error
	failCmt   error
}

// newShop returns an empty shop.
func newShop() *shop { return &shop{customers: map[int]string{}, orders: map[int]int{}} }

// shopGroup is a shop transaction: its undo steps, run on rollback.
type shopGroup struct {
	s    *shop
	undo []func()
}

func (g *shopGroup) Commit() error {
	defer g.s.mu.Unlock()
	g.s.log = append(g.s.log, "commit")
	if g.s.failCmt != nil {
		g.rollback()
		return g.s.failCmt
	}
	return nil
}

func (g *shopGroup) Rollback() error {
	defer g.s.mu.Unlock()
	g.s.log = append(g.s.log, "rollback")
	g.rollback()
	return nil
}

func (g *shopGroup) rollback() {
	for i := len(g.undo) - 1; i >= 0; i-- {
		g.undo[i]()
	}
}

func (s *shop) begin(ctx context.Context) (Group, error) {
	if s.failBegin != nil {
		return nil, s.failBegin
	}
	s.mu.Lock()
	s.log = append(s.log, "begin")
	return &shopGroup{s: s}, nil
}

// tx runs f on the store: inside the call's group, or under the lock.
func (s *shop) tx(r *http.Request, f func(undo func(func()))) {
	if g, ok := GroupFromContext(r.Context()).(*shopGroup); ok {
		f(func(u func()) { g.undo = append(g.undo, u) })
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f(func(func()) {})
}

func (s *shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	var in struct {
		Name string
		Qty  int
	}
	if r.Method == "POST" {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":%q}`, err.Error())
			return
		}
	}
	var cust int
	path := r.URL.Path
	if rest, ok := strings.CutPrefix(path, "/odata/Customers("); ok {
		id, tail, _ := strings.Cut(rest, ")")
		cust, _ = strconv.Atoi(id)
		path = "/odata/Customers(*)" + tail
	}
	s.tx(r, func(undo func(func())) {
		switch r.Method + " " + path {
		case "POST /odata/Customers":
			s.next++
			id := s.next
			s.customers[id] = in.Name
			undo(func() { delete(s.customers, id) })
			w.Header().Set("Location", fmt.Sprintf("/odata/Customers(%d)", id))
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"ID":%d,"Name":%q}`, id, in.Name)
		case "POST /odata/Customers(*)/Orders":
			if _, ok := s.customers[cust]; !ok {
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprintf(w, `{"error":"no customer %d"}`, cust)
				return
			}
			if in.Qty <= 0 {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"error":"Qty must be positive"}`)
				return
			}
			s.next++
			id := s.next
			s.orders[id] = cust
			undo(func() { delete(s.orders, id) })
			w.Header().Set("Location", fmt.Sprintf("/odata/Orders(%d)", id))
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"ID":%d,"Customer":%d}`, id, cust)
		case "GET /odata/Customers(*)":
			name, ok := s.customers[cust]
			if !ok {
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprintf(w, `{"error":"no customer %d"}`, cust)
				return
			}
			fmt.Fprintf(w, `{"ID":%d,"Name":%q}`, cust, name)
		case "POST /odata/nogroup":
			// Reports whether the call runs inside a group.
			fmt.Fprintf(w, `{"group":%t}`, GroupFromContext(r.Context()) != nil)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":"no route %s %s"}`, r.Method, r.URL.Path)
		}
	})
}

func (s *shop) state() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]any{"customers": len(s.customers), "orders": len(s.orders), "log": strings.Join(s.log, " ")}
}

// farm is the Calendar documentation's demo API, enough of it to answer
// the seed's batch: ETags honoured by If-None-Match.
func farm() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /farm/v1/animals/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"etag/`+r.PathValue("name")+`"`)
		fmt.Fprintf(w, `{"animalName":%q,"auth":%q}`, r.PathValue("name"), r.Header.Get("Authorization"))
	})
	mux.HandleFunc("PUT /farm/v1/animals/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-Match") != `"etag/`+r.PathValue("name")+`"` {
			w.WriteHeader(http.StatusPreconditionFailed)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"etag/`+r.PathValue("name")+`"`)
		fmt.Fprintf(w, `{"put":%d}`, len(b))
	})
	mux.HandleFunc("GET /farm/v1/animals", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"etag/animals"` {
			w.Header().Set("ETag", `"etag/animals"`)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, `[]`)
	})
	return mux
}

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

// orNull is b, or JSON null when b is empty.
func orNull(b []byte) string {
	if len(b) == 0 {
		return "null"
	}
	return string(b)
}

// describe echoes what a call saw.
var describe = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "%s %s host=%s auth=%s ua=%s ct=%s", r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("Authorization"), r.Header.Get("User-Agent"), r.Header.Get("Content-Type"))
})

// echoAPI answers with what the call was, so that a response can be
// compared with the one the same request gets alone. /slow/{ms} sleeps
// first, until the call's context is done.
var echoAPI = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/slow/") {
		var ms int
		fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/slow/"), "%d", &ms)
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
		}
	}
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Seen-Auth", r.Header.Get("Authorization"))
	fmt.Fprintf(w, "%s %s body=%q", r.Method, r.URL.RequestURI(), b)
})

// testAPI serves echoAPI directly and behind a batch Handler at /batch,
// counting both kinds of request and the parts' own Authorization fields.
type testAPI struct {
	srv            *httptest.Server
	batches, plain atomic.Int64
	partAuth       atomic.Int64 // parts that carried their own Authorization
	outerAuth      atomic.Int64 // batches whose outer request carried it
	inFlight, peak atomic.Int64
	batchCtxDone   atomic.Int64
	slowRunning    atomic.Int64 // /slow/ calls inside a batch, running now
}

func newTestAPI(t *testing.T, batchStatus int) *testAPI {
	a := &testAPI{}
	bh := NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/slow/") {
			a.slowRunning.Add(1)
			defer a.slowRunning.Add(-1)
		}
		echoAPI(w, r)
	}))
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/batch" {
			a.plain.Add(1)
			echoAPI(w, r)
			return
		}
		a.batches.Add(1)
		n := a.inFlight.Add(1)
		defer a.inFlight.Add(-1)
		for p := a.peak.Load(); n > p && !a.peak.CompareAndSwap(p, n); p = a.peak.Load() {
		}
		if batchStatus != 0 {
			io.Copy(io.Discard, r.Body)
			http.Error(w, "backend unavailable", batchStatus)
			return
		}
		if r.Header.Get("Authorization") != "" {
			a.outerAuth.Add(1)
		}
		body, _ := io.ReadAll(r.Body)
		a.partAuth.Add(int64(strings.Count(string(body), "\r\nAuthorization: ")))
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		bh.ServeHTTP(w, r)
		if r.Context().Err() != nil {
			a.batchCtxDone.Add(1)
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *testAPI) client(tr *Transport) *http.Client {
	tr.Endpoint = a.srv.URL + "/batch"
	return &http.Client{Transport: tr}
}

// waitSlow waits until n /slow/ calls run inside batches: then they are
// on the wire, whatever the machine's load.
func (a *testAPI) waitSlow(t *testing.T, n int64) {
	t.Helper()
	for start := time.Now(); a.slowRunning.Load() < n; time.Sleep(time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%d slow calls running after 10 s, want %d", a.slowRunning.Load(), n)
		}
	}
}

// The Client side.

// result is a call's outcome as the tests compare it.
type result struct {
	Status int
	Body   string
	Err    string
}

// outcome waits for c and reduces it to a result.
func outcome(t *testing.T, c *Call) result {
	t.Helper()
	resp, err := c.Wait(context.Background())
	if err != nil {
		return result{Err: err.Error()}
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{Status: resp.StatusCode, Body: string(b)}
}

// countingServer serves h behind NewHandler and counts the batch requests.
func countingServer(t *testing.T, inner http.Handler, opts HandlerOptions) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	bh := NewHandlerOptions(inner, opts)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		bh.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// addGets adds n calls GET /x/0 ... /x/(n-1) to b, and returns them.
func addGets(t *testing.T, b *Batch, n int) []*Call {
	t.Helper()
	calls := make([]*Call, n)
	for i := range n {
		call, err := b.Add(jsonRequest(t, "GET", fmt.Sprintf("/x/%d", i), ""), "")
		if err != nil {
			t.Fatal(err)
		}
		calls[i] = call
	}
	return calls
}

// itemCall is the i-th of the calls the transport tests send to a
// testAPI: a GET of /items/i, every third one a POST with a JSON body.
func itemCall(i int) (method, path, body string) {
	if i%3 == 0 {
		return "POST", fmt.Sprintf("/items/%d?x=%d", i, i), fmt.Sprintf(`{"n":%d}`, i)
	}
	return "GET", fmt.Sprintf("/items/%d?x=%d", i, i), ""
}

// doItems sends the first n itemCalls to a through c at once, and returns
// what each came to (see do), or its error.
func doItems(c *http.Client, a *testAPI, n int) []string {
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			method, path, body := itemCall(i)
			s, err := do(c, context.Background(), method, a.srv.URL+path, body)
			if err != nil {
				s = "error: " + err.Error()
			}
			got[i] = s
		}()
	}
	wg.Wait()
	return got
}

// checkItemsAlone fails t unless each of got, from doItems, is what its
// call gets when sent alone.
func checkItemsAlone(t *testing.T, a *testAPI, got []string) {
	t.Helper()
	for i := range got {
		method, path, body := itemCall(i)
		if diff := cmp.Diff(alone(t, a, method, path, body), got[i]); diff != "" {
			t.Errorf("call %d through the transport (-alone +batched):\n%s", i, diff)
		}
	}
}

// do sends one request (with a bearer token) through c and returns its
// status, body and the X-Seen-Auth the server echoed, as one string.
func do(c *http.Client, ctx context.Context, method, url, body string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer token")
	if body == "" {
		req.Body = http.NoBody
		req.ContentLength = 0
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d %s auth=%s", resp.StatusCode, b, resp.Header.Get("X-Seen-Auth")), nil
}

// jsonRequest is a request with body (none when empty) as JSON.
func jsonRequest(t *testing.T, method, target, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, target, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// sentPart is a part of a batch request as mime/multipart, the oracle,
// reads it: an application/http part's message as raw text, or a nested
// multipart's parts.
type sentPart struct {
	CID   string
	Type  string // the media type, without parameters
	Msg   string
	Parts []sentPart
}

// readSent parses a multipart body with mime/multipart, recursing into
// nested multipart parts, and appends their boundaries to boundaries.
func readSent(body io.Reader, contentType string, boundaries *[]string) ([]sentPart, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, err
	}
	if mt != "multipart/mixed" {
		return nil, fmt.Errorf("media type %q", mt)
	}
	*boundaries = append(*boundaries, params["boundary"])
	r := multipart.NewReader(body, params["boundary"])
	var out []sentPart
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		sp := sentPart{CID: p.Header.Get("Content-ID")}
		ct := p.Header.Get("Content-Type")
		sp.Type, _, _ = mime.ParseMediaType(ct)
		if strings.HasPrefix(sp.Type, "multipart/") {
			sp.Parts, err = readSent(p, ct, boundaries)
		} else {
			var b []byte
			b, err = io.ReadAll(p)
			sp.Msg = string(b)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
}

// sentRequest is one batch request as the server saw it.
type sentRequest struct {
	Parts      []sentPart
	Boundaries []string
}

// scripted is a batch server that records each batch request and answers
// with the wire bytes respond writes (its boundary is "resp").
type scripted struct {
	mu       sync.Mutex
	requests []sentRequest
	respond  func(w io.Writer, req sentRequest)
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var sr sentRequest
	var err error
	sr.Parts, err = readSent(r.Body, r.Header.Get("Content-Type"), &sr.Boundaries)
	if err != nil {
		// The client reports it as the batch request's failure.
		http.Error(w, "unreadable batch request: "+err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, sr)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "multipart/mixed; boundary=resp")
	s.respond(w, sr)
}

func scriptedClient(t *testing.T, s *scripted, maxCalls int) *Client {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &Client{Endpoint: srv.URL + "/odata/$batch", HTTPClient: srv.Client(), Limits: Limits{MaxCalls: maxCalls}}
}

// replay serves the bytes of file, verbatim, as the response to every
// request on a raw TCP listener on 127.0.0.1, so that the client sees
// exactly what the seed documents show (down to "HTTP/1.1 200" without a
// reason phrase).
func replay(t *testing.T, file string) string {
	t.Helper()
	resp, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				conn.Write(resp)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// JSON batches.

// jsonEntry is one response object of a JSON batch response, as a client
// reads it with encoding/json.
type jsonEntry struct {
	ID             string            `json:"id"`
	AtomicityGroup string            `json:"atomicityGroup,omitempty"`
	Status         int               `json:"status"`
	Headers        map[string]string `json:"headers,omitempty"`
	Body           json.RawMessage   `json:"body,omitempty"`
}

// propInner answers a call from what it is: the status named by the path's
// first segment, the request's X-Test echoed, and a JSON or binary body
// (by the path's second segment) made of the request.
func propInner() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
		status, _ := strconv.Atoi(seg[0])
		w.Header().Set("X-Echo", r.Header.Get("X-Test"))
		w.Header().Set("X-Method", r.Method)
		if seg[1] == "json" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			if bodyAllowed(status) {
				json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "body": b, "ct": r.Header.Get("Content-Type")})
			}
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(status)
		if bodyAllowed(status) {
			fmt.Fprintf(w, "%s %s\x00\xff", r.Method, r.URL.Path)
			w.Write(b)
		}
	})
}

// normalBody is a body as the property compares it: JSON compacted.
func normalBody(ct string, b []byte) string {
	if isJSONMedia(ct) {
		var out bytes.Buffer
		if json.Compact(&out, b) == nil {
			return out.String()
		}
	}
	return string(b)
}

// Interop tests with real peers.

// skipShort skips an interop test under -short, before looking for its
// peer.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("interop with a real client: skipped under -short")
	}
}

// needPeer skips (or, in CI, fails) a test whose real peer is not
// installed.
func needPeer(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not available in CI: %v", what, err)
	}
	t.Skipf("%s is not installed (%v): run sh scripts/peers.sh from the repository root", what, err)
}

// getThrough sends GETs of paths on srv as one batch of the Client in
// format f, to the endpoint /batch, and returns each call's outcome as
// "status Content-Type body" (the body as show gives it), or its error.
func getThrough(t *testing.T, srv *httptest.Server, f Format, paths []string, show func([]byte) string) []string {
	t.Helper()
	c := &Client{Endpoint: srv.URL + "/batch", Format: f}
	b := c.NewBatch()
	for _, p := range paths {
		req, err := http.NewRequest("GET", srv.URL+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Add(req, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Do(context.Background()); err != nil {
		t.Fatalf("%v: %v", f, err)
	}
	var got []string
	for _, call := range b.Calls() {
		resp, err := call.Wait(context.Background())
		if err != nil {
			got = append(got, err.Error())
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		got = append(got, fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), show(body)))
	}
	return got
}

// gzipOf returns b gzip-compressed.
func gzipOf(b []byte) []byte {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(b)
	zw.Close()
	return z.Bytes()
}
