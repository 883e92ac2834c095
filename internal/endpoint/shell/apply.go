package shell

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// maxOpsCommand bounds the ops of one command.
const maxOpsCommand = 512

// opNames names the op kinds in errors.
var opNames = map[wire.OpKind]string{
	wire.OpMkdir:   "mkdir",
	wire.OpSymlink: "symlink",
	wire.OpRemove:  "remove",
	wire.OpSetMeta: "setmeta",
	wire.OpRename:  "rename",
	wire.OpLink:    "link",
	wire.OpMknod:   "mknod",
}

// Apply implements endpoint.Endpoint. Ops run in order, in commands of up
// to 512; runs of consecutive ops of one kind share the work that costs a
// process on the far side. Every op checks the directory of its path
// (each component a real directory, not a symlink) when it runs, and then:
//
//   - OpMkdir leaves an existing directory alone, mode included; a file
//     or symlink in the way is removed first. A new directory gets
//     Mode|0700 (the shell's umask does not apply). "." always succeeds.
//   - OpSymlink puts the link in place by staging, like a file (see
//     Commit): atomically, over a file or symlink; a directory in the way
//     is removed first, with its contents.
//   - OpRemove removes Path and its contents with rm -rf, which does not
//     follow symlinks. A missing Path or parent is success.
//   - OpSetMeta sets the mode and mtime of a directory by extracting a
//     tar entry for it (with nanoseconds where tar keeps them), those of a
//     file with chmod and touch, and only the mtime of a symlink (where
//     touch has -h). Where tar fails, directories fall back to chmod and
//     touch.
//   - OpRename moves Target to Path with mv -T, replacing a file or
//     symlink at Path, or a directory with its contents. A missing Target
//     fails with an error matching fs.ErrNotExist; one of Path and Target
//     inside the other fails with endpoint.ErrInvalidPath; without mv -T
//     it fails with errors.ErrUnsupported.
//   - OpLink and OpMknod fail with errors.ErrUnsupported (see Caps), and
//     the Attrs of OpSetMeta and OpSymlink are ignored.
//
// OpSymlink and OpRemove refuse "." with endpoint.ErrInvalidPath, as does
// an unknown op kind. The second result is the failure of a command as a
// whole: the session lost (endpoint.ErrClosed) or ctx ended.
func (e *shellEndpoint) Apply(ctx context.Context, ops []wire.Op) ([]error, error) {
	if e.closed.Load() {
		return nil, fmt.Errorf("apply: %w", endpoint.ErrClosed)
	}
	errs := make([]error, len(ops))
	var todo []int
	for i, op := range ops {
		if err := e.checkOp(ctx, op); err != nil {
			errs[i] = err
			continue
		}
		if op.Kind == wire.OpMkdir && op.Path == "." {
			continue
		}
		todo = append(todo, i)
	}
	for len(todo) > 0 {
		n := min(len(todo), maxOpsCommand)
		if err := e.apply(ctx, ops, todo[:n], errs); err != nil {
			return nil, fmt.Errorf("apply: %w", err)
		}
		todo = todo[n:]
	}
	return errs, nil
}

// checkOp validates op before it is sent.
func (e *shellEndpoint) checkOp(ctx context.Context, op wire.Op) error {
	name, ok := opNames[op.Kind]
	if !ok {
		return fmt.Errorf("apply %s: %w: unknown op kind %d", op.Path, endpoint.ErrInvalidPath, op.Kind)
	}
	if err := e.check(ctx, name, op.Path); err != nil {
		return err
	}
	switch op.Kind {
	case wire.OpLink, wire.OpMknod:
		return fmt.Errorf("%s %s: %w through a shell", name, op.Path, errors.ErrUnsupported)
	case wire.OpSymlink, wire.OpRemove:
		if op.Path == "." {
			return fmt.Errorf("%s .: %w: the root", name, endpoint.ErrInvalidPath)
		}
	}
	switch op.Kind {
	case wire.OpSymlink:
		if op.Target == "" || strings.IndexByte(op.Target, 0) >= 0 || len(op.Target) > wire.MaxPath {
			return fmt.Errorf("symlink %s: %w: bad target %q", op.Path, endpoint.ErrInvalidPath, op.Target)
		}
	case wire.OpRename:
		if err := wire.ValidPath(op.Target); err != nil {
			return fmt.Errorf("rename %s: %w: %v", op.Path, endpoint.ErrInvalidPath, err)
		}
		if op.Path == "." || op.Target == "." || isUnder(op.Path, op.Target) || isUnder(op.Target, op.Path) {
			return fmt.Errorf("rename %s: %w: %s and %s overlap", op.Path, endpoint.ErrInvalidPath, op.Target, op.Path)
		}
	}
	return nil
}

// isUnder reports whether p is dir or beneath it.
func isUnder(p, dir string) bool {
	return p == dir || len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir
}

// apply runs the ops ops[todo[...]] as one command, setting their errors.
func (e *shellEndpoint) apply(ctx context.Context, ops []wire.Op, todo []int, errs []error) error {
	var sc script
	var stages []*stageRun
	var metas []*metaRun
	ready := 0
	for i := 0; i < len(todo); {
		op := ops[todo[i]]
		j, size := i+1, len(op.Path)
		for j < len(todo) && ops[todo[j]].Kind == op.Kind && (op.Kind != wire.OpMkdir || ops[todo[j]].Mode == op.Mode) {
			// mkdir and rm get the paths of a run as arguments.
			if size += len(e.root) + len(ops[todo[j]].Path) + 8; size > maxArgs {
				break
			}
			j++
		}
		run := todo[i:j]
		switch op.Kind {
		case wire.OpMkdir:
			e.mkdirs(&sc, ops, run)
		case wire.OpRemove:
			e.removes(&sc, ops, run)
		case wire.OpSetMeta:
			m := &metaRun{ready: ready, ops: run}
			ready++
			m.write(&sc, ops)
			metas = append(metas, m)
		case wire.OpSymlink:
			items := make([]*stageItem, len(run))
			now := time.Now().UnixNano()
			for n, k := range run {
				items[n] = &stageItem{rel: ops[k].Path, link: true, target: ops[k].Target, mtime: now}
			}
			r := newStageRun(e, ready, items, run)
			ready++
			r.write(&sc)
			stages = append(stages, r)
		case wire.OpRename:
			run = run[:1]
			j = i + 1
			e.rename(&sc, ops, run[0])
		}
		i = j
	}
	sc.line("fcp_m $Q END 0")

	results := make(opResults, len(ops))
	req := &request{script: &sc, onEvent: func(ev *event) (*payload, error) {
		switch ev.kind {
		case "READY":
			r := ev.arg(0)
			for _, s := range stages {
				if s.ready == r {
					return s.payload(ev.args[1:]), nil
				}
			}
			for _, m := range metas {
				if m.ready == r {
					return m.payload(ops, ev.args[1:]), nil
				}
			}
		case "OP":
			results.set(ev)
		}
		return nil, nil
	}}
	if _, err := e.s.do(ctx, req); err != nil {
		return err
	}
	for _, k := range todo {
		op := ops[k]
		r := results[k]
		rel := op.Path
		if r.side == "t" {
			rel = op.Target
		}
		errs[k] = r.err(opNames[op.Kind], rel)
	}
	for _, s := range stages {
		for i, k := range s.ops {
			if s.errs[i] != nil {
				errs[k] = fmt.Errorf("symlink %s: %w", ops[k].Path, s.errs[i])
			}
		}
	}
	return nil
}

// pathVar returns shell text for the absolute path of rel, held in a
// variable of sc.
func pathVar(sc *script, rel string) string {
	if rel == "." {
		return `"$R/."`
	}
	return `"$R/$` + sc.str(rel) + `"`
}

// dirCheck appends the check of the directory of op k's path rel,
// setting s<k> and n<k>.
func dirCheck(sc *script, k int, rel string) {
	sc.f("fcp_dir \"$%s\"; s%d=$? n%d=$_n\n", sc.str(parentDir(rel)), k, k)
}

// mkdirs appends a run of OpMkdir, all of one mode, made by one mkdir.
// A missing parent is left for mkdir to report, as it may be made by an
// earlier op of the run.
func (e *shellEndpoint) mkdirs(sc *script, ops []wire.Op, run []int) {
	sc.line("set --")
	for _, k := range run {
		p := pathVar(sc, ops[k].Path)
		dirCheck(sc, k, ops[k].Path)
		sc.f("if [ $s%d = 2 ]; then s%d=0; fi\n", k, k)
		sc.f("if [ $s%d = 0 ] && { [ ! -d %s ] || [ -L %s ]; }; then if [ -L %s ] || [ -e %s ]; then rm -f -- %s >/dev/null 2>&1; fi; set -- \"$@\" %s; fi\n",
			k, p, p, p, p, p, p)
	}
	sc.f("_e=; if [ $# -gt 0 ]; then _e=$(mkdir -m %s -- \"$@\" 2>&1); fi\n", octal(ops[run[0]].Mode|0o700))
	for _, k := range run {
		p := pathVar(sc, ops[k].Path)
		sc.f("if [ $s%d = 0 ] && { [ ! -d %s ] || [ -L %s ]; }; then s%d=1; printf '%%s\\n' \"$_e\"; fi; fcp_m $Q OP %d $s%d $n%d\n",
			k, p, p, k, k, k, k)
	}
}

// removes appends a run of OpRemove, done by one rm -rf.
func (e *shellEndpoint) removes(sc *script, ops []wire.Op, run []int) {
	sc.line("set --")
	for _, k := range run {
		p := pathVar(sc, ops[k].Path)
		dirCheck(sc, k, ops[k].Path)
		sc.f("if [ $s%d = 2 ]; then s%d=0; elif [ $s%d = 0 ] && { [ -L %s ] || [ -e %s ]; }; then set -- \"$@\" %s; fi\n",
			k, k, k, p, p, p)
	}
	sc.line(`_e=; if [ $# -gt 0 ]; then _e=$(rm -rf -- "$@" 2>&1); fi`)
	for _, k := range run {
		p := pathVar(sc, ops[k].Path)
		sc.f("if [ $s%d = 0 ] && { [ -L %s ] || [ -e %s ]; }; then s%d=1; printf '%%s\\n' \"$_e\"; fi; fcp_m $Q OP %d $s%d $n%d\n",
			k, p, p, k, k, k, k)
	}
}

// rename appends one OpRename.
func (e *shellEndpoint) rename(sc *script, ops []wire.Op, k int) {
	op := ops[k]
	from, to := pathVar(sc, op.Target), pathVar(sc, op.Path)
	sc.f("fcp_dir \"$%s\"; s%d=$? n%d=$_n w%d=t\n", sc.str(parentDir(op.Target)), k, k, k)
	sc.f("if [ $s%d = 0 ]; then fcp_dir \"$%s\"; s%d=$? n%d=$_n w%d=; fi\n", k, sc.str(parentDir(op.Path)), k, k, k)
	sc.f("if [ $s%d = 0 ] && [ ! -L %s ] && [ ! -e %s ]; then s%d=%d; fi\n", k, from, from, k, stNotExist)
	sc.f("if [ $s%d = 0 ] && [ \"$M_T\" != 1 ]; then s%d=%d; fi\n", k, k, stUnsupported)
	sc.f("if [ $s%d = 0 ]; then if [ -L %s ]; then if [ -d %s ]; then rm -f -- %s; fi; elif [ -d %s ]; then rm -rf -- %s; fi; mv -f -T -- %s %s || s%d=1; fi\n",
		k, to, to, to, to, to, from, to, k)
	sc.f("fcp_m $Q OP %d $s%d $n%d $w%d\n", k, k, k, k)
}

// metaRun is a run of OpSetMeta: the shell sorts the paths into
// directories (D), files (F) and symlinks (L) and reports them at a READY
// marker; the directories then get their mode and mtime from one tar
// stream of directory entries.
type metaRun struct {
	ready int
	ops   []int
}

// write appends the run's shell code to sc.
func (m *metaRun) write(sc *script, ops []wire.Op) {
	var classes strings.Builder
	for _, k := range m.ops {
		p := pathVar(sc, ops[k].Path)
		dirCheck(sc, k, ops[k].Path)
		sc.f("if [ $s%d = 0 ]; then if [ -L %s ]; then s%d=L; elif [ -d %s ]; then s%d=D; elif [ -e %s ]; then s%d=F; else s%d=%d; fi; fi\n",
			k, p, k, p, k, p, k, k, stNotExist)
		fmt.Fprintf(&classes, " $s%d", k)
	}
	sc.f("fcp_m $Q READY %d%s\n", m.ready, classes.String())
	sc.line(`read -r _z`)
	sc.line(`_t=1; if [ "$_z" -gt 0 ]; then fcp_x "$_z" >/dev/null 2>&1 && _t=0; fi`)
	for _, k := range m.ops {
		op := ops[k]
		p := pathVar(sc, op.Path)
		ns, s := touchTime(op.Mtime)
		set := fmt.Sprintf("chmod %s -- %s && fcp_touch %s %s %s", octal(op.Mode), p, ns, s, p)
		sc.f("case $s%d in D) if [ $_t = 0 ] || { %s; }; then s%d=0; else s%d=1; fi;; F) if %s; then s%d=0; else s%d=1; fi;; L) if [ \"$T_H\" != 1 ] || fcp_touch %s %s %s; then s%d=0; else s%d=1; fi;; esac\n",
			k, set, k, k, set, k, k, ns, s, p, k, k)
		sc.f("fcp_m $Q OP %d $s%d $n%d\n", k, k, k)
	}
}

// payload returns the tar stream of the run's directories; classes are
// the READY marker's arguments.
func (m *metaRun) payload(ops []wire.Op, classes []string) *payload {
	if len(classes) != len(m.ops) {
		return nil // all set with chmod and touch
	}
	var hdrs []*tar.Header
	var size int64 = 2 * 512
	for i, k := range m.ops {
		if classes[i] != "D" {
			continue
		}
		op := ops[k]
		name := op.Path + "/"
		if op.Path == "." {
			name = "./"
		}
		h := &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: int64(op.Mode & 0o7777), ModTime: time.Unix(0, op.Mtime), Format: tar.FormatPAX}
		n, err := headerSize(h)
		if err != nil {
			return nil // all set with chmod and touch instead
		}
		hdrs = append(hdrs, h)
		size += n
	}
	if len(hdrs) == 0 {
		return nil
	}
	return &payload{size: size, write: func(w io.Writer) error {
		tw := tar.NewWriter(w)
		for _, h := range hdrs {
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
		}
		return tw.Close()
	}}
}
