package workload

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Names of the generated entries inside the data directory.
const (
	FileName = "big.bin" // the single large file
	TreeName = "tree"    // the tree of small files
)

// Spec describes the data set. The same Spec always yields the same bytes.
type Spec struct {
	FileBytes int64 // size of FileName
	// TreeName holds Dirs directories of Subdirs directories of Files files
	// each, of sizes uniform in [MinFile, MaxFile] bytes.
	Dirs, Subdirs, Files int
	MinFile, MaxFile     int
	Seed                 uint64
	// ChangeBytes are overwritten in the middle of FileName, and
	// AppendBytes appended to it, for the workloads of a changed file (see
	// Overwrite and Append).
	ChangeBytes, AppendBytes int64
}

// Full is the data set of the full benchmark: a 1 GiB file and 20,000
// files of 1–16 KiB (about 173 MB) in 20×10 directories.
func Full() Spec {
	return Spec{FileBytes: 1 << 30, Dirs: 20, Subdirs: 10, Files: 100, MinFile: 1 << 10, MaxFile: 16 << 10, Seed: 1,
		ChangeBytes: 1 << 20, AppendBytes: 10 << 20}
}

// Quick is a small data set to check the harness itself: a 64 MiB file and
// 2,000 files of 1–16 KiB; the changes to the file are those of Full.
func Quick() Spec {
	s := Full()
	s.FileBytes = 64 << 20
	s.Dirs = 2
	return s
}

// TreeFiles is the number of files in the tree.
func (s Spec) TreeFiles() int { return s.Dirs * s.Subdirs * s.Files }

// Generate writes FileName and TreeName into dir, which must exist, and
// returns the digests of both.
func Generate(dir string, s Spec) (file, tree Digest, err error) {
	if err := writeRandom(filepath.Join(dir, FileName), s.FileBytes, stream(s.Seed, 0)); err != nil {
		return Digest{}, Digest{}, err
	}
	if err := generateTree(filepath.Join(dir, TreeName), s); err != nil {
		return Digest{}, Digest{}, err
	}
	if file, err = Of(filepath.Join(dir, FileName)); err != nil {
		return Digest{}, Digest{}, err
	}
	if tree, err = Of(filepath.Join(dir, TreeName)); err != nil {
		return Digest{}, Digest{}, err
	}
	return file, tree, nil
}

// stream returns the random source number n of seed: independent streams
// keep the file's bytes the same when the tree's shape changes.
func stream(seed uint64, n uint64) *rand.ChaCha8 {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], n)
	return rand.NewChaCha8(key)
}

func generateTree(root string, s Spec) error {
	sizes := rand.New(stream(s.Seed, 1))
	data := stream(s.Seed, 2)
	for d := range s.Dirs {
		for sd := range s.Subdirs {
			dir := filepath.Join(root, fmt.Sprintf("d%02d", d), fmt.Sprintf("s%02d", sd))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for f := range s.Files {
				size := s.MinFile + sizes.IntN(s.MaxFile-s.MinFile+1)
				if err := writeRandom(filepath.Join(dir, fmt.Sprintf("f%03d.bin", f)), int64(size), data); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func writeRandom(path string, size int64, src io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.CopyN(w, src, size); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
