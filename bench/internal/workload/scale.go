package workload

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Names of the data sets of the scale workloads inside the data directory.
const (
	ManyName   = "million"    // the tree of many tiny files
	SparseName = "sparse.bin" // the sparse file
)

// Many describes a tree of many tiny files: Dirs directories of Subdirs
// directories of Files files each. Every TinyEvery-th file holds 1 to
// TinyMax random bytes; the others are empty (on a tmpfs a file with data
// takes a page of memory, an empty one none).
type Many struct {
	Dirs, Subdirs, Files int
	TinyEvery, TinyMax   int
	Seed                 uint64
}

// Million is the tree of the scale workload: 1,000,000 files in 10 × 100
// directories of 1,000, of which 100,000 hold 1–64 bytes and the rest
// are empty.
func Million() Many {
	return Many{Dirs: 10, Subdirs: 100, Files: 1000, TinyEvery: 10, TinyMax: 64, Seed: 1}
}

// MillionQuick is Million at a hundredth of the size, to check the
// harness: 10,000 files.
func MillionQuick() Many {
	m := Million()
	m.Dirs, m.Subdirs = 1, 10
	return m
}

// Count is the number of files in the tree.
func (m Many) Count() int { return m.Dirs * m.Subdirs * m.Files }

// GenerateMany writes the tree ManyName into dir, which must exist, and
// returns its digest.
func GenerateMany(dir string, m Many) (Digest, error) {
	root := filepath.Join(dir, ManyName)
	sizes := rand.New(stream(m.Seed, 3))
	data := stream(m.Seed, 4)
	buf := make([]byte, m.TinyMax)
	n := 0
	for d := range m.Dirs {
		for sd := range m.Subdirs {
			sub := filepath.Join(root, fmt.Sprintf("d%02d", d), fmt.Sprintf("s%03d", sd))
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return Digest{}, err
			}
			for f := range m.Files {
				b := buf[:0]
				if n%m.TinyEvery == 0 {
					b = buf[:1+sizes.IntN(m.TinyMax)]
					if _, err := io.ReadFull(data, b); err != nil {
						return Digest{}, err
					}
				}
				n++
				if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%04d", f)), b, 0o644); err != nil {
					return Digest{}, err
				}
			}
		}
	}
	return Of(root)
}

// Sparse describes a sparse file: Size bytes, holes but for Extents
// extents of ExtentBytes random bytes, spread evenly (the first at 0, the
// last ending at Size).
type Sparse struct {
	Size        int64
	Extents     int
	ExtentBytes int64
	Seed        uint64
}

// SparseFile is the file of the sparse workload: 10 GiB with 1 MiB of data
// in four extents of 256 KiB.
func SparseFile() Sparse {
	return Sparse{Size: 10 << 30, Extents: 4, ExtentBytes: 256 << 10, Seed: 1}
}

// SparseQuick is SparseFile at a tenth of the size, to check the harness.
func SparseQuick() Sparse {
	s := SparseFile()
	s.Size = 1 << 30
	return s
}

// Offsets returns where each extent of data starts.
func (s Sparse) Offsets() []int64 {
	offs := make([]int64, s.Extents)
	for i := range offs {
		if s.Extents > 1 {
			offs[i] = int64(i) * (s.Size - s.ExtentBytes) / int64(s.Extents-1)
		}
		offs[i] &^= 4<<10 - 1 // whole pages, so the holes between are whole too
	}
	return offs
}

// GenerateSparse writes the file SparseName into dir, which must exist,
// leaving the holes unwritten, and returns its digest (which reads the
// holes as zeros: a dense copy of the same bytes has the same digest).
func GenerateSparse(dir string, s Sparse) (Digest, error) {
	path := filepath.Join(dir, SparseName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return Digest{}, err
	}
	data := stream(s.Seed, 5)
	buf := make([]byte, s.ExtentBytes)
	for _, off := range s.Offsets() {
		if _, err := io.ReadFull(data, buf); err != nil {
			f.Close()
			return Digest{}, err
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			f.Close()
			return Digest{}, fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := f.Truncate(s.Size); err != nil {
		f.Close()
		return Digest{}, err
	}
	if err := f.Close(); err != nil {
		return Digest{}, err
	}
	return Of(path)
}
