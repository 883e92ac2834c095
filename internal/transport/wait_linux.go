package transport

import (
	"errors"

	"golang.org/x/sys/unix"
)

// groupSignalSafe reports that awaitExit works, so a process group can be
// signalled without racing against the reuse of its leader's pid.
const groupSignalSafe = true

// awaitExit blocks until the process pid has exited, without reaping it:
// until it is reaped, its pid cannot be reused.
func awaitExit(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}
