package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sshd is a real OpenSSH server on a loopback port with throwaway keys.
type sshd struct {
	port       int
	dir        string
	clientConf string // ssh_config for the client: key, known_hosts, strict checking
	cache      string // XDG_CACHE_HOME of sessions, where fcp caches its agent
}

// startSSHD starts sshd for the current user, or skips the test when
// OpenSSH is not installed or we are not root (sshd needs root to run
// sessions of any user).
func startSSHD(t *testing.T) *sshd {
	t.Helper()
	bin := "/usr/sbin/sshd"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("OpenSSH sshd is not installed (scripts/test.sh installs it as root)")
	}
	if os.Geteuid() != 0 {
		t.Skip("sshd tests need root")
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen missing")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	s := &sshd{dir: dir, cache: filepath.Join(dir, "cache")}
	for _, k := range []string{"host_key", "user_key"} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "user_key.pub"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600))
	hostPub, err := os.ReadFile(filepath.Join(dir, "host_key.pub"))
	must(t, err)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()

	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/host_key
AuthorizedKeysFile %s/authorized_keys
PidFile %s/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
SetEnv XDG_CACHE_HOME=%s
Subsystem sftp internal-sftp
`, s.port, dir, dir, dir, s.cache)
	must(t, os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(conf), 0o644))
	must(t, os.MkdirAll("/run/sshd", 0o755))
	cmd := exec.Command(bin, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	logf, err := os.Create(filepath.Join(dir, "sshd.log"))
	must(t, err)
	cmd.Stdout, cmd.Stderr = logf, logf
	must(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
			t.Logf("sshd log:\n%s", b)
		}
	})

	known := fmt.Sprintf("[127.0.0.1]:%d %s", s.port, hostPub)
	must(t, os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(known), 0o644))
	s.clientConf = filepath.Join(dir, "ssh_config")
	client := fmt.Sprintf(`Host *
  IdentityFile %s/user_key
  IdentitiesOnly yes
  UserKnownHostsFile %s/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
`, dir, dir)
	must(t, os.WriteFile(s.clientConf, []byte(client), 0o644))

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not start listening: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// TestCopyOverSSH pushes and pulls through fcp's own SSH client and a real
// sshd, configured by -p and -F.
func TestCopyOverSSH(t *testing.T) {
	s := startSSHD(t)
	src := edgeTree(t, filepath.Join(t.TempDir(), "src"))
	remote := filepath.Join(t.TempDir(), "remote copy")
	flags := []string{"-p", strconv.Itoa(s.port), "-F", s.clientConf}

	mustFcp(t, runOpts{}, append(flags, src+"/", "127.0.0.1:"+remote)...)
	sameTree(t, src, remote)
	entries, err := os.ReadDir(s.cache + "/fcp")
	if err != nil || len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "fcp-") {
		t.Errorf("agent cache on the remote: %v, %v; want one fcp-HASH", entries, err)
	}

	back := filepath.Join(t.TempDir(), "back")
	mustFcp(t, runOpts{}, append(flags, "127.0.0.1:"+remote+"/", back)...)
	sameTree(t, src, back)

	r := mustFcp(t, runOpts{}, append(flags, "--json", src+"/", "127.0.0.1:"+remote)...)
	if sm := parseSummary(t, r.stdout); sm.Files != 0 || sm.Bytes != 0 {
		t.Errorf("re-run over ssh sent something: %+v", sm)
	}

	// A key the server does not know: one line, exit 10.
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(s.dir, "wrong_key")).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	wrongConf := filepath.Join(s.dir, "ssh_config_wrong")
	conf, _ := os.ReadFile(s.clientConf)
	must(t, os.WriteFile(wrongConf, []byte(strings.ReplaceAll(string(conf), "/user_key", "/wrong_key")), 0o644))
	r = fcp(t, runOpts{}, "-p", strconv.Itoa(s.port), "-F", wrongConf, src+"/", "127.0.0.1:"+remote)
	if r.code != 10 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("wrong key: exit %d, stderr %q; want exit 10 and one line saying permission denied", r.code, r.stderr)
	}

	// A changed host key is refused with a warning naming the old key.
	other, err := os.ReadFile(filepath.Join(s.dir, "wrong_key.pub"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(s.dir, "known_hosts"), []byte(fmt.Sprintf("[127.0.0.1]:%d %s", s.port, other)), 0o644))
	r = fcp(t, runOpts{}, append(flags, src+"/", "127.0.0.1:"+remote)...)
	if r.code != 10 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "known_hosts") {
		t.Errorf("changed host key: exit %d, stderr %q; want exit 10 and one line naming known_hosts", r.code, r.stderr)
	}

	// An unknown host key is refused (BatchMode, StrictHostKeyChecking).
	must(t, os.WriteFile(filepath.Join(s.dir, "known_hosts"), nil, 0o644))
	r = fcp(t, runOpts{}, append(flags, src+"/", "127.0.0.1:"+remote)...)
	if r.code != 10 {
		t.Errorf("unknown host key: exit %d, want 10\n%s", r.code, r.stderr)
	}
	if !strings.Contains(strings.ToLower(r.stderr), "host key verification failed") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("unknown host key: stderr does not say why: %q", r.stderr)
	}
}

// TestCopyOverSystemSSH uses the system ssh binary through -e, with fcp's
// -p and -F passed on to it.
func TestCopyOverSystemSSH(t *testing.T) {
	s := startSSHD(t)
	src := edgeTree(t, filepath.Join(t.TempDir(), "src"))
	remote := filepath.Join(t.TempDir(), "remote copy")
	mustFcp(t, runOpts{}, "-e", "ssh", "-n", "2", "-p", strconv.Itoa(s.port), "-F", s.clientConf, src+"/", "127.0.0.1:"+remote)
	sameTree(t, src, remote)
}
