package remote

import (
	"context"
	"fmt"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Sums implements endpoint.Endpoint with one SumsReq.
func (p *proxy) Sums(ctx context.Context, rel string, basis wire.Basis, blockSize int, off int64, count int) (endpoint.Sums, error) {
	if err := p.check(rel); err != nil {
		return endpoint.Sums{}, opError("sums", rel, err)
	}
	if count < 0 || count > wire.MaxBlocks || blockSize < wire.MinBlock || blockSize > wire.MaxBlock {
		return endpoint.Sums{}, opError("sums", rel, fmt.Errorf("%w: %d blocks of %d bytes", endpoint.ErrInvalidPath, count, blockSize))
	}
	req := &wire.SumsReq{Root: p.root, Path: rel, Basis: basis, BlockSize: uint32(blockSize), Off: off, Count: uint32(count)}
	m, err := p.c.roundTrip(ctx, req, wire.KindSumsResp)
	if err != nil {
		return endpoint.Sums{}, opError("sums", rel, err)
	}
	r := m.(*wire.SumsResp)
	if len(r.Blocks) > count || basis != wire.BasisAny && r.Basis != basis {
		p.c.fail(fmt.Errorf("%w: %w: sums of %s: %d blocks of basis %d in answer to %d of basis %d",
			endpoint.ErrClosed, wire.ErrProtocol, rel, len(r.Blocks), r.Basis, count, basis))
		return endpoint.Sums{}, p.c.failure()
	}
	return endpoint.Sums{Basis: r.Basis, Size: r.Size, Stamp: r.Stamp, Blocks: r.Blocks}, nil
}

// Delta implements endpoint.Endpoint with one DeltaReq.
func (p *proxy) Delta(ctx context.Context, rel string, off int64, n int, blockSize int, first int64, blocks []wire.Block) (endpoint.DeltaChunk, error) {
	if err := p.check(rel); err != nil {
		return endpoint.DeltaChunk{}, opError("delta", rel, err)
	}
	if n < 0 || n > wire.MaxDeltaLen {
		return endpoint.DeltaChunk{}, opError("delta", rel, fmt.Errorf("%w: %d bytes", endpoint.ErrInvalidPath, n))
	}
	req := &wire.DeltaReq{Root: p.root, Path: rel, Off: off, Len: uint32(n), BlockSize: uint32(blockSize), First: first, Blocks: blocks}
	m, err := p.c.roundTrip(ctx, req, wire.KindDeltaResp)
	if err != nil {
		return endpoint.DeltaChunk{}, opError("delta", rel, err)
	}
	r := m.(*wire.DeltaResp)
	if k := len(r.Ops); k > 0 && (r.Ops[0].Off != off || r.Ops[k-1].Off+int64(r.Ops[k-1].Len) > off+int64(n)) {
		p.c.fail(fmt.Errorf("%w: %w: delta of %s: ops outside the range asked for", endpoint.ErrClosed, wire.ErrProtocol, rel))
		return endpoint.DeltaChunk{}, p.c.failure()
	}
	return endpoint.DeltaChunk{Ops: r.Ops, Size: r.Size, Mtime: r.Mtime}, nil
}

// CreateFrom implements endpoint.Endpoint: Create with the basis named
// in the CreateReq.
func (p *proxy) CreateFrom(ctx context.Context, rel string, size int64, basis wire.Basis, stamp uint64) (endpoint.FileWriter, error) {
	if basis != wire.BasisFile && basis != wire.BasisPartial {
		return nil, opError("create", rel, fmt.Errorf("%w: basis %d", endpoint.ErrInvalidPath, basis))
	}
	fw, err := p.create(ctx, rel, size, "", false)
	if err != nil {
		return nil, err
	}
	w := fw.(*fileWriter)
	req := w.held[0].(*wire.CreateReq)
	req.Basis, req.Stamp = basis, stamp
	return w, nil
}

// Copy implements endpoint.FileWriter: one CopyData frame, sent without
// waiting; the agent's verdict comes with Commit.
func (w *fileWriter) Copy(ctx context.Context, off, basisOff int64, n int, sum wire.Sum) error {
	if w.state != writerOpen {
		return opError("copy", w.path, endpoint.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return opError("copy", w.path, err)
	}
	if n <= 0 || n > wire.MaxDeltaLen {
		return opError("copy", w.path, fmt.Errorf("%w: %d bytes", endpoint.ErrInvalidPath, n))
	}
	held := w.held
	w.held = nil
	if err := w.c.sendAll(w.id, append(held, &wire.CopyData{Off: off, BasisOff: basisOff, Len: uint32(n), Sum: sum})...); err != nil {
		return opError("copy", w.path, err)
	}
	return nil
}

// Suspend implements endpoint.FileWriter: an AbortReq with Keep.
func (w *fileWriter) Suspend() error {
	return w.end(true)
}
