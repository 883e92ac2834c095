package shell

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Caps implements endpoint.Endpoint: none. Owners, extended attributes,
// ACLs, hard links, FIFOs and devices are not kept through a shell;
// Commit and OpSetMeta ignore wire.Attrs, OpLink and OpMknod fail with
// errors.ErrUnsupported.
func (e *shellEndpoint) Caps() wire.Caps { return 0 }

// Extents implements endpoint.Endpoint: it fails with
// errors.ErrUnsupported, as this endpoint is a destination only.
func (e *shellEndpoint) Extents(ctx context.Context, rel string, off int64) (endpoint.Extents, error) {
	return endpoint.Extents{}, fmt.Errorf("extents %s: %w: the shell endpoint is a destination only", rel, errors.ErrUnsupported)
}

// Hole implements endpoint.FileWriter: the hole becomes zeros of the file
// kept here (a hole of the temporary file once it is spilled), which tar
// sends as they are, so the file is not sparse at the far end.
func (w *fileWriter) Hole(ctx context.Context, off, n int64) error {
	switch {
	case w.done:
		return fmt.Errorf("hole %s: %w", w.rel, fs.ErrClosed)
	case w.err != nil:
		return w.err
	}
	if w.err = endpoint.CheckHole(ctx, w.rel, off, n); w.err != nil {
		return w.err
	}
	end := off + n
	if w.f == nil && end <= memLimit {
		if int64(len(w.buf)) < end {
			w.buf = append(w.buf, make([]byte, end-int64(len(w.buf)))...)
		}
		w.end = max(w.end, end)
		return nil
	}
	if w.f == nil {
		if err := w.spill(); err != nil {
			w.err = fmt.Errorf("hole %s: buffering: %w", w.rel, err)
			return w.err
		}
	}
	if fi, err := w.f.Stat(); err != nil || fi.Size() < end {
		if err == nil {
			err = w.f.Truncate(end)
		}
		if err != nil {
			w.err = fmt.Errorf("hole %s: buffering: %w", w.rel, err)
			return w.err
		}
	}
	w.end = max(w.end, end)
	return nil
}
