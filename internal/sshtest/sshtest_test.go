package sshtest

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestServerWithOpenSSHClient checks the Server's recipe with OpenSSH's
// own client: ConfigBlock and KnownHostsFile are enough to log in
// strictly, and sessions see CacheDir as XDG_CACHE_HOME.
func TestServerWithOpenSSHClient(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client")
	}
	s := Start(t, Options{})
	conf := WriteConfig(t, s.ConfigBlock("box"))
	out, err := exec.Command("ssh", "-F", conf, "box", "echo $XDG_CACHE_HOME").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh: %v: %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != s.CacheDir() {
		t.Errorf("XDG_CACHE_HOME = %q, want %q", got, s.CacheDir())
	}
	if !strings.Contains(s.Log(), "Accepted publickey for "+s.User()) {
		t.Errorf("sshd log does not show the login:\n%s", s.Log())
	}
}

func TestKnownHostsLine(t *testing.T) {
	s := StartInProcess(t, InProcessOptions{})
	marker, hosts, key, _, _, err := ssh.ParseKnownHosts([]byte(s.KnownHostsLine()))
	if err != nil {
		t.Fatal(err)
	}
	want := "[127.0.0.1]:" + strings.TrimPrefix(s.Addr(), "127.0.0.1:")
	if marker != "" || len(hosts) != 1 || hosts[0] != want || string(key.Marshal()) != string(s.HostKey().Marshal()) {
		t.Errorf("KnownHostsLine = %q", s.KnownHostsLine())
	}
}

// TestInProcessExec checks that an InProcess server runs ExecFunc and
// reports its status, and records signals.
func TestInProcessExec(t *testing.T) {
	run := func(ctx context.Context, command string, stdin io.Reader, stdout, stderr io.Writer) uint32 {
		switch command {
		case "echo":
			io.Copy(stdout, stdin)
			return 0
		default:
			<-ctx.Done()
			return 9
		}
	}
	s := StartInProcess(t, InProcessOptions{Exec: run})
	client, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{User: "u", HostKeyCallback: ssh.FixedHostKey(s.HostKey())})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	sess.Stdin = strings.NewReader("hello")
	out, err := sess.Output("echo")
	if err != nil || string(out) != "hello" {
		t.Errorf("echo = %q, %v", out, err)
	}

	sess, err = client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start("wait"); err != nil {
		t.Fatal(err)
	}
	if err := sess.Signal(ssh.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var exitErr *ssh.ExitError
	if err := sess.Wait(); !errors.As(err, &exitErr) || exitErr.ExitStatus() != 9 {
		t.Errorf("Wait = %v, want exit status 9", err)
	}
	if got := s.Signals(); len(got) != 1 || got[0] != "TERM" {
		t.Errorf("Signals = %q, want [TERM]", got)
	}
}
