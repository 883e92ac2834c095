package watch

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults for the zero fields of Options.
const (
	DefaultQuiet         = 10 * time.Millisecond
	DefaultMaxLatency    = 50 * time.Millisecond
	DefaultRetryInterval = time.Second
)

// ErrClosed is returned by Reevaluate after Close.
var ErrClosed = errors.New("watch: watcher closed")

// Op is the set of things the watcher saw happen to one path during a
// batch. The flags are hints: see "What a consumer cannot rely on" in the
// package documentation.
type Op uint8

const (
	// Created: an entry appeared at the path: it was created, was found in
	// a directory that appeared, or was renamed there from a place the
	// watcher could not pair. It may have replaced an existing entry.
	Created Op = 1 << iota
	// Modified: the content of the file at the path was written.
	Modified
	// Removed: the entry at the path was removed, or renamed to a place the
	// watcher could not pair the rename with.
	Removed
	// Attrib: the entry's metadata (mode, owner, times, extended
	// attributes, link count) changed.
	Attrib
	// MovedFrom: the entry at the path was renamed away, to the path of the
	// Change with MovedTo whose From names this path (or whose chain of
	// renames in this batch started here).
	MovedFrom
	// MovedTo: an entry was renamed onto the path; From names where it was.
	MovedTo
)

var opNames = []string{"created", "modified", "removed", "attrib", "moved-from", "moved-to"}

// String returns the set flags' names joined by "|", or "none".
func (op Op) String() string {
	var b strings.Builder
	for i, name := range opNames {
		if op&(1<<i) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(name)
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// Change says that the entry at Path may have changed.
type Change struct {
	// Path is slash-separated and relative to the root; "." is the root.
	Path string
	// Op summarises what was seen to happen to Path during the batch.
	Op Op
	// Dir is true when the entry is (or, for Removed and MovedFrom, was)
	// known to be a directory.
	Dir bool
	// From is set only with MovedTo: where the entry was renamed from,
	// followed back through the renames seen in this batch. It is empty
	// when that is not known or is Path itself.
	From string
}

// Batch is what a Watcher delivers: the changes seen during one debounce
// window. Changes is sorted by Path and names each path at most once.
// Rescan lists subtrees (sorted, none inside another) that the consumer
// must walk again in full because events under them may have been lost or
// misattributed; a Change inside a Rescan path is left out unless it has
// From.
type Batch struct {
	Changes []Change
	Rescan  []string
}

// Options configures a Watcher. The zero value is usable.
type Options struct {
	// Ignore reports whether the entry at rel (slash-separated, relative to
	// the root, never ".") is ignored; isDir tells whether it is a
	// directory. An ignored directory is neither watched nor entered. Nil
	// ignores nothing. Ignore is called by New and then by the watcher's
	// event loop, never concurrently with itself; a caller that changes
	// its rules must make that safe against those calls, and then call
	// Reevaluate.
	Ignore func(rel string, isDir bool) bool
	// Quiet is how long the tree must be quiet before a batch is delivered
	// (DefaultQuiet if zero). It is also the longest gap between the two
	// halves of a rename that are paired.
	Quiet time.Duration
	// MaxLatency bounds how long after its first event a batch is
	// delivered when the tree keeps changing (DefaultMaxLatency if zero).
	// A consumer that is not receiving delays delivery further.
	MaxLatency time.Duration
	// RetryInterval is how often watches that could not be added are tried
	// again (DefaultRetryInterval if zero).
	RetryInterval time.Duration
	// Logger receives warnings about lost events and watch limits. Nil
	// discards them.
	Logger *slog.Logger

	// beforeEvent, if set, is called by the event loop before it handles
	// each fsnotify event. Tests use it to stall the loop.
	beforeEvent func()
	// addHook, if set, is called before each watch is added; an error it
	// returns is treated as the error of adding the watch.
	addHook func(rel string) error
}

// Watcher watches a directory tree; see the package documentation. Its
// methods are safe for concurrent use.
type Watcher struct {
	root   string // absolute, symlinks resolved, cleaned
	prefix string // root with a trailing separator
	fsw    *fsnotify.Watcher
	o      Options
	log    *slog.Logger

	out     chan Batch
	reeval  chan reevalRequest
	quit    chan struct{}
	stopped chan struct{} // closed when run returns

	// fsnotify's errors, collected by drainErrors and handed to run.
	errMu      sync.Mutex
	errs       []error
	errWake    chan struct{} // capacity 1: errs is not empty
	errDrained chan struct{} // closed when drainErrors returns

	closeOnce sync.Once
	closeErr  error

	// The fields below are owned by the event loop (and by New before it
	// starts the loop).

	dirs   map[string]*dirInfo
	byID   map[fileID]string // identity of a watched directory → its key in dirs
	failed map[string]bool   // directories whose watch failed → the failure is a resource limit
	cur    *accumulator
	gen    uint64 // mark for the sweep after a full relisting

	warnedOverflow bool
	warnedLimit    bool
	warnedOther    bool
}

type reevalRequest struct {
	rel  string
	done chan struct{}
}

// New starts watching the directory root and everything below it that
// Options.Ignore does not ignore. root is resolved to an absolute path with
// symbolic links evaluated once, here; the root itself may thus be a
// symlink, while nothing below it is followed. When New returns, every
// directory of the tree has a watch (or is scheduled for rescans, see the
// package documentation), so changes made from now on are reported.
// Changes made before are not. The caller must call Close.
func New(root string, o Options) (*Watcher, error) {
	if o.Quiet <= 0 {
		o.Quiet = DefaultQuiet
	}
	if o.MaxLatency <= 0 {
		o.MaxLatency = DefaultMaxLatency
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = DefaultRetryInterval
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	abs, err = filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("watch %s: not a directory", root)
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}

	prefix := abs
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	w := &Watcher{
		root:    abs,
		prefix:  prefix,
		fsw:     fsw,
		o:       o,
		log:     log,
		out:     make(chan Batch),
		reeval:  make(chan reevalRequest),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),

		errWake:    make(chan struct{}, 1),
		errDrained: make(chan struct{}),
		dirs:       make(map[string]*dirInfo),
		byID:       make(map[fileID]string),
		failed:     make(map[string]bool),
		cur:        newAccumulator(),
	}

	// Adding watches can wait for fsnotify's errors to be received.
	go w.drainErrors()

	// The root must be watched for New to succeed; a failure anywhere
	// below it is reported as a Rescan instead.
	w.watchTree(".", false, false)
	if d := w.dirs["."]; d == nil || d.state != dirWatched {
		fsw.Close()
		<-w.errDrained
		err := errors.New("root changed while being watched")
		if d != nil && d.err != nil {
			err = d.err
		}
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	w.cur.stamp(time.Now())

	go w.run()
	return w, nil
}

// Batches returns the channel on which batches are delivered. It is closed
// by Close. Batches are built only as fast as they are received.
func (w *Watcher) Batches() <-chan Batch { return w.out }

// Reevaluate tells the watcher that the ignore rules for the directory rel
// (slash-separated, relative to the root) and everything below it may
// have changed, for example because a .gitignore file there was edited.
// The watcher asks Options.Ignore again about every directory in that
// subtree that it knows of: those now ignored stop being watched, those no
// longer ignored start being watched. When Reevaluate returns, the watches
// are in place, and, unless rel is inside a directory that is still
// ignored, a later batch has a Rescan of rel (or of an ancestor) so that
// the consumer can apply the new rules to the subtree; files whose ignore
// status changed are not reported individually. It returns ErrClosed once
// Close has been called.
func (w *Watcher) Reevaluate(rel string) error {
	req := reevalRequest{rel: cleanRel(rel), done: make(chan struct{})}
	select {
	case w.reeval <- req:
	case <-w.stopped:
		return ErrClosed
	}
	select {
	case <-req.done:
		return nil
	case <-w.stopped:
		return ErrClosed
	}
}

// Close stops watching, waits for the watcher's goroutines to finish and
// closes the Batches channel; a batch not yet received is dropped. It
// returns the error of closing the underlying fsnotify watcher. Calling
// Close again returns the same error.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		close(w.quit)
		<-w.stopped
		if err := w.fsw.Close(); err != nil {
			w.closeErr = fmt.Errorf("watch %s: close: %w", w.root, err)
		}
		<-w.errDrained
	})
	return w.closeErr
}

// cleanRel turns a caller's relative path into the form used in batches.
func cleanRel(rel string) string {
	rel = filepath.ToSlash(filepath.Clean(filepath.FromSlash(rel)))
	if rel == "" || rel == "/" || strings.HasPrefix(rel, "../") || rel == ".." {
		return "."
	}
	return strings.TrimPrefix(rel, "/")
}

// abs returns the absolute path of rel.
func (w *Watcher) abs(rel string) string {
	if rel == "." {
		return w.root
	}
	return w.prefix + filepath.FromSlash(rel)
}

// rel returns the relative path of an absolute path under the root.
func (w *Watcher) rel(abs string) (string, bool) {
	if abs == w.root {
		return ".", true
	}
	if !strings.HasPrefix(abs, w.prefix) || len(abs) == len(w.prefix) {
		return "", false
	}
	return filepath.ToSlash(abs[len(w.prefix):]), true
}

// ignored applies Options.Ignore; the root is never ignored.
func (w *Watcher) ignored(rel string, isDir bool) bool {
	return rel != "." && w.o.Ignore != nil && w.o.Ignore(rel, isDir)
}
