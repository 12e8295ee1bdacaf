package caddybatch

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestInteropRubyGoogleAPIClient runs cmd/mixed's Ruby interop script
// (Google's Ruby client, Debian's ruby-google-api-client 0.50.0, a batch
// of 120 calls through BaseService#batch) against Caddy with the batch
// module in front of reverse_proxy to "mixed serve"'s demo farm API, and
// directly against another "mixed serve", each with a fresh store: every
// callback must receive the same through Caddy as from mixed serve, whose
// answers cmd/mixed's own test checks one by one (issue #22). The inner
// Host the Ruby client writes has no port, which the module must accept.
func TestInteropRubyGoogleAPIClient(t *testing.T) {
	if testing.Short() {
		t.Skip("interop with Google's Ruby client: skipped under -short")
	}
	ruby := findRuby(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "mixed")
	build := exec.Command("go", "build", "-o", bin, "./cmd/mixed")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building mixed: %v\n%s", err, out)
	}
	direct := startMixedServe(t, bin)
	upstream := startMixedServe(t, bin)
	base, _ := startCaddy(t,
		obj{"match": []obj{{"path": []string{"/batch/farm/v1"}}}, "handle": []obj{{"handler": "batch"}}},
		route(proxyTo(upstream)))

	want := runRubyScript(t, ruby, "http://"+direct)
	got := runRubyScript(t, ruby, base)
	if len(want) != 120 {
		t.Fatalf("mixed serve answered %d callbacks, want 120", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("callbacks through Caddy (-mixed serve +Caddy):\n%s", diff)
	}
}

// findRuby returns a ruby that can load Google's client: the first of
// $MIXED_RUBY, ruby on PATH and /usr/bin/ruby (scripts/peers.sh's rule).
func findRuby(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, rb := range []string{os.Getenv("MIXED_RUBY"), "ruby", "/usr/bin/ruby"} {
		if rb == "" {
			continue
		}
		path, err := exec.LookPath(rb)
		if err == nil {
			if err = exec.Command(path, "-e", `require "google/apis/core/base_service"`).Run(); err == nil {
				return path
			}
		}
		tried = append(tried, fmt.Sprintf("%s: %v", rb, err))
	}
	needPeer(t, "Google's Ruby client (sh scripts/peers.sh)", errors.New(strings.Join(tried, "; ")))
	return ""
}

// startMixedServe runs "mixed serve" with its demo API on a free loopback
// port until the test ends, and returns its address.
func startMixedServe(t *testing.T, bin string) string {
	t.Helper()
	cmd := exec.Command(bin, "serve", "-listen", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		// "mixed: serving batches on http://127.0.0.1:PORT/batch"
		if _, rest, ok := strings.Cut(sc.Text(), "serving batches on http://"); ok {
			addr, _, _ := strings.Cut(rest, "/")
			go func() {
				for sc.Scan() { // keep its log flowing
				}
			}()
			return addr
		}
	}
	t.Fatalf("mixed serve did not say where it listens: %v", sc.Err())
	return ""
}

// runRubyScript runs cmd/mixed's farm_batch.rb against base and returns
// the lines it printed, one per callback.
func runRubyScript(t *testing.T, ruby, base string) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ruby, "../cmd/mixed/testdata/interop/ruby/farm_batch.rb", base, "batch/farm/v1", "120")
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !strings.HasSuffix(strings.ToLower(name), "_proxy") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("the Ruby client failed against %s: %v\n%s", base, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a line of the Ruby client's output, %q: %v", line, err)
		}
		lines = append(lines, m)
	}
	return lines
}
