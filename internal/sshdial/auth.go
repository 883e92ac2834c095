package sshdial

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// maxPrompts is how many times a passphrase or password is asked before
// giving up, OpenSSH's NumberOfPasswordPrompts.
const maxPrompts = 3

// errNoPrompt marks an encrypted key that this connection may not ask the
// passphrase of (BatchMode, or no Prompter).
var errNoPrompt = errors.New("sshdial: may not prompt")

// keyFile is an identity file as loaded once per Dialer: its public key
// and, once decrypted, its signer. Its fields are guarded by mu.
type keyFile struct {
	path string

	mu     sync.Mutex
	loaded bool
	raw    []byte        // the file, while it is encrypted
	pub    ssh.PublicKey // nil when encrypted without a readable public half
	signer ssh.Signer    // nil while encrypted
	err    error         // why the file cannot be used: unreadable, invalid, passphrase not given
}

// keyFile returns the Dialer's entry for path, loading it on first use.
func (d *Dialer) keyFile(path string) *keyFile {
	d.mu.Lock()
	if d.keys == nil {
		d.keys = make(map[string]*keyFile)
	}
	k, ok := d.keys[path]
	if !ok {
		k = &keyFile{path: path}
		d.keys[path] = k
	}
	d.mu.Unlock()

	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.loaded {
		k.loaded = true
		k.load()
	}
	return k
}

// load reads and parses the file. The caller holds k.mu.
//
// Like OpenSSH, it accepts a public key where a private one is expected
// (the file itself, or FILE.pub when FILE is missing): such an identity
// selects the ssh-agent's matching key under IdentitiesOnly but has
// nothing to sign with itself.
func (k *keyFile) load() {
	raw, err := os.ReadFile(k.path)
	if err != nil {
		k.err = err
		if b, perr := os.ReadFile(k.path + ".pub"); perr == nil {
			k.pub, _, _, _, _ = ssh.ParseAuthorizedKey(b)
		}
		return
	}
	signer, err := ssh.ParsePrivateKey(raw)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		k.signer, k.pub = signer, signer.PublicKey()
	case errors.As(err, &missing):
		k.raw, k.pub = raw, missing.PublicKey
		if k.pub == nil {
			if b, err := os.ReadFile(k.path + ".pub"); err == nil {
				k.pub, _, _, _, _ = ssh.ParseAuthorizedKey(b)
			}
		}
	default:
		k.err = fmt.Errorf("sshdial: key %s: %w", k.path, err)
		if pub, _, _, _, perr := ssh.ParseAuthorizedKey(raw); perr == nil {
			k.pub, k.err = pub, fmt.Errorf("sshdial: key %s: a public key only", k.path)
		}
	}
}

// decrypt returns k's signer, asking its passphrase (up to maxPrompts
// times) if it is still encrypted. A passphrase is asked at most once per
// Dialer: the outcome, a signer or the reason there is none, is kept for
// every later call, concurrent ones included.
func (d *Dialer) decrypt(k *keyFile, mayPrompt bool) (ssh.Signer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.signer != nil || k.err != nil {
		return k.signer, k.err
	}
	if !mayPrompt || d.Prompter == nil {
		return nil, errNoPrompt
	}
	d.promptMu.Lock()
	defer d.promptMu.Unlock()
	for range maxPrompts {
		pass, err := d.Prompter.Password(fmt.Sprintf("Enter passphrase for key '%s': ", k.path))
		if err != nil {
			k.err = fmt.Errorf("sshdial: key %s: passphrase: %w", k.path, err)
			return nil, k.err
		}
		if pass == "" {
			k.err = fmt.Errorf("sshdial: key %s: no passphrase given", k.path)
			return nil, k.err
		}
		signer, err := ssh.ParsePrivateKeyWithPassphrase(k.raw, []byte(pass))
		if err == nil {
			k.signer, k.pub, k.raw = signer, signer.PublicKey(), nil
			return signer, nil
		}
		if !errors.Is(err, x509.IncorrectPasswordError) {
			k.err = fmt.Errorf("sshdial: key %s: %w", k.path, err)
			return nil, k.err
		}
		d.logger().Warn("bad passphrase", "key", k.path)
	}
	k.err = fmt.Errorf("sshdial: key %s: wrong passphrase", k.path)
	return nil, k.err
}

// lazySigner is an encrypted identity file whose public key is offered to
// the server first; the passphrase is asked only when the server accepts
// the key and a signature is needed.
type lazySigner struct {
	d         *Dialer
	k         *keyFile
	pub       ssh.PublicKey
	mayPrompt bool
}

func (s *lazySigner) PublicKey() ssh.PublicKey { return s.pub }

func (s *lazySigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	signer, err := s.d.decrypt(s.k, s.mayPrompt)
	if err != nil {
		return nil, err
	}
	return signer.Sign(rand, data)
}

func (s *lazySigner) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	signer, err := s.d.decrypt(s.k, s.mayPrompt)
	if err != nil {
		return nil, err
	}
	as, ok := signer.(ssh.AlgorithmSigner)
	if !ok {
		if algorithm != "" && algorithm != signer.PublicKey().Type() {
			return nil, fmt.Errorf("sshdial: key %s cannot sign with %s", s.k.path, algorithm)
		}
		return signer.Sign(rand, data)
	}
	return as.SignWithAlgorithm(rand, data, algorithm)
}

// authStep is one authentication attempt: a method the server must allow
// by its RFC 4252 name.
type authStep struct {
	name   string // "publickey", "password", "keyboard-interactive"
	what   string // for the debug log: which key
	method ssh.AuthMethod
}

// auth drives the authentication of one connection as an
// ssh.ClientAuthCallback: it offers each public key as a method of its
// own (so that a key that fails, say for want of a passphrase, does not
// end the others), then passwords, then keyboard-interactive, each only
// if the server allows it. When nothing is left it fails with ErrAuth,
// naming the methods the server allows, as OpenSSH does.
type auth struct {
	d    *Dialer
	c    *Config
	ctx  context.Context
	dest string

	steps     []authStep
	built     bool
	next      int
	last      authStep
	noPrompt  bool            // the Prompter could not ask: no more passwords
	tried     map[string]bool // passwords this connection sent
	agentConn net.Conn
	err       error // the ErrAuth error returned, if any
}

func (a *auth) mayPrompt() bool {
	return !a.c.BatchMode && a.d.Prompter != nil && !a.noPrompt
}

// callback implements ssh.ClientAuthCallback.
func (a *auth) callback(ac *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
	if !a.built {
		a.built = true
		if slices.Contains(ac.AllowedMethods, "publickey") {
			a.steps = append(a.steps, a.publicKeySteps()...)
		}
		if a.mayPrompt() {
			for range maxPrompts {
				a.steps = append(a.steps, authStep{name: "password", method: ssh.PasswordCallback(a.password)})
			}
			for range maxPrompts {
				a.steps = append(a.steps, authStep{name: "keyboard-interactive", method: ssh.KeyboardInteractive(a.challenge)})
			}
		}
	}
	for a.next < len(a.steps) {
		s := a.steps[a.next]
		a.next++
		if !slices.Contains(ac.AllowedMethods, s.name) {
			continue
		}
		if s.name != "publickey" && !a.mayPrompt() {
			continue
		}
		a.last = s
		a.d.logger().Debug("trying authentication", "dest", a.dest, "method", s.name, "key", s.what)
		return s.method, nil
	}
	a.err = fmt.Errorf("%w: %s: permission denied (%s)", ErrAuth, a.dest, strings.Join(ac.AllowedMethods, ","))
	return nil, a.err
}

// publicKeySteps returns a step for each key to offer, in OpenSSH's
// order: the agent's keys that match identity files, the agent's other
// keys (unless IdentitiesOnly), then the identity files not in the agent.
// An encrypted file is offered by its public half when that is known;
// otherwise its passphrase is asked now, if that is allowed.
func (a *auth) publicKeySteps() []authStep {
	var files []*keyFile
	fileKeys := map[string]bool{}
	for _, p := range a.c.IdentityFiles {
		k := a.d.keyFile(p)
		k.mu.Lock()
		pub, err := k.pub, k.err
		k.mu.Unlock()
		if pub == nil && err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				a.d.logger().Warn("skipping identity file", "file", p, "err", err)
			}
			continue
		}
		files = append(files, k)
		if pub != nil {
			fileKeys[string(pub.Marshal())] = true
		}
	}

	var matched, others []ssh.Signer
	for _, s := range a.agentSigners() {
		if fileKeys[string(s.PublicKey().Marshal())] {
			matched = append(matched, s)
		} else if !a.c.IdentitiesOnly {
			others = append(others, s)
		}
	}
	var steps []authStep
	seen := map[string]bool{}
	add := func(s ssh.Signer, what string) {
		blob := string(s.PublicKey().Marshal())
		if seen[blob] {
			return
		}
		seen[blob] = true
		steps = append(steps, authStep{
			name:   "publickey",
			what:   what + " " + ssh.FingerprintSHA256(s.PublicKey()),
			method: ssh.PublicKeys(s),
		})
	}
	for _, s := range slices.Concat(matched, others) {
		add(s, "agent")
	}
	mayPrompt := !a.c.BatchMode && a.d.Prompter != nil
	for _, k := range files {
		k.mu.Lock()
		signer, pub, err := k.signer, k.pub, k.err
		k.mu.Unlock()
		switch {
		case signer != nil:
			add(signer, k.path)
		case err != nil:
			a.d.logger().Debug("skipping identity file", "file", k.path, "err", err)
		case pub != nil:
			if !mayPrompt {
				a.d.logger().Debug("skipping encrypted identity file: cannot ask its passphrase", "file", k.path)
				continue
			}
			add(&lazySigner{d: a.d, k: k, pub: pub, mayPrompt: mayPrompt}, k.path)
		default:
			s, err := a.d.decrypt(k, mayPrompt)
			if err != nil {
				a.d.logger().Debug("skipping identity file", "file", k.path, "err", err)
				continue
			}
			add(s, k.path)
		}
	}
	return steps
}

// agentSigners returns the keys of the ssh-agent, or none when there is
// no agent or it cannot be reached. The connection to the agent stays
// open for signing until close.
func (a *auth) agentSigners() []ssh.Signer {
	sock := a.c.IdentityAgent
	if sock == "" {
		sock = a.d.AgentSocket
	}
	if sock == "" || sock == "none" {
		return nil
	}
	var nd net.Dialer
	conn, err := nd.DialContext(a.ctx, "unix", sock)
	if err != nil {
		a.d.logger().Debug("no ssh-agent", "socket", sock, "err", err)
		return nil
	}
	a.agentConn = conn
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		a.d.logger().Debug("ssh-agent lists no keys", "socket", sock, "err", err)
		return nil
	}
	return signers
}

// password implements the password method: it sends the password last
// entered for this destination if this connection has not sent it yet
// (another connection may just have asked for it), else asks for one.
func (a *auth) password() (string, error) {
	return a.ask(fmt.Sprintf("%s's password: ", a.dest))
}

// challenge implements keyboard-interactive. A lone hidden question is
// answered like a password prompt, with the password last entered first.
func (a *auth) challenge(name, instruction string, questions []string, echos []bool) ([]string, error) {
	answers := make([]string, len(questions))
	for i, q := range questions {
		prompt := q
		if i == 0 {
			var b strings.Builder
			for _, s := range []string{name, instruction} {
				if s != "" {
					b.WriteString(s + "\n")
				}
			}
			prompt = b.String() + q
		}
		var err error
		if len(questions) == 1 && !echos[0] {
			answers[i], err = a.ask(prompt)
		} else {
			answers[i], err = a.prompt(prompt)
		}
		if err != nil {
			return nil, err
		}
	}
	return answers, nil
}

// ask returns the password last entered for the destination if this
// connection has not tried it, else one asked of the user, which becomes
// the one last entered.
func (a *auth) ask(prompt string) (string, error) {
	a.d.promptMu.Lock()
	defer a.d.promptMu.Unlock()
	a.d.mu.Lock()
	pw, ok := a.d.passwords[a.dest]
	a.d.mu.Unlock()
	if ok && !a.tried[pw] {
		a.tried[pw] = true
		return pw, nil
	}
	pw, err := a.promptLocked(prompt)
	if err != nil {
		return "", err
	}
	a.d.mu.Lock()
	if a.d.passwords == nil {
		a.d.passwords = make(map[string]string)
	}
	a.d.passwords[a.dest] = pw
	a.d.mu.Unlock()
	a.tried[pw] = true
	return pw, nil
}

// prompt asks the user for a secret that is not cached.
func (a *auth) prompt(prompt string) (string, error) {
	a.d.promptMu.Lock()
	defer a.d.promptMu.Unlock()
	return a.promptLocked(prompt)
}

func (a *auth) promptLocked(prompt string) (string, error) {
	s, err := a.d.Prompter.Password(prompt)
	if err != nil {
		a.noPrompt = true
		return "", fmt.Errorf("sshdial: %s: %w", a.dest, err)
	}
	return s, nil
}

// close releases the connection to the agent.
func (a *auth) close() {
	if a.agentConn != nil {
		a.agentConn.Close()
	}
}
