package watch

import (
	"errors"
	"os"
	"path"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// run is the event loop. It owns the watcher's state, reads fsnotify's
// events and errors, serves Reevaluate, retries failed watches and
// delivers batches. It keeps reading events while a batch waits for the
// consumer; those events go into the next batch.
func (w *Watcher) run() {
	defer close(w.stopped)
	defer close(w.out)

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false // timer will fire (or has fired and not been received)
	retry := time.NewTicker(w.o.RetryInterval)
	defer retry.Stop()

	events := w.fsw.Events
	var ready *Batch
	for {
		if now := time.Now(); ready == nil && !w.cur.empty() {
			due := w.cur.due(w.o.Quiet, w.o.MaxLatency)
			if !now.Before(due) {
				if b := w.cur.take(); len(b.Changes)+len(b.Rescan) > 0 {
					ready = &b
				}
			} else if !armed {
				timer.Reset(due.Sub(now))
				armed = true
			}
		}
		var out chan<- Batch
		var next Batch
		if ready != nil {
			out, next = w.out, *ready
		}

		select {
		case <-w.quit:
			return
		case ev, ok := <-events:
			if !ok {
				events = nil // closed only by Close
				continue
			}
			if w.o.beforeEvent != nil {
				w.o.beforeEvent()
			}
			now := time.Now()
			w.handle(ev, now)
			w.cur.stamp(now)
		case <-w.errWake:
			w.errMu.Lock()
			errs := w.errs
			w.errs = nil
			w.errMu.Unlock()
			w.handleErrors(errs)
			w.cur.stamp(time.Now())
		case req := <-w.reeval:
			w.reevaluate(req.rel)
			close(req.done)
			w.cur.stamp(time.Now())
		case <-retry.C:
			w.retry()
			w.cur.stamp(time.Now())
		case <-timer.C:
			armed = false
		case out <- next:
			ready = nil
		}
	}
}

// handle applies one fsnotify event.
func (w *Watcher) handle(ev fsnotify.Event, now time.Time) {
	rel, ok := w.rel(ev.Name)
	if !ok {
		return
	}
	// The second half of a rename is the Create that comes right after
	// the first; anything else settles it as a removal.
	if m := w.cur.move; m != nil && (!ev.Has(fsnotify.Create) || now.Sub(m.at) > w.o.Quiet) {
		w.cur.unpair()
	}
	if ev.Has(fsnotify.Rename) {
		w.renamed(rel, now)
	}
	if ev.Has(fsnotify.Create) {
		w.created(rel)
	}
	if ev.Has(fsnotify.Remove) {
		w.removed(rel)
	}
	if ev.Has(fsnotify.Write) {
		w.written(rel)
	}
	if ev.Has(fsnotify.Chmod) {
		w.chmodded(rel)
	}
}

// renamed handles the old name of a rename; handle has settled any
// earlier rename. The watches of a directory are dropped at once: fsnotify
// keeps them under the old name, and inotify would hand the same watch back
// when the directory is watched under its new name.
func (w *Watcher) renamed(rel string, now time.Time) {
	if rel == "." {
		w.rootLost()
		return
	}
	d := w.dirs[rel]
	if d != nil && d.state == dirIgnored {
		w.untrack(rel)
		return
	}
	if d == nil && w.ignored(rel, false) {
		return
	}
	m := &pendingMove{rel: rel, dir: d != nil, at: now}
	if d != nil {
		m.fi = d.fi
		w.untrack(rel)
	}
	w.cur.move = m
	w.cur.dirty = true
}

// created handles a new name: a created entry or the new name of a rename.
// A new directory is watched and then listed, and what is in it is
// reported; a renamed directory is watched and reported for rescan.
func (w *Watcher) created(rel string) {
	if rel == "." {
		return
	}
	fi, err := os.Lstat(w.abs(rel))
	isDir := err == nil && fi.IsDir()
	if w.ignored(rel, isDir) {
		w.cur.unpair()
		if isDir && w.parentWatched(rel) {
			w.track(rel, &dirInfo{state: dirIgnored})
		} else {
			w.untrack(rel)
		}
		return
	}
	if err != nil {
		// Gone already; its removal event follows.
		w.cur.unpair()
		w.cur.record(rel, Created, false)
		return
	}

	from := ""
	if m := w.cur.move; m != nil {
		w.cur.move = nil
		if m.dir == isDir && (m.fi == nil || os.SameFile(m.fi, fi)) {
			from = m.rel
		} else {
			w.cur.record(m.rel, Removed, m.dir)
		}
	}
	if d := w.dirs[rel]; d != nil && (!isDir || d.state != dirWatched || !os.SameFile(d.fi, fi)) {
		// A directory was replaced before its removal was seen.
		w.untrack(rel)
		w.cur.record(rel, Removed, true)
	}
	if from != "" {
		w.cur.moved(from, rel, isDir)
	} else {
		w.cur.record(rel, Created, isDir)
	}

	switch {
	case !isDir:
	case !w.parentWatched(rel):
		// A late event from the watch of a directory since removed or
		// renamed: what is at rel now is reported with its parent.
	case from != "":
		w.watchTree(rel, false, false)
		w.cur.addRescan(rel)
	default:
		w.watchTree(rel, true, false)
	}
}

// parentWatched reports whether the parent directory of rel is watched.
func (w *Watcher) parentWatched(rel string) bool {
	p := w.dirs[path.Dir(rel)]
	return p != nil && p.state == dirWatched
}

// removed handles a removal.
func (w *Watcher) removed(rel string) {
	if rel == "." {
		w.rootLost()
		return
	}
	d := w.dirs[rel]
	if d != nil && d.state == dirIgnored {
		w.untrack(rel)
		return
	}
	if d == nil && w.ignored(rel, false) {
		return
	}
	if d != nil {
		// Even if a directory is at rel again, and was watched already
		// (found by listing its parent), drop its record: the watch may
		// be the removed directory's, as inode numbers are reused at
		// once; the event for the new directory follows and re-adds it.
		w.untrack(rel)
	}
	w.cur.record(rel, Removed, d != nil)
}

// written handles a write to a file's content.
func (w *Watcher) written(rel string) {
	if d := w.dirs[rel]; d != nil {
		if d.state != dirIgnored {
			w.cur.record(rel, Modified, true) // kqueue reports directory writes
		}
		return
	}
	if !w.ignored(rel, false) {
		w.cur.record(rel, Modified, false)
	}
}

// chmodded handles an attribute change.
func (w *Watcher) chmodded(rel string) {
	d := w.dirs[rel]
	if d != nil && d.state == dirIgnored {
		return
	}
	if d == nil && w.ignored(rel, false) {
		return
	}
	w.cur.record(rel, Attrib, d != nil)
}

// maxPendingErrors bounds the errors kept between two wake-ups of run;
// one is enough to rescan, the rest only make the log longer.
const maxPendingErrors = 16

// drainErrors receives fsnotify's errors the moment they are sent and
// hands them to run. fsnotify sends some errors while holding the lock
// that its Add and Remove take, so run, which calls those, must never be
// the goroutine fsnotify waits for. It returns when fsnotify's Errors
// channel is closed, which Close causes.
func (w *Watcher) drainErrors() {
	defer close(w.errDrained)
	for err := range w.fsw.Errors {
		w.errMu.Lock()
		if len(w.errs) < maxPendingErrors || errors.Is(err, fsnotify.ErrEventOverflow) {
			w.errs = append(w.errs, err)
		}
		w.errMu.Unlock()
		select {
		case w.errWake <- struct{}{}:
		default:
		}
	}
}

// handleErrors handles errors from fsnotify. Failing to remove a watch the
// kernel had dropped already (EINVAL, reported when fsnotify drops the
// watch of a directory that moved) loses nothing. Any other error means
// events were lost: the queue overflowed, or reading failed.
func (w *Watcher) handleErrors(errs []error) {
	lost := false
	for _, err := range errs {
		switch {
		case errors.Is(err, syscall.EINVAL) || errors.Is(err, fsnotify.ErrNonExistentWatch):
			w.log.Debug("watch: removing a stale watch failed", "err", err)
		case errors.Is(err, fsnotify.ErrEventOverflow):
			lost = true
			w.warnOnce(&w.warnedOverflow, "watch: kernel event queue overflowed; rescanning the tree (raise fs.inotify.max_queued_events)",
				"root", w.root)
		default:
			lost = true
			w.warnOnce(&w.warnedOther, "watch: reading events failed; rescanning the tree", "root", w.root, "err", err)
		}
	}
	if lost {
		w.lost()
	}
}

// lost recovers from lost events: the whole tree is reported for rescan,
// and the watcher's own record of directories is rebuilt.
func (w *Watcher) lost() {
	w.cur.unpair()
	w.cur.addRescan(".")
	w.relist(".")
	if d := w.dirs["."]; d == nil {
		w.rootLost()
	}
}
