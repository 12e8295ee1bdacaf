package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// nodePeers are the JavaScript parsers run by node/run.mjs. They are
// parsers only, so they take part in the "parse" workloads.
var nodePeers = []struct{ Key, Name, Package string }{
	{"mjackson", "@mjackson/multipart-parser", "@mjackson/multipart-parser"},
	{"remix", "@remix-run/multipart-parser", "@remix-run/multipart-parser"},
	{"busboy", "busboy", "busboy"},
	{"meros", "meros", "meros"},
}

type nodeRunner struct {
	bin, dir, tmp string
	manifest      string
	version       string
	versions      map[string]string // package versions reported by run.mjs
	peers         []struct{ Key, Name, Package string }
}

// nodeResult is one line of run.mjs's output.
type nodeResult struct {
	Workload string  `json:"workload"`
	Peer     string  `json:"peer"`
	Status   string  `json:"status"`
	Reason   string  `json:"reason"`
	MBps     float64 `json:"mbps"`
}

// newNodeRunner finds node, installs the locked peers when node_modules is
// missing, and writes the parse workloads where run.mjs can read them. It
// returns nil when Node is off, absent, or no Node peer is selected.
func newNodeRunner(o options, ws []*workload, want func(string) bool) (*nodeRunner, error) {
	if o.node == "off" {
		return nil, nil
	}
	nr := &nodeRunner{dir: o.nodeDir}
	for _, p := range nodePeers {
		if want(p.Key) {
			nr.peers = append(nr.peers, p)
		}
	}
	if len(nr.peers) == 0 {
		return nil, nil
	}
	bin, err := exec.LookPath(o.node)
	if err != nil {
		fmt.Fprintf(os.Stderr, "node not found (%v): skipping the Node peers\n", err)
		return nil, nil
	}
	nr.bin = bin
	v, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("node --version: %w", err)
	}
	nr.version = strings.TrimSpace(string(v))
	if _, err := os.Stat(filepath.Join(nr.dir, "node_modules")); os.IsNotExist(err) {
		fmt.Fprintln(os.Stderr, "installing the Node peers: npm ci in", nr.dir)
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = nr.dir
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("npm ci in %s: %w", nr.dir, err)
		}
	}
	nr.tmp, err = os.MkdirTemp("", "mixed-bench-")
	if err != nil {
		return nil, err
	}
	type mw struct {
		Name string `json:"name"`
		File string `json:"file"`
		Want string `json:"want"`
	}
	var m struct {
		Boundary  string   `json:"boundary"`
		MinMs     float64  `json:"minMs"`
		WarmupMs  float64  `json:"warmupMs"`
		Clock     string   `json:"clock"`
		Peers     []string `json:"peers"`
		Workloads []mw     `json:"workloads"`
	}
	m.Boundary = boundary
	m.Clock = o.clock
	m.MinMs = float64(o.minTime) / float64(time.Millisecond)
	m.WarmupMs = float64(max(o.minTime, minWarmup)) / float64(time.Millisecond)
	for _, p := range nr.peers {
		m.Peers = append(m.Peers, p.Name)
	}
	for _, w := range ws {
		if w.Kind != "parse" {
			continue
		}
		f := filepath.Join(nr.tmp, w.Name+".bin")
		if err := os.WriteFile(f, w.Data, 0o644); err != nil {
			return nil, err
		}
		m.Workloads = append(m.Workloads, mw{w.Name, f, w.Want})
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	nr.manifest = filepath.Join(nr.tmp, "manifest.json")
	if err := os.WriteFile(nr.manifest, b, 0o644); err != nil {
		return nil, err
	}
	return nr, nil
}

// run runs every selected peer on every parse workload once (run.mjs
// verifies each peer's parts against the reference hash, then times it).
func (nr *nodeRunner) run() ([]nodeResult, error) {
	script, err := filepath.Abs(filepath.Join(nr.dir, "run.mjs"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(nr.bin, script, nr.manifest)
	cmd.Dir = nr.dir
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("node run.mjs: %w", err)
	}
	var out struct {
		Versions map[string]string `json:"versions"`
		Results  []nodeResult      `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("node run.mjs output: %w", err)
	}
	nr.versions = out.Versions
	return out.Results, nil
}

func (nr *nodeRunner) cleanup() { os.RemoveAll(nr.tmp) }
