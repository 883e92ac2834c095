package delta

import (
	"io"

	"github.com/zeebo/blake3"
)

// Op is one instruction that rebuilds part of the target (the new file) at
// Off: either Len bytes copied from the basis at BasisOff, or (BasisOff == -1)
// the literal bytes Data (Len == len(Data)). Sum is the BLAKE3-256 hash of
// the Len target bytes the op produces, for end-to-end verification.
type Op struct {
	Off      int64
	BasisOff int64
	Len      int
	Data     []byte
	Sum      [32]byte
}

// Literal reports whether o carries its bytes in Data (BasisOff == -1)
// rather than referring to the basis.
func (o Op) Literal() bool { return o.BasisOff == -1 }

// MatchOptions tunes Match. Zero values select the defaults.
type MatchOptions struct {
	// MaxLiteral is the largest literal op in bytes; default 1 MiB.
	MaxLiteral int
	// MaxCopy is the largest copy op in bytes; default 4 MiB. Adjacent
	// matched blocks that are also adjacent in the basis are coalesced into
	// one copy op while it stays within MaxCopy. A copy op always covers a
	// whole number of blocks, so with a MaxCopy below the block size every
	// copy op is exactly one block.
	MaxCopy int
}

const (
	defaultMaxLiteral = 1 << 20
	defaultMaxCopy    = 4 << 20
	// readChunk is the minimum spare room Match keeps in its buffer for
	// reading; reads are never asked for less than half of it.
	readChunk = 512 << 10
	// maxEmptyReads is how many successive (0, nil) reads Match tolerates
	// before giving up with io.ErrNoProgress.
	maxEmptyReads = 100
)

// Match reads the target range that starts at target offset off from r until
// EOF, finds runs of it equal to blocks of x, and calls emit with ops that
// cover every byte read exactly once, in increasing Off order and without
// gaps: the first op starts at off, and each following op starts where the
// previous one ended. Nothing is emitted for an empty range. A nil or empty
// index makes every byte literal.
//
// A window of x.BlockSize() bytes slides over the target. Where its rsync
// weak checksum and its strong sum equal those of an indexed block, the
// window becomes (part of) a copy op and the window moves past it; otherwise
// the window advances by one byte and the byte it leaves becomes literal.
// Among equal blocks, the one following the previously matched block is
// preferred, so unchanged runs become long copy ops. Bytes at the end that
// cannot fill a window are literal. Copy ops never exceed o.MaxCopy bytes
// (see MatchOptions) and literal ops never exceed o.MaxLiteral bytes.
//
// Memory use is O(MaxLiteral + MaxCopy + block size) whatever the amount
// read; copy ops are hashed incrementally and not buffered. The Data of a
// literal op refers to Match's buffer, which is reused after emit returns:
// emit must copy what it keeps. Errors returned by r (other than io.EOF) or
// by emit are returned unchanged, and Match stops at once; a reader that
// keeps returning no data and no error makes Match fail with
// io.ErrNoProgress.
//
// Match may be called concurrently with the same Index, for example to match
// several segments of one target at their respective offsets.
func Match(r io.Reader, off int64, x *Index, o MatchOptions, emit func(Op) error) error {
	maxLit := o.MaxLiteral
	if maxLit <= 0 {
		maxLit = defaultMaxLiteral
	}
	maxCopy := o.MaxCopy
	if maxCopy <= 0 {
		maxCopy = defaultMaxCopy
	}
	m := &matcher{emit: emit, maxLit: maxLit}
	if x == nil || x.n == 0 {
		return m.literalOnly(r, off)
	}
	m.h = blake3.New()

	bs := x.bs
	nb := uint32(bs)
	filter, fshift := x.filter, x.filterShift
	// Live data never exceeds maxLit+bs bytes (pending literal plus one
	// window); twice that plus readChunk keeps compaction copies no larger
	// than the reads between them.
	live := maxLit + bs
	buf := make([]byte, 2*live+readChunk)

	var (
		base    = off // target offset of buf[0]
		end     int   // buf[:end] holds data read
		pos     int   // window start
		lit     int   // start of pending literal bytes; lit <= pos
		eof     bool
		empty   int
		a, b    uint32 // weak sum halves of buf[pos:pos+bs], when valid
		valid   bool   // a, b are up to date
		checked bool   // the window at pos was looked up and did not match
		want    int32  = -1
	)
	for {
		need := pos + bs
		if valid && checked {
			need++ // rolling needs the byte after the window
		}
		if need > end {
			if eof {
				break
			}
			if len(buf)-end < readChunk/2 && lit > 0 {
				n := copy(buf, buf[lit:end])
				base += int64(lit)
				pos -= lit
				end = n
				lit = 0
			}
			n, err := r.Read(buf[end:])
			end += n
			if err == io.EOF {
				eof = true
			} else if err != nil {
				return err
			}
			if n == 0 && err == nil {
				if empty++; empty >= maxEmptyReads {
					return io.ErrNoProgress
				}
			} else {
				empty = 0
			}
			continue
		}

		if !valid {
			a, b = weakAB(buf[pos : pos+bs])
			valid, checked = true, false
		}

		if !checked {
			s := a&0xffff | b<<16
			f := (s * filterMul) >> fshift
			if filter[f>>6]&(1<<(f&63)) != 0 {
				if idx, ok := x.find(s, buf[pos:pos+bs], want); ok {
					if lit < pos {
						if err := m.flushCopy(); err != nil {
							return err
						}
						if err := m.literal(base+int64(lit), buf[lit:pos]); err != nil {
							return err
						}
					}
					bo := x.first + int64(idx)*int64(bs)
					if m.copyLen == 0 || m.copyBasis+int64(m.copyLen) != bo || m.copyLen+bs > maxCopy {
						if err := m.flushCopy(); err != nil {
							return err
						}
						m.copyOff, m.copyBasis = base+int64(pos), bo
					}
					m.h.Write(buf[pos : pos+bs])
					m.copyLen += bs
					want = idx + 1
					pos += bs
					lit = pos
					valid = false
					continue
				}
			}
			checked = true
			continue
		}

		// Roll the window forward; here pos+bs < end.
		if pos-lit >= maxLit {
			if err := m.flushCopy(); err != nil {
				return err
			}
			if err := m.literal(base+int64(lit), buf[lit:pos]); err != nil {
				return err
			}
			lit = pos
		}
		lim := min(end-bs, lit+maxLit)
		outs := buf[pos:lim]
		ins := buf[pos+bs : lim+bs]
		ins = ins[:len(outs)]
		hit := false
		i := 0
		for i < len(outs) {
			out, in := uint32(outs[i]), uint32(ins[i])
			i++
			a += in - out
			b += a - nb*out
			s := a&0xffff | b<<16
			f := (s * filterMul) >> fshift
			if filter[f>>6]&(1<<(f&63)) != 0 {
				hit = true
				break
			}
		}
		pos += i
		checked = !hit
	}

	if err := m.flushCopy(); err != nil {
		return err
	}
	return m.literal(base+int64(lit), buf[lit:end])
}

// matcher holds the output side of Match: the pending copy op and emit.
type matcher struct {
	emit   func(Op) error
	maxLit int

	h         *blake3.Hasher // hash of the pending copy's bytes
	copyOff   int64          // target offset of the pending copy
	copyBasis int64          // basis offset of the pending copy
	copyLen   int            // length of the pending copy; 0 if none
}

// flushCopy emits the pending copy op, if any.
func (m *matcher) flushCopy() error {
	if m.copyLen == 0 {
		return nil
	}
	op := Op{Off: m.copyOff, BasisOff: m.copyBasis, Len: m.copyLen}
	m.h.Sum(op.Sum[:0])
	m.h.Reset()
	m.copyLen = 0
	return m.emit(op)
}

// literal emits p, the target bytes at off, as literal ops of at most maxLit
// bytes.
func (m *matcher) literal(off int64, p []byte) error {
	for len(p) > 0 {
		n := min(len(p), m.maxLit)
		d := p[:n:n]
		if err := m.emit(Op{Off: off, BasisOff: -1, Len: n, Data: d, Sum: blake3.Sum256(d)}); err != nil {
			return err
		}
		off += int64(n)
		p = p[n:]
	}
	return nil
}

// literalOnly emits everything r yields as literal ops, for an empty index.
func (m *matcher) literalOnly(r io.Reader, off int64) error {
	buf := make([]byte, m.maxLit)
	for {
		n, eof, err := fill(r, buf)
		if err != nil {
			return err
		}
		if lerr := m.literal(off, buf[:n]); lerr != nil {
			return lerr
		}
		off += int64(n)
		if eof {
			return nil
		}
	}
}

// fill reads from r until buf is full or r reports EOF. Unlike io.ReadFull it
// returns r's errors unchanged and gives up on a reader that makes no
// progress.
func fill(r io.Reader, buf []byte) (n int, eof bool, err error) {
	empty := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err == io.EOF {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
		if k > 0 {
			empty = 0
		} else if empty++; empty >= maxEmptyReads {
			return n, false, io.ErrNoProgress
		}
	}
	return n, false, nil
}
