package delta

import (
	"cmp"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
)

// Index finds basis blocks by their sums. Block i of the blocks it was built
// from covers basis bytes [First + i*BlockSize, First + (i+1)*BlockSize),
// where First and BlockSize are the arguments of NewIndex.
//
// An Index is immutable once built and may be used by several concurrent
// Match calls.
type Index struct {
	bs    int
	first int64
	n     int

	// ents holds one entry per block, sorted by weak sum, then strong sum,
	// then block number. Entries with the same weak sum form a group.
	ents []entry
	// gstart[g] is the position in ents of the first entry of group g;
	// gstart[len(gstart)-1] == len(ents).
	gstart []int32

	// slots is an open-addressing hash table (linear probing) from weak sum
	// to group: each used slot holds weak<<32 | (g+1); 0 marks a free slot.
	slots     []uint64
	slotShift uint32

	// filter is a bitmap with one bit set per weak sum present (hashed).
	// It is much smaller than slots, so the rolling loop tests it first and
	// consults slots only on the rare hit.
	filter      []uint64
	filterShift uint32
}

// entry is one block in an Index. The strong sum is stored as two big-endian
// words so that comparing the words compares the bytes.
type entry struct {
	s0, s1 uint64
	weak   uint32
	idx    int32
}

// Multipliers for the multiplicative (Fibonacci) hashing of weak sums; the
// top bits of the product depend on every bit of the sum.
const (
	filterMul = 0x9E3779B1
	slotMul   = 0x85EBCA6B
)

// NewIndex indexes blocks, the concatenated result of Sign over a basis (or
// a part of it) that was cut into blockSize pieces, block 0 starting at basis
// offset first. The blocks slice is not retained.
//
// NewIndex panics if blockSize < 1, first < 0 or there are 2^31 blocks or
// more.
func NewIndex(blockSize int, first int64, blocks []Block) *Index {
	if blockSize < 1 {
		panic("delta: NewIndex with block size < 1")
	}
	if first < 0 {
		panic("delta: NewIndex with negative first offset")
	}
	if len(blocks) >= math.MaxInt32 {
		panic("delta: NewIndex with too many blocks")
	}
	x := &Index{bs: blockSize, first: first, n: len(blocks)}
	if len(blocks) == 0 {
		return x
	}

	x.ents = make([]entry, len(blocks))
	for i, b := range blocks {
		x.ents[i] = entry{
			s0:   binary.BigEndian.Uint64(b.Strong[:8]),
			s1:   binary.BigEndian.Uint64(b.Strong[8:]),
			weak: b.Weak,
			idx:  int32(i),
		}
	}
	slices.SortFunc(x.ents, func(p, q entry) int {
		if c := cmp.Compare(p.weak, q.weak); c != 0 {
			return c
		}
		return compareKey(p, q.s0, q.s1, q.idx)
	})

	for i := range x.ents {
		if i == 0 || x.ents[i].weak != x.ents[i-1].weak {
			x.gstart = append(x.gstart, int32(i))
		}
	}
	groups := len(x.gstart)
	x.gstart = append(x.gstart, int32(len(x.ents)))

	// Hash table at most half full.
	tbits := max(bits.Len(uint(2*groups-1)), 4)
	x.slots = make([]uint64, 1<<tbits)
	x.slotShift = uint32(32 - tbits)
	mask := uint32(len(x.slots) - 1)
	for g := 0; g < groups; g++ {
		w := x.ents[x.gstart[g]].weak
		i := (w * slotMul) >> x.slotShift
		for x.slots[i] != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = uint64(w)<<32 | uint64(g+1)
	}

	// Filter with about 32 bits per weak sum (so about 1 in 32 absent sums
	// passes it), between 2^12 and 2^25 bits.
	fbits := min(max(bits.Len(uint(32*groups-1)), 12), 25)
	x.filter = make([]uint64, (1<<fbits)/64)
	x.filterShift = uint32(32 - fbits)
	for g := 0; g < groups; g++ {
		f := (x.ents[x.gstart[g]].weak * filterMul) >> x.filterShift
		x.filter[f>>6] |= 1 << (f & 63)
	}
	return x
}

// BlockSize returns the block size the index was built with.
func (x *Index) BlockSize() int { return x.bs }

// Len returns the number of indexed blocks.
func (x *Index) Len() int { return x.n }

// compareKey orders e against the key (s0, s1, idx).
func compareKey(e entry, s0, s1 uint64, idx int32) int {
	if c := cmp.Compare(e.s0, s0); c != 0 {
		return c
	}
	if c := cmp.Compare(e.s1, s1); c != 0 {
		return c
	}
	return cmp.Compare(e.idx, idx)
}

// group returns the entries whose weak sum is w (nil if none).
func (x *Index) group(w uint32) []entry {
	mask := uint32(len(x.slots) - 1)
	i := (w * slotMul) >> x.slotShift
	for {
		s := x.slots[i]
		if s == 0 {
			return nil
		}
		if uint32(s>>32) == w {
			g := int(uint32(s)) - 1
			return x.ents[x.gstart[g]:x.gstart[g+1]]
		}
		i = (i + 1) & mask
	}
}

// find returns the number of a block whose weak sum is w and whose content
// equals window (len(window) == x.bs), preferring block want if it is one of
// them, then the lowest-numbered one. ok is false if there is none.
func (x *Index) find(w uint32, window []byte, want int32) (idx int32, ok bool) {
	g := x.group(w)
	if len(g) == 0 {
		return 0, false
	}
	st := StrongSum(window)
	s0 := binary.BigEndian.Uint64(st[:8])
	s1 := binary.BigEndian.Uint64(st[8:])
	if len(g) == 1 {
		if g[0].s0 == s0 && g[0].s1 == s1 {
			return g[0].idx, true
		}
		return 0, false
	}
	if want >= 0 {
		if k, found := slices.BinarySearchFunc(g, want, func(e entry, want int32) int {
			return compareKey(e, s0, s1, want)
		}); found {
			return g[k].idx, true
		}
	}
	k, _ := slices.BinarySearchFunc(g, int32(-1), func(e entry, idx int32) int {
		return compareKey(e, s0, s1, idx)
	})
	if k < len(g) && g[k].s0 == s0 && g[k].s1 == s1 {
		return g[k].idx, true
	}
	return 0, false
}
