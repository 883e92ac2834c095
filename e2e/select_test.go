package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// files lists the regular files and symlinks under root, relative, sorted.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestSelection(t *testing.T) {
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	tree := []string{"main.go", "main.o", "lib/util.go", "lib/util.o", "build/out.bin", "src/build/x.go",
		".git/config", "my.git.txt", "docs/a b.md", "node_modules/m/index.js"}
	tests := []struct {
		name  string
		flags []string
		from  string // content of an --exclude-from file, if any
		want  []string
	}{
		{name: "no filter", want: tree},
		{name: "exclude globs, comma-separated", flags: []string{"--exclude", "*.o,build"},
			want: []string{".git/config", "docs/a b.md", "lib/util.go", "main.go", "my.git.txt", "node_modules/m/index.js"}},
		{name: "exclude repeated", flags: []string{"--exclude", ".git", "--exclude", "node_modules"},
			want: []string{"build/out.bin", "docs/a b.md", "lib/util.go", "lib/util.o", "main.go", "main.o", "my.git.txt", "src/build/x.go"}},
		{name: "exclude regexp", flags: []string{"--exclude", `\.(o|bin)$`},
			want: []string{".git/config", "docs/a b.md", "lib/util.go", "main.go", "my.git.txt", "node_modules/m/index.js", "src/build/x.go"}},
		{name: "include only go", flags: []string{"--include", "*.go"},
			want: []string{"lib/util.go", "main.go", "src/build/x.go"}},
		{name: "include and exclude", flags: []string{"--include", "*.go", "--exclude", "src"},
			want: []string{"lib/util.go", "main.go"}},
		{name: "exclude-from file", from: "# comment\n\n*.o\r\nnode_modules\n.git\n",
			want: []string{"build/out.bin", "docs/a b.md", "lib/util.go", "main.go", "my.git.txt", "src/build/x.go"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := t.TempDir()
			for _, f := range tree {
				writeFile(t, filepath.Join(src, f), f, 0o644, base)
			}
			dst := filepath.Join(t.TempDir(), "dst")
			flags := tc.flags
			if tc.from != "" {
				p := filepath.Join(t.TempDir(), "excludes")
				must(t, os.WriteFile(p, []byte(tc.from), 0o644))
				flags = append(flags, "--exclude-from", p)
			}
			mustFcp(t, runOpts{}, append(flags, src+"/", dst)...)
			want := append([]string(nil), tc.want...)
			sort.Strings(want)
			if got := files(t, dst); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("copied %q\nwant   %q", got, want)
			}
			// --delete leaves excluded destination files alone.
			if len(tc.flags) > 0 || tc.from != "" {
				writeFile(t, filepath.Join(dst, "main.o"), "excluded or not", 0o644, base)
				mustFcp(t, runOpts{}, append(append([]string{"--delete"}, flags...), src+"/", dst)...)
				if _, err := os.Stat(filepath.Join(dst, "main.o")); err != nil {
					t.Errorf("--delete removed a file its filter hides: %v", err)
				}
			}
		})
	}
}

func TestDryRunListsAndChangesNothing(t *testing.T) {
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a.txt"), "a", 0o644, base)
	writeFile(t, filepath.Join(src, "d", "b.txt"), "b", 0o644, base)
	dst := filepath.Join(t.TempDir(), "dst")
	r := mustFcp(t, runOpts{}, "--dry-run", src+"/", dst)
	for _, want := range []string{"a.txt", "d/", "d/b.txt"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, r.stdout)
		}
	}
	if _, err := os.Lstat(dst); !os.IsNotExist(err) {
		t.Errorf("dry run created the destination: %v", err)
	}
}
