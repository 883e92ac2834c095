package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// DefaultGrace is how long Process.Close waits at each step for the process
// to exit before it escalates.
const DefaultGrace = 2 * time.Second

// Command is a Transport that starts an external command and talks to it
// over the command's standard input and output: `ssh host sh`,
// `docker exec -i box sh`, or a local `sh`.
//
// The zero value is not usable: Argv must name a command.
type Command struct {
	// Argv is the command and its arguments. Argv[0] is looked up in this
	// process's PATH (not in Env's), unless it contains a slash.
	Argv []string
	// Env is the command's environment; nil means this process's.
	Env []string
	// Dir is the command's working directory; "" means this process's.
	Dir string
	// Stderr receives what the command writes to its standard error, for
	// example ssh's diagnostics or the remote agent's log. It is written
	// from a goroutine of the Process, so it must be safe to use
	// concurrently with whatever else writes to it. nil discards.
	Stderr io.Writer
	// Grace is how long Close waits for the command to exit after closing
	// its standard input, and again after SIGTERM, before it escalates. It
	// also bounds how long Close waits, once the command has exited, for
	// descendants that keep its standard error open. Zero means
	// DefaultGrace.
	Grace time.Duration
	// Interactive leaves the command in this process's process group.
	// By default the command is put in a process group of its own, so that
	// Ctrl-C on the terminal reaches fcp alone and fcp decides how to stop
	// the command (see Process.Close). But a command in a background
	// process group that reads the terminal, as ssh does to ask for a
	// password, a passphrase or a host key confirmation, is stopped by
	// SIGTTIN; set Interactive for such a command. Ctrl-C then reaches it
	// too.
	Interactive bool
}

// Open starts the command; see Start. The Stream it returns is a *Process.
func (c Command) Open(ctx context.Context) (Stream, error) {
	p, err := c.Start(ctx)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Start starts the command. An error names the command, so that a missing
// one ("exec: "ssh": executable file not found in $PATH") is recognisable.
// ctx bounds only the start; the Process outlives it and must be closed.
func (c Command) Start(ctx context.Context) (*Process, error) {
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return nil, errors.New("transport: empty command")
	}
	name := c.Argv[0]
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("transport: start %s: %w", name, err)
	}
	grace := c.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}

	cmd := exec.Command(name, c.Argv[1:]...)
	cmd.Env = c.Env
	cmd.Dir = c.Dir
	cmd.Stderr = c.Stderr
	cmd.WaitDelay = grace
	setProcAttr(cmd, !c.Interactive)

	// The pipes are ours rather than cmd.StdinPipe and cmd.StdoutPipe:
	// Wait closes those, and Wait runs as soon as the command exits, while
	// the caller may still be reading what it wrote last.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("transport: start %s: %w", name, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("transport: start %s: %w", name, err)
	}
	cmd.Stdin = inR
	cmd.Stdout = outW
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("transport: start %s: %w", name, err)
	}

	p := &Process{
		name:     name,
		cmd:      cmd,
		stdin:    inW,
		stdout:   outR,
		grace:    grace,
		ownGroup: !c.Interactive,
		exited:   make(chan struct{}),
	}
	go p.reap()
	return p, nil
}

// Process is a running command started by Command.Start, seen as a Stream
// on its standard input and output.
//
// Read, Write and CloseWrite follow the Stream contract. Reads keep
// returning what the command wrote until EOF, even after it has exited.
type Process struct {
	name     string
	cmd      *exec.Cmd
	stdin    *os.File // our end of the command's standard input
	stdout   *os.File // our end of the command's standard output
	grace    time.Duration
	ownGroup bool // the command leads a process group of its own

	stdinOnce sync.Once
	stdinErr  error

	mu        sync.Mutex
	gone      bool // the command has exited; its pid may be reaped any time
	signalled bool // Close signalled the live command

	exited  chan struct{} // closed once cmd.Wait has returned
	waitErr error         // cmd.Wait's result; read after exited is closed

	closeOnce sync.Once
	closeErr  error
}

// Read reads from the command's standard output.
func (p *Process) Read(b []byte) (int, error) { return p.stdout.Read(b) }

// Write writes to the command's standard input.
func (p *Process) Write(b []byte) (int, error) { return p.stdin.Write(b) }

// CloseWrite closes the command's standard input, so that it reads EOF.
func (p *Process) CloseWrite() error {
	p.stdinOnce.Do(func() { p.stdinErr = p.stdin.Close() })
	return p.stdinErr
}

// Close ends the command, escalating until it exits:
//
//  1. close its standard input and wait up to the grace period;
//  2. send SIGTERM and wait up to the grace period again;
//  3. send SIGKILL and wait for it to exit.
//
// Signals go to the command's process group, so that they reach what it
// started too, unless the command is Interactive (or the platform cannot
// signal a group safely: only Linux does); then to the command alone.
// Close then closes the standard output and returns; a blocked Read returns
// an error.
//
// Close returns an error only when it is informative: the command exited
// on its own with a non-zero status (or died of a signal Close did not
// send). The error names the command and wraps the *exec.ExitError. An
// exit caused by Close's own signals is not reported, nor is a descendant
// holding standard error open past the grace period; ExitCode still tells
// the status. Close is safe to call concurrently and more than once; every
// call returns once the command is gone, with the first call's result.
func (p *Process) Close() error {
	p.closeOnce.Do(func() { p.closeErr = p.close() })
	return p.closeErr
}

func (p *Process) close() error {
	p.CloseWrite()
	timer := time.NewTimer(p.grace)
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		p.signal(syscall.SIGTERM)
		timer.Reset(p.grace)
		select {
		case <-p.exited:
		case <-timer.C:
			p.signal(syscall.SIGKILL)
			<-p.exited
		}
	}
	p.stdout.Close()

	p.mu.Lock()
	signalled := p.signalled
	p.mu.Unlock()
	if signalled || errors.Is(p.waitErr, exec.ErrWaitDelay) {
		return nil
	}
	if p.waitErr != nil {
		return fmt.Errorf("transport: %s: %w", p.name, p.waitErr)
	}
	return nil
}

// ExitCode returns the command's exit status once it has exited, or -1
// while it runs or if a signal ended it. After Close it is final.
func (p *Process) ExitCode() int {
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// reap waits for the command to exit and records how. Where the platform
// allows, it first waits without reaping, so that until p.gone is set under
// p.mu the command's pid, which is also its process group id, cannot be
// reused: signal relies on that to signal the group safely.
func (p *Process) reap() {
	if groupSignalSafe {
		awaitExit(p.cmd.Process.Pid)
		p.mu.Lock()
		p.gone = true
		p.mu.Unlock()
	}
	err := p.cmd.Wait()
	p.mu.Lock()
	p.gone = true
	p.mu.Unlock()
	p.waitErr = err
	close(p.exited)
}

// signal sends sig to the command's process group, or to the command alone
// if it has no group of its own or the platform cannot signal the group
// safely. It does nothing once the command is known to have exited.
func (p *Process) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone {
		return
	}
	if p.ownGroup && groupSignalSafe && signalGroup(p.cmd.Process.Pid, sig) == nil {
		p.signalled = true
		return
	}
	if p.cmd.Process.Signal(sig) == nil {
		p.signalled = true
	}
}
