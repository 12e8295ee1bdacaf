package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

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
	cfg := defaultConfig()
	u, err := parseUpstream(up.URL + "/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	cfg.upstream = u
	gw := startServe(t, upstreamHandler(u, io.Discard), cfg, io.Discard)
	for path, upgrade := range map[string]string{
		"/h2c":   "h2c",
		"/H2C":   "H2C",
		"/list":  "websocket, h2c",
		"/ver":   "h2c/2",
		"/ws":    "websocket",
		"/plain": "",
	} {
		conn, err := net.Dial("tcp", gw)
		if err != nil {
			t.Fatal(err)
		}
		req := "GET " + path + " HTTP/1.1\r\nHost: " + gw + "\r\n"
		if upgrade != "" {
			req += "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: " + upgrade + "\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
		}
		io.WriteString(conn, req+"\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		resp.Body.Close()
		conn.Close()
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
