//go:build go1.25

package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Go 1.25's httputil.ReverseProxy passes a half close through a switched
// connection; before, it ended the tunnel both ways at either side's end
// (serve_tunnel_go124_test.go pins what the gateway does then).

// With an idle timeout, an upstream that ends its side of a tunnel still
// hears the client: the proxy half closes the client's connection, and
// the other way runs on, as it does without one.
func TestServeTunnelHalfClose(t *testing.T) {
	heard := make(chan string, 1)
	up := switchingUpstream(t, func(c net.Conn, br *bufio.Reader, _ *http.Request) {
		io.WriteString(c, "bye")
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil {
			line = err.Error()
		}
		heard <- line
	})
	gw := serveGateway(t, "http://"+up, func(c *serveConfig) { c.tunnelIdleTimeout = time.Minute })
	conn, br := openTunnel(t, gw, "/half")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(br); string(got) != "bye" || err != nil {
		t.Fatalf("read %q, %v; want bye, then the end of the upstream's side", got, err)
	}
	io.WriteString(conn, "still here\n")
	if got := <-heard; got != "still here\n" {
		t.Errorf("the upstream heard %q after its half close, want %q", got, "still here\n")
	}
}

// And the other way: a client that ends its side of a tunnel still hears
// the upstream's answer, as without an idle timeout. The upstream's
// connection, which the tunnel wraps, passes on the proxy's CloseWrite;
// without it the proxy ended the tunnel both ways at the client's end,
// and the answer was lost.
func TestServeTunnelClientHalfClose(t *testing.T) {
	up := switchingUpstream(t, func(c net.Conn, br *bufio.Reader, _ *http.Request) {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, _ := io.ReadAll(br) // to the client's end
		io.WriteString(c, "heard "+string(got))
	})
	gw := serveGateway(t, "http://"+up, func(c *serveConfig) { c.tunnelIdleTimeout = time.Minute })
	conn, br := openTunnel(t, gw, "/half")
	io.WriteString(conn, "last words")
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(br); string(got) != "heard last words" || err != nil {
		t.Errorf("read %q, %v; want the upstream's answer to the client's last words", got, err)
	}
}
