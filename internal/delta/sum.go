package delta

import (
	"math"

	"github.com/zeebo/blake3"
)

// Block is the signature of one full block of the basis (the old file at the
// receiver).
type Block struct {
	Weak   uint32   // rsync's rolling checksum of the block (see Weak)
	Strong [16]byte // the first 16 bytes of the block's BLAKE3-256 hash
}

// MinBlock and MaxBlock bound BlockSize.
const (
	MinBlock = 700       // rsync's default block size for small files
	MaxBlock = 128 << 10 // rsync's maximum (protocol 30+)
)

// BlockSize returns the block size rsync would choose for a file of n bytes:
// the integer square root of n rounded down to a multiple of 8, but never
// less than MinBlock nor more than MaxBlock. Zero and negative sizes get
// MinBlock.
func BlockSize(n int64) int {
	if n <= MinBlock*MinBlock {
		return MinBlock
	}
	r := int64(math.Sqrt(float64(n)))
	// Correct the floating point estimate to the exact integer square root.
	for r > 0 && r > n/r {
		r--
	}
	for (r + 1) <= n/(r+1) {
		r++
	}
	if r >= MaxBlock {
		return MaxBlock
	}
	r &^= 7
	if r < MinBlock {
		return MinBlock
	}
	return int(r)
}

// Weak returns rsync's weak checksum of p. With a = the sum of all bytes mod
// 2^16 and b = the sum of (len(p)-i)*p[i] over all i, mod 2^16, the result is
// a | b<<16. The checksum of a window that slides one byte along a buffer can
// be updated in constant time with Roll.
func Weak(p []byte) uint32 {
	a, b := weakAB(p)
	return a&0xffff | b<<16
}

// weakAB returns the two halves of the weak checksum of p, unreduced: only
// their low 16 bits are meaningful.
func weakAB(p []byte) (a, b uint32) {
	// Per byte the recurrence is a += c; b += a. Eight bytes at a time this
	// becomes b += 8a + 8c0 + 7c1 + ... + 1c7; a += c0 + ... + c7, which
	// shortens the dependency chain. uint32 wrap-around is harmless because
	// only the values mod 2^16 matter.
	for len(p) >= 8 {
		c0, c1, c2, c3 := uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3])
		c4, c5, c6, c7 := uint32(p[4]), uint32(p[5]), uint32(p[6]), uint32(p[7])
		b += 8*a + 8*c0 + 7*c1 + 6*c2 + 5*c3 + 4*c4 + 3*c5 + 2*c6 + c7
		a += c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7
		p = p[8:]
	}
	for _, c := range p {
		a += uint32(c)
		b += a
	}
	return a, b
}

// Roll returns the weak checksum of the window that drops byte out at its
// front and gains byte in at its end, for a window of n bytes whose checksum
// was sum. That is, if sum == Weak(p[i:i+n]), then
// Roll(sum, n, p[i], p[i+n]) == Weak(p[i+1:i+n+1]).
func Roll(sum uint32, n int, out, in byte) uint32 {
	a := sum&0xffff - uint32(out) + uint32(in)
	b := sum>>16 - uint32(n)*uint32(out) + a
	return a&0xffff | b<<16
}

// StrongSum returns the first 16 bytes of the BLAKE3-256 hash of p.
func StrongSum(p []byte) [16]byte {
	h := blake3.Sum256(p)
	return [16]byte(h[:16])
}

// Sign returns the signatures of the consecutive blockSize pieces of data. A
// short final piece is not a block: it gets no signature and is never
// matched.
//
// A large basis may be signed range by range to bound memory: as long as
// every range starts at a multiple of blockSize and every range but the last
// is a multiple of blockSize long, concatenating the results gives the same
// list as signing the whole basis at once.
//
// Sign panics if blockSize < 1.
func Sign(data []byte, blockSize int) []Block {
	if blockSize < 1 {
		panic("delta: Sign with block size < 1")
	}
	blocks := make([]Block, 0, len(data)/blockSize)
	for len(data) >= blockSize {
		p := data[:blockSize]
		blocks = append(blocks, Block{Weak: Weak(p), Strong: StrongSum(p)})
		data = data[blockSize:]
	}
	return blocks
}
