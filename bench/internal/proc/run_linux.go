package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Command is a process to run.
type Command struct {
	Args  []string
	Env   []string // added to this process's environment
	Stdin string
	Log   string // file that receives stdout and stderr
	// Cut, when closed, kills the command at once: SIGKILL to its whole
	// process group, GNU time too, so no memory is reported. It stands for
	// a copy interrupted without warning (a crash, a lost machine).
	Cut <-chan struct{}
}

// Result is what a finished (or killed) command cost.
type Result struct {
	Wall     time.Duration
	TimedOut bool // killed when the timeout passed
	ExitCode int  // -1 when killed by a signal
	// Cut is set when Command.Cut was closed while the command ran; it was
	// killed then, unless ExitCode says it had just finished.
	Cut bool
	// MaxRSS is the peak resident set of the largest process in the tree:
	// the command and every descendant it waited for (ru_maxrss of
	// getrusage(2)), also when it was killed at the timeout.
	MaxRSS int64 // bytes
	// CPU time of the command and its waited-for descendants.
	UserCPU time.Duration
	SysCPU  time.Duration
}

// timeBin is GNU time. The command runs as its child, started by fork(2),
// so that the command's ru_maxrss is its own: a direct child of a Go
// program reports at least the Go program's peak RSS, because Go starts
// children with vfork (CLONE_VM) and execve(2) folds the high-water mark of
// the memory it replaces into the child's ru_maxrss.
const timeBin = "/usr/bin/time"

// Run starts c under GNU time in a process group of its own and waits for
// it. When timeout passes (0: none) or ctx is done, the group is stopped
// (SIGTERM, then SIGKILL after killGrace; GNU time last, so that it still
// reports); Run then returns the Result with TimedOut set, or ctx's error. A
// command that runs and fails is not an error: see Result.ExitCode.
func Run(ctx context.Context, c Command, timeout time.Duration) (Result, error) {
	rusage, err := os.CreateTemp("", "bench-rusage-")
	if err != nil {
		return Result{}, err
	}
	rusage.Close()
	defer os.Remove(rusage.Name())

	runCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	args := append([]string{"-q", "-f", "%M", "-o", rusage.Name()}, c.Args...)
	cmd := exec.CommandContext(runCtx, timeBin, args...)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stdin = strings.NewReader(c.Stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var escalate *time.Timer
	cmd.Cancel = func() error {
		// TERM first: scp, rsync and fcp then stop their ssh and reap it,
		// so its memory is counted; KILL whatever is left after a while.
		signalGroup(cmd.Process.Pid, syscall.SIGTERM, true)
		escalate = time.AfterFunc(killGrace, func() { signalGroup(cmd.Process.Pid, syscall.SIGKILL, true) })
		return nil
	}
	cmd.WaitDelay = killGrace + 5*time.Second
	if c.Log != "" {
		log, err := os.OpenFile(c.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return Result{}, err
		}
		defer log.Close()
		cmd.Stdout, cmd.Stderr = log, log
	}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("start %s: %w", strings.Join(cmd.Args, " "), err)
	}
	var cut atomic.Bool
	if c.Cut != nil {
		exited := make(chan struct{})
		defer close(exited)
		go func() {
			select {
			case <-c.Cut:
				cut.Store(true)
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			case <-exited:
			}
		}()
	}
	waitErr := cmd.Wait()
	r := Result{Wall: time.Since(start), ExitCode: cmd.ProcessState.ExitCode(), Cut: cut.Load()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.UserCPU = time.Duration(ru.Utime.Nano())
		r.SysCPU = time.Duration(ru.Stime.Nano())
	}
	if b, err := os.ReadFile(rusage.Name()); err == nil {
		fields := strings.Fields(string(b))
		if len(fields) > 0 {
			kib, _ := strconv.ParseInt(fields[len(fields)-1], 10, 64)
			r.MaxRSS = kib * 1024
		}
	}
	if escalate != nil {
		escalate.Stop()
		signalGroup(cmd.Process.Pid, syscall.SIGKILL, false) // orphans left behind
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	if runCtx.Err() != nil {
		r.TimedOut = true
		return r, nil
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return r, waitErr
	}
	return r, nil
}

// killGrace is how long a command stopped at its timeout may take to exit
// after SIGTERM before it is killed.
const killGrace = 2 * time.Second

// signalGroup sends sig to the processes of the process group pgid, whose
// leader is GNU time; with spareLeader, not to the leader, which then reaps
// the command, reports its peak memory and exits.
func signalGroup(pgid int, sig syscall.Signal, spareLeader bool) {
	for _, pid := range groupMembers(pgid) {
		if pid != pgid || !spareLeader {
			syscall.Kill(pid, sig)
		}
	}
}

// Output runs args and returns its stdout; on failure the error holds its
// stderr.
func Output(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Tail returns the last n bytes of the file at path, for error messages.
func Tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		f.Seek(-n, 2)
	}
	b := make([]byte, n)
	k, _ := f.Read(b)
	return strings.TrimSpace(string(b[:k]))
}
