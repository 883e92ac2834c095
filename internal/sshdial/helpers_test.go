package sshdial

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/fcp-dev/fcp/internal/sshtest"
)

// fakePrompter answers prompts from a script and records them.
type fakePrompter struct {
	mu       sync.Mutex
	answers  []string // Password's answers in turn; the last one repeats
	confirm  bool     // Confirm's answer
	err      error    // returned by every call instead, when set
	prompts  []string
	confirms []string
}

func (p *fakePrompter) Password(prompt string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prompts = append(p.prompts, prompt)
	if p.err != nil {
		return "", p.err
	}
	if len(p.answers) == 0 {
		return "", nil
	}
	a := p.answers[0]
	if len(p.answers) > 1 {
		p.answers = p.answers[1:]
	}
	return a, nil
}

func (p *fakePrompter) Confirm(prompt string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.confirms = append(p.confirms, prompt)
	if p.err != nil {
		return false, p.err
	}
	return p.confirm, nil
}

func (p *fakePrompter) passwordPrompts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.prompts...)
}

func (p *fakePrompter) confirmPrompts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.confirms...)
}

// hostBlock returns an ssh_config block for alias that reaches srv's
// address as its user, with lines (such as IdentityFile or
// StrictHostKeyChecking) placed first so that they take precedence.
func hostBlock(alias string, srv *sshtest.Server, lines ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Host %s\n", alias)
	for _, l := range lines {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	fmt.Fprintf(&b, "  HostName %s\n  Port %d\n  User %s\n", srv.Host(), srv.Port(), srv.User())
	return b.String()
}

// resolve resolves alias in a config made of blocks, with an empty home
// directory (so no default keys or known hosts) unless home is given.
func resolve(t *testing.T, alias string, blocks ...string) *Config {
	t.Helper()
	c, err := Resolve(alias, Options{ConfigFile: sshtest.WriteConfig(t, blocks...), Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeFile writes s to a new file in a temporary directory.
func writeFile(t *testing.T, name, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// countingAgent is an ssh-agent keyring that counts signatures.
type countingAgent struct {
	agent.ExtendedAgent
	mu    sync.Mutex
	signs int
}

func (a *countingAgent) count() {
	a.mu.Lock()
	a.signs++
	a.mu.Unlock()
}

func (a *countingAgent) Sign(key ssh.PublicKey, data []byte) (*ssh.Signature, error) {
	a.count()
	return a.ExtendedAgent.Sign(key, data)
}

func (a *countingAgent) SignWithFlags(key ssh.PublicKey, data []byte, flags agent.SignatureFlags) (*ssh.Signature, error) {
	a.count()
	return a.ExtendedAgent.SignWithFlags(key, data, flags)
}

func (a *countingAgent) signatures() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.signs
}

// startAgent serves an in-process ssh-agent holding the private keys in
// keyFiles on a unix socket and returns the socket's path. It stops when
// the test ends.
func startAgent(t *testing.T, keyFiles ...string) (string, *countingAgent) {
	t.Helper()
	keyring := &countingAgent{ExtendedAgent: agent.NewKeyring().(agent.ExtendedAgent)}
	for _, f := range keyFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		k, err := ssh.ParseRawPrivateKey(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := keyring.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				agent.ServeAgent(keyring, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return sock, keyring
}
