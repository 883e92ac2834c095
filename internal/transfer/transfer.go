package transfer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/progress"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Errors returned by Run, wrapped with detail.
var (
	// ErrPartial means some entries failed; each was reported as an event.
	ErrPartial = errors.New("transfer: some files were not transferred")
	// ErrVanished means some source files disappeared during the run and
	// nothing else failed.
	ErrVanished = errors.New("transfer: some source files vanished")
)

// Job is one source tree and where it lands in the destination.
type Job struct {
	Src     endpoint.Endpoint
	SrcRel  string // what to copy under Src's root: "." or a relative path
	DestRel string // where it lands under the destination root
}

// Action says what happened, or would happen in a dry run, to one path.
type Action string

// Actions reported in events.
const (
	ActCreate Action = "create" // new in the destination
	ActUpdate Action = "update" // content replaced
	ActMeta   Action = "meta"   // only mode or mtime set
	ActDelete Action = "delete" // removed from the destination
	ActError  Action = "error"  // failed; Event.Err says why
)

// Event reports one path. Path is relative to the destination root.
type Event struct {
	Action Action
	Path   string
	Type   wire.FileType
	Bytes  int64 // file data sent
	Err    error
}

// Options adjusts Run. The zero value copies with defaults.
type Options struct {
	Delete   bool     // remove destination entries the sources lack
	DryRun   bool     // report what would change, change nothing
	Checksum bool     // compare file contents, not size and mtime
	Rules    []string // filter rules (package filter text form)

	// Ignore, if set, excludes paths (relative to the destination root,
	// which for a job copying "." onto "." is the source root too) like
	// Rules do: they are neither copied nor deleted. Endpoints in this
	// process prune ignored directories while scanning; entries of remote
	// ones are dropped as they arrive.
	Ignore func(rel string, isDir bool) bool

	ChunkSize    int   // bytes per read; default wire.DefaultRead
	Workers      int   // files in flight; default 64
	ReadAhead    int   // chunks in flight per large file; default 4
	MemoryBudget int64 // bytes of file data in flight; default 64 MiB

	// Delta rebuilds a changed file from the destination's old version
	// when it is at least DeltaMin bytes (rsync's delta algorithm); the
	// partial files of interrupted runs are used either way.
	Delta bool

	// BandwidthLimit caps the rate at which file data is written, over
	// all workers, in bytes per second (rsync's --bwlimit); 0 means no
	// limit.
	BandwidthLimit int64

	// Metadata is what is kept beyond mode and mtime.
	Metadata

	// OnNotice, if set, receives notices: one line each about metadata
	// that is not kept or special files skipped. They are not errors.
	OnNotice func(string)

	// OnEvent, if set, receives every event. It is called from many
	// goroutines at once and must be safe for that.
	OnEvent  func(Event)
	Counters *progress.Counters // bumped as work is found and done; may be nil
	Logger   *slog.Logger       // may be nil
}

// Metadata says what a run keeps beyond mode and mtime, each part where
// the destination can (Endpoint.Caps). Owners and groups are kept only by
// a destination that runs as root, silently left to it otherwise, and
// mapped by name unless NumericIDs. Hard links are kept among the regular
// files of one job: a file's first link in path order is copied, the
// others are linked to it, so its data is sent once; finding them costs
// memory for the files with several links whose links the scan has not
// all reached. Extended attributes and ACLs missing from a file system
// are a notice, not an error. Without Specials and Devices, FIFOs and
// device nodes are skipped, counted in a notice; sockets always are.
type Metadata struct {
	Owner, Group bool
	NumericIDs   bool
	HardLinks    bool
	Xattrs, ACLs bool
	Specials     bool // FIFOs
	Devices      bool // character and block devices
	// Sparse sends every file with holes as its data only (see
	// wire.Entry.Sparse); a file at least half holes always is.
	Sparse bool
}

// Stats summarises a run.
type Stats struct {
	Created, Updated, Meta, Deleted, Errors, Vanished int64
	Bytes                                             int64
}

// Run makes the destination dst match jobs as documented in the package.
// With Options.DryRun, dst may be nil, meaning an empty destination that
// does not exist yet.
func Run(ctx context.Context, dst endpoint.Endpoint, jobs []Job, o Options) (Stats, error) {
	o = o.withDefaults()
	if dst == nil && !o.DryRun {
		return Stats{}, errors.New("transfer: no destination")
	}

	caps := allCaps
	if dst != nil {
		caps = dst.Caps()
	}
	o, notices := o.restrict(caps)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	scans, sctx := errgroup.WithContext(ctx)
	scanOpts := endpoint.ScanOptions{Hash: o.Checksum, Rules: o.Rules, Ignore: o.Ignore, Want: o.want()}

	srcStreams := make([]*stream, len(jobs))
	for i, j := range jobs {
		srcStreams[i] = startScan(sctx, scans, j.Src, j.SrcRel, j.DestRel, i, scanOpts, false)
	}
	var dstStreams []*stream
	if dst != nil {
		for _, rel := range destScanRoots(jobs) {
			dstOpts := scanOpts
			dstOpts.Tidy = !o.DryRun
			dstOpts.Want &^= wire.WantSparse
			dstStreams = append(dstStreams, startScan(sctx, scans, dst, rel, rel, -1, dstOpts, true))
		}
	}

	e := newEngine(sctx, dst, jobs, o)
	e.caps = caps
	e.notify(notices)
	defer func() { e.notify(e.notes.lines()) }()

	runErr := e.merge(e.wctx, srcStreams, dstStreams)
	if runErr != nil {
		cancel()
	}
	close(e.tasks)
	werr := e.workers.Wait()
	if runErr == nil && werr == nil {
		runErr = e.finish(ctx)
	}
	if runErr != nil {
		cancel()
	}
	serr := scans.Wait()
	err := firstFatal(runErr, werr, serr)
	st := e.stats()
	if err != nil {
		return st, err
	}
	switch {
	case st.Errors > 0:
		return st, fmt.Errorf("%w (%d errors)", ErrPartial, st.Errors)
	case st.Vanished > 0:
		return st, fmt.Errorf("%w (%d files)", ErrVanished, st.Vanished)
	}
	return st, nil
}

// withDefaults fills in the zero fields of o.
func (o Options) withDefaults() Options {
	if o.ChunkSize <= 0 || o.ChunkSize > wire.MaxChunk {
		o.ChunkSize = wire.DefaultRead
	}
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.ReadAhead <= 0 {
		o.ReadAhead = 4
	}
	if o.MemoryBudget < int64(o.ChunkSize) {
		o.MemoryBudget = 64 << 20
		if o.MemoryBudget < int64(o.ChunkSize) {
			o.MemoryBudget = int64(o.ChunkSize)
		}
	}
	if o.Counters == nil {
		o.Counters = new(progress.Counters)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// newEngine returns an engine whose workers run under ctx; o has its
// defaults.
func newEngine(ctx context.Context, dst endpoint.Endpoint, jobs []Job, o Options) *engine {
	e := &engine{
		o:    o,
		dst:  dst,
		jobs: jobs,
		mem:  semaphore.NewWeighted(o.MemoryBudget),
	}
	e.limit = newLimiter(o.BandwidthLimit, o.ChunkSize)
	e.workers, e.wctx = errgroup.WithContext(ctx)
	e.workers.SetLimit(o.Workers)
	e.tasks = make(chan fileTask)
	return e
}

// firstFatal picks the most telling error: the first that is not merely a
// cancellation caused by another.
func firstFatal(errs ...error) error {
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if first == nil {
			first = err
		}
		if !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return first
}

// destScanRoots returns the destination subtrees to scan: each job's
// DestRel, or only the root when a job lands at the root.
func destScanRoots(jobs []Job) []string {
	seen := map[string]bool{}
	var roots []string
	for _, j := range jobs {
		if j.DestRel == "." {
			return []string{"."}
		}
		if !seen[j.DestRel] {
			seen[j.DestRel] = true
			roots = append(roots, j.DestRel)
		}
	}
	return roots
}

// engine holds the state of one Run.
type engine struct {
	o    Options
	dst  endpoint.Endpoint
	jobs []Job
	mem  *semaphore.Weighted

	limit *limiter // nil without Options.BandwidthLimit

	workers *errgroup.Group
	wctx    context.Context
	tasks   chan fileTask // files for idle workers; closed after the merge

	ops      []opItem   // namespace ops not yet applied
	held     []fileTask // files waiting for ops to be applied
	meta     []opItem   // directory metadata to apply with the next ops (see dirs.go)
	failed   map[string]bool
	noDelete bool // a source scan failed: deleting could lose data

	caps    wire.Caps          // what the destination keeps
	leaders map[string]*leader // Options.HardLinks: files whose other links are to come, by path
	links   []opItem           // OpLinks, applied once the files are written
	notes   notes

	dirMu sync.Mutex
	ready []opItem // directory metadata queued by done; guarded by dirMu

	mu sync.Mutex
	st Stats
}

type opItem struct {
	op     wire.Op
	typ    wire.FileType
	action Action
	dir    *dirFrame // done once the op is applied; nil for none
}

type fileTask struct {
	job    int
	srcRel string // path under the job's source root
	path   string // path under the destination root
	entry  wire.Entry
	action Action
	basis  wire.Basis // what the file may be rebuilt from (see basisFor)
	dir    *dirFrame  // the directory it is in, done with the file; nil for none
}

func (e *engine) stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st
}

func (e *engine) event(ev Event) {
	e.mu.Lock()
	switch ev.Action {
	case ActCreate:
		e.st.Created++
	case ActUpdate:
		e.st.Updated++
	case ActMeta:
		e.st.Meta++
	case ActDelete:
		e.st.Deleted++
	case ActError:
		if errors.Is(ev.Err, fs.ErrNotExist) && !errors.Is(ev.Err, endpoint.ErrInvalidPath) && ev.Type == wire.TypeFile {
			e.st.Vanished++
		} else {
			e.st.Errors++
		}
	}
	e.st.Bytes += ev.Bytes
	e.mu.Unlock()
	if ev.Action == ActError {
		e.o.Counters.AddError()
	}
	if e.o.OnEvent != nil {
		e.o.OnEvent(ev)
	}
}

// fail reports err for p and marks p so nothing beneath it is attempted.
func (e *engine) fail(p string, typ wire.FileType, err error) {
	e.mu.Lock()
	if e.failed == nil {
		e.failed = map[string]bool{}
	}
	under := e.underFailedLocked(p)
	e.failed[p] = true
	e.mu.Unlock()
	if !under {
		e.event(Event{Action: ActError, Path: p, Type: typ, Err: err})
	}
}

// failedAt reports whether p or a parent of it failed.
func (e *engine) failedAt(p string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failed[p] || e.underFailedLocked(p)
}

func (e *engine) underFailed(p string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.underFailedLocked(p)
}

func (e *engine) underFailedLocked(p string) bool {
	for q := parent(p); q != ""; q = parent(q) {
		if e.failed[q] {
			return true
		}
	}
	return false
}

// parent returns the parent of a relative path, "." for a top-level name
// and "" for ".".
func parent(p string) string {
	if p == "." {
		return ""
	}
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return "."
}

// isUnder reports whether p is strictly inside dir.
func isUnder(p, dir string) bool {
	if dir == "." {
		return p != "."
	}
	return len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir
}

// merge walks the merged source and destination streams and dispatches the
// work each difference needs.
func (e *engine) merge(ctx context.Context, srcs, dsts []*stream) error {
	src := &merger{streams: srcs}
	dst := &merger{streams: dsts}
	var stack []*dirFrame
	skip := "" // destination subtree being removed or replaced
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		s, err := src.peek(ctx)
		if err != nil {
			return err
		}
		d, err := dst.peek(ctx)
		if err != nil {
			return err
		}
		e.scanErrors(src, true)
		e.scanErrors(dst, false)
		if s == nil && d == nil {
			break
		}
		var cmp int
		switch {
		case s == nil:
			cmp = 1
		case d == nil:
			cmp = -1
		default:
			cmp = wire.ComparePaths(s.path, d.path)
		}
		cur := d
		if cmp <= 0 {
			cur = s
		}
		for len(stack) > 0 && !isUnder(cur.path, stack[len(stack)-1].path) {
			e.closeDir(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
		}
		var top *dirFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if skip != "" && !isUnder(cur.path, skip) {
			skip = ""
		}

		switch {
		case cmp > 0: // destination only
			dst.next()
			if skip != "" {
				continue
			}
			if e.o.Delete && !e.noDelete {
				e.addOp(opItem{op: wire.Op{Kind: wire.OpRemove, Path: d.path}, typ: d.e.Type, action: ActDelete})
				markDirty(top)
			}
			if d.e.Type == wire.TypeDir {
				skip = d.path
			}
		case cmp < 0: // source only
			src.next()
			if f := e.handle(ctx, s, nil, top); f != nil {
				stack = append(stack, f)
			}
		default:
			src.next()
			dst.next()
			if d.e.Type == wire.TypeDir && s.e.Type != wire.TypeDir {
				skip = d.path
			}
			if f := e.handle(ctx, s, &d.e, top); f != nil {
				stack = append(stack, f)
			}
		}
		if err := e.maybeFlush(ctx, false); err != nil {
			return err
		}
	}
	for len(stack) > 0 {
		e.closeDir(stack[len(stack)-1])
		stack = stack[:len(stack)-1]
	}
	return e.maybeFlush(ctx, true)
}

// scanErrors reports the scan errors m collected. After a source scan
// error nothing more is deleted.
func (e *engine) scanErrors(m *merger, source bool) {
	for _, err := range m.errs {
		if source && e.o.Delete && !e.noDelete {
			e.o.Logger.Warn("not deleting anything: a source could not be read completely")
		}
		if source {
			e.noDelete = true
		}
		e.event(Event{Action: ActError, Path: ".", Type: wire.TypeDir, Err: err})
	}
	m.errs = nil
}

func markDirty(f *dirFrame) {
	if f != nil {
		f.needMeta = true
	}
}

// handle decides what the source entry s needs given the destination
// entry d (nil if absent). It returns a frame when s is a directory.
func (e *engine) handle(ctx context.Context, s *item, d *wire.Entry, top *dirFrame) *dirFrame {
	se := &s.e
	switch se.Type {
	case wire.TypeDir:
		f := e.enterDir(s, top)
		switch {
		case d == nil || d.Type != wire.TypeDir:
			e.addOp(opItem{op: wire.Op{Kind: wire.OpMkdir, Path: s.path, Mode: se.Mode}, typ: wire.TypeDir, action: create(d)})
			f.needMeta = true
			markDirty(top)
		default:
			if d.Mode&0o700 != 0o700 {
				e.addOp(opItem{op: wire.Op{Kind: wire.OpSetMeta, Path: s.path, Mode: d.Mode | 0o700, Mtime: d.Mtime}, typ: wire.TypeDir})
				f.needMeta = true
			}
			if d.Mode != se.Mode || d.Mtime != se.Mtime || !e.sameAttrs(se, d) {
				f.needMeta = true
			}
		}
		return f
	case wire.TypeSymlink:
		if d != nil && d.Type == wire.TypeSymlink && d.Target == se.Target {
			if !e.sameAttrs(se, d) {
				e.addOp(opItem{op: wire.Op{Kind: wire.OpSetMeta, Path: s.path, Mtime: se.Mtime, Attrs: e.attrs(se)}, typ: wire.TypeSymlink, action: ActMeta})
			}
			return nil
		}
		e.addOp(opItem{op: wire.Op{Kind: wire.OpSymlink, Path: s.path, Target: se.Target, Attrs: e.attrs(se)}, typ: wire.TypeSymlink, action: create(d)})
		markDirty(top)
	case wire.TypeFIFO, wire.TypeChar, wire.TypeBlock:
		e.special(s, d, top)
	case wire.TypeFile:
		links := e.o.HardLinks && se.Nlink > 1
		if links && e.link(s, d, top) {
			return nil
		}
		if d != nil && d.Type == wire.TypeFile && e.sameContent(se, d) {
			if d.Mode != se.Mode || d.Mtime != se.Mtime || !e.sameAttrs(se, d) {
				e.addOp(opItem{op: wire.Op{Kind: wire.OpSetMeta, Path: s.path, Mode: se.Mode, Mtime: se.Mtime, Attrs: e.attrs(se)}, typ: wire.TypeFile, action: ActMeta})
			}
			if links {
				e.lead(s, false)
			}
			return nil
		}
		if links {
			e.lead(s, true)
		}
		markDirty(top)
		e.o.Counters.AddTotal(1, se.Size)
		t := fileTask{job: s.job, srcRel: s.srcRel, path: s.path, entry: *se, action: create(d), basis: e.basisFor(se, d), dir: top}
		e.hold(top)
		if len(e.ops) > 0 {
			e.held = append(e.held, t)
			return nil
		}
		e.startFile(t)
	}
	return nil
}

func create(d *wire.Entry) Action {
	if d == nil {
		return ActCreate
	}
	return ActUpdate
}

func (e *engine) sameContent(s, d *wire.Entry) bool {
	if s.Size != d.Size {
		return false
	}
	if e.o.Checksum {
		return s.HasSum && d.HasSum && s.Sum == d.Sum
	}
	return s.Mtime == d.Mtime
}

func (e *engine) addOp(it opItem) {
	e.ops = append(e.ops, it)
}

const (
	maxOpsBatch  = 1024
	maxHeldFiles = 1024
)

// maybeFlush applies pending ops, and after them the metadata of finished
// directories, when there are enough of them (or always, with force),
// then releases the files that waited for the ops. Files never wait for
// directory metadata.
func (e *engine) maybeFlush(ctx context.Context, force bool) error {
	e.takeReady()
	if len(e.ops) == 0 && (len(e.meta) == 0 || !force && len(e.meta) < maxOpsBatch) {
		e.releaseHeld()
		return nil
	}
	if !force && len(e.ops) < maxOpsBatch && len(e.held) < maxHeldFiles && len(e.meta) < maxOpsBatch {
		return nil
	}
	ops := append(e.ops, e.meta...)
	e.ops, e.meta = nil, nil
	if err := e.apply(ctx, ops); err != nil {
		return err
	}
	e.releaseHeld()
	return nil
}

func (e *engine) releaseHeld() {
	held := e.held
	e.held = nil
	for _, t := range held {
		e.startFile(t)
	}
}

// apply runs ops on the destination (or only reports them in a dry run).
func (e *engine) apply(ctx context.Context, items []opItem) error {
	var todo []opItem
	for _, it := range items {
		switch {
		case e.failedAt(it.op.Path):
		case it.op.Kind == wire.OpLink && e.failedAt(it.op.Target):
			e.fail(it.op.Path, it.typ, fmt.Errorf("not linked: %s failed", it.op.Target))
		default:
			todo = append(todo, it)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	var errs []error
	if !e.o.DryRun {
		ops := make([]wire.Op, len(todo))
		for i, it := range todo {
			ops[i] = it.op
		}
		var err error
		errs, err = e.dst.Apply(ctx, ops)
		if err != nil {
			return fmt.Errorf("apply: %w", err)
		}
	}
	for i, it := range todo {
		var err error
		if i < len(errs) {
			err = errs[i]
		}
		err = e.applied(it, err)
		switch {
		case err == errSkipped:
		case err != nil && errors.Is(err, endpoint.ErrNoSpace):
			return err
		case err != nil:
			e.fail(it.op.Path, it.typ, err)
		case it.action != "":
			e.event(Event{Action: it.action, Path: it.op.Path, Type: it.typ})
		}
	}
	return nil
}

// finish makes the hard links collected during the merge, now that the
// files they link are written, then applies the metadata of the
// directories finished since the last batch, which by now is all of them
// (see dirs.go), deepest first.
func (e *engine) finish(ctx context.Context) error {
	for links := e.links; len(links) > 0; {
		n := min(len(links), maxOpsBatch)
		if err := e.apply(ctx, links[:n]); err != nil {
			return err
		}
		for _, it := range links[:n] {
			e.done(it.dir)
		}
		links = links[n:]
	}
	e.links = nil
	e.takeReady()
	for items := e.meta; len(items) > 0; {
		n := min(len(items), maxOpsBatch)
		if err := e.apply(ctx, items[:n]); err != nil {
			return err
		}
		items = items[n:]
	}
	e.meta = nil
	return nil
}

// startFile hands t to a worker, waiting for a free one. Workers live
// until the merge ends, taking one file after another, so a file costs
// no new goroutine (and no new stack to grow) once Options.Workers run.
func (e *engine) startFile(t fileTask) {
	if e.underFailed(t.path) {
		e.done(t.dir)
		return
	}
	if e.o.DryRun {
		e.event(Event{Action: t.action, Path: t.path, Type: wire.TypeFile, Bytes: t.entry.Size})
		e.done(t.dir)
		return
	}
	select {
	case e.tasks <- t: // an idle worker
		return
	default:
	}
	if e.workers.TryGo(func() error { return e.work(t) }) {
		return
	}
	select {
	case e.tasks <- t:
	case <-e.wctx.Done(): // the run failed: t is dropped with it
	}
}

// work copies t and then every file handed to it, until the merge ends or
// a fatal error.
func (e *engine) work(t fileTask) error {
	for {
		n, err := e.copyFile(e.wctx, t)
		if errors.Is(err, endpoint.ErrMetaUnsupported) {
			e.notes.unkept(err)
			err = nil
		}
		if err != nil {
			if fatal(e.wctx, err) {
				return fmt.Errorf("%s: %w", t.path, err)
			}
			e.fail(t.path, wire.TypeFile, err)
		} else {
			e.o.Counters.AddFile()
			e.event(Event{Action: t.action, Path: t.path, Type: wire.TypeFile, Bytes: n})
		}
		e.done(t.dir)
		var ok bool
		if t, ok = <-e.tasks; !ok {
			return nil
		}
	}
}

// fatal reports whether err should stop the whole run.
func fatal(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, endpoint.ErrClosed) || errors.Is(err, endpoint.ErrNoSpace) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
