package progress

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCountersConcurrent(t *testing.T) {
	const goroutines, rounds = 16, 1000
	var c Counters
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range rounds {
				c.AddTotal(1, 3)
				c.AddBytes(3)
				c.AddFile()
				c.AddError()
				c.Snapshot()
			}
		})
	}
	wg.Wait()
	const n = goroutines * rounds
	want := Snapshot{BytesDone: 3 * n, BytesTotal: 3 * n, FilesDone: n, FilesTotal: n, Errors: n}
	if got := c.Snapshot(); got != want {
		t.Errorf("Snapshot() = %+v, want %+v", got, want)
	}
}

// lockedBuffer lets a test read what a Renderer's goroutine writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRenderer(t *testing.T) {
	tests := []struct {
		name string
		// before runs before Start, during between Start and Stop.
		before, during func(c *Counters)
		want           []string
		notWant        []string
	}{
		{
			name: "half done",
			before: func(c *Counters) {
				c.AddTotal(10, 2048)
				c.AddBytes(1024)
				c.AddFile()
				c.AddFile()
				c.AddFile()
			},
			want:    []string{"3/10 files", "2.0 kB", "50%"},
			notWant: []string{"error"},
		},
		{
			name: "all done",
			before: func(c *Counters) {
				c.AddTotal(2, 5000)
				c.AddBytes(5000)
				c.AddFile()
				c.AddFile()
			},
			want: []string{"2/2 files", "5.0 kB", "100%"},
		},
		{
			name: "total grows while running",
			before: func(c *Counters) {
				c.AddTotal(1, 100)
			},
			during: func(c *Counters) {
				c.AddTotal(4, 4900)
				c.AddBytes(2500)
				c.AddFile()
			},
			want: []string{"1/5 files", "5.0 kB", "50%"},
		},
		{
			name: "nothing known",
			want: []string{"0/0 files", "0 B"},
		},
		{
			name: "errors",
			before: func(c *Counters) {
				c.AddTotal(3, 30)
				c.AddError()
				c.AddError()
			},
			want: []string{"0/3 files, 2 errors"},
		},
		{
			name: "one error",
			before: func(c *Counters) {
				c.AddTotal(3, 30)
				c.AddError()
			},
			want: []string{"0/3 files, 1 error "},
		},
		{
			name: "done passes total",
			before: func(c *Counters) {
				c.AddTotal(1, 2000)
				c.AddBytes(3000)
			},
			want: []string{"3.0 kB", "100%"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Counters
			if tt.before != nil {
				tt.before(&c)
			}
			var out lockedBuffer
			r := NewRenderer(&out, &c)
			r.Interval = time.Hour
			r.Start(context.Background())
			if tt.during != nil {
				tt.during(&c)
			}
			r.Stop()
			got := out.String()
			for _, w := range tt.want {
				if !strings.Contains(lastLine(got), w) {
					t.Errorf("final line %q does not contain %q", lastLine(got), w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("output %q contains %q", got, w)
				}
			}
			if !strings.HasSuffix(got, "\n") {
				t.Errorf("output %q does not end the line", got)
			}
		})
	}
}

// lastLine returns the last frame drawn before the final newline.
func lastLine(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return s[strings.LastIndex(s, "\r")+1:]
}

func TestRendererTicks(t *testing.T) {
	var c Counters
	var out lockedBuffer
	r := NewRenderer(&out, &c)
	r.Interval = time.Millisecond
	r.Start(context.Background())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				c.AddTotal(1, 1000)
				c.AddBytes(1000)
				c.AddFile()
			}
		})
	}
	wg.Wait()
	r.Stop()
	if got := lastLine(out.String()); !strings.Contains(got, "1600/1600 files") || !strings.Contains(got, "1.6 MB") {
		t.Errorf("final line %q lacks the final counts", got)
	}
}

func TestRendererStop(t *testing.T) {
	tests := []struct {
		name string
		run  func(r *Renderer)
		// drawn tells whether anything should have been written.
		drawn bool
	}{
		{
			name:  "stop after start",
			run:   func(r *Renderer) { r.Start(context.Background()); r.Stop() },
			drawn: true,
		},
		{
			name:  "stop twice",
			run:   func(r *Renderer) { r.Start(context.Background()); r.Stop(); r.Stop() },
			drawn: true,
		},
		{
			name:  "stop without start",
			run:   func(r *Renderer) { r.Stop() },
			drawn: false,
		},
		{
			name:  "start after stop",
			run:   func(r *Renderer) { r.Stop(); r.Start(context.Background()); r.Stop() },
			drawn: false,
		},
		{
			name: "context cancelled",
			run: func(r *Renderer) {
				ctx, cancel := context.WithCancel(context.Background())
				r.Start(ctx)
				cancel()
				r.Stop()
			},
			drawn: true,
		},
		{
			name: "start twice",
			run: func(r *Renderer) {
				r.Start(context.Background())
				r.Start(context.Background())
				r.Stop()
			},
			drawn: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Counters
			c.AddTotal(1, 10)
			var out lockedBuffer
			r := NewRenderer(&out, &c)
			r.Interval = time.Hour
			done := make(chan struct{})
			go func() {
				defer close(done)
				tt.run(r)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Stop did not return")
			}
			got := out.String()
			if tt.drawn && strings.Count(got, "\n") != 1 {
				t.Errorf("output %q: want one finished line", got)
			}
			if !tt.drawn && got != "" {
				t.Errorf("output %q: want nothing", got)
			}
		})
	}
}

func TestJSONWriter(t *testing.T) {
	tests := []struct {
		name  string
		write func(j *JSONWriter) error
		want  map[string]any
	}{
		{
			name:  "file",
			write: func(j *JSONWriter) error { return j.File("create", "a/b c.txt", "file", 1234) },
			want:  map[string]any{"event": "file", "action": "create", "path": "a/b c.txt", "type": "file", "bytes": 1234.0},
		},
		{
			name:  "directory",
			write: func(j *JSONWriter) error { return j.File("meta", "a", "dir", 0) },
			want:  map[string]any{"event": "file", "action": "meta", "path": "a", "type": "dir", "bytes": 0.0},
		},
		{
			name:  "unicode and html characters",
			write: func(j *JSONWriter) error { return j.File("update", "日本/<a&b>\n\"q\"", "symlink", 5) },
			want:  map[string]any{"event": "file", "action": "update", "path": "日本/<a&b>\n\"q\"", "type": "symlink", "bytes": 5.0},
		},
		{
			name:  "error",
			write: func(j *JSONWriter) error { return j.Error("x/y", errors.New("permission denied")) },
			want:  map[string]any{"event": "error", "path": "x/y", "error": "permission denied"},
		},
		{
			name:  "error without path",
			write: func(j *JSONWriter) error { return j.Error("", errors.New("connection lost")) },
			want:  map[string]any{"event": "error", "error": "connection lost"},
		},
		{
			name:  "nil error",
			write: func(j *JSONWriter) error { return j.Error("p", nil) },
			want:  map[string]any{"event": "error", "path": "p", "error": "unknown error"},
		},
		{
			name: "summary",
			write: func(j *JSONWriter) error {
				return j.Summary(Summary{Files: 3, Bytes: 4096, Deleted: 1, Errors: 2, Seconds: 1.5, DryRun: true})
			},
			want: map[string]any{"event": "summary", "files": 3.0, "bytes": 4096.0, "deleted": 1.0, "errors": 2.0, "seconds": 1.5, "dry_run": true},
		},
		{
			name:  "summary zero",
			write: func(j *JSONWriter) error { return j.Summary(Summary{}) },
			want:  map[string]any{"event": "summary", "files": 0.0, "bytes": 0.0, "deleted": 0.0, "errors": 0.0, "seconds": 0.0, "dry_run": false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := tt.write(NewJSONWriter(&out)); err != nil {
				t.Fatal(err)
			}
			line, ok := strings.CutSuffix(out.String(), "\n")
			if !ok || strings.Contains(line, "\n") {
				t.Fatalf("output %q is not one line", out.String())
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(line), &got); err != nil {
				t.Fatalf("unmarshal %q: %v", line, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("event = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJSONPathRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		wantText string
		wantB64  bool
	}{
		{name: "ascii", path: "a/b.txt", wantText: "a/b.txt"},
		{name: "utf8", path: "ディレクトリ/é", wantText: "ディレクトリ/é"},
		{name: "latin1", path: "caf\xe9/x", wantText: "caf\uFFFD/x", wantB64: true},
		{name: "run of bad bytes", path: "\xff\xfe\xfd", wantText: "\uFFFD", wantB64: true},
		{name: "truncated rune", path: "a\xe6\x97", wantText: "a\uFFFD", wantB64: true},
		{name: "surrogate half", path: "\xed\xa0\x80", wantText: "\uFFFD", wantB64: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			j := NewJSONWriter(&out)
			if err := j.File("create", tt.path, "file", 1); err != nil {
				t.Fatal(err)
			}
			if err := j.Error(tt.path, errors.New("boom")); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(&out)
			for sc.Scan() {
				var ev struct {
					Event   string  `json:"event"`
					Path    string  `json:"path"`
					PathB64 *string `json:"path_b64"`
				}
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					t.Fatalf("unmarshal %q: %v", sc.Text(), err)
				}
				if ev.Path != tt.wantText {
					t.Errorf("%s: path = %q, want %q", ev.Event, ev.Path, tt.wantText)
				}
				if (ev.PathB64 != nil) != tt.wantB64 {
					t.Fatalf("%s: path_b64 present = %v, want %v", ev.Event, ev.PathB64 != nil, tt.wantB64)
				}
				got := ev.Path
				if ev.PathB64 != nil {
					raw, err := base64.StdEncoding.DecodeString(*ev.PathB64)
					if err != nil {
						t.Fatalf("%s: path_b64: %v", ev.Event, err)
					}
					got = string(raw)
				}
				if got != tt.path {
					t.Errorf("%s: decoded path = %q, want %q", ev.Event, got, tt.path)
				}
			}
		})
	}
}

func TestJSONWriterConcurrent(t *testing.T) {
	const goroutines, events = 16, 200
	var out bytes.Buffer
	j := NewJSONWriter(&out)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range events {
				if err := j.File("create", fmt.Sprintf("g%d/f%d", g, i), "file", int64(i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	sc := bufio.NewScanner(&out)
	n := 0
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d %q: %v", n+1, sc.Text(), err)
		}
		n++
	}
	if n != goroutines*events {
		t.Errorf("got %d lines, want %d", n, goroutines*events)
	}
}

type failingWriter struct{ calls int }

func (f *failingWriter) Write(p []byte) (int, error) {
	f.calls++
	return 0, errors.New("disk full")
}

func TestJSONWriterStickyError(t *testing.T) {
	var w failingWriter
	j := NewJSONWriter(&w)
	err1 := j.File("create", "a", "file", 1)
	err2 := j.Summary(Summary{})
	if err1 == nil || !strings.Contains(err1.Error(), "disk full") {
		t.Errorf("first error = %v, want the write error", err1)
	}
	if err2 != err1 {
		t.Errorf("second error = %v, want the first one again", err2)
	}
	if w.calls != 1 {
		t.Errorf("writer called %d times, want 1", w.calls)
	}
}

func TestIsTerminal(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	var nilFile *os.File
	tests := []struct {
		name string
		w    io.Writer
	}{
		{name: "buffer", w: new(bytes.Buffer)},
		{name: "pipe", w: pw},
		{name: "nil file", w: nilFile},
		{name: "regular file", w: openTemp(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if IsTerminal(tt.w) {
				t.Errorf("IsTerminal(%T) = true", tt.w)
			}
		})
	}
}

func openTemp(t *testing.T) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
