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
	"strings"
	"sync"
	"syscall"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Host is this machine as an endpoint.Host. The zero value is ready to use
// with the defaults below; set the exported fields before the first call.
// Its methods are safe for concurrent use. A Host must not be copied after
// first use.
type Host struct {
	// Fsync makes FileWriter.Commit of every Endpoint opened later flush
	// the file to stable storage before renaming it into place.
	Fsync bool
	// Logger receives problems that do not fail an operation, such as a
	// temporary file that could not be removed. Nil discards them.
	Logger *slog.Logger

	mu     sync.Mutex
	open   map[*dirEndpoint]struct{}
	closed bool
}

var _ endpoint.Host = (*Host)(nil)

// NewHost returns a Host with default options.
func NewHost() endpoint.Host {
	return &Host{}
}

// Open returns an Endpoint rooted at the directory dir, resolved like a
// Host path, with default options. With create, a missing last component
// of dir is made. The caller closes the Endpoint.
func Open(dir string, create bool) (endpoint.Endpoint, error) {
	return openEndpoint(dir, create, options{})
}

// Stat implements endpoint.Host. Type is 0 for a path that exists but is
// of no type the wire carries (a socket). A
// path that cannot exist because a parent is not a directory reports
// Exists false, like a missing one.
func (h *Host) Stat(ctx context.Context, path string) (wire.StatResp, error) {
	if err := ctx.Err(); err != nil {
		return wire.StatResp{}, fmt.Errorf("stat %s: %w", path, err)
	}
	abs, err := resolve(path)
	if err != nil {
		return wire.StatResp{}, fmt.Errorf("stat %s: %w", path, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return wire.StatResp{Abs: abs}, nil
	case err != nil:
		return wire.StatResp{}, fmt.Errorf("stat %s: %w", abs, cause(err))
	}
	return wire.StatResp{Abs: abs, Exists: true, Type: fileType(fi.Mode())}, nil
}

// Glob implements endpoint.Host with filepath.Glob. A malformed pattern
// fails with an error wrapping endpoint.ErrInvalidPath and
// filepath.ErrBadPattern.
func (h *Host) Glob(ctx context.Context, pattern string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("glob %s: %w", pattern, err)
	}
	abs, err := resolve(pattern)
	if err != nil {
		return nil, fmt.Errorf("glob %s: %w", pattern, err)
	}
	matches, err := filepath.Glob(abs)
	if err != nil {
		return nil, fmt.Errorf("glob %s: %w: %w", pattern, endpoint.ErrInvalidPath, err)
	}
	slices.Sort(matches)
	return matches, nil
}

// Open implements endpoint.Host. A final symlink of dir is followed. A
// missing dir (or its missing parent, with create) fails with an error
// matching fs.ErrNotExist, a non-directory with one matching
// syscall.ENOTDIR; a closed Host fails with endpoint.ErrClosed. A created
// directory gets mode 0777 less the umask.
func (h *Host) Open(ctx context.Context, dir string, create bool) (endpoint.Endpoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	e, err := openEndpoint(dir, create, h.options())
	if err != nil {
		return nil, err
	}
	return h.register(e, dir)
}

// options returns the settings of Endpoints opened from h.
func (h *Host) options() options {
	return options{fsync: h.Fsync, logger: h.Logger}
}

// register tracks e, just opened as dir, until it closes; on a closed h it
// closes e instead and fails.
func (h *Host) register(e *dirEndpoint, dir string) (endpoint.Endpoint, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		e.Close()
		return nil, fmt.Errorf("open %s: %w", dir, endpoint.ErrClosed)
	}
	e.onClose = func() {
		h.mu.Lock()
		delete(h.open, e)
		h.mu.Unlock()
	}
	if h.open == nil {
		h.open = make(map[*dirEndpoint]struct{})
	}
	h.open[e] = struct{}{}
	return e, nil
}

// Close implements endpoint.Host: it closes every Endpoint opened from h
// and makes later calls of Open fail.
func (h *Host) Close() error {
	h.mu.Lock()
	open := h.open
	h.open = nil
	h.closed = true
	h.mu.Unlock()
	var errs []error
	for e := range open {
		errs = append(errs, e.Close())
	}
	return errors.Join(errs...)
}

// options are the settings an Endpoint takes from its Host.
type options struct {
	fsync  bool
	logger *slog.Logger
}

// openEndpoint opens the Endpoint for Host.Open and Open.
func openEndpoint(dir string, create bool, opts options) (*dirEndpoint, error) {
	abs, err := resolve(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if create && errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(abs, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("open %s: %w", abs, cause(err))
		}
		fi, err = os.Stat(abs)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", abs, cause(err))
	case !fi.IsDir():
		return nil, fmt.Errorf("open %s: %w", abs, syscall.ENOTDIR)
	}
	top, err := openRootDir(abs)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", abs, cause(err))
	}
	if opts.logger == nil {
		opts.logger = slog.New(slog.DiscardHandler)
	}
	return &dirEndpoint{abs: abs, opts: opts, dirs: newDirCache(top), caps: capsFor(euid())}, nil
}

// resolve turns a host path into a clean absolute path: "~" and "~/..."
// are taken from the home directory, relative paths from the working
// directory.
func resolve(p string) (string, error) {
	switch {
	case p == "":
		return "", fmt.Errorf("%w: empty path", endpoint.ErrInvalidPath)
	case len(p) > wire.MaxPath:
		return "", fmt.Errorf("%w: path of %d bytes", endpoint.ErrInvalidPath, len(p))
	case strings.IndexByte(p, 0) >= 0:
		return "", fmt.Errorf("%w: NUL in path", endpoint.ErrInvalidPath)
	case p == "~" || strings.HasPrefix(p, "~/"):
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		p = filepath.Join(home, p[1:])
	}
	return filepath.Abs(p)
}
