package shell

import (
	"errors"
	"io/fs"
	"syscall"
	"testing"

	"github.com/fcp-dev/fcp/internal/endpoint"
)

func TestTextError(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       error // nil: no errno
	}{
		{"GNU", "mv: cannot move 'a' to 'b': No space left on device\n", endpoint.ErrNoSpace},
		{"busybox", "mv: can't rename 'a': Permission denied\n", fs.ErrPermission},
		{"missing", "tar: x: Cannot open: No such file or directory\ntar: Exiting with failure status due to previous errors\n", fs.ErrNotExist},
		{"alone", "Not a directory\n", syscall.ENOTDIR},
		{"in a name", "mv: can't rename 'x: No space left on device': Permission denied\n", fs.ErrPermission},
		{"name only", "mv: cannot stat 'No such file or directory': Weird\n", nil},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := textError([]byte(tc.text))
			var se *shellError
			if !errors.As(err, &se) {
				t.Fatalf("%T", err)
			}
			if tc.want == nil {
				if se.errno != 0 {
					t.Errorf("errno %v, want none", se.errno)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("%v does not match %v", err, tc.want)
			}
		})
	}
	if errors.Is(textError([]byte("x: Permission denied")), endpoint.ErrNoSpace) {
		t.Error("permission matches ErrNoSpace")
	}
}
