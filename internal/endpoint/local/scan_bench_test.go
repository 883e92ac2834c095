package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// BenchmarkScan scans a tree of 20 directories of 1,000 empty files, or
// the tree named by FCP_BENCH_SCAN_TREE (a million files, say), and
// reports the time per entry. With -cpu 1,2 it shows what the helpers
// that stat ahead of the walk bring.
func BenchmarkScan(b *testing.B) {
	root := os.Getenv("FCP_BENCH_SCAN_TREE")
	if root == "" {
		root = b.TempDir()
		for d := range 20 {
			dir := filepath.Join(root, fmt.Sprintf("d%02d", d))
			if err := os.Mkdir(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			for f := range 1000 {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", f)), nil, 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	ep, err := Open(root, false)
	if err != nil {
		b.Fatal(err)
	}
	defer ep.Close()
	entries := 0
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		entries = 0
		err := ep.Scan(context.Background(), ".", endpoint.ScanOptions{}, func(*wire.Entry) error {
			entries++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*entries), "ns/entry")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*entries), "cpu-ns/entry")
}

// cpuTime is the CPU time of the process so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
