package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/endpoint/local"
	"github.com/fcp-dev/fcp/internal/wire"
)

// conformance is the state a conformance step works on.
type conformance struct {
	host endpoint.Host
	dir  string            // absolute path of the root, not yet created
	ep   endpoint.Endpoint // the root, once opened
}

// rel returns p, an absolute path on the host, relative to the parent of
// the root, so that outcomes do not depend on the temporary directory.
func (c *conformance) rel(p string) string {
	return strings.TrimPrefix(p, filepath.Dir(c.dir)+"/")
}

// conformanceStep is one call, or a few, against a Host and its Endpoint.
// run describes the observable outcome; err must match want.
type conformanceStep struct {
	name string
	run  func(ctx context.Context, c *conformance) (string, error)
	want error // nil for success
}

// bigFile spans several reads and writes of chunkSize.
var bigFile = func() []byte {
	b := make([]byte, 3*chunkSize+1234)
	rand.NewChaCha8([32]byte{'f', 'c', 'p'}).Read(b)
	return b
}()

const chunkSize = 100_000

// writeChunks creates rel from data in chunks, returning the first error
// of Create, Write and Commit; sum, if not nil, replaces the true hash of
// every chunk.
func writeChunks(ctx context.Context, ep endpoint.Endpoint, rel string, data []byte, sum *wire.Sum, mtime int64) error {
	w, err := ep.Create(ctx, rel, int64(len(data)))
	if err != nil {
		return err
	}
	defer w.Abort()
	for off := 0; off < len(data); off += chunkSize {
		chunk := data[off:min(off+chunkSize, len(data))]
		s := blake3.Sum256(chunk)
		if sum != nil {
			s = *sum
		}
		if err := w.Write(ctx, int64(off), chunk, s); err != nil {
			return err
		}
	}
	return w.Commit(ctx, int64(len(data)), 0o640, mtime, wire.Attrs{})
}

// readAll reads rel in chunks and checks every chunk's hash.
func readAll(ctx context.Context, ep endpoint.Endpoint, rel string) ([]byte, error) {
	var all []byte
	for {
		c, err := ep.Read(ctx, rel, int64(len(all)), chunkSize)
		if err != nil {
			return all, err
		}
		if c.Sum != blake3.Sum256(c.Data) {
			return all, fmt.Errorf("chunk at %d: sum does not match", len(all))
		}
		all = append(all, c.Data...)
		if len(c.Data) < chunkSize {
			return all, nil
		}
	}
}

// scanList describes a scan: one line per entry, without the times the
// test does not set.
func scanList(ctx context.Context, ep endpoint.Endpoint, rel string, opts endpoint.ScanOptions) (string, error) {
	var b strings.Builder
	err := ep.Scan(ctx, rel, opts, func(e *wire.Entry) error {
		fmt.Fprintf(&b, "%s %v %#o %d", e.Path, e.Type, e.Mode, e.Size)
		if e.Type == wire.TypeFile {
			fmt.Fprintf(&b, " mtime=%d", e.Mtime)
		}
		if e.Target != "" {
			fmt.Fprintf(&b, " -> %s", e.Target)
		}
		if e.HasSum {
			fmt.Fprintf(&b, " sum=%x", e.Sum[:4])
		}
		b.WriteString("\n")
		return nil
	})
	return b.String(), err
}

// scanMeta is scanList with the metadata of version 4.
func scanMeta(ctx context.Context, ep endpoint.Endpoint, rel string, opts endpoint.ScanOptions) (string, error) {
	var b strings.Builder
	err := ep.Scan(ctx, rel, opts, func(e *wire.Entry) error {
		fmt.Fprintf(&b, "%s %v %#o nlink=%d link=%q sparse=%v rdev=%d xattrs=%v/%v acl=%v/%v\n",
			e.Path, e.Type, e.Mode, e.Nlink, e.Link, e.Sparse, e.Rdev, e.Attrs.HasXattrs, e.Attrs.Xattrs, e.Attrs.HasACL, e.Attrs.ACL)
		return nil
	})
	return b.String(), err
}

func applyOutcome(ctx context.Context, ep endpoint.Endpoint, ops []wire.Op) (string, error) {
	errs, err := ep.Apply(ctx, ops)
	if err != nil {
		return "", err
	}
	codes := make([]string, len(errs))
	for i, err := range errs {
		codes[i] = fmt.Sprint(endpoint.Code(err))
	}
	return "codes " + strings.Join(codes, ","), nil
}

var errStopScan = errors.New("stop the scan")

// conformanceSteps run in order against one Host; each step sees what
// the earlier ones left.
var conformanceSteps = []conformanceStep{
	{
		name: "stat missing root",
		run: func(ctx context.Context, c *conformance) (string, error) {
			st, err := c.host.Stat(ctx, c.dir)
			return fmt.Sprintf("%s exists=%v", c.rel(st.Abs), st.Exists), err
		},
	},
	{
		name: "open without create",
		run: func(ctx context.Context, c *conformance) (string, error) {
			_, err := c.host.Open(ctx, c.dir, false)
			return "", err
		},
		want: fs.ErrNotExist,
	},
	{
		name: "open with create",
		run: func(ctx context.Context, c *conformance) (string, error) {
			ep, err := c.host.Open(ctx, c.dir, true)
			c.ep = ep
			return "", err
		},
	},
	{
		name: "stat root",
		run: func(ctx context.Context, c *conformance) (string, error) {
			st, err := c.host.Stat(ctx, c.dir)
			return fmt.Sprintf("%s exists=%v type=%v", c.rel(st.Abs), st.Exists, st.Type), err
		},
	},
	{
		name: "apply",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return applyOutcome(ctx, c.ep, []wire.Op{
				{Kind: wire.OpMkdir, Path: "a", Mode: 0o755},
				{Kind: wire.OpMkdir, Path: "a/b", Mode: 0o755},
				{Kind: wire.OpSymlink, Path: "a/link", Target: "../elsewhere"},
				{Kind: wire.OpMkdir, Path: "gone", Mode: 0o755},
				{Kind: wire.OpRemove, Path: "gone"},
				{Kind: wire.OpSetMeta, Path: "a/b", Mode: 0o711, Mtime: 1_600_000_000_000_000_000},
				{Kind: wire.OpMkdir, Path: "../x", Mode: 0o755},
				{Kind: wire.OpMkdir, Path: "missing/c", Mode: 0o755},
				{Kind: wire.OpMkdir, Path: "a/link/c", Mode: 0o755},
			})
		},
	},
	{
		name: "apply nothing",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return applyOutcome(ctx, c.ep, nil)
		},
	},
	{
		name: "create small file",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return "", writeChunks(ctx, c.ep, "a/small", []byte("hello"), nil, 1_500_000_000_000_000_001)
		},
	},
	{
		name: "create multi-chunk file",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return "", writeChunks(ctx, c.ep, "a/b/big", bigFile, nil, 1_500_000_000_000_000_002)
		},
	},
	{
		name: "create empty file",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return "", writeChunks(ctx, c.ep, "empty", nil, nil, 1_500_000_000_000_000_003)
		},
	},
	{
		name: "create aborted file",
		run: func(ctx context.Context, c *conformance) (string, error) {
			w, err := c.ep.Create(ctx, "aborted", 3)
			if err != nil {
				return "", err
			}
			if err := w.Write(ctx, 0, []byte("abc"), blake3.Sum256([]byte("abc"))); err != nil {
				return "", err
			}
			if err := w.Abort(); err != nil {
				return "", err
			}
			return "", w.Abort()
		},
	},
	{
		name: "scan",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return scanList(ctx, c.ep, ".", endpoint.ScanOptions{})
		},
	},
	{
		name: "scan with hashes",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return scanList(ctx, c.ep, ".", endpoint.ScanOptions{Hash: true})
		},
	},
	{
		name: "scan subdirectory",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return scanList(ctx, c.ep, "a", endpoint.ScanOptions{})
		},
	},
	{
		name: "scan file",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return scanList(ctx, c.ep, "a/small", endpoint.ScanOptions{})
		},
	},
	{
		name: "scan stopped by fn",
		run: func(ctx context.Context, c *conformance) (string, error) {
			n := 0
			err := c.ep.Scan(ctx, ".", endpoint.ScanOptions{}, func(*wire.Entry) error {
				if n++; n == 3 {
					return errStopScan
				}
				return nil
			})
			return fmt.Sprintf("%d entries", n), err
		},
		want: errStopScan,
	},
	{
		name: "glob",
		run: func(ctx context.Context, c *conformance) (string, error) {
			matches, err := c.host.Glob(ctx, filepath.Join(c.dir, "a", "*"))
			for i := range matches {
				matches[i] = c.rel(matches[i])
			}
			return strings.Join(matches, " "), err
		},
	},
	{
		name: "read in chunks",
		run: func(ctx context.Context, c *conformance) (string, error) {
			data, err := readAll(ctx, c.ep, "a/b/big")
			return fmt.Sprintf("%d bytes, equal=%v", len(data), bytes.Equal(data, bigFile)), err
		},
	},
	{
		name: "read past the end",
		run: func(ctx context.Context, c *conformance) (string, error) {
			ch, err := c.ep.Read(ctx, "a/small", 3, 100)
			return fmt.Sprintf("%q size=%d mtime=%d", ch.Data, ch.Size, ch.Mtime), err
		},
	},
	{
		name: "read nothing",
		run: func(ctx context.Context, c *conformance) (string, error) {
			ch, err := c.ep.Read(ctx, "a/small", 0, 0)
			return fmt.Sprintf("%q size=%d sum=%x", ch.Data, ch.Size, ch.Sum[:4]), err
		},
	},
	{
		name: "replace with mismatched data",
		run: func(ctx context.Context, c *conformance) (string, error) {
			wrong := wire.Sum(blake3.Sum256([]byte("something else")))
			return "", writeChunks(ctx, c.ep, "a/small", []byte("HELLO"), &wrong, 0)
		},
		want: endpoint.ErrMismatch,
	},
	{
		name: "old file intact after mismatch",
		run: func(ctx context.Context, c *conformance) (string, error) {
			data, err := readAll(ctx, c.ep, "a/small")
			return string(data), err
		},
	},
	{
		name: "commit with wrong size",
		run: func(ctx context.Context, c *conformance) (string, error) {
			w, err := c.ep.Create(ctx, "a/small", 5)
			if err != nil {
				return "", err
			}
			defer w.Abort()
			if err := w.Write(ctx, 0, []byte("12345"), blake3.Sum256([]byte("12345"))); err != nil {
				return "", err
			}
			err = w.Commit(ctx, 6, 0o644, 0, wire.Attrs{})
			return fmt.Sprint(endpoint.Code(err)), err
		},
		want: errAny,
	},
	{
		name: "read invalid path",
		run: func(ctx context.Context, c *conformance) (string, error) {
			_, err := c.ep.Read(ctx, "../x", 0, 10)
			return "", err
		},
		want: endpoint.ErrInvalidPath,
	},
	{
		name: "create invalid path",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return "", writeChunks(ctx, c.ep, "../x", []byte("x"), nil, 0)
		},
		want: endpoint.ErrInvalidPath,
	},
	{
		name: "create the root",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return "", writeChunks(ctx, c.ep, ".", []byte("x"), nil, 0)
		},
		want: endpoint.ErrInvalidPath,
	},
	{
		name: "create through a symlink",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return "", writeChunks(ctx, c.ep, "a/link/f", []byte("x"), nil, 0)
		},
		want: endpoint.ErrInvalidPath,
	},
	{
		name: "scan invalid path",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return scanList(ctx, c.ep, "/etc", endpoint.ScanOptions{})
		},
		want: endpoint.ErrInvalidPath,
	},
	{
		name: "read missing file",
		run: func(ctx context.Context, c *conformance) (string, error) {
			_, err := c.ep.Read(ctx, "nope", 0, 10)
			return "", err
		},
		want: fs.ErrNotExist,
	},
	{
		name: "read directory",
		run: func(ctx context.Context, c *conformance) (string, error) {
			_, err := c.ep.Read(ctx, "a", 0, 10)
			return "", err
		},
		want: syscall.EISDIR,
	},
	{
		name: "scan missing path",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return scanList(ctx, c.ep, "nope", endpoint.ScanOptions{})
		},
		want: fs.ErrNotExist,
	},
	{
		name: "create in missing directory",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return "", writeChunks(ctx, c.ep, "nodir/f", []byte("x"), nil, 0)
		},
		want: fs.ErrNotExist,
	},
	{
		name: "caps",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return fmt.Sprintf("%#x", c.ep.Caps()), nil
		},
	},
	{
		name: "apply metadata",
		run: func(ctx context.Context, c *conformance) (string, error) {
			xattrs := wire.Attrs{HasXattrs: true, Xattrs: []wire.Xattr{{Name: "user.fcp", Value: []byte("conformance")}}}
			return applyOutcome(ctx, c.ep, []wire.Op{
				{Kind: wire.OpLink, Path: "a/biglink", Target: "a/b/big"},
				{Kind: wire.OpLink, Path: "a/biglink", Target: "a/b/big"},
				{Kind: wire.OpLink, Path: "a/dirlink", Target: "a/b"},
				{Kind: wire.OpLink, Path: "a/missinglink", Target: "a/nope"},
				{Kind: wire.OpMknod, Path: "a/fifo", Type: wire.TypeFIFO, Mode: 0o640, Mtime: 1_600_000_000_000_000_000},
				{Kind: wire.OpSetMeta, Path: "a/small", Mode: 0o600, Mtime: 1_500_000_000_000_000_001, Attrs: xattrs},
				{Kind: wire.OpSetMeta, Path: "a/b", Mode: 0o711, Mtime: 1_600_000_000_000_000_000, Attrs: xattrs},
				{Kind: wire.OpLink, Path: ".", Target: "a/small"},
			})
		},
	},
	{
		name: "scan metadata",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return scanMeta(ctx, c.ep, "a", endpoint.ScanOptions{Want: wire.WantLinks | wire.WantXattrs | wire.WantSpecials | wire.WantACL})
		},
	},
	{
		name: "scan without specials",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return scanMeta(ctx, c.ep, "a", endpoint.ScanOptions{})
		},
	},
	{
		name: "create sparse file",
		run: func(ctx context.Context, c *conformance) (string, error) {
			w, err := c.ep.Create(ctx, "sparse", 4<<20)
			if err != nil {
				return "", err
			}
			defer w.Abort()
			block := bytes.Repeat([]byte{7}, 4096)
			sum := blake3.Sum256(block)
			for _, err := range []error{
				w.Write(ctx, 0, block, sum),
				w.Hole(ctx, 4096, 2<<20-4096),
				w.Write(ctx, 2<<20, block, sum),
				w.Hole(ctx, 2<<20+4096, 2<<20-4096),
			} {
				if err != nil {
					return "", err
				}
			}
			return "", w.Commit(ctx, 4<<20, 0o644, 1_500_000_000_000_000_004, wire.Attrs{})
		},
	},
	{
		name: "extents",
		run: func(ctx context.Context, c *conformance) (string, error) {
			x, err := c.ep.Extents(ctx, "sparse", 0)
			return fmt.Sprintf("%v next=%d size=%d mtime=%d", x.List, x.Next, x.Size, x.Mtime), err
		},
	},
	{
		name: "extents from an offset",
		run: func(ctx context.Context, c *conformance) (string, error) {
			x, err := c.ep.Extents(ctx, "sparse", 4096)
			return fmt.Sprintf("%v next=%d", x.List, x.Next), err
		},
	},
	{
		name: "extents of a directory",
		run: func(ctx context.Context, c *conformance) (string, error) {
			_, err := c.ep.Extents(ctx, "a", 0)
			return "", err
		},
		want: syscall.EISDIR,
	},
	{
		name: "commit with an unsupported attribute",
		run: func(ctx context.Context, c *conformance) (string, error) {
			w, err := c.ep.Create(ctx, "unsupported", 1)
			if err != nil {
				return "", err
			}
			defer w.Abort()
			if err := w.Write(ctx, 0, []byte("x"), blake3.Sum256([]byte("x"))); err != nil {
				return "", err
			}
			err = w.Commit(ctx, 1, 0o644, 0, wire.Attrs{HasXattrs: true, Xattrs: []wire.Xattr{{Name: "nonamespace.x", Value: []byte("y")}}})
			data, rerr := readAll(ctx, c.ep, "unsupported")
			return fmt.Sprintf("%q %v", data, rerr), err
		},
		want: endpoint.ErrMetaUnsupported,
	},
	{
		name: "remove tree",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return applyOutcome(ctx, c.ep, []wire.Op{{Kind: wire.OpRemove, Path: "a"}})
		},
	},
	{
		name: "scan after remove",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return scanList(ctx, c.ep, ".", endpoint.ScanOptions{})
		},
	},
	{
		name: "close",
		run: func(ctx context.Context, c *conformance) (string, error) {
			return "", c.ep.Close()
		},
	},
	{
		name: "read after close",
		run: func(ctx context.Context, c *conformance) (string, error) {
			_, err := c.ep.Read(ctx, "empty", 0, 1)
			return "", err
		},
		want: endpoint.ErrClosed,
	},
}

// errAny as a step's want accepts any error.
var errAny = errors.New("any error")

// runConformance runs conformanceSteps against host and returns one line
// per step: its outcome and the wire code of its error.
func runConformance(t *testing.T, host endpoint.Host) []string {
	ctx := t.Context()
	c := &conformance{host: host, dir: filepath.Join(t.TempDir(), "root")}
	t.Cleanup(func() {
		if c.ep != nil {
			c.ep.Close()
		}
	})
	var transcript []string
	for _, step := range conformanceSteps {
		ok := t.Run(step.name, func(t *testing.T) {
			out, err := step.run(ctx, c)
			switch {
			case step.want == nil && err != nil:
				t.Errorf("error %v, want success", err)
			case step.want == errAny && err == nil:
				t.Errorf("success, want an error")
			case step.want != nil && step.want != errAny && !errors.Is(err, step.want):
				t.Errorf("error %v, want %v", err, step.want)
			}
			transcript = append(transcript, fmt.Sprintf("%s: %s [%v]", step.name, out, endpoint.Code(err)))
		})
		if !ok && c.ep == nil {
			t.Fatal("no endpoint to go on with")
		}
	}
	return transcript
}

// TestConformance runs the same steps against a local Host and Clients
// serving that Host over a pipe, with and without compression, and
// requires the same outcomes.
func TestConformance(t *testing.T) {
	targets := []struct {
		name string
		host func(t *testing.T) endpoint.Host
	}{
		{name: "local", host: func(*testing.T) endpoint.Host { return local.NewHost() }},
		{name: "remote", host: func(t *testing.T) endpoint.Host { return startSession(t, local.NewHost()).client }},
		{name: "remote compressed", host: func(t *testing.T) endpoint.Host {
			return startSessionWith(t, local.NewHost(), DialOptions{Compress: true}).client
		}},
	}
	transcripts := make([][]string, len(targets))
	for i, target := range targets {
		t.Run(target.name, func(t *testing.T) {
			transcripts[i] = runConformance(t, target.host(t))
		})
	}
	want := transcripts[0]
	for j, got := range transcripts[1:] {
		for i := range max(len(want), len(got)) {
			var w, g string
			if i < len(want) {
				w = want[i]
			}
			if i < len(got) {
				g = got[i]
			}
			if w != g {
				t.Errorf("step %d differs:\n%s: %s\n%s: %s", i, targets[0].name, w, targets[j+1].name, g)
			}
		}
	}
}
