package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
	"github.com/zeebo/blake3"
)

// proxy is an endpoint.Endpoint on the agent, named by its root handle.
type proxy struct {
	c      *Client
	root   uint32
	caps   wire.Caps // from the OpenResp
	closed atomic.Bool
}

var _ endpoint.Endpoint = (*proxy)(nil)

// check refuses a call on a closed proxy, and a path that the wire would
// refuse to send, with an error matching endpoint.ErrInvalidPath as the
// agent would.
func (p *proxy) check(rel string) error {
	if err := wire.ValidPath(rel); err != nil {
		return fmt.Errorf("%w: %v", endpoint.ErrInvalidPath, err)
	}
	if p.closed.Load() {
		return endpoint.ErrClosed
	}
	return nil
}

// Scan implements endpoint.Endpoint. Batches arrive under credit: the agent
// sends at most scanCredit batches ahead of fn, and more are granted as fn
// consumes them, so a slow fn holds back the agent, not the connection.
// If fn fails, the agent is told to stop and Scan returns once it has; if
// ctx ends, the agent is told to stop and Scan returns at once.
func (p *proxy) Scan(ctx context.Context, rel string, opts endpoint.ScanOptions, fn func(*wire.Entry) error) error {
	if err := p.check(rel); err != nil {
		return opError("scan", rel, err)
	}
	if err := ctx.Err(); err != nil {
		return opError("scan", rel, err)
	}
	c := p.c
	id := c.newID()
	req := &wire.ScanReq{Root: p.root, Path: rel, Hash: opts.Hash, Rules: opts.Rules, Credit: scanCredit, Tidy: opts.Tidy, Want: opts.Want}
	// Room for every batch the credit allows, and the Result.
	cl, err := c.request(id, req, wire.KindScanBatch, scanCredit+1)
	if err != nil {
		return opError("scan", rel, err)
	}
	if err := c.consumeScan(ctx, id, cl, fn); err != nil {
		return opError("scan", rel, err)
	}
	return nil
}

// consumeScan calls fn for the entries of scan id in order, granting
// credit as batches are used, until the scan's Result.
func (c *Client) consumeScan(ctx context.Context, id uint32, cl *call, fn func(*wire.Entry) error) error {
	var last string
	used := uint32(0)
	for n := 0; ; {
		select {
		case <-c.dead:
			return c.failure()
		default:
		}
		m, err := c.wait(ctx, cl)
		if err != nil {
			if ctx.Err() != nil {
				c.cancel(id)
			}
			return err
		}
		b, ok := m.(*wire.ScanBatch)
		if !ok {
			return resultError(m.(*wire.Result))
		}
		for i := range b.Entries {
			e := &b.Entries[i]
			if n > 0 && wire.ComparePaths(last, e.Path) >= 0 {
				err := fmt.Errorf("%w: scan %d: %q after %q", wire.ErrProtocol, id, e.Path, last)
				c.fail(fmt.Errorf("%w: %w", endpoint.ErrClosed, err))
				return c.failure()
			}
			last = e.Path
			n++
			err := ctx.Err()
			if err == nil {
				err = fn(e)
			}
			if err != nil {
				c.cancel(id)
				c.drain(ctx, cl)
				return err
			}
		}
		if used++; used >= scanCredit/2 {
			if err := c.send(id, &wire.ScanMore{N: used}); err != nil {
				return err
			}
			used = 0
		}
	}
}

// drain discards the frames of a canceled stream until its Result, ctx
// ends or the client fails, so that the agent has stopped when the caller
// returns.
func (c *Client) drain(ctx context.Context, cl *call) {
	for {
		m, err := c.wait(ctx, cl)
		if err != nil {
			return
		}
		if _, ok := m.(*wire.Result); ok {
			return
		}
	}
}

// Read implements endpoint.Endpoint. Reads do not wait for one another:
// any number may be in flight on the connection. With DialOptions.Compress
// the agent may answer with a zstd frame, which Read decompresses (into at
// most n bytes) before returning; Chunk.Sum is the agent's sum of the
// uncompressed data either way.
func (p *proxy) Read(ctx context.Context, rel string, off int64, n int) (endpoint.Chunk, error) {
	if err := p.check(rel); err != nil {
		return endpoint.Chunk{}, opError("read", rel, err)
	}
	if off < 0 || n < 0 || n > wire.MaxChunk {
		err := fmt.Errorf("%w: %d bytes at offset %d", endpoint.ErrInvalidPath, n, off)
		return endpoint.Chunk{}, opError("read", rel, err)
	}
	// The wire asks for at least one byte; a read of none still checks
	// the file and reports its size.
	req := &wire.ReadReq{Root: p.root, Path: rel, Off: off, Len: uint32(max(n, 1)), Compress: p.c.z != nil}
	m, err := p.c.roundTrip(ctx, req, wire.KindReadResp)
	if err != nil {
		return endpoint.Chunk{}, opError("read", rel, err)
	}
	r := m.(*wire.ReadResp)
	var bad error
	switch {
	case r.Compressed && !req.Compress:
		bad = fmt.Errorf("%w: read %s: compressed answer to a request without Compress", wire.ErrProtocol, rel)
	case r.Compressed && r.RawLen > req.Len:
		bad = fmt.Errorf("%w: read %s: %d compressed bytes in answer to %d", wire.ErrProtocol, rel, r.RawLen, req.Len)
	case !r.Compressed && len(r.Data) > int(req.Len):
		bad = fmt.Errorf("%w: read %s: %d bytes in answer to %d", wire.ErrProtocol, rel, len(r.Data), req.Len)
	}
	if bad != nil {
		p.c.fail(fmt.Errorf("%w: %w", endpoint.ErrClosed, bad))
		return endpoint.Chunk{}, p.c.failure()
	}
	if r.Compressed {
		// A frame that does not decompress to RawLen bytes fails this
		// read with endpoint.ErrMismatch, as data that does not match its
		// sum would; one that does is checked against the sum by the
		// writer of the data.
		if r.Data, err = p.c.z.unpack(r.Data, int(r.RawLen)); err != nil {
			return endpoint.Chunk{}, opError("read", rel, err)
		}
	}
	if n == 0 {
		r.Data, r.Sum = r.Data[:0], blake3.Sum256(nil)
	}
	return endpoint.Chunk{Data: r.Data, Sum: r.Sum, Size: r.Size, Mtime: r.Mtime}, nil
}

// Apply implements endpoint.Endpoint. An op the agent would refuse
// locally (an invalid path) fails here without being sent; the others go
// in requests of at most wire.MaxBatch ops and about applyBytes bytes,
// each sent after the previous one is answered, so they are applied in
// order.
func (p *proxy) Apply(ctx context.Context, ops []wire.Op) ([]error, error) {
	if p.closed.Load() {
		return nil, fmt.Errorf("apply: %w", endpoint.ErrClosed)
	}
	errs := make([]error, len(ops))
	valid := make([]wire.Op, 0, len(ops))
	index := make([]int, 0, len(ops))
	for i := range ops {
		if err := ops[i].Validate(); err != nil {
			errs[i] = fmt.Errorf("%w: %v", endpoint.ErrInvalidPath, err)
			continue
		}
		valid = append(valid, ops[i])
		index = append(index, i)
	}
	for len(valid) > 0 {
		n, size := 0, 0
		for n < len(valid) && n < wire.MaxBatch && (n == 0 || size < applyBytes) {
			size += len(valid[n].Path) + len(valid[n].Target) + attrsSize(&valid[n].Attrs)
			n++
		}
		batch := valid[:n]
		m, err := p.c.roundTrip(ctx, &wire.ApplyReq{Root: p.root, Ops: batch}, wire.KindApplyResp)
		if err != nil {
			return nil, fmt.Errorf("apply: %w", err)
		}
		res := m.(*wire.ApplyResp).Results
		if len(res) != len(batch) {
			err := fmt.Errorf("%w: %d results for %d ops", wire.ErrProtocol, len(res), len(batch))
			p.c.fail(fmt.Errorf("%w: %w", endpoint.ErrClosed, err))
			return nil, fmt.Errorf("apply: %w", p.c.failure())
		}
		for j := range res {
			errs[index[j]] = resultError(&res[j])
		}
		valid, index = valid[len(batch):], index[len(batch):]
	}
	return errs, nil
}

// Create implements endpoint.Endpoint. It sends the request and returns at
// once; a failure to create the file on the agent is reported by Commit.
func (p *proxy) Create(ctx context.Context, rel string, size int64) (endpoint.FileWriter, error) {
	return p.create(ctx, rel, size, "", false)
}

// CreateShared implements endpoint.Endpoint like Create.
func (p *proxy) CreateShared(ctx context.Context, rel string, size int64, share string, part bool) (endpoint.FileWriter, error) {
	if err := wire.ValidShare(share); err != nil || share == "" {
		return nil, opError("create", rel, fmt.Errorf("%w: bad share token %q", endpoint.ErrInvalidPath, share))
	}
	return p.create(ctx, rel, size, share, part)
}

func (p *proxy) create(ctx context.Context, rel string, size int64, share string, part bool) (endpoint.FileWriter, error) {
	if err := p.check(rel); err != nil {
		return nil, opError("create", rel, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, opError("create", rel, err)
	}
	req := &wire.CreateReq{Root: p.root, Path: rel, Size: max(size, 0), Share: share, Part: part}
	if err := req.Validate(); err != nil {
		return nil, opError("create", rel, fmt.Errorf("%w: %v", endpoint.ErrInvalidPath, err))
	}
	return &fileWriter{c: p.c, id: p.c.newID(), path: rel, size: size, held: []wire.Message{req}}, nil
}

// Close implements endpoint.Endpoint, releasing the root handle on the
// agent. It may be called more than once. If the session is gone, the
// agent has released the handle already and Close returns nil.
func (p *proxy) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	_, err := p.c.roundTrip(context.Background(), &wire.CloseReq{Root: p.root}, wire.KindResult)
	if err != nil && !errors.Is(err, endpoint.ErrClosed) {
		return opError("close", ".", err)
	}
	return nil
}

// fileWriter is a file being created on the agent, named by the id of its
// CreateReq. Write and Abort send frames and return without waiting;
// Commit waits for the agent's Result.
//
// The CreateReq is held until the first frame that must leave, and a
// Write of the whole file is held until Commit, so a small file crosses
// as one write of the stream (create, data, commit) and a file aborted
// before any frame left costs nothing on the wire (unless it is shared:
// see Abort).
type fileWriter struct {
	c       *Client
	id      uint32
	path    string
	size    int64          // as given to Create
	held    []wire.Message // frames not sent yet, oldest first
	state   writerState
	verdict verdict // whether the file's data compresses, as far as seen
}

type writerState uint8

const (
	writerOpen      writerState = iota
	writerCommitted             // CommitReq sent; the agent has dropped the file either way
	writerAborted
)

// Write implements endpoint.FileWriter. data is written to the connection
// before Write returns and not retained; with DialOptions.Compress, it
// goes as a zstd frame when it compresses (see compressor.pack). An error
// of the agent's write, a failed decompression included, is reported by
// Commit.
func (w *fileWriter) Write(ctx context.Context, off int64, data []byte, sum wire.Sum) error {
	if w.state != writerOpen {
		return opError("write", w.path, endpoint.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return opError("write", w.path, err)
	}
	m := &wire.Data{Off: off, Data: data, Sum: sum}
	if z := w.c.z; z != nil {
		var payload []byte
		payload, m.Compressed, w.verdict = z.pack(data, w.verdict)
		if m.Compressed {
			m.Data, m.RawLen = payload, uint32(len(data))
			defer z.release(payload)
		}
	}
	if off == 0 && int64(len(data)) == w.size && len(w.held) == 1 {
		// The whole file: keep it for Commit (data is the caller's and
		// stays unchanged until then; a compressed payload is ours).
		if m.Compressed {
			m.Data = bytes.Clone(m.Data)
		}
		w.held = append(w.held, m)
		return nil
	}
	held := w.held
	w.held = nil
	if err := w.c.sendAll(w.id, append(held, m)...); err != nil {
		return opError("write", w.path, err)
	}
	return nil
}

// Commit implements endpoint.FileWriter. It is the file's only round
// trip. If ctx ends while Commit waits, the file may or may not have been
// committed.
func (w *fileWriter) Commit(ctx context.Context, size int64, mode uint32, mtime int64, attrs wire.Attrs) error {
	if w.state != writerOpen {
		return opError("commit", w.path, endpoint.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return opError("commit", w.path, err)
	}
	req := &wire.CommitReq{Size: size, Mode: mode, Mtime: mtime, Attrs: attrs}
	if err := req.Validate(); err != nil {
		return opError("commit", w.path, fmt.Errorf("%w: %v", endpoint.ErrInvalidPath, err))
	}
	held := w.held
	w.held = nil
	cl, err := w.c.request(w.id, req, wire.KindResult, 1, held...)
	if err != nil {
		return opError("commit", w.path, err)
	}
	w.state = writerCommitted
	if _, err := w.c.answer(ctx, w.id, cl); err != nil {
		return opError("commit", w.path, err)
	}
	return nil
}

// Abort implements endpoint.FileWriter. It sends the request and returns
// without waiting. After Commit, a second Abort or a Suspend it does
// nothing. (A session that ends with files still open suspends them.)
func (w *fileWriter) Abort() error {
	return w.end(false)
}

// end sends an AbortReq, with Keep for Suspend, unless the file is
// already done.
func (w *fileWriter) end(keep bool) error {
	if w.state != writerOpen {
		return nil
	}
	w.state = writerAborted
	held := w.held
	w.held = nil
	if held != nil && held[0].(*wire.CreateReq).Share == "" {
		return nil // the agent never heard of this file
	}
	// A shared file's temporary file may hold other writers' data: the
	// agent removes (or keeps) it on this abort even when nothing was
	// written here.
	err := w.c.sendAll(w.id, append(held[:min(len(held), 1)], &wire.AbortReq{Keep: keep})...)
	if err != nil && !errors.Is(err, endpoint.ErrClosed) {
		return opError("abort", w.path, err)
	}
	return nil
}
