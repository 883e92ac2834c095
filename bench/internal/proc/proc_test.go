//go:build linux

package proc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needTime skips tests that run commands when GNU time, through which Run
// starts them, is missing (bench/run.sh installs it).
func needTime(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(timeBin); err != nil {
		t.Skipf("%s is missing: %v", timeBin, err)
	}
}

func TestRun(t *testing.T) {
	needTime(t)
	log := filepath.Join(t.TempDir(), "log")
	tests := []struct {
		name     string
		cmd      Command
		timeout  time.Duration
		wantCode int
		timedOut bool
		wantLog  string
	}{
		{name: "success", cmd: Command{Args: []string{"sh", "-c", "cat; echo to-stderr >&2"}, Stdin: "to-stdout\n", Log: log}, wantLog: "to-stdout\nto-stderr\n"},
		{name: "exit status", cmd: Command{Args: []string{"sh", "-c", "exit 3"}}, wantCode: 3},
		{name: "environment", cmd: Command{Args: []string{"sh", "-c", `test "$BENCH_X" = y`}, Env: []string{"BENCH_X=y"}}},
		{name: "timeout stops the group", cmd: Command{Args: []string{"sh", "-c", "sleep 30 & sleep 30"}}, timeout: 200 * time.Millisecond, wantCode: 143, timedOut: true},
		{name: "timeout kills what ignores TERM", cmd: Command{Args: []string{"sh", "-c", "trap '' TERM; sleep 30"}}, timeout: 200 * time.Millisecond, wantCode: 137, timedOut: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(log)
			start := time.Now()
			r, err := Run(context.Background(), tt.cmd, tt.timeout)
			if err != nil {
				t.Fatal(err)
			}
			if r.ExitCode != tt.wantCode || r.TimedOut != tt.timedOut {
				t.Errorf("exit %d, timed out %v; want %d, %v", r.ExitCode, r.TimedOut, tt.wantCode, tt.timedOut)
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("Run took %v", time.Since(start))
			}
			if r.MaxRSS <= 0 || r.Wall <= 0 {
				t.Errorf("no usage measured: %+v", r)
			}
			if tt.wantLog != "" {
				if b, _ := os.ReadFile(log); string(b) != tt.wantLog {
					t.Errorf("log %q, want %q", b, tt.wantLog)
				}
			}
		})
	}
}

func TestCut(t *testing.T) {
	needTime(t)
	cut := make(chan struct{})
	time.AfterFunc(200*time.Millisecond, func() { close(cut) })
	start := time.Now()
	// The shell ignores TERM and a child holds the group: KILL must reach both at once.
	r, err := Run(context.Background(), Command{Args: []string{"sh", "-c", "trap '' TERM; sleep 30 & sleep 30"}, Cut: cut}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Cut || r.TimedOut || r.ExitCode != -1 {
		t.Errorf("cut %v, timed out %v, exit %d; want cut, killed (-1)", r.Cut, r.TimedOut, r.ExitCode)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v after the cut", d)
	}
	// A command that ends first is not cut.
	r, err = Run(context.Background(), Command{Args: []string{"true"}, Cut: make(chan struct{})}, 0)
	if err != nil || r.Cut || r.ExitCode != 0 {
		t.Errorf("uncut command: %+v, %v", r, err)
	}
}

// TestMaxRSSIsTheCommands checks that a small command is not charged this
// process's memory, as a direct child started with vfork would be.
func TestMaxRSSIsTheCommands(t *testing.T) {
	needTime(t)
	ballast := make([]byte, 128<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	small, err := Run(context.Background(), Command{Args: []string{"true"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	big, err := Run(context.Background(), Command{Args: []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=40M", "count=1"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if small.MaxRSS <= 0 || small.MaxRSS > 32<<20 {
		t.Errorf("MaxRSS of true = %d bytes, want a few MiB", small.MaxRSS)
	}
	if big.MaxRSS < 40e6 {
		t.Errorf("MaxRSS of dd with a 40 MiB buffer = %d bytes", big.MaxRSS)
	}
	ballast[0]++
}

func TestSampleUser(t *testing.T) {
	stop := SampleUser(os.Getuid(), 10*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	m := stop()
	if m.Processes == 0 || m.Sum <= 0 || m.Max <= 0 {
		t.Errorf("sampled %+v, want at least this test process", m)
	}
}

func TestCPUTime(t *testing.T) {
	if _, err := CPUTime(os.Getpid()); err != nil {
		t.Error(err)
	}
	if _, err := CPUTime(-1); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("CPUTime(-1): %v", err)
	}
}
