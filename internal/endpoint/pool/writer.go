package pool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// SplitSize is the size from which a file is written through every
// connection at once rather than through one.
const SplitSize = 8 << 20

// laneDepth bounds the chunks queued for one connection of a split file.
const laneDepth = 4

// Create implements endpoint.Endpoint. A file of SplitSize bytes or more
// is written through every live connection, its chunks spread over them;
// a smaller one through the least busy connection. Either way the file is
// created shared (endpoint.Endpoint.CreateShared) under a token of the
// pool's, so that another connection can remove its temporary file when
// the one writing it is lost.
//
// A connection found lost before anything is written is replaced by
// another, and while none is live and the Host reconnects, Create waits
// for one to join, as the other methods do.
func (e *Endpoint) Create(ctx context.Context, rel string, size int64) (endpoint.FileWriter, error) {
	e.wantMore()
	var last error
	for {
		// A new token each time: the temporary file of a failed attempt
		// may be removed while this one writes.
		share := fmt.Sprintf("%016x", rand.Uint64())
		m, err := e.await(ctx, last)
		var re *ReconnectError
		if errors.As(err, &re) {
			return nil, err // about the session, not the file
		}
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", rel, err)
		}
		var w endpoint.FileWriter
		if live := e.live(); size >= SplitSize && len(live) > 0 && (len(live) > 1 || e.grow != nil) {
			w, err = e.createSplit(ctx, rel, size, share, live)
		} else {
			w, err = e.createSingle(ctx, m, rel, size, share)
		}
		if !lostConn(err) {
			return w, err
		}
		last = err
	}
}

// createSingle creates the file through m alone. A lost connection is
// returned as is, m marked dead and the temporary file it may have made
// removed through another (see removeTemp).
func (e *Endpoint) createSingle(ctx context.Context, m *member, rel string, size int64, share string) (endpoint.FileWriter, error) {
	weight := size + 1
	m.load.Add(weight)
	w, err := m.ep.CreateShared(ctx, rel, size, share, false)
	if err != nil {
		m.load.Add(-weight)
		if lostConn(err) {
			e.kill(m, err)
			e.removeTemp(rel, share)
		}
		return nil, err
	}
	return &single{e: e, m: m, w: w, weight: weight, rel: rel, share: share}, nil
}

// lost turns an error of member m into what the caller should see: a
// lost connection becomes endpoint.ErrRetry while others live or the Host
// reconnects.
func (e *Endpoint) lost(m *member, err error) error {
	if !lostConn(err) {
		return err
	}
	e.kill(m, err)
	if len(e.live()) == 0 && !e.reconnects() {
		return err
	}
	return fmt.Errorf("%w (%v)", endpoint.ErrRetry, err)
}

// removeTemp removes the temporary file of a shared file whose committing
// connection was lost, through a live one: opening the share and
// aborting it removes the file. An abort is sent without waiting for it,
// so the connection is then asked a Stat, which its agent answers only
// after the frames before it (see endpoint/remote); if the connection is
// lost first, another is tried. While none is live and the Host
// reconnects, the removal waits in a queue for the next member to join
// (see removeQueued); it does not hold up the caller.
func (e *Endpoint) removeTemp(rel, share string) {
	for {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return
		}
		m := e.pickLocked()
		if m == nil {
			if e.reconnects() {
				e.removals = append(e.removals, removal{rel, share})
			}
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		ctx := context.Background()
		w, err := m.ep.CreateShared(ctx, rel, 0, share, false)
		if err == nil {
			err = w.Abort()
		}
		if err == nil && m.host != nil {
			_, err = m.host.h.Stat(ctx, e.dir)
		}
		if !lostConn(err) {
			return
		}
		e.kill(m, err)
	}
}

// removeQueued removes the temporary files queued by removeTemp; a member
// has just joined.
func (e *Endpoint) removeQueued() {
	e.mu.Lock()
	queued := e.removals
	e.removals = nil
	e.mu.Unlock()
	for _, r := range queued {
		e.removeTemp(r.rel, r.share)
	}
}

// single is a file written through one connection.
type single struct {
	e          *Endpoint
	m          *member
	w          endpoint.FileWriter
	weight     int64
	rel, share string
	done       bool
}

func (s *single) Write(ctx context.Context, off int64, data []byte, sum wire.Sum) error {
	return s.check(s.w.Write(ctx, off, data, sum))
}

func (s *single) Commit(ctx context.Context, size int64, mode uint32, mtime int64, attrs wire.Attrs) error {
	s.release()
	return s.check(s.w.Commit(ctx, size, mode, mtime, attrs))
}

func (s *single) Abort() error {
	s.release()
	return s.w.Abort()
}

// check maps err and, if the connection was lost, removes the temporary
// file through another.
func (s *single) check(err error) error {
	err = s.e.lost(s.m, err)
	if errors.Is(err, endpoint.ErrRetry) {
		s.e.removeTemp(s.rel, s.share)
	}
	return err
}

func (s *single) release() {
	if !s.done {
		s.done = true
		s.m.load.Add(-s.weight)
	}
}

// split is a file whose chunks go through several connections: each lane
// holds one connection's writer of the shared file and a goroutine that
// feeds it, so a connection whose window is full does not hold up the
// others.
type split struct {
	e     *Endpoint
	rel   string
	share string
	ctx   context.Context // of Create: the lanes' goroutines run under it
	size  int64
	lanes []*lane // lanes[0] commits; the others are parts
	next  int
	wg    sync.WaitGroup

	mu        sync.Mutex
	err       error
	closed    bool
	committed bool
}

type lane struct {
	m      *member
	w      endpoint.FileWriter
	q      chan chunk
	weight int64 // this lane's share of the file in m.load, until released
}

// chunk is data to write at off, or with hole set, a hole of that many
// bytes there.
type chunk struct {
	off  int64
	data []byte
	sum  wire.Sum
	hole int64
}

// createSplit creates the file through every member of live, the first
// committing it. A lost first connection is returned as is, marked dead
// and its temporary file removed as in createSingle; another lost one is
// left out.
func (e *Endpoint) createSplit(ctx context.Context, rel string, size int64, share string, live []*member) (endpoint.FileWriter, error) {
	s := &split{e: e, rel: rel, share: share, ctx: ctx, size: size}
	for i, m := range live {
		w, err := m.ep.CreateShared(ctx, rel, size, share, i > 0)
		if err != nil {
			if lostConn(err) {
				e.kill(m, err)
				if i == 0 {
					e.removeTemp(rel, share)
					return nil, err
				}
				continue
			}
			s.abortLanes()
			return nil, err
		}
		l := &lane{m: m, w: w, q: make(chan chunk, laneDepth), weight: size/int64(len(live)) + 1}
		s.lanes = append(s.lanes, l)
		m.load.Add(l.weight)
		s.wg.Go(func() { s.feed(ctx, l) })
	}
	return s, nil
}

// addLanes adds a part lane for every connection that joined the pool
// since the file was created, so a large file started on one connection
// spreads over the others as they come up.
func (s *split) addLanes() {
	live := s.e.live()
	if len(live) <= len(s.lanes) {
		return
	}
	have := make(map[*member]bool, len(s.lanes))
	for _, l := range s.lanes {
		have[l.m] = true
	}
	for _, m := range live {
		if have[m] {
			continue
		}
		w, err := m.ep.CreateShared(s.ctx, s.rel, s.size, s.share, true)
		if err != nil {
			if lostConn(err) {
				s.e.kill(m, err)
			}
			continue
		}
		l := &lane{m: m, w: w, q: make(chan chunk, laneDepth), weight: s.size/int64(len(live)) + 1}
		s.lanes = append(s.lanes, l)
		m.load.Add(l.weight)
		s.wg.Go(func() { s.feed(s.ctx, l) })
	}
}

// feed writes one lane's chunks until its queue is closed. After a
// failure it drains the queue without writing.
func (s *split) feed(ctx context.Context, l *lane) {
	for c := range l.q {
		if s.failed() {
			continue
		}
		var err error
		if c.hole > 0 {
			err = l.w.Hole(ctx, c.off, c.hole)
		} else {
			err = l.w.Write(ctx, c.off, c.data, c.sum)
		}
		if err != nil {
			s.fail(l, err)
		}
	}
}

func (s *split) failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err != nil
}

func (s *split) fail(l *lane, err error) {
	err = s.e.lost(l.m, err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// Write queues data for the next lane; data is kept until it is written,
// at the latest until Commit or Abort returns.
func (s *split) Write(ctx context.Context, off int64, data []byte, sum wire.Sum) error {
	s.mu.Lock()
	err, closed := s.err, s.closed
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if closed {
		return fmt.Errorf("write %s: writer closed", s.rel)
	}
	s.addLanes()
	var l *lane
	for range s.lanes {
		l = s.lanes[s.next%len(s.lanes)]
		s.next++
		if !l.m.dead.Load() {
			break
		}
	}
	select {
	case l.q <- chunk{off: off, data: data, sum: sum}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("write %s: %w", s.rel, ctx.Err())
	}
}

// drain closes the lanes' queues and waits for their goroutines.
func (s *split) drain() {
	s.mu.Lock()
	closed := s.closed
	s.closed = true
	s.mu.Unlock()
	if !closed {
		for _, l := range s.lanes {
			close(l.q)
		}
	}
	s.wg.Wait()
}

// Commit waits for every queued chunk, commits the parts, then the file.
func (s *split) Commit(ctx context.Context, size int64, mode uint32, mtime int64, attrs wire.Attrs) error {
	s.drain()
	defer s.release()
	if err := s.firstErr(); err != nil {
		s.abortLanes()
		return err
	}
	var g errgroup.Group
	for _, l := range s.lanes[1:] {
		g.Go(func() error {
			if err := l.w.Commit(ctx, size, mode, mtime, wire.Attrs{}); err != nil {
				s.fail(l, err)
			}
			return nil
		})
	}
	g.Wait()
	if err := s.firstErr(); err != nil {
		s.abortLanes()
		return err
	}
	main := s.lanes[0]
	err := main.w.Commit(ctx, size, mode, mtime, attrs)
	if !committed(err) {
		err = s.e.lost(main.m, err)
		if errors.Is(err, endpoint.ErrRetry) {
			s.e.removeTemp(s.rel, s.share)
		}
		return err
	}
	s.mu.Lock()
	s.committed = true
	s.mu.Unlock()
	return err
}

func (s *split) firstErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Abort discards the file: parts first, then the committing writer, which
// removes it.
func (s *split) Abort() error {
	s.drain()
	s.release()
	s.mu.Lock()
	committed := s.committed
	s.mu.Unlock()
	if committed {
		return nil
	}
	return s.abortLanes()
}

func (s *split) abortLanes() error {
	var first error
	for i := len(s.lanes) - 1; i >= 0; i-- {
		if err := s.lanes[i].w.Abort(); err != nil && first == nil {
			first = err
		}
	}
	if len(s.lanes) > 0 && s.lanes[0].m.dead.Load() {
		s.e.removeTemp(s.rel, s.share)
	}
	return first
}

func (s *split) release() {
	for _, l := range s.lanes {
		l.m.load.Add(-l.weight)
		l.weight = 0
	}
}
