package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// scanCredit is the number of ScanBatch frames a scan may have on its way
// or waiting to be consumed.
const scanCredit = 32

// DialOptions adjusts Dial.
type DialOptions struct {
	// Software names this program in the handshake, for the peer's
	// messages only.
	Software string
	// Closer closes the stream that r and w belong to (typically the
	// transport's stream). Client.Close closes it, and so does a failed
	// session, to end the reader. It is required.
	Closer io.Closer
	// Logger receives the client's diagnostics; nil discards them.
	Logger *slog.Logger
	// Compress lets file data cross the connection compressed with zstd,
	// in both directions: the agent may compress what it reads, and the
	// client compresses what it writes. Data that does not compress is
	// sent as it is (see "Compression" in the package documentation).
	Compress bool
}

// Client is the controller's side of a session with an agent: an
// endpoint.Host whose methods are requests over the wire. Its methods are
// safe for concurrent use, and any number of requests may be in flight at
// once; none holds a lock while it waits for its answer.
//
// A Client owns one reader goroutine, which routes each frame from the
// agent to the request it answers and never blocks on a slow caller. When
// the connection is lost, the agent breaks the protocol or Close is
// called, every pending and later call fails with an error matching
// endpoint.ErrClosed (and, for a protocol violation, wire.ErrProtocol).
type Client struct {
	conn   *wire.Conn
	closer io.Closer
	log    *slog.Logger
	peer   wire.Hello
	z      *compressor // nil unless DialOptions.Compress

	ids atomic.Uint32

	mu      sync.Mutex
	pending map[uint32]*call // nil once the client has failed
	err     error            // why the client failed; set before dead is closed

	dead      chan struct{} // closed when the client fails
	done      chan struct{} // closed when the reader goroutine returns
	closeOnce sync.Once
	closeErr  error
}

// call is a request waiting for its answer. The reader delivers into ch
// without blocking: ch holds every frame the request can be sent at once.
type call struct {
	kind   wire.Kind // the request's kind
	want   wire.Kind // the success answer's kind; Result always ends a call
	stream bool      // want frames precede the final Result (scans)
	ch     chan wire.Message
}

// Dial performs the handshake on r and w and returns a Client for the
// agent at the other end. ctx bounds the handshake only; if it ends first
// the stream is closed. On error, Dial closes opts.Closer.
func Dial(ctx context.Context, r io.Reader, w io.Writer, opts DialOptions) (*Client, error) {
	if opts.Closer == nil {
		return nil, errors.New("remote: DialOptions.Closer is required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var once sync.Once
	closeStream := func() { once.Do(func() { opts.Closer.Close() }) }
	conn := wire.NewConn(r, w)
	stop := context.AfterFunc(ctx, closeStream)
	peer, version, err := conn.Handshake(wire.Hello{
		MinVersion: wire.MinVersion,
		MaxVersion: wire.Version,
		Software:   opts.Software,
	})
	if !stop() {
		// ctx ended; closeStream returns once its call from ctx has.
		closeStream()
		return nil, fmt.Errorf("handshake: %w", context.Cause(ctx))
	}
	if err != nil {
		closeStream()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	log.Debug("connected", "peer", peer.Software, "version", version)

	var z *compressor
	if opts.Compress {
		if z, err = newCompressor(); err != nil {
			closeStream()
			return nil, err
		}
	}
	c := &Client{
		conn:    conn,
		closer:  opts.Closer,
		log:     log,
		peer:    peer,
		z:       z,
		pending: make(map[uint32]*call),
		dead:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go c.readLoop()
	return c, nil
}

// Peer returns the agent's Hello from the handshake.
func (c *Client) Peer() wire.Hello { return c.peer }

// Close ends the session: it closes the stream, fails every pending call
// with endpoint.ErrClosed, waits for the reader goroutine and releases
// the zstd coders. The agent then closes every Endpoint opened through c.
// Close may be called more than once; it returns the error of closing the
// stream.
func (c *Client) Close() error {
	c.fail(endpoint.ErrClosed)
	<-c.done
	if c.z != nil {
		c.z.Close()
	}
	return c.closeErr
}

// closeStream closes the stream, once.
func (c *Client) closeStream() {
	c.closeOnce.Do(func() { c.closeErr = c.closer.Close() })
}

// fail marks the client failed with err, unless it already is, closes the
// stream and fails every pending call.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.pending != nil {
		c.err = err
		c.pending = nil
		close(c.dead)
		if errors.Is(err, wire.ErrProtocol) {
			c.log.Warn("session failed", "err", err)
		} else {
			c.log.Debug("session closed", "err", err)
		}
	}
	c.mu.Unlock()
	c.closeStream()
}

// failure returns why the client failed, or nil if it has not.
func (c *Client) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// readLoop is the reader goroutine: it routes every frame to its call
// until the stream ends or the agent breaks the protocol.
func (c *Client) readLoop() {
	defer close(c.done)
	for {
		id, m, err := c.conn.Recv()
		switch {
		case errors.Is(err, wire.ErrProtocol):
			c.fail(fmt.Errorf("%w: %w", endpoint.ErrClosed, err))
			return
		case errors.Is(err, wire.ErrTooLarge):
			c.fail(fmt.Errorf("%w: %w: %w", endpoint.ErrClosed, wire.ErrProtocol, err))
			return
		case errors.Is(err, io.EOF):
			c.fail(fmt.Errorf("%w: connection lost: %w", endpoint.ErrClosed, io.ErrUnexpectedEOF))
			return
		case err != nil:
			c.fail(fmt.Errorf("%w: connection lost: %w", endpoint.ErrClosed, err))
			return
		}
		if err := c.deliver(id, m); err != nil {
			c.fail(fmt.Errorf("%w: %w", endpoint.ErrClosed, err))
			return
		}
	}
}

// deliver hands m to the call with id, without blocking. It reports a
// frame the agent should not have sent.
func (c *Client) deliver(id uint32, m wire.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.pending[id]
	switch {
	case c.pending == nil:
		return nil
	case !ok:
		return fmt.Errorf("%w: %v for request %d, which is not pending", wire.ErrProtocol, m.Kind(), id)
	case m.Kind() != wire.KindResult && m.Kind() != cl.want:
		return fmt.Errorf("%w: %v in answer to %v %d", wire.ErrProtocol, m.Kind(), cl.kind, id)
	}
	select {
	case cl.ch <- m:
	default:
		return fmt.Errorf("%w: %v %d: answer beyond the granted credit", wire.ErrProtocol, cl.kind, id)
	}
	if !cl.stream || m.Kind() == wire.KindResult {
		delete(c.pending, id)
	}
	return nil
}

// newID returns a request id not used before in this session.
func (c *Client) newID() uint32 {
	for {
		if id := c.ids.Add(1); id != 0 {
			return id
		}
	}
}

// request makes id pending as a call expecting want and then sends req
// under it, after the messages of before (sent together with it, see
// sendAll). size is the number of frames the call can be sent before it
// takes them: 1 for a single answer, more for a stream. On error nothing
// is pending.
func (c *Client) request(id uint32, req wire.Message, want wire.Kind, size int, before ...wire.Message) (*call, error) {
	cl := &call{kind: req.Kind(), want: want, stream: size > 1, ch: make(chan wire.Message, size)}
	c.mu.Lock()
	if c.pending == nil {
		c.mu.Unlock()
		return nil, c.failure()
	}
	c.pending[id] = cl
	c.mu.Unlock()
	if err := c.sendAll(id, append(before, req)...); err != nil {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return nil, err
	}
	return cl, nil
}

// send writes one frame. A message the wire refuses to send (an invalid
// argument) fails that call only, with an error matching
// endpoint.ErrInvalidPath as the agent's refusal would; any other failure
// loses the connection and fails the client.
func (c *Client) send(id uint32, m wire.Message) error {
	return c.sendAll(id, m)
}

// sendAll is send for several frames under id, written and flushed
// together (wire.Conn.SendAll).
func (c *Client) sendAll(id uint32, ms ...wire.Message) error {
	select {
	case <-c.dead:
		return c.failure()
	default:
	}
	err := c.conn.SendAll(id, ms...)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, wire.ErrProtocol) || errors.Is(err, wire.ErrTooLarge):
		return fmt.Errorf("%w: %v", endpoint.ErrInvalidPath, err)
	}
	c.fail(fmt.Errorf("%w: connection lost: %w", endpoint.ErrClosed, err))
	return c.failure()
}

// wait returns the next frame for cl. An answer already delivered wins
// over a failure of the client.
func (c *Client) wait(ctx context.Context, cl *call) (wire.Message, error) {
	select {
	case m := <-cl.ch:
		return m, nil
	case <-c.dead:
		select {
		case m := <-cl.ch:
			return m, nil
		default:
			return nil, c.failure()
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// roundTrip sends req under a new id and waits for its answer (see
// answer).
func (c *Client) roundTrip(ctx context.Context, req wire.Message, want wire.Kind) (wire.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := c.newID()
	cl, err := c.request(id, req, want, 1)
	if err != nil {
		return nil, err
	}
	return c.answer(ctx, id, cl)
}

// answer waits for the single answer of call id, which is of kind
// cl.want or a Result. A Result with an error is returned as that error
// (see resultError); a successful Result is an answer only when cl.want
// is KindResult. If ctx ends first, a read is canceled on the agent; any
// other request runs to its end there, and its answer is discarded.
func (c *Client) answer(ctx context.Context, id uint32, cl *call) (wire.Message, error) {
	m, err := c.wait(ctx, cl)
	if err != nil {
		if cl.kind == wire.KindReadReq && ctx.Err() != nil {
			c.cancel(id)
		}
		return nil, err
	}
	if r, ok := m.(*wire.Result); ok {
		if r.Code != wire.CodeOK {
			return nil, resultError(r)
		}
		if cl.want != wire.KindResult {
			err := fmt.Errorf("%w: success Result in answer to %v %d", wire.ErrProtocol, cl.kind, id)
			c.fail(fmt.Errorf("%w: %w", endpoint.ErrClosed, err))
			return nil, c.failure()
		}
	}
	return m, nil
}

// cancel asks the agent to abandon request id; its answer is discarded
// when it arrives.
func (c *Client) cancel(id uint32) {
	if err := c.send(id, &wire.Cancel{}); err != nil {
		c.log.Debug("cancel not sent", "id", id, "err", err)
	}
}

// resultError rebuilds the error a Result carries.
func resultError(r *wire.Result) error {
	if r.Code == wire.CodeOK {
		return nil
	}
	return &agentError{endpoint.FromCode(r.Code, r.Msg)}
}

// agentError is an error the agent reported. Its text already names the
// operation and path, as the agent's Host or Endpoint wrote it.
type agentError struct{ err error }

func (e *agentError) Error() string { return e.err.Error() }
func (e *agentError) Unwrap() error { return e.err }

// opError returns err as the failure of op on path, unless the agent
// reported it, with op and path already named.
func opError(op, path string, err error) error {
	if _, ok := err.(*agentError); ok {
		return err
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}

// Stat implements endpoint.Host.
func (c *Client) Stat(ctx context.Context, path string) (wire.StatResp, error) {
	if err := checkHostPath(path); err != nil {
		return wire.StatResp{}, opError("stat", path, err)
	}
	m, err := c.roundTrip(ctx, &wire.StatReq{Path: path}, wire.KindStatResp)
	if err != nil {
		return wire.StatResp{}, opError("stat", path, err)
	}
	return *m.(*wire.StatResp), nil
}

// Glob implements endpoint.Host.
func (c *Client) Glob(ctx context.Context, pattern string) ([]string, error) {
	if err := checkHostPath(pattern); err != nil {
		return nil, opError("glob", pattern, err)
	}
	m, err := c.roundTrip(ctx, &wire.GlobReq{Pattern: pattern}, wire.KindGlobResp)
	if err != nil {
		return nil, opError("glob", pattern, err)
	}
	return m.(*wire.GlobResp).Paths, nil
}

// Open implements endpoint.Host. The Endpoint it returns is a proxy bound
// to a root handle on the agent; closing it releases the handle. If ctx
// ends while the agent is opening dir, the root stays open on the agent
// until the session ends.
func (c *Client) Open(ctx context.Context, dir string, create bool) (endpoint.Endpoint, error) {
	if err := checkHostPath(dir); err != nil {
		return nil, opError("open", dir, err)
	}
	m, err := c.roundTrip(ctx, &wire.OpenReq{Path: dir, Create: create}, wire.KindOpenResp)
	if err != nil {
		return nil, opError("open", dir, err)
	}
	r := m.(*wire.OpenResp)
	return &proxy{c: c, root: r.Root, caps: r.Caps}, nil
}

// checkHostPath refuses a host path the wire would refuse to send, with
// an error matching endpoint.ErrInvalidPath, as the agent would.
func checkHostPath(p string) error {
	if p == "" || len(p) > wire.MaxPath || strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("%w: %q", endpoint.ErrInvalidPath, p)
	}
	return nil
}
