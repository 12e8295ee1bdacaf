package caddybatch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	loadClients  = 32
	loadDuration = 3 * time.Second
	loadCalls    = 20   // calls per batch
	loadBatches  = 2000 // most batches per client
)

// TestLoadTwoProcesses builds cmd/caddy once and runs it twice, two Caddy
// processes with the batch module on two loopback listeners, both in front
// of the same three upstreams; 32 clients send batches to them (client i
// to process i%2) for a few seconds, and every response must be complete
// and correct. It reports the calls per second and each process's peak
// resident memory (VmHWM).
func TestLoadTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("a load test of a few seconds; -short skips it")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "caddy")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/caddy").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/caddy: %v\n%s", err, out)
	}
	a, b, c := newUpstream(t, "a"), newUpstream(t, "b"), newUpstream(t, "c")
	proxy := proxyTo(a.dial(), b.dial(), c.dial())

	var procs []*caddyProc
	for i := range 2 {
		procs = append(procs, startCaddyProc(t, bin, filepath.Join(dir, strconv.Itoa(i)),
			batchRoute(obj{"concurrency": 16}), route(proxy)))
	}

	tr := &http.Transport{MaxIdleConnsPerHost: loadClients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	// One batch to each process first, so that the clock starts once both
	// serve.
	for _, p := range procs {
		if err := checkLoadBatch(client, p.url+"/batch", gets(loadCalls)); err != nil {
			t.Fatalf("%s: %v", p.url, err)
		}
	}
	cpu0 := make([]time.Duration, len(procs))
	for i, p := range procs {
		var err error
		if cpu0[i], err = p.cpu(); err != nil {
			t.Fatal(err)
		}
	}

	var calls, batches atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(loadDuration)
	for i := range loadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := procs[i%2].url + "/batch"
			for n := 0; n < loadBatches && time.Now().Before(deadline) && !failed.Load(); n++ {
				batch := make([]call, loadCalls)
				for k := range batch {
					batch[k] = call{ID: fmt.Sprintf("c%d", k), Method: "GET", Target: fmt.Sprintf("/load/%d/%d/%d", i, n, k)}
				}
				if err := checkLoadBatch(client, url, batch); err != nil {
					if !failed.Swap(true) {
						t.Errorf("client %d, batch %d, to %s: %v", i, n, url, err)
					}
					return
				}
				calls.Add(loadCalls)
				batches.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	var peaks []string
	for i, p := range procs {
		hwm, err := p.peakRSS()
		if err != nil {
			t.Fatal(err)
		}
		cpu, err := p.cpu()
		if err != nil {
			t.Fatal(err)
		}
		peaks = append(peaks, fmt.Sprintf("process %d %.1f MiB, %.2f s CPU", i+1, float64(hwm)/(1<<20), (cpu-cpu0[i]).Seconds()))
		if hwm > 1<<30 {
			t.Errorf("process %d peaked at %d bytes", i+1, hwm)
		}
	}
	served := a.count() + b.count() + c.count() - 2*loadCalls
	t.Logf("%d clients, %d batches of %d calls in %v: %.0f calls/s; upstreams served %d, %d, %d; peak RSS (VmHWM) and CPU time under load: %s",
		loadClients, batches.Load(), loadCalls, elapsed.Round(time.Millisecond),
		float64(calls.Load())/elapsed.Seconds(), a.count(), b.count(), c.count(), strings.Join(peaks, "; "))
	if int64(served) != calls.Load() && !failed.Load() {
		t.Errorf("upstreams served %d calls, clients got %d answers", served, calls.Load())
	}
}

// checkLoadBatch sends a batch and checks that every call is answered, in
// order, by an upstream that saw the call's path.
func checkLoadBatch(client *http.Client, url string, batch []call) error {
	status, parts, err := postBatch(client, url, batch, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("status %d", status)
	}
	if len(parts) != len(batch) {
		return fmt.Errorf("%d parts for %d calls", len(parts), len(batch))
	}
	for k, p := range parts {
		e, err := readEcho(p.Body)
		if p.ContentID != "response-"+batch[k].ID || p.Status != http.StatusOK || err != nil || e.Path != batch[k].Target {
			return fmt.Errorf("part %d: Content-ID %q, status %d, body %q; want the answer to %s %s",
				k, p.ContentID, p.Status, p.Body, batch[k].ID, batch[k].Target)
		}
	}
	return nil
}

// A caddyProc is a Caddy process that serves on a loopback listener this
// test made and passed to it (as fd 3), so that it is ready to accept as
// soon as it starts.
type caddyProc struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
}

func startCaddyProc(t *testing.T, bin, dir string, routes ...obj) *caddyProc {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	l.Close() // f, a duplicate, keeps the socket listening
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	cfg := map[string]any{}
	if err := json.Unmarshal(config(dir, filepath.Join(dir, "batch.log"), routes...), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["admin"] = obj{"disabled": true, "config": obj{"persist": false}}
	cfg["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)["test"].(map[string]any)["listen"] = []string{"fd/3"}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(file, js, 0o644); err != nil {
		t.Fatal(err)
	}

	p := &caddyProc{url: "http://" + l.Addr().String(), stderr: new(bytes.Buffer)}
	p.cmd = exec.Command(bin, "run", "--config", file)
	p.cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	p.cmd.ExtraFiles = []*os.File{f}
	p.cmd.Stderr = p.stderr // read only after Wait
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("caddy %s stderr:\n%s", p.url, p.stderr)
		}
	})
	return p
}

// peakRSS is the process's peak resident set size (VmHWM), in bytes.
func (p *caddyProc) peakRSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", p.cmd.Process.Pid)
}

// cpu is the user and system CPU time the process has used.
func (p *caddyProc) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses:
	// utime and stime are the 12th and 13th, in clock ticks (USER_HZ,
	// 100 on Linux).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", p.cmd.Process.Pid, b)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q", p.cmd.Process.Pid, b)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
