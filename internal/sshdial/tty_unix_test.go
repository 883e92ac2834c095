//go:build unix

package sshdial

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestTerminalNoTTY runs Terminal's methods in a child process in a new
// session, which has no controlling terminal: both must return
// ErrNoTerminal.
func TestTerminalNoTTY(t *testing.T) {
	if os.Getenv("SSHDIAL_TEST_NOTTY") == "1" {
		_, perr := Terminal{}.Password("pw: ")
		_, cerr := Terminal{}.Confirm("ok? ")
		fmt.Printf("password:%v confirm:%v\n", errors.Is(perr, ErrNoTerminal), errors.Is(cerr, ErrNoTerminal))
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTerminalNoTTY$")
	cmd.Env = append(os.Environ(), "SSHDIAL_TEST_NOTTY=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "password:true confirm:true") {
		t.Errorf("child reported %q, want both ErrNoTerminal", out)
	}
}
