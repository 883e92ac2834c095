package delta

import (
	"bytes"
	"errors"
	"testing"

	"github.com/zeebo/blake3"
)

func TestApply(t *testing.T) {
	basis := []byte("0123456789abcdefghij")
	lit := []byte("hello")
	good := []Op{
		{Off: 3, BasisOff: -1, Len: 5, Data: lit, Sum: blake3.Sum256(lit)},
		{Off: 0, BasisOff: 10, Len: 3, Sum: blake3.Sum256(basis[10:13])},
		{Off: 8, BasisOff: 0, Len: 20, Sum: blake3.Sum256(basis)},
	}
	dst := &memFile{}
	for _, op := range good {
		if err := Apply(dst, bytes.NewReader(basis), op, nil); err != nil {
			t.Fatalf("Apply %s: %v", opString(op), err)
		}
	}
	if want := "abchello0123456789abcdefghij"; string(dst.b) != want {
		t.Fatalf("got %q, want %q", dst.b, want)
	}
	// Scratch space is used when big enough.
	buf := make([]byte, 64)
	if err := Apply(dst, bytes.NewReader(basis), good[2], buf); err != nil || !bytes.Equal(buf[:20], basis) {
		t.Fatalf("Apply with buf: %v, buf %q", err, buf[:20])
	}

	bad := map[string]Op{
		"literal wrong sum":     {Off: 0, BasisOff: -1, Len: 5, Data: lit, Sum: blake3.Sum256([]byte("hellO"))},
		"literal wrong length":  {Off: 0, BasisOff: -1, Len: 4, Data: lit, Sum: blake3.Sum256(lit)},
		"copy wrong sum":        {Off: 0, BasisOff: 1, Len: 3, Sum: blake3.Sum256(basis[10:13])},
		"copy past basis end":   {Off: 0, BasisOff: 15, Len: 10, Sum: blake3.Sum256(append(basis[15:], make([]byte, 5)...))},
		"copy beyond basis":     {Off: 0, BasisOff: 100, Len: 1, Sum: blake3.Sum256([]byte{0})},
		"short basis, zero sum": {Off: 0, BasisOff: 18, Len: 3},
		"negative length":       {Off: 0, BasisOff: 0, Len: -1},
		"negative basis offset": {Off: 0, BasisOff: -2, Len: 1},
		"negative target":       {Off: -1, BasisOff: -1, Len: 5, Data: lit, Sum: blake3.Sum256(lit)},
	}
	for name, op := range bad {
		dst := &memFile{}
		err := Apply(dst, bytes.NewReader(basis), op, nil)
		if !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: got %v, want ErrMismatch", name, err)
		}
		if dst.writes != 0 {
			t.Errorf("%s: wrote to dst", name)
		}
	}
}

type failingReaderAt struct{ err error }

func (f failingReaderAt) ReadAt([]byte, int64) (int, error) { return 0, f.err }

type failingWriterAt struct{ err error }

func (f failingWriterAt) WriteAt([]byte, int64) (int, error) { return 0, f.err }

func TestApplyWrapsIOErrors(t *testing.T) {
	cause := errors.New("disk on fire")
	op := Op{Off: 0, BasisOff: 0, Len: 3, Sum: blake3.Sum256([]byte("abc"))}
	err := Apply(&memFile{}, failingReaderAt{cause}, op, nil)
	if !errors.Is(err, cause) || errors.Is(err, ErrMismatch) {
		t.Errorf("read error: got %v", err)
	}
	err = Apply(failingWriterAt{cause}, bytes.NewReader([]byte("abc")), op, nil)
	if !errors.Is(err, cause) {
		t.Errorf("write error: got %v", err)
	}
}
