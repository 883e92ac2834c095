package sshdial

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"time"
)

// proxyWaitDelay bounds how long closing a ProxyCommand connection waits,
// once the command is killed, for descendants holding its standard error.
const proxyWaitDelay = time.Second

// proxyCommand starts c's ProxyCommand with sh -c and returns a connection
// over its standard input and output. Its standard error goes to
// d.Stderr. The command stays in fcp's process group, so that it can ask
// on the terminal as ssh -W would.
func (d *Dialer) proxyCommand(c *Config) (net.Conn, error) {
	d.logger().Debug("starting ProxyCommand", "command", c.ProxyCommand)
	fail := func(err error) (net.Conn, error) {
		return nil, fmt.Errorf("%w: %s: ProxyCommand %q: %w", ErrConnect, c.Destination(), c.ProxyCommand, err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return fail(err)
	}
	cmd := exec.Command("sh", "-c", c.ProxyCommand)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, d.Stderr
	cmd.WaitDelay = proxyWaitDelay
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return fail(err)
	}
	pc := &cmdConn{cmd: cmd, r: outR, w: inW, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(pc.exited)
	}()
	return pc, nil
}

// cmdConn is a connection over a ProxyCommand's standard input and
// output. It owns the command: Close kills it and waits for it.
type cmdConn struct {
	cmd    *exec.Cmd
	r      *os.File // the command's standard output
	w      *os.File // the command's standard input
	exited chan struct{}

	closeOnce sync.Once
}

func (c *cmdConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *cmdConn) Write(b []byte) (int, error) { return c.w.Write(b) }

// Close closes the pipes, kills the command (a proxy has nothing to
// finish once the SSH connection is closed) and waits for it to exit.
func (c *cmdConn) Close() error {
	c.closeOnce.Do(func() {
		c.w.Close()
		c.r.Close()
		c.cmd.Process.Kill()
		<-c.exited
	})
	return nil
}

func (c *cmdConn) LocalAddr() net.Addr  { return cmdAddr{} }
func (c *cmdConn) RemoteAddr() net.Addr { return cmdAddr{} }

func (c *cmdConn) SetDeadline(t time.Time) error {
	c.r.SetReadDeadline(t)
	return c.w.SetWriteDeadline(t)
}
func (c *cmdConn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *cmdConn) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }

// cmdAddr is the address of both ends of a cmdConn.
type cmdAddr struct{}

func (cmdAddr) Network() string { return "proxycommand" }
func (cmdAddr) String() string  { return "proxycommand" }
