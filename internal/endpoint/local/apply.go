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
//   - OpSymlink makes the link under a temporary name, sets its Attrs
//     (owner, extended attributes) and renames it over Path; a directory
//     in the way is removed first, with its contents.
//   - OpRemove removes Path and, if it is a directory, its contents,
//     without following symlinks. A missing Path or parent is success.
//   - OpSetMeta sets the Attrs, the mode (07777 bits) and the mtime
//     (atime too) of a file or directory. Of a symlink it sets only the
//     Attrs and the mtime, and only on Linux; symlinks have no mode there.
//   - OpRename moves Target to Path (both under the root), replacing a
//     file or symlink at Path, or a directory at Path with its contents.
//     A missing Target fails with an error matching fs.ErrNotExist; a
//     Target that is an ancestor of Path fails.
//   - OpLink makes a hard link of the regular file Target under a
//     temporary name and renames it over Path, as OpSymlink does; a Path
//     that is already a link of Target is left alone. A Target that is
//     not a regular file fails with endpoint.ErrInvalidPath.
//   - OpMknod makes the FIFO or device node under a temporary name, sets
//     its Attrs, mode and mtime and renames it over Path, as OpSymlink
//     does. Without the capability (see Caps) it fails with an error
//     matching errors.ErrUnsupported.
//
// Attrs are set as far as Caps allows; an op that could not keep some of
// them because the file system lacks them does the rest and reports an
// error matching endpoint.ErrMetaUnsupported. OpSymlink, OpRemove,
// OpLink and OpMknod refuse "." with endpoint.ErrInvalidPath, as does an
// unknown op kind.
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
	wire.OpLink:    "link",
	wire.OpMknod:   "mknod",
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
	if op.Path == "." && op.Kind != wire.OpMkdir && op.Kind != wire.OpSetMeta && op.Kind != wire.OpRename {
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
		err = e.symlink(d, name, op.Path, op.Target, &op.Attrs)
	case wire.OpRemove:
		e.dirs.forget(op.Path)
		err = d.removeAll(name)
		e.dirs.forget(op.Path)
	case wire.OpSetMeta:
		err = e.setMeta(d, name, op.Mode, op.Mtime, &op.Attrs)
	case wire.OpRename:
		err = e.rename(ctx, op.Target, d, name, op.Path)
	case wire.OpLink:
		err = e.link(ctx, op.Target, d, name, op.Path)
	case wire.OpMknod:
		err = e.mknod(d, name, op.Path, &op)
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

// symlink makes name in d, the path rel, a symlink to target with attrs,
// replacing what is there.
func (e *dirEndpoint) symlink(d *dirHandle, name, rel, target string, attrs *wire.Attrs) error {
	return e.place(d, name, rel, func(tmp string) error { return d.symlink(target, tmp) }, func(tmp string) error {
		return e.setAttrs(d.dir, tmp, fs.ModeSymlink, attrs)
	})
}

// place puts a new entry at name in d, the path rel, replacing what is
// there: create makes it under a temporary name, then finish sets its
// metadata, then it is renamed into place. An error of finish that
// matches endpoint.ErrMetaUnsupported does not stop it; it is returned
// once the entry is in place.
func (e *dirEndpoint) place(d *dirHandle, name, rel string, create, finish func(tmp string) error) error {
	var (
		tmp string
		err error
	)
	for range tempTries {
		tmp = tempName(name)
		if err = create(tmp); !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return err
	}
	unsupported := finish(tmp)
	if unsupported != nil && !errors.Is(unsupported, endpoint.ErrMetaUnsupported) {
		e.removeTemp(d, tmp, rel)
		return unsupported
	}
	if err := e.replace(d, tmp, name, rel); err != nil {
		e.removeTemp(d, tmp, rel)
		return err
	}
	return unsupported
}

// setMeta sets attrs, the mode and the mtime of name in d ("." is d
// itself), or only attrs and the mtime of a symlink. Metadata the file
// system does not support is skipped and reported last, as
// endpoint.ErrMetaUnsupported.
func (e *dirEndpoint) setMeta(d *dirHandle, name string, mode uint32, mtime int64, attrs *wire.Attrs) error {
	m, err := d.lstat(name)
	if err != nil {
		return err
	}
	var unsupported error
	if !attrs.IsZero() {
		unsupported = e.setAttrs(d.dir, name, m, attrs)
		if unsupported != nil && !errors.Is(unsupported, endpoint.ErrMetaUnsupported) {
			return unsupported
		}
	}
	if m&fs.ModeSymlink != 0 {
		return either(d.lchtimes(name, mtime), unsupported)
	}
	if err := d.chmod(name, fileMode(mode)); err != nil {
		return err
	}
	return either(d.chtimes(name, mtime), unsupported)
}

// link makes name in d, the path rel, a hard link of the regular file
// target (a path under the root), replacing what is there.
func (e *dirEndpoint) link(ctx context.Context, target string, d *dirHandle, name, rel string) error {
	if e.caps&wire.CapLinks == 0 {
		return fmt.Errorf("%w: hard links", errors.ErrUnsupported)
	}
	if err := e.check(ctx, "link", target); err != nil {
		return err
	}
	td, tname, err := e.parent(target)
	if err != nil {
		return err
	}
	defer e.dirs.release(td)
	tfi, err := td.lstatInfo(tname)
	if err != nil {
		return err
	}
	if !tfi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", endpoint.ErrInvalidPath, target)
	}
	if fi, err := d.lstatInfo(name); err == nil && sameFile(fi, tfi) {
		return nil
	}
	return e.place(d, name, rel, func(tmp string) error { return d.link(td.dir, tname, tmp) }, func(string) error { return nil })
}

// mknod makes name in d, the path rel, the FIFO or device node op
// describes, replacing what is there.
func (e *dirEndpoint) mknod(d *dirHandle, name, rel string, op *wire.Op) error {
	need := wire.CapDevices
	if op.Type == wire.TypeFIFO {
		need = wire.CapSpecials
	}
	if e.caps&need == 0 {
		return fmt.Errorf("%w: %v", errors.ErrUnsupported, op.Type)
	}
	return e.place(d, name, rel, func(tmp string) error { return d.mknod(tmp, op.Type, op.Mode, op.Rdev) }, func(tmp string) error {
		unsupported := e.setAttrs(d.dir, tmp, fs.ModeNamedPipe, &op.Attrs)
		if unsupported != nil && !errors.Is(unsupported, endpoint.ErrMetaUnsupported) {
			return unsupported
		}
		if err := d.chmod(tmp, fileMode(op.Mode)); err != nil {
			return err
		}
		return either(d.chtimes(tmp, op.Mtime), unsupported)
	})
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
