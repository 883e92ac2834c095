package sshtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ExecFunc runs an exec request's command in an InProcess server: it reads
// the session's standard input from stdin, writes stdout and stderr, and
// returns the exit status. ctx is cancelled when the client closes the
// session or sends a signal; Signals says which.
type ExecFunc func(ctx context.Context, command string, stdin io.Reader, stdout, stderr io.Writer) uint32

// InProcessOptions configure an InProcess server.
type InProcessOptions struct {
	// Config authenticates clients; nil accepts any client. It must not
	// hold host keys: StartInProcess adds HostKeys.
	Config *ssh.ServerConfig
	// HostKeys are the server's host keys. nil means a fresh ed25519 key.
	HostKeys []ssh.Signer
	// Exec runs the commands of "exec" requests in session channels. nil
	// rejects sessions.
	Exec ExecFunc
	// IgnoreGlobalRequests leaves global requests such as
	// keepalive@openssh.com unanswered, as a hung server would.
	IgnoreGlobalRequests bool
}

// InProcess is an SSH server in this process, built on
// golang.org/x/crypto/ssh, for what a real sshd cannot do in a test:
// passwords, keyboard-interactive, chosen host keys, a server that stops
// answering. It needs neither root nor OpenSSH. It is stopped when the test
// ends, and every goroutine it started has returned by then.
type InProcess struct {
	ln      net.Listener
	hostKey ssh.PublicKey

	mu      sync.Mutex
	conns   []net.Conn
	signals []string
	wg      sync.WaitGroup
}

// StartInProcess starts an InProcess server on a free 127.0.0.1 port.
func StartInProcess(t testing.TB, opts InProcessOptions) *InProcess {
	t.Helper()
	conf := opts.Config
	if conf == nil {
		conf = &ssh.ServerConfig{NoClientAuth: true}
	}
	s := &InProcess{}
	keys := opts.HostKeys
	if len(keys) == 0 {
		keys = []ssh.Signer{NewSigner(t)}
	}
	for _, k := range keys {
		conf.AddHostKey(k)
	}
	s.hostKey = keys[0].PublicKey()

	var err error
	s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c, conf, opts)
			}()
		}
	}()
	t.Cleanup(func() {
		s.ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// HostKey returns the public half of the server's first host key.
func (s *InProcess) HostKey() ssh.PublicKey { return s.hostKey }

// Addr returns "127.0.0.1:PORT".
func (s *InProcess) Addr() string { return s.ln.Addr().String() }

// Port returns the port the server listens on.
func (s *InProcess) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Host returns 127.0.0.1.
func (s *InProcess) Host() string { return "127.0.0.1" }

// KnownHostsLine returns the known_hosts line for HostKey, without a
// newline.
func (s *InProcess) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(net.JoinHostPort(s.Host(), strconv.Itoa(s.Port())))}, s.hostKey)
}

// Signals returns the names of the signals clients sent to sessions so
// far, such as "KILL".
func (s *InProcess) Signals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.signals...)
}

func (s *InProcess) serve(c net.Conn, conf *ssh.ServerConfig, opts InProcessOptions) {
	defer c.Close()
	sc, chans, reqs, err := ssh.NewServerConn(c, conf)
	if err != nil {
		return
	}
	defer sc.Close()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for r := range reqs {
			if !opts.IgnoreGlobalRequests && r.WantReply {
				r.Reply(false, nil)
			}
		}
	}()
	for nc := range chans {
		if nc.ChannelType() != "session" || opts.Exec == nil {
			nc.Reject(ssh.UnknownChannelType, "not supported")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(ch, chReqs, opts.Exec)
		}()
	}
}

// session serves one session channel: one exec request, signals, and the
// exit status.
func (s *InProcess) session(ch ssh.Channel, reqs <-chan *ssh.Request, exec ExecFunc) {
	defer ch.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var done chan struct{}
	for r := range reqs {
		switch r.Type {
		case "exec":
			var p struct{ Command string }
			if done != nil || ssh.Unmarshal(r.Payload, &p) != nil {
				r.Reply(false, nil)
				continue
			}
			r.Reply(true, nil)
			done = make(chan struct{})
			go func() {
				defer close(done)
				status := exec(ctx, p.Command, ch, ch, ch.Stderr())
				ch.CloseWrite()
				ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
				ch.Close()
			}()
		case "signal":
			var p struct{ Signal string }
			ssh.Unmarshal(r.Payload, &p)
			s.mu.Lock()
			s.signals = append(s.signals, p.Signal)
			s.mu.Unlock()
			cancel()
		default:
			if r.WantReply {
				r.Reply(false, nil)
			}
		}
	}
	cancel()
	if done != nil {
		<-done
	}
}

// NewSigner returns a fresh ed25519 key.
func NewSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
