//go:build !unix

package transport

import (
	"errors"
	"os/exec"
	"syscall"
)

// setProcAttr does nothing: process groups are a Unix notion.
func setProcAttr(cmd *exec.Cmd, ownGroup bool) {}

// signalGroup is not supported.
func signalGroup(pid int, sig syscall.Signal) error {
	return errors.ErrUnsupported
}
