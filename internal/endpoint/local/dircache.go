package local

import (
	"fmt"
	"io/fs"
	"strings"
	"sync"

	"github.com/fcp-dev/fcp/internal/endpoint"
)

// maxCachedDirs bounds a dirCache; when it is reached the cache starts
// over empty.
const maxCachedDirs = 1 << 16

// checkParents verifies that every parent component of rel ("a" and "a/b"
// for "a/b/c") is a real directory, not a symlink or another file, so a
// write to rel cannot be redirected by a link inside the tree. A symlink
// or file in the way fails with an error wrapping endpoint.ErrInvalidPath;
// a missing parent with one matching fs.ErrNotExist.
func (e *dirEndpoint) checkParents(rel string) error {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return nil
	}
	dir := rel[:i]
	end, gen := e.dirs.known(dir)
	for end < len(dir) {
		start := 0
		if end > 0 {
			start = end + 1
		}
		end = len(dir)
		if j := strings.IndexByte(dir[start:], '/'); j >= 0 {
			end = start + j
		}
		p := dir[:end]
		fi, err := e.root.Lstat(p)
		switch {
		case err != nil:
			return fmt.Errorf("parent %s: %w", p, cause(err))
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%w: %s is a symlink", endpoint.ErrInvalidPath, p)
		case !fi.IsDir():
			return fmt.Errorf("%w: %s is not a directory", endpoint.ErrInvalidPath, p)
		}
		e.dirs.add(p, gen)
	}
	return nil
}

// dirCache is the set of directories (relative to an Endpoint's root)
// that checkParents found to be real. It is a trie of path components, so
// forgetting a directory forgets everything below it at the cost of one
// lookup per component. A directory is present only with all its
// ancestors. It is safe for concurrent use; the zero value is empty.
type dirCache struct {
	mu   sync.Mutex
	top  dirNode
	size int    // nodes added since the cache was last emptied
	gen  uint64 // incremented by every forget
}

// dirNode maps the names of a directory's verified subdirectories to
// their own nodes.
type dirNode map[string]dirNode

// known returns the length of the longest prefix of dir (a valid path,
// not ".") that ends at a component boundary and is cached, and the
// generation to pass to add for what the caller verifies next.
func (c *dirCache) known(dir string) (int, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	node, verified := c.top, 0
	for start := 0; start < len(dir); {
		end := len(dir)
		if j := strings.IndexByte(dir[start:], '/'); j >= 0 {
			end = start + j
		}
		child, ok := node[dir[start:end]]
		if !ok {
			break
		}
		node, verified, start = child, end, end+1
	}
	return verified, c.gen
}

// add caches dir and its ancestors, unless forget was called since gen
// was obtained from known: the verification may predate a removal.
func (c *dirCache) add(dir string, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.top == nil || c.size >= maxCachedDirs {
		c.top, c.size = dirNode{}, 0
	}
	node := c.top
	for comp := range strings.SplitSeq(dir, "/") {
		child, ok := node[comp]
		if !ok {
			child = dirNode{}
			node[comp] = child
			c.size++
		}
		node = child
	}
}

// forget drops p and everything below it from the cache. Callers forget
// a path before and after they remove or replace what is there.
func (c *dirCache) forget(p string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	node := c.top
	for {
		comp, rest, more := strings.Cut(p, "/")
		if !more {
			delete(node, comp)
			return
		}
		if node = node[comp]; node == nil {
			return
		}
		p = rest
	}
}
