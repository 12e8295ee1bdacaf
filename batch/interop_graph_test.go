package batch

import (
	"encoding/base64"
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

// graphAPI is a small Graph-like API: events to create, change and read, a
// photo, and a throttled route.
type graphAPI struct {
	mu    sync.Mutex
	log   []string
	event map[string]any
	photo []byte
}

func (g *graphAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	g.log = append(g.log, r.Method+" "+r.URL.Path)
	w.Header().Set("Content-Type", "application/json")
	switch r.Method + " " + r.URL.Path {
	case "POST /v1.0/me/events":
		g.event = map[string]any{}
		json.Unmarshal(body, &g.event)
		g.event["id"] = "1"
		w.Header().Set("Location", "/v1.0/me/events/1")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(g.event)
	case "PATCH /v1.0/me/events/1", "GET /v1.0/me/events/1":
		if g.event == nil {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":"ErrorItemNotFound"}}`)
			return
		}
		json.Unmarshal(body, &g.event)
		json.NewEncoder(w).Encode(g.event)
	case "GET /v1.0/me/photo/$value":
		w.Header().Set("Content-Type", "image/png")
		w.Write(g.photo)
	case "GET /v1.0/throttled":
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"error":{"code":"TooManyRequests","message":"slow down"}}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"code":"NotFound","message":%q}}`, r.URL.Path)
	}
}

// TestInteropGraphJavaScript sends a Graph JSON batch built by npm's
// @microsoft/microsoft-graph-client 3.0.7 (BatchRequestContent, with
// dependsOn) to the Handler in Graph mode, and checks what the library's
// BatchResponseContent parsed from our answer.
func TestInteropGraphJavaScript(t *testing.T) {
	skipShort(t)
	node, err := exec.LookPath("node")
	needPeer(t, "node", err)
	dir := "testdata/interop/graph"
	_, err = os.Stat(dir + "/node_modules/@microsoft/microsoft-graph-client/package.json")
	needPeer(t, "npm's @microsoft/microsoft-graph-client", err)

	api := &graphAPI{photo: []byte("\x89PNG\x00\xff")}
	mux := http.NewServeMux()
	mux.Handle("/v1.0/$batch", NewHandlerOptions(api, HandlerOptions{JSONFormat: FormatGraphJSON}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cmd := exec.Command(node, "graph.js", srv.URL)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("graph.js: %v\n%s", err, stderr)
	}
	var res struct {
		Sent struct {
			Requests []struct {
				ID        string
				URL       string
				DependsOn []string
			}
		}
		Got map[string]struct {
			Status      int
			ContentType string
			RetryAfter  *string
			Text        string
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("graph.js output %q: %v", out, err)
	}
	// The library wrote the batch as Graph documents it: paths from the
	// host's root and dependsOn.
	var sent []string
	for _, r := range res.Sent.Requests {
		sent = append(sent, r.ID+" "+r.URL+" "+strings.Join(r.DependsOn, ","))
	}
	wantSent := []string{"1 /v1.0/me/events ", "2 /v1.0/me/events/1 1", "3 /v1.0/me/events/1 1", "4 /v1.0/me/photo/$value 1", "5 /v1.0/throttled 1", "6 /v1.0/me/missing 1"}
	if diff := cmp.Diff(wantSent, sent); diff != "" {
		t.Errorf("the batch the library built (-want +got):\n%s", diff)
	}

	type result struct {
		Status           int
		ContentType      string
		RetryAfter, Text string
		JSON             map[string]any
	}
	got := map[string]result{}
	for id, r := range res.Got {
		g := result{Status: r.Status, ContentType: r.ContentType, Text: r.Text}
		if r.RetryAfter != nil {
			g.RetryAfter = *r.RetryAfter
		}
		if strings.HasPrefix(r.ContentType, "application/json") {
			if err := json.Unmarshal([]byte(r.Text), &g.JSON); err != nil {
				t.Errorf("response %s: %v", id, err)
			}
			g.Text = ""
		}
		got[id] = g
	}
	event := map[string]any{"id": "1", "subject": "Batched"}
	want := map[string]result{
		"1": {Status: 201, ContentType: "application/json", JSON: map[string]any{"id": "1", "subject": "Batch"}},
		"2": {Status: 200, ContentType: "application/json", JSON: event},
		"3": {Status: 200, ContentType: "application/json", JSON: maps.Clone(event)},
		// Not JSON: base64, as Graph sends it.
		"4": {Status: 200, ContentType: "image/png", Text: base64.StdEncoding.EncodeToString([]byte("\x89PNG\x00\xff"))},
		"5": {Status: 429, ContentType: "application/json", RetryAfter: "3", JSON: map[string]any{"error": map[string]any{"code": "TooManyRequests", "message": "slow down"}}},
		"6": {Status: 404, ContentType: "application/json", JSON: map[string]any{"error": map[string]any{"code": "NotFound", "message": "/v1.0/me/missing"}}},
	}
	if got["3"].JSON["subject"] == "Batch" {
		want["3"].JSON["subject"] = "Batch" // 3 ran before 2: both only wait for 1
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what the library parsed (-want +got):\n%s", diff)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.log) != 6 || api.log[0] != "POST /v1.0/me/events" {
		t.Errorf("the calls did not wait for their dependency: %q", api.log)
	}
}
