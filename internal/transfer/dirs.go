package transfer

import "github.com/fcp-dev/fcp/internal/wire"

// Directory metadata: a directory's final mode, mtime and attributes are
// set once nothing more will be written in it (writing moves its mtime; a
// read-only mode would stop the writes), and before those of its parent.
// Rather than keeping every directory until the end of the run, each
// directory the merge enters is counted (dirFrame.pending) until the merge
// has left it, every file and hard link in it is done and every
// subdirectory is finished; then its metadata is queued, and it releases
// its parent. So a finished directory costs nothing, and the directories
// held at once are those the merge is in and those with work in flight
// (Options.Workers files, held files, hard links to make) and their
// parents: memory grows with the depth of the tree and the work in
// flight, not with the number of directories.

// dirFrame is a source directory the merge has entered, until its
// metadata is queued.
type dirFrame struct {
	path     string
	entry    wire.Entry
	needMeta bool      // set by the merge while the directory is open
	parent   *dirFrame // nil for a top directory
	// pending counts what the directory waits for: the merge while it is
	// in the directory, work in it not done, subdirectories not finished.
	// Guarded by engine.dirMu.
	pending int
}

// enterDir returns the frame of the directory the merge enters at s,
// below top (nil at the top).
func (e *engine) enterDir(s *item, top *dirFrame) *dirFrame {
	e.hold(top)
	return &dirFrame{path: s.path, entry: s.e, parent: top, pending: 1}
}

// hold counts one more piece of work in f; nil is no directory.
func (e *engine) hold(f *dirFrame) {
	if f == nil {
		return
	}
	e.dirMu.Lock()
	f.pending++
	e.dirMu.Unlock()
}

// done counts a piece of work in f as done. A directory left with none
// queues its metadata (if it needs any) and is done for its parent. It is
// safe for concurrent use.
func (e *engine) done(f *dirFrame) {
	e.dirMu.Lock()
	defer e.dirMu.Unlock()
	for ; f != nil; f = f.parent {
		if f.pending--; f.pending > 0 {
			return
		}
		if f.needMeta {
			e.ready = append(e.ready, opItem{
				op:  wire.Op{Kind: wire.OpSetMeta, Path: f.path, Mode: f.entry.Mode, Mtime: f.entry.Mtime, Attrs: e.attrs(&f.entry)},
				typ: wire.TypeDir,
			})
		}
	}
}

// closeDir is the merge leaving the directory of f.
func (e *engine) closeDir(f *dirFrame) {
	e.done(f)
}

// takeReady moves the metadata of finished directories to e.meta, to be
// applied with the next batch of ops.
func (e *engine) takeReady() {
	e.dirMu.Lock()
	e.meta = append(e.meta, e.ready...)
	clear(e.ready)
	e.ready = e.ready[:0]
	e.dirMu.Unlock()
}
