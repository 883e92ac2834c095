package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fcp-dev/fcp/bench/internal/proc"
)

// The namespaces and devices the lab owns. A previous run's leftovers of
// these names are removed by Setup.
const (
	ClientNS = "fcpb-client"
	ServerNS = "fcpb-server"
	vethC    = "fcpb-c"
	vethS    = "fcpb-s"
	tunDev   = "fcpb-wan"
)

// Link is one path from the client namespace to the server.
type Link struct {
	Name   string // short name: "direct" or "wan"
	Label  string // for tables: "no added delay", "50 ms RTT, 1 Gbit/s"
	Shape  string // how it is built
	Client string // client address
	Server string // server address
	// ClientDev is the link's device in the client namespace, whose
	// counters tell the bytes a run moved (Lab.Counters).
	ClientDev string
}

// WAN is the emulated wide-area link.
type WAN struct {
	Delay time.Duration // one way
	Rate  float64       // bits per second
	Queue int64         // bytes per direction
	// Relay is the argument vector of the relay process ("bench netem");
	// Setup appends the namespace, device and shape flags.
	Relay []string
}

// Config of a lab.
type Config struct {
	Dir       string // keys, configs and logs; must exist and be traversable by User
	User      string // benchmark user on the server, created when missing
	Home      string // its home directory, created empty
	TCPMemMax int64  // maximum of tcp_rmem and tcp_wmem in both namespaces
	WAN       *WAN   // nil: the direct link only
	Logf      func(format string, args ...any)
}

// TCP is what the namespaces use, read back after Setup set it.
type TCP struct {
	Rmem, Wmem, CongestionControl string
}

// Lab is a running lab. Close it.
type Lab struct {
	cfg          Config
	Links        []Link
	SSHConfig    string // for ssh -F
	RcloneConfig string // has one sftp remote per link, named after it
	UID          int    // of the benchmark user
	TCP          TCP

	sshd  *exec.Cmd
	relay *relay
}

// Setup builds the lab. On error, whatever was built is removed.
func Setup(ctx context.Context, cfg Config) (l *Lab, err error) {
	// The returns below name nil for the lab, so the cleanup holds its own
	// reference to what was built.
	built := &Lab{cfg: cfg}
	l = built
	defer func() {
		if err != nil {
			built.Close()
			l = nil
		}
	}()
	if err := removeStale(ctx); err != nil {
		return nil, err
	}
	for _, ns := range []string{ClientNS, ServerNS} {
		if err := run(ctx, "ip", "netns", "add", ns); err != nil {
			return nil, err
		}
		if err := run(ctx, "ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
			return nil, err
		}
		mem := strconv.FormatInt(cfg.TCPMemMax, 10)
		if err := run(ctx, "ip", "netns", "exec", ns, "sysctl", "-q", "-w",
			"net.ipv4.tcp_rmem=4096 131072 "+mem, "net.ipv4.tcp_wmem=4096 16384 "+mem); err != nil {
			return nil, err
		}
	}
	if l.TCP, err = readTCP(ctx); err != nil {
		return nil, err
	}

	direct := Link{Name: "direct", Label: "no added delay", Shape: "veth pair", Client: "10.199.0.1", Server: "10.199.0.2", ClientDev: vethC}
	if err := run(ctx, "ip", "link", "add", vethC, "netns", ClientNS, "type", "veth", "peer", "name", vethS, "netns", ServerNS); err != nil {
		return nil, err
	}
	if err := l.addressLink(ctx, direct, vethC, vethS); err != nil {
		return nil, err
	}
	l.Links = append(l.Links, direct)

	if w := cfg.WAN; w != nil {
		wan := Link{
			Name:   "wan",
			Label:  fmt.Sprintf("%g ms RTT, %s", float64(2*w.Delay)/float64(time.Millisecond), rateString(w.Rate)),
			Shape:  fmt.Sprintf("TUN devices and a user-space relay: %v each way, %s, %d-byte drop-tail queue", w.Delay, rateString(w.Rate), w.Queue),
			Client: "10.199.1.1", Server: "10.199.1.2", ClientDev: tunDev,
		}
		if l.relay, err = startRelay(ctx, w, filepath.Join(cfg.Dir, "netem.log")); err != nil {
			return nil, err
		}
		if err := l.addressLink(ctx, wan, tunDev, tunDev); err != nil {
			return nil, err
		}
		l.Links = append(l.Links, wan)
	}

	if l.UID, err = ensureUser(ctx, cfg.User, cfg.Home); err != nil {
		return nil, err
	}
	if err := l.startSSHD(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Lab) addressLink(ctx context.Context, link Link, clientDev, serverDev string) error {
	for _, side := range []struct{ ns, dev, addr string }{
		{ClientNS, clientDev, link.Client},
		{ServerNS, serverDev, link.Server},
	} {
		if err := run(ctx, "ip", "-n", side.ns, "addr", "add", side.addr+"/24", "dev", side.dev); err != nil {
			return err
		}
		if err := run(ctx, "ip", "-n", side.ns, "link", "set", side.dev, "up"); err != nil {
			return err
		}
	}
	return nil
}

// Client returns args prefixed so that they run in the client namespace.
func Client(args ...string) []string {
	return append([]string{"ip", "netns", "exec", ClientNS}, args...)
}

// Server returns args prefixed so that they run in the server namespace.
func Server(args ...string) []string {
	return append([]string{"ip", "netns", "exec", ServerNS}, args...)
}

// Close stops everything the lab started and removes the namespaces. It may
// be called more than once.
func (l *Lab) Close() error {
	var errs []error
	if l.relay != nil {
		stats, err := l.relay.stop()
		if err != nil {
			errs = append(errs, err)
		} else if l.cfg.Logf != nil {
			l.cfg.Logf("relay totals: %+v", stats)
		}
		l.relay = nil
	}
	if l.sshd != nil {
		l.sshd.Process.Signal(syscall.SIGTERM)
		l.sshd.Wait()
		l.sshd = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := removeStale(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeStale kills every process left in the lab's namespaces (they can
// only be the lab's own) and deletes the namespaces.
func removeStale(ctx context.Context) error {
	var errs []error
	for _, ns := range []string{ClientNS, ServerNS} {
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			continue
		}
		out, _ := proc.Output(ctx, "ip", "netns", "pids", ns)
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if err := run(ctx, "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// KillUserProcesses waits up to wait for the benchmark user's processes to
// end, then kills those left and returns how many there were.
func (l *Lab) KillUserProcesses(wait time.Duration) int {
	deadline := time.Now().Add(wait)
	for {
		pids := proc.UserProcesses(l.UID)
		if len(pids) == 0 {
			return 0
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			return len(pids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ensureUser(ctx context.Context, name, home string) (int, error) {
	if _, err := user.Lookup(name); err != nil {
		if err := run(ctx, "useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", home, "--shell", "/bin/sh", name); err != nil {
			return 0, err
		}
	}
	// "*": no password, but not locked, so that sshd without PAM accepts a key.
	if err := run(ctx, "usermod", "--home", home, "--shell", "/bin/sh", "--password", "*", name); err != nil {
		return 0, err
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.MkdirAll(home, 0o755); err != nil {
		return 0, err
	}
	return uid, os.Chown(home, uid, gid)
}

// Chown gives path to the benchmark user.
func (l *Lab) Chown(path string) error {
	u, err := user.Lookup(l.cfg.User)
	if err != nil {
		return err
	}
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(path, l.UID, gid)
}

func readTCP(ctx context.Context) (TCP, error) {
	out, err := proc.Output(ctx, Client("sysctl", "-n", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem", "net.ipv4.tcp_congestion_control")...)
	if err != nil {
		return TCP{}, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		return TCP{}, fmt.Errorf("sysctl: unexpected output %q", out)
	}
	f := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	return TCP{Rmem: f(lines[0]), Wmem: f(lines[1]), CongestionControl: f(lines[2])}, nil
}

func rateString(bitsPerSec float64) string {
	switch {
	case bitsPerSec == 0:
		return "unlimited rate"
	case bitsPerSec >= 1e9:
		return fmt.Sprintf("%g Gbit/s", bitsPerSec/1e9)
	}
	return fmt.Sprintf("%g Mbit/s", bitsPerSec/1e6)
}

func run(ctx context.Context, args ...string) error {
	_, err := proc.Output(ctx, args...)
	return err
}
