package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// upgradeSeen is an upstream that records the Upgrade field of each
// request that reaches it, by path.
type upgradeSeen struct {
	mu   sync.Mutex
	seen map[string]string
}

func (u *upgradeSeen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.seen[r.URL.Path] = r.Header.Get("Upgrade")
	u.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// A direct request asking to upgrade to h2c never reaches the upstream
// with that upgrade: an upstream that accepted it would speak HTTP/2 with
// the client on that connection, each of its requests out of the
// gateway's sight (any path, dot segments and all, outside the base
// path). Other upgrades, WebSocket's, still go through.
func TestServeGatewayRefusesH2C(t *testing.T) {
	rec := &upgradeSeen{seen: map[string]string{}}
	up := httptest.NewServer(rec)
	t.Cleanup(up.Close)
	gw := serveGateway(t, up.URL+"/api/v1", nil)
	for path, upgrade := range map[string]string{
		"/h2c":   "h2c",
		"/H2C":   "H2C",
		"/list":  "websocket, h2c",
		"/ver":   "h2c/2",
		"/ws":    "websocket",
		"/plain": "",
	} {
		fields := ""
		if upgrade != "" {
			fields = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: " + upgrade + "\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
		}
		rawGet(t, gw, path, fields)
	}
	want := map[string]string{
		"/api/v1/h2c": "", "/api/v1/H2C": "", "/api/v1/list": "websocket", "/api/v1/ver": "", "/api/v1/ws": "websocket", "/api/v1/plain": "",
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if diff := cmp.Diff(want, rec.seen); diff != "" {
		t.Errorf("the Upgrade field that reached the upstream, by path (-want +got):\n%s", diff)
	}
}

// An upstream that switches protocols where the gateway cannot follow (a
// call of a batch, which asks for no upgrade; a direct request that asked
// for none, or for another protocol) gets its connection closed at once,
// not left open to it until a garbage collection: httputil.ReverseProxy
// answers such a 101 with an error and leaves its connection open
// (golang/go#80875).
func TestServeGatewayClosesUnusable101(t *testing.T) {
	// The gateway must close each connection: the upstream's read timing
	// out means it was left open.
	up, held := tunnelUpstream(t, time.Second)
	gw := serveGateway(t, "http://"+up, nil)
	if got := postBatch(t, gw, gw, nil, "GET /call-ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n", "GET /call HTTP/1.1\r\n"); !cmp.Equal(got, []int{502, 502}) {
		t.Errorf("batch statuses %v, want [502 502]", got)
	}
	// A WebSocket upgrade asked for still goes through: the 101 reaches
	// the client, and the connection closes with the client's.
	want101 := map[string]int{"/direct": 502, "/direct-other": 502, "/direct-ws": 101}
	for path, upgrade := range map[string]string{"/direct": "", "/direct-other": "other", "/direct-ws": "websocket"} {
		fields := ""
		if upgrade != "" {
			fields = "Connection: Upgrade\r\nUpgrade: " + upgrade + "\r\n"
		}
		resp := rawGet(t, gw, path, fields)
		if resp.StatusCode != want101[path] {
			t.Errorf("%s: %s, want %d", path, resp.Status, want101[path])
		}
	}
	var got []string
	for range 5 {
		got = append(got, <-held)
	}
	slices.Sort(got)
	want := []string{"/call-ws: closed", "/call: closed", "/direct-other: closed", "/direct-ws: closed", "/direct: closed"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the upstream's connections after its 101 (-want +got):\n%s", diff)
	}
}

// rawGet sends a GET of path with the CRLF-ended field lines fields to the
// server at addr on a connection of its own, written as is (net/http's
// client would drop or change upgrade fields), and returns the response,
// its body closed with the connection.
func rawGet(t *testing.T, addr, path, fields string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: "+addr+"\r\n"+fields+"\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	resp.Body.Close()
	return resp
}
