package transfer

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Metadata beyond mode and mtime: owners, extended attributes, ACLs, hard
// links and special files (see Options). Scans are asked for what the
// options keep and the destination can set (Endpoint.Caps), no more; an
// entry whose content is unchanged but whose metadata differs gets an
// OpSetMeta with it.

// allCaps stands for a destination that does not exist yet (a dry run).
const allCaps = wire.CapOwner | wire.CapLinks | wire.CapSpecials | wire.CapDevices | wire.CapXattrs | wire.CapACL

// restrict turns off what the destination, of capabilities caps, cannot
// keep, and returns the notices that say so: nothing for owners (a
// receiver that is not root leaves them to itself, as rsync does) and
// device nodes (counted as they are skipped), one line for the rest.
func (o Options) restrict(caps wire.Caps) (Options, []string) {
	var notices []string
	if caps&wire.CapOwner == 0 {
		o.Owner, o.Group = false, false
	}
	if o.HardLinks && caps&wire.CapLinks == 0 {
		o.HardLinks = false
		notices = append(notices, "hard links not kept: the destination cannot make them (linked files are copied apart)")
	}
	if o.Xattrs && caps&wire.CapXattrs == 0 {
		o.Xattrs = false
		notices = append(notices, "extended attributes not kept: the destination cannot set them")
	}
	if o.ACLs && caps&wire.CapACL == 0 {
		o.ACLs = false
		notices = append(notices, "ACLs not kept: the destination cannot set them")
	}
	return o, notices
}

// want returns the metadata the scans report for o.
func (o Options) want() wire.Want {
	w := wire.WantSpecials // skipped ones get a notice
	if o.Owner || o.Group {
		w |= wire.WantOwner
	}
	if (o.Owner || o.Group || o.ACLs) && !o.NumericIDs {
		w |= wire.WantNames
	}
	if o.Xattrs {
		w |= wire.WantXattrs
	}
	if o.ACLs {
		w |= wire.WantACL
	}
	if o.HardLinks {
		w |= wire.WantLinks
	}
	if o.Sparse {
		w |= wire.WantSparse
	}
	return w
}

// attrs returns the metadata of the source entry se that the destination
// is to set.
func (e *engine) attrs(se *wire.Entry) wire.Attrs {
	a := se.Attrs
	if !e.o.Owner {
		a.HasUid, a.Uid, a.User = false, 0, ""
	}
	if !e.o.Group {
		a.HasGid, a.Gid, a.Group = false, 0, ""
	}
	if !e.o.Xattrs {
		a.HasXattrs, a.Xattrs = false, nil
	}
	if !e.o.ACLs || se.Type == wire.TypeSymlink {
		a.HasACL, a.ACL, a.DefaultACL = false, nil, nil
	}
	if se.Type != wire.TypeDir {
		a.DefaultACL = nil
	}
	return a
}

// sameAttrs reports whether the destination entry d has the metadata of
// the source entry s that the run keeps.
func (e *engine) sameAttrs(s, d *wire.Entry) bool {
	sa, da := &s.Attrs, &d.Attrs
	switch {
	case e.o.Owner && !sameID(sa.Uid, sa.User, da.Uid, da.User):
		return false
	case e.o.Group && !sameID(sa.Gid, sa.Group, da.Gid, da.Group):
		return false
	case e.o.Xattrs && !sameXattrs(sa.Xattrs, da.Xattrs):
		return false
	case e.o.ACLs && s.Type != wire.TypeSymlink && (!sameACL(sa.ACL, da.ACL) || !sameACL(sa.DefaultACL, da.DefaultACL)):
		return false
	}
	return true
}

// sameID reports whether a destination's owner (or group) did, named
// dname there, is what the source's id, named name there, maps to: the
// same name where both have one, else the same number (a receiver falls
// back to the number for a name it does not know).
func sameID(id uint32, name string, did uint32, dname string) bool {
	if name != "" && dname != "" {
		return name == dname
	}
	return id == did
}

// sameXattrs reports whether the destination's attributes d are what
// setting the source's s leaves: each of s, with its value, and none of
// the removable others (see endpoint.RemovableXattr). Both are sorted.
func sameXattrs(s, d []wire.Xattr) bool {
	i := 0
	for _, x := range d {
		if i < len(s) && s[i].Name < x.Name {
			return false // missing at the destination
		}
		if i < len(s) && s[i].Name == x.Name {
			if !bytes.Equal(s[i].Value, x.Value) {
				return false
			}
			i++
			continue
		}
		if endpoint.RemovableXattr(x.Name) {
			return false
		}
	}
	return i == len(s)
}

// sameACL reports whether two ACLs hold the same entries, named users and
// groups compared by name where both sides know it (see sameID).
func sameACL(s, d []wire.ACE) bool {
	if len(s) != len(d) {
		return false
	}
	used := make([]bool, len(d))
next:
	for _, a := range s {
		for j, b := range d {
			if !used[j] && a.Tag == b.Tag && a.Perm == b.Perm && sameID(a.ID, a.Name, b.ID, b.Name) {
				used[j] = true
				continue next
			}
		}
		return false
	}
	return true
}

// leader is a regular file with several links whose first link the merge
// has passed: its other links become hard links of it.
type leader struct {
	path      string // where the file's data is at the destination
	rewritten bool   // written anew by this run: the other links must be made again
	left      uint32 // links not reached yet
}

// link handles the source entry s, a regular file with several links, as
// a hard link when the merge has passed the file's first link: the
// destination gets an OpLink (applied once the files are written) unless
// it already links it so, and link reports true. For a first link, or
// one whose first link was not seen (excluded, say), it reports false: s
// is copied as a file and becomes the leader of its links (see lead).
// Memory: one leader per file with several links, kept until all its
// links are reached.
func (e *engine) link(s *item, d *wire.Entry, top *dirFrame) bool {
	se := &s.e
	if se.Link == "" {
		return false
	}
	l := e.leaders[se.Link]
	if l == nil {
		return false
	}
	if l.left--; l.left == 0 {
		delete(e.leaders, se.Link)
	}
	if !l.rewritten && d != nil && d.Type == wire.TypeFile && d.Link == l.path {
		return true
	}
	e.links = append(e.links, opItem{op: wire.Op{Kind: wire.OpLink, Path: s.path, Target: l.path}, typ: wire.TypeFile, action: create(d), dir: top})
	e.hold(top)
	markDirty(top)
	return true
}

// lead makes the source entry s, a regular file with several links just
// handled as a file, the leader of its links; rewritten says whether it
// is being written anew.
func (e *engine) lead(s *item, rewritten bool) {
	key := s.e.Link
	if key == "" {
		key = s.path
	}
	if e.leaders == nil {
		e.leaders = make(map[string]*leader)
	}
	e.leaders[key] = &leader{path: s.path, rewritten: rewritten, left: s.e.Nlink - 1}
}

// keeps reports whether the run is to copy special files of type t, and
// whether the destination can.
func (e *engine) keeps(t wire.FileType) (asked, can bool) {
	if t == wire.TypeFIFO {
		return e.o.Specials, e.caps&wire.CapSpecials != 0
	}
	return e.o.Devices, e.caps&wire.CapDevices != 0
}

// special handles the source entry s, a FIFO or device node: made with
// OpMknod when the run keeps it and the destination lacks it, its
// metadata set when only that differs, else skipped and counted.
func (e *engine) special(s *item, d *wire.Entry, top *dirFrame) {
	se := &s.e
	if asked, can := e.keeps(se.Type); !asked || !can {
		e.notes.skip(se.Type, asked)
		return
	}
	if d != nil && d.Type == se.Type && d.Rdev == se.Rdev {
		if d.Mode != se.Mode || d.Mtime != se.Mtime || !e.sameAttrs(se, d) {
			e.addOp(opItem{op: wire.Op{Kind: wire.OpSetMeta, Path: s.path, Mode: se.Mode, Mtime: se.Mtime, Attrs: e.attrs(se)}, typ: se.Type, action: ActMeta})
		}
		return
	}
	e.addOp(opItem{op: wire.Op{Kind: wire.OpMknod, Path: s.path, Type: se.Type, Mode: se.Mode, Mtime: se.Mtime, Rdev: se.Rdev, Attrs: e.attrs(se)}, typ: se.Type, action: create(d)})
	markDirty(top)
}

// notes gathers what the run tells the user without failing: special
// files skipped, metadata a file system could not keep. It is safe for
// concurrent use.
type notes struct {
	mu          sync.Mutex
	skipped     [2][2]int // special files not copied: [device][the destination cannot make them]
	unsupported int       // entries without some of their metadata
	first       error     // the first of those
}

// skip counts a special file of type t not copied; cannot says the
// destination cannot make it, rather than the run not asking for it.
func (n *notes) skip(t wire.FileType, cannot bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.skipped[b2i(t != wire.TypeFIFO)][b2i(cannot)]++
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// skipNotes are the notices about special files skipped, by
// [device][the destination cannot make them].
var skipNotes = [2][2]string{
	{"skipped %d FIFO%s (--specials copies them)", "skipped %d FIFO%s: the destination cannot make them"},
	{"skipped %d device node%s (--devices copies them, as root at the destination)", "skipped %d device node%s: only root can make them at the destination"},
}

// unkept counts an entry written without some of its metadata (err
// matches endpoint.ErrMetaUnsupported).
func (n *notes) unkept(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.first == nil {
		n.first = err
	}
	n.unsupported++
}

// lines returns the notices, one line each.
func (n *notes) lines() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for dev := range 2 {
		for cannot := range 2 {
			if k := n.skipped[dev][cannot]; k > 0 {
				s := "s"
				if k == 1 {
					s = ""
				}
				out = append(out, fmt.Sprintf(skipNotes[dev][cannot], k, s))
			}
		}
	}
	switch {
	case n.unsupported == 1:
		out = append(out, fmt.Sprintf("metadata not kept by the destination's file system: %v", n.first))
	case n.unsupported > 1:
		out = append(out, fmt.Sprintf("metadata not kept by the destination's file system for %d entries, such as: %v", n.unsupported, n.first))
	}
	return out
}

// applied sorts out the result err of an op of it that did not fail the
// run: nil if it did its work, after noting what a file system could not
// keep or a device node the destination may not make.
func (e *engine) applied(it opItem, err error) error {
	switch {
	case errors.Is(err, endpoint.ErrMetaUnsupported):
		e.notes.unkept(err)
		return nil
	case it.op.Kind == wire.OpMknod && it.op.Type != wire.TypeFIFO && errors.Is(err, fs.ErrPermission):
		e.notes.skip(it.op.Type, true)
		return errSkipped
	}
	return err
}

// errSkipped is an op that did nothing, by design: no event.
var errSkipped = errors.New("skipped")

// notify hands each notice to Options.OnNotice.
func (e *engine) notify(lines []string) {
	if e.o.OnNotice == nil {
		return
	}
	for _, l := range lines {
		e.o.OnNotice(l)
	}
}
