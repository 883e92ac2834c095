package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// edgeTree builds a tree of awkward cases under root and returns root.
func edgeTree(t *testing.T, root string) string {
	t.Helper()
	base := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
	files := []struct {
		name string
		data string
		mode os.FileMode
	}{
		{"plain.txt", "hello\n", 0o644},
		{"with space/and more spaces.txt", "spaces", 0o600},
		{"new\nline", "a name with a newline", 0o644},
		{"bad-utf8-\xff\xfe", "not utf-8", 0o644},
		{"unicode/日本語/ファイル.txt", "unicode ✓", 0o644},
		{"empty", "", 0o644},
		{"exec.sh", "#!/bin/sh\necho hi\n", 0o755},
		{"setgid-ish", "mode bits", 0o2750},
		{"deep/a/b/c/d/e/f/g/h/leaf", "deep", 0o640},
		{"a-b", "sorts between a and a/b bytewise", 0o644},
		{"a/b", "nested", 0o644},
		{"star/*", "a file named star", 0o644},
		{"quote/'\"$(touch pwned)`x`", "shell metacharacters", 0o644},
		{"dash/-rf", "leading dash", 0o644},
	}
	for i, f := range files {
		writeFile(t, filepath.Join(root, f.name), f.data, f.mode, base.Add(time.Duration(i)*time.Second))
	}
	big := make([]byte, 5<<20+12345)
	for i := range big {
		big[i] = byte(i*7 + i>>12)
	}
	writeFile(t, filepath.Join(root, "big.bin"), string(big), 0o644, base)
	must(t, os.MkdirAll(filepath.Join(root, "empty-dir"), 0o755))
	must(t, os.Symlink("plain.txt", filepath.Join(root, "link-rel")))
	must(t, os.Symlink("/nonexistent/target", filepath.Join(root, "link-dangling")))
	must(t, os.Symlink("../deep", filepath.Join(root, "unicode", "link-up")))
	// A read-only directory with contents: its mode must be applied last.
	writeFile(t, filepath.Join(root, "ro", "inside.txt"), "in a read-only dir", 0o444, base)
	must(t, os.Chmod(filepath.Join(root, "ro"), 0o555))
	// Directory mtimes last, deepest first, so they stick.
	var dirs []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		must(t, os.Chtimes(dirs[i], base.Add(-time.Hour), base.Add(-time.Hour)))
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(root, "ro"), 0o755) })
	return root
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// summary is fcp's --json summary line.
type summary struct {
	Files   int64 `json:"files"`
	Bytes   int64 `json:"bytes"`
	Deleted int64 `json:"deleted"`
	Errors  int64 `json:"errors"`
}

func parseSummary(t *testing.T, stdout string) summary {
	t.Helper()
	var s summary
	if err := json.Unmarshal([]byte(jsonSummary(t, stdout)), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// direction is how a test reaches the "remote" side.
type direction struct {
	name string
	// args builds the operands for copying src to dst given the rsh flag.
	args func(rsh, src, dst string) []string
}

var directions = []direction{
	{"push", func(rsh, src, dst string) []string { return []string{"-e", rsh, src, "host:" + dst} }},
	{"pull", func(rsh, src, dst string) []string { return []string{"-e", rsh, "host:" + src, dst} }},
	{"local", func(rsh, src, dst string) []string { return []string{src, dst} }},
}

// remoteToRemote copies between two remote hosts through this one.
var remoteToRemote = direction{"remote-to-remote", func(rsh, src, dst string) []string {
	return []string{"-e", rsh, "one:" + src, "other:" + dst}
}}

func TestCopyEdgeTree(t *testing.T) {
	rsh := "'" + wrapperScript(t) + "'"
	for _, dir := range append(directions, remoteToRemote) {
		t.Run(dir.name, func(t *testing.T) {
			src := edgeTree(t, filepath.Join(t.TempDir(), "src"))
			dst := filepath.Join(t.TempDir(), "dst")
			home := t.TempDir()
			mustFcp(t, runOpts{home: home}, dir.args(rsh, src+"/", dst)...)
			sameTree(t, src, dst)
			if _, err := os.Stat(filepath.Join(filepath.Dir(dst), "pwned")); err == nil {
				t.Error("a file name was run as a shell command")
			}

			r := mustFcp(t, runOpts{home: home}, append([]string{"--json"}, dir.args(rsh, src+"/", dst)...)...)
			if s := parseSummary(t, r.stdout); s.Files != 0 || s.Bytes != 0 {
				t.Errorf("re-run sent something: %+v\n%s", s, r.stdout)
			}

			// Change one file, delete one, add one: exactly those move.
			later := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
			writeFile(t, filepath.Join(src, "plain.txt"), "changed, and longer than before\n", 0o644, later)
			writeFile(t, filepath.Join(src, "big.bin"), "shrunk", 0o644, later)
			writeFile(t, filepath.Join(src, "unicode", "new file"), "added", 0o644, later)
			must(t, os.Remove(filepath.Join(src, "exec.sh")))
			r = mustFcp(t, runOpts{home: home}, append([]string{"--json"}, dir.args(rsh, src+"/", dst)...)...)
			if s := parseSummary(t, r.stdout); s.Files != 3 || s.Deleted != 0 {
				t.Errorf("after 2 changes and 1 addition: %+v\n%s", s, r.stdout)
			}
			if _, err := os.Lstat(filepath.Join(dst, "exec.sh")); err != nil {
				t.Errorf("without --delete, exec.sh must stay: %v", err)
			}
			r = mustFcp(t, runOpts{home: home}, append([]string{"--json", "--delete"}, dir.args(rsh, src+"/", dst)...)...)
			if s := parseSummary(t, r.stdout); s.Files != 0 || s.Deleted != 1 {
				t.Errorf("--delete after removing one file: %+v\n%s", s, r.stdout)
			}
			sameTree(t, src, dst)
		})
	}
}

// TestCopyGoSource copies a real tree nobody here wrote: the Go
// distribution's src directory, through the agent.
func TestCopyGoSource(t *testing.T) {
	if testing.Short() {
		t.Skip("copies the Go source tree")
	}
	goroot := runtime.GOROOT()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err == nil {
		goroot = strings.TrimSpace(string(out))
	}
	src := filepath.Join(goroot, "src")
	if _, err := os.Stat(src); err != nil {
		t.Skip("no Go source tree:", err)
	}
	rsh := "'" + wrapperScript(t) + "'"
	dst := filepath.Join(t.TempDir(), "dst")
	home := t.TempDir()
	mustFcp(t, runOpts{home: home}, "-e", rsh, src, "host:"+dst)
	sameTree(t, src, filepath.Join(dst, "src"))
	r := mustFcp(t, runOpts{home: home}, "--json", "-e", rsh, src, "host:"+dst)
	if s := parseSummary(t, r.stdout); s.Files != 0 || s.Bytes != 0 {
		t.Errorf("re-run sent something: %+v", s)
	}
}

func TestLayoutRules(t *testing.T) {
	rsh := "'" + wrapperScript(t) + "'"
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		setup func(t *testing.T, dst string) // prepare the destination
		src   func(src string) []string      // source operands
		dst   func(dst string) string
		want  []string // paths that must exist under the parent of dst
	}{
		{
			name: "dir lands inside new DEST",
			src:  func(s string) []string { return []string{filepath.Join(s, "d")} },
			dst:  func(d string) string { return d },
			want: []string{"dst/d/f1", "dst/d/sub/f2"},
		},
		{
			name: "dir/ copies contents",
			src:  func(s string) []string { return []string{filepath.Join(s, "d") + "/"} },
			dst:  func(d string) string { return d },
			want: []string{"dst/f1", "dst/sub/f2"},
		},
		{
			name: "file to new name",
			src:  func(s string) []string { return []string{filepath.Join(s, "d", "f1")} },
			dst:  func(d string) string { return d },
			want: []string{"dst"},
		},
		{
			name:  "file into existing dir",
			setup: func(t *testing.T, d string) { must(t, os.Mkdir(d, 0o755)) },
			src:   func(s string) []string { return []string{filepath.Join(s, "d", "f1")} },
			dst:   func(d string) string { return d },
			want:  []string{"dst/f1"},
		},
		{
			name: "several sources merge",
			src: func(s string) []string {
				return []string{filepath.Join(s, "d", "f1"), filepath.Join(s, "e") + "/", filepath.Join(s, "d")}
			},
			dst:  func(d string) string { return d },
			want: []string{"dst/f1", "dst/g", "dst/d/sub/f2"},
		},
		{
			name: "glob expanded on the source host",
			src:  func(s string) []string { return []string{filepath.Join(s, "d", "f*")} },
			dst:  func(d string) string { return d + "/" },
			want: []string{"dst/f1"},
		},
	}
	for _, tc := range tests {
		for _, dir := range directions {
			t.Run(tc.name+"/"+dir.name, func(t *testing.T) {
				src := t.TempDir()
				writeFile(t, filepath.Join(src, "d", "f1"), "one", 0o644, base)
				writeFile(t, filepath.Join(src, "d", "sub", "f2"), "two", 0o644, base)
				writeFile(t, filepath.Join(src, "e", "g"), "gee", 0o644, base)
				parent := t.TempDir()
				dst := filepath.Join(parent, "dst")
				if tc.setup != nil {
					tc.setup(t, dst)
				}
				var args []string
				srcs := tc.src(src)
				switch dir.name {
				case "push":
					args = append(append([]string{"-e", rsh}, srcs...), "host:"+tc.dst(dst))
				case "pull":
					args = []string{"-e", rsh}
					for _, s := range srcs {
						args = append(args, "host:"+s)
					}
					args = append(args, tc.dst(dst))
				default:
					args = append(srcs, tc.dst(dst))
				}
				mustFcp(t, runOpts{}, args...)
				for _, w := range tc.want {
					if _, err := os.Stat(filepath.Join(parent, w)); err != nil {
						t.Errorf("want %s: %v", w, err)
					}
				}
			})
		}
	}
}
