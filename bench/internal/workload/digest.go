package workload

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// Digest summarises a file or a tree: how many regular files and
// directories it holds, their total size, and a SHA-256 over every path
// (relative to the tree's parent, so the root's own name counts), size and
// content in lexical order. Modes and times are not part of it: scp and sftp
// do not keep times by default.
type Digest struct {
	Files int    `json:"files"`
	Dirs  int    `json:"dirs"`
	Bytes int64  `json:"bytes"`
	Sum   string `json:"sha256"`
}

func (d Digest) String() string {
	return fmt.Sprintf("%d files, %d dirs, %d bytes, sha256 %.12s", d.Files, d.Dirs, d.Bytes, d.Sum)
}

// Of returns the digest of the file or directory at path. Anything but
// regular files and directories is an error.
func Of(path string) (Digest, error) {
	var d Digest
	sum := sha256.New()
	parent := filepath.Dir(path)
	err := filepath.WalkDir(path, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(parent, p)
		if err != nil {
			return err
		}
		switch {
		case e.IsDir():
			d.Dirs++
			io.WriteString(sum, "d\x00"+rel+"\x00")
			return nil
		case e.Type().IsRegular():
			content, size, err := hashEmpty, int64(0), error(nil)
			if info, ierr := e.Info(); ierr != nil || info.Size() > 0 {
				// Only files with data are opened: a million empty files
				// are checked in seconds.
				content, size, err = hashFile(p)
			}
			if err != nil {
				return err
			}
			d.Files++
			d.Bytes += size
			io.WriteString(sum, "f\x00"+rel+"\x00"+strconv.FormatInt(size, 10)+"\x00")
			sum.Write(content)
			return nil
		}
		return fmt.Errorf("%s: unexpected file type %v", p, e.Type())
	})
	if err != nil {
		return Digest{}, err
	}
	d.Sum = hex.EncodeToString(sum.Sum(nil))
	return d, nil
}

// hashEmpty is the SHA-256 of no bytes, hashFile's result for an empty file.
var hashEmpty = func() []byte { h := sha256.Sum256(nil); return h[:] }()

func hashFile(path string) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	return h.Sum(nil), n, nil
}

// Check reports whether dir holds exactly one entry, name, whose digest is
// want; the error says what differs.
func Check(dir, name string, want Digest) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) != 1 || entries[0].Name() != name {
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return fmt.Errorf("%s holds %q, want only %q", dir, names, name)
	}
	got, err := Of(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s: got %v, want %v", filepath.Join(dir, name), got, want)
	}
	return nil
}
