package e2e

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests in this file run `fcp replicate`: an initial replication, then
// every change applied as it happens, until SIGINT. Each step waits until
// the copy equals the source (bytes, modes, link targets and the mtimes of
// files and directories) and fails with the differences after a timeout.

// convergeLimit is how long a copy may take to catch up with its source
// once the source stops changing.
const convergeLimit = 10 * time.Second

// replicaOpts adjusts startReplica.
type replicaOpts struct {
	flags []string      // flags before the operands
	conn  []string      // CONNECTION_COMMAND; "sh" when empty
	skip  []string      // source paths (and what is below) the copy must not hold, besides .git
	home  string        // HOME for fcp; a new directory when empty
	cache string        // the agents' executables lie below it; home when empty, "-" when out of sight
	limit time.Duration // for the initial replication; convergeLimit when zero

	// read reads the copy at dst; the local file system when nil.
	read func(dst string) (map[string]node, error)
	// tempsApart leaves fcp's temporary files (".fcp-*") in the copy out
	// of the comparison; stop still fails the test if any is left.
	tempsApart bool
	// shellMode expects the shell-only mode (sh and tar), not the agent.
	shellMode bool
	// seconds compares mtimes to the second (busybox's tar keeps no more).
	seconds bool
}

// replica is `fcp replicate` running in the background.
type replica struct {
	p        *fcpProc
	o        replicaOpts
	src, dst string // dst is DEST_PARENT_DIR/basename(src)
}

// startReplica starts `fcp replicate FLAGS src parent -- CONNECTION_COMMAND`
// and waits until the initial replication has made the copy equal src.
func startReplica(t *testing.T, src, parent string, o replicaOpts) *replica {
	t.Helper()
	if len(o.conn) == 0 {
		o.conn = []string{"sh"}
	}
	if o.home == "" {
		o.home = t.TempDir()
		os.Chmod(o.home, 0o777)
	}
	if o.cache == "" {
		o.cache = o.home
	}
	if o.read == nil {
		o.read = func(dst string) (map[string]node, error) { return readTree(dst, nil) }
	}
	if o.limit == 0 {
		o.limit = convergeLimit
	}
	args := append([]string{"replicate"}, o.flags...)
	args = append(append(args, src, parent, "--"), o.conn...)
	start := time.Now()
	r := &replica{p: startFcp(t, runOpts{home: o.home}, args...), o: o, src: src, dst: parent + "/" + filepath.Base(src)}
	r.convergeWithin(t, o.limit)
	t.Logf("initial replication through %q done in %v", strings.Join(o.conn, " "), time.Since(start).Round(time.Millisecond))
	return r
}

// converge waits until the copy equals the source, failing the test with
// the differences after convergeLimit or if fcp ends first.
func (r *replica) converge(t *testing.T) {
	t.Helper()
	r.convergeWithin(t, convergeLimit)
}

func (r *replica) convergeWithin(t *testing.T, limit time.Duration) {
	t.Helper()
	var diffs []string
	for deadline := time.Now().Add(limit); ; {
		diffs = r.diff()
		if len(diffs) == 0 {
			return
		}
		if r.p.exited() {
			res := r.p.wait(t, 0)
			t.Fatalf("fcp replicate ended (exit %d) before the copy caught up:\n%s\nstderr:\n%s",
				res.code, strings.Join(diffs, "\n"), res.stderr)
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the copy %s differs from %s after %v:\n%s\nstderr so far:\n%s",
		r.dst, r.src, limit, strings.Join(diffs, "\n"), tail(r.p.stderr.String(), 40))
}

// diff returns the differences between the source and the copy, or why
// one could not be read.
func (r *replica) diff() []string {
	a, err := readTree(r.src, append([]string{".git"}, r.o.skip...))
	if err != nil {
		return []string{"reading the source: " + err.Error()}
	}
	b, err := r.o.read(r.dst)
	if err != nil {
		return []string{"reading the copy: " + err.Error()}
	}
	if r.o.tempsApart {
		maps.DeleteFunc(b, func(rel string, _ node) bool { return isTemp(rel) })
	}
	if r.o.seconds {
		for _, m := range []map[string]node{a, b} {
			for rel, n := range m {
				n.mtime -= n.mtime % 1e9
				m[rel] = n
			}
		}
	}
	return treeDiffs(a, b)
}

// stop interrupts fcp and checks that it ends with exit code 0, that no
// temporary file is left in the copy, that no agent still runs, and that
// fcp said only what it should. It returns what fcp showed the user.
func (r *replica) stop(t *testing.T) result {
	t.Helper()
	if !r.p.signal(syscall.SIGINT) {
		t.Errorf("fcp replicate had ended before SIGINT")
	}
	start := time.Now()
	res := r.p.wait(t, 15*time.Second)
	t.Logf("fcp replicate ended %v after SIGINT", time.Since(start).Round(time.Millisecond))
	if res.code != 0 {
		t.Errorf("fcp replicate exited %d after SIGINT, want 0; stderr:\n%s", res.code, tail(res.stderr, 40))
	}
	if b, err := r.o.read(r.dst); err != nil {
		t.Errorf("reading the copy: %v", err)
	} else {
		for rel := range b {
			if strings.HasPrefix(filepath.Base(rel), ".fcp-") {
				t.Errorf("temporary file left in the copy: %q", rel)
			}
		}
	}
	mode := "fcp replicate: replicating to " + r.dst + " through fcp's agent (" + strings.Join(r.o.conn, " ") + ")\n"
	if r.o.shellMode {
		mode = "fcp replicate: replicating to " + r.dst + " through sh and tar (" + strings.Join(r.o.conn, " ") + "): "
	}
	if n := strings.Count(res.stderr, mode); n != 1 {
		t.Errorf("stderr says %q %d times, want once:\n%s", mode, n, tail(res.stderr, 40))
	}
	for _, line := range strings.Split(res.stderr, "\n") {
		if strings.HasPrefix(line, "fcp") && line+"\n" != mode && !(r.o.shellMode && strings.HasPrefix(line, mode)) &&
			!strings.HasPrefix(line, "fcp replicate: connection lost (") &&
			line != "fcp replicate: reconnected and in step again" {
			t.Errorf("unexpected line on stderr: %q", line)
		}
	}
	if r.o.cache != "-" {
		waitAgentsGone(t, r.o.cache)
	}
	return res
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("[%d lines before]", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// readTree reads the tree at root as snapshot does, leaving out the paths
// in skip and what is below them. Unlike snapshot it returns errors, so
// that a tree changing under it can be read again.
func readTree(root string, skip []string) (map[string]node, error) {
	out := map[string]node{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, s := range skip {
			if rel == s {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		n := node{perm: fs.FileMode(st.Mode & 0o7777), mtime: st.Mtim.Nano()}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFLNK:
			n.typ = fs.ModeSymlink
			n.target, err = os.Readlink(p)
			n.perm, n.mtime = 0, 0
		case syscall.S_IFDIR:
			n.typ = fs.ModeDir
		case syscall.S_IFREG:
			n.size = st.Size
			n.data, err = os.ReadFile(p)
		default:
			n.typ = fs.ModeIrregular
		}
		out[filepath.ToSlash(rel)] = n
		return err
	})
	return out, err
}

// treeDiffs lists how the copy b differs from the source a, one line per
// path, sorted.
func treeDiffs(a, b map[string]node) []string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		x, okA := a[k]
		y, okB := b[k]
		var why string
		switch {
		case !okA:
			why = "only in the copy"
		case !okB:
			why = "missing from the copy"
		case x.typ != y.typ:
			why = fmt.Sprintf("type %v, copy %v", x.typ, y.typ)
		case x.perm != y.perm:
			why = fmt.Sprintf("mode %o, copy %o", x.perm, y.perm)
		case !bytes.Equal(x.data, y.data):
			why = fmt.Sprintf("content differs (%d bytes, copy %d)", len(x.data), len(y.data))
		case x.target != y.target:
			why = fmt.Sprintf("link to %q, copy to %q", x.target, y.target)
		case x.mtime != y.mtime:
			why = fmt.Sprintf("mtime %s, copy %s", time.Unix(0, x.mtime).UTC().Format(time.RFC3339Nano),
				time.Unix(0, y.mtime).UTC().Format(time.RFC3339Nano))
		}
		if why != "" {
			out = append(out, fmt.Sprintf("  %q: %s", k, why))
		}
	}
	if len(out) > 30 {
		out = append(out[:30], fmt.Sprintf("  ... %d differences in all", len(out)))
	}
	return out
}

// gitIn runs git in dir with a fixed identity and no user or system
// configuration, failing the test on error.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return gitInput(t, dir, "", args...)
}

// gitInput is gitIn with stdin.
func gitInput(t *testing.T, dir, stdin string, args ...string) string {
	t.Helper()
	cmd := gitCmd(dir, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// gitCmd is git run in dir with a fixed identity and no user or system
// configuration.
func gitCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(filterEnv(os.Environ(), "HOME", "XDG_CONFIG_HOME", "GIT_DIR", "GIT_WORK_TREE"),
		"HOME="+dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=fcp", "GIT_AUTHOR_EMAIL=fcp@example.com",
		"GIT_COMMITTER_NAME=fcp", "GIT_COMMITTER_EMAIL=fcp@example.com")
	return cmd
}

// needGit skips the test when git is not installed.
func needGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed:", err)
	}
}

// write writes data to dir/rel, making parents, with mode 0644.
func write(t *testing.T, dir, rel, data string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(data), 0o644))
}

// shIn runs a shell script in dir.
func shIn(t *testing.T, dir, script string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sh -c %q: %v\n%s", script, err, out)
	}
}

// ignoreTree is the source of TestReplicateGitignore: a git repository
// with a .gitignore at three levels, negations among them.
var ignoreTree = []struct {
	path    string
	data    string
	ignored bool // by git's rules, checked with git check-ignore
}{
	{".gitignore", "*.log\n!keep.log\n/build/\n", false},
	{"README", "read me\n", false},
	{"keep.log", "negated: kept\n", false},
	{"debug.log", "ignored\n", true},
	{"build/out.o", "ignored with its directory\n", true},
	{"build/deep/more.o", "ignored with its directory\n", true},
	{"build", "", true},
	{"sub/.gitignore", "*.tmp\n!important.tmp\n", false},
	{"sub/code.go", "package sub\n", false},
	{"sub/x.tmp", "ignored by sub/.gitignore\n", true},
	{"sub/important.tmp", "negated in sub/.gitignore\n", false},
	{"sub/trace.log", "ignored by the root .gitignore\n", true},
	{"sub/build/kept.o", "build/ is anchored at the root\n", false},
	{"sub/deeper/.gitignore", "!*.log\n", false},
	{"sub/deeper/ok.log", "negated two levels down\n", false},
	{"sub/deeper/y.tmp", "still ignored by sub/.gitignore\n", true},
}

// TestReplicateGitignore replicates a repository: what git ignores stays
// out (with nested .gitignore files and negations), .git always does, and
// --no-gitignore sends the ignored files but not .git. Editing a
// .gitignore while replicating sends what it no longer ignores.
func TestReplicateGitignore(t *testing.T) {
	needGit(t)
	src := filepath.Join(t.TempDir(), "repo")
	must(t, os.MkdirAll(src, 0o755))
	gitIn(t, src, "init", "-q")
	var ignored []string
	for _, f := range ignoreTree {
		if f.data != "" {
			write(t, src, f.path, f.data)
		}
		if f.ignored {
			ignored = append(ignored, f.path)
		}
	}
	gitIn(t, src, "add", "-A")
	gitIn(t, src, "commit", "-q", "-m", "ignore rules")
	for _, f := range ignoreTree {
		if got := gitCmd(src, "check-ignore", "-q", f.path).Run() == nil; got != f.ignored {
			t.Fatalf("fixture: git says %s ignored=%v, the table says %v", f.path, got, f.ignored)
		}
	}
	// Left out only because .git never is sent.
	write(t, src, ".git/fcp-marker", "never sent\n")

	t.Run("gitignore", func(t *testing.T) {
		r := startReplica(t, src, t.TempDir(), replicaOpts{skip: ignored})
		wantAbsent(t, filepath.Join(r.dst, ".git"))
		steps := []struct {
			name   string
			change func()
			skip   []string // what the copy must lack afterwards, besides .git
		}{
			{
				// Ignored files written while replicating stay out too. A
				// directory whose last change is an ignored entry keeps an
				// older mtime in the copy (the watcher never reports
				// ignored entries), so a file that is sent comes last.
				name: "ignored files written",
				change: func() {
					write(t, src, "late.log", "ignored\n")
					write(t, src, "late.txt", "sent\n")
					write(t, src, "sub/late.tmp", "ignored\n")
					write(t, src, "sub/late.txt", "sent\n")
				},
				skip: slices.Concat(ignored, []string{"late.log", "sub/late.tmp"}),
			},
			{
				name:   "sub/.gitignore no longer ignores *.tmp",
				change: func() { write(t, src, "sub/.gitignore", "# nothing ignored here\n") },
				skip:   []string{"build", "debug.log", "sub/trace.log", "late.log"},
			},
			{
				name:   "then a .tmp file is written",
				change: func() { write(t, src, "sub/deeper/newer.tmp", "written after *.tmp was un-ignored\n") },
				skip:   []string{"build", "debug.log", "sub/trace.log", "late.log"},
			},
			{
				name:   "the root .gitignore no longer ignores build/",
				change: func() { write(t, src, ".gitignore", "*.log\n!keep.log\n") },
				skip:   []string{"debug.log", "sub/trace.log", "late.log"},
			},
			{
				name:   "then a file in build/ is written",
				change: func() { write(t, src, "build/deep/new.o", "written after build/ was un-ignored\n") },
				skip:   []string{"debug.log", "sub/trace.log", "late.log"},
			},
		}
		parent := t
		for _, s := range steps {
			t.Run(s.name, func(t *testing.T) {
				if parent.Failed() {
					t.Skip("a step before failed, and each builds on the ones before")
				}
				s.change()
				r.o.skip = s.skip
				r.converge(t)
			})
		}
		r.stop(t)
	})

	// Once without watching, so that a .git sent is seen without waiting
	// for a copy that cannot converge; then watching.
	t.Run("no-gitignore", func(t *testing.T) {
		parent := t.TempDir()
		mustFcp(t, runOpts{}, "replicate", "--no-gitignore", "--no-replicate-on-change", src, parent, "--", "sh")
		wantAbsent(t, filepath.Join(parent, "repo", ".git"))
		wantContent(t, filepath.Join(parent, "repo", "debug.log"), "ignored\n")
		if t.Failed() {
			return
		}
		r := startReplica(t, src, parent, replicaOpts{flags: []string{"--no-gitignore"}})
		write(t, src, "another.log", "sent: nothing is ignored\n")
		r.converge(t)
		r.stop(t)
	})
}

// watchTree makes the source of TestReplicateWatch.
func watchTree(t *testing.T, root string) string {
	t.Helper()
	base := time.Date(2023, 5, 6, 7, 8, 9, 123456789, time.UTC)
	for i, f := range []string{"doc.txt", "f", "script.sh", "mv/file", "dir/x/one", "dir/x/two", "dir/y",
		"old/a/b/c", "old/a/d", "old/e"} {
		writeFile(t, filepath.Join(root, f), "initial "+f+"\n", 0o644, base.Add(time.Duration(i)*time.Second))
	}
	must(t, os.Symlink("doc.txt", filepath.Join(root, "link-to-doc")))
	return root
}

// TestReplicateWatch makes, one after the other, the changes a watcher
// finds hard and waits for the copy to catch up with each.
func TestReplicateWatch(t *testing.T) {
	src := watchTree(t, filepath.Join(t.TempDir(), "src"))
	r := startReplica(t, src, t.TempDir(), replicaOpts{flags: []string{"--debugging"}})

	steps := []struct {
		name   string
		change func(t *testing.T)
		check  func(t *testing.T)
	}{
		{
			name:   "mkdir -p and touch",
			change: func(t *testing.T) { shIn(t, src, "mkdir -p a/b/c && touch a/b/c/f") },
			check: func(t *testing.T) {
				out := r.p.stderr.String()
				if !strings.Contains(out, "\nchanged a/b/c/f (") {
					t.Errorf("--debugging printed no line \"changed a/b/c/f (...)\":\n%s", tail(out, 20))
				}
				if !regexp.MustCompile(`\n(create|update) a/b/c/f\n`).MatchString(out) {
					t.Errorf("--debugging printed no line \"create a/b/c/f\" or \"update a/b/c/f\":\n%s", tail(out, 20))
				}
			},
		},
		{
			name: "mkdir -p and touch 50 times",
			change: func(t *testing.T) {
				shIn(t, src, `i=0; while [ $i -lt 50 ]; do mkdir -p m$i/b/c && touch m$i/b/c/f; i=$((i+1)); done`)
			},
		},
		{
			name: "rename a file",
			change: func(t *testing.T) {
				must(t, os.Rename(filepath.Join(src, "mv/file"), filepath.Join(src, "mv/renamed")))
			},
		},
		{
			name:   "rename a directory",
			change: func(t *testing.T) { must(t, os.Rename(filepath.Join(src, "dir"), filepath.Join(src, "moved"))) },
		},
		{
			name: "write inside the renamed directory",
			change: func(t *testing.T) {
				write(t, src, "moved/x/one", "changed after the move\n")
				write(t, src, "moved/x/three", "new after the move\n")
			},
		},
		{
			name: "editor save",
			change: func(t *testing.T) {
				write(t, src, ".f.swp", "swap")
				write(t, src, "f.tmp", "saved by an editor\n")
				must(t, os.Rename(filepath.Join(src, "f.tmp"), filepath.Join(src, "f")))
				must(t, os.Remove(filepath.Join(src, ".f.swp")))
			},
			check: func(t *testing.T) { wantContent(t, filepath.Join(r.dst, "f"), "saved by an editor\n") },
		},
		{
			name:   "chmod",
			change: func(t *testing.T) { must(t, os.Chmod(filepath.Join(src, "script.sh"), 0o755)) },
		},
		{
			name:   "symlink created",
			change: func(t *testing.T) { must(t, os.Symlink("script.sh", filepath.Join(src, "link"))) },
		},
		{
			name: "symlink retargeted",
			change: func(t *testing.T) {
				must(t, os.Remove(filepath.Join(src, "link")))
				must(t, os.Symlink("moved/y", filepath.Join(src, "link")))
				// As ln -sfn does atomically: a new link renamed over the old.
				must(t, os.Symlink("f", filepath.Join(src, ".link-to-doc.new")))
				must(t, os.Rename(filepath.Join(src, ".link-to-doc.new"), filepath.Join(src, "link-to-doc")))
			},
		},
		{
			name:   "delete a subtree",
			change: func(t *testing.T) { must(t, os.RemoveAll(filepath.Join(src, "old"))) },
		},
		{
			// As a download or a compiler would: fcp may read it half
			// written, and then must wait for the rest without a word.
			name: "large file written slowly",
			change: func(t *testing.T) {
				f, err := os.Create(filepath.Join(src, "slow.bin"))
				must(t, err)
				defer f.Close()
				chunk := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
				for range 16 {
					_, err := f.Write(chunk)
					must(t, err)
					time.Sleep(30 * time.Millisecond)
				}
				must(t, f.Close())
			},
			check: func(t *testing.T) {
				for _, line := range strings.Split(r.p.stderr.String(), "\n") {
					if strings.HasPrefix(line, "fcp replicate: slow.bin: ") {
						t.Errorf("reported for a file being written: %q", line)
					}
				}
			},
		},
		{
			name: "burst of 2000 files",
			change: func(t *testing.T) {
				for i := range 2000 {
					write(t, src, fmt.Sprintf("burst/%02d/%04d", i%20, i), strconv.Itoa(i)+"\n")
				}
			},
		},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.change(t)
			r.converge(t)
			if s.check != nil {
				s.check(t)
			}
		})
	}
	r.stop(t)
}

// checkoutHistory is a git fast-import stream of two branches: a, of 3,000
// files, and b, where 1,000 of them changed, 1,000 are gone, 1,000 are new
// (in directories of their own) and 100 became executable. Built this way
// rather than with git add, it costs one pack instead of 6,000 loose
// objects.
func checkoutHistory() string {
	var fi strings.Builder
	name := func(i int) string { return fmt.Sprintf("d%02d/f%04d.txt", i%30, i) }
	file := func(mode, path, data string) {
		fmt.Fprintf(&fi, "M %s inline %s\ndata %d\n%s\n", mode, path, len(data), data)
	}
	fi.WriteString("commit refs/heads/a\ncommitter fcp <fcp@example.com> 1700000000 +0000\ndata 1\na\n")
	for i := range 3000 {
		file("100644", name(i), fmt.Sprintf("file %d on branch a\n", i))
	}
	fi.WriteString("commit refs/heads/b\ncommitter fcp <fcp@example.com> 1700000001 +0000\ndata 1\nb\nfrom refs/heads/a\n")
	for i := range 1000 {
		file("100644", name(i), fmt.Sprintf("file %d changed on branch b\n", i))
		fmt.Fprintf(&fi, "D %s\n", name(1000+i))
		file("100644", fmt.Sprintf("n%02d/g%04d.txt", i%10, i), fmt.Sprintf("file %d new on branch b\n", i))
	}
	for i := 2000; i < 2100; i++ {
		file("100755", name(i), fmt.Sprintf("file %d on branch a\n", i))
	}
	return fi.String()
}

// TestReplicateGitCheckout replicates a repository while git checks out a
// branch that differs in 3,000 files, and then the first one again.
func TestReplicateGitCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("checks out 3,000 files")
	}
	needGit(t)
	src := filepath.Join(t.TempDir(), "repo")
	must(t, os.MkdirAll(src, 0o755))
	gitIn(t, src, "init", "-q", "-b", "a")
	gitInput(t, src, checkoutHistory(), "fast-import", "--quiet")
	gitIn(t, src, "checkout", "-q", "-f", "a")

	r := startReplica(t, src, t.TempDir(), replicaOpts{})
	for _, branch := range []string{"b", "a"} {
		t.Run(branch, func(t *testing.T) {
			gitIn(t, src, "checkout", "-q", branch)
			r.convergeWithin(t, 2*convergeLimit)
		})
	}
	r.stop(t)
}

// TestReplicateOverSSH replicates through the system ssh client and a
// real sshd, then kills the agent while a burst of writes goes on: fcp
// dials again and the copy catches up.
func TestReplicateOverSSH(t *testing.T) {
	s := startSSHD(t)
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no OpenSSH client:", err)
	}
	src := watchTree(t, filepath.Join(t.TempDir(), "src"))
	parent := t.TempDir()
	r := startReplica(t, src, parent, replicaOpts{
		conn:  []string{"ssh", "-p", strconv.Itoa(s.port), "-F", s.clientConf, "127.0.0.1"},
		cache: s.cache,
		limit: 3 * convergeLimit,
	})

	t.Run("changes", func(t *testing.T) {
		write(t, src, "doc.txt", "changed over ssh\n")
		must(t, os.Rename(filepath.Join(src, "dir"), filepath.Join(src, "moved")))
		must(t, os.RemoveAll(filepath.Join(src, "old")))
		must(t, os.Chmod(filepath.Join(src, "script.sh"), 0o700))
		r.converge(t)
	})

	recovered := t.Run("agent killed mid-burst", func(t *testing.T) {
		if testing.Short() {
			t.Skip("sends 16 MiB twice and redials")
		}
		first := agentPids(s.cache)
		if len(first) == 0 {
			t.Fatalf("no agent runs from %s", s.cache)
		}
		r.o.tempsApart = true // a killed agent leaves its temporary file; stop reports it
		var killedAt time.Time
		for group := range 30 {
			if group == 10 {
				// Kill while a file is surely on its way: a large one, moved
				// in whole so that it is not read while being written.
				big := filepath.Join(t.TempDir(), "big.bin")
				randomFile(t, big, 16<<20)
				must(t, os.Rename(big, filepath.Join(src, "burst", "big.bin")))
				if !waitUntil(r.p, convergeLimit, func() bool { return tempFileGrowing(r.dst) }) {
					t.Fatalf("burst/big.bin never started to arrive; stderr:\n%s", r.p.stderr.String())
				}
				killedAt = time.Now()
				if n := reconnectKill(first); n == 0 {
					t.Fatalf("could not kill the agents %v", first)
				}
			}
			for i := range 50 {
				write(t, src, fmt.Sprintf("burst/%02d/%04d", group, group*50+i), strings.Repeat("x", i*97))
			}
			if group == 15 {
				must(t, os.RemoveAll(filepath.Join(src, "burst", "03")))
				must(t, os.Rename(filepath.Join(src, "burst", "04"), filepath.Join(src, "burst", "renamed-04")))
			}
			time.Sleep(50 * time.Millisecond)
		}
		writtenAt := time.Now()
		r.convergeWithin(t, 3*convergeLimit)
		t.Logf("caught up %v after the kill, %v after the last write",
			time.Since(killedAt).Round(time.Millisecond), time.Since(writtenAt).Round(time.Millisecond))
		for _, pid := range agentPids(s.cache) {
			if slices.Contains(first, pid) {
				t.Errorf("agent %d still runs after SIGKILL", pid)
			}
		}
	})

	res := r.stop(t)
	if !recovered || testing.Short() {
		return
	}
	for _, want := range []string{"fcp replicate: connection lost (", "fcp replicate: reconnected and in step again\n"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, res.stderr)
		}
	}
}

// dockerUsable skips the test unless the docker daemon answers.
func dockerUsable(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker command:", err)
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("docker is not usable: %v: %s", err, bytes.TrimSpace(out))
	}
}

// dockerTree reads the tree at dir in container name through docker cp.
// docker cp truncates mtimes to whole seconds, so they are read again with
// the container's busybox stat, to the nanosecond.
func dockerTree(name, dir string) (map[string]node, error) {
	cmd := exec.Command("docker", "cp", name+":"+dir, "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("docker cp: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	tree := map[string]node{}
	top := filepath.Base(dir)
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		rel := strings.TrimSuffix(h.Name, "/")
		if rel == top {
			rel = "."
		} else if !strings.HasPrefix(rel, top+"/") {
			return nil, fmt.Errorf("docker cp: unexpected entry %q", h.Name)
		} else {
			rel = rel[len(top)+1:]
		}
		n := node{perm: fs.FileMode(h.Mode & 0o7777), mtime: h.ModTime.UnixNano()}
		switch h.Typeflag {
		case tar.TypeDir:
			n.typ = fs.ModeDir
		case tar.TypeSymlink:
			n.typ, n.target, n.perm, n.mtime = fs.ModeSymlink, h.Linkname, 0, 0
		case tar.TypeReg:
			n.size = h.Size
			if n.data, err = io.ReadAll(tr); err != nil {
				return nil, err
			}
		default:
			n.typ = fs.ModeIrregular
		}
		tree[rel] = n
	}
	cmd = exec.Command("docker", "exec", name, "/bin/busybox", "find", dir, "-exec", "/bin/busybox", "stat", "-c", "%y %n", "{}", "+")
	stderr.Reset()
	cmd.Stderr = &stderr
	if out, err = cmd.Output(); err != nil {
		return nil, fmt.Errorf("stat in the container: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		// 2023-05-06 07:08:09.123456789 +0000 /copies/src/doc.txt
		f := strings.SplitN(line, " ", 4)
		if len(f) != 4 {
			return nil, fmt.Errorf("stat in the container: %q", line)
		}
		mtime, err := time.Parse("2006-01-02 15:04:05.999999999 -0700", f[0]+" "+f[1]+" "+f[2])
		if err != nil {
			return nil, fmt.Errorf("stat in the container: %w", err)
		}
		rel, err := filepath.Rel(dir, f[3])
		if err != nil {
			return nil, err
		}
		if n, ok := tree[rel]; ok && n.typ != fs.ModeSymlink {
			n.mtime = mtime.UnixNano()
			tree[rel] = n
		}
	}
	return tree, nil
}

// TestReplicateDockerExec replicates into a container that has nothing
// but busybox, through `docker exec -i CONTAINER sh`, and reads the copy
// back with docker cp and the container's busybox stat.
func TestReplicateDockerExec(t *testing.T) {
	dockerUsable(t)
	bb := staticBusybox(t)
	img := fmt.Sprintf("fcp-e2e-replicate-%d", os.Getpid())
	docker(t, busyboxImageTar(t, bb), "import", "-", img)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", img).Run() })
	name := fmt.Sprintf("fcp-e2e-replicate-%d", os.Getpid())
	docker(t, nil, "run", "-d", "--rm", "--name", name, img, "/bin/sleep", "600")
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	docker(t, nil, "exec", name, "mkdir", "-p", "/copies")

	src := watchTree(t, filepath.Join(t.TempDir(), "src"))
	r := startReplica(t, src, "/copies", replicaOpts{
		conn:  []string{"docker", "exec", "-i", name, "sh"},
		cache: "-",
		read:  func(dst string) (map[string]node, error) { return dockerTree(name, dst) },
		limit: 3 * convergeLimit,
	})
	write(t, src, "doc.txt", "changed in the container\n")
	shIn(t, src, "mkdir -p a/b/c && touch a/b/c/f")
	must(t, os.Rename(filepath.Join(src, "dir"), filepath.Join(src, "moved")))
	must(t, os.RemoveAll(filepath.Join(src, "old")))
	must(t, os.Chmod(filepath.Join(src, "script.sh"), 0o750))
	must(t, os.Symlink("moved/y", filepath.Join(src, "link")))
	r.converge(t)
	r.stop(t)
	// Only the container's sleep is left running.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ps := docker(t, nil, "top", name, "-o", "pid,args")
		if strings.Count(strings.TrimSpace(ps), "\n") == 1 && strings.Contains(ps, "sleep") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("processes left in the container after fcp replicate ended:\n%s", ps)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReplicateBadInput runs fcp replicate with operands it must refuse,
// and once with --no-replicate-on-change, which must end by itself.
func TestReplicateBadInput(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	write(t, src, "a", "a\n")
	file := filepath.Join(t.TempDir(), "file")
	write(t, filepath.Dir(file), "file", "not a directory\n")
	parent := t.TempDir()
	missing := filepath.Join(t.TempDir(), "no such dir")
	tests := []struct {
		name string
		args []string
		code int
		want []string // in the one line of stderr
	}{
		{name: "relative DEST_PARENT_DIR", args: []string{src, "relative/dir", "--", "sh"}, code: 1,
			want: []string{"DEST_PARENT_DIR", "absolute", "relative/dir"}},
		{name: "missing SRC_DIR", args: []string{missing, parent, "--", "sh"}, code: 1,
			want: []string{"no such dir", "no such file or directory"}},
		{name: "SRC_DIR a file", args: []string{file, parent, "--", "sh"}, code: 1,
			want: []string{file, "not a directory"}},
		{name: "no --", args: []string{src, parent, "sh"}, code: 1, want: []string{"usage"}},
		{name: "no CONNECTION_COMMAND", args: []string{src, parent, "--"}, code: 1, want: []string{"usage"}},
		{name: "missing DEST_PARENT_DIR", args: []string{src, missing, "--", "sh"}, code: 3,
			want: []string{missing, "no such file or directory"}},
		// 10: the connection failed; 5: the agent could not be started.
		{name: "CONNECTION_COMMAND not found", args: []string{src, parent, "--", "fcp-no-such-command", "arg"}, code: 10,
			want: []string{"fcp-no-such-command", "not found"}},
		{name: "CONNECTION_COMMAND fails", args: []string{src, parent, "--", "false"}, code: 5,
			want: []string{`"false"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fcp(t, runOpts{}, append([]string{"replicate"}, tt.args...)...)
			wantCode(t, r, tt.code)
			wantOneErrorLine(t, r, tt.want...)
		})
	}
	wantEntries(t, parent)

	t.Run("no-replicate-on-change", func(t *testing.T) {
		src := watchTree(t, filepath.Join(t.TempDir(), "src"))
		parent := t.TempDir()
		r := fcp(t, runOpts{}, "replicate", "--no-replicate-on-change", src, parent, "--", "sh")
		wantCode(t, r, 0)
		if want := "fcp replicate: replicating to " + parent + "/src through fcp's agent (sh)\n"; r.stderr != want {
			t.Errorf("stderr %q, want %q", r.stderr, want)
		}
		sameTree(t, src, filepath.Join(parent, "src"))
	})
}

// TestReplicateShellFallback replicates where fcp's agent cannot run (its
// cache is on a noexec mount): fcp drives the shell and its tar directly,
// with dash and GNU tar, and with nothing but busybox.
func TestReplicateShellFallback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a noexec tmpfs needs root")
	}
	noexec := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "noexec,size=64m", "tmpfs", noexec).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a noexec tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", noexec).Run() })
	env := []string{"env", "HOME=" + noexec, "TMPDIR=" + noexec, "XDG_CACHE_HOME=" + noexec + "/cache"}
	shells := map[string][]string{"dash": append(env, "sh")}
	if bb, err := exec.LookPath("busybox"); err == nil {
		bin := t.TempDir()
		for _, applet := range []string{"sh", "tar", "mv", "rm", "mkdir", "ln", "chmod", "touch", "cat", "head", "printf", "find", "stat", "dd", "readlink", "sort", "xargs", "uname", "id", "sha256sum", "test", "["} {
			must(t, os.Symlink(bb, filepath.Join(bin, applet)))
		}
		shells["busybox"] = append([]string{"env", "-i", "PATH=" + bin}, append(env[1:], filepath.Join(bin, "sh"))...)
	}
	for name, conn := range shells {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "src dir")
			write(t, src, "a/file", "hello")
			write(t, src, "we ird*name $(touch pwned)", "x\ny")
			must(t, os.Symlink("a/file", filepath.Join(src, "link")))
			parent := t.TempDir()
			// busybox's tar and touch keep whole seconds only.
			r := startReplica(t, src, parent, replicaOpts{conn: conn, shellMode: true, seconds: name == "busybox", cache: "-", flags: []string{"--no-gitignore"}})
			write(t, src, "a/file", "changed")
			must(t, os.Rename(filepath.Join(src, "a"), filepath.Join(src, "b")))
			write(t, src, "new/deep/f", "new")
			must(t, os.Remove(filepath.Join(src, "link")))
			r.converge(t)
			r.stop(t)
			if _, err := os.Lstat(filepath.Join(parent, "src dir", "pwned")); err == nil {
				t.Error("a file name was run as a command")
			}
		})
	}
}

// TestCopyWatch copies a directory with --watch through an agent and
// keeps the copy in step with later changes; --exclude still applies.
func TestCopyWatch(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	write(t, src, "a/file", "one")
	dst := filepath.Join(t.TempDir(), "dst")
	rsh := "'" + wrapperScript(t) + "'"
	p := startFcp(t, runOpts{home: t.TempDir()}, "--watch", "--exclude", "*.tmp", "-e", rsh, src, "host:"+dst+"/")
	copyOf := filepath.Join(dst, "src")
	wait := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(convergeLimit); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not done after %v", what, convergeLimit)
			}
		}
	}
	wait("the copy", func() bool { b, _ := os.ReadFile(filepath.Join(copyOf, "a", "file")); return string(b) == "one" })
	write(t, src, "a/file", "two")
	write(t, src, "skip.tmp", "excluded")
	write(t, src, "b/new", "new")
	wait("the changes", func() bool {
		b, _ := os.ReadFile(filepath.Join(copyOf, "a", "file"))
		n, _ := os.ReadFile(filepath.Join(copyOf, "b", "new"))
		return string(b) == "two" && string(n) == "new"
	})
	if !p.signal(syscall.SIGINT) {
		t.Fatal("fcp --watch ended by itself")
	}
	if res := p.wait(t, 15*time.Second); res.code != 0 {
		t.Errorf("fcp --watch exited %d after SIGINT, want 0:\n%s", res.code, res.stderr)
	}
	if _, err := os.Lstat(filepath.Join(copyOf, "skip.tmp")); err == nil {
		t.Error("an excluded file was copied while watching")
	}
}
