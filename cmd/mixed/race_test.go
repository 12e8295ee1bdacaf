//go:build race

package main

// raceEnabled reports a build with the race detector, which makes the
// 1 GiB tests too slow to run.
const raceEnabled = true
