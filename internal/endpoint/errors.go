package endpoint

import (
	"context"
	"errors"
	"io/fs"
	"syscall"

	"github.com/fcp-dev/fcp/internal/wire"
)

// codeTargets is the error each wire code stands for: Code maps an error
// matching the target to the code, FromCode rebuilds an error matching it.
// Codes are tested in this order, most specific first, so an error that
// matches several targets (a wrapped ErrNoSpace that also holds
// syscall.ENOSPC, say) gets the first.
var codeTargets = []struct {
	code   wire.Code
	target error
}{
	{wire.CodeCanceled, context.Canceled},
	{wire.CodeUnsupported, ErrMetaUnsupported},
	{wire.CodeInvalid, ErrInvalidPath},
	{wire.CodeMismatch, ErrMismatch},
	{wire.CodeChanged, ErrChanged},
	{wire.CodeNoSpace, ErrNoSpace},
	{wire.CodeNoSpace, syscall.ENOSPC},
	{wire.CodeReadOnly, syscall.EROFS},
	{wire.CodeNotDir, syscall.ENOTDIR},
	{wire.CodeIsDir, syscall.EISDIR},
	{wire.CodeNotExist, fs.ErrNotExist},
	{wire.CodeExist, fs.ErrExist},
	{wire.CodePermission, fs.ErrPermission},
}

// Code classifies err for the wire: CodeOK for nil, the code of the first
// sentinel err matches (see errors.Is), CodeOther for anything else.
func Code(err error) wire.Code {
	if err == nil {
		return wire.CodeOK
	}
	for _, ct := range codeTargets {
		if errors.Is(err, ct.target) {
			return ct.code
		}
	}
	return wire.CodeOther
}

// FromCode rebuilds an error received as code c with text msg: nil for
// CodeOK, otherwise an error whose Error is msg and which errors.Is
// matches to the sentinel c stands for (fs.ErrNotExist for CodeNotExist,
// ErrNoSpace for CodeNoSpace, syscall.ENOTDIR for CodeNotDir, and so on).
// CodeOther and unknown codes give a plain error. Code(FromCode(c, msg))
// is c for every known c.
func FromCode(c wire.Code, msg string) error {
	if c == wire.CodeOK {
		return nil
	}
	for _, ct := range codeTargets {
		if ct.code == c {
			return &codeError{msg: msg, target: ct.target}
		}
	}
	return errors.New(msg)
}

// codeError is an error rebuilt from a wire code.
type codeError struct {
	msg    string
	target error
}

func (e *codeError) Error() string { return e.msg }
func (e *codeError) Unwrap() error { return e.target }
