package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fcp-dev/fcp/internal/sshdial"
	"github.com/fcp-dev/fcp/internal/sshtest"
)

// fakeExec is the far end of the in-process SSH server: "cat" echoes,
// "exit N" exits with status N, "sleep" ignores EOF and runs until
// signalled or disconnected.
func fakeExec(ctx context.Context, command string, stdin io.Reader, stdout, stderr io.Writer) uint32 {
	switch {
	case command == "cat":
		io.Copy(stdout, stdin)
		return 0
	case strings.HasPrefix(command, "exit "):
		n, _ := strconv.Atoi(strings.TrimPrefix(command, "exit "))
		io.WriteString(stderr, "exiting\n")
		return uint32(n)
	case command == "sleep":
		<-ctx.Done()
		return 137
	}
	io.WriteString(stderr, command+": not found\n")
	return 127
}

// inProcessSSH returns an SSH transport to an in-process server running
// fakeExec, and the server.
func inProcessSSH(t *testing.T, command string) (SSH, *sshtest.InProcess) {
	t.Helper()
	srv := sshtest.StartInProcess(t, sshtest.InProcessOptions{Exec: fakeExec})
	conf := &ssh.ClientConfig{
		User:            "test",
		HostKeyCallback: ssh.FixedHostKey(srv.HostKey()),
	}
	dial := func(ctx context.Context) (*ssh.Client, error) {
		return ssh.Dial("tcp", srv.Addr(), conf)
	}
	return SSH{Dial: dial, Command: command, Grace: testGrace}, srv
}

// realSSH returns an SSH transport to a real sshd through sshdial, and
// the server, or skips the test.
func realSSH(t *testing.T, command string) (SSH, *sshtest.Server) {
	t.Helper()
	srv := sshtest.Start(t, sshtest.Options{})
	cfg, err := sshdial.Resolve("test-host", sshdial.Options{
		ConfigFile: sshtest.WriteConfig(t, srv.ConfigBlock("test-host")),
		Home:       t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	d := &sshdial.Dialer{Config: cfg}
	return SSH{Dial: d.Dial, Command: command, Grace: testGrace}, srv
}

// TestSSHConformance runs the Stream contract against SSH, in process and
// against a real sshd.
func TestSSHConformance(t *testing.T) {
	transports := []struct {
		name string
		tr   func(t *testing.T) Transport
	}{
		{name: "InProcess", tr: func(t *testing.T) Transport { tr, _ := inProcessSSH(t, "cat"); return tr }},
		{name: "OpenSSH", tr: func(t *testing.T) Transport { tr, _ := realSSH(t, "cat"); return tr }},
	}
	for _, tt := range transports {
		t.Run(tt.name, func(t *testing.T) {
			tr := tt.tr(t)
			t.Run("Echo", func(t *testing.T) { testEcho(t, tr) })
			t.Run("CloseUnblocksRead", func(t *testing.T) { testCloseUnblocksRead(t, tr) })
			t.Run("CancelledOpen", func(t *testing.T) { testCancelledOpen(t, tr) })
		})
	}
}

// TestSSHShell runs a script through sh on a real sshd, as agent.Bootstrap
// does.
func TestSSHShell(t *testing.T) {
	tr, _ := realSSH(t, "")
	s, err := tr.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := io.WriteString(s, "echo hello $((1+2))\n"); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello 3\n" {
		t.Errorf("sh printed %q, want %q", got, "hello 3\n")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestSSHCloseKillsRemote checks that Close returns within the grace
// period when the remote ignores EOF, and that the remote process is
// killed rather than left running. OpenSSH cannot signal the sessions of
// root (it logs "session signalling requires privilege separation"), so
// as root the test kills the process itself.
func TestSSHCloseKillsRemote(t *testing.T) {
	tr, srv := realSSH(t, "echo $$; exec sleep 100")
	s, err := tr.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(s).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(line)
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close = %v, want nil", err)
	}
	if d := time.Since(start); d > 2*testGrace+2*time.Second {
		t.Errorf("Close took %v with a grace of %v", d, testGrace)
	}
	if strings.Contains(srv.Log(), "signalling requires privilege separation") {
		t.Logf("sshd cannot signal this user's sessions; killing pid %s here", pid)
		n, _ := strconv.Atoi(pid)
		if p, err := os.FindProcess(n); err == nil {
			p.Kill()
		}
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat("/proc/" + pid); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("remote sleep (pid %s) still runs after Close", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSSHClose checks Close's result and the signal it sends.
func TestSSHClose(t *testing.T) {
	tests := []struct {
		name       string
		command    string
		readAll    bool // wait for the command to exit before Close
		wantStatus int  // -1: Close returns nil
		wantSignal bool
	}{
		{name: "ExitsOnEOF", command: "cat", wantStatus: -1},
		{name: "ExitZero", command: "exit 0", readAll: true, wantStatus: -1},
		{name: "ExitStatus3", command: "exit 3", readAll: true, wantStatus: 3},
		{name: "IgnoresEOF", command: "sleep", wantStatus: -1, wantSignal: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, srv := inProcessSSH(t, tt.command)
			s, err := tr.Open(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if tt.readAll {
				if _, err := io.ReadAll(s); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			err = s.Close()
			if d := time.Since(start); d > 2*testGrace+2*time.Second {
				t.Errorf("Close took %v with a grace of %v", d, testGrace)
			}
			var exitErr *ssh.ExitError
			switch {
			case tt.wantStatus < 0 && err != nil:
				t.Errorf("Close = %v, want nil", err)
			case tt.wantStatus >= 0 && !errors.As(err, &exitErr):
				t.Errorf("Close = %v, want an *ssh.ExitError", err)
			case tt.wantStatus >= 0 && exitErr.ExitStatus() != tt.wantStatus:
				t.Errorf("exit status %d, want %d", exitErr.ExitStatus(), tt.wantStatus)
			}
			if got := len(srv.Signals()) > 0; got != tt.wantSignal {
				t.Errorf("signals sent: %v, want some: %v", srv.Signals(), tt.wantSignal)
			}
		})
	}
}

// TestSSHStderr checks that the command's standard error reaches Stderr.
func TestSSHStderr(t *testing.T) {
	tr, _ := inProcessSSH(t, "exit 1")
	var stderr bytes.Buffer // written by the session until Close returns
	tr.Stderr = &stderr
	s, err := tr.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(s)
	s.Close()
	if got := stderr.String(); got != "exiting\n" {
		t.Errorf("stderr = %q, want %q", got, "exiting\n")
	}
}

// TestSSHDialError checks that Open reports the Dial error.
func TestSSHDialError(t *testing.T) {
	sentinel := errors.New("no route")
	tr := SSH{Dial: func(context.Context) (*ssh.Client, error) { return nil, sentinel }}
	if _, err := tr.Open(t.Context()); !errors.Is(err, sentinel) {
		t.Errorf("Open = %v, want it to wrap %v", err, sentinel)
	}
}
