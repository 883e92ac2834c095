package shell

import (
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
	"github.com/zeebo/blake3"
)

// testMtime is a modification time with nanoseconds.
var testMtime = time.Unix(1_600_000_000, 123_456_789)

// shellKind is a shell to test against.
type shellKind struct {
	name string
	// start returns the command of a fresh shell, or skips t.
	start func(t *testing.T) *exec.Cmd
}

// shells are the shells every test runs against: dash with GNU tools,
// and busybox with nothing but its applets on PATH.
var shells = []shellKind{
	{"dash", func(t *testing.T) *exec.Cmd {
		sh, err := exec.LookPath("dash")
		if err != nil {
			t.Skip("no dash on this machine")
		}
		return exec.Command(sh)
	}},
	{"busybox", func(t *testing.T) *exec.Cmd {
		bin := busyboxDir(t)
		cmd := exec.Command(filepath.Join(bin, "sh"))
		cmd.Env = []string{"PATH=" + bin, "HOME=/"}
		return cmd
	}},
}

// busyboxDir returns a directory holding a link to busybox for each of
// its applets, to be the only directory on PATH.
func busyboxDir(t *testing.T) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox on this machine (install busybox-static)")
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Skipf("busybox --list: %v", err)
	}
	dir := t.TempDir()
	for _, applet := range strings.Fields(string(out)) {
		if err := os.Symlink(bb, filepath.Join(dir, applet)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// proc is a running shell; it is its own process group, so that killing
// it kills what it runs too.
type proc struct {
	cmd *exec.Cmd
	io.Reader
	io.WriteCloser
}

// startProc starts the shell of kind.
func startProc(t *testing.T, kind shellKind) *proc {
	t.Helper()
	cmd := kind.start(t)
	cmd.Dir = t.TempDir() // where a command slipping through would act
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, Reader: stdout, WriteCloser: stdin}
	t.Cleanup(p.end)
	return p
}

// kill kills the shell and everything it runs.
func (p *proc) kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// end closes the shell's input and waits for it, killing it if it does
// not exit.
func (p *proc) end() {
	p.WriteCloser.Close()
	done := make(chan struct{})
	go func() {
		p.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.kill()
		<-done
	}
}

// openShell starts a shell of kind and opens an endpoint on dir through it.
func openShell(t *testing.T, kind shellKind, dir string, o Options) (endpoint.Endpoint, *proc) {
	t.Helper()
	p := startProc(t, kind)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ep, err := Open(ctx, p, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	return ep, p
}

// forShells runs f as a subtest for every shell.
func forShells(t *testing.T, f func(t *testing.T, kind shellKind)) {
	for _, kind := range shells {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			f(t, kind)
		})
	}
}

// sum returns the BLAKE3 hash of s.
func sum(s string) wire.Sum {
	return blake3.Sum256([]byte(s))
}

// put writes the file rel through e in one Write and commits it.
func put(e endpoint.Endpoint, rel, content string, mode uint32, mtime time.Time) error {
	ctx := context.Background()
	w, err := e.Create(ctx, rel, int64(len(content)))
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := w.Write(ctx, 0, []byte(content), sum(content)); err != nil {
		return err
	}
	return w.Commit(ctx, int64(len(content)), mode, mtime.UnixNano(), wire.Attrs{})
}

// writeFile makes the file name with content and mode, creating parents.
func writeFile(t *testing.T, name, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil {
		t.Fatal(err)
	}
}

// readFile returns the content of name.
func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkNoLeftovers fails if a name starting with ".fcp-" is anywhere under
// dir.
func checkNoLeftovers(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".fcp-") {
			t.Errorf("left behind: %q", p)
		}
		return nil
	})
}
