package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// The methods below serve a Host whose paths must stay inside a directory
// the caller trusts (a daemon's exported root): rel, a wire.ValidPath
// ("." for the directory itself), is resolved beneath the *os.Root r by
// os.Root's rule. Symlinks are followed only while they stay inside r; an
// absolute symlink, or one that leads out, fails with an error matching
// endpoint.ErrInvalidPath, and so does a rel that is not a valid path.
// Nothing is resolved by name twice, so a concurrent rename cannot
// redirect an operation out of r.

// StatBeneath is Stat for rel beneath r. StatResp.Abs is rel.
func (h *Host) StatBeneath(ctx context.Context, r *os.Root, rel string) (wire.StatResp, error) {
	if err := checkBeneath(ctx, "stat", rel); err != nil {
		return wire.StatResp{}, err
	}
	fi, err := r.Stat(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return wire.StatResp{Abs: rel}, nil
	case err != nil:
		return wire.StatResp{}, beneathError("stat", rel, err)
	}
	return wire.StatResp{Abs: rel, Exists: true, Type: fileType(fi.Mode())}, nil
}

// GlobBeneath is Glob for pattern, a relative pattern whose components are
// neither empty, "." nor "..", beneath r. The matches are relative to r.
func (h *Host) GlobBeneath(ctx context.Context, r *os.Root, pattern string) ([]string, error) {
	if err := checkBeneath(ctx, "glob", pattern); err != nil {
		return nil, err
	}
	matches, err := fs.Glob(r.FS(), pattern)
	if err != nil {
		return nil, fmt.Errorf("glob %s: %w: %w", pattern, endpoint.ErrInvalidPath, err)
	}
	slices.Sort(matches)
	return matches, nil
}

// OpenBeneath is Open for the directory rel beneath r. name stands for
// the directory in messages. With create, a missing last component of rel
// is made.
func (h *Host) OpenBeneath(ctx context.Context, r *os.Root, rel, name string, create bool) (endpoint.Endpoint, error) {
	if err := checkBeneath(ctx, "open", rel); err != nil {
		return nil, err
	}
	if create && rel != "." {
		if err := r.Mkdir(rel, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, beneathError("open", name, err)
		}
	}
	top, err := openRootIn(r, rel)
	if err != nil {
		return nil, beneathError("open", name, err)
	}
	opts := h.options()
	if opts.logger == nil {
		opts.logger = slog.New(slog.DiscardHandler)
	}
	e := &dirEndpoint{abs: filepath.Join(r.Name(), filepath.FromSlash(rel)), opts: opts, dirs: newDirCache(top)}
	return h.register(e, name)
}

// checkBeneath checks ctx and that rel is a valid relative path.
func checkBeneath(ctx context.Context, op, rel string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, rel, err)
	}
	if err := wire.ValidPath(rel); err != nil {
		return fmt.Errorf("%s %s: %w: %w", op, rel, endpoint.ErrInvalidPath, err)
	}
	return nil
}

// beneathError wraps err of op on p; leaving the root, which os.Root
// reports as "path escapes from parent", becomes endpoint.ErrInvalidPath.
func beneathError(op, p string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent" {
		return fmt.Errorf("%s %s: %w: it leads out of the root", op, p, endpoint.ErrInvalidPath)
	}
	return fmt.Errorf("%s %s: %w", op, p, cause(err))
}
