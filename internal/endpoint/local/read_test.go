package local

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

func TestRead(t *testing.T) {
	e, dir := openTest(t)
	const content = "0123456789"
	writeFile(t, filepath.Join(dir, "sub", "f"), content, 0o644)
	if err := os.Chtimes(filepath.Join(dir, "sub", "f"), testMtime, testMtime); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		off  int64
		n    int
		want string
	}{
		{name: "start", off: 0, n: 4, want: "0123"},
		{name: "middle", off: 3, n: 4, want: "3456"},
		{name: "whole", off: 0, n: 10, want: content},
		{name: "short at end", off: 8, n: 4, want: "89"},
		{name: "at end", off: 10, n: 4, want: ""},
		{name: "past end", off: 20, n: 4, want: ""},
		{name: "nothing", off: 0, n: 0, want: ""},
		{name: "max chunk", off: 0, n: wire.MaxChunk, want: content},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := e.Read(t.Context(), "sub/f", tt.off, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if string(c.Data) != tt.want {
				t.Errorf("Data = %q, want %q", c.Data, tt.want)
			}
			if c.Sum != sum(tt.want) {
				t.Errorf("Sum = %x, want %x", c.Sum, sum(tt.want))
			}
			if c.Size != int64(len(content)) || c.Mtime != testMtime.UnixNano() {
				t.Errorf("Size, Mtime = %d, %d; want %d, %d", c.Size, c.Mtime, len(content), testMtime.UnixNano())
			}
		})
	}
}

func TestReadRefused(t *testing.T) {
	e, dir := openTest(t)
	writeFile(t, filepath.Join(dir, "f"), "data", 0o644)
	symlink(t, "f", filepath.Join(dir, "link"))
	writeFile(t, filepath.Join(dir, "d", "f"), "data", 0o644)
	symlink(t, "d", filepath.Join(dir, "dirlink"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		rel     string
		off     int64
		n       int
		wantErr error
	}{
		{name: "directory", rel: ".", n: 1, wantErr: syscall.EISDIR},
		{name: "symlink", rel: "link", n: 1, wantErr: endpoint.ErrInvalidPath},
		{name: "fifo", rel: "fifo", n: 1, wantErr: endpoint.ErrInvalidPath},
		{name: "missing", rel: "nope", n: 1, wantErr: fs.ErrNotExist},
		{name: "missing parent", rel: "nope/f", n: 1, wantErr: fs.ErrNotExist},
		{name: "through symlink", rel: "dirlink/f", n: 1, wantErr: endpoint.ErrInvalidPath},
		{name: "through file", rel: "f/x", n: 1, wantErr: endpoint.ErrInvalidPath},
		{name: "too long", rel: "f", n: wire.MaxChunk + 1, wantErr: endpoint.ErrInvalidPath},
		{name: "negative length", rel: "f", n: -1, wantErr: endpoint.ErrInvalidPath},
		{name: "negative offset", rel: "f", off: -1, n: 1, wantErr: endpoint.ErrInvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Read(t.Context(), tt.rel, tt.off, tt.n)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Read(%q, %d, %d) = %v, want %v", tt.rel, tt.off, tt.n, err, tt.wantErr)
			}
		})
	}
}
