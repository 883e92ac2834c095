package pool

import (
	"context"
	"fmt"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Sums implements endpoint.Endpoint on the least busy connection.
func (e *Endpoint) Sums(ctx context.Context, rel string, basis wire.Basis, blockSize int, off int64, count int) (s endpoint.Sums, err error) {
	err = e.retry(ctx, func(m *member) error {
		s, err = m.ep.Sums(ctx, rel, basis, blockSize, off, count)
		return err
	})
	return s, err
}

// Delta implements endpoint.Endpoint on the least busy connection, so the
// ranges of a large file are matched by every connection's agent at once.
func (e *Endpoint) Delta(ctx context.Context, rel string, off int64, n int, blockSize int, first int64, blocks []wire.Block) (d endpoint.DeltaChunk, err error) {
	e.wantMore()
	err = e.retry(ctx, func(m *member) error {
		m.load.Add(int64(n))
		defer m.load.Add(-int64(n))
		d, err = m.ep.Delta(ctx, rel, off, n, blockSize, first, blocks)
		return err
	})
	return d, err
}

// CreateFrom implements endpoint.Endpoint through the least busy
// connection: the copies from the basis cost the wire little, and the
// literal data of one file goes through one connection.
func (e *Endpoint) CreateFrom(ctx context.Context, rel string, size int64, basis wire.Basis, stamp uint64) (endpoint.FileWriter, error) {
	e.wantMore()
	m, err := e.await(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", rel, err)
	}
	weight := size + 1
	m.load.Add(weight)
	w, err := m.ep.CreateFrom(ctx, rel, size, basis, stamp)
	if err != nil {
		m.load.Add(-weight)
		return nil, e.lost(m, err)
	}
	return &single{e: e, m: m, w: w, weight: weight, rel: rel}, nil
}

func (s *single) Copy(ctx context.Context, off, basisOff int64, n int, sum wire.Sum) error {
	return s.check(s.w.Copy(ctx, off, basisOff, n, sum))
}

func (s *single) Suspend() error {
	s.release()
	return s.w.Suspend()
}

// Copy fails: a file split over connections has no basis.
func (s *split) Copy(context.Context, int64, int64, int, wire.Sum) error {
	return fmt.Errorf("copy %s: %w: no basis", s.rel, endpoint.ErrMismatch)
}

// Suspend ends the file like Abort but keeps what was written: the parts
// first, then the committing writer, which keeps the shared file.
func (s *split) Suspend() error {
	s.drain()
	s.release()
	s.mu.Lock()
	committed := s.committed
	s.mu.Unlock()
	if committed {
		return nil
	}
	var first error
	for i := len(s.lanes) - 1; i >= 0; i-- {
		if err := s.lanes[i].w.Suspend(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
