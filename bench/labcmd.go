//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fcp-dev/fcp/bench/internal/lab"
	"github.com/fcp-dev/fcp/bench/internal/netem"
)

// labCommand is the verb "bench lab": it builds the lab with both links,
// prints how to use it, and holds it until interrupted, for trying tools by
// hand against the emulated link.
func labCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.addFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("must run as root")
	}
	work, err := os.MkdirTemp("/var/tmp", "fcp-lab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	queue := o.queue
	if queue == 0 {
		queue = 2 * netem.BDP(o.rate, 2*o.delay)
	}
	dir := filepath.Join(work, "lab")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	l, err := lab.Setup(ctx, lab.Config{
		Dir: dir, User: o.user, Home: filepath.Join(work, "home"), TCPMemMax: o.tcpMemMax,
		WAN:  &lab.WAN{Delay: o.delay, Rate: o.rate, Queue: queue, Relay: []string{self, "netem"}},
		Logf: func(format string, args ...any) { fmt.Fprintf(stderr, "bench lab: "+format+"\n", args...) },
	})
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(stdout, "The lab is up; Ctrl-C tears it down.\n\n")
	for _, link := range l.Links {
		fmt.Fprintf(stdout, "  %-6s %s: %s@%s\n", link.Name, link.Label, o.user, link.Server)
	}
	fmt.Fprintf(stdout, "\n  ip netns exec %s ssh -F %s %s@%s\n", lab.ClientNS, l.SSHConfig, o.user, l.Links[len(l.Links)-1].Server)
	fmt.Fprintf(stdout, "  RCLONE_CONFIG=%s ip netns exec %s rclone lsd wan:/\n", l.RcloneConfig, lab.ClientNS)
	fmt.Fprintf(stdout, "  the user's home (writable): %s\n", filepath.Join(work, "home"))
	<-ctx.Done()
	fmt.Fprintln(stdout, "tearing down")
	return nil
}
