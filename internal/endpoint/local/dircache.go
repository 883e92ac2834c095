package local

import (
	"strings"
	"sync"

	"github.com/fcp-dev/fcp/internal/endpoint"
)

// maxOpenDirs bounds the directories a dirCache keeps open besides the
// root; when it is reached the cache starts over. Copies visit the tree
// in order, so the directories in use at once are few.
const maxOpenDirs = 256

// dirHandle is an open directory shared by the operations that use it.
type dirHandle struct {
	dir
	refs int // holders, the cache counting as one while it lists h; guarded by dirCache.mu
}

// dirCache holds the open directories of an Endpoint, by path relative
// to its root. Each was opened through real directories only (see
// dirOps.openBeneath), so an operation relative to one cannot be
// redirected by a symlink in the tree, however the tree changes
// meanwhile. Operations of the Endpoint that remove or replace a
// directory forget it and everything below it; a handle still in use
// stays open until released. It is safe for concurrent use.
type dirCache struct {
	mu     sync.Mutex
	root   *dirHandle
	open   map[string]*dirHandle // by path; never "." (that is root)
	gen    uint64                // incremented by every forget
	closed bool
}

// newDirCache returns a cache of the directories beneath root, which it
// owns.
func newDirCache(root dir) *dirCache {
	return &dirCache{root: &dirHandle{dir: root, refs: 1}, open: make(map[string]*dirHandle)}
}

// acquire returns the open directory p (a valid path, "." for the root),
// opening it if it is not cached. The caller releases it. After close it
// fails with endpoint.ErrClosed.
func (c *dirCache) acquire(p string) (*dirHandle, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, endpoint.ErrClosed
	}
	h := c.open[p]
	if p == "." {
		h = c.root
	} else if h != nil && h.gone() {
		// Removed by someone else since it was opened: what is at p now
		// is another directory (or nothing).
		c.dropLocked(func(q string) bool { return q == p || strings.HasPrefix(q, p+"/") })
		h = nil
	}
	if h != nil {
		h.refs++
		c.mu.Unlock()
		return h, nil
	}
	gen, root := c.gen, c.root
	root.refs++
	c.mu.Unlock()

	d, err := root.openBeneath(p)
	c.release(root)
	if err != nil {
		return nil, err
	}
	return c.insert(p, &dirHandle{dir: d, refs: 1}, gen)
}

// insert caches h, just opened at p and held by the caller, and returns
// it or the handle another caller cached meanwhile. If forget was called
// since gen was read, h is returned but not cached: what it refers to
// may have been removed.
func (c *dirCache) insert(p string, h *dirHandle, gen uint64) (*dirHandle, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		h.close()
		return nil, endpoint.ErrClosed
	case gen != c.gen:
		return h, nil
	case c.open[p] != nil:
		h.close()
		h = c.open[p]
		h.refs++
		return h, nil
	}
	if len(c.open) >= maxOpenDirs {
		c.dropLocked(func(string) bool { return true })
	}
	c.open[p] = h
	h.refs++
	return h, nil
}

// release gives back a handle from acquire.
func (c *dirCache) release(h *dirHandle) {
	c.mu.Lock()
	h.refs--
	last := h.refs == 0
	c.mu.Unlock()
	if last {
		h.close()
	}
}

// forget drops p and everything below it from the cache. Callers forget
// a path before and after they remove or replace what is there.
func (c *dirCache) forget(p string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.dropLocked(func(q string) bool {
		return q == p || len(q) > len(p) && q[len(p)] == '/' && strings.HasPrefix(q, p)
	})
}

// dropLocked drops the cached directories whose paths match.
func (c *dirCache) dropLocked(match func(string) bool) {
	for q, h := range c.open {
		if !match(q) {
			continue
		}
		delete(c.open, q)
		if h.refs--; h.refs == 0 {
			h.close()
		}
	}
}

// close drops every directory, the root included, and makes acquire
// fail. Handles still in use are closed when released.
func (c *dirCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.dropLocked(func(string) bool { return true })
	if c.root.refs--; c.root.refs == 0 {
		c.root.close()
	}
}

// parent returns the open directory holding the last component of rel,
// which it returns too ("." for the root itself). The caller releases
// the directory.
func (e *dirEndpoint) parent(rel string) (*dirHandle, string, error) {
	dir, name := ".", rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		dir, name = rel[:i], rel[i+1:]
	}
	d, err := e.dirs.acquire(dir)
	if err != nil {
		return nil, "", err
	}
	return d, name, nil
}
