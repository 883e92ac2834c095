package workload

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func small() Spec {
	return Spec{FileBytes: 100_000, Dirs: 2, Subdirs: 3, Files: 4, MinFile: 10, MaxFile: 2000, Seed: 7}
}

func TestGenerateIsDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	fa, ta, err := Generate(a, small())
	if err != nil {
		t.Fatal(err)
	}
	fb, tb, err := Generate(b, small())
	if err != nil {
		t.Fatal(err)
	}
	if fa != fb || ta != tb {
		t.Errorf("two generations differ: %v / %v and %v / %v", fa, ta, fb, tb)
	}
	if fa.Files != 1 || fa.Bytes != 100_000 {
		t.Errorf("file digest %v, want one file of 100000 bytes", fa)
	}
	if ta.Files != small().TreeFiles() || ta.Dirs != 1+2+2*3 {
		t.Errorf("tree digest %v, want %d files in 9 dirs", ta, small().TreeFiles())
	}
	other := small()
	other.Seed++
	_, tc, err := Generate(t.TempDir(), other)
	if err != nil {
		t.Fatal(err)
	}
	if tc.Sum == ta.Sum {
		t.Error("another seed gave the same tree")
	}
}

func TestCheck(t *testing.T) {
	src := t.TempDir()
	_, tree, err := Generate(src, small())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		damage  func(t *testing.T, copyDir string)
		wantErr string
	}{
		{name: "intact copy", damage: func(*testing.T, string) {}},
		{name: "a file missing", damage: func(t *testing.T, d string) {
			must(t, os.Remove(filepath.Join(d, TreeName, "d01", "s02", "f003.bin")))
		}, wantErr: "got 23 files"},
		{name: "a byte changed", damage: func(t *testing.T, d string) {
			p := filepath.Join(d, TreeName, "d00", "s00", "f000.bin")
			b, err := os.ReadFile(p)
			must(t, err)
			b[0] ^= 1
			must(t, os.WriteFile(p, b, 0o644))
		}, wantErr: "sha256"},
		{name: "a stray temporary file", damage: func(t *testing.T, d string) {
			must(t, os.WriteFile(filepath.Join(d, ".tree.tmp"), nil, 0o644))
		}, wantErr: "want only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := t.TempDir()
			must(t, os.CopyFS(filepath.Join(dst, TreeName), os.DirFS(filepath.Join(src, TreeName))))
			tt.damage(t, dst)
			err := Check(dst, TreeName, tree)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Check: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Check: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
