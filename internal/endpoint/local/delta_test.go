package local

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// rebuild signs rel's basis, matches data against it and writes the ops
// through a writer made by CreateFrom, calling between before Commit.
func rebuild(t *testing.T, ep endpoint.Endpoint, rel string, data []byte, between func()) error {
	t.Helper()
	ctx := context.Background()
	sums, err := ep.Sums(ctx, rel, wire.BasisAny, 1024, 0, wire.MaxBlocks)
	if err != nil {
		return err
	}
	d, err := MatchChunk(ctx, endpoint.Chunk{Data: data, Size: int64(len(data))}, 0, 1024, 0, sums.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	w, err := ep.CreateFrom(ctx, rel, int64(len(data)), sums.Basis, sums.Stamp)
	if err != nil {
		return err
	}
	defer w.Abort()
	for _, op := range d.Ops {
		if op.BasisOff < 0 {
			err = w.Write(ctx, op.Off, op.Data, op.Sum)
		} else {
			err = w.Copy(ctx, op.Off, op.BasisOff, int(op.Len), op.Sum)
		}
		if err != nil {
			return err
		}
	}
	between()
	return w.Commit(ctx, int64(len(data)), 0o644, 0, wire.Attrs{})
}

func TestCreateFromRebuildsFile(t *testing.T) {
	ep, root := openTest(t)
	old := bytes.Repeat([]byte("0123456789abcdef"), 8192)
	must(t, os.WriteFile(filepath.Join(root, "f"), old, 0o644))
	data := append(bytes.Clone(old[:50000]), append([]byte("new bytes"), old[50000:]...)...)
	if err := rebuild(t, ep, "f", data, func() {}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "f"))
	must(t, err)
	if !bytes.Equal(got, data) {
		t.Error("the rebuilt file differs from the new data")
	}
}

func TestCreateFromFailsWhenBasisChangesMeanwhile(t *testing.T) {
	ep, root := openTest(t)
	old := bytes.Repeat([]byte("the old file "), 10000)
	p := filepath.Join(root, "f")
	must(t, os.WriteFile(p, old, 0o644))
	data := append(bytes.Clone(old), "appended"...)
	err := rebuild(t, ep, "f", data, func() {
		// Someone rewrites the basis after it was signed and copied from.
		must(t, os.WriteFile(p, bytes.Repeat([]byte("x"), len(old)), 0o644))
	})
	if !errors.Is(err, endpoint.ErrMismatch) {
		t.Errorf("commit after the basis changed = %v, want ErrMismatch", err)
	}
	got, _ := os.ReadFile(p)
	if bytes.Equal(got, data) {
		t.Error("the file was committed from a basis that changed")
	}
	leftovers, _ := filepath.Glob(filepath.Join(root, ".fcp-*"))
	if len(leftovers) != 0 {
		t.Errorf("leftovers: %v", leftovers)
	}
}

func TestCopyWithoutTrustChecksSums(t *testing.T) {
	ep, root := openTest(t)
	old := bytes.Repeat([]byte("abc"), 10000)
	must(t, os.WriteFile(filepath.Join(root, "f"), old, 0o644))
	ctx := context.Background()
	w, err := ep.CreateFrom(ctx, "f", 3000, wire.BasisFile, 0) // no stamp: no trust
	must(t, err)
	defer w.Abort()
	wrong := blake3.Sum256([]byte("something else"))
	if err := w.Copy(ctx, 0, 0, 3000, wrong); !errors.Is(err, endpoint.ErrMismatch) {
		t.Errorf("copy with a wrong sum = %v, want ErrMismatch", err)
	}
}

func TestSuspendKeepsPartialFile(t *testing.T) {
	ep, root := openTest(t)
	ctx := context.Background()
	data := bytes.Repeat([]byte{7}, endpoint.ResumeMin+10)
	w, err := ep.Create(ctx, "f", int64(len(data))*2)
	must(t, err)
	must(t, w.Write(ctx, 0, data, blake3.Sum256(data)))
	must(t, w.Suspend())
	got, err := os.ReadFile(filepath.Join(root, ".fcp-f.partial"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("partial file: %d bytes, %v; want the %d bytes written", len(got), err, len(data))
	}
	if _, err := os.Lstat(filepath.Join(root, "f")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file at the final path after Suspend (%v)", err)
	}
	sums, err := ep.Sums(ctx, "f", wire.BasisAny, 4096, 0, 10)
	if err != nil || sums.Basis != wire.BasisPartial || sums.Size != int64(len(data)) || len(sums.Blocks) != 10 {
		t.Errorf("Sums of the partial file = %+v, %v", sums, err)
	}

	// Too little to keep: discarded.
	w, err = ep.Create(ctx, "g", 100)
	must(t, err)
	must(t, w.Write(ctx, 0, []byte("x"), blake3.Sum256([]byte("x"))))
	must(t, w.Suspend())
	if leftovers, _ := filepath.Glob(filepath.Join(root, ".fcp-g*")); len(leftovers) != 0 {
		t.Errorf("a small suspended file left %v", leftovers)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestApplyRename(t *testing.T) {
	ep, root := openTest(t)
	ctx := context.Background()
	writeFile(t, filepath.Join(root, "a", "f"), "f", 0o644)
	writeFile(t, filepath.Join(root, "a", "sub", "g"), "g", 0o644)
	writeFile(t, filepath.Join(root, "b", "old"), "replaced", 0o644)
	must(t, os.MkdirAll(filepath.Join(root, "dirInTheWay", "x"), 0o755))
	errs, err := ep.Apply(ctx, []wire.Op{
		{Kind: wire.OpRename, Target: "a/f", Path: "b/old"},         // file over file, across dirs
		{Kind: wire.OpRename, Target: "a/sub", Path: "dirInTheWay"}, // dir over dir
		{Kind: wire.OpRename, Target: "missing", Path: "b/x"},
		{Kind: wire.OpRename, Target: "b", Path: "b/inside"},
	})
	must(t, err)
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("renames failed: %v", errs)
	}
	if !errors.Is(errs[2], fs.ErrNotExist) {
		t.Errorf("rename of a missing path = %v, want ErrNotExist", errs[2])
	}
	if errs[3] == nil {
		t.Error("a directory was renamed into itself")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "b", "old")); string(b) != "f" {
		t.Errorf("b/old = %q, want the renamed file", b)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "dirInTheWay", "g")); string(b) != "g" {
		t.Errorf("dirInTheWay/g = %q, want the renamed directory's file", b)
	}
	for _, p := range []string{"a/f", "a/sub", "dirInTheWay/x"} {
		if _, err := os.Lstat(filepath.Join(root, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists (%v)", p, err)
		}
	}
	// Traversal through the source is refused like any path.
	errs, _ = ep.Apply(ctx, []wire.Op{{Kind: wire.OpRename, Target: "../outside", Path: "b/y"}})
	if !errors.Is(errs[0], endpoint.ErrInvalidPath) {
		t.Errorf("rename from ../outside = %v, want ErrInvalidPath", errs[0])
	}
}

func TestTidyDeadTemporaryFiles(t *testing.T) {
	ep, root := openTest(t)
	ctx := context.Background()
	old := time.Now().Add(-time.Minute)
	// A killed writer's big temporary file becomes a partial file when a
	// destination scan finds it; a small one is removed; a live writer's
	// is left alone.
	big := bytes.Repeat([]byte{1}, endpoint.ResumeMin+1)
	must(t, os.WriteFile(filepath.Join(root, ".fcp-big.0123abcd.tmp"), big, 0o600))
	must(t, os.WriteFile(filepath.Join(root, ".fcp-small.0123abcd.tmp"), []byte("x"), 0o600))
	for _, n := range []string{".fcp-big.0123abcd.tmp", ".fcp-small.0123abcd.tmp"} {
		must(t, os.Chtimes(filepath.Join(root, n), old, old))
	}
	live, err := ep.Create(ctx, "live", 10)
	must(t, err)
	defer live.Abort()
	must(t, live.Write(ctx, 0, []byte("live"), blake3.Sum256([]byte("live"))))
	lives, _ := filepath.Glob(filepath.Join(root, ".fcp-live.*.tmp"))
	for _, p := range lives {
		must(t, os.Chtimes(p, old, old))
	}
	must(t, ep.Scan(ctx, ".", endpoint.ScanOptions{Tidy: true}, func(*wire.Entry) error { return nil }))
	if b, err := os.ReadFile(filepath.Join(root, ".fcp-big.partial")); err != nil || !bytes.Equal(b, big) {
		t.Errorf("the dead big temporary file did not become the partial file (%v)", err)
	}
	left, _ := filepath.Glob(filepath.Join(root, ".fcp-*.tmp"))
	if len(left) != 1 || !strings.Contains(left[0], ".fcp-live.") {
		t.Errorf("temporary files after tidying: %v; want only the live writer's", left)
	}
}

func TestDirectoryReplacedBehindTheEndpoint(t *testing.T) {
	ep, root := openTest(t)
	ctx := context.Background()
	put := func(rel, data string) {
		t.Helper()
		w, err := ep.Create(ctx, rel, int64(len(data)))
		must(t, err)
		must(t, w.Write(ctx, 0, []byte(data), blake3.Sum256([]byte(data))))
		must(t, w.Commit(ctx, int64(len(data)), 0o644, 0, wire.Attrs{}))
	}
	must(t, os.MkdirAll(filepath.Join(root, "d", "e"), 0o755))
	put("d/e/one", "1")
	// Another program removes the directory and makes a new one there.
	must(t, os.RemoveAll(filepath.Join(root, "d")))
	must(t, os.MkdirAll(filepath.Join(root, "d", "e"), 0o755))
	put("d/e/two", "2")
	if b, err := os.ReadFile(filepath.Join(root, "d", "e", "two")); err != nil || string(b) != "2" {
		t.Errorf("a file written into the new directory is not there (%q, %v)", b, err)
	}
}
