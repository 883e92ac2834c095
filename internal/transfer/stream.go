package transfer

import (
	"context"
	"errors"
	"io/fs"

	"golang.org/x/sync/errgroup"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// item is one scanned entry placed in the destination's namespace.
type item struct {
	path   string // under the destination root
	srcRel string // under the scanned endpoint's root
	job    int    // index of the source job, -1 for the destination
	e      wire.Entry
}

// stream is one running scan, read in order by the merge.
type stream struct {
	ch   chan []item
	errc chan error
	buf  []item
	err  error
	done bool
}

const scanBatch = 256

// startScan scans rel on ep in a goroutine owned by g, mapping each path
// under prefix. For the destination (optional), a missing rel is an empty
// tree.
func startScan(ctx context.Context, g *errgroup.Group, ep endpoint.Endpoint, rel, prefix string, job int, opts endpoint.ScanOptions, optional bool) *stream {
	s := &stream{ch: make(chan []item, 4), errc: make(chan error, 1)}
	g.Go(func() error {
		defer close(s.ch)
		batch := make([]item, 0, scanBatch)
		skip := "" // an ignored directory whose entries are dropped
		err := ep.Scan(ctx, rel, opts, func(en *wire.Entry) error {
			if opts.Ignore != nil {
				p := wire.Join(prefix, en.Path)
				if skip != "" && isUnder(p, skip) {
					return nil
				}
				if p != "." && opts.Ignore(p, en.Type == wire.TypeDir) {
					skip = p
					return nil
				}
			}
			batch = append(batch, item{
				path:   wire.Join(prefix, en.Path),
				srcRel: wire.Join(rel, en.Path),
				job:    job,
				e:      *en,
			})
			if en.Link != "" {
				// Hard links name paths of the destination, as Path does.
				batch[len(batch)-1].e.Link = wire.Join(prefix, en.Link)
			}
			if len(batch) < scanBatch {
				return nil
			}
			select {
			case s.ch <- batch:
			case <-ctx.Done():
				return ctx.Err()
			}
			batch = make([]item, 0, scanBatch)
			return nil
		})
		if err == nil && len(batch) > 0 {
			select {
			case s.ch <- batch:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		if optional && errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		s.errc <- err
		// A failed source scan is reported by the merge, not here, so the
		// rest of the run goes on; only cancellation stops the group.
		if err != nil && (errors.Is(err, endpoint.ErrClosed) || ctx.Err() != nil) {
			return err
		}
		return nil
	})
	return s
}

// peek returns the next item without consuming it, nil at the end.
func (s *stream) peek(ctx context.Context) (*item, error) {
	for len(s.buf) == 0 {
		if s.done {
			return nil, nil
		}
		select {
		case b, ok := <-s.ch:
			if !ok {
				s.done = true
				s.err = <-s.errc
				continue
			}
			s.buf = b
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &s.buf[0], nil
}

func (s *stream) next() { s.buf = s.buf[1:] }

// merger merges sorted streams; of equal paths the earliest stream wins
// and the others are dropped.
type merger struct {
	streams []*stream
	cur     *stream
	errs    []error
}

// peek returns the smallest next item of all streams, nil when all ended.
// A scan error ends that stream only; it is recorded in err. Connection
// loss or cancellation is returned.
func (m *merger) peek(ctx context.Context) (*item, error) {
	var best *item
	m.cur = nil
	for _, s := range m.streams {
		it, err := s.peek(ctx)
		if err != nil {
			return nil, err
		}
		if s.err != nil {
			if errors.Is(s.err, endpoint.ErrClosed) {
				return nil, s.err
			}
			m.errs = append(m.errs, s.err)
			s.err = nil
		}
		if it == nil {
			continue
		}
		if best == nil || wire.ComparePaths(it.path, best.path) < 0 {
			best, m.cur = it, s
		}
	}
	return best, nil
}

// next consumes the item last returned by peek, and any equal paths in
// later streams.
func (m *merger) next() {
	if m.cur == nil {
		return
	}
	p := m.cur.buf[0].path
	m.cur.next()
	for _, s := range m.streams {
		if s != m.cur && len(s.buf) > 0 && s.buf[0].path == p {
			s.next()
		}
	}
}
