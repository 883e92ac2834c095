// Package sshdial opens authenticated SSH connections the way OpenSSH's
// ssh(1) would for the same host, user, flags and ssh_config, using
// golang.org/x/crypto/ssh, so that fcp can open several parallel
// connections to a host itself.
//
// Resolve turns a host alias and fcp's SSH flags into a Config, read from
// ssh_config(5) files through github.com/kevinburke/ssh_config: Host
// patterns (with negation) select the blocks that apply, and the first
// value found for a keyword wins, across the user's file and then the
// system's, as in OpenSSH. A Dialer then dials Configs: directly, through
// a ProxyCommand run by sh -c, or through a chain of ProxyJump hops, each
// hop a Config of its own.
//
// Authentication follows OpenSSH's order: public keys (those of the
// ssh-agent that match the identity files, then the agent's others unless
// IdentitiesOnly, then the identity files themselves), then password, then
// keyboard-interactive. A public key is offered to the server before its
// file is decrypted, so a passphrase is asked only for a key the server
// would accept. Passphrases are asked once per Dialer, however many
// connections it opens concurrently.
//
// Host keys are checked against known_hosts files with
// golang.org/x/crypto/ssh/knownhosts, with StrictHostKeyChecking's
// meanings: a changed key is always refused; an unknown one is refused,
// confirmed on the terminal, or accepted and recorded.
//
// Known differences from OpenSSH: of Match blocks, only "Match all",
// "Match host" and "Match originalhost" are evaluated, both of the latter
// against the alias; other Match blocks are ignored with a warning (or
// fail the parse when they are in an Included file). Hashed known_hosts
// lines are read, but new lines are written unhashed. Host certificates,
// CheckHostIP, GSSAPI and security keys (sk-*) are not supported. The hops
// of a ProxyJump other than the first ignore their own ProxyJump and
// ProxyCommand settings. ~ and %d mean $HOME when it is set (see
// Options.Home).
//
// Errors from Dial wrap one of ErrConnect, ErrHostKey or ErrAuth and read
// as one line.
package sshdial
