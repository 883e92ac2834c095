package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fcp-dev/fcp/internal/endpoint/local"
	"github.com/fcp-dev/fcp/internal/endpoint/remote"
)

// Names on the SSH protocol.
const (
	// SessionRequest is the global request that starts a session (empty
	// payload) or joins one (its 16-byte id). The reply carries the id;
	// a refusal carries the reason as text.
	SessionRequest = "fcp-session@fcp.dev"
	// Subsystem is the subsystem of a "session" channel that speaks the
	// agent protocol.
	Subsystem = "fcp"

	extKey       = "fcpd-key"     // Permissions.Extensions: the key's fingerprint
	extComment   = "fcpd-comment" // and its comment in authorized_keys
	sessionIDLen = 16
)

// Options adjusts New.
type Options struct {
	// Signers are the host keys (see LoadHostKeys); at least one.
	Signers []ssh.Signer
	// Software names this program to clients (SSH version string and the
	// agent handshake).
	Software string
	// Version is put in the SSH version string, "SSH-2.0-fcpd_VERSION".
	Version string
	// Logger receives what fcpd does; nil discards it.
	Logger *slog.Logger
}

// Server serves a Config. Create it with New; it is safe for concurrent
// use, and Serve may run on several listeners at once.
type Server struct {
	cfg      Config
	log      *slog.Logger
	software string
	ssh      *ssh.ServerConfig
	roots    map[string]*exportRoot
	keyFiles []*keyFile // every distinct authorized_keys file

	startups chan struct{} // one token per connection not yet authenticated
	connSeq  atomic.Uint64

	mu       sync.Mutex
	sessions map[[sessionIDLen]byte]*session
	conns    int // TCP connections
	streams  int // agent streams
}

// session groups the connections of one fcp run.
type session struct {
	id      [sessionIDLen]byte
	key     string // the fingerprint of the key that started it
	conns   int    // connections attached
	streams int    // streams served
}

// New checks cfg (with defaults applied), opens its roots and reads its
// authorized_keys files. A root that is not a directory, or an
// authorized_keys file that a root relies on and that cannot be read, is
// an error. The caller closes the Server after its Serve calls return.
func New(cfg Config, opts Options) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if len(opts.Signers) == 0 {
		return nil, fmt.Errorf("%w: no host key", ErrConfig)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:      cfg,
		log:      log,
		software: opts.Software,
		roots:    make(map[string]*exportRoot, len(cfg.Roots)),
		startups: make(chan struct{}, cfg.MaxStartups),
		sessions: make(map[[sessionIDLen]byte]*session),
	}
	files := map[string]*keyFile{}
	for _, r := range cfg.Roots {
		keys := r.AuthorizedKeys
		if keys == "" {
			keys = cfg.AuthorizedKeys
		}
		kf, ok := files[keys]
		if !ok {
			kf = &keyFile{path: keys, log: log}
			if err := kf.load(); err != nil {
				s.Close()
				return nil, fmt.Errorf("%w: root %q: authorized keys: %w", ErrConfig, r.Name, err)
			}
			files[keys] = kf
			s.keyFiles = append(s.keyFiles, kf)
		}
		dir, err := os.OpenRoot(r.Path)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%w: root %q: %w", ErrConfig, r.Name, err)
		}
		s.roots[r.Name] = &exportRoot{Root: r, dir: dir, keys: kf}
		log.Info("exporting", "root", r.Name, "path", r.Path, "read_only", r.ReadOnly, "authorized_keys", keys)
	}
	version := opts.Version
	if version == "" {
		version = "0"
	}
	s.ssh = &ssh.ServerConfig{
		PublicKeyCallback: s.checkKey,
		ServerVersion:     "SSH-2.0-fcpd_" + version,
		MaxAuthTries:      6,
	}
	for _, k := range opts.Signers {
		s.ssh.AddHostKey(k)
		log.Info("host key", "type", k.PublicKey().Type(), "fingerprint", ssh.FingerprintSHA256(k.PublicKey()))
	}
	return s, nil
}

// Close releases the roots. It does not stop Serve: cancel its context.
func (s *Server) Close() error {
	var errs []error
	for _, r := range s.roots {
		errs = append(errs, r.dir.Close())
	}
	return errors.Join(errs...)
}

// checkKey is the SSH public-key callback: a key found in any of the
// authorized_keys files authenticates (what it may use is decided per
// root, see exportHost).
func (s *Server) checkKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	fp := ssh.FingerprintSHA256(key)
	for _, kf := range s.keyFiles {
		if info, ok := kf.lookup(fp); ok {
			return &ssh.Permissions{Extensions: map[string]string{extKey: fp, extComment: info.Comment}}, nil
		}
	}
	s.log.Info("key refused: not in any authorized_keys", "from", meta.RemoteAddr().String(), "user", meta.User(), "key", fp)
	return nil, errors.New("key not authorized")
}

// Serve accepts connections on ln and serves them until ctx ends; then it
// closes ln, cuts every connection (a file being written is kept as a
// partial file for the client's next run to resume, never left at its
// final path), waits for every goroutine it started and returns nil. A
// failure of ln is returned.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	backoff := 5 * time.Millisecond
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
				// Out of descriptors, say: wait for connections to end.
				s.log.Error("accept failed; retrying", "err", err, "in", backoff)
				t := time.NewTimer(backoff)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
				backoff = min(2*backoff, time.Second)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		backoff = 5 * time.Millisecond
		wg.Go(func() { s.handle(ctx, nc) })
	}
}

// handle serves one TCP connection until it ends or ctx does.
func (s *Server) handle(ctx context.Context, nc net.Conn) {
	log := s.log.With("conn", s.connSeq.Add(1), "from", nc.RemoteAddr().String())
	defer nc.Close()
	if err := s.acquireConn(); err != nil {
		log.Warn("connection refused", "reason", err)
		return
	}
	defer s.releaseConn()
	wait := time.NewTimer(s.cfg.HandshakeTimeout)
	select {
	case s.startups <- struct{}{}:
		wait.Stop()
	case <-wait.C:
		log.Warn("connection refused", "reason", fmt.Sprintf("%d connections were authenticating all along (max_startups)", cap(s.startups)))
		return
	case <-ctx.Done():
		wait.Stop()
		return
	}
	authenticating := true
	endStartup := func() {
		if authenticating {
			authenticating = false
			<-s.startups
		}
	}
	defer endStartup()

	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	ic := &idleConn{Conn: nc}
	nc.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(ic, s.ssh)
	if err != nil {
		log.Info("connection refused", "reason", handshakeReason(err))
		return
	}
	defer sc.Close()
	endStartup()
	nc.SetDeadline(time.Time{})
	if s.cfg.IdleTimeout > 0 {
		// The read already waiting started without a deadline.
		ic.idle.Store(int64(s.cfg.IdleTimeout))
		nc.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
	}
	start := time.Now()
	c := &conn{srv: s, sc: sc, key: sc.Permissions.Extensions[extKey]}
	c.log = log.With("user", sc.User(), "key", c.key)
	c.log.Info("authenticated", "comment", sc.Permissions.Extensions[extComment], "client", string(sc.ClientVersion()))

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { c.globalRequests(reqs) })
	for nch := range chans {
		c.channel(cctx, nch, &wg)
	}
	cancel()
	sc.Close()
	wg.Wait()
	c.leave()
	c.log.Info("connection closed", "duration", time.Since(start).Round(time.Millisecond))
}

// handshakeReason explains a failed SSH handshake in a log line.
func handshakeReason(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "handshake timed out (handshake_timeout)"
	case errors.Is(err, io.EOF):
		return "closed by the client before authenticating"
	}
	return err.Error()
}

func (s *Server) acquireConn() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns >= s.cfg.MaxConnections {
		return fmt.Errorf("%d connections open (max_connections)", s.conns)
	}
	s.conns++
	return nil
}

func (s *Server) releaseConn() {
	s.mu.Lock()
	s.conns--
	s.mu.Unlock()
}

// conn is one authenticated connection.
type conn struct {
	srv *Server
	sc  *ssh.ServerConn
	key string
	log *slog.Logger

	mu   sync.Mutex // guards sess
	sess *session
}

// globalRequests answers the connection's global requests until it ends.
func (c *conn) globalRequests(reqs <-chan *ssh.Request) {
	for req := range reqs {
		switch req.Type {
		case SessionRequest:
			id, err := c.join(req.Payload)
			if err != nil {
				c.log.Warn("session refused", "reason", err)
				req.Reply(false, []byte(err.Error()))
				continue
			}
			req.Reply(true, id[:])
		default:
			if req.WantReply {
				req.Reply(false, nil) // keepalives too
			}
		}
	}
}

// join attaches c to the session whose id is payload, or to a new one if
// payload is empty.
func (c *conn) join(payload []byte) ([sessionIDLen]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != nil {
		return [sessionIDLen]byte{}, errors.New("this connection already belongs to a session")
	}
	s := c.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	switch len(payload) {
	case 0:
		sess, err := s.newSessionLocked(c.key)
		if err != nil {
			return [sessionIDLen]byte{}, err
		}
		c.sess = sess
		c.log.Info("session started", "session", fmt.Sprintf("%x", sess.id[:4]))
	case sessionIDLen:
		sess := s.sessions[[sessionIDLen]byte(payload)]
		if sess == nil || sess.key != c.key {
			return [sessionIDLen]byte{}, errors.New("no such session")
		}
		sess.conns++
		c.sess = sess
		c.log.Debug("session joined", "session", fmt.Sprintf("%x", sess.id[:4]))
	default:
		return [sessionIDLen]byte{}, fmt.Errorf("session id of %d bytes", len(payload))
	}
	return c.sess.id, nil
}

// newSessionLocked starts a session with one connection. The caller holds
// s.mu.
func (s *Server) newSessionLocked(key string) (*session, error) {
	if len(s.sessions) >= s.cfg.MaxSessions {
		return nil, fmt.Errorf("fcpd serves %d sessions already (max_sessions)", len(s.sessions))
	}
	sess := &session{key: key, conns: 1}
	rand.Read(sess.id[:])
	s.sessions[sess.id] = sess
	return sess, nil
}

// leave detaches c from its session, ending the session with its last
// connection.
func (c *conn) leave() {
	c.mu.Lock()
	sess := c.sess
	c.sess = nil
	c.mu.Unlock()
	if sess == nil {
		return
	}
	s := c.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.conns--
	if sess.conns == 0 {
		delete(s.sessions, sess.id)
		c.log.Info("session ended", "session", fmt.Sprintf("%x", sess.id[:4]))
	}
}

// acquireStream counts a new stream against the limits, starting a
// session for a connection that has none.
func (c *conn) acquireStream() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.sess == nil {
		sess, err := s.newSessionLocked(c.key)
		if err != nil {
			return err
		}
		c.sess = sess
	}
	switch {
	case c.sess.streams >= s.cfg.MaxConnsPerSession:
		return fmt.Errorf("the session has %d connections (max_connections_per_session, -c)", c.sess.streams)
	case s.streams >= s.cfg.MaxConnections:
		return fmt.Errorf("fcpd serves %d connections (max_connections)", s.streams)
	}
	c.sess.streams++
	s.streams++
	return nil
}

func (c *conn) releaseStream() {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	c.sess.streams--
	s.streams--
}

// channel accepts a "session" channel within the limits and serves it
// from a goroutine that wg tracks; other channels are refused.
func (c *conn) channel(ctx context.Context, nch ssh.NewChannel, wg *sync.WaitGroup) {
	if nch.ChannelType() != "session" {
		nch.Reject(ssh.UnknownChannelType, "fcpd serves only fcp sessions")
		return
	}
	if err := c.acquireStream(); err != nil {
		c.log.Warn("stream refused", "reason", err)
		nch.Reject(ssh.ResourceShortage, err.Error())
		return
	}
	ch, reqs, err := nch.Accept()
	if err != nil {
		c.releaseStream()
		return
	}
	wg.Go(func() {
		defer c.releaseStream()
		c.serve(ctx, ch, reqs)
	})
}

// serve waits for the channel's subsystem request and serves the agent
// protocol on it; any other request (a shell, a command, a terminal) is
// refused.
func (c *conn) serve(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	started := false
	for !started {
		select {
		case <-ctx.Done():
			return
		case req, ok := <-reqs:
			if !ok {
				return
			}
			if req.Type == "subsystem" && subsystemName(req.Payload) == Subsystem {
				started = true
			}
			if req.WantReply {
				req.Reply(started, nil)
			}
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for req := range reqs {
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	})
	host := &exportHost{roots: c.srv.roots, fp: c.key, local: &local.Host{Logger: c.log}}
	defer host.Close()
	rw := &countingRW{rw: ch}
	start := time.Now()
	var once sync.Once
	end := closerFunc(func() error {
		once.Do(func() {
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
			ch.Close()
		})
		return nil
	})
	err := remote.Serve(ctx, rw, rw, host, remote.ServeOptions{Software: c.srv.software, Closer: end, Logger: c.log})
	end.Close()
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
	}
	c.log.Log(ctx, level, "stream ended", "received", rw.in.Load(), "sent", rw.out.Load(),
		"duration", time.Since(start).Round(time.Millisecond), "err", err)
}

// subsystemName decodes the payload of a "subsystem" request.
func subsystemName(payload []byte) string {
	var m struct{ Name string }
	if ssh.Unmarshal(payload, &m) != nil {
		return ""
	}
	return m.Name
}

// closerFunc is an io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// countingRW counts the bytes through rw.
type countingRW struct {
	rw      io.ReadWriter
	in, out atomic.Int64
}

func (c *countingRW) Read(b []byte) (int, error) {
	n, err := c.rw.Read(b)
	c.in.Add(int64(n))
	return n, err
}

func (c *countingRW) Write(b []byte) (int, error) {
	n, err := c.rw.Write(b)
	c.out.Add(int64(n))
	return n, err
}

// idleConn is a net.Conn whose reads fail once nothing arrived for idle
// (nanoseconds; 0 leaves the deadline alone).
type idleConn struct {
	net.Conn
	idle atomic.Int64
}

func (c *idleConn) Read(b []byte) (int, error) {
	if d := c.idle.Load(); d > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(time.Duration(d)))
	}
	return c.Conn.Read(b)
}
