//go:build !go1.25

package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// Go 1.24's httputil.ReverseProxy ends a switched connection both ways at
// either side's end: a half close does not pass through, as it does from
// Go 1.25 (serve_tunnel_halfclose_test.go). What the gateway must do then
// is end the tunnel at once, both of its connections, and not leave the
// other side waiting for the idle timeout.

func TestServeTunnelHalfCloseEndsBothWays(t *testing.T) {
	heard := make(chan error, 1)
	up := switchingUpstream(t, func(c net.Conn, br *bufio.Reader, _ *http.Request) {
		io.WriteString(c, "bye")
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := br.ReadString('\n')
		heard <- err
	})
	gw := serveGateway(t, "http://"+up, func(c *serveConfig) { c.tunnelIdleTimeout = time.Minute })
	conn, br := openTunnel(t, gw, "/half")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(br); string(got) != "bye" || err != nil {
		t.Fatalf("read %q, %v; want bye, then the end of the tunnel", got, err)
	}
	if err := <-heard; err != io.EOF {
		t.Errorf("the upstream's read after its half close ended with %v, want EOF: the proxy closed its connection", err)
	}
}

func TestServeTunnelClientHalfCloseEndsBothWays(t *testing.T) {
	heard := make(chan string, 1)
	up := switchingUpstream(t, func(c net.Conn, br *bufio.Reader, _ *http.Request) {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(br)
		if err != nil {
			got = []byte(err.Error())
		}
		heard <- string(got)
	})
	gw := serveGateway(t, "http://"+up, func(c *serveConfig) { c.tunnelIdleTimeout = time.Minute })
	conn, br := openTunnel(t, gw, "/half")
	io.WriteString(conn, "last words")
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(br); len(got) != 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read %q, %v; want the end of the tunnel at once", got, err)
	}
	if got := <-heard; got != "last words" {
		t.Errorf("the upstream read %q, want the client's last words, then the end of the tunnel", got)
	}
}
