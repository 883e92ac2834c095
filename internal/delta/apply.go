package delta

import (
	"errors"
	"fmt"
	"io"

	"github.com/zeebo/blake3"
)

// ErrMismatch is returned (wrapped) by Apply when the bytes an op produces do
// not hash to op.Sum.
var ErrMismatch = errors.New("delta: data does not match its sum")

// Apply writes the target bytes of op to dst at op.Off: op.Data for a literal,
// else op.Len bytes read from basis at op.BasisOff. It checks the bytes
// against op.Sum before writing anything and fails with an error wrapping
// ErrMismatch, having written nothing, when they differ. A basis shorter than
// the op needs, and an op that is inconsistent in itself (a literal whose
// Data is not Len bytes long, a negative Len or offset), are also
// ErrMismatch. Other errors of basis or dst are returned wrapped.
//
// buf is scratch space Apply may use to hold the bytes of a copy op; when it
// is shorter than op.Len (for example nil) Apply allocates. Reusing a buf of
// MatchOptions.MaxCopy bytes avoids allocation.
func Apply(dst io.WriterAt, basis io.ReaderAt, op Op, buf []byte) error {
	if op.Len < 0 || op.Off < 0 || op.BasisOff < -1 {
		return fmt.Errorf("%w: malformed op (off %d, basis offset %d, length %d)",
			ErrMismatch, op.Off, op.BasisOff, op.Len)
	}
	var p []byte
	if op.Literal() {
		if len(op.Data) != op.Len {
			return fmt.Errorf("%w: literal at %d has %d bytes of data but length %d",
				ErrMismatch, op.Off, len(op.Data), op.Len)
		}
		p = op.Data
	} else {
		if cap(buf) >= op.Len {
			p = buf[:op.Len]
		} else {
			p = make([]byte, op.Len)
		}
		n, err := basis.ReadAt(p, op.BasisOff)
		if n < len(p) {
			if err == nil || err == io.EOF {
				return fmt.Errorf("%w: basis has only %d of %d bytes at %d",
					ErrMismatch, n, len(p), op.BasisOff)
			}
			return fmt.Errorf("delta: read basis at %d: %w", op.BasisOff, err)
		}
	}
	if blake3.Sum256(p) != op.Sum {
		return fmt.Errorf("%w: %d bytes at target offset %d", ErrMismatch, op.Len, op.Off)
	}
	if _, err := dst.WriteAt(p, op.Off); err != nil {
		return fmt.Errorf("delta: write target at %d: %w", op.Off, err)
	}
	return nil
}
