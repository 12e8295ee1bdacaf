package batch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The interop tests never install anything: scripts/peers.sh (which .ci/run
// runs first) installs every peer. Without one, a test skips at once with a
// line saying so, except in CI (CI set), which must not pass by skipping.
// Under -short they skip too.

// findPython returns the interpreter that has Google's Python client: the
// first of $MIXED_PYTHON, python3 on PATH and /usr/bin/python3 that
// imports googleapiclient.http, the rule scripts/peers.sh applies (a
// python3 of pyenv or a virtualenv may lack Debian's package).
func findPython() (string, error) {
	var tried []string
	for _, py := range []string{os.Getenv("MIXED_PYTHON"), "python3", "/usr/bin/python3"} {
		if py == "" {
			continue
		}
		path, err := exec.LookPath(py)
		if err == nil {
			err = exec.Command(path, "-c", "import googleapiclient.http").Run()
		}
		if err == nil {
			return path, nil
		}
		tried = append(tried, fmt.Sprintf("%s: %v", py, err))
	}
	return "", fmt.Errorf("no python3 imports googleapiclient.http (%s)", strings.Join(tried, "; "))
}

// TestInteropGoogleAPIPython sends a batch from Debian's python3-googleapi
// (google-api-python-client 1.7.12, BatchHttpRequest) to our Handler.
func TestInteropGoogleAPIPython(t *testing.T) {
	skipShort(t)
	python, err := findPython()
	needPeer(t, "Debian's python3-googleapi", err)

	mux := http.NewServeMux()
	mux.Handle("/batch/farm/v1", NewHandler(farm()))
	mux.Handle("/", farm())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	out, err := exec.Command(python, "testdata/interop/googleapi_batch.py", srv.URL).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("python client failed: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var got map[string]map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	want := map[string]map[string]any{
		"pony":    {"status": 200.0, "etag": `"etag/pony"`, "body": `{"animalName":"pony","auth":"Bearer py"}`},
		"sheep":   {"status": 200.0, "etag": `"etag/sheep"`, "body": `{"put":23}`},
		"animals": {"error": "HttpError", "status": 304.0},
		"missing": {"error": "HttpError", "status": 404.0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what the python client's callbacks received (-want +got):\n%s", diff)
	}
}

// runNodePeer runs script (in testdata/interop/node) with node and args,
// and returns its standard output. The locked npm packages must be
// installed (scripts/peers.sh): it never runs npm. It skips the test when
// node or pkg is missing outside CI; a failing script fails the test,
// showing what the server saw (seen may be nil).
func runNodePeer(t *testing.T, pkg, script string, seen fmt.Stringer, args ...string) []byte {
	t.Helper()
	skipShort(t)
	node, err := exec.LookPath("node")
	needPeer(t, "node", err)
	dir := "testdata/interop/node"
	_, err = os.Stat(dir + "/node_modules/" + pkg + "/package.json")
	needPeer(t, "npm's "+pkg, err)
	cmd := exec.Command(node, append([]string{script}, args...)...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		if seen == nil {
			t.Fatalf("%s failed: %v\n%s", pkg, err, stderr)
		}
		t.Fatalf("%s failed: %v\n%s\nexchanges:\n%s", pkg, err, stderr, seen)
	}
	return out
}

// TestInteropBatchelor sends a batch from npm's batchelor 2.0.2 to our
// Handler: request lines without a version, LF line ends, a PUT body with
// no Content-Length.
func TestInteropBatchelor(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/batch/farm/v1", NewHandler(farm()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	out := runNodePeer(t, "batchelor", "batchelor.js", nil, srv.URL)
	var got map[string]map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("batchelor output %q: %v", out, err)
	}
	want := map[string]map[string]any{
		"pony": {"status": 200.0, "body": map[string]any{"animalName": "pony", "auth": "Bearer node-token"}},
		"cow":  {"status": 200.0, "body": map[string]any{"animalName": "cow", "auth": "Bearer own-token"}},
		// batchelor cannot send If-Match, so the farm refuses the PUT.
		"sheep": {"status": 412.0, "body": nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what batchelor parsed (-want +got):\n%s", diff)
	}
}

// TestInteropODataClient sends an OData $batch from npm's @odata/client
// 2.21.10 to our Handler in OData mode. The library wraps each write in a
// changeset of its own, sends no Content-IDs (so no "$1" targets) and
// matches responses to requests by position. Its parts carry
// "Content-Transfer-Encoding: binary", and every call's body starts with an
// extra CRLF (a GET's body is that CRLF alone, with no Content-Length).
func TestInteropODataClient(t *testing.T) {
	s, batch, srv := odataService(t)
	out := runNodePeer(t, "@odata/client", "odata.js", batch, srv.URL+"/odata/")
	var got []map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("odata.js output %q: %v", out, err)
	}
	want := []map[string]any{
		{"status": 201.0, "location": "/odata/Customers(1)", "body": obj{"ID": 1.0, "Name": "Ann"}},
		{"status": 201.0, "location": "/odata/Orders(2)", "body": obj{"ID": 2.0, "Customer": 1.0}},
		{"status": 200.0, "location": nil, "body": obj{"ID": 1.0, "Name": "Ann"}},
		{"status": 201.0, "location": "/odata/Customers(3)", "body": obj{"ID": 3.0, "Name": "Bob"}},
		// The failed changeset is its failed call's response, in its place.
		{"status": 400.0, "location": nil, "body": obj{"error": "Qty must be positive"}},
		// OData mode halts on the failure: the last GET never runs.
		{"status": 424.0, "location": nil, "body": obj{"error": obj{"code": "FailedDependency",
			"message": `skipped: changeset 4 ("") failed with status 400 and the batch halts on errors`}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what @odata/client parsed (-want +got):\n%s\nexchanges:\n%s", diff, batch)
	}
	// Four changesets: three committed, the failed one rolled back and left
	// nothing (no order for Bob).
	wantStore := map[string]any{"customers": 2, "orders": 1, "log": "begin commit begin commit begin commit begin rollback"}
	if diff := cmp.Diff(wantStore, s.state()); diff != "" {
		t.Errorf("store (-want +got):\n%s", diff)
	}
}

// TestInteropOJS sends OData $batch requests from npm's odata 2.0.1 (o.js)
// to our Handler in OData mode, with useChangset and useRelativeURLs: every
// write of a batch goes into one changeset, Content-IDs count from 1, and
// the second call targets "$1/Orders". o.js finds a changeset in a response
// only by a boundary containing "changesetresponse_" and reads Content-IDs
// with parseInt, which is why OData mode answers with those boundaries and
// echoes the request's Content-IDs.
func TestInteropOJS(t *testing.T) {
	s, batch, srv := odataService(t)
	out := runNodePeer(t, "odata", "ojs.js", batch, srv.URL+"/odata/")
	var got []any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("ojs.js output %q: %v", out, err)
	}
	want := []any{
		// A committed changeset: o.js returns its members' responses.
		[]any{
			obj{"contentId": 1.0, "status": 201.0, "body": obj{"ID": 1.0, "Name": "Ann"}},
			obj{"contentId": 2.0, "status": 201.0, "body": obj{"ID": 2.0, "Customer": 1.0}},
		},
		// A rolled-back changeset is its failed call's response alone.
		[]any{
			obj{"contentId": 2.0, "status": 400.0, "body": obj{"error": "Qty must be positive"}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what o.js parsed (-want +got):\n%s\nexchanges:\n%s", diff, batch)
	}
	// The second changeset created Bob, then rolled him back.
	wantStore := map[string]any{"customers": 1, "orders": 1, "log": "begin commit begin rollback"}
	if diff := cmp.Diff(wantStore, s.state()); diff != "" {
		t.Errorf("store (-want +got):\n%s", diff)
	}
}

// odataService serves the shop under /odata/ and its batch endpoint
// /odata/$batch in OData mode, recording the batch exchanges.
func odataService(t *testing.T) (*shop, *recordExchanges, *httptest.Server) {
	s := newShop()
	batch := &recordExchanges{h: NewHandlerOptions(s, HandlerOptions{OData: true, BeginGroup: s.begin})}
	mux := http.NewServeMux()
	mux.Handle("/odata/$batch", batch)
	mux.Handle("/odata/", s)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return s, batch, srv
}

// recordExchanges keeps the bytes of every request body and response body
// that pass through h, so an interop failure shows both sides of the wire.
type recordExchanges struct {
	h   http.Handler
	mu  sync.Mutex
	log []string
}

func (rx *recordExchanges) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(req))
	rec := httptest.NewRecorder()
	rx.h.ServeHTTP(rec, r)
	res := rec.Result()
	maps.Copy(w.Header(), res.Header)
	w.WriteHeader(res.StatusCode)
	w.Write(rec.Body.Bytes())
	rx.mu.Lock()
	defer rx.mu.Unlock()
	rx.log = append(rx.log, fmt.Sprintf("request Content-Type: %s\n%q\nresponse %d Content-Type: %s\n%q",
		r.Header.Get("Content-Type"), req, res.StatusCode, res.Header.Get("Content-Type"), rec.Body.Bytes()))
}

func (rx *recordExchanges) String() string {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return strings.Join(rx.log, "\n----- next exchange -----\n")
}
