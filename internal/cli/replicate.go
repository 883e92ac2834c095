package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/fcp-dev/fcp/internal/agent"
	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/endpoint/remote"
	"github.com/fcp-dev/fcp/internal/endpoint/shell"
	"github.com/fcp-dev/fcp/internal/replicate"
	"github.com/fcp-dev/fcp/internal/transport"
)

// newReplicateCmd is "fcp replicate": file-replicator's command line on
// fcp's engine.
func newReplicateCmd(env Env) *cobra.Command {
	var (
		o                     replicate.Options
		noInitial, noOnChange bool
		noGitignore           bool
		verbose               int
	)
	cmd := &cobra.Command{
		Use:   "replicate [flags] SRC_DIR DEST_PARENT_DIR -- CONNECTION_COMMAND...",
		Short: "keep a copy of SRC_DIR in DEST_PARENT_DIR, over any command that gives a shell",
		Long: `fcp replicate copies SRC_DIR to DEST_PARENT_DIR/basename(SRC_DIR) on the far side
of CONNECTION_COMMAND, then watches SRC_DIR and applies every change as it happens,
until interrupted. CONNECTION_COMMAND is anything that runs a shell reading commands
on its stdin: "ssh host", "ssh host bash", "docker exec -i box sh",
"kubectl exec -i pod -- sh", or plain "sh" for a local copy. fcp runs its own agent
through it (nothing to install), or, where the agent cannot run, drives the shell
and tar directly. DEST_PARENT_DIR must be absolute.

Files git ignores are left out (--no-gitignore to include them); .git is never sent.
Changes go as they happen: renames as renames, large files as deltas. A lost
connection is dialled again and the copy brought back in step.

` + exitCodesHelp,
		Args: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash != 2 || len(args) < 3 {
				return usageErrorf("usage: fcp replicate [flags] SRC_DIR DEST_PARENT_DIR -- CONNECTION_COMMAND...")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Initial = !noInitial
			o.OnChange = !noOnChange
			o.Gitignore = !noGitignore
			o.Out = env.Stderr
			o.Logger = newLogger(env.Stderr, verbose)
			return runReplicate(cmd.Context(), args[0], args[1], args[2:], o, env)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.BoolVar(&o.CleanOutFirst, "clean-out-first", false, "empty the copy (dotfiles included) before replicating")
	f.BoolVar(&o.Initial, "with-initial-replication", true, "replicate the whole tree first (unchanged files are skipped)")
	f.BoolVar(&noInitial, "no-initial-replication", false, "do not replicate the whole tree first")
	f.BoolVar(&o.OnChange, "replicate-on-change", true, "watch SRC_DIR and replicate changes until interrupted")
	f.BoolVar(&noOnChange, "no-replicate-on-change", false, "replicate once and exit")
	f.BoolVar(&o.Gitignore, "gitignore", true, "leave out what git ignores (.gitignore at every level, .git/info/exclude, core.excludesFile)")
	f.BoolVar(&noGitignore, "no-gitignore", false, "replicate ignored files too (.git is still left out)")
	f.BoolVar(&o.Delete, "delete", false, "on full replications, remove files of the copy that SRC_DIR lacks (ignored ones are kept)")
	f.BoolVar(&o.Debugging, "debugging", false, "print each path sent and each change seen")
	f.CountVarP(&verbose, "verbose", "v", "log more: -vv info, -vvv debug")
	return cmd
}

// runReplicate checks the operands and runs the replication.
func runReplicate(ctx context.Context, srcArg, parent string, command []string, o replicate.Options, env Env) error {
	if !strings.HasPrefix(parent, "/") {
		return usageErrorf("DEST_PARENT_DIR must be absolute: %q", parent)
	}
	src, err := filepath.Abs(srcArg)
	if err != nil {
		return usageErrorf("%s: %v", srcArg, err)
	}
	fi, err := os.Stat(src)
	switch {
	case err != nil:
		return usageErrorf("SRC_DIR: %v", err)
	case !fi.IsDir():
		return usageErrorf("SRC_DIR %s is not a directory", srcArg)
	}
	dest := path.Join(parent, filepath.Base(src))
	self := selfFunc(sync.OnceValues(agent.Self))
	dial := func(ctx context.Context) (endpoint.Endpoint, func() error, string, error) {
		return dialReplica(ctx, command, dest, self, o, env)
	}
	err = replicate.Run(ctx, src, dial, o)
	if err != nil && ctx.Err() != nil {
		return nil // interrupted: the normal end of a watch
	}
	return err
}

// dialReplica runs the connection command and starts fcp's agent through
// it, returning the copy's root.
func dialReplica(ctx context.Context, command []string, dest string, self selfFunc, o replicate.Options, env Env) (endpoint.Endpoint, func() error, string, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	desc := strings.Join(command, " ")
	c := transport.Command{Argv: command, Stderr: env.Stderr}
	proc, err := c.Start(ctx)
	if err != nil {
		return nil, nil, "", withKind(errConn, fmt.Errorf("running %q: %w", desc, err))
	}
	bin, err := self()
	if err != nil {
		proc.Close()
		return nil, nil, "", withKind(errStart, fmt.Errorf("finding fcp's own executable: %w", err))
	}
	res, err := agent.Bootstrap(ctx, proc, agent.Options{Binary: bin, Logger: o.Logger})
	if err != nil {
		proc.Close()
		if fallback := errors.Is(err, agent.ErrPlatform) || errors.Is(err, agent.ErrInstall) || errors.Is(err, agent.ErrExec); fallback {
			return dialShell(ctx, command, dest, err, o, env)
		}
		return nil, nil, "", withKind(errStart, fmt.Errorf("starting agent with %q: %w", desc, err))
	}
	client, err := remote.Dial(ctx, res.Reader, proc, remote.DialOptions{Software: software(), Closer: proc, Logger: o.Logger})
	if err != nil {
		return nil, nil, "", withKind(errStart, fmt.Errorf("%q: %w", desc, err))
	}
	ep, err := client.Open(ctx, dest, true)
	if err != nil {
		client.Close()
		return nil, nil, "", withKind(errSelect, fmt.Errorf("%s: %w", dest, err))
	}
	return ep, client.Close, fmt.Sprintf("replicating to %s through fcp's agent (%s)", dest, desc), nil
}

// dialShell is used where the agent cannot run (noexec, another platform,
// nowhere writable): it runs the connection command again and drives the
// shell and its tar directly.
func dialShell(ctx context.Context, command []string, dest string, cause error, o replicate.Options, env Env) (endpoint.Endpoint, func() error, string, error) {
	desc := strings.Join(command, " ")
	proc, err := transport.Command{Argv: command, Stderr: env.Stderr}.Start(ctx)
	if err != nil {
		return nil, nil, "", withKind(errConn, fmt.Errorf("running %q: %w", desc, err))
	}
	ep, err := shell.Open(ctx, proc, dest, shell.Options{Logger: o.Logger})
	if err != nil {
		proc.Close()
		return nil, nil, "", withKind(errStart, fmt.Errorf("%q: the agent cannot run (%v), and the shell-only mode failed: %w", desc, cause, err))
	}
	return ep, proc.Close, fmt.Sprintf("replicating to %s through sh and tar (%s): fcp's agent cannot run there: %v", dest, desc, cause), nil
}
