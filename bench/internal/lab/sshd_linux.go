package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const sshdBin = "/usr/sbin/sshd"

// startSSHD writes throwaway host and user keys, the server's and the
// clients' configuration, starts sshd in the server namespace and waits
// until a login over the direct link works.
func (l *Lab) startSSHD(ctx context.Context) error {
	dir := l.cfg.Dir
	for _, k := range []string{"host_key", "user_key"} {
		os.Remove(filepath.Join(dir, k))
		if err := run(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fcp-bench", "-f", filepath.Join(dir, k)); err != nil {
			return err
		}
	}
	userPub, err := os.ReadFile(filepath.Join(dir, "user_key.pub"))
	if err != nil {
		return err
	}
	hostPub, err := os.ReadFile(filepath.Join(dir, "host_key.pub"))
	if err != nil {
		return err
	}
	var addrs []string
	for _, link := range l.Links {
		addrs = append(addrs, link.Server)
	}
	files := map[string]string{
		"authorized_keys": string(userPub),
		"known_hosts":     strings.Join(addrs, ",") + " " + string(hostPub),
		"sshd_config": fmt.Sprintf(`# The lab's sshd: keys only, one user, no PAM, Debian's sftp-server.
ListenAddress 0.0.0.0
Port 22
HostKey %[1]s/host_key
PidFile %[1]s/sshd.pid
AuthorizedKeysFile %[1]s/authorized_keys
StrictModes no
UsePAM no
AllowUsers %[2]s
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
PrintMotd no
PrintLastLog no
# Tools that open many connections at once (rclone --transfers) must not be refused.
MaxStartups 200
MaxSessions 200
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel ERROR
`, dir, l.cfg.User),
		"ssh_config": fmt.Sprintf(`# Every OpenSSH-based tool of the benchmark uses this file (ssh -F).
Host *
  IdentityFile %[1]s/user_key
  IdentitiesOnly yes
  UserKnownHostsFile %[1]s/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ControlMaster no
  ControlPath none
  LogLevel ERROR
`, dir),
	}
	var rclone strings.Builder
	rclone.WriteString("# rclone's own SSH client: the same key and known_hosts as ssh_config.\n")
	for _, link := range l.Links {
		fmt.Fprintf(&rclone, `[%s]
type = sftp
host = %s
user = %s
key_file = %s/user_key
known_hosts_file = %s/known_hosts
shell_type = unix
md5sum_command = md5sum
sha1sum_command = sha1sum

`, link.Name, link.Server, l.cfg.User, dir, dir)
	}
	files["rclone.conf"] = rclone.String()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	l.SSHConfig = filepath.Join(dir, "ssh_config")
	l.RcloneConfig = filepath.Join(dir, "rclone.conf")

	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(dir, "sshd.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command("ip", "netns", "exec", ServerNS, sshdBin, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start sshd: %w", err)
	}
	l.sshd = cmd

	login := Client("ssh", "-F", l.SSHConfig, l.cfg.User+"@"+l.Links[0].Server, "true")
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := run(ctx, login...)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshd in %s does not accept logins (log: %s): %w", ServerNS, log.Name(), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
