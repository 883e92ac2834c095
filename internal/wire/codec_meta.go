package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// Attrs goes on the wire as a byte of flags saying which parts follow,
// then those parts in declaration order. A part that is absent costs
// nothing, so an entry of a scan that asked for no metadata grows by one
// byte.
const (
	attrUid    = 1 << iota // Uid
	attrGid                // Gid
	attrNames              // User, Group
	attrXattrs             // count, then Name and Value of each
	attrACL                // ACL, DefaultACL: count, then Tag, Perm, ID, Name of each
	attrAll    = attrACL<<1 - 1
)

// Entry's metadata of version 4 follows its Sum as a byte of flags and the
// parts it names, then its Attrs.
const (
	entryLinks = 1 << iota // Nlink, Link
	entrySparse
	entryRdev // Rdev
	entryAll  = entryRdev<<1 - 1
)

// Smallest encodings of the repeated elements of Attrs.
const (
	minXattrLen = 2 // Name, Value
	minACELen   = 4 // Tag, Perm, ID, Name
	minExtent   = 2 // Off, Len
)

func (a *Attrs) appendTo(b []byte) []byte {
	var flags byte
	if a.HasUid {
		flags |= attrUid
	}
	if a.HasGid {
		flags |= attrGid
	}
	if a.User != "" || a.Group != "" {
		flags |= attrNames
	}
	if a.HasXattrs {
		flags |= attrXattrs
	}
	if a.HasACL {
		flags |= attrACL
	}
	b = append(b, flags)
	if a.HasUid {
		b = binary.AppendUvarint(b, uint64(a.Uid))
	}
	if a.HasGid {
		b = binary.AppendUvarint(b, uint64(a.Gid))
	}
	if flags&attrNames != 0 {
		b = appendString(b, a.User)
		b = appendString(b, a.Group)
	}
	if a.HasXattrs {
		b = binary.AppendUvarint(b, uint64(len(a.Xattrs)))
		for i := range a.Xattrs {
			b = appendString(b, a.Xattrs[i].Name)
			b = binary.AppendUvarint(b, uint64(len(a.Xattrs[i].Value)))
			b = append(b, a.Xattrs[i].Value...)
		}
	}
	if a.HasACL {
		b = appendACL(b, a.ACL)
		b = appendACL(b, a.DefaultACL)
	}
	return b
}

func appendACL(b []byte, acl []ACE) []byte {
	b = binary.AppendUvarint(b, uint64(len(acl)))
	for i := range acl {
		b = append(b, byte(acl[i].Tag), acl[i].Perm)
		b = binary.AppendUvarint(b, uint64(acl[i].ID))
		b = appendString(b, acl[i].Name)
	}
	return b
}

func (a *Attrs) decode(d *decoder, what string) {
	flags := d.byte(what + ".flags")
	if flags&^attrAll != 0 {
		d.failf("%s: unknown flags %#x", what, flags)
		return
	}
	if flags&attrUid != 0 {
		a.HasUid = true
		a.Uid = d.uint32(what + ".Uid")
	}
	if flags&attrGid != 0 {
		a.HasGid = true
		a.Gid = d.uint32(what + ".Gid")
	}
	if flags&attrNames != 0 {
		a.User = d.string(MaxOwnerName, what+".User")
		a.Group = d.string(MaxOwnerName, what+".Group")
	}
	if flags&attrXattrs != 0 {
		a.HasXattrs = true
		if n := d.count(MaxXattrs, minXattrLen, what+".Xattrs"); n > 0 {
			a.Xattrs = make([]Xattr, n)
			for i := range a.Xattrs {
				a.Xattrs[i].Name = d.string(MaxXattrName, what+".Xattr.Name")
				a.Xattrs[i].Value = clone(d.bytes(MaxXattrValue, what+".Xattr.Value"))
			}
		}
	}
	if flags&attrACL != 0 {
		a.HasACL = true
		a.ACL = d.acl(what + ".ACL")
		a.DefaultACL = d.acl(what + ".DefaultACL")
	}
}

// clone copies b, which aliases a frame's body, so the caller may keep it.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func (d *decoder) acl(what string) []ACE {
	n := d.count(MaxACL, minACELen, what)
	if n == 0 {
		return nil
	}
	acl := make([]ACE, n)
	for i := range acl {
		acl[i].Tag = ACLTag(d.byte(what + ".Tag"))
		acl[i].Perm = d.byte(what + ".Perm")
		acl[i].ID = d.uint32(what + ".ID")
		acl[i].Name = d.string(MaxOwnerName, what+".Name")
	}
	return acl
}

// validName checks a user or group name.
func validName(what, s string) error {
	switch {
	case len(s) > MaxOwnerName:
		return fmt.Errorf("%w: %s of %d bytes exceeds %d", ErrProtocol, what, len(s), MaxOwnerName)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("%w: NUL in %s %q", ErrProtocol, what, s)
	}
	return nil
}

// Validate checks that names come with their ids; that extended
// attributes come with HasXattrs, at most MaxXattrs of them with 1 to
// MaxXattrName bytes of name without NUL, at most MaxXattrValue bytes of
// value and MaxXattrBytes in all, in strictly increasing order of name;
// and that ACL entries come with HasACL, at most MaxACL per list, each
// with a known tag, permissions of at most 7, and an id or a name only
// for a named user or group.
func (a *Attrs) Validate() error {
	switch {
	case a.User != "" && !a.HasUid:
		return fmt.Errorf("%w: user name %q without a uid", ErrProtocol, a.User)
	case a.Group != "" && !a.HasGid:
		return fmt.Errorf("%w: group name %q without a gid", ErrProtocol, a.Group)
	case !a.HasXattrs && len(a.Xattrs) > 0:
		return fmt.Errorf("%w: extended attributes without HasXattrs", ErrProtocol)
	case !a.HasACL && len(a.ACL)+len(a.DefaultACL) > 0:
		return fmt.Errorf("%w: ACL entries without HasACL", ErrProtocol)
	case len(a.Xattrs) > MaxXattrs:
		return fmt.Errorf("%w: %d extended attributes exceed %d", ErrProtocol, len(a.Xattrs), MaxXattrs)
	}
	if err := validName("user name", a.User); err != nil {
		return err
	}
	if err := validName("group name", a.Group); err != nil {
		return err
	}
	total := 0
	for i := range a.Xattrs {
		x := &a.Xattrs[i]
		switch {
		case x.Name == "" || len(x.Name) > MaxXattrName || strings.IndexByte(x.Name, 0) >= 0:
			return fmt.Errorf("%w: bad extended attribute name %q", ErrProtocol, x.Name)
		case len(x.Value) > MaxXattrValue:
			return fmt.Errorf("%w: extended attribute %q of %d bytes exceeds %d", ErrProtocol, x.Name, len(x.Value), MaxXattrValue)
		case i > 0 && a.Xattrs[i-1].Name >= x.Name:
			return fmt.Errorf("%w: extended attribute %q out of order", ErrProtocol, x.Name)
		}
		total += len(x.Name) + len(x.Value)
	}
	if total > MaxXattrBytes {
		return fmt.Errorf("%w: %d bytes of extended attributes exceed %d", ErrProtocol, total, MaxXattrBytes)
	}
	if err := validACL("ACL", a.ACL); err != nil {
		return err
	}
	return validACL("default ACL", a.DefaultACL)
}

func validACL(what string, acl []ACE) error {
	if len(acl) > MaxACL {
		return fmt.Errorf("%w: %s of %d entries exceeds %d", ErrProtocol, what, len(acl), MaxACL)
	}
	for i := range acl {
		e := &acl[i]
		named := e.Tag == ACLUser || e.Tag == ACLGroup
		switch {
		case e.Tag != ACLUserObj && e.Tag != ACLGroupObj && e.Tag != ACLMask && e.Tag != ACLOther && !named:
			return fmt.Errorf("%w: %s entry with tag %#x", ErrProtocol, what, e.Tag)
		case e.Perm > 7:
			return fmt.Errorf("%w: %s entry with permissions %#o", ErrProtocol, what, e.Perm)
		case !named && (e.ID != 0 || e.Name != ""):
			return fmt.Errorf("%w: %s entry with tag %#x has an id or name", ErrProtocol, what, e.Tag)
		}
		if err := validName(what+" name", e.Name); err != nil {
			return err
		}
	}
	return nil
}

// appendMeta appends the metadata of version 4 of e.
func (e *Entry) appendMeta(b []byte) []byte {
	var flags byte
	if e.Nlink != 0 || e.Link != "" {
		flags |= entryLinks
	}
	if e.Sparse {
		flags |= entrySparse
	}
	if e.Rdev != 0 {
		flags |= entryRdev
	}
	b = append(b, flags)
	if flags&entryLinks != 0 {
		b = binary.AppendUvarint(b, uint64(e.Nlink))
		b = appendString(b, e.Link)
	}
	if e.Rdev != 0 {
		b = binary.AppendUvarint(b, e.Rdev)
	}
	return e.Attrs.appendTo(b)
}

func (e *Entry) decodeMeta(d *decoder) {
	flags := d.byte("Entry.flags")
	if flags&^entryAll != 0 {
		d.failf("Entry: unknown flags %#x", flags)
		return
	}
	if flags&entryLinks != 0 {
		e.Nlink = d.uint32("Entry.Nlink")
		e.Link = d.string(MaxPath, "Entry.Link")
	}
	e.Sparse = flags&entrySparse != 0
	if flags&entryRdev != 0 {
		e.Rdev = d.uvarint("Entry.Rdev")
	}
	e.Attrs.decode(d, "Entry.Attrs")
}

// validateMeta checks the metadata of version 4 of e (see Entry.Validate).
func (e *Entry) validateMeta() error {
	switch {
	case (e.Nlink != 0 || e.Link != "") && e.Type != TypeFile:
		return fmt.Errorf("%w: entry %q: %v with hard links", ErrProtocol, e.Path, e.Type)
	case e.Sparse && e.Type != TypeFile:
		return fmt.Errorf("%w: entry %q: sparse %v", ErrProtocol, e.Path, e.Type)
	case e.Rdev != 0 && e.Type != TypeChar && e.Type != TypeBlock:
		return fmt.Errorf("%w: entry %q: %v with a device number", ErrProtocol, e.Path, e.Type)
	case e.Type != TypeDir && len(e.Attrs.DefaultACL) > 0:
		return fmt.Errorf("%w: entry %q: %v with a default ACL", ErrProtocol, e.Path, e.Type)
	}
	if e.Link != "" {
		if err := ValidPath(e.Link); err != nil {
			return fmt.Errorf("entry %q: link: %w", e.Path, err)
		}
		if e.Link == "." || ComparePaths(e.Link, e.Path) >= 0 {
			return fmt.Errorf("%w: entry %q: link to %q, not an earlier entry", ErrProtocol, e.Path, e.Link)
		}
	}
	if err := e.Attrs.Validate(); err != nil {
		return fmt.Errorf("entry %q: %w", e.Path, err)
	}
	return nil
}

// validSpecial reports whether t is a FIFO or device type.
func validSpecial(t FileType) bool {
	return t == TypeFIFO || t == TypeChar || t == TypeBlock
}

func (m *ExtentsReq) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendUvarint(b, uint64(m.Root))
	b = appendString(b, m.Path)
	return binary.AppendVarint(b, m.Off), nil
}

func (m *ExtentsReq) decode(d *decoder) {
	m.Root = d.uint32("Root")
	m.Path = d.string(MaxPath, "Path")
	m.Off = d.varint("Off")
}

// Validate checks the path and that Off is not negative.
func (m *ExtentsReq) Validate() error {
	if err := ValidPath(m.Path); err != nil {
		return err
	}
	if m.Off < 0 {
		return fmt.Errorf("%w: ExtentsReq of %q: negative offset %d", ErrProtocol, m.Path, m.Off)
	}
	return nil
}

func (m *ExtentsResp) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendVarint(b, m.Size)
	b = binary.AppendVarint(b, m.Mtime)
	b = binary.AppendVarint(b, m.Next)
	b = binary.AppendUvarint(b, uint64(len(m.Extents)))
	for _, x := range m.Extents {
		b = binary.AppendVarint(b, x.Off)
		b = binary.AppendVarint(b, x.Len)
	}
	return b, nil
}

func (m *ExtentsResp) decode(d *decoder) {
	m.Size = d.varint("Size")
	m.Mtime = d.varint("Mtime")
	m.Next = d.varint("Next")
	n := d.count(MaxExtents, minExtent, "extents")
	if n == 0 {
		return
	}
	m.Extents = make([]Extent, n)
	for i := range m.Extents {
		m.Extents[i].Off = d.varint("Extent.Off")
		m.Extents[i].Len = d.varint("Extent.Len")
	}
}

// Validate checks that Size is not negative, that the extents (at most
// MaxExtents) are non-empty, in order, apart and within Size, and that
// Next is in [the end of the last extent, Size].
func (m *ExtentsResp) Validate() error {
	if m.Size < 0 {
		return fmt.Errorf("%w: ExtentsResp: negative size %d", ErrProtocol, m.Size)
	}
	if len(m.Extents) > MaxExtents {
		return fmt.Errorf("%w: ExtentsResp: %d extents exceed %d", ErrProtocol, len(m.Extents), MaxExtents)
	}
	var end int64
	for i, x := range m.Extents {
		if x.Off < end || x.Len <= 0 || x.Off > m.Size-x.Len || i > 0 && x.Off == end {
			return fmt.Errorf("%w: ExtentsResp: extent %d (%d+%d) out of order or past size %d", ErrProtocol, i, x.Off, x.Len, m.Size)
		}
		end = x.Off + x.Len
	}
	if m.Next < end || m.Next > m.Size {
		return fmt.Errorf("%w: ExtentsResp: next offset %d not in %d..%d", ErrProtocol, m.Next, end, m.Size)
	}
	return nil
}

func (m *Hole) appendBody(b []byte) (head, tail []byte) {
	b = binary.AppendVarint(b, m.Off)
	return binary.AppendVarint(b, m.Len), nil
}

func (m *Hole) decode(d *decoder) {
	m.Off = d.varint("Off")
	m.Len = d.varint("Len")
}

// Validate checks a non-empty range at a non-negative offset that does not
// overflow.
func (m *Hole) Validate() error {
	if m.Off < 0 || m.Len <= 0 || m.Off > math.MaxInt64-m.Len {
		return fmt.Errorf("%w: Hole: bad range %d+%d", ErrProtocol, m.Off, m.Len)
	}
	return nil
}
