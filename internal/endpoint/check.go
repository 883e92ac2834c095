package endpoint

import (
	"context"
	"fmt"
	"math"

	"github.com/zeebo/blake3"

	"github.com/fcp-dev/fcp/internal/wire"
)

// CheckWrite returns the error with which a FileWriter's Write of data at
// off to the file rel must fail before it writes anything: ctx has ended,
// off is out of range (ErrInvalidPath), or data does not match sum, the
// hash its reader computed (ErrMismatch). Nil means it may write.
func CheckWrite(ctx context.Context, rel string, off int64, data []byte, sum wire.Sum) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("write %s: %w", rel, ctx.Err())
	case off < 0 || off > math.MaxInt64-int64(len(data)):
		return fmt.Errorf("write %s: %w: offset %d", rel, ErrInvalidPath, off)
	case blake3.Sum256(data) != sum:
		return fmt.Errorf("write %s: %d bytes at %d: %w", rel, len(data), off, ErrMismatch)
	}
	return nil
}

// CheckHole is CheckWrite for FileWriter.Hole: a hole of n bytes at off.
func CheckHole(ctx context.Context, rel string, off, n int64) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("hole %s: %w", rel, ctx.Err())
	case off < 0 || n <= 0 || off > math.MaxInt64-n:
		return fmt.Errorf("hole %s: %w: %d bytes at offset %d", rel, ErrInvalidPath, n, off)
	}
	return nil
}
