package sshdial

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Errors of Dial. Each error Dial returns wraps exactly one of them, with
// the destination and the reason in one line.
var (
	// ErrConnect means the server could not be reached or the SSH
	// connection broke before authentication: DNS, TCP, a ProxyCommand or
	// ProxyJump hop failing, a timeout, a protocol error, a cancelled
	// context (the error then wraps the context's error too).
	ErrConnect = errors.New("sshdial: cannot connect")
	// ErrHostKey means the server's host key was not accepted: unknown
	// and not confirmed, changed, or revoked.
	ErrHostKey = errors.New("sshdial: host key verification failed")
	// ErrAuth means the server accepted none of the credentials offered,
	// as in "me@host: permission denied (publickey,password)", listing
	// the methods the server allows.
	ErrAuth = errors.New("sshdial: authentication failed")
)

// Dialer opens authenticated SSH connections to the host of Config.
//
// A Dialer is safe for concurrent use and is meant to be shared by all the
// connections to a host, as it remembers, for its lifetime, what it asked
// the user: decrypted keys, the password last entered, host keys accepted
// on the terminal. Its exported fields must not change once Dial has been
// called, and a Dialer must not be copied then.
type Dialer struct {
	// Config is the host to connect to, usually from Resolve. Required.
	Config *Config
	// Prompter asks for passphrases, passwords and host key
	// confirmations, usually Terminal{}. nil means nothing can be asked,
	// as in BatchMode.
	Prompter Prompter
	// AgentSocket is the path of the ssh-agent's socket, usually
	// $SSH_AUTH_SOCK; "" means no agent. The Config's IdentityAgent
	// overrides it.
	AgentSocket string
	// Stderr receives what a ProxyCommand writes to its standard error
	// and the servers' pre-authentication banners (each distinct banner
	// once). nil discards them. Writes come from the goroutines of Dial
	// and of the ProxyCommands, so Stderr must be safe for concurrent use.
	Stderr io.Writer
	// Logger receives debug logs of the connection steps and warnings
	// such as a host key being added to known_hosts. nil discards them.
	Logger *slog.Logger

	mu        sync.Mutex          // guards the maps
	keys      map[string]*keyFile // identity files by path
	passwords map[string]string   // password last entered, by destination
	accepted  map[string]bool     // host keys accepted this session, by host and key
	banners   map[string]bool     // banners shown

	promptMu sync.Mutex // one prompt at a time
	knownMu  sync.Mutex // reading and appending known_hosts files
}

// banner shows a server's pre-authentication banner on d.Stderr, each
// distinct banner once per Dialer rather than once per connection.
func (d *Dialer) banner(msg string) error {
	if d.Stderr == nil {
		return nil
	}
	d.mu.Lock()
	if d.banners == nil {
		d.banners = make(map[string]bool)
	}
	shown := d.banners[msg]
	d.banners[msg] = true
	d.mu.Unlock()
	if !shown {
		io.WriteString(d.Stderr, msg)
	}
	return nil
}

func (d *Dialer) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

// Dial opens one TCP connection (directly, through ProxyJump hops or a
// ProxyCommand), verifies the host key, authenticates and returns the
// client, which the caller must close; closing it also closes the hops and
// the ProxyCommand behind it.
//
// ctx bounds the whole of Dial, prompts aside (a terminal read is not
// interrupted, but its result is discarded); once Dial has returned,
// cancelling ctx does not affect the client. Config.ConnectTimeout bounds
// each hop's connection and handshake up to the host key check.
//
// When Config.ServerAliveInterval is set, the client (and each hop) sends
// keepalive@openssh.com requests and closes itself after
// ServerAliveCountMax of them went unanswered. The goroutines doing so
// belong to the connection and end with it.
//
// Errors wrap ErrConnect, ErrHostKey or ErrAuth.
func (d *Dialer) Dial(ctx context.Context) (*ssh.Client, error) {
	c := d.Config
	if c == nil {
		return nil, fmt.Errorf("%w: no Config", ErrConnect)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConnect, c.Destination(), err)
	}
	return d.dial(ctx, c)
}

// dial connects to c and authenticates.
func (d *Dialer) dial(ctx context.Context, c *Config) (*ssh.Client, error) {
	conn, err := d.connect(ctx, c)
	if err != nil {
		return nil, err
	}
	return d.handshake(ctx, conn, c)
}

// connect returns a byte stream to c's server: through c's ProxyJump
// hops, its ProxyCommand, or a TCP connection.
func (d *Dialer) connect(ctx context.Context, c *Config) (net.Conn, error) {
	switch {
	case len(c.ProxyJump) > 0:
		var via *ssh.Client
		var viaCfg *Config
		for i, hop := range c.ProxyJump {
			var err error
			if i == 0 {
				via, err = d.dial(ctx, hop)
			} else {
				var conn net.Conn
				if conn, err = d.forward(ctx, via, viaCfg, hop); err == nil {
					via, err = d.handshake(ctx, conn, hop)
				}
			}
			if err != nil {
				return nil, err
			}
			viaCfg = hop
		}
		return d.forward(ctx, via, viaCfg, c)
	case c.ProxyCommand != "":
		return d.proxyCommand(c)
	default:
		d.logger().Debug("connecting", "addr", c.Addr())
		nd := net.Dialer{Timeout: c.ConnectTimeout}
		conn, err := nd.DialContext(ctx, "tcp", c.Addr())
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrConnect, c.Destination(), err)
		}
		return conn, nil
	}
}

// forward opens a connection to c's address through via, a client of the
// jump host viaCfg (a direct-tcpip channel, as ssh -W does). The
// connection owns via: closing it closes via, and so does forward when it
// fails.
func (d *Dialer) forward(ctx context.Context, via *ssh.Client, viaCfg, c *Config) (net.Conn, error) {
	d.logger().Debug("connecting through jump host", "addr", c.Addr(), "via", viaCfg.Destination())
	if c.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.ConnectTimeout)
		defer cancel()
	}
	conn, err := via.DialContext(ctx, "tcp", c.Addr())
	if err != nil {
		via.Close()
		return nil, fmt.Errorf("%w: %s: through jump host %s: %w", ErrConnect, c.Destination(), viaCfg.Destination(), err)
	}
	return &viaConn{Conn: conn, via: via}, nil
}

// viaConn is a connection through a jump host's client, which it owns.
type viaConn struct {
	net.Conn
	via *ssh.Client
}

func (c *viaConn) Close() error {
	err := c.Conn.Close()
	c.via.Close()
	return err
}

// handshake runs the SSH handshake over conn, which it owns (closing it
// on failure): host key check, then authentication.
func (d *Dialer) handshake(ctx context.Context, conn net.Conn, c *Config) (*ssh.Client, error) {
	algos, err := d.knownAlgorithms(c)
	if err != nil {
		conn.Close()
		return nil, err
	}
	a := &auth{d: d, c: c, ctx: ctx, dest: c.Destination(), tried: map[string]bool{}}
	defer a.close()
	var hostKeyErr error
	var verified []byte // the host key once accepted; key re-exchanges present it again
	cc := &ssh.ClientConfig{
		User: c.User,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if verified != nil {
				if !bytes.Equal(verified, key.Marshal()) {
					return fmt.Errorf("%w: %s presented another host key in a key re-exchange", ErrHostKey, knownHostsName(c))
				}
				return nil
			}
			conn.SetDeadline(time.Time{})
			if hostKeyErr = d.checkHostKey(c, key); hostKeyErr == nil {
				verified = key.Marshal()
			}
			return hostKeyErr
		},
		HostKeyAlgorithms: algos,
		AuthCallback:      a.callback,
		BannerCallback:    d.banner,
	}
	if c.ConnectTimeout > 0 {
		conn.SetDeadline(time.Now().Add(c.ConnectTimeout))
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, c.Addr(), cc)
	interrupted := !stop()
	switch {
	case err == nil && interrupted:
		sc.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrConnect, c.Destination(), ctx.Err())
	case err == nil:
	case hostKeyErr != nil:
		return nil, hostKeyErr
	case a.err != nil:
		return nil, a.err
	case interrupted:
		return nil, fmt.Errorf("%w: %s: %w", ErrConnect, c.Destination(), ctx.Err())
	case len(algos) > 0 && strings.Contains(err.Error(), "no common algorithm for host key"):
		return nil, fmt.Errorf("%w: %s offers none of the host key types known for it (%s): %w",
			ErrHostKey, knownHostsName(c), strings.Join(algos, ","), err)
	case strings.Contains(err.Error(), "unable to authenticate"):
		return nil, fmt.Errorf("%w: %s: %w", ErrAuth, c.Destination(), err)
	case errors.Is(err, io.EOF) && c.ProxyCommand != "":
		return nil, fmt.Errorf("%w: %s: ProxyCommand %q closed the connection", ErrConnect, c.Destination(), c.ProxyCommand)
	default:
		return nil, fmt.Errorf("%w: %s: %w", ErrConnect, c.Destination(), err)
	}
	d.logger().Debug("authenticated", "dest", a.dest, "method", a.last.name, "key", a.last.what)
	client := ssh.NewClient(sc, chans, reqs)
	if c.ServerAliveInterval > 0 {
		max := c.ServerAliveCountMax
		if max <= 0 {
			max = 3
		}
		go keepalive(client, c.ServerAliveInterval, max, d.logger())
	}
	return client, nil
}

// keepalive sends a keepalive@openssh.com request every interval and
// closes client once max requests in a row went unanswered, as ssh(1)'s
// ServerAliveInterval and ServerAliveCountMax. It returns when the
// connection ends; the goroutine it starts for each request ends then too,
// if the reply has not come.
func keepalive(client *ssh.Client, interval time.Duration, max int, logger *slog.Logger) {
	closed := make(chan struct{})
	go func() {
		client.Wait()
		close(closed)
	}()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	replies := make(chan error, 1)
	pending, missed := false, 0
	for {
		select {
		case <-closed:
			return
		case err := <-replies:
			pending = false
			if err != nil {
				return // the connection ended
			}
			missed = 0
		case <-ticker.C:
			if !pending {
				pending = true
				go func() {
					_, _, err := client.SendRequest("keepalive@openssh.com", true, nil)
					replies <- err
				}()
				continue
			}
			missed++
			if missed >= max {
				logger.Warn("server not responding: closing the connection", "server", client.RemoteAddr(), "unanswered", missed)
				client.Close()
				return
			}
		}
	}
}
