package delta

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// genBasis returns random basis content of a random kind and size, from empty
// up to about 3 MB.
func genBasis(rng *rand.Rand) []byte {
	var size int
	switch rng.IntN(8) {
	case 0:
		size = rng.IntN(800) // often smaller than one block
	case 1:
		size = rng.IntN(20000)
	case 2:
		size = 1<<20 + rng.IntN(2<<20) // 1..3 MB
	default:
		size = rng.IntN(300000)
	}
	p := make([]byte, size)
	switch rng.IntN(8) {
	case 0: // all zeros
	case 1: // short period
		pat := randBytes(rng, 1+rng.IntN(16))
		for i := range p {
			p[i] = pat[i%len(pat)]
		}
	case 2: // long period
		pat := randBytes(rng, 100+rng.IntN(5000))
		for i := range p {
			p[i] = pat[i%len(pat)]
		}
	case 3: // low entropy text
		alpha := "ab \n"
		for i := range p {
			p[i] = alpha[rng.IntN(len(alpha))]
		}
	case 4: // random with runs of zeros
		for i := 0; i < len(p); {
			n := min(len(p)-i, 1+rng.IntN(20000))
			if rng.IntN(2) == 0 {
				fillRandom(rng, p[i:i+n])
			}
			i += n
		}
	default:
		fillRandom(rng, p)
	}
	return p
}

func randBytes(rng *rand.Rand, n int) []byte {
	p := make([]byte, n)
	fillRandom(rng, p)
	return p
}

func fillRandom(rng *rand.Rand, p []byte) {
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
}

// genBlockSize picks a block size for a basis of n bytes.
func genBlockSize(rng *rand.Rand, n int) int {
	switch rng.IntN(4) {
	case 0:
		if n < 200000 {
			return 1 + rng.IntN(64)
		}
	case 1:
		return 65 + rng.IntN(3000)
	}
	return BlockSize(int64(n))
}

// edit applies a few random edits (insert, delete, overwrite, append,
// truncate, duplicate, zero runs), block aligned or not, to a copy of basis.
func edit(rng *rand.Rand, basis []byte, bs int) ([]byte, []string) {
	t := bytes.Clone(basis)
	var did []string
	pos := func() int {
		p := rng.IntN(len(t) + 1)
		if rng.IntN(3) == 0 {
			p -= p % bs // block aligned
		}
		return p
	}
	length := func() int {
		switch rng.IntN(4) {
		case 0:
			return 1
		case 1:
			return 1 + rng.IntN(100)
		case 2:
			return bs * (1 + rng.IntN(4))
		}
		return 1 + rng.IntN(50000)
	}
	for range rng.IntN(7) {
		switch rng.IntN(8) {
		case 0:
			p := pos()
			t = append(t[:p], append(randBytes(rng, length()), t[p:]...)...)
			did = append(did, "insert")
		case 1:
			p := pos()
			n := min(length(), len(t)-p)
			t = append(t[:p], t[p+n:]...)
			did = append(did, "delete")
		case 2:
			p := pos()
			n := min(length(), len(t)-p)
			fillRandom(rng, t[p:p+n])
			did = append(did, "overwrite")
		case 3:
			t = append(t, randBytes(rng, length())...)
			did = append(did, "append")
		case 4:
			t = t[:len(t)-min(length(), len(t))]
			did = append(did, "truncate")
		case 5: // copy a range of the file elsewhere
			src := pos()
			n := min(length(), len(t)-src)
			chunk := bytes.Clone(t[src : src+n])
			p := pos()
			t = append(t[:p], append(chunk, t[p:]...)...)
			did = append(did, "duplicate")
		case 6:
			p := pos()
			t = append(t[:p], append(make([]byte, length()), t[p:]...)...)
			did = append(did, "insert-zeros")
		case 7:
			if len(t) > 0 {
				t[rng.IntN(len(t))]++
				did = append(did, "flip-byte")
			}
		}
	}
	return t, did
}

// genCuts splits n bytes into random segments, block aligned if aligned.
func genCuts(rng *rand.Rand, n, bs int, aligned bool) []int64 {
	var cuts []int64
	if n == 0 {
		return nil
	}
	k := rng.IntN(5)
	for range k {
		c := int64(rng.IntN(n))
		if aligned {
			c -= c % int64(bs)
		}
		cuts = append(cuts, c)
	}
	// sort and dedupe, dropping 0
	for i := range cuts {
		for j := i + 1; j < len(cuts); j++ {
			if cuts[j] < cuts[i] {
				cuts[i], cuts[j] = cuts[j], cuts[i]
			}
		}
	}
	out := cuts[:0]
	for _, c := range cuts {
		if c > 0 && (len(out) == 0 || out[len(out)-1] != c) {
			out = append(out, c)
		}
	}
	return out
}

func TestRoundTripRandom(t *testing.T) {
	trials := 300
	if testing.Short() {
		trials = 60
	}
	rng := rand.New(rand.NewPCG(20240601, 7))
	var total stats
	var identical int
	for trial := range trials {
		seed := rng.Uint64()
		r := rand.New(rand.NewPCG(seed, 1))
		func() {
			var did []string
			defer func() {
				if t.Failed() {
					t.Logf("trial %d seed %d edits %v", trial, seed, did)
				}
			}()
			basis := genBasis(r)
			bs := genBlockSize(r, len(basis))
			if r.IntN(4) == 0 && len(basis) >= bs {
				basis = basis[:len(basis)-len(basis)%bs] // exact multiple
			}
			tr := trip{basis: basis, bs: bs, rng: r}
			same := r.IntN(5) == 0
			if same {
				tr.target = bytes.Clone(basis)
			} else {
				tr.target, did = edit(r, basis, bs)
			}
			aligned := r.IntN(2) == 0
			tr.cuts = genCuts(r, len(tr.target), bs, aligned)
			tr.parallel = r.IntN(2) == 0
			switch r.IntN(4) {
			case 0:
				tr.opts.MaxLiteral = 1 + r.IntN(5000)
			case 1:
				tr.opts.MaxCopy = 1 + r.IntN(5*bs)
			}
			if !same && r.IntN(8) == 0 && len(basis) > 0 {
				tr.first = int64(r.IntN(len(basis)))
			}
			st := tr.run(t)
			total.ops += st.ops
			total.literalBytes += st.literalBytes
			total.copyBytes += st.copyBytes
			if same && aligned {
				identical++
				// Only the short tail of each segment can be literal.
				if limit := (len(tr.cuts) + 1) * bs; st.literalBytes > limit || st.literalBytes > len(basis)%bs && len(tr.cuts) == 0 {
					t.Fatalf("identical %d-byte target, block %d, %d segments: %d literal bytes",
						len(basis), bs, len(tr.cuts)+1, st.literalBytes)
				}
			}
		}()
		if t.Failed() {
			return
		}
	}
	t.Logf("%d random trials (%d identical targets): %d ops, %d literal bytes, %d copied bytes",
		trials, identical, total.ops, total.literalBytes, total.copyBytes)
}

func TestIdenticalTargetHasOnlyTailLiteral(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 699, 700, 701, 1400, 50000, 3 << 20, 3<<20 + 17} {
		for _, zeros := range []bool{false, true} {
			basis := make([]byte, n)
			if !zeros {
				fillRandom(rng, basis)
			}
			bs := BlockSize(int64(n))
			st := trip{basis: basis, target: basis, bs: bs, rng: rng}.run(t)
			if st.literalBytes != n%bs {
				t.Errorf("n=%d zeros=%v: %d literal bytes, want %d", n, zeros, st.literalBytes, n%bs)
			}
			// Block-aligned segments matched independently.
			cuts := genCuts(rng, n, bs, true)
			st = trip{basis: basis, target: basis, bs: bs, cuts: cuts, parallel: true, rng: rng}.run(t)
			if st.literalBytes != n%bs {
				t.Errorf("n=%d zeros=%v cuts=%v: %d literal bytes, want %d", n, zeros, cuts, st.literalBytes, n%bs)
			}
		}
	}
}

func TestOneByteOverwriteCostsOneBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 3<<20 + 123
	basis := randBytes(rng, n)
	bs := BlockSize(int64(n))
	for i := range 10 {
		target := bytes.Clone(basis)
		p := rng.IntN(n)
		if i == 0 {
			p = 0
		} else if i == 1 {
			p = n - 1
		}
		target[p] ^= 0x5a
		st := trip{basis: basis, target: target, bs: bs, rng: rng}.run(t)
		if limit := bs + n%bs; st.literalBytes > limit {
			t.Errorf("byte %d changed: %d literal bytes, want <= %d", p, st.literalBytes, limit)
		}
		if st.copyOps > 3 {
			t.Errorf("byte %d changed: %d copy ops, want <= 3", p, st.copyOps)
		}
	}
}

func TestZerosCoalesce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	basis := make([]byte, 3<<20)
	bs := 1000
	st := trip{basis: basis, target: basis, bs: bs, rng: rng}.run(t)
	if st.copyOps != 1 || st.literalBytes != len(basis)%bs {
		t.Errorf("zeros: %d copy ops, %d literal bytes; want 1 copy and %d literal", st.copyOps, st.literalBytes, len(basis)%bs)
	}
	// Copy ops are cut at MaxCopy, in whole blocks.
	st = trip{basis: basis, target: basis, bs: bs, opts: MatchOptions{MaxCopy: 10*bs + 1}, rng: rng}.run(t)
	if want := len(basis) / bs / 10; st.copyOps != want+1 && st.copyOps != want {
		t.Errorf("zeros with MaxCopy: %d copy ops, want about %d", st.copyOps, want)
	}
	// A shifted target still matches after the shift.
	target := append([]byte{1, 2, 3}, basis...)
	st = trip{basis: basis, target: target, bs: bs, rng: rng}.run(t)
	if st.literalBytes > 3+bs {
		t.Errorf("shifted zeros: %d literal bytes", st.literalBytes)
	}
}

func TestMatchSmallAndEmpty(t *testing.T) {
	var ops []Op
	collect := func(op Op) error { ops = append(ops, op); return nil }
	x := NewIndex(4, 0, Sign([]byte("abcdefgh"), 4))
	if err := Match(bytes.NewReader(nil), 10, x, MatchOptions{}, collect); err != nil || len(ops) != 0 {
		t.Fatalf("empty target: %v, %d ops", err, len(ops))
	}
	// Shorter than a block: one literal.
	if err := Match(strings.NewReader("abc"), 10, x, MatchOptions{}, collect); err != nil {
		t.Fatal(err)
	}
	if len(ops) != 1 || !ops[0].Literal() || ops[0].Off != 10 || string(ops[0].Data) != "abc" {
		t.Fatalf("short target: %+v", ops)
	}
	// Nil and empty index: literals cut at MaxLiteral.
	for _, x := range []*Index{nil, NewIndex(4, 0, nil)} {
		ops = nil
		if err := Match(strings.NewReader("0123456789"), 5, x, MatchOptions{MaxLiteral: 4}, collect); err != nil {
			t.Fatal(err)
		}
		if len(ops) != 3 || ops[0].Off != 5 || ops[1].Off != 9 || ops[2].Off != 13 || ops[2].Len != 2 {
			t.Fatalf("no index: %+v", ops)
		}
	}
	// Exact match in the middle, with a continuation.
	ops = nil
	if err := Match(strings.NewReader("xxabcdefghyy"), 0, x, MatchOptions{}, collect); err != nil {
		t.Fatal(err)
	}
	want := []Op{{Off: 0, BasisOff: -1, Len: 2}, {Off: 2, BasisOff: 0, Len: 8}, {Off: 10, BasisOff: -1, Len: 2}}
	if len(ops) != len(want) {
		t.Fatalf("got %v", ops)
	}
	for i := range want {
		if ops[i].Off != want[i].Off || ops[i].BasisOff != want[i].BasisOff || ops[i].Len != want[i].Len {
			t.Fatalf("op %d: got %s, want %s", i, opString(ops[i]), opString(want[i]))
		}
	}
}

func TestMatchPrefersContinuation(t *testing.T) {
	// Basis blocks: A B A B A; target A B A B A: the copy should be one op
	// starting at block 0, since each next block continues the previous.
	a, b := bytes.Repeat([]byte{'a'}, 16), bytes.Repeat([]byte{'b'}, 16)
	basis := bytes.Join([][]byte{a, b, a, b, a}, nil)
	target := bytes.Join([][]byte{b, a, b, a}, nil)
	x := NewIndex(16, 0, Sign(basis, 16))
	var ops []Op
	if err := Match(bytes.NewReader(target), 0, x, MatchOptions{}, func(op Op) error {
		ops = append(ops, op)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(ops) != 1 || ops[0].BasisOff != 16 || ops[0].Len != 64 {
		for _, op := range ops {
			t.Log(opString(op))
		}
		t.Fatalf("want one copy of 64 bytes from 16")
	}
}

func TestMatchErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	basis := randBytes(rng, 100000)
	x := NewIndex(700, 0, Sign(basis, 700))
	errRead := errors.New("read failed")
	for _, x := range []*Index{x, nil} {
		r := io.MultiReader(bytes.NewReader(basis[:5000]), iotest.ErrReader(errRead))
		if err := Match(r, 0, x, MatchOptions{}, func(Op) error { return nil }); err != errRead {
			t.Errorf("reader error: got %v", err)
		}
	}
	errEmit := errors.New("emit failed")
	calls := 0
	err := Match(bytes.NewReader(basis), 0, x, MatchOptions{MaxCopy: 700}, func(Op) error {
		calls++
		return errEmit
	})
	if err != errEmit || calls != 1 {
		t.Errorf("emit error: got %v after %d calls", err, calls)
	}
	// A reader that never makes progress.
	if err := Match(zeroReader{}, 0, x, MatchOptions{}, func(Op) error { return nil }); err != io.ErrNoProgress {
		t.Errorf("stuck reader: got %v", err)
	}
	if err := Match(zeroReader{}, 0, nil, MatchOptions{}, func(Op) error { return nil }); err != io.ErrNoProgress {
		t.Errorf("stuck reader, no index: got %v", err)
	}
}

// zeroReader returns no data and no error.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestWeakCollisions(t *testing.T) {
	// Blocks (10+k, 100-2k, 10+k) all have the same weak sum but differ, so
	// the index must tell them apart by strong sum within one group.
	const bs = 3
	variant := func(k int) []byte { return []byte{byte(10 + k), byte(100 - 2*k), byte(10 + k)} }
	rng := rand.New(rand.NewPCG(19, 20))
	var basis []byte
	present := map[int]bool{}
	for range 200 {
		k := rng.IntN(40)
		present[k] = true
		basis = append(basis, variant(k)...)
	}
	w := Weak(variant(0))
	for k := range 40 {
		if Weak(variant(k)) != w {
			t.Fatalf("variant %d has another weak sum", k)
		}
	}
	var target []byte
	for len(target) < 900 {
		if k := rng.IntN(40); present[k] {
			target = append(target, variant(k)...)
		}
	}
	x := NewIndex(bs, 0, Sign(basis, bs))
	if g := x.group(w); len(g) != 200 {
		t.Fatalf("group of %d entries, want 200", len(g))
	}
	st := trip{basis: basis, target: target, bs: bs, rng: rng}.run(t)
	if st.literalBytes != 0 {
		t.Fatalf("%d literal bytes, want 0", st.literalBytes)
	}
	// A variant absent from the basis shares the weak sum but must not match.
	absent := 41
	target = bytes.Repeat(variant(absent), 10)
	st = trip{basis: basis, target: target, bs: bs, rng: rng}.run(t)
	if st.copyBytes != 0 {
		t.Fatalf("absent variant: %d bytes copied", st.copyBytes)
	}
}
