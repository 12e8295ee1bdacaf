//go:build !unix

package cputime

import "time"

// Used returns 0: without getrusage the CPU time is not known.
func Used() time.Duration { return 0 }
