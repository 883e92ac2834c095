package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

func lstat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// noticeLog collects notices.
type noticeLog struct {
	mu    sync.Mutex
	lines []string
}

func (n *noticeLog) add(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lines = append(n.lines, s)
}

func (n *noticeLog) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.lines, "\n")
}

// metaTree makes a source tree with what Options keeps beyond mode and
// mtime: three links of one file, extended attributes, an ACL, a FIFO and
// a sparse file of 64 MiB with 4 KiB of data.
func metaTree(t *testing.T, src string) {
	t.Helper()
	write(t, filepath.Join(src, "a"), "linked thrice")
	write(t, filepath.Join(src, "d", "other"), "not linked")
	check(t, os.Link(filepath.Join(src, "a"), filepath.Join(src, "d", "b")))
	check(t, os.Link(filepath.Join(src, "a"), filepath.Join(src, "z")))
	if err := unix.Setxattr(filepath.Join(src, "d", "other"), "user.colour", []byte("blue"), 0); err != nil {
		t.Skipf("no user extended attributes here: %v", err)
	}
	check(t, unix.Mkfifo(filepath.Join(src, "fifo"), 0o640))
	f, err := os.Create(filepath.Join(src, "sparse"))
	check(t, err)
	check(t, f.Truncate(64<<20))
	_, err = f.WriteAt(make([]byte, 4096), 8<<20)
	check(t, err)
	_, err = f.WriteAt([]byte("end"), 64<<20-3)
	check(t, err)
	check(t, f.Close())
	check(t, os.Chtimes(filepath.Join(src, "sparse"), epoch, epoch))
}

func TestRunMetadata(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	metaTree(t, src)
	o := Options{Metadata: Metadata{HardLinks: true, Xattrs: true, ACLs: true, Specials: true}}
	run := func(t *testing.T, o Options) (Stats, []Event) {
		t.Helper()
		var rec recorder
		o.OnEvent = rec.add
		st, err := Run(t.Context(), open(t, dst), []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, o)
		if err != nil {
			t.Fatalf("Run: %v (%+v)", err, rec.errs())
		}
		return st, rec.events
	}

	st, _ := run(t, o)
	a := lstat(t, filepath.Join(dst, "a"))
	for _, p := range []string{"d/b", "z"} {
		if lstat(t, filepath.Join(dst, p)).Ino != a.Ino {
			t.Errorf("%s is not linked to a", p)
		}
	}
	if a.Nlink != 3 {
		t.Errorf("a has %d links, want 3", a.Nlink)
	}
	buf := make([]byte, 64)
	if n, err := unix.Lgetxattr(filepath.Join(dst, "d", "other"), "user.colour", buf); err != nil || string(buf[:n]) != "blue" {
		t.Errorf("user.colour = %q, %v", buf[:max(n, 0)], err)
	}
	if p := lstat(t, filepath.Join(dst, "fifo")); p.Mode&unix.S_IFMT != unix.S_IFIFO || p.Mode&0o777 != 0o640 {
		t.Errorf("fifo: mode %#o", p.Mode)
	}
	sp := lstat(t, filepath.Join(dst, "sparse"))
	if sp.Size != 64<<20 || sp.Blocks*512 > 1<<20 {
		t.Errorf("sparse: size %d, %d bytes allocated", sp.Size, sp.Blocks*512)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "sparse")); len(b) != 64<<20 || string(b[len(b)-3:]) != "end" {
		t.Errorf("sparse content differs")
	}
	// The linked file once, the other small one, the sparse one's data:
	// two blocks.
	if want := int64(len("linked thrice") + len("not linked") + 2*4096); st.Bytes != want {
		t.Errorf("%d bytes sent, want %d", st.Bytes, want)
	}

	t.Run("no change", func(t *testing.T) {
		st, events := run(t, o)
		if st != (Stats{}) || len(events) != 0 {
			t.Errorf("re-run: %+v, events %+v", st, events)
		}
	})
	t.Run("attribute changed", func(t *testing.T) {
		check(t, unix.Setxattr(filepath.Join(src, "d", "other"), "user.colour", []byte("red"), 0))
		check(t, unix.Setxattr(filepath.Join(src, "a"), "user.new", []byte("1"), 0))
		st, events := run(t, o)
		if st.Meta != 2 || st.Bytes != 0 || st.Created+st.Updated != 0 {
			t.Errorf("re-run: %+v, events %+v", st, events)
		}
		if n, _ := unix.Lgetxattr(filepath.Join(dst, "d", "other"), "user.colour", buf); string(buf[:n]) != "red" {
			t.Errorf("user.colour = %q, want red", buf[:n])
		}
		if n, _ := unix.Lgetxattr(filepath.Join(dst, "z"), "user.new", buf); string(buf[:n]) != "1" {
			t.Errorf("user.new of a link of a = %q, want 1", buf[:n])
		}
	})
	t.Run("linked file changed", func(t *testing.T) {
		check(t, os.WriteFile(filepath.Join(src, "a"), []byte("changed, still linked"), 0o644))
		st, _ := run(t, o)
		if want := int64(len("changed, still linked")); st.Bytes != want {
			t.Errorf("%d bytes sent, want %d (once)", st.Bytes, want)
		}
		a := lstat(t, filepath.Join(dst, "a"))
		for _, p := range []string{"d/b", "z"} {
			if lstat(t, filepath.Join(dst, p)).Ino != a.Ino {
				t.Errorf("%s is not linked to the new a", p)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(dst, "z")); string(b) != "changed, still linked" {
			t.Errorf("z = %q", b)
		}
	})
	t.Run("link broken at the source", func(t *testing.T) {
		check(t, os.Remove(filepath.Join(src, "z")))
		write(t, filepath.Join(src, "z"), "on its own")
		run(t, o)
		if lstat(t, filepath.Join(dst, "z")).Ino == lstat(t, filepath.Join(dst, "a")).Ino {
			t.Error("z is still linked to a")
		}
		if b, _ := os.ReadFile(filepath.Join(dst, "z")); string(b) != "on its own" {
			t.Errorf("z = %q", b)
		}
	})
}

func TestRunSkipsSpecials(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "f"), "file")
	check(t, unix.Mkfifo(filepath.Join(src, "p1"), 0o600))
	check(t, unix.Mkfifo(filepath.Join(src, "p2"), 0o600))
	var notes noticeLog
	_, err := Run(t.Context(), open(t, dst), []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, Options{OnNotice: notes.add})
	check(t, err)
	if _, err := os.Lstat(filepath.Join(dst, "p1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("FIFO copied without Specials: %v", err)
	}
	if got := notes.String(); got != "skipped 2 FIFOs (--specials copies them)" {
		t.Errorf("notices %q", got)
	}
}

// capless is an endpoint that keeps no metadata, as a shell destination.
type capless struct{ endpoint.Endpoint }

func (capless) Caps() wire.Caps { return 0 }

func TestRunWithoutCaps(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	metaTree(t, src)
	var notes noticeLog
	var rec recorder
	o := Options{Metadata: Metadata{HardLinks: true, Xattrs: true, ACLs: true, Specials: true}, OnNotice: notes.add, OnEvent: rec.add}
	_, err := Run(t.Context(), capless{open(t, dst)}, []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, o)
	if err != nil {
		t.Fatalf("Run: %v %+v", err, rec.errs())
	}
	if lstat(t, filepath.Join(dst, "z")).Ino == lstat(t, filepath.Join(dst, "a")).Ino {
		t.Error("linked at a destination without CapLinks")
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "z")); string(b) != "linked thrice" {
		t.Errorf("z = %q", b)
	}
	for _, want := range []string{"hard links not kept", "extended attributes not kept", "ACLs not kept", "skipped 1 FIFO: the destination cannot make them"} {
		if !strings.Contains(notes.String(), want) {
			t.Errorf("notices %q lack %q", notes.String(), want)
		}
	}
}

// unsupporting fails every setting of extended attributes as a file
// system without them does: the entry is written, ErrMetaUnsupported
// returned.
type unsupporting struct{ endpoint.Endpoint }

func (u unsupporting) Create(ctx context.Context, rel string, size int64) (endpoint.FileWriter, error) {
	w, err := u.Endpoint.Create(ctx, rel, size)
	return unsupportingWriter{w}, err
}

type unsupportingWriter struct{ endpoint.FileWriter }

func (w unsupportingWriter) Commit(ctx context.Context, size int64, mode uint32, mtime int64, attrs wire.Attrs) error {
	if err := w.FileWriter.Commit(ctx, size, mode, mtime, wire.Attrs{}); err != nil || !attrs.HasXattrs {
		return err
	}
	return fmt.Errorf("commit: extended attributes not kept: %w", endpoint.ErrMetaUnsupported)
}

func TestRunMetaUnsupportedIsANotice(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "f1"), "one")
	write(t, filepath.Join(src, "f2"), "two")
	var notes noticeLog
	st, err := Run(t.Context(), unsupporting{open(t, dst)}, []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, Options{Metadata: Metadata{Xattrs: true}, OnNotice: notes.add})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st.Created != 2 || st.Errors != 0 {
		t.Errorf("stats %+v, want 2 created and no error", st)
	}
	if got := notes.String(); !strings.Contains(got, "for 2 entries") || strings.Count(got, "\n") != 0 {
		t.Errorf("notices %q, want one line about 2 entries", got)
	}
}

func TestRunSparseCorruptionIsDetected(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	metaTree(t, src)
	var rec recorder
	_, err := Run(t.Context(), open(t, dst), []Job{{Src: corrupting{open(t, src)}, SrcRel: "sparse", DestRel: "sparse"}}, Options{OnEvent: rec.add})
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("Run = %v, want ErrPartial", err)
	}
	if errs := rec.errs(); len(errs) != 1 || !errors.Is(errs[0].Err, endpoint.ErrMismatch) {
		t.Errorf("errors %+v, want one ErrMismatch", errs)
	}
	if _, err := os.Stat(filepath.Join(dst, "sparse")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("corrupt sparse file in place: %v", err)
	}
}

func TestRunOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	src := t.TempDir()
	write(t, filepath.Join(src, "f"), "owned")
	check(t, os.Lchown(filepath.Join(src, "f"), 4321, 0))
	check(t, os.Symlink("f", filepath.Join(src, "l")))
	check(t, os.Lchown(filepath.Join(src, "l"), 4322, 4323))
	tests := []struct {
		name     string
		o        Options
		uid, gid uint32
	}{
		{name: "neither", o: Options{}, uid: 0, gid: 0},
		{name: "owner", o: Options{Metadata: Metadata{Owner: true}}, uid: 4321, gid: 0},
		{name: "owner and group", o: Options{Metadata: Metadata{Owner: true, Group: true, NumericIDs: true}}, uid: 4321, gid: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := t.TempDir()
			_, err := Run(t.Context(), open(t, dst), []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, tt.o)
			check(t, err)
			if st := lstat(t, filepath.Join(dst, "f")); st.Uid != tt.uid || st.Gid != tt.gid {
				t.Errorf("f: %d:%d, want %d:%d", st.Uid, st.Gid, tt.uid, tt.gid)
			}
			if st := lstat(t, filepath.Join(dst, "l")); tt.o.Owner && st.Uid != 4322 {
				t.Errorf("symlink: uid %d, want 4322", st.Uid)
			}
		})
	}
}
