package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The metadata tests build a tree with everything -a keeps (owners and
// groups by number and by name, hard links, a sparse file of 10 GiB with
// 1 MiB of data, extended attributes in the user and trusted namespaces,
// ACLs made by setfacl, a FIFO, a character and a block device, a symlink
// with its own owner), copy it with fcp -a through a real sshd, push and
// pull, and compare every entry's metadata at the destination with the
// source's. They need root (owners, devices, trusted attributes) and the
// acl package's setfacl.

const (
	sparseSize = 10 << 30
	sparseData = 1 << 20
)

// needMetadataTools skips t unless it runs as root with setfacl, on a file
// system with extended attributes, ACLs and holes.
func needMetadataTools(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("metadata tests need root (owners, device nodes, trusted attributes); scripts/test.sh runs them as root")
	}
	if _, err := exec.LookPath("setfacl"); err != nil {
		t.Skip("setfacl missing (scripts/test.sh installs the acl package as root)")
	}
	p := filepath.Join(dir, "probe")
	must(t, os.WriteFile(p, nil, 0o644))
	defer os.Remove(p)
	if err := unix.Setxattr(p, "user.probe", []byte("1"), 0); err != nil {
		t.Skipf("no extended attributes in %s: %v", dir, err)
	}
	if out, err := exec.Command("setfacl", "-m", "u:nobody:r", p).CombinedOutput(); err != nil {
		t.Skipf("no ACLs in %s: %v: %s", dir, err, out)
	}
}

// run is a command the test needs to succeed.
func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %q: %v: %s", name, args, err, out)
	}
}

// metadataTree builds the tree described above under root.
func metadataTree(t *testing.T, root string) {
	t.Helper()
	base := time.Date(2022, 2, 3, 4, 5, 6, 789, time.UTC)
	writeFile(t, filepath.Join(root, "owned-by-number"), "1234:2345", 0o640, base)
	must(t, os.Chown(filepath.Join(root, "owned-by-number"), 1234, 2345))
	writeFile(t, filepath.Join(root, "owned-by-name"), "nobody:nogroup", 0o755, base)
	run(t, "chown", "nobody:nogroup", filepath.Join(root, "owned-by-name"))
	must(t, unix.Chmod(filepath.Join(root, "owned-by-name"), 0o4755)) // set-uid, which a chown clears

	writeFile(t, filepath.Join(root, "links", "first"), "one file, three names", 0o644, base)
	must(t, os.MkdirAll(filepath.Join(root, "links", "sub"), 0o755))
	must(t, os.Link(filepath.Join(root, "links", "first"), filepath.Join(root, "links", "sub", "second")))
	must(t, os.Link(filepath.Join(root, "links", "first"), filepath.Join(root, "zz-third")))
	writeFile(t, filepath.Join(root, "links", "pair-a"), "another, two names", 0o600, base)
	must(t, os.Link(filepath.Join(root, "links", "pair-a"), filepath.Join(root, "links", "pair-b")))

	f, err := os.Create(filepath.Join(root, "sparse.img"))
	must(t, err)
	must(t, f.Truncate(sparseSize))
	data := make([]byte, sparseData/2)
	for i := range data {
		data[i] = byte(i*131 + i>>9)
	}
	_, err = f.WriteAt(data, 3<<30)
	must(t, err)
	_, err = f.WriteAt(data, sparseSize-int64(len(data)))
	must(t, err)
	must(t, f.Close())
	must(t, os.Chtimes(filepath.Join(root, "sparse.img"), base, base))

	writeFile(t, filepath.Join(root, "xattrs"), "attributes", 0o644, base)
	must(t, unix.Lsetxattr(filepath.Join(root, "xattrs"), "user.colour", []byte("blue"), 0))
	must(t, unix.Lsetxattr(filepath.Join(root, "xattrs"), "user.binary", []byte{0, 1, 2, 0xff}, 0))
	must(t, unix.Lsetxattr(filepath.Join(root, "xattrs"), "trusted.fcp", []byte("root only"), 0))

	writeFile(t, filepath.Join(root, "acl", "file"), "ACL", 0o640, base)
	run(t, "setfacl", "-m", "u:nobody:rw,g:nogroup:r,u:1234:r", filepath.Join(root, "acl", "file"))
	run(t, "setfacl", "-m", "u:nobody:rwx", "-d", "-m", "g:nogroup:rx,u:4321:r", filepath.Join(root, "acl"))

	must(t, unix.Mkfifo(filepath.Join(root, "fifo"), 0o620))
	must(t, unix.Mknod(filepath.Join(root, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(t, unix.Mknod(filepath.Join(root, "block"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 200))))
	must(t, os.Symlink("owned-by-name", filepath.Join(root, "symlink")))
	must(t, os.Lchown(filepath.Join(root, "symlink"), 4321, 5432))
	must(t, os.Chown(filepath.Join(root, "links"), 777, 888))

	for _, p := range []string{"fifo", "null", "block", "acl/file", "xattrs"} {
		must(t, os.Chtimes(filepath.Join(root, p), base, base))
	}
	for _, d := range []string{"links/sub", "links", "acl", "."} {
		must(t, os.Chtimes(filepath.Join(root, d), base.Add(-time.Hour), base.Add(-time.Hour)))
	}
}

// meta is what the metadata tests compare of one entry.
type meta struct {
	mode     uint32 // type and permission bits
	uid, gid uint32
	mtime    int64 // not for symlinks
	rdev     uint64
	size     int64
	content  string // a digest of the data, holes skipped
	target   string
	xattrs   string // every extended attribute, ACLs included, sorted
	links    string // the other names of a file with several links
}

// metaSnapshot reads the metadata of every entry under root. A file's
// content is digested by data extent, so that a sparse file is read only
// where it has data.
func metaSnapshot(t *testing.T, root string) map[string]meta {
	t.Helper()
	out := map[string]meta{}
	byIno := map[uint64][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		m := meta{mode: st.Mode, uid: st.Uid, gid: st.Gid, mtime: st.Mtim.Nano(), rdev: st.Rdev, xattrs: xattrList(t, p)}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			m.target, _ = os.Readlink(p)
			m.mtime = 0
		case unix.S_IFREG:
			m.size = st.Size
			m.content = digest(t, p)
			if st.Nlink > 1 {
				byIno[st.Ino] = append(byIno[st.Ino], rel)
			}
		}
		out[rel] = m
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", root, err)
	}
	for _, names := range byIno {
		slices.Sort(names)
		for _, n := range names {
			m := out[n]
			m.links = strings.Join(names, " ")
			out[n] = m
		}
	}
	return out
}

// xattrList lists the extended attributes of p, not following a
// symlink.
func xattrList(t *testing.T, p string) string {
	t.Helper()
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		t.Fatalf("llistxattr %s: %v", p, err)
	}
	var names []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name != "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	val := make([]byte, 64<<10)
	for _, name := range names {
		n, err := unix.Lgetxattr(p, name, val)
		if err != nil {
			t.Fatalf("lgetxattr %s %s: %v", p, name, err)
		}
		fmt.Fprintf(&b, "%s=%x ", name, val[:n])
	}
	return b.String()
}

// digest hashes the data extents of the regular file p with their
// offsets.
func digest(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	must(t, err)
	defer f.Close()
	fi, err := f.Stat()
	must(t, err)
	h := sha256.New()
	for off := int64(0); off < fi.Size(); {
		data, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break
		}
		must(t, err)
		hole, err := unix.Seek(int(f.Fd()), data, unix.SEEK_HOLE)
		must(t, err)
		fmt.Fprintf(h, "@%d:", data)
		if _, err := io.Copy(h, io.NewSectionReader(f, data, hole-data)); err != nil {
			t.Fatal(err)
		}
		off = hole
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// sameMeta fails t where the trees at a and b differ in any entry's
// metadata.
func sameMeta(t *testing.T, a, b string) {
	t.Helper()
	sa, sb := metaSnapshot(t, a), metaSnapshot(t, b)
	var keys []string
	for k := range sa {
		keys = append(keys, k)
	}
	for k := range sb {
		if _, ok := sa[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		x, okA := sa[k]
		y, okB := sb[k]
		switch {
		case !okA || !okB:
			t.Errorf("%q only in one tree (source %v, copy %v)", k, okA, okB)
		case x != y:
			t.Errorf("%q differs:\nsource %+v\ncopy   %+v", k, x, y)
		}
	}
}

// allocated returns the bytes p occupies on disk.
func allocated(t *testing.T, p string) int64 {
	t.Helper()
	var st syscall.Stat_t
	must(t, syscall.Lstat(p, &st))
	return st.Blocks * 512
}

// jsonEvents returns the "file" events of --json output, as "action
// path".
func jsonEvents(t *testing.T, stdout string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(stdout, "\n") {
		var ev struct{ Event, Action, Path string }
		if line == "" || json.Unmarshal([]byte(line), &ev) != nil || ev.Event != "file" {
			continue
		}
		out = append(out, ev.Action+" "+ev.Path)
	}
	slices.Sort(out)
	return out
}

// TestMetadataOverSSH pushes and pulls the metadata tree with -a through
// fcp's SSH client and a real sshd (the far side is fcp's agent, as
// root), and checks every entry's metadata, the sparse file's allocation
// and the bytes sent; then that a re-run sends nothing and keeps it all,
// and that changes of metadata alone reach the copy.
func TestMetadataOverSSH(t *testing.T) {
	needMetadataTools(t, t.TempDir())
	s := startSSHD(t)
	flags := []string{"-p", strconv.Itoa(s.port), "-F", s.clientConf, "-a", "--json"}
	directions := []struct {
		name string
		args func(src, dst string) []string
	}{
		{"push", func(src, dst string) []string { return []string{src + "/", "127.0.0.1:" + dst} }},
		{"pull", func(src, dst string) []string { return []string{"127.0.0.1:" + src + "/", dst} }},
	}
	for _, dir := range directions {
		t.Run(dir.name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "src")
			dst := filepath.Join(t.TempDir(), "dst")
			metadataTree(t, src)
			copyMeta := func() result {
				t.Helper()
				return mustFcp(t, runOpts{}, append(slices.Clone(flags), dir.args(src, dst)...)...)
			}

			if m := metaSnapshot(t, src)["owned-by-name"]; m.mode&unix.S_ISUID == 0 || m.uid == 0 {
				t.Fatalf("the tree lacks a set-uid file of another owner: %+v", m)
			}

			r := copyMeta()
			sameMeta(t, src, dst)
			sm := parseSummary(t, r.stdout)
			if sm.Bytes > sparseData+64<<10 {
				t.Errorf("%d bytes sent, want about %d: the holes of the sparse file crossed", sm.Bytes, sparseData)
			}
			if got := allocated(t, filepath.Join(dst, "sparse.img")); got > 2*sparseData {
				t.Errorf("the sparse copy occupies %d bytes, want about %d", got, sparseData)
			}
			if r.stderr != "" {
				t.Errorf("stderr: %q", r.stderr)
			}

			r = copyMeta()
			if sm := parseSummary(t, r.stdout); sm.Files != 0 || sm.Bytes != 0 {
				t.Errorf("no-change re-run sent something: %+v", sm)
			}
			if ev := jsonEvents(t, r.stdout); len(ev) != 0 {
				t.Errorf("no-change re-run changed %q", ev)
			}
			sameMeta(t, src, dst)

			must(t, unix.Lsetxattr(filepath.Join(src, "xattrs"), "user.colour", []byte("red"), 0))
			must(t, unix.Lremovexattr(filepath.Join(src, "xattrs"), "user.binary"))
			must(t, os.Chown(filepath.Join(src, "owned-by-number"), 1235, 2346))
			must(t, os.Lchown(filepath.Join(src, "symlink"), 4000, 5000))
			run(t, "setfacl", "-x", "u:1234", filepath.Join(src, "acl", "file"))
			r = copyMeta()
			if sm := parseSummary(t, r.stdout); sm.Files != 0 || sm.Bytes != 0 {
				t.Errorf("re-run after metadata changes sent data: %+v", sm)
			}
			want := []string{"meta acl/file", "meta owned-by-number", "meta symlink", "meta xattrs"}
			if ev := jsonEvents(t, r.stdout); !slices.Equal(ev, want) {
				t.Errorf("re-run after metadata changes: %q, want %q", ev, want)
			}
			sameMeta(t, src, dst)
		})
	}
}

// TestMetadataDefaultsOverSSH copies the metadata tree without -a: mode
// and mtime are kept, holes too, but not owners, attributes, ACLs or hard
// links, and the FIFO and devices are skipped with one notice each.
func TestMetadataDefaultsOverSSH(t *testing.T) {
	needMetadataTools(t, t.TempDir())
	s := startSSHD(t)
	src := filepath.Join(t.TempDir(), "src")
	dst := filepath.Join(t.TempDir(), "dst")
	metadataTree(t, src)
	r := mustFcp(t, runOpts{}, "-p", strconv.Itoa(s.port), "-F", s.clientConf, src+"/", "127.0.0.1:"+dst)
	want := "fcp: skipped 1 FIFO (--specials copies them)\nfcp: skipped 2 device nodes (--devices copies them, as root at the destination)\n"
	if r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	sa, sb := metaSnapshot(t, src), metaSnapshot(t, dst)
	for _, p := range []string{"fifo", "null", "block"} {
		if _, ok := sb[p]; ok {
			t.Errorf("%s copied without -a", p)
		}
	}
	for _, p := range []string{"owned-by-number", "xattrs", "acl/file", "links/first"} {
		x, y := sa[p], sb[p]
		if y.mode&0o7777 != x.mode&0o7777 || y.mtime != x.mtime || y.content != x.content {
			t.Errorf("%s: mode, mtime or content not kept: %+v vs %+v", p, x, y)
		}
		if y.uid != 0 || y.links != "" || bytes.Contains([]byte(y.xattrs), []byte("user.")) || bytes.Contains([]byte(y.xattrs), []byte("posix_acl")) {
			t.Errorf("%s: metadata kept without -a: %+v", p, y)
		}
	}
	if got := allocated(t, filepath.Join(dst, "sparse.img")); got > 2*sparseData {
		t.Errorf("the sparse copy occupies %d bytes, want about %d", got, sparseData)
	}
}
