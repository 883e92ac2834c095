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

func TestEdits(t *testing.T) {
	s := small()
	s.ChangeBytes, s.AppendBytes = 1000, 3000
	dir := t.TempDir()
	if _, _, err := Generate(dir, s); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	orig, err := os.ReadFile(path)
	must(t, err)
	fi, err := os.Stat(path)
	must(t, err)
	for _, tt := range []struct {
		name     string
		edit     func(string, Spec) (func() error, error)
		wantSize int64
	}{
		{"overwrite", Overwrite, s.FileBytes},
		{"append", Append, s.FileBytes + s.AppendBytes},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var edited [][]byte
			for range 2 {
				undo, err := tt.edit(path, s)
				must(t, err)
				b, err := os.ReadFile(path)
				must(t, err)
				edited = append(edited, b)
				efi, err := os.Stat(path)
				must(t, err)
				if int64(len(b)) != tt.wantSize || !efi.ModTime().After(fi.ModTime()) {
					t.Errorf("edited: %d bytes, mtime %v; want %d bytes, mtime after %v", len(b), efi.ModTime(), tt.wantSize, fi.ModTime())
				}
				must(t, undo())
				back, err := os.ReadFile(path)
				must(t, err)
				bfi, err := os.Stat(path)
				must(t, err)
				if string(back) != string(orig) || !bfi.ModTime().Equal(fi.ModTime()) {
					t.Errorf("undo left %d bytes (same: %v), mtime %v; want the original, mtime %v",
						len(back), string(back) == string(orig), bfi.ModTime(), fi.ModTime())
				}
			}
			if string(edited[0]) != string(edited[1]) {
				t.Error("two edits differ")
			}
			if string(edited[0]) == string(orig[:min(len(orig), len(edited[0]))]) {
				t.Error("the edit changed nothing")
			}
			switch tt.name {
			case "overwrite":
				off := s.OverwriteOffset()
				if string(edited[0][:off]) != string(orig[:off]) || string(edited[0][off+s.ChangeBytes:]) != string(orig[off+s.ChangeBytes:]) {
					t.Error("overwrite changed bytes outside its range")
				}
			case "append":
				if string(edited[0][:s.FileBytes]) != string(orig) {
					t.Error("append changed the old bytes")
				}
			}
		})
	}
}
