package main

// The targets of issue #14, in one place: keep this table in step with the
// issue and with the README's Performance table. Benchmark and
// sub-benchmark names are those of bench_test.go and batch/bench_test.go;
// a renamed benchmark shows up as a row that was not measured, and the
// command then exits non-zero rather than drop the row quietly.

// The packages whose test binaries hold the benchmarks, relative to the
// module root.
const (
	pkgRoot  = "."
	pkgBatch = "./batch"
)

// op is how a ratio is held against its target.
type op int

const (
	opNone    op = iota // reported, no target
	opAtLeast           // met when the median ratio ≥ target.Want
	opAtMost            // met when the median ratio ≤ target.Want
)

// target is one row of the report: our sub-benchmark against another of
// the same benchmark, measured in the same round.
type target struct {
	Pkg   string // pkgRoot or pkgBatch
	Bench string // the benchmark's name without "Benchmark"
	// Ours and Base are sub-benchmark paths under Bench ("impl=mixed",
	// "case=*/input=attack"). A '*' in Ours stands for one path element's
	// value: each value found in the output makes a row of its own, and
	// the '*' of Base is that value.
	Ours, Base string
	Label      string // what Ours is, when its name does not say ("WriteTo")
	With       string // what Base is, for the table
	// Unit is the figure compared; "" is ns/op. A unit ending in "/s" is
	// a rate (higher is better), any other a cost (lower is better).
	Unit string
	// Cost rows give the time Ours takes over Base's (an attack against
	// its ordinary twin); other rows give how many times as fast Ours is.
	Cost       bool
	Op         op
	Want       float64
	ZeroAllocs bool // the target also asks for 0 allocs/op of Ours
}

// targets is every row reported, in the order of the table; benchmarks run
// in the order of their first row.
var targets = []target{
	{Pkg: pkgRoot, Bench: "ReadBatch", Ours: "impl=mixed", Base: "impl=std", With: "`mime/multipart`", Op: opAtLeast, Want: 8, ZeroAllocs: true},
	{Pkg: pkgRoot, Bench: "ReadBatchHTTP", Ours: "impl=mixed", Base: "impl=std", With: "`mime/multipart` + `http.ReadResponse`", Op: opAtLeast, Want: 10, ZeroAllocs: true},
	{Pkg: pkgRoot, Bench: "ReadRequest", Ours: "impl=mixed", Base: "impl=std", With: "`http.ReadRequest`", Op: opAtLeast, Want: 10},
	{Pkg: pkgRoot, Bench: "ReadResponse", Ours: "impl=mixed", Base: "impl=std", With: "`http.ReadResponse`", Op: opAtLeast, Want: 10},
	{Pkg: pkgRoot, Bench: "WriteBatch", Ours: "impl=mixed", Base: "impl=std", With: "`multipart.Writer`", Op: opAtLeast, Want: 4, ZeroAllocs: true},
	{Pkg: pkgRoot, Bench: "WriteBatchHTTP", Ours: "impl=mixed", Base: "impl=std", With: "`multipart.Writer` + `http.Request.Write`", Op: opAtLeast, Want: 10, ZeroAllocs: true},
	{Pkg: pkgRoot, Bench: "ReadLarge", Ours: "impl=mixed", Label: "WriteTo", Base: "impl=limit", With: "the copy+scan limit", Op: opAtLeast, Want: 1},
	{Pkg: pkgRoot, Bench: "ReadLarge", Ours: "impl=mixed-read", Label: "Read into 64 KiB", Base: "impl=limit", With: "the copy+scan limit", Op: opAtLeast, Want: 1},
	{Pkg: pkgRoot, Bench: "ReadLarge", Ours: "impl=bytes", Label: "BytesReader", Base: "impl=limit", With: "the copy+scan limit", Op: opAtLeast, Want: 1},
	{Pkg: pkgBatch, Bench: "BatchLoopback", Ours: "way=batch", Base: "way=sequential", With: "1000 sequential keep-alive calls", Unit: "calls/s", Op: opAtLeast, Want: 5},
	{Pkg: pkgBatch, Bench: "BatchLoopback", Ours: "way=batch", Base: "way=conns8", With: "8 keep-alive connections", Unit: "calls/s", Op: opAtLeast, Want: 2},
	{Pkg: pkgRoot, Bench: "Adversarial", Ours: "case=*/input=attack", Base: "case=*/input=twin", With: "ordinary input of the same size", Cost: true, Op: opAtMost, Want: 2},
	{Pkg: pkgRoot, Bench: "AdversarialBytes", Ours: "case=*/input=attack", Base: "case=*/input=twin", With: "ordinary input of the same size", Cost: true, Op: opAtMost, Want: 2},

	// Reported without a target.
	{Pkg: pkgBatch, Bench: "BatchLoopback", Ours: "way=batch", Base: "way=sequential", With: "1000 sequential keep-alive calls, in CPU per call", Unit: "cpu-ns/call"},
	{Pkg: pkgRoot, Bench: "ReadBatchJSON", Ours: "impl=mixed", Base: "impl=std", With: "`mime/multipart`"},
	{Pkg: pkgRoot, Bench: "ReadBatchJSON", Ours: "impl=bytes", Base: "impl=std", With: "`mime/multipart`"},
	{Pkg: pkgRoot, Bench: "ReadBatchLF", Ours: "impl=mixed", Base: "impl=std", With: "`mime/multipart`"},
	{Pkg: pkgRoot, Bench: "ReadBatchLF", Ours: "impl=bytes", Base: "impl=std", With: "`mime/multipart`"},
	{Pkg: pkgRoot, Bench: "ReadBoundaryFlood", Ours: "impl=mixed", Base: "impl=std", With: "`mime/multipart`"},
	{Pkg: pkgRoot, Bench: "ReadBoundaryFlood", Ours: "impl=bytes", Base: "impl=std", With: "`mime/multipart`"},
	{Pkg: pkgBatch, Bench: "ClientPerCall", Ours: "impl=mixed", Base: "impl=std", With: "the same calls through `http.Client`", Unit: "ns/call"},
}
