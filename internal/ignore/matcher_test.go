package ignore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// writeFiles creates files below root from a map of slash-separated paths
// to contents; a path ending in "/" is a directory.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// verdict is a query and its expected answer.
type verdict struct {
	path  string
	isDir bool
	want  bool
}

func checkVerdicts(t *testing.T, m *Matcher, vs []verdict) {
	t.Helper()
	for _, v := range vs {
		if got := m.Ignored(v.path, v.isDir); got != v.want {
			t.Errorf("Ignored(%q, %v) = %v, want %v", v.path, v.isDir, got, v.want)
		}
	}
}

func newMatcher(t *testing.T, root string, o Options) *Matcher {
	t.Helper()
	m, err := New(root, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestGitDir(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{".git/HEAD": "", "a/.git": "gitdir: nowhere\n", "b/.gitignore": ".git\n"})
	t.Run("ignored", func(t *testing.T) {
		checkVerdicts(t, newMatcher(t, root, Options{}), []verdict{
			{".git", true, true},
			{".git/HEAD", false, true},
			{"a/.git", false, true},
			{"a/.git", true, true},
			{"a/.gitx", false, false},
			{"a", true, false},
			{"", true, false},
		})
	})
	t.Run("IncludeGitDir", func(t *testing.T) {
		checkVerdicts(t, newMatcher(t, root, Options{IncludeGitDir: true}), []verdict{
			{".git", true, false},
			{".git/HEAD", false, false},
			{"a/.git", false, false},
			{"b/.git", false, true},
		})
	})
}

func TestAddFileAndForget(t *testing.T) {
	m := newMatcher(t, t.TempDir(), Options{NoLoad: true})
	checkVerdicts(t, m, []verdict{{"a.o", false, false}})
	m.AddFile("", []byte("*.o\n"))
	m.AddFile("a", []byte("!x.o\n"))
	checkVerdicts(t, m, []verdict{{"a.o", false, true}, {"a/x.o", false, false}, {"a/y.o", false, true}})
	m.AddFile("", []byte("*.o\na/\n"))
	checkVerdicts(t, m, []verdict{{"a", true, true}, {"a/x.o", false, true}})
	m.AddFile("", []byte("*.o\n"))
	checkVerdicts(t, m, []verdict{{"a/x.o", false, false}})
	m.Forget("a")
	checkVerdicts(t, m, []verdict{{"a/x.o", false, true}})
	m.Forget("")
	checkVerdicts(t, m, []verdict{{"a.o", false, false}})
	m.Forget("no/such/dir")
}

func TestForgetReloads(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{".gitignore": "a\n", "d/.gitignore": "b\n"})
	m := newMatcher(t, root, Options{})
	checkVerdicts(t, m, []verdict{{"a", false, true}, {"d/b", false, true}, {"d/e/b", false, true}})
	writeFiles(t, root, map[string]string{".gitignore": "c\n", "d/.gitignore": "!a\n"})
	// Cached until forgotten.
	checkVerdicts(t, m, []verdict{{"a", false, true}, {"d/b", false, true}})
	m.Forget("d")
	checkVerdicts(t, m, []verdict{{"d/b", false, false}, {"d/a", false, false}, {"a", false, true}})
	m.Forget("")
	checkVerdicts(t, m, []verdict{{"a", false, false}, {"c", false, true}, {"d/c", false, true}})
}

func TestDirEnter(t *testing.T) {
	m := newMatcher(t, t.TempDir(), Options{NoLoad: true})
	top := m.Dir("").Enter("x", []byte("*.o\nbuild/\n"))
	tests := []struct {
		dir   *Dir
		name  string
		isDir bool
		want  bool
	}{
		{top, "a.o", false, true},
		{top, "a.c", false, false},
		{top, "build", true, true},
		{top, "build", false, false},
		{top.Enter("src", []byte("!keep.o\n")), "keep.o", false, false},
		{top.Enter("src", nil), "keep.o", false, true},
		// Nothing in an ignored directory is re-included.
		{top.Enter("build", []byte("!*\n")), "a.c", false, true},
		{top.Enter("build", nil).Enter("sub", []byte("!*\n")), "a.c", false, true},
	}
	for _, tt := range tests {
		if got := tt.dir.Ignored(tt.name, tt.isDir); got != tt.want {
			t.Errorf("Dir(%q).Ignored(%q, %v) = %v, want %v", tt.dir.path, tt.name, tt.isDir, got, tt.want)
		}
	}
	m.AddFile("x", []byte("*.o\nbuild/\n"))
	if d := m.Dir("x/build/sub"); !d.Ignored("a", false) {
		t.Error("Dir below an ignored directory ignores nothing")
	}
}

func TestUnusableGitignore(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"rules": "a\n", "d/.gitignore/x": "", "e/.gitignore": "a\n"})
	if err := os.Symlink("rules", filepath.Join(root, ".gitignore")); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	m := newMatcher(t, root, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	checkVerdicts(t, m, []verdict{{"a", false, false}, {"d/a", false, false}, {"e/a", false, true}})
	if !strings.Contains(log.String(), "symbolic link") {
		t.Errorf("no warning about the symbolic link; log:\n%s", log.String())
	}
}

func TestNoRepository(t *testing.T) {
	root, home := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{".gitignore": "*.o\n"})
	writeFiles(t, home, map[string]string{".config/git/ignore": "*.tmp\n"})
	checkVerdicts(t, newMatcher(t, root, Options{Home: home}), []verdict{
		{"a.o", false, true}, {"a.tmp", false, true}, {"a.c", false, false},
	})
}

func TestLinkedWorktree(t *testing.T) {
	requireGit(t)
	dir := t.TempDir()
	env := gitEnv(t.TempDir(), "")
	env = append(env, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	main := filepath.Join(dir, "main")
	if err := os.Mkdir(main, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "-q", "--template="},
		{"commit", "-q", "--allow-empty", "-m", "x"},
		{"worktree", "add", "-q", "../wt"},
	} {
		if _, _, err := runGit(main, env, nil, nil, args...); err != nil {
			t.Fatal(err)
		}
	}
	writeFiles(t, main, map[string]string{".git/info/exclude": "*.x\n", ".git/config": "[core]\n\texcludesFile = ../excl\n"})
	writeFiles(t, dir, map[string]string{"excl": "*.y\n", "wt/a.x": "", "wt/a.y": "", "wt/a.z": ""})
	wt := filepath.Join(dir, "wt")
	ignored, err := gitCheckIgnore(wt, env, []string{"a.x", "a.y", "a.z"})
	if err != nil {
		t.Fatal(err)
	}
	m := newMatcher(t, wt, Options{})
	for _, p := range []string{"a.x", "a.y", "a.z"} {
		if got := m.Ignored(p, false); got != ignored[p] {
			t.Errorf("Ignored(%q) = %v, git says %v", p, got, ignored[p])
		}
	}
}

func TestNewErrors(t *testing.T) {
	t.Run("no root", func(t *testing.T) {
		_, err := New(filepath.Join(t.TempDir(), "nope"), Options{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("New: %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("excludes file is a directory", func(t *testing.T) {
		home := t.TempDir()
		writeFiles(t, home, map[string]string{".config/git/ignore/": ""})
		_, err := New(t.TempDir(), Options{Home: home})
		if !errors.Is(err, ErrConfig) {
			t.Errorf("New: %v, want ErrConfig", err)
		}
	})
	t.Run("excludes file below a file", func(t *testing.T) {
		home := t.TempDir()
		writeFiles(t, home, map[string]string{".config": "not a directory"})
		m, err := New(t.TempDir(), Options{Home: home})
		if err != nil {
			t.Fatalf("New: %v, want no error, as git ignores the file", err)
		}
		m.Close()
	})
	t.Run("bad gitfile", func(t *testing.T) {
		root := t.TempDir()
		writeFiles(t, root, map[string]string{".git": "nonsense\n"})
		_, err := New(root, Options{})
		if !errors.Is(err, ErrConfig) {
			t.Errorf("New: %v, want ErrConfig", err)
		}
	})
}

// TestConcurrent runs queries and Forget from several goroutines; with
// -race it checks the locking, and every answer must be the one a lone
// caller gets.
func TestConcurrent(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{".gitignore": "*.o\n!keep.o\nbuild/\n"}
	var paths []string
	for i := range 8 {
		d := fmt.Sprintf("d%d", i)
		files[d+"/.gitignore"] = fmt.Sprintf("x%d\n!*.o\n", i)
		for _, name := range []string{"a.o", "keep.o", "x0", "x1", "x5", "build/a", "e/x5"} {
			paths = append(paths, d+"/"+name)
		}
	}
	writeFiles(t, root, files)
	want := make(map[string]bool)
	lone := newMatcher(t, root, Options{})
	for _, p := range paths {
		want[p] = lone.Ignored(p, false)
	}
	m := newMatcher(t, root, Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				p := paths[(g*31+i)%len(paths)]
				if got := m.Ignored(p, false); got != want[p] {
					t.Errorf("Ignored(%q) = %v, want %v", p, got, want[p])
					return
				}
				switch i % 50 {
				case 0:
					m.Forget(fmt.Sprintf("d%d", g))
				case 25:
					d := m.Dir(fmt.Sprintf("d%d", g))
					_ = d.Enter("e", nil).Ignored("x5", false)
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkDirIgnored measures judging the entries of a directory three
// levels deep under typical .gitignore files.
func BenchmarkDirIgnored(b *testing.B) {
	m, err := New(b.TempDir(), Options{NoLoad: true})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	top := []byte("*.o\n*.a\n*.so\n/build/\nnode_modules/\n.DS_Store\n*~\n*.sw[op]\n/dist\ncoverage/\n**/tmp/**\n!important.o\n")
	d := m.Dir("").Enter("src", top).Enter("pkg", []byte("*.pb.go\n!keep.pb.go\n")).Enter("sub", nil)
	names := []string{"main.go", "main.o", "x.pb.go", "keep.pb.go", "tmp", "notes.txt~", "a.swp", "README"}
	b.ResetTimer()
	for i := range b.N {
		d.Ignored(names[i%len(names)], false)
	}
}
