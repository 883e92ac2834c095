package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestCopyGitignore copies a repository with --gitignore, locally and
// pulled through an agent: the files that arrive are exactly those git
// lists as untracked and not ignored.
func TestCopyGitignore(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	src := filepath.Join(t.TempDir(), "repo")
	files := map[string]string{
		".gitignore": "*.o\n!keep.o\n/build/\ndocs/**/*.tmp\n# comment\n\\#hash\nspace\\ \n",
		"a.o":        "", "keep.o": "", "main.c": "",
		"build/out": "", "sub/build/out": "",
		"docs/x/y/z.tmp": "", "docs/x/y/z.md": "",
		"#hash": "", "space ": "", "space": "",
		"sub/.gitignore": "secret*\n!secret-ok\n",
		"sub/secret1":    "", "sub/secret-ok": "", "sub/deeper/secret2": "",
		"sub/deeper/.gitignore":   "!secret2\n",
		"node_modules/m/index.js": "",
	}
	for p, content := range files {
		writeFile(t, filepath.Join(src, p), content, 0o644, time.Unix(1_600_000_000, 0))
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir(), "XDG_CONFIG_HOME=")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return string(out)
	}
	git("init", "-q")
	must(t, os.WriteFile(filepath.Join(src, ".git", "info", "exclude"), []byte("node_modules/\n"), 0o644))
	var want []string
	for _, p := range strings.Split(git("ls-files", "--others", "--exclude-standard", "-z"), "\x00") {
		if p != "" {
			want = append(want, p)
		}
	}
	sort.Strings(want)

	rsh := "'" + wrapperScript(t) + "'"
	for _, dir := range directions[1:] { // pull and local
		t.Run(dir.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dst")
			mustFcp(t, runOpts{home: t.TempDir()}, append([]string{"--gitignore"}, dir.args(rsh, src+"/", dst)...)...)
			var got []string
			filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					rel, _ := filepath.Rel(dst, p)
					got = append(got, filepath.ToSlash(rel))
				}
				return nil
			})
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("copied files:\n%s\ngit's untracked, not ignored files:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}
