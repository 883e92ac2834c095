// Package transport yields byte streams to whatever runs at the far end of
// a connection, usually a shell that package agent turns into an fcp
// agent, and owns the process, connection or goroutine behind each stream.
//
// A Transport opens Streams. A Stream is read and written like a pipe, can
// be half-closed with CloseWrite (the far end reads EOF) and is released
// with Close, which returns only once whatever was behind it is gone.
// Nothing in this package knows about fcp's protocol.
//
// Implementations:
//
//   - Command starts an external command (`ssh host sh`,
//     `docker exec -i box sh`, a local `sh`) and talks over its standard
//     input and output; its standard error goes to an injected writer.
//     Closing escalates from closing standard input to SIGTERM to SIGKILL,
//     as mutagen's agent transport does (pkg/agent/transport/stream.go).
//     RshArgv builds a Command's argv from an rsync-style -e/--rsh string.
//   - SSH dials a new connection with fcp's own SSH client (package sshdial)
//     for every Open and runs a command (`sh`) in a session on it; parallel
//     streams are parallel TCP connections, each with its own channel window.
//   - Pipe runs the far end as a function in this process, for tests.
//
// The context given to Open bounds only the opening; a Stream lives until
// it is closed.
package transport
