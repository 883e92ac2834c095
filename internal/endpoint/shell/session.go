package shell

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fcp-dev/fcp/internal/endpoint"
)

// The shell reports on a command with marker lines, each alone on its line:
//
//	FCPSH <nonce> <seq> <kind> <args>...
//
// where nonce is the session's random token (so that no file name the
// shell prints can pass for a marker) and seq numbers the command. Kinds:
//
//	END <status> [<detail>]   the command ended
//	OP <k> <status> [<detail>] op k of the command ended
//	READY <k> <statuses>...   the shell waits for payload k (see request)
//	STREAM                    a scan's records follow, up to a newline
//	CAPS <name=value>...      what the shell's tools can do (Open)
//
// Everything else the shell prints (error messages, noise) is text; the
// text printed since the previous marker goes with the next marker.
const markerWord = "FCPSH"

// Limits on what is kept of the shell's output.
const (
	maxText = 16 << 10 // text kept per marker
	maxLine = 4 << 10  // bytes of one line kept
)

// event is one marker line and the text before it.
type event struct {
	seq  uint64
	kind string
	args []string
	text []byte
	// For STREAM: the shell's output, to be read up to the end of the
	// records (not beyond); the receiver closes done when it has.
	r    *bufio.Reader
	done chan struct{}
}

// arg returns args[i] as a number, or -1.
func (ev *event) arg(i int) int {
	if i >= len(ev.args) {
		return -1
	}
	n, err := strconv.Atoi(ev.args[i])
	if err != nil {
		return -1
	}
	return n
}

// session is one shell, reached through rw: commands are written to it
// one at a time, and a goroutine reads its output and hands the markers to
// the command in progress.
type session struct {
	rw    io.ReadWriter
	w     *bufio.Writer // on rw; used by the holder of sem
	nonce string
	log   *slog.Logger

	sem    chan struct{} // held while a command runs
	seq    uint64        // of the last command; guarded by sem
	events chan *event   // from the reader to the command in progress

	dead     chan struct{} // closed when the session can no longer be used
	deadOnce sync.Once
	err      error // why; set before dead is closed

	// wg counts the goroutines that run commands. The one reading rw is
	// not among them: it ends when rw's Read fails, at once when the
	// shell exits, else when whoever owns the process ends it.
	wg sync.WaitGroup
}

func newSession(rw io.ReadWriter, nonce string, log *slog.Logger) *session {
	s := &session{
		rw:     rw,
		w:      bufio.NewWriterSize(rw, 64<<10),
		nonce:  nonce,
		log:    log,
		sem:    make(chan struct{}, 1),
		events: make(chan *event),
		dead:   make(chan struct{}),
	}
	go s.read()
	return s
}

// kill makes the session unusable: the running command and every later
// one fail with err, which must wrap endpoint.ErrClosed.
func (s *session) kill(err error) {
	s.deadOnce.Do(func() {
		s.err = err
		close(s.dead)
	})
}

// read reads the shell's output until it ends, handing markers to the
// command in progress.
func (s *session) read() {
	br := bufio.NewReaderSize(s.rw, 64<<10)
	prefix := []byte(markerWord + " " + s.nonce + " ")
	var text []byte
	for {
		line, err := readLine(br)
		if err != nil {
			s.kill(fmt.Errorf("%w: the shell's output ended: %v", endpoint.ErrClosed, err))
			return
		}
		if !bytes.HasPrefix(line, prefix) {
			if len(line) > 0 && len(text) < maxText {
				text = append(text, line[:min(len(line), maxText-len(text))]...)
				text = append(text, '\n')
			}
			continue
		}
		ev, err := parseMarker(string(line[len(prefix):]))
		if err != nil {
			s.kill(fmt.Errorf("%w: %v", endpoint.ErrClosed, err))
			continue
		}
		ev.text, text = text, nil
		if ev.kind == "STREAM" {
			ev.r, ev.done = br, make(chan struct{})
		}
		select {
		case s.events <- ev:
			if ev.done != nil {
				<-ev.done
			}
		case <-s.dead:
			// Nobody listens: what follows is read only to see the
			// output end.
		}
	}
}

// readLine returns the next line without its newline, cut to maxLine
// bytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == nil {
		return line[:len(line)-1], nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	long := append([]byte(nil), line[:maxLine]...)
	for errors.Is(err, bufio.ErrBufferFull) {
		_, err = br.ReadSlice('\n')
	}
	return long, err
}

// parseMarker parses what follows the nonce in a marker line.
func parseMarker(s string) (*event, error) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return nil, fmt.Errorf("malformed marker %q", s)
	}
	seq, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("malformed marker %q", s)
	}
	return &event{seq: seq, kind: f[1], args: f[2:]}, nil
}

// request is one command for the shell and what to do with its markers.
//
// A command may stop at READY markers to read a payload from standard
// input: the shell then reads a line with the payload's size (read reads
// byte by byte) and that many bytes (with head -c). A payload is written
// only after its READY marker, and nothing else is written until the
// next READY marker or the end of the command, so that no tool reading
// standard input can take more than its share: the shell has parsed the
// whole command before, and a reader that reads ahead (busybox head does)
// finds nothing more to read.
type request struct {
	script *script
	// onEvent is called, in the goroutine that runs the command, for
	// every marker but END. For READY it returns the payload to send
	// (nil for none); for STREAM it reads the records from ev.r.
	onEvent func(ev *event) (*payload, error)

	// abandoned is set when the caller stopped waiting: payloads not yet
	// sent are then left out.
	abandoned atomic.Bool
}

// payload is what a command reads at a READY marker.
type payload struct {
	size  int64
	write func(w io.Writer) error // writes at most size bytes; the rest is padded
}

// acquire waits until no command runs, or until done is closed or the
// session dies.
func (s *session) acquire(done <-chan struct{}) error {
	select {
	case <-s.dead:
		return s.err
	default:
	}
	select {
	case s.sem <- struct{}{}:
	case <-s.dead:
		return s.err
	case <-done:
		return errAbandoned
	}
	select {
	case <-s.dead:
		<-s.sem
		return s.err
	default:
	}
	return nil
}

// do runs req and returns its END marker, waiting at most until ctx
// ends: the command then goes on in the background, without the
// payloads it has not yet read.
func (s *session) do(ctx context.Context, req *request) (*event, error) {
	if err := s.acquire(ctx.Done()); err != nil {
		if errors.Is(err, errAbandoned) {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		s.release()
		return nil, err
	}
	type result struct {
		ev  *event
		err error
	}
	ch := make(chan result, 1)
	s.wg.Go(func() {
		defer s.release()
		ev, err := s.run(req)
		ch <- result{ev, err}
	})
	select {
	case r := <-ch:
		return r.ev, r.err
	case <-ctx.Done():
		req.abandoned.Store(true)
		return nil, ctx.Err()
	}
}

// errAbandoned is returned by acquire when its caller gave up.
var errAbandoned = errors.New("shell: abandoned")

func (s *session) release() { <-s.sem }

// run runs req, holding sem (see acquire), and returns its END marker.
// An error from onEvent fails the command but, the protocol being intact,
// not the session.
func (s *session) run(req *request) (*event, error) {
	s.seq++
	seq := s.seq
	if err := s.send(req.script.bytes(seq)); err != nil {
		return nil, err
	}
	var first error
	for {
		var ev *event
		select {
		case ev = <-s.events:
		case <-s.dead:
			return nil, s.err
		}
		if ev.seq != seq {
			if ev.done != nil {
				close(ev.done)
			}
			err := fmt.Errorf("%w: marker of command %d during command %d", endpoint.ErrClosed, ev.seq, seq)
			s.kill(err)
			return nil, err
		}
		if ev.kind == "END" {
			return ev, first
		}
		p, err := req.onEvent(ev)
		if ev.done != nil {
			close(ev.done)
			if err != nil {
				// The records were not read to their end: the output
				// can no longer be told apart.
				err = fmt.Errorf("%w: %v", endpoint.ErrClosed, err)
				s.kill(err)
				return nil, err
			}
		}
		if err != nil && first == nil {
			first = err
		}
		if ev.kind == "READY" {
			if err := s.sendPayload(req, p); err != nil {
				return nil, err
			}
		}
	}
}

// send writes a command.
func (s *session) send(script []byte) error {
	s.w.Write(script)
	if err := s.w.Flush(); err != nil {
		err = fmt.Errorf("%w: writing to the shell: %v", endpoint.ErrClosed, err)
		s.kill(err)
		return err
	}
	return nil
}

// sendPayload answers a READY marker: the size, then the data (padded
// with zeros or cut to size, so the shell reads exactly what it was
// told).
func (s *session) sendPayload(req *request, p *payload) error {
	if p == nil || req.abandoned.Load() {
		p = &payload{}
	}
	fmt.Fprintf(s.w, "%d\n", p.size)
	if p.size > 0 {
		lw := &limitedWriter{w: s.w, n: p.size}
		err := p.write(lw)
		if lw.err != nil {
			err = fmt.Errorf("%w: writing to the shell: %v", endpoint.ErrClosed, lw.err)
			s.kill(err)
			return err
		}
		if err != nil || lw.n > 0 || lw.cut {
			s.log.Error("shell: payload of the wrong size; padded", "want", p.size, "short", lw.n, "cut", lw.cut, "err", err)
		}
		if err := lw.pad(); err != nil {
			err = fmt.Errorf("%w: writing to the shell: %v", endpoint.ErrClosed, err)
			s.kill(err)
			return err
		}
	}
	if err := s.w.Flush(); err != nil {
		err = fmt.Errorf("%w: writing to the shell: %v", endpoint.ErrClosed, err)
		s.kill(err)
		return err
	}
	return nil
}

// limitedWriter passes at most n bytes to w, dropping the rest.
type limitedWriter struct {
	w   io.Writer
	n   int64
	cut bool  // something was dropped
	err error // from w
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	m := len(p)
	if int64(len(p)) > l.n {
		p, l.cut = p[:l.n], true
	}
	_, l.err = l.w.Write(p)
	l.n -= int64(len(p))
	if l.err != nil {
		return 0, l.err
	}
	return m, nil
}

// pad writes zeros up to the limit.
func (l *limitedWriter) pad() error {
	var zeros [4096]byte
	for l.n > 0 && l.err == nil {
		l.Write(zeros[:min(l.n, int64(len(zeros)))])
	}
	return l.err
}

// exit ends the shell, once no command runs, and waits for its output to
// end. It does not wait if the session is already dead.
func (s *session) exit() {
	if err := s.acquire(nil); err == nil {
		s.w.WriteString("exit 0\n")
		if err := s.w.Flush(); err != nil {
			s.kill(fmt.Errorf("%w: writing to the shell: %v", endpoint.ErrClosed, err))
		}
		<-s.dead
	}
}
