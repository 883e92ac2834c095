package shell

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
	"github.com/zeebo/blake3"
)

// TestStrings passes every byte, and strings built to break quoting,
// through script variables and reads them back.
func TestStrings(t *testing.T) {
	var all []string
	for c := 1; c < 256; c++ {
		all = append(all, "<"+string([]byte{byte(c)})+">")
	}
	var every []byte
	for c := 1; c < 256; c++ {
		every = append(every, byte(c))
	}
	all = append(all, string(every), "trailing\n\n", "\n", "'", `'\''`, `\`, `\\0101`, "%b%s%%", "$(id)`id`${x}", "-n", "-e")
	all = append(all, nastyNames...)
	// A string of every separator byte, so one printf cannot hold all.
	all = append(all, string(separators))

	forShells(t, func(t *testing.T, kind shellKind) {
		ep, p := openShell(t, kind, t.TempDir(), Options{})
		e := ep.(*shellEndpoint)
		var sc script
		sc.line("fcp_m $Q STREAM")
		for _, s := range all {
			sc.f("printf '%%s\\0' \"$%s\"\n", sc.str(s))
		}
		sc.line(`printf '\n'`)
		sc.line("fcp_m $Q END 0")
		var got []string
		req := &request{script: &sc, onEvent: func(ev *event) (*payload, error) {
			for range all {
				b, err := ev.r.ReadBytes(0)
				if err != nil {
					return nil, err
				}
				got = append(got, string(b[:len(b)-1]))
			}
			return nil, nil
		}}
		if _, err := e.s.do(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		for i := range all {
			if got[i] != all[i] {
				t.Errorf("%q came back as %q", all[i], got[i])
			}
		}
		checkNoPwned(t, p.cmd.Dir)
	})
}

func TestUnsupported(t *testing.T) {
	ep, _ := openShell(t, shells[0], t.TempDir(), Options{})
	ctx := context.Background()
	if _, err := ep.Read(ctx, "f", 0, 10); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Read: %v", err)
	}
	if _, err := ep.Delta(ctx, "f", 0, 10, 1024, 0, nil); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Delta: %v", err)
	}
	if _, err := ep.Sums(ctx, "f", wire.BasisAny, 1024, 0, 10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Sums: %v", err)
	}
	if _, err := ep.CreateFrom(ctx, "f", 10, wire.BasisFile, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CreateFrom: %v", err)
	}
	if _, err := ep.CreateShared(ctx, "f", 10, "abcd", false); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("CreateShared: %v", err)
	}
}

func TestOpen(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		base := t.TempDir()
		writeFile(t, filepath.Join(base, "file"), "x", 0o644)
		for _, tc := range []struct {
			root string
			want error
		}{
			{filepath.Join(base, "new"), nil},
			{filepath.Join(base, "new", "twice"), nil},
			{filepath.Join(base, "missing", "deeper"), fs.ErrNotExist},
			{filepath.Join(base, "file"), syscall.ENOTDIR},
			{"relative", endpoint.ErrInvalidPath},
		} {
			p := startProc(t, kind)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			ep, err := Open(ctx, p, tc.root, Options{})
			cancel()
			if !errors.Is(err, tc.want) && (err != nil || tc.want != nil) {
				t.Errorf("Open %q: %v, want %v", tc.root, err, tc.want)
			}
			if err == nil {
				ep.Close()
			}
			if tc.want == nil {
				if fi, err := os.Stat(tc.root); err != nil || !fi.IsDir() {
					t.Errorf("%q: %v", tc.root, err)
				}
			}
		}
	})
}

// TestOpenNoise checks that output before the first command (a banner, a
// line like a marker) does not confuse Open.
func TestOpenNoise(t *testing.T) {
	sh, err := exec.LookPath("dash")
	if err != nil {
		t.Skip("no dash")
	}
	kind := shellKind{"noisy", func(t *testing.T) *exec.Cmd {
		return exec.Command(sh, "-c", `echo 'Welcome!'; echo 'FCPSH 0123456789abcdef 1 END 0'; printf 'no newline'; exec "$0"`, sh)
	}}
	dir := t.TempDir()
	ep, _ := openShell(t, kind, dir, Options{})
	if err := put(ep, "f", "x", 0o644, testMtime); err != nil {
		t.Fatal(err)
	}
}

// TestOpenNotAShell checks that Open of something that is not a shell
// ends with its context.
func TestOpenNotAShell(t *testing.T) {
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Skip("no cat")
	}
	p := startProc(t, shellKind{"cat", func(t *testing.T) *exec.Cmd { return exec.Command(cat) }})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := Open(ctx, p, t.TempDir(), Options{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Open: %v", err)
	}
}

// killWriter kills the shell once after bytes have been written through
// it.
type killWriter struct {
	*proc
	after   int64
	written atomic.Int64
}

func (k *killWriter) Write(b []byte) (int, error) {
	if k.written.Add(int64(len(b))) > k.after {
		k.proc.kill()
		return 0, errors.New("killed")
	}
	return k.proc.Write(b)
}

// TestShellDies kills the shell while a file is sent: the commit fails
// with ErrClosed and leaves nothing at its path, and so does every later
// call.
func TestShellDies(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		dir := t.TempDir()
		p := startProc(t, kind)
		kw := &killWriter{proc: p, after: 1 << 62}
		ctx := context.Background()
		ep, err := Open(ctx, struct {
			io.Reader
			io.Writer
		}{p, kw}, dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer ep.Close()
		data := make([]byte, 8<<20)
		w, err := ep.Create(ctx, "big", int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(data); off += 1 << 20 {
			b := data[off : off+1<<20]
			if err := w.Write(ctx, int64(off), b, blake3.Sum256(b)); err != nil {
				t.Fatal(err)
			}
		}
		kw.after = kw.written.Load() + 4<<20 // half way through the file
		if err := w.Commit(ctx, int64(len(data)), 0o644, 0, wire.Attrs{}); !errors.Is(err, endpoint.ErrClosed) {
			t.Errorf("Commit: %v", err)
		}
		checkGone(t, filepath.Join(dir, "big"))
		if _, err := ep.Apply(ctx, []wire.Op{mkdirOp("d", 0o755)}); !errors.Is(err, endpoint.ErrClosed) {
			t.Errorf("Apply after: %v", err)
		}
		if err := put(ep, "small", "x", 0o644, testMtime); !errors.Is(err, endpoint.ErrClosed) {
			t.Errorf("Commit after: %v", err)
		}
		if _, err := scanAll(ep, ".", endpoint.ScanOptions{}); !errors.Is(err, endpoint.ErrClosed) {
			t.Errorf("Scan after: %v", err)
		}
		closed := make(chan error)
		go func() { closed <- ep.Close() }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Fatal("Close hangs")
		}
	})
}

// TestShellExits checks that a shell that exits while idle fails the next
// call with ErrClosed.
func TestShellExits(t *testing.T) {
	ep, p := openShell(t, shells[0], t.TempDir(), Options{})
	p.kill()
	p.cmd.Wait()
	if _, err := ep.Apply(context.Background(), []wire.Op{mkdirOp("d", 0o755)}); !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("Apply: %v", err)
	}
}

func TestClosed(t *testing.T) {
	ep, _ := openShell(t, shells[0], t.TempDir(), Options{})
	if err := ep.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := ep.Apply(ctx, []wire.Op{mkdirOp("d", 0o755)}); !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("Apply: %v", err)
	}
	if _, err := ep.Create(ctx, "f", 1); !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("Create: %v", err)
	}
	if _, err := scanAll(ep, ".", endpoint.ScanOptions{}); !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("Scan: %v", err)
	}
	if err := ep.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCancelStuck checks that calls end with their context when the
// shell does not answer.
func TestCancelStuck(t *testing.T) {
	ep, p := openShell(t, shells[0], t.TempDir(), Options{})
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGSTOP)
	defer syscall.Kill(-p.cmd.Process.Pid, syscall.SIGCONT)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := ep.Apply(ctx, []wire.Op{mkdirOp("d", 0o755)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Apply: %v", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	if err := putCtx(ctx2, ep, "f", "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Commit: %v", err)
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGCONT)
}

// putCtx is put with a context.
func putCtx(ctx context.Context, e endpoint.Endpoint, rel, content string) error {
	w, err := e.Create(ctx, rel, int64(len(content)))
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := w.Write(ctx, 0, []byte(content), sum(content)); err != nil {
		return err
	}
	return w.Commit(ctx, int64(len(content)), 0o644, 0, wire.Attrs{})
}

// TestPayloadDrained sends a payload that tar gives up on at once, the
// rest of it commands: the shell must read it all as data, and stay in
// step.
func TestPayloadDrained(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		dir := t.TempDir()
		ep, p := openShell(t, kind, dir, Options{})
		e := ep.(*shellEndpoint)
		data := append(bytes.Repeat([]byte{'x'}, 512), bytes.Repeat([]byte("touch pwned\n"), 20000)...)
		var sc script
		sc.line("fcp_m $Q READY 0")
		sc.line(`read -r _z; fcp_x "$_z" >/dev/null 2>&1; fcp_m $Q END $?`)
		req := &request{script: &sc, onEvent: func(ev *event) (*payload, error) {
			return &payload{size: int64(len(data)), write: func(w io.Writer) error {
				_, err := w.Write(data)
				return err
			}}, nil
		}}
		ev, err := e.s.do(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if ev.arg(0) == 0 {
			t.Error("tar took garbage")
		}
		errs, err := ep.Apply(context.Background(), []wire.Op{mkdirOp("after", 0o755)})
		if err != nil || errs[0] != nil {
			t.Fatal(err, errs)
		}
		checkNoPwned(t, dir, p.cmd.Dir)
	})
}
