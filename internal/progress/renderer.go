package progress

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// DefaultInterval is how often a Renderer redraws unless told otherwise.
const DefaultInterval = 200 * time.Millisecond

// Renderer draws Counters on a terminal as one line redrawn in place:
//
//	3/10 files, 1 error  50% |████████        | (1.0/2.0 MB, 4.1 MB/s) [0s:1s]
//
// The bar, bytes and rate are byte counts; the ETA assumes the current
// rate. Until any byte total is known the bar is a spinner. The line uses
// ANSI escape codes, so the writer should be a terminal (see IsTerminal).
//
// A Renderer owns one goroutine between Start and Stop and is the only
// writer to w in that time. Start and Stop may be called from any
// goroutine; a Renderer is used once.
type Renderer struct {
	// Interval between redraws; DefaultInterval if not positive. Set it
	// before Start.
	Interval time.Duration

	w io.Writer
	c *Counters

	mu      sync.Mutex
	started bool
	stopped bool
	stop    chan struct{}
	done    chan struct{}
}

// NewRenderer returns a Renderer that will draw c to w once started.
func NewRenderer(w io.Writer, c *Counters) *Renderer {
	return &Renderer{w: w, c: c, stop: make(chan struct{})}
}

// Start draws the line and keeps redrawing it until Stop is called or ctx
// is done; either way the line is then drawn a last time and ended with a
// newline. Start does nothing on a Renderer already started or stopped.
func (r *Renderer) Start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopped {
		return
	}
	r.started = true
	r.done = make(chan struct{})
	interval := r.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	go r.run(ctx, interval)
}

// Stop ends the redrawing, draws the final state with a newline and
// returns once the goroutine has exited. It may be called more than once,
// and before Start (then nothing is drawn).
func (r *Renderer) Stop() {
	r.mu.Lock()
	if !r.stopped {
		r.stopped = true
		close(r.stop)
	}
	done := r.done
	r.mu.Unlock()
	if done != nil {
		<-done
	}
}

func (r *Renderer) run(ctx context.Context, interval time.Duration) {
	defer close(r.done)
	l := newLine(r.w)
	t := time.NewTicker(interval)
	defer t.Stop()
	l.draw(r.c.Snapshot(), false)
	for {
		select {
		case <-t.C:
			l.draw(r.c.Snapshot(), false)
		case <-r.stop:
			l.finish(r.c.Snapshot())
			return
		case <-ctx.Done():
			l.finish(r.c.Snapshot())
			return
		}
	}
}

// line adapts the progress bar to counters whose total moves. The bar
// stops drawing for good once its value reaches its maximum, so while the
// transfer runs the maximum is kept above the bytes done; only the final
// draw lets them meet. Only the Renderer's goroutine uses a line.
type line struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	known bool // the bar has a maximum (else it is a spinner)
	max   int64
	desc  string
}

func newLine(w io.Writer) *line {
	return &line{
		w: w,
		bar: progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionUseANSICodes(true),
			progressbar.OptionSetSpinnerChangeInterval(0),
		),
	}
}

func (l *line) draw(s Snapshot, final bool) {
	if d := describe(s); d != l.desc {
		l.desc = d
		l.bar.Describe(d)
	}
	limit := max(s.BytesTotal, s.BytesDone)
	if !final {
		limit = max(s.BytesTotal, s.BytesDone+1)
	}
	if (l.known || s.BytesTotal > 0 || s.BytesDone > 0) && limit != l.max {
		l.known, l.max = true, limit
		l.bar.ChangeMax64(limit)
	}
	_ = l.bar.Set64(s.BytesDone)
}

func (l *line) finish(s Snapshot) {
	l.draw(s, true)
	_, _ = io.WriteString(l.w, "\n")
}

func describe(s Snapshot) string {
	d := fmt.Sprintf("%d/%d files", s.FilesDone, s.FilesTotal)
	switch s.Errors {
	case 0:
	case 1:
		d += ", 1 error"
	default:
		d += fmt.Sprintf(", %d errors", s.Errors)
	}
	return d + " "
}

// IsTerminal reports whether w is an *os.File open on a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	sc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var is bool
	if err := sc.Control(func(fd uintptr) { is = term.IsTerminal(int(fd)) }); err != nil {
		return false
	}
	return is
}
