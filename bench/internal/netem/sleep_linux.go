package netem

import (
	"time"

	"golang.org/x/sys/unix"
)

// sleepUntil blocks the calling thread until t. It uses nanosleep(2)
// directly, which wakes within tens of microseconds; Go's timers wake up to
// a millisecond late, which would add that much to every packet's delay.
func sleepUntil(t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	ts := unix.NsecToTimespec(int64(d))
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
}
