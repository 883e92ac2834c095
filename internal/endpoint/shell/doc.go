// Package shell implements endpoint.Endpoint, as a destination only, on a
// host where fcp's agent cannot run (a noexec mount, another OS or
// architecture, nowhere to install it), through nothing but a POSIX sh
// reading commands on its standard input: ssh host sh, docker exec -i box
// sh, kubectl exec -i pod -- sh, or a local sh. The far side needs sh, tar
// (GNU, busybox or bsdtar), head -c, mv -t and the usual cat, mkdir, rm,
// chmod, touch and find, and unless find has -printf (GNU), stat -c and
// readlink.
// Nothing is installed there.
//
// # Commands and replies
//
// One command runs at a time; calls from many goroutines queue for the
// shell. Each command is one brace group, so the shell has parsed all of
// it before it runs any of it, and it reports on itself with marker lines
// that carry a random per-session nonce and the command's number (see
// markerWord): one per op with its status, one at the end. The text the
// shell prints before a marker (tools' error messages; stderr is joined to
// stdout) becomes the error of what the marker reports, classified by
// the strerror texts it contains (the session runs in the C locale), so
// errors keep matching fs.ErrNotExist, fs.ErrPermission and
// endpoint.ErrNoSpace. When the shell's output ends, every call in
// progress and every later one fails with an error matching
// endpoint.ErrClosed; a call whose context ends returns at once, its
// command finishing in the background.
//
// # Names
//
// No byte of a path or link target can mean anything to the shell: each
// is assigned to a variable in a header of the command, as a single-quoted
// literal if it is printable ASCII without a quote (the shell takes those
// byte for byte), otherwise as octal escapes that printf %b decodes (all
// of a command's in one printf), and used only as "$var". Every path is absolute (under the root), so none starts with a
// dash, and tools get -- before paths anyway. Scans read names NUL-framed
// or checked against NUL-framed lists, so names with newlines, backslashes,
// quotes and invalid UTF-8 come back as they are.
//
// # Confinement and its limits
//
// Paths are checked with wire.ValidPath. Before an op touches a path, the
// shell checks every directory on the way from the root with test -L and
// test -d, and refuses a symlink or non-directory with
// endpoint.ErrInvalidPath, as the local endpoint does; a symlink at the
// final name is replaced, never followed. The shell has no openat: a
// directory swapped for a symlink between that check and the command that
// uses it (a few milliseconds, one round trip for staged files) is
// followed. Only someone who can write into the destination tree while
// fcp runs can do that; against a tree nobody else changes, no write
// leaves the root. Likewise chmod follows a symlink that replaces a file
// after the check; busybox tar also follows one that replaces a
// directory whose metadata is set.
//
// # Files
//
// Create, Write and Commit keep the file here (in memory up to 1 MiB, then
// in an unlinked temporary file) and check each chunk's BLAKE3 sum. Commits
// that arrive together go in one command and one tar stream (see
// stageRun): generated here with each file's mode and mtime, read by
// head -c of exactly its size into tar -x, which extracts each file into
// a staging directory .fcp-shell.<nonce> inside the file's own directory
// (so that the rename that follows stays on one file system), and put in
// place with mv -t, one rename(2) per file: atomic, replacing a file or
// symlink. A directory in the way is removed first, as the local endpoint
// does. The stream ends with a verdict naming files to leave out (their
// Commit gave up meanwhile); without it, nothing is put in place. Staging
// is removed at the end of each command; what a dead session left is
// removed by Open (at the root) and by Scan (in what it walks). Symlinks
// are made the same way. Two sessions writing one root at once are not
// supported: each removes the other's staging at Open.
//
// # Precision
//
// Mtimes are set with nanoseconds where tar keeps them (GNU tar and bsdtar
// read them from PAX headers; busybox tar keeps seconds) and, for OpSetMeta
// of files and symlinks, where touch -d takes @SECONDS.NANOSECONDS (GNU).
// Scan reports nanoseconds from find -printf %T@ or stat %y, busybox's
// included. So through busybox, a file whose source mtime has a fraction
// of a second looks changed on every run, and is sent again.
//
// # Not supported
//
// Read and Delta fail with errors.ErrUnsupported; Sums and CreateFrom find
// no basis (fs.ErrNotExist), so files are always sent whole; CreateShared
// fails with errors.ErrUnsupported; FileWriter.Copy fails with
// endpoint.ErrMismatch and Suspend is Abort (no partial files). Scan
// ignores ScanOptions.Hash: entries come without sums.
package shell
