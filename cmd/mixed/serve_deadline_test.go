package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// deadlineUpstream is an upstream with a path that never answers, one that
// answers at once and then sends its body in five steps, and one that
// switches to another protocol and answers after five steps.
func deadlineUpstream(t *testing.T, step time.Duration) (u string, hangEnded <-chan struct{}) {
	ended := make(chan struct{}, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hang":
			<-r.Context().Done() // the gateway gave up on it
			ended <- struct{}{}
		case "/slowbody":
			w.WriteHeader(http.StatusOK)
			for i := range 5 {
				http.NewResponseController(w).Flush()
				time.Sleep(step)
				io.WriteString(w, strings.Repeat(string(rune('a'+i)), 10))
			}
		case "/switch":
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			brw.Flush()
			time.Sleep(5 * step)
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString("late " + line)
			brw.Flush()
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(up.Close)
	return up.URL, ended
}

// A direct request whose upstream sends no response head within
// -call-timeout answers 504, and the upstream sees its request end: an
// upstream that hangs cannot hold the gateway's goroutines and
// connections for as long as clients wait. A response that has begun runs
// past the timeout, body and all, and so does a connection switched to
// another protocol.
func TestServeGatewayDirectHeadDeadline(t *testing.T) {
	// Room for a head that comes at once to come in time however slowly
	// the machine runs the test (50 ms was not, for the batch tests'
	// calls), and five steps of the slow paths to outlast it.
	const timeout = 500 * time.Millisecond
	upURL, hangEnded := deadlineUpstream(t, timeout/3)
	gw := serveGateway(t, upURL, func(c *serveConfig) { c.callTimeout = timeout })
	client := &http.Client{Timeout: 20 * time.Second}

	start := time.Now()
	resp, err := client.Get("http://" + gw + "/hang")
	if err != nil {
		t.Fatalf("GET /hang: %v, want 504", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("GET /hang: %s, want 504", resp.Status)
	}
	select {
	case <-hangEnded:
	case <-time.After(10 * time.Second):
		t.Error("the upstream's request to /hang did not end")
	}
	if d := time.Since(start); d < timeout {
		t.Errorf("GET /hang answered after %v, before -call-timeout %v", d, timeout)
	}

	resp, err = client.Get("http://" + gw + "/slowbody")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeee"
	if err != nil || resp.StatusCode != 200 || string(body) != want {
		t.Errorf("GET /slowbody (5/3 × -call-timeout to send): %s %q %v, want 200 %q", resp.Status, body, err, want)
	}

	got := postBatch(t, gw, gw, nil, "GET /hang HTTP/1.1\r\n", "GET /missing HTTP/1.1\r\n")
	if diff := cmp.Diff([]int{504, 404}, got); diff != "" {
		t.Errorf("the calls' statuses (-want +got):\n%s", diff)
	}
	<-hangEnded

	// A switched connection lives past the timeout: the end of the
	// request's context would close the proxy's connection upstream.
	conn, err := net.Dial("tcp", gw)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(conn, "GET /switch HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	sresp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sresp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("GET /switch: %s, want 101", sresp.Status)
	}
	io.WriteString(conn, "hello\n")
	line, err := br.ReadString('\n')
	if line != "late hello\n" || err != nil {
		t.Errorf("the switched connection after 5/3 × -call-timeout: %q %v, want %q", line, err, "late hello\n")
	}
}

// The gateway's proxy answers 504, not 502, an upstream it gave up on at
// the call's deadline (a batch's CallTimeout): when the batch sees the
// deadline only after the call returned, the part carries this status.
func TestProxyErrorAtDeadline(t *testing.T) {
	var logged strings.Builder
	answer := proxyError(log.New(&logged, "", 0))
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	var got []int
	for _, ctx := range []context.Context{expired, cancelled, context.Background()} {
		rec := httptest.NewRecorder()
		answer(rec, httptest.NewRequest("GET", "/x", nil).WithContext(ctx), errors.New("upstream gone"))
		got = append(got, rec.Code)
	}
	if diff := cmp.Diff([]int{504, 502, 502}, got); diff != "" {
		t.Errorf("statuses at a deadline, cancelled, and otherwise (-want +got):\n%s", diff)
	}
}
