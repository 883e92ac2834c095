package shell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
	"github.com/zeebo/blake3"
)

func TestCommit(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		base := t.TempDir()
		dir, outside := filepath.Join(base, "dst"), filepath.Join(base, "outside")
		mkdirAll(t, base, "outside", 0o755)
		writeFile(t, filepath.Join(dir, "dir", "sub", "f"), "x", 0o644)
		symlink(t, outside, filepath.Join(dir, "link"))
		writeFile(t, filepath.Join(dir, "old"), "old", 0o644)
		ep, _ := openShell(t, kind, dir, Options{})

		tests := []struct {
			name, rel, content string
			mode               uint32
			want               error
		}{
			{"new", "new file\n$(touch pwned)", "hello", 0o640, nil},
			{"empty", "empty", "", 0o600, nil},
			{"replaces a file", "old", "new", 0o444, nil},
			{"replaces a directory", "dir", "was a directory", 0o644, nil},
			{"replaces a link to a directory", "link", "was a link", 0o755, nil},
			{"setuid", "suid", "s", 0o4755, nil},
			{"missing directory", "missing/f", "x", 0o644, fs.ErrNotExist},
			{"through a symlink", "link/f", "x", 0o644, endpoint.ErrInvalidPath},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := put(ep, tc.rel, tc.content, tc.mode, testMtime)
				if tc.want != nil {
					if !errors.Is(err, tc.want) {
						t.Fatalf("got %v, want %v", err, tc.want)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, tc.rel)
				if got := readFile(t, p); got != tc.content {
					t.Errorf("content %q, want %q", got, tc.content)
				}
				checkMeta(t, kind, p, fileMode(tc.mode), 0)
			})
		}
		checkEmpty(t, outside)
		ep.Close()
		checkNoLeftovers(t, dir)
	})
}

// fileMode returns the fs.FileMode of a regular file with mode bits m.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	return mode
}

func TestCommitLarge(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		dir := t.TempDir()
		ep, _ := openShell(t, kind, dir, Options{})
		ctx := context.Background()
		data := make([]byte, 3*memLimit+12345)
		rand.NewChaCha8([32]byte{1}).Read(data)
		w, err := ep.Create(ctx, "large", int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		// Out of order, to reach the temporary file early.
		const chunk = 300_000
		var offs []int
		for off := 0; off < len(data); off += chunk {
			offs = append(offs, off)
		}
		rand.Shuffle(len(offs), func(i, j int) { offs[i], offs[j] = offs[j], offs[i] })
		for _, off := range offs {
			b := data[off:min(off+chunk, len(data))]
			if err := w.Write(ctx, int64(off), b, blake3.Sum256(b)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Commit(ctx, int64(len(data)), 0o600, testMtime.UnixNano(), wire.Attrs{}); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "large"))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("content differs (%v)", err)
		}
	})
}

func TestCommitFailures(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		dir := t.TempDir()
		ep, _ := openShell(t, kind, dir, Options{})
		ctx := context.Background()

		t.Run("mismatch", func(t *testing.T) {
			w, _ := ep.Create(ctx, "mismatch", 5)
			if err := w.Write(ctx, 0, []byte("hello"), sum("HELLO")); !errors.Is(err, endpoint.ErrMismatch) {
				t.Errorf("Write: %v", err)
			}
			if err := w.Commit(ctx, 5, 0o644, 0, wire.Attrs{}); !errors.Is(err, endpoint.ErrMismatch) {
				t.Errorf("Commit: %v", err)
			}
			checkGone(t, filepath.Join(dir, "mismatch"))
		})
		t.Run("short", func(t *testing.T) {
			w, _ := ep.Create(ctx, "short", 10)
			w.Write(ctx, 0, []byte("hello"), sum("hello"))
			if err := w.Commit(ctx, 10, 0o644, 0, wire.Attrs{}); err == nil {
				t.Error("Commit of 5 bytes of 10 succeeded")
			}
			checkGone(t, filepath.Join(dir, "short"))
		})
		t.Run("aborted", func(t *testing.T) {
			w, _ := ep.Create(ctx, "aborted", 5)
			w.Write(ctx, 0, []byte("hello"), sum("hello"))
			w.Abort()
			w.Abort()
			if err := w.Commit(ctx, 5, 0o644, 0, wire.Attrs{}); !errors.Is(err, fs.ErrClosed) {
				t.Errorf("Commit after Abort: %v", err)
			}
			checkGone(t, filepath.Join(dir, "aborted"))
		})
		t.Run("cancelled", func(t *testing.T) {
			cctx, cancel := context.WithCancel(ctx)
			w, _ := ep.Create(cctx, "cancelled", 5)
			w.Write(cctx, 0, []byte("hello"), sum("hello"))
			cancel()
			if err := w.Commit(cctx, 5, 0o644, 0, wire.Attrs{}); !errors.Is(err, context.Canceled) {
				t.Errorf("Commit: %v", err)
			}
			checkGone(t, filepath.Join(dir, "cancelled"))
		})
		t.Run("no basis", func(t *testing.T) {
			w, _ := ep.Create(ctx, "nobasis", 5)
			defer w.Abort()
			if err := w.Copy(ctx, 0, 0, 5, sum("hello")); !errors.Is(err, endpoint.ErrMismatch) {
				t.Errorf("Copy: %v", err)
			}
			if err := w.Suspend(); err != nil {
				t.Errorf("Suspend: %v", err)
			}
		})
		t.Run("root", func(t *testing.T) {
			if _, err := ep.Create(ctx, ".", 0); !errors.Is(err, endpoint.ErrInvalidPath) {
				t.Errorf("Create .: %v", err)
			}
		})
		ep.Close()
		checkNoLeftovers(t, dir)
	})
}

// TestCommitConcurrent commits many files at once, which go in batches,
// and the same path from several writers.
func TestCommitConcurrent(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		dir := t.TempDir()
		ep, _ := openShell(t, kind, dir, Options{})
		errs, err := ep.Apply(context.Background(), []wire.Op{mkdirOp("a", 0o755), mkdirOp("b c", 0o755)})
		if err != nil || errs[0] != nil || errs[1] != nil {
			t.Fatal(err, errs)
		}
		var wg sync.WaitGroup
		const n = 300
		for i := range n {
			wg.Go(func() {
				rel := fmt.Sprintf("a/%d", i)
				if i%2 == 1 {
					rel = fmt.Sprintf("b c/%d\n", i)
				}
				if err := put(ep, rel, rel, 0o644, testMtime); err != nil {
					t.Error(err)
				}
				if err := put(ep, "same", "same", 0o644, testMtime); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for i := range n {
			rel := fmt.Sprintf("a/%d", i)
			if i%2 == 1 {
				rel = fmt.Sprintf("b c/%d\n", i)
			}
			if got := readFile(t, filepath.Join(dir, rel)); got != rel {
				t.Errorf("%q holds %q", rel, got)
			}
		}
		ep.Close()
		checkNoLeftovers(t, dir)
	})
}

// readerAtFunc is an io.ReaderAt made of a function.
type readerAtFunc func(p []byte, off int64) (int, error)

func (f readerAtFunc) ReadAt(p []byte, off int64) (int, error) { return f(p, off) }

// TestBatchVerdict sends a batch in which one commit is given up while
// its data is sent and another's data cannot be read: neither may appear,
// and the rest of the batch must.
func TestBatchVerdict(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		dir := t.TempDir()
		ep, _ := openShell(t, kind, dir, Options{})
		e := ep.(*shellEndpoint)
		newCommit := func(rel string, data io.ReaderAt) *commit {
			c := &commit{done: make(chan struct{})}
			c.item = stageItem{rel: rel, mode: 0o644, mtime: testMtime.UnixNano(), size: 5, data: data, skip: c.cancelled.Load}
			return c
		}
		good := newCommit("good", bytes.NewReader([]byte("hello")))
		var given *commit
		given = newCommit("given up", readerAtFunc(func(p []byte, off int64) (int, error) {
			given.cancelled.Store(true)
			return copy(p, "hello"[off:]), nil
		}))
		unreadable := newCommit("unreadable", readerAtFunc(func(p []byte, off int64) (int, error) {
			return 0, errors.New("disk on fire")
		}))
		e.commits.send([]*commit{given, good, unreadable})
		if good.err != nil {
			t.Errorf("good: %v", good.err)
		}
		if !errors.Is(given.err, context.Canceled) {
			t.Errorf("given up: %v", given.err)
		}
		if unreadable.err == nil {
			t.Error("unreadable: committed")
		}
		readFile(t, filepath.Join(dir, "good"))
		checkGone(t, filepath.Join(dir, "given up"))
		checkGone(t, filepath.Join(dir, "unreadable"))
		ep.Close()
		checkNoLeftovers(t, dir)
	})
}

// TestLongNames sends more long names at once than one command line
// holds, and the longest paths there are.
func TestLongNames(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		dir := t.TempDir()
		ep, _ := openShell(t, kind, dir, Options{})
		ctx := context.Background()
		// A path of about wire.MaxPath bytes, in directories of 250.
		var deep []wire.Op
		p := ""
		for len(p)+251*2 < wire.MaxPath-len(dir) {
			p = path.Join(p, strings.Repeat(string(rune('a'+len(deep))), 250))
			deep = append(deep, mkdirOp(p, 0o755))
		}
		errs, err := ep.Apply(ctx, deep)
		if err != nil {
			t.Fatal(err)
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("mkdir %d: %v", i, err)
			}
		}
		name := func(i int) string { return fmt.Sprintf("%03d%s", i, strings.Repeat("n", 240)) }
		var wg sync.WaitGroup
		for i := range 400 {
			wg.Go(func() {
				if err := put(ep, name(i), "x", 0o644, testMtime); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Go(func() {
			if err := put(ep, path.Join(p, "f"), "deep", 0o644, testMtime); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) != 401 {
			t.Fatalf("%d entries (%v)", len(ents), err)
		}
		var rm []wire.Op
		for i := range 400 {
			rm = append(rm, wire.Op{Kind: wire.OpRemove, Path: name(i)})
		}
		errs, err = ep.Apply(ctx, rm)
		if err != nil {
			t.Fatal(err)
		}
		for i, err := range errs {
			if err != nil {
				t.Errorf("remove %d: %v", i, err)
			}
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Errorf("%d entries left", len(ents))
		}
		ep.Close()
		checkNoLeftovers(t, dir)
	})
}

// TestHoles checks that holes become zeros of the file sent, in memory
// and spilled, and that the metadata the shell cannot keep is refused or
// ignored as Caps says.
func TestHoles(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		dir := t.TempDir()
		ep, _ := openShell(t, kind, dir, Options{})
		ctx := t.Context()
		tests := []struct {
			name string
			size int64
		}{
			{"in memory", memLimit / 2},
			{"spilled", 3 * memLimit},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				w, err := ep.Create(ctx, "f", tc.size)
				if err != nil {
					t.Fatal(err)
				}
				defer w.Abort()
				mid := tc.size / 2
				for _, err := range []error{
					w.Hole(ctx, 0, mid),
					w.Write(ctx, mid, []byte("x"), sum("x")),
					w.Hole(ctx, mid+1, tc.size-mid-1),
					w.Commit(ctx, tc.size, 0o644, testMtime.UnixNano(), wire.Attrs{HasUid: true, Uid: 1234}),
				} {
					if err != nil {
						t.Fatal(err)
					}
				}
				want := make([]byte, tc.size)
				want[mid] = 'x'
				if got := readFile(t, filepath.Join(dir, "f")); got != string(want) {
					t.Errorf("file of %d bytes differs", len(got))
				}
			})
		}
		if ep.Caps() != 0 {
			t.Errorf("Caps = %#x, want none", ep.Caps())
		}
		errs, err := ep.Apply(ctx, []wire.Op{{Kind: wire.OpLink, Path: "g", Target: "f"}, {Kind: wire.OpMknod, Path: "p", Type: wire.TypeFIFO}})
		if err != nil {
			t.Fatal(err)
		}
		for i, err := range errs {
			if !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("op %d: %v, want errors.ErrUnsupported", i, err)
			}
		}
	})
}
