package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fcp-dev/fcp/internal/transport"
	"github.com/fcp-dev/fcp/internal/wire"
)

// TestMain lets the test binary stand in for fcp: run as "agent", it is
// the agent Bootstrap starts (see fakeAgent).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		fakeAgent(os.Args[2:])
	}
	os.Exit(m.Run())
}

// fakeAgent writes wire.Magic and its arguments, quoted on one line, then
// echoes its input, and exits.
func fakeAgent(args []string) {
	os.Stdout.Write(wire.Magic[:])
	fmt.Fprintf(os.Stdout, "%q\n", args)
	io.Copy(os.Stdout, os.Stdin)
	os.Exit(0)
}

// testBinary is the test binary as a Binary, hashed once.
var testBinary = sync.OnceValues(Self)

func self(t *testing.T) *Binary {
	t.Helper()
	b, err := testBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lockedBuffer collects a shell's standard error.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// shell is a POSIX shell to bootstrap through.
type shell struct {
	name string
	argv []string
	path string // PATH the shell runs with
	skip string // why the shell cannot be tested here, if it cannot
}

// shells returns dash, bash and busybox sh; busybox sh runs with a PATH
// holding busybox's applets alone, so that every tool is busybox's.
func shells(t *testing.T) []shell {
	var out []shell
	for _, name := range []string{"dash", "bash"} {
		sh := shell{name: name, path: os.Getenv("PATH")}
		if p, err := exec.LookPath(name); err != nil {
			sh.skip = err.Error()
		} else {
			sh.argv = []string{p}
		}
		out = append(out, sh)
	}
	out = append(out, busybox(t))
	return out
}

const busyboxPath = "/bin/busybox"

// busybox returns busybox sh, with a PATH of busybox applets other than
// those named in without.
func busybox(t *testing.T, without ...string) shell {
	sh := shell{name: "busybox", argv: []string{busyboxPath, "sh"}}
	if _, err := os.Stat(busyboxPath); err != nil {
		sh.skip = "busybox is not installed: " + err.Error()
		return sh
	}
	dir := t.TempDir()
	for _, applet := range []string{"sh", "head", "cat", "sha256sum", "mkdir", "mv", "chmod", "rm", "uname", "id", "printf", "test", "["} {
		if !slices.Contains(without, applet) {
			if err := os.Symlink(busyboxPath, filepath.Join(dir, applet)); err != nil {
				t.Fatal(err)
			}
		}
	}
	sh.path = dir
	return sh
}

// dash returns the dash shell, or skips the test.
func dash(t *testing.T) shell {
	t.Helper()
	p, err := exec.LookPath("dash")
	if err != nil {
		t.Skip(err)
	}
	return shell{name: "dash", argv: []string{p}, path: os.Getenv("PATH")}
}

// remote is a shell process bootstrapped in a test.
type remote struct {
	p      *transport.Process
	stderr *lockedBuffer
}

// open starts argv with env; the process is closed when the test ends.
func open(t *testing.T, argv []string, env []string) *remote {
	t.Helper()
	r := &remote{stderr: new(lockedBuffer)}
	p, err := transport.Command{Argv: argv, Env: env, Stderr: r.stderr, Grace: 500 * time.Millisecond}.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r.p = p
	t.Cleanup(func() { p.Close() })
	return r
}

// env returns a remote environment with the given HOME, TMPDIR and PATH.
// GORACE spares the fake agent the race detector's second of sleep at exit.
func env(home, tmp, path string, extra ...string) []string {
	base := []string{"HOME=" + home, "TMPDIR=" + tmp, "PATH=" + path, "GORACE=atexit_sleep_ms=0"}
	return append(base, extra...)
}

// bootstrap runs Bootstrap on r with a time limit.
func bootstrap(t *testing.T, r *remote, opts Options) (*Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := Bootstrap(ctx, r.p, opts)
	if err != nil {
		t.Logf("stderr of the remote shell:\n%s", r.stderr)
	}
	return res, err
}

// checkAgent talks to the fake agent Bootstrap started: Magic, its
// arguments, an echo, and a clean exit.
func checkAgent(t *testing.T, r *remote, res *Result, wantArgs []string) {
	t.Helper()
	var magic [len(wire.Magic)]byte
	if _, err := io.ReadFull(res.Reader, magic[:]); err != nil {
		t.Fatalf("read Magic: %v", err)
	}
	if magic != wire.Magic {
		t.Fatalf("agent wrote %q, want Magic", magic[:])
	}
	line, err := res.Reader.ReadString('\n')
	if err != nil {
		t.Fatalf("read arguments: %v", err)
	}
	if want := fmt.Sprintf("%q\n", wantArgs); line != want {
		t.Errorf("agent arguments %s, want %s", line, want)
	}
	if _, err := io.WriteString(r.p, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if err := r.p.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(res.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if string(rest) != "ping\n" {
		t.Errorf("agent echoed %q, want %q", rest, "ping\n")
	}
	if err := r.p.Close(); err != nil {
		t.Errorf("Close: %v; stderr:\n%s", err, r.stderr)
	}
}

// checkCache checks that path holds bin with mode 700, alone in its
// directory.
func checkCache(t *testing.T, path string, bin *Binary) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o700 {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode(), os.FileMode(0o700))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(data) != bin.Sum {
		t.Errorf("%s differs from %s", path, bin.Path)
	}
	checkDir(t, filepath.Dir(path), filepath.Base(path))
}

// checkDir checks that dir holds exactly the named entries.
func checkDir(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}

// TestBootstrap uploads the agent through each shell, then finds it
// cached.
func TestBootstrap(t *testing.T) {
	t.Parallel()
	bin := self(t)
	args := []string{"agent", "-v", `it's "quoted" $HOME *`}
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			if sh.skip != "" {
				t.Skip(sh.skip)
			}
			home, tmp := t.TempDir(), t.TempDir()
			wantPath := filepath.Join(home, ".cache", "fcp", bin.Name())
			for _, wantUpload := range []bool{true, false} {
				r := open(t, sh.argv, env(home, tmp, sh.path))
				res, err := bootstrap(t, r, Options{Binary: bin, Args: args})
				if err != nil {
					t.Fatal(err)
				}
				if res.Uploaded != wantUpload {
					t.Errorf("Uploaded = %v, want %v", res.Uploaded, wantUpload)
				}
				if res.Path != wantPath {
					t.Errorf("Path = %q, want %q", res.Path, wantPath)
				}
				if res.GOOS != runtime.GOOS || res.GOARCH != runtime.GOARCH {
					t.Errorf("platform %s/%s, want %s/%s", res.GOOS, res.GOARCH, runtime.GOOS, runtime.GOARCH)
				}
				checkAgent(t, r, res, args[1:])
				checkCache(t, wantPath, bin)
			}
			checkDir(t, tmp)
		})
	}
}

// TestBootstrapNoise starts shells whose start-up prints text.
func TestBootstrapNoise(t *testing.T) {
	t.Parallel()
	bin := self(t)
	sh := dash(t)
	tests := []struct {
		name    string
		startup string
		wantLog string
	}{
		{name: "Motd", startup: `echo "Welcome!"; echo "motd line"`, wantLog: "motd line"},
		{name: "NoNewline", startup: `printf "prompt> "`, wantLog: "prompt> "},
		{name: "ControlBytes", startup: `printf '\001\033[0m\377\r\n'`, wantLog: `\x01`},
		{name: "LongLine", startup: `head -c 200000 /dev/zero | tr '\0' x; echo`, wantLog: "xxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
			argv := []string{sh.argv[0], "-c", tt.startup + "; exec " + sh.argv[0]}
			r := open(t, argv, env(t.TempDir(), t.TempDir(), sh.path))
			res, err := bootstrap(t, r, Options{Binary: bin, Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			checkAgent(t, r, res, []string{})
			if !strings.Contains(log.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, log.String())
			}
		})
	}
}

// TestBootstrapShellFails covers shells that never answer.
func TestBootstrapShellFails(t *testing.T) {
	t.Parallel()
	bin := self(t)
	sh := dash(t)
	tests := []struct {
		name     string
		script   string
		maxNoise int
		timeout  time.Duration
		wantIs   error
		wantText string
	}{
		{
			name:     "EndsEarly",
			script:   `echo "sh: 1: fcp-shell: not found"; exit 127`,
			wantIs:   ErrShell,
			wantText: `the stream ended; last output: "sh: 1: fcp-shell: not found"`,
		},
		{
			name:     "TooMuchNoise",
			script:   `yes noise | head -c 100000; exec sh`,
			maxNoise: 1000,
			wantIs:   ErrShell,
			wantText: "more than 1000 bytes of output and no answer",
		},
		{
			name:     "Silent",
			script:   `exec sleep 60`,
			timeout:  300 * time.Millisecond,
			wantIs:   context.DeadlineExceeded,
			wantText: "agent: probe: context deadline exceeded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := open(t, []string{sh.argv[0], "-c", tt.script}, env(t.TempDir(), t.TempDir(), sh.path))
			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			_, err := Bootstrap(ctx, r.p, Options{Binary: bin, MaxNoise: tt.maxNoise})
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("Bootstrap = %v, want %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Bootstrap = %q, want it to contain %q", err, tt.wantText)
			}
		})
	}
}

// TestBootstrapConcurrent bootstraps several clients into one empty cache
// at once.
func TestBootstrapConcurrent(t *testing.T) {
	t.Parallel()
	bin := self(t)
	sh := dash(t)
	home, tmp := t.TempDir(), t.TempDir()
	const clients = 4
	remotes := make([]*remote, clients)
	for i := range remotes {
		remotes[i] = open(t, sh.argv, env(home, tmp, sh.path))
	}
	results := make([]*Result, clients)
	var g errgroup.Group
	for i, r := range remotes {
		g.Go(func() error {
			res, err := Bootstrap(t.Context(), r.p, Options{Binary: bin})
			results[i] = res
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i, r := range remotes {
		checkAgent(t, r, results[i], []string{})
	}
	checkCache(t, filepath.Join(home, ".cache", "fcp", bin.Name()), bin)
}

// TestBootstrapPlatform refuses hosts the binary was not built for.
func TestBootstrapPlatform(t *testing.T) {
	t.Parallel()
	sh := dash(t)
	if runtime.GOOS != "linux" {
		t.Skip("the test expects a Linux host")
	}
	this := self(t)
	other := "arm64"
	if runtime.GOARCH == other {
		other = "amd64"
	}
	machine, err := exec.Command("uname", "-m").Output()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		binary  *Binary
		uname   [2]string // fake `uname -s` and `uname -m`, if set
		wantMsg string
	}{
		{
			name:    "BinaryForOtherArch",
			binary:  &Binary{Path: this.Path, GOOS: "linux", GOARCH: other, Size: this.Size, Sum: this.Sum},
			wantMsg: fmt.Sprintf("remote is Linux %s (linux/%s); this fcp is linux/%s and cannot run there", bytes.TrimSpace(machine), runtime.GOARCH, other),
		},
		{
			name:    "Darwin",
			binary:  this,
			uname:   [2]string{"Darwin", "arm64"},
			wantMsg: fmt.Sprintf("remote is Darwin arm64 (darwin/arm64); this fcp is %s/%s and cannot run there", runtime.GOOS, runtime.GOARCH),
		},
		{
			name:    "Unknown",
			binary:  this,
			uname:   [2]string{"SunOS", "i86pc"},
			wantMsg: fmt.Sprintf("remote is SunOS i86pc (unknown platform); this fcp is %s/%s", runtime.GOOS, runtime.GOARCH),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := sh.path
			if tt.uname[0] != "" {
				shims := t.TempDir()
				writeScript(t, filepath.Join(shims, "uname"), fmt.Sprintf(`case "$1" in -s) echo %s;; -m) echo %s;; esac`, tt.uname[0], tt.uname[1]))
				path = shims + ":" + path
			}
			home := t.TempDir()
			r := open(t, sh.argv, env(home, t.TempDir(), path))
			_, err := bootstrap(t, r, Options{Binary: tt.binary})
			if !errors.Is(err, ErrPlatform) {
				t.Fatalf("Bootstrap = %v, want ErrPlatform", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Bootstrap = %q, want it to contain %q", err, tt.wantMsg)
			}
			r.p.Close()
			if code := r.p.ExitCode(); code != 1 {
				t.Errorf("shell exit code %d, want 1 (told to exit 1)", code)
			}
			checkDir(t, filepath.Join(home, ".cache", "fcp"))
		})
	}
}

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestBootstrapCacheDir checks the choice of the cache directory.
func TestBootstrapCacheDir(t *testing.T) {
	t.Parallel()
	bin := self(t)
	uid := strconv.Itoa(os.Getuid())
	tests := []struct {
		name string
		// setup prepares the remote's home and temporary directory; it
		// returns extra environment and the cache directory wanted, or ""
		// for an ErrInstall.
		setup   func(t *testing.T, home, tmp string) (extra []string, want string)
		dirMode os.FileMode // wanted mode of the cache directory, if set
	}{
		{
			name: "XDG",
			setup: func(t *testing.T, home, tmp string) ([]string, string) {
				xdg := filepath.Join(t.TempDir(), "my cache")
				return []string{"XDG_CACHE_HOME=" + xdg}, filepath.Join(xdg, "fcp")
			},
		},
		{
			name: "HomeUnwritable",
			setup: func(t *testing.T, home, tmp string) ([]string, string) {
				// Even root cannot make a directory under a file.
				file := filepath.Join(home, "file")
				if err := os.WriteFile(file, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return []string{"HOME=" + file}, filepath.Join(tmp, "fcp-"+uid)
			},
			dirMode: 0o700,
		},
		{
			name: "TmpCacheLoose",
			setup: func(t *testing.T, home, tmp string) ([]string, string) {
				dir := filepath.Join(tmp, "fcp-"+uid)
				if err := os.Mkdir(dir, 0o777); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, 0o777); err != nil {
					t.Fatal(err)
				}
				return []string{"HOME=/dev/null"}, dir
			},
			dirMode: 0o700,
		},
		{
			name: "NoCache",
			setup: func(t *testing.T, home, tmp string) ([]string, string) {
				if err := os.WriteFile(filepath.Join(tmp, "fcp-"+uid), nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return []string{"HOME=/dev/null"}, ""
			},
		},
		{
			name: "TmpCacheOfOtherUser",
			setup: func(t *testing.T, home, tmp string) ([]string, string) {
				if os.Getuid() != 0 {
					t.Skip("needs root to give a directory to another user")
				}
				dir := filepath.Join(tmp, "fcp-"+uid)
				if err := os.Mkdir(dir, 0o777); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(dir, 65534, 65534); err != nil {
					t.Fatal(err)
				}
				return []string{"HOME=/dev/null"}, ""
			},
		},
	}
	for _, sh := range shells(t) {
		for _, tt := range tests {
			t.Run(sh.name+"/"+tt.name, func(t *testing.T) {
				if sh.skip != "" {
					t.Skip(sh.skip)
				}
				home, tmp := t.TempDir(), t.TempDir()
				extra, want := tt.setup(t, home, tmp)
				r := open(t, sh.argv, env(home, tmp, sh.path, extra...))
				res, err := bootstrap(t, r, Options{Binary: bin})
				if want == "" {
					if !errors.Is(err, ErrInstall) {
						t.Fatalf("Bootstrap = %v, want ErrInstall", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if wantPath := filepath.Join(want, bin.Name()); res.Path != wantPath {
					t.Errorf("Path = %q, want %q", res.Path, wantPath)
				}
				checkAgent(t, r, res, []string{})
				checkCache(t, res.Path, bin)
				if tt.dirMode != 0 {
					fi, err := os.Stat(want)
					if err != nil {
						t.Fatal(err)
					}
					if fi.Mode().Perm() != tt.dirMode {
						t.Errorf("%s has mode %v, want %v", want, fi.Mode().Perm(), tt.dirMode)
					}
				}
			})
		}
	}
}

// TestBootstrapUploadFails damages the upload on the remote side.
func TestBootstrapUploadFails(t *testing.T) {
	t.Parallel()
	bin := self(t)
	sh := dash(t)
	realHead, err := exec.LookPath("head")
	if err != nil {
		t.Fatal(err)
	}
	realCat, err := exec.LookPath("cat")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		shims    map[string]string // tool name to script
		path     func(t *testing.T) string
		wantIs   error
		wantText string
	}{
		{
			name: "FlippedByte",
			shims: map[string]string{
				"head": realHead + ` "$@" | { dd bs=1 count=1 of=/dev/null 2>/dev/null; printf X; ` + realCat + `; }`,
			},
			wantIs:   ErrCorrupt,
			wantText: "its SHA-256 is ",
		},
		{
			// The first cat fails after 100 bytes; the second, writing to
			// /dev/null, must still drain the rest, or the shell would
			// run the binary's bytes as commands.
			name: "WriteFails",
			shims: map[string]string{
				"cat": `if [ "$(readlink /proc/$$/fd/1)" = /dev/null ]; then exec ` + realCat + `; fi; ` +
					realHead + ` -c 100; echo "cat: write error: No space left on device" >&2; exit 1`,
			},
			wantIs:   ErrCorrupt,
			wantText: `last output: "cat: write error: No space left on device"`,
		},
		{
			name:     "NoHashTool",
			path:     hashlessPath,
			wantIs:   ErrInstall,
			wantText: "none of sha256sum",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := sh.path
			if tt.path != nil {
				path = tt.path(t)
			}
			if tt.shims != nil {
				shims := t.TempDir()
				for name, script := range tt.shims {
					writeScript(t, filepath.Join(shims, name), script)
				}
				path = shims + ":" + path
			}
			home := t.TempDir()
			r := open(t, sh.argv, env(home, t.TempDir(), path))
			_, err := bootstrap(t, r, Options{Binary: bin})
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("Bootstrap = %v, want %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Bootstrap = %q, want it to contain %q", err, tt.wantText)
			}
			r.p.Close()
			if code := r.p.ExitCode(); code != 1 {
				t.Errorf("shell exit code %d, want 1 (told to exit 1); stderr:\n%s", code, r.stderr)
			}
			checkDir(t, filepath.Join(home, ".cache", "fcp"))
		})
	}
}

// hashlessPath returns a PATH with the tools the dialogue needs except
// those computing SHA-256.
func hashlessPath(t *testing.T) string {
	dir := t.TempDir()
	for _, tool := range []string{"mkdir", "id", "uname", "head", "cat", "chmod", "mv", "rm"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBootstrapExecFails finds a cached agent that cannot run.
func TestBootstrapExecFails(t *testing.T) {
	t.Parallel()
	bin := self(t)
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			if sh.skip != "" {
				t.Skip(sh.skip)
			}
			home := t.TempDir()
			cache := filepath.Join(home, ".cache", "fcp")
			if err := os.MkdirAll(cache, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(cache, bin.Name()), []byte("#!/nonexistent/interpreter\n"), 0o700); err != nil {
				t.Fatal(err)
			}
			r := open(t, sh.argv, env(home, t.TempDir(), sh.path))
			_, err := bootstrap(t, r, Options{Binary: bin})
			if !errors.Is(err, ErrExec) {
				t.Fatalf("Bootstrap = %v, want ErrExec", err)
			}
			r.p.Close()
			if !strings.Contains(r.stderr.String(), bin.Name()) {
				t.Errorf("shell's stderr does not name the agent:\n%s", r.stderr)
			}
		})
	}
}

func TestPlatform(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kernel, machine string
		goos, goarch    string
		ok              bool
	}{
		{kernel: "Linux", machine: "x86_64", goos: "linux", goarch: "amd64", ok: true},
		{kernel: "Linux", machine: "aarch64", goos: "linux", goarch: "arm64", ok: true},
		{kernel: "Linux", machine: "armv7l", goos: "linux", goarch: "arm", ok: true},
		{kernel: "Linux", machine: "i686", goos: "linux", goarch: "386", ok: true},
		{kernel: "Linux", machine: "riscv64", goos: "linux", goarch: "riscv64", ok: true},
		{kernel: "Linux", machine: "ppc64le", goos: "linux", goarch: "ppc64le", ok: true},
		{kernel: "Linux", machine: "s390x", goos: "linux", goarch: "s390x", ok: true},
		{kernel: "Darwin", machine: "arm64", goos: "darwin", goarch: "arm64", ok: true},
		{kernel: "Darwin", machine: "x86_64", goos: "darwin", goarch: "amd64", ok: true},
		{kernel: "FreeBSD", machine: "amd64", goos: "freebsd", goarch: "amd64", ok: true},
		{kernel: "FreeBSD", machine: "i386", goos: "freebsd", goarch: "386", ok: true},
		{kernel: "Linux", machine: "mips", goos: "linux"},
		{kernel: "SunOS", machine: "i86pc"},
		{kernel: "", machine: ""},
	}
	for _, tt := range tests {
		t.Run(tt.kernel+"/"+tt.machine, func(t *testing.T) {
			goos, goarch, ok := platform(tt.kernel, tt.machine)
			if goos != tt.goos || goarch != tt.goarch || ok != tt.ok {
				t.Errorf("platform(%q, %q) = %q, %q, %v; want %q, %q, %v",
					tt.kernel, tt.machine, goos, goarch, ok, tt.goos, tt.goarch, tt.ok)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	sh := dash(t)
	for _, s := range []string{"", "agent", "it's", `"$HOME" * ; rm -rf / ` + "`x`", "a\nb", `\'`} {
		out, err := exec.Command(sh.argv[0], "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != s {
			t.Errorf("shell read %q as %q", s, out)
		}
	}
}
