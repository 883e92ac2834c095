package workload

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestGenerateMany(t *testing.T) {
	m := Many{Dirs: 2, Subdirs: 3, Files: 20, TinyEvery: 10, TinyMax: 64, Seed: 7}
	a, err := GenerateMany(t.TempDir(), m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateMany(t.TempDir(), m)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("two generations differ: %v and %v", a, b)
	}
	if a.Files != m.Count() || a.Dirs != 1+2+2*3 {
		t.Errorf("digest %v, want %d files in 9 dirs", a, m.Count())
	}
	if a.Bytes < int64(m.Count()/m.TinyEvery) || a.Bytes > int64(m.Count()/m.TinyEvery*m.TinyMax) {
		t.Errorf("digest %v: %d bytes, want one file in %d of 1–%d bytes", a, a.Bytes, m.TinyEvery, m.TinyMax)
	}
}

func TestGenerateSparse(t *testing.T) {
	s := Sparse{Size: 16 << 20, Extents: 3, ExtentBytes: 16 << 10, Seed: 7}
	dir := t.TempDir()
	d, err := GenerateSparse(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	if d.Files != 1 || d.Bytes != s.Size {
		t.Errorf("digest %v, want one file of %d bytes", d, s.Size)
	}
	fi, err := os.Stat(filepath.Join(dir, SparseName))
	if err != nil {
		t.Fatal(err)
	}
	if used := fi.Sys().(*syscall.Stat_t).Blocks * 512; used >= s.Size/2 {
		t.Errorf("the file takes %d bytes on disk, want about %d (holes between the extents)", used, int64(s.Extents)*s.ExtentBytes)
	}
	// A dense copy of the same bytes has the same digest.
	data, err := os.ReadFile(filepath.Join(dir, SparseName))
	if err != nil {
		t.Fatal(err)
	}
	dense := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dense, SparseName), data, 0o644))
	if got, err := Of(filepath.Join(dense, SparseName)); err != nil || got != d {
		t.Errorf("dense copy: digest %v, %v; want %v", got, err, d)
	}
	if offs := s.Offsets(); offs[0] != 0 || offs[2]+s.ExtentBytes != s.Size {
		t.Errorf("offsets %v: want the first at 0 and the last ending at %d", offs, s.Size)
	}
}
