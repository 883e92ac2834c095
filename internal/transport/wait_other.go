//go:build !linux

package transport

// groupSignalSafe reports that this platform cannot wait for a process to
// exit without reaping it, so signalling its process group could reach an
// unrelated group that reused the pid: only the process is signalled.
const groupSignalSafe = false

// awaitExit is never called where groupSignalSafe is false.
func awaitExit(pid int) {}
