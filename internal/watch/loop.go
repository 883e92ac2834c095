package watch

import (
	"errors"
	"os"
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

	events, errs := w.fsw.Events, w.fsw.Errors
	var ready *Batch
	for {
		if now := time.Now(); ready == nil && !w.cur.empty() {
			due := w.cur.due(w.o.Quiet, w.o.MaxLatency)
			if !now.Before(due) {
				b := w.cur.take()
				ready = &b
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
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			w.lost(err)
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

// renamed handles the old name of a rename. Watches of a directory are
// dropped at once: fsnotify keeps them under the old name, and re-adding
// the directory under its new name would otherwise return the same
// inotify watch, which fsnotify then removes when it sees the directory's
// own move event.
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
	if m := w.cur.move; m != nil {
		if m.rel == rel {
			return // the directory's own move event, after its parent's
		}
		w.cur.unpair()
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
	if err != nil {
		// Gone already; its removal event follows.
		w.cur.unpair()
		if !w.ignored(rel, false) {
			w.cur.record(rel, Created, false)
		}
		return
	}
	isDir := fi.IsDir()
	if w.ignored(rel, isDir) {
		w.cur.unpair()
		if isDir {
			w.track(rel, &dirInfo{state: dirIgnored})
		} else {
			w.untrack(rel)
		}
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
	if !isDir {
		if from != "" {
			w.cur.moved(from, rel, false)
		} else {
			w.cur.record(rel, Created, false)
		}
		return
	}
	if from != "" {
		w.cur.moved(from, rel, true)
		w.watchTree(rel, false, false)
		w.cur.addRescan(rel)
		return
	}
	w.cur.record(rel, Created, true)
	w.watchTree(rel, true, false)
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
		// A late event must not drop the watch of a directory that
		// already replaced the removed one.
		fi, err := os.Lstat(w.abs(rel))
		if err != nil || d.state != dirWatched || !os.SameFile(d.fi, fi) {
			w.untrack(rel)
		}
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

// lost handles an error from fsnotify: the event queue overflowed or
// reading failed, so events were lost. The whole tree is reported for
// rescan, and the watcher's own record of directories is rebuilt.
func (w *Watcher) lost(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		w.warnOnce(&w.warnedOverflow, "watch: kernel event queue overflowed; rescanning the tree (raise fs.inotify.max_queued_events)",
			"root", w.root)
	} else {
		w.warnOnce(&w.warnedOther, "watch: reading events failed; rescanning the tree", "root", w.root, "err", err)
	}
	w.cur.unpair()
	w.cur.addRescan(".")
	w.relist(".")
	if d := w.dirs["."]; d == nil {
		w.rootLost()
	}
}
