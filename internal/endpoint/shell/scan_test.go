package shell

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/endpoint/local"
	"github.com/fcp-dev/fcp/internal/wire"
)

// scanAll returns the entries Scan reports.
func scanAll(ep endpoint.Endpoint, rel string, opts endpoint.ScanOptions) ([]wire.Entry, error) {
	var out []wire.Entry
	err := ep.Scan(context.Background(), rel, opts, func(en *wire.Entry) error {
		out = append(out, *en)
		return nil
	})
	return out, err
}

// TestScanMatchesLocal scans one tree through the shell and with the
// local endpoint: the entries must be the same, in the same order, but
// for mtimes beyond the shell's precision.
func TestScanMatchesLocal(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		dir := t.TempDir()
		makeTree(t, dir, treeOptions{mtime: testMtime})
		if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "deep", ".fcp-x.tmp"), "a temporary file of the local endpoint", 0o600)
		lep, err := local.Open(dir, false)
		if err != nil {
			t.Fatal(err)
		}
		defer lep.Close()
		for _, byStat := range []bool{false, true} {
			ep, _ := openShell(t, kind, dir, Options{scanByStat: byStat})
			for _, tc := range []struct {
				name, rel string
				rules     []string
			}{
				{"root", ".", nil},
				{"subtree", "deep/a", nil},
				{"file", "modes/0755", nil},
				{"symlink", "dir-link", nil},
				{"nasty subtree", nastyDir("new\nline"), nil},
				{"rules", ".", []string{"- /deep/", "- *.tmp", "- modes/0600"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					opts := endpoint.ScanOptions{Rules: tc.rules}
					got, err := scanAll(ep, tc.rel, opts)
					if err != nil {
						t.Fatal(err)
					}
					want, err := scanAll(lep, tc.rel, opts)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("got %d entries, want %d", len(got), len(want))
						for i := range max(len(got), len(want)) {
							var g, w wire.Entry
							if i < len(got) {
								g = got[i]
							}
							if i < len(want) {
								w = want[i]
							}
							if !reflect.DeepEqual(g, w) {
								t.Errorf("%d: got %+v\nwant %+v", i, g, w)
								break
							}
						}
					}
				})
			}
			ep.Close()
		}
	})
}

// TestScanRemovesDeadStaging checks that a scan removes the staging of a
// dead session it finds.
func TestScanRemovesDeadStaging(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		dir := t.TempDir()
		dead := filepath.Join(dir, "a", ".fcp-shell.0123456789abcdef")
		writeFile(t, filepath.Join(dead, "x"), "staging of a dead session", 0o600)
		writeFile(t, dead+".v", "its verdict", 0o600)
		ep, _ := openShell(t, kind, dir, Options{})
		ents, err := scanAll(ep, ".", endpoint.ScanOptions{})
		if err != nil || len(ents) != 2 {
			t.Errorf("scan: %+v, %v", ents, err)
		}
		checkNoLeftovers(t, dir)
	})
}

func TestScanErrors(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		base := t.TempDir()
		dir := filepath.Join(base, "dst")
		writeFile(t, filepath.Join(dir, "file"), "x", 0o644)
		writeFile(t, filepath.Join(base, "outside", "secret"), "x", 0o644)
		symlink(t, filepath.Join(base, "outside"), filepath.Join(dir, "link"))
		ep, _ := openShell(t, kind, dir, Options{})
		for _, tc := range []struct {
			rel  string
			want error
		}{
			{"missing", fs.ErrNotExist},
			{"missing/deeper", fs.ErrNotExist},
			{"link/secret", endpoint.ErrInvalidPath},
			{"file/x", endpoint.ErrInvalidPath},
			{"../x", endpoint.ErrInvalidPath},
		} {
			if _, err := scanAll(ep, tc.rel, endpoint.ScanOptions{}); !errors.Is(err, tc.want) {
				t.Errorf("scan %q: %v, want %v", tc.rel, err, tc.want)
			}
		}
		wantErr := errors.New("stop")
		n := 0
		err := ep.Scan(context.Background(), ".", endpoint.ScanOptions{}, func(*wire.Entry) error {
			n++
			return wantErr
		})
		if err != wantErr || n != 1 {
			t.Errorf("scan stopped by fn: %v after %d entries", err, n)
		}
		// Hashes cannot be had: entries come without.
		ents, err := scanAll(ep, "file", endpoint.ScanOptions{Hash: true})
		if err != nil || len(ents) != 1 || ents[0].HasSum {
			t.Errorf("scan with Hash: %+v, %v", ents, err)
		}
	})
}
