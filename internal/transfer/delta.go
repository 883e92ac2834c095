package transfer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/fcp-dev/fcp/internal/delta"
	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Delta transfer: a file whose destination holds an older version, or the
// partial file of an interrupted run, is rebuilt there from that basis
// and the bytes the basis lacks (package delta has the algorithm). The
// destination signs its basis (Endpoint.Sums), the source matches ranges
// of the new file against the signature (Endpoint.Delta: on the source's
// host, so only ops and literal bytes cross), and the destination's writer
// copies from its basis (FileWriter.Copy) or writes literal bytes.

// DeltaMin is the smallest destination file used as a basis: below it,
// the round trips cost more than sending the file.
const DeltaMin = 64 << 10

// deltaWindow is how far around a range of the new file its blocks are
// looked for in the basis: data that moved farther is sent again.
const deltaWindow = 16 << 20

// errNoBasis means the destination has no basis after all.
var errNoBasis = errors.New("no basis")

// basisFor returns what a file being copied may be rebuilt from: the
// destination's file (or a partial file) when Options.Delta allows and the
// file is big enough, a partial file of an interrupted run when the
// source is big enough to have left one, else none. A file with holes
// has none: its data alone is sent (see copySparse).
func (e *engine) basisFor(se, d *wire.Entry) wire.Basis {
	switch {
	case se.Sparse:
		return wire.BasisNone
	case e.o.Delta && d != nil && d.Type == wire.TypeFile && d.Size >= DeltaMin && se.Size >= DeltaMin:
		return wire.BasisAny
	case se.Size >= endpoint.ResumeMin:
		return wire.BasisPartial
	}
	return wire.BasisNone
}

// signature is a basis's blocks, as Endpoint.Sums gives them.
type signature struct {
	basis     wire.Basis
	size      int64
	stamp     uint64
	blockSize int
	blocks    []wire.Block
}

// sumsPage is the number of blocks asked for at once; the pages of a
// large basis are signed concurrently, by every core (and connection) of
// the destination.
const sumsPage = 2048

// sign fetches the signature of t's basis, errNoBasis if there is none
// (or nothing in it to match). If the basis changes while it is signed,
// the signature gets no stamp, so that the writer checks every copy.
func (e *engine) sign(ctx context.Context, t fileTask, size int64) (*signature, error) {
	bs := min(max(delta.BlockSize(size), wire.MinBlock), wire.MaxBlock)
	first, err := e.dst.Sums(ctx, t.path, t.basis, bs, 0, sumsPage)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, errNoBasis
	case err != nil:
		return nil, err
	case len(first.Blocks) == 0:
		return nil, errNoBasis
	}
	sig := &signature{basis: first.Basis, size: first.Size, stamp: first.Stamp, blockSize: bs}
	pages := make([][]wire.Block, (first.Size/int64(bs)+sumsPage-1)/sumsPage)
	pages[0] = first.Blocks
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	var changed atomic.Bool
	for p := 1; p < len(pages) && len(first.Blocks) == sumsPage; p++ {
		g.Go(func() error {
			s, err := e.dst.Sums(gctx, t.path, sig.basis, bs, int64(p)*sumsPage*int64(bs), sumsPage)
			if err != nil {
				return err
			}
			if s.Stamp != sig.stamp || s.Basis != sig.basis {
				changed.Store(true)
			}
			pages[p] = s.Blocks
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errNoBasis
		}
		return nil, err
	}
	for p, blocks := range pages {
		if len(blocks) < sumsPage {
			// The basis ends here (or shrank while it was signed).
			changed.Store(changed.Load() || p < len(pages)-1)
			sig.blocks = append(sig.blocks, blocks...)
			break
		}
		sig.blocks = append(sig.blocks, blocks...)
	}
	if changed.Load() {
		sig.stamp = 0
	}
	return sig, nil
}

// window returns the blocks looked for in the range [off, off+n) of the
// new file and the basis offset of the first.
func (s *signature) window(off int64, n int) (int64, []wire.Block) {
	bs, nb := int64(s.blockSize), int64(len(s.blocks))
	lo := min(nb, max(0, (off-deltaWindow)/bs))
	hi := max(lo, min(nb, (off+int64(n)+deltaWindow)/bs+1))
	if hi-lo > wire.MaxBlocks {
		lo = min(nb, max(0, (off+int64(n)/2)/bs-wire.MaxBlocks/2))
		hi = min(nb, lo+wire.MaxBlocks)
	}
	return lo * bs, s.blocks[lo:hi]
}

type deltaResult struct {
	d      endpoint.DeltaChunk
	err    error
	weight int64
}

// copyDelta copies t by delta against its basis, expecting the source to
// keep size and mtime. It returns the literal bytes sent; errNoBasis when
// there is nothing to rebuild from (the caller copies the file whole).
func (e *engine) copyDelta(parent context.Context, t fileTask, size, mtime int64) (sent int64, last endpoint.Chunk, err error) {
	sig, err := e.sign(parent, t, size)
	if err != nil {
		return 0, endpoint.Chunk{}, err
	}
	w, err := e.dst.CreateFrom(parent, t.path, size, sig.basis, sig.stamp)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, endpoint.Chunk{}, errNoBasis
	}
	if err != nil {
		return 0, endpoint.Chunk{}, err
	}
	defer e.end(parent, w)
	src := e.jobs[t.job].Src

	// Ranges of whole blocks: data that did not move then matches block
	// for block, with no literal bytes where one range ends and the next
	// begins.
	seg := int64(wire.MaxDeltaLen / sig.blockSize * sig.blockSize)

	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	queue := make(chan chan deltaResult, e.o.ReadAhead)
	var matchers errgroup.Group
	matchers.Go(func() error {
		defer close(queue)
		for off := int64(0); off <= size; off += seg {
			n := int(min(seg, size-off+1))
			weight := min(int64(n), e.o.MemoryBudget)
			if err := e.mem.Acquire(ctx, weight); err != nil {
				return nil
			}
			res := make(chan deltaResult, 1)
			select {
			case queue <- res:
			case <-ctx.Done():
				e.mem.Release(weight)
				return nil
			}
			first, blocks := sig.window(off, n)
			matchers.Go(func() error {
				d, err := src.Delta(ctx, t.srcRel, off, n, sig.blockSize, first, blocks)
				res <- deltaResult{d, err, weight}
				return nil
			})
		}
		return nil
	})
	defer func() {
		cancel()
		for res := range queue {
			e.mem.Release((<-res).weight)
		}
		matchers.Wait()
	}()

	var off int64
	for res := range queue {
		r := <-res
		last = endpoint.Chunk{Size: r.d.Size, Mtime: r.d.Mtime}
		n, lit, err := e.applyDelta(ctx, w, r, off, size, mtime)
		e.mem.Release(r.weight)
		off += n
		sent += lit
		if err != nil {
			return sent, last, err
		}
		if n < seg {
			break
		}
	}
	if off != size {
		return sent, last, endpoint.ErrChanged
	}
	return sent, last, w.Commit(ctx, size, t.entry.Mode, mtime, e.attrs(&t.entry))
}

// applyDelta checks one range's ops against the expected size and mtime
// and hands them to w. It returns the bytes of the file they cover and
// the literal bytes among them.
func (e *engine) applyDelta(ctx context.Context, w endpoint.FileWriter, r deltaResult, off, size, mtime int64) (n, lit int64, err error) {
	if r.err != nil {
		return 0, 0, fmt.Errorf("delta: %w", r.err)
	}
	if r.d.Size != size || r.d.Mtime != mtime {
		return 0, 0, endpoint.ErrChanged
	}
	for _, op := range r.d.Ops {
		if op.Off != off+n {
			return n, lit, fmt.Errorf("delta: op at %d where %d was expected: %w", op.Off, off+n, wire.ErrProtocol)
		}
		if op.BasisOff < 0 {
			if err := e.limit.wait(ctx, len(op.Data)); err != nil {
				return n, lit, err
			}
			err = w.Write(ctx, op.Off, op.Data, op.Sum)
			lit += int64(len(op.Data))
		} else {
			err = w.Copy(ctx, op.Off, op.BasisOff, int(op.Len), op.Sum)
		}
		if err != nil {
			return n, lit, err
		}
		n += int64(op.Len)
		e.o.Counters.AddBytes(int64(op.Len))
	}
	return n, lit, nil
}

// end ends a writer that was not committed: suspended, to be resumed by
// a later run, when the run was interrupted; discarded otherwise. After
// Commit it does nothing.
func (e *engine) end(ctx context.Context, w endpoint.FileWriter) {
	if ctx.Err() != nil {
		w.Suspend()
		return
	}
	w.Abort()
}
