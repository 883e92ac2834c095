package delta

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

// cpuLoop runs f for each benchmark iteration and, where the platform
// allows, also reports throughput per CPU second ("cpuMB/s").
func cpuLoop(b *testing.B, bytesPerOp int64, f func()) {
	b.SetBytes(bytesPerOp)
	b.ReportAllocs()
	start, ok := cpuTime()
	n := 0
	for b.Loop() {
		f()
		n++
	}
	if end, ok2 := cpuTime(); ok && ok2 && end > start {
		sec := (end - start).Seconds() / float64(n)
		b.ReportMetric(float64(bytesPerOp)/1e6/sec, "cpuMB/s")
		b.ReportMetric(float64((end-start)/time.Duration(n)), "cpu-ns/op")
	}
}

const benchSize = 64 << 20

var benchBasis = func() func() []byte {
	var p []byte
	return func() []byte {
		if p == nil {
			p = make([]byte, benchSize)
			r := rand.NewChaCha8([32]byte{1})
			r.Read(p)
		}
		return p
	}
}()

func benchMatch(b *testing.B, basis, target []byte) {
	bs := BlockSize(int64(len(basis)))
	x := NewIndex(bs, 0, Sign(basis, bs))
	var lit int
	cpuLoop(b, int64(len(target)), func() {
		lit = 0
		err := Match(bytes.NewReader(target), 0, x, MatchOptions{}, func(op Op) error {
			if op.Literal() {
				lit += op.Len
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	})
	b.ReportMetric(float64(lit)/float64(len(target))*100, "%literal")
}

// BenchmarkMatch matches a 64 MiB target against a 64 MiB basis.
func BenchmarkMatch(b *testing.B) {
	basis := benchBasis()
	b.Run("identical", func(b *testing.B) {
		benchMatch(b, basis, basis)
	})
	b.Run("random", func(b *testing.B) {
		target := make([]byte, benchSize)
		rand.NewChaCha8([32]byte{2}).Read(target)
		benchMatch(b, basis, target)
	})
	b.Run("edited", func(b *testing.B) {
		// A 100-byte insertion every MiB: every block boundary shifts.
		rng := rand.New(rand.NewPCG(1, 1))
		var target []byte
		for off := 0; off < len(basis); off += 1 << 20 {
			target = append(target, basis[off:off+1<<20]...)
			target = append(target, randBytes(rng, 100)...)
		}
		benchMatch(b, basis, target)
	})
	b.Run("zeros", func(b *testing.B) {
		zeros := make([]byte, benchSize)
		benchMatch(b, zeros, zeros)
	})
}

// BenchmarkSign signs a 64 MiB basis with its rsync block size.
func BenchmarkSign(b *testing.B) {
	basis := benchBasis()
	bs := BlockSize(int64(len(basis)))
	cpuLoop(b, int64(len(basis)), func() { Sign(basis, bs) })
}

// BenchmarkApply applies the ops of an identical 64 MiB target.
func BenchmarkApply(b *testing.B) {
	basis := benchBasis()
	bs := BlockSize(int64(len(basis)))
	x := NewIndex(bs, 0, Sign(basis, bs))
	var ops []Op
	if err := Match(bytes.NewReader(basis), 0, x, MatchOptions{}, func(op Op) error {
		op.Data = bytes.Clone(op.Data)
		ops = append(ops, op)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	dst := &memFile{b: make([]byte, len(basis))}
	src := bytes.NewReader(basis)
	buf := make([]byte, defaultMaxCopy)
	cpuLoop(b, int64(len(basis)), func() {
		for _, op := range ops {
			if err := Apply(dst, src, op, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkWeak(b *testing.B) {
	p := benchBasis()[:8192]
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		Weak(p)
	}
}
