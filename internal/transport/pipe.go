package transport

import (
	"context"
	"errors"
	"io"
	"sync"
)

// Pipe returns a Transport that runs the far end in this process: each
// Open starts serve in a new goroutine on the other end of an in-memory
// pipe, as an agent would run at the end of a Command. It is meant for
// tests.
//
// serve reads what the Stream's user writes and writes what it reads; it
// sees EOF once the user calls CloseWrite or Close. When serve returns, its
// end is closed and the user reads EOF. Its ctx keeps the values of Open's
// context but is cancelled only by the Stream's Close.
//
// The Stream's Close ends the pipe in both directions (serve's reads see
// EOF, its writes fail with io.ErrClosedPipe), cancels serve's context and
// waits for serve to return. It returns serve's error, except that when
// serve was still running, io.ErrClosedPipe and context.Canceled, which
// Close itself causes, are not reported.
func Pipe(serve func(ctx context.Context, rw io.ReadWriteCloser) error) Transport {
	return pipeTransport{serve: serve}
}

type pipeTransport struct {
	serve func(ctx context.Context, rw io.ReadWriteCloser) error
}

func (t pipeTransport) Open(ctx context.Context) (Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	upR, upW := io.Pipe()     // user to serve
	downR, downW := io.Pipe() // serve to user
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &pipeStream{
		r:      downR,
		w:      upW,
		cancel: cancel,
		served: make(chan struct{}),
	}
	far := &pipeEnd{r: upR, w: downW}
	go func() {
		defer close(s.served)
		s.serveErr = t.serve(sctx, far)
		far.Close()
	}()
	return s, nil
}

// pipeStream is the user's end of a Pipe.
type pipeStream struct {
	r      *io.PipeReader
	w      *io.PipeWriter
	cancel context.CancelFunc

	served   chan struct{} // closed when serve has returned
	serveErr error         // read after served is closed

	closeOnce sync.Once
	closeErr  error
}

func (s *pipeStream) Read(b []byte) (int, error)  { return s.r.Read(b) }
func (s *pipeStream) Write(b []byte) (int, error) { return s.w.Write(b) }
func (s *pipeStream) CloseWrite() error           { return s.w.Close() }

func (s *pipeStream) Close() error {
	s.closeOnce.Do(func() {
		var early bool
		select {
		case <-s.served:
			early = true
		default:
		}
		s.w.Close()
		s.r.Close()
		s.cancel()
		<-s.served
		err := s.serveErr
		if !early && (errors.Is(err, io.ErrClosedPipe) || errors.Is(err, context.Canceled)) {
			err = nil
		}
		s.closeErr = err
	})
	return s.closeErr
}

// pipeEnd is serve's end of a Pipe.
type pipeEnd struct {
	r *io.PipeReader
	w *io.PipeWriter
}

func (e *pipeEnd) Read(b []byte) (int, error)  { return e.r.Read(b) }
func (e *pipeEnd) Write(b []byte) (int, error) { return e.w.Write(b) }

func (e *pipeEnd) Close() error {
	e.r.Close()
	return e.w.Close()
}
