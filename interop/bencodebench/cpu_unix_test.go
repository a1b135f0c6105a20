//go:build unix

package bencodebench

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user + system, all threads, so GC included)
// used by this process. Benchmarks report it beside wall time because the
// machines they run on are shared: under load, wall time measures the
// neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
