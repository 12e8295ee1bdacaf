package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Tunnels closed by the idle timer, and requests asking for an upgrade
// that the upstream refuses (a 426, or a 200 that streams), leave no
// goroutine of the gateway behind: a tunnel's timer, copies and upstream
// connection all end with it.
func TestServeTunnelNoGoroutineLeftAttack19(t *testing.T) {
	const timeout = 100 * time.Millisecond
	up, ended := tunnelUpstream(t, timeout/4)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "x")
			http.NewResponseController(w).Flush()
			time.Sleep(3 * timeout)
			return
		}
		w.WriteHeader(http.StatusUpgradeRequired)
	}))
	defer refusing.Close()
	gw := serveGateway(t, "http://"+up, func(c *serveConfig) { c.tunnelIdleTimeout = timeout })
	gw2 := serveGateway(t, refusing.URL, func(c *serveConfig) { c.tunnelIdleTimeout = timeout })
	// Warm both up, so that what the first requests start once (the
	// transports' and servers' own) counts in before.
	for range 2 {
		conn, _ := openTunnel(t, gw, "/idle")
		if got := awaitEnded(t, ended, 50*timeout); got != "/idle: closed" {
			t.Fatalf("upstream: %q", got)
		}
		conn.Close()
	}
	refused := func(path string) {
		conn, err := net.Dial("tcp", gw2)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: "+gw2+"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if path == "/stream" && (resp.StatusCode != 200 || string(b) != "x") {
			t.Errorf("%s: %d %q", path, resp.StatusCode, b)
		}
	}
	refused("/refuse")
	runtime.GC()
	before := runtime.NumGoroutine()
	const n = 8
	for range n {
		conn, _ := openTunnel(t, gw, "/idle")
		defer conn.Close()
		refused("/refuse")
		refused("/stream")
	}
	for range n {
		if got := awaitEnded(t, ended, 50*timeout); got != "/idle: closed" {
			t.Fatalf("upstream: %q", got)
		}
	}
	var after int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if after = runtime.NumGoroutine(); after <= before {
			return
		}
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	var mine []string
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "cmd/mixed") || strings.Contains(g, "httputil") {
			mine = append(mine, g)
		}
	}
	t.Errorf("%d goroutines before %d tunnels and %d refused upgrades, %d after:\n%s", before, n, 2*n, after, strings.Join(mine, "\n\n"))
}
