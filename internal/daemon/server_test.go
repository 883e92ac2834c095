package daemon

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zeebo/blake3"
	"golang.org/x/crypto/ssh"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/endpoint/remote"
	"github.com/fcp-dev/fcp/internal/sshtest"
	"github.com/fcp-dev/fcp/internal/transport"
	"github.com/fcp-dev/fcp/internal/wire"
)

// lab is a running Server with three roots: data (read-write, for keys in
// the global authorized_keys: keyA), pub (read-only, same keys) and
// private (its own file: keyB only).
type lab struct {
	addr           string
	hostKey        ssh.PublicKey
	keyA, keyB     ssh.Signer
	data, pub, prv string // the roots' directories
	outside        string // a directory outside every root
	cancel         context.CancelFunc
	done           chan error
	logs           *syncBuffer
}

func newSigner(t *testing.T) ssh.Signer { return sshtest.NewSigner(t) }

func startLab(t *testing.T, adjust func(*Config)) *lab {
	t.Helper()
	dir := t.TempDir()
	l := &lab{
		keyA: newSigner(t), keyB: newSigner(t),
		data: filepath.Join(dir, "data"), pub: filepath.Join(dir, "pub"), prv: filepath.Join(dir, "private"),
		outside: filepath.Join(dir, "outside"),
		logs:    &syncBuffer{},
	}
	for _, d := range []string{l.data, l.pub, l.prv, l.outside} {
		must(t, os.Mkdir(d, 0o755))
	}
	must(t, os.WriteFile(filepath.Join(l.outside, "secret"), []byte("secret"), 0o644))
	must(t, os.WriteFile(filepath.Join(l.pub, "readme"), []byte("hello"), 0o644))
	global := filepath.Join(dir, "authorized_keys")
	must(t, os.WriteFile(global, ssh.MarshalAuthorizedKey(l.keyA.PublicKey()), 0o600))
	own := filepath.Join(dir, "private.keys")
	must(t, os.WriteFile(own, ssh.MarshalAuthorizedKey(l.keyB.PublicKey()), 0o600))
	cfg := Config{
		Listen:         "127.0.0.1:0",
		AuthorizedKeys: global,
		Roots: []Root{
			{Name: "data", Path: l.data},
			{Name: "pub", Path: l.pub, ReadOnly: true},
			{Name: "private", Path: l.prv, AuthorizedKeys: own},
		},
	}
	if adjust != nil {
		adjust(&cfg)
	}
	host := newSigner(t)
	l.hostKey = host.PublicKey()
	srv, err := New(cfg, Options{Signers: []ssh.Signer{host}, Software: "fcpd test", Logger: slog.New(slog.NewTextHandler(l.logs, nil))})
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	l.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan error, 1)
	go func() { l.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		l.stop(t)
		srv.Close()
		if t.Failed() {
			t.Logf("fcpd log:\n%s", l.logs.String())
		}
	})
	return l
}

// stop cancels Serve and waits for it.
func (l *lab) stop(t *testing.T) {
	t.Helper()
	l.cancel()
	select {
	case err := <-l.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		l.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

// sshDial connects with auth and verifies the lab's host key.
func (l *lab) sshDial(auth ...ssh.AuthMethod) (*ssh.Client, error) {
	return ssh.Dial("tcp", l.addr, &ssh.ClientConfig{
		User:            "tester",
		Auth:            auth,
		HostKeyCallback: ssh.FixedHostKey(l.hostKey),
		Timeout:         10 * time.Second,
	})
}

// connect opens an agent session to the lab as key, joining sess.
func (l *lab) connect(t *testing.T, key ssh.Signer, sess *Session) (*remote.Client, error) {
	t.Helper()
	tr := transport.SSH{
		Dial: func(ctx context.Context) (*ssh.Client, error) {
			c, err := l.sshDial(ssh.PublicKeys(key))
			if err != nil {
				return nil, err
			}
			if err := sess.Join(c); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
		Subsystem: Subsystem,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := tr.Open(ctx)
	if err != nil {
		return nil, err
	}
	c, err := remote.Dial(ctx, s, s, remote.DialOptions{Software: "test", Closer: s})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func (l *lab) mustConnect(t *testing.T, key ssh.Signer) *remote.Client {
	t.Helper()
	c, err := l.connect(t, key, &Session{})
	must(t, err)
	return c
}

func TestServeWritesInsideRoot(t *testing.T) {
	l := startLab(t, nil)
	c := l.mustConnect(t, l.keyA)
	ctx := context.Background()
	ep, err := c.Open(ctx, "/data/in", true)
	must(t, err)
	writeFile(t, ep, "f", []byte("payload"))
	got, err := os.ReadFile(filepath.Join(l.data, "in", "f"))
	if err != nil || string(got) != "payload" {
		t.Fatalf("file at the root: %q, %v", got, err)
	}
	st, err := c.Stat(ctx, "data/in/./f")
	must(t, err)
	if st.Abs != "/data/in/f" || !st.Exists || st.Type != wire.TypeFile {
		t.Errorf("Stat = %+v, want /data/in/f, a file", st)
	}
	matches, err := c.Glob(ctx, "/data/in/*")
	must(t, err)
	if len(matches) != 1 || matches[0] != "/data/in/f" {
		t.Errorf("Glob = %q", matches)
	}
	st, err = c.Stat(ctx, "/data/missing")
	if err != nil || st.Exists {
		t.Errorf("Stat of a missing path = %+v, %v", st, err)
	}
}

func TestServeRefusesPaths(t *testing.T) {
	l := startLab(t, nil)
	must(t, os.Symlink(l.outside, filepath.Join(l.data, "out")))
	must(t, os.Symlink("../outside", filepath.Join(l.data, "rel-out")))
	must(t, os.Mkdir(filepath.Join(l.data, "sub"), 0o755))
	must(t, os.Symlink("sub", filepath.Join(l.data, "in-link")))
	c := l.mustConnect(t, l.keyA)
	ctx := context.Background()
	tests := []struct {
		name   string
		path   string
		create bool
		want   error
	}{
		{name: "dotdot", path: "/data/../private", want: endpoint.ErrInvalidPath},
		{name: "dotdot inside", path: "/data/sub/../../outside", want: endpoint.ErrInvalidPath},
		{name: "leading dotdot", path: "../data", want: endpoint.ErrInvalidPath},
		{name: "home", path: "~/x", want: endpoint.ErrInvalidPath},
		{name: "no root", path: "/", want: endpoint.ErrInvalidPath},
		{name: "absolute symlink out", path: "/data/out", want: endpoint.ErrInvalidPath},
		{name: "absolute symlink out, create below", path: "/data/out/new", create: true, want: endpoint.ErrInvalidPath},
		{name: "relative symlink out", path: "/data/rel-out", want: endpoint.ErrInvalidPath},
		{name: "root not for this key", path: "/private", want: fs.ErrPermission},
		{name: "unknown root", path: "/etc", want: fs.ErrPermission},
		{name: "read-only root", path: "/pub/new", create: true, want: syscall.EROFS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep, err := c.Open(ctx, tc.path, tc.create)
			if err == nil {
				ep.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("Open(%q, %v) = %v, want an error matching %v", tc.path, tc.create, err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(l.outside, "new")); err == nil {
		t.Error("a directory was made outside the roots")
	}
	if _, err := os.Stat(filepath.Join(l.pub, "new")); err == nil {
		t.Error("a directory was made in the read-only root")
	}
	for _, p := range []string{"/data/out/secret", "/data/rel-out/secret"} {
		if st, err := c.Stat(ctx, p); err == nil {
			t.Errorf("Stat(%q) = %+v, want a refusal", p, st)
		}
	}
	if m, err := c.Glob(ctx, "/data/*/secret"); err != nil || len(m) != 0 {
		t.Errorf("Glob through symlinks that leave the root = %q, %v; want nothing", m, err)
	}
	// Inside an open root, the endpoint refuses paths through the
	// symlinks too, for reads and writes.
	root, err := c.Open(ctx, "/data", false)
	must(t, err)
	defer root.Close()
	if ch, err := root.Read(ctx, "out/secret", 0, 100); err == nil {
		t.Errorf("read through a symlink out of the root: %q", ch.Data)
	}
	if w, err := root.Create(ctx, "out/planted", 1); err == nil {
		err = w.Write(ctx, 0, []byte("x"), blake3.Sum256([]byte("x")))
		if err == nil {
			err = w.Commit(ctx, 1, 0o644, time.Now().UnixNano(), wire.Attrs{})
		}
		if err == nil {
			t.Error("wrote through a symlink out of the root")
		}
	}
	if _, err := os.Stat(filepath.Join(l.outside, "planted")); err == nil {
		t.Error("a file was planted outside the roots")
	}
	// A symlink that stays inside the root is followed.
	ep, err := c.Open(ctx, "/data/in-link", false)
	if err != nil {
		t.Fatalf("Open through a symlink inside the root: %v", err)
	}
	writeFile(t, ep, "f", []byte("x"))
	if _, err := os.Stat(filepath.Join(l.data, "sub", "f")); err != nil {
		t.Error(err)
	}
	// The key that owns private may use it.
	cb := l.mustConnect(t, l.keyB)
	ep, err = cb.Open(ctx, "/private", false)
	if err != nil {
		t.Fatalf("key B on its own root: %v", err)
	}
	ep.Close()
	if _, err := cb.Open(ctx, "/data", false); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("key B on data = %v, want a permission error", err)
	}
}

func TestServeReadOnlyRoot(t *testing.T) {
	l := startLab(t, nil)
	c := l.mustConnect(t, l.keyA)
	ctx := context.Background()
	ep, err := c.Open(ctx, "/pub", true)
	must(t, err)
	defer ep.Close()
	var names []string
	must(t, ep.Scan(ctx, ".", endpoint.ScanOptions{Tidy: true}, func(e *wire.Entry) error {
		names = append(names, e.Path)
		return nil
	}))
	if strings.Join(names, ",") != ".,readme" {
		t.Errorf("scan of the read-only root = %q", names)
	}
	ch, err := ep.Read(ctx, "readme", 0, 100)
	if err != nil || string(ch.Data) != "hello" {
		t.Errorf("read = %q, %v", ch.Data, err)
	}
	if w, err := ep.Create(ctx, "x", 1); err == nil {
		err = w.Write(ctx, 0, []byte("x"), blake3.Sum256([]byte("x")))
		if err == nil {
			err = w.Commit(ctx, 1, 0o644, time.Now().UnixNano(), wire.Attrs{})
		}
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("writing to a read-only root: %v, want EROFS", err)
		}
	} else if !errors.Is(err, syscall.EROFS) {
		t.Errorf("Create in a read-only root: %v", err)
	}
	errs, err := ep.Apply(ctx, []wire.Op{{Kind: wire.OpRemove, Path: "readme"}, {Kind: wire.OpMkdir, Path: "d", Mode: 0o755}})
	must(t, err)
	for i, e := range errs {
		if !errors.Is(e, syscall.EROFS) {
			t.Errorf("op %d on a read-only root: %v, want EROFS", i, e)
		}
	}
	entries, _ := os.ReadDir(l.pub)
	if len(entries) != 1 {
		t.Errorf("the read-only root changed: %v", entries)
	}
}

func TestServeRefusesWithoutKey(t *testing.T) {
	l := startLab(t, func(c *Config) { c.HandshakeTimeout = time.Second })
	stranger := newSigner(t)
	tests := []struct {
		name string
		auth []ssh.AuthMethod
	}{
		{name: "none", auth: nil},
		{name: "password", auth: []ssh.AuthMethod{ssh.Password("secret")}},
		{name: "keyboard", auth: []ssh.AuthMethod{ssh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) { return nil, nil })}},
		{name: "unknown key", auth: []ssh.AuthMethod{ssh.PublicKeys(stranger)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := l.sshDial(tc.auth...)
			if err == nil {
				c.Close()
				t.Fatal("connected without an authorized key")
			}
			if !strings.Contains(err.Error(), "unable to authenticate") {
				t.Errorf("error %v, want an authentication failure", err)
			}
		})
	}
	// A wrong host key is the client's refusal.
	_, err := ssh.Dial("tcp", l.addr, &ssh.ClientConfig{
		User: "x", Auth: []ssh.AuthMethod{ssh.PublicKeys(l.keyA)},
		HostKeyCallback: ssh.FixedHostKey(stranger.PublicKey()),
	})
	if err == nil || !strings.Contains(err.Error(), "host key mismatch") {
		t.Errorf("dial with the wrong host key: %v", err)
	}
	// Garbage instead of SSH is cut at the handshake timeout, and the
	// server goes on.
	nc, err := net.Dial("tcp", l.addr)
	must(t, err)
	nc.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := nc.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Error("the server kept a connection that spoke no SSH")
			}
			break
		}
	}
	nc.Close()
	l.mustConnect(t, l.keyA)
	if !strings.Contains(l.logs.String(), "key refused") {
		t.Error("the log does not show the refused key")
	}
}

func TestServeOffersNothingElse(t *testing.T) {
	l := startLab(t, nil)
	c, err := l.sshDial(ssh.PublicKeys(l.keyA))
	must(t, err)
	defer c.Close()
	for _, run := range []func(*ssh.Session) error{
		func(s *ssh.Session) error { return s.Run("id") },
		func(s *ssh.Session) error { return s.Shell() },
		func(s *ssh.Session) error { return s.RequestSubsystem("sftp") },
	} {
		s, err := c.NewSession()
		must(t, err)
		if err := run(s); err == nil {
			t.Error("fcpd accepted a command, a shell or another subsystem")
		}
		s.Close()
	}
	// A port that is listening, so that only a refusal by fcpd fails the dial.
	target, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer target.Close()
	if fwd, err := c.Dial("tcp", target.Addr().String()); err == nil {
		fwd.Close()
		t.Error("fcpd forwarded a TCP connection")
	}
}

func TestServeLimits(t *testing.T) {
	l := startLab(t, func(c *Config) {
		c.MaxSessions = 1
		c.MaxConnsPerSession = 2
	})
	var first Session
	if _, err := l.connect(t, l.keyA, &first); err != nil {
		t.Fatal(err)
	}
	// The session's second connection joins it.
	if _, err := l.connect(t, l.keyA, &first); err != nil {
		t.Fatalf("joining the session: %v", err)
	}
	// A third is over -c.
	_, err := l.connect(t, l.keyA, &first)
	if err == nil || !strings.Contains(err.Error(), "max_connections_per_session") {
		t.Errorf("third connection of a session: %v, want the -c limit", err)
	}
	// Another run is over max_sessions, with the reason.
	_, err = l.connect(t, l.keyA, &Session{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "max_sessions") {
		t.Errorf("second session: %v, want a refusal naming max_sessions", err)
	}
	// Another key cannot join the session by its id.
	stolen := Session{id: first.id}
	_, err = l.connect(t, l.keyB, &stolen)
	if !errors.Is(err, ErrRefused) {
		t.Errorf("key B joining key A's session: %v, want a refusal", err)
	}
}

func TestServeShutdownKeepsPartialFile(t *testing.T) {
	l := startLab(t, nil)
	c := l.mustConnect(t, l.keyA)
	ctx := context.Background()
	ep, err := c.Open(ctx, "/data", false)
	must(t, err)
	const size = 8 << 20
	w, err := ep.Create(ctx, "big", size)
	must(t, err)
	chunk := bytes.Repeat([]byte("z"), 1<<20)
	for i := range 3 {
		must(t, w.Write(ctx, int64(i)<<20, chunk, blake3.Sum256(chunk)))
	}
	// Wait until the server holds what was written.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var total int64
		entries, _ := os.ReadDir(l.data)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil {
				total += fi.Size()
			}
		}
		if total >= 3<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server never stored the data: %v", entries)
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.stop(t)
	entries, err := os.ReadDir(l.data)
	must(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != ".fcp-big.partial" {
		t.Errorf("after shutdown the root holds %q, want only the partial file .fcp-big.partial", names)
	}
}

func writeFile(t *testing.T, ep endpoint.Endpoint, rel string, data []byte) {
	t.Helper()
	ctx := context.Background()
	w, err := ep.Create(ctx, rel, int64(len(data)))
	must(t, err)
	must(t, w.Write(ctx, 0, data, blake3.Sum256(data)))
	must(t, w.Commit(ctx, int64(len(data)), 0o644, time.Now().UnixNano(), wire.Attrs{}))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServeIdleTimeout(t *testing.T) {
	l := startLab(t, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
	c, err := l.sshDial(ssh.PublicKeys(l.keyA))
	must(t, err)
	defer c.Close()
	closed := make(chan error, 1)
	go func() { closed <- c.Wait() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("an idle connection was kept past idle_timeout")
	}
	// A connection that keeps talking stays.
	c2, err := l.sshDial(ssh.PublicKeys(l.keyA))
	must(t, err)
	defer c2.Close()
	for range 8 {
		time.Sleep(100 * time.Millisecond)
		if _, _, err := c2.SendRequest("keepalive@openssh.com", true, nil); err != nil {
			t.Fatalf("a connection sending keepalives was closed: %v", err)
		}
	}
}

// TestServeWritePolicy checks that a key with write access gains nothing
// of fcpd's user: no owners, no device nodes, no set-id bits.
func TestServeWritePolicy(t *testing.T) {
	l := startLab(t, nil)
	c := l.mustConnect(t, l.keyA)
	ctx := context.Background()
	ep, err := c.Open(ctx, "/data", false)
	must(t, err)
	defer ep.Close()
	if caps := ep.Caps(); caps&(wire.CapOwner|wire.CapDevices) != 0 {
		t.Errorf("fcpd offers capabilities %b", caps)
	}
	data := []byte("#!/bin/sh\n")
	w, err := ep.Create(ctx, "suid", int64(len(data)))
	must(t, err)
	must(t, w.Write(ctx, 0, data, blake3.Sum256(data)))
	must(t, w.Commit(ctx, int64(len(data)), 0o4755, time.Now().UnixNano(),
		wire.Attrs{HasUid: true, Uid: 4321, HasGid: true, Gid: 4321, User: "nobody", Group: "nogroup"}))
	fi, err := os.Stat(filepath.Join(l.data, "suid"))
	must(t, err)
	if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 || fi.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755 without set-id bits", fi.Mode())
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() {
		t.Errorf("owner %d, want fcpd's own %d", st.Uid, os.Geteuid())
	}
	errs, err := ep.Apply(ctx, []wire.Op{
		{Kind: wire.OpMknod, Path: "disk", Type: wire.TypeBlock, Rdev: 8 << 8, Mode: 0o666},
		{Kind: wire.OpMkdir, Path: "d", Mode: 0o2755},
		{Kind: wire.OpSetMeta, Path: "suid", Mode: 0o6755, Mtime: time.Now().UnixNano()},
	})
	must(t, err)
	if !errors.Is(errs[0], fs.ErrPermission) {
		t.Errorf("mknod of a block device: %v, want a permission error", errs[0])
	}
	if errs[1] != nil || errs[2] != nil {
		t.Errorf("mkdir, setmeta: %v, %v", errs[1], errs[2])
	}
	if _, err := os.Lstat(filepath.Join(l.data, "disk")); err == nil {
		t.Error("a device node was made")
	}
	fi, err = os.Stat(filepath.Join(l.data, "suid"))
	must(t, err)
	if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
		t.Errorf("setmeta left mode %v", fi.Mode())
	}
}
