package wire

import "errors"

// Protocol versions this build speaks. A peer whose range does not overlap
// [MinVersion, Version] is refused with ErrVersion. Version 2 added the
// compression fields of ReadReq, ReadResp and Data; version 3 the delta
// messages (SumsReq, DeltaReq, CopyData) and fields of CreateReq and
// AbortReq; version 4 the metadata of meta.go (owners, extended
// attributes, ACLs, hard links, holes, FIFOs and devices) and the fields
// of Entry, Op, ScanReq, OpenResp and CommitReq that carry it. Each
// changed encodings, so only version 4 is spoken.
const (
	Version    uint16 = 4
	MinVersion uint16 = 4
)

// Magic starts every connection, in both directions. Like PNG's signature
// it contains a high-bit byte, CR LF, a ^Z and LF, so a channel that mangles
// line endings or strips the eighth bit is caught at once.
var Magic = [8]byte{0x89, 'F', 'C', 'P', '\r', '\n', 0x1a, '\n'}

// Limits on what a peer may send. Decoders reject anything larger before
// allocating for it.
const (
	MaxFrame    = 8 << 20 // bytes in one frame, header excluded
	MaxChunk    = 4 << 20 // bytes of file data in one Data or ReadResp
	MaxPath     = 4096    // bytes in one path
	MaxName     = 255     // bytes in one path component
	MaxString   = 64 << 10
	MaxBatch    = 4096 // entries in one ScanBatch, ops in one ApplyReq, paths in one GlobResp
	MaxRules    = 4096 // filter rules in one ScanReq
	MaxCredit   = 1024 // outstanding ScanBatch credits
	MaxShare    = 32   // hex digits in a CreateReq.Share token
	DefaultRead = 1 << 20
)

// Errors reported by the decoder and the handshake. They are wrapped with
// detail; test with errors.Is.
var (
	ErrProtocol = errors.New("wire: protocol error")
	ErrTooLarge = errors.New("wire: frame too large")
	ErrVersion  = errors.New("wire: incompatible protocol version")
	ErrNoise    = errors.New("wire: unexpected output before handshake")
)

// Kind identifies a message type on the wire. Values are stable across
// versions; new kinds get new numbers.
type Kind uint8

// Message kinds. Requests go from controller to agent, responses back.
const (
	KindHello       Kind = 1
	KindResult      Kind = 2 // response: success or error of a request
	KindCancel      Kind = 3 // controller: abandon request id
	KindStatReq     Kind = 10
	KindStatResp    Kind = 11
	KindGlobReq     Kind = 12
	KindGlobResp    Kind = 13
	KindOpenReq     Kind = 14
	KindOpenResp    Kind = 15
	KindCloseReq    Kind = 16
	KindScanReq     Kind = 20
	KindScanBatch   Kind = 21
	KindScanMore    Kind = 22 // controller grants more ScanBatch credit
	KindReadReq     Kind = 30
	KindReadResp    Kind = 31
	KindApplyReq    Kind = 40
	KindApplyResp   Kind = 41
	KindCreateReq   Kind = 50 // no response; errors surface at Commit
	KindData        Kind = 51 // no response; errors surface at Commit
	KindCommitReq   Kind = 52 // answered by Result
	KindAbortReq    Kind = 53 // no response
	KindCopyData    Kind = 54 // no response; errors surface at Commit
	KindHole        Kind = 55 // no response; errors surface at Commit
	KindSumsReq     Kind = 60
	KindSumsResp    Kind = 61
	KindDeltaReq    Kind = 62
	KindDeltaResp   Kind = 63
	KindExtentsReq  Kind = 64
	KindExtentsResp Kind = 65
)

// Message is implemented by every message type in this package.
type Message interface {
	Kind() Kind
}

// FileType is the type of a tree entry.
type FileType uint8

// File types. FIFOs and device nodes came with version 4 and are scanned
// only when asked for (WantSpecials); sockets are never transferred.
const (
	TypeFile    FileType = 1
	TypeDir     FileType = 2
	TypeSymlink FileType = 3
	TypeFIFO    FileType = 4
	TypeChar    FileType = 5 // character device
	TypeBlock   FileType = 6 // block device
)

// String returns "file", "dir", "symlink", "fifo", "chardev" or
// "blockdev".
func (t FileType) String() string {
	switch t {
	case TypeFile:
		return "file"
	case TypeDir:
		return "dir"
	case TypeSymlink:
		return "symlink"
	case TypeFIFO:
		return "fifo"
	case TypeChar:
		return "chardev"
	case TypeBlock:
		return "blockdev"
	}
	return "unknown"
}

// Sum is a BLAKE3-256 content hash.
type Sum [32]byte

// Entry describes one item of a tree as a scan sees it.
type Entry struct {
	// Path is relative to the scanned directory, slash-separated, "." for
	// the scanned item itself. It may hold any bytes but NUL, including
	// invalid UTF-8 and newlines (see ValidPath).
	Path   string
	Type   FileType
	Mode   uint32 // permission and set-id/sticky bits (07777)
	Size   int64  // bytes, for files; 0 otherwise
	Mtime  int64  // modification time, nanoseconds since the Unix epoch
	Target string // link target, for symlinks
	HasSum bool   // Sum is set (scans with ScanReq.Hash)
	Sum    Sum

	// Nlink is the number of hard links of a regular file that has more
	// than one, else 0 (scans with WantLinks).
	Nlink uint32
	// Link, for a regular file with hard links, is the path of the
	// earlier entry of the same scan that is the same file (the first in
	// path order), relative to the scanned path like Path; empty for the
	// first (scans with WantLinks).
	Link string
	// Sparse says a regular file has holes worth skipping: it has 64 KiB
	// or more and occupies at most half of that on disk (with WantSparse,
	// any less). Its data is then sent as extents (see ExtentsReq).
	Sparse bool
	// Rdev is the device number of a TypeChar or TypeBlock entry.
	Rdev  uint64
	Attrs Attrs // what the scan's Want asked for
}

// Code classifies an error that crosses the wire, so the receiving side can
// rebuild an error that errors.Is recognises.
type Code uint8

// Error codes. CodeOK means success.
const (
	CodeOK          Code = 0
	CodeOther       Code = 1
	CodeNotExist    Code = 2
	CodeExist       Code = 3
	CodePermission  Code = 4
	CodeInvalid     Code = 5 // bad path or argument from the peer
	CodeNoSpace     Code = 6
	CodeMismatch    Code = 7 // data did not match its hash
	CodeChanged     Code = 8 // source changed while read
	CodeNotDir      Code = 9
	CodeIsDir       Code = 10
	CodeCanceled    Code = 11
	CodeReadOnly    Code = 12
	CodeUnsupported Code = 13 // done, but some metadata could not be kept (version 4)
	maxCode         Code = 13
)

// Hello is the first frame each side sends, after Magic.
type Hello struct {
	MinVersion uint16
	MaxVersion uint16
	Caps       uint64 // capability bits; none defined in version 1
	Software   string // e.g. "fcp 0.1.0 linux/amd64", for messages only
}

// Result ends a request: Code is CodeOK or the error class, Msg the
// human-readable error text.
type Result struct {
	Code Code
	Msg  string
}

// Cancel asks the agent to abandon the request with the frame's id. The
// request still ends with a Result (usually CodeCanceled).
type Cancel struct{}

// StatReq asks about Path on the agent's host. Path may be absolute,
// relative to the agent's working directory, "~" or start with "~/".
// A final symlink is followed.
type StatReq struct {
	Path string
}

// StatResp answers StatReq. Abs is Path made absolute and clean.
type StatResp struct {
	Abs    string
	Exists bool
	Type   FileType // valid when Exists
}

// GlobReq asks the agent to expand a shell-style pattern (path/filepath
// Match syntax) on its host, resolved like StatReq.Path.
type GlobReq struct {
	Pattern string
}

// GlobResp lists the matches of GlobReq, sorted, absolute.
type GlobResp struct {
	Paths []string
}

// OpenReq opens an endpoint rooted at the directory Path (resolved like
// StatReq.Path). With Create, a missing last component is created.
// The frame id of the OpenResp answer becomes the root handle that later
// requests name.
type OpenReq struct {
	Path   string
	Create bool
}

// OpenResp answers OpenReq with the root's handle, absolute path and the
// metadata the endpoint can set on what it writes.
type OpenResp struct {
	Root uint32
	Abs  string
	Caps Caps
}

// CloseReq releases a root handle. Answered by Result.
type CloseReq struct {
	Root uint32
}

// ScanReq asks for the entries under Path (relative to the root) in tree
// order. The agent sends at most Credit ScanBatch frames, then waits for
// ScanMore; the scan ends with a Result.
type ScanReq struct {
	Root   uint32
	Path   string
	Hash   bool     // fill Entry.Sum for regular files
	Rules  []string // filter rules, in the filter package's text form
	Credit uint32
	Tidy   bool // the tree is a destination: see endpoint.ScanOptions.Tidy
	Want   Want // metadata to report besides type, mode, size and mtime
}

// ScanBatch carries the next entries of a scan.
type ScanBatch struct {
	Entries []Entry
}

// ScanMore grants N more ScanBatch frames to the scan with the frame's id.
type ScanMore struct {
	N uint32
}

// ReadReq asks for up to Len bytes at Off of the regular file Path. With
// Compress, the answer's data may come compressed (see ReadResp).
type ReadReq struct {
	Root     uint32
	Path     string
	Off      int64
	Len      uint32
	Compress bool
}

// ReadResp answers ReadReq. Sum is the BLAKE3 hash of the data computed
// where it was read; Size and Mtime describe the file as it was after the
// read, so the controller can tell that it changed.
//
// When Compressed (allowed only if the ReadReq asked with Compress), Data
// holds one zstd frame of the RawLen bytes read, and Sum is the hash of
// those bytes, not of the frame; otherwise Data holds the bytes read and
// RawLen is 0. This package only carries and bounds the payload: the
// receiver decompresses it (see package remote).
type ReadResp struct {
	Data       []byte
	Sum        Sum
	Size       int64
	Mtime      int64
	Compressed bool
	RawLen     uint32
}

// OpKind is the kind of a namespace operation.
type OpKind uint8

// Operation kinds.
const (
	OpMkdir   OpKind = 1 // make a directory, replacing a non-directory
	OpSymlink OpKind = 2 // make a symlink to Target, replacing what is there
	OpRemove  OpKind = 3 // remove Path, recursively, never following links
	OpSetMeta OpKind = 4 // set Attrs, Mode and Mtime of Path (not following links)
	OpRename  OpKind = 5 // move Target (a path under the root) to Path, replacing what is there
	OpLink    OpKind = 6 // make Path a hard link of the regular file Target (a path under the root), replacing what is there
	OpMknod   OpKind = 7 // make Path a FIFO or device node of Type and Rdev with Attrs, Mode and Mtime, replacing what is there
)

// Op is one namespace operation of an ApplyReq.
type Op struct {
	Kind   OpKind
	Path   string
	Mode   uint32
	Mtime  int64
	Target string
	Type   FileType // OpMknod: TypeFIFO, TypeChar or TypeBlock
	Rdev   uint64   // OpMknod of a device
	Attrs  Attrs    // OpSetMeta, OpSymlink and OpMknod: set these parts too
}

// ApplyReq performs Ops in order under the root. Failure of one op does not
// stop the others.
type ApplyReq struct {
	Root uint32
	Ops  []Op
}

// ApplyResp answers ApplyReq with one Result per op, in order.
type ApplyResp struct {
	Results []Result
}

// CreateReq starts writing the regular file Path under the root; the frame
// id names the file in the Data, CommitReq and AbortReq frames that follow.
// Nothing appears at Path until a successful commit.
//
// With Share set, the file may be written through several connections to
// the same root at once: every CreateReq naming the same Path and Share
// opens the same temporary file. Exactly one of them (Part false) commits
// it, after every Part has committed; a Part's commit only flushes and
// reports its errors.
//
// With Basis set, CopyData frames may copy ranges of that basis (the file
// now at Path, or the partial file an interrupted run left for it) into
// the new file.
type CreateReq struct {
	Root  uint32
	Path  string
	Size  int64  // expected final size, a hint for preallocation
	Share string // empty, or a token of lowercase hex digits (see ValidShare)
	Part  bool   // this writer writes ranges of a shared file and never renames it
	Basis Basis  // BasisNone, BasisFile or BasisPartial
	Stamp uint64 // the basis's stamp from SumsResp, 0 for none
}

// Data carries bytes for the file being created under the frame's id, at
// offset Off. Sum is the BLAKE3 hash of the bytes as computed by the reader
// of the source; the receiver verifies it before writing. When Compressed,
// Data holds one zstd frame of RawLen bytes, as in ReadResp, and Sum
// covers the RawLen bytes; otherwise RawLen is 0.
type Data struct {
	Off        int64
	Data       []byte
	Sum        Sum
	Compressed bool
	RawLen     uint32
}

// CommitReq ends a file: the receiver checks that Size bytes were written
// (holes included), sets Attrs, Mode and Mtime and renames the file into
// place. Answered by Result.
type CommitReq struct {
	Size  int64
	Mode  uint32
	Mtime int64
	Attrs Attrs
}

// AbortReq ends the file being created under the frame's id without
// committing it. The data written so far is discarded, or with Keep, kept
// as the file's partial file for a later run to resume from.
type AbortReq struct {
	Keep bool
}

func (*Hello) Kind() Kind     { return KindHello }
func (*Result) Kind() Kind    { return KindResult }
func (*Cancel) Kind() Kind    { return KindCancel }
func (*StatReq) Kind() Kind   { return KindStatReq }
func (*StatResp) Kind() Kind  { return KindStatResp }
func (*GlobReq) Kind() Kind   { return KindGlobReq }
func (*GlobResp) Kind() Kind  { return KindGlobResp }
func (*OpenReq) Kind() Kind   { return KindOpenReq }
func (*OpenResp) Kind() Kind  { return KindOpenResp }
func (*CloseReq) Kind() Kind  { return KindCloseReq }
func (*ScanReq) Kind() Kind   { return KindScanReq }
func (*ScanBatch) Kind() Kind { return KindScanBatch }
func (*ScanMore) Kind() Kind  { return KindScanMore }
func (*ReadReq) Kind() Kind   { return KindReadReq }
func (*ReadResp) Kind() Kind  { return KindReadResp }
func (*ApplyReq) Kind() Kind  { return KindApplyReq }
func (*ApplyResp) Kind() Kind { return KindApplyResp }
func (*CreateReq) Kind() Kind { return KindCreateReq }
func (*Data) Kind() Kind      { return KindData }
func (*CommitReq) Kind() Kind { return KindCommitReq }
func (*AbortReq) Kind() Kind  { return KindAbortReq }
func (*CopyData) Kind() Kind  { return KindCopyData }
func (*SumsReq) Kind() Kind   { return KindSumsReq }
func (*SumsResp) Kind() Kind  { return KindSumsResp }
func (*DeltaReq) Kind() Kind  { return KindDeltaReq }
func (*DeltaResp) Kind() Kind { return KindDeltaResp }
