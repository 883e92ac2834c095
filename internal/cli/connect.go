package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fcp-dev/fcp/internal/agent"
	"github.com/fcp-dev/fcp/internal/daemon"
	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/endpoint/local"
	"github.com/fcp-dev/fcp/internal/endpoint/pool"
	"github.com/fcp-dev/fcp/internal/endpoint/remote"
	"github.com/fcp-dev/fcp/internal/progress"
	"github.com/fcp-dev/fcp/internal/sshdial"
	"github.com/fcp-dev/fcp/internal/transport"
)

// connectTimeout bounds starting a remote agent: the shell's start, the
// probe, the upload and the handshake.
const connectTimeout = 2 * time.Minute

// self returns the binary to upload to agents; it is hashed once per run.
type selfFunc func() (*agent.Binary, error)

// shellOpener opens one stream to a POSIX shell on the remote host.
type shellOpener struct {
	open func(ctx context.Context) (transport.Stream, error)
	desc string // how the shell is reached, for messages
}

// connect returns the Host an operand lives on, and how many connections
// it uses: this machine (one), or agents started through shells on the
// remote host, pooled. Without -n, a host whose round trip is short gets
// one connection per two cores (on a fast link the cost is CPU, and more
// connections only contend for it), a far one defaultConnections. The
// pool re-dials lost connections, a single one too, for --reconnect; when
// every connection stays lost that long, the run fails with a
// *pool.ReconnectError (exit code ExitConnection).
func connect(ctx context.Context, op operand, o copyOptions, env Env, self selfFunc) (endpoint.Host, int, error) {
	if !op.remote() {
		return local.NewHost(), 1, nil
	}
	if o.reconnect < 0 {
		return nil, 0, usageErrorf("--reconnect must not be negative")
	}
	logger := newLogger(env.Stderr, o.verbose)
	var dial func(ctx context.Context) (endpoint.Host, error)
	if op.Daemon {
		d, err := newDaemonDial(op, o, env, logger)
		if err != nil {
			return nil, 0, err
		}
		dial = d
	} else {
		sh, err := newShellOpener(op, o, env, logger)
		if err != nil {
			return nil, 0, err
		}
		dial = func(ctx context.Context) (endpoint.Host, error) { return connectOne(ctx, op, sh, o, self, logger) }
	}
	first, err := dial(ctx)
	if err != nil {
		return nil, 0, err
	}
	n := o.connections()
	if o.streams == 0 {
		rtt := roundTrip(ctx, first)
		if rtt < farRTT {
			n = max(1, runtime.NumCPU()/2)
		}
		logger.Info("connections", "host", op.Host, "rtt", rtt, "n", n)
	}
	h := pool.NewHost(first, pool.Options{
		Extra:           n - 1,
		Dial:            dial,
		ReconnectWindow: o.reconnect,
		Name:            op.Host,
		Logger:          logger,
	})
	return h, n, nil
}

// farRTT is the round trip from which one connection's window (2 MiB per
// round trip) falls short of a fast link, so more connections pay.
const farRTT = 5 * time.Millisecond

// roundTrip measures the shortest of three Stat round trips to h.
func roundTrip(ctx context.Context, h endpoint.Host) time.Duration {
	best := time.Duration(1<<63 - 1)
	for range 3 {
		start := time.Now()
		if _, err := h.Stat(ctx, "."); err != nil {
			return best
		}
		best = min(best, time.Since(start))
	}
	return best
}

// newShellOpener reaches the remote shell through -e COMMAND when given,
// else through fcp's own SSH client, which reads ~/.ssh/config (or -F) and
// shares one authentication (passphrases asked once) across connections.
func newShellOpener(op operand, o copyOptions, env Env, logger *slog.Logger) (*shellOpener, error) {
	if o.rsh != "" {
		argv, err := transport.RshArgv(o.rshCommand(), op.target(), "sh")
		if err != nil {
			return nil, usageErrorf("-e: %w", err)
		}
		cmd := transport.Command{Argv: argv, Stderr: env.Stderr, Interactive: progress.IsTerminal(env.Stderr)}
		return &shellOpener{
			open: func(ctx context.Context) (transport.Stream, error) { return cmd.Start(ctx) },
			desc: strings.Join(argv, " "),
		}, nil
	}
	port := o.port
	if port == 0 {
		port = o.scpPort
	}
	d, err := newSSHDialer(op, port, o, env, logger, nil)
	if err != nil {
		return nil, err
	}
	t := transport.SSH{Dial: d.Dial, Command: "sh", Stderr: env.Stderr}
	return &shellOpener{open: t.Open, desc: "ssh " + d.Config.Destination()}, nil
}

// newSSHDialer returns fcp's SSH client for op's host, configured by
// ssh_config (or -F), the operand's user, port (0: the config's) and -i;
// adjust, if set, changes the resolved configuration first.
func newSSHDialer(op operand, port int, o copyOptions, env Env, logger *slog.Logger, adjust func(*sshdial.Config)) (*sshdial.Dialer, error) {
	cfg, err := sshdial.Resolve(op.Host, sshdial.Options{
		User: op.User, Port: port, Identity: o.identity, ConfigFile: o.sshConfig, Logger: logger,
	})
	if err != nil {
		return nil, usageErrorf("%s: %w", op.Host, err)
	}
	if adjust != nil {
		adjust(cfg)
	}
	return &sshdial.Dialer{
		Config:      cfg,
		Prompter:    sshdial.Terminal{},
		AgentSocket: os.Getenv("SSH_AUTH_SOCK"),
		Stderr:      env.Stderr,
		Logger:      logger,
	}, nil
}

// newDaemonDial returns a function that opens one connection to the fcpd
// of op, with fcp's own SSH client (keys from the ssh-agent or files, the
// host key checked against known_hosts under "[host]:port"); every
// connection it opens joins one session.
func newDaemonDial(op operand, o copyOptions, env Env, logger *slog.Logger) (func(ctx context.Context) (endpoint.Host, error), error) {
	if o.rsh != "" {
		return nil, usageErrorf("%s: -e does not apply to fcp:// operands", op.Raw)
	}
	port := op.Port
	if port == 0 {
		port = daemon.DefaultPort
	}
	d, err := newSSHDialer(op, port, o, env, logger, func(cfg *sshdial.Config) {
		cfg.Port = port       // the URL's, or fcpd's: not the config's ssh port
		cfg.HostKeyAlias = "" // fcpd has a host key of its own
		if cfg.ServerAliveInterval == 0 {
			cfg.ServerAliveInterval = daemonKeepalive
		}
	})
	if err != nil {
		return nil, err
	}
	var sess daemon.Session
	t := transport.SSH{
		Dial: func(ctx context.Context) (*ssh.Client, error) {
			c, err := d.Dial(ctx)
			if err != nil {
				return nil, err
			}
			if err := sess.Join(c); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
		Subsystem: daemon.Subsystem,
		Stderr:    env.Stderr,
	}
	where := "fcpd at " + d.Config.Addr()
	return func(ctx context.Context) (endpoint.Host, error) {
		ctx, cancel := context.WithTimeout(ctx, connectTimeout)
		defer cancel()
		s, err := t.Open(ctx)
		if err != nil {
			return nil, withKind(errConn, fmt.Errorf("%s: %w", where, err))
		}
		c, err := remote.Dial(ctx, s, s, remote.DialOptions{Software: software(), Closer: s, Logger: logger, Compress: o.compress})
		if err != nil {
			return nil, withKind(errStart, fmt.Errorf("%s: %w", where, err))
		}
		return c, nil
	}, nil
}

// daemonKeepalive is how often an idle connection to fcpd shows it is
// alive, well inside fcpd's default idle_timeout.
const daemonKeepalive = 30 * time.Second

// defaultConnections is the number of connections per remote host when -n
// is not given: enough windows to fill a long link (one SSH channel moves
// at most 2 MiB per round trip), few enough for a small machine.
const defaultConnections = 4

// connections returns how many connections to open per remote host.
func (o copyOptions) connections() int {
	if o.streams > 0 {
		return o.streams
	}
	return defaultConnections
}

// connectOne starts one agent through the remote shell and connects to it.
func connectOne(ctx context.Context, op operand, sh *shellOpener, o copyOptions, self selfFunc, logger *slog.Logger) (endpoint.Host, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	proc, err := sh.open(ctx)
	if err != nil {
		return nil, withKind(errConn, fmt.Errorf("%s: %w", op.Host, err))
	}
	var args []string
	if o.verbose >= 3 || o.agentProfile != "" {
		args = []string{"agent"}
		if o.verbose >= 3 {
			args = append(args, "-vvv")
		}
		if o.agentProfile != "" {
			args = append(args, "--cpuprofile", o.agentProfile)
		}
	}
	bin, err := self()
	if err != nil {
		proc.Close()
		return nil, withKind(errStart, fmt.Errorf("finding fcp's own executable: %w", err))
	}
	res, err := agent.Bootstrap(ctx, proc, agent.Options{Binary: bin, Args: args, Logger: logger})
	if err != nil {
		proc.Close()
		return nil, withKind(errStart, fmt.Errorf("%s: starting agent with %q: %w", op.Host, sh.desc, err))
	}
	c, err := remote.Dial(ctx, res.Reader, proc, remote.DialOptions{Software: software(), Closer: proc, Logger: logger, Compress: o.compress})
	if err != nil {
		return nil, withKind(errStart, fmt.Errorf("%s: %w", op.Host, err))
	}
	return c, nil
}

// rshCommand returns the remote-shell command: -e as given, or ssh with
// the ssh flags (-p, -i, -F) passed on.
func (o copyOptions) rshCommand() string {
	rsh := o.rsh
	if rsh == "" {
		rsh = "ssh"
	}
	words := strings.Fields(rsh)
	if len(words) == 0 || path.Base(strings.Trim(words[0], `'"`)) != "ssh" {
		return rsh
	}
	port := o.port
	if port == 0 {
		port = o.scpPort
	}
	if port != 0 {
		rsh += " -p " + strconv.Itoa(port)
	}
	if o.identity != "" {
		rsh += " -i " + rshQuote(o.identity)
	}
	if o.sshConfig != "" {
		rsh += " -F " + rshQuote(o.sshConfig)
	}
	return rsh
}

// rshQuote quotes s as one word of an rsync-style -e command.
func rshQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
