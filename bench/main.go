//go:build linux

// Command bench puts fcp beside scp, sftp, rsync and rclone on the same data
// and the same emulated link, in two network namespaces of this machine, and
// writes a Markdown table, an SVG plot and the raw runs as JSON.
//
// Run it as root from the module root: bench/run.sh [flags], or go run ./bench
// [flags]. See bench/README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil && ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "bench: interrupted; the lab is taken down and no results were written")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "netem":
			return netemCommand(ctx, args[1:], stdin, stdout, stderr)
		case "lab":
			return labCommand(ctx, args[1:], stdout, stderr)
		case "render":
			return renderCommand(args[1:], stderr)
		}
	}
	return benchCommand(ctx, args, stdout, stderr)
}
