package shell

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// memLimit is the most a FileWriter keeps in memory; a larger file goes
// to a temporary file on this machine.
const memLimit = 1 << 20

// Limits on one batch of commits (one tar stream): a file larger than
// maxBatchBytes goes alone.
const (
	maxBatchFiles = 512
	maxBatchBytes = 32 << 20
)

// Create implements endpoint.Endpoint. Nothing is sent until Commit: the
// data is kept here, in memory up to 1 MiB, beyond that in an unlinked
// temporary file of os.TempDir. Errors about rel's directory surface at
// Commit. size is not used.
func (e *shellEndpoint) Create(ctx context.Context, rel string, size int64) (endpoint.FileWriter, error) {
	if err := e.check(ctx, "create", rel); err != nil {
		return nil, err
	}
	if rel == "." {
		return nil, fmt.Errorf("create .: %w: the root", endpoint.ErrInvalidPath)
	}
	return &fileWriter{e: e, rel: rel}, nil
}

// fileWriter is an endpoint.FileWriter that keeps the file's data until
// Commit sends it with the batch of commits it joins.
type fileWriter struct {
	e    *shellEndpoint
	rel  string
	buf  []byte   // the data, while in memory
	f    *os.File // the data, once spilled; nil before
	end  int64    // highest offset written
	err  error    // the first failed Write, returned by Commit
	done bool     // committed or discarded
}

// Write implements endpoint.FileWriter. The data is copied: the caller
// may reuse it once Write returns. After a failure every later Write and
// Commit fail with the same error.
func (w *fileWriter) Write(ctx context.Context, off int64, data []byte, sum wire.Sum) error {
	switch {
	case w.done:
		return fmt.Errorf("write %s: %w", w.rel, fs.ErrClosed)
	case w.err != nil:
		return w.err
	}
	if w.err = endpoint.CheckWrite(ctx, w.rel, off, data, sum); w.err != nil {
		return w.err
	}
	end := off + int64(len(data))
	if w.f == nil && end <= memLimit {
		if int64(len(w.buf)) < end {
			w.buf = append(w.buf, make([]byte, end-int64(len(w.buf)))...)
		}
		copy(w.buf[off:], data)
		w.end = max(w.end, end)
		return nil
	}
	if w.f == nil {
		if err := w.spill(); err != nil {
			w.err = fmt.Errorf("write %s: buffering: %w", w.rel, err)
			return w.err
		}
	}
	if _, err := w.f.WriteAt(data, off); err != nil {
		w.err = fmt.Errorf("write %s: buffering: %w", w.rel, err)
		return w.err
	}
	w.end = max(w.end, end)
	return nil
}

// spill moves the data to a temporary file, unlinked at once so that
// nothing is left behind.
func (w *fileWriter) spill() error {
	f, err := os.CreateTemp("", "fcp-shell-*")
	if err != nil {
		return err
	}
	os.Remove(f.Name())
	if _, err := f.Write(w.buf); err != nil {
		f.Close()
		return err
	}
	w.f, w.buf = f, nil
	return nil
}

// Commit implements endpoint.FileWriter: it sends the file, with other
// files committed meanwhile, and returns once it is in place (or not).
// attrs are ignored (see Caps).
// If ctx ends first, Commit returns its error and the file is left out
// if its data has not been sent yet; if it has, the file may still be put
// in place.
func (w *fileWriter) Commit(ctx context.Context, size int64, mode uint32, mtime int64, _ wire.Attrs) error {
	if w.done {
		return fmt.Errorf("commit %s: %w", w.rel, fs.ErrClosed)
	}
	w.done = true
	var err error
	switch {
	case w.err != nil:
		err = w.err
	case w.end != size:
		err = fmt.Errorf("commit %s: %d bytes written, want %d", w.rel, w.end, size)
	case ctx.Err() != nil:
		err = fmt.Errorf("commit %s: %w", w.rel, ctx.Err())
	case w.e.closed.Load():
		err = fmt.Errorf("commit %s: %w", w.rel, endpoint.ErrClosed)
	}
	if err != nil {
		w.discard()
		return err
	}
	c := &commit{done: make(chan struct{}), f: w.f}
	c.item = stageItem{rel: w.rel, mode: mode, mtime: mtime, size: size, skip: c.cancelled.Load}
	switch {
	case w.f != nil:
		c.item.data = w.f
	case size > 0:
		c.item.data = bytes.NewReader(w.buf)
	}
	w.f, w.buf = nil, nil
	return w.e.commits.commit(ctx, c)
}

// Copy implements endpoint.FileWriter: there is never a basis, so it
// fails with endpoint.ErrMismatch.
func (w *fileWriter) Copy(ctx context.Context, off, basisOff int64, n int, sum wire.Sum) error {
	return fmt.Errorf("copy %s: no basis: %w", w.rel, endpoint.ErrMismatch)
}

// Abort implements endpoint.FileWriter.
func (w *fileWriter) Abort() error {
	if !w.done {
		w.done = true
		w.discard()
	}
	return nil
}

// Suspend implements endpoint.FileWriter: there are no partial files, so
// it is Abort.
func (w *fileWriter) Suspend() error { return w.Abort() }

// discard drops the data.
func (w *fileWriter) discard() {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	w.buf = nil
}

// commit is one file waiting for its batch.
type commit struct {
	item      stageItem
	f         *os.File // the temporary file to close once sent; nil if none
	cancelled atomic.Bool
	err       error
	done      chan struct{} // closed when err is set
}

// committer sends commits in batches: while one batch is sent, the
// commits that arrive queue up and go together in the next one, one tar
// stream and one command for all.
//
// The writers of a batch learn at once that it is done and come back
// with their next files a moment later, each after reading one; a batch
// started at the first of them would carry one or two files, and cost
// nearly as much as a full one. So a batch waits up to batchWindow while
// fewer commits are queued than the last batch held.
type committer struct {
	e       *shellEndpoint
	mu      sync.Mutex
	queue   []*commit
	last    int           // commits in the last batch
	more    chan struct{} // a commit was queued; buffered
	running bool          // a goroutine sends batches
	closed  bool
}

// batchWindow is how long a batch waits for commits on their way.
const batchWindow = 5 * time.Millisecond

// commit queues c and waits until it is done or ctx ends.
func (cm *committer) commit(ctx context.Context, c *commit) error {
	cm.mu.Lock()
	if cm.closed {
		cm.mu.Unlock()
		c.release()
		return fmt.Errorf("commit %s: %w", c.item.rel, endpoint.ErrClosed)
	}
	cm.queue = append(cm.queue, c)
	if !cm.running {
		cm.running = true
		cm.e.s.wg.Go(cm.loop)
	}
	cm.mu.Unlock()
	select {
	case cm.more <- struct{}{}:
	default:
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		c.cancelled.Store(true)
		return fmt.Errorf("commit %s: %w", c.item.rel, ctx.Err())
	}
}

// loop sends batches until the queue is empty.
func (cm *committer) loop() {
	for {
		cm.gather()
		cm.mu.Lock()
		n, bytes := 0, int64(0)
		for n < len(cm.queue) && n < maxBatchFiles {
			size := cm.queue[n].item.size
			if n > 0 && bytes+size > maxBatchBytes {
				break
			}
			bytes += size
			n++
		}
		batch := cm.queue[:n:n]
		cm.queue = cm.queue[n:]
		if n == 0 {
			cm.running = false
		}
		cm.last = n
		cm.mu.Unlock()
		if n == 0 {
			return
		}
		cm.send(batch)
	}
}

// gather waits up to batchWindow for the queue to hold as many commits
// as the last batch.
func (cm *committer) gather() {
	var timer <-chan time.Time
	for {
		cm.mu.Lock()
		enough := cm.closed || len(cm.queue) >= cm.last
		cm.mu.Unlock()
		if enough {
			return
		}
		if timer == nil {
			t := time.NewTimer(batchWindow)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-cm.more:
		case <-timer:
			return
		}
	}
}

// close fails the commits not yet sent; later ones fail at once.
func (cm *committer) close() {
	cm.mu.Lock()
	cm.closed = true
	queue := cm.queue
	cm.queue = nil
	cm.mu.Unlock()
	for _, c := range queue {
		c.finish(fmt.Errorf("commit %s: %w", c.item.rel, endpoint.ErrClosed))
	}
}

// send commits batch as one command.
func (cm *committer) send(batch []*commit) {
	e := cm.e
	items := make([]*stageItem, len(batch))
	ops := make([]int, len(batch))
	for i, c := range batch {
		items[i], ops[i] = &c.item, i
	}
	var sc script
	run := newStageRun(e, 0, items, ops)
	run.write(&sc)
	sc.line("fcp_m $Q END 0")
	results := make(opResults, len(batch))
	req := &request{script: &sc, onEvent: func(ev *event) (*payload, error) {
		switch ev.kind {
		case "READY":
			if p := run.payload(ev.args[1:]); p != nil {
				return p, nil
			}
		case "OP":
			results.set(ev)
		}
		return nil, nil
	}}
	err := e.s.acquire(nil)
	if err == nil {
		_, err = e.s.run(req)
		e.s.release()
	}
	for i, c := range batch {
		switch {
		case err != nil:
			c.finish(fmt.Errorf("commit %s: %w", c.item.rel, err))
		case run.errs[i] != nil:
			c.finish(fmt.Errorf("commit %s: %w", c.item.rel, run.errs[i]))
		case !run.sent[i] && c.cancelled.Load():
			c.finish(fmt.Errorf("commit %s: %w", c.item.rel, context.Canceled))
		default:
			c.finish(results[i].err("commit", c.item.rel))
		}
	}
}

// finish ends c with err.
func (c *commit) finish(err error) {
	c.release()
	c.err = err
	close(c.done)
}

// release closes c's temporary file.
func (c *commit) release() {
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}

// opResult is what an OP marker reported.
type opResult struct {
	seen   bool
	status int
	detail int
	side   string // "t" when the detail is about an op's Target
	text   []byte
}

type opResults []opResult

// set records the OP marker ev: OP k status [detail [side]].
func (rs opResults) set(ev *event) {
	k := ev.arg(0)
	if k < 0 || k >= len(rs) {
		return
	}
	r := opResult{seen: true, status: ev.arg(1), detail: ev.arg(2), text: ev.text}
	if len(ev.args) > 3 {
		r.side = ev.args[3]
	}
	rs[k] = r
}

// err returns the error of op on rel the result stands for.
func (r opResult) err(op, rel string) error {
	if !r.seen {
		return fmt.Errorf("%s %s: the shell did not report it", op, rel)
	}
	return statusError(op, rel, r.status, r.detail, r.text)
}
