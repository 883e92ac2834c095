package sshdial

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/sync/errgroup"

	"github.com/fcp-dev/fcp/internal/sshtest"
)

// Tests against an in-process golang.org/x/crypto/ssh server, for what a
// real sshd cannot do here: passwords, chosen host keys, a hung server.

// inProcessConfig returns a Config for srv with its host key known.
func inProcessConfig(t *testing.T, srv *sshtest.InProcess) *Config {
	t.Helper()
	return &Config{
		Alias:                 "box",
		HostName:              srv.Host(),
		Port:                  srv.Port(),
		User:                  "me",
		UserKnownHostsFiles:   []string{writeFile(t, "known_hosts", srv.KnownHostsLine()+"\n")},
		StrictHostKeyChecking: StrictYes,
	}
}

// passwordServer accepts user me with password "right", by the password
// method or keyboard-interactive as kbd says.
func passwordServer(t *testing.T, kbd bool) *sshtest.InProcess {
	conf := &ssh.ServerConfig{}
	if kbd {
		conf.KeyboardInteractiveCallback = func(c ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			answers, err := client("", "Welcome.", []string{"Password: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			if c.User() == "me" && len(answers) == 1 && answers[0] == "right" {
				return nil, nil
			}
			return nil, errors.New("denied")
		}
	} else {
		conf.PasswordCallback = func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == "me" && string(pw) == "right" {
				return nil, nil
			}
			return nil, errors.New("denied")
		}
	}
	return sshtest.StartInProcess(t, sshtest.InProcessOptions{Config: conf})
}

func TestDialPassword(t *testing.T) {
	tests := []struct {
		name        string
		kbd         bool
		answers     []string
		err         error
		batch       bool
		noPrompter  bool
		parallel    int
		wantErr     string // "": success
		wantPrompts int
	}{
		{name: "Password", answers: []string{"right"}, wantPrompts: 1},
		{name: "PasswordSecondTry", answers: []string{"wrong", "right"}, wantPrompts: 2},
		{name: "PasswordThreeWrong", answers: []string{"wrong"}, wantPrompts: 3,
			wantErr: "me@127.0.0.1:PORT: permission denied (password)"},
		{name: "PasswordParallelAskOnce", answers: []string{"right"}, parallel: 4, wantPrompts: 1},
		{name: "PasswordNoTerminal", err: ErrNoTerminal, wantPrompts: 1, wantErr: "permission denied (password)"},
		{name: "PasswordBatchMode", answers: []string{"right"}, batch: true, wantErr: "permission denied (password)"},
		{name: "PasswordNoPrompter", noPrompter: true, wantErr: "permission denied (password)"},
		{name: "KeyboardInteractive", kbd: true, answers: []string{"right"}, wantPrompts: 1},
		{name: "KeyboardInteractiveThreeWrong", kbd: true, answers: []string{"wrong"}, wantPrompts: 3,
			wantErr: "permission denied (keyboard-interactive)"},
		{name: "KeyboardInteractiveParallelAskOnce", kbd: true, answers: []string{"right"}, parallel: 4, wantPrompts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := passwordServer(t, tt.kbd)
			c := inProcessConfig(t, srv)
			c.BatchMode = tt.batch
			p := &fakePrompter{answers: tt.answers, err: tt.err}
			d := &Dialer{Config: c, Prompter: p}
			if tt.noPrompter {
				d.Prompter = nil
			}
			n := max(tt.parallel, 1)
			var g errgroup.Group
			for range n {
				g.Go(func() error {
					client, err := d.Dial(t.Context())
					if err == nil {
						client.Close()
					}
					return err
				})
			}
			err := g.Wait()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if tt.wantErr != "" {
				if !errors.Is(err, ErrAuth) {
					t.Fatalf("Dial = %v, want ErrAuth", err)
				}
				wantOneLine(t, err, strings.ReplaceAll(tt.wantErr, "PORT", strconv.Itoa(srv.Port())))
			}
			if got := p.passwordPrompts(); len(got) != tt.wantPrompts {
				t.Errorf("prompts %q, want %d", got, tt.wantPrompts)
			}
		})
	}
}

// TestDialHostKeyAlgorithms checks that the host key algorithms are
// restricted to the types known for the host: a server with both an
// ed25519 and an RSA key, known by its RSA key only, must be asked for its
// RSA key rather than reported as changed.
func TestDialHostKeyAlgorithms(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaSigner, err := ssh.NewSignerFromKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecSigner, err := ssh.NewSignerFromKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := sshtest.StartInProcess(t, sshtest.InProcessOptions{
		Config:   &ssh.ServerConfig{NoClientAuth: true},
		HostKeys: []ssh.Signer{sshtest.NewSigner(t), rsaSigner},
	})
	name := knownhosts.Normalize(net.JoinHostPort(srv.Host(), strconv.Itoa(srv.Port())))
	tests := []struct {
		name    string
		known   ssh.PublicKey
		wantErr string
	}{
		{name: "KnownRSA", known: rsaSigner.PublicKey()},
		{name: "KnownEd25519", known: srv.HostKey()},
		{name: "KnownECDSAOnly", known: ecSigner.PublicKey(), wantErr: "offers none of the host key types known for it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := inProcessConfig(t, srv)
			c.UserKnownHostsFiles = []string{writeFile(t, "known_hosts", knownhosts.Line([]string{name}, tt.known)+"\n")}
			client, err := (&Dialer{Config: c}).Dial(t.Context())
			if tt.wantErr != "" {
				if !errors.Is(err, ErrHostKey) {
					t.Fatalf("Dial = %v, want ErrHostKey", err)
				}
				wantOneLine(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			client.Close()
		})
	}
}

// TestDialHostKeyAlias checks that HostKeyAlias names the host in
// known_hosts, without the port.
func TestDialHostKeyAlias(t *testing.T) {
	srv := sshtest.StartInProcess(t, sshtest.InProcessOptions{})
	c := inProcessConfig(t, srv)
	c.HostKeyAlias = "box-alias"
	c.UserKnownHostsFiles = []string{writeFile(t, "known_hosts", knownhosts.Line([]string{"box-alias"}, srv.HostKey())+"\n")}
	client, err := (&Dialer{Config: c}).Dial(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	client.Close()
}

// TestDialServerAlive checks that a connection to a server that stops
// answering is closed after ServerAliveCountMax intervals, and that one to
// a live server is not.
func TestDialServerAlive(t *testing.T) {
	const interval = 50 * time.Millisecond
	tests := []struct {
		name       string
		ignore     bool
		wantClosed bool
	}{
		{name: "Unresponsive", ignore: true, wantClosed: true},
		{name: "Responsive", ignore: false, wantClosed: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := sshtest.StartInProcess(t, sshtest.InProcessOptions{IgnoreGlobalRequests: tt.ignore})
			c := inProcessConfig(t, srv)
			c.ServerAliveInterval, c.ServerAliveCountMax = interval, 2
			client, err := (&Dialer{Config: c}).Dial(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			closed := make(chan struct{})
			go func() {
				client.Wait()
				close(closed)
			}()
			timer := time.NewTimer(20 * interval)
			defer timer.Stop()
			select {
			case <-closed:
				if !tt.wantClosed {
					t.Error("the connection to a live server was closed")
				}
			case <-timer.C:
				if tt.wantClosed {
					t.Error("the connection to a hung server is still open")
				}
				client.Close()
				<-closed
			}
		})
	}
}

// TestDialNoAuthMethods checks the message when the server allows only
// methods the Dialer has nothing for.
func TestDialNoAuthMethods(t *testing.T) {
	conf := &ssh.ServerConfig{
		PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) {
			return nil, errors.New("denied")
		},
		PasswordCallback: func(ssh.ConnMetadata, []byte) (*ssh.Permissions, error) {
			return nil, errors.New("denied")
		},
	}
	srv := sshtest.StartInProcess(t, sshtest.InProcessOptions{Config: conf})
	c := inProcessConfig(t, srv)
	c.BatchMode = true
	_, err := (&Dialer{Config: c}).Dial(t.Context())
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("Dial = %v, want ErrAuth", err)
	}
	// The methods are listed in the server's order.
	wantOneLine(t, err, fmt.Sprintf("sshdial: authentication failed: me@127.0.0.1:%d: permission denied (", srv.Port()), "publickey", "password")
}
