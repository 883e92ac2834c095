package delta

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// FuzzMatchApply checks the round trip Sign, NewIndex, Match, Apply for
// arbitrary basis and target. The low 5 bits of bsb choose the block size
// (1..32); bit 5 selects tiny MaxLiteral and MaxCopy limits; bit 6 matches
// the target as two independent segments; bit 7 indexes the basis from an
// offset other than 0.
func FuzzMatchApply(f *testing.F) {
	f.Add([]byte("hello, world"), []byte("hello, brave new world"), byte(4))
	f.Add([]byte("abcdefghabcdefgh"), []byte("xabcdefghabcdefghy"), byte(8|64))
	f.Add(make([]byte, 100), make([]byte, 130), byte(7|32))
	f.Add([]byte{}, []byte("x"), byte(0))
	f.Add([]byte("0123456789"), []byte("0123456789"), byte(3|128))
	f.Fuzz(func(t *testing.T, basis, target []byte, bsb byte) {
		bs := int(bsb&31) + 1
		tr := trip{
			basis:  basis,
			target: target,
			bs:     bs,
			rng:    rand.New(rand.NewPCG(uint64(len(basis)), uint64(len(target)))),
		}
		if bsb&32 != 0 {
			tr.opts = MatchOptions{MaxLiteral: 3, MaxCopy: 2 * bs}
		}
		if bsb&64 != 0 && len(target) > 1 {
			tr.cuts = []int64{int64(len(target) / 2)}
		}
		if bsb&128 != 0 && len(basis) > 0 {
			tr.first = int64(len(basis) / 3)
		}
		st := tr.run(t)
		if tr.first == 0 && len(tr.cuts) == 0 && bytes.Equal(basis, target) && st.literalBytes != len(basis)%bs {
			t.Fatalf("identical: %d literal bytes, want %d", st.literalBytes, len(basis)%bs)
		}
	})
}
