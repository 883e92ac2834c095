package transfer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/endpoint/local"
)

var epoch = time.Date(2020, 5, 6, 7, 8, 9, 10, time.UTC)

func write(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, epoch, epoch); err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, dir string) endpoint.Endpoint {
	t.Helper()
	ep, err := local.Open(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ep.Close() })
	return ep
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) errs() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, ev := range r.events {
		if ev.Action == ActError {
			out = append(out, ev)
		}
	}
	return out
}

// corrupting flips a byte of every chunk it reads, keeping the hash of the
// original data, as a fault on the path between reader and writer would.
type corrupting struct {
	endpoint.Endpoint
}

func (c corrupting) Read(ctx context.Context, rel string, off int64, n int) (endpoint.Chunk, error) {
	ch, err := c.Endpoint.Read(ctx, rel, off, n)
	if err == nil && len(ch.Data) > 0 {
		ch.Data = bytes.Clone(ch.Data)
		ch.Data[len(ch.Data)/2] ^= 0x40
	}
	return ch, err
}

// changing reports a new mtime for the first `times` reads of each file,
// as a file being written while it is copied would.
type changing struct {
	endpoint.Endpoint
	times int32
	n     atomic.Int32
}

func (c *changing) Read(ctx context.Context, rel string, off int64, n int) (endpoint.Chunk, error) {
	ch, err := c.Endpoint.Read(ctx, rel, off, n)
	if err == nil && c.n.Add(1) <= c.times {
		ch.Mtime += int64(c.n.Load())
	}
	return ch, err
}

// dying fails every call after the first `after` reads with ErrClosed, as
// a lost connection does.
type dying struct {
	endpoint.Endpoint
	after int32
	n     atomic.Int32
}

func (d *dying) Read(ctx context.Context, rel string, off int64, n int) (endpoint.Chunk, error) {
	if d.n.Add(1) > d.after {
		return endpoint.Chunk{}, endpoint.ErrClosed
	}
	return d.Endpoint.Read(ctx, rel, off, n)
}

func TestCorruptionIsDetected(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "small"), "small file")
	write(t, filepath.Join(src, "large"), strings.Repeat("0123456789abcdef", 300000))
	write(t, filepath.Join(dst, "large"), "old content stays")
	var rec recorder
	_, err := Run(context.Background(), open(t, dst), []Job{{Src: corrupting{open(t, src)}, SrcRel: ".", DestRel: "."}},
		Options{OnEvent: rec.add, ChunkSize: 64 << 10})
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("Run = %v, want ErrPartial", err)
	}
	errs := rec.errs()
	if len(errs) != 2 {
		t.Fatalf("got %d error events, want 2: %+v", len(errs), errs)
	}
	for _, ev := range errs {
		if !errors.Is(ev.Err, endpoint.ErrMismatch) {
			t.Errorf("%s: %v, want ErrMismatch", ev.Path, ev.Err)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "small")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("corrupt small file reached its final path: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "large")); string(b) != "old content stays" {
		t.Errorf("old file replaced by corrupt data: %.20q", b)
	}
	assertNoTemps(t, dst)
}

func TestSourceChangingWhileRead(t *testing.T) {
	tests := []struct {
		name    string
		times   int32
		wantErr error
	}{
		{name: "changes once then settles", times: 1},
		{name: "keeps changing", times: 1000, wantErr: endpoint.ErrChanged},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			write(t, filepath.Join(src, "f"), "content")
			var rec recorder
			_, err := Run(context.Background(), open(t, dst), []Job{{Src: &changing{Endpoint: open(t, src), times: tc.times}, SrcRel: ".", DestRel: "."}},
				Options{OnEvent: rec.add})
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if b, _ := os.ReadFile(filepath.Join(dst, "f")); string(b) != "content" {
					t.Errorf("got %q", b)
				}
				return
			}
			if !errors.Is(err, ErrPartial) || len(rec.errs()) != 1 || !errors.Is(rec.errs()[0].Err, tc.wantErr) {
				t.Fatalf("Run = %v, events %+v; want one %v", err, rec.errs(), tc.wantErr)
			}
			if _, err := os.Stat(filepath.Join(dst, "f")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("file written although it never held still: %v", err)
			}
			assertNoTemps(t, dst)
		})
	}
}

func TestLostConnectionStopsRun(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	for i := range 200 {
		write(t, filepath.Join(src, "d", strings.Repeat("x", i%7+1)+string(rune('a'+i%26))+time.Duration(i).String()), "data")
	}
	done := make(chan error, 1)
	go func() {
		_, err := Run(context.Background(), open(t, dst), []Job{{Src: &dying{Endpoint: open(t, src), after: 20}, SrcRel: ".", DestRel: "."}}, Options{Workers: 8})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, endpoint.ErrClosed) {
			t.Fatalf("Run = %v, want ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run hung after the connection died")
	}
	assertNoTemps(t, dst)
}

func TestDestinationSymlinkIsReplaced(t *testing.T) {
	src, dst, outside := t.TempDir(), t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "sub", "x"), "inside")
	if err := os.Symlink(outside, filepath.Join(dst, "sub")); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), open(t, dst), []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, Options{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(dst, "sub"))
	if err != nil || !fi.IsDir() {
		t.Fatalf("sub is %v, %v; want a real directory", fi, err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("wrote through the destination symlink: %v", entries)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "sub", "x")); string(b) != "inside" {
		t.Errorf("sub/x = %q", b)
	}
}

func TestReadOnlyDirectories(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "ro", "f"), "v1")
	os.Chmod(filepath.Join(src, "ro"), 0o555)
	os.Chtimes(filepath.Join(src, "ro"), epoch, epoch)
	t.Cleanup(func() { os.Chmod(filepath.Join(src, "ro"), 0o755); os.Chmod(filepath.Join(dst, "ro"), 0o755) })
	job := []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}
	if _, err := Run(context.Background(), open(t, dst), job, Options{}); err != nil {
		t.Fatal(err)
	}
	checkDir := func() {
		t.Helper()
		fi, err := os.Stat(filepath.Join(dst, "ro"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o555 || !fi.ModTime().Equal(epoch) {
			t.Errorf("ro: mode %v mtime %v, want 0555 and %v", fi.Mode().Perm(), fi.ModTime(), epoch)
		}
	}
	checkDir()
	// Updating a file inside the read-only destination directory works
	// and leaves the directory as it was.
	os.Chmod(filepath.Join(src, "ro"), 0o755)
	write(t, filepath.Join(src, "ro", "f"), "v2, longer")
	os.Chmod(filepath.Join(src, "ro"), 0o555)
	os.Chtimes(filepath.Join(src, "ro"), epoch, epoch)
	if _, err := Run(context.Background(), open(t, dst), job, Options{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "ro", "f")); string(b) != "v2, longer" {
		t.Errorf("ro/f = %q", b)
	}
	checkDir()
}

func TestDryRunChangesNothing(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "new"), "n")
	write(t, filepath.Join(src, "d", "changed"), "new content")
	write(t, filepath.Join(dst, "d", "changed"), "old")
	write(t, filepath.Join(dst, "gone"), "g")
	before := listTree(t, dst)
	var rec recorder
	st, err := Run(context.Background(), open(t, dst), []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}},
		Options{DryRun: true, Delete: true, OnEvent: rec.add})
	if err != nil {
		t.Fatal(err)
	}
	if st.Created != 1 || st.Updated != 1 || st.Deleted != 1 {
		t.Errorf("stats %+v, want 1 created, 1 updated, 1 deleted", st)
	}
	if after := listTree(t, dst); after != before {
		t.Errorf("dry run changed the destination:\n%s\nvs\n%s", before, after)
	}
}

func TestNoDeletionAfterSourceError(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "a"), "a")
	write(t, filepath.Join(dst, "keep"), "must survive")
	var rec recorder
	_, err := Run(context.Background(), open(t, dst), []Job{
		{Src: open(t, src), SrcRel: ".", DestRel: "."},
		{Src: open(t, src), SrcRel: "missing", DestRel: "."},
	}, Options{Delete: true, OnEvent: rec.add})
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("Run = %v, want ErrPartial", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "keep")); err != nil {
		t.Errorf("deleted although a source failed: %v", err)
	}
}

func TestChecksumMode(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "same"), "identical")
	write(t, filepath.Join(dst, "same"), "identical")
	os.Chtimes(filepath.Join(dst, "same"), epoch.Add(time.Hour), epoch.Add(time.Hour))
	write(t, filepath.Join(src, "differs"), "AAAA")
	write(t, filepath.Join(dst, "differs"), "BBBB") // same size and mtime
	st, err := Run(context.Background(), open(t, dst), []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, Options{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Updated != 1 || st.Meta != 1 || st.Bytes != 4 {
		t.Errorf("stats %+v, want one update of 4 bytes and one metadata fix", st)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "differs")); string(b) != "AAAA" {
		t.Errorf("differs = %q", b)
	}
	if fi, _ := os.Stat(filepath.Join(dst, "same")); !fi.ModTime().Equal(epoch) {
		t.Errorf("same: mtime %v not fixed", fi.ModTime())
	}
}

func TestTypeChanges(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "was-dir"), "now a file")
	write(t, filepath.Join(dst, "was-dir", "child", "deep"), "old")
	write(t, filepath.Join(src, "was-file", "child"), "now a dir")
	write(t, filepath.Join(dst, "was-file"), "old")
	write(t, filepath.Join(src, "was-link"), "now a file")
	os.Symlink("target", filepath.Join(dst, "was-link"))
	os.Symlink("somewhere", filepath.Join(src, "now-link"))
	write(t, filepath.Join(dst, "now-link"), "old file")
	for _, del := range []bool{false, true} {
		if _, err := Run(context.Background(), open(t, dst), []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, Options{Delete: del}); err != nil {
			t.Fatalf("delete=%v: %v", del, err)
		}
	}
	for p, want := range map[string]string{"was-dir": "now a file", "was-file/child": "now a dir", "was-link": "now a file"} {
		if b, err := os.ReadFile(filepath.Join(dst, p)); string(b) != want {
			t.Errorf("%s = %q, %v", p, b, err)
		}
	}
	if target, err := os.Readlink(filepath.Join(dst, "now-link")); target != "somewhere" {
		t.Errorf("now-link -> %q, %v", target, err)
	}
}

func assertNoTemps(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".fcp-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

func listTree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		data, _ := os.ReadFile(p)
		b.WriteString(p + " " + fi.Mode().String() + " " + fi.ModTime().String() + " " + string(data) + "\n")
		return nil
	})
	return b.String()
}
