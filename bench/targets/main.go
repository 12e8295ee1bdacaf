// Command targets measures issue #14's performance targets on this machine
// and prints them as a Markdown table to paste into the README or the
// issue:
//
//	cd bench && go run ./targets [-rounds N] [-benchtime D] [-run REGEXP] [-o FILE]
//
// It builds the test binaries of the module's root package and of
// ./batch once, then runs N rounds; each round runs every benchmark of
// the table once (`-test.count 1`), so that the two sides of a ratio run
// back to back and the rounds interleave over time: a burst of load from
// elsewhere hits both sides alike. Each ratio is taken within a round; the
// table gives the median over rounds and its range.
//
// Targets are reported, never asserted: the command exits non-zero only
// when it cannot build, run or parse the benchmarks, or when a row of its
// table is missing from their output (the table is then out of step with
// bench_test.go).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const modulePath = "github.com/mixedcodec/mixed"

func main() {
	rounds := flag.Int("rounds", 6, "rounds; each runs every benchmark once")
	benchtime := flag.String("benchtime", "0.5s", "`duration` (or Nx) of each sub-benchmark, as -test.benchtime")
	run := flag.String("run", "", "only the benchmarks whose names (without \"Benchmark\") match this `regexp`")
	outFile := flag.String("o", "", "also write the table to this `file`")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./targets [flags] (from the bench module)\n\nMeasures issue #14's performance targets; see bench/README.md.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 || *rounds < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if !validBenchtime(*benchtime) {
		fmt.Fprintf(os.Stderr, "targets: -benchtime %q: want a duration (0.5s) or a count of iterations (100x)\n", *benchtime)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := measure(ctx, *rounds, *benchtime, *run, *outFile); err != nil {
		fmt.Fprintln(os.Stderr, "targets:", err)
		stop()
		os.Exit(1)
	}
}

func measure(ctx context.Context, rounds int, benchtime, run, outFile string) error {
	start := time.Now()
	selected, err := selectTargets(targets, run)
	if err != nil {
		return err
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "targets-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	m := meta{
		CPUModel:   cpuModel(),
		GoVersion:  goVersion(ctx, root),
		Date:       start.UTC().Format("2006-01-02 15:04 UTC"),
		Commit:     commit(ctx, root),
		Rounds:     rounds,
		Benchtime:  benchtime,
		LoadBefore: loadAverage(),
	}
	groups := groupTargets(selected)
	bins, err := buildBinaries(ctx, root, tmp, groups)
	if err != nil {
		return err
	}

	all := make([][]result, rounds)
	for i := range rounds {
		for j, g := range groups {
			fmt.Fprintf(os.Stderr, "round %d/%d: %s (%d of %d)\n", i+1, rounds, g.Bench, j+1, len(groups))
			out, err := runBench(ctx, bins[g.Pkg], filepath.Join(root, g.Pkg), g.pattern(), benchtime)
			if err != nil {
				return fmt.Errorf("round %d, Benchmark%s: %w", i+1, g.Bench, err)
			}
			if m.GoCPU == "" {
				m.GoCPU = out.CPU
			}
			for _, r := range out.Results {
				r.Pkg = g.Pkg
				all[i] = append(all[i], r)
			}
		}
	}
	m.LoadAfter = loadAverage()
	m.Duration = time.Since(start).Round(time.Second).String()

	rows := evaluate(selected, all)
	var buf bytes.Buffer
	if err := render(&buf, m, rows); err != nil {
		return err
	}
	if _, err := os.Stdout.Write(buf.Bytes()); err != nil {
		return err
	}
	if outFile != "" {
		if err := os.WriteFile(outFile, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	var missing []string
	for _, r := range rows {
		if r.Verdict == notMeasured {
			missing = append(missing, r.Target.Bench+"/"+r.Ours+" against "+r.Base+": "+r.Why)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("rows not measured (is the table in bench/targets/table.go in step with the benchmarks?):\n\t%s", strings.Join(missing, "\n\t"))
	}
	return nil
}

// buildBinaries builds, once per package, the test binary that groups'
// benchmarks run from, into dir; it returns each package's binary.
func buildBinaries(ctx context.Context, root, dir string, groups []group) (map[string]string, error) {
	bins := make(map[string]string)
	for _, g := range groups {
		if bins[g.Pkg] != "" {
			continue
		}
		bin := filepath.Join(dir, binName(g.Pkg))
		fmt.Fprintf(os.Stderr, "building the test binary of %s\n", g.Pkg)
		cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, g.Pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go test -c %s: %v\n%s", g.Pkg, err, out)
		}
		bins[g.Pkg] = bin
	}
	return bins, nil
}

// validBenchtime reports whether testing accepts d as -test.benchtime: a
// positive duration or a count of iterations ("100x").
func validBenchtime(d string) bool {
	if n, ok := strings.CutSuffix(d, "x"); ok {
		i, err := strconv.Atoi(n)
		return err == nil && i > 0
	}
	t, err := time.ParseDuration(d)
	return err == nil && t > 0
}

// selectTargets keeps the targets whose benchmark names match expr.
func selectTargets(ts []target, expr string) ([]target, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("-run: %w", err)
	}
	var out []target
	for _, t := range ts {
		if re.MatchString(t.Bench) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-run %q matches no benchmark of the table", expr)
	}
	return out, nil
}

// group is one benchmark to run, and the sub-benchmarks its rows need.
type group struct {
	Pkg, Bench string
	// Levels holds, for each level of the sub-benchmark path, the
	// patterns of its rows' elements ('*' for any text).
	Levels [][]string
}

// groupTargets gathers the targets by benchmark, in the order of their
// first row.
func groupTargets(ts []target) []group {
	var gs []group
	for _, t := range ts {
		i := 0
		for i < len(gs) && (gs[i].Pkg != t.Pkg || gs[i].Bench != t.Bench) {
			i++
		}
		if i == len(gs) {
			gs = append(gs, group{Pkg: t.Pkg, Bench: t.Bench})
		}
		for _, path := range []string{t.Ours, t.Base} {
			for level, elem := range strings.Split(path, "/") {
				if level == len(gs[i].Levels) {
					gs[i].Levels = append(gs[i].Levels, nil)
				}
				if !slices.Contains(gs[i].Levels[level], elem) {
					gs[i].Levels[level] = append(gs[i].Levels[level], elem)
				}
			}
		}
	}
	return gs
}

// binName names the test binary of pkg: root.test, batch.test.
func binName(pkg string) string {
	if pkg == pkgRoot {
		return "root.test"
	}
	return strings.ReplaceAll(strings.TrimPrefix(pkg, "./"), "/", "_") + ".test"
}

// pattern is the -test.bench expression that runs g's benchmark and only
// the sub-benchmarks its rows compare. testing matches it level by level,
// one '/'-separated expression per level of the name.
func (g group) pattern() string {
	levels := []string{"^Benchmark" + regexp.QuoteMeta(g.Bench) + "$"}
	for _, elems := range g.Levels {
		alts := make([]string, len(elems))
		for i, e := range elems {
			parts := strings.Split(e, "*")
			for j, p := range parts {
				parts[j] = regexp.QuoteMeta(p)
			}
			alts[i] = strings.Join(parts, ".*")
		}
		levels = append(levels, "^(?:"+strings.Join(alts, "|")+")$")
	}
	return strings.Join(levels, "/")
}

// runBench runs the benchmarks that pattern selects, once each.
func runBench(ctx context.Context, bin, dir, pattern, benchtime string) (output, error) {
	cmd := exec.CommandContext(ctx, bin,
		"-test.run", "^$",
		"-test.bench", pattern,
		"-test.benchtime", benchtime,
		"-test.count", "1",
		"-test.benchmem")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return output{}, fmt.Errorf("%s -test.bench %s: %v\n%s%s", filepath.Base(bin), pattern, err, tail(stdout.String()), tail(stderr.String()))
	}
	out, err := parseOutput(&stdout)
	if err != nil {
		return out, fmt.Errorf("parsing the output of -test.bench %s: %w", pattern, err)
	}
	return out, nil
}

// tail keeps the end of a failed run's output, where testing says why.
func tail(s string) string {
	const n = 4000
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// moduleRoot finds the library's directory through the bench module's
// replace directive, wherever the bench module is.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", modulePath).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%v: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return "", fmt.Errorf("finding %s (run from the bench module: cd bench && go run ./targets): %w", modulePath, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("go list found no directory for %s", modulePath)
	}
	return dir, nil
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	return cpuModelOf(data)
}

// cpuModelOf returns the first `model name` of /proc/cpuinfo's text.
func cpuModelOf(cpuinfo []byte) string {
	for line := range strings.Lines(string(cpuinfo)) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func goVersion(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "go", "env", "GOVERSION", "GOOS", "GOARCH")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(out))
	if len(f) != 3 {
		return strings.Join(f, " ")
	}
	return f[0] + " " + f[1] + "/" + f[2]
}

// commit names the checkout measured; uncommitted changes to tracked files
// are said, since the figures then belong to no commit.
func commit(ctx context.Context, root string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown (no git)"
	}
	c := strings.TrimSpace(string(out))
	st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += " with uncommitted changes"
	}
	return "`" + c + "`"
}

// loadAverage returns the 1-minute load average, NaN if unknown.
func loadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return math.NaN()
	}
	return loadAverageOf(data)
}

func loadAverageOf(loadavg []byte) float64 {
	f := strings.Fields(string(loadavg))
	if len(f) == 0 {
		return math.NaN()
	}
	l, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return math.NaN()
	}
	return l
}
