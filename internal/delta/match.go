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

// MatchOptions tunes Match. Zero or negative values select the defaults.
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
	// startChunk is the initial read size, readChunk the one Match grows
	// to when the input is long.
	startChunk = 16 << 10
	readChunk  = 256 << 10
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
// Memory use does not depend on the amount read: Match buffers at most about
// 2*(MaxLiteral + block size) + 256 KiB of the target (less while the target
// matches well), and hashes copy ops incrementally instead of buffering
// them. Reads start at 16 KiB and grow to 256 KiB or more. The Data of a
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
	filter, fshift := x.filter, x.filterShift
	// Live data (pending literal plus one window) never exceeds maxLit+bs
	// bytes; a buffer of full bytes always leaves at least half of it free
	// for reading after compaction. The buffer starts small, so that short
	// inputs stay cheap, doubles on each refill until reads are readChunk
	// bytes or so (steady), and grows further only while literal data
	// accumulates.
	full := 2*(maxLit+bs) + readChunk
	steady := readChunk + 2*bs
	buf := make([]byte, startChunk+2*bs)

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
			if len(buf)-end < len(buf)/4 {
				// Drop the bytes before lit, which have been emitted, and
				// grow if the buffer is still small or would stay more
				// than half full.
				nbuf := buf
				if len(buf) < full && (len(buf) < steady || end-lit > len(buf)/2) {
					nbuf = make([]byte, min(full, 2*len(buf)))
				}
				n := copy(nbuf, buf[lit:end])
				buf = nbuf
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
		var i int
		var hit bool
		a, b, i, hit = x.roll(a, b, outs, ins)
		pos += i
		checked = !hit
	}

	if err := m.flushCopy(); err != nil {
		return err
	}
	return m.literal(base+int64(lit), buf[lit:end])
}

// roll slides the window of x.bs bytes whose weak sum halves are a and b
// over the target: step k drops outs[k] and takes in ins[k]
// (len(ins) >= len(outs)). It stops after the first step that yields a weak
// sum present in x (hit) or after len(outs) steps, and returns the updated
// halves and the number of steps taken.
func (x *Index) roll(a, b uint32, outs, ins []byte) (uint32, uint32, int, bool) {
	n := uint32(x.bs)
	ins = ins[:len(outs)]
	done := 0
	for done < len(outs) {
		var k int
		a, b, k = rollFilter(a, b, n, outs[done:], ins[done:], x.filter, x.filterShift)
		done += k
		if k == 0 || !x.hasWeak(a&0xffff|b<<16) {
			// k == 0: nothing left; otherwise a false positive of the
			// filter (about 1 in 32 absent sums passes it).
			continue
		}
		return a, b, done, true
	}
	return a, b, done, false
}

// rollFilter is the hot loop of Match. It rolls like roll but stops after
// the first step whose weak sum passes the filter (or after len(outs)
// steps), returning the updated halves and the number of steps taken. It is
// kept minimal so that the Go compiler keeps all its variables in
// registers.
func rollFilter(a, b, n uint32, outs, ins []byte, filter []uint64, fshift uint32) (uint32, uint32, int) {
	ins = ins[:len(outs)]
	fshift &= 31
	for i, out := range outs {
		a += uint32(ins[i]) - uint32(out)
		b += a - n*uint32(out)
		f := ((a&0xffff | b<<16) * filterMul) >> fshift
		if filter[f>>6]&(1<<(f&63)) != 0 {
			return a, b, i + 1
		}
	}
	return a, b, len(outs)
}

// hasWeak reports whether some block has weak sum w.
func (x *Index) hasWeak(w uint32) bool {
	mask := uint32(len(x.slots) - 1)
	for i := (w * slotMul) >> (x.slotShift & 31); ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			return false
		}
		if uint32(s>>32) == w {
			return true
		}
	}
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
// Its buffer starts at startChunk bytes and doubles, up to maxLit, each time
// a read fills it.
func (m *matcher) literalOnly(r io.Reader, off int64) error {
	buf := make([]byte, min(m.maxLit, startChunk))
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
		if len(buf) < m.maxLit {
			buf = make([]byte, min(m.maxLit, 2*len(buf)))
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
