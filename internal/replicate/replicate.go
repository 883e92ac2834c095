// Package replicate keeps a copy of a local tree in step with it: an
// initial replication through the copy engine, then every change a
// watcher reports, applied as it happens (package transfer's SyncPaths),
// over whatever Dialer gives: fcp's agent or a shell-only receiver.
//
// Nothing is lost: the watcher starts before the initial replication, so
// changes made meanwhile are applied after it; a subtree whose events may
// have been lost (a full kernel queue, a watch that could not be added)
// is copied again in full; a lost connection is dialled again, with
// backoff, and the whole tree replicated again (unchanged files skipped)
// before the changes that piled up meanwhile are applied.
package replicate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/endpoint/local"
	"github.com/fcp-dev/fcp/internal/ignore"
	"github.com/fcp-dev/fcp/internal/transfer"
	"github.com/fcp-dev/fcp/internal/watch"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Dialer connects to the replica: it returns the endpoint rooted at the
// copy (made if missing), a function that ends the connection, and a
// description of the mode in use (for the one line saying so).
type Dialer func(ctx context.Context) (dst endpoint.Endpoint, closeFn func() error, mode string, err error)

// Options adjusts Run. The zero value replicates once, without watching.
type Options struct {
	CleanOutFirst bool // empty the copy (dotfiles included) before anything else
	Initial       bool // replicate the whole tree first
	OnChange      bool // then watch and apply changes until ctx ends
	Gitignore     bool // leave out what git ignores (.git included)
	Delete        bool // remove files of the copy that the tree lacks, on full replications
	Debugging     bool // print each path sent and each change seen to Out

	// Exclude, if set, leaves out more paths (relative to the tree, never
	// "."), as Gitignore does.
	Exclude func(rel string, isDir bool) bool

	Out    io.Writer    // where Debugging prints and the mode is announced; nil discards
	Name   string       // starts the lines printed to Out; "fcp replicate" if empty
	Logger *slog.Logger // nil discards

	// ReconnectMax bounds the wait between two dials after a lost
	// connection (default 5 s); dials go on until ctx ends.
	ReconnectMax time.Duration
}

// Run replicates the directory src through dial until ctx ends (with
// OnChange) or once. A first dial that fails is returned; later ones are
// retried.
func Run(ctx context.Context, src string, dial Dialer, o Options) error {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Name == "" {
		o.Name = "fcp replicate"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = 5 * time.Second
	}
	r := &replicator{o: o, dial: dial, src: src}
	if err := r.fresh(); err != nil {
		return err
	}
	defer func() { r.srcEP.Close() }()
	if o.Gitignore {
		m, err := ignore.New(src, ignore.Options{Home: os.Getenv("HOME"), XDGConfigHome: os.Getenv("XDG_CONFIG_HOME"), Logger: o.Logger})
		if err != nil {
			return fmt.Errorf("reading ignore rules: %w", err)
		}
		defer m.Close()
		r.ignore = m
	}

	// Watch first: what changes during the initial replication is seen.
	var w *watch.Watcher
	if o.OnChange {
		var err error
		w, err = watch.New(src, watch.Options{Ignore: r.ignored, Logger: o.Logger})
		if err != nil {
			return fmt.Errorf("watching %s: %w", src, err)
		}
		defer w.Close()
	}
	if err := r.connect(ctx); err != nil {
		return err
	}
	defer r.disconnect()
	if o.CleanOutFirst {
		if err := r.cleanOut(ctx); err != nil {
			return err
		}
	}
	if o.Initial {
		if err := r.full(ctx, "."); err != nil {
			return err
		}
	}
	if w == nil {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case b, ok := <-w.Batches():
			if !ok {
				return errors.New("the watcher stopped")
			}
			for {
				err := r.apply(ctx, w, b)
				if err == nil || ctx.Err() != nil {
					break
				}
				if !lost(err) {
					o.Logger.Warn("replicating changes failed", "err", err)
					break
				}
				// Reconnect, replicate everything again (what changed while
				// the connection was down included), then apply b again.
				if err := r.reconnect(ctx, err); err != nil {
					return err
				}
			}
		}
	}
}

// replicator is the state of one Run.
type replicator struct {
	o      Options
	dial   Dialer
	src    string
	srcEP  endpoint.Endpoint
	ignore *ignore.Matcher // nil without Gitignore

	dst     endpoint.Endpoint
	closeFn func() error
	mode    string
}

// fresh opens the source tree anew. A local endpoint keeps directories
// open by path, and the tree changes under it: a directory removed and
// made again, or renamed and replaced, would be read through the old one.
// Each batch of changes therefore reads through a new endpoint.
func (r *replicator) fresh() error {
	ep, err := local.Open(r.src, false)
	if err != nil {
		return err
	}
	if r.srcEP != nil {
		r.srcEP.Close()
	}
	r.srcEP = ep
	return nil
}

// ignored is the filter of scans and of the watcher: git's rules with
// Gitignore, and nothing otherwise.
func (r *replicator) ignored(rel string, isDir bool) bool {
	if rel == ".git" || strings.HasPrefix(rel, ".git/") {
		return true // never replicated, with or without Gitignore
	}
	if r.o.Exclude != nil && r.o.Exclude(rel, isDir) {
		return true
	}
	return r.ignore != nil && r.ignore.Ignored(rel, isDir)
}

func (r *replicator) connect(ctx context.Context) error {
	dst, closeFn, mode, err := r.dial(ctx)
	if err != nil {
		return err
	}
	if mode != r.mode {
		fmt.Fprintf(r.o.Out, "%s: %s\n", r.o.Name, mode)
	}
	r.dst, r.closeFn, r.mode = dst, closeFn, mode
	return nil
}

func (r *replicator) disconnect() {
	if r.dst != nil {
		r.dst.Close()
		r.closeFn()
		r.dst = nil
	}
}

// reconnect dials again with backoff until it succeeds or ctx ends, then
// replicates the whole tree.
func (r *replicator) reconnect(ctx context.Context, cause error) error {
	r.disconnect()
	r.o.Logger.Warn("connection lost; reconnecting", "err", cause)
	fmt.Fprintf(r.o.Out, "%s: connection lost (%v); reconnecting\n", r.o.Name, cause)
	wait := 250 * time.Millisecond
	for {
		err := r.connect(ctx)
		if err == nil {
			if err = r.full(ctx, "."); err == nil {
				fmt.Fprintf(r.o.Out, "%s: reconnected and in step again\n", r.o.Name)
				return nil
			}
			r.disconnect()
		}
		if ctx.Err() != nil {
			return nil
		}
		r.o.Logger.Info("reconnecting failed", "err", err, "retry in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, r.o.ReconnectMax)
	}
}

// cleanOut removes everything in the copy, dotfiles included.
func (r *replicator) cleanOut(ctx context.Context) error {
	var ops []wire.Op
	err := r.dst.Scan(ctx, ".", endpoint.ScanOptions{}, func(en *wire.Entry) error {
		if en.Path != "." && !strings.Contains(en.Path, "/") {
			ops = append(ops, wire.Op{Kind: wire.OpRemove, Path: en.Path})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cleaning out the copy: %w", err)
	}
	for len(ops) > 0 {
		n := min(len(ops), wire.MaxBatch)
		errs, err := r.dst.Apply(ctx, ops[:n])
		if err != nil {
			return fmt.Errorf("cleaning out the copy: %w", err)
		}
		for i, err := range errs {
			if err != nil {
				return fmt.Errorf("cleaning out the copy: %s: %w", ops[i].Path, err)
			}
		}
		ops = ops[n:]
	}
	return nil
}

// full replicates the subtree rel with the copy engine (or removes it
// from the copy if it is gone).
func (r *replicator) full(ctx context.Context, rel string) error {
	if rel != "." {
		if _, err := os.Lstat(filepath.Join(r.src, filepath.FromSlash(rel))); errors.Is(err, fs.ErrNotExist) {
			_, err := transfer.SyncPaths(ctx, r.srcEP, r.dst, []transfer.Change{{Path: rel}}, r.engineOptions())
			if errors.Is(err, transfer.ErrPartial) {
				return nil // reported path by path
			}
			return err
		}
	}
	st, err := transfer.Run(ctx, r.dst, []transfer.Job{{Src: r.srcEP, SrcRel: rel, DestRel: rel}}, r.engineOptions())
	if err != nil && !errors.Is(err, transfer.ErrPartial) && !errors.Is(err, transfer.ErrVanished) {
		return err
	}
	r.o.Logger.Info("replicated", "path", rel, "created", st.Created, "updated", st.Updated, "deleted", st.Deleted, "bytes", st.Bytes)
	return nil
}

func (r *replicator) engineOptions() transfer.Options {
	o := transfer.Options{
		Delete: r.o.Delete,
		Delta:  true,
		Ignore: r.ignored,
		Logger: r.o.Logger,
		OnEvent: func(ev transfer.Event) {
			switch {
			case ev.Action == transfer.ActError && errors.Is(ev.Err, endpoint.ErrChanged):
				// Still being written: its next change sends it again.
				r.o.Logger.Debug("file changing; sent with its next change", "path", ev.Path)
			case ev.Action == transfer.ActError:
				fmt.Fprintf(r.o.Out, "%s: %s: %v\n", r.o.Name, ev.Path, ev.Err)
			case r.o.Debugging:
				fmt.Fprintf(r.o.Out, "%s %s\n", ev.Action, ev.Path)
			}
		},
	}
	return o
}

// apply replicates one batch of changes.
func (r *replicator) apply(ctx context.Context, w *watch.Watcher, b watch.Batch) error {
	if err := r.fresh(); err != nil {
		return err
	}
	// A change seen under a directory's old name before the directory was
	// renamed (in this batch) is now under its new name.
	moved := map[string]string{}
	born := map[string]bool{} // created during this batch: the copy never had them
	for _, c := range b.Changes {
		if c.Op&watch.MovedTo != 0 && c.From != "" && c.Dir {
			moved[c.From] = c.Path
		}
		if c.Op&watch.Created != 0 && c.Op&watch.MovedTo == 0 {
			born[c.Path] = true
		}
	}
	var changes []transfer.Change
	for _, c := range b.Changes {
		if c.Op&watch.MovedTo == 0 {
			c.Path = renamed(c.Path, moved)
		}
		if r.o.Debugging {
			fmt.Fprintf(r.o.Out, "changed %s (%v)\n", c.Path, c.Op)
		}
		if r.ignore != nil && (c.Path == ".gitignore" || strings.HasSuffix(c.Path, "/.gitignore")) {
			// The rules of that directory changed: what they now leave in
			// is replicated in full (and watched).
			dir := parentOf(c.Path)
			if dir == "." {
				r.ignore.Forget("") // the matcher's name for the root
			} else {
				r.ignore.Forget(dir)
			}
			if err := w.Reevaluate(dir); err != nil {
				r.o.Logger.Warn("re-evaluating ignore rules", "dir", dir, "err", err)
			}
			b.Rescan = append(b.Rescan, dir)
		}
		if c.Op&watch.MovedTo != 0 && c.From != "" && !born[c.From] {
			// (An editor's save renames a file it has just written: the
			// copy never had it, so the target is simply sent.)
			changes = append(changes, transfer.Change{Path: c.Path, From: c.From})
			if c.Op&(watch.Created|watch.Modified|watch.Attrib) == 0 {
				continue
			}
		}
		changes = append(changes, transfer.Change{Path: c.Path})
	}
	for _, rel := range b.Rescan {
		if r.o.Debugging {
			fmt.Fprintf(r.o.Out, "rescan %s\n", rel)
		}
		if err := r.full(ctx, rel); err != nil {
			return err
		}
	}
	if len(changes) == 0 {
		return nil
	}
	_, err := transfer.SyncPaths(ctx, r.srcEP, r.dst, changes, r.engineOptions())
	if errors.Is(err, transfer.ErrPartial) {
		return nil // reported path by path
	}
	return err
}

// renamed returns p with its longest ancestor that moved (a key of moved)
// replaced by where it went.
func renamed(p string, moved map[string]string) string {
	for dir := parentOf(p); dir != "."; dir = parentOf(dir) {
		if to, ok := moved[dir]; ok {
			return to + p[len(dir):]
		}
	}
	return p
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return "."
}

// lost reports whether err means the connection to the copy was lost.
func lost(err error) bool {
	return errors.Is(err, endpoint.ErrClosed)
}
