package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// testGrace keeps escalation tests short.
const testGrace = 200 * time.Millisecond

// echoServe is a Pipe far end that behaves like cat.
func echoServe(ctx context.Context, rw io.ReadWriteCloser) error {
	_, err := io.Copy(rw, rw)
	return err
}

// TestConformance runs the Stream contract against every Transport.
func TestConformance(t *testing.T) {
	transports := []struct {
		name string
		tr   Transport
	}{
		{name: "Command", tr: Command{Argv: []string{"cat"}, Grace: testGrace}},
		{name: "Pipe", tr: Pipe(echoServe)},
	}
	for _, tt := range transports {
		t.Run(tt.name, func(t *testing.T) {
			t.Run("Echo", func(t *testing.T) { testEcho(t, tt.tr) })
			t.Run("CloseUnblocksRead", func(t *testing.T) { testCloseUnblocksRead(t, tt.tr) })
			t.Run("CancelledOpen", func(t *testing.T) { testCancelledOpen(t, tt.tr) })
		})
	}
}

func testEcho(t *testing.T, tr Transport) {
	s, err := tr.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("fcp\x00\xff\n"), 100000) // beyond any pipe buffer
	werr := make(chan error, 1)
	go func() {
		_, err := s.Write(want)
		if err == nil {
			err = s.CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("echoed %d bytes, want %d", len(got), len(want))
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func testCloseUnblocksRead(t *testing.T, tr Transport) {
	s, err := tr.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rerr := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 10))
		rerr <- err
	}()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-rerr; err == nil {
		t.Error("Read after Close succeeded")
	}
}

func testCancelledOpen(t *testing.T, tr Transport) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s, err := tr.Open(ctx)
	if !errors.Is(err, context.Canceled) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestCommandExit(t *testing.T) {
	tests := []struct {
		name     string
		argv     []string
		wantCode int
		wantErr  bool
	}{
		{name: "Success", argv: []string{"true"}, wantCode: 0},
		{name: "Status3", argv: []string{"sh", "-c", "exit 3"}, wantCode: 3, wantErr: true},
		{name: "SSHFailure", argv: []string{"sh", "-c", "exit 255"}, wantCode: 255, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Command{Argv: tt.argv, Grace: testGrace}.Start(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got := p.ExitCode(); got != -1 && got != tt.wantCode {
				t.Errorf("ExitCode before Close = %d", got)
			}
			if _, err := io.ReadAll(p); err != nil {
				t.Fatal(err)
			}
			err = p.Close()
			if got := p.ExitCode(); got != tt.wantCode {
				t.Errorf("ExitCode = %d, want %d", got, tt.wantCode)
			}
			if !tt.wantErr {
				if err != nil {
					t.Errorf("Close = %v, want nil", err)
				}
				return
			}
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) {
				t.Fatalf("Close = %v, want an *exec.ExitError", err)
			}
			if !strings.Contains(err.Error(), tt.argv[0]) {
				t.Errorf("Close = %q, does not name %q", err, tt.argv[0])
			}
		})
	}
}

// TestCommandClose checks each step of Close's escalation.
func TestCommandClose(t *testing.T) {
	tests := []struct {
		name       string
		script     string
		wantCode   int
		wantStderr string
		minTime    time.Duration
	}{
		{
			name:     "ExitsOnEOF",
			script:   "cat",
			wantCode: 0,
		},
		{
			name:       "NeedsSIGTERM",
			script:     `trap 'echo got TERM >&2; exit 7' TERM; while :; do sleep 0.05; done`,
			wantCode:   7,
			wantStderr: "got TERM\n", // sh may first report its child's death
			minTime:    testGrace,
		},
		{
			name:     "NeedsSIGKILL",
			script:   `trap '' TERM; sleep 60`,
			wantCode: -1,
			minTime:  2 * testGrace,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			p, err := Command{
				Argv:   []string{"sh", "-c", tt.script},
				Stderr: &stderr,
				Grace:  testGrace,
			}.Start(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := p.Close(); err != nil {
				t.Errorf("Close = %v, want nil", err)
			}
			elapsed := time.Since(start)
			if elapsed < tt.minTime || elapsed > tt.minTime+5*time.Second {
				t.Errorf("Close took %v, want at least %v and not much more", elapsed, tt.minTime)
			}
			if got := p.ExitCode(); got != tt.wantCode {
				t.Errorf("ExitCode = %d, want %d", got, tt.wantCode)
			}
			if got := stderr.String(); !strings.Contains(got, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", got, tt.wantStderr)
			}
		})
	}
}

func TestCommandStderr(t *testing.T) {
	var stderr bytes.Buffer
	p, err := Command{
		Argv:   []string{"sh", "-c", "echo out; echo oops >&2"},
		Stderr: &stderr,
	}.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if string(out) != "out\n" {
		t.Errorf("stdout = %q, want %q", out, "out\n")
	}
	if got := stderr.String(); got != "oops\n" {
		t.Errorf("stderr = %q, want %q", got, "oops\n")
	}
}

func TestCommandStartError(t *testing.T) {
	tests := []struct {
		name    string
		argv    []string
		wantIs  error
		wantSub string
	}{
		{name: "NotFound", argv: []string{"fcp-no-such-command", "x"}, wantIs: exec.ErrNotFound, wantSub: "fcp-no-such-command"},
		{name: "NoFile", argv: []string{"/nonexistent/fcp-ssh"}, wantSub: "/nonexistent/fcp-ssh"},
		{name: "Empty", argv: nil, wantSub: "empty command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Command{Argv: tt.argv}.Start(t.Context())
			if err == nil {
				p.Close()
				t.Fatal("Start succeeded")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Start = %v, want errors.Is %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantSub) {
				t.Errorf("Start = %q, does not contain %q", err, tt.wantSub)
			}
		})
	}
}

func TestPipeClose(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		serve   func(ctx context.Context, rw io.ReadWriteCloser) error
		wantErr error
	}{
		{
			name: "ServeError",
			serve: func(ctx context.Context, rw io.ReadWriteCloser) error {
				io.Copy(io.Discard, rw)
				return errBoom
			},
			wantErr: errBoom,
		},
		{
			name: "IgnoresEOF",
			serve: func(ctx context.Context, rw io.ReadWriteCloser) error {
				<-ctx.Done()
				return ctx.Err()
			},
		},
		{
			name: "BlockedWrite",
			serve: func(ctx context.Context, rw io.ReadWriteCloser) error {
				_, err := rw.Write([]byte("nobody reads this"))
				return err
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Pipe(tt.serve).Open(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Close = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestRshArgv(t *testing.T) {
	tests := []struct {
		name     string
		rsh      string
		userHost string
		want     []string
		wantErr  bool
	}{
		{name: "SSH", rsh: "ssh", userHost: "alice@example.org", want: []string{"ssh", "alice@example.org", "sh"}},
		{
			name:     "SSHOptions",
			rsh:      "ssh -p 2222 -o 'StrictHostKeyChecking no'",
			userHost: "host",
			want:     []string{"ssh", "-p", "2222", "-o", "StrictHostKeyChecking no", "host", "sh"},
		},
		{name: "Docker", rsh: "docker exec -i", userHost: "box", want: []string{"docker", "exec", "-i", "box", "sh"}},
		{name: "Netns", rsh: "ip netns exec", userHost: "blue", want: []string{"ip", "netns", "exec", "blue", "sh"}},
		{
			name:     "WrapperWithSpaces",
			rsh:      `"/opt/my tools/connect.sh" --fast`,
			userHost: "h",
			want:     []string{"/opt/my tools/connect.sh", "--fast", "h", "sh"},
		},
		{name: "ExtraBlanks", rsh: "  ssh\t -4  ", userHost: "h", want: []string{"ssh", "-4", "h", "sh"}},
		{name: "QuotesInsideWord", rsh: `ssh -oProxyCommand="nc %h %p"`, userHost: "h", want: []string{"ssh", "-oProxyCommand=nc %h %p", "h", "sh"}},
		{name: "DoubledQuote", rsh: `ssh -o 'Banner=it''s'`, userHost: "h", want: []string{"ssh", "-o", "Banner=it's", "h", "sh"}},
		{name: "OtherQuoteIsLiteral", rsh: `ssh "it's"`, userHost: "h", want: []string{"ssh", "it's", "h", "sh"}},
		{name: "EmptyWord", rsh: `wrap '' x`, userHost: "h", want: []string{"wrap", "", "x", "h", "sh"}},
		{name: "NoShellProcessing", rsh: `ssh \$HOME *`, userHost: "h", want: []string{"ssh", `\$HOME`, "*", "h", "sh"}},
		{name: "UnbalancedSingle", rsh: "ssh -o 'Port 22", userHost: "h", wantErr: true},
		{name: "UnbalancedDouble", rsh: `"ssh`, userHost: "h", wantErr: true},
		{name: "Blank", rsh: "  ", userHost: "h", wantErr: true},
		{name: "NoHost", rsh: "ssh", userHost: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RshArgv(tt.rsh, tt.userHost, "sh")
			if tt.wantErr {
				if !errors.Is(err, ErrRsh) {
					t.Errorf("RshArgv(%q) = %q, %v; want an error wrapping ErrRsh", tt.rsh, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("RshArgv(%q): %v", tt.rsh, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("RshArgv(%q) = %q, want %q", tt.rsh, got, tt.want)
			}
		})
	}
}
