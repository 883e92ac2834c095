package pool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/endpoint/local"
	"github.com/fcp-dev/fcp/internal/wire"
)

// mortal is an endpoint whose connection dies after `after` calls: every
// call from then on fails with endpoint.ErrClosed, as a cut connection's do.
type mortal struct {
	endpoint.Endpoint
	after int64
	calls atomic.Int64
}

func (m *mortal) dead() error {
	if m.after > 0 && m.calls.Add(1) > m.after {
		return fmt.Errorf("%w: connection lost: test cut", endpoint.ErrClosed)
	}
	return nil
}

func (m *mortal) Scan(ctx context.Context, rel string, opts endpoint.ScanOptions, fn func(*wire.Entry) error) error {
	return m.Endpoint.Scan(ctx, rel, opts, func(e *wire.Entry) error {
		if err := m.dead(); err != nil {
			return err
		}
		return fn(e)
	})
}

func (m *mortal) Read(ctx context.Context, rel string, off int64, n int) (endpoint.Chunk, error) {
	if err := m.dead(); err != nil {
		return endpoint.Chunk{}, err
	}
	return m.Endpoint.Read(ctx, rel, off, n)
}

func (m *mortal) CreateShared(ctx context.Context, rel string, size int64, share string, part bool) (endpoint.FileWriter, error) {
	if err := m.dead(); err != nil {
		return nil, err
	}
	w, err := m.Endpoint.CreateShared(ctx, rel, size, share, part)
	if err != nil {
		return nil, err
	}
	return &mortalWriter{FileWriter: w, m: m}, nil
}

type mortalWriter struct {
	endpoint.FileWriter
	m *mortal
}

func (w *mortalWriter) Write(ctx context.Context, off int64, data []byte, sum wire.Sum) error {
	if err := w.m.dead(); err != nil {
		return err
	}
	return w.FileWriter.Write(ctx, off, data, sum)
}

func (w *mortalWriter) Commit(ctx context.Context, size int64, mode uint32, mtime int64, attrs wire.Attrs) error {
	if err := w.m.dead(); err != nil {
		return err
	}
	return w.FileWriter.Commit(ctx, size, mode, mtime, attrs)
}

// members opens n endpoints of dir; afters[i] > 0 makes member i die
// after that many calls.
func members(t *testing.T, dir string, afters ...int64) *Endpoint {
	t.Helper()
	e := newEndpoint(dir, nil)
	for _, after := range afters {
		ep, err := local.Open(dir, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ep.Close() })
		e.add(&mortal{Endpoint: ep, after: after}, nil)
	}
	return e
}

// writeAll writes data through w in chunks of 64 KiB and commits it.
func writeAll(ctx context.Context, w endpoint.FileWriter, data []byte) error {
	const chunk = 64 << 10
	for off := 0; off < len(data); off += chunk {
		b := data[off:min(off+chunk, len(data))]
		if err := w.Write(ctx, int64(off), b, blake3.Sum256(b)); err != nil {
			return err
		}
	}
	return w.Commit(ctx, int64(len(data)), 0o644, 1e18, wire.Attrs{})
}

func TestSplitFile(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		afters  []int64
		wantErr error
	}{
		{name: "three healthy connections", afters: []int64{0, 0, 0}},
		{name: "one connection dies midway", afters: []int64{0, 40, 0}, wantErr: endpoint.ErrRetry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			e := members(t, dir, tc.afters...)
			data := make([]byte, SplitSize+12345)
			for i := range data {
				data[i] = byte(rand.IntN(256))
			}
			w, err := e.Create(ctx, "big", int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := w.(*split); !ok {
				t.Fatalf("Create gave a %T, want a split writer", w)
			}
			err = writeAll(ctx, w, data)
			w.Abort()
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("write = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if tc.wantErr == endpoint.ErrRetry && errors.Is(err, endpoint.ErrClosed) {
					t.Errorf("ErrRetry must not wrap ErrClosed: %v", err)
				}
				if _, err := os.Stat(filepath.Join(dir, "big")); !os.IsNotExist(err) {
					t.Errorf("failed file reached its final path: %v", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				got, _ := os.ReadFile(filepath.Join(dir, "big"))
				if !bytes.Equal(got, data) {
					t.Errorf("split file differs (%d vs %d bytes)", len(got), len(data))
				}
			}
			entries, _ := os.ReadDir(dir)
			for _, en := range entries {
				if strings.HasPrefix(en.Name(), ".fcp-") {
					t.Errorf("temporary file left: %s", en.Name())
				}
			}
		})
	}
}

func TestScanResumesOnAnotherConnection(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for i := range 300 {
		p := fmt.Sprintf("d%02d/f%03d", i/30, i)
		want = append(want, p)
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), nil, 0o644)
	}
	// The first scan goes to the second member (see pick), which dies.
	e := members(t, dir, 0, 100)
	var got []string
	err := e.Scan(context.Background(), ".", endpoint.ScanOptions{}, func(en *wire.Entry) error {
		if en.Type == wire.TypeFile {
			got = append(got, en.Path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("scan after failover gave %d entries, want %d, in order without repeats", len(got), len(want))
	}
	if n := len(e.live()); n != 1 {
		t.Errorf("%d live members, want 1", n)
	}
}

func TestReadAndApplyFailOver(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("content"), 0o644)
	e := members(t, dir, 1, 1, 0)
	for i := range 10 {
		c, err := e.Read(ctx, "f", 0, 100)
		if err != nil || string(c.Data) != "content" {
			t.Fatalf("read %d: %q, %v", i, c.Data, err)
		}
	}
	errs, err := e.Apply(ctx, []wire.Op{{Kind: wire.OpMkdir, Path: "d", Mode: 0o755}})
	if err != nil || errs[0] != nil {
		t.Fatalf("apply: %v %v", errs, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "d")); err != nil || !fi.IsDir() {
		t.Errorf("d: %v", err)
	}
}

func TestEveryConnectionLost(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("content"), 0o644)
	e := members(t, dir, 1, 1)
	// Each member answers one call, then its connection is gone.
	e.Read(ctx, "f", 0, 10)
	e.Read(ctx, "f", 0, 10)
	_, err := e.Read(ctx, "f", 0, 10)
	if !errors.Is(err, endpoint.ErrClosed) {
		t.Fatalf("Read with every connection dead = %v, want ErrClosed", err)
	}
	if _, err := e.Create(ctx, "g", 1); !errors.Is(err, endpoint.ErrClosed) {
		t.Fatalf("Create with every connection dead = %v, want ErrClosed", err)
	}
}

// TestSplitSparseFile writes a file with holes through three connections:
// data through every one, the holes through the committing one, which
// makes the file end where the last hole does.
func TestSplitSparseFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := members(t, dir, 0, 0, 0)
	const size = 4 * SplitSize
	w, err := e.Create(ctx, "sparse", size)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, ok := w.(*split); !ok {
		t.Fatalf("Create gave a %T, want a split writer", w)
	}
	block := bytes.Repeat([]byte{0x5a}, 64<<10)
	var want []byte
	for off := int64(0); off < size; off += SplitSize {
		if err := w.Write(ctx, off, block, blake3.Sum256(block)); err != nil {
			t.Fatal(err)
		}
		if err := w.Hole(ctx, off+int64(len(block)), SplitSize-int64(len(block))); err != nil {
			t.Fatal(err)
		}
		want = append(want, block...)
		want = append(want, make([]byte, SplitSize-len(block))...)
	}
	if err := w.Commit(ctx, size, 0o644, 1e18, wire.Attrs{}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "sparse"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("file differs (%d vs %d bytes): %v", len(got), len(want), err)
	}
}

func TestCapsOfFirstMember(t *testing.T) {
	e := members(t, t.TempDir(), 0, 0)
	if got, want := e.Caps(), e.members[0].ep.Caps(); got != want || got == 0 {
		t.Errorf("Caps = %#x, want %#x, not 0", got, want)
	}
	if got := newEndpoint("/", nil).Caps(); got != 0 {
		t.Errorf("Caps of an endpoint without members = %#x, want 0", got)
	}
}
