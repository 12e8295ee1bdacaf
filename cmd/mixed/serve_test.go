package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The demo store is bounded: PUT bodies past farmMaxBody answer 413, and
// a PUT that would create an animal past farmMaxAnimals answers 507,
// while replacing one still works.
func TestFarmLimits(t *testing.T) {
	f := newFarm()
	put := func(name, body string) int {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("PUT", "/farm/v1/animals/"+name, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		f.ServeHTTP(w, r)
		return w.Code
	}
	animal := `{"animalAge":1,"peltColor":"red"}`
	long := `{"animalAge":1,"peltColor":"` + strings.Repeat("x", farmMaxBody) + `"}`
	edge := `{"animalAge":1,"peltColor":"` + strings.Repeat("x", farmMaxBody-len(animal)+len("red")) + `"}`
	if len(edge) != farmMaxBody {
		t.Fatalf("edge body is %d bytes", len(edge))
	}
	if diff := cmp.Diff([]int{413, 404, 201}, []int{put("big", long), get(f, "big"), put("edge", edge)}); diff != "" {
		t.Errorf("body limit (-want +got):\n%s", diff)
	}
	// The store holds pony, sheep and edge: fill it up.
	for i := len(f.animals); i < farmMaxAnimals; i++ {
		if code := put("a"+strconv.Itoa(i), animal); code != 201 {
			t.Fatalf("animal %d: %d", i, code)
		}
	}
	if diff := cmp.Diff([]int{507, 404, 200, 204, 201, 507}, []int{
		put("one-more", animal), get(f, "one-more"),
		put("pony", animal), // replacing is not growing
		del(f, "sheep"), put("one-more", animal), put("two-more", animal),
	}); diff != "" {
		t.Errorf("count limit (-want +got):\n%s", diff)
	}
	if len(f.animals) != farmMaxAnimals {
		t.Errorf("%d animals, want %d", len(f.animals), farmMaxAnimals)
	}
}

func get(f *farm, name string) int {
	w := httptest.NewRecorder()
	f.ServeHTTP(w, httptest.NewRequest("GET", "/farm/v1/animals/"+name, nil))
	return w.Code
}

func del(f *farm, name string) int {
	w := httptest.NewRecorder()
	f.ServeHTTP(w, httptest.NewRequest("DELETE", "/farm/v1/animals/"+name, nil))
	return w.Code
}

// Through a batch, the limits answer in the call's part.
func TestServeFarmLimits(t *testing.T) {
	addr := startServe(t, newFarm(), defaultConfig(), io.Discard)
	long := `{"peltColor":"` + strings.Repeat("x", farmMaxBody) + `"}`
	body := "--b\r\nContent-Type: application/http\r\n\r\nPUT /farm/v1/animals/big HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(long)) + "\r\n\r\n" + long + "\r\n--b--\r\n"
	req, _ := http.NewRequest("POST", "http://"+addr+"/batch/farm/v1", strings.NewReader(body))
	req.Header.Set("Content-Type", "multipart/mixed; boundary=b")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := responseParts(t, resp); len(got) != 1 || got[0].Status != 413 {
		t.Errorf("parts %+v, want one 413", got)
	}
}

// startServe runs serve on a loopback port until the test ends.
func startServe(t *testing.T, inner http.Handler, cfg serveConfig, log io.Writer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, inner, cfg, log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// serve's server and batch handler get the timeouts of its flags, and
// its error log writes text lines to serve's log.
func TestServeOptions(t *testing.T) {
	cfg := defaultConfig()
	cfg.readTimeout, cfg.writeTimeout, cfg.idleTimeout, cfg.callTimeout = 1*time.Second, 2*time.Second, 3*time.Second, 4*time.Second
	var log bytes.Buffer
	srv := newServer(cfg, http.NotFoundHandler(), &log)
	got := []time.Duration{srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout}
	if diff := cmp.Diff([]time.Duration{defaultReadHeaderTimeout, 1 * time.Second, 2 * time.Second, 3 * time.Second}, got); diff != "" {
		t.Errorf("server timeouts (-want +got):\n%s", diff)
	}
	f := newFarm()
	opts := handlerOptions(cfg, f, &log)
	if opts.CallTimeout != 4*time.Second || opts.BeginGroup == nil || !opts.Changesets || !opts.ResultReferences || opts.HaltHeader != haltHeader {
		t.Errorf("handler options %+v", opts)
	}
	opts.ErrorLog.Error("batch: panic in a call", "panic", "boom")
	srv.ErrorLog.Print("http: TLS handshake error")
	want := "level=ERROR msg=\"batch: panic in a call\" panic=boom\n"
	if _, line, _ := strings.Cut(log.String(), " "); !strings.HasPrefix(line, want) || !strings.Contains(log.String(), "level=ERROR msg=\"http: TLS handshake error\"") {
		t.Errorf("log %q, want text lines like %q", log.String(), want)
	}
	// The defaults are those -help prints.
	d := defaultConfig()
	if diff := cmp.Diff([]time.Duration{2 * time.Minute, 10 * time.Minute, 2 * time.Minute, 60 * time.Second}, []time.Duration{d.readTimeout, d.writeTimeout, d.idleTimeout, d.callTimeout}); diff != "" {
		t.Errorf("default timeouts (-want +got):\n%s", diff)
	}
}

// A client that trickles a batch body is cut off when the read timeout
// passes: its connection is closed.
func TestServeReadTimeout(t *testing.T) {
	cfg := defaultConfig()
	cfg.readTimeout = 300 * time.Millisecond
	addr := startServe(t, newFarm(), cfg, io.Discard)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	head := "POST /batch/farm/v1 HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Length: 1000000\r\n\r\n" +
		"--b\r\nContent-Type: application/http\r\n\r\nPUT /farm/v1/animals/x HTTP/1.1\r\nContent-Length: 900000\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	// A failsafe against a hang: the server must close long before.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = io.ReadAll(conn)
	elapsed := time.Since(start)
	close(stop)
	<-trickled
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection stayed open for %v while the client trickled", elapsed)
	}
	if elapsed < cfg.readTimeout {
		t.Errorf("the connection closed after %v, before the read timeout %v", elapsed, cfg.readTimeout)
	}
}
