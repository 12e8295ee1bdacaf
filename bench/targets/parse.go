package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// result is one benchmark line of `go test -bench` output.
type result struct {
	Pkg    string             // set by the caller: which test binary printed it
	Name   string             // without "Benchmark" and the -GOMAXPROCS suffix: "ReadBatch/impl=mixed"
	Procs  int                // the GOMAXPROCS suffix, 1 when there is none
	Iters  int64              // iterations
	Values map[string]float64 // by unit: "ns/op", "B/op", "allocs/op", "MB/s", "calls/s"...
}

// output is what one run of a test binary printed.
type output struct {
	CPU     string // the "cpu:" line, as Go's testing package names the CPU
	Results []result
}

// parseOutput reads the standard benchmark format
// (https://go.dev/design/14313-benchmark-format): configuration lines
// ("cpu: ...") and result lines ("BenchmarkName-2  1000  1234 ns/op ...").
// Other lines (PASS, ok, a benchmark's log) are skipped; a result line
// whose measurements do not parse is an error, so that a format change is
// noticed rather than read as a missing row.
func parseOutput(r io.Reader) (output, error) {
	var out output
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "cpu:"); ok && out.CPU == "" {
			out.CPU = strings.TrimSpace(v)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		iters, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			// The name printed before a benchmark's log or failure, not
			// a result.
			continue
		}
		res, err := parseResult(f[0], iters, f[2:])
		if err != nil {
			return out, fmt.Errorf("line %d %q: %w", n, line, err)
		}
		out.Results = append(out.Results, res)
	}
	return out, sc.Err()
}

func parseResult(name string, iters int64, fields []string) (result, error) {
	res := result{Iters: iters, Procs: 1, Values: make(map[string]float64)}
	res.Name, res.Procs = splitProcs(strings.TrimPrefix(name, "Benchmark"))
	if res.Name == "" {
		return res, fmt.Errorf("no benchmark name")
	}
	if len(fields) == 0 || len(fields)%2 != 0 {
		return res, fmt.Errorf("want value-unit pairs after the iterations, have %d fields", len(fields))
	}
	for i := 0; i < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return res, fmt.Errorf("value of %s: %w", fields[i+1], err)
		}
		res.Values[fields[i+1]] = v
	}
	return res, nil
}

// splitProcs removes the -N suffix that testing adds to a benchmark's
// name when GOMAXPROCS is not 1, as benchstat does.
func splitProcs(name string) (string, int) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name, 1
	}
	procs, err := strconv.Atoi(name[i+1:])
	if err != nil || procs <= 0 {
		return name, 1
	}
	return name[:i], procs
}
