package watch

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
)

// errRootGone is the failure recorded for the root while it does not exist.
var errRootGone = errors.New("root directory is gone")

// dirState is what the watcher does about a directory it knows of.
type dirState uint8

const (
	dirWatched dirState = iota + 1 // has a watch and has been listed
	dirIgnored                     // Options.Ignore said so; not entered
	dirFailed                      // adding the watch failed; retried
)

// dirInfo is the watcher's record of one directory. Every directory of the
// tree that is not inside an ignored or failed directory has one, so that
// the type of a removed or renamed path is known and watches can be
// dropped for whole subtrees.
type dirInfo struct {
	state    dirState
	fi       os.FileInfo         // dirWatched: the directory the watch is on
	err      error               // dirFailed: why
	children map[string]struct{} // names of the subdirectories recorded
	gen      uint64              // Watcher.gen when last seen by relist
}

// join returns the relative path of name in the directory rel.
func join(rel, name string) string {
	if rel == "." {
		return name
	}
	return rel + "/" + name
}

// within reports whether rel is top or below it.
func within(rel, top string) bool {
	return top == "." || rel == top || strings.HasPrefix(rel, top+"/")
}

// isGone reports whether err means the path no longer names a directory.
func isGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// isLimit reports whether err means a resource limit was reached: the
// inotify watch limit (ENOSPC) or, with kqueue, open files.
func isLimit(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// track records d for rel, replacing (and untracking) what was there.
func (w *Watcher) track(rel string, d *dirInfo) {
	if w.dirs[rel] != nil {
		w.untrack(rel)
	}
	d.gen = w.gen
	w.dirs[rel] = d
	if d.fi != nil {
		if id, ok := idOf(d.fi); ok {
			w.byID[id] = rel
		}
	}
	if rel != "." {
		if p := w.dirs[path.Dir(rel)]; p != nil {
			if p.children == nil {
				p.children = make(map[string]struct{})
			}
			p.children[path.Base(rel)] = struct{}{}
		}
	}
}

// untrack forgets rel and every directory recorded below it, removing
// their watches.
func (w *Watcher) untrack(rel string) {
	d := w.dirs[rel]
	if d == nil {
		return
	}
	for name := range d.children {
		w.untrack(join(rel, name))
	}
	if d.state == dirWatched {
		// The kernel may have dropped the watch already (the directory
		// is gone); that error says nothing new.
		_ = w.fsw.Remove(w.abs(rel))
	}
	if d.fi != nil {
		if id, ok := idOf(d.fi); ok && w.byID[id] == rel {
			delete(w.byID, id)
		}
	}
	delete(w.failed, rel)
	delete(w.dirs, rel)
	if rel != "." {
		if p := w.dirs[path.Dir(rel)]; p != nil {
			delete(p.children, path.Base(rel))
		}
	}
}

// add adds the watch for the directory rel.
func (w *Watcher) add(rel string) error {
	if w.o.addHook != nil {
		if err := w.o.addHook(rel); err != nil {
			return err
		}
	}
	return w.fsw.Add(w.abs(rel))
}

// watchDir makes sure the directory rel is watched, and reports whether it
// must be listed: it was not watched before, or relist is set. A
// directory that is already watched (the same directory, not a
// replacement) is left alone.
func (w *Watcher) watchDir(rel string, relist bool) bool {
	abs := w.abs(rel)
	fi, err := os.Lstat(abs)
	if err != nil || !fi.IsDir() {
		// Gone or replaced; the parent's events report that.
		return false
	}
	wasFailed := false
	if d := w.dirs[rel]; d != nil {
		if d.state == dirWatched && os.SameFile(d.fi, fi) {
			d.gen = w.gen
			return relist
		}
		wasFailed = d.state == dirFailed
		w.untrack(rel)
	}
	if id, ok := idOf(fi); ok {
		// inotify keeps one watch per inode: if this directory was
		// watched under another name, adding it here would return that
		// watch, which fsnotify keeps under the other name and which
		// goes away when the other name is untracked. So the other
		// record goes first. It is stale either way: the directory was
		// renamed (and its rename event is still to come), or the other
		// directory is gone and its inode number was reused. An ancestor
		// cannot be the same directory, so its watch is already gone.
		if other, ok := w.byID[id]; ok && other != rel && !within(rel, other) {
			w.untrack(other)
		}
	}
	if err := w.add(rel); err != nil {
		if !isGone(err) {
			w.watchFailed(rel, err, wasFailed)
		}
		return false
	}
	// inotify follows symlinks: if the path was replaced between Lstat and
	// the watch, the watch may be on something else. Drop it; the parent's
	// events report the replacement.
	if fi2, err := os.Lstat(abs); err != nil || !os.SameFile(fi, fi2) {
		_ = w.fsw.Remove(abs)
		return false
	}
	w.track(rel, &dirInfo{state: dirWatched, fi: fi})
	return true
}

// watchFailed records that the watch for rel could not be added. The
// directory is rescanned when it first fails, and at every retry while the
// failure is a resource limit, so that nothing in it is missed.
func (w *Watcher) watchFailed(rel string, err error, again bool) {
	limit := isLimit(err)
	w.track(rel, &dirInfo{state: dirFailed, err: err})
	w.failed[rel] = limit
	if !again || limit {
		w.cur.addRescan(rel)
	}
	if limit {
		w.warnOnce(&w.warnedLimit, "watch: watch limit reached; polling directories that cannot be watched (raise fs.inotify.max_user_watches)",
			"path", rel, "err", err)
	} else if !again {
		w.warnOnce(&w.warnedOther, "watch: cannot watch directory; retrying", "path", rel, "err", err)
	}
}

// watchTree watches the directory top and every directory below it that
// is not ignored, each before it is listed, so that nothing created in
// the meantime is missed. With report, every entry found is recorded as
// Created. With relist, directories already watched are listed again (and
// marked with the current generation, see relist); without it they are
// skipped, as they were listed when their watch was added.
func (w *Watcher) watchTree(top string, report, relist bool) {
	stack := []string{top}
	for len(stack) > 0 {
		rel := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !w.watchDir(rel, relist) {
			continue
		}
		entries, err := os.ReadDir(w.abs(rel))
		if err != nil && !isGone(err) {
			w.warnOnce(&w.warnedOther, "watch: cannot list directory; rescanning it", "path", rel, "err", err)
			w.cur.addRescan(rel)
		}
		for _, e := range entries {
			crel := join(rel, e.Name())
			isDir := e.IsDir()
			if w.ignored(crel, isDir) {
				if !isDir {
					continue
				}
				if d := w.dirs[crel]; d != nil && d.state == dirIgnored {
					d.gen = w.gen
				} else {
					w.track(crel, &dirInfo{state: dirIgnored})
				}
				continue
			}
			if report {
				w.cur.record(crel, Created, isDir)
			}
			if isDir {
				stack = append(stack, crel)
			}
		}
	}
}

// relist lists the directory top and everything below it again, watching
// what is not watched, dropping watches inside what is now ignored, and
// forgetting directories that no longer exist. It is how the watcher
// recovers its own state after events were lost.
func (w *Watcher) relist(top string) {
	w.gen++
	w.watchTree(top, false, true)
	var stale []string
	for rel, d := range w.dirs {
		if d.gen != w.gen && within(rel, top) {
			stale = append(stale, rel)
		}
	}
	for _, rel := range stale {
		w.untrack(rel)
	}
}

// reevaluate applies the ignore rules again to the subtree at rel; see
// Watcher.Reevaluate.
func (w *Watcher) reevaluate(rel string) {
	// Start from the nearest directory the watcher knows of, so that a
	// path inside an ignored directory re-evaluates that directory.
	top := rel
	for w.dirs[top] == nil && top != "." {
		top = path.Dir(top)
	}
	d := w.dirs[top]
	switch {
	case d == nil:
		// The root is gone; the retry reports it when it is back.
		return
	case d.state == dirIgnored:
		if w.ignored(top, true) {
			return
		}
		w.untrack(top)
		w.watchTree(top, false, false)
		rel = top
	case d.state == dirWatched:
		w.relist(top)
	}
	// A failed directory is left to the retry; its rescan is still due.
	w.cur.addRescan(rel)
}

// retry tries again to watch the directories whose watch failed.
func (w *Watcher) retry() {
	if len(w.failed) == 0 {
		return
	}
	rels := make([]string, 0, len(w.failed))
	for rel := range w.failed {
		rels = append(rels, rel)
	}
	slices.Sort(rels)
	for _, rel := range rels {
		if d := w.dirs[rel]; d == nil || d.state != dirFailed {
			continue // untracked with an ancestor earlier in this loop
		}
		if _, err := os.Lstat(w.abs(rel)); isGone(err) {
			if rel != "." {
				// Its removal is reported by its parent's watch.
				w.untrack(rel)
			}
			continue
		}
		w.watchTree(rel, false, false)
		if d := w.dirs[rel]; d != nil && d.state == dirWatched {
			w.cur.addRescan(rel)
		}
	}
}

// rootLost handles the removal or renaming of the root: every watch is
// dropped, the whole tree is reported for rescan, and the root is retried.
func (w *Watcher) rootLost() {
	w.cur.unpair()
	w.untrack(".")
	w.track(".", &dirInfo{state: dirFailed, err: errRootGone})
	w.failed["."] = false
	w.cur.addRescan(".")
	w.log.Warn("watch: root directory removed or renamed; waiting for it to come back", "root", w.root)
}

// warnOnce logs at level Warn the first time *done is false, and at level
// Debug after that.
func (w *Watcher) warnOnce(done *bool, msg string, args ...any) {
	if *done {
		w.log.Debug(msg, args...)
		return
	}
	*done = true
	w.log.Warn(msg, args...)
}
