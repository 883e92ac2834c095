//go:build linux

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fcp-dev/fcp/bench/internal/netem"
)

// netemCommand is the hidden verb "bench netem": the relay process of the
// emulated wide-area link. It creates a TUN device in each namespace, prints
// "ready", then relays until it is interrupted or its stdin closes. On
// SIGUSR1 and on exit it prints its counters as one JSON line.
func netemCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench netem", flag.ContinueOnError)
	fs.SetOutput(stderr)
	clientNS := fs.String("client-ns", "", "network namespace handle of the client side (`path`, e.g. /run/netns/NAME)")
	serverNS := fs.String("server-ns", "", "network namespace handle of the server side (`path`)")
	dev := fs.String("dev", "fcpb-wan", "TUN device `name` in both namespaces")
	delay := fs.Duration("delay", 25*time.Millisecond, "one-way delay")
	rate := fs.Float64("rate", 1e9, "bottleneck rate in bits per second (0: unlimited)")
	queue := fs.Int64("queue", 0, "bytes waiting for the bottleneck per direction (0: 2×BDP)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *clientNS == "" || *serverNS == "" {
		return fmt.Errorf("netem: -client-ns and -server-ns are required")
	}
	link := netem.Link{Delay: *delay, Rate: *rate, QueueLimit: *queue}
	if link.QueueLimit == 0 {
		link.QueueLimit = 2 * netem.BDP(link.Rate, 2*link.Delay)
	}
	client, err := netem.OpenTUN(*clientNS, *dev)
	if err != nil {
		return err
	}
	server, err := netem.OpenTUN(*serverNS, *dev)
	if err != nil {
		client.Close()
		return err
	}
	relay := netem.NewRelay(client, server, link)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, stdin)
		cancel()
	}()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	enc := json.NewEncoder(stdout)

	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()
	fmt.Fprintln(stdout, "ready")
	for {
		select {
		case <-usr1:
			enc.Encode(relay.Stats())
		case err := <-done:
			enc.Encode(relay.Stats())
			return err
		}
	}
}
