package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// verdict is a row's standing against its target.
type verdict int

const (
	noTarget verdict = iota // measured, reported without a target
	met
	missed
	notMeasured // ours or its twin missing from every round
)

// row is one line of the table: a target (a '*' in it resolved) and its
// ratios over the rounds.
type row struct {
	Target target
	Ours   string // Target.Ours with its '*' replaced
	Base   string // Target.Base with its '*' replaced
	Ratios []float64
	// Allocs is the most allocs/op of Ours over the rounds; -1 when the
	// benchmark does not report allocations.
	Allocs  float64
	Verdict verdict
	Why     string // why a row was not measured
}

// summary is the median and the range of a row's per-round ratios.
type summary struct {
	Median, Min, Max float64
}

// summarize returns the median (the mean of the middle two of an even
// count) and the range of xs, which must not be empty.
func summarize(xs []float64) summary {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	m := s[n/2]
	if n%2 == 0 {
		m = (s[n/2-1] + s[n/2]) / 2
	}
	return summary{Median: m, Min: s[0], Max: s[n-1]}
}

// decide holds the median ratio and our allocations against t.
func decide(t target, median, allocs float64) verdict {
	ok := true
	switch t.Op {
	case opNone:
		return noTarget
	case opAtLeast:
		ok = median >= t.Want
	case opAtMost:
		ok = median <= t.Want
	}
	if t.ZeroAllocs && allocs != 0 {
		ok = false
	}
	if ok {
		return met
	}
	return missed
}

// higherIsBetter tells a rate from a cost by its unit.
func higherIsBetter(unit string) bool {
	return strings.HasSuffix(unit, "/s")
}

// ratio is how many times as fast ours is as base in unit (or, for a Cost
// target, how many times base's time ours takes); ok is false when either
// lacks the unit or the figures make no ratio.
func ratio(t target, ours, base result) (float64, bool) {
	unit := t.Unit
	if unit == "" {
		unit = "ns/op"
	}
	o, ok1 := ours.Values[unit]
	b, ok2 := base.Values[unit]
	if !ok1 || !ok2 || o <= 0 || b <= 0 {
		return 0, false
	}
	// A speedup in a cost unit (ns/op) is base over ours; in a rate
	// (calls/s) ours over base; a Cost row is the inverse of either.
	if higherIsBetter(unit) != t.Cost {
		return o / b, true
	}
	return b / o, true
}

// match reports whether name, a sub-benchmark path, fits pattern, whose
// one '*' (if any) stands for part of a path element, and what it stood
// for.
func match(pattern, name string) (string, bool) {
	before, after, wild := strings.Cut(pattern, "*")
	if !wild {
		return "", name == pattern
	}
	if len(name) < len(before)+len(after) || !strings.HasPrefix(name, before) || !strings.HasSuffix(name, after) {
		return "", false
	}
	v := name[len(before) : len(name)-len(after)]
	if v == "" || strings.Contains(v, "/") {
		return "", false
	}
	return v, true
}

// evaluate makes the rows of ts from the rounds' results, in the order of
// ts; a target with a '*' makes one row per value found, in the order
// first seen.
func evaluate(ts []target, rounds [][]result) []row {
	var rows []row
	for _, t := range ts {
		var values []string
		for _, rs := range rounds {
			for _, r := range rs {
				sub, ok := strings.CutPrefix(r.Name, t.Bench+"/")
				if r.Pkg != t.Pkg || !ok {
					continue
				}
				if v, ok := match(t.Ours, sub); ok && !slices.Contains(values, v) {
					values = append(values, v)
				}
			}
		}
		if len(values) == 0 {
			rows = append(rows, row{Target: t, Ours: t.Ours, Base: t.Base, Allocs: -1, Verdict: notMeasured, Why: "not in the output"})
			continue
		}
		for _, v := range values {
			rows = append(rows, evaluateOne(t, v, rounds))
		}
	}
	return rows
}

func evaluateOne(t target, v string, rounds [][]result) row {
	rw := row{
		Target: t,
		Ours:   strings.Replace(t.Ours, "*", v, 1),
		Base:   strings.Replace(t.Base, "*", v, 1),
		Allocs: -1,
	}
	for _, rs := range rounds {
		ours, ok1 := find(rs, t.Pkg, t.Bench+"/"+rw.Ours)
		base, ok2 := find(rs, t.Pkg, t.Bench+"/"+rw.Base)
		if a, ok := ours.Values["allocs/op"]; ok1 && ok {
			rw.Allocs = max(rw.Allocs, a)
		}
		if !ok1 || !ok2 {
			continue
		}
		if x, ok := ratio(t, ours, base); ok {
			rw.Ratios = append(rw.Ratios, x)
		}
	}
	if len(rw.Ratios) == 0 {
		rw.Verdict = notMeasured
		rw.Why = "no twin " + rw.Base + " with " + unitOf(t) + " in the output"
		return rw
	}
	rw.Verdict = decide(t, summarize(rw.Ratios).Median, rw.Allocs)
	return rw
}

func unitOf(t target) string {
	if t.Unit == "" {
		return "ns/op"
	}
	return t.Unit
}

func find(rs []result, pkg, name string) (result, bool) {
	for _, r := range rs {
		if r.Pkg == pkg && r.Name == name {
			return r, true
		}
	}
	return result{}, false
}

// meta is what the table's heading says about the run.
type meta struct {
	CPUModel   string // `model name` of /proc/cpuinfo
	GoCPU      string // Go's "cpu:" line
	GoVersion  string // "go1.26.8 linux/amd64"
	Date       string
	Commit     string
	Rounds     int
	Benchtime  string
	LoadBefore float64 // 1-minute load average; NaN if unknown
	LoadAfter  float64
	Duration   string
}

// Load averages above these mean other processes competed for the CPU.
// The load after includes this run's own, about 1 (a benchmark runs on one
// thread; the loopback one on more).
const (
	loadWarnBefore = 1.5
	loadWarnAfter  = 2.5
)

// render writes the report as Markdown.
func render(w io.Writer, m meta, rows []row) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### Issue #14's targets on %s\n\n", m.CPUModel)
	goCPU := m.GoCPU
	if goCPU == "" {
		goCPU = "none printed"
	}
	fmt.Fprintf(&b, "- CPU: %s (`model name` in /proc/cpuinfo); Go's benchmark `cpu:` line: %s\n", m.CPUModel, goCPU)
	fmt.Fprintf(&b, "- Go: %s; commit %s; %s\n", m.GoVersion, m.Commit, m.Date)
	fmt.Fprintf(&b, "- %d rounds, `-benchtime %s`, each pair back to back in each round; ratio: the median over rounds (min–max); allocs/op: ours, the most over rounds; %s in all\n", m.Rounds, m.Benchtime, m.Duration)
	fmt.Fprintf(&b, "- load average (1 min): %s before, %s after (this run's own load included)\n", loadText(m.LoadBefore), loadText(m.LoadAfter))
	if m.LoadBefore > loadWarnBefore || m.LoadAfter > loadWarnAfter {
		fmt.Fprintf(&b, "\n**Warning: the machine was busy (load average above %.1f before or %.1f after): other processes skew these figures; measure again when it is quiet.**\n", loadWarnBefore, loadWarnAfter)
	}
	b.WriteString("\n| benchmark | compared with | ratio: median (min–max) | allocs/op | target | met |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	var nMet, nTargets int
	for _, r := range rows {
		t := r.Target
		name := "`" + t.Bench + "` " + r.Ours
		if t.Label != "" {
			name += " (" + t.Label + ")"
		}
		with := r.Base
		if t.With != "" {
			with += ": " + t.With
		}
		allocs := "–"
		if r.Allocs >= 0 {
			allocs = fmt.Sprintf("%.0f", r.Allocs)
		}
		var ratioText, mark string
		switch r.Verdict {
		case notMeasured:
			ratioText, mark = "not measured: "+r.Why, "?"
		default:
			s := summarize(r.Ratios)
			ratioText = fmt.Sprintf("%.2f× (%.2f–%.2f)", s.Median, s.Min, s.Max)
			if t.Unit != "" {
				ratioText += " in " + t.Unit
			}
			if t.Cost {
				ratioText += " the time"
			}
			if len(r.Ratios) < m.Rounds {
				ratioText += fmt.Sprintf(", %d of %d rounds", len(r.Ratios), m.Rounds)
			}
			switch r.Verdict {
			case met:
				mark = "✓"
			case missed:
				mark = "✗"
			}
		}
		if t.Op != opNone {
			nTargets++
			if r.Verdict == met {
				nMet++
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", name, with, ratioText, allocs, targetText(t), mark)
	}
	fmt.Fprintf(&b, "\n%d of %d targets met.\n", nMet, nTargets)
	_, err := io.WriteString(w, b.String())
	return err
}

func targetText(t target) string {
	var s string
	switch t.Op {
	case opNone:
		return "—"
	case opAtLeast:
		s = fmt.Sprintf("≥ %g×", t.Want)
	case opAtMost:
		s = fmt.Sprintf("≤ %g×", t.Want)
	}
	if t.ZeroAllocs {
		s += ", 0 allocs"
	}
	return s
}

func loadText(l float64) string {
	if math.IsNaN(l) {
		return "unknown"
	}
	return fmt.Sprintf("%.2f", l)
}
