package sshdial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/sync/errgroup"

	"github.com/fcp-dev/fcp/internal/sshtest"
)

// Tests against a real OpenSSH sshd (skipped unless root with OpenSSH).

// dialOK dials and closes the connection, failing the test on error.
func dialOK(t *testing.T, d *Dialer) {
	t.Helper()
	client, err := d.Dial(t.Context())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if err := client.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// wantOneLine fails the test unless err's message is one line holding
// every part.
func wantOneLine(t *testing.T, err error, parts ...string) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q does not contain %q", msg, p)
		}
	}
}

func TestDialKey(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	dialOK(t, &Dialer{Config: resolve(t, "box", srv.ConfigBlock("box"))})
}

func TestDialWrongKey(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	other := sshtest.GenerateKey(t, t.TempDir(), "other", "")
	c := resolve(t, "box", hostBlock("box", srv, "IdentityFile "+other, "IdentitiesOnly yes",
		"UserKnownHostsFile "+srv.KnownHostsFile(), "BatchMode yes"))
	_, err := (&Dialer{Config: c}).Dial(t.Context())
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("Dial = %v, want ErrAuth", err)
	}
	wantOneLine(t, err, fmt.Sprintf("%s@127.0.0.1:%d: permission denied (publickey)", srv.User(), srv.Port()))
}

func TestDialAgent(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	sock, keyring := startAgent(t, srv.UserKey())
	other := sshtest.GenerateKey(t, t.TempDir(), "other", "")
	tests := []struct {
		name     string
		lines    []string
		socket   string
		wantErr  error
		wantSign bool
	}{
		{name: "AgentKey", socket: sock, wantSign: true},
		{name: "IdentityAgentOverrides", lines: []string{"IdentityAgent " + sock}, socket: "/nonexistent", wantSign: true},
		{name: "IdentityAgentNone", lines: []string{"IdentityAgent none"}, socket: sock, wantErr: ErrAuth},
		{name: "IdentitiesOnlyFilters", lines: []string{"IdentityFile " + other, "IdentitiesOnly yes"}, socket: sock, wantErr: ErrAuth},
		{name: "IdentitiesOnlyKeepsMatching", lines: []string{"IdentityFile " + srv.UserKey() + ".pub", "IdentitiesOnly yes"}, socket: sock, wantSign: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := append([]string{"UserKnownHostsFile " + srv.KnownHostsFile(), "BatchMode yes"}, tt.lines...)
			d := &Dialer{Config: resolve(t, "box", hostBlock("box", srv, lines...)), AgentSocket: tt.socket}
			before := keyring.signatures()
			client, err := d.Dial(t.Context())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Dial = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			client.Close()
			if signed := keyring.signatures() > before; signed != tt.wantSign {
				t.Errorf("agent signed: %v, want %v", signed, tt.wantSign)
			}
		})
	}
}

func TestDialEncryptedKey(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	key := sshtest.GenerateKey(t, t.TempDir(), "enc", "secret")
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	srv.Authorize(t, pub)
	block := func(batch string) string {
		return hostBlock("box", srv, "IdentityFile "+key, "IdentitiesOnly yes", "BatchMode "+batch,
			"UserKnownHostsFile "+srv.KnownHostsFile())
	}

	t.Run("ParallelDialsAskOnce", func(t *testing.T) {
		p := &fakePrompter{answers: []string{"secret"}}
		d := &Dialer{Config: resolve(t, "box", block("no")), Prompter: p}
		var g errgroup.Group
		for range 4 {
			g.Go(func() error {
				client, err := d.Dial(t.Context())
				if err == nil {
					client.Close()
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		if got := p.passwordPrompts(); len(got) != 1 || !strings.Contains(got[0], key) {
			t.Errorf("prompts = %q, want one naming %s", got, key)
		}
	})
	t.Run("WrongPassphrase", func(t *testing.T) {
		p := &fakePrompter{answers: []string{"wrong"}}
		d := &Dialer{Config: resolve(t, "box", block("no")), Prompter: p}
		_, err := d.Dial(t.Context())
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("Dial = %v, want ErrAuth", err)
		}
		if got := len(p.passwordPrompts()); got != maxPrompts {
			t.Errorf("%d prompts, want %d", got, maxPrompts)
		}
		// A second connection does not ask again.
		d.Dial(t.Context())
		if got := len(p.passwordPrompts()); got != maxPrompts {
			t.Errorf("%d prompts after a second Dial, want %d", got, maxPrompts)
		}
	})
	t.Run("BatchModeDoesNotAsk", func(t *testing.T) {
		p := &fakePrompter{answers: []string{"secret"}}
		d := &Dialer{Config: resolve(t, "box", block("yes")), Prompter: p}
		if _, err := d.Dial(t.Context()); !errors.Is(err, ErrAuth) {
			t.Fatalf("Dial = %v, want ErrAuth", err)
		}
		if got := p.passwordPrompts(); len(got) != 0 {
			t.Errorf("prompts = %q in BatchMode", got)
		}
	})
	t.Run("NoTerminal", func(t *testing.T) {
		p := &fakePrompter{err: ErrNoTerminal}
		d := &Dialer{Config: resolve(t, "box", block("no")), Prompter: p}
		if _, err := d.Dial(t.Context()); !errors.Is(err, ErrAuth) {
			t.Fatalf("Dial = %v, want ErrAuth", err)
		}
	})
}

// TestDialProxyJump goes through a second sshd and checks in its log that
// it forwarded the connection to the target.
func TestDialProxyJump(t *testing.T) {
	jump := sshtest.Start(t, sshtest.Options{LogLevel: "DEBUG1"})
	target := sshtest.Start(t, sshtest.Options{})
	c := resolve(t, "target",
		jump.ConfigBlock("jump"),
		"Host target\n  ProxyJump jump\n",
		target.ConfigBlock("target"))
	if len(c.ProxyJump) != 1 || c.ProxyJump[0].Port != jump.Port() {
		t.Fatalf("ProxyJump = %+v", c.ProxyJump)
	}
	dialOK(t, &Dialer{Config: c})
	want := fmt.Sprintf("server_request_direct_tcpip: originator 127.0.0.1 port 65535, target 127.0.0.1 port %d", target.Port())
	if !strings.Contains(jump.Log(), "server_request_direct_tcpip") || !strings.Contains(jump.Log(), fmt.Sprintf("target 127.0.0.1 port %d", target.Port())) {
		t.Errorf("the jump host's log does not show %q", want)
	}

	t.Run("ForwardingRefused", func(t *testing.T) {
		closed := sshtest.Start(t, sshtest.Options{Config: "AllowTcpForwarding no"})
		c := resolve(t, "target",
			closed.ConfigBlock("jump"),
			"Host target\n  ProxyJump jump\n",
			target.ConfigBlock("target"))
		_, err := (&Dialer{Config: c}).Dial(t.Context())
		if !errors.Is(err, ErrConnect) {
			t.Fatalf("Dial = %v, want ErrConnect", err)
		}
		wantOneLine(t, err, fmt.Sprintf("127.0.0.1:%d: through jump host %s@127.0.0.1:%d", target.Port(), closed.User(), closed.Port()))
	})
}

// TestDialProxyCommand connects through OpenSSH's ssh -W as the
// ProxyCommand.
func TestDialProxyCommand(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh client")
	}
	jump := sshtest.Start(t, sshtest.Options{LogLevel: "DEBUG1"})
	target := sshtest.Start(t, sshtest.Options{})
	jumpConf := sshtest.WriteConfig(t, jump.ConfigBlock("jump"))
	c := resolve(t, "target",
		fmt.Sprintf("Host target\n  ProxyCommand ssh -F %s -W %%h:%%p jump\n", jumpConf),
		target.ConfigBlock("target"))
	dialOK(t, &Dialer{Config: c})
	if !strings.Contains(jump.Log(), fmt.Sprintf("target 127.0.0.1 port %d", target.Port())) {
		t.Errorf("the jump host's log does not show the forwarding")
	}

	t.Run("Fails", func(t *testing.T) {
		c := resolve(t, "target", "Host target\n  ProxyCommand exit 1\n", target.ConfigBlock("target"))
		_, err := (&Dialer{Config: c}).Dial(t.Context())
		if !errors.Is(err, ErrConnect) {
			t.Fatalf("Dial = %v, want ErrConnect", err)
		}
		wantOneLine(t, err, `ProxyCommand "exit 1"`)
	})
}

func TestDialHostKey(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	fp := ssh.FingerprintSHA256(srv.HostKey())
	other := sshtest.NewSigner(t).PublicKey()
	changed := knownhosts.Line([]string{knownhosts.Normalize(srv.Addr())}, other) + "\n"
	tests := []struct {
		name       string
		known      string // known_hosts content; "-" for no file
		strict     string
		batch      bool
		prompter   *fakePrompter
		wantErr    []string // nil: success
		wantAsk    bool
		wantRecord bool
	}{
		{name: "Known", known: srv.KnownHostsLine() + "\n", strict: StrictYes},
		{name: "UnknownNoTerminal", known: "-", strict: StrictAsk, wantErr: []string{"unknown host", "no terminal", fp}},
		{name: "UnknownTerminalMissing", known: "", strict: StrictAsk, prompter: &fakePrompter{err: ErrNoTerminal},
			wantErr: []string{"no terminal", fp}, wantAsk: true},
		{name: "UnknownBatchMode", known: "", strict: StrictAsk, batch: true, prompter: &fakePrompter{confirm: true},
			wantErr: []string{"no terminal", fp}},
		{name: "UnknownConfirmed", known: "", strict: StrictAsk, prompter: &fakePrompter{confirm: true},
			wantAsk: true, wantRecord: true},
		{name: "UnknownDeclined", known: "", strict: StrictAsk, prompter: &fakePrompter{},
			wantErr: []string{"not accepted", fp}, wantAsk: true},
		{name: "UnknownStrict", known: "", strict: StrictYes, wantErr: []string{"StrictHostKeyChecking is yes", fp}},
		{name: "UnknownAcceptNew", known: "-", strict: StrictAcceptNew, wantRecord: true},
		{name: "UnknownNo", known: "", strict: StrictNo, wantRecord: true},
		{name: "ChangedAsk", known: changed, strict: StrictAsk, prompter: &fakePrompter{confirm: true},
			wantErr: []string{"CHANGED", ":1 holds another ED25519 key", fp}},
		{name: "ChangedNo", known: changed, strict: StrictNo, wantErr: []string{"CHANGED", fp}},
		{name: "ChangedAcceptNew", known: changed, strict: StrictAcceptNew, wantErr: []string{"CHANGED", fp}},
		{name: "KnownAmongOthers", known: changed + srv.KnownHostsLine() + "\n", strict: StrictYes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "dir", "known_hosts")
			if tt.known != "-" {
				os.MkdirAll(filepath.Dir(kh), 0o700)
				if err := os.WriteFile(kh, []byte(tt.known), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			batch := "no"
			if tt.batch {
				batch = "yes"
			}
			c := resolve(t, "box", hostBlock("box", srv, "IdentityFile "+srv.UserKey(),
				"UserKnownHostsFile "+kh, "StrictHostKeyChecking "+tt.strict, "BatchMode "+batch))
			d := &Dialer{Config: c}
			if tt.prompter != nil {
				d.Prompter = tt.prompter
			}
			client, err := d.Dial(t.Context())
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				client.Close()
			} else {
				if !errors.Is(err, ErrHostKey) {
					t.Fatalf("Dial = %v, want ErrHostKey", err)
				}
				wantOneLine(t, err, append(tt.wantErr, "127.0.0.1")...)
			}
			if tt.prompter != nil {
				if asked := len(tt.prompter.confirmPrompts()) > 0; asked != tt.wantAsk {
					t.Errorf("asked to confirm: %v, want %v", asked, tt.wantAsk)
				}
			}
			got, _ := os.ReadFile(kh)
			want := tt.known
			if want == "-" {
				want = ""
			}
			if tt.wantRecord {
				want += srv.KnownHostsLine() + "\n"
			}
			if string(got) != want {
				t.Errorf("known_hosts = %q, want %q", got, want)
			}
		})
	}
}

// TestDialAcceptNewOnce checks that parallel connections to an unknown
// host confirm it once and record it once.
func TestDialAcceptNewOnce(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	for _, strict := range []string{StrictAsk, StrictAcceptNew} {
		t.Run(strict, func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "known_hosts")
			c := resolve(t, "box", hostBlock("box", srv, "IdentityFile "+srv.UserKey(),
				"UserKnownHostsFile "+kh, "StrictHostKeyChecking "+strict))
			p := &fakePrompter{confirm: true}
			d := &Dialer{Config: c, Prompter: p}
			var g errgroup.Group
			for range 4 {
				g.Go(func() error {
					client, err := d.Dial(t.Context())
					if err == nil {
						client.Close()
					}
					return err
				})
			}
			if err := g.Wait(); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(kh); string(got) != srv.KnownHostsLine()+"\n" {
				t.Errorf("known_hosts = %q, want one line", got)
			}
			wantAsks := 0
			if strict == StrictAsk {
				wantAsks = 1
			}
			if got := p.confirmPrompts(); len(got) != wantAsks {
				t.Errorf("confirmations %q, want %d", got, wantAsks)
			}
		})
	}
}

func TestDialConnectErrors(t *testing.T) {
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// A server that accepts and never speaks.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	defer func() { mute.Close(); <-accepted }()
	mutePort := mute.Addr().(*net.TCPAddr).Port

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	short, cancelShort := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancelShort()
	tests := []struct {
		name    string
		ctx     context.Context
		config  *Config
		wantCtx error
	}{
		{name: "Refused", ctx: t.Context(), config: &Config{HostName: "127.0.0.1", Port: closedPort, User: "u"}},
		{name: "ConnectTimeout", ctx: t.Context(), config: &Config{HostName: "127.0.0.1", Port: mutePort, User: "u", ConnectTimeout: 300 * time.Millisecond}},
		{name: "ContextDeadline", ctx: short, config: &Config{HostName: "127.0.0.1", Port: mutePort, User: "u"}, wantCtx: context.DeadlineExceeded},
		{name: "Cancelled", ctx: cancelled, config: &Config{HostName: "127.0.0.1", Port: mutePort, User: "u"}, wantCtx: context.Canceled},
		{name: "ProxyCommandMissing", ctx: t.Context(), config: &Config{HostName: "h", Port: 22, User: "u", ProxyCommand: "/nonexistent/proxy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := (&Dialer{Config: tt.config}).Dial(tt.ctx)
			if !errors.Is(err, ErrConnect) {
				t.Fatalf("Dial = %v, want ErrConnect", err)
			}
			if tt.wantCtx != nil && !errors.Is(err, tt.wantCtx) {
				t.Errorf("Dial = %v, want it to wrap %v", err, tt.wantCtx)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Dial took %v", d)
			}
			wantOneLine(t, err, "u@")
		})
	}
}
