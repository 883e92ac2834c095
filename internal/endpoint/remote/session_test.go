package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/endpoint/local"
	"github.com/fcp-dev/fcp/internal/wire"
	"github.com/zeebo/blake3"
)

// hang bounds every wait of these tests for something that must happen
// promptly; exceeding it is a failure, not a synchronisation.
const hang = 20 * time.Second

// session is a Client connected over a net.Pipe to Serve.
type session struct {
	client     *Client
	serverConn net.Conn
	served     chan error // Serve's result

	// Bytes the client wrote to and read from the pipe.
	sent, received atomic.Int64
}

// startSession serves host on one end of a pipe and dials the other. The
// test's cleanup closes the client and waits for Serve.
func startSession(t *testing.T, host endpoint.Host) *session {
	t.Helper()
	return startSessionWith(t, host, DialOptions{})
}

// startSessionWith is startSession with options for Dial; Software,
// Closer and Logger are set here.
func startSessionWith(t *testing.T, host endpoint.Host, opts DialOptions) *session {
	t.Helper()
	cc, sc := net.Pipe()
	s := &session{serverConn: sc, served: make(chan error, 1)}
	go func() {
		s.served <- Serve(context.Background(), sc, sc, host, ServeOptions{
			Software: "agent under test",
			Closer:   sc,
			Logger:   testLogger(t),
		})
	}()
	opts.Software, opts.Closer, opts.Logger = "controller under test", cc, testLogger(t)
	r := countingReader{cc, &s.received}
	w := countingWriter{cc, &s.sent}
	c, err := Dial(t.Context(), r, w, opts)
	if err != nil {
		sc.Close()
		<-s.served
		t.Fatalf("Dial: %v", err)
	}
	s.client = c
	t.Cleanup(func() {
		c.Close()
		s.wait(t)
	})
	return s
}

// wait returns Serve's result, failing the test if Serve does not return.
func (s *session) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.served:
		s.served <- err
		return err
	case <-time.After(hang):
		t.Fatal("Serve did not return")
		return nil
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// openRemote returns an Endpoint on dir through a new session.
func openRemote(t *testing.T, dir string) (*session, endpoint.Endpoint) {
	t.Helper()
	s := startSession(t, local.NewHost())
	ep, err := s.client.Open(t.Context(), dir, false)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { ep.Close() })
	return s, ep
}

func writeFile(ctx context.Context, ep endpoint.Endpoint, rel string, data []byte, mode uint32, mtime int64) error {
	w, err := ep.Create(ctx, rel, int64(len(data)))
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := w.Write(ctx, 0, data, blake3.Sum256(data)); err != nil {
		return err
	}
	return w.Commit(ctx, int64(len(data)), mode, mtime, wire.Attrs{})
}

func TestServeReturnsNilWhenClientCloses(t *testing.T) {
	dir := t.TempDir()
	s, ep := openRemote(t, dir)
	ctx := t.Context()

	// Half of the file, so that it reaches the agent (a whole small file
	// is held until Commit).
	w, err := ep.Create(ctx, "pending", 6)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, 0, []byte("abc"), blake3.Sum256([]byte("abc"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { names, _ := os.ReadDir(dir); return len(names) == 1 })
	if err := s.client.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.wait(t); err != nil {
		t.Fatalf("Serve = %v, want nil", err)
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 0 {
		t.Errorf("after the session, the root holds %v; want the pending file aborted", names)
	}
	if _, err := s.client.Stat(ctx, dir); !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("Stat after Close = %v, want endpoint.ErrClosed", err)
	}
	if err := w.Commit(ctx, 3, 0o644, 0, wire.Attrs{}); !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("Commit after Close = %v, want endpoint.ErrClosed", err)
	}
}

// waitFor polls cond until it holds, failing the test after a few seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
	}
}

func TestAbortOfSharedFileRemovesItsTemp(t *testing.T) {
	dir := t.TempDir()
	_, ep := openRemote(t, dir)
	ctx := t.Context()
	const share = "0123456789abcdef"
	part, err := ep.CreateShared(ctx, "f", 6, share, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := part.Write(ctx, 0, []byte("abc"), blake3.Sum256([]byte("abc"))); err != nil {
		t.Fatal(err)
	}
	temp := filepath.Join(dir, ".fcp-f."+share+".tmp")
	waitFor(t, func() bool { _, err := os.Lstat(temp); return err == nil })

	// Another writer of the share that never wrote: its abort must still
	// reach the agent and remove the temporary file.
	other, err := ep.CreateShared(ctx, "f", 0, share, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Abort(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := os.Lstat(temp); return errors.Is(err, fs.ErrNotExist) })
	part.Abort()
}

func TestAbortBeforeAnythingLeftLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	_, ep := openRemote(t, dir)
	ctx := t.Context()
	w, err := ep.Create(ctx, "small", 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, 0, []byte("abc"), blake3.Sum256([]byte("abc"))); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(ctx, ep, "after", []byte("x"), 0o600, 0); err != nil {
		t.Fatal(err) // a round trip: the agent has seen everything sent before
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0].Name() != "after" {
		t.Errorf("root holds %v, want only after", names)
	}
}

func TestServeEndsWithContext(t *testing.T) {
	cc, sc := net.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, sc, sc, local.NewHost(), ServeOptions{Closer: sc})
	}()
	c, err := Dial(t.Context(), cc, cc, DialOptions{Closer: cc})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cancel()
	select {
	case err := <-served:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Serve = %v, want context.Canceled", err)
		}
	case <-time.After(hang):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := c.Stat(t.Context(), "/"); !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("Stat = %v, want endpoint.ErrClosed", err)
	}
}

func TestConcurrentCommits(t *testing.T) {
	const files = 200
	dir := t.TempDir()
	_, ep := openRemote(t, dir)

	g, ctx := errgroup.WithContext(t.Context())
	for i := range files {
		g.Go(func() error {
			name := fmt.Sprintf("f%03d", i)
			return writeFile(ctx, ep, name, []byte(strings.Repeat(name, 100*(i%7))), 0o640, int64(i)*1e9)
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		name := fmt.Sprintf("f%03d", i)
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.Repeat(name, 100*(i%7)); string(got) != want {
			t.Errorf("%s holds %d bytes, want %d", name, len(got), len(want))
		}
	}
}

// makeTree creates dirs directories of files one-byte files each under
// root and returns the number of entries a scan of root reports.
func makeTree(root string, dirs, files int) (int, error) {
	for d := range dirs {
		sub := filepath.Join(root, fmt.Sprintf("d%03d", d))
		if err := os.Mkdir(sub, 0o755); err != nil {
			return 0, err
		}
		for f := range files {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d", f)), []byte{byte(f)}, 0o644); err != nil {
				return 0, err
			}
		}
	}
	return 1 + dirs + dirs*files, nil
}

// bigTree is a tree of 10,100 files and directories, more than
// scanCredit full batches hold, made once for the tests that only read
// it.
var bigTree struct {
	once    sync.Once
	dir     string
	entries int
	err     error
}

// sharedTree returns bigTree's root and number of entries.
func sharedTree(t *testing.T) (string, int) {
	t.Helper()
	bigTree.once.Do(func() {
		bigTree.dir, bigTree.err = os.MkdirTemp("", "fcp-remote-test-")
		if bigTree.err == nil {
			bigTree.entries, bigTree.err = makeTree(bigTree.dir, 100, 100)
		}
	})
	if bigTree.err != nil {
		t.Fatal(bigTree.err)
	}
	return bigTree.dir, bigTree.entries
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bigTree.dir != "" {
		os.RemoveAll(bigTree.dir)
	}
	os.Exit(code)
}

// readBurst reads the first file of 32 directories of a makeTree tree
// at once.
func readBurst(ctx context.Context, ep endpoint.Endpoint) error {
	g, ctx := errgroup.WithContext(ctx)
	for i := range 32 {
		g.Go(func() error {
			rel := fmt.Sprintf("d%03d/f%03d", i, i)
			c, err := ep.Read(ctx, rel, 0, 10)
			if err != nil {
				return err
			}
			if len(c.Data) != 1 || c.Data[0] != byte(i) {
				return fmt.Errorf("read %s = %q", rel, c.Data)
			}
			return nil
		})
	}
	return g.Wait()
}

func TestScanSlowConsumerWithConcurrentReads(t *testing.T) {
	dir, want := sharedTree(t)
	_, ep := openRemote(t, dir)
	ctx := t.Context()

	// The consumer is slow and, every 1000 entries, waits for a burst of
	// reads on the same connection, which the scan must not hold up.
	n := 0
	var last string
	err := ep.Scan(ctx, ".", endpoint.ScanOptions{}, func(e *wire.Entry) error {
		if n > 0 && wire.ComparePaths(last, e.Path) >= 0 {
			return fmt.Errorf("%q after %q", e.Path, last)
		}
		last = e.Path
		if n++; n%1000 == 1 {
			if err := readBurst(ctx, ep); err != nil {
				return fmt.Errorf("reads during the scan: %w", err)
			}
		}
		if n%100 == 0 {
			time.Sleep(time.Millisecond) // a slow consumer
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Errorf("scan reported %d entries, want %d", n, want)
	}
}

func TestScanCreditStallsAgentNotConnection(t *testing.T) {
	dir, want := sharedTree(t)
	s, ep := openRemote(t, dir)
	c := s.client
	ctx, cancel := context.WithTimeout(t.Context(), hang)
	defer cancel()

	id := c.newID()
	cl, err := c.request(id, &wire.ScanReq{Root: ep.(*proxy).root, Path: ".", Credit: scanCredit}, wire.KindScanBatch, scanCredit+1)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	next := func() (done bool) {
		t.Helper()
		m, err := c.wait(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case *wire.ScanBatch:
			n += len(m.Entries)
			return false
		case *wire.Result:
			if err := resultError(m); err != nil {
				t.Fatal(err)
			}
			return true
		}
		t.Fatalf("got %v", m.Kind())
		return true
	}
	for i := range scanCredit {
		if next() {
			t.Fatalf("scan ended after %d batches", i)
		}
	}
	// The agent has used its credit and waits; the connection must not.
	if err := readBurst(ctx, ep); err != nil {
		t.Fatalf("reads while the scan waits for credit: %v", err)
	}
	for done := false; !done; {
		if err := c.send(id, &wire.ScanMore{N: 1}); err != nil {
			t.Fatal(err)
		}
		done = next()
	}
	if n != want {
		t.Errorf("scan reported %d entries, want %d", n, want)
	}
}

func TestScanCanceled(t *testing.T) {
	errStop := errors.New("stop")
	tests := []struct {
		name    string
		stopAt  int
		cancel  bool // cancel the context instead of failing fn
		wantErr error
	}{
		{name: "fn fails at once", stopAt: 1, wantErr: errStop},
		{name: "fn fails mid-scan", stopAt: 3000, wantErr: errStop},
		{name: "context canceled", stopAt: 2000, cancel: true, wantErr: context.Canceled},
	}
	dir, total := sharedTree(t)
	s, ep := openRemote(t, dir)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			n := 0
			err := ep.Scan(ctx, ".", endpoint.ScanOptions{}, func(*wire.Entry) error {
				if n++; n == tt.stopAt {
					if tt.cancel {
						cancel()
						return nil
					}
					return errStop
				}
				return nil
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Scan = %v, want %v", err, tt.wantErr)
			}
			if !tt.cancel {
				// Scan drained the canceled scan up to its Result.
				s.client.mu.Lock()
				pending := len(s.client.pending)
				s.client.mu.Unlock()
				if pending != 0 {
					t.Errorf("%d calls pending after Scan returned", pending)
				}
			}
			// The session is still good for a complete scan.
			n = 0
			if err := ep.Scan(t.Context(), ".", endpoint.ScanOptions{}, func(*wire.Entry) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			if n != total {
				t.Errorf("second scan reported %d entries, want %d", n, total)
			}
		})
	}
}

func TestApplySplitsLargeBatches(t *testing.T) {
	dir := t.TempDir()
	_, ep := openRemote(t, dir)
	ops := make([]wire.Op, wire.MaxBatch+100)
	for i := range ops {
		ops[i] = wire.Op{Kind: wire.OpMkdir, Path: fmt.Sprintf("d%05d", i), Mode: 0o755}
	}
	ops[7].Path = "../escape"
	errs, err := ep.Apply(t.Context(), ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != len(ops) {
		t.Fatalf("Apply returned %d results for %d ops", len(errs), len(ops))
	}
	for i, err := range errs {
		if i == 7 {
			if !errors.Is(err, endpoint.ErrInvalidPath) {
				t.Errorf("op 7 (../escape) = %v, want endpoint.ErrInvalidPath", err)
			}
		} else if err != nil {
			t.Errorf("op %d: %v", i, err)
		}
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(ops)-1 {
		t.Errorf("root holds %d entries, want %d", len(names), len(ops)-1)
	}
}

func TestUnknownRoot(t *testing.T) {
	s := startSession(t, local.NewHost())
	ep := &proxy{c: s.client, root: 4242}
	ctx := t.Context()
	if _, err := ep.Read(ctx, "f", 0, 1); !errors.Is(err, endpoint.ErrInvalidPath) {
		t.Errorf("Read = %v, want endpoint.ErrInvalidPath", err)
	}
	if err := writeFile(ctx, ep, "f", []byte("x"), 0o644, 0); !errors.Is(err, endpoint.ErrInvalidPath) {
		t.Errorf("Create+Commit = %v, want endpoint.ErrInvalidPath", err)
	}
	if err := ep.Scan(ctx, ".", endpoint.ScanOptions{}, func(*wire.Entry) error { return nil }); !errors.Is(err, endpoint.ErrInvalidPath) {
		t.Errorf("Scan = %v, want endpoint.ErrInvalidPath", err)
	}
	if _, err := ep.Apply(ctx, []wire.Op{{Kind: wire.OpMkdir, Path: "d"}}); !errors.Is(err, endpoint.ErrInvalidPath) {
		t.Errorf("Apply = %v, want endpoint.ErrInvalidPath", err)
	}
	if _, err := s.client.Stat(ctx, "/"); err != nil {
		t.Errorf("Stat after the failures: %v", err)
	}
}

// gatedHost is a local Host whose commits wait for gate to close, after
// signalling entered.
type gatedHost struct {
	endpoint.Host
	entered chan struct{} // receives once per commit that starts waiting
	gate    chan struct{}
}

func (h *gatedHost) Open(ctx context.Context, dir string, create bool) (endpoint.Endpoint, error) {
	ep, err := h.Host.Open(ctx, dir, create)
	if err != nil {
		return nil, err
	}
	return &gatedEndpoint{Endpoint: ep, h: h}, nil
}

type gatedEndpoint struct {
	endpoint.Endpoint
	h *gatedHost
}

func (e *gatedEndpoint) Create(ctx context.Context, rel string, size int64) (endpoint.FileWriter, error) {
	w, err := e.Endpoint.Create(ctx, rel, size)
	if err != nil {
		return nil, err
	}
	return &gatedWriter{FileWriter: w, h: e.h}, nil
}

type gatedWriter struct {
	endpoint.FileWriter
	h *gatedHost
}

func (w *gatedWriter) Commit(ctx context.Context, size int64, mode uint32, mtime int64, attrs wire.Attrs) error {
	w.h.entered <- struct{}{}
	<-w.h.gate
	return w.FileWriter.Commit(ctx, size, mode, mtime, attrs)
}

func TestConnectionLost(t *testing.T) {
	tree, _ := sharedTree(t)
	host := &gatedHost{Host: local.NewHost(), entered: make(chan struct{}, 100), gate: make(chan struct{})}
	s := startSession(t, host)
	defer close(host.gate) // lets the agent's read loop go on, before the cleanup waits for Serve
	ctx := t.Context()
	src, err := s.client.Open(ctx, tree, false)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := s.client.Open(ctx, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	scanning := make(chan struct{})
	killed := make(chan struct{})
	var scanErr error
	wg.Go(func() {
		n := 0
		scanErr = src.Scan(ctx, ".", endpoint.ScanOptions{}, func(*wire.Entry) error {
			if n++; n == 1 {
				close(scanning)
				<-killed
			}
			return nil
		})
	})
	<-scanning
	const commits = 5
	commitErrs := make([]error, commits)
	for i := range commits {
		wg.Go(func() {
			commitErrs[i] = writeFile(ctx, dst, fmt.Sprintf("new%d", i), []byte("data"), 0o644, 0)
		})
	}
	<-host.entered // the agent is inside the first commit; the others wait behind it

	s.serverConn.Close()
	close(killed)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(hang):
		t.Fatal("calls did not return after the connection was lost")
	}
	if !errors.Is(scanErr, endpoint.ErrClosed) {
		t.Errorf("Scan = %v, want endpoint.ErrClosed", scanErr)
	}
	for i, err := range commitErrs {
		if !errors.Is(err, endpoint.ErrClosed) {
			t.Errorf("commit %d = %v, want endpoint.ErrClosed", i, err)
		}
	}
	if _, err := src.Read(ctx, "d000/f000", 0, 1); !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("Read after the loss = %v, want endpoint.ErrClosed", err)
	}
	if err := dst.Close(); err != nil {
		t.Errorf("Endpoint.Close after the loss = %v, want nil", err)
	}
}

// rawPeer is the far end of a pipe speaking wire frames directly, for
// tests that break the protocol. Frames it receives go to recv until the
// stream ends.
type rawPeer struct {
	conn *wire.Conn
	raw  net.Conn
	recv chan frame
	wg   sync.WaitGroup
}

type frame struct {
	id uint32
	m  wire.Message
}

func newRawPeer(t *testing.T, raw net.Conn) *rawPeer {
	p := &rawPeer{conn: wire.NewConn(raw, raw), raw: raw, recv: make(chan frame, 1024)}
	if _, _, err := p.conn.Handshake(wire.Hello{MinVersion: wire.MinVersion, MaxVersion: wire.Version, Software: "raw"}); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	p.wg.Go(func() {
		defer close(p.recv)
		for {
			id, m, err := p.conn.Recv()
			if err != nil {
				return
			}
			p.recv <- frame{id, m}
		}
	})
	t.Cleanup(func() {
		raw.Close()
		p.wg.Wait()
	})
	return p
}

// next returns the next frame from the other side.
func (p *rawPeer) next(t *testing.T) frame {
	t.Helper()
	select {
	case f, ok := <-p.recv:
		if !ok {
			t.Fatal("stream ended")
		}
		return f
	case <-time.After(hang):
		t.Fatal("no frame")
		return frame{}
	}
}

// stuckScanHost is a local Host whose scans wait for their context.
type stuckScanHost struct{ endpoint.Host }

func (h stuckScanHost) Open(ctx context.Context, dir string, create bool) (endpoint.Endpoint, error) {
	ep, err := h.Host.Open(ctx, dir, create)
	if err != nil {
		return nil, err
	}
	return stuckScanEndpoint{ep}, nil
}

type stuckScanEndpoint struct{ endpoint.Endpoint }

func (stuckScanEndpoint) Scan(ctx context.Context, _ string, _ endpoint.ScanOptions, _ func(*wire.Entry) error) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestServeRefusesBrokenPeer(t *testing.T) {
	dir := t.TempDir()
	type send struct {
		id uint32
		m  wire.Message
	}
	tests := []struct {
		name  string
		open  bool // open dir as root 1 first
		sends []send
		raw   []byte // bytes written after sends
	}{
		{name: "answer kind", sends: []send{{1, &wire.StatResp{Abs: "/"}}}},
		{name: "Hello after handshake", sends: []send{{1, &wire.Hello{MinVersion: wire.MinVersion, MaxVersion: wire.Version}}}},
		{name: "request id 0", sends: []send{{0, &wire.StatReq{Path: "/"}}}},
		{name: "Data for unknown file", sends: []send{{5, &wire.Data{Data: []byte("x")}}}},
		{name: "CommitReq for unknown file", sends: []send{{5, &wire.CommitReq{}}}},
		{name: "AbortReq for unknown file", sends: []send{{5, &wire.AbortReq{}}}},
		{name: "CreateReq id in use", open: true, sends: []send{
			{5, &wire.CreateReq{Root: 1, Path: "f"}},
			{5, &wire.CreateReq{Root: 1, Path: "g"}},
		}},
		{name: "credit beyond limit", open: true, sends: []send{
			{5, &wire.ScanReq{Root: 1, Path: ".", Credit: wire.MaxCredit}},
			{5, &wire.ScanMore{N: 1}},
		}},
		{name: "ScanReq id in use", open: true, sends: []send{
			{6, &wire.ScanReq{Root: 1, Path: ".", Credit: 1}},
			{6, &wire.ScanReq{Root: 1, Path: ".", Credit: 1}},
		}},
		{name: "unknown kind", raw: []byte{0, 0, 0, 5, 99, 0, 0, 0, 1}},
		{name: "frame too large", raw: []byte{0xff, 0, 0, 0}},
		{name: "bad body", raw: []byte{0, 0, 0, 7, byte(wire.KindStatReq), 0, 0, 0, 1, 5, 'x'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, sc := net.Pipe()
			served := make(chan error, 1)
			go func() {
				host := stuckScanHost{local.NewHost()}
				served <- Serve(t.Context(), sc, sc, host, ServeOptions{Closer: sc, Logger: testLogger(t)})
			}()
			p := newRawPeer(t, cc)
			if tt.open {
				if err := p.conn.Send(1, &wire.OpenReq{Path: dir}); err != nil {
					t.Fatal(err)
				}
				if f := p.next(t); f.m.Kind() != wire.KindOpenResp {
					t.Fatalf("OpenReq answered by %v", f.m.Kind())
				}
			}
			for _, s := range tt.sends {
				if err := p.conn.Send(s.id, s.m); err != nil {
					t.Fatalf("send %v: %v", s.m.Kind(), err)
				}
			}
			if tt.raw != nil {
				if _, err := cc.Write(tt.raw); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case err := <-served:
				if !errors.Is(err, wire.ErrProtocol) {
					t.Errorf("Serve = %v, want wire.ErrProtocol", err)
				}
			case <-time.After(hang):
				t.Fatal("Serve did not return")
			}
		})
	}
}

func TestClientRefusesBrokenAgent(t *testing.T) {
	tests := []struct {
		name     string
		compress bool // dial with DialOptions.Compress
		// call makes one request of c; answer answers it as a broken
		// agent would.
		call   func(ctx context.Context, c *Client) error
		answer func(t *testing.T, p *rawPeer)
	}{
		{
			name: "wrong answer kind",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Stat(ctx, "/")
				return err
			},
			answer: func(t *testing.T, p *rawPeer) {
				f := p.next(t)
				p.conn.Send(f.id, &wire.ReadResp{})
			},
		},
		{
			name: "success Result for Stat",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Stat(ctx, "/")
				return err
			},
			answer: func(t *testing.T, p *rawPeer) {
				f := p.next(t)
				p.conn.Send(f.id, &wire.Result{})
			},
		},
		{
			name: "answer to no request",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Stat(ctx, "/")
				return err
			},
			answer: func(t *testing.T, p *rawPeer) {
				f := p.next(t)
				p.conn.Send(f.id+1000, &wire.StatResp{Abs: "/"})
			},
		},
		{
			name: "frame too large",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Stat(ctx, "/")
				return err
			},
			answer: func(t *testing.T, p *rawPeer) {
				p.next(t)
				p.raw.Write([]byte{0xff, 0, 0, 0})
			},
		},
		{
			name: "undecodable frame",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Stat(ctx, "/")
				return err
			},
			answer: func(t *testing.T, p *rawPeer) {
				f := p.next(t)
				p.raw.Write([]byte{0, 0, 0, 6, byte(wire.KindStatResp), 0, 0, 0, byte(f.id), 9})
			},
		},
		{
			name: "read longer than asked",
			call: func(ctx context.Context, c *Client) error {
				_, err := (&proxy{c: c, root: 1}).Read(ctx, "f", 0, 4)
				return err
			},
			answer: func(t *testing.T, p *rawPeer) {
				f := p.next(t)
				p.conn.Send(f.id, &wire.ReadResp{Data: []byte("too long")})
			},
		},
		{
			name: "compressed read not asked for",
			call: func(ctx context.Context, c *Client) error {
				_, err := (&proxy{c: c, root: 1}).Read(ctx, "f", 0, 1000)
				return err
			},
			answer: func(t *testing.T, p *rawPeer) {
				f := p.next(t)
				p.conn.Send(f.id, &wire.ReadResp{Data: zstdFrame(t, 10), Compressed: true, RawLen: 10})
			},
		},
		{
			name:     "compressed read longer than asked",
			compress: true,
			call: func(ctx context.Context, c *Client) error {
				_, err := (&proxy{c: c, root: 1}).Read(ctx, "f", 0, 4)
				return err
			},
			answer: func(t *testing.T, p *rawPeer) {
				f := p.next(t)
				p.conn.Send(f.id, &wire.ReadResp{Data: zstdFrame(t, 10), Compressed: true, RawLen: 10})
			},
		},
		{
			name: "apply results miscounted",
			call: func(ctx context.Context, c *Client) error {
				_, err := (&proxy{c: c, root: 1}).Apply(ctx, []wire.Op{{Kind: wire.OpMkdir, Path: "d"}})
				return err
			},
			answer: func(t *testing.T, p *rawPeer) {
				f := p.next(t)
				p.conn.Send(f.id, &wire.ApplyResp{Results: make([]wire.Result, 2)})
			},
		},
		{
			name: "scan out of order",
			call: func(ctx context.Context, c *Client) error {
				return (&proxy{c: c, root: 1}).Scan(ctx, ".", endpoint.ScanOptions{}, func(*wire.Entry) error { return nil })
			},
			answer: func(t *testing.T, p *rawPeer) {
				f := p.next(t)
				p.conn.Send(f.id, &wire.ScanBatch{Entries: []wire.Entry{
					{Path: ".", Type: wire.TypeDir}, {Path: "b", Type: wire.TypeDir}, {Path: "a", Type: wire.TypeDir},
				}})
			},
		},
		{
			name: "scan beyond credit",
			call: func(ctx context.Context, c *Client) error {
				// The consumer holds its first entry until the client
				// fails: it can take at most one batch off the channel.
				return (&proxy{c: c, root: 1}).Scan(ctx, ".", endpoint.ScanOptions{}, func(*wire.Entry) error {
					select {
					case <-c.dead:
						return nil
					case <-time.After(hang):
						return errors.New("client did not fail")
					}
				})
			},
			answer: func(t *testing.T, p *rawPeer) {
				f := p.next(t)
				for i := range scanCredit + 3 {
					if err := p.conn.Send(f.id, &wire.ScanBatch{Entries: []wire.Entry{
						{Path: fmt.Sprintf("e%03d", i), Type: wire.TypeDir},
					}}); err != nil {
						return
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, sc := net.Pipe()
			type dialed struct {
				c   *Client
				err error
			}
			dialc := make(chan dialed, 1)
			go func() {
				c, err := Dial(t.Context(), cc, cc, DialOptions{Closer: cc, Logger: testLogger(t), Compress: tt.compress})
				dialc <- dialed{c, err}
			}()
			p := newRawPeer(t, sc)
			d := <-dialc
			if d.err != nil {
				t.Fatal(d.err)
			}
			c := d.c
			defer c.Close()

			called := make(chan error, 1)
			go func() { called <- tt.call(t.Context(), c) }()
			tt.answer(t, p)
			var err error
			select {
			case err = <-called:
			case <-time.After(hang):
				t.Fatal("call did not return")
			}
			if !errors.Is(err, endpoint.ErrClosed) || !errors.Is(err, wire.ErrProtocol) {
				t.Errorf("call = %v, want endpoint.ErrClosed and wire.ErrProtocol", err)
			}
			if _, err := c.Stat(t.Context(), "/"); !errors.Is(err, endpoint.ErrClosed) {
				t.Errorf("later Stat = %v, want endpoint.ErrClosed", err)
			}
		})
	}
}

func TestDialFailures(t *testing.T) {
	tests := []struct {
		name  string
		agent func(t *testing.T, raw net.Conn)
		want  error
	}{
		{
			name: "shell noise",
			agent: func(t *testing.T, raw net.Conn) {
				raw.Write([]byte("Welcome to the machine!\n"))
				io.Copy(io.Discard, raw)
			},
			want: wire.ErrNoise,
		},
		{
			name: "no common version",
			agent: func(t *testing.T, raw net.Conn) {
				conn := wire.NewConn(raw, raw)
				conn.Handshake(wire.Hello{MinVersion: 7, MaxVersion: 9})
				io.Copy(io.Discard, raw)
			},
			want: wire.ErrVersion,
		},
		{
			name:  "agent hangs up",
			agent: func(t *testing.T, raw net.Conn) { raw.Close() },
			want:  io.ErrUnexpectedEOF,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, sc := net.Pipe()
			var agent sync.WaitGroup
			defer agent.Wait()
			defer sc.Close()
			agent.Go(func() { tt.agent(t, sc) })
			_, err := Dial(t.Context(), cc, cc, DialOptions{Closer: cc})
			if !errors.Is(err, tt.want) {
				t.Errorf("Dial = %v, want %v", err, tt.want)
			}
		})
	}
}

// trickleHost is a local Host whose scans report the root and then wait
// for more to be released before reporting the rest.
type trickleHost struct {
	endpoint.Host
	release chan struct{}
}

func (h trickleHost) Open(ctx context.Context, dir string, create bool) (endpoint.Endpoint, error) {
	ep, err := h.Host.Open(ctx, dir, create)
	if err != nil {
		return nil, err
	}
	return trickleEndpoint{ep, h.release}, nil
}

type trickleEndpoint struct {
	endpoint.Endpoint
	release chan struct{}
}

func (e trickleEndpoint) Scan(ctx context.Context, rel string, opts endpoint.ScanOptions, fn func(*wire.Entry) error) error {
	n := 0
	return e.Endpoint.Scan(ctx, rel, opts, func(ent *wire.Entry) error {
		if n++; n == 2 {
			select {
			case <-e.release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return fn(ent)
	})
}

func TestScanSendsPartialBatchOfSlowScan(t *testing.T) {
	dir := t.TempDir()
	if _, err := makeTree(dir, 1, 10); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	s := startSession(t, trickleHost{local.NewHost(), release})
	ep, err := s.client.Open(t.Context(), dir, false)
	if err != nil {
		t.Fatal(err)
	}
	// The agent's scan holds its second entry until the consumer has
	// seen the first: only a partial batch sent on time lets it go on.
	ctx, cancel := context.WithTimeout(t.Context(), hang)
	defer cancel()
	n := 0
	err = ep.Scan(ctx, ".", endpoint.ScanOptions{}, func(e *wire.Entry) error {
		if n++; n == 1 {
			close(release)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 12 {
		t.Errorf("scan reported %d entries, want 12", n)
	}
}

// nopWriterHost is a local Host whose files are written nowhere.
type nopWriterHost struct{ endpoint.Host }

func (h nopWriterHost) Open(ctx context.Context, dir string, create bool) (endpoint.Endpoint, error) {
	ep, err := h.Host.Open(ctx, dir, create)
	if err != nil {
		return nil, err
	}
	return nopWriterEndpoint{ep}, nil
}

type nopWriterEndpoint struct{ endpoint.Endpoint }

func (nopWriterEndpoint) Create(context.Context, string, int64) (endpoint.FileWriter, error) {
	return nopWriter{}, nil
}

type nopWriter struct{}

func (nopWriter) Write(context.Context, int64, []byte, wire.Sum) error           { return nil }
func (nopWriter) Commit(context.Context, int64, uint32, int64, wire.Attrs) error { return nil }
func (nopWriter) Hole(context.Context, int64, int64) error                       { return nil }
func (nopWriter) Abort() error                                                   { return nil }
func (nopWriter) Suspend() error                                                 { return nil }
func (nopWriter) Copy(context.Context, int64, int64, int, wire.Sum) error {
	return nil
}

func TestOpenFilesBounded(t *testing.T) {
	s := startSession(t, nopWriterHost{local.NewHost()})
	ctx := t.Context()
	ep, err := s.client.Open(ctx, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	// A file reaches the agent with its first frame that must leave: a
	// write of part of it.
	create := func(name string) endpoint.FileWriter {
		t.Helper()
		w, err := ep.Create(ctx, name, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(ctx, 0, []byte{1}, blake3.Sum256([]byte{1})); err != nil {
			t.Fatal(err)
		}
		return w
	}
	writers := make([]endpoint.FileWriter, MaxWriters)
	for i := range writers {
		writers[i] = create(fmt.Sprintf("f%d", i))
	}
	if err := create("one-too-many").Commit(ctx, 1, 0o644, 0, wire.Attrs{}); !errors.Is(err, endpoint.ErrInvalidPath) {
		t.Errorf("commit beyond the limit = %v, want endpoint.ErrInvalidPath", err)
	}
	if err := writers[0].Commit(ctx, 1, 0o644, 0, wire.Attrs{}); err != nil {
		t.Fatal(err)
	}
	writers[1].Abort()
	for _, name := range []string{"again1", "again2"} {
		if err := create(name).Commit(ctx, 1, 0o644, 0, wire.Attrs{}); err != nil {
			t.Errorf("commit after others ended: %v", err)
		}
	}
	for _, w := range writers[2:] {
		if err := w.Commit(ctx, 1, 0o644, 0, wire.Attrs{}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestServeHonoursCredit(t *testing.T) {
	tree, _ := sharedTree(t)
	tests := []struct {
		name   string
		credit uint32
	}{
		{name: "none", credit: 0},
		{name: "one", credit: 1},
		{name: "several", credit: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, sc := net.Pipe()
			served := make(chan error, 1)
			go func() {
				served <- Serve(t.Context(), sc, sc, local.NewHost(), ServeOptions{Closer: sc, Logger: testLogger(t)})
			}()
			p := newRawPeer(t, cc)
			if err := p.conn.Send(1, &wire.OpenReq{Path: tree}); err != nil {
				t.Fatal(err)
			}
			if f := p.next(t); f.m.Kind() != wire.KindOpenResp {
				t.Fatalf("OpenReq answered by %v", f.m.Kind())
			}
			if err := p.conn.Send(2, &wire.ScanReq{Root: 1, Path: ".", Credit: tt.credit}); err != nil {
				t.Fatal(err)
			}
			for range tt.credit {
				if f := p.next(t); f.id != 2 || f.m.Kind() != wire.KindScanBatch {
					t.Fatalf("got %v %d, want a ScanBatch", f.m.Kind(), f.id)
				}
			}
			// Out of credit, the agent must send nothing more for the scan
			// but its Result once canceled.
			if err := p.conn.Send(2, &wire.Cancel{}); err != nil {
				t.Fatal(err)
			}
			f := p.next(t)
			if r, ok := f.m.(*wire.Result); !ok || f.id != 2 || r.Code != wire.CodeCanceled {
				t.Fatalf("after Cancel: %v %d, want a Result %v for 2", f.m.Kind(), f.id, wire.CodeCanceled)
			}
			cc.Close()
			select {
			case err := <-served:
				if err != nil {
					t.Errorf("Serve = %v", err)
				}
			case <-time.After(hang):
				t.Fatal("Serve did not return")
			}
		})
	}
}
