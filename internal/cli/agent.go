package cli

import (
	"io"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/fcp-dev/fcp/internal/endpoint/local"
	"github.com/fcp-dev/fcp/internal/endpoint/remote"
)

// newAgentCmd is the hidden "fcp agent": it serves this host's files over
// stdin and stdout to the fcp that started it. Its logs go to stderr, which
// the controller shows.
func newAgentCmd(env Env) *cobra.Command {
	var verbose int
	cmd := &cobra.Command{
		Use:    "agent",
		Short:  "serve this host to a controlling fcp over stdin/stdout (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A cut connection must end the session through a failed
			// write, so the files in progress are kept for resuming, not
			// kill the agent before it can (Go exits on SIGPIPE from
			// stdout by default).
			signal.Ignore(syscall.SIGPIPE)
			opts := remote.ServeOptions{
				Software: software(),
				Logger:   newLogger(env.Stderr, verbose),
			}
			if c, ok := env.Stdin.(io.Closer); ok {
				opts.Closer = c
			}
			return remote.Serve(cmd.Context(), env.Stdin, env.Stdout, local.NewHost(), opts)
		},
	}
	cmd.Flags().CountVarP(&verbose, "verbose", "v", "log more to stderr")
	return cmd
}
