package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/fcp-dev/fcp/internal/agent"
	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/endpoint/remote"
	"github.com/fcp-dev/fcp/internal/filter"
	"github.com/fcp-dev/fcp/internal/layout"
	"github.com/fcp-dev/fcp/internal/progress"
	"github.com/fcp-dev/fcp/internal/replicate"
	"github.com/fcp-dev/fcp/internal/transfer"
	"github.com/fcp-dev/fcp/internal/wire"
)

// copyOptions are the flags of the copy verb (fcp's root command).
type copyOptions struct {
	recursive   bool
	delete      bool
	dryRun      bool
	checksum    bool
	includes    []string
	excludes    []string
	excludeFrom []string
	jsonOut     bool
	verbose     int
	quiet       bool
	progress    bool
	noProgress  bool

	rsh       string
	port      int
	scpPort   int
	identity  string
	sshConfig string
	streams   int
	workers   int
	chunkSize int
	compress  bool
	wholeFile bool
	gitignore bool
	watch     bool
	bwlimit   string
	reconnect time.Duration

	// Metadata beyond mode and mtime (see transfer.Options).
	archive     bool
	owner       bool
	group       bool
	numericIDs  bool
	hardLinks   bool
	acls        bool
	xattrs      bool
	sparse      bool
	specials    bool
	devices     bool
	devSpecials bool

	agentProfile string // developers: --cpuprofile for every agent
}

func (o *copyOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVarP(&o.recursive, "recursive", "r", false, "accepted for scp/rsync compatibility; directories are always copied recursively")
	f.BoolVar(&o.delete, "delete", false, "delete destination entries that the sources lack (excluded entries are kept)")
	f.BoolVar(&o.dryRun, "dry-run", false, "list what would change, change nothing")
	f.BoolVarP(&o.checksum, "checksum", "c", false, "compare file contents (BLAKE3), not size and mtime, to decide what to skip")
	f.StringArrayVar(&o.includes, "include", nil, "copy only files matching GLOB (repeatable; directories are still entered)")
	f.StringArrayVar(&o.excludes, "exclude", nil, "skip paths matching PATTERNS: comma-separated globs (matched at the right end of the path) or regular expressions (repeatable)")
	f.StringArrayVar(&o.excludeFrom, "exclude-from", nil, "read exclude patterns from FILE, one per line, # comments (repeatable)")
	f.BoolVar(&o.gitignore, "gitignore", false, "leave out what git ignores in the source tree (.gitignore at every level, .git/info/exclude, core.excludesFile) and .git itself")
	f.BoolVar(&o.watch, "watch", false, "after the copy, watch the source directory and copy changes as they happen, until interrupted (one local source directory)")
	f.BoolVar(&o.jsonOut, "json", false, "print one JSON object per changed path and a final summary on stdout")
	f.CountVarP(&o.verbose, "verbose", "v", "list changed paths; repeat for info (-vv) and debug (-vvv) logs")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors")
	f.BoolVar(&o.progress, "progress", false, "show live progress even when stderr is not a terminal")
	f.StringVarP(&o.rsh, "rsh", "e", "", "remote shell COMMAND; fcp runs COMMAND [user@]host sh (default \"ssh\")")
	f.IntVarP(&o.port, "port", "p", 0, "SSH port of the remote host (passed to ssh as -p)")
	f.IntVarP(&o.scpPort, "scp-port", "P", 0, "same as -p, as scp spells it")
	f.StringVarP(&o.identity, "identity", "i", "", "SSH private key file (passed to ssh as -i)")
	f.StringVarP(&o.sshConfig, "ssh-config", "F", "", "SSH config file (passed to ssh as -F)")
	f.IntVarP(&o.streams, "streams", "n", 0, "connections per remote host (default: 4 to a host 5 ms or more away, else one per two cores); large files are split across them")
	f.IntVar(&o.workers, "workers", 0, "files in flight at once (default 64 locally, 192 per connection to a remote host)")
	f.IntVar(&o.chunkSize, "chunk-size", 0, "bytes per read/write chunk (default 1 MiB, at most 4 MiB)")
	f.BoolVarP(&o.compress, "compress", "z", false, "compress file data (zstd) on connections to remote hosts; data that does not compress is sent as is")
	f.BoolVarP(&o.wholeFile, "whole-file", "W", false, "send changed files whole: no delta against the destination's old version (partial files of interrupted runs are still resumed)")
	f.StringVar(&o.bwlimit, "bwlimit", "", "limit the transfer of file data to `RATE` KiB/s, or with a suffix B, K, M or G that unit per second (1.5M); 0 for no limit")
	f.DurationVar(&o.reconnect, "reconnect", 30*time.Second, "re-dial lost connections to a remote host for up to `DURATION` before failing; 0 to fail at once when every connection is lost")
	f.BoolVarP(&o.archive, "archive", "a", false, "keep everything: owner and group (when the destination runs as root), hard links, ACLs, extended attributes, holes, FIFOs and devices (-H -A -X -S -D --owner --group, like rsync -aHAXS)")
	f.BoolVar(&o.owner, "owner", false, "keep the owner, by name (when the destination runs as root; otherwise files belong to the user that writes them)")
	f.BoolVar(&o.group, "group", false, "keep the group, by name (when the destination runs as root)")
	f.BoolVar(&o.numericIDs, "numeric-ids", false, "keep owner and group ids (and those of ACL entries) as numbers, not mapped by name")
	f.BoolVarP(&o.hardLinks, "hard-links", "H", false, "keep hard links: files linked together at the source are linked at the destination, their data sent once")
	f.BoolVarP(&o.acls, "acls", "A", false, "keep POSIX ACLs")
	f.BoolVarP(&o.xattrs, "xattrs", "X", false, "keep extended attributes (user, trusted and security namespaces)")
	f.BoolVarP(&o.sparse, "sparse", "S", false, "send every file with holes as its data and recreate the holes (files at least half holes always are)")
	f.BoolVar(&o.specials, "specials", false, "copy FIFOs (skipped with a notice otherwise; sockets are always skipped)")
	f.BoolVar(&o.devices, "devices", false, "copy character and block devices (the destination must run as root)")
	f.BoolVarP(&o.devSpecials, "devices-specials", "D", false, "same as --devices --specials (rsync's -D)")
	f.StringVar(&o.agentProfile, "agent-cpuprofile", "", "make every agent write a CPU profile to `FILE` on its host, %p standing for its process id (for developers)")
	f.MarkHidden("agent-cpuprofile")
}

// metadata returns what the metadata flags keep beyond mode and mtime:
// -a all of it, -D FIFOs and devices.
func (o *copyOptions) metadata() transfer.Metadata {
	return transfer.Metadata{
		Owner:      o.owner || o.archive,
		Group:      o.group || o.archive,
		NumericIDs: o.numericIDs,
		HardLinks:  o.hardLinks || o.archive,
		ACLs:       o.acls || o.archive,
		Xattrs:     o.xattrs || o.archive,
		Sparse:     o.sparse || o.archive,
		Specials:   o.specials || o.devSpecials || o.archive,
		Devices:    o.devices || o.devSpecials || o.archive,
	}
}

// rules builds the filter rules from the selection flags.
func (o *copyOptions) rules() ([]string, error) {
	var contents []string
	for _, name := range o.excludeFrom {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, usageErrorf("--exclude-from: %w", err)
		}
		contents = append(contents, string(b))
	}
	rules, err := filter.FromFlags(o.includes, o.excludes, contents)
	if err != nil {
		return nil, usageErrorf("%w", err)
	}
	if o.gitignore {
		rules = append(rules, filter.KindGit+" .")
	}
	if _, err := filter.Compile(rules); err != nil {
		return nil, usageErrorf("%w", err)
	}
	return rules, nil
}

func runCopy(ctx context.Context, o copyOptions, args []string, env Env) error {
	rules, err := o.rules()
	if err != nil {
		return err
	}
	if o.chunkSize < 0 || o.chunkSize > wire.MaxChunk {
		return usageErrorf("--chunk-size must be between 1 and %d", wire.MaxChunk)
	}
	var bwlimit int64
	if o.bwlimit != "" {
		if bwlimit, err = transfer.ParseRate(o.bwlimit); err != nil {
			return usageErrorf("--bwlimit: %w", err)
		}
	}
	ops := make([]operand, len(args))
	for i, a := range args {
		if a == "" {
			return usageErrorf("empty operand")
		}
		if ops[i], err = parseOperand(a); err != nil {
			return usageErrorf("%w", err)
		}
	}
	srcOps, dstOp := ops[:len(ops)-1], ops[len(ops)-1]
	for _, s := range srcOps[1:] {
		if !s.sameHost(srcOps[0]) {
			return usageErrorf("all sources must be on the same host: %q and %q", srcOps[0].Raw, s.Raw)
		}
	}

	out := newReporter(env, o, dstOp.Raw)
	defer out.close()

	var srcHost, dstHost endpoint.Host
	shared := dstOp.sameHost(srcOps[0])
	self := selfFunc(sync.OnceValues(agent.Self))
	g, gctx := errgroup.WithContext(ctx)
	var srcConns, dstConns int
	g.Go(func() (err error) { srcHost, srcConns, err = connect(gctx, srcOps[0], o, env, self); return err })
	if !shared {
		g.Go(func() (err error) { dstHost, dstConns, err = connect(gctx, dstOp, o, env, self); return err })
	}
	err = g.Wait()
	if shared {
		dstHost = srcHost
	}
	defer func() {
		if srcHost != nil {
			srcHost.Close()
		}
		if dstHost != nil && !shared {
			dstHost.Close()
		}
	}()
	if err != nil {
		return err
	}
	if o.streams == 0 {
		o.streams = max(srcConns, dstConns)
	}

	srcs, missing, err := resolveSources(ctx, srcHost, srcOps, out)
	if err != nil {
		return err
	}
	if len(srcs) == 0 {
		return withKind(errReported, fmt.Errorf("%w: nothing to copy", transfer.ErrPartial))
	}
	dst, err := statDest(ctx, dstHost, dstOp)
	if err != nil {
		return withKind(errSelect, fmt.Errorf("destination %s: %w", dstOp.Raw, err))
	}
	plan, err := layout.Make(srcs, dst)
	if err != nil {
		return err
	}

	var dstEP endpoint.Endpoint
	if !(o.dryRun && plan.Create) {
		dstEP, err = dstHost.Open(ctx, plan.Root, plan.Create && !o.dryRun)
		if err != nil {
			return withKind(errSelect, fmt.Errorf("destination %s: %w", dstOp.Raw, err))
		}
		defer dstEP.Close()
	}
	roots := map[string]endpoint.Endpoint{}
	var jobs []transfer.Job
	for _, j := range plan.Jobs {
		ep, ok := roots[j.SrcDir]
		if !ok {
			ep, err = srcHost.Open(ctx, j.SrcDir, false)
			if err != nil {
				out.fileError(srcs[j.Source].Arg, err)
				missing++
				continue
			}
			defer ep.Close()
			roots[j.SrcDir] = ep
		}
		jobs = append(jobs, transfer.Job{Src: ep, SrcRel: j.SrcRel, DestRel: j.DestRel})
	}

	start := time.Now()
	out.startProgress(ctx)
	st, err := transfer.Run(ctx, dstEP, jobs, transfer.Options{
		Delete:       o.delete,
		DryRun:       o.dryRun,
		Checksum:     o.checksum,
		Rules:        rules,
		ChunkSize:    o.chunkSize,
		Workers:      o.workersFor(srcOps[0].remote() || dstOp.remote()),
		ReadAhead:    4 * o.connections(),
		MemoryBudget: int64(16<<20) * int64(o.connections()),
		OnEvent:      out.event,
		Counters:     out.counters,
		Logger:       out.logger,

		BandwidthLimit: bwlimit,
		// As rsync: a delta pays where data crosses a network.
		Delta:    !o.wholeFile && (srcOps[0].remote() || dstOp.remote()),
		Metadata: o.metadata(),
		OnNotice: out.notice,
	})
	out.stopProgress()
	out.summary(st, time.Since(start))
	if err == nil && missing > 0 {
		err = fmt.Errorf("%w (%d sources missing)", transfer.ErrPartial, missing)
	}
	if err == nil && o.watch {
		return watchCopy(ctx, o, rules, srcHost, dstHost, plan, env)
	}
	if errors.Is(err, transfer.ErrPartial) || errors.Is(err, transfer.ErrVanished) {
		// Each failure was printed as it happened.
		err = withKind(errReported, err)
	}
	return err
}

// watchCopy is --watch: after the copy, the source directory is watched
// and its changes replicated to its copy (package replicate), until ctx
// ends, which is the normal end (exit 0).
func watchCopy(ctx context.Context, o copyOptions, rules []string, srcHost, dstHost endpoint.Host, plan layout.Plan, env Env) error {
	if len(plan.Jobs) != 1 {
		return usageErrorf("--watch: one source directory only")
	}
	j := plan.Jobs[0]
	src := path.Join(j.SrcDir, j.SrcRel)
	if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
		return usageErrorf("--watch: the source must be a local directory")
	}
	f, err := filter.Compile(rules)
	if err != nil {
		return usageErrorf("%w", err)
	}
	dst, err := dstHost.Open(ctx, path.Join(plan.Root, j.DestRel), false)
	if err != nil {
		return withKind(errSelect, fmt.Errorf("--watch: %w", err))
	}
	// The hosts reconnect by themselves: a "dial" hands out the same copy
	// (which replicate.Run closes at its end).
	dial := func(context.Context) (endpoint.Endpoint, func() error, string, error) {
		return dst, func() error { return nil }, "watching " + src + " (Ctrl-C ends)", nil
	}
	err = replicate.Run(ctx, src, dial, replicate.Options{
		// Again once the watch is up, so nothing changed since the copy
		// read it is missed (unchanged files are skipped).
		Initial:   true,
		OnChange:  true,
		Gitignore: o.gitignore,
		Delete:    o.delete,
		Exclude:   func(rel string, isDir bool) bool { return !f.Match(rel, isDir) },
		Out:       env.Stderr,
		Name:      "fcp",
		Debugging: o.verbose > 0,
		Logger:    newLogger(env.Stderr, o.verbose),
	})
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// resolveSources expands globs and stats every source operand. Missing
// sources are reported and counted, as rsync does, and the rest go on.
func resolveSources(ctx context.Context, h endpoint.Host, ops []operand, out *reporter) ([]layout.Source, int, error) {
	var srcs []layout.Source
	missing := 0
	for _, op := range ops {
		p := op.Path
		if p == "" {
			p = "."
		}
		contents := layout.HasSlash(p)
		paths := []string{p}
		if strings.ContainsAny(p, "*?[") {
			st, err := h.Stat(ctx, p)
			if err != nil {
				return nil, 0, err
			}
			if !st.Exists {
				paths, err = h.Glob(ctx, p)
				if err != nil {
					return nil, 0, err
				}
				if len(paths) == 0 {
					out.fileError(op.Raw, errors.New("no match"))
					missing++
					continue
				}
			}
		}
		for _, sp := range paths {
			st, err := h.Stat(ctx, sp)
			if err != nil {
				return nil, 0, err
			}
			if !st.Exists {
				out.fileError(op.Raw, errors.New("no such file or directory"))
				missing++
				continue
			}
			srcs = append(srcs, layout.Source{Arg: op.Raw, Path: path.Clean(st.Abs), Contents: contents, Type: st.Type})
		}
	}
	return srcs, missing, nil
}

func statDest(ctx context.Context, h endpoint.Host, op operand) (layout.Dest, error) {
	p := op.Path
	if p == "" {
		p = "."
	}
	st, err := h.Stat(ctx, p)
	if err != nil {
		return layout.Dest{}, err
	}
	return layout.Dest{Arg: op.Raw, Path: path.Clean(st.Abs), Slash: layout.HasSlash(p), Exists: st.Exists, Type: st.Type}, nil
}

// reporter turns transfer events into what the user sees: errors on
// stderr, changed paths with -v or --dry-run, JSON with --json, progress
// on a terminal.
type reporter struct {
	env      Env
	o        copyOptions
	counters *progress.Counters
	logger   *slog.Logger
	json     *progress.JSONWriter
	bar      *progress.Renderer
	dest     string // the destination operand, named in errors about its root
	mu       sync.Mutex
}

func newReporter(env Env, o copyOptions, dest string) *reporter {
	r := &reporter{env: env, o: o, dest: dest, counters: new(progress.Counters)}
	r.logger = newLogger(env.Stderr, o.verbose)
	if o.jsonOut {
		r.json = progress.NewJSONWriter(env.Stdout)
	}
	return r
}

func (r *reporter) startProgress(ctx context.Context) {
	if r.o.quiet || r.o.jsonOut || r.o.dryRun {
		return
	}
	if !r.o.progress && !progress.IsTerminal(r.env.Stderr) {
		return
	}
	r.bar = progress.NewRenderer(r.env.Stderr, r.counters)
	r.bar.Start(ctx)
}

func (r *reporter) stopProgress() {
	if r.bar != nil {
		r.bar.Stop()
		r.bar = nil
	}
}

func (r *reporter) close() { r.stopProgress() }

func (r *reporter) fileError(p string, err error) {
	r.counters.AddError()
	if r.json != nil {
		r.json.Error(p, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.env.Stderr, "fcp: %s: %s\n", quote(p), oneLine(err.Error()))
}

// notice prints a one-line notice, which is not an error, unless -q.
func (r *reporter) notice(msg string) {
	if r.o.quiet {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.env.Stderr, "fcp: %s\n", oneLine(msg))
}

func (r *reporter) event(ev transfer.Event) {
	if ev.Action == transfer.ActError {
		p := ev.Path
		if p == "." {
			p = r.dest
		}
		r.fileError(p, ev.Err)
		return
	}
	if r.json != nil {
		r.json.File(string(ev.Action), ev.Path, ev.Type.String(), ev.Bytes)
		return
	}
	if r.o.quiet || !(r.o.verbose > 0 || r.o.dryRun) {
		return
	}
	name := ev.Path
	if ev.Type == wire.TypeDir && name != "." {
		name += "/"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.env.Stdout, "%-6s %s\n", ev.Action, quote(name))
}

func (r *reporter) summary(st transfer.Stats, d time.Duration) {
	if r.json != nil {
		r.json.Summary(progress.Summary{
			Files:   st.Created + st.Updated,
			Bytes:   st.Bytes,
			Deleted: st.Deleted,
			Errors:  st.Errors + st.Vanished,
			Seconds: d.Seconds(),
			DryRun:  r.o.dryRun,
		})
		return
	}
	if r.o.verbose > 0 && !r.o.quiet {
		r.mu.Lock()
		defer r.mu.Unlock()
		fmt.Fprintf(r.env.Stdout, "%d created, %d updated, %d deleted, %d metadata; %s sent in %.2fs\n",
			st.Created, st.Updated, st.Deleted, st.Meta, formatBytes(st.Bytes), d.Seconds())
	}
}

// quote shows a path on one line: as is when printable, else Go-quoted.
func quote(p string) string {
	for _, c := range p {
		if c < ' ' || c == 0x7f || c == '\uFFFD' {
			return fmt.Sprintf("%q", p)
		}
	}
	return p
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// workersFor returns how many files may be in flight. Over a connection
// each small file costs one round trip, so many are kept in flight: at
// 50 ms, 192 per connection pass thousands of files a second. The agent
// accepts 1024 files being written per connection.
func (o copyOptions) workersFor(isRemote bool) int {
	switch {
	case o.workers > 0 && isRemote:
		// More would only make the agents refuse files.
		return min(o.workers, remote.MaxWriters*o.connections())
	case o.workers > 0:
		return o.workers
	case isRemote:
		return 192 * o.connections()
	}
	return 64
}
