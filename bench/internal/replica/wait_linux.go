package replica

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// How often Waiter reads the file without an event: when its directory is
// watched (only a safety net: every change in the directory wakes the
// waiter at once), and when it is not (the directory does not exist at
// the copy yet).
const (
	FallbackPoll   = 5 * time.Millisecond
	UnwatchedPoll  = 1 * time.Millisecond
	inotifyEvents  = unix.IN_CREATE | unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_ATTRIB | unix.IN_DELETE
	inotifyBufSize = 64 << 10
)

// Waiter waits for a file of the copy to hold given bytes. It watches the
// file's directory with inotify and reads the file on every event there, so
// it sees the new content within the wake-up time of this process
// (microseconds on an idle machine), not a polling interval.
type Waiter struct {
	fd  int
	buf []byte
}

// NewWaiter returns a Waiter; Close it.
func NewWaiter() (*Waiter, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	return &Waiter{fd: fd, buf: make([]byte, inotifyBufSize)}, nil
}

// Close releases the inotify instance.
func (w *Waiter) Close() error { return unix.Close(w.fd) }

// Result is one wait: when the change was made and when the copy held it.
type Result struct {
	Start, Arrived time.Time
	OK             bool // the copy held want before the timeout
	Watched        bool // the copy's directory was watched (else polled every UnwatchedPoll)
}

// Latency is the time from the change to its arrival.
func (r Result) Latency() time.Duration { return r.Arrived.Sub(r.Start) }

// Do watches the directory of path (a file of the copy), then notes the
// time and calls change, which changes the source, and waits until the file
// at path holds exactly want, timeout passes or ctx ends. An error of
// change is returned as it is.
func (w *Waiter) Do(ctx context.Context, path string, want []byte, timeout time.Duration, change func() error) (Result, error) {
	w.drain()
	var r Result
	wd, err := unix.InotifyAddWatch(w.fd, filepath.Dir(path), inotifyEvents)
	if err == nil {
		r.Watched = true
		defer unix.InotifyRmWatch(w.fd, uint32(wd))
	}
	poll := UnwatchedPoll
	if r.Watched {
		poll = FallbackPoll
	}
	r.Start = time.Now()
	if err := change(); err != nil {
		return r, err
	}
	deadline := r.Start.Add(timeout)
	fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
	for {
		if Holds(path, want) {
			r.Arrived, r.OK = time.Now(), true
			return r, nil
		}
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		if time.Now().After(deadline) {
			return r, nil
		}
		if _, err := unix.Poll(fds, int(poll.Milliseconds())); err != nil && !errors.Is(err, unix.EINTR) {
			return r, err
		}
		w.drain()
	}
}

// drain reads the events queued, which only wake the waiter.
func (w *Waiter) drain() {
	for {
		if n, err := unix.Read(w.fd, w.buf); n <= 0 || err != nil {
			return
		}
	}
}
