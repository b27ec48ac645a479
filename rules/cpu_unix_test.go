//go:build unix

package rules

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used. Benchmarks report it per
// operation besides wall time: on a shared 2-core machine the wall clock
// also counts the time other processes held the cores.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
