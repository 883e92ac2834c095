package remote

import (
	"context"
	"fmt"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Caps implements endpoint.Endpoint: what the agent's endpoint reported
// when the root was opened.
func (p *proxy) Caps() wire.Caps { return p.caps }

// Extents implements endpoint.Endpoint with one ExtentsReq.
func (p *proxy) Extents(ctx context.Context, rel string, off int64) (endpoint.Extents, error) {
	if err := p.check(rel); err != nil {
		return endpoint.Extents{}, opError("extents", rel, err)
	}
	if off < 0 {
		return endpoint.Extents{}, opError("extents", rel, fmt.Errorf("%w: offset %d", endpoint.ErrInvalidPath, off))
	}
	m, err := p.c.roundTrip(ctx, &wire.ExtentsReq{Root: p.root, Path: rel, Off: off}, wire.KindExtentsResp)
	if err != nil {
		return endpoint.Extents{}, opError("extents", rel, err)
	}
	r := m.(*wire.ExtentsResp)
	if len(r.Extents) > 0 && r.Extents[0].Off < off || r.Next < off && r.Next != r.Size {
		p.c.fail(fmt.Errorf("%w: %w: extents of %s: answer before offset %d", endpoint.ErrClosed, wire.ErrProtocol, rel, off))
		return endpoint.Extents{}, p.c.failure()
	}
	return endpoint.Extents{List: r.Extents, Next: r.Next, Size: r.Size, Mtime: r.Mtime}, nil
}

// Hole implements endpoint.FileWriter: one Hole frame, sent without
// waiting; the agent's verdict comes with Commit.
func (w *fileWriter) Hole(ctx context.Context, off, n int64) error {
	if w.state != writerOpen {
		return opError("hole", w.path, endpoint.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return opError("hole", w.path, err)
	}
	m := &wire.Hole{Off: off, Len: n}
	if err := m.Validate(); err != nil {
		return opError("hole", w.path, fmt.Errorf("%w: %v", endpoint.ErrInvalidPath, err))
	}
	held := w.held
	w.held = nil
	if err := w.c.sendAll(w.id, append(held, m)...); err != nil {
		return opError("hole", w.path, err)
	}
	return nil
}

// attrsSize estimates the bytes a's encoding takes, for keeping frames
// well below wire.MaxFrame.
func attrsSize(a *wire.Attrs) int {
	n := 16 + len(a.User) + len(a.Group)
	for _, x := range a.Xattrs {
		n += len(x.Name) + len(x.Value) + 8
	}
	for _, acl := range [][]wire.ACE{a.ACL, a.DefaultACL} {
		for _, e := range acl {
			n += 8 + len(e.Name)
		}
	}
	return n
}
