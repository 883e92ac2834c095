package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Limits of one served session.
const (
	// maxReads bounds the ReadReqs served at once; the read loop stops
	// taking frames while all are busy, which pushes back on the peer.
	maxReads = 16
	// MaxWriters bounds the files being created at once through one
	// agent. A CreateReq beyond it fails (at its commit) with CodeInvalid.
	MaxWriters = 1024
	// maxTracked bounds the file ids tracked at once, failed ones
	// included; a peer that exceeds it is broken.
	maxTracked = 16 * MaxWriters
	// maxRoots bounds the open root handles.
	maxRoots = 1024

	// A ScanBatch is sent when it holds batchEntries entries, about
	// batchBytes bytes, or batchDelay after its first entry was found.
	batchEntries = 256
	batchBytes   = 64 << 10
	batchDelay   = 5 * time.Millisecond

	// applyBytes is about the most an ApplyReq carries (its ops' paths
	// and attributes), far below wire.MaxFrame.
	applyBytes = 1 << 20
)

// ServeOptions adjusts Serve.
type ServeOptions struct {
	// Software names this program in the handshake, for the peer's
	// messages only.
	Software string
	// Closer, if set, is closed when the session stops (ctx ends, the
	// peer ends the stream, or the session fails), before Serve waits for
	// its goroutines, so that a read or write blocked on the stream
	// returns. Without it, a Serve whose ctx ends returns only once the
	// stream delivers a frame or ends. It is typically the stream that r
	// and w belong to.
	Closer io.Closer
	// Logger receives the session's diagnostics; nil discards them.
	Logger *slog.Logger
}

// Serve speaks the agent side of the wire protocol on r and w, answering
// the peer's requests with host. It performs the handshake and then serves
// until the peer ends the stream between frames (Serve returns nil), ctx
// ends (it returns an error wrapping context.Cause(ctx)), or the stream
// fails or the peer breaks the protocol (the error wraps wire.ErrProtocol
// for the latter).
//
// Serve owns every goroutine it starts and returns only after all have
// finished; by then every scan and read in progress has been canceled,
// every file still being created aborted and every root it opened closed.
// It does not close host.
func Serve(ctx context.Context, r io.Reader, w io.Writer, host endpoint.Host, opts ServeOptions) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	closeStream := func() {}
	if opts.Closer != nil {
		var once sync.Once
		closeStream = func() { once.Do(func() { opts.Closer.Close() }) }
	}
	// While ctx lasts, the stream stays open; a closeStream of ours waits
	// for one that ctx's end started.
	defer context.AfterFunc(ctx, closeStream)()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()

	conn := wire.NewConn(r, w)
	peer, version, err := conn.Handshake(wire.Hello{
		MinVersion: wire.MinVersion,
		MaxVersion: wire.Version,
		Software:   opts.Software,
	})
	if err != nil {
		closeStream()
		if ctx.Err() != nil {
			return fmt.Errorf("handshake: %w", context.Cause(ctx))
		}
		return fmt.Errorf("handshake: %w", err)
	}
	log.Debug("session started", "peer", peer.Software, "version", version)
	z, err := newCompressor()
	if err != nil {
		closeStream()
		return fmt.Errorf("serve: %w", err)
	}
	defer z.Close()

	s := &server{
		conn:    conn,
		host:    host,
		log:     log,
		z:       z,
		roots:   make(map[uint32]endpoint.Endpoint),
		writers: make(map[uint32]*writer),
		active:  make(map[uint32]*request),
		reads:   make(chan struct{}, maxReads),
	}
	err = s.loop(sctx)
	canceled := ctx.Err() != nil
	cancel()
	closeStream()
	s.wg.Wait()
	s.release()

	switch {
	case canceled && !errors.Is(err, wire.ErrProtocol):
		// The stream ended or failed because ctx closed it.
		return fmt.Errorf("serve: %w", context.Cause(ctx))
	case err != nil:
		log.Warn("session failed", "err", err)
		return fmt.Errorf("serve: %w", err)
	}
	log.Debug("session ended by peer")
	return nil
}

// server is the state of one session. Fields marked "loop" belong to the
// read loop's goroutine; the rest are safe for concurrent use.
type server struct {
	conn *wire.Conn
	host endpoint.Host
	log  *slog.Logger
	z    *compressor

	roots   map[uint32]endpoint.Endpoint // loop
	writers map[uint32]*writer           // loop
	open    int                          // loop: writers with a FileWriter

	mu     sync.Mutex
	active map[uint32]*request // scans and reads in progress, by id

	reads chan struct{} // semaphore of running reads
	wg    sync.WaitGroup
}

// writer is a file being created at path. A nil fw means its creation
// failed and err says why; err is otherwise the first failure of a write.
type writer struct {
	path string
	fw   endpoint.FileWriter
	err  error
}

// request is a scan or read running in its own goroutine.
type request struct {
	cancel context.CancelFunc
	credit *credit // nil for reads
}

// loop reads and dispatches frames until the stream ends or a frame breaks
// the protocol. It returns nil for an end of stream between frames.
func (s *server) loop(ctx context.Context) error {
	for {
		id, m, err := s.conn.Recv()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, wire.ErrTooLarge) && !errors.Is(err, wire.ErrProtocol):
			return fmt.Errorf("%w: %w", wire.ErrProtocol, err)
		case err != nil:
			return fmt.Errorf("receive: %w", err)
		}
		if err := s.dispatch(ctx, id, m); err != nil {
			return err
		}
	}
}

// dispatch handles one frame. It returns an error only when the session
// must end: the peer broke the protocol or the stream failed.
func (s *server) dispatch(ctx context.Context, id uint32, m wire.Message) error {
	if id == 0 {
		return fmt.Errorf("%w: %v with request id 0", wire.ErrProtocol, m.Kind())
	}
	switch m := m.(type) {
	case *wire.StatReq:
		resp, err := s.host.Stat(ctx, m.Path)
		if err != nil {
			return s.reply(id, result(err))
		}
		return s.reply(id, &resp)

	case *wire.GlobReq:
		paths, err := s.host.Glob(ctx, m.Pattern)
		if err != nil {
			return s.reply(id, result(err))
		}
		if len(paths) > wire.MaxBatch {
			return s.reply(id, &wire.Result{
				Code: wire.CodeInvalid,
				Msg:  fmt.Sprintf("glob %s: more than %d matches", m.Pattern, wire.MaxBatch),
			})
		}
		return s.reply(id, &wire.GlobResp{Paths: paths})

	case *wire.OpenReq:
		return s.reply(id, s.openRoot(ctx, id, m))

	case *wire.CloseReq:
		ep, ok := s.roots[m.Root]
		if !ok {
			return s.reply(id, unknownRoot(m.Root))
		}
		delete(s.roots, m.Root)
		return s.reply(id, result(ep.Close()))

	case *wire.ScanReq:
		ep, ok := s.roots[m.Root]
		if !ok {
			return s.reply(id, unknownRoot(m.Root))
		}
		cr := &credit{more: make(chan struct{}, 1), n: m.Credit}
		rctx, err := s.start(ctx, id, cr)
		if err != nil {
			return err
		}
		s.wg.Go(func() { s.scan(rctx, id, ep, m, cr) })
		return nil

	case *wire.ScanMore:
		s.mu.Lock()
		req := s.active[id]
		s.mu.Unlock()
		switch {
		case req == nil:
			// The scan ended while the grant was on its way.
			return nil
		case req.credit == nil:
			return fmt.Errorf("%w: ScanMore for request %d, not a scan", wire.ErrProtocol, id)
		}
		return req.credit.add(m.N)

	case *wire.Cancel:
		s.mu.Lock()
		req := s.active[id]
		s.mu.Unlock()
		if req != nil {
			req.cancel()
		}
		return nil

	case *wire.ReadReq:
		ep, ok := s.roots[m.Root]
		if !ok {
			return s.reply(id, unknownRoot(m.Root))
		}
		return s.spawn(ctx, id, func(rctx context.Context) { s.read(rctx, id, ep, m) })

	case *wire.SumsReq:
		ep, ok := s.roots[m.Root]
		if !ok {
			return s.reply(id, unknownRoot(m.Root))
		}
		return s.spawn(ctx, id, func(rctx context.Context) {
			sums, err := ep.Sums(rctx, m.Path, m.Basis, int(m.BlockSize), m.Off, int(m.Count))
			var resp wire.Message = &wire.SumsResp{Basis: sums.Basis, Size: sums.Size, Stamp: sums.Stamp, Blocks: sums.Blocks}
			if err != nil {
				resp = result(err)
			}
			if err := s.reply(id, resp); err != nil {
				s.log.Debug("sums reply lost", "id", id, "err", err)
			}
		})

	case *wire.DeltaReq:
		ep, ok := s.roots[m.Root]
		if !ok {
			return s.reply(id, unknownRoot(m.Root))
		}
		return s.spawn(ctx, id, func(rctx context.Context) {
			dc, err := ep.Delta(rctx, m.Path, m.Off, int(m.Len), int(m.BlockSize), m.First, m.Blocks)
			var resp wire.Message = &wire.DeltaResp{Size: dc.Size, Mtime: dc.Mtime, Ops: dc.Ops}
			if err != nil {
				resp = result(err)
			}
			if err := s.reply(id, resp); err != nil {
				s.log.Debug("delta reply lost", "id", id, "err", err)
			}
		})

	case *wire.ExtentsReq:
		ep, ok := s.roots[m.Root]
		if !ok {
			return s.reply(id, unknownRoot(m.Root))
		}
		return s.spawn(ctx, id, func(rctx context.Context) {
			x, err := ep.Extents(rctx, m.Path, m.Off)
			var resp wire.Message = &wire.ExtentsResp{Size: x.Size, Mtime: x.Mtime, Next: x.Next, Extents: x.List}
			if err != nil {
				resp = result(err)
			}
			if err := s.reply(id, resp); err != nil {
				s.log.Debug("extents reply lost", "id", id, "err", err)
			}
		})

	case *wire.Hole:
		w, ok := s.writers[id]
		if !ok {
			return fmt.Errorf("%w: Hole for unknown file %d", wire.ErrProtocol, id)
		}
		if w.err == nil {
			w.err = w.fw.Hole(ctx, m.Off, m.Len)
		}
		return nil

	case *wire.ApplyReq:
		ep, ok := s.roots[m.Root]
		if !ok {
			return s.reply(id, unknownRoot(m.Root))
		}
		errs, err := ep.Apply(ctx, m.Ops)
		if err != nil {
			return s.reply(id, result(err))
		}
		if len(errs) != len(m.Ops) {
			return s.reply(id, &wire.Result{
				Code: wire.CodeOther,
				Msg:  fmt.Sprintf("apply: %d results for %d ops", len(errs), len(m.Ops)),
			})
		}
		resp := &wire.ApplyResp{Results: make([]wire.Result, len(errs))}
		for i, err := range errs {
			resp.Results[i] = *result(err)
		}
		return s.reply(id, resp)

	case *wire.CreateReq:
		if _, dup := s.writers[id]; dup {
			return fmt.Errorf("%w: CreateReq %d: id in use", wire.ErrProtocol, id)
		}
		if len(s.writers) >= maxTracked {
			return fmt.Errorf("%w: more than %d files being created", wire.ErrProtocol, maxTracked)
		}
		s.writers[id] = s.create(ctx, m)
		return nil

	case *wire.Data:
		w, ok := s.writers[id]
		if !ok {
			return fmt.Errorf("%w: Data for unknown file %d", wire.ErrProtocol, id)
		}
		if w.err == nil {
			w.err = s.write(ctx, w, m)
		}
		return nil

	case *wire.CopyData:
		w, ok := s.writers[id]
		if !ok {
			return fmt.Errorf("%w: CopyData for unknown file %d", wire.ErrProtocol, id)
		}
		if w.err == nil {
			w.err = w.fw.Copy(ctx, m.Off, m.BasisOff, int(m.Len), m.Sum)
		}
		return nil

	case *wire.CommitReq:
		w, ok := s.writers[id]
		if !ok {
			return fmt.Errorf("%w: CommitReq for unknown file %d", wire.ErrProtocol, id)
		}
		s.dropWriter(id, w)
		err := w.err
		if err == nil {
			err = w.fw.Commit(ctx, m.Size, m.Mode, m.Mtime, m.Attrs)
		}
		if err != nil && w.fw != nil && !errors.Is(err, endpoint.ErrMetaUnsupported) {
			w.fw.Abort()
		}
		return s.reply(id, result(err))

	case *wire.AbortReq:
		w, ok := s.writers[id]
		if !ok {
			return fmt.Errorf("%w: AbortReq for unknown file %d", wire.ErrProtocol, id)
		}
		s.dropWriter(id, w)
		if w.fw != nil {
			end := w.fw.Abort
			if m.Keep {
				end = w.fw.Suspend
			}
			if err := end(); err != nil {
				s.log.Debug("abort failed", "id", id, "keep", m.Keep, "err", err)
			}
		}
		return nil
	}
	return fmt.Errorf("%w: unexpected %v from the controller", wire.ErrProtocol, m.Kind())
}

// reply sends m as the answer to request id. A message the wire refuses to
// send (too large) is replaced by a Result saying so; only a failure of
// the stream is returned.
func (s *server) reply(id uint32, m wire.Message) error {
	err := s.conn.Send(id, m)
	if err != nil && (errors.Is(err, wire.ErrProtocol) || errors.Is(err, wire.ErrTooLarge)) {
		s.log.Warn("reply refused by the encoder", "id", id, "kind", m.Kind(), "err", err)
		err = s.conn.Send(id, result(err))
	}
	if err != nil {
		return fmt.Errorf("send %v %d: %w", m.Kind(), id, err)
	}
	return nil
}

// openRoot serves an OpenReq, registering the root under the request's id.
func (s *server) openRoot(ctx context.Context, id uint32, m *wire.OpenReq) wire.Message {
	if _, dup := s.roots[id]; dup {
		return &wire.Result{Code: wire.CodeInvalid, Msg: fmt.Sprintf("open %s: root %d in use", m.Path, id)}
	}
	if len(s.roots) >= maxRoots {
		return &wire.Result{Code: wire.CodeInvalid, Msg: fmt.Sprintf("open %s: more than %d roots open", m.Path, maxRoots)}
	}
	ep, err := s.host.Open(ctx, m.Path, m.Create)
	if err != nil {
		return result(err)
	}
	st, err := s.host.Stat(ctx, m.Path)
	if err != nil {
		ep.Close()
		return result(err)
	}
	s.roots[id] = ep
	return &wire.OpenResp{Root: id, Abs: st.Abs, Caps: ep.Caps()}
}

// create serves a CreateReq. Its failure is kept in the writer, to be
// reported by the commit.
func (s *server) create(ctx context.Context, m *wire.CreateReq) *writer {
	ep, ok := s.roots[m.Root]
	if !ok {
		r := unknownRoot(m.Root)
		return &writer{path: m.Path, err: endpoint.FromCode(r.Code, r.Msg)}
	}
	if s.open >= MaxWriters {
		return &writer{path: m.Path, err: endpoint.FromCode(wire.CodeInvalid,
			fmt.Sprintf("create %s: more than %d files being created", m.Path, MaxWriters))}
	}
	var fw endpoint.FileWriter
	var err error
	switch {
	case m.Basis != wire.BasisNone && m.Share != "":
		err = endpoint.FromCode(wire.CodeInvalid, fmt.Sprintf("create %s: a shared file with a basis", m.Path))
	case m.Basis != wire.BasisNone:
		fw, err = ep.CreateFrom(ctx, m.Path, m.Size, m.Basis, m.Stamp)
	case m.Share != "":
		fw, err = ep.CreateShared(ctx, m.Path, m.Size, m.Share, m.Part)
	default:
		fw, err = ep.Create(ctx, m.Path, m.Size)
	}
	if err != nil {
		return &writer{path: m.Path, err: err}
	}
	s.open++
	return &writer{path: m.Path, fw: fw}
}

// write serves a Data frame for w, a file whose writes have not failed:
// it decompresses the data if need be and writes it. A frame that does
// not decompress to RawLen bytes fails the file with endpoint.ErrMismatch,
// as data that does not match its sum does.
func (s *server) write(ctx context.Context, w *writer, m *wire.Data) error {
	data := m.Data
	if m.Compressed {
		var err error
		if data, err = s.z.unpack(m.Data, int(m.RawLen)); err != nil {
			return fmt.Errorf("write %s at offset %d: %w", w.path, m.Off, err)
		}
	}
	return w.fw.Write(ctx, m.Off, data, m.Sum)
}

func (s *server) dropWriter(id uint32, w *writer) {
	delete(s.writers, id)
	if w.fw != nil {
		s.open--
	}
}

// spawn runs fn, serving request id, in a goroutine of its own once one
// of the maxReads slots is free (the read loop waits for it, which pushes
// back on the peer). fn gets a context that a Cancel for id ends.
func (s *server) spawn(ctx context.Context, id uint32, fn func(context.Context)) error {
	select {
	case s.reads <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	rctx, err := s.start(ctx, id, nil)
	if err != nil {
		<-s.reads
		return err
	}
	s.wg.Go(func() {
		defer func() { <-s.reads }()
		defer s.finish(id)
		fn(rctx)
	})
	return nil
}

// start registers a scan or read under id and returns the context it runs
// in, which a Cancel for id ends.
func (s *server) start(ctx context.Context, id uint32, cr *credit) (context.Context, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.active[id]; dup {
		return nil, fmt.Errorf("%w: request id %d in use", wire.ErrProtocol, id)
	}
	rctx, cancel := context.WithCancel(ctx)
	s.active[id] = &request{cancel: cancel, credit: cr}
	return rctx, nil
}

// finish unregisters the request id once its last frame is sent.
func (s *server) finish(id uint32) {
	s.mu.Lock()
	req := s.active[id]
	delete(s.active, id)
	s.mu.Unlock()
	req.cancel()
}

// read serves one ReadReq, compressing the data when the request allows
// it and it compresses. Every chunk is judged afresh: the agent cannot
// tell when the reads of a file end, and a sample costs at most 1/64 of
// a default chunk.
func (s *server) read(ctx context.Context, id uint32, ep endpoint.Endpoint, m *wire.ReadReq) {
	var resp wire.Message
	c, err := ep.Read(ctx, m.Path, m.Off, int(m.Len))
	if err != nil {
		resp = result(err)
	} else {
		r := &wire.ReadResp{Data: c.Data, Sum: c.Sum, Size: c.Size, Mtime: c.Mtime}
		if m.Compress {
			if payload, ok, _ := s.z.pack(c.Data, verdictUnknown); ok {
				r.Data, r.Compressed, r.RawLen = payload, true, uint32(len(c.Data))
				defer s.z.release(payload)
			}
		}
		resp = r
	}
	if err := s.reply(id, resp); err != nil {
		s.log.Debug("read reply lost", "id", id, "err", err)
	}
}

// scan serves one ScanReq: one goroutine walks the tree into batches (see
// batcher) while this one sends them as credit allows, then sends the
// Result.
func (s *server) scan(ctx context.Context, id uint32, ep endpoint.Endpoint, m *wire.ScanReq, cr *credit) {
	defer s.finish(id)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	b := newBatcher()
	var scanErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer b.close()
		opts := endpoint.ScanOptions{Hash: m.Hash, Rules: m.Rules, Tidy: m.Tidy, Want: m.Want}
		scanErr = ep.Scan(ctx, m.Path, opts, func(e *wire.Entry) error {
			return b.add(ctx, e)
		})
	})
	err := s.sendBatches(ctx, id, b, cr)
	if err != nil {
		cancel()
	}
	wg.Wait()
	if err == nil {
		err = scanErr
	}
	if err := s.reply(id, result(err)); err != nil {
		s.log.Debug("scan result lost", "id", id, "err", err)
	}
}

// sendBatches sends the batches of b in ScanBatch frames until its entries
// end. Each batch takes one credit; a partial batch goes out batchDelay
// after its first entry, so a slow scan still feeds the peer's pipeline.
func (s *server) sendBatches(ctx context.Context, id uint32, b *batcher, cr *credit) error {
	timer := time.NewTimer(batchDelay)
	timer.Stop()
	var spare []wire.Entry
	for {
		batch, ok, err := b.next(ctx, timer, spare)
		if err != nil || !ok {
			return err
		}
		if err := cr.take(ctx); err != nil {
			return err
		}
		if err := s.conn.Send(id, &wire.ScanBatch{Entries: batch}); err != nil {
			return fmt.Errorf("send ScanBatch %d: %w", id, err)
		}
		spare = batch
	}
}

// release suspends the files still being created (the session was cut
// short: a later run may resume them) and closes the roots still open. It
// runs once every goroutine has finished.
func (s *server) release() {
	for id, w := range s.writers {
		if w.fw != nil {
			w.fw.Suspend()
		}
		delete(s.writers, id)
	}
	for id, ep := range s.roots {
		if err := ep.Close(); err != nil {
			s.log.Debug("close root", "root", id, "err", err)
		}
		delete(s.roots, id)
	}
}

// credit counts the ScanBatch frames a scan may still send.
type credit struct {
	mu   sync.Mutex
	n    uint32
	more chan struct{} // signalled (capacity 1) when n grows
}

// add grants n more batches. Outstanding credit beyond wire.MaxCredit
// breaks the protocol.
func (c *credit) add(n uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if uint64(c.n)+uint64(n) > wire.MaxCredit {
		return fmt.Errorf("%w: scan credit %d+%d exceeds %d", wire.ErrProtocol, c.n, n, wire.MaxCredit)
	}
	c.n += n
	select {
	case c.more <- struct{}{}:
	default:
	}
	return nil
}

// take uses one credit, waiting for a grant if there is none.
func (c *credit) take(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.n > 0 {
			c.n--
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		select {
		case <-c.more:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// result turns err into the Result that carries it across the wire.
func result(err error) *wire.Result {
	if err == nil {
		return &wire.Result{}
	}
	msg := err.Error()
	if len(msg) > wire.MaxString {
		msg = msg[:wire.MaxString]
	}
	return &wire.Result{Code: endpoint.Code(err), Msg: msg}
}

func unknownRoot(root uint32) *wire.Result {
	return &wire.Result{Code: wire.CodeInvalid, Msg: fmt.Sprintf("unknown root handle %d", root)}
}
