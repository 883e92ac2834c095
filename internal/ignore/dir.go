package ignore

import "strings"

// rules is what all Dirs of one tree share: the patterns that apply
// everywhere, and whether .git is special. It is immutable.
type rules struct {
	// global holds the pattern lists that are not tied to a directory, in
	// the order they are consulted: .git/info/exclude, then
	// core.excludesFile. Their patterns are relative to the root.
	global        [][]pattern
	includeGitDir bool
}

// Dir holds the ignore rules in force inside one directory of the tree:
// the directory's own .gitignore and those of its ancestors, plus the
// tree's global pattern files. A walker gets the Dir of its starting
// directory from Matcher.Dir and derives those of subdirectories with
// Enter, handing over their .gitignore contents as it reads them; that
// costs one parse per directory and keeps nothing but the chain of Dirs
// from the root to the current directory.
//
// A Dir is immutable and safe for concurrent use.
type Dir struct {
	r      *rules
	parent *Dir
	// path is the directory, relative to the root, without a trailing
	// slash; "" is the root.
	path string
	// own are the patterns of the directory's own .gitignore.
	own []pattern
	// excluded reports that the directory or one of its ancestors is
	// ignored, which ignores everything below it.
	excluded bool
}

// Ignored reports whether the entry name of directory d is ignored. isDir
// says whether the entry is a directory; a symbolic link is not one, even
// if it points to a directory. name must be a single path component.
//
// The entry is ignored if d is (see Enter), if name is ".git" (unless
// Options.IncludeGitDir), or otherwise if the last pattern that matches it
// in the first source that has a match is not a negation. Sources are
// consulted from the .gitignore of d up through its ancestors' to the
// root's, then .git/info/exclude, then core.excludesFile.
func (d *Dir) Ignored(name string, isDir bool) bool {
	if d.excluded || (name == ".git" && !d.r.includeGitDir) {
		return true
	}
	return d.match(name, isDir)
}

// Enter returns the Dir for the subdirectory name of d, whose .gitignore
// file holds gitignore (nil or empty for none). It does not keep
// gitignore. If the subdirectory is ignored, so is everything in it (git
// does not look inside ignored directories, so a pattern cannot re-include
// a path below one), and gitignore is not parsed.
func (d *Dir) Enter(name string, gitignore []byte) *Dir {
	return d.enter(name, func() []pattern { return parse(gitignore) })
}

// enter is Enter with the subdirectory's patterns produced by load, which
// is called only if the subdirectory is not ignored; nil means none.
func (d *Dir) enter(name string, load func() []pattern) *Dir {
	c := &Dir{r: d.r, parent: d, path: d.join(name), excluded: d.Ignored(name, true)}
	if !c.excluded && load != nil {
		c.own = load()
	}
	return c
}

// join returns the path of d's entry name relative to the root.
func (d *Dir) join(name string) string {
	if d.path == "" {
		return name
	}
	return d.path + "/" + name
}

// match decides the entry name of d by its patterns alone (dir.c:
// last_matching_pattern_from_lists).
func (d *Dir) match(name string, isDir bool) bool {
	full := d.join(name)
	for x := d; x != nil; x = x.parent {
		if len(x.own) == 0 {
			continue
		}
		rel := full
		if x.path != "" {
			rel = full[len(x.path)+1:]
		}
		if p := lastMatch(x.own, rel, name, isDir); p != nil {
			return !p.negative
		}
	}
	for _, ps := range d.r.global {
		if p := lastMatch(ps, full, name, isDir); p != nil {
			return !p.negative
		}
	}
	return false
}

// splitPath splits a slash-separated relative path into its directory
// ("" for the root) and its last component.
func splitPath(rel string) (dir, name string) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return "", rel
	}
	return rel[:i], rel[i+1:]
}
