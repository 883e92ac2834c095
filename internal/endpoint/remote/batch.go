package remote

import (
	"context"
	"sync"
	"time"

	"github.com/fcp-dev/fcp/internal/wire"
)

// batcher carries the entries of one scan from the goroutine that walks
// the tree to the one that sends them, a batch at a time: the walker
// appends to the open batch under a mutex, and the sender takes the whole
// batch when it is full or batchDelay after its first entry. Handing over
// batches rather than entries keeps the two goroutines from waking each
// other for every entry (on a million files that was a tenth of the
// agent's time). At most one batch is open and one being sent, so memory
// is bounded by two batches whatever the size of the tree.
type batcher struct {
	mu     sync.Mutex
	open   []wire.Entry
	size   int  // estimated encoded bytes of open
	closed bool // the walk ended: no more entries
	ready  chan struct{}
	room   chan struct{}
}

func newBatcher() *batcher {
	return &batcher{
		open:  make([]wire.Entry, 0, batchEntries),
		ready: make(chan struct{}, 1),
		room:  make(chan struct{}, 1),
	}
}

// signal wakes the goroutine waiting on c, if any, without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// full reports whether the open batch is to be sent now; b.mu is held.
func (b *batcher) full() bool {
	return len(b.open) >= batchEntries || b.size >= batchBytes
}

// add appends a copy of e to the open batch, waiting while a full batch
// waits for the sender. It fails only when ctx ends.
func (b *batcher) add(ctx context.Context, e *wire.Entry) error {
	for {
		b.mu.Lock()
		if !b.full() {
			b.open = append(b.open, *e)
			b.size += len(e.Path) + len(e.Target) + len(e.Link) + 64 + attrsSize(&e.Attrs)
			wake := len(b.open) == 1 || b.full()
			b.mu.Unlock()
			if wake {
				signal(b.ready)
			}
			return nil
		}
		b.mu.Unlock()
		select {
		case <-b.room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// close ends the entries; the sender sends what is open and stops.
func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	signal(b.ready)
}

// next waits for the next batch to send: a full one, or one that has
// held entries for batchDelay, or the last one. It returns the batch,
// which stays the caller's until it passes it back as spare (a slice to
// reuse for a later batch), and false once the entries ended and all
// were taken.
func (b *batcher) next(ctx context.Context, timer *time.Timer, spare []wire.Entry) ([]wire.Entry, bool, error) {
	waiting := false // the timer runs for the open batch
	defer func() {
		if waiting {
			timer.Stop()
		}
	}()
	for {
		b.mu.Lock()
		n, full, closed := len(b.open), b.full(), b.closed
		b.mu.Unlock()
		var due <-chan time.Time
		switch {
		case full || closed:
			return b.take(spare), n > 0, nil
		case n > 0 && !waiting:
			timer.Reset(batchDelay)
			waiting = true
		}
		if waiting {
			due = timer.C
		}
		select {
		case <-b.ready:
		case <-due:
			waiting = false
			return b.take(spare), true, nil
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// take removes the open batch and opens spare (emptied) in its place.
func (b *batcher) take(spare []wire.Entry) []wire.Entry {
	b.mu.Lock()
	batch := b.open
	if spare == nil {
		spare = make([]wire.Entry, 0, batchEntries)
	}
	b.open, b.size = spare[:0], 0
	b.mu.Unlock()
	signal(b.room)
	return batch
}
