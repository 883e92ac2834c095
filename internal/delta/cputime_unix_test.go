//go:build unix

package delta

import (
	"syscall"
	"time"
)

// cpuTime returns the user plus system CPU time used by the process so far,
// so that benchmarks can report throughput per CPU second, which a busy
// machine distorts much less than wall-clock throughput.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
