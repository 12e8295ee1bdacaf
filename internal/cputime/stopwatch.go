package cputime

import "time"

// A Stopwatch measures the work done since it started: the process's CPU
// time where the system gives it, which a loaded machine does not stretch
// as it does the wall clock, or else the wall-clock time.
type Stopwatch struct {
	wall time.Time
	cpu  time.Duration
}

// Start returns a Stopwatch started now.
func Start() Stopwatch { return Stopwatch{time.Now(), Used()} }

// Elapsed returns the CPU time since s started, or the wall-clock time
// where the CPU time is not known.
func (s Stopwatch) Elapsed() time.Duration {
	if cpu := Used(); cpu > 0 {
		return cpu - s.cpu
	}
	return time.Since(s.wall)
}
