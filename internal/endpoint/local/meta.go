package local

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// metaOps is what the platform's dir type provides for metadata beyond
// mode and mtime, on the entries of the directory: like dirOps, each call
// is relative to it and never follows a symlink at name ("." is d
// itself). meta_linux.go implements it; elsewhere every method fails
// with errors.ErrUnsupported.
type metaOps interface {
	// stat returns what Lstat tells beyond fs.FileInfo.
	stat(fi fs.FileInfo) (statMeta, bool)
	// listXattrs returns the names of name's extended attributes.
	listXattrs(name string) ([]string, error)
	// getXattr returns the value of name's extended attribute attr.
	getXattr(name, attr string) ([]byte, error)
	// setXattr sets name's extended attribute attr to value.
	setXattr(name, attr string, value []byte) error
	// removeXattr removes name's extended attribute attr.
	removeXattr(name, attr string) error
	// chown sets the owner and group of name; -1 leaves one as it is.
	chown(name string, uid, gid int) error
	// mknod makes name a FIFO or device node of typ with permissions perm
	// (less the umask) and device number rdev.
	mknod(name string, typ wire.FileType, perm uint32, rdev uint64) error
	// link makes name a hard link of the file old in the directory od.
	link(od dir, old, name string) error
	// extents returns the data extents of the regular file name from off
	// on, as Endpoint.Extents documents.
	extents(name string, off int64) (endpoint.Extents, error)
}

var _ metaOps = dir{}

// statMeta is what a stat tells beyond fs.FileInfo.
type statMeta struct {
	uid, gid uint32
	nlink    uint64
	alloc    int64 // bytes allocated on disk
	rdev     uint64
	dev, ino uint64
}

// Sparse files: a regular file of at least sparseMin bytes is reported
// sparse (wire.Entry.Sparse) when at most half of it is allocated, or
// with wire.WantSparse when any less than its size is. Below sparseMin,
// sending its zeros costs less than asking where they are.
const sparseMin = 64 << 10

// sparse reports whether a file of size bytes with alloc of them
// allocated is sent as its data extents.
func sparse(size, alloc int64, all bool) bool {
	if size < sparseMin {
		return false
	}
	if all {
		return alloc < size
	}
	return alloc <= size/2
}

// Extended attributes in these namespaces are copied; "system." ones are
// the file system's own (ACLs among them, copied as ACLs).
var xattrSpaces = []string{"security.", "trusted.", "user."}

// copiedXattr reports whether the extended attribute name is copied.
func copiedXattr(name string) bool {
	for _, p := range xattrSpaces {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// The extended attributes that hold POSIX ACLs on Linux.
const (
	aclAccess  = "system.posix_acl_access"
	aclDefault = "system.posix_acl_default"
)

// Linux's extended-attribute form of an ACL (linux/posix_acl_xattr.h): a
// little-endian version, then per entry a tag and permissions of 16 bits
// and an id of 32.
const (
	aclVersion  = 2
	aclEntryLen = 8
	aclNoID     = 0xffffffff
)

// parseACL decodes an ACL from its extended attribute. An ACL of only the
// owner, group and other entries (what the mode says) is none.
func parseACL(b []byte) ([]wire.ACE, error) {
	if len(b) < 4 || binary.LittleEndian.Uint32(b) != aclVersion || (len(b)-4)%aclEntryLen != 0 {
		return nil, fmt.Errorf("malformed ACL of %d bytes", len(b))
	}
	n := (len(b) - 4) / aclEntryLen
	if n > wire.MaxACL {
		return nil, fmt.Errorf("ACL of %d entries exceeds %d", n, wire.MaxACL)
	}
	acl := make([]wire.ACE, 0, n)
	extended := false
	for b = b[4:]; len(b) > 0; b = b[aclEntryLen:] {
		e := wire.ACE{
			Tag:  wire.ACLTag(binary.LittleEndian.Uint16(b)),
			Perm: uint8(binary.LittleEndian.Uint16(b[2:]) & 7),
		}
		switch e.Tag {
		case wire.ACLUser, wire.ACLGroup:
			e.ID = binary.LittleEndian.Uint32(b[4:])
			extended = true
		case wire.ACLMask:
			extended = true
		case wire.ACLUserObj, wire.ACLGroupObj, wire.ACLOther:
		default:
			return nil, fmt.Errorf("ACL entry with tag %#x", e.Tag)
		}
		acl = append(acl, e)
	}
	if !extended {
		return nil, nil
	}
	return acl, nil
}

// formatACL encodes acl as its extended attribute, entries sorted by tag
// and id as the kernel wants them.
func formatACL(acl []wire.ACE) []byte {
	sorted := slices.Clone(acl)
	slices.SortFunc(sorted, func(a, b wire.ACE) int {
		if a.Tag != b.Tag {
			return int(a.Tag) - int(b.Tag)
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	b := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+aclEntryLen*len(sorted)), aclVersion)
	for _, e := range sorted {
		id := uint32(aclNoID)
		if e.Tag == wire.ACLUser || e.Tag == wire.ACLGroup {
			id = e.ID
		}
		b = binary.LittleEndian.AppendUint16(b, uint16(e.Tag))
		b = binary.LittleEndian.AppendUint16(b, uint16(e.Perm))
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	return b
}

// ids maps user and group ids to names and back on this host, caching
// every answer, so a tree costs one lookup per distinct id or name. It
// uses os/user, which in a static binary reads /etc/passwd and
// /etc/group. It is safe for concurrent use.
type ids struct {
	mu     sync.Mutex
	users  map[uint32]string
	groups map[uint32]string
	uids   map[string]int64 // -1: unknown name
	gids   map[string]int64
}

// userName returns the name of uid, "" if it has none.
func (c *ids) userName(uid uint32) string {
	return c.name(&c.users, uid, func(s string) (string, error) {
		u, err := user.LookupId(s)
		if err != nil {
			return "", err
		}
		return u.Username, nil
	})
}

// groupName returns the name of gid, "" if it has none.
func (c *ids) groupName(gid uint32) string {
	return c.name(&c.groups, gid, func(s string) (string, error) {
		g, err := user.LookupGroupId(s)
		if err != nil {
			return "", err
		}
		return g.Name, nil
	})
}

func (c *ids) name(m *map[uint32]string, id uint32, lookup func(string) (string, error)) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name, ok := (*m)[id]; ok {
		return name
	}
	name, err := lookup(strconv.FormatUint(uint64(id), 10))
	if err != nil {
		name = ""
	}
	if *m == nil {
		*m = make(map[uint32]string)
	}
	(*m)[id] = name
	return name
}

// uid returns the id of the user name, or id when name is empty or
// unknown here.
func (c *ids) uid(name string, id uint32) uint32 {
	return c.id(&c.uids, name, id, func(s string) (string, error) {
		u, err := user.Lookup(s)
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	})
}

// gid returns the id of the group name, or id when name is empty or
// unknown here.
func (c *ids) gid(name string, id uint32) uint32 {
	return c.id(&c.gids, name, id, func(s string) (string, error) {
		g, err := user.LookupGroup(s)
		if err != nil {
			return "", err
		}
		return g.Gid, nil
	})
}

func (c *ids) id(m *map[string]int64, name string, id uint32, lookup func(string) (string, error)) uint32 {
	if name == "" {
		return id
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := (*m)[name]
	if !ok {
		v = -1
		if s, err := lookup(name); err == nil {
			if n, err := strconv.ParseUint(s, 10, 32); err == nil {
				v = int64(n)
			}
		}
		if *m == nil {
			*m = make(map[string]int64)
		}
		(*m)[name] = v
	}
	if v < 0 {
		return id
	}
	return uint32(v)
}

// readAttrs fills the parts of a that want asks for, for name in d, whose
// Lstat fi described. Attributes of a file system that has none are an
// empty set; a set beyond the wire's limits is cut to them, logged.
func (e *dirEndpoint) readAttrs(d dir, name string, fi fs.FileInfo, want wire.Want, a *wire.Attrs) error {
	if want&(wire.WantOwner|wire.WantNames) != 0 {
		if m, ok := d.stat(fi); ok {
			a.HasUid, a.Uid, a.HasGid, a.Gid = true, m.uid, true, m.gid
			if want&wire.WantNames != 0 {
				a.User, a.Group = e.ids.userName(m.uid), e.ids.groupName(m.gid)
			}
		}
	}
	if want&wire.WantXattrs != 0 {
		if err := e.readXattrs(d, name, a); err != nil {
			return err
		}
	}
	if want&wire.WantACL != 0 && fi.Mode()&fs.ModeSymlink == 0 {
		a.HasACL = true
		var err error
		if a.ACL, err = e.readACL(d, name, aclAccess, want); err != nil {
			return err
		}
		if fi.IsDir() {
			if a.DefaultACL, err = e.readACL(d, name, aclDefault, want); err != nil {
				return err
			}
		}
	}
	return nil
}

// readXattrs sets a's extended attributes to those of name in d.
func (e *dirEndpoint) readXattrs(d dir, name string, a *wire.Attrs) error {
	a.HasXattrs = true
	names, err := d.listXattrs(name)
	if noXattrs(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("extended attributes: %w", err)
	}
	slices.Sort(names)
	total := 0
	for _, n := range names {
		if !copiedXattr(n) {
			continue
		}
		v, err := d.getXattr(name, n)
		switch {
		case noXattrs(err):
			continue // removed meanwhile
		case err != nil:
			return fmt.Errorf("extended attribute %s: %w", n, err)
		}
		total += len(n) + len(v)
		if len(n) > wire.MaxXattrName || len(v) > wire.MaxXattrValue || total > wire.MaxXattrBytes || len(a.Xattrs) == wire.MaxXattrs {
			e.opts.logger.Warn("extended attributes beyond fcp's limits are left out", "root", e.abs, "name", name, "attr", n)
			break
		}
		a.Xattrs = append(a.Xattrs, wire.Xattr{Name: n, Value: v})
	}
	return nil
}

// readACL returns the ACL in the extended attribute attr of name in d,
// nil for none, with the names of its users and groups when want asks.
func (e *dirEndpoint) readACL(d dir, name, attr string, want wire.Want) ([]wire.ACE, error) {
	b, err := d.getXattr(name, attr)
	if noXattrs(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ACL: %w", err)
	}
	acl, err := parseACL(b)
	if err != nil {
		return nil, fmt.Errorf("ACL: %w", err)
	}
	if want&wire.WantNames != 0 {
		for i := range acl {
			switch acl[i].Tag {
			case wire.ACLUser:
				acl[i].Name = e.ids.userName(acl[i].ID)
			case wire.ACLGroup:
				acl[i].Name = e.ids.groupName(acl[i].ID)
			}
		}
	}
	return acl, nil
}

// unsupportedError is metadata a file system could not keep; it matches
// endpoint.ErrMetaUnsupported.
type unsupportedError struct {
	what string
	err  error
}

func (e *unsupportedError) Error() string {
	return fmt.Sprintf("%s not kept: %v", e.what, e.err)
}
func (e *unsupportedError) Unwrap() []error { return []error{e.err, endpoint.ErrMetaUnsupported} }

// setAttrs sets the parts of a that e's capabilities allow on name in d,
// of type typ, in the order that keeps each: owner first (a chown clears
// set-id bits and file capabilities), then extended attributes, then
// ACLs. The caller sets the mode afterwards. Metadata the file system
// does not support is skipped, the rest set, and then reported as an
// error matching endpoint.ErrMetaUnsupported.
func (e *dirEndpoint) setAttrs(d dir, name string, typ fs.FileMode, a *wire.Attrs) error {
	var unsupported error
	if e.caps&wire.CapOwner != 0 && (a.HasUid || a.HasGid) {
		uid, gid := -1, -1
		if a.HasUid {
			uid = int(e.ids.uid(a.User, a.Uid))
		}
		if a.HasGid {
			gid = int(e.ids.gid(a.Group, a.Gid))
		}
		if err := d.chown(name, uid, gid); err != nil {
			if !notKept(err) {
				return fmt.Errorf("chown: %w", err)
			}
			unsupported = &unsupportedError{"owner", err}
		}
	}
	if e.caps&wire.CapXattrs != 0 && a.HasXattrs {
		if err := e.setXattrs(d, name, a.Xattrs); err != nil {
			if !notKept(err) {
				return err
			}
			unsupported = either(unsupported, &unsupportedError{"extended attributes", err})
		}
	}
	if e.caps&wire.CapACL != 0 && a.HasACL && typ&fs.ModeSymlink == 0 {
		err := e.setACL(d, name, aclAccess, a.ACL)
		if err == nil && typ.IsDir() {
			err = e.setACL(d, name, aclDefault, a.DefaultACL)
		}
		if err != nil {
			if !notKept(err) {
				return err
			}
			unsupported = either(unsupported, &unsupportedError{"ACLs", err})
		}
	}
	return unsupported
}

// either returns a if it is not nil, else b.
func either(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// setXattrs makes xs the extended attributes of name in d: sets each, and
// removes the removable ones (see endpoint.RemovableXattr) it lacks.
func (e *dirEndpoint) setXattrs(d dir, name string, xs []wire.Xattr) error {
	have, err := d.listXattrs(name)
	if err != nil && !noXattrs(err) {
		return fmt.Errorf("extended attributes: %w", err)
	}
	for _, x := range xs {
		if err := d.setXattr(name, x.Name, x.Value); err != nil {
			return fmt.Errorf("extended attribute %s: %w", x.Name, err)
		}
	}
	for _, n := range have {
		if !endpoint.RemovableXattr(n) {
			continue
		}
		if _, keep := slices.BinarySearchFunc(xs, n, func(x wire.Xattr, n string) int { return strings.Compare(x.Name, n) }); keep {
			continue
		}
		if err := d.removeXattr(name, n); err != nil && !noXattrs(err) {
			return fmt.Errorf("extended attribute %s: %w", n, err)
		}
	}
	return nil
}

// setACL makes acl (none when empty) the ACL in the extended attribute
// attr of name in d, mapping named users and groups by name.
func (e *dirEndpoint) setACL(d dir, name, attr string, acl []wire.ACE) error {
	if len(acl) == 0 {
		if err := d.removeXattr(name, attr); err != nil && !noXattrs(err) {
			return fmt.Errorf("ACL: %w", err)
		}
		return nil
	}
	mapped := slices.Clone(acl)
	for i := range mapped {
		switch mapped[i].Tag {
		case wire.ACLUser:
			mapped[i].ID = e.ids.uid(mapped[i].Name, mapped[i].ID)
		case wire.ACLGroup:
			mapped[i].ID = e.ids.gid(mapped[i].Name, mapped[i].ID)
		}
	}
	if err := d.setXattr(name, attr, formatACL(mapped)); err != nil {
		return fmt.Errorf("ACL: %w", err)
	}
	return nil
}
