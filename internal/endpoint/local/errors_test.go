package local

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/fcp-dev/fcp/internal/endpoint"
)

func TestFail(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wantMsg string
		wantIs  []error
	}{
		{
			name:    "path error",
			err:     &fs.PathError{Op: "openat", Path: "a/.fcp-b.1234abcd.tmp", Err: syscall.EACCES},
			wantMsg: "create a/b: permission denied",
			wantIs:  []error{fs.ErrPermission, syscall.EACCES},
		},
		{
			name:    "link error",
			err:     &os.LinkError{Op: "renameat", Old: "a/.fcp-b.1234abcd.tmp", New: "a/b", Err: syscall.EEXIST},
			wantMsg: "create a/b: file exists",
			wantIs:  []error{fs.ErrExist},
		},
		{
			name:    "no space",
			err:     &fs.PathError{Op: "write", Path: "/x/a/.fcp-b.1234abcd.tmp", Err: syscall.ENOSPC},
			wantMsg: "create a/b: no space left on device",
			wantIs:  []error{endpoint.ErrNoSpace, syscall.ENOSPC},
		},
		{
			name:    "own error kept",
			err:     errors.Join(endpoint.ErrInvalidPath),
			wantMsg: "create a/b: endpoint: invalid path",
			wantIs:  []error{endpoint.ErrInvalidPath},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fail("create", "a/b", tt.err)
			if err.Error() != tt.wantMsg {
				t.Errorf("message %q, want %q", err, tt.wantMsg)
			}
			for _, target := range tt.wantIs {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false", err, target)
				}
			}
		})
	}
}
