// Package cli is fcp's command line: one file per verb, the flags of each,
// and the one place where errors become exit codes (exitcode.go).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fcp-dev/fcp/internal/endpoint/pool"
)

// Version is fcp's release.
const Version = "0.1.0"

// Env is what a run of fcp may touch of its process: nothing in this
// package uses os.Stdin, os.Stdout or os.Stderr directly.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// software names this build in handshakes and --version.
func software() string {
	return fmt.Sprintf("fcp %s %s/%s", Version, runtime.GOOS, runtime.GOARCH)
}

// Run executes fcp with args (without the program name) and returns the
// exit code. Errors are printed to env.Stderr as one line each.
func Run(ctx context.Context, args []string, env Env) int {
	if _, ok := env.Stderr.(*os.File); !ok {
		env.Stderr = &lockedWriter{w: env.Stderr}
	}
	root := newRootCmd(ctx, env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w: %w", context.Canceled, err)
		}
		msg := err.Error()
		var lost *pool.ReconnectError
		switch {
		case errors.Is(err, context.Canceled):
			msg = "interrupted"
		case errors.As(err, &lost):
			msg = lost.Error() // not the path of the file that noticed
		}
		if !errors.Is(err, errReported) {
			fmt.Fprintf(env.Stderr, "fcp: %s\n", oneLine(msg))
		}
	}
	return exitCode(err)
}

// errReported marks an error whose message was already printed.
var errReported = errors.New("reported")

// oneLine keeps a message on one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.ReplaceAll(s, "\n", " ")
}

func newRootCmd(ctx context.Context, env Env) *cobra.Command {
	var copyOpts copyOptions
	root := &cobra.Command{
		Use:   "fcp [flags] SRC... DEST",
		Short: "Copy files between machines, fast and safely",
		Long: `fcp copies files and directory trees between local paths and [user@]host:path
locations, like scp and rsync: "dir" lands as DEST/dir, "dir/" copies the contents of
dir into DEST; one file goes inside an existing directory DEST, or becomes DEST.
Unchanged files (same size and mtime) are skipped; every byte is verified with BLAKE3
where it is written; files are written to a temporary name and renamed into place.

A remote operand is reached by running "ssh [user@]host sh" (or the -e command); fcp
uploads itself to the remote's ~/.cache/fcp/ when needed and runs there as its agent.
Nothing needs to be installed on the remote but a POSIX sh.

` + exitCodesHelp,
		Version:       software(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageErrorf("need at least one SRC and a DEST (see fcp --help)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			tuneGC()
			return runCopy(cmd.Context(), copyOpts, args, env)
		},
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageErrorf("%v", err)
	})
	root.Flags().SortFlags = false
	copyOpts.addFlags(root)
	var cpuProfile string
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile to FILE, %p standing for the process id (for developers)")
	root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(strings.ReplaceAll(cpuProfile, "%p", strconv.Itoa(os.Getpid())))
		if err != nil {
			return usageErrorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return usageErrorf("--cpuprofile: %w", err)
		}
		root.PersistentPostRun = func(*cobra.Command, []string) { pprof.StopCPUProfile(); f.Close() }
		return nil
	}
	root.AddCommand(newAgentCmd(env))
	root.AddCommand(newReplicateCmd(env))
	root.AddCommand(newDaemonCmd(env))
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

// newLogger returns the logger for -v levels: none or -v, nothing (errors
// reach the user as "fcp: " lines, not as logs); -vv warnings and info;
// -vvv debug.
func newLogger(w io.Writer, verbose int) *slog.Logger {
	level := slog.LevelError + 1
	switch {
	case verbose >= 3:
		level = slog.LevelDebug
	case verbose == 2:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
