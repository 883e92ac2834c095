package delta

import (
	"math/rand/v2"
	"testing"

	"github.com/zeebo/blake3"
)

// weakRef is Weak written straight from its definition.
func weakRef(p []byte) uint32 {
	var a, b uint32
	for i, c := range p {
		a += uint32(c)
		b += uint32(len(p)-i) * uint32(c)
	}
	return a&0xffff | (b&0xffff)<<16
}

func TestWeakMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for range 2000 {
		p := randBytes(rng, rng.IntN(3000))
		if rng.IntN(4) == 0 {
			for i := range p {
				p[i] = 0xff
			}
		}
		if got, want := Weak(p), weakRef(p); got != want {
			t.Fatalf("Weak(%d bytes) = %#x, want %#x", len(p), got, want)
		}
	}
	if Weak(nil) != 0 {
		t.Fatal("Weak(nil) != 0")
	}
}

func TestRollEqualsRecompute(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	trials := 0
	for range 300 {
		n := 1 + rng.IntN(64)
		if rng.IntN(3) == 0 {
			n = 1 + rng.IntN(20000)
		}
		data := randBytes(rng, n+1+rng.IntN(5000))
		if rng.IntN(4) == 0 {
			for i := range data {
				data[i] = byte(i % 3 * 127)
			}
		}
		sum := Weak(data[:n])
		for i := 0; i+n < len(data); i++ {
			sum = Roll(sum, n, data[i], data[i+n])
			if i%97 == 0 || n < 100 || i+n == len(data)-1 {
				if want := Weak(data[i+1 : i+1+n]); sum != want {
					t.Fatalf("window %d at %d: rolled %#x, recomputed %#x", n, i+1, sum, want)
				}
				trials++
			}
		}
	}
	t.Logf("%d rolled sums checked", trials)
}

func TestStrongSum(t *testing.T) {
	p := []byte("the rsync algorithm")
	full := blake3.Sum256(p)
	if s := StrongSum(p); string(s[:]) != string(full[:16]) {
		t.Fatalf("StrongSum = %x, want %x", s, full[:16])
	}
}

func TestBlockSize(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want int
	}{
		{-1, MinBlock},
		{0, MinBlock},
		{1, MinBlock},
		{700 * 700, MinBlock},
		{710 * 710, 704},
		{1 << 20, 1024},
		{1<<20 - 1, 1016},
		{64 << 20, 8192},
		{1 << 30, 32768},
		{1 << 34, MaxBlock},
		{1<<34 - 1, MaxBlock - 8},
		{1 << 40, MaxBlock},
		{1<<63 - 1, MaxBlock},
	} {
		if got := BlockSize(c.n); got != c.want {
			t.Errorf("BlockSize(%d) = %d, want %d", c.n, got, c.want)
		}
	}
	rng := rand.New(rand.NewPCG(15, 16))
	for range 10000 {
		n := rng.Int64N(1 << 36)
		bs := int64(BlockSize(n))
		if bs < MinBlock || bs > MaxBlock {
			t.Fatalf("BlockSize(%d) = %d out of range", n, bs)
		}
		if bs > MinBlock && bs < MaxBlock && (bs%8 != 0 || bs*bs > n || (bs+8)*(bs+8) <= n) {
			t.Fatalf("BlockSize(%d) = %d is not sqrt rounded down to a multiple of 8", n, bs)
		}
	}
}

func TestSign(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	data := randBytes(rng, 10*700+5)
	blocks := Sign(data, 700)
	if len(blocks) != 10 {
		t.Fatalf("%d blocks, want 10", len(blocks))
	}
	for i, b := range blocks {
		p := data[i*700 : (i+1)*700]
		if b.Weak != Weak(p) || b.Strong != StrongSum(p) {
			t.Fatalf("block %d has wrong sums", i)
		}
	}
	if len(Sign(data[:699], 700)) != 0 || len(Sign(nil, 700)) != 0 {
		t.Fatal("short data has blocks")
	}
	// Range by range equals all at once.
	var cat []Block
	for off := 0; off < len(data); off += 3 * 700 {
		cat = append(cat, Sign(data[off:min(off+3*700, len(data))], 700)...)
	}
	if len(cat) != len(blocks) {
		t.Fatalf("ranges: %d blocks, want %d", len(cat), len(blocks))
	}
	for i := range cat {
		if cat[i] != blocks[i] {
			t.Fatalf("ranges: block %d differs", i)
		}
	}
}
