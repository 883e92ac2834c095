package transfer

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// ParseRate parses a bandwidth limit as rsync's --bwlimit does and returns
// it in bytes per second: a decimal number, possibly fractional ("1.5"),
// of KiB per second, or of the unit a one-letter suffix names, in either
// case: B (bytes), K (KiB), M (MiB) or G (GiB). "0" means no limit and
// gives 0. A negative, empty or malformed value, or one that is not 0 but
// rounds to less than one byte per second, is an error.
func ParseRate(s string) (int64, error) {
	num, mult := s, 1024.0
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'B', 'b':
			num, mult = s[:n-1], 1
		case 'K', 'k':
			num = s[:n-1]
		case 'M', 'm':
			num, mult = s[:n-1], 1<<20
		case 'G', 'g':
			num, mult = s[:n-1], 1<<30
		}
	}
	// ParseFloat would also take signs, exponents, hex, "Inf" and "NaN".
	if num == "" || strings.Trim(num, "0123456789.") != "" || strings.Trim(num, ".") == "" {
		return 0, fmt.Errorf("invalid rate %q: want a number of KiB/s, or of bytes with a suffix B, K, M or G", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid rate %q: want a number of KiB/s, or of bytes with a suffix B, K, M or G", s)
	}
	bytes := math.Round(v * mult)
	switch {
	case v == 0:
		return 0, nil
	case bytes < 1:
		return 0, fmt.Errorf("invalid rate %q: less than one byte per second", s)
	case bytes > 1<<62:
		return 0, fmt.Errorf("invalid rate %q: too large", s)
	}
	return int64(bytes), nil
}

// limiter paces the file data that all workers of a run write to a rate
// in bytes per second: a token bucket (golang.org/x/time/rate) holding at
// most one chunk, so that a chunk passes whole. The bucket starts empty,
// so that the average rate from the start of the run never exceeds the
// limit either. A nil *limiter does not limit. It is safe for concurrent
// use.
type limiter struct {
	r     *rate.Limiter
	burst int
}

// newLimiter returns a limiter of bytesPerSec for chunks of up to chunk
// bytes, or nil when bytesPerSec is not positive.
func newLimiter(bytesPerSec int64, chunk int) *limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	burst := max(chunk, 1)
	r := rate.NewLimiter(rate.Limit(bytesPerSec), burst)
	r.AllowN(time.Now(), burst)
	return &limiter{r: r, burst: burst}
}

// wait blocks until n more bytes may be written, or ctx ends (then it
// returns ctx's error, or at once an error saying that ctx's deadline
// comes too soon).
func (l *limiter) wait(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	for n > 0 {
		k := min(n, l.burst)
		if err := l.r.WaitN(ctx, k); err != nil {
			return fmt.Errorf("bandwidth limit: %w", err)
		}
		n -= k
	}
	return nil
}
