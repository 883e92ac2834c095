package e2e

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reconnectTree makes a source tree of four large random files, so a run
// lasts long enough to lose its connections twice, and a few small ones.
func reconnectTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	for i := range 4 {
		randomFile(t, filepath.Join(src, "big", "f"+strconv.Itoa(i)+".bin"), 24<<20+i*4099)
	}
	for i := range 20 {
		randomFile(t, filepath.Join(src, "small", strconv.Itoa(i)), 100+i*977)
	}
	base := time.Date(2022, 1, 2, 3, 4, 5, 600, time.UTC)
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			must(t, os.Chtimes(p, base, base))
		}
		return err
	})
	return src
}

// reconnectAgents returns the pids of the processes whose executable lies
// under dir: the agents, which run from their cache there.
func reconnectAgents(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, en := range entries {
		pid, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink("/proc/" + en.Name() + "/exe")
		if err == nil && strings.HasPrefix(exe, dir+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// reconnectKill sends SIGKILL to every pid and reports how many it reached.
func reconnectKill(pids []int) int {
	n := 0
	for _, pid := range pids {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

// tempGrew reports whether a temporary file of fcp under dir holds more
// data than sizes records for it (none for a new one), and records the
// sizes it finds.
func tempGrew(dir string, sizes map[string]int64) bool {
	grew := false
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasPrefix(d.Name(), ".fcp-") {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.Size() > sizes[p] {
			sizes[p] = fi.Size()
			grew = true
		}
		return nil
	})
	return grew
}

// reconnectRun is a run of fcp in the background.
type reconnectRun struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{} // closed when fcp has ended, err set
	err    error
}

// startReconnectRun starts fcp with args; it is killed at the end of the
// test if it still runs.
func startReconnectRun(t *testing.T, args ...string) *reconnectRun {
	t.Helper()
	cmd := exec.Command(fcpBin, args...)
	cmd.Env = append(filterEnv(os.Environ(), "HOME", "XDG_CACHE_HOME"), "HOME="+t.TempDir())
	s := &reconnectRun{cmd: cmd, stderr: new(lockedBuffer), done: make(chan struct{})}
	cmd.Stderr = s.stderr
	must(t, cmd.Start())
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
	})
	return s
}

// until polls cond every 20 ms until it holds, failing the test if fcp
// ends first or a minute passes.
func (s *reconnectRun) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); {
		select {
		case <-s.done:
			t.Fatalf("fcp ended (%v) before %s; stderr:\n%s", s.err, what, s.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; stderr:\n%s", what, s.stderr.String())
		}
	}
}

// wait waits for fcp to end and returns its error, failing the test if
// it runs for longer than limit.
func (s *reconnectRun) wait(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case <-s.done:
		return s.err
	case <-time.After(limit):
		t.Fatalf("fcp still ran after %v; stderr:\n%s", limit, s.stderr.String())
		return nil
	}
}

// TestReconnectAfterAgentsKilled copies over one SSH connection and kills
// every agent twice while file data moves: fcp reconnects each time and
// the copy ends identical, in both directions.
func TestReconnectAfterAgentsKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("copies large files")
	}
	s := startSSHD(t)
	src := reconnectTree(t)
	for _, dir := range []string{"push", "pull"} {
		t.Run(dir, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dst")
			args := []string{"-vv", "-n", "1", "--bwlimit", "16M", "-p", strconv.Itoa(s.port), "-F", s.clientConf}
			if dir == "push" {
				args = append(args, src+"/", "127.0.0.1:"+dst)
			} else {
				args = append(args, "127.0.0.1:"+src+"/", dst)
			}
			run := startReconnectRun(t, args...)
			killed := map[int]bool{}
			for round := 1; round <= 2; round++ {
				var victims []int
				sizes := map[string]int64{}
				tempGrew(dst, sizes)
				run.until(t, "data moving through a new agent", func() bool {
					victims = victims[:0]
					for _, pid := range reconnectAgents(s.cache) {
						if !killed[pid] {
							victims = append(victims, pid)
						}
					}
					return len(victims) > 0 && tempGrew(dst, sizes) &&
						strings.Count(run.stderr.String(), "msg=reconnected") >= round-1
				})
				if reconnectKill(victims) == 0 {
					t.Fatalf("round %d: could not kill agents %v", round, victims)
				}
				for _, pid := range victims {
					killed[pid] = true
				}
				// Let the loss be noticed before looking for new agents.
				run.until(t, "the loss to be noticed", func() bool {
					return strings.Count(run.stderr.String(), "connection lost; reconnecting") >= round
				})
			}
			if err := run.wait(t, 2*time.Minute); err != nil {
				t.Fatalf("fcp failed after its agents were killed twice: %v\n%s", err, run.stderr.String())
			}
			if n := strings.Count(run.stderr.String(), "msg=reconnected"); n < 2 {
				t.Errorf("reconnected %d times, want 2:\n%s", n, run.stderr.String())
			}
			sameTree(t, src, dst)
			if t.Failed() {
				t.Logf("stderr:\n%s", run.stderr.String())
			}
		})
	}
}

// TestReconnectGivesUp kills the agents of a run whose new logins fail:
// fcp exits 10 once --reconnect has passed, saying so on one line, and
// leaves no partial file at a final path.
func TestReconnectGivesUp(t *testing.T) {
	src := reconnectTree(t)
	dst := filepath.Join(t.TempDir(), "dst")
	pids := t.TempDir()
	marker := filepath.Join(t.TempDir(), "refuse")
	wrapper := filepath.Join(t.TempDir(), "rsh-refusing.sh")
	script := "#!/bin/sh\n# logins fail once the marker exists\n[ -e '" + marker + "' ] && exit 255\n" +
		"echo $$ > '" + pids + "'/$$\nshift\nexec \"$@\"\n"
	must(t, os.WriteFile(wrapper, []byte(script), 0o755))

	run := startReconnectRun(t, "-n", "1", "--reconnect", "2s", "--bwlimit", "16M", "-e", "'"+wrapper+"'", src+"/", "host:"+dst)
	run.until(t, "data moving", func() bool { return tempFileGrowing(dst) })
	must(t, os.WriteFile(marker, nil, 0o644))
	var agents []int
	entries, _ := os.ReadDir(pids)
	for _, en := range entries {
		pid, _ := strconv.Atoi(en.Name())
		if cmdline, _ := os.ReadFile("/proc/" + en.Name() + "/cmdline"); bytes.Contains(cmdline, []byte("agent")) {
			agents = append(agents, pid)
		}
	}
	if reconnectKill(agents) == 0 {
		t.Fatalf("no agent to kill among %v", entries)
	}
	killedAt := time.Now()
	err := run.wait(t, 30*time.Second)
	took := time.Since(killedAt)
	stderr := run.stderr.String()
	t.Logf("gave up %v after the kill: %s", took.Round(time.Millisecond), stderr)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 10 {
		t.Errorf("fcp ended with %v, want exit code 10; stderr:\n%s", err, stderr)
	}
	if took < 2*time.Second || took > 10*time.Second {
		t.Errorf("fcp gave up %v after its connection was lost, want a little over 2s", took)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "could not reconnect within 2s") ||
		!strings.Contains(stderr, "lost every connection to host") {
		t.Errorf("stderr %q: want one line saying it lost every connection to host and could not reconnect within 2s", stderr)
	}

	// What reached a final path is complete; temporary files are hidden.
	filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		rel, _ := filepath.Rel(dst, p)
		want, _ := os.ReadFile(filepath.Join(src, rel))
		if got, _ := os.ReadFile(p); !bytes.Equal(got, want) {
			t.Errorf("%s: partial or wrong file at its final path (%d bytes, want %d)", rel, len(got), len(want))
		}
		return nil
	})
}
