//go:build !unix

package main

import "time"

// cpuTime is the CPU time the process has used, or 0 where it cannot be
// read.
func cpuTime() time.Duration { return 0 }
