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
// A member whose call fails with endpoint.ErrClosed (and not
// wire.ErrProtocol) is dead and gets no more work. Idempotent calls (Stat,
// Glob, Open, Scan, Read, Apply) are retried on another member; a scan
// resumes after the last entry it delivered. A file being written through
// a dead member cannot be resumed: its writer fails with endpoint.ErrRetry,
// and the caller writes the file again.
//
// # Reconnect
//
// With Options.ReconnectWindow, a Host re-dials lost members, with
// exponential backoff, until it has as many as before. While no member is
// live, calls wait for one to join; they fail with a *ReconnectError
// (matching endpoint.ErrClosed) once the window has passed since the last
// live member was lost. Without a window, lost members are not replaced
// and calls fail with endpoint.ErrClosed as soon as none is left.
package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Dialer connects one more member host. It must return when ctx ends.
type Dialer func(ctx context.Context) (endpoint.Host, error)

// Options configures a Host.
type Options struct {
	// Extra is how many connections join the first once file data moves
	// (see NewHost).
	Extra int
	// Dial connects a member: the extra ones and those replacing lost
	// members. Nil means the first is the only member ever.
	Dial Dialer
	// ReconnectWindow is how long a Host goes on re-dialling after it
	// lost a member, and how long calls wait for a member after the last
	// live one was lost. Zero means lost members are not replaced.
	ReconnectWindow time.Duration
	// Name is the host as the user named it, for messages.
	Name string
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// Backoff between re-dials: it doubles from minBackoff to maxBackoff, each
// wait drawn at random within ±25% so several runs do not dial in step.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// ReconnectError is the error of calls that found every connection lost
// when the reconnect window passed without a new one joining. It matches
// endpoint.ErrClosed and nothing else: Err is described, not wrapped, so
// that what the last dial failed on (a timeout, an agent that did not
// start) does not change what the error means.
type ReconnectError struct {
	Host   string        // Options.Name
	Window time.Duration // Options.ReconnectWindow
	Err    error         // of the last failed dial, else of the last loss; may be nil
}

func (e *ReconnectError) Error() string {
	msg := fmt.Sprintf("lost every connection to %s and could not reconnect within %s", e.Host, e.Window)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns endpoint.ErrClosed.
func (e *ReconnectError) Unwrap() error { return endpoint.ErrClosed }

// Host is an endpoint.Host made of several connections to one host. The
// first connection is given; more join as Options.Dial produces them, and
// every Endpoint already open grows to use them. Safe for concurrent use.
type Host struct {
	logger *slog.Logger
	dial   Dialer
	window time.Duration // 0: no re-dialling
	name   string
	ctx    context.Context // of the Host's goroutines; ended by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the Host's goroutines: extra dials and the re-dialler
	grow   func()         // starts the extra dials, once; nil when there are none
	final  atomic.Bool    // closed, or gave up: nothing will join any more

	mu        sync.Mutex
	hosts     []*hostMember
	eps       []*Endpoint
	target    int           // members to keep: the first and the extras that joined
	dialing   bool          // the re-dialler runs
	lostAt    time.Time     // when a member was last lost; re-dialling ends a window after
	noneSince time.Time     // when the last live member was lost; zero while one lives
	cause     error         // of the last failed dial or loss, for ReconnectError
	gaveUp    error         // the *ReconnectError once the window passed with no member
	changed   chan struct{} // closed and replaced whenever members come or go
	closed    bool
}

type hostMember struct {
	h    endpoint.Host
	dead atomic.Bool
}

// NewHost returns a Host with first as its only member. The first time
// file data is to move (a Read or Create on one of its endpoints), it
// starts o.Extra dials in the background, so a run that finds nothing to
// copy pays for one connection only; a failed extra dial is logged and not
// retried. When a member is lost, it re-dials (see Options) until the Host
// has as many members as it had, is closed, or the window has passed since
// the last loss. Every dial runs in a goroutine owned by the Host: Close
// cancels and waits for them.
func NewHost(first endpoint.Host, o Options) *Host {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	window := o.ReconnectWindow
	if o.Dial == nil {
		window = 0
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Host{
		logger:  logger,
		dial:    o.Dial,
		window:  window,
		name:    o.Name,
		ctx:     ctx,
		cancel:  cancel,
		hosts:   []*hostMember{{h: first}},
		target:  1,
		changed: make(chan struct{}),
	}
	if o.Extra > 0 && o.Dial != nil {
		h.grow = sync.OnceFunc(func() { h.startExtra(o.Extra) })
	}
	return h
}

// startExtra starts n dials of extra members.
func (h *Host) startExtra(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	for range n {
		h.wg.Go(func() {
			m, err := h.dial(h.ctx)
			if err != nil {
				if h.ctx.Err() == nil {
					h.logger.Warn("extra connection failed", "err", err)
				}
				return
			}
			h.join(m, true)
		})
	}
}

// join adds a connected member and opens every open Endpoint's root on it.
// An extra member raises the number of members the Host keeps.
func (h *Host) join(m endpoint.Host, extra bool) {
	hm := &hostMember{h: m}
	h.mu.Lock()
	if h.closed || h.gaveUp != nil {
		h.mu.Unlock()
		m.Close()
		return
	}
	h.hosts = append(h.hosts, hm)
	if extra {
		h.target++
	}
	h.noneSince = time.Time{}
	n := h.liveLocked()
	eps := slices.Clone(h.eps)
	h.broadcastLocked()
	h.mu.Unlock()
	for _, e := range eps {
		ep, err := m.Open(h.ctx, e.dir, false)
		switch {
		case h.ctx.Err() != nil:
			return
		case lostConn(err):
			h.lose(hm, err)
			return
		case err != nil:
			h.logger.Warn("new connection cannot open root", "dir", e.dir, "err", err)
			continue
		}
		if !e.add(ep, hm) {
			ep.Close()
			continue
		}
		e.removeQueued()
		h.broadcast()
	}
	if extra {
		h.logger.Info("connection joined", "connections", n)
	} else {
		h.logger.Info("reconnected", "host", h.name, "connections", n)
	}
}

// lose marks hm dead, and every Endpoint's member on it, and starts
// re-dialling. It is safe to call more than once for one member.
func (h *Host) lose(hm *hostMember, err error) {
	if hm.dead.Swap(true) {
		return
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	now := time.Now()
	live := h.liveLocked()
	h.lostAt, h.cause = now, err
	if live == 0 {
		h.noneSince = now
	}
	redial := h.window > 0 && h.gaveUp == nil
	if redial && !h.dialing {
		h.dialing = true
		h.wg.Go(h.redial)
	}
	eps := slices.Clone(h.eps)
	h.broadcastLocked()
	h.mu.Unlock()
	for _, e := range eps {
		e.loseHost(hm)
	}
	if redial {
		h.logger.Info("connection lost; reconnecting", "host", h.name, "err", err, "left", live)
	} else {
		h.logger.Warn("connection lost; moving its work to the others", "err", err, "left", live)
	}
}

// redial dials members until the Host has its target of live members, is
// closed, or the window has passed since the last loss. Giving up with no
// live member is final: every waiting and later call fails.
func (h *Host) redial() {
	backoff := minBackoff
	for {
		h.mu.Lock()
		live := h.liveLocked()
		deadline := h.lostAt.Add(h.window)
		if h.closed || live >= h.target || !time.Now().Before(deadline) {
			h.dialing = false
			short := !h.closed && live < h.target
			var gaveUp *ReconnectError
			switch {
			case short && live == 0:
				gaveUp = &ReconnectError{Host: h.name, Window: h.window, Err: h.cause}
				h.gaveUp = gaveUp
				h.final.Store(true)
				h.broadcastLocked()
			case short:
				h.target = live
			}
			h.mu.Unlock()
			switch {
			case gaveUp != nil:
				h.logger.Warn("giving up reconnecting", "host", h.name, "window", h.window, "err", gaveUp.Err)
			case short:
				h.logger.Info("giving up replacing lost connections", "host", h.name, "connections", live)
			}
			return
		}
		h.mu.Unlock()

		ctx, cancel := context.WithDeadline(h.ctx, deadline)
		m, err := h.dial(ctx)
		cancel()
		if err == nil {
			h.join(m, false)
			backoff = minBackoff
			continue
		}
		if h.ctx.Err() != nil {
			continue // closed: the loop ends above
		}
		h.mu.Lock()
		h.cause = err
		h.mu.Unlock()
		wait := min(jitter(backoff), time.Until(deadline))
		h.logger.Info("reconnect failed", "host", h.name, "err", err, "retry_in", wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-h.ctx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// jitter returns d changed at random by up to a quarter either way.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}

// liveLocked counts the live members; h.mu is held.
func (h *Host) liveLocked() int {
	n := 0
	for _, m := range h.hosts {
		if !m.dead.Load() {
			n++
		}
	}
	return n
}

// live returns the live members.
func (h *Host) live() []*hostMember {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*hostMember, 0, len(h.hosts))
	for _, m := range h.hosts {
		if !m.dead.Load() {
			out = append(out, m)
		}
	}
	return out
}

// watch returns a channel closed at the next change of members. Callers
// take it before they look at the members, so no change is missed.
func (h *Host) watch() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changed
}

func (h *Host) broadcast() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.broadcastLocked()
}

func (h *Host) broadcastLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// reconnects reports whether a lost member may still be replaced, so work
// should wait for one rather than fail.
func (h *Host) reconnects() bool {
	return h.window > 0 && !h.final.Load()
}

// wait blocks until ch (from watch) is closed, ctx ends, or the reconnect
// window has passed. It returns nil when the caller should look at the
// members again, and an error when it should fail: the *ReconnectError,
// ctx's error wrapped, or, without reconnecting, endpoint.ErrClosed (or
// last, the error that killed the caller's last member, which matches it).
// since is when the caller found no live member; the window runs from
// then, or from when the Host lost its last live member if it has none.
func (h *Host) wait(ctx context.Context, ch <-chan struct{}, since time.Time, last error) error {
	h.mu.Lock()
	gaveUp, closed := h.gaveUp, h.closed
	if !h.noneSince.IsZero() {
		since = h.noneSince
	}
	h.mu.Unlock()
	switch {
	case gaveUp != nil:
		return gaveUp
	case closed:
		return noneLeft(last)
	case h.window <= 0:
		return noneLeft(last)
	}
	d := time.Until(since.Add(h.window))
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("waiting for a connection to %s: %w", h.name, context.Cause(ctx))
		case <-t.C:
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gaveUp != nil {
		return h.gaveUp
	}
	return &ReconnectError{Host: h.name, Window: h.window, Err: h.cause}
}

// noneLeft is the error of a call that found no live member and cannot
// wait for one.
func noneLeft(last error) error {
	if last != nil {
		return fmt.Errorf("every connection is lost: %w", last)
	}
	return fmt.Errorf("%w: every connection is lost", endpoint.ErrClosed)
}

// each calls fn with live members in order until fn returns an error that
// does not mean a lost connection. When none is left it waits for one to
// join (see wait).
func (h *Host) each(ctx context.Context, fn func(*hostMember) error) error {
	var last error
	var since time.Time
	for {
		ch := h.watch()
		for _, m := range h.live() {
			err := fn(m)
			if !lostConn(err) {
				return err
			}
			h.lose(m, err)
			last = err
		}
		if since.IsZero() {
			since = time.Now()
		}
		if err := h.wait(ctx, ch, since, last); err != nil {
			return err
		}
	}
}

// Stat implements endpoint.Host.
func (h *Host) Stat(ctx context.Context, path string) (st wire.StatResp, err error) {
	err = h.each(ctx, func(m *hostMember) error { st, err = m.h.Stat(ctx, path); return err })
	return st, err
}

// Glob implements endpoint.Host.
func (h *Host) Glob(ctx context.Context, pattern string) (paths []string, err error) {
	err = h.each(ctx, func(m *hostMember) error { paths, err = m.h.Glob(ctx, pattern); return err })
	return paths, err
}

// Open implements endpoint.Host: the root is opened (and made, with
// create) on one member, then on every other; members joining later open
// it too.
func (h *Host) Open(ctx context.Context, dir string, create bool) (endpoint.Endpoint, error) {
	var first endpoint.Endpoint
	var firstHost *hostMember
	err := h.each(ctx, func(m *hostMember) error {
		var err error
		first, err = m.h.Open(ctx, dir, create)
		firstHost = m
		return err
	})
	if err != nil {
		return nil, err
	}
	e := newEndpoint(dir, h.logger)
	e.h = h
	e.grow = h.grow
	e.add(first, firstHost)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		e.Close()
		return nil, fmt.Errorf("open %s: %w", dir, endpoint.ErrClosed)
	}
	h.eps = append(h.eps, e)
	hosts := slices.Clone(h.hosts)
	h.mu.Unlock()
	for _, m := range hosts {
		if m == firstHost || m.dead.Load() {
			continue
		}
		ep, err := m.h.Open(ctx, dir, false)
		if err != nil {
			if lostConn(err) {
				h.lose(m, err)
			}
			continue
		}
		if !e.add(ep, m) {
			ep.Close()
		}
	}
	return e, nil
}

// forget drops a closed Endpoint, so members joining later skip it.
func (h *Host) forget(e *Endpoint) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.eps = slices.DeleteFunc(h.eps, func(x *Endpoint) bool { return x == e })
}

// Close implements endpoint.Host: it stops dialling, waits for the dials
// and closes every member. Calls waiting for a member fail.
func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	h.final.Store(true)
	h.broadcastLocked()
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
	host *hostMember // the connection it is on; nil for an Endpoint without a Host
	dead atomic.Bool
	load atomic.Int64 // requests and bytes in flight, to pick the least busy
}

// Endpoint is an endpoint.Endpoint over several connections' endpoints of
// the same root. Safe for concurrent use.
type Endpoint struct {
	dir    string
	logger *slog.Logger
	h      *Host  // the Host that opened it; nil in tests, then nothing waits
	grow   func() // asks the Host for its extra connections; nil for none

	mu       sync.Mutex
	members  []*member
	removals []removal // temporary files to remove once a member joins
	closed   bool
	next     atomic.Uint64
	shares   atomic.Uint64
}

// removal names the temporary file of a shared file (see removeTemp).
type removal struct{ rel, share string }

func newEndpoint(dir string, logger *slog.Logger) *Endpoint {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Endpoint{dir: dir, logger: logger}
}

// add makes ep, opened on connection hm (nil without a Host), a member. It
// reports false, leaving ep to the caller, when e is closed or already has
// a member on hm.
func (e *Endpoint) add(ep endpoint.Endpoint, hm *hostMember) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	if hm != nil && slices.ContainsFunc(e.members, func(m *member) bool { return m.host == hm }) {
		return false
	}
	m := &member{ep: ep, host: hm}
	e.members = append(e.members, m)
	// After append: lose marks hm dead before it marks its members.
	if hm != nil && hm.dead.Load() {
		m.dead.Store(true)
	}
	return true
}

// loseHost marks every member on connection hm dead.
func (e *Endpoint) loseHost(hm *hostMember) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range e.members {
		if m.host == hm {
			m.dead.Store(true)
		}
	}
}

// live returns the members not known to be dead.
func (e *Endpoint) live() []*member {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.liveLocked()
}

func (e *Endpoint) liveLocked() []*member {
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
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pickLocked()
}

func (e *Endpoint) pickLocked() *member {
	live := e.liveLocked()
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

// await returns the least busy live member. While there is none and the
// Host reconnects, it waits for one to join; it fails with ctx's error,
// with a *ReconnectError when the window passes, or, when nothing can
// join, with an error matching endpoint.ErrClosed (wrapping last, the
// error that killed the caller's last member, if not nil).
func (e *Endpoint) await(ctx context.Context, last error) (*member, error) {
	var since time.Time
	for {
		var ch <-chan struct{}
		if e.h != nil {
			ch = e.h.watch()
		}
		if m := e.pick(); m != nil {
			return m, nil
		}
		if e.h == nil {
			return nil, noneLeft(last)
		}
		if since.IsZero() {
			since = time.Now()
		}
		if err := e.h.wait(ctx, ch, since, last); err != nil {
			return nil, err
		}
	}
}

// reconnects reports whether a member may still join, so that work of a
// lost one should be done again rather than fail.
func (e *Endpoint) reconnects() bool {
	return e.h != nil && e.h.reconnects()
}

// retry runs fn on the least busy member, again on another while members are
// lost under it, waiting for one to join as await does. A member that
// broke the protocol is not retried elsewhere: the peer is broken, not the
// connection.
func (e *Endpoint) retry(ctx context.Context, fn func(*member) error) error {
	var last error
	for {
		m, err := e.await(ctx, last)
		if err != nil {
			return err
		}
		err = fn(m)
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

// kill marks m dead after it failed with err, a lost connection, and tells
// the Host, which marks the connection's other members dead and re-dials.
// Once e is closed, its members fail because of that, and the Host is not
// told.
func (e *Endpoint) kill(m *member, err error) {
	first := !m.dead.Swap(true)
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return
	}
	if e.h != nil && m.host != nil {
		e.h.lose(m.host, err)
		return
	}
	if first {
		e.logger.Warn("connection lost; moving its work to the others", "err", err, "left", len(e.live()))
	}
}

// Scan implements endpoint.Endpoint. If its connection is lost, the scan
// starts again on another and skips what was already delivered.
func (e *Endpoint) Scan(ctx context.Context, rel string, opts endpoint.ScanOptions, fn func(*wire.Entry) error) error {
	last := ""
	var fnErr error
	return e.retry(ctx, func(m *member) error {
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
	err = e.retry(ctx, func(m *member) error {
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
	err = e.retry(ctx, func(m *member) error {
		errs, err = m.ep.Apply(ctx, ops)
		return err
	})
	return errs, err
}

// CreateShared implements endpoint.Endpoint on one connection.
func (e *Endpoint) CreateShared(ctx context.Context, rel string, size int64, share string, part bool) (w endpoint.FileWriter, err error) {
	err = e.retry(ctx, func(m *member) error {
		w, err = m.ep.CreateShared(ctx, rel, size, share, part)
		return err
	})
	return w, err
}

// Close implements endpoint.Endpoint, closing every member. Members that
// join later do not open its root.
func (e *Endpoint) Close() error {
	e.mu.Lock()
	e.closed = true
	members := e.members
	e.mu.Unlock()
	if e.h != nil {
		e.h.forget(e)
	}
	var first error
	for _, m := range members {
		if err := m.ep.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
