package transfer

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// sparseGap is the largest hole between two data extents that is read
// and sent (as zeros) rather than skipped: a small hole costs less sent
// than written as two pieces.
const sparseGap = 32 << 10

// piece is one step of a sparse copy: data read at off (n bytes asked),
// or with hole set, n bytes of hole there.
type piece struct {
	off, n int64
	hole   bool
	c      endpoint.Chunk
	err    error
	weight int64 // bytes of the memory budget held
}

// copySparse copies a file with holes (wire.Entry.Sparse) as its data:
// the source says where the data is (Endpoint.Extents), only that is read
// and sent, chunk by chunk with read-ahead as copyOnce does, and the
// writer is told of the holes (FileWriter.Hole), which it leaves
// unallocated. So a file of 10 GiB with 1 MiB of data sends 1 MiB and
// takes 1 MiB at the destination. Every chunk is verified as in copyOnce.
// It expects the source to keep size and mtime; when it does not, it
// fails with ErrChanged and returns the last chunk read, whose Size and
// Mtime are the file's new ones.
func (e *engine) copySparse(ctx context.Context, t fileTask, size, mtime int64) (int64, endpoint.Chunk, error) {
	src := e.jobs[t.job].Src
	chunk := int64(e.o.ChunkSize)
	w, err := e.dst.Create(ctx, t.path, size)
	if err != nil {
		return 0, endpoint.Chunk{}, err
	}
	defer e.end(ctx, w)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan chan piece, e.o.ReadAhead)
	var readers errgroup.Group
	readers.Go(func() error {
		defer close(queue)
		// now queues a piece that is already known.
		now := func(p piece) bool {
			res := make(chan piece, 1)
			res <- p
			select {
			case queue <- res:
				return true
			case <-ctx.Done():
				return false
			}
		}
		read := func(off, n int64) bool {
			if err := e.mem.Acquire(ctx, n); err != nil {
				return false
			}
			res := make(chan piece, 1)
			select {
			case queue <- res:
			case <-ctx.Done():
				e.mem.Release(n)
				return false
			}
			readers.Go(func() error {
				c, err := src.Read(ctx, t.srcRel, off, int(n))
				res <- piece{off: off, n: n, c: c, err: err, weight: n}
				return nil
			})
			return true
		}
		var pos int64 // the end of what is queued
		for next := int64(0); next < size; {
			x, err := src.Extents(ctx, t.srcRel, next)
			if err != nil {
				now(piece{err: fmt.Errorf("extents: %w", err)})
				return nil
			}
			if x.Size != size || x.Mtime != mtime {
				now(piece{c: endpoint.Chunk{Size: x.Size, Mtime: x.Mtime}, err: endpoint.ErrChanged})
				return nil
			}
			for _, ext := range coalesce(x.List, sparseGap) {
				if ext.Off > pos && !now(piece{off: pos, n: ext.Off - pos, hole: true}) {
					return nil
				}
				end := ext.Off + ext.Len
				for off := max(ext.Off, pos); off < end; off += chunk {
					if !read(off, min(chunk, end-off)) {
						return nil
					}
				}
				pos = max(pos, end)
			}
			if x.Next <= next && x.Next < size {
				now(piece{err: fmt.Errorf("extents: %w: no progress at offset %d", wire.ErrProtocol, next)})
				return nil
			}
			next = x.Next
		}
		if pos < size {
			now(piece{off: pos, n: size - pos, hole: true})
		}
		return nil
	})
	defer func() {
		cancel()
		for res := range queue {
			e.mem.Release((<-res).weight)
		}
		readers.Wait()
	}()

	var covered, sent int64
	var last endpoint.Chunk
	for res := range queue {
		p := <-res
		n, err := e.writePiece(ctx, w, p, covered, size, mtime)
		e.mem.Release(p.weight)
		if p.err != nil || !p.hole {
			last = p.c
		}
		if err != nil {
			return sent, last, err
		}
		covered += p.n
		if !p.hole {
			sent += n
		}
	}
	if covered != size {
		if err := ctx.Err(); err != nil {
			return sent, last, err
		}
		return sent, last, endpoint.ErrChanged
	}
	if err := w.Commit(ctx, size, t.entry.Mode, mtime, e.attrs(&t.entry)); err != nil {
		return sent, last, err
	}
	return sent, last, nil
}

// writePiece checks one piece of a sparse copy, which must start at off,
// against the expected size and mtime and hands it to w. It returns the
// bytes of data written.
func (e *engine) writePiece(ctx context.Context, w endpoint.FileWriter, p piece, off, size, mtime int64) (int64, error) {
	switch {
	case p.err != nil:
		return 0, fmt.Errorf("read: %w", p.err)
	case p.off != off:
		return 0, fmt.Errorf("sparse copy: piece at %d where %d was expected: %w", p.off, off, endpoint.ErrChanged)
	case p.hole:
		if err := w.Hole(ctx, p.off, p.n); err != nil {
			return 0, err
		}
		e.o.Counters.AddBytes(p.n)
		return 0, nil
	case p.c.Size != size || p.c.Mtime != mtime || int64(len(p.c.Data)) != p.n:
		return 0, endpoint.ErrChanged
	}
	if err := e.limit.wait(ctx, len(p.c.Data)); err != nil {
		return 0, err
	}
	if err := w.Write(ctx, p.off, p.c.Data, p.c.Sum); err != nil {
		return 0, err
	}
	e.o.Counters.AddBytes(p.n)
	return p.n, nil
}

// coalesce merges the extents of xs closer than gap into one, holes and
// all.
func coalesce(xs []wire.Extent, gap int64) []wire.Extent {
	var out []wire.Extent
	for _, x := range xs {
		if k := len(out) - 1; k >= 0 && x.Off-(out[k].Off+out[k].Len) < gap {
			out[k].Len = x.Off + x.Len - out[k].Off
			continue
		}
		out = append(out, x)
	}
	return out
}
