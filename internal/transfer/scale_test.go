package transfer

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// synthTree is a tree that exists only as a scan: dirs top directories of
// subdirs directories of files empty files each, all with one mtime. A
// scan of it samples the live heap (after a GC) every sampleEvery
// entries, which is how the tests below see whether the engine's memory
// grows with the number of files.
type synthTree struct {
	dirs, subdirs, files int
}

const (
	synthMtime  = 1_600_000_000_000_000_000
	sampleEvery = 20_000
)

func (t synthTree) entries() int { return t.dirs * (1 + t.subdirs*(1+t.files)) }

// scan calls fn for every entry in wire.ComparePaths order, the root
// first, calling sample every sampleEvery entries.
func (t synthTree) scan(ctx context.Context, sample func(), fn func(*wire.Entry) error) error {
	n := 0
	emit := func(e wire.Entry) error {
		if n++; n%sampleEvery == 0 && sample != nil {
			sample()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(&e)
	}
	if err := emit(wire.Entry{Path: ".", Type: wire.TypeDir, Mode: 0o755, Mtime: synthMtime}); err != nil {
		return err
	}
	for d := range t.dirs {
		dir := fmt.Sprintf("d%04d", d)
		if err := emit(wire.Entry{Path: dir, Type: wire.TypeDir, Mode: 0o755, Mtime: synthMtime}); err != nil {
			return err
		}
		for s := range t.subdirs {
			sub := fmt.Sprintf("%s/s%04d", dir, s)
			if err := emit(wire.Entry{Path: sub, Type: wire.TypeDir, Mode: 0o755, Mtime: synthMtime}); err != nil {
				return err
			}
			for f := range t.files {
				if err := emit(wire.Entry{Path: fmt.Sprintf("%s/f%04d", sub, f), Type: wire.TypeFile, Mode: 0o644, Mtime: synthMtime}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// synthSource is a source endpoint holding a synthTree; its scan samples
// the heap.
type synthSource struct {
	endpoint.Endpoint // nil: other methods are not expected
	tree              synthTree
	sample            func()
}

func (s *synthSource) Scan(ctx context.Context, rel string, _ endpoint.ScanOptions, fn func(*wire.Entry) error) error {
	return s.tree.scan(ctx, s.sample, fn)
}

func (s *synthSource) Read(ctx context.Context, rel string, off int64, n int) (endpoint.Chunk, error) {
	return endpoint.Chunk{Size: 0, Mtime: synthMtime}, nil
}

func (s *synthSource) Close() error { return nil }

// sinkDest is a destination that keeps nothing: it counts what it is
// asked to do. Its tree, if set, is what its scan reports, sampling the
// heap if sample is set.
type sinkDest struct {
	endpoint.Endpoint // nil: other methods are not expected
	tree              *synthTree
	sample            func()
	ops, commits      atomic.Int64
}

func (d *sinkDest) Scan(ctx context.Context, rel string, _ endpoint.ScanOptions, fn func(*wire.Entry) error) error {
	if d.tree == nil {
		return nil
	}
	return d.tree.scan(ctx, d.sample, fn)
}

func (d *sinkDest) Caps() wire.Caps { return 0 }

func (d *sinkDest) Apply(ctx context.Context, ops []wire.Op) ([]error, error) {
	d.ops.Add(int64(len(ops)))
	return make([]error, len(ops)), nil
}

func (d *sinkDest) Create(ctx context.Context, rel string, size int64) (endpoint.FileWriter, error) {
	return sinkWriter{d}, nil
}

func (d *sinkDest) Close() error { return nil }

type sinkWriter struct{ d *sinkDest }

func (w sinkWriter) Write(context.Context, int64, []byte, wire.Sum) error { return nil }
func (w sinkWriter) Hole(context.Context, int64, int64) error             { return nil }
func (w sinkWriter) Copy(context.Context, int64, int64, int, wire.Sum) error {
	return endpoint.ErrMismatch
}
func (w sinkWriter) Abort() error   { return nil }
func (w sinkWriter) Suspend() error { return nil }
func (w sinkWriter) Commit(context.Context, int64, uint32, int64, wire.Attrs) error {
	w.d.commits.Add(1)
	return nil
}

// heapSampler records the live heap after a GC.
type heapSampler struct {
	mu      sync.Mutex
	samples []uint64
}

func (h *heapSampler) sample() {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	h.mu.Lock()
	h.samples = append(h.samples, m.HeapAlloc)
	h.mu.Unlock()
}

// TestMemoryDoesNotGrowWithFiles runs the engine over 200,000 entries
// (50,000 directories of 3 empty files) and checks that the live heap
// sampled along the way stays within 4 MiB of the first sample, a bound
// that state kept per file or per directory breaks: keeping every
// directory's metadata to the end (as the engine once did: 16 MB here) or
// 100 bytes per path seen (15 MB) fails it. Measured, the heap moves by
// about 1 MiB.
func TestMemoryDoesNotGrowWithFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("200,000 entries")
	}
	tree := synthTree{dirs: 200, subdirs: 250, files: 3}
	const growth = 4 << 20
	tests := []struct {
		name     string
		dst      *synthTree // what the destination holds; nil: nothing
		srcTree  synthTree
		delete   bool
		wantOps  int64 // at least
		wantCopy int64
	}{
		{name: "copy into an empty destination", srcTree: tree, wantOps: int64(tree.dirs * (1 + tree.subdirs)), wantCopy: int64(tree.dirs * tree.subdirs * tree.files)},
		{name: "no change", dst: &tree, srcTree: tree},
		{name: "delete everything but one directory", dst: &tree, srcTree: synthTree{dirs: 1, subdirs: 1, files: 1}, delete: true, wantOps: int64(tree.dirs - 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h heapSampler
			// The longer scan samples the heap.
			src := &synthSource{tree: tt.srcTree}
			dst := &sinkDest{tree: tt.dst}
			if tt.dst != nil && tt.dst.entries() > tt.srcTree.entries() {
				dst.sample = h.sample
			} else {
				src.sample = h.sample
			}
			st, err := Run(context.Background(), dst, []Job{{Src: src, SrcRel: ".", DestRel: "."}}, Options{Delete: tt.delete})
			if err != nil {
				t.Fatalf("Run: %v (%+v)", err, st)
			}
			if got := dst.ops.Load(); got < tt.wantOps {
				t.Errorf("%d ops applied, want at least %d", got, tt.wantOps)
			}
			if got := dst.commits.Load(); got != tt.wantCopy {
				t.Errorf("%d files committed, want %d", got, tt.wantCopy)
			}
			if len(h.samples) < 5 {
				t.Fatalf("only %d heap samples", len(h.samples))
			}
			first, peak := h.samples[0], h.samples[0]
			for _, s := range h.samples {
				peak = max(peak, s)
			}
			t.Logf("live heap: first sample %.1f MiB, peak %.1f MiB over %d samples", mib(first), mib(peak), len(h.samples))
			if peak > first+growth {
				t.Errorf("live heap grew from %.1f MiB to %.1f MiB over %d entries: memory grows with the number of files",
					mib(first), mib(peak), tree.entries())
			}
		})
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
