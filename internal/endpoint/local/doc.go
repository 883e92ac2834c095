// Package local implements endpoint.Host and endpoint.Endpoint on the
// filesystem of this machine. The agent serves it over the wire; the
// controller uses it directly for local paths.
//
// # Confinement
//
// An Endpoint holds an *os.Root opened at its root directory and does all
// I/O through it, so no path can reach outside the root. Every path
// argument must satisfy wire.ValidPath; others fail with an error wrapping
// endpoint.ErrInvalidPath. Writes (Create, Commit and every Apply op)
// additionally refuse to pass through a symlink inside the tree: each
// parent component of the path must be a real directory per Lstat, or the
// call fails with endpoint.ErrInvalidPath naming the offending component.
// A symlink or file at the final component is replaced, never followed.
//
// Verified parent directories are cached per Endpoint. Operations of the
// Endpoint that remove or replace a directory drop it and everything below
// it from the cache. Changes made to the tree by other programs while the
// Endpoint is open are not seen by the cache: a directory replaced by a
// symlink behind the Endpoint's back may then be written through, but
// os.Root still confines the write to the root.
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
