// Package layout decides where each source of a copy lands, following the
// conventions of rsync and scp:
//
//   - "dir" lands as DEST/dir; "dir/" (or "dir/.") copies the contents of
//     dir into DEST.
//   - One non-directory source goes inside DEST when DEST is an existing
//     directory or is written with a trailing slash; otherwise DEST is its
//     new name.
//   - In every other case DEST is a directory, created (last component
//     only) when missing; several sources merge into it.
//
// The package is pure: callers stat the paths and pass what they found.
package layout

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/fcp-dev/fcp/internal/wire"
)

// ErrLayout is wrapped by every error Make returns.
var ErrLayout = errors.New("layout")

// Source is one source operand after glob expansion.
type Source struct {
	Arg      string        // as the user wrote it, for messages
	Path     string        // absolute, clean, slash-separated path on its host
	Contents bool          // written with a trailing "/" or "/.": copy the contents
	Type     wire.FileType // what Path is, following a final symlink
}

// Dest is the destination operand.
type Dest struct {
	Arg    string
	Path   string // absolute, clean
	Slash  bool   // written with a trailing "/" or as "." or "..": must be a directory
	Exists bool
	Type   wire.FileType // valid when Exists
}

// Job maps one source onto the destination root.
type Job struct {
	Source  int    // index into the sources given to Make
	SrcDir  string // directory on the source host to open as the source root
	SrcRel  string // what to copy inside SrcDir: "." or one name
	DestRel string // where it lands inside Plan.Root: "." or one name
}

// Plan is the result of Make.
type Plan struct {
	Root   string // destination directory to open
	Create bool   // Root's last component must be made
	Jobs   []Job
}

// HasSlash reports whether a path operand names a directory explicitly: it
// ends in "/", or its last component is "." or "..".
func HasSlash(arg string) bool {
	return strings.HasSuffix(arg, "/") || arg == "." || arg == ".." ||
		strings.HasSuffix(arg, "/.") || strings.HasSuffix(arg, "/..")
}

// Make lays out srcs onto dst. Every source must exist.
func Make(srcs []Source, dst Dest) (Plan, error) {
	if len(srcs) == 0 {
		return Plan{}, fmt.Errorf("%w: no source", ErrLayout)
	}
	for _, s := range srcs {
		if s.Contents && s.Type != wire.TypeDir {
			return Plan{}, fmt.Errorf("%w: %s: not a directory", ErrLayout, s.Arg)
		}
	}
	single := len(srcs) == 1 && srcs[0].Type != wire.TypeDir
	if single && !dst.Slash && !(dst.Exists && dst.Type == wire.TypeDir) {
		if dst.Path == "/" {
			return Plan{}, fmt.Errorf("%w: %s: cannot write a file at the file-system root", ErrLayout, dst.Arg)
		}
		dir, rel := split(srcs[0].Path)
		return Plan{
			Root: path.Dir(dst.Path),
			Jobs: []Job{{Source: 0, SrcDir: dir, SrcRel: rel, DestRel: path.Base(dst.Path)}},
		}, nil
	}
	if dst.Exists && dst.Type != wire.TypeDir {
		return Plan{}, fmt.Errorf("%w: destination %s is not a directory", ErrLayout, dst.Arg)
	}
	p := Plan{Root: dst.Path, Create: !dst.Exists}
	for i, s := range srcs {
		j := Job{Source: i, SrcDir: s.Path, SrcRel: ".", DestRel: "."}
		if !s.Contents && s.Path != "/" {
			j.SrcDir, j.SrcRel = split(s.Path)
			j.DestRel = j.SrcRel
		}
		p.Jobs = append(p.Jobs, j)
	}
	return p, nil
}

func split(p string) (dir, name string) {
	return path.Dir(p), path.Base(p)
}
