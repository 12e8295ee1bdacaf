package main

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sampleOutput is hand-written in the format `go test -bench` prints,
// with what the command meets in practice: custom units, sub-benchmarks
// two levels deep, a sub-benchmark name ending in "-read", the
// -GOMAXPROCS suffix present and absent, a benchmark's log between its
// name and its result, and a result whose twin is missing.
const sampleOutput = `goos: linux
goarch: amd64
pkg: github.com/mixedcodec/mixed
cpu: Intel(R) Xeon(R) CPU @ 2.20GHz
BenchmarkReadBatch/impl=mixed-2         	    3000	    400000 ns/op	 900.50 MB/s	       0 B/op	       0 allocs/op
BenchmarkReadBatch/impl=std-2           	     300	   3600000 ns/op	 100.05 MB/s	 2000000 B/op	   20000 allocs/op
BenchmarkReadLarge/impl=mixed-read-2    	     100	  10000000 ns/op	1677.72 MB/s	       0 B/op	       0 allocs/op
BenchmarkAdversarial/case=skip1-byte-flood/input=attack-2         	     500	   2000000 ns/op
BenchmarkAdversarial/case=skip1-byte-flood/input=twin-2           	     500	   1000000 ns/op
BenchmarkBatchLoopback/way=batch-2      	      12	   8873142 ns/op	    112698 calls/s	     12101 cpu-ns/call	 1784220 B/op	   17380 allocs/op
BenchmarkWriteBatch/impl=mixed
    bench_test.go:99: a benchmark's log
BenchmarkWriteBatch/impl=mixed          	    5000	    250000 ns/op	       0 B/op	       0 allocs/op
BenchmarkReadBatchHTTP/impl=mixed-2     	    2000	    600000 ns/op	       0 B/op	       0 allocs/op
PASS
ok  	github.com/mixedcodec/mixed	12.345s
`

func TestParseOutput(t *testing.T) {
	got, err := parseOutput(strings.NewReader(sampleOutput))
	if err != nil {
		t.Fatal(err)
	}
	want := output{
		CPU: "Intel(R) Xeon(R) CPU @ 2.20GHz",
		Results: []result{
			{Name: "ReadBatch/impl=mixed", Procs: 2, Iters: 3000, Values: map[string]float64{"ns/op": 400000, "MB/s": 900.50, "B/op": 0, "allocs/op": 0}},
			{Name: "ReadBatch/impl=std", Procs: 2, Iters: 300, Values: map[string]float64{"ns/op": 3600000, "MB/s": 100.05, "B/op": 2000000, "allocs/op": 20000}},
			{Name: "ReadLarge/impl=mixed-read", Procs: 2, Iters: 100, Values: map[string]float64{"ns/op": 10000000, "MB/s": 1677.72, "B/op": 0, "allocs/op": 0}},
			{Name: "Adversarial/case=skip1-byte-flood/input=attack", Procs: 2, Iters: 500, Values: map[string]float64{"ns/op": 2000000}},
			{Name: "Adversarial/case=skip1-byte-flood/input=twin", Procs: 2, Iters: 500, Values: map[string]float64{"ns/op": 1000000}},
			{Name: "BatchLoopback/way=batch", Procs: 2, Iters: 12, Values: map[string]float64{"ns/op": 8873142, "calls/s": 112698, "cpu-ns/call": 12101, "B/op": 1784220, "allocs/op": 17380}},
			{Name: "WriteBatch/impl=mixed", Procs: 1, Iters: 5000, Values: map[string]float64{"ns/op": 250000, "B/op": 0, "allocs/op": 0}},
			{Name: "ReadBatchHTTP/impl=mixed", Procs: 2, Iters: 2000, Values: map[string]float64{"ns/op": 600000, "B/op": 0, "allocs/op": 0}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseOutput (-want +got):\n%s", diff)
	}
}

func TestParseOutputErrors(t *testing.T) {
	for _, line := range []string{
		"BenchmarkX-2 \t 100 \t 1234 ns/op \t 5",          // a value without its unit
		"BenchmarkX-2 \t 100 \t twelve ns/op",             // a value that is no number
		"BenchmarkX-2 \t 100",                             // no measurement at all
		"Benchmark-2 \t 100 \t 1234 ns/op",                // no name
		"BenchmarkX-2 \t 100 \t 1234 ns/op \t 1e400 B/op", // out of range
	} {
		if out, err := parseOutput(strings.NewReader("cpu: x\n" + line + "\n")); err == nil {
			t.Errorf("parseOutput(%q) = %+v, want an error", line, out)
		}
	}
}

func TestSplitProcs(t *testing.T) {
	for _, c := range []struct {
		in    string
		name  string
		procs int
	}{
		{"ReadBatch/impl=mixed-2", "ReadBatch/impl=mixed", 2},
		{"ReadBatch/impl=mixed-64", "ReadBatch/impl=mixed", 64},
		{"ReadBatch/impl=mixed", "ReadBatch/impl=mixed", 1},
		{"ReadLarge/impl=mixed-read", "ReadLarge/impl=mixed-read", 1},
		{"ReadLarge/impl=mixed-read-8", "ReadLarge/impl=mixed-read", 8},
		{"Adversarial/case=skip1-byte-flood/input=attack-2", "Adversarial/case=skip1-byte-flood/input=attack", 2},
		{"X-0", "X-0", 1},
	} {
		name, procs := splitProcs(c.in)
		if name != c.name || procs != c.procs {
			t.Errorf("splitProcs(%q) = %q, %d; want %q, %d", c.in, name, procs, c.name, c.procs)
		}
	}
}

func TestSummarize(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want summary
	}{
		{[]float64{3}, summary{3, 3, 3}},
		{[]float64{9, 7, 10}, summary{9, 7, 10}},
		{[]float64{10, 7, 9, 8}, summary{8.5, 7, 10}},
		{[]float64{5, 1, 5, 5, 2, 9}, summary{5, 1, 9}},
	} {
		in := append([]float64(nil), c.in...)
		if diff := cmp.Diff(c.want, summarize(c.in)); diff != "" {
			t.Errorf("summarize(%v) (-want +got):\n%s", c.in, diff)
		}
		if diff := cmp.Diff(in, c.in); diff != "" {
			t.Errorf("summarize changed its argument (-want +got):\n%s", diff)
		}
	}
}

func TestDecide(t *testing.T) {
	atLeast := target{Op: opAtLeast, Want: 8}
	atLeastZero := target{Op: opAtLeast, Want: 10, ZeroAllocs: true}
	atMost := target{Op: opAtMost, Want: 2}
	for _, c := range []struct {
		t      target
		median float64
		allocs float64
		want   verdict
	}{
		{atLeast, 7.99, 5, missed},
		{atLeast, 8, 5, met},
		{atLeast, 8.01, 5, met},
		{atLeastZero, 9.99, 0, missed},
		{atLeastZero, 10, 0, met},
		{atLeastZero, 10.01, 0, met},
		{atLeastZero, 12, 1, missed},
		{atLeastZero, 12, -1, missed}, // allocations not reported: no 0 to claim
		{atMost, 1.99, 0, met},
		{atMost, 2, 0, met},
		{atMost, 2.01, 0, missed},
		{target{}, 0.1, 3, noTarget},
	} {
		if got := decide(c.t, c.median, c.allocs); got != c.want {
			t.Errorf("decide(%+v, %v, %v) = %v, want %v", c.t, c.median, c.allocs, got, c.want)
		}
	}
}

func TestRatio(t *testing.T) {
	ours := result{Values: map[string]float64{"ns/op": 250, "calls/s": 100000}}
	base := result{Values: map[string]float64{"ns/op": 1000, "calls/s": 20000}}
	for _, c := range []struct {
		t    target
		want float64
		ok   bool
	}{
		{target{}, 4, true},                              // a quarter of the time: 4× as fast
		{target{Unit: "ns/op"}, 4, true},                 // the same, named
		{target{Unit: "calls/s"}, 5, true},               // a rate: ours over base
		{target{Cost: true}, 0.25, true},                 // a quarter of the time
		{target{Unit: "calls/s", Cost: true}, 0.2, true}, // a fifth of the time per call
		{target{Unit: "MB/s"}, 0, false},                 // a unit neither reports
	} {
		got, ok := ratio(c.t, ours, base)
		if got != c.want || ok != c.ok {
			t.Errorf("ratio(%+v) = %v, %v; want %v, %v", c.t, got, ok, c.want, c.ok)
		}
	}
	if _, ok := ratio(target{}, result{Values: map[string]float64{"ns/op": 0}}, base); ok {
		t.Errorf("ratio with 0 ns/op: ok, want no ratio")
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		v             string
		ok            bool
	}{
		{"impl=mixed", "impl=mixed", "", true},
		{"impl=mixed", "impl=mixed-read", "", false},
		{"case=*/input=attack", "case=crlf-flood/input=attack", "crlf-flood", true},
		{"case=*/input=attack", "case=crlf-flood/input=twin", "", false},
		{"case=*/input=attack", "case=/input=attack", "", false},
		{"case=*/input=attack", "case=a/b/input=attack", "", false},
		{"case=*/input=attack", "case=attack", "", false},
	} {
		v, ok := match(c.pattern, c.name)
		if v != c.v || ok != c.ok {
			t.Errorf("match(%q, %q) = %q, %v; want %q, %v", c.pattern, c.name, v, ok, c.v, c.ok)
		}
	}
}

// res is a result of pkg named name with unit-value pairs.
func res(pkg, name string, kv ...any) result {
	r := result{Pkg: pkg, Name: name, Procs: 2, Iters: 100, Values: map[string]float64{}}
	for i := 0; i < len(kv); i += 2 {
		r.Values[kv[i].(string)] = kv[i+1].(float64)
	}
	return r
}

// testTargets covers each kind of row: a speedup with 0 allocs, a rate, a
// cost with a '*', one row whose twin is missing, one that never ran, and
// one without target.
var testTargets = []target{
	{Pkg: pkgRoot, Bench: "ReadBatch", Ours: "impl=mixed", Base: "impl=std", With: "`mime/multipart`", Op: opAtLeast, Want: 8, ZeroAllocs: true},
	{Pkg: pkgBatch, Bench: "BatchLoopback", Ours: "way=batch", Base: "way=sequential", With: "sequential calls", Unit: "calls/s", Op: opAtLeast, Want: 5},
	{Pkg: pkgRoot, Bench: "Adversarial", Ours: "case=*/input=attack", Base: "case=*/input=twin", With: "ordinary input", Cost: true, Op: opAtMost, Want: 2},
	{Pkg: pkgRoot, Bench: "ReadBatchHTTP", Ours: "impl=mixed", Base: "impl=std", With: "std", Op: opAtLeast, Want: 10, ZeroAllocs: true},
	{Pkg: pkgRoot, Bench: "ReadRequest", Ours: "impl=mixed", Base: "impl=std", With: "`http.ReadRequest`", Op: opAtLeast, Want: 10},
	{Pkg: pkgRoot, Bench: "ReadLarge", Ours: "impl=bytes", Label: "BytesReader", Base: "impl=limit", With: "the limit"},
}

// testRounds are three rounds of results for testTargets.
func testRounds() [][]result {
	return [][]result{
		{
			res(pkgRoot, "ReadBatch/impl=mixed", "ns/op", 400.0, "allocs/op", 0.0),
			res(pkgRoot, "ReadBatch/impl=std", "ns/op", 3600.0, "allocs/op", 200.0),
			res(pkgBatch, "BatchLoopback/way=batch", "ns/op", 1e7, "calls/s", 100000.0),
			res(pkgBatch, "BatchLoopback/way=sequential", "ns/op", 5e7, "calls/s", 20000.0),
			res(pkgRoot, "Adversarial/case=near-delims/input=attack", "ns/op", 2500.0, "allocs/op", 0.0),
			res(pkgRoot, "Adversarial/case=near-delims/input=twin", "ns/op", 1000.0, "allocs/op", 0.0),
			res(pkgRoot, "Adversarial/case=crlf-flood/input=attack", "ns/op", 500.0, "allocs/op", 0.0),
			res(pkgRoot, "Adversarial/case=crlf-flood/input=twin", "ns/op", 1000.0, "allocs/op", 0.0),
			res(pkgRoot, "ReadBatchHTTP/impl=mixed", "ns/op", 600.0, "allocs/op", 0.0),
			res(pkgRoot, "ReadLarge/impl=bytes", "ns/op", 1000.0, "allocs/op", 0.0),
			res(pkgRoot, "ReadLarge/impl=limit", "ns/op", 3000.0, "allocs/op", 0.0),
			// Same names in the other package: not ours.
			res(pkgBatch, "ReadBatch/impl=std", "ns/op", 1.0),
		},
		{
			res(pkgRoot, "ReadBatch/impl=mixed", "ns/op", 500.0, "allocs/op", 1.0),
			res(pkgRoot, "ReadBatch/impl=std", "ns/op", 3500.0, "allocs/op", 200.0),
			res(pkgBatch, "BatchLoopback/way=batch", "ns/op", 1e7, "calls/s", 90000.0),
			res(pkgBatch, "BatchLoopback/way=sequential", "ns/op", 5e7, "calls/s", 20000.0),
			res(pkgRoot, "Adversarial/case=near-delims/input=attack", "ns/op", 1500.0, "allocs/op", 0.0),
			res(pkgRoot, "Adversarial/case=near-delims/input=twin", "ns/op", 1000.0, "allocs/op", 0.0),
			res(pkgRoot, "Adversarial/case=crlf-flood/input=attack", "ns/op", 500.0, "allocs/op", 0.0),
			// crlf-flood's twin is missing from this round.
			res(pkgRoot, "ReadBatchHTTP/impl=mixed", "ns/op", 600.0, "allocs/op", 0.0),
			res(pkgRoot, "ReadLarge/impl=bytes", "ns/op", 1000.0, "allocs/op", 0.0),
			res(pkgRoot, "ReadLarge/impl=limit", "ns/op", 2000.0, "allocs/op", 0.0),
		},
		{
			res(pkgRoot, "ReadBatch/impl=mixed", "ns/op", 400.0, "allocs/op", 0.0),
			res(pkgRoot, "ReadBatch/impl=std", "ns/op", 4000.0, "allocs/op", 200.0),
			res(pkgBatch, "BatchLoopback/way=batch", "ns/op", 1e7, "calls/s", 120000.0),
			res(pkgBatch, "BatchLoopback/way=sequential", "ns/op", 5e7, "calls/s", 20000.0),
			res(pkgRoot, "Adversarial/case=near-delims/input=attack", "ns/op", 3000.0, "allocs/op", 0.0),
			res(pkgRoot, "Adversarial/case=near-delims/input=twin", "ns/op", 1000.0, "allocs/op", 0.0),
			res(pkgRoot, "Adversarial/case=crlf-flood/input=attack", "ns/op", 750.0, "allocs/op", 0.0),
			res(pkgRoot, "Adversarial/case=crlf-flood/input=twin", "ns/op", 1000.0, "allocs/op", 0.0),
			res(pkgRoot, "ReadBatchHTTP/impl=mixed", "ns/op", 600.0, "allocs/op", 0.0),
			res(pkgRoot, "ReadLarge/impl=bytes", "ns/op", 1000.0, "allocs/op", 0.0),
			res(pkgRoot, "ReadLarge/impl=limit", "ns/op", 4000.0, "allocs/op", 0.0),
		},
	}
}

func TestEvaluate(t *testing.T) {
	got := evaluate(testTargets, testRounds())
	ts := testTargets
	want := []row{
		// 9×, 7×, 10×; one round allocated.
		{Target: ts[0], Ours: "impl=mixed", Base: "impl=std", Ratios: []float64{9, 7, 10}, Allocs: 1, Verdict: missed},
		// 5×, 4.5×, 6× in calls/s: the median is at the target.
		{Target: ts[1], Ours: "way=batch", Base: "way=sequential", Ratios: []float64{5, 4.5, 6}, Allocs: -1, Verdict: met},
		{Target: ts[2], Ours: "case=near-delims/input=attack", Base: "case=near-delims/input=twin", Ratios: []float64{2.5, 1.5, 3}, Allocs: 0, Verdict: missed},
		{Target: ts[2], Ours: "case=crlf-flood/input=attack", Base: "case=crlf-flood/input=twin", Ratios: []float64{0.5, 0.75}, Allocs: 0, Verdict: met},
		{Target: ts[3], Ours: "impl=mixed", Base: "impl=std", Allocs: 0, Verdict: notMeasured, Why: "no twin impl=std with ns/op in the output"},
		{Target: ts[4], Ours: "impl=mixed", Base: "impl=std", Allocs: -1, Verdict: notMeasured, Why: "not in the output"},
		{Target: ts[5], Ours: "impl=bytes", Base: "impl=limit", Ratios: []float64{3, 2, 4}, Allocs: 0, Verdict: noTarget},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("evaluate (-want +got):\n%s", diff)
	}
}

func TestRender(t *testing.T) {
	m := meta{
		CPUModel:   "Intel(R) Xeon(R) CPU @ 2.20GHz",
		GoCPU:      "Intel(R) Xeon(R) CPU @ 2.20GHz",
		GoVersion:  "go1.26.8 linux/amd64",
		Date:       "2026-12-01 11:00 UTC",
		Commit:     "`0a8beaa`",
		Rounds:     3,
		Benchtime:  "0.5s",
		LoadBefore: 1.6,
		LoadAfter:  math.NaN(),
		Duration:   "4m2s",
	}
	var b strings.Builder
	if err := render(&b, m, evaluate(testTargets, testRounds())); err != nil {
		t.Fatal(err)
	}
	want := "### Issue #14's targets on Intel(R) Xeon(R) CPU @ 2.20GHz\n" +
		"\n" +
		"- CPU: Intel(R) Xeon(R) CPU @ 2.20GHz (`model name` in /proc/cpuinfo); Go's benchmark `cpu:` line: Intel(R) Xeon(R) CPU @ 2.20GHz\n" +
		"- Go: go1.26.8 linux/amd64; commit `0a8beaa`; 2026-12-01 11:00 UTC\n" +
		"- 3 rounds, `-benchtime 0.5s`, each pair back to back in each round; ratio: the median over rounds (min–max); allocs/op: ours, the most over rounds; 4m2s in all\n" +
		"- load average (1 min): 1.60 before, unknown after (this run's own load included)\n" +
		"\n" +
		"**Warning: the machine was busy (load average above 1.5 before or 2.5 after): other processes skew these figures; measure again when it is quiet.**\n" +
		"\n" +
		"| benchmark | compared with | ratio: median (min–max) | allocs/op | target | met |\n" +
		"| --- | --- | --- | --- | --- | --- |\n" +
		"| `ReadBatch` impl=mixed | impl=std: `mime/multipart` | 9.00× (7.00–10.00) | 1 | ≥ 8×, 0 allocs | ✗ |\n" +
		"| `BatchLoopback` way=batch | way=sequential: sequential calls | 5.00× (4.50–6.00) in calls/s | – | ≥ 5× | ✓ |\n" +
		"| `Adversarial` case=near-delims/input=attack | case=near-delims/input=twin: ordinary input | 2.50× (1.50–3.00) the time | 0 | ≤ 2× | ✗ |\n" +
		"| `Adversarial` case=crlf-flood/input=attack | case=crlf-flood/input=twin: ordinary input | 0.62× (0.50–0.75) the time, 2 of 3 rounds | 0 | ≤ 2× | ✓ |\n" +
		"| `ReadBatchHTTP` impl=mixed | impl=std: std | not measured: no twin impl=std with ns/op in the output | 0 | ≥ 10×, 0 allocs | ? |\n" +
		"| `ReadRequest` impl=mixed | impl=std: `http.ReadRequest` | not measured: not in the output | – | ≥ 10× | ? |\n" +
		"| `ReadLarge` impl=bytes (BytesReader) | impl=limit: the limit | 3.00× (2.00–4.00) | 0 | — |  |\n" +
		"\n" +
		"2 of 6 targets met.\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("render (-want +got):\n%s", diff)
	}

	// A quiet machine gets no warning.
	m.LoadBefore, m.LoadAfter = 0.3, 1.2
	b.Reset()
	if err := render(&b, m, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Warning") || !strings.Contains(b.String(), "0.30 before, 1.20 after") {
		t.Errorf("render on a quiet machine:\n%s", b.String())
	}
}

func TestPattern(t *testing.T) {
	gs := groupTargets([]target{
		{Pkg: pkgRoot, Bench: "ReadLarge", Ours: "impl=mixed", Base: "impl=limit"},
		{Pkg: pkgRoot, Bench: "Adversarial", Ours: "case=*/input=attack", Base: "case=*/input=twin"},
		{Pkg: pkgRoot, Bench: "ReadLarge", Ours: "impl=mixed-read", Base: "impl=limit"},
		{Pkg: pkgBatch, Bench: "BatchLoopback", Ours: "way=batch", Base: "way=sequential"},
	})
	want := []group{
		{Pkg: pkgRoot, Bench: "ReadLarge", Levels: [][]string{{"impl=mixed", "impl=limit", "impl=mixed-read"}}},
		{Pkg: pkgRoot, Bench: "Adversarial", Levels: [][]string{{"case=*"}, {"input=attack", "input=twin"}}},
		{Pkg: pkgBatch, Bench: "BatchLoopback", Levels: [][]string{{"way=batch", "way=sequential"}}},
	}
	if diff := cmp.Diff(want, gs); diff != "" {
		t.Fatalf("groupTargets (-want +got):\n%s", diff)
	}
	for _, c := range []struct {
		g       group
		pattern string
		run     []string // full names the pattern selects
		skip    []string // and some it does not
	}{
		{gs[0], `^BenchmarkReadLarge$/^(?:impl=mixed|impl=limit|impl=mixed-read)$`,
			[]string{"BenchmarkReadLarge/impl=mixed", "BenchmarkReadLarge/impl=limit", "BenchmarkReadLarge/impl=mixed-read"},
			[]string{"BenchmarkReadLarge/impl=std", "BenchmarkReadLarge/impl=bytes", "BenchmarkReadLargeText/impl=mixed"}},
		{gs[1], `^BenchmarkAdversarial$/^(?:case=.*)$/^(?:input=attack|input=twin)$`,
			[]string{"BenchmarkAdversarial/case=near-delims/input=attack", "BenchmarkAdversarial/case=crlf-flood/input=twin"},
			[]string{"BenchmarkAdversarialBytes/case=crlf-flood/input=twin", "BenchmarkAdversarial/case=crlf-flood/input=other"}},
	} {
		p := c.g.pattern()
		if p != c.pattern {
			t.Errorf("pattern of %s = %s, want %s", c.g.Bench, p, c.pattern)
		}
		for _, name := range c.run {
			if !benchMatches(p, name) {
				t.Errorf("pattern %s does not select %s", p, name)
			}
		}
		for _, name := range c.skip {
			if benchMatches(p, name) {
				t.Errorf("pattern %s selects %s", p, name)
			}
		}
	}
}

// benchMatches applies pattern to a benchmark's full name as the testing
// package does: one '/'-separated expression per level of the name. (The
// patterns made here have no '/' inside brackets or parentheses.)
func benchMatches(pattern, name string) bool {
	ps := strings.Split(pattern, "/")
	for i, elem := range strings.Split(name, "/") {
		if i < len(ps) && !regexp.MustCompile(ps[i]).MatchString(elem) {
			return false
		}
	}
	return true
}

func TestSelectTargets(t *testing.T) {
	got, err := selectTargets(testTargets, "^Read(Batch|Large)$")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]target{testTargets[0], testTargets[5]}, got); diff != "" {
		t.Errorf("selectTargets (-want +got):\n%s", diff)
	}
	if got, err := selectTargets(testTargets, ""); err != nil || len(got) != len(testTargets) {
		t.Errorf(`selectTargets(""): %d targets, %v; want all %d`, len(got), err, len(testTargets))
	}
	for _, expr := range []string{"(", "^NoSuchBenchmark$"} {
		if _, err := selectTargets(testTargets, expr); err == nil {
			t.Errorf("selectTargets(%q): no error", expr)
		}
	}
}

// TestTableInStep checks the table against the benchmark sources, without
// running them: every benchmark exists in its package, and every
// sub-benchmark name without a '*' is written there as a literal.
func TestTableInStep(t *testing.T) {
	sources := map[string]string{}
	for _, pkg := range []string{pkgRoot, pkgBatch} {
		data, err := os.ReadFile(filepath.Join("..", "..", pkg, "bench_test.go"))
		if err != nil {
			t.Fatal(err)
		}
		sources[pkg] = string(data)
	}
	for _, tg := range targets {
		src, ok := sources[tg.Pkg]
		if !ok {
			t.Errorf("%s: package %q is neither %q nor %q", tg.Bench, tg.Pkg, pkgRoot, pkgBatch)
			continue
		}
		if !strings.Contains(src, "func Benchmark"+tg.Bench+"(b *testing.B)") {
			t.Errorf("Benchmark%s is not in %s/bench_test.go", tg.Bench, tg.Pkg)
		}
		if strings.Count(tg.Ours, "*") != strings.Count(tg.Base, "*") || strings.Count(tg.Ours, "*") > 1 {
			t.Errorf("%s: %q against %q: want the same '*', at most one", tg.Bench, tg.Ours, tg.Base)
		}
		for _, sub := range []string{tg.Ours, tg.Base} {
			if !strings.Contains(sub, "*") && !strings.Contains(src, `"`+sub+`"`) {
				t.Errorf("%s: sub-benchmark %q is not in %s/bench_test.go", tg.Bench, sub, tg.Pkg)
			}
		}
		if (tg.Op == opNone) != (tg.Want == 0) || (tg.Op == opNone && tg.ZeroAllocs) {
			t.Errorf("%s %s: Op %v, Want %v, ZeroAllocs %v: a target needs a Want, and a row without one none", tg.Bench, tg.Ours, tg.Op, tg.Want, tg.ZeroAllocs)
		}
	}
}

func TestValidBenchtime(t *testing.T) {
	for d, want := range map[string]bool{
		"0.5s": true, "1s": true, "300ms": true, "100x": true, "1x": true,
		"": false, "bogus": false, "0s": false, "-1s": false, "0x": false, "x": false, "1.5x": false,
	} {
		if got := validBenchtime(d); got != want {
			t.Errorf("validBenchtime(%q) = %v, want %v", d, got, want)
		}
	}
}

func TestCPUModelOf(t *testing.T) {
	info := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n"
	if got, want := cpuModelOf([]byte(info)), "Intel(R) Xeon(R) CPU @ 2.20GHz"; got != want {
		t.Errorf("cpuModelOf = %q, want %q", got, want)
	}
	if got, want := cpuModelOf([]byte("processor\t: 0\nCPU implementer\t: 0x41\n")), "unknown CPU"; got != want {
		t.Errorf("cpuModelOf without a model name = %q, want %q", got, want)
	}
}

func TestLoadAverageOf(t *testing.T) {
	if got := loadAverageOf([]byte("1.62 0.98 0.41 3/512 12345\n")); got != 1.62 {
		t.Errorf("loadAverageOf = %v, want 1.62", got)
	}
	for _, s := range []string{"", "x 1 2"} {
		if got := loadAverageOf([]byte(s)); !math.IsNaN(got) {
			t.Errorf("loadAverageOf(%q) = %v, want NaN", s, got)
		}
	}
}
