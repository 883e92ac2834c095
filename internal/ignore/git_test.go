package ignore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// requireGit skips the test when git is not installed.
func requireGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
}

// gitEnv is an environment that isolates git from the machine: no system
// config, the given HOME and XDG_CONFIG_HOME ("" leaves it unset), the C
// locale. (check-ignore takes its paths verbatim unless they start with
// ':', which no generated name does.)
func gitEnv(home, xdg string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_ATTR_NOSYSTEM=1",
		"LC_ALL=C",
	}
	if xdg != "" {
		env = append(env, "XDG_CONFIG_HOME="+xdg)
	}
	return env
}

// runGit runs git in dir and returns its standard output and exit code. An
// error means git could not run or failed with a code not in okCodes
// (0 is always fine); it carries git's standard error.
func runGit(dir string, env []string, stdin []byte, okCodes []int, args ...string) ([]byte, int, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.Bytes(), 0, nil
	case errors.As(err, &ee) && slices.Contains(okCodes, ee.ExitCode()):
		return stdout.Bytes(), ee.ExitCode(), nil
	}
	return nil, -1, fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, stderr.Bytes())
}

// gitInit makes dir a repository without hooks or an info/exclude.
func gitInit(dir string, env []string) error {
	_, _, err := runGit(dir, env, nil, nil, "init", "-q", "--template=")
	return err
}

// copyDir copies the directories and regular files below src to dst, which
// must not exist. Copying a repository made once by gitInit is much faster
// than running git init for every trial.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.Mkdir(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// gitUntracked returns, sorted, the files git lists as untracked and not
// ignored in the work tree dir.
func gitUntracked(dir string, env []string) ([]string, error) {
	out, _, err := runGit(dir, env, nil, nil, "ls-files", "-z", "--others", "--exclude-standard")
	if err != nil {
		return nil, err
	}
	return splitZ(out), nil
}

// gitCheckIgnore returns the subset of paths (relative to the work tree
// dir) that git check-ignore reports ignored.
func gitCheckIgnore(dir string, env []string, paths []string) (map[string]bool, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	var in bytes.Buffer
	for _, p := range paths {
		in.WriteString(p)
		in.WriteByte(0)
	}
	out, _, err := runGit(dir, env, in.Bytes(), []int{1}, "check-ignore", "--no-index", "-z", "--stdin")
	if err != nil {
		return nil, err
	}
	ignored := make(map[string]bool)
	for _, p := range splitZ(out) {
		ignored[p] = true
	}
	return ignored, nil
}

// gitWhy returns git check-ignore -v's explanation for path, for failure
// messages.
func gitWhy(dir string, env []string, path string) string {
	out, _, err := runGit(dir, env, nil, []int{1}, "check-ignore", "--no-index", "-v", "-n", "--", path)
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(out))
}

// splitZ splits NUL-terminated records and sorts them.
func splitZ(b []byte) []string {
	var out []string
	for _, r := range bytes.Split(b, []byte{0}) {
		if len(r) > 0 {
			out = append(out, string(r))
		}
	}
	slices.Sort(out)
	return out
}

// walk lists, sorted, the files and symbolic links below the work tree root
// that d does not ignore, skipping ignored directories as git does, and
// handing each directory's .gitignore to Dir.Enter.
func walk(root string, d *Dir) ([]string, error) {
	var out []string
	var rec func(rel string, d *Dir) error
	rec = func(rel string, d *Dir) error {
		ents, err := os.ReadDir(filepath.Join(root, rel))
		if err != nil {
			return err
		}
		for _, e := range ents {
			p := joinRel(rel, e.Name())
			isDir := e.IsDir()
			if d.Ignored(e.Name(), isDir) {
				continue
			}
			switch {
			case isDir:
				if err := rec(p, d.Enter(e.Name(), readIfRegular(filepath.Join(root, p, ".gitignore")))); err != nil {
					return err
				}
			case e.Type().IsRegular() || e.Type() == os.ModeSymlink:
				out = append(out, p)
			}
		}
		return nil
	}
	err := rec("", d)
	slices.Sort(out)
	return out, err
}

// walkMatcher is walk asking m about full paths instead.
func walkMatcher(root string, m *Matcher) ([]string, error) {
	var out []string
	var rec func(rel string) error
	rec = func(rel string) error {
		ents, err := os.ReadDir(filepath.Join(root, rel))
		if err != nil {
			return err
		}
		for _, e := range ents {
			p := joinRel(rel, e.Name())
			if m.Ignored(p, e.IsDir()) {
				continue
			}
			switch {
			case e.IsDir():
				if err := rec(p); err != nil {
					return err
				}
			case e.Type().IsRegular() || e.Type() == os.ModeSymlink:
				out = append(out, p)
			}
		}
		return nil
	}
	err := rec("")
	slices.Sort(out)
	return out, err
}

// readIfRegular returns the contents of name if it is a regular file.
func readIfRegular(name string) []byte {
	fi, err := os.Lstat(name)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil
	}
	return b
}

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// diffSorted returns the elements only in a and only in b, both sorted.
func diffSorted(a, b []string) (onlyA, onlyB []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i] < b[j]:
			onlyA = append(onlyA, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			onlyB = append(onlyB, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return onlyA, onlyB
}
