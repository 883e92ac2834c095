package e2e

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pidWrapper writes an rsh wrapper that records the pid of each
// connection (the agent keeps it: the wrapper and the shell exec) in dir.
func pidWrapper(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rsh-pids.sh")
	script := "#!/bin/sh\necho $$ > '" + dir + "'/$$\nshift\nexec \"$@\"\n"
	must(t, os.WriteFile(p, []byte(script), 0o755))
	return p
}

func randomFile(t *testing.T, p string, size int) []byte {
	t.Helper()
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 7))
	for i := 0; i+8 <= len(data); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, data, 0o644))
	return data
}

// TestSplitOverStreams copies a file much larger than the chunk size over
// several connections, in both directions.
func TestSplitOverStreams(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	randomFile(t, filepath.Join(src, "big.bin"), 40<<20+4321)
	randomFile(t, filepath.Join(src, "small.bin"), 5000)
	rsh := "'" + wrapperScript(t) + "'"
	home := t.TempDir()
	for _, dir := range directions[:2] {
		t.Run(dir.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dst")
			mustFcp(t, runOpts{home: home}, append([]string{"-n", "4"}, dir.args(rsh, src+"/", dst)...)...)
			sameTree(t, src, dst)
		})
	}
}

// TestConnectionKilledMidTransfer kills one of several connections while a
// large file and a tree are copied: the run still ends with identical
// files, its work moved to the other connections.
func TestConnectionKilledMidTransfer(t *testing.T) {
	if testing.Short() {
		t.Skip("copies a large file")
	}
	src := filepath.Join(t.TempDir(), "src")
	randomFile(t, filepath.Join(src, "big.bin"), 600<<20)
	for i := range 300 {
		randomFile(t, filepath.Join(src, "tree", strconv.Itoa(i%10), strconv.Itoa(i)), 1000+i*37)
	}
	pids := t.TempDir()
	rsh := "'" + pidWrapper(t, pids) + "'"
	dst := filepath.Join(t.TempDir(), "dst")

	cmd := exec.Command(fcpBin, "-vv", "-n", "3", "--chunk-size", "262144", "-e", rsh, src+"/", "host:"+dst)
	cmd.Env = append(filterEnv(os.Environ(), "HOME", "XDG_CACHE_HOME"), "HOME="+t.TempDir())
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// Wait for three connections and for data to be moving, then kill
	// the first connection's agent.
	killed := false
	var agentSince time.Time
	deadline := time.Now().Add(60 * time.Second)
	for !killed && time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("fcp finished (%v) before a connection could be killed; stderr:\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		entries, _ := os.ReadDir(pids)
		if len(entries) < 3 || !tempFileGrowing(dst) || strings.Count(stderr.String(), "connection joined") < 2 {
			continue
		}
		// The wrapper and then the shell exec, so the pid ends up the
		// agent's once it runs. The first connection is surely busy: it
		// started the large file alone.
		pid := 0
		for _, en := range entries {
			if p, _ := strconv.Atoi(en.Name()); pid == 0 || p < pid {
				pid = p
			}
		}
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if !bytes.Contains(cmdline, []byte("agent")) {
			continue
		}
		// Let it finish its handshake and take on work first.
		if agentSince.IsZero() {
			agentSince = time.Now()
		}
		if time.Since(agentSince) < 300*time.Millisecond {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed = true
		}
	}
	if !killed {
		cmd.Process.Kill()
		<-done
		t.Fatalf("never saw three connections moving data; stderr:\n%s", stderr.String())
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("fcp failed after one of three connections was killed: %v\n%s", err, stderr.String())
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("fcp hung after a connection was killed:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "connection lost") {
		t.Errorf("the killed connection was not noticed (was it killed after its work?):\n%s", stderr.String())
	}
	sameTree(t, src, dst)
}

// tempFileGrowing reports whether a temporary file of fcp exists under dir
// with some data in it.
func tempFileGrowing(dir string) bool {
	found := false
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".fcp-") {
			if fi, err := d.Info(); err == nil && fi.Size() > 0 {
				found = true
			}
		}
		return nil
	})
	return found
}

// lockedBuffer is a bytes.Buffer safe to write from exec's goroutine while
// the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
