package workload

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func smallRepo() RepoSpec {
	return RepoSpec{TopDirs: 3, SubDirs: 4, Files: 5, MinFile: 50, MaxFile: 500, Modified: 10, Deleted: 14, Added: 9, Seed: 3}
}

func TestRepoPlan(t *testing.T) {
	s := smallRepo()
	p, err := s.plan()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.a) != s.FilesA() || len(p.b) != s.FilesB() {
		t.Errorf("branches hold %d and %d files, want %d and %d", len(p.a), len(p.b), s.FilesA(), s.FilesB())
	}
	var modified, deleted, added int
	for path, c := range p.a {
		switch b, ok := p.b[path]; {
		case !ok:
			deleted++
		case b != c:
			modified++
		}
		if !strings.HasPrefix(c, "// "+path+"\n") || len(c) < s.MinFile || len(c) > s.MaxFile {
			t.Errorf("%s: %d bytes starting %q", path, len(c), c[:min(len(c), 20)])
		}
	}
	for path := range p.b {
		if _, ok := p.a[path]; !ok {
			added++
		}
	}
	if modified != s.Modified || deleted != s.Deleted || added != s.Added {
		t.Errorf("modified %d, deleted %d, added %d; want %d, %d, %d", modified, deleted, added, s.Modified, s.Deleted, s.Added)
	}
	// Some directory goes away whole.
	dirsA, dirsB := map[string]bool{}, map[string]bool{}
	for path := range p.a {
		dirsA[filepath.Dir(path)] = true
	}
	for path := range p.b {
		dirsB[filepath.Dir(path)] = true
	}
	gone := 0
	for d := range dirsA {
		if !dirsB[d] {
			gone++
		}
	}
	if gone == 0 {
		t.Error("no directory of branch A is gone on branch B")
	}
	again, _ := s.plan()
	if !mapsEqual(p.a, again.a) || !mapsEqual(p.b, again.b) {
		t.Error("two plans of one spec differ")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestGenerateRepo(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	heads := func(dir string) string {
		out, err := exec.Command("git", "-C", dir, "rev-parse", BranchA, BranchB).Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	a, b := filepath.Join(t.TempDir(), "repo"), filepath.Join(t.TempDir(), "repo")
	for _, dir := range []string{a, b} {
		if err := GenerateRepo(context.Background(), dir, smallRepo()); err != nil {
			t.Fatal(err)
		}
	}
	if ha, hb := heads(a), heads(b); ha != hb {
		t.Errorf("two generations have different commits: %q, %q", ha, hb)
	}
	out, err := exec.Command("git", "-C", a, "diff", "--name-only", BranchA, BranchB).Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(string(out))); n != smallRepo().Differ() {
		t.Errorf("the branches differ in %d files, want %d", n, smallRepo().Differ())
	}
	st, err := exec.Command("git", "-C", a, "status", "--porcelain", "--branch").Output()
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(st)), "\n"); len(lines) != 1 || !slices.Contains(strings.Fields(lines[0]), BranchA) {
		t.Errorf("git status: %q, want a clean %s", st, BranchA)
	}
}
