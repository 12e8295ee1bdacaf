package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// switchingUpstream is an upstream that answers every request with a raw
// 101 to WebSocket (no handshake: the gateway only copies bytes), then
// hands serve the connection, a reader holding what followed the request,
// and the request, on a goroutine of the connection's own; the connection
// closes when serve returns. It returns the upstream's address.
func switchingUpstream(t *testing.T, serve func(c net.Conn, br *bufio.Reader, req *http.Request)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
				serve(c, br, req)
			}()
		}
	}()
	return ln.Addr().String()
}

// tunnelUpstream is a switchingUpstream that, by path: /push sends a byte
// every step and reads nothing; any other path sends nothing and reads
// what comes. On ended it reports, for each connection, "path: closed"
// once the gateway has closed it, or "path: left open" when it is still
// open after 5 s (a read that timed out; /push only stops when its write
// fails).
func tunnelUpstream(t *testing.T, step time.Duration) (addr string, ended <-chan string) {
	t.Helper()
	ch := make(chan string, 10)
	addr = switchingUpstream(t, func(c net.Conn, br *bufio.Reader, req *http.Request) {
		p := req.URL.Path
		if p == "/push" {
			for {
				time.Sleep(step)
				if _, err := io.WriteString(c, "p"); err != nil {
					ch <- p + ": closed"
					return
				}
			}
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, br); errors.Is(err, os.ErrDeadlineExceeded) {
			ch <- p + ": left open"
		} else {
			ch <- p + ": closed"
		}
	})
	return addr, ch
}

// openTunnel asks the gateway gw for a WebSocket upgrade of path and
// returns the connection once the 101 has come, closed when the test
// ends, with a reader that holds what followed the 101's head.
func openTunnel(t *testing.T, gw, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", gw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: "+gw+"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("%s: %s, want 101", path, resp.Status)
	}
	return conn, br
}

// awaitEnded returns the upstream's next report, or fails the test if
// none comes within d.
func awaitEnded(t *testing.T, ended <-chan string, d time.Duration) string {
	t.Helper()
	select {
	case s := <-ended:
		return s
	case <-time.After(d):
		t.Fatalf("the upstream's connection was not closed within %v", d)
		return ""
	}
}

// A tunnel (a direct request switched to WebSocket) that carries no byte
// either way for -tunnel-idle-timeout is closed on both ends: the client
// reads the end of its connection, and the upstream too. Hijacked, its
// connections are past the server's own timeouts, and without this a
// client could hold any number of idle tunnels, each a goroutine pair, a
// connection to the upstream and two descriptors, for ever.
func TestServeTunnelIdleTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	up, ended := tunnelUpstream(t, timeout/4)
	gw := serveGateway(t, "http://"+up, func(c *serveConfig) { c.tunnelIdleTimeout = timeout })
	start := time.Now() // before the gateway can start its clock
	conn, br := openTunnel(t, gw, "/idle")
	// Generous: the timer fires after 200 ms on an idle machine, but a
	// loaded one under -race may run it late.
	conn.SetReadDeadline(time.Now().Add(15 * timeout))
	_, err := br.ReadByte()
	elapsed := time.Since(start)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the idle tunnel was still open after %v (timeout %v)", elapsed, timeout)
	}
	if err == nil {
		t.Fatal("the idle tunnel carried a byte")
	}
	if elapsed < timeout {
		t.Errorf("the idle tunnel was closed after %v, before its timeout %v", elapsed, timeout)
	}
	if got := awaitEnded(t, ended, 15*timeout); got != "/idle: closed" {
		t.Errorf("upstream: %q, want %q", got, "/idle: closed")
	}
}

// A tunnel with traffic in one direction only stays open past several
// timeouts: a WebSocket that only receives the server's pushes, or only
// sends, is not idle. And it stays open both ways: its client can still
// write, and read.
func TestServeTunnelOneWayTrafficKeepsItOpen(t *testing.T) {
	// A step of a tenth of the timeout: at a quarter, a loaded machine
	// under -race once closed the tunnel of a client that sent at most
	// 147 ms apart.
	const timeout, step = 400 * time.Millisecond, 40 * time.Millisecond
	// Each its own upstream and gateway, so that one's report cannot
	// reach the other.
	start := func(t *testing.T) (string, <-chan string) {
		up, ended := tunnelUpstream(t, step)
		return serveGateway(t, "http://"+up, func(c *serveConfig) { c.tunnelIdleTimeout = timeout }), ended
	}

	t.Run("upstream pushes", func(t *testing.T) {
		gw, ended := start(t)
		conn, br := openTunnel(t, gw, "/push")
		end := time.Now().Add(3 * timeout)
		conn.SetReadDeadline(end)
		n := 0
		for {
			if _, err := br.ReadByte(); err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("the tunnel closed after %d pushes: %v", n, err)
				}
				break
			}
			n++
		}
		if n < 4 {
			t.Fatalf("%d pushes in %v, want a steady flow (one every %v)", n, 3*timeout, step)
		}
		// Still open the other way too.
		if _, err := io.WriteString(conn, "x"); err != nil {
			t.Fatalf("write after the pushes: %v", err)
		}
		conn.Close()
		if got := awaitEnded(t, ended, 10*time.Second); got != "/push: closed" {
			t.Errorf("upstream: %q", got)
		}
	})

	t.Run("client sends", func(t *testing.T) {
		gw, ended := start(t)
		conn, br := openTunnel(t, gw, "/sink")
		var gap time.Duration // the longest between two writes, for a failure's message
		prev := time.Now()
		for end := prev.Add(3 * timeout); time.Now().Before(end); time.Sleep(step) {
			if _, err := io.WriteString(conn, "c"); err != nil {
				t.Fatalf("write: %v", err)
			}
			gap, prev = max(gap, time.Since(prev)), time.Now()
		}
		// Open: a read waits (its deadline passes) rather than ending.
		conn.SetReadDeadline(time.Now().Add(step))
		if _, err := br.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read after sending for %v (at most %v between writes): %v, want the tunnel still open", 3*timeout, gap, err)
		}
		select {
		case got := <-ended:
			t.Fatalf("upstream: %q while the client was still sending", got)
		default:
		}
		conn.Close()
		if got := awaitEnded(t, ended, 10*time.Second); got != "/sink: closed" {
			t.Errorf("upstream: %q", got)
		}
	})
}

// -tunnel-idle-timeout 0 leaves an idle tunnel open.
func TestServeTunnelIdleTimeoutZero(t *testing.T) {
	const wait = 600 * time.Millisecond
	up, ended := tunnelUpstream(t, wait)
	gw := serveGateway(t, "http://"+up, func(c *serveConfig) { c.tunnelIdleTimeout = 0 })
	conn, br := openTunnel(t, gw, "/idle")
	conn.SetReadDeadline(time.Now().Add(wait))
	if _, err := br.ReadByte(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read of an idle tunnel with no idle timeout: %v, want it open after %v", err, wait)
	}
	select {
	case got := <-ended:
		t.Fatalf("upstream: %q, want its connection open", got)
	default:
	}
	conn.Close()
	if got := awaitEnded(t, ended, 10*time.Second); got != "/idle: closed" {
		t.Errorf("upstream: %q", got)
	}
}

// -tunnel-idle-timeout is read, 5m by default, 0 for none, and refused
// when negative; -help documents it.
func TestServeTunnelIdleTimeoutFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 5 * time.Minute},
		{[]string{"-tunnel-idle-timeout", "0"}, 0},
		{[]string{"-tunnel-idle-timeout", "90s"}, 90 * time.Second},
	} {
		a, code := parseServeArgs(tc.args, io.Discard, io.Discard)
		if code >= 0 || a.cfg.tunnelIdleTimeout != tc.want {
			t.Errorf("%q: -tunnel-idle-timeout %v (exit %d), want %v", tc.args, a.cfg.tunnelIdleTimeout, code, tc.want)
		}
	}
	var stderr strings.Builder
	if _, code := parseServeArgs([]string{"-tunnel-idle-timeout", "-1s"}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "-tunnel-idle-timeout") {
		t.Errorf("-tunnel-idle-timeout -1s: exit %d, %q; want 2 and a line naming the flag", code, stderr.String())
	}
	help := runCmd("", "serve", "-help").Stdout
	for _, d := range []string{"-tunnel-idle-timeout 5m", "-tunnel-idle-timeout duration", "(default 5m0s)"} {
		if !strings.Contains(help, d) {
			t.Errorf("serve -help lacks %q", d)
		}
	}
}

// An idle tunnel whose client filled the buffers toward an upstream that
// reads nothing is closed on the upstream's side too, so that the proxy's
// copy, blocked in its write to the upstream, ends, and its handler with
// it: closing the client's connection alone would leave them, and the
// upstream's connection, held for ever.
func TestServeTunnelIdleClosesAStalledUpstream(t *testing.T) {
	const timeout = 200 * time.Millisecond
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	up := switchingUpstream(t, func(net.Conn, *bufio.Reader, *http.Request) {
		<-release // reads nothing, until the test ends
	})
	u, err := parseUpstream("http://" + up)
	if err != nil {
		t.Fatal(err)
	}
	proxy := upstreamHandler(u, io.Discard)
	returned := make(chan struct{})
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy.ServeHTTP(w, r)
		close(returned)
	})
	cfg := defaultConfig()
	cfg.upstream, cfg.tunnelIdleTimeout = u, timeout
	gw := startServe(t, inner, cfg, io.Discard)
	conn, _ := openTunnel(t, gw, "/stall")
	// More than the buffers of both connections hold: the write blocks,
	// and so does the proxy's copy toward the upstream.
	go conn.Write(make([]byte, 64<<20))
	select {
	case <-returned:
	case <-time.After(15 * timeout):
		t.Fatalf("the proxy's handler still runs %v after the tunnel stalled (timeout %v)", 15*timeout, timeout)
	}
}
