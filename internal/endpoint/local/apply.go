package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

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
//   - OpRename moves Target to Path (both under the root), replacing a
//     file or symlink at Path, or a directory at Path with its contents.
//     A missing Target fails with an error matching fs.ErrNotExist; a
//     Target that is an ancestor of Path fails.
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
	wire.OpRename:  "rename",
}

// apply performs one op.
func (e *dirEndpoint) apply(ctx context.Context, op wire.Op) error {
	opName, ok := opNames[op.Kind]
	if !ok {
		return fmt.Errorf("apply %s: %w: unknown op kind %d", op.Path, endpoint.ErrInvalidPath, op.Kind)
	}
	if err := e.check(ctx, opName, op.Path); err != nil {
		return err
	}
	if op.Path == "." && (op.Kind == wire.OpSymlink || op.Kind == wire.OpRemove) {
		return fmt.Errorf("%s .: %w: the root", opName, endpoint.ErrInvalidPath)
	}
	d, name, err := e.parent(op.Path)
	if err != nil {
		if op.Kind == wire.OpRemove && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fail(opName, op.Path, err)
	}
	defer e.dirs.release(d)
	switch op.Kind {
	case wire.OpMkdir:
		err = ensureDir(d, name, op.Mode)
	case wire.OpSymlink:
		err = e.symlink(d, name, op.Path, op.Target)
	case wire.OpRemove:
		e.dirs.forget(op.Path)
		err = d.removeAll(name)
		e.dirs.forget(op.Path)
	case wire.OpSetMeta:
		err = setMeta(d, name, op.Mode, op.Mtime)
	case wire.OpRename:
		err = e.rename(ctx, op.Target, d, name, op.Path)
	}
	if err != nil {
		return fail(opName, op.Path, err)
	}
	return nil
}

// ensureDir makes the directory name in d unless one is there, replacing a
// non-directory. "." is d itself.
func ensureDir(d *dirHandle, name string, mode uint32) error {
	if name == "." {
		return nil
	}
	perm := fileMode(mode | 0o700).Perm()
	err := d.mkdir(name, perm)
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	m, err := d.lstat(name)
	switch {
	case err != nil:
		return err
	case m.IsDir():
		return nil
	}
	if err := d.unlink(name); err != nil {
		return err
	}
	err = d.mkdir(name, perm)
	if errors.Is(err, fs.ErrExist) {
		if m, lerr := d.lstat(name); lerr == nil && m.IsDir() {
			return nil
		}
	}
	return err
}

// symlink makes name in d, the path rel, a symlink to target, replacing
// what is there.
func (e *dirEndpoint) symlink(d *dirHandle, name, rel, target string) error {
	var (
		tmp string
		err error
	)
	for range tempTries {
		tmp = tempName(name)
		if err = d.symlink(target, tmp); !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return err
	}
	if err := e.replace(d, tmp, name, rel); err != nil {
		e.removeTemp(d, tmp, rel)
		return err
	}
	return nil
}

// setMeta sets the mode and mtime of name in d ("." is d itself), or
// only the mtime of a symlink.
func setMeta(d *dirHandle, name string, mode uint32, mtime int64) error {
	m, err := d.lstat(name)
	if err != nil {
		return err
	}
	if m&fs.ModeSymlink != 0 {
		return d.lchtimes(name, mtime)
	}
	if err := d.chmod(name, fileMode(mode)); err != nil {
		return err
	}
	return d.chtimes(name, mtime)
}

// rename moves from (a path under the root) to name in d, the directory
// of to. Whatever is at to is replaced (a directory with its contents).
func (e *dirEndpoint) rename(ctx context.Context, from string, d *dirHandle, name, to string) error {
	if err := e.check(ctx, "rename", from); err != nil {
		return err
	}
	if isUnder(to, from) {
		return fmt.Errorf("%w: %s is inside %s", endpoint.ErrInvalidPath, to, from)
	}
	fd, fname, err := e.parent(from)
	if err != nil {
		return err
	}
	defer e.dirs.release(fd)
	if _, err := fd.lstat(fname); err != nil {
		return err
	}
	e.dirs.forget(from)
	e.dirs.forget(to)
	if m, err := d.lstat(name); err == nil && m.IsDir() {
		if err := d.removeAll(name); err != nil {
			return err
		}
		e.dirs.forget(to)
	}
	return renameAt(fd, fname, d, name)
}

// isUnder reports whether p is dir or beneath it.
func isUnder(p, dir string) bool {
	return p == dir || len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir
}
