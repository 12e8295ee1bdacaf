//go:build unix

package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlock matches a fenced sh block of the README.
var readmeBlock = regexp.MustCompile("(?s)```sh\n(.*?)```")

// readmeWants gives, for a block that holds the key, what its output must
// contain.
var readmeWants = map[string][]string{
	"decode testdata/calendar-batch-response.http":              {`"status":200`, `etag/pony`},
	"people-batch-request.http | go run ./cmd/mixed encode   #": {"POST /batch HTTP/1.1", `boundary="batch_people"`},
	`"dependsOn":["1"]}]}'`:                                     {`{"responses":[`, `"etag/pony"`, `"id":"2","status":200`},
	"jsonbatch/graph-request.json": {"GET /me/planner/tasks HTTP/1.1", "Content-ID: 5", `"atomicityGroup":"group1"`,
		"Content-Type: application/json\r\nContent-Length: 341", `{"id":"2","method":"GET","url":"/v1/people/c123456789012345?personFields=emailAddresses"`},
	"testdata/calendar-batch-request.body": {"HTTP/1.1 200 OK", `"etag/sheep"`, "HTTP/1.1 304 Not Modified"},
	"testdata/farm-changeset.mixed":        {"412"},
}

// TestREADMESnippets runs, under sh, every sh block of the README that uses
// the command (decode, encode, serve) or curl, as a reader would paste it:
// "go run ./cmd/mixed" is a binary built once here, and serve listens on a
// random port instead of 127.0.0.1:8080. Lines that run go test are left
// out (they would run this test again), and so is the block that runs
// Caddy. Every sh block must still be plain sh: no bash process
// substitution. Each block runs in its own process
// group, killed at its end with the serve it started in the background.
// Under -short the blocks are found and checked, not run.
func TestREADMESnippets(t *testing.T) {
	t.Parallel() // mostly waiting for go build
	for _, tool := range []string{"sh", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not available in CI: %v", tool, err)
			}
			t.Skipf("the README's snippets need %s: %v", tool, err)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range readmeBlock.FindAllStringSubmatch(string(readme), -1) {
		if strings.Contains(m[1], "<(") {
			t.Errorf("a README sh block uses bash process substitution:\n%s", m[1])
		}
		// Caddy's block builds another module (minutes, and its
		// dependencies): the caddy module's own tests cover it.
		if regexp.MustCompile(`mixed serve|curl|decode|encode`).MatchString(m[1]) && !strings.Contains(m[1], "cmd/caddy") {
			blocks = append(blocks, m[1])
		}
	}
	if len(blocks) < 3 {
		t.Fatalf("found %d sh blocks that use the command in the README, want at least 3", len(blocks))
	}
	for key := range readmeWants {
		if !strings.Contains(string(readme), key) {
			t.Errorf("no README snippet holds %q any more: update readmeWants", key)
		}
	}

	if testing.Short() {
		t.Skip("-short: the blocks are checked but not run (a go build, then a serve per block)")
	}

	bin := filepath.Join(t.TempDir(), "mixed")
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	for i, block := range blocks {
		addr := freeAddr(t)
		script := block
		script = strings.ReplaceAll(script, "go run ./cmd/mixed serve", bin+" serve -listen "+addr)
		script = strings.ReplaceAll(script, "go run ./cmd/mixed", bin)
		script = strings.ReplaceAll(script, "127.0.0.1:8080", addr)
		var lines []string
		for _, line := range strings.Split(script, "\n") {
			if !strings.HasPrefix(line, "go test ") {
				lines = append(lines, line)
			}
		}
		script = "set -e\n" + strings.Join(lines, "\n")
		t.Run(strings.TrimSpace(strings.SplitN(block, "\n", 2)[0]), func(t *testing.T) {
			out := runSh(t, script)
			if t.Failed() {
				return
			}
			if strings.TrimSpace(out) == "" {
				t.Errorf("block %d printed nothing:\n%s", i, block)
			}
			for key, wants := range readmeWants {
				if !strings.Contains(block, key) {
					continue
				}
				for _, want := range wants {
					if !strings.Contains(out, want) {
						t.Errorf("block %d's output lacks %q:\n%s\noutput:\n%s", i, want, block, out)
					}
				}
			}
		})
	}
}

// freeAddr returns a 127.0.0.1 address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runSh runs script with sh from the repository root in a process group
// of its own, kills the group when the script ends (or after a minute),
// and returns what it printed.
func runSh(t *testing.T, script string) string {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = "../.."
	// A file, not a pipe: a server left in the background keeps its
	// output open, and Wait would wait for it.
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	defer kill()
	timer := time.AfterFunc(time.Minute, kill)
	defer timer.Stop()
	err = cmd.Wait()
	b, rerr := os.ReadFile(out.Name())
	if rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Errorf("sh failed: %v\nscript:\n%s\noutput:\n%s", err, script, b)
	}
	return string(b)
}
