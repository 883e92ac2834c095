package endpoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"testing"

	"github.com/fcp-dev/fcp/internal/wire"
)

func TestCodeRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		code   wire.Code
		target error // what the rebuilt error must match; nil for none
	}{
		{name: "other", code: wire.CodeOther},
		{name: "not exist", code: wire.CodeNotExist, target: fs.ErrNotExist},
		{name: "exist", code: wire.CodeExist, target: fs.ErrExist},
		{name: "permission", code: wire.CodePermission, target: fs.ErrPermission},
		{name: "invalid", code: wire.CodeInvalid, target: ErrInvalidPath},
		{name: "no space", code: wire.CodeNoSpace, target: ErrNoSpace},
		{name: "mismatch", code: wire.CodeMismatch, target: ErrMismatch},
		{name: "changed", code: wire.CodeChanged, target: ErrChanged},
		{name: "not dir", code: wire.CodeNotDir, target: syscall.ENOTDIR},
		{name: "is dir", code: wire.CodeIsDir, target: syscall.EISDIR},
		{name: "canceled", code: wire.CodeCanceled, target: context.Canceled},
		{name: "read only", code: wire.CodeReadOnly, target: syscall.EROFS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const msg = "open a/b: something went wrong"
			err := FromCode(tt.code, msg)
			if err == nil {
				t.Fatalf("FromCode(%d) = nil", tt.code)
			}
			if err.Error() != msg {
				t.Errorf("Error() = %q, want %q", err.Error(), msg)
			}
			if tt.target != nil && !errors.Is(err, tt.target) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.target)
			}
			if got := Code(err); got != tt.code {
				t.Errorf("Code(FromCode(%d)) = %d", tt.code, got)
			}
		})
	}
}

func TestCode(t *testing.T) {
	_, missing := os.Open("/nonexistent/fcp-test")
	tests := []struct {
		name string
		err  error
		want wire.Code
	}{
		{name: "nil", err: nil, want: wire.CodeOK},
		{name: "os missing file", err: missing, want: wire.CodeNotExist},
		{name: "wrapped exist", err: fmt.Errorf("mkdir a: %w", syscall.EEXIST), want: wire.CodeExist},
		{name: "eacces", err: &fs.PathError{Op: "open", Path: "a", Err: syscall.EACCES}, want: wire.CodePermission},
		{name: "eperm", err: syscall.EPERM, want: wire.CodePermission},
		{name: "enospc", err: &fs.PathError{Op: "write", Path: "a", Err: syscall.ENOSPC}, want: wire.CodeNoSpace},
		{name: "err no space", err: fmt.Errorf("write a: %w", ErrNoSpace), want: wire.CodeNoSpace},
		{name: "enotdir", err: syscall.ENOTDIR, want: wire.CodeNotDir},
		{name: "eisdir", err: fmt.Errorf("read a: %w", syscall.EISDIR), want: wire.CodeIsDir},
		{name: "erofs", err: syscall.EROFS, want: wire.CodeReadOnly},
		{name: "canceled", err: fmt.Errorf("scan .: %w", context.Canceled), want: wire.CodeCanceled},
		{name: "invalid path", err: fmt.Errorf("create x: %w", ErrInvalidPath), want: wire.CodeInvalid},
		{name: "mismatch", err: fmt.Errorf("write x: %w", ErrMismatch), want: wire.CodeMismatch},
		{name: "changed", err: fmt.Errorf("read x: %w", ErrChanged), want: wire.CodeChanged},
		{name: "closed", err: ErrClosed, want: wire.CodeOther},
		{name: "plain", err: errors.New("boom"), want: wire.CodeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Code(tt.err); got != tt.want {
				t.Errorf("Code(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestFromCodeOK(t *testing.T) {
	if err := FromCode(wire.CodeOK, "ignored"); err != nil {
		t.Errorf("FromCode(CodeOK) = %v, want nil", err)
	}
	if err := FromCode(200, "odd"); err == nil || err.Error() != "odd" || Code(err) != wire.CodeOther {
		t.Errorf("FromCode(200) = %v, want a plain error %q", err, "odd")
	}
}
