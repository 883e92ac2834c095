package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSH is a Transport over native SSH connections (golang.org/x/crypto/ssh):
// each Open dials a connection of its own and runs Command in a session on
// it, the session's standard input and output being the Stream. One TCP
// connection per Stream is the point: SSH flow control caps a channel at
// one window per round trip, and the windows are 2 MiB each way
// (x/crypto/ssh advertises a fixed 2 MiB, 64 packets of 32 KiB, that its
// API cannot raise; OpenSSH's sshd advertises 2 MiB for sessions). So a
// Stream moves at most about 2 MiB per round trip, 20 MiB/s at 100 ms, and
// fcp opens several to fill a long fat pipe. Separate connections, rather
// than channels of one, also spread the encryption over TCP streams and
// CPU cores.
//
// The zero value is not usable: Dial is required.
type SSH struct {
	// Dial opens an authenticated connection; usually the Dial method of
	// an *sshdial.Dialer, which may be shared by all of a host's
	// Transports. It must respect ctx. Open owns the client it returns.
	Dial func(ctx context.Context) (*ssh.Client, error)
	// Command is what the session runs, as a command line for the remote
	// user's shell; "" means "sh".
	Command string
	// Subsystem, if set, is requested instead of running Command: the
	// session is then that subsystem of the server (fcpd serves "fcp").
	Subsystem string
	// Stderr receives the command's standard error, written from a
	// goroutine of the Stream, so it must be safe to use concurrently with
	// whatever else writes to it. nil discards.
	Stderr io.Writer
	// Grace is how long Close waits for the command to exit after closing
	// its standard input, and again after asking for SIGKILL, before it
	// closes the connection anyway. Zero means DefaultGrace.
	Grace time.Duration
}

// Open dials a new connection, starts Command in a session on it and
// returns the session as a Stream. ctx bounds the dial and the start only.
// Errors wrap the Dial error (for sshdial, one of its sentinels) or the
// session's, and name the command.
func (t SSH) Open(ctx context.Context) (Stream, error) {
	if t.Dial == nil {
		return nil, errors.New("transport: ssh: no Dial function")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("transport: ssh: %w", err)
	}
	command := t.Command
	if command == "" {
		command = "sh"
	}
	grace := t.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	client, err := t.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("transport: ssh: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { client.Close() })
	if t.Subsystem != "" {
		command = "subsystem " + t.Subsystem
	}
	s, err := startSession(client, command, t.Subsystem, t.Stderr)
	if !stop() {
		if s != nil {
			s.sess.Close()
		}
		client.Close()
		return nil, fmt.Errorf("transport: ssh: %s: %w", command, ctx.Err())
	}
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("transport: ssh: %s: %w", command, err)
	}
	s.client, s.command, s.grace = client, command, grace
	go func() {
		s.waitErr = s.sess.Wait()
		close(s.exited)
	}()
	return s, nil
}

// startSession opens a session on client and starts command (or requests
// subsystem, if set) in it with pipes for standard input and output. On
// failure the session, if any, is returned so that it can be closed.
func startSession(client *ssh.Client, command, subsystem string, stderr io.Writer) (*sshStream, error) {
	sess, err := client.NewSession()
	if err != nil {
		return nil, err
	}
	s := &sshStream{sess: sess, exited: make(chan struct{})}
	if s.stdin, err = sess.StdinPipe(); err != nil {
		return s, err
	}
	if s.stdout, err = sess.StdoutPipe(); err != nil {
		return s, err
	}
	sess.Stderr = stderr
	if subsystem != "" {
		return s, sess.RequestSubsystem(subsystem)
	}
	if err := sess.Start(command); err != nil {
		return s, err
	}
	return s, nil
}

// sshStream is a Stream on an SSH session. It owns the session and the
// connection it runs on.
type sshStream struct {
	client  *ssh.Client
	sess    *ssh.Session
	command string
	grace   time.Duration
	stdin   io.WriteCloser
	stdout  io.Reader

	stdinOnce sync.Once
	stdinErr  error

	exited  chan struct{} // closed once sess.Wait has returned
	waitErr error         // sess.Wait's result; read after exited is closed

	closeOnce sync.Once
	closeErr  error
}

// Read reads from the command's standard output.
func (s *sshStream) Read(b []byte) (int, error) { return s.stdout.Read(b) }

// Write writes to the command's standard input.
func (s *sshStream) Write(b []byte) (int, error) { return s.stdin.Write(b) }

// CloseWrite sends EOF on the command's standard input.
func (s *sshStream) CloseWrite() error {
	s.stdinOnce.Do(func() { s.stdinErr = s.stdin.Close() })
	return s.stdinErr
}

// Close ends the command and the connection: it sends EOF and waits up to
// the grace period for the command to exit; if it has not, it asks the
// server to send it SIGKILL (OpenSSH signals the session's process group,
// though not for sessions of root, which it cannot) and waits up to the
// grace period again. Then it closes the session and the connection, which
// ends a blocked Read. So Close takes at most twice the grace period,
// whatever the remote does.
//
// Close returns an error only when it is informative: the command exited
// on its own with a non-zero status (wrapping *ssh.ExitError), or the
// connection ended before the command reported its exit. Close is safe to
// call concurrently and more than once; every call returns once the
// connection is closed, with the first call's result.
func (s *sshStream) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *sshStream) close() error {
	s.CloseWrite()
	timer := time.NewTimer(s.grace)
	defer timer.Stop()
	onItsOwn := true
	select {
	case <-s.exited:
	case <-timer.C:
		onItsOwn = false
		s.sess.Signal(ssh.SIGKILL)
		timer.Reset(s.grace)
		select {
		case <-s.exited:
		case <-timer.C:
		}
	}
	s.sess.Close()
	s.client.Close()
	<-s.exited
	if !onItsOwn || s.waitErr == nil {
		return nil
	}
	return fmt.Errorf("transport: ssh: %s: %w", s.command, s.waitErr)
}
