package pool

import (
	"context"
	"errors"
	"fmt"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Caps implements endpoint.Endpoint: those of the first member, as every
// member is the same root on the same host.
func (e *Endpoint) Caps() wire.Caps {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.members) == 0 {
		return 0
	}
	return e.members[0].ep.Caps()
}

// Extents implements endpoint.Endpoint on the least busy connection.
func (e *Endpoint) Extents(ctx context.Context, rel string, off int64) (x endpoint.Extents, err error) {
	err = e.retry(ctx, func(m *member) error {
		x, err = m.ep.Extents(ctx, rel, off)
		return err
	})
	return x, err
}

func (s *single) Hole(ctx context.Context, off, n int64) error {
	return s.check(s.w.Hole(ctx, off, n))
}

// Hole goes to the committing connection, whose writer makes the file
// long enough for a hole at its end (see endpoint.Endpoint.CreateShared).
func (s *split) Hole(ctx context.Context, off, n int64) error {
	s.mu.Lock()
	err, closed := s.err, s.closed
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if closed {
		return fmt.Errorf("hole %s: writer closed", s.rel)
	}
	select {
	case s.lanes[0].q <- chunk{off: off, hole: n}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("hole %s: %w", s.rel, ctx.Err())
	}
}

// committed reports whether err from a Commit leaves the file in place:
// nil, or metadata the file system could not keep.
func committed(err error) bool {
	return err == nil || errors.Is(err, endpoint.ErrMetaUnsupported)
}
