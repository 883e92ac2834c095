// Package daemon is fcpd, fcp's standing server: an SSH server (the
// protocol of golang.org/x/crypto/ssh) that offers nothing but fcp's agent
// protocol, over directories it is told to export, to the holders of keys
// it is told to trust.
//
// A client authenticates with a public key found in an authorized_keys
// file (no passwords, no other methods); the server proves itself with its
// host key, which clients check against known_hosts as they do for SSH.
// Before authentication the only code that reads a peer's bytes is the SSH
// transport and the key check; the agent protocol (package remote) and the
// filesystem (package local) are reached only through a channel of an
// authenticated connection.
//
// Each authenticated connection may ask to start a session or to join one
// it started before (the global request "fcp-session@fcp.dev"), so that the
// parallel connections of one fcp run count as one session, and then opens
// "session" channels with the subsystem "fcp": each is one stream of the
// agent protocol, served by remote.Serve over an endpoint.Host that maps
// the paths "/ROOT/..." to the exported roots the key may use (exportHost).
// Every write stays inside its root, a read-only root takes none, and a
// path that leads out of its root ("..", or a symlink that leaves it) is
// refused.
package daemon
