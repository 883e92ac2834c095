package e2e

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The fault tests break something under a running fcp (a connection, the
// client, the agent, the disk, a permission, the source) and check what
// the user sees: the exit code, a clear line on stderr naming the cause,
// and a destination where every file at a final path is absent, its old
// version or byte-identical to the source, never partial. A re-run
// without the fault must then end with the source's tree and no
// temporary file.
//
// The randomized tests log their seed; FCP_FAULT_SEED=N repeats a run.

// faultSeed returns the seed of a randomized test, from FCP_FAULT_SEED or
// the clock, and logs it.
func faultSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FCP_FAULT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		must(t, err)
		seed = v
	}
	t.Logf("seed %d (FCP_FAULT_SEED=%d repeats it)", seed, seed)
	return seed
}

// randomBytes returns n bytes drawn from a generator seeded by rng.
func randomBytes(rng *rand.Rand, n int) []byte {
	var seed [32]byte
	for i := range 4 {
		v := rng.Uint64()
		for j := range 8 {
			seed[i*8+j] = byte(v >> (8 * j))
		}
	}
	b := make([]byte, n)
	rand.NewChaCha8(seed).Read(b)
	return b
}

// writeBytes creates the file p with data and mtime, making parents.
func writeBytes(t *testing.T, p string, data []byte, mtime time.Time) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, data, 0o644))
	must(t, os.Chtimes(p, mtime, mtime))
}

// faultTree writes under root three dozen small files (up to 48 KiB, some
// empty) in nested directories and one large file per size in bigSizes,
// with contents drawn from rng, and returns root.
func faultTree(t *testing.T, root string, rng *rand.Rand, bigSizes ...int) string {
	t.Helper()
	base := time.Date(2022, 5, 6, 7, 8, 9, 0, time.UTC)
	for i := range 36 {
		p := filepath.Join(root, fmt.Sprintf("d%d", i%4), fmt.Sprintf("s%d", i%3), fmt.Sprintf("f%02d.dat", i))
		writeBytes(t, p, randomBytes(rng, rng.IntN(48<<10)), base.Add(time.Duration(i)*time.Second))
	}
	for i, n := range bigSizes {
		writeBytes(t, filepath.Join(root, fmt.Sprintf("big%d.bin", i)), randomBytes(rng, n), base)
	}
	return root
}

// treeBytes returns the bytes of all regular files in a snapshot.
func treeBytes(snap map[string]node) int64 {
	var n int64
	for _, e := range snap {
		n += e.size
	}
	return n
}

// oldVersions writes into dst an older version, with an older mtime, of
// every third small regular file of src (other content, half the size)
// and of every large one (three quarters of the source's data with one
// MiB in four replaced, so that a delta transfer finds much of it), and
// returns the snapshot of what it wrote.
func oldVersions(t *testing.T, dst string, src map[string]node, rng *rand.Rand) map[string]node {
	t.Helper()
	old := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, rel := range slices.Sorted(maps.Keys(src)) {
		n := src[rel]
		switch {
		case n.typ != 0:
		case n.size >= 1<<20:
			data := bytes.Clone(n.data[:n.size*3/4])
			for off := 0; off+1<<20 <= len(data); off += 4 << 20 {
				copy(data[off:], randomBytes(rng, 1<<20))
			}
			writeBytes(t, filepath.Join(dst, rel), data, old)
		case i%3 == 0:
			writeBytes(t, filepath.Join(dst, rel), randomBytes(rng, int(n.size/2)+1), old)
		}
	}
	return snapshot(t, dst)
}

// isTemp reports whether a path names one of fcp's temporary files.
func isTemp(rel string) bool { return strings.HasPrefix(filepath.Base(rel), ".fcp-") }

// wantWholeFiles fails the test unless every regular file under dst but
// fcp's temporary files is byte-identical to the file at its path in src
// or in old (what was there before the run).
func wantWholeFiles(t *testing.T, dst string, src, old map[string]node) {
	t.Helper()
	if _, err := os.Lstat(dst); err != nil {
		return
	}
	for rel, n := range snapshot(t, dst) {
		if n.typ != 0 || isTemp(rel) {
			continue
		}
		if s, ok := src[rel]; ok && s.typ == 0 && bytes.Equal(s.data, n.data) {
			continue
		}
		if o, ok := old[rel]; ok && o.typ == 0 && bytes.Equal(o.data, n.data) {
			continue
		}
		t.Errorf("%s: %d bytes at a final path that are neither the source's (%d bytes) nor the old file's (%d bytes)",
			rel, n.size, src[rel].size, old[rel].size)
	}
}

// sameTreeButTemps is sameTree leaving fcp's temporary files out.
func sameTreeButTemps(t *testing.T, a, b string) {
	t.Helper()
	sa, sb := snapshot(t, a), snapshot(t, b)
	maps.DeleteFunc(sa, func(rel string, _ node) bool { return isTemp(rel) })
	maps.DeleteFunc(sb, func(rel string, _ node) bool { return isTemp(rel) })
	diffTrees(t, sa, sb, a, b)
}

// wantNoTemps fails the test if any of fcp's temporary files is under
// root, as after a successful run.
func wantNoTemps(t *testing.T, root string) {
	t.Helper()
	if tmp := tempFiles(t, root); len(tmp) > 0 {
		t.Errorf("temporary files left after a successful run: %q", tmp)
	}
}

// wantNoTmp fails the test if a temporary file of fcp's is under root
// after a faulty run, except, when resumable, the partial files kept for
// resuming (".fcp-NAME.partial").
func wantNoTmp(t *testing.T, root string, resumable bool) {
	t.Helper()
	for _, f := range tempFiles(t, root) {
		if !resumable || !strings.HasSuffix(f, ".partial") {
			t.Errorf("temporary file left behind: %s", f)
		}
	}
}

// resumableDocumented reports whether README.md documents partial files
// kept for resuming, a feature being built while these tests are.
func resumableDocumented(t *testing.T) bool {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	must(t, err)
	ok := bytes.Contains(readme, []byte(".partial"))
	t.Logf("resumable .partial files documented in README.md: %v", ok)
	return ok
}

// waitAgentsGone waits until no agent installed in cache runs any more:
// an agent whose connection ended removes its temporary files before it
// exits, after the fcp that started it may have exited.
func waitAgentsGone(t *testing.T, cache string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(agentPids(cache)) > 0 {
		if time.Now().After(deadline) {
			t.Errorf("agents %v still run 10s after their fcp ended", agentPids(cache))
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// optionalSSHD starts a test sshd when this machine can run one, else
// returns nil, so that the local cases of a test run anyway.
func optionalSSHD(t *testing.T) *sshd {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil || os.Geteuid() != 0 {
		return nil
	}
	return startSSHD(t)
}

// connLost matches a line that names a lost or failed connection.
var connLost = regexp.MustCompile(`(?i)connection|closed|lost|reset|EOF|broken pipe`)

// wantConnectionLine fails the test unless stderr is one line beginning
// with "fcp: " that names the lost connection.
func wantConnectionLine(t *testing.T, r result) {
	t.Helper()
	lines := errorLines(r.stderr)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "fcp: ") || !connLost.MatchString(lines[0]) {
		t.Errorf("exit %d; want one line \"fcp: ...\" naming the lost connection, got:\n%s", r.code, r.stderr)
	}
}

// helpMentions reports whether fcp --help lists flag, for features that
// are being built while these tests are.
func helpMentions(t *testing.T, flag string) bool {
	t.Helper()
	r := fcp(t, runOpts{}, "--help")
	return regexp.MustCompile(`(?m)^\s+(-\w, )?` + regexp.QuoteMeta(flag) + `\b`).MatchString(r.stdout)
}

// sshFlags are fcp's flags for reaching s, or a proxy in front of it, on
// port.
func sshFlags(s *sshd, port int) []string {
	return []string{"-p", strconv.Itoa(port), "-F", s.clientConf}
}

// trustProxy adds s's host key for the proxy's port to the client's
// known_hosts, where entries for ports other than 22 read [host]:port.
func trustProxy(t *testing.T, s *sshd, p *faultProxy) {
	t.Helper()
	pub, err := os.ReadFile(filepath.Join(s.dir, "host_key.pub"))
	must(t, err)
	f, err := os.OpenFile(filepath.Join(s.dir, "known_hosts"), os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	defer f.Close()
	_, err = fmt.Fprintf(f, "\n[127.0.0.1]:%d %s", p.port, pub)
	must(t, err)
}

// fcpProc is fcp running in the background.
type fcpProc struct {
	cmd            *exec.Cmd
	args           []string
	stdout, stderr lockedBuffer
	done           chan struct{}
	err            error
	exitedAt       time.Time
}

// startFcp starts fcp with args as fcp does and returns at once. The
// process is killed when the test ends if it still runs.
func startFcp(t *testing.T, o runOpts, args ...string) *fcpProc {
	t.Helper()
	p := &fcpProc{cmd: exec.Command(fcpBin, args...), args: args, done: make(chan struct{})}
	p.cmd.Dir = o.dir
	home := o.home
	if home == "" {
		home = t.TempDir()
		os.Chmod(home, 0o777)
	}
	p.cmd.Env = append(filterEnv(os.Environ(), "HOME", "XDG_CACHE_HOME"), "HOME="+home)
	if o.uid != 0 {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.uid)}}
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	must(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		p.exitedAt = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *fcpProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process unless it has ended, and reports
// whether it was sent.
func (p *fcpProc) signal(sig syscall.Signal) bool {
	return !p.exited() && p.cmd.Process.Signal(sig) == nil
}

// wait waits up to timeout for the process and returns what it showed
// the user; a process still running then is killed and fails the test.
func (p *fcpProc) wait(t *testing.T, timeout time.Duration) result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("fcp %q still ran after %v; stderr:\n%s", p.args, timeout, p.stderr.String())
	}
	r := result{stdout: p.stdout.String(), stderr: p.stderr.String()}
	if ee, ok := p.err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.code = -int(ws.Signal())
		}
	} else if p.err != nil {
		t.Fatal(p.err)
	}
	return r
}

// waitUntil polls cond every 5 ms until it holds or p ends, and reports
// whether it held while p still ran.
func waitUntil(p *fcpProc, limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if p.exited() {
			return false
		}
		if cond() {
			return !p.exited()
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// agentPids returns the processes running an agent installed in cache,
// the sessions' XDG_CACHE_HOME of a test sshd.
func agentPids(cache string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink("/proc/" + e.Name() + "/exe")
		if err == nil && strings.HasPrefix(exe, cache+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestFaultConnectionCut cuts the connections of pushes and pulls at
// random byte offsets, through a proxy in front of sshd: the first three
// connections, whether they are the first ones or replace them. The
// faulty run must succeed with the source's tree or fail with exit 10 and
// one line naming the lost connection, leaving no partial file at a final
// path; a re-run without faults must complete the tree. When fcp has
// --reconnect, half the trials turn it off, and two more cut each of the
// first -n connections once only: there the faulty run itself must
// succeed.
func TestFaultConnectionCut(t *testing.T) {
	s := startSSHD(t)
	seed := faultSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	src := faultTree(t, filepath.Join(t.TempDir(), "src"), rng, 8<<20+513, 12<<20)
	srcSnap := snapshot(t, src)

	// A first push installs the agent, so that cuts fall on the copy
	// rather than on its upload. A second one, through a proxy that cuts
	// nothing, counts the bytes that a copy onto old versions sends (fewer
	// than the tree's when deltas are used): the cuts fall within them.
	mustFcp(t, runOpts{}, append(sshFlags(s, s.port), src+"/", "127.0.0.1:"+filepath.Join(t.TempDir(), "fresh"))...)
	counter := startFaultProxy(t, "127.0.0.1:"+strconv.Itoa(s.port), toServer, nil)
	trustProxy(t, s, counter)
	warm := filepath.Join(t.TempDir(), "warm")
	oldVersions(t, warm, srcSnap, rng)
	mustFcp(t, runOpts{}, append(sshFlags(s, counter.port), "-n", "1", src+"/", "127.0.0.1:"+warm)...)
	counter.close()
	total := counter.toServerBytes.Load()
	reconnect := helpMentions(t, "--reconnect")
	if !reconnect {
		t.Log("fcp has no --reconnect: the trials that cut each connection once are left out")
	}
	resumable := resumableDocumented(t)

	type trial struct {
		name       string
		pull, once bool
		noRedial   bool // run with --reconnect 0
	}
	var trials []trial
	for i := range 4 {
		tr := trial{name: fmt.Sprintf("push-%d", i), pull: i == 3, noRedial: reconnect && i%2 == 1}
		if tr.pull {
			tr.name = fmt.Sprintf("pull-%d", i)
		}
		trials = append(trials, tr)
	}
	if reconnect {
		trials = append(trials, trial{name: "push-once", once: true}, trial{name: "pull-once", pull: true, once: true})
	}
	codes := map[int]int{}
	for _, tr := range trials {
		t.Run(tr.name, func(t *testing.T) {
			streams := 1 + rng.IntN(3)
			// Offsets for the first connections and any that replace them,
			// within one connection's share of the copy. One cut in five
			// falls on the SSH handshake or the agent's start, the rest on
			// the copy; when each connection is cut once, all fall on the
			// copy (a first connection that never starts is not re-dialled).
			share := total / int64(streams)
			offsets := make([]int64, 3)
			for k := range offsets {
				switch {
				case tr.once:
					offsets[k] = 256<<10 + rng.Int64N(max(share-256<<10, 1))
				case rng.IntN(5) == 0:
					offsets[k] = rng.Int64N(32 << 10)
				default:
					offsets[k] = rng.Int64N(share)
				}
			}
			dir := toServer
			if tr.pull {
				dir = toClient
			}
			p := startFaultProxy(t, "127.0.0.1:"+strconv.Itoa(s.port), dir, func(n int) int64 {
				if n >= len(offsets) || tr.once && n >= streams {
					return -1
				}
				return offsets[n]
			})
			trustProxy(t, s, p)

			dst := filepath.Join(t.TempDir(), "dst")
			old := oldVersions(t, dst, srcSnap, rng)
			operands := []string{src + "/", "127.0.0.1:" + dst}
			if tr.pull {
				// The proxy stands in front of the host that has the source.
				operands = []string{"127.0.0.1:" + src + "/", dst}
			}
			args := append(sshFlags(s, p.port), "-n", strconv.Itoa(streams))
			if tr.noRedial {
				args = append(args, "--reconnect", "0")
			}
			start := time.Now()
			r := fcp(t, runOpts{}, append(args, operands...)...)
			waitAgentsGone(t, s.cache)
			n := int(p.accepted.Load())
			t.Logf("-n %d, budgets of the first connections %v bytes: exit %d in %v, %d connections, %d cut",
				streams, offsets[:min(n, len(offsets))], r.code, time.Since(start).Round(time.Millisecond), n, p.cuts.Load())
			codes[r.code]++
			switch {
			case r.code == 0:
				sameTree(t, src, dst)
			case tr.once:
				t.Errorf("cutting each connection once failed the run: exit %d\n%s", r.code, r.stderr)
			case r.code == 10:
				wantConnectionLine(t, r)
			default:
				t.Errorf("exit %d, want 0 or 10 (connection lost)\nstderr: %s", r.code, r.stderr)
			}
			wantWholeFiles(t, dst, srcSnap, old)
			wantNoTmp(t, dst, resumable)

			start = time.Now()
			mustFcp(t, runOpts{}, append(sshFlags(s, s.port), operands...)...)
			t.Logf("re-run: %v", time.Since(start).Round(time.Millisecond))
			sameTree(t, src, dst)
			wantNoTemps(t, dst)
		})
	}
	t.Logf("%d random trials (a push sends %d bytes); exit codes of the faulty runs: %v", len(trials), total, codes)
}

// TestFaultClientKilled kills fcp with SIGKILL at random moments of a
// push of large files, and of a local copy. What is at a final path must
// be whole, and a re-run must complete the tree. After a push, the agent
// that survives the kill removes its temporary files or, when README.md
// documents resuming, keeps partial files (".fcp-*.partial") that the
// re-run uses and removes: no temporary file may be left after it. A
// killed local copy was its own receiver and cannot clean up: what it
// left is logged, not failed on.
func TestFaultClientKilled(t *testing.T) {
	s := startSSHD(t)
	seed := faultSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	src := faultTree(t, filepath.Join(t.TempDir(), "src"), rng, 8<<20, 16<<20+77)
	srcSnap := snapshot(t, src)
	resumable := resumableDocumented(t)

	// A first, timed run of each kind installs the agent and says how
	// long a copy takes; the kills fall anywhere in that time. A local
	// copy is slowed down to last long enough to be hit.
	took := map[string]time.Duration{}
	args := map[string]func(dst string) []string{
		"push":  func(dst string) []string { return append(sshFlags(s, s.port), src+"/", "127.0.0.1:"+dst) },
		"local": func(dst string) []string { return []string{"--bwlimit", "40M", src + "/", dst} },
	}
	for kind, a := range args {
		start := time.Now()
		mustFcp(t, runOpts{}, a(filepath.Join(t.TempDir(), "timed"))...)
		took[kind] = time.Since(start)
	}
	t.Logf("clean runs take %v", took)

	trials, killed := 0, 0
	for _, kind := range []string{"push", "push", "push", "local", "local"} {
		trials++
		t.Run(fmt.Sprintf("%s-%d", kind, trials), func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dst")
			old := oldVersions(t, dst, srcSnap, rng)
			delay := time.Duration(rng.Int64N(int64(took[kind])))
			p := startFcp(t, runOpts{}, args[kind](dst)...)
			time.Sleep(delay)
			if p.signal(syscall.SIGKILL) {
				killed++
			}
			r := p.wait(t, time.Minute)
			waitAgentsGone(t, s.cache)
			t.Logf("killed after %v: exit %d", delay, r.code)
			if r.code == 0 {
				sameTree(t, src, dst)
			}
			wantWholeFiles(t, dst, srcSnap, old)
			if kind == "push" {
				wantNoTmp(t, dst, resumable)
			}
			left := tempFiles(t, dst)

			start := time.Now()
			mustFcp(t, runOpts{}, args[kind](dst)...)
			t.Logf("re-run: %v", time.Since(start).Round(time.Millisecond))
			sameTreeButTemps(t, src, dst)
			switch tmp := tempFiles(t, dst); {
			case len(tmp) == 0:
			case kind == "push":
				t.Errorf("temporary files left after a successful re-run: %q", tmp)
			default:
				t.Logf("NOTE: temporary files of the killed copy still there after a successful re-run: %q (after the kill: %q)", tmp, left)
			}
		})
	}
	t.Logf("%d random trials, %d killed before fcp finished", trials, killed)
}

// mountTmpfs mounts a tmpfs of size bytes at a new directory and returns
// it, or skips the test when it cannot (not root, no mount permission).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "small")
	must(t, os.Mkdir(dir, 0o755))
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// TestFaultDiskFull copies a tree larger than the free space of the
// destination, locally and over ssh: exit 11, one line saying there is no
// space, the files that were there intact, nothing partial and no
// temporary file left.
func TestFaultDiskFull(t *testing.T) {
	seed := faultSeed(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	src := faultTree(t, filepath.Join(t.TempDir(), "src"), rng, 16<<20, 16<<20)
	srcSnap := snapshot(t, src)
	resumable := resumableDocumented(t)
	s := optionalSSHD(t)
	for _, dir := range []string{"local", "push"} {
		t.Run(dir, func(t *testing.T) {
			flags, dstArg := target(t, s, dir)
			mnt := mountTmpfs(t, 24<<20)
			keep := time.Date(2018, 1, 2, 3, 4, 5, 0, time.UTC)
			writeBytes(t, filepath.Join(mnt, "keep", "notes.txt"), []byte("written before the copy\n"), keep)
			writeBytes(t, filepath.Join(mnt, "keep", "old.bin"), randomBytes(rng, 2<<20), keep)
			dst := filepath.Join(mnt, "dst")
			writeBytes(t, filepath.Join(dst, "d0", "s0", "f00.dat"), []byte("an old version"), keep)
			before := snapshot(t, mnt)

			r := fcp(t, runOpts{}, append(flags, src+"/", dstArg(dst))...)
			if s != nil {
				waitAgentsGone(t, s.cache)
			}
			wantCode(t, r, 11)
			wantOneErrorLine(t, r, "no space")
			after := snapshot(t, mnt)
			for rel, n := range before {
				if !strings.HasPrefix(rel, "keep") {
					continue
				}
				if a, ok := after[rel]; !ok || !bytes.Equal(a.data, n.data) || a.mtime != n.mtime || a.perm != n.perm {
					t.Errorf("%s changed under a copy elsewhere", rel)
				}
			}
			oldDst := map[string]node{}
			for rel, n := range before {
				if r, err := filepath.Rel("dst", rel); err == nil && !strings.HasPrefix(r, "..") {
					oldDst[r] = n
				}
			}
			wantWholeFiles(t, dst, srcSnap, oldDst)
			wantNoTmp(t, mnt, resumable)
		})
	}
}

// TestFaultPermissionDenied copies, as an unprivileged user, into a
// destination with a subdirectory it may not write, locally and through
// an agent: the other files are copied, exit 23, and a line per refused
// file names it and says permission denied.
func TestFaultPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run fcp as another user (root may write anywhere)")
	}
	base := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, dir := range []string{"local", "push"} {
		t.Run(dir, func(t *testing.T) {
			work := openDir(t)
			src := filepath.Join(work, "src")
			for _, f := range []string{"a", "open/b", "locked/c", "locked/deeper/d"} {
				writeFile(t, filepath.Join(src, f), "data of "+f, 0o644, base)
			}
			// The user owns the destination but not its locked/, which is
			// as the source's in mode and mtime, so that fcp has nothing to
			// change on it: only the files it cannot write remain.
			dst := filepath.Join(work, "dst")
			must(t, os.MkdirAll(filepath.Join(dst, "locked"), 0o755))
			must(t, os.Chown(dst, nobody, nobody))
			for _, d := range []string{src, filepath.Join(src, "locked"), filepath.Join(dst, "locked")} {
				must(t, os.Chmod(d, 0o755))
				must(t, os.Chtimes(d, base, base))
			}
			home := filepath.Join(work, "home")
			must(t, os.Mkdir(home, 0o755))
			must(t, os.Chown(home, nobody, nobody))

			args := []string{src + "/", dst}
			if dir == "push" {
				rsh := filepath.Join(work, "rsh.sh")
				must(t, os.WriteFile(rsh, []byte("#!/bin/sh\nshift\nexec \"$@\"\n"), 0o755))
				args = []string{"-e", rsh, src + "/", "host:" + dst}
			}
			r := fcp(t, runOpts{uid: nobody, home: home, dir: work}, args...)
			wantCode(t, r, 23)
			wantLineMentioning(t, r, "locked/c", "permission denied")
			wantLineMentioning(t, r, "locked/deeper", "permission denied")
			for _, l := range errorLines(r.stderr) {
				if !strings.Contains(l, "locked") {
					t.Errorf("error line %q is about something else than locked/", l)
				}
			}
			wantContent(t, filepath.Join(dst, "a"), "data of a")
			wantContent(t, filepath.Join(dst, "open", "b"), "data of open/b")
			wantAbsent(t, filepath.Join(dst, "locked", "c"))
			wantNoTemps(t, dst)
		})
	}
}

// sourceEdit is one change made to a file while fcp reads it: data
// written at off (at the end when append).
type sourceEdit struct {
	off    int64
	data   []byte
	append bool
}

// sourceStates calls fn with every content the file had: initial, then
// after each edit in turn, until fn returns true.
func sourceStates(initial []byte, edits []sourceEdit, fn func(i int, content []byte) bool) {
	cur := bytes.Clone(initial)
	if fn(0, cur) {
		return
	}
	for i, e := range edits {
		if e.append {
			cur = append(cur, e.data...)
		} else {
			copy(cur[e.off:], e.data)
		}
		if fn(i+1, cur) {
			return
		}
	}
}

// TestFaultSourceModified rewrites and appends to a large source file
// while fcp copies it, locally and in a push. fcp must never leave a copy
// that mixes states of the file: it either exits 0 with a content the
// file had at some moment (and a re-run after the writer stops brings
// the final state, reporting nothing to do when it was already there), or
// exits 23 with a line saying the file changed while read.
func TestFaultSourceModified(t *testing.T) {
	seed := faultSeed(t)
	rng := rand.New(rand.NewPCG(seed, 4))
	s := optionalSSHD(t)
	trials := 0
	codes := map[int]int{}
	for _, dir := range []string{"local", "push"} {
		for i := range map[string]int{"local": 3, "push": 2}[dir] {
			t.Run(fmt.Sprintf("%s-%d", dir, i), func(t *testing.T) {
				flags, dstArg := target(t, s, dir)
				trials++
				src := filepath.Join(t.TempDir(), "src")
				initial := randomBytes(rng, 64<<20)
				writeBytes(t, filepath.Join(src, "growing.bin"), initial, time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC))
				dst := filepath.Join(t.TempDir(), "dst")

				n := 1 + rng.IntN(30)
				gap := time.Duration(1+rng.IntN(40)) * time.Millisecond
				delay := time.Duration(rng.IntN(150)) * time.Millisecond
				edits := make([]sourceEdit, n)
				for k := range edits {
					e := sourceEdit{data: randomBytes(rng, 4096)}
					if rng.IntN(5) == 0 {
						e.append = true
					} else {
						e.off = rng.Int64N(int64(len(initial))/4096) * 4096
					}
					edits[k] = e
				}
				f, err := os.OpenFile(filepath.Join(src, "growing.bin"), os.O_WRONLY, 0)
				must(t, err)
				defer f.Close()
				size := int64(len(initial))
				writerDone := make(chan error, 1)

				p := startFcp(t, runOpts{}, append(flags, "--json", src+"/", dstArg(dst))...)
				go func() {
					time.Sleep(delay)
					for _, e := range edits {
						off := e.off
						if e.append {
							off = size
							size += int64(len(e.data))
						}
						if _, err := f.WriteAt(e.data, off); err != nil {
							writerDone <- err
							return
						}
						time.Sleep(gap)
					}
					writerDone <- nil
				}()
				r := p.wait(t, time.Minute)
				must(t, <-writerDone)
				if s != nil {
					waitAgentsGone(t, s.cache)
				}
				codes[r.code]++
				t.Logf("%d edits %v apart after %v: exit %d", n, gap, delay, r.code)

				got, err := os.ReadFile(filepath.Join(dst, "growing.bin"))
				switch {
				case r.code == 0:
					must(t, err)
					state := -1
					sourceStates(initial, edits, func(i int, content []byte) bool {
						if bytes.Equal(content, got) {
							state = i
						}
						return state >= 0
					})
					if state < 0 {
						t.Fatalf("exit 0 with a copy (%d bytes) that the source never held: a mix of its states", len(got))
					}
					t.Logf("the copy is the source after %d of %d edits", state, n)
				case r.code == 23:
					wantLineMentioning(t, r, "growing.bin", "changed while read")
					if err == nil {
						t.Errorf("exit 23, yet %s holds %d bytes", filepath.Join(dst, "growing.bin"), len(got))
					}
				default:
					t.Fatalf("exit %d, want 0 or 23\nstderr: %s", r.code, r.stderr)
				}

				// The writer has stopped: a re-run brings the final state,
				// and sends nothing when the first run already had it.
				final := snapshot(t, src)["growing.bin"]
				had := r.code == 0 && bytes.Equal(got, final.data) && snapshot(t, dst)["growing.bin"].mtime == final.mtime
				again := mustFcp(t, runOpts{}, append(flags, "--json", src+"/", dstArg(dst))...)
				if sm := parseSummary(t, again.stdout); had && sm.Files != 0 {
					t.Errorf("the first run already copied the final state, yet the re-run sent %d files", sm.Files)
				}
				sameTree(t, src, dst)
				wantNoTemps(t, dst)
			})
		}
	}
	t.Logf("%d random trials; exit codes: %v", trials, codes)
}

// TestFaultAgentKilled kills the remote agent of a push over one
// connection once file data is moving. The run must complete when fcp
// reconnects, else exit 10 with one line naming the lost connection;
// nothing partial may be at a final path, and a re-run completes.
func TestFaultAgentKilled(t *testing.T) {
	s := startSSHD(t)
	seed := faultSeed(t)
	rng := rand.New(rand.NewPCG(seed, 5))
	src := faultTree(t, filepath.Join(t.TempDir(), "src"), rng, 8<<20, 16<<20)
	srcSnap := snapshot(t, src)
	flags := append(sshFlags(s, s.port), "-n", "1", "--bwlimit", "40M")
	reconnect := helpMentions(t, "--reconnect")
	if reconnect {
		flags = append(flags, "--reconnect", "30s")
	}

	const trials = 1
	for i := range trials {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dst")
			old := oldVersions(t, dst, srcSnap, rng)
			p := startFcp(t, runOpts{}, append(flags, src+"/", "127.0.0.1:"+dst)...)
			extra := time.Duration(rng.IntN(300)) * time.Millisecond
			var pids []int
			moving := waitUntil(p, 30*time.Second, func() bool {
				pids = agentPids(s.cache)
				return len(pids) > 0 && tempFileGrowing(dst)
			})
			if !moving {
				r := p.wait(t, time.Minute)
				t.Fatalf("never saw file data moving to an agent (exit %d):\n%s", r.code, r.stderr)
			}
			time.Sleep(extra)
			for _, pid := range pids {
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
					t.Fatal(err)
				}
			}
			r := p.wait(t, time.Minute)
			waitAgentsGone(t, s.cache)
			t.Logf("agent %v killed %v after data moved: exit %d", pids, extra, r.code)
			switch {
			case r.code == 0:
				if !reconnect {
					t.Errorf("exit 0 although the only agent was killed and fcp cannot reconnect")
				}
				sameTreeButTemps(t, src, dst)
			case reconnect:
				t.Errorf("with --reconnect, killing the agent failed the run: exit %d\n%s", r.code, r.stderr)
			case r.code == 10:
				wantConnectionLine(t, r)
			default:
				t.Errorf("exit %d, want 10 (connection lost)\nstderr: %s", r.code, r.stderr)
			}
			wantWholeFiles(t, dst, srcSnap, old)
			left := tempFiles(t, dst)

			mustFcp(t, runOpts{}, append(sshFlags(s, s.port), src+"/", "127.0.0.1:"+dst)...)
			sameTreeButTemps(t, src, dst)
			// The killed agent was the receiver: it could neither remove
			// nor keep for resuming what it had written. What is left is
			// logged, not failed on.
			if tmp := tempFiles(t, dst); len(tmp) > 0 {
				t.Logf("NOTE: temporary files of the killed agent still there after a successful re-run: %q (after the kill: %q)", tmp, left)
			}
		})
	}
	t.Logf("%d random trials", trials)
}

// TestFaultInterrupt sends SIGINT to fcp at a random moment once file
// data is moving, in a push and locally: fcp must exit 20 within 5 s with
// one line saying it was interrupted and nothing partial at a final path,
// and a re-run must complete the tree.
func TestFaultInterrupt(t *testing.T) {
	seed := faultSeed(t)
	rng := rand.New(rand.NewPCG(seed, 6))
	src := faultTree(t, filepath.Join(t.TempDir(), "src"), rng, 8<<20, 16<<20)
	srcSnap := snapshot(t, src)
	resumable := resumableDocumented(t)
	s := optionalSSHD(t)
	trials := 0
	for _, dir := range []string{"local", "push"} {
		t.Run(dir, func(t *testing.T) {
			flags, dstArg := target(t, s, dir)
			trials++
			dst := filepath.Join(t.TempDir(), "dst")
			old := oldVersions(t, dst, srcSnap, rng)
			// The rate limit makes the copy last long enough to be
			// interrupted.
			p := startFcp(t, runOpts{}, append(flags, "--bwlimit", "40M", src+"/", dstArg(dst))...)
			if !waitUntil(p, 30*time.Second, func() bool { return tempFileGrowing(dst) }) {
				r := p.wait(t, time.Minute)
				t.Fatalf("never saw file data moving (exit %d):\n%s", r.code, r.stderr)
			}
			extra := time.Duration(rng.IntN(300)) * time.Millisecond
			time.Sleep(extra)
			sent := time.Now()
			if !p.signal(syscall.SIGINT) {
				t.Fatalf("fcp ended before it could be interrupted")
			}
			r := p.wait(t, time.Minute)
			took := p.exitedAt.Sub(sent)
			if s != nil {
				waitAgentsGone(t, s.cache)
			}
			t.Logf("SIGINT %v after data moved: exit %d after %v", extra, r.code, took)
			if took > 5*time.Second {
				t.Errorf("fcp took %v to stop after SIGINT, want at most 5s", took)
			}
			wantCode(t, r, 20)
			wantOneErrorLine(t, r, "interrupted")
			wantWholeFiles(t, dst, srcSnap, old)
			wantNoTmp(t, dst, resumable)

			start := time.Now()
			mustFcp(t, runOpts{}, append(flags, src+"/", dstArg(dst))...)
			t.Logf("re-run: %v", time.Since(start).Round(time.Millisecond))
			sameTree(t, src, dst)
			wantNoTemps(t, dst)
		})
	}
	t.Logf("%d random trials", trials)
}

// target returns the flags and the destination operand for a copy in
// direction dir ("local" or "push" through sshd s), skipping the test
// for a push without sshd.
func target(t *testing.T, s *sshd, dir string) ([]string, func(string) string) {
	t.Helper()
	if dir != "push" {
		return nil, func(p string) string { return p }
	}
	if s == nil {
		t.Skip("no sshd (needs root and OpenSSH)")
	}
	return sshFlags(s, s.port), func(p string) string { return "127.0.0.1:" + p }
}
