package ignore

import (
	"log/slog"
	"os"
	"strings"
	"sync"
)

// Options configure New. The zero value reads no user configuration and
// no default excludes file.
type Options struct {
	// Home is $HOME: the user's git config is Home/.gitconfig, the default
	// XDG config directory is Home/.config, and "~/" in configured paths
	// stands for it. "" means unset. New never reads the environment; the
	// caller passes os.Getenv("HOME") to behave as git does.
	Home string
	// XDGConfigHome is $XDG_CONFIG_HOME, the directory holding
	// git/config and git/ignore. "" means unset: Home/.config is used.
	XDGConfigHome string
	// IncludeGitDir makes entries named .git subject to the patterns like
	// any other name. By default they are always ignored, as git ignores
	// them, whether they are directories or files.
	IncludeGitDir bool
	// NoLoad stops the Matcher reading .gitignore files under the root:
	// a directory has patterns only if AddFile gave them. The global
	// pattern files and configuration are read regardless.
	NoLoad bool
	// Logger receives a warning for each pattern file that exists but
	// cannot be used (unreadable, a symbolic link, too large), which git
	// skips with a warning too. nil discards them.
	Logger *slog.Logger
}

// Matcher answers, for one work tree, whether git would ignore a path. It
// loads each directory's .gitignore the first time a path below it is
// asked about and remembers it, and the verdicts on directories, until
// Forget; the memory it holds grows with the number of directories asked
// about that are not below an ignored one.
//
// A Matcher is safe for concurrent use. Ignored and Dir hold a lock while
// they look up, load and judge directories; the final match of Ignored,
// and everything done with a Dir, run outside it. Close releases the
// root.
type Matcher struct {
	r    *rules
	root *os.Root // nil with Options.NoLoad
	log  *slog.Logger

	mu  sync.Mutex
	top *node
}

// node is the Matcher's memory of one directory.
type node struct {
	children map[string]*node
	own      []pattern // the directory's .gitignore, if known
	known    bool      // own is loaded or was given by AddFile
	// dir is the directory's Dir. It is current only while dir.parent is
	// the current Dir of the parent directory (always, for the root), so
	// replacing a directory's Dir makes those below it stale.
	dir *Dir
}

// Ignored reports whether git would ignore the path rel: slash-separated,
// relative to the root, clean in the sense of path.Clean, and not passing
// through a symbolic link. isDir says whether rel is a directory (a
// symbolic link to one is not). A path below an ignored directory is
// ignored; the root itself ("") never is. See Dir.Ignored for the rules.
func (m *Matcher) Ignored(rel string, isDir bool) bool {
	if rel == "" {
		return false
	}
	dir, name := splitPath(rel)
	return m.Dir(dir).Ignored(name, isDir)
}

// Dir returns the Dir of the directory rel ("" for the root; see Ignored
// for the form of rel), loading the .gitignore files of rel and its
// ancestors that it has not loaded yet. If rel is ignored, the Dir ignores
// everything, and nothing below the ignored directory is loaded.
func (m *Matcher) Dir(rel string) *Dir {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.top
	if n.dir == nil {
		n.dir = &Dir{r: m.r, own: m.ownLocked(n, "")}
	}
	d := n.dir
	for rest := rel; rest != ""; {
		name, more, _ := strings.Cut(rest, "/")
		rest = more
		if d.excluded {
			d = d.enter(name, nil)
			continue
		}
		c := n.children[name]
		if c == nil {
			c = &node{}
			if n.children == nil {
				n.children = make(map[string]*node)
			}
			n.children[name] = c
		}
		if c.dir == nil || c.dir.parent != d {
			path := d.join(name)
			c.dir = d.enter(name, func() []pattern { return m.ownLocked(c, path) })
		}
		n, d = c, c.dir
	}
	return d
}

// ownLocked returns the patterns of n's .gitignore, reading the file of
// the directory path if they are not known yet.
func (m *Matcher) ownLocked(n *node, path string) []pattern {
	if !n.known && m.root != nil {
		n.own = m.readGitignore(path)
		n.known = true
	}
	return n.own
}

// AddFile sets the contents of the .gitignore file of the directory dir
// (see Ignored for the form of dir), replacing what the Matcher knew of it
// and taking precedence over the file on disk until Forget. It does not
// keep content. Verdicts on paths below dir are recomputed.
func (m *Matcher) AddFile(dir string, content []byte) {
	own := parse(content)
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.top
	for rest := dir; rest != ""; {
		name, more, _ := strings.Cut(rest, "/")
		rest = more
		c := n.children[name]
		if c == nil {
			c = &node{}
			if n.children == nil {
				n.children = make(map[string]*node)
			}
			n.children[name] = c
		}
		n = c
	}
	n.own, n.known, n.dir = own, true, nil
}

// Forget drops everything the Matcher knows of the directory dir and
// below it: .gitignore contents, whether read or given by AddFile, and
// verdicts. A watcher calls it when dir's .gitignore changes (the files
// are read again when next needed) or when dir is removed. Forget("")
// forgets all but the global pattern files, which New read once.
func (m *Matcher) Forget(dir string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if dir == "" {
		m.top = &node{}
		return
	}
	parent, name := splitPath(dir)
	n := m.top
	for rest := parent; rest != ""; {
		first, more, _ := strings.Cut(rest, "/")
		rest = more
		if n = n.children[first]; n == nil {
			return
		}
	}
	delete(n.children, name)
}

// Close releases the work tree root. The Matcher must not be used after.
func (m *Matcher) Close() error {
	if m.root == nil {
		return nil
	}
	return m.root.Close()
}
