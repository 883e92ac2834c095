package daemon

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// What fcpd lets a client set on a writable root. fcpd usually runs as
// root, and a key that may write a root must not thereby gain root on the
// host: so it writes everything as fcpd's own user, never makes device
// nodes, drops set-user-ID and set-group-ID bits, and keeps only extended
// attributes of the "user." namespace (not "security.", which holds file
// capabilities and labels, nor "trusted."). FIFOs, hard links inside the
// root, ACLs and the other bits are kept.
const (
	deniedCaps = wire.CapOwner | wire.CapDevices
	setIDBits  = 0o6000
)

// policyEndpoint applies fcpd's write policy to an Endpoint of a writable
// root.
type policyEndpoint struct {
	endpoint.Endpoint
}

// Caps implements endpoint.Endpoint: owners and devices are never set.
func (e *policyEndpoint) Caps() wire.Caps { return e.Endpoint.Caps() &^ deniedCaps }

func (e *policyEndpoint) Create(ctx context.Context, rel string, size int64) (endpoint.FileWriter, error) {
	return policyWriter(e.Endpoint.Create(ctx, rel, size))
}

func (e *policyEndpoint) CreateShared(ctx context.Context, rel string, size int64, share string, part bool) (endpoint.FileWriter, error) {
	return policyWriter(e.Endpoint.CreateShared(ctx, rel, size, share, part))
}

func (e *policyEndpoint) CreateFrom(ctx context.Context, rel string, size int64, basis wire.Basis, stamp uint64) (endpoint.FileWriter, error) {
	return policyWriter(e.Endpoint.CreateFrom(ctx, rel, size, basis, stamp))
}

// Apply implements endpoint.Endpoint: a device node is refused, and every
// op's mode and attributes are cut to what the policy allows.
func (e *policyEndpoint) Apply(ctx context.Context, ops []wire.Op) ([]error, error) {
	errs := make([]error, len(ops))
	var keep []wire.Op
	var at []int
	for i, op := range ops {
		if op.Kind == wire.OpMknod && op.Type != wire.TypeFIFO {
			errs[i] = fmt.Errorf("mknod %s: %w: fcpd makes no device nodes", op.Path, fs.ErrPermission)
			continue
		}
		op.Mode &^= setIDBits
		op.Attrs = allowedAttrs(op.Attrs)
		keep = append(keep, op)
		at = append(at, i)
	}
	if len(keep) == 0 {
		return errs, nil
	}
	res, err := e.Endpoint.Apply(ctx, keep)
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		if j < len(res) {
			errs[i] = res[j]
		}
	}
	return errs, nil
}

// policyWriter wraps the result of a Create call.
func policyWriter(w endpoint.FileWriter, err error) (endpoint.FileWriter, error) {
	if err != nil {
		return nil, err
	}
	return &policyFileWriter{FileWriter: w}, nil
}

// policyFileWriter commits with the policy's mode and attributes.
type policyFileWriter struct {
	endpoint.FileWriter
}

func (w *policyFileWriter) Commit(ctx context.Context, size int64, mode uint32, mtime int64, attrs wire.Attrs) error {
	return w.FileWriter.Commit(ctx, size, mode&^setIDBits, mtime, allowedAttrs(attrs))
}

// allowedAttrs returns a without owners and with only "user." extended
// attributes.
func allowedAttrs(a wire.Attrs) wire.Attrs {
	a.HasUid, a.Uid, a.HasGid, a.Gid, a.User, a.Group = false, 0, false, 0, "", ""
	if a.HasXattrs {
		var kept []wire.Xattr
		for _, x := range a.Xattrs {
			if strings.HasPrefix(x.Name, "user.") {
				kept = append(kept, x)
			}
		}
		a.Xattrs = kept
	}
	return a
}
