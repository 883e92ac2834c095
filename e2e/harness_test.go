// Package e2e runs the fcp binary as a user would: built once, executed
// with real operands, through the real agent bootstrap over real shells
// (a wrapper script, ip netns exec, docker exec), checking what lands on
// disk and what the user sees.
package e2e

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fcpBin and fcpdBin are the binaries under test, built static by
// TestMain.
var fcpBin, fcpdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fcp-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755)
	fcpBin = filepath.Join(dir, "fcp")
	build := exec.Command("go", "build", "-trimpath", "-o", fcpBin, "../cmd/fcp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building fcp:", err)
		os.Exit(1)
	}
	fcpdBin = filepath.Join(dir, "fcpd")
	build = exec.Command("go", "build", "-trimpath", "-o", fcpdBin, "../cmd/fcpd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building fcpd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what a run of fcp showed the user.
type result struct {
	code           int
	stdout, stderr string
}

// runOpts adjusts one run of fcp.
type runOpts struct {
	home string // HOME for fcp and the shells it starts
	uid  int    // run as this user (when root), 0 for the current one
	dir  string // working directory
}

// fcp runs the binary with args and returns what it printed and its exit
// code. It fails the test if fcp does not exit within two minutes.
func fcp(t *testing.T, o runOpts, args ...string) result {
	t.Helper()
	cmd := exec.Command(fcpBin, args...)
	cmd.Dir = o.dir
	home := o.home
	if home == "" {
		home = t.TempDir()
		os.Chmod(home, 0o777)
	}
	cmd.Env = append(filterEnv(os.Environ(), "HOME", "XDG_CACHE_HOME"), "HOME="+home)
	if o.uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.uid)}}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("fcp %q hung; stderr: %s", args, stderr.String())
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustFcp runs fcp and fails the test unless it exits 0.
func mustFcp(t *testing.T, o runOpts, args ...string) result {
	t.Helper()
	r := fcp(t, o, args...)
	if r.code != 0 {
		t.Fatalf("fcp %q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

func filterEnv(env []string, drop ...string) []string {
	var out []string
outer:
	for _, kv := range env {
		for _, d := range drop {
			if strings.HasPrefix(kv, d+"=") {
				continue outer
			}
		}
		out = append(out, kv)
	}
	return out
}

// node is what the tests compare of one tree entry.
type node struct {
	typ    fs.FileMode
	perm   fs.FileMode
	mtime  int64
	size   int64
	data   []byte
	target string
}

// snapshot reads the tree at root (not following symlinks).
func snapshot(t *testing.T, root string) map[string]node {
	t.Helper()
	out := map[string]node{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		n := node{typ: d.Type() & fs.ModeType, perm: fs.FileMode(st.Mode & 0o7777), mtime: st.Mtim.Nano()}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			n.target, _ = os.Readlink(p)
			n.perm, n.mtime = 0, 0
		case d.Type().IsRegular():
			n.size = st.Size
			n.data, err = os.ReadFile(p)
			if err != nil {
				return err
			}
		}
		out[rel] = n
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", root, err)
	}
	return out
}

// sameTree fails the test if the trees at a and b differ in any entry's
// type, mode, mtime, content or link target.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	diffTrees(t, snapshot(t, a), snapshot(t, b), a, b)
}

func diffTrees(t *testing.T, sa, sb map[string]node, a, b string) {
	t.Helper()
	var keys []string
	for k := range sa {
		keys = append(keys, k)
	}
	for k := range sb {
		if _, ok := sa[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	bad := 0
	for _, k := range keys {
		x, okA := sa[k]
		y, okB := sb[k]
		var why string
		switch {
		case !okA:
			why = "only in " + b
		case !okB:
			why = "only in " + a
		case x.typ != y.typ:
			why = fmt.Sprintf("type %v vs %v", x.typ, y.typ)
		case x.perm != y.perm:
			why = fmt.Sprintf("mode %o vs %o", x.perm, y.perm)
		case x.mtime != y.mtime:
			why = fmt.Sprintf("mtime %d vs %d", x.mtime, y.mtime)
		case !bytes.Equal(x.data, y.data):
			why = fmt.Sprintf("content differs (%d vs %d bytes)", len(x.data), len(y.data))
		case x.target != y.target:
			why = fmt.Sprintf("link %q vs %q", x.target, y.target)
		}
		if why != "" {
			bad++
			if bad <= 20 {
				t.Errorf("%q: %s", k, why)
			}
		}
	}
	if bad > 20 {
		t.Errorf("... %d differences in all", bad)
	}
}

// writeFile creates a file with content, mode and mtime, making parents.
func writeFile(t *testing.T, p, content string, mode fs.FileMode, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// wrapperScript writes an rsh wrapper that ignores the host, as rsync's own
// test suite does, and runs the rest of its arguments locally.
func wrapperScript(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rsh wrapper.sh")
	script := "#!/bin/sh\n# fcp test rsh: drop the host, run the command here\nshift\nexec \"$@\"\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(p), 0o755)
	return p
}

// jsonSummary returns the "summary" line of --json output.
func jsonSummary(t *testing.T, stdout string) string {
	t.Helper()
	for _, line := range strings.Split(stdout, "\n") {
		if strings.Contains(line, `"event":"summary"`) {
			return line
		}
	}
	t.Fatalf("no summary in %q", stdout)
	return ""
}
