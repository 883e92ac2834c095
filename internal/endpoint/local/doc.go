// Package local implements endpoint.Host and endpoint.Endpoint on the
// filesystem of this machine. The agent serves it over the wire; the
// controller uses it directly for local paths.
//
// # Confinement
//
// An Endpoint holds its root directory open and does all I/O relative to
// it, or to directories opened from it, so no path can reach outside the
// root. Every path argument must satisfy wire.ValidPath; others fail with
// an error wrapping endpoint.ErrInvalidPath. No call passes through a
// symlink inside the tree: each parent component of the path must be a
// real directory, or the call fails with endpoint.ErrInvalidPath naming
// the offending component. A symlink or file at the final component is
// replaced by writes, never followed; Read refuses it and Scan reports it.
//
// Operations work relative to the open parent directory of their path,
// one system call per step where the platform allows (on Linux: openat2
// with RESOLVE_NO_SYMLINKS to open the directory, then *at calls that do
// not follow symlinks). Open directories are cached per Endpoint, a few
// hundred at most. A cached directory was opened through real
// directories only, so a symlink put in its place later, by anyone, is
// not followed; operations of the Endpoint that remove or replace a
// directory drop it and everything below it from the cache. A cached
// directory that another program moves elsewhere keeps receiving what is
// written to its old path until the cache drops it.
//
// # Files
//
// Create writes to a temporary file in the target's directory, named
// ".fcp-<name>.<random>.tmp" (mode 0600, name shortened to fit 255
// bytes); Commit sets its mode and mtime, optionally fsyncs it, and
// renames it over the target, so readers see the old file or the new one,
// never a partial one. A directory at the target is removed first; for
// that short moment nothing is at the target.
//
// # Metadata
//
// Beyond mode and mtime, a scan reads what its ScanOptions.Want asks for
// (owners and their names, extended attributes, ACLs, hard links, FIFOs
// and devices) and nothing else. Writes set the parts of wire.Attrs that
// Caps allows (owners and device nodes as root only, all of it on Linux
// only) on the temporary entry before it is renamed into place: owner
// first (a chown clears set-id bits and file capabilities), then extended
// attributes, then ACLs, then mode and mtime. Names are mapped to this
// host's ids through os/user (the passwd and group files in a static
// binary), cached per Endpoint. Extended attributes and ACLs are read and
// written through /proc/self/fd/N/name, N being the directory's
// descriptor, with the l* calls: no path of the tree is followed. What a
// file system does not support is skipped and reported as
// endpoint.ErrMetaUnsupported once the rest is done. Holes come from
// SEEK_DATA and SEEK_HOLE (Extents) and are recreated by leaving them
// unwritten (FileWriter.Hole), the file's length set at commit.
//
// # Permissions
//
// Nothing here changes the mode of a directory to make room for a write:
// creating or replacing an entry in a directory without owner write
// permission fails with an error matching fs.ErrPermission. The
// controller creates directories writable (OpMkdir adds 0700) and sets
// their final modes last with OpSetMeta.
//
// # Errors
//
// Errors read "op path: cause", with path relative to the root, and keep
// the fs sentinels (fs.ErrNotExist, fs.ErrPermission, fs.ErrExist) and the
// errno reachable with errors.Is. A full filesystem also matches
// endpoint.ErrNoSpace.
package local
