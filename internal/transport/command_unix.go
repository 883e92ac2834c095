//go:build unix

package transport

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the command lead a new process group if ownGroup.
func setProcAttr(cmd *exec.Cmd, ownGroup bool) {
	if ownGroup {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
}

// signalGroup sends sig to the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) error {
	return syscall.Kill(-pid, sig)
}
