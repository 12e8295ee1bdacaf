//go:build !unix

package mixed

import "time"

// cpuTime is 0 where getrusage is missing: the adversarial tests then
// measure the wall clock.
func cpuTime() time.Duration { return 0 }
