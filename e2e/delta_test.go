package e2e

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// editFile overwrites n random bytes at off and appends extra random
// bytes, keeping the file's mtime moving.
func editFile(t *testing.T, p string, off int64, n, extra int) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(off), uint64(n)))
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	must(t, err)
	defer f.Close()
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	_, err = f.WriteAt(buf, off)
	must(t, err)
	if extra > 0 {
		fi, err := f.Stat()
		must(t, err)
		tail := make([]byte, extra)
		for i := range tail {
			tail[i] = byte(r.Uint32())
		}
		_, err = f.WriteAt(tail, fi.Size())
		must(t, err)
	}
	later := time.Now().Add(time.Minute)
	must(t, os.Chtimes(p, later, later))
}

// TestDeltaOverSSH changes large files on one side and copies them again
// through a real sshd, both ways: only about the changed bytes cross, and
// the result is identical. --whole-file sends the file whole.
func TestDeltaOverSSH(t *testing.T) {
	s := startSSHD(t)
	flags := []string{"--json", "-p", strconv.Itoa(s.port), "-F", s.clientConf}
	src := filepath.Join(t.TempDir(), "src")
	randomFile(t, filepath.Join(src, "big.bin"), 24<<20+17)
	randomFile(t, filepath.Join(src, "d", "mid.bin"), 700<<10)
	remote := filepath.Join(t.TempDir(), "remote")
	mustFcp(t, runOpts{}, append(flags, src+"/", "127.0.0.1:"+remote)...)
	sameTree(t, src, remote)

	// Push: 1 MiB overwritten in the middle, 100 KiB appended.
	editFile(t, filepath.Join(src, "big.bin"), 12<<20, 1<<20, 100<<10)
	editFile(t, filepath.Join(src, "d", "mid.bin"), 1000, 10, 0)
	r := mustFcp(t, runOpts{}, append(flags, src+"/", "127.0.0.1:"+remote)...)
	sameTree(t, src, remote)
	if sm := parseSummary(t, r.stdout); sm.Files != 2 || sm.Bytes > 1<<20+100<<10+256<<10 {
		t.Errorf("push of two edited files: %d files, %d bytes sent; want 2 files and about 1.1 MiB", sm.Files, sm.Bytes)
	}

	// Pull: the remote copy changes, the local one follows.
	local := filepath.Join(t.TempDir(), "local")
	mustFcp(t, runOpts{}, append(flags, "127.0.0.1:"+remote+"/", local)...)
	editFile(t, filepath.Join(remote, "big.bin"), 3<<20, 64<<10, 0)
	r = mustFcp(t, runOpts{}, append(flags, "127.0.0.1:"+remote+"/", local)...)
	sameTree(t, remote, local)
	if sm := parseSummary(t, r.stdout); sm.Files != 1 || sm.Bytes > 64<<10+256<<10 {
		t.Errorf("pull of an edited file: %d files, %d bytes; want 1 file and about 64 KiB", sm.Files, sm.Bytes)
	}

	// --whole-file: the same edit costs the whole file.
	editFile(t, filepath.Join(src, "big.bin"), 5<<20, 10, 0)
	r = mustFcp(t, runOpts{}, append(flags, "--whole-file", src+"/", "127.0.0.1:"+remote)...)
	sameTree(t, src, remote)
	if sm := parseSummary(t, r.stdout); sm.Bytes < 24<<20 {
		t.Errorf("--whole-file sent %d bytes; want the whole file", sm.Bytes)
	}
}

// TestResumeAfterClientKilled kills fcp (SIGKILL) in the middle of a
// large file pushed through a real sshd: the agent keeps the data as a
// hidden partial file, nothing appears at the final path, and the next
// run sends only what is missing.
func TestResumeAfterClientKilled(t *testing.T) {
	s := startSSHD(t)
	src := filepath.Join(t.TempDir(), "src")
	const size = 48 << 20
	randomFile(t, filepath.Join(src, "big.bin"), size)
	remote := filepath.Join(t.TempDir(), "remote")
	flags := []string{"-p", strconv.Itoa(s.port), "-F", s.clientConf}

	cmd := exec.Command(fcpBin, append(flags, "-n", "1", "--bwlimit", "16M", src+"/", "127.0.0.1:"+remote)...)
	cmd.Env = os.Environ()
	must(t, cmd.Start())
	// Generous: the first contact uploads the agent, slow on a busy machine.
	deadline := time.Now().Add(90 * time.Second)
	for written := int64(0); written < 12<<20; {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the copy did not get going")
		}
		time.Sleep(20 * time.Millisecond)
		matches, _ := filepath.Glob(filepath.Join(remote, ".fcp-big.bin.*.tmp"))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil {
				written = fi.Size()
			}
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	partial := filepath.Join(remote, ".fcp-big.bin.partial")
	var kept int64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if fi, err := os.Stat(partial); err == nil {
			kept = fi.Size()
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(remote)
			t.Fatalf("no partial file after the client was killed; the destination holds %v", entries)
		}
	}
	if _, err := os.Stat(filepath.Join(remote, "big.bin")); err == nil {
		t.Fatal("a file at the final path after the client was killed")
	}

	r := mustFcp(t, runOpts{}, append(flags, "--json", src+"/", "127.0.0.1:"+remote)...)
	sameTree(t, src, remote)
	sm := parseSummary(t, r.stdout)
	if sm.Bytes > size-kept+256<<10 {
		t.Errorf("the resumed run sent %d bytes; the partial file held %d of %d", sm.Bytes, kept, size)
	}
	t.Logf("killed with %d of %d bytes kept; the re-run sent %d", kept, size, sm.Bytes)
	if _, err := os.Stat(partial); err == nil {
		t.Error("the partial file is still there after the file was committed")
	}
}
