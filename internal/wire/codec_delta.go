package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// blockLen is the encoded size of a Block: Weak (4 bytes, big endian) and
// Strong.
const blockLen = 4 + 16

// minDeltaOpLen is the smallest encoding of a DeltaOp: Off, BasisOff,
// Len, an empty Data and Sum.
const minDeltaOpLen = 4 + len(Sum{})

func appendBlocks(b []byte, blocks []Block) []byte {
	b = binary.AppendUvarint(b, uint64(len(blocks)))
	for i := range blocks {
		b = binary.BigEndian.AppendUint32(b, blocks[i].Weak)
		b = append(b, blocks[i].Strong[:]...)
	}
	return b
}

func (d *decoder) blocks(what string) []Block {
	n := d.count(MaxBlocks, blockLen, what)
	if n == 0 {
		return nil
	}
	out := make([]Block, n)
	for i := range out {
		out[i].Weak = binary.BigEndian.Uint32(d.b)
		copy(out[i].Strong[:], d.b[4:blockLen])
		d.b = d.b[blockLen:]
	}
	return out
}

func (m *SumsReq) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendUvarint(b, uint64(m.Root))
	b = appendString(b, m.Path)
	b = append(b, byte(m.Basis))
	b = binary.AppendUvarint(b, uint64(m.BlockSize))
	b = binary.AppendVarint(b, m.Off)
	return binary.AppendUvarint(b, uint64(m.Count)), nil
}

func (m *SumsReq) decode(d *decoder) {
	m.Root = d.uint32("Root")
	m.Path = d.string(MaxPath, "Path")
	m.Basis = Basis(d.byte("Basis"))
	m.BlockSize = d.uint32("BlockSize")
	m.Off = d.varint("Off")
	m.Count = d.uint32("Count")
}

func (m *SumsResp) appendBody(b []byte) (head, tail []byte) {
	b = append(b, byte(m.Basis))
	b = binary.AppendVarint(b, m.Size)
	b = binary.BigEndian.AppendUint64(b, m.Stamp)
	return appendBlocks(b, m.Blocks), nil
}

func (m *SumsResp) decode(d *decoder) {
	m.Basis = Basis(d.byte("Basis"))
	m.Size = d.varint("Size")
	m.Stamp = d.uint64("Stamp")
	m.Blocks = d.blocks("Blocks")
}

func (m *DeltaReq) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendUvarint(b, uint64(m.Root))
	b = appendString(b, m.Path)
	b = binary.AppendVarint(b, m.Off)
	b = binary.AppendUvarint(b, uint64(m.Len))
	b = binary.AppendUvarint(b, uint64(m.BlockSize))
	b = binary.AppendVarint(b, m.First)
	return appendBlocks(b, m.Blocks), nil
}

func (m *DeltaReq) decode(d *decoder) {
	m.Root = d.uint32("Root")
	m.Path = d.string(MaxPath, "Path")
	m.Off = d.varint("Off")
	m.Len = d.uint32("Len")
	m.BlockSize = d.uint32("BlockSize")
	m.First = d.varint("First")
	m.Blocks = d.blocks("Blocks")
}

func (m *DeltaResp) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendVarint(b, m.Size)
	b = binary.AppendVarint(b, m.Mtime)
	b = binary.AppendUvarint(b, uint64(len(m.Ops)))
	for i := range m.Ops {
		o := &m.Ops[i]
		b = binary.AppendVarint(b, o.Off)
		b = binary.AppendVarint(b, o.BasisOff)
		b = binary.AppendUvarint(b, uint64(o.Len))
		b = binary.AppendUvarint(b, uint64(len(o.Data)))
		b = append(b, o.Data...)
		b = append(b, o.Sum[:]...)
	}
	return b, nil
}

func (m *DeltaResp) decode(d *decoder) {
	m.Size = d.varint("Size")
	m.Mtime = d.varint("Mtime")
	n := d.count(MaxOps, minDeltaOpLen, "ops")
	if n == 0 {
		return
	}
	m.Ops = make([]DeltaOp, n)
	for i := range m.Ops {
		o := &m.Ops[i]
		o.Off = d.varint("Op.Off")
		o.BasisOff = d.varint("Op.BasisOff")
		o.Len = d.uint32("Op.Len")
		o.Data = d.bytes(MaxDeltaLen, "Op.Data")
		o.Sum = d.sum("Op.Sum")
	}
}

func (m *CopyData) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendVarint(b, m.Off)
	b = binary.AppendVarint(b, m.BasisOff)
	b = binary.AppendUvarint(b, uint64(m.Len))
	return append(b, m.Sum[:]...), nil
}

func (m *CopyData) decode(d *decoder) {
	m.Off = d.varint("Off")
	m.BasisOff = d.varint("BasisOff")
	m.Len = d.uint32("Len")
	m.Sum = d.sum("Sum")
}

// Validate checks the path, the basis (not BasisNone), a block size in
// MinBlock..MaxBlock, an offset that is a non-negative multiple of it and
// at most MaxBlocks blocks.
func (m *SumsReq) Validate() error {
	if err := ValidPath(m.Path); err != nil {
		return err
	}
	switch {
	case m.Basis == BasisNone || m.Basis > BasisAny:
		return fmt.Errorf("%w: SumsReq of %q: basis %d", ErrProtocol, m.Path, m.Basis)
	case m.BlockSize < MinBlock || m.BlockSize > MaxBlock:
		return fmt.Errorf("%w: SumsReq of %q: block size %d not in %d..%d", ErrProtocol, m.Path, m.BlockSize, MinBlock, MaxBlock)
	case m.Off < 0 || m.Off%int64(m.BlockSize) != 0:
		return fmt.Errorf("%w: SumsReq of %q: offset %d is not a block boundary", ErrProtocol, m.Path, m.Off)
	case m.Count > MaxBlocks:
		return fmt.Errorf("%w: SumsReq of %q: %d blocks exceed %d", ErrProtocol, m.Path, m.Count, MaxBlocks)
	}
	return nil
}

// Validate checks that the basis is BasisFile or BasisPartial and the size
// not negative (the block count is bounded by the decoder).
func (m *SumsResp) Validate() error {
	switch {
	case m.Basis != BasisFile && m.Basis != BasisPartial:
		return fmt.Errorf("%w: SumsResp: basis %d", ErrProtocol, m.Basis)
	case m.Size < 0:
		return fmt.Errorf("%w: SumsResp: negative size %d", ErrProtocol, m.Size)
	case len(m.Blocks) > MaxBlocks:
		return fmt.Errorf("%w: SumsResp: %d blocks exceed %d", ErrProtocol, len(m.Blocks), MaxBlocks)
	}
	return nil
}

// Validate checks the path, a range of at most MaxDeltaLen bytes that does
// not overflow, a block size in MinBlock..MaxBlock and blocks whose basis
// range does not overflow.
func (m *DeltaReq) Validate() error {
	if err := ValidPath(m.Path); err != nil {
		return err
	}
	switch {
	case m.Off < 0 || m.Off > math.MaxInt64-int64(m.Len):
		return fmt.Errorf("%w: DeltaReq of %q: bad range %d+%d", ErrProtocol, m.Path, m.Off, m.Len)
	case m.Len > MaxDeltaLen:
		return fmt.Errorf("%w: DeltaReq of %q: %d bytes exceed %d", ErrProtocol, m.Path, m.Len, MaxDeltaLen)
	case m.BlockSize < MinBlock || m.BlockSize > MaxBlock:
		return fmt.Errorf("%w: DeltaReq of %q: block size %d not in %d..%d", ErrProtocol, m.Path, m.BlockSize, MinBlock, MaxBlock)
	case len(m.Blocks) > MaxBlocks:
		return fmt.Errorf("%w: DeltaReq of %q: %d blocks exceed %d", ErrProtocol, m.Path, len(m.Blocks), MaxBlocks)
	case m.First < 0 || m.First > math.MaxInt64-int64(len(m.Blocks)+1)*int64(m.BlockSize):
		return fmt.Errorf("%w: DeltaReq of %q: bad basis offset %d", ErrProtocol, m.Path, m.First)
	}
	return nil
}

// Validate checks that the ops are in order and contiguous, that literal
// ops hold exactly Len bytes and copies none, that copies have a basis
// offset, and that the literal bytes total at most MaxDeltaLen.
func (m *DeltaResp) Validate() error {
	if m.Size < 0 {
		return fmt.Errorf("%w: DeltaResp: negative size %d", ErrProtocol, m.Size)
	}
	var literal int64
	for i := range m.Ops {
		o := &m.Ops[i]
		switch {
		case o.Off < 0 || o.Off > math.MaxInt64-int64(o.Len):
			return fmt.Errorf("%w: DeltaResp: op %d: bad range %d+%d", ErrProtocol, i, o.Off, o.Len)
		case i > 0 && o.Off != m.Ops[i-1].Off+int64(m.Ops[i-1].Len):
			return fmt.Errorf("%w: DeltaResp: op %d at %d does not follow the one before", ErrProtocol, i, o.Off)
		case o.Len == 0 || o.Len > MaxDeltaLen:
			return fmt.Errorf("%w: DeltaResp: op %d: length %d not in 1..%d", ErrProtocol, i, o.Len, MaxDeltaLen)
		case o.BasisOff == -1 && int64(len(o.Data)) != int64(o.Len):
			return fmt.Errorf("%w: DeltaResp: op %d: %d literal bytes for length %d", ErrProtocol, i, len(o.Data), o.Len)
		case o.BasisOff != -1 && (len(o.Data) != 0 || o.BasisOff < 0 || o.BasisOff > math.MaxInt64-int64(o.Len)):
			return fmt.Errorf("%w: DeltaResp: op %d: bad copy from %d", ErrProtocol, i, o.BasisOff)
		}
		literal += int64(len(o.Data))
	}
	if literal > MaxDeltaLen {
		return fmt.Errorf("%w: DeltaResp: %d literal bytes exceed %d", ErrProtocol, literal, MaxDeltaLen)
	}
	return nil
}

// Validate checks non-negative offsets that do not overflow and a length
// of 1..MaxDeltaLen.
func (m *CopyData) Validate() error {
	switch {
	case m.Off < 0 || m.Off > math.MaxInt64-int64(m.Len):
		return fmt.Errorf("%w: CopyData: bad offset %d", ErrProtocol, m.Off)
	case m.BasisOff < 0 || m.BasisOff > math.MaxInt64-int64(m.Len):
		return fmt.Errorf("%w: CopyData: bad basis offset %d", ErrProtocol, m.BasisOff)
	case m.Len == 0 || m.Len > MaxDeltaLen:
		return fmt.Errorf("%w: CopyData: length %d not in 1..%d", ErrProtocol, m.Len, MaxDeltaLen)
	}
	return nil
}
