package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/layout"
	"github.com/fcp-dev/fcp/internal/transfer"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Exit codes. They follow rsync's where the meaning is the same.
const (
	ExitOK          = 0
	ExitUsage       = 1  // bad flags or operands
	ExitProtocol    = 2  // the peer speaks another protocol version, or a shell printed noise
	ExitSelect      = 3  // a destination that cannot be used (not a directory, cannot be created)
	ExitStart       = 5  // the remote agent could not be started
	ExitConnection  = 10 // the connection failed or was lost
	ExitFileIO      = 11 // destination disk full
	ExitStream      = 12 // corrupt data on the connection
	ExitInterrupted = 20 // interrupted (Ctrl-C, SIGTERM)
	ExitPartial     = 23 // some files failed; each was reported
	ExitVanished    = 24 // some source files vanished while copying
)

// exitCodesHelp is the table shown in --help and README.
const exitCodesHelp = `Exit codes:
   0  success
   1  bad flags or operands
   2  protocol mismatch with the remote fcp, or noise from a shell start-up file
   3  unusable destination (not a directory, cannot be created)
   5  the remote agent could not be started (unsupported OS/arch, upload failed)
  10  the connection failed or was lost
  11  destination disk full
  12  corrupt data on the connection
  20  interrupted
  23  partial transfer: some files failed (each was reported)
  24  partial transfer: some source files vanished`

// Sentinels of the cli package, mapped below.
var (
	errUsage  = errors.New("usage")
	errSelect = errors.New("selection")
	errStart  = errors.New("agent start")
	errConn   = errors.New("connection")
)

// usageErrorf returns an error with exit code ExitUsage.
func usageErrorf(format string, args ...any) error {
	return &codedError{err: fmt.Errorf(format, args...), kind: errUsage}
}

// codedError attaches a cli sentinel to an error without changing its text.
type codedError struct {
	err  error
	kind error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() []error {
	return []error{e.err, e.kind}
}

func withKind(kind, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{err: err, kind: kind}
}

// exitCode is the one place that maps errors to exit codes.
func exitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.Is(err, errUsage):
		return ExitUsage
	case errors.Is(err, wire.ErrVersion), errors.Is(err, wire.ErrNoise):
		return ExitProtocol
	case errors.Is(err, errStart):
		return ExitStart
	case errors.Is(err, wire.ErrProtocol), errors.Is(err, wire.ErrTooLarge):
		return ExitStream
	case errors.Is(err, endpoint.ErrClosed), errors.Is(err, errConn):
		return ExitConnection
	case errors.Is(err, endpoint.ErrNoSpace):
		return ExitFileIO
	case errors.Is(err, layout.ErrLayout), errors.Is(err, errSelect):
		return ExitSelect
	case errors.Is(err, transfer.ErrVanished):
		return ExitVanished
	}
	return ExitPartial
}
