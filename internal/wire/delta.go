package wire

// Delta transfer (protocol version 3). The receiver of a file describes a
// basis it already has (SumsReq/SumsResp: a weak and a strong sum per
// block); the side holding the new file matches ranges of it against those
// blocks (DeltaReq/DeltaResp) and gets back ops: ranges to copy from the
// basis and literal bytes; the writer of the new file is sent CopyData for
// the first and Data for the second.

// Basis names what a delta is computed against on the receiving side.
type Basis uint8

const (
	BasisNone    Basis = 0 // no basis: the file is sent whole
	BasisFile    Basis = 1 // the file now at the path
	BasisPartial Basis = 2 // the partial file an interrupted run kept for the path
	BasisAny     Basis = 3 // in SumsReq only: the partial file if there is one, else the file
)

// Limits of the delta messages.
const (
	MaxBlocks   = 1 << 16 // blocks in one SumsResp or DeltaReq
	MaxOps      = 1 << 14 // ops in one DeltaResp
	MaxDeltaLen = 4 << 20 // bytes of the new file one DeltaReq covers
	MinBlock    = 64      // smallest block size
	MaxBlock    = 1 << 20 // largest block size
)

// Block is the signature of one block of a basis: rsync's weak rolling
// checksum and the first 16 bytes of the block's BLAKE3 hash.
type Block struct {
	Weak   uint32
	Strong [16]byte
}

// SumsReq asks for the signature of Count blocks of BlockSize bytes of the
// basis of Path, starting at byte Off (a multiple of BlockSize). A basis
// shorter than a block's end has no block there: the answer may hold
// fewer blocks. Answered by SumsResp, or a Result with CodeNotFound when
// there is no such basis.
type SumsReq struct {
	Root      uint32
	Path      string
	Basis     Basis // BasisFile, BasisPartial or BasisAny
	BlockSize uint32
	Off       int64
	Count     uint32
}

// SumsResp answers SumsReq: which basis was used (never BasisAny), its
// size, its stamp, and the blocks from the requested offset on. The stamp
// identifies the basis's state (file identity, size, times); a CreateReq
// naming it lets the receiver trust the blocks it signed as long as the
// basis keeps that stamp.
type SumsResp struct {
	Basis  Basis
	Size   int64
	Stamp  uint64
	Blocks []Block
}

// DeltaReq asks the holder of the new file Path to match its bytes
// [Off, Off+Len) against Blocks, the basis blocks starting at basis
// offset First, each BlockSize bytes. Answered by DeltaResp or a Result.
type DeltaReq struct {
	Root      uint32
	Path      string
	Off       int64
	Len       uint32
	BlockSize uint32
	First     int64
	Blocks    []Block
}

// DeltaOp is one instruction of a DeltaResp: Len bytes copied from the
// basis at BasisOff, or (BasisOff -1) the literal bytes Data, to go at Off
// of the new file. Sum is the BLAKE3 hash of the Len bytes of the new file
// the op stands for.
type DeltaOp struct {
	Off      int64
	BasisOff int64
	Len      uint32
	Data     []byte
	Sum      Sum
}

// DeltaResp answers DeltaReq: ops covering the requested range in order
// and without gaps (fewer bytes when the file ended first), and the file's
// size and mtime when it was read, as in ReadResp.
type DeltaResp struct {
	Size  int64
	Mtime int64
	Ops   []DeltaOp
}

// CopyData copies Len bytes of the basis named in the CreateReq, at
// BasisOff, to Off of the file being created under the frame's id. Sum is
// the BLAKE3 hash the bytes must have; the receiver verifies it before
// writing.
type CopyData struct {
	Off      int64
	BasisOff int64
	Len      uint32
	Sum      Sum
}
