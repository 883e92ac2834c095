package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/fcp-dev/fcp/bench/internal/netem"
	"github.com/fcp-dev/fcp/bench/internal/proc"
)

// relay is the running relay process of the WAN link. It prints "ready",
// then one JSON line of netem.Stats per SIGUSR1 and at exit; it exits when
// its stdin closes.
type relay struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // stdout, line by line; closed at EOF
}

func startRelay(ctx context.Context, w *WAN, logPath string) (*relay, error) {
	args := append(append([]string(nil), w.Relay...),
		"-client-ns", "/run/netns/"+ClientNS, "-server-ns", "/run/netns/"+ServerNS, "-dev", tunDev,
		"-delay", w.Delay.String(), "-rate", strconv.FormatFloat(w.Rate, 'f', -1, 64),
		"-queue", strconv.FormatInt(w.Queue, 10))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd.Stderr = log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start relay: %w", err)
	}
	r := &relay{cmd: cmd, stdin: stdin, lines: make(chan string)}
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	line, err := r.next(ctx, 10*time.Second)
	if err != nil || line != "ready" {
		r.stop()
		return nil, fmt.Errorf("relay did not start (%q, %v): %s", line, err, proc.Tail(logPath, 2000))
	}
	return r, nil
}

func (r *relay) next(ctx context.Context, timeout time.Duration) (string, error) {
	select {
	case line, ok := <-r.lines:
		if !ok {
			return "", io.EOF
		}
		return line, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("relay: no answer in %v", timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// stats asks the relay for its counters.
func (r *relay) stats(ctx context.Context) (netem.Stats, error) {
	if err := r.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return netem.Stats{}, err
	}
	line, err := r.next(ctx, 5*time.Second)
	if err != nil {
		return netem.Stats{}, err
	}
	var s netem.Stats
	return s, json.Unmarshal([]byte(line), &s)
}

// stop closes the relay's stdin, collects its last counters and waits for
// it; it kills the relay if it does not exit in time.
func (r *relay) stop() (netem.Stats, error) {
	r.stdin.Close()
	var s netem.Stats
	line, err := r.next(context.Background(), 5*time.Second)
	if err == nil {
		err = json.Unmarshal([]byte(line), &s)
	} else {
		r.cmd.Process.Kill()
	}
	for range r.lines {
	}
	r.cmd.Wait()
	return s, err
}

// RelayStats returns the WAN relay's counters so far; ok is false when the
// lab has no WAN link.
func (l *Lab) RelayStats(ctx context.Context) (s netem.Stats, ok bool, err error) {
	if l.relay == nil {
		return netem.Stats{}, false, nil
	}
	s, err = l.relay.stats(ctx)
	return s, true, err
}

// RelayCPU returns the CPU time the relay has used so far.
func (l *Lab) RelayCPU() time.Duration {
	if l.relay == nil {
		return 0
	}
	d, _ := proc.CPUTime(l.relay.cmd.Process.Pid)
	return d
}
