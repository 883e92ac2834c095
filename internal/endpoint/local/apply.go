package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Apply implements endpoint.Endpoint; its second result is always nil.
// Every op checks its path like Create does (wire.ValidPath, real parent
// directories) and then:
//
//   - OpMkdir leaves an existing directory alone, mode included; a file
//     or symlink in the way is removed first. A new directory gets
//     Mode|0700 less the umask, so the transfer can fill it; set its final
//     mode later with OpSetMeta. "." is the root and always succeeds.
//   - OpSymlink makes the link under a temporary name and renames it over
//     Path; a directory in the way is removed first, with its contents.
//   - OpRemove removes Path and, if it is a directory, its contents,
//     without following symlinks. A missing Path or parent is success.
//   - OpSetMeta sets the mode (07777 bits) and the mtime (atime too) of a
//     file or directory. Of a symlink it sets only the mtime, and only on
//     Linux; symlinks have no mode there.
//
// OpSymlink and OpRemove refuse "." with endpoint.ErrInvalidPath, as does
// an unknown op kind.
func (e *dirEndpoint) Apply(ctx context.Context, ops []wire.Op) ([]error, error) {
	errs := make([]error, len(ops))
	for i, op := range ops {
		errs[i] = e.apply(ctx, op)
	}
	return errs, nil
}

// opNames names the op kinds in errors.
var opNames = map[wire.OpKind]string{
	wire.OpMkdir:   "mkdir",
	wire.OpSymlink: "symlink",
	wire.OpRemove:  "remove",
	wire.OpSetMeta: "setmeta",
}

// apply performs one op.
func (e *dirEndpoint) apply(ctx context.Context, op wire.Op) error {
	name, ok := opNames[op.Kind]
	if !ok {
		return fmt.Errorf("apply %s: %w: unknown op kind %d", op.Path, endpoint.ErrInvalidPath, op.Kind)
	}
	if err := e.check(ctx, name, op.Path); err != nil {
		return err
	}
	if op.Path == "." && (op.Kind == wire.OpSymlink || op.Kind == wire.OpRemove) {
		return fmt.Errorf("%s .: %w: the root", name, endpoint.ErrInvalidPath)
	}
	if err := e.checkParents(op.Path); err != nil {
		if op.Kind == wire.OpRemove && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fail(name, op.Path, err)
	}
	var err error
	switch op.Kind {
	case wire.OpMkdir:
		err = e.mkdir(op.Path, op.Mode)
	case wire.OpSymlink:
		err = e.symlink(op.Path, op.Target)
	case wire.OpRemove:
		e.dirs.forget(op.Path)
		err = e.root.RemoveAll(op.Path)
		e.dirs.forget(op.Path)
	case wire.OpSetMeta:
		err = e.setMeta(op.Path, op.Mode, op.Mtime)
	}
	if err != nil {
		return fail(name, op.Path, err)
	}
	return nil
}

// mkdir makes the directory rel unless one is there, replacing a
// non-directory.
func (e *dirEndpoint) mkdir(rel string, mode uint32) error {
	fi, err := e.root.Lstat(rel)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		if err := e.root.Remove(rel); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	err = e.root.Mkdir(rel, fileMode(mode|0o700).Perm())
	if errors.Is(err, fs.ErrExist) {
		if fi, lerr := e.root.Lstat(rel); lerr == nil && fi.IsDir() {
			return nil
		}
	}
	return err
}

// symlink makes rel a symlink to target, replacing what is there.
func (e *dirEndpoint) symlink(rel, target string) error {
	var (
		tmp string
		err error
	)
	for range tempTries {
		tmp = tempName(rel)
		if err = e.root.Symlink(target, tmp); !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return err
	}
	if err := e.removeDir(rel); err != nil {
		e.removeTemp(tmp)
		return err
	}
	if err := e.root.Rename(tmp, rel); err != nil {
		e.removeTemp(tmp)
		return err
	}
	return nil
}

// setMeta sets the mode and mtime of rel, or only the mtime of a symlink.
func (e *dirEndpoint) setMeta(rel string, mode uint32, mtime int64) error {
	fi, err := e.root.Lstat(rel)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return setSymlinkTime(e.root, rel, mtime)
	}
	if err := e.root.Chmod(rel, fileMode(mode)); err != nil {
		return err
	}
	t := time.Unix(0, mtime)
	return e.root.Chtimes(rel, t, t)
}

// removeTemp removes a temporary name left by a failed operation,
// logging a failure to do so.
func (e *dirEndpoint) removeTemp(tmp string) {
	if err := e.root.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		e.opts.logger.Warn("cannot remove temporary file", "root", e.abs, "path", tmp, "err", err)
	}
}
