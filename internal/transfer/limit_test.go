package transfer

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string // in the error text; "" for success
	}{
		{in: "100", want: 100 << 10},
		{in: "0", want: 0},
		{in: "0.0", want: 0},
		{in: "0M", want: 0},
		{in: "512K", want: 512 << 10},
		{in: "512k", want: 512 << 10},
		{in: "1.5M", want: 3 << 19},
		{in: "2m", want: 2 << 20},
		{in: "1G", want: 1 << 30},
		{in: "0.5", want: 512},
		{in: "1000B", want: 1000},
		{in: "1b", want: 1},
		{in: ".5K", want: 512},
		{in: "2.", want: 2048},
		{in: "-1", wantErr: "want a number"},
		{in: "abc", wantErr: "want a number"},
		{in: "", wantErr: "want a number"},
		{in: "K", wantErr: "want a number"},
		{in: ".", wantErr: "want a number"},
		{in: "1.2.3", wantErr: "want a number"},
		{in: "1e3", wantErr: "want a number"},
		{in: "Inf", wantErr: "want a number"},
		{in: "NaN", wantErr: "want a number"},
		{in: "10T", wantErr: "want a number"},
		{in: "1KB", wantErr: "want a number"},
		{in: " 1", wantErr: "want a number"},
		{in: "0.1B", wantErr: "less than one byte per second"},
		{in: "99999999999G", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("ParseRate(%q) = %v", tt.in, err)
			case tt.wantErr == "" && got != tt.want:
				t.Errorf("ParseRate(%q) = %d, want %d", tt.in, got, tt.want)
			case tt.wantErr != "" && err == nil:
				t.Errorf("ParseRate(%q) = %d, want an error", tt.in, got)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("ParseRate(%q) error %q does not mention %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestLimiterWait(t *testing.T) {
	if l := newLimiter(0, 1<<20); l != nil {
		t.Fatal("newLimiter(0) limits")
	}
	var none *limiter
	if err := none.wait(t.Context(), 1<<30); err != nil {
		t.Errorf("wait of no limiter = %v", err)
	}
	// More than a burst passes in pieces rather than failing.
	l := newLimiter(1<<30, 1000)
	if err := l.wait(t.Context(), 5000); err != nil {
		t.Errorf("wait beyond the burst = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := newLimiter(1, 1000).wait(ctx, 1000); !errors.Is(err, context.Canceled) {
		t.Errorf("wait with a canceled context = %v, want context.Canceled", err)
	}
}

// TestBandwidthLimit checks that the limit is applied: 2 MiB at 1 MiB/s
// take about two seconds, as the bucket starts empty.
func TestBandwidthLimit(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	data := make([]byte, 2<<20)
	rand.NewChaCha8([32]byte{}).Read(data)
	write(t, filepath.Join(src, "a"), string(data[:1<<20]))
	write(t, filepath.Join(src, "b"), string(data[1<<20:]))

	start := time.Now()
	_, err := Run(t.Context(), open(t, dst), []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, Options{BandwidthLimit: 1 << 20})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed < 1500*time.Millisecond {
		t.Errorf("2 MiB at 1 MiB/s took %v, want at least 1.5s", elapsed)
	}
	for i, name := range []string{"a", "b"} {
		got, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || !bytes.Equal(got, data[i<<20:(i+1)<<20]) {
			t.Errorf("%s: %d bytes (%v), want the source's", name, len(got), err)
		}
	}
}
