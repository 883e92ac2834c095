package transfer

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

const (
	copyAttempts = 3
	// maxLostRetries bounds how often one file is written again because a
	// connection was lost under it.
	maxLostRetries = 16
)

// copyFile copies one regular file, reading it again when it changes
// while being read. It returns the bytes sent.
func (e *engine) copyFile(ctx context.Context, t fileTask) (int64, error) {
	size, mtime := t.entry.Size, t.entry.Mtime
	var sent int64
	for attempt, lost := 1, 0; ; attempt++ {
		var n int64
		var ch endpoint.Chunk
		err := errNoBasis
		if t.basis != wire.BasisNone {
			n, ch, err = e.copyDelta(ctx, t, size, mtime)
			if errors.Is(err, endpoint.ErrMismatch) && ctx.Err() == nil {
				// The basis changed under the delta: send the file whole.
				e.o.Logger.Info("basis changed; sending the whole file", "path", t.path, "err", err)
				err = errNoBasis
			}
			if errors.Is(err, errNoBasis) {
				t.basis = wire.BasisNone
			}
		}
		switch {
		case errors.Is(err, errNoBasis) && t.entry.Sparse:
			n, ch, err = e.copySparse(ctx, t, size, mtime)
		case errors.Is(err, errNoBasis):
			n, ch, err = e.copyOnce(ctx, t, size, mtime)
		}
		sent += n
		if errors.Is(err, endpoint.ErrRetry) && lost < maxLostRetries {
			lost++
			attempt--
			e.o.Logger.Info("connection lost; writing the file again", "path", t.path)
			continue
		}
		if err == nil || !errors.Is(err, endpoint.ErrChanged) {
			return sent, err
		}
		if attempt == copyAttempts {
			return sent, fmt.Errorf("%w (%d attempts)", err, attempt)
		}
		e.o.Logger.Debug("source changed while read; reading again", "path", t.path, "attempt", attempt)
		size, mtime = ch.Size, ch.Mtime
	}
}

type readResult struct {
	c      endpoint.Chunk
	err    error
	weight int64 // bytes of the memory budget held
}

// copyOnce copies the file once, expecting the source to keep size and
// mtime. When it does not, it fails with ErrChanged and returns the last
// chunk read, whose Size and Mtime are the file's new ones.
func (e *engine) copyOnce(ctx context.Context, t fileTask, size, mtime int64) (int64, endpoint.Chunk, error) {
	src := e.jobs[t.job].Src
	chunk := int64(e.o.ChunkSize)
	w, err := e.dst.Create(ctx, t.path, size)
	if err != nil {
		return 0, endpoint.Chunk{}, err
	}
	defer e.end(ctx, w)
	if size < chunk {
		return e.copySmall(ctx, t, w, size, mtime)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Reads are issued up to ReadAhead chunks ahead of the writes and
	// delivered in order; each holds its bytes of the memory budget until
	// written.
	depth := e.o.ReadAhead
	if size < chunk {
		depth = 1
	}
	queue := make(chan chan readResult, depth)
	var readers errgroup.Group
	readers.Go(func() error {
		defer close(queue)
		for off := int64(0); off <= size; off += chunk {
			weight := min(chunk, size-off+1)
			if err := e.mem.Acquire(ctx, weight); err != nil {
				return nil
			}
			res := make(chan readResult, 1)
			select {
			case queue <- res:
			case <-ctx.Done():
				e.mem.Release(weight)
				return nil
			}
			readers.Go(func() error {
				c, err := src.Read(ctx, t.srcRel, off, int(chunk))
				res <- readResult{c, err, weight}
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
		readers.Wait()
	}()

	var off int64
	var last endpoint.Chunk
	for res := range queue {
		r := <-res
		last = r.c
		n, err := e.writeChunk(ctx, w, r, off, size, mtime)
		e.mem.Release(r.weight)
		off += n
		if err != nil {
			return off, last, err
		}
		if n < chunk {
			break
		}
	}
	if off != size {
		return off, last, endpoint.ErrChanged
	}
	if err := w.Commit(ctx, size, t.entry.Mode, mtime, e.attrs(&t.entry)); err != nil {
		return off, last, err
	}
	return off, last, nil
}

// writeChunk checks one read result against the expected size and mtime
// and writes its data at off. It returns the bytes written.
func (e *engine) writeChunk(ctx context.Context, w endpoint.FileWriter, r readResult, off, size, mtime int64) (int64, error) {
	if r.err != nil {
		return 0, fmt.Errorf("read: %w", r.err)
	}
	if r.c.Size != size || r.c.Mtime != mtime {
		return 0, endpoint.ErrChanged
	}
	if len(r.c.Data) == 0 {
		return 0, nil
	}
	if err := e.limit.wait(ctx, len(r.c.Data)); err != nil {
		return 0, err
	}
	if err := w.Write(ctx, off, r.c.Data, r.c.Sum); err != nil {
		return 0, err
	}
	e.o.Counters.AddBytes(int64(len(r.c.Data)))
	return int64(len(r.c.Data)), nil
}

// copySmall is copyOnce for a file that one read covers: it reads in the
// calling goroutine, since there is nothing to read ahead.
func (e *engine) copySmall(ctx context.Context, t fileTask, w endpoint.FileWriter, size, mtime int64) (int64, endpoint.Chunk, error) {
	weight := size + 1
	if err := e.mem.Acquire(ctx, weight); err != nil {
		return 0, endpoint.Chunk{}, err
	}
	c, err := e.jobs[t.job].Src.Read(ctx, t.srcRel, 0, e.o.ChunkSize)
	n, err := e.writeChunk(ctx, w, readResult{c, err, weight}, 0, size, mtime)
	e.mem.Release(weight)
	switch {
	case err != nil:
		return n, c, err
	case n != size:
		return n, c, endpoint.ErrChanged
	}
	return n, c, w.Commit(ctx, size, t.entry.Mode, mtime, e.attrs(&t.entry))
}
