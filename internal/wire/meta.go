package wire

// Metadata beyond type, mode and mtime (protocol version 4): owners,
// extended attributes, POSIX ACLs, hard links, holes of sparse files,
// FIFOs and device nodes. A scan reports only what its ScanReq.Want asks
// for, so a transfer that keeps none of it pays nothing for it; an
// endpoint tells in OpenResp.Caps what it can keep.

// Want is a set of metadata a scan reports besides path, type, mode, size,
// mtime and link target.
type Want uint32

// Metadata a scan can report.
const (
	// WantOwner fills Attrs.Uid and Attrs.Gid.
	WantOwner Want = 1 << iota
	// WantNames fills Attrs.User and Attrs.Group and the names of named
	// ACL entries, where the scanning host knows them.
	WantNames
	// WantXattrs fills Attrs.Xattrs.
	WantXattrs
	// WantACL fills Attrs.ACL and Attrs.DefaultACL.
	WantACL
	// WantLinks fills Entry.Nlink and Entry.Link for regular files.
	WantLinks
	// WantSpecials reports FIFOs and device nodes (TypeFIFO, TypeChar,
	// TypeBlock), which are skipped otherwise. Sockets are never reported.
	WantSpecials
	// WantSparse sets Entry.Sparse for every regular file with fewer
	// bytes allocated than its size, not only for mostly empty ones.
	WantSparse

	wantAll = WantSparse<<1 - 1
)

// Caps is a set of metadata an endpoint can set on what it writes.
type Caps uint32

// Capabilities of an endpoint, reported in OpenResp.
const (
	// CapOwner: it sets owners and groups (it runs as root).
	CapOwner Caps = 1 << iota
	// CapLinks: it makes hard links (OpLink).
	CapLinks
	// CapSpecials: it makes FIFOs (OpMknod).
	CapSpecials
	// CapDevices: it makes device nodes (OpMknod; it runs as root).
	CapDevices
	// CapXattrs: it sets extended attributes, where the file system has
	// them.
	CapXattrs
	// CapACL: it sets POSIX ACLs, where the file system has them.
	CapACL

	capAll = CapACL<<1 - 1
)

// Limits of metadata, per entry.
const (
	MaxXattrs     = 1024     // extended attributes
	MaxXattrName  = 255      // bytes in an attribute's name (Linux's XATTR_NAME_MAX)
	MaxXattrValue = 64 << 10 // bytes in an attribute's value (Linux's XATTR_SIZE_MAX)
	MaxXattrBytes = 1 << 20  // bytes of names and values of one entry's attributes
	MaxACL        = 4096     // entries in one ACL
	MaxOwnerName  = 256      // bytes in a user or group name
	MaxExtents    = 4096     // extents in one ExtentsResp
)

// Attrs is an entry's metadata beyond its mode and mtime. In a scanned
// Entry it describes the entry, as far as the scan was asked (see Want);
// in an Op or a CommitReq it is what the receiver sets, the parts marked
// present only.
type Attrs struct {
	HasUid bool
	Uid    uint32
	HasGid bool
	Gid    uint32
	// User and Group name Uid and Gid on the sender's host, when it knows
	// them and was asked to (WantNames); the receiver maps them to its own
	// ids, falling back to the numbers for a name it does not know.
	User  string
	Group string

	// HasXattrs says Xattrs is the entry's complete set of extended
	// attributes in the user, trusted and security namespaces, sorted by
	// name; it may be empty.
	HasXattrs bool
	Xattrs    []Xattr

	// HasACL says ACL (and for a directory DefaultACL) are the entry's
	// POSIX ACLs; an empty ACL means none beyond the mode. Entries are
	// sorted by tag, then id.
	HasACL     bool
	ACL        []ACE
	DefaultACL []ACE
}

// IsZero reports whether a holds nothing.
func (a *Attrs) IsZero() bool {
	return !a.HasUid && !a.HasGid && a.User == "" && a.Group == "" &&
		!a.HasXattrs && len(a.Xattrs) == 0 && !a.HasACL && len(a.ACL) == 0 && len(a.DefaultACL) == 0
}

// Xattr is one extended attribute: its full name ("user.comment") and
// value.
type Xattr struct {
	Name  string
	Value []byte
}

// ACLTag is the kind of an ACL entry, with Linux's values.
type ACLTag uint8

// ACL entry tags.
const (
	ACLUserObj  ACLTag = 0x01 // the owner
	ACLUser     ACLTag = 0x02 // a named user
	ACLGroupObj ACLTag = 0x04 // the owning group
	ACLGroup    ACLTag = 0x08 // a named group
	ACLMask     ACLTag = 0x10
	ACLOther    ACLTag = 0x20
)

// ACE is one entry of a POSIX ACL. ID and Name are set for ACLUser and
// ACLGroup only: the user or group id on the sender's host and, with
// WantNames, its name there.
type ACE struct {
	Tag  ACLTag
	Perm uint8 // rwx as 4, 2, 1
	ID   uint32
	Name string
}

// Extent is a range of a file: Len bytes at Off.
type Extent struct {
	Off int64
	Len int64
}

// ExtentsReq asks where the regular file Path holds data from Off on, as
// SEEK_DATA and SEEK_HOLE tell: the rest of the file is holes, which
// read as zeros and need not be sent. Answered by ExtentsResp or a Result.
type ExtentsReq struct {
	Root uint32
	Path string
	Off  int64
}

// ExtentsResp answers ExtentsReq: the file's data extents at or after the
// requested offset, in order, at most MaxExtents; Next is where to ask
// again (Size once the list reaches the end of the file). Size and Mtime
// describe the file as in ReadResp. A file system without holes reports
// one extent up to Size.
type ExtentsResp struct {
	Size    int64
	Mtime   int64
	Next    int64
	Extents []Extent
}

// Hole says that Len bytes at Off of the file being created under the
// frame's id are zeros, a hole of the source: the receiver leaves them
// unwritten (but makes the file that long) and counts them as written.
// No response; errors surface at Commit.
type Hole struct {
	Off int64
	Len int64
}

func (*ExtentsReq) Kind() Kind  { return KindExtentsReq }
func (*ExtentsResp) Kind() Kind { return KindExtentsResp }
func (*Hole) Kind() Kind        { return KindHole }
