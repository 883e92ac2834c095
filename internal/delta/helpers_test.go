package delta

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
)

// memFile is an in-memory io.WriterAt that grows as needed.
type memFile struct {
	b      []byte
	writes int
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	m.writes++
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	copy(m.b[off:], p)
	return len(p), nil
}

// chunkyReader returns data in pieces of random size, sometimes together
// with io.EOF, to exercise Match's buffering.
type chunkyReader struct {
	data []byte
	rng  *rand.Rand
	max  int
}

func (c *chunkyReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.data), 1+c.rng.IntN(c.max))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	if len(c.data) == 0 && c.rng.IntN(2) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// signRanges signs basis in random ranges that start at multiples of bs and
// concatenates the results, the way a caller with bounded memory would.
func signRanges(rng *rand.Rand, basis []byte, bs int) []Block {
	var blocks []Block
	for off := 0; off < len(basis); {
		n := (1 + rng.IntN(8)) * bs
		if rng.IntN(4) == 0 {
			n = (1 + rng.IntN(200)) * bs
		}
		end := min(off+n, len(basis))
		blocks = append(blocks, Sign(basis[off:end], bs)...)
		off = end
	}
	return blocks
}

// stats summarizes the ops of one round trip.
type stats struct {
	ops, literalOps, copyOps int
	literalBytes, copyBytes  int
}

// trip describes one round trip: sign basis, match target, apply.
type trip struct {
	basis, target []byte
	bs            int
	first         int64   // index only basis[first:] (block aligned to first)
	cuts          []int64 // target segment boundaries, matched independently
	opts          MatchOptions
	parallel      bool // match segments concurrently
	rng           *rand.Rand
}

// run performs the round trip and checks every invariant; it returns op
// statistics.
func (tr trip) run(t testing.TB) stats {
	t.Helper()
	var blocks []Block
	if int(tr.first) <= len(tr.basis) {
		blocks = signRanges(tr.rng, tr.basis[tr.first:], tr.bs)
	}
	if want := Sign(tr.basis[min(int(tr.first), len(tr.basis)):], tr.bs); len(want) != len(blocks) {
		t.Fatalf("range signing gave %d blocks, whole signing %d", len(blocks), len(want))
	}
	x := NewIndex(tr.bs, tr.first, blocks)
	if x.Len() != len(blocks) || x.BlockSize() != tr.bs {
		t.Fatalf("index has %d blocks of %d, want %d of %d", x.Len(), x.BlockSize(), len(blocks), tr.bs)
	}

	bounds := append([]int64{0}, tr.cuts...)
	bounds = append(bounds, int64(len(tr.target)))
	segOps := make([][]Op, len(bounds)-1)
	errs := make([]error, len(bounds)-1)
	readers := make([]io.Reader, len(bounds)-1)
	for i := range segOps {
		seg := tr.target[bounds[i]:bounds[i+1]]
		if tr.rng.IntN(2) == 0 {
			readers[i] = &chunkyReader{data: seg, rng: rand.New(rand.NewPCG(tr.rng.Uint64(), 1)), max: 1 + tr.rng.IntN(300000)}
		} else {
			readers[i] = bytes.NewReader(seg)
		}
	}
	matchSeg := func(i int) {
		errs[i] = Match(readers[i], bounds[i], x, tr.opts, func(op Op) error {
			if op.Literal() {
				op.Data = bytes.Clone(op.Data) // Match reuses its buffer
			}
			segOps[i] = append(segOps[i], op)
			return nil
		})
	}
	if tr.parallel {
		var wg sync.WaitGroup
		for i := range segOps {
			wg.Go(func() { matchSeg(i) })
		}
		wg.Wait()
	} else {
		for i := range segOps {
			matchSeg(i)
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Match segment %d: %v", i, err)
		}
	}

	maxLit := tr.opts.MaxLiteral
	if maxLit <= 0 {
		maxLit = defaultMaxLiteral
	}
	maxCopy := tr.opts.MaxCopy
	if maxCopy <= 0 {
		maxCopy = defaultMaxCopy
	}
	var st stats
	dst := &memFile{b: make([]byte, 0, len(tr.target))}
	basis := bytes.NewReader(tr.basis)
	var buf []byte
	next := int64(0)
	for i, ops := range segOps {
		if len(ops) > 0 && ops[0].Off != bounds[i] {
			t.Fatalf("segment %d starts at %d, first op at %d", i, bounds[i], ops[0].Off)
		}
		for _, op := range ops {
			if op.Off != next {
				t.Fatalf("op %+v: want offset %d (gap or overlap)", opString(op), next)
			}
			if op.Len <= 0 {
				t.Fatalf("op %s: empty", opString(op))
			}
			st.ops++
			if op.Literal() {
				if op.Len > maxLit || len(op.Data) != op.Len {
					t.Fatalf("op %s: bad literal (max %d)", opString(op), maxLit)
				}
				st.literalOps++
				st.literalBytes += op.Len
			} else {
				if op.Len%tr.bs != 0 || op.Len > max(maxCopy, tr.bs) {
					t.Fatalf("op %s: bad copy length (block %d, max %d)", opString(op), tr.bs, maxCopy)
				}
				if op.BasisOff < tr.first || (op.BasisOff-tr.first)%int64(tr.bs) != 0 ||
					op.BasisOff+int64(op.Len) > int64(len(tr.basis)) {
					t.Fatalf("op %s: basis range not made of indexed blocks", opString(op))
				}
				st.copyOps++
				st.copyBytes += op.Len
			}
			if err := Apply(dst, basis, op, buf); err != nil {
				t.Fatalf("Apply %s: %v", opString(op), err)
			}
			if !op.Literal() && len(buf) < op.Len && tr.rng.IntN(2) == 0 {
				buf = make([]byte, op.Len) // sometimes provide scratch space
			}
			next = op.Off + int64(op.Len)
		}
		if next != bounds[i+1] {
			t.Fatalf("segment %d [%d,%d): ops end at %d", i, bounds[i], bounds[i+1], next)
		}
	}
	if !bytes.Equal(dst.b, tr.target) {
		t.Fatalf("rebuilt target (%d bytes) differs from target (%d bytes)", len(dst.b), len(tr.target))
	}
	return st
}

func opString(op Op) string {
	if op.Literal() {
		return fmt.Sprintf("{lit off=%d len=%d}", op.Off, op.Len)
	}
	return fmt.Sprintf("{copy off=%d basis=%d len=%d}", op.Off, op.BasisOff, op.Len)
}
