// Package pool makes several connections to one host behave as a single
// endpoint.Host, so that the sync logic needs no change to use them: it
// spreads reads and files over the connections, splits large files into
// ranges written through all of them at once (endpoint.CreateShared), and
// moves the work of a lost connection to the others.
//
// Why several connections: one SSH channel carries at most its window
// (2 MiB in OpenSSH and x/crypto/ssh) per round trip, and one connection's
// encryption runs on one core; several connections, each with its own
// agent process, fill a long link and use every core.
//
// # Failover
//
// A member whose call fails with endpoint.ErrClosed is dead and gets no
// more work. Idempotent calls (Stat, Glob, Open, Scan, Read, Apply) are
// retried on another member; a scan resumes after the last entry it
// delivered. A file being written through a dead member cannot be
// resumed: its writer fails with endpoint.ErrRetry, and the caller writes the file
// again. When no member is left, calls fail with endpoint.ErrClosed.
package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Dialer connects one more member host.
type Dialer func(ctx context.Context) (endpoint.Host, error)

// Host is an endpoint.Host made of several connections to one host. The
// first connection is given; more join as Dialer produces them, and every
// Endpoint already open grows to use them. Safe for concurrent use.
type Host struct {
	logger *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	grow   func() // starts the extra dials, once

	mu     sync.Mutex
	hosts  []*hostMember
	eps    []*Endpoint
	closed bool
}

type hostMember struct {
	h    endpoint.Host
	dead atomic.Bool
}

// NewHost returns a Host with first as its only member. The first time
// file data is to move (a Read or Create on one of its endpoints), it
// starts extra dials in the background (goroutines owned by the Host;
// Close cancels and waits for them), so a run that finds nothing to copy
// pays for one connection only. A failed extra dial is logged and ignored.
func NewHost(first endpoint.Host, extra int, dial Dialer, logger *slog.Logger) *Host {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Host{logger: logger, cancel: cancel, hosts: []*hostMember{{h: first}}}
	h.grow = sync.OnceFunc(func() {
		for range extra {
			h.wg.Go(func() {
				m, err := dial(ctx)
				if err != nil {
					if ctx.Err() == nil {
						logger.Warn("extra connection failed", "err", err)
					}
					return
				}
				h.join(ctx, m)
			})
		}
	})
	return h
}

// join adds a connected host and opens every open endpoint's root on it.
func (h *Host) join(ctx context.Context, m endpoint.Host) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		m.Close()
		return
	}
	h.hosts = append(h.hosts, &hostMember{h: m})
	n := len(h.hosts)
	eps := append([]*Endpoint(nil), h.eps...)
	h.mu.Unlock()
	for _, e := range eps {
		ep, err := m.Open(ctx, e.dir, false)
		if err != nil {
			h.logger.Warn("extra connection cannot open root", "dir", e.dir, "err", err)
			continue
		}
		e.add(ep)
	}
	h.logger.Info("connection joined", "connections", n)
}

// each calls fn with live members in order until fn returns an error that
// is not endpoint.ErrClosed.
func (h *Host) each(fn func(endpoint.Host) error) error {
	h.mu.Lock()
	hosts := append([]*hostMember(nil), h.hosts...)
	h.mu.Unlock()
	err := error(endpoint.ErrClosed)
	for _, m := range hosts {
		if m.dead.Load() {
			continue
		}
		err = fn(m.h)
		if !lostConn(err) {
			return err
		}
		m.dead.Store(true)
	}
	return err
}

// Stat implements endpoint.Host.
func (h *Host) Stat(ctx context.Context, path string) (st wire.StatResp, err error) {
	err = h.each(func(m endpoint.Host) error { st, err = m.Stat(ctx, path); return err })
	return st, err
}

// Glob implements endpoint.Host.
func (h *Host) Glob(ctx context.Context, pattern string) (paths []string, err error) {
	err = h.each(func(m endpoint.Host) error { paths, err = m.Glob(ctx, pattern); return err })
	return paths, err
}

// Open implements endpoint.Host: the root is opened (and made, with
// create) on one member, then on every other.
func (h *Host) Open(ctx context.Context, dir string, create bool) (endpoint.Endpoint, error) {
	var first endpoint.Endpoint
	var firstHost endpoint.Host
	err := h.each(func(m endpoint.Host) error {
		var err error
		first, err = m.Open(ctx, dir, create)
		firstHost = m
		return err
	})
	if err != nil {
		return nil, err
	}
	e := newEndpoint(dir, first, h.logger)
	e.grow = h.grow
	h.mu.Lock()
	h.eps = append(h.eps, e)
	hosts := append([]*hostMember(nil), h.hosts...)
	h.mu.Unlock()
	for _, m := range hosts {
		if m.h == firstHost || m.dead.Load() {
			continue
		}
		ep, err := m.h.Open(ctx, dir, false)
		if err != nil {
			if lostConn(err) {
				m.dead.Store(true)
			}
			continue
		}
		e.add(ep)
	}
	return e, nil
}

// Close implements endpoint.Host: it stops extra dials, waits for them
// and closes every member.
func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
	h.mu.Lock()
	hosts := h.hosts
	h.mu.Unlock()
	var first error
	for _, m := range hosts {
		if err := m.h.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// member is one connection's endpoint in an Endpoint.
type member struct {
	ep   endpoint.Endpoint
	dead atomic.Bool
	load atomic.Int64 // requests and bytes in flight, to pick the least busy
}

// Endpoint is an endpoint.Endpoint over several connections' endpoints of
// the same root. Safe for concurrent use.
type Endpoint struct {
	dir    string
	logger *slog.Logger
	grow   func() // asks the Host for its extra connections; nil for none

	mu      sync.Mutex
	members []*member
	next    atomic.Uint64
	shares  atomic.Uint64
}

func newEndpoint(dir string, first endpoint.Endpoint, logger *slog.Logger) *Endpoint {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Endpoint{dir: dir, logger: logger, members: []*member{{ep: first}}}
}

func (e *Endpoint) add(ep endpoint.Endpoint) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.members = append(e.members, &member{ep: ep})
}

// live returns the members not known to be dead.
func (e *Endpoint) live() []*member {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*member, 0, len(e.members))
	for _, m := range e.members {
		if !m.dead.Load() {
			out = append(out, m)
		}
	}
	return out
}

// pick returns the least busy live member, nil if none is left.
func (e *Endpoint) pick() *member {
	live := e.live()
	if len(live) == 0 {
		return nil
	}
	start := int(e.next.Add(1))
	best := live[start%len(live)]
	for i := range live {
		m := live[(start+i)%len(live)]
		if m.load.Load() < best.load.Load() {
			best = m
		}
	}
	return best
}

// retry runs fn on the least busy member, again on another while members
// are lost under it. A member that broke the protocol is not retried
// elsewhere: the peer is broken, not the connection.
func (e *Endpoint) retry(fn func(*member) error) error {
	var last error
	for {
		m := e.pick()
		if m == nil {
			if last != nil {
				return fmt.Errorf("every connection is lost: %w", last)
			}
			return fmt.Errorf("%w: every connection is lost", endpoint.ErrClosed)
		}
		err := fn(m)
		if !lostConn(err) {
			return err
		}
		e.kill(m, err)
		last = err
	}
}

// lostConn reports whether err means a connection was lost, so that the
// work can move to another.
func lostConn(err error) bool {
	return errors.Is(err, endpoint.ErrClosed) && !errors.Is(err, wire.ErrProtocol)
}

func (e *Endpoint) kill(m *member, err error) {
	if !m.dead.Swap(true) {
		e.logger.Warn("connection lost; moving its work to the others", "err", err, "left", len(e.live()))
	}
}

// Scan implements endpoint.Endpoint. If its connection is lost, the scan
// starts again on another and skips what was already delivered.
func (e *Endpoint) Scan(ctx context.Context, rel string, opts endpoint.ScanOptions, fn func(*wire.Entry) error) error {
	last := ""
	var fnErr error
	return e.retry(func(m *member) error {
		err := m.ep.Scan(ctx, rel, opts, func(en *wire.Entry) error {
			if last != "" && wire.ComparePaths(en.Path, last) <= 0 {
				return nil
			}
			if fnErr = fn(en); fnErr != nil {
				return fnErr
			}
			last = en.Path
			return nil
		})
		if fnErr != nil {
			return fnErr
		}
		return err
	})
}

// wantMore tells the Host that data is moving, so extra connections pay.
func (e *Endpoint) wantMore() {
	if e.grow != nil {
		e.grow()
	}
}

// Read implements endpoint.Endpoint on the least busy connection.
func (e *Endpoint) Read(ctx context.Context, rel string, off int64, n int) (c endpoint.Chunk, err error) {
	e.wantMore()
	err = e.retry(func(m *member) error {
		m.load.Add(int64(n))
		defer m.load.Add(-int64(n))
		c, err = m.ep.Read(ctx, rel, off, n)
		return err
	})
	return c, err
}

// Apply implements endpoint.Endpoint on one connection. Every op kind is
// idempotent, so a batch cut short by a lost connection is sent again.
func (e *Endpoint) Apply(ctx context.Context, ops []wire.Op) (errs []error, err error) {
	err = e.retry(func(m *member) error {
		errs, err = m.ep.Apply(ctx, ops)
		return err
	})
	return errs, err
}

// CreateShared implements endpoint.Endpoint on one connection.
func (e *Endpoint) CreateShared(ctx context.Context, rel string, size int64, share string, part bool) (w endpoint.FileWriter, err error) {
	err = e.retry(func(m *member) error {
		w, err = m.ep.CreateShared(ctx, rel, size, share, part)
		return err
	})
	return w, err
}

// Close implements endpoint.Endpoint, closing every member.
func (e *Endpoint) Close() error {
	e.mu.Lock()
	members := e.members
	e.mu.Unlock()
	var first error
	for _, m := range members {
		if err := m.ep.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
