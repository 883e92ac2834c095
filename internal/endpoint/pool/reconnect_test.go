package pool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/endpoint/local"
	"github.com/fcp-dev/fcp/internal/wire"
)

// conn is a member host on the local filesystem whose connection can be
// cut: from then on every call of it, of the endpoints opened from it and
// of their writers fails with endpoint.ErrClosed, as a lost agent's do.
// With cutAfter > 0 it cuts itself after that many calls (scan entries
// count as calls).
type conn struct {
	endpoint.Host
	cutAfter int64
	calls    atomic.Int64
	isCut    atomic.Bool
}

func newConn() *conn { return &conn{Host: local.NewHost()} }

func (c *conn) cut() { c.isCut.Store(true) }

func (c *conn) check() error {
	if n := c.calls.Add(1); c.cutAfter > 0 && n > c.cutAfter {
		c.cut()
	}
	if c.isCut.Load() {
		return fmt.Errorf("%w: connection lost: test cut", endpoint.ErrClosed)
	}
	return nil
}

func (c *conn) Stat(ctx context.Context, path string) (wire.StatResp, error) {
	if err := c.check(); err != nil {
		return wire.StatResp{}, err
	}
	return c.Host.Stat(ctx, path)
}

func (c *conn) Open(ctx context.Context, dir string, create bool) (endpoint.Endpoint, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	ep, err := c.Host.Open(ctx, dir, create)
	if err != nil {
		return nil, err
	}
	return &connEndpoint{Endpoint: ep, c: c}, nil
}

type connEndpoint struct {
	endpoint.Endpoint
	c *conn
}

func (e *connEndpoint) Scan(ctx context.Context, rel string, opts endpoint.ScanOptions, fn func(*wire.Entry) error) error {
	if err := e.c.check(); err != nil {
		return err
	}
	return e.Endpoint.Scan(ctx, rel, opts, func(en *wire.Entry) error {
		if err := e.c.check(); err != nil {
			return err
		}
		return fn(en)
	})
}

func (e *connEndpoint) Read(ctx context.Context, rel string, off int64, n int) (endpoint.Chunk, error) {
	if err := e.c.check(); err != nil {
		return endpoint.Chunk{}, err
	}
	return e.Endpoint.Read(ctx, rel, off, n)
}

func (e *connEndpoint) Apply(ctx context.Context, ops []wire.Op) ([]error, error) {
	if err := e.c.check(); err != nil {
		return nil, err
	}
	return e.Endpoint.Apply(ctx, ops)
}

func (e *connEndpoint) CreateShared(ctx context.Context, rel string, size int64, share string, part bool) (endpoint.FileWriter, error) {
	if err := e.c.check(); err != nil {
		return nil, err
	}
	w, err := e.Endpoint.CreateShared(ctx, rel, size, share, part)
	if err != nil {
		return nil, err
	}
	return &connWriter{FileWriter: w, c: e.c}, nil
}

type connWriter struct {
	endpoint.FileWriter
	c *conn
}

func (w *connWriter) Write(ctx context.Context, off int64, data []byte, sum wire.Sum) error {
	if err := w.c.check(); err != nil {
		return err
	}
	return w.FileWriter.Write(ctx, off, data, sum)
}

func (w *connWriter) Commit(ctx context.Context, size int64, mode uint32, mtime int64, attrs wire.Attrs) error {
	if err := w.c.check(); err != nil {
		return err
	}
	return w.FileWriter.Commit(ctx, size, mode, mtime, attrs)
}

// dialer makes conns: it fails its first `fails` dials (every dial with
// fails < 0), or with block, waits for its context to end.
type dialer struct {
	fails  int64
	block  bool
	calls  atomic.Int64
	active atomic.Int64

	mu    sync.Mutex
	conns []*conn
}

var errRefused = errors.New("test: connection refused")

func (d *dialer) dial(ctx context.Context) (endpoint.Host, error) {
	d.active.Add(1)
	defer d.active.Add(-1)
	n := d.calls.Add(1)
	switch {
	case d.block:
		<-ctx.Done()
		return nil, ctx.Err()
	case d.fails < 0 || n <= d.fails:
		return nil, errRefused
	}
	c := newConn()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.conns = append(d.conns, c)
	return c, nil
}

func (d *dialer) made() []*conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*conn(nil), d.conns...)
}

// eventually fails the test unless cond holds within five seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testTree makes a directory with a file f and 50 files under d.
func testTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "f"), []byte("content"), 0o644))
	must(t, os.Mkdir(filepath.Join(dir, "d"), 0o755))
	for i := range 50 {
		must(t, os.WriteFile(filepath.Join(dir, "d", fmt.Sprintf("%03d", i)), nil, 0o644))
	}
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// openPool returns a pool Host over first and the Endpoint of dir on it;
// both are closed at the end of the test.
func openPool(t *testing.T, dir string, first *conn, o Options) (*Host, *Endpoint) {
	t.Helper()
	o.Name = "testhost"
	h := NewHost(first, o)
	t.Cleanup(func() { h.Close() })
	ep, err := h.Open(context.Background(), dir, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	return h, ep.(*Endpoint)
}

// scanAll returns the paths a scan of dir's root delivers.
func scanAll(ctx context.Context, e endpoint.Endpoint) ([]string, error) {
	var got []string
	err := e.Scan(ctx, ".", endpoint.ScanOptions{}, func(en *wire.Entry) error {
		got = append(got, en.Path)
		return nil
	})
	return got, err
}

// op is a call that needs a live member.
type op struct {
	name string
	call func(ctx context.Context, h *Host, e *Endpoint, dir string) error
}

var ops = []op{
	{name: "Read", call: func(ctx context.Context, _ *Host, e *Endpoint, _ string) error {
		c, err := e.Read(ctx, "f", 0, 100)
		if err == nil && string(c.Data) != "content" {
			err = fmt.Errorf("read %q", c.Data)
		}
		return err
	}},
	{name: "Scan", call: func(ctx context.Context, _ *Host, e *Endpoint, _ string) error {
		got, err := scanAll(ctx, e)
		if err == nil && len(got) != 53 {
			err = fmt.Errorf("scan gave %d entries, want 53", len(got))
		}
		return err
	}},
	{name: "Apply", call: func(ctx context.Context, _ *Host, e *Endpoint, dir string) error {
		errs, err := e.Apply(ctx, []wire.Op{{Kind: wire.OpMkdir, Path: "new", Mode: 0o755}})
		if err == nil && errs[0] != nil {
			err = errs[0]
		}
		return err
	}},
	{name: "Create", call: func(ctx context.Context, _ *Host, e *Endpoint, dir string) error {
		w, err := e.Create(ctx, "g", 5)
		if err != nil {
			return err
		}
		defer w.Abort()
		return writeAll(ctx, w, []byte("hello"))
	}},
	{name: "Stat", call: func(ctx context.Context, h *Host, _ *Endpoint, dir string) error {
		st, err := h.Stat(ctx, filepath.Join(dir, "f"))
		if err == nil && !st.Exists {
			err = errors.New("f does not exist")
		}
		return err
	}},
	{name: "Open", call: func(ctx context.Context, h *Host, _ *Endpoint, dir string) error {
		ep, err := h.Open(ctx, filepath.Join(dir, "d"), false)
		if err == nil {
			ep.Close()
		}
		return err
	}},
}

// TestReconnectAfterEveryConnectionLost cuts the only connection: a call
// made then waits while the Host re-dials (failing twice first) and
// completes on the new connection.
func TestReconnectAfterEveryConnectionLost(t *testing.T) {
	for _, tc := range ops {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := testTree(t)
			first := newConn()
			d := &dialer{fails: 2}
			h, e := openPool(t, dir, first, Options{Dial: d.dial, ReconnectWindow: time.Minute})
			first.cut()
			if err := tc.call(context.Background(), h, e, dir); err != nil {
				t.Fatalf("%s after the connection was cut: %v", tc.name, err)
			}
			if n := d.calls.Load(); n != 3 {
				t.Errorf("%d dials, want 3 (two failures and a success)", n)
			}
			if len(d.made()) != 1 || d.made()[0].calls.Load() == 0 {
				t.Errorf("the call did not go to the new connection")
			}
		})
	}
}

// TestScanResumesOnReconnectedConnection cuts the only connection in the
// middle of a scan: it goes on on the new connection after the last path
// delivered, without repeats.
func TestScanResumesOnReconnectedConnection(t *testing.T) {
	dir := testTree(t)
	first := newConn()
	d := &dialer{fails: 1}
	_, e := openPool(t, dir, first, Options{Dial: d.dial, ReconnectWindow: time.Minute})
	first.cutAfter = first.calls.Load() + 20
	got, err := scanAll(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".", "d"}
	for i := range 50 {
		want = append(want, fmt.Sprintf("d/%03d", i))
	}
	want = append(want, "f")
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("scan across a reconnect gave %q, want %q", got, want)
	}
	if !first.isCut.Load() {
		t.Errorf("the connection was not cut during the scan")
	}
}

// TestWriterOfLostConnection cuts the connection under a file being
// written: its writer fails with endpoint.ErrRetry, writing the file again
// works once the Host has reconnected, and no temporary file is left.
func TestWriterOfLostConnection(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first := newConn()
	d := &dialer{fails: 1}
	_, e := openPool(t, dir, first, Options{Dial: d.dial, ReconnectWindow: time.Minute})
	data := bytes.Repeat([]byte("x"), 300<<10)
	w, err := e.Create(ctx, "g", int64(len(data)))
	must(t, err)
	must(t, w.Write(ctx, 0, data[:1000], blake3.Sum256(data[:1000])))
	first.cut()
	err = writeAll(ctx, w, data)
	w.Abort()
	if !errors.Is(err, endpoint.ErrRetry) || errors.Is(err, endpoint.ErrClosed) {
		t.Fatalf("write through a cut connection = %v, want ErrRetry (not ErrClosed)", err)
	}
	w, err = e.Create(ctx, "g", int64(len(data)))
	must(t, err)
	must(t, writeAll(ctx, w, data))
	got, err := os.ReadFile(filepath.Join(dir, "g"))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("file written again after reconnecting: %d bytes, %v", len(got), err)
	}
	// The new connection removes the lost one's file as it joins, maybe
	// after the file is written again.
	eventually(t, "the temporary file to be removed", func() bool {
		entries, _ := os.ReadDir(dir)
		return len(entries) == 1
	})
}

// TestReconnectGivesUp cuts the only connection of a Host whose dials all
// fail: a waiting call fails once the window has passed, with an error
// naming the host, the window and the last dial's error, matching
// endpoint.ErrClosed; later calls fail at once.
func TestReconnectGivesUp(t *testing.T) {
	const window = 600 * time.Millisecond
	for _, tc := range ops {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := testTree(t)
			first := newConn()
			d := &dialer{fails: -1}
			h, e := openPool(t, dir, first, Options{Dial: d.dial, ReconnectWindow: window})
			first.cut()
			start := time.Now()
			err := tc.call(context.Background(), h, e, dir)
			took := time.Since(start)
			var re *ReconnectError
			if !errors.Is(err, endpoint.ErrClosed) || !errors.As(err, &re) {
				t.Fatalf("%s = %v, want a ReconnectError matching ErrClosed", tc.name, err)
			}
			if took < window-50*time.Millisecond || took > window+500*time.Millisecond {
				t.Errorf("%s failed after %v, want about %v", tc.name, took, window)
			}
			msg := err.Error()
			for _, s := range []string{"lost every connection to testhost", "could not reconnect within 600ms", errRefused.Error()} {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not say %q", msg, s)
				}
			}
			if d.calls.Load() < 2 {
				t.Errorf("only %d dials in the window", d.calls.Load())
			}
			start = time.Now()
			eventually(t, "the Host to give up", func() bool { return h.final.Load() })
			if err := tc.call(context.Background(), h, e, dir); !errors.As(err, &re) || time.Since(start) > 100*time.Millisecond {
				t.Errorf("%s after giving up = %v after %v, want a ReconnectError at once", tc.name, err, time.Since(start))
			}
		})
	}
}

// TestReconnectWindowFromLastLoss checks that the window runs from when
// the last live connection was lost, not the first.
func TestReconnectWindowFromLastLoss(t *testing.T) {
	const window = 600 * time.Millisecond
	dir := testTree(t)
	first := newConn()
	d := &dialer{fails: -1}
	h, e := openPool(t, dir, first, Options{Dial: d.dial, ReconnectWindow: window})
	second := newConn()
	h.join(second, true)
	first.cut()
	if _, err := e.Read(context.Background(), "f", 0, 10); err != nil {
		t.Fatalf("read with one of two connections cut: %v", err)
	}
	time.Sleep(window / 2)
	second.cut()
	start := time.Now()
	_, err := e.Read(context.Background(), "f", 0, 10)
	if took := time.Since(start); !errors.Is(err, endpoint.ErrClosed) || took < window-50*time.Millisecond {
		t.Errorf("read = %v after %v, want ErrClosed after the window (%v) from the last loss", err, took, window)
	}
}

// TestNoReconnect checks that without a window a lost connection is not
// re-dialled and calls fail at once.
func TestNoReconnect(t *testing.T) {
	dir := testTree(t)
	first := newConn()
	d := &dialer{}
	h, e := openPool(t, dir, first, Options{Dial: d.dial})
	first.cut()
	for _, tc := range ops {
		start := time.Now()
		if err := tc.call(context.Background(), h, e, dir); !errors.Is(err, endpoint.ErrClosed) || time.Since(start) > 100*time.Millisecond {
			t.Errorf("%s = %v after %v, want ErrClosed at once", tc.name, err, time.Since(start))
		}
	}
	if n := d.calls.Load(); n != 0 {
		t.Errorf("%d dials without a reconnect window", n)
	}
}

// TestReconnectRestoresTarget cuts every connection of a Host that had
// three: it dials until it has three again.
func TestReconnectRestoresTarget(t *testing.T) {
	dir := testTree(t)
	first := newConn()
	d := &dialer{}
	h, e := openPool(t, dir, first, Options{Extra: 2, Dial: d.dial, ReconnectWindow: time.Minute})
	if _, err := e.Read(context.Background(), "f", 0, 10); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two extra connections", func() bool { return len(e.live()) == 3 })
	first.cut()
	for _, c := range d.made() {
		c.cut()
	}
	// Reads find the cut connections (each picks the least busy) and
	// wait for new ones.
	eventually(t, "three live connections again", func() bool {
		if _, err := e.Read(context.Background(), "f", 0, 10); err != nil {
			t.Fatalf("read after every connection was cut: %v", err)
		}
		n := 0
		for _, m := range h.live() {
			if !m.h.(*conn).isCut.Load() {
				n++
			}
		}
		return n == 3 && len(h.live()) == 3 && len(e.live()) == 3
	})
	h.mu.Lock()
	dialing := h.dialing
	h.mu.Unlock()
	if n := d.calls.Load(); n != 5 || dialing {
		t.Errorf("%d dials (re-dialler running: %v), want 5: two extra and three replacing", n, dialing)
	}
}

// TestReconnectWaitCancelled checks that a call waiting for a connection
// returns promptly when its context ends.
func TestReconnectWaitCancelled(t *testing.T) {
	for _, tc := range ops {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := testTree(t)
			first := newConn()
			d := &dialer{fails: -1}
			h, e := openPool(t, dir, first, Options{Dial: d.dial, ReconnectWindow: time.Minute})
			first.cut()
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := tc.call(ctx, h, e, dir)
			if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > time.Second {
				t.Errorf("%s = %v after %v, want DeadlineExceeded after 200ms", tc.name, err, took)
			}
		})
	}
}

// TestCloseWhileRedialling closes a Host whose re-dial hangs and a call
// waits for a connection: Close returns promptly, the dial is cancelled,
// the call fails, and none of the Host's goroutines is left.
func TestCloseWhileRedialling(t *testing.T) {
	dir := testTree(t)
	first := newConn()
	d := &dialer{block: true}
	h := NewHost(first, Options{Dial: d.dial, ReconnectWindow: time.Minute})
	ep, err := h.Open(context.Background(), dir, false)
	must(t, err)
	first.cut()
	done := make(chan error, 1)
	go func() {
		_, err := ep.Read(context.Background(), "f", 0, 10)
		done <- err
	}()
	eventually(t, "a dial", func() bool { return d.active.Load() == 1 })
	if !strings.Contains(hostGoroutines(), "(*Host).redial") {
		t.Fatal("no re-dialler among the goroutines: hostGoroutines sees nothing")
	}
	start := time.Now()
	h.Close()
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Close took %v while re-dialling", took)
	}
	if n := d.active.Load(); n != 0 {
		t.Errorf("%d dials still running after Close", n)
	}
	select {
	case err := <-done:
		if !errors.Is(err, endpoint.ErrClosed) {
			t.Errorf("read waiting when the Host closed = %v, want ErrClosed", err)
		}
	case <-time.After(time.Second):
		t.Fatal("a read waiting for a connection did not return when the Host closed")
	}
	ep.Close()
	if g := hostGoroutines(); g != "" {
		t.Errorf("goroutines of the Host left after Close:\n%s", g)
	}
}

// hostGoroutines returns the stacks of goroutines running the pool's
// code, other than the calling one.
func hostGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i > 0 && strings.Contains(g, "internal/endpoint/pool.") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
