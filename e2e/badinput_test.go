package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// nobody is the unprivileged user the permission tests run fcp as: root
// reads and writes anything, so only another user sees a denial.
const nobody = 65534

// errorLines returns the non-empty lines of stderr.
func errorLines(stderr string) []string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// wantOneErrorLine fails the test unless stderr is exactly one line that
// begins with "fcp: " and contains every string in want.
func wantOneErrorLine(t *testing.T, r result, want ...string) {
	t.Helper()
	lines := errorLines(r.stderr)
	if len(lines) != 1 {
		t.Errorf("want exactly one error line, got %d:\n%s", len(lines), r.stderr)
	}
	if len(lines) == 0 {
		return
	}
	if !strings.HasPrefix(lines[0], "fcp: ") {
		t.Errorf("error line does not begin with \"fcp: \": %q", lines[0])
	}
	for _, w := range want {
		if !strings.Contains(lines[0], w) {
			t.Errorf("error line %q does not mention %q", lines[0], w)
		}
	}
}

// wantCode fails the test unless r exited with one of codes.
func wantCode(t *testing.T, r result, codes ...int) {
	t.Helper()
	if !slices.Contains(codes, r.code) {
		t.Errorf("exit %d, want %v\nstdout: %s\nstderr: %s", r.code, codes, r.stdout, r.stderr)
	}
}

// openDir returns a new scratch directory that every user may enter and
// write, for runs of fcp as nobody (t.TempDir's parents are private).
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "fcp-e2e-open-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o777))
	return dir
}

// tempFiles returns fcp's temporary files (".fcp-*") anywhere under root.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".fcp-") {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// wantAbsent fails the test if p exists.
func wantAbsent(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); err == nil {
		t.Errorf("%s exists, want nothing there", p)
	}
}

// wantContent fails the test unless p is a regular file holding data.
func wantContent(t *testing.T, p, data string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Errorf("want %s: %v", p, err)
		return
	}
	if string(b) != data {
		t.Errorf("%s holds %q, want %q", p, b, data)
	}
}

// wantEntries fails the test unless dir holds exactly names.
func wantEntries(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Errorf("read %s: %v", dir, err)
		return
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

// TestBadInput runs fcp on operands, flags and file systems it cannot
// fully use, and checks that each failure is one clear line with the
// documented exit code and leaves nothing partial behind.
func TestBadInput(t *testing.T) {
	base := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
	tests := []struct {
		name  string
		uid   int
		codes []int // accepted exit codes
		// setup prepares dir (world-writable, holding a readable tree
		// "src" with files a and b) and returns fcp's arguments and the
		// strings the error line must mention.
		setup func(t *testing.T, dir string) (args, mention []string)
		// after checks the file system once fcp has run.
		after func(t *testing.T, dir string)
	}{
		{
			name:  "missing source, another copied",
			codes: []int{23},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				missing := filepath.Join(dir, "no-such-source")
				return []string{missing, filepath.Join(dir, "src", "a"), filepath.Join(dir, "dst") + "/"}, []string{missing}
			},
			after: func(t *testing.T, dir string) {
				wantEntries(t, filepath.Join(dir, "dst"), "a")
				wantContent(t, filepath.Join(dir, "dst", "a"), "alpha")
			},
		},
		{
			name:  "unreadable source file",
			uid:   nobody,
			codes: []int{23},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				writeFile(t, filepath.Join(dir, "src", "secret"), "root only", 0o600, base)
				return []string{filepath.Join(dir, "src") + "/", filepath.Join(dir, "dst")}, []string{"secret"}
			},
			after: func(t *testing.T, dir string) {
				wantEntries(t, filepath.Join(dir, "dst"), "a", "b")
				wantContent(t, filepath.Join(dir, "dst", "a"), "alpha")
				wantContent(t, filepath.Join(dir, "dst", "b"), "bravo")
			},
		},
		{
			name:  "destination in a read-only directory",
			uid:   nobody,
			codes: []int{3},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				ro := filepath.Join(dir, "ro")
				must(t, os.Mkdir(ro, 0o555))
				must(t, os.Chmod(ro, 0o555))
				dst := filepath.Join(ro, "dst")
				return []string{filepath.Join(dir, "src") + "/", dst}, []string{dst, "permission denied"}
			},
			after: func(t *testing.T, dir string) {
				wantEntries(t, filepath.Join(dir, "ro"))
			},
		},
		{
			name:  "read-only existing destination directory",
			uid:   nobody,
			codes: []int{3, 23},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				ro := filepath.Join(dir, "ro")
				must(t, os.Mkdir(ro, 0o555))
				must(t, os.Chmod(ro, 0o555))
				return []string{filepath.Join(dir, "src") + "/", ro}, []string{ro}
			},
			after: func(t *testing.T, dir string) {
				wantEntries(t, filepath.Join(dir, "ro"))
			},
		},
		{
			name:  "unknown flag",
			codes: []int{1},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				return []string{"--no-such-flag", filepath.Join(dir, "src"), filepath.Join(dir, "dst")}, []string{"--no-such-flag"}
			},
			after: func(t *testing.T, dir string) { wantAbsent(t, filepath.Join(dir, "dst")) },
		},
		{
			name:  "too few operands",
			codes: []int{1},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				return []string{filepath.Join(dir, "src")}, []string{"SRC", "DEST"}
			},
		},
		{
			name:  "chunk size too large",
			codes: []int{1},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				return []string{"--chunk-size", "8388608", filepath.Join(dir, "src"), filepath.Join(dir, "dst")}, []string{"--chunk-size"}
			},
			after: func(t *testing.T, dir string) { wantAbsent(t, filepath.Join(dir, "dst")) },
		},
		{
			name:  "several sources onto a regular file",
			codes: []int{3},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				file := filepath.Join(dir, "file")
				writeFile(t, file, "keep me", 0o644, base)
				return []string{filepath.Join(dir, "src", "a"), filepath.Join(dir, "src", "b"), file}, []string{file, "not a directory"}
			},
			after: func(t *testing.T, dir string) { wantContent(t, filepath.Join(dir, "file"), "keep me") },
		},
		{
			name:  "trailing slash on a regular file",
			codes: []int{3},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				src := filepath.Join(dir, "src", "a") + "/"
				return []string{src, filepath.Join(dir, "dst")}, []string{src, "not a directory"}
			},
			after: func(t *testing.T, dir string) { wantAbsent(t, filepath.Join(dir, "dst")) },
		},
		{
			name:  "remote shell command missing",
			codes: []int{5, 10},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				rsh := filepath.Join(dir, "no-such-rsh")
				return []string{"-e", rsh, filepath.Join(dir, "src"), "host:" + filepath.Join(dir, "dst")}, []string{rsh}
			},
			after: func(t *testing.T, dir string) { wantAbsent(t, filepath.Join(dir, "dst")) },
		},
		{
			name:  "remote shell exits at once",
			codes: []int{5, 10},
			setup: func(t *testing.T, dir string) ([]string, []string) {
				return []string{"-e", "false", filepath.Join(dir, "src"), "host:" + filepath.Join(dir, "dst")}, []string{"false host sh"}
			},
			after: func(t *testing.T, dir string) { wantAbsent(t, filepath.Join(dir, "dst")) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.uid != 0 && os.Getuid() != 0 {
				t.Skip("needs root to run fcp as another user")
			}
			dir := openDir(t)
			writeFile(t, filepath.Join(dir, "src", "a"), "alpha", 0o644, base)
			writeFile(t, filepath.Join(dir, "src", "b"), "bravo", 0o644, base)
			args, mention := tc.setup(t, dir)
			start := time.Now()
			r := fcp(t, runOpts{uid: tc.uid, dir: dir}, args...)
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("fcp took %v to fail", d)
			}
			wantCode(t, r, tc.codes...)
			wantOneErrorLine(t, r, mention...)
			if r.stdout != "" {
				t.Errorf("stdout: %q, want nothing", r.stdout)
			}
			if tc.after != nil {
				tc.after(t, dir)
			}
			if tmp := tempFiles(t, dir); len(tmp) > 0 {
				t.Errorf("temporary files left: %q", tmp)
			}
		})
	}
}

// copyFlags matches a flag definition in internal/cli/copy.go's addFlags,
// capturing its long name.
var copyFlags = regexp.MustCompile(`f\.\w+\(&o\.\w+, "([a-z][a-z0-9-]*)"`)

// TestHelp checks that --help documents every flag the copy verb
// registers and the exit codes, and that --version names fcp.
func TestHelp(t *testing.T) {
	src, err := os.ReadFile("../internal/cli/copy.go")
	if err != nil {
		t.Fatal(err)
	}
	var flags []string
	for _, m := range copyFlags.FindAllStringSubmatch(string(src), -1) {
		if !strings.Contains(string(src), `f.MarkHidden("`+m[1]+`")`) {
			flags = append(flags, m[1])
		}
	}
	if len(flags) < 10 {
		t.Fatalf("found only %d flags in internal/cli/copy.go: %q; has addFlags changed shape?", len(flags), flags)
	}
	for _, arg := range []string{"--help", "-h"} {
		t.Run(arg, func(t *testing.T) {
			r := fcp(t, runOpts{}, arg)
			wantCode(t, r, 0)
			if r.stderr != "" {
				t.Errorf("stderr: %q, want nothing", r.stderr)
			}
			for _, f := range flags {
				if !regexp.MustCompile(`(?m)^\s+(-\w, )?--` + regexp.QuoteMeta(f) + `\b`).MatchString(r.stdout) {
					t.Errorf("--%s is not listed", f)
				}
			}
			for _, code := range []string{"0", "1", "2", "3", "5", "10", "11", "12", "20", "23", "24"} {
				if !regexp.MustCompile(`(?m)^\s+` + code + `\s+\S`).MatchString(r.stdout) {
					t.Errorf("exit code %s is not listed", code)
				}
			}
		})
	}
	t.Run("--version", func(t *testing.T) {
		r := fcp(t, runOpts{}, "--version")
		wantCode(t, r, 0)
		if !regexp.MustCompile(`^fcp v?\d+\.\d+\.\d+\S*( |\n)`).MatchString(r.stdout) {
			t.Errorf("--version printed %q, want \"fcp \" and a version", r.stdout)
		}
		if r.stderr != "" {
			t.Errorf("stderr: %q, want nothing", r.stderr)
		}
	})
}
