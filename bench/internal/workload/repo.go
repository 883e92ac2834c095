package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// The random streams of the repository, beside those of Generate and the
// edits (0–4).
const (
	repoShapeStream = 10
	repoTextStream  = 11
)

// Branches of the repository GenerateRepo makes: the one checked out, and
// the other one.
const (
	BranchA = "main"
	BranchB = "other"
)

// RepoSpec describes a git repository of small text files with two
// branches, for the replication latency workload: BranchA holds
// TopDirs × SubDirs directories of Files files each, plus a README.md at
// the root; BranchB modifies Modified of those files, deletes Deleted
// (about half of them as whole directories) and adds Added (half in new
// directories, half beside existing files). The same spec always yields
// the same files and the same commits.
type RepoSpec struct {
	TopDirs, SubDirs, Files  int
	MinFile, MaxFile         int // bytes of text per file, uniform
	Modified, Deleted, Added int
	Seed                     uint64
}

// FullRepo is the repository of the full benchmark: 2,001 files, and a
// second branch that differs in 3,000 of them.
func FullRepo() RepoSpec {
	return RepoSpec{TopDirs: 20, SubDirs: 5, Files: 20, MinFile: 200, MaxFile: 8000,
		Modified: 1000, Deleted: 500, Added: 1500, Seed: 1}
}

// QuickRepo is the repository of -quick: the same 2,001 files, and a
// second branch that differs in 600.
func QuickRepo() RepoSpec {
	s := FullRepo()
	s.Modified, s.Deleted, s.Added = 200, 100, 300
	return s
}

// FilesA is the number of files on BranchA, FilesB on BranchB, and Differ
// the number of paths whose content differs between them.
func (s RepoSpec) FilesA() int { return s.TopDirs*s.SubDirs*s.Files + 1 }
func (s RepoSpec) FilesB() int { return s.FilesA() - s.Deleted + s.Added }
func (s RepoSpec) Differ() int { return s.Modified + s.Deleted + s.Added }

// repoPlan is what the two branches hold: path to content.
type repoPlan struct {
	a, b map[string]string
}

func (s RepoSpec) plan() (repoPlan, error) {
	n := s.TopDirs * s.SubDirs * s.Files
	if s.Modified+s.Deleted > n || s.Files <= 0 || s.SubDirs <= 0 || s.MinFile <= 0 || s.MaxFile < s.MinFile {
		return repoPlan{}, fmt.Errorf("repository spec %+v: inconsistent", s)
	}
	shape := rand.New(stream(s.Seed, repoShapeStream))
	text := rand.New(stream(s.Seed, repoTextStream))
	content := func(path string) string { return textFile(text, path, s.MinFile+text.IntN(s.MaxFile-s.MinFile+1)) }

	p := repoPlan{a: make(map[string]string), b: make(map[string]string)}
	p.a["README.md"] = content("README.md")
	type sub struct{ t, s int }
	var subs []sub
	var files []string // of BranchA, in order
	for t := range s.TopDirs {
		for sd := range s.SubDirs {
			subs = append(subs, sub{t, sd})
			for f := range s.Files {
				path := fmt.Sprintf("d%02d/s%02d/f%03d.txt", t, sd, f)
				p.a[path] = content(path)
				files = append(files, path)
			}
		}
	}
	for k, v := range p.a {
		p.b[k] = v
	}
	// Deletions: whole directories first, up to half of them, then single
	// files.
	deleted := make(map[string]bool)
	shape.Shuffle(len(subs), func(i, j int) { subs[i], subs[j] = subs[j], subs[i] })
	gone := 0 // subs[:gone] are deleted whole
	for _, d := range subs {
		if len(deleted)+s.Files > s.Deleted/2 || gone == len(subs)-1 {
			break
		}
		gone++
		for f := range s.Files {
			deleted[fmt.Sprintf("d%02d/s%02d/f%03d.txt", d.t, d.s, f)] = true
		}
	}
	order := slices.Clone(files)
	shape.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	rest := slices.DeleteFunc(order, func(f string) bool { return deleted[f] })
	for len(deleted) < s.Deleted {
		deleted[rest[0]] = true
		rest = rest[1:]
	}
	for f := range deleted {
		delete(p.b, f)
	}
	for _, f := range rest[:s.Modified] {
		p.b[f] = content(f)
	}
	// Additions: half in new directories, half beside existing files.
	inNew := s.Added / 2
	for i := range inNew {
		path := fmt.Sprintf("n%02d/s%02d/f%03d.txt", i/(s.SubDirs*s.Files), i/s.Files%s.SubDirs, i%s.Files)
		p.b[path] = content(path)
	}
	for i := range s.Added - inNew {
		stay := subs[gone:]
		d := stay[i%len(stay)]
		path := fmt.Sprintf("d%02d/s%02d/g%03d.txt", d.t, d.s, i/len(stay))
		p.b[path] = content(path)
	}
	return p, nil
}

// words are the vocabulary of the text files.
var words = strings.Fields(`func return if else for range var const type struct interface map string int
	error nil true false package import go defer select case switch default chan byte rune len cap append
	copy delete make new panic recover print println file path dir sync copy replicate watch change event`)

// textFile returns size bytes of lines of words, starting with a line that
// names path.
func textFile(r *rand.Rand, path string, size int) string {
	var b strings.Builder
	b.WriteString("// " + path + "\n")
	for b.Len() < size {
		n := 3 + r.IntN(10)
		for i := range n {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		b.WriteByte('\n')
	}
	return b.String()[:max(size, len(path)+4)]
}

// GenerateRepo makes dir (which must not exist) a git repository of spec
// with BranchA checked out and BranchB beside it. git's configuration of
// the machine and the user is not read, and the commits have fixed
// authors and dates, so their hashes are the same everywhere.
func GenerateRepo(ctx context.Context, dir string, spec RepoSpec) error {
	p, err := spec.plan()
	if err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	git := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), GitEnv()...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := git("init", "-q", "-b", BranchA); err != nil {
		return err
	}
	if err := writeFiles(dir, p.a, nil); err != nil {
		return err
	}
	if err := git("add", "-A"); err != nil {
		return err
	}
	if err := git("commit", "-q", "-m", "branch A"); err != nil {
		return err
	}
	if err := git("checkout", "-q", "-b", BranchB); err != nil {
		return err
	}
	if err := writeFiles(dir, p.b, p.a); err != nil {
		return err
	}
	if err := git("add", "-A"); err != nil {
		return err
	}
	if err := git("commit", "-q", "-m", "branch B"); err != nil {
		return err
	}
	return git("checkout", "-q", BranchA)
}

// GitEnv is the environment of the harness's git commands: no system or
// global configuration, a fixed author, committer and date.
func GitEnv() []string {
	return []string{
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=fcp bench", "GIT_AUTHOR_EMAIL=bench@fcp.invalid", "GIT_AUTHOR_DATE=2026-01-01T00:00:00Z",
		"GIT_COMMITTER_NAME=fcp bench", "GIT_COMMITTER_EMAIL=bench@fcp.invalid", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z",
	}
}

// writeFiles makes the tree under dir hold want, given that it holds have:
// it writes what differs and removes what want lacks (and the directories
// left empty).
func writeFiles(dir string, want, have map[string]string) error {
	for _, path := range slices.Sorted(mapKeys(want)) {
		if old, ok := have[path]; ok && old == want[path] {
			continue
		}
		full := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(want[path]), 0o644); err != nil {
			return err
		}
	}
	for _, path := range slices.Sorted(mapKeys(have)) {
		if _, ok := want[path]; ok {
			continue
		}
		if err := os.Remove(filepath.Join(dir, path)); err != nil {
			return err
		}
		os.Remove(filepath.Dir(filepath.Join(dir, path))) // fails unless empty
	}
	return nil
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
