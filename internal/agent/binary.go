package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
)

// Binary is an fcp executable that Bootstrap can install on a remote host.
// It is immutable once made and safe to share between concurrent
// Bootstraps, so that the file is hashed once for many connections.
type Binary struct {
	Path   string // local file
	GOOS   string // platform the file was built for
	GOARCH string
	Size   int64
	Sum    [sha256.Size]byte // SHA-256 of the file's content
}

// NewBinary hashes the file at path, an fcp executable built for goos and
// goarch. The file must not change afterwards: an upload of changed content
// fails.
func NewBinary(path, goos, goarch string) (*Binary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("agent: read %s: %w", path, err)
	}
	b := &Binary{Path: path, GOOS: goos, GOARCH: goarch, Size: n}
	h.Sum(b.Sum[:0])
	return b, nil
}

// Self returns this process's own executable (os.Executable), built for
// runtime.GOOS and runtime.GOARCH.
func Self() (*Binary, error) {
	path, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("agent: locate own executable: %w", err)
	}
	return NewBinary(path, runtime.GOOS, runtime.GOARCH)
}

// Name returns the file name the binary is cached under on a remote host:
// "fcp-" and the first 16 hex digits of its SHA-256.
func (b *Binary) Name() string {
	return "fcp-" + hex.EncodeToString(b.Sum[:8])
}

// Platform returns "GOOS/GOARCH".
func (b *Binary) Platform() string {
	return b.GOOS + "/" + b.GOARCH
}
