package watch

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// TestOverflow makes the kernel's event queue overflow: it lowers
// fs.inotify.max_queued_events (which applies to inotify instances created
// afterwards, so it is restored as soon as the watcher exists) and stalls
// the event loop while it creates many files.
func TestOverflow(t *testing.T) {
	const knob = "/proc/sys/fs/inotify/max_queued_events"
	old, err := os.ReadFile(knob)
	if err != nil {
		t.Skip(err)
	}
	if err := os.WriteFile(knob, []byte("16"), 0); err != nil {
		t.Skipf("cannot lower %s (needs root): %v", knob, err)
	}
	restored := false
	restore := func() {
		if restored {
			return
		}
		restored = true
		if err := os.WriteFile(knob, old, 0); err != nil {
			t.Errorf("restore %s to %s: %v", knob, strings.TrimSpace(string(old)), err)
		}
	}
	defer restore()

	stalled := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	stall := func() {
		once.Do(func() {
			close(stalled)
			<-release
		})
	}
	h := newHarness(t, Options{beforeEvent: stall}, nil)
	restore()

	batches := h.converge(func() {
		h.write("first", "1")
		<-stalled
		for i := range 500 {
			h.mkdirAll(fmt.Sprintf("d%d", i%50))
			h.write(fmt.Sprintf("d%d/f%d", i%50, i), "x")
		}
		close(release)
	})
	if !rescanned(batches, ".") {
		t.Fatalf("no rescan of the root after an overflow: %+v", batches)
	}
	// The watcher rebuilt its watches: later changes are reported again.
	batches = h.converge(func() { h.write("d7/after", "a") })
	if len(changesFor(batches, "d7/after")) == 0 {
		t.Errorf("write after overflow not reported: %+v", batches)
	}
	if n := len(h.watched()); n != 51 {
		t.Errorf("%d watches after overflow, want 51", n)
	}
}
