// Package sshtest starts real OpenSSH servers for tests: each Server is an
// sshd on a free 127.0.0.1 port with throwaway ed25519 host and user keys
// in a temporary directory, logging to a file the test can inspect.
//
// Only tests import it. Start skips the test when sshd or ssh-keygen is
// missing or the test does not run as root (sshd needs root to start a
// session for any user); scripts/test.sh installs OpenSSH when run as root.
//
// Servers log in the user running the test with the generated user key
// only: password and keyboard-interactive authentication are off, since a
// test cannot give a system account a password without changing the
// machine. Test those against an in-process golang.org/x/crypto/ssh server.
package sshtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHD is where Debian and most distributions install the server.
const SSHD = "/usr/sbin/sshd"

// startTimeout bounds how long Start waits for sshd to listen.
const startTimeout = 10 * time.Second

// Options tune a Server. The zero value is a server that accepts the
// generated user key and nothing else.
type Options struct {
	// LogLevel is sshd's LogLevel; "" means VERBOSE. DEBUG1 also logs
	// forwarded connections ("server_request_direct_tcpip: ... target
	// HOST port PORT"), which tests use to see that a ProxyJump went
	// through this server.
	LogLevel string
	// Config holds extra sshd_config lines, appended to the generated
	// ones; sshd keeps the first value of each keyword, so these cannot
	// override the generated settings.
	Config string
}

// Server is a running sshd. It is stopped, and its directory removed, when
// the test that started it ends.
type Server struct {
	dir     string
	port    int
	user    string
	hostKey ssh.PublicKey
	logPath string
}

// Start starts sshd and returns once it accepts connections; any failure
// is fatal to the test. See the package documentation for when it skips.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if _, err := os.Stat(SSHD); err != nil {
		t.Skip("sshtest: OpenSSH sshd is not installed (scripts/test.sh installs it as root)")
	}
	if os.Geteuid() != 0 {
		t.Skip("sshtest: sshd tests need root")
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("sshtest: ssh-keygen is not installed")
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshtest: current user: %v", err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Server{dir: dir, user: u.Username, logPath: filepath.Join(dir, "sshd.log")}
	GenerateKey(t, dir, "host_key", "")
	GenerateKey(t, dir, "user_key", "")
	hostPub, err := os.ReadFile(filepath.Join(dir, "host_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	s.hostKey, _, _, _, err = ssh.ParseAuthorizedKey(hostPub)
	if err != nil {
		t.Fatalf("sshtest: host key: %v", err)
	}
	userPub, err := os.ReadFile(filepath.Join(dir, "user_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.authorizedKeys(), userPub, 0o600); err != nil {
		t.Fatal(err)
	}

	s.port = freePort(t)
	if err := os.WriteFile(s.KnownHostsFile(), []byte(s.KnownHostsLine()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	level := opts.LogLevel
	if level == "" {
		level = "VERBOSE"
	}
	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PidFile %s
LogLevel %s
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
SetEnv XDG_CACHE_HOME=%s
%s
`, s.port, filepath.Join(dir, "host_key"), s.authorizedKeys(), filepath.Join(dir, "sshd.pid"),
		level, s.CacheDir(), opts.Config)
	confPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// sshd insists on its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	s.run(t, confPath)
	return s
}

// run starts sshd with the config at confPath, copies its log to
// s.logPath, and waits until it says it listens. The test's cleanup kills
// sshd and waits for it and for the log copier.
func (s *Server) run(t testing.TB, confPath string) {
	t.Helper()
	logf, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(SSHD, "-D", "-e", "-f", confPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("sshtest: start sshd: %v", err)
	}
	listening := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		want := fmt.Sprintf("Server listening on 127.0.0.1 port %d.", s.port)
		sc := bufio.NewScanner(stderr)
		seen := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if !seen && line == want {
				seen = true
				close(listening)
			}
		}
		io.Copy(io.Discard, stderr) // an over-long line stopped the scanner
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-copied
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			t.Logf("sshtest: sshd log of port %d:\n%s", s.port, s.Log())
		}
	})
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-listening:
	case <-copied:
		t.Fatalf("sshtest: sshd exited before listening:\n%s", s.Log())
	case <-timer.C:
		t.Fatalf("sshtest: sshd did not listen within %v:\n%s", startTimeout, s.Log())
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Host returns the address sshd listens on, 127.0.0.1.
func (s *Server) Host() string { return "127.0.0.1" }

// Port returns the port sshd listens on.
func (s *Server) Port() int { return s.port }

// Addr returns "127.0.0.1:PORT".
func (s *Server) Addr() string { return net.JoinHostPort(s.Host(), strconv.Itoa(s.port)) }

// User returns the name of the user the server logs in: the one running
// the test.
func (s *Server) User() string { return s.user }

// Dir returns the server's temporary directory, which holds its keys,
// config and log.
func (s *Server) Dir() string { return s.dir }

// CacheDir returns XDG_CACHE_HOME of the server's sessions, where a remote
// fcp caches its agent binary.
func (s *Server) CacheDir() string { return filepath.Join(s.dir, "cache") }

// HostKey returns the server's public host key.
func (s *Server) HostKey() ssh.PublicKey { return s.hostKey }

// UserKey returns the path of the private key the server accepts; its
// public half is UserKey()+".pub". It has no passphrase.
func (s *Server) UserKey() string { return filepath.Join(s.dir, "user_key") }

// KnownHostsLine returns the known_hosts line for the server's host key,
// "[127.0.0.1]:PORT ssh-ed25519 AAAA...", without a newline.
func (s *Server) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, s.hostKey)
}

// KnownHostsFile returns the path of a known_hosts file in Dir that holds
// KnownHostsLine.
func (s *Server) KnownHostsFile() string { return filepath.Join(s.dir, "known_hosts") }

func (s *Server) authorizedKeys() string { return filepath.Join(s.dir, "authorized_keys") }

// Authorize adds an authorized_keys line (such as the content of a .pub
// file) to the keys the server accepts.
func (s *Server) Authorize(t testing.TB, line []byte) {
	t.Helper()
	f, err := os.OpenFile(s.authorizedKeys(), os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(append(bytes.TrimRight(line, "\n"), '\n')); err != nil {
		t.Fatal(err)
	}
}

// Log returns what sshd has logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// ConfigBlock returns an ssh_config Host block for alias that reaches the
// server strictly: its address and port, the user, the user key only,
// KnownHostsFile with StrictHostKeyChecking yes, and BatchMode. Each block
// names its own server's known_hosts file, so blocks of several servers
// combine in one config (see WriteConfig) without a shared known_hosts.
func (s *Server) ConfigBlock(alias string) string {
	return fmt.Sprintf(`Host %s
  HostName %s
  Port %d
  User %s
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
`, alias, s.Host(), s.port, s.user, s.UserKey(), s.KnownHostsFile())
}

// WriteConfig writes an ssh_config made of blocks (each typically from
// ConfigBlock, or hand-written) to a new file in a temporary directory and
// returns its path.
func WriteConfig(t testing.TB, blocks ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(p, []byte(strings.Join(blocks, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// GenerateKey runs ssh-keygen to create an ed25519 key pair dir/name and
// dir/name.pub, encrypted with passphrase unless it is empty, and returns
// the private key's path.
func GenerateKey(t testing.TB, dir, name, passphrase string) string {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("sshtest: ssh-keygen is not installed")
	}
	p := filepath.Join(dir, name)
	// One KDF round (-a 1) keeps decrypting fast; the format is the same.
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-a", "1", "-C", name, "-N", passphrase, "-f", p).CombinedOutput()
	if err != nil {
		t.Fatalf("sshtest: ssh-keygen: %v: %s", err, out)
	}
	return p
}
