// Package cputime reads the CPU time of the process, for the module's tests
// and benchmarks: on a shared machine under load it counts the work done,
// not the time spent waiting for a core, which the wall clock adds.
package cputime
