package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostileConfig is the configuration of the fake agent in
// testdata/hostile (its type config).
type hostileConfig struct {
	Noise   string         `json:"noise,omitempty"`
	Entries []hostileEntry `json:"entries"`
	BadSum  bool           `json:"bad_sum,omitempty"`
}

// hostileEntry is one scan entry the fake agent offers.
type hostileEntry struct {
	Path  string `json:"path"`
	Type  string `json:"type"` // "file" or "dir"
	Mode  uint32 `json:"mode"`
	Mtime int64  `json:"mtime"`
	Data  string `json:"data,omitempty"`
}

var hostileMtime = time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)

func hostileDir(p string) hostileEntry {
	return hostileEntry{Path: p, Type: "dir", Mode: 0o755, Mtime: hostileMtime.UnixNano()}
}

func hostileFile(p, data string) hostileEntry {
	return hostileEntry{Path: p, Type: "file", Mode: 0o644, Mtime: hostileMtime.UnixNano(), Data: data}
}

// buildHostile builds the fake agent and returns its path.
func buildHostile(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hostile")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/hostile")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the fake agent: %v\n%s", err, b)
	}
	return out
}

// agentCacheName is the file name under which fcp's bootstrap looks for
// its agent in the remote cache: "fcp-" and the first 16 hex digits of the
// SHA-256 of the fcp binary.
func agentCacheName(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(fcpBin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return "fcp-" + hex.EncodeToString(sum[:])[:16]
}

// hostileHome returns a HOME whose agent cache holds the fake agent,
// configured with cfg, under the name of the fcp under test: the
// bootstrap finds it there and runs it instead of uploading fcp.
func hostileHome(t *testing.T, fake string, cfg hostileConfig) string {
	t.Helper()
	home := t.TempDir()
	cache := filepath.Join(home, ".cache", "fcp")
	must(t, os.MkdirAll(cache, 0o700))
	b, err := os.ReadFile(fake)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(cache, agentCacheName(t)), b, 0o700))
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(cache, "hostile.json"), j, 0o600))
	return home
}

// pullHostile pulls the fake agent's "/src/" into dst.
func pullHostile(t *testing.T, fake string, cfg hostileConfig, dst string) result {
	t.Helper()
	home := hostileHome(t, fake, cfg)
	rsh := "'" + wrapperScript(t) + "'"
	return fcp(t, runOpts{home: home}, "-e", rsh, "host:/src/", dst)
}

// regularFiles returns the regular files under root.
func regularFiles(root string) []string {
	var found []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// wantLineMentioning fails the test unless every line of stderr begins
// with "fcp: " and one of them contains all of want.
func wantLineMentioning(t *testing.T, r result, want ...string) {
	t.Helper()
	found := false
	for _, l := range errorLines(r.stderr) {
		if !strings.HasPrefix(l, "fcp: ") {
			t.Errorf("stderr line does not begin with \"fcp: \": %q", l)
		}
		all := true
		for _, w := range want {
			all = all && strings.Contains(l, w)
		}
		found = found || all
	}
	if !found {
		t.Errorf("no error line mentions %q:\n%s", want, r.stderr)
	}
}

// TestHostileRemote pulls from a fake agent that breaks the rules: paths
// that escape the destination, paths through a destination symlink, data
// that does not match its hash, and text before the handshake.
func TestHostileRemote(t *testing.T) {
	fake := buildHostile(t)

	t.Run("control", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "dst")
		r := pullHostile(t, fake, hostileConfig{Entries: []hostileEntry{
			hostileDir("."), hostileFile("a.txt", "from the fake"), hostileDir("d"), hostileFile("d/b.txt", "bee"),
		}}, dst)
		wantCode(t, r, 0)
		if r.stderr != "" {
			t.Errorf("stderr: %s", r.stderr)
		}
		wantContent(t, filepath.Join(dst, "a.txt"), "from the fake")
		wantContent(t, filepath.Join(dst, "d", "b.txt"), "bee")
	})

	t.Run("escape", func(t *testing.T) {
		tests := []struct {
			name string
			path func(unique string) string // the hostile entry's path
		}{
			{"dot-dot", func(u string) string { return "../" + u }},
			{"absolute", func(u string) string { return "/etc/" + u }},
			{"dot-dot inside", func(u string) string { return "a/../../" + u }},
			{"NUL", func(u string) string { return u + "\x00/../../x" }},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				unique := fmt.Sprintf("fcp-hostile-%d-%d", os.Getpid(), i)
				parent := t.TempDir()
				dst := filepath.Join(parent, "dst")
				r := pullHostile(t, fake, hostileConfig{Entries: []hostileEntry{
					hostileDir("."), hostileDir("a"), hostileFile(tc.path(unique), "escaped"),
				}}, dst)
				wantCode(t, r, 12)
				wantOneErrorLine(t, r, unique)
				for _, p := range []string{filepath.Join(parent, unique), filepath.Join("/", unique), filepath.Join("/etc", unique)} {
					wantAbsent(t, p)
				}
				ents, _ := os.ReadDir(parent)
				for _, e := range ents {
					if e.Name() != "dst" {
						t.Errorf("written beside the destination: %q", e.Name())
					}
				}
				if files := regularFiles(dst); len(files) > 0 {
					t.Errorf("files written: %q", files)
				}
			})
		}
	})

	t.Run("destination symlink", func(t *testing.T) {
		tests := []struct {
			name    string
			entries []hostileEntry
			code    int
			mention string // what an error line names; "" for no error
		}{
			{
				name:    "file beneath the link",
				entries: []hostileEntry{hostileDir("."), hostileFile("sub/x", "through the link")},
				code:    23,
				mention: "sub/x",
			},
			{
				name:    "directory replaces the link",
				entries: []hostileEntry{hostileDir("."), hostileDir("sub"), hostileFile("sub/x", "in a real directory")},
				code:    0,
			},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				outside := t.TempDir()
				dst := filepath.Join(t.TempDir(), "dst")
				must(t, os.Mkdir(dst, 0o755))
				must(t, os.Symlink(outside, filepath.Join(dst, "sub")))
				r := pullHostile(t, fake, hostileConfig{Entries: tc.entries}, dst)
				wantCode(t, r, tc.code)
				wantEntries(t, outside)
				if tc.mention != "" {
					wantLineMentioning(t, r, tc.mention)
					return
				}
				if r.stderr != "" {
					t.Errorf("stderr: %s", r.stderr)
				}
				fi, err := os.Lstat(filepath.Join(dst, "sub"))
				if err != nil || !fi.IsDir() {
					t.Fatalf("sub is not a directory: %v %v", fi, err)
				}
				wantContent(t, filepath.Join(dst, "sub", "x"), "in a real directory")
			})
		}
	})

	t.Run("hash mismatch", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "dst")
		r := pullHostile(t, fake, hostileConfig{BadSum: true, Entries: []hostileEntry{
			hostileDir("."), hostileFile("tampered.txt", "these bytes are not what was hashed"),
		}}, dst)
		wantCode(t, r, 23)
		wantLineMentioning(t, r, "tampered.txt", "hash")
		wantAbsent(t, filepath.Join(dst, "tampered.txt"))
		if tmp := tempFiles(t, dst); len(tmp) > 0 {
			t.Errorf("temporary files left: %q", tmp)
		}
	})

	t.Run("noise before the handshake", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "dst")
		r := pullHostile(t, fake, hostileConfig{Noise: "Welcome to the server\n", Entries: []hostileEntry{
			hostileDir("."), hostileFile("a.txt", "never sent"),
		}}, dst)
		wantCode(t, r, 2)
		wantOneErrorLine(t, r, "Welcome to the server")
		wantAbsent(t, dst)
	})
}
