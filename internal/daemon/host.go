package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/endpoint/local"
	"github.com/fcp-dev/fcp/internal/wire"
)

// exportRoot is a Root opened for serving.
type exportRoot struct {
	Root
	dir  *os.Root // the directory, opened at start
	keys *keyFile // who may use it
}

// exportHost is the endpoint.Host that one authenticated key sees: a path
// "/NAME/REL" (the leading slash is optional) is REL inside the exported
// root NAME, if the key may use NAME. REL must not climb ("..") and is
// resolved inside the root (see local.Host.OpenBeneath), so nothing
// outside a root is reached; a read-only root refuses every write with an
// error matching syscall.EROFS. Paths in replies are in the same form.
type exportHost struct {
	roots map[string]*exportRoot
	fp    string      // the key's SHA256 fingerprint
	local *local.Host // opens the endpoints; closed with the host
}

var _ endpoint.Host = (*exportHost)(nil)

// Stat implements endpoint.Host.
func (h *exportHost) Stat(ctx context.Context, p string) (wire.StatResp, error) {
	r, rel, err := h.resolve(p)
	if err != nil {
		return wire.StatResp{}, fmt.Errorf("stat %s: %w", p, err)
	}
	st, err := h.local.StatBeneath(ctx, r.dir, rel)
	if err != nil {
		return wire.StatResp{}, err
	}
	st.Abs = hostPath(r.Name, rel)
	return st, nil
}

// Glob implements endpoint.Host. The root's name must be written out.
func (h *exportHost) Glob(ctx context.Context, pattern string) ([]string, error) {
	r, rel, err := h.resolve(pattern)
	if err != nil {
		return nil, fmt.Errorf("glob %s: %w", pattern, err)
	}
	matches, err := h.local.GlobBeneath(ctx, r.dir, rel)
	if err != nil {
		return nil, err
	}
	for i, m := range matches {
		matches[i] = hostPath(r.Name, m)
	}
	return matches, nil
}

// Open implements endpoint.Host.
func (h *exportHost) Open(ctx context.Context, dir string, create bool) (endpoint.Endpoint, error) {
	r, rel, err := h.resolve(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	if r.ReadOnly && create {
		if st, err := h.local.StatBeneath(ctx, r.dir, rel); err != nil || !st.Exists {
			return nil, fmt.Errorf("open %s: %w", dir, readOnly(r.Name))
		}
	}
	e, err := h.local.OpenBeneath(ctx, r.dir, rel, hostPath(r.Name, rel), create && !r.ReadOnly)
	if err != nil {
		return nil, err
	}
	if r.ReadOnly {
		return &readOnlyEndpoint{Endpoint: e, root: r.Name}, nil
	}
	return &policyEndpoint{Endpoint: e}, nil
}

// Close implements endpoint.Host: it closes every Endpoint opened.
func (h *exportHost) Close() error { return h.local.Close() }

// resolve splits a host path into its root, which the key must be allowed
// to use, and the path inside it ("." for the root itself).
func (h *exportHost) resolve(p string) (*exportRoot, string, error) {
	name, rel, err := splitHostPath(p)
	if errors.Is(err, errNoRoot) {
		return nil, "", fmt.Errorf("%w (roots for this key: %s)", err, h.allowed())
	}
	if err != nil {
		return nil, "", err
	}
	r, ok := h.roots[name]
	if ok {
		if _, allowed := r.keys.lookup(h.fp); !allowed {
			ok = false
		}
	}
	if !ok {
		return nil, "", fmt.Errorf("%w: no root %q for this key (roots: %s)", fs.ErrPermission, name, h.allowed())
	}
	return r, rel, nil
}

// allowed lists the roots the key may use, for messages.
func (h *exportHost) allowed() string {
	var names []string
	for name, r := range h.roots {
		if _, ok := r.keys.lookup(h.fp); ok {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// splitHostPath splits "/NAME/REL" into NAME and a clean REL ("." for
// none). "." components are dropped; "..", "~" and an empty name are
// refused with endpoint.ErrInvalidPath.
func splitHostPath(p string) (name, rel string, err error) {
	switch {
	case len(p) > wire.MaxPath:
		return "", "", fmt.Errorf("%w: path of %d bytes", endpoint.ErrInvalidPath, len(p))
	case strings.IndexByte(p, 0) >= 0:
		return "", "", fmt.Errorf("%w: NUL in path", endpoint.ErrInvalidPath)
	case p == "~" || strings.HasPrefix(p, "~/"):
		return "", "", fmt.Errorf("%w: fcpd has no home directory: paths start with a root's name (fcp://HOST/ROOT/PATH)", endpoint.ErrInvalidPath)
	}
	var comps []string
	for c := range strings.SplitSeq(p, "/") {
		switch c {
		case "", ".":
		case "..":
			return "", "", fmt.Errorf("%w: %q: '..' is not allowed", endpoint.ErrInvalidPath, p)
		default:
			comps = append(comps, c)
		}
	}
	if len(comps) == 0 {
		return "", "", errNoRoot
	}
	rel = "."
	if len(comps) > 1 {
		rel = strings.Join(comps[1:], "/")
	}
	return comps[0], rel, nil
}

// errNoRoot is the error of a path that names no root.
var errNoRoot = fmt.Errorf("%w: name a root: fcp://HOST/ROOT/PATH", endpoint.ErrInvalidPath)

// hostPath is the host path of rel in the root name.
func hostPath(name, rel string) string {
	return path.Join("/", name, rel)
}

// readOnly is the error of a write to the read-only root name.
func readOnly(name string) error {
	return fmt.Errorf("root %q is read-only: %w", name, syscall.EROFS)
}

// readOnlyEndpoint refuses every write to an Endpoint of a read-only root,
// and scans it without tidying (which would remove leftovers).
type readOnlyEndpoint struct {
	endpoint.Endpoint
	root string
}

func (e *readOnlyEndpoint) Scan(ctx context.Context, rel string, opts endpoint.ScanOptions, fn func(*wire.Entry) error) error {
	opts.Tidy = false
	return e.Endpoint.Scan(ctx, rel, opts, fn)
}

func (e *readOnlyEndpoint) Create(context.Context, string, int64) (endpoint.FileWriter, error) {
	return nil, readOnly(e.root)
}

func (e *readOnlyEndpoint) CreateShared(context.Context, string, int64, string, bool) (endpoint.FileWriter, error) {
	return nil, readOnly(e.root)
}

func (e *readOnlyEndpoint) CreateFrom(context.Context, string, int64, wire.Basis, uint64) (endpoint.FileWriter, error) {
	return nil, readOnly(e.root)
}

func (e *readOnlyEndpoint) Apply(_ context.Context, ops []wire.Op) ([]error, error) {
	errs := make([]error, len(ops))
	for i := range errs {
		errs[i] = readOnly(e.root)
	}
	return errs, nil
}
