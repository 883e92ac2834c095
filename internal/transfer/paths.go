package transfer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Change names one path of a tree that may have changed, for SyncPaths.
// With From set it says only that From was renamed to Path; a Change of
// Path without From as well says Path may also have changed since.
type Change struct {
	Path string // relative to both roots
	From string // if set, Path was renamed from From: tried first as a rename at the destination
}

// SyncPaths makes each changed path of dst match the same path of src
// without scanning dst, for a caller that knows what changed (a watcher):
// a path missing from src is removed from dst; a directory is made (its
// contents are not walked: the caller names changed children, or uses Run
// for a subtree); a symlink is made; a file is copied (as a delta when it
// is large enough to pay and dst may hold an old version). A rename is
// tried as a rename at dst first, so a moved file or directory costs no
// data; if that fails, its target is copied and its source removed.
// Afterwards the mode and mtime of each changed directory and of the
// parents of changed paths are set from src, deepest first.
//
// Errors about single paths are reported as in Run (Options.OnEvent,
// ErrPartial); Options.Delete, Checksum and Rules do not apply (the caller
// filters the paths it passes).
func SyncPaths(ctx context.Context, src, dst endpoint.Endpoint, changes []Change, o Options) (Stats, error) {
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e := newEngine(ctx, dst, []Job{{Src: src, SrcRel: ".", DestRel: "."}}, o)

	dirs := map[string]bool{}    // directories whose metadata is set at the end
	paths := map[string]bool{}   // to sync
	changed := map[string]bool{} // named by a Change without From
	var renames []wire.Op
	for _, c := range changes {
		if c.From != "" && c.From != c.Path {
			renames = append(renames, wire.Op{Kind: wire.OpRename, Path: c.Path, Target: c.From})
			paths[c.From] = true // gone from src after the rename; removed if the rename failed
		} else {
			changed[c.Path] = true
		}
		paths[c.Path] = true
	}
	if len(renames) > 0 {
		errs, err := dst.Apply(ctx, renames)
		if err != nil {
			return e.stats(), fmt.Errorf("apply: %w", err)
		}
		for i, op := range renames {
			if errs[i] == nil {
				// Moved: the old name is gone on both sides, and the new
				// one needs nothing more unless it changed too.
				delete(paths, op.Target)
				if !changed[op.Path] {
					delete(paths, op.Path)
				}
				dirs[parent(op.Path)], dirs[parent(op.Target)] = true, true
				e.event(Event{Action: ActUpdate, Path: op.Path, Type: wire.TypeFile})
			}
		}
	}

	sorted := slices.SortedFunc(func(yield func(string) bool) {
		for p := range paths {
			if !yield(p) {
				return
			}
		}
	}, wire.ComparePaths)
	var ops []opItem
	var files []fileTask
	for _, p := range sorted {
		se, err := entryOf(ctx, src, p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if p != "." {
				ops = append(ops, opItem{op: wire.Op{Kind: wire.OpRemove, Path: p}, typ: wire.TypeFile, action: ActDelete})
			}
			dirs[parent(p)] = true
			continue
		case err != nil:
			e.fail(p, wire.TypeFile, err)
			continue
		}
		dirs[parent(p)] = true
		switch se.Type {
		case wire.TypeDir:
			ops = append(ops, opItem{op: wire.Op{Kind: wire.OpMkdir, Path: p, Mode: se.Mode}, typ: wire.TypeDir})
			dirs[p] = true
		case wire.TypeSymlink:
			ops = append(ops, opItem{op: wire.Op{Kind: wire.OpSymlink, Path: p, Target: se.Target}, typ: wire.TypeSymlink, action: ActUpdate})
		case wire.TypeFile:
			e.o.Counters.AddTotal(1, se.Size)
			basis := wire.BasisNone
			if se.Size >= endpoint.ResumeMin {
				basis = wire.BasisAny
			}
			files = append(files, fileTask{srcRel: p, path: p, entry: *se, action: ActUpdate, basis: basis})
		}
	}
	delete(dirs, "")
	for len(ops) > 0 {
		n := min(len(ops), maxOpsBatch)
		if err := e.apply(ctx, ops[:n]); err != nil {
			return e.stats(), err
		}
		ops = ops[n:]
	}
	for _, t := range files {
		e.startFile(t)
	}
	close(e.tasks)
	if err := e.workers.Wait(); err != nil {
		return e.stats(), err
	}

	// Directory metadata last, deepest first: writing into a directory
	// moved its mtime.
	var meta []opItem
	for _, d := range slices.SortedFunc(func(yield func(string) bool) {
		for d := range dirs {
			if !yield(d) {
				return
			}
		}
	}, wire.ComparePaths) {
		if e.underFailed(d) {
			continue
		}
		se, err := entryOf(ctx, src, d)
		if err != nil || se.Type != wire.TypeDir {
			continue
		}
		meta = append(meta, opItem{op: wire.Op{Kind: wire.OpSetMeta, Path: d, Mode: se.Mode, Mtime: se.Mtime}, typ: wire.TypeDir})
	}
	slices.Reverse(meta)
	for len(meta) > 0 {
		n := min(len(meta), maxOpsBatch)
		if err := e.apply(ctx, meta[:n]); err != nil {
			return e.stats(), err
		}
		meta = meta[n:]
	}
	st := e.stats()
	if st.Errors > 0 {
		return st, fmt.Errorf("%w (%d errors)", ErrPartial, st.Errors)
	}
	return st, nil
}

// errStop ends a scan after its first entry.
var errStop = errors.New("stop")

// entryOf returns what src has at p (not following a symlink), an error
// matching fs.ErrNotExist if nothing.
func entryOf(ctx context.Context, src endpoint.Endpoint, p string) (*wire.Entry, error) {
	var got *wire.Entry
	err := src.Scan(ctx, p, endpoint.ScanOptions{}, func(en *wire.Entry) error {
		c := *en
		got = &c
		return errStop
	})
	if got != nil {
		return got, nil
	}
	if err == nil {
		err = fs.ErrNotExist
	}
	return nil, err
}
