package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// daemon is a running fcpd binary with the files a client needs.
type daemon struct {
	port    int
	dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
	log     string // fcpd's log file
	args    []string
	userKey string // a key in authorized_keys
	conf    string // the client's ssh_config: userKey, known_hosts with fcpd's key, strict checking
}

// url returns fcp://127.0.0.1:PORT/p.
func (d *daemon) url(p string) string {
	return fmt.Sprintf("fcp://127.0.0.1:%d/%s", d.port, strings.TrimPrefix(p, "/"))
}

// writeKey writes a new Ed25519 private key in OpenSSH format to file and
// returns its authorized_keys line.
func writeKey(t *testing.T, file string) []byte {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "e2e")
	must(t, err)
	must(t, os.WriteFile(file, pem.EncodeToMemory(block), 0o600))
	signer, err := ssh.NewSignerFromKey(priv)
	must(t, err)
	return ssh.MarshalAuthorizedKey(signer.PublicKey())
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDaemon runs fcpd with args (roots and limits) plus a listen address,
// a host key and an authorized_keys file holding d.userKey; the client
// config trusts fcpd's host key.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{dir: dir, port: freePort(t), log: filepath.Join(dir, "fcpd.log"), userKey: filepath.Join(dir, "user_key")}
	must(t, os.WriteFile(filepath.Join(dir, "authorized_keys"), writeKey(t, d.userKey), 0o600))
	d.args = append([]string{
		"--listen", "127.0.0.1:" + strconv.Itoa(d.port),
		"--host-key", filepath.Join(dir, "host_key"),
		"--authorized-keys", filepath.Join(dir, "authorized_keys"),
		"--config", filepath.Join(dir, "none.conf"),
	}, args...)
	out, err := exec.Command(fcpdBin, "--print-host-key", "--host-key", filepath.Join(dir, "host_key")).CombinedOutput()
	if err != nil {
		t.Fatalf("fcpd --print-host-key: %v: %s", err, out)
	}
	must(t, os.WriteFile(filepath.Join(dir, "known_hosts"), fmt.Appendf(nil, "[127.0.0.1]:%d %s", d.port, out), 0o644))
	d.conf = filepath.Join(dir, "ssh_config")
	must(t, os.WriteFile(d.conf, fmt.Appendf(nil, `Host *
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
`, d.userKey, dir), 0o644))
	d.start(t)
	t.Cleanup(func() {
		d.stop(t)
		if t.Failed() {
			b, _ := os.ReadFile(d.log)
			t.Logf("fcpd log:\n%s", b)
		}
	})
	return d
}

// start runs fcpd and waits until it accepts connections.
func (d *daemon) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(d.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	must(t, err)
	defer logf.Close()
	// An empty config file: the roots come from --root.
	must(t, os.WriteFile(filepath.Join(d.dir, "none.conf"), nil, 0o644))
	d.cmd = exec.Command(fcpdBin, d.args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	must(t, d.cmd.Start())
	d.exited = make(chan struct{})
	go func() { d.cmd.Wait(); close(d.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(d.port))
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-d.exited:
			b, _ := os.ReadFile(d.log)
			t.Fatalf("fcpd exited: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("fcpd does not listen: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for fcpd; it fails the test unless fcpd
// exits 0 within ten seconds.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		if code := d.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("fcpd exited %d after SIGTERM", code)
		}
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		t.Error("fcpd did not stop within 10 s of SIGTERM")
	}
	d.cmd = nil
}

// makeTree writes a tree with small and chunked files, an empty file, an
// empty directory and a symlink.
func makeTree(t *testing.T, root string) {
	t.Helper()
	mtime := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := range 40 {
		writeFile(t, filepath.Join(root, fmt.Sprintf("d%d/f%02d.txt", i%4, i)), strings.Repeat(fmt.Sprint(i), 100*i+1), 0o644, mtime)
	}
	writeFile(t, filepath.Join(root, "empty"), "", 0o600, mtime)
	writeFile(t, filepath.Join(root, "run.sh"), "#!/bin/sh\n", 0o755, mtime)
	randomFile(t, filepath.Join(root, "big.bin"), 5<<20+123)
	must(t, os.MkdirAll(filepath.Join(root, "emptydir"), 0o750))
	must(t, os.Symlink("d1/f01.txt", filepath.Join(root, "link")))
}

func TestDaemonPushPull(t *testing.T) {
	data := t.TempDir()
	d := startDaemon(t, "--root", "data="+data)
	src := filepath.Join(t.TempDir(), "tree")
	makeTree(t, src)
	mustFcp(t, runOpts{}, "-F", d.conf, src, d.url("data/"))
	sameTree(t, src, filepath.Join(data, "tree"))

	back := t.TempDir()
	mustFcp(t, runOpts{}, "-F", d.conf, d.url("data/tree"), back)
	sameTree(t, src, filepath.Join(back, "tree"))

	// A re-run sends nothing; a changed file is sent again (as a delta).
	r := mustFcp(t, runOpts{}, "-F", d.conf, "--json", src, d.url("data"))
	if sm := parseSummary(t, r.stdout); sm.Files != 0 || sm.Bytes != 0 {
		t.Errorf("no-change re-run: %+v", sm)
	}
	f, err := os.OpenFile(filepath.Join(src, "big.bin"), os.O_WRONLY, 0)
	must(t, err)
	f.WriteAt([]byte("changed in the middle"), 2<<20)
	f.Close()
	r = mustFcp(t, runOpts{}, "-F", d.conf, "--json", src, d.url("/data/"))
	sameTree(t, src, filepath.Join(data, "tree"))
	if sm := parseSummary(t, r.stdout); sm.Files != 1 || sm.Bytes > 1<<20 {
		t.Errorf("re-run after a 21-byte change: %+v, want one file, well under 1 MiB sent", sm)
	}
	// A quoted glob is expanded by fcpd, inside the root.
	globbed := t.TempDir()
	mustFcp(t, runOpts{}, "-F", d.conf, d.url("data/tree/d1/*.txt"), globbed)
	if entries, _ := os.ReadDir(globbed); len(entries) != 10 {
		t.Errorf("glob pulled %d files, want 10", len(entries))
	}
}

func TestDaemonRefusals(t *testing.T) {
	base := t.TempDir()
	data, pub, private, outside := filepath.Join(base, "data"), filepath.Join(base, "pub"), filepath.Join(base, "private"), filepath.Join(base, "outside")
	for _, dir := range []string{data, pub, private, outside} {
		must(t, os.Mkdir(dir, 0o755))
	}
	writeFile(t, filepath.Join(outside, "secret"), "secret", 0o644, time.Now())
	writeFile(t, filepath.Join(pub, "readme"), "hello", 0o644, time.Now())
	must(t, os.Symlink(outside, filepath.Join(data, "escape")))
	// private is exported through its own authorized_keys, holding a key
	// the client does not use.
	conf := filepath.Join(base, "fcpd.conf")
	otherKeys := filepath.Join(base, "private.keys")
	must(t, os.WriteFile(otherKeys, writeKey(t, filepath.Join(base, "other_key")), 0o600))
	must(t, os.WriteFile(conf, fmt.Appendf(nil, "[data]\npath = %s\n[pub]\npath = %s\nread_only = yes\n[private]\npath = %s\nauthorized_keys = %s\n", data, pub, private, otherKeys), 0o644))
	d := startDaemon(t, "--config", conf)

	src := filepath.Join(t.TempDir(), "tree")
	makeTree(t, src)
	stranger := filepath.Join(t.TempDir(), "stranger")
	writeKey(t, stranger)
	strangerConf := filepath.Join(t.TempDir(), "ssh_config")
	must(t, os.WriteFile(strangerConf, fmt.Appendf(nil, "Host *\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s/known_hosts\n  StrictHostKeyChecking yes\n  BatchMode yes\n", stranger, d.dir), 0o644))
	badHost := filepath.Join(t.TempDir(), "ssh_config")
	hostKeyOf := func(file string) string {
		out, err := exec.Command(fcpdBin, "--print-host-key", "--host-key", file).Output()
		must(t, err)
		return string(out)
	}
	wrongKnown := filepath.Join(t.TempDir(), "known_hosts")
	must(t, os.WriteFile(wrongKnown, fmt.Appendf(nil, "[127.0.0.1]:%d %s", d.port, hostKeyOf(filepath.Join(t.TempDir(), "k"))), 0o644))
	must(t, os.WriteFile(badHost, fmt.Appendf(nil, "Host *\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  BatchMode yes\n", d.userKey, wrongKnown), 0o644))
	unknownHost := filepath.Join(t.TempDir(), "ssh_config")
	must(t, os.WriteFile(unknownHost, fmt.Appendf(nil, "Host *\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n  BatchMode yes\n", d.userKey, filepath.Join(t.TempDir(), "none")), 0o644))

	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{name: "key not authorized", args: []string{"-F", strangerConf, src, d.url("data/")}, code: 10, msg: "permission denied (publickey)"},
		{name: "changed host key", args: []string{"-F", badHost, src, d.url("data/")}, code: 10, msg: "host key"},
		{name: "unknown host key", args: []string{"-F", unknownHost, src, d.url("data/")}, code: 10, msg: "unknown host"},
		{name: "root for another key", args: []string{"-F", d.conf, src, d.url("private/")}, code: 3, msg: `no root "private" for this key`},
		{name: "unknown root", args: []string{"-F", d.conf, src, d.url("etc/")}, code: 3, msg: `no root "etc"`},
		{name: "no root", args: []string{"-F", d.conf, src, d.url("")}, code: 3, msg: "name a root"},
		{name: "dotdot", args: []string{"-F", d.conf, src, d.url("data/../private/")}, code: 3, msg: "'..' is not allowed"},
		{name: "symlink out of the root, push", args: []string{"-F", d.conf, src, d.url("data/escape/")}, code: 3, msg: "leads out of the root"},
		{name: "symlink out of the root, pull", args: []string{"-F", d.conf, d.url("data/escape/secret"), t.TempDir()}, code: 23, msg: "leads out of the root"},
		{name: "read-only root", args: []string{"-F", d.conf, src, d.url("pub/")}, code: 23, msg: "read-only"},
		{name: "read-only root, new directory", args: []string{"-F", d.conf, src, d.url("pub/new/")}, code: 3, msg: "read-only"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := fcp(t, runOpts{}, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
				t.Errorf("fcp %q: exit %d, stderr %q; want exit %d and %q", tc.args, r.code, r.stderr, tc.code, tc.msg)
			}
			if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n > 3 {
				t.Errorf("%d lines of errors: %s", n+1, r.stderr)
			}
		})
	}
	for dir, want := range map[string]int{private: 0, outside: 1, pub: 1} {
		if entries, _ := os.ReadDir(dir); len(entries) != want {
			t.Errorf("%s holds %d entries after the refusals, want %d", dir, len(entries), want)
		}
	}
	if entries, _ := os.ReadDir(data); len(entries) != 1 {
		t.Errorf("data holds %v, want only the symlink", entries)
	}
	// The read-only root serves reads.
	got := t.TempDir()
	mustFcp(t, runOpts{}, "-F", d.conf, d.url("pub/readme"), got)
	if b, _ := os.ReadFile(filepath.Join(got, "readme")); string(b) != "hello" {
		t.Errorf("pulled %q from the read-only root", b)
	}
	// OpenSSH's client gets no shell and no command.
	if ssh, err := exec.LookPath("ssh"); err == nil {
		cmd := exec.Command(ssh, "-F", d.conf, "-p", strconv.Itoa(d.port), "127.0.0.1", "cat /etc/passwd")
		out, err := cmd.CombinedOutput()
		if err == nil || strings.Contains(string(out), "root:") {
			t.Errorf("ssh ran a command on fcpd: %v: %s", err, out)
		}
	}
	log, _ := os.ReadFile(d.log)
	if !strings.Contains(string(log), "key refused") {
		t.Error("fcpd's log does not show the refused key")
	}
}

func TestDaemonFiftyClients(t *testing.T) {
	data := t.TempDir()
	conf := filepath.Join(t.TempDir(), "fcpd.conf")
	must(t, os.WriteFile(conf, fmt.Appendf(nil, "max_sessions = 64\nmax_connections = 256\n[data]\npath = %s\n", data), 0o644))
	d := startDaemon(t, "--config", conf)
	src := filepath.Join(t.TempDir(), "tree")
	makeTree(t, src)
	const clients = 50
	var wg sync.WaitGroup
	results := make([]result, clients)
	for i := range clients {
		wg.Go(func() {
			results[i] = fcp(t, runOpts{}, "-F", d.conf, "-n", "2", src+"/", d.url(fmt.Sprintf("data/c%02d", i)))
		})
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("client %d: exit %d: %s", i, r.code, r.stderr)
			continue
		}
		sameTree(t, src, filepath.Join(data, fmt.Sprintf("c%02d", i)))
	}
}

// TestDaemonSIGTERM stops fcpd in the middle of a large file: nothing
// appears at the final path, fcpd exits 0, and the client's next run,
// against the restarted fcpd, resumes from what was kept.
func TestDaemonSIGTERM(t *testing.T) {
	data := t.TempDir()
	d := startDaemon(t, "--root", "data="+data)
	src := filepath.Join(t.TempDir(), "src")
	const size = 48 << 20
	randomFile(t, filepath.Join(src, "big.bin"), size)
	cmd := exec.Command(fcpBin, "-F", d.conf, "-n", "1", "--bwlimit", "16M", "--reconnect", "1s", src+"/", d.url("data"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	deadline := time.Now().Add(60 * time.Second)
	for written := int64(0); written < 12<<20; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the copy did not get going")
		}
		matches, _ := filepath.Glob(filepath.Join(data, ".fcp-big.bin.*.tmp"))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil {
				written = fi.Size()
			}
		}
	}
	d.stop(t)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 10 {
		t.Errorf("the client exited %d (%v), want 10 (connection lost); stderr: %s", code, err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(data, "big.bin")); err == nil {
		t.Fatal("a file at the final path after fcpd stopped")
	}
	fi, err := os.Stat(filepath.Join(data, ".fcp-big.bin.partial"))
	if err != nil {
		entries, _ := os.ReadDir(data)
		t.Fatalf("no partial file after SIGTERM; the root holds %v", entries)
	}
	kept := fi.Size()
	log, _ := os.ReadFile(d.log)
	if !strings.Contains(string(log), "msg=stopped") {
		t.Errorf("fcpd's log does not say it stopped:\n%s", log)
	}

	d.start(t)
	r := mustFcp(t, runOpts{}, "-F", d.conf, "--json", src+"/", d.url("data"))
	sameTree(t, src, data)
	if sm := parseSummary(t, r.stdout); sm.Bytes > size-kept+256<<10 {
		t.Errorf("the resumed run sent %d bytes; the partial file held %d of %d", sm.Bytes, kept, size)
	}
}

// TestDaemonBackground starts fcpd with -d: it returns at once, leaves a
// pid file naming a process that serves, and removes it on SIGTERM.
func TestDaemonBackground(t *testing.T) {
	data := t.TempDir()
	d := startDaemon(t, "--root", "data="+data)
	d.stop(t)
	pidFile := filepath.Join(d.dir, "fcpd.pid")
	logFile := filepath.Join(d.dir, "bg.log")
	out, err := exec.Command(fcpdBin, append(append([]string{}, d.args...), "-d", "--pid-file", pidFile, "--log-file", logFile)...).CombinedOutput()
	if err != nil {
		t.Fatalf("fcpd -d: %v: %s", err, out)
	}
	b, err := os.ReadFile(pidFile)
	must(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	must(t, err)
	proc, err := os.FindProcess(pid)
	must(t, err)
	defer proc.Kill()
	src := filepath.Join(t.TempDir(), "tree")
	makeTree(t, src)
	mustFcp(t, runOpts{}, "-F", d.conf, src, d.url("data"))
	sameTree(t, src, filepath.Join(data, "tree"))

	// A second fcpd on the same port fails in the foreground, with a reason.
	out, err = exec.Command(fcpdBin, append(append([]string{}, d.args...), "-d", "--pid-file", pidFile+"2", "--log-file", logFile)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "address already in use") {
		t.Errorf("second fcpd -d on a used port: %v: %s", err, out)
	}

	must(t, proc.Signal(syscall.SIGTERM))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(pidFile); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pid file is still there 10 s after SIGTERM")
		}
	}
	if log, _ := os.ReadFile(logFile); !strings.Contains(string(log), "msg=listening") {
		t.Errorf("the log file lacks the start:\n%s", log)
	}
}
