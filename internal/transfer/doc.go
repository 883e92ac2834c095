// Package transfer makes a destination tree match one or more source trees:
// it scans both sides as sorted streams, merges them, and applies the
// difference through the endpoint.Endpoint interface, so it works the same
// for local directories and for agents at the far end of a connection.
//
// # Pipeline
//
// Every source job and the destination are scanned concurrently; the
// streams are merged in wire.ComparePaths order (a k-way merge, so memory
// does not grow with the number of files). Namespace changes (directories,
// symlinks, removals, metadata) are batched into Endpoint.Apply calls;
// regular files go to a pool of workers, each file waiting only for the
// batch that creates its parent directory. Nothing waits for a round trip
// per file: with a remote endpoint, many files and batches are in flight at
// once, bounded by Options.Workers and Options.MemoryBudget.
//
// # Decisions
//
// A file is skipped when the destination has the same size and mtime (or,
// with Options.Checksum, the same size and content hash); if only its mode
// or mtime differ, only those are set. Directory modes and mtimes are
// applied last, deepest first, so read-only directories do not block their
// contents and mtimes are not disturbed by later writes. An existing
// read-only destination directory is made writable for the run and
// restored.
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
