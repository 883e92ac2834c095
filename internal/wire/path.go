package wire

import (
	"fmt"
	"strings"
)

// ValidPath reports whether p is acceptable as a path relative to a root:
// "." for the root itself, or slash-separated components that are neither
// empty, "." nor "..", with no leading slash, no NUL byte, at most MaxPath
// bytes in all and MaxName bytes per component. Any other byte, including
// newlines and invalid UTF-8, is allowed.
func ValidPath(p string) error {
	if p == "." {
		return nil
	}
	if p == "" {
		return fmt.Errorf("%w: empty path", ErrProtocol)
	}
	if len(p) > MaxPath {
		return fmt.Errorf("%w: path of %d bytes", ErrProtocol, len(p))
	}
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("%w: NUL in path %q", ErrProtocol, p)
	}
	if p[0] == '/' {
		return fmt.Errorf("%w: absolute path %q", ErrProtocol, p)
	}
	for rest := p; ; {
		comp, tail, more := strings.Cut(rest, "/")
		switch {
		case comp == "" || comp == ".":
			return fmt.Errorf("%w: empty or %q component in %q", ErrProtocol, ".", p)
		case comp == "..":
			return fmt.Errorf("%w: %q component in %q", ErrProtocol, "..", p)
		case len(comp) > MaxName:
			return fmt.Errorf("%w: component of %d bytes in %q", ErrProtocol, len(comp), p)
		}
		if !more {
			return nil
		}
		rest = tail
	}
}

// validHostPath checks a path the controller names on the agent's host
// (absolute, relative to the working directory, or starting with "~"):
// non-empty, no NUL, at most MaxPath bytes.
func validHostPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%w: empty path", ErrProtocol)
	case len(p) > MaxPath:
		return fmt.Errorf("%w: path of %d bytes", ErrProtocol, len(p))
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("%w: NUL in path %q", ErrProtocol, p)
	}
	return nil
}

// Join returns the root-relative path of name inside dir, where both are
// valid paths ("." stands for the root).
func Join(dir, name string) string {
	switch {
	case dir == ".":
		return name
	case name == ".":
		return dir
	}
	return dir + "/" + name
}

// ComparePaths orders paths as a depth-first walk with sorted directory
// listings visits them: component by component, bytewise, so a directory's
// contents directly follow it ("a", "a/b", "a-b"). It returns -1, 0 or +1.
// "." sorts before everything else.
func ComparePaths(a, b string) int {
	if a == b {
		return 0
	}
	if a == "." {
		return -1
	}
	if b == "." {
		return 1
	}
	for {
		ca, ra, moreA := strings.Cut(a, "/")
		cb, rb, moreB := strings.Cut(b, "/")
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
		switch {
		case !moreA && !moreB:
			return 0
		case !moreA:
			return -1
		case !moreB:
			return 1
		}
		a, b = ra, rb
	}
}
