package e2e

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tests in this file reach the agent through real connection
// commands other than the wrapper script: ip netns exec, busybox's sh and
// docker exec. Each pushes edgeTree and pulls it back.

// TestNetnsExec copies through `ip netns exec NS sh`.
func TestNetnsExec(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("ip netns needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command:", err)
	}
	ns := fmt.Sprintf("fcp-e2e-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("ip netns add %s: %v: %s", ns, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", ns, err, out)
		}
	})

	src := edgeTree(t, filepath.Join(t.TempDir(), "src"))
	dst := filepath.Join(t.TempDir(), "dst")
	mustFcp(t, runOpts{}, "-e", "ip netns exec", src+"/", ns+":"+dst)
	sameTree(t, src, dst)

	back := filepath.Join(t.TempDir(), "back")
	mustFcp(t, runOpts{}, "-e", "ip netns exec", ns+":"+dst+"/", back)
	sameTree(t, src, back)
}

// busyboxApplets are the commands the bootstrap and these tests use on
// the remote side.
var busyboxApplets = []string{
	"sh", "head", "sha256sum", "mkdir", "mv", "chmod", "uname", "id", "cat", "rm", "printf",
	"sleep", "test", "[", "ls",
}

// staticBusybox returns the path of a statically linked busybox, or skips
// the test.
func staticBusybox(t *testing.T) string {
	t.Helper()
	const bb = "/bin/busybox"
	f, err := elf.Open(bb)
	if err != nil {
		t.Skipf("no usable %s (Debian's busybox-static): %v", bb, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Skipf("%s is dynamically linked; install busybox-static", bb)
		}
	}
	return bb
}

// TestBusyboxShell copies through busybox's sh with nothing but busybox
// applets on PATH, so every command of the bootstrap is busybox's.
func TestBusyboxShell(t *testing.T) {
	bb := staticBusybox(t)
	bin := t.TempDir()
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatalf("%s --list: %v", bb, err)
	}
	for _, applet := range strings.Fields(string(out)) {
		must(t, os.Symlink(bb, filepath.Join(bin, applet)))
	}
	rsh := filepath.Join(t.TempDir(), "busybox-rsh.sh")
	script := "#!/bin/sh\n# fcp test rsh: drop the host, run the command as a busybox applet\n" +
		"PATH='" + bin + "'; export PATH\nshift\nexec " + bb + " \"$@\"\n"
	must(t, os.WriteFile(rsh, []byte(script), 0o755))

	// The shell fcp gets must find busybox's tools, and only those: a
	// bare name is an applet busybox's sh runs itself.
	probe := exec.Command(rsh, "host", "sh")
	probe.Stdin = strings.NewReader("command -v head; command -v sha256sum; command -v mkdir\n")
	got, err := probe.Output()
	if err != nil {
		t.Fatalf("probing the busybox shell: %v", err)
	}
	tools := strings.Fields(string(got))
	if len(tools) != 3 {
		t.Fatalf("the busybox shell finds %q, want head, sha256sum and mkdir", tools)
	}
	for _, tool := range tools {
		if strings.Contains(tool, "/") && filepath.Dir(tool) != bin {
			t.Fatalf("the busybox shell finds %s, want it in %s", tool, bin)
		}
	}

	src := edgeTree(t, filepath.Join(t.TempDir(), "src"))
	dst := filepath.Join(t.TempDir(), "dst")
	mustFcp(t, runOpts{}, "-e", rsh, src+"/", "host:"+dst)
	sameTree(t, src, dst)

	back := filepath.Join(t.TempDir(), "back")
	mustFcp(t, runOpts{}, "-e", rsh, "host:"+dst+"/", back)
	sameTree(t, src, back)
}

// docker runs the docker CLI and returns its trimmed standard output,
// failing the test on error.
func docker(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(string(out))
}

// busyboxImageTar returns a root file system holding nothing but a static
// busybox, links to it for busyboxApplets in /bin, and /tmp.
func busyboxImageTar(t *testing.T, bb string) []byte {
	t.Helper()
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	hdrs := []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "bin/", Mode: 0o755},
		{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777},
		{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(data))},
	}
	for _, a := range busyboxApplets {
		hdrs = append(hdrs, &tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777})
	}
	for _, h := range hdrs {
		h.ModTime = mtime
		must(t, tw.WriteHeader(h))
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(data); err != nil {
				t.Fatal(err)
			}
		}
	}
	must(t, tw.Close())
	return buf.Bytes()
}

// TestDockerExec copies into and out of a container that has nothing but
// busybox, through `docker exec -i`. The container's root file system is
// read-only, so the agent cannot be cached under $HOME and must fall back
// to $TMPDIR/fcp-UID (here /tmp/fcp-0, on a tmpfs).
func TestDockerExec(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker command:", err)
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("docker is not usable: %v: %s", err, bytes.TrimSpace(out))
	}
	bb := staticBusybox(t)

	img := fmt.Sprintf("fcp-e2e-busybox-%d", os.Getpid())
	docker(t, busyboxImageTar(t, bb), "import", "-", img)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", img).Run() })

	name := fmt.Sprintf("fcp-e2e-%d", os.Getpid())
	docker(t, nil, "run", "-d", "--rm", "--name", name, "--read-only", "--tmpfs", "/tmp:exec,mode=1777",
		img, "/bin/sleep", "600")
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	t.Logf("in the container: %s", docker(t, nil, "exec", name, "sh", "-c", `echo "HOME=${HOME-(unset)} TMPDIR=${TMPDIR-(unset)}"`))

	src := edgeTree(t, filepath.Join(t.TempDir(), "src"))
	mustFcp(t, runOpts{}, "-e", "docker exec -i", src+"/", name+":/tmp/dst")
	agent := "/tmp/fcp-0/" + agentCacheName(t)
	if out, err := exec.Command("docker", "exec", name, "test", "-x", agent).CombinedOutput(); err != nil {
		ls, _ := exec.Command("docker", "exec", name, "ls", "-la", "/tmp", "/tmp/fcp-0").CombinedOutput()
		t.Errorf("agent not cached at %s: %v %s\n%s", agent, err, out, ls)
	}

	back := filepath.Join(t.TempDir(), "back")
	mustFcp(t, runOpts{}, "-e", "docker exec -i", name+":/tmp/dst/", back)
	sameTree(t, src, back)
}
