package shell

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/endpoint/local"
	"github.com/fcp-dev/fcp/internal/transfer"
)

// TestThroughput measures transfers through each shell: a tree of 2,000
// small files, and one file of 50 MiB. It runs only with
// FCP_SHELL_THROUGHPUT=1 and reports with t.Log (go test -v).
func TestThroughput(t *testing.T) {
	if os.Getenv("FCP_SHELL_THROUGHPUT") == "" {
		t.Skip("set FCP_SHELL_THROUGHPUT=1 to measure")
	}
	base := t.TempDir()
	small, large := filepath.Join(base, "small"), filepath.Join(base, "large")
	rng := rand.NewChaCha8([32]byte{2})
	var smallBytes int64
	for i := range 2000 {
		b := make([]byte, 512+i%4096)
		rng.Read(b)
		smallBytes += int64(len(b))
		writeFile(t, filepath.Join(small, fmt.Sprintf("d%02d", i%40), fmt.Sprintf("f%04d", i)), string(b), 0o644)
	}
	b := make([]byte, 50<<20)
	rng.Read(b)
	writeFile(t, filepath.Join(large, "file"), string(b), 0o644)

	kinds := append([]shellKind{{name: "local (reference)"}}, shells...)
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			for _, tc := range []struct {
				name, src string
				bytes     int64
				workers   int
			}{
				{"2000 small files", small, smallBytes, 0},
				{"2000 small files, 512 workers", small, smallBytes, 512},
				{"one 50 MiB file", large, 50 << 20, 0},
			} {
				dst := filepath.Join(t.TempDir(), "dst")
				var ep endpoint.Endpoint
				var err error
				if kind.start == nil {
					ep, err = local.Open(dst, true)
				} else {
					ep, _ = openShell(t, kind, dst, Options{})
				}
				if err != nil {
					t.Fatal(err)
				}
				src, err := local.Open(tc.src, false)
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				st, err := transfer.Run(context.Background(), ep, []transfer.Job{{Src: src, SrcRel: ".", DestRel: "."}}, transfer.Options{Workers: tc.workers})
				d := time.Since(start)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: %d files in %v, %.1f MB/s", tc.name, st.Created, d.Round(time.Millisecond), float64(tc.bytes)/d.Seconds()/1e6)
				ep.Close()
				src.Close()
			}
		})
	}
}
