// Package transfer makes a destination tree match one or more source trees:
// it scans both sides as sorted streams, merges them, and applies the
// difference through the endpoint.Endpoint interface, so it works the same
// for local directories and for agents at the far end of a connection.
//
// # Pipeline
//
// Every source job and the destination are scanned concurrently; the
// streams are merged in wire.ComparePaths order (a k-way merge). Namespace
// changes (directories, symlinks, removals, metadata) are batched into
// Endpoint.Apply calls; regular files go to a pool of workers, each file
// waiting only for the batch that creates its parent directory. Nothing
// waits for a round trip per file: with a remote endpoint, many files and
// batches are in flight at once, bounded by Options.Workers and
// Options.MemoryBudget.
//
// # Memory
//
// Memory does not grow with the number of files: the scans stream, the
// merge keeps the directories it is in and those with work in flight (see
// dirs.go), and ops go in batches. What grows, by design: with
// Options.HardLinks, one record per file with several links until all its
// links are reached, and the OpLinks, made at the end; the paths that
// failed (nothing beneath them is attempted). TestMemoryDoesNotGrowWithFiles
// guards the bound.
//
// # Decisions
//
// A file is skipped when the destination has the same size and mtime (or,
// with Options.Checksum, the same size and content hash); if only its mode
// or mtime differ, only those are set. A directory's mode and mtime are
// applied once everything in it is done, after those of its
// subdirectories, so read-only directories do not block their contents and
// mtimes are not disturbed by later writes. An existing
// read-only destination directory is made writable for the run and
// restored.
//
// # Metadata
//
// Owners, extended attributes, ACLs, hard links, FIFOs and devices are
// kept when Options asks and the destination can (Endpoint.Caps); both
// scans then report them and an entry whose content is unchanged gets an
// OpSetMeta when only they differ. The first link of a file with several
// is copied; the others become OpLinks of it, made once every file is
// written. A file with holes (wire.Entry.Sparse) is sent as its data
// extents, never as a delta, and its holes are recreated by the writer.
// What the destination cannot keep is said in notices (Options.OnNotice),
// not errors.
//
// # Verification
//
// Every chunk of file data is hashed (BLAKE3) where it is read and checked
// where it is written, before it reaches the file; a file whose data does
// not match fails with endpoint.ErrMismatch and is never renamed into
// place. A source file whose size or mtime changes while it is read is
// read again (up to three times), then reported with endpoint.ErrChanged.
//
// # Errors
//
// Errors about single files are reported through Options.OnEvent and
// counted; Run then returns an error wrapping ErrPartial. A lost
// connection, a full destination disk or a cancelled context stop the run
// at once and are returned as they are. When any source could not be read
// completely, nothing is deleted (as rsync does).
package transfer
