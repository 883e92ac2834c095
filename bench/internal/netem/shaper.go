package netem

import "time"

// Shaper is one direction of an emulated link: a bottleneck that sends
// bytes at a fixed rate in arrival order, holds at most a bounded number of
// bytes waiting for it, and then delays every packet by a fixed time.
//
// A Shaper is a pure function of the arrival times passed to Admit, so it
// can be tested without a clock. It is not safe for concurrent use.
type Shaper struct {
	bytesPerSec float64 // 0: unlimited
	delay       time.Duration
	queueLimit  int64     // bytes waiting for the bottleneck, the one being sent included
	busyUntil   time.Time // when the bottleneck has sent everything admitted so far
}

// NewShaper returns a Shaper of rate bitsPerSec (0 for unlimited), one-way
// delay and a queue of queueLimit bytes (ignored when the rate is unlimited).
func NewShaper(bitsPerSec float64, delay time.Duration, queueLimit int64) *Shaper {
	return &Shaper{bytesPerSec: bitsPerSec / 8, delay: delay, queueLimit: queueLimit}
}

// Admit takes a packet of wireBytes arriving at now and returns when its
// last byte reaches the far end. When the packet does not fit in the queue
// it returns ok false and the Shaper is unchanged (tail drop). Arrival
// times must not go backwards; delivery times never do.
func (s *Shaper) Admit(now time.Time, wireBytes int) (deliver time.Time, ok bool) {
	if s.bytesPerSec == 0 {
		return now.Add(s.delay), true
	}
	start := now
	if s.busyUntil.After(now) {
		start = s.busyUntil
	}
	queued := start.Sub(now).Seconds() * s.bytesPerSec
	if queued+float64(wireBytes) > float64(s.queueLimit) {
		return time.Time{}, false
	}
	s.busyUntil = start.Add(time.Duration(float64(wireBytes) / s.bytesPerSec * float64(time.Second)))
	return s.busyUntil.Add(s.delay), true
}

// BDP is the bandwidth-delay product in bytes of a path of rate bitsPerSec
// and round-trip time rtt.
func BDP(bitsPerSec float64, rtt time.Duration) int64 {
	return int64(bitsPerSec / 8 * rtt.Seconds())
}
