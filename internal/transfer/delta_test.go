package transfer

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/fcp-dev/fcp/internal/delta"
	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func writeBytes(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Errorf("%s (%d bytes) differs from %s (%d bytes)", b, len(y), a, len(x))
	}
}

// countingSrc counts the bytes the source's Delta and Read hand out
// literally, as they would cross a network.
type countingSrc struct {
	endpoint.Endpoint
	deltas int
}

func (c *countingSrc) Delta(ctx context.Context, rel string, off int64, n int, bs int, first int64, blocks []wire.Block) (endpoint.DeltaChunk, error) {
	c.deltas++
	return c.Endpoint.Delta(ctx, rel, off, n, bs, first, blocks)
}

func TestDeltaRebuildsChangedFiles(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	src, dst := t.TempDir(), t.TempDir()
	base := randBytes(r, 5<<20+123) // spans two delta ranges
	edits := map[string][]byte{
		"same":      base,
		"overwrite": append(append(bytes.Clone(base[:4<<20-100]), randBytes(r, 4096)...), base[4<<20-100+4096:]...),
		"insert":    append(append(bytes.Clone(base[:1<<20]), []byte("inserted bytes")...), base[1<<20:]...),
		"delete":    append(bytes.Clone(base[:2<<20]), base[2<<20+777:]...),
		"append":    append(bytes.Clone(base), randBytes(r, 1<<20)...),
		"truncate":  bytes.Clone(base[:3<<20+5]),
	}
	var total int64
	for name, data := range edits {
		writeBytes(t, filepath.Join(src, name), data)
		writeBytes(t, filepath.Join(dst, name), base)
		total += int64(len(data))
	}
	st, err := Run(context.Background(), open(t, dst), []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, Options{Delta: true})
	if err != nil {
		t.Fatal(err)
	}
	for name := range edits {
		sameFile(t, filepath.Join(src, name), filepath.Join(dst, name))
	}
	// Literal data: the edits (4 KiB, 14 bytes, a block, 1 MiB, nothing)
	// and about a block around each, not the 30 MiB of files.
	if st.Bytes > 2<<20 {
		t.Errorf("sent %d bytes of %d; want a delta of about 1 MiB", st.Bytes, total)
	}
	t.Logf("sent %d literal bytes for %d bytes of files", st.Bytes, total)
}

func TestResumeFromPartialFile(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	src, dst := t.TempDir(), t.TempDir()
	data := randBytes(r, 6<<20)
	writeBytes(t, filepath.Join(src, "d", "big"), data)
	// An interrupted run left the first half, and a partial file that is
	// garbage for another.
	writeBytes(t, filepath.Join(dst, "d", ".fcp-big.partial"), data[:3<<20])
	writeBytes(t, filepath.Join(src, "d", "other"), randBytes(r, 2<<20))
	writeBytes(t, filepath.Join(dst, "d", ".fcp-other.partial"), randBytes(r, 2<<20))

	// Without Delta (a local copy): partial files are still resumed.
	st, err := Run(context.Background(), open(t, dst), []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(src, "d", "big"), filepath.Join(dst, "d", "big"))
	sameFile(t, filepath.Join(src, "d", "other"), filepath.Join(dst, "d", "other"))
	if want := int64(3<<20 + 2<<20); st.Bytes > want+64<<10 {
		t.Errorf("sent %d bytes; want about %d (the missing half and the file with a useless partial)", st.Bytes, want)
	}
	for _, p := range []string{"d/.fcp-big.partial", "d/.fcp-other.partial"} {
		if _, err := os.Lstat(filepath.Join(dst, p)); !os.IsNotExist(err) {
			t.Errorf("%s left after the file was committed (%v)", p, err)
		}
	}
}

func TestLeftoversAreNotCopiedNorDeleted(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "a"), "a")
	write(t, filepath.Join(src, ".fcp-x.12345678.tmp"), "someone's temporary file")
	write(t, filepath.Join(dst, ".fcp-y.partial"), "a partial file of another run")
	if _, err := Run(context.Background(), open(t, dst), []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, Options{Delete: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dst, ".fcp-x.12345678.tmp")); !os.IsNotExist(err) {
		t.Errorf("a temporary file of the source was copied (%v)", err)
	}
	if _, err := os.Lstat(filepath.Join(dst, ".fcp-y.partial")); err != nil {
		t.Errorf("--delete removed a partial file: %v", err)
	}
}

func TestInterruptedCopyKeepsPartialFile(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	src, dst := t.TempDir(), t.TempDir()
	data := randBytes(r, 8<<20)
	writeBytes(t, filepath.Join(src, "big"), data)
	ctx, cancel := context.WithCancel(context.Background())
	// Stop the run once 3 MiB were written: the bandwidth limit keeps it
	// slow enough to be caught in the middle.
	var o Options
	o.BandwidthLimit = 4 << 20
	o.ChunkSize = 256 << 10
	o.OnEvent = func(Event) {}
	go func() {
		for {
			fi, err := os.Stat(filepath.Join(dst, "big"))
			_ = fi
			if err == nil {
				return
			}
			matches, _ := filepath.Glob(filepath.Join(dst, ".fcp-big.*.tmp"))
			for _, m := range matches {
				if fi, err := os.Stat(m); err == nil && fi.Size() >= 3<<20 {
					cancel()
					return
				}
			}
		}
	}()
	_, err := Run(ctx, open(t, dst), []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, o)
	if err == nil {
		t.Fatal("the run was not interrupted")
	}
	fi, err := os.Stat(filepath.Join(dst, ".fcp-big.partial"))
	if err != nil {
		t.Fatalf("no partial file after the interruption: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "big")); !os.IsNotExist(err) {
		t.Fatalf("a file at the final path after the interruption (%v)", err)
	}
	st, err := Run(context.Background(), open(t, dst), []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(src, "big"), filepath.Join(dst, "big"))
	if st.Bytes > int64(len(data))-fi.Size()+64<<10 {
		t.Errorf("the second run sent %d bytes; the partial file held %d of %d", st.Bytes, fi.Size(), len(data))
	}
}

// TestDeltaAppendCostsTheAppend appends to a file whose new size gives a
// block size that does not divide the matching ranges: only the appended
// bytes (and a short tail) may cross.
func TestDeltaAppendCostsTheAppend(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	src, dst := t.TempDir(), t.TempDir()
	base := randBytes(r, 12<<20)
	extra := randBytes(r, 300<<10+7)
	writeBytes(t, filepath.Join(dst, "f"), base)
	writeBytes(t, filepath.Join(src, "f"), append(bytes.Clone(base), extra...))
	st, err := Run(context.Background(), open(t, dst), []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, Options{Delta: true})
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(src, "f"), filepath.Join(dst, "f"))
	// The basis's last, short block cannot be matched: at most one block.
	if limit := int64(len(extra) + delta.BlockSize(int64(len(base)+len(extra)))); st.Bytes > limit {
		t.Errorf("sent %d bytes for an append of %d; want at most %d", st.Bytes, len(extra), limit)
	}
}
