package shell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/fcp-dev/fcp/internal/endpoint"
)

// Statuses the script reports for ops and commands.
const (
	stOK          = 0
	stFailed      = 1 // the text says why
	stNotExist    = 2 // a component of the path is missing
	stInvalid     = 3 // a component is a symlink or not a directory; detail: how many components
	stAborted     = 4 // left out because the caller gave up
	stUnsupported = 7 // the shell's tools cannot do it
)

// statusError returns the error for status st of op on rel, nil for stOK.
// detail is the marker's detail (-1 if none) and text what the shell
// printed.
func statusError(op, rel string, st, detail int, text []byte) error {
	switch st {
	case stOK:
		return nil
	case stNotExist:
		return fmt.Errorf("%s %s: %w", op, rel, syscall.ENOENT)
	case stInvalid:
		return fmt.Errorf("%s %s: %w: %s is a symlink or not a directory", op, rel, endpoint.ErrInvalidPath, prefix(rel, detail))
	case stAborted:
		return fmt.Errorf("%s %s: %w", op, rel, context.Canceled)
	case stUnsupported:
		return fmt.Errorf("%s %s: %w by the shell's tools", op, rel, errors.ErrUnsupported)
	}
	return fmt.Errorf("%s %s: %w", op, rel, textError(text))
}

// prefix returns the first n components of rel, all of it if n is out of
// range.
func prefix(rel string, n int) string {
	if n <= 0 {
		return rel
	}
	i := 0
	for ; n > 0; n-- {
		j := strings.IndexByte(rel[i:], '/')
		if j < 0 {
			return rel
		}
		i += j + 1
	}
	return rel[:i-1]
}

// errnoTexts are the messages of strerror (in the C locale, which the
// session sets) that errors are recognised by, most telling first. Tools
// end a line with ": " and the message, after any file name, so only the
// end of a line counts: a file name cannot pass for an errno.
var errnoTexts = []struct {
	text  string
	errno syscall.Errno
}{
	{"No space left on device", syscall.ENOSPC},
	{"Read-only file system", syscall.EROFS},
	{"Permission denied", syscall.EACCES},
	{"Operation not permitted", syscall.EPERM},
	{"Not a directory", syscall.ENOTDIR},
	{"Is a directory", syscall.EISDIR},
	{"is a directory", syscall.EISDIR},
	{"Directory not empty", syscall.ENOTEMPTY},
	{"File name too long", syscall.ENAMETOOLONG},
	{"No such file or directory", syscall.ENOENT},
	{"File exists", syscall.EEXIST},
}

// maxMessage bounds the text of an error.
const maxMessage = 1 << 10

// textError returns an error for what the shell printed about a failure,
// matching the errno its text names.
func textError(text []byte) error {
	msg := strings.TrimSpace(string(bytes.ToValidUTF8(text, []byte("?"))))
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "..."
	}
	if msg == "" {
		msg = "failed"
	}
	e := &shellError{msg: strings.ReplaceAll(msg, "\n", "; ")}
	lines := strings.Split(string(text), "\n")
	for _, et := range errnoTexts {
		for _, l := range lines {
			l = strings.TrimRight(l, " ")
			if l == et.text || strings.HasSuffix(l, ": "+et.text) {
				e.errno = et.errno
				return e
			}
		}
	}
	return e
}

// shellError is a failure as the shell reported it. It matches the errno
// its text names (and so fs.ErrNotExist, fs.ErrPermission...), and a full
// disk also endpoint.ErrNoSpace.
type shellError struct {
	msg   string
	errno syscall.Errno // 0 if none was recognised
}

func (e *shellError) Error() string { return e.msg }

func (e *shellError) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

func (e *shellError) Is(target error) bool {
	return target == endpoint.ErrNoSpace && e.errno == syscall.ENOSPC
}
