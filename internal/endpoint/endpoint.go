// Package endpoint defines the one interface between fcp's sync logic and a
// place where files live. Package endpoint/local implements it on the local
// filesystem; package endpoint/remote implements it as a proxy that speaks
// the wire protocol to an agent, and serves any implementation to a proxy.
// The sync logic cannot tell the two apart.
package endpoint

import (
	"context"
	"errors"
	"strings"

	"github.com/fcp-dev/fcp/internal/wire"
)

// Errors an implementation returns, wrapped with detail. Remote
// implementations rebuild them from wire codes so errors.Is works across a
// connection. Errors from the filesystem keep their fs sentinels
// (fs.ErrNotExist, fs.ErrPermission, fs.ErrExist) under the wrapping.
var (
	// ErrInvalidPath means a path from the peer was refused: absolute,
	// containing "..", NUL, or leading through a symlink or a non-directory.
	ErrInvalidPath = errors.New("endpoint: invalid path")
	// ErrMismatch means data did not match the hash its reader computed.
	ErrMismatch = errors.New("endpoint: data does not match its hash")
	// ErrChanged means a source file changed while it was read.
	ErrChanged = errors.New("endpoint: file changed while read")
	// ErrNoSpace means the destination filesystem is full.
	ErrNoSpace = errors.New("endpoint: no space left on device")
	// ErrClosed means the endpoint or its connection is gone.
	ErrClosed = errors.New("endpoint: closed")
	// ErrRetry means a file failed because one of several connections
	// was lost; writing it again uses the others. It does not wrap
	// ErrClosed.
	ErrRetry = errors.New("endpoint: connection lost, file must be written again")
	// ErrMetaUnsupported means the entry was written, but some of the
	// metadata asked for (extended attributes, ACLs, an owner) could not
	// be kept because the file system does not support it there. It
	// reports a success, for a notice rather than a failure.
	ErrMetaUnsupported = errors.New("endpoint: metadata not supported by the file system")
)

// Host is a machine fcp acts on: this one, or the far end of an agent
// connection. Methods are safe for concurrent use.
//
// Host paths (arguments of Stat, Glob and Open) are resolved as a shell on
// that host would: absolute, relative to the working directory (the home
// directory for an agent started over ssh), "~" or "~/...".
type Host interface {
	// Stat reports whether path exists and what it is, following a final
	// symlink. A missing path is not an error: Exists is false.
	Stat(ctx context.Context, path string) (wire.StatResp, error)
	// Glob expands pattern (path/filepath.Match syntax per component) and
	// returns the absolute matches, sorted; none is not an error.
	Glob(ctx context.Context, pattern string) ([]string, error)
	// Open returns an Endpoint rooted at the directory dir. With create, a
	// missing last component of dir is made (its parent must exist).
	Open(ctx context.Context, dir string, create bool) (Endpoint, error)
	// Close ends the session, closing every Endpoint opened from it.
	Close() error
}

// ScanOptions adjusts Endpoint.Scan.
type ScanOptions struct {
	// Hash fills Entry.Sum for regular files (costs a full read).
	Hash bool
	// Rules are filter rules in the text form of package filter; entries
	// they exclude are not reported and excluded directories not entered.
	Rules []string
	// Ignore, if set, excludes more entries the same way: it is called
	// with each path relative to the endpoint's root (not to the scanned
	// path) and whether it is a directory. It is not sent over the wire:
	// endpoints in this process honour it, remote ones do not (callers
	// filter what those report; see transfer.Options.Ignore).
	Ignore func(rel string, isDir bool) bool
	// Tidy says the tree is a destination: fcp's temporary files that no
	// live writer holds (their writer was killed) and that are older than
	// a few seconds are turned into partial files (see FileWriter.Suspend)
	// or removed as they are found.
	Tidy bool
	// Want asks for metadata besides type, mode, size and mtime (see
	// wire.Want). A scan pays only for what it is asked: extended
	// attributes and ACLs cost system calls per entry, names a lookup per
	// distinct id, and hard links (WantLinks) a map of the regular files
	// with more than one link whose other links the scan has not reached
	// yet.
	Want wire.Want
}

// RemovableXattr reports whether a destination's extended attribute name
// goes when the wire.Attrs set on its entry lack it: those of the user
// and trusted namespaces do; security ones (an SELinux label, say) belong
// to the destination's policy and stay.
func RemovableXattr(name string) bool {
	return strings.HasPrefix(name, "user.") || strings.HasPrefix(name, "trusted.")
}

// Extents is the result of Endpoint.Extents.
type Extents struct {
	List  []wire.Extent // data extents from the asked offset on, in order
	Next  int64         // where to ask again; Size once List reaches the end
	Size  int64         // file size when asked
	Mtime int64         // file mtime when asked, ns
}

// Chunk is the result of Endpoint.Read.
type Chunk struct {
	Data  []byte
	Sum   wire.Sum // BLAKE3 of Data, computed where it was read
	Size  int64    // file size after the read
	Mtime int64    // file mtime after the read, ns
}

// ResumeMin is the least a suspended file must hold to be kept as a
// partial file (FileWriter.Suspend); callers look for partial files of
// files this size or larger.
const ResumeMin = 1 << 20

// Sums is the result of Endpoint.Sums.
type Sums struct {
	Basis  wire.Basis // the basis used: wire.BasisFile or wire.BasisPartial
	Size   int64      // its size
	Stamp  uint64     // its state when signed (see CreateFrom); never 0
	Blocks []wire.Block
}

// DeltaChunk is the result of Endpoint.Delta.
type DeltaChunk struct {
	Ops   []wire.DeltaOp
	Size  int64 // file size after the read
	Mtime int64 // file mtime after the read, ns
}

// Endpoint is a directory tree rooted at one directory. Every path argument
// and every Entry.Path is relative to the root and must satisfy
// wire.ValidPath; implementations refuse others with ErrInvalidPath.
// Writing implementations never touch anything outside the root, never
// follow a symlink found in the tree when writing (a symlink or file in
// the way of a directory is replaced, not followed), and never leave a
// partial file at a final path.
//
// Methods are safe for concurrent use. Apply calls and file commits are
// applied in the order their calls return; callers order dependent work
// (a directory before the files in it) by waiting for the earlier call.
type Endpoint interface {
	// Scan calls fn for rel and, if rel is a directory, everything beneath
	// it, in wire.ComparePaths order of the paths, which are relative to
	// rel ("." for rel itself). Symlinks are reported, not followed; FIFOs
	// and device nodes only with wire.WantSpecials, sockets never. An
	// error from fn stops the scan and is returned. A missing rel yields an
	// error matching fs.ErrNotExist.
	Scan(ctx context.Context, rel string, opts ScanOptions, fn func(*wire.Entry) error) error

	// Read returns up to n bytes (n <= wire.MaxChunk) at off of the
	// regular file rel. Fewer bytes than n means end of file.
	Read(ctx context.Context, rel string, off int64, n int) (Chunk, error)

	// Extents returns where the regular file rel holds data from off on,
	// at most wire.MaxExtents extents (see wire.ExtentsResp): the rest
	// is holes, which read as zeros. A file system without holes reports
	// the whole rest of the file as data.
	Extents(ctx context.Context, rel string, off int64) (Extents, error)

	// Caps reports the metadata the endpoint can set on what it writes
	// (see wire.Caps): parts of wire.Attrs it lacks the capability for are
	// ignored, OpLink and OpMknod fail without it. Whether a file system
	// supports extended attributes or ACLs shows per entry, as
	// ErrMetaUnsupported.
	Caps() wire.Caps

	// Create starts writing the regular file rel; size is a hint. Nothing
	// appears at rel until Commit succeeds.
	Create(ctx context.Context, rel string, size int64) (FileWriter, error)

	// CreateShared is Create for a file written through several Endpoints
	// of the same root at once (several connections to one host): every
	// call naming rel and the same share token (see wire.ValidShare; not
	// empty) opens the same temporary file. Exactly one writer, with part
	// false, commits the file, and only after every part has committed; a
	// part's Commit only flushes its writes and reports their errors (its
	// arguments are ignored), and a part's Abort leaves the file to the
	// committing writer. The committing writer's Commit checks the size of
	// the file on disk rather than what it wrote itself.
	CreateShared(ctx context.Context, rel string, size int64, share string, part bool) (FileWriter, error)

	// CreateFrom is Create for a file rebuilt from a basis the endpoint
	// already has (wire.BasisFile: the file now at rel; wire.BasisPartial:
	// the partial file an interrupted run kept for rel): its writer's Copy
	// copies ranges of that basis. A missing basis fails with an error
	// matching fs.ErrNotExist. stamp is Sums.Stamp of the signature the
	// copies were matched against (0 if unknown): while the basis keeps
	// it, the writer may trust those block sums rather than hash what it
	// copies again; Commit fails with ErrMismatch if the basis changed.
	CreateFrom(ctx context.Context, rel string, size int64, basis wire.Basis, stamp uint64) (FileWriter, error)

	// Sums returns the signature of up to count blocks of blockSize bytes
	// of rel's basis (see CreateFrom; wire.BasisAny picks the partial file
	// when there is one), starting at off, a multiple of blockSize. Only
	// whole blocks are returned. No such basis is an error matching
	// fs.ErrNotExist.
	Sums(ctx context.Context, rel string, basis wire.Basis, blockSize int, off int64, count int) (Sums, error)

	// Delta matches the bytes [off, off+n) of the regular file rel
	// (n <= wire.MaxDeltaLen) against blocks, the blocks of a basis
	// starting at basis offset first, and returns ops that rebuild those
	// bytes from the basis and literal data, in order and without gaps;
	// they cover fewer than n bytes only where the file ends.
	Delta(ctx context.Context, rel string, off int64, n int, blockSize int, first int64, blocks []wire.Block) (DeltaChunk, error)

	// Apply performs ops in order and returns one error (or nil) per op.
	// An op that did its work but could not keep some metadata reports an
	// error matching ErrMetaUnsupported. The second result is a failure
	// of the call as a whole (a lost connection), after which the per-op
	// results are unknown.
	Apply(ctx context.Context, ops []wire.Op) ([]error, error)

	// Close releases the endpoint.
	Close() error
}

// FileWriter is a file being written. It is not safe for concurrent use.
// Errors of Write may be reported late, by a later Write or by Commit.
type FileWriter interface {
	// Write stores data at off after checking it against sum (the BLAKE3
	// hash its reader computed); a mismatch fails with ErrMismatch. It may
	// keep data until Commit or Abort returns: callers must not change it.
	Write(ctx context.Context, off int64, data []byte, sum wire.Sum) error
	// Commit checks that exactly size bytes were written (holes
	// included), sets the parts of attrs it has (as far as the endpoint's
	// Caps allow), then mode (07777 bits) and mtime (ns), and atomically
	// replaces whatever is at the path (a file or symlink; a directory is
	// removed first). A file committed without some of attrs, because the
	// file system does not support them, reports an error matching
	// ErrMetaUnsupported; the file is in place then.
	Commit(ctx context.Context, size int64, mode uint32, mtime int64, attrs wire.Attrs) error
	// Hole records that the n bytes at off are zeros, a hole of the
	// source: they are left unwritten where the file system allows
	// (unallocated), and count as written for Commit.
	Hole(ctx context.Context, off, n int64) error
	// Copy stores n bytes (n <= wire.MaxDeltaLen) of the writer's basis
	// (see Endpoint.CreateFrom), read at basisOff, at off, after checking
	// them against sum; a mismatch, or a writer without a basis, fails
	// with ErrMismatch.
	Copy(ctx context.Context, off, basisOff int64, n int, sum wire.Sum) error
	// Abort discards the file. It is safe after Commit (then it does
	// nothing) and may be called more than once.
	Abort() error
	// Suspend is Abort for an interrupted run: what was written is kept
	// as rel's partial file, hidden beside it, for a later run to resume
	// from (see wire.BasisPartial), where the file system allows; a file
	// with too little written to be worth resuming is discarded.
	Suspend() error
}
