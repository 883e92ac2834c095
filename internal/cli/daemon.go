package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/fcp-dev/fcp/internal/daemon"
)

// backgroundEnv marks the process that -d started in the background; its
// value is the descriptor of the pipe on which it reports being ready.
const backgroundEnv = "FCPD_BACKGROUND_FD"

// daemonOptions are fcpd's flags.
type daemonOptions struct {
	config         string
	roots          []string
	authorizedKeys string
	hostKeys       []string
	listen         string
	conns          int
	logLevel       string
	background     bool
	logFile        string
	pidFile        string
	printHostKey   bool
}

// RunDaemon executes fcpd with args (without the program name) and returns
// its exit code: 0 when stopped by SIGTERM or SIGINT (ctx), ExitUsage for
// bad flags or configuration, ExitConnection when it cannot listen.
func RunDaemon(ctx context.Context, args []string, env Env) int {
	cmd := newDaemonCmd(env)
	cmd.Use = "fcpd [flags]"
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err != nil && !errors.Is(err, errReported) {
		fmt.Fprintf(env.Stderr, "fcpd: %s\n", oneLine(err.Error()))
	}
	return exitCode(err)
}

// newDaemonCmd is fcpd, also run as "fcp daemon".
func newDaemonCmd(env Env) *cobra.Command {
	var o daemonOptions
	cmd := &cobra.Command{
		Use:   "daemon [flags]",
		Short: "serve exported directories to fcp clients (fcpd)",
		Long: `fcpd serves directories to fcp clients (fcp SRC fcp://[user@]host[:port]/ROOT/PATH and
the reverse), on port 7523 by default. It speaks SSH: clients authenticate with their SSH
keys (listed in an authorized_keys file, per root if wished), check fcpd's host key against
known_hosts, and everything is encrypted. Nothing else is offered: no shell, no commands.
Each exported root is a [NAME] section of the configuration file (or --root NAME=DIR);
clients reach nothing outside the roots their key may use, and write nothing to a
read-only root.

Exit codes: 0 stopped by SIGTERM or SIGINT, 1 bad flags or configuration, 10 cannot listen.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), o, env)
		},
	}
	cmd.SetIn(env.Stdin)
	cmd.SetOut(env.Stdout)
	cmd.SetErr(env.Stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErrorf("%v", err) })
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&o.config, "config", daemon.DefaultConfigFile, "configuration file (optional when --root is given)")
	f.StringArrayVar(&o.roots, "root", nil, "export DIR as NAME (NAME=DIR, or NAME=DIR,ro for read-only); repeatable")
	f.StringVar(&o.authorizedKeys, "authorized-keys", "", "the keys that may connect (default "+daemon.DefaultAuthorizedKeys+")")
	f.StringArrayVar(&o.hostKeys, "host-key", nil, "host key file, generated if missing (default "+daemon.DefaultHostKey+"); repeatable")
	f.StringVar(&o.listen, "listen", "", "address to listen on (default :7523)")
	f.IntVarP(&o.conns, "connections", "c", 0, "max connections per session (default 128)")
	f.StringVar(&o.logLevel, "loglevel", "info", "debug, info, warning or error")
	f.BoolVarP(&o.background, "daemon", "d", false, "run in the background, logging to --log-file, with a --pid-file")
	f.StringVar(&o.logFile, "log-file", "", "log file with -d (default /var/log/fcpd.log)")
	f.StringVar(&o.pidFile, "pid-file", "", "pid file with -d (default /run/fcpd.pid)")
	f.BoolVar(&o.printHostKey, "print-host-key", false, "print the public host key (for known_hosts) and exit")
	return cmd
}

// runDaemon loads the configuration and serves it until ctx ends.
func runDaemon(ctx context.Context, o daemonOptions, env Env) error {
	cfg, err := o.loadConfig()
	if err != nil {
		return err
	}
	signers, err := daemon.LoadHostKeys(cfg.HostKeys)
	if err != nil {
		return usageErrorf("%w", err)
	}
	if o.printHostKey {
		for _, s := range signers {
			fmt.Fprint(env.Stdout, string(ssh.MarshalAuthorizedKey(s.PublicKey())))
		}
		return nil
	}
	level, err := parseLogLevel(o.logLevel)
	if err != nil {
		return err
	}
	ready := func(error) {}
	fdText := os.Getenv(backgroundEnv)
	inBackground := fdText != ""
	if inBackground {
		ready = readyReporter(fdText)
	} else if o.background {
		return startBackground(o, cfg, env)
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	if cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	srv, err := daemon.New(cfg, daemon.Options{Signers: signers, Software: software(), Version: Version, Logger: log})
	if err != nil {
		ready(err)
		return usageErrorf("%w", err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		ready(err)
		return withKind(errConn, err)
	}
	if inBackground {
		if err := writePidFile(cfg.PidFile); err != nil {
			ln.Close()
			ready(err)
			return usageErrorf("pid file: %w", err)
		}
		defer os.Remove(cfg.PidFile)
	}
	log.Info("listening", "addr", ln.Addr().String(), "pid", os.Getpid(),
		"max_sessions", cfg.MaxSessions, "max_connections", cfg.MaxConnections, "max_connections_per_session", cfg.MaxConnsPerSession)
	ready(nil)
	if err := srv.Serve(ctx, ln); err != nil {
		return withKind(errConn, err)
	}
	log.Info("stopped", "reason", context.Cause(ctx))
	return nil
}

// loadConfig reads the configuration file (a missing default one is fine
// when --root names the roots) and lays the flags over it.
func (o daemonOptions) loadConfig() (daemon.Config, error) {
	var cfg daemon.Config
	f, err := os.Open(o.config)
	switch {
	case errors.Is(err, fs.ErrNotExist) && o.config == daemon.DefaultConfigFile && (len(o.roots) > 0 || o.printHostKey):
	case err != nil:
		return cfg, usageErrorf("config: %w", err)
	default:
		abs, _ := filepath.Abs(o.config)
		cfg, err = daemon.ParseConfig(f, filepath.Dir(abs))
		f.Close()
		if err != nil {
			return cfg, usageErrorf("%s: %w", o.config, err)
		}
	}
	for _, r := range o.roots {
		name, dir, ok := strings.Cut(r, "=")
		if !ok || dir == "" {
			return cfg, usageErrorf("--root %q: want NAME=DIR", r)
		}
		root := daemon.Root{Name: name}
		if d, ok := strings.CutSuffix(dir, ",ro"); ok {
			dir, root.ReadOnly = d, true
		}
		if root.Path, err = filepath.Abs(dir); err != nil {
			return cfg, usageErrorf("--root %q: %w", r, err)
		}
		cfg.Roots = append(cfg.Roots, root)
	}
	if o.authorizedKeys != "" {
		cfg.AuthorizedKeys, _ = filepath.Abs(o.authorizedKeys)
	}
	for _, k := range o.hostKeys {
		abs, _ := filepath.Abs(k)
		cfg.HostKeys = append(cfg.HostKeys, abs)
	}
	if o.listen != "" {
		cfg.Listen = o.listen
	}
	if o.conns < 0 {
		return cfg, usageErrorf("-c must be positive")
	}
	if o.conns > 0 {
		cfg.MaxConnsPerSession = o.conns
	}
	if o.logFile != "" {
		cfg.LogFile, _ = filepath.Abs(o.logFile)
	}
	if o.pidFile != "" {
		cfg.PidFile, _ = filepath.Abs(o.pidFile)
	}
	if cfg.LogFile == "" {
		cfg.LogFile = "/var/log/fcpd.log"
	}
	if cfg.PidFile == "" {
		cfg.PidFile = "/run/fcpd.pid"
	}
	cfg = cfg.WithDefaults()
	if o.printHostKey {
		return cfg, nil
	}
	if err := cfg.Check(); err != nil {
		return cfg, usageErrorf("%w", err)
	}
	return cfg, nil
}

// parseLogLevel maps --loglevel to a slog level.
func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warning", "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, usageErrorf("--loglevel %q: want debug, info, warning or error", s)
}

// startBackground runs fcpd again, detached (its own session, stdin
// /dev/null, output to the log file), and returns once it reports that it
// listens, or fails with what it reported.
func startBackground(o daemonOptions, cfg daemon.Config, env Env) error {
	self, err := os.Executable()
	if err != nil {
		return usageErrorf("-d: %w", err)
	}
	logf, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return usageErrorf("-d: log file: %w", err)
	}
	defer logf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return usageErrorf("-d: %w", err)
	}
	defer pr.Close()
	args := append([]string{}, os.Args[1:]...)
	args = append(args, "--log-file", cfg.LogFile, "--pid-file", cfg.PidFile)
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), backgroundEnv+"=3")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return usageErrorf("-d: %w", err)
	}
	pw.Close()
	line, _ := bufio.NewReader(io.LimitReader(pr, 4096)).ReadString('\n')
	line = strings.TrimSpace(line)
	if line != "ready" {
		cmd.Wait()
		if line == "" {
			line = "it exited; see " + cfg.LogFile
		}
		return withKind(errConn, fmt.Errorf("starting in the background: %s", line))
	}
	fmt.Fprintf(env.Stderr, "fcpd: running in the background, pid %d, log %s, pid file %s\n", cmd.Process.Pid, cfg.LogFile, cfg.PidFile)
	cmd.Process.Release()
	return nil
}

// readyReporter returns the function with which the background process
// tells the one that started it that it listens (nil) or failed.
func readyReporter(fdText string) func(error) {
	fd, err := strconv.Atoi(fdText)
	if err != nil {
		return func(error) {}
	}
	os.Unsetenv(backgroundEnv)
	f := os.NewFile(uintptr(fd), "ready")
	return func(err error) {
		if f == nil {
			return
		}
		if err != nil {
			fmt.Fprintf(f, "%s\n", oneLine(err.Error()))
		} else {
			fmt.Fprint(f, "ready\n")
		}
		f.Close()
		f = nil
	}
}

// writePidFile writes this process's id to file, atomically.
func writePidFile(file string) error {
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}
