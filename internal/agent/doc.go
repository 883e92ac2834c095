// Package agent starts fcp's agent on a remote host that has nothing of
// fcp installed, given only a stream to a POSIX shell there (see package
// transport): Bootstrap uploads fcp's own binary through the stream, caches
// it, and replaces the shell with `fcp agent`, which then speaks package
// wire's protocol on the same stream.
//
// # The dialogue
//
// A shell reading its script from a pipe may read past the line it is
// executing, and swallow bytes meant for a command that reads the same
// input (here head, and the agent itself). So the dialogue is strictly
// synchronous: each command is one line, and nothing is sent until the
// shell has answered the previous one with a line containing "FCP<nonce>"
// (whatever precedes it on the line is noise), where the nonce is 16
// random hex digits of this Bootstrap.
// The commands never contain that string as such (they print it with
// printf 'FCP%s'), so a shell that echoes its input is not mistaken for an
// answer. Output before an answer is the noise of shell start-up files: it
// is logged at debug level and bounded by Options.MaxNoise.
//
// Every variable is the dialogue's own (fcp_*, not exported) and quoted at
// every use. The only values spliced into the text are the nonce, the cache
// file name (hex) and the binary's size (decimal); the agent's arguments
// are single-quoted.
//
//  1. Probe. The client sends fcp_n=<nonce>; fcp_b=fcp-<first 16 hex
//     digits of the binary's SHA-256>, then picks the cache directory
//     fcp_d: ${XDG_CACHE_HOME:-$HOME/.cache}/fcp, created if missing, if
//     it is owned by the user and writable; otherwise
//     ${TMPDIR:-/tmp}/fcp-$(id -u), created with mode 700, if it is a
//     directory owned by the user (so that on a shared /tmp nobody else can
//     plant a binary there), set to mode 700 and writable; otherwise none.
//     fcp_f is "$fcp_d/$fcp_b". The shell answers
//
//     FCP<nonce> <ok|new|nodir> <uname -s> <uname -m> <cache dir>
//
//     where ok means an executable $fcp_f exists.
//
//  2. Platform. `uname -s` and `uname -m` are mapped to GOOS and GOARCH
//     (Linux, Darwin, FreeBSD, NetBSD, OpenBSD, DragonFly; x86_64 and
//     amd64, aarch64 and arm64, armv7l, i686 and i386, riscv64, ppc64le,
//     ppc64, s390x, loongarch64). If they are not the binary's, the client
//     sends `exit 1` and fails with ErrPlatform.
//
//  3. Upload, if the answer was new. The client sends a line that creates
//     the temporary file fcp_t, "$fcp_d/.$fcp_b.$fcp_n" (unique per
//     client, mode 600), answers FCP<nonce> ready (or FCP<nonce> fail and
//     the reason), then runs
//
//     head -c <size> | { cat >"$fcp_t"; cat >/dev/null; } 2>&1
//
//     and answers FCP<nonce> sum <hex>, the SHA-256 of $fcp_t computed by
//     the first of sha256sum, shasum -a 256, sha256 and openssl dgst that
//     works. Only after ready does the client write the binary: exactly
//     <size> bytes, which head consumes; the second cat drains them should
//     writing the file fail, so that no byte reaches the shell. If the sum
//     differs from the local one, the client sends
//     `rm -f "$fcp_t"; exit 1` and fails with ErrCorrupt. Otherwise it
//     sends a line that runs chmod 700 "$fcp_t" && mv -f "$fcp_t" "$fcp_f"
//     and answers FCP<nonce> ok. The rename is atomic, so clients
//     bootstrapping the same host at once all succeed, whichever renames
//     last.
//
//  4. Start. The client sends exec "$fcp_f" 'agent' (Options.Args) and
//     waits for the agent's first byte of output: from then on the agent,
//     not the shell, reads the stream, so the caller may write. If the
//     exec fails, the shell reports why on its standard error and exits;
//     Bootstrap fails with ErrExec.
//
// Answers come on the shell's standard output, and so do the error messages
// of the upload and install commands, which errors then quote. The shell's
// own standard error goes wherever the transport sends it (the client's
// log).
package agent
