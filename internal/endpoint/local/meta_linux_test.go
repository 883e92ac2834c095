package local

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// needRoot skips t unless the test runs as root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (owners, device nodes)")
	}
}

// needXattrs skips t unless the file system of dir takes user extended
// attributes.
func needXattrs(t *testing.T, dir string) {
	t.Helper()
	p := filepath.Join(dir, ".xattr-probe")
	writeFile(t, p, "", 0o644)
	defer os.Remove(p)
	if err := unix.Setxattr(p, "user.probe", []byte("1"), 0); err != nil {
		t.Skipf("no user extended attributes in %s: %v", dir, err)
	}
}

// stat returns the Lstat of p.
func stat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

// scanMap scans rel of e with opts and returns the entries by path.
func scanMap(t *testing.T, e endpoint.Endpoint, rel string, opts endpoint.ScanOptions) map[string]wire.Entry {
	t.Helper()
	out := map[string]wire.Entry{}
	err := e.Scan(t.Context(), rel, opts, func(en *wire.Entry) error {
		out[en.Path] = *en
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestACLForm(t *testing.T) {
	tests := []struct {
		name string
		acl  []wire.ACE
		want []wire.ACE // after a round trip; nil: none
	}{
		{
			name: "minimal is none",
			acl:  []wire.ACE{{Tag: wire.ACLUserObj, Perm: 7}, {Tag: wire.ACLGroupObj, Perm: 5}, {Tag: wire.ACLOther, Perm: 4}},
		},
		{
			name: "named entries sorted by tag and id",
			acl: []wire.ACE{
				{Tag: wire.ACLOther, Perm: 4}, {Tag: wire.ACLGroup, Perm: 1, ID: 9}, {Tag: wire.ACLUser, Perm: 6, ID: 1001},
				{Tag: wire.ACLUser, Perm: 2, ID: 7}, {Tag: wire.ACLMask, Perm: 7}, {Tag: wire.ACLUserObj, Perm: 7}, {Tag: wire.ACLGroupObj, Perm: 5},
			},
			want: []wire.ACE{
				{Tag: wire.ACLUserObj, Perm: 7}, {Tag: wire.ACLUser, Perm: 2, ID: 7}, {Tag: wire.ACLUser, Perm: 6, ID: 1001},
				{Tag: wire.ACLGroupObj, Perm: 5}, {Tag: wire.ACLGroup, Perm: 1, ID: 9}, {Tag: wire.ACLMask, Perm: 7}, {Tag: wire.ACLOther, Perm: 4},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseACL(formatACL(tt.acl))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("round trip: got %+v, want %+v", got, tt.want)
			}
		})
	}
	for _, bad := range [][]byte{nil, {1, 0, 0, 0}, {2, 0, 0, 0, 1}, append([]byte{2, 0, 0, 0}, 0x40, 0, 0, 0, 0, 0, 0, 0)} {
		if _, err := parseACL(bad); err == nil {
			t.Errorf("parseACL(%x) accepted it", bad)
		}
	}
}

func TestCapsFor(t *testing.T) {
	tests := []struct {
		name string
		euid int
		want wire.Caps
	}{
		{"root", 0, wire.CapOwner | wire.CapLinks | wire.CapSpecials | wire.CapDevices | wire.CapXattrs | wire.CapACL},
		{"user", 1000, wire.CapLinks | wire.CapSpecials | wire.CapXattrs | wire.CapACL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := capsFor(tt.euid); got != tt.want {
				t.Errorf("capsFor(%d) = %#x, want %#x", tt.euid, got, tt.want)
			}
		})
	}
}

func TestScanMetadata(t *testing.T) {
	e, dir := openTest(t)
	needXattrs(t, dir)
	writeFile(t, filepath.Join(dir, "a"), "linked", 0o644)
	mkdir(t, filepath.Join(dir, "d"))
	must(t, os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "d", "b")))
	must(t, os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "z")))
	writeFile(t, filepath.Join(dir, "single"), "one link", 0o600)
	must(t, unix.Setxattr(filepath.Join(dir, "single"), "user.b", []byte("2"), 0))
	must(t, unix.Setxattr(filepath.Join(dir, "single"), "user.a", []byte("1"), 0))
	acl := []wire.ACE{{Tag: wire.ACLUserObj, Perm: 7}, {Tag: wire.ACLUser, Perm: 6, ID: 0}, {Tag: wire.ACLGroupObj, Perm: 5}, {Tag: wire.ACLMask, Perm: 7}, {Tag: wire.ACLOther, Perm: 5}}
	must(t, unix.Setxattr(filepath.Join(dir, "d"), aclAccess, formatACL(acl), 0))
	must(t, unix.Setxattr(filepath.Join(dir, "d"), aclDefault, formatACL(acl), 0))
	must(t, unix.Mkfifo(filepath.Join(dir, "fifo"), 0o640))
	f, err := os.Create(filepath.Join(dir, "sparse"))
	must(t, err)
	must(t, f.Truncate(64<<20))
	_, err = f.WriteAt([]byte("data"), 32<<20)
	must(t, err)
	f.Close()
	writeFile(t, filepath.Join(dir, "dense"), string(make([]byte, 128<<10)), 0o644)

	t.Run("nothing wanted", func(t *testing.T) {
		got := scanMap(t, e, ".", endpoint.ScanOptions{})
		if _, ok := got["fifo"]; ok {
			t.Error("FIFO reported without WantSpecials")
		}
		for p, en := range got {
			if !en.Attrs.IsZero() || en.Nlink != 0 || en.Link != "" {
				t.Errorf("%s: metadata not asked for: %+v", p, en)
			}
		}
		if !got["sparse"].Sparse || got["dense"].Sparse || got["a"].Sparse {
			t.Errorf("sparse flags: sparse %v, dense %v, a %v; want true, false, false", got["sparse"].Sparse, got["dense"].Sparse, got["a"].Sparse)
		}
	})
	t.Run("everything wanted", func(t *testing.T) {
		got := scanMap(t, e, ".", endpoint.ScanOptions{Want: wire.WantOwner | wire.WantNames | wire.WantXattrs | wire.WantACL | wire.WantLinks | wire.WantSpecials})
		links := map[string]wire.Entry{"a": {Nlink: 3}, "d/b": {Nlink: 3, Link: "a"}, "z": {Nlink: 3, Link: "a"}, "single": {}}
		for p, w := range links {
			if g := got[p]; g.Nlink != w.Nlink || g.Link != w.Link {
				t.Errorf("%s: nlink %d link %q, want %d %q", p, g.Nlink, g.Link, w.Nlink, w.Link)
			}
		}
		wantX := []wire.Xattr{{Name: "user.a", Value: []byte("1")}, {Name: "user.b", Value: []byte("2")}}
		if g := got["single"].Attrs; !g.HasXattrs || !reflect.DeepEqual(g.Xattrs, wantX) {
			t.Errorf("xattrs of single: %v %+v, want %+v", g.HasXattrs, g.Xattrs, wantX)
		}
		named := slicesClone(acl)
		named[1].Name = "root"
		if g := got["d"].Attrs; !g.HasACL || !reflect.DeepEqual(g.ACL, named) || !reflect.DeepEqual(g.DefaultACL, named) {
			t.Errorf("ACLs of d: %+v / %+v, want %+v", g.ACL, g.DefaultACL, named)
		}
		if g := got["a"].Attrs; !g.HasACL || g.ACL != nil {
			t.Errorf("ACL of a: %v %+v, want none", g.HasACL, g.ACL)
		}
		st := stat(t, filepath.Join(dir, "a"))
		if g := got["a"].Attrs; !g.HasUid || g.Uid != st.Uid || !g.HasGid || g.Gid != st.Gid {
			t.Errorf("owner of a: %+v, want %d:%d", g, st.Uid, st.Gid)
		}
		if got["fifo"].Type != wire.TypeFIFO {
			t.Errorf("fifo: %+v", got["fifo"])
		}
		for p, en := range got {
			if err := en.Validate(); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
	})
	t.Run("links within a subtree", func(t *testing.T) {
		got := scanMap(t, e, "d", endpoint.ScanOptions{Want: wire.WantLinks})
		if g := got["b"]; g.Nlink != 3 || g.Link != "" {
			t.Errorf("d/b scanned alone: %+v, want the first of its links", g)
		}
	})
	t.Run("device", func(t *testing.T) {
		needRoot(t)
		must(t, unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		defer os.Remove(filepath.Join(dir, "null"))
		got := scanMap(t, e, "null", endpoint.ScanOptions{Want: wire.WantSpecials})
		if g := got["."]; g.Type != wire.TypeChar || g.Rdev != unix.Mkdev(1, 3) {
			t.Errorf("device: %+v", g)
		}
	})
}

func slicesClone[T any](s []T) []T { return append([]T(nil), s...) }

// commitWith writes rel through e with content and commits it with mode
// and attrs.
func commitWith(e endpoint.Endpoint, rel, content string, mode uint32, attrs wire.Attrs) error {
	ctx := context.Background()
	w, err := e.Create(ctx, rel, int64(len(content)))
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := w.Write(ctx, 0, []byte(content), sum(content)); err != nil {
		return err
	}
	return w.Commit(ctx, int64(len(content)), mode, testMtime.UnixNano(), attrs)
}

func TestCommitAttrs(t *testing.T) {
	e, dir := openTest(t)
	needXattrs(t, dir)
	t.Run("xattrs and ACL", func(t *testing.T) {
		acl := []wire.ACE{{Tag: wire.ACLUserObj, Perm: 6}, {Tag: wire.ACLUser, Perm: 4, ID: 4242}, {Tag: wire.ACLGroupObj, Perm: 4}, {Tag: wire.ACLMask, Perm: 6}, {Tag: wire.ACLOther, Perm: 0}}
		a := wire.Attrs{HasXattrs: true, Xattrs: []wire.Xattr{{Name: "user.k", Value: []byte("v")}}, HasACL: true, ACL: acl}
		must(t, commitWith(e, "f", "content", 0o660, a))
		p := filepath.Join(dir, "f")
		if v, err := getXattr(p, "user.k"); err != nil || string(v) != "v" {
			t.Errorf("user.k = %q, %v", v, err)
		}
		b, err := getXattr(p, aclAccess)
		must(t, err)
		if got, _ := parseACL(b); !reflect.DeepEqual(got, acl) {
			t.Errorf("ACL %+v, want %+v", got, acl)
		}
		if m := stat(t, p).Mode & 0o7777; m != 0o660 {
			t.Errorf("mode %#o, want 0660", m)
		}
	})
	t.Run("set meta replaces xattrs and removes the ACL", func(t *testing.T) {
		p := filepath.Join(dir, "f")
		must(t, unix.Setxattr(p, "user.old", []byte("x"), 0))
		a := wire.Attrs{HasXattrs: true, Xattrs: []wire.Xattr{{Name: "user.new", Value: nil}}, HasACL: true}
		errs, err := e.Apply(t.Context(), []wire.Op{{Kind: wire.OpSetMeta, Path: "f", Mode: 0o640, Mtime: testMtime.UnixNano(), Attrs: a}})
		must(t, err)
		must(t, errs[0])
		names, err := dirOf(t, e).listXattrs("f")
		must(t, err)
		if !reflect.DeepEqual(names, []string{"user.new"}) {
			t.Errorf("xattrs %q, want [user.new]", names)
		}
		if _, err := getXattr(p, aclAccess); !errors.Is(err, unix.ENODATA) {
			t.Errorf("ACL still there: %v", err)
		}
	})
	t.Run("unsupported attribute", func(t *testing.T) {
		a := wire.Attrs{HasXattrs: true, Xattrs: []wire.Xattr{{Name: "nonamespace.x", Value: []byte("1")}}}
		err := commitWith(e, "u", "kept", 0o644, a)
		if !errors.Is(err, endpoint.ErrMetaUnsupported) {
			t.Fatalf("commit: %v, want ErrMetaUnsupported", err)
		}
		if got := readFile(t, filepath.Join(dir, "u")); got != "kept" {
			t.Errorf("file %q, want it in place", got)
		}
		checkNoTemps(t, dir)
	})
	t.Run("owner left to a receiver that is not root", func(t *testing.T) {
		e, dir := openTest(t)
		e.(*dirEndpoint).caps &^= wire.CapOwner
		must(t, commitWith(e, "f", "x", 0o644, wire.Attrs{HasUid: true, Uid: 4321, HasGid: true, Gid: 8765}))
		if st := stat(t, filepath.Join(dir, "f")); st.Uid != uint32(os.Geteuid()) {
			t.Errorf("owner %d, want %d: the one writing", st.Uid, os.Geteuid())
		}
	})
	t.Run("owner before mode", func(t *testing.T) {
		needRoot(t)
		a := wire.Attrs{HasUid: true, Uid: 4321, HasGid: true, Gid: 8765}
		must(t, commitWith(e, "suid", "x", 0o4755, a))
		st := stat(t, filepath.Join(dir, "suid"))
		if st.Uid != 4321 || st.Gid != 8765 || st.Mode&0o7777 != 0o4755 {
			t.Errorf("owner %d:%d mode %#o, want 4321:8765 04755", st.Uid, st.Gid, st.Mode&0o7777)
		}
	})
	t.Run("owner by name", func(t *testing.T) {
		needRoot(t)
		a := wire.Attrs{HasUid: true, Uid: 4321, User: "root", HasGid: true, Gid: 8765, Group: "no such group, surely"}
		must(t, commitWith(e, "named", "x", 0o644, a))
		if st := stat(t, filepath.Join(dir, "named")); st.Uid != 0 || st.Gid != 8765 {
			t.Errorf("owner %d:%d, want 0 (root by name):8765 (unknown name, by number)", st.Uid, st.Gid)
		}
	})
	t.Run("symlink owner", func(t *testing.T) {
		needRoot(t)
		a := wire.Attrs{HasUid: true, Uid: 99, HasGid: true, Gid: 98}
		errs, err := e.Apply(t.Context(), []wire.Op{{Kind: wire.OpSymlink, Path: "l", Target: "f", Attrs: a}})
		must(t, err)
		must(t, errs[0])
		if st := stat(t, filepath.Join(dir, "l")); st.Uid != 99 || st.Gid != 98 {
			t.Errorf("symlink owner %d:%d, want 99:98", st.Uid, st.Gid)
		}
		if st := stat(t, filepath.Join(dir, "f")); st.Uid == 99 {
			t.Error("the symlink's target got its owner")
		}
	})
}

// getXattr returns the extended attribute name of p, not following a
// symlink.
func getXattr(p, name string) ([]byte, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// dirOf returns e's root directory.
func dirOf(t *testing.T, e endpoint.Endpoint) dir {
	t.Helper()
	return e.(*dirEndpoint).dirs.root.dir
}

func TestApplyLinkAndMknod(t *testing.T) {
	e, dir := openTest(t)
	writeFile(t, filepath.Join(dir, "f"), "data", 0o644)
	writeFile(t, filepath.Join(dir, "other"), "old", 0o644)
	mkdir(t, filepath.Join(dir, "d", "sub"))
	mtime := testMtime.UnixNano()
	steps := []struct {
		name    string
		op      wire.Op
		wantErr error
	}{
		{"link", wire.Op{Kind: wire.OpLink, Path: "g", Target: "f"}, nil},
		{"link again", wire.Op{Kind: wire.OpLink, Path: "g", Target: "f"}, nil},
		{"link over a file", wire.Op{Kind: wire.OpLink, Path: "other", Target: "f"}, nil},
		{"link over a directory", wire.Op{Kind: wire.OpLink, Path: "d", Target: "f"}, nil},
		{"link to a missing file", wire.Op{Kind: wire.OpLink, Path: "h", Target: "nope"}, fs.ErrNotExist},
		{"link to a symlink", wire.Op{Kind: wire.OpLink, Path: "h", Target: "sym"}, endpoint.ErrInvalidPath},
		{"link the root", wire.Op{Kind: wire.OpLink, Path: ".", Target: "f"}, endpoint.ErrInvalidPath},
		{"fifo", wire.Op{Kind: wire.OpMknod, Path: "p", Type: wire.TypeFIFO, Mode: 0o604, Mtime: mtime}, nil},
		{"fifo over a fifo", wire.Op{Kind: wire.OpMknod, Path: "p", Type: wire.TypeFIFO, Mode: 0o600, Mtime: mtime}, nil},
	}
	symlink(t, "f", filepath.Join(dir, "sym"))
	ops := make([]wire.Op, len(steps))
	for i, s := range steps {
		ops[i] = s.op
	}
	errs, err := e.Apply(t.Context(), ops)
	must(t, err)
	for i, s := range steps {
		if s.wantErr == nil && errs[i] != nil || s.wantErr != nil && !errors.Is(errs[i], s.wantErr) {
			t.Errorf("%s: %v, want %v", s.name, errs[i], s.wantErr)
		}
	}
	f := stat(t, filepath.Join(dir, "f"))
	for _, p := range []string{"g", "other", "d"} {
		if st := stat(t, filepath.Join(dir, p)); st.Ino != f.Ino {
			t.Errorf("%s is not a link of f", p)
		}
	}
	if f.Nlink != 4 {
		t.Errorf("f has %d links, want 4", f.Nlink)
	}
	p := stat(t, filepath.Join(dir, "p"))
	if p.Mode&unix.S_IFMT != unix.S_IFIFO || p.Mode&0o7777 != 0o600 || p.Mtim.Nano() != mtime {
		t.Errorf("fifo: mode %#o mtime %d", p.Mode, p.Mtim.Nano())
	}
	checkNoTemps(t, dir)

	t.Run("device", func(t *testing.T) {
		needRoot(t)
		dev := unix.Mkdev(1, 5)
		errs, err := e.Apply(t.Context(), []wire.Op{{Kind: wire.OpMknod, Path: "zero", Type: wire.TypeChar, Rdev: dev, Mode: 0o666, Mtime: mtime, Attrs: wire.Attrs{HasUid: true, Uid: 7, HasGid: true, Gid: 7}}})
		must(t, err)
		must(t, errs[0])
		st := stat(t, filepath.Join(dir, "zero"))
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != dev || st.Uid != 7 || st.Mode&0o7777 != 0o666 {
			t.Errorf("device: mode %#o rdev %#x uid %d", st.Mode, st.Rdev, st.Uid)
		}
	})
}

func TestHoles(t *testing.T) {
	e, dir := openTest(t)
	ctx := t.Context()
	data := bytes.Repeat([]byte{0xa5}, 4096)
	const size = 256 << 20
	w, err := e.Create(ctx, "sparse", size)
	must(t, err)
	must(t, w.Write(ctx, 0, data, sum(string(data))))
	must(t, w.Hole(ctx, 4096, 128<<20-4096))
	must(t, w.Write(ctx, 128<<20, data, sum(string(data))))
	must(t, w.Hole(ctx, 128<<20+4096, size-128<<20-4096))
	must(t, w.Commit(ctx, size, 0o644, testMtime.UnixNano(), wire.Attrs{}))
	st := stat(t, filepath.Join(dir, "sparse"))
	if st.Size != size || st.Blocks*512 > 1<<20 {
		t.Errorf("size %d, %d bytes allocated; want %d and a few blocks", st.Size, st.Blocks*512, size)
	}
	x, err := e.Extents(ctx, "sparse", 0)
	must(t, err)
	want := []wire.Extent{{Off: 0, Len: 4096}, {Off: 128 << 20, Len: 4096}}
	if !reflect.DeepEqual(x.List, want) || x.Next != size || x.Size != size {
		t.Errorf("extents %+v next %d size %d, want %+v next %d", x.List, x.Next, x.Size, want, size)
	}

	t.Run("hole errors stick", func(t *testing.T) {
		w, err := e.Create(ctx, "bad", 10)
		must(t, err)
		defer w.Abort()
		if err := w.Hole(ctx, -1, 10); !errors.Is(err, endpoint.ErrInvalidPath) {
			t.Errorf("Hole at -1: %v", err)
		}
		if err := w.Commit(ctx, 10, 0o644, 0, wire.Attrs{}); err == nil {
			t.Error("commit after a failed Hole succeeded")
		}
	})
	t.Run("holes short of the size", func(t *testing.T) {
		w, err := e.Create(ctx, "short", 100)
		must(t, err)
		defer w.Abort()
		must(t, w.Hole(ctx, 0, 50))
		if err := w.Commit(ctx, 100, 0o644, 0, wire.Attrs{}); err == nil {
			t.Error("commit of 50 bytes of 100 succeeded")
		}
	})
	t.Run("shared", func(t *testing.T) {
		main, err := e.CreateShared(ctx, "shared", size, "0123abcd", false)
		must(t, err)
		part, err := e.CreateShared(ctx, "shared", size, "0123abcd", true)
		must(t, err)
		must(t, part.Write(ctx, 1<<20, data, sum(string(data))))
		must(t, main.Hole(ctx, 1<<20+4096, size-1<<20-4096))
		must(t, main.Write(ctx, 0, data, sum(string(data))))
		must(t, part.Commit(ctx, 0, 0, 0, wire.Attrs{}))
		must(t, main.Commit(ctx, size, 0o644, 0, wire.Attrs{}))
		if st := stat(t, filepath.Join(dir, "shared")); st.Size != size || st.Blocks*512 > 1<<20 {
			t.Errorf("size %d, %d bytes allocated", st.Size, st.Blocks*512)
		}
	})
}

func TestExtentsPages(t *testing.T) {
	e, dir := openTest(t)
	f, err := os.Create(filepath.Join(dir, "holes"))
	must(t, err)
	const n = wire.MaxExtents + 10
	block := bytes.Repeat([]byte{1}, 4096)
	for i := range n {
		_, err := f.WriteAt(block, int64(i)*3*4096)
		must(t, err)
	}
	must(t, f.Truncate(n*3*4096))
	must(t, f.Close())
	var all []wire.Extent
	for off := int64(0); off < n*3*4096; {
		x, err := e.Extents(t.Context(), "holes", off)
		must(t, err)
		if len(x.List) > wire.MaxExtents || x.Next <= off {
			t.Fatalf("page at %d: %d extents, next %d", off, len(x.List), x.Next)
		}
		all = append(all, x.List...)
		off = x.Next
	}
	if len(all) != n {
		t.Skipf("%d extents for %d blocks: the file system merges or lacks holes", len(all), n)
	}
	for i, x := range all {
		if x.Off != int64(i)*3*4096 || x.Len != 4096 {
			t.Fatalf("extent %d: %+v", i, x)
		}
	}
}
