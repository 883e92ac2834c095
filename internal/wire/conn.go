package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

const (
	bufSize     = 64 << 10 // read and write buffers of a Conn
	headerLen   = 9        // length, kind, id
	maxScratch  = 1 << 20  // largest encoding buffer a Conn keeps between frames
	maxNoiseLen = 256      // bytes of pre-handshake noise quoted in ErrNoise
)

// Conn carries frames over a byte stream. Recv must be called by one
// goroutine at a time; Send is safe for concurrent use and flushes when no
// other Send is waiting, so bursts are batched and a lone frame is not held.
type Conn struct {
	br   *bufio.Reader
	rerr error // sticky error of Recv

	waiting atomic.Int32 // Sends blocked on mu
	mu      sync.Mutex   // guards bw and scratch
	bw      *bufio.Writer
	scratch []byte
}

// NewConn returns a Conn reading frames from r and writing them to w.
func NewConn(r io.Reader, w io.Writer) *Conn {
	return &Conn{
		br: bufio.NewReaderSize(r, bufSize),
		bw: bufio.NewWriterSize(w, bufSize),
	}
}

// Send writes one frame holding m under request id. It validates m first
// (see the Validate methods) and refuses an invalid message with an error
// wrapping ErrProtocol, or one whose body exceeds MaxFrame with ErrTooLarge;
// nothing is written then. Send does not retain m: a Data or ReadResp
// payload may be reused once Send returns. Once writing to the stream fails,
// every later Send fails.
func (c *Conn) Send(id uint32, m Message) error {
	return c.SendAll(id, m)
}

// SendAll is Send for several messages under the same request id: they
// are validated first (one invalid message and nothing is written), then
// written back to back and flushed once, so they leave in one write of
// the stream rather than one each. A message whose body exceeds MaxFrame
// fails with ErrTooLarge after the ones before it were written.
func (c *Conn) SendAll(id uint32, ms ...Message) error {
	bodies := make([]body, len(ms))
	for i, m := range ms {
		b, ok := m.(body)
		if !ok {
			return fmt.Errorf("wire: send %T: not a wire message", m)
		}
		if err := b.Validate(); err != nil {
			return fmt.Errorf("send %v: %w", b.Kind(), err)
		}
		bodies[i] = b
	}
	c.waiting.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waiting.Add(-1)
	var err error
	for _, b := range bodies {
		if err = c.writeFrame(id, b); err != nil {
			break
		}
	}
	if c.waiting.Load() == 0 {
		if ferr := c.bw.Flush(); ferr != nil && err == nil {
			err = fmt.Errorf("wire: send %v: %w", bodies[len(bodies)-1].Kind(), ferr)
		}
	}
	return err
}

// writeFrame buffers one frame; c.mu must be held. A payload too big to
// fit the buffer goes to the stream without being copied into it.
func (c *Conn) writeFrame(id uint32, m body) error {
	buf := append(c.scratch[:0], 0, 0, 0, 0, byte(m.Kind()), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(buf[5:], id)
	buf, tail := m.appendBody(buf)
	if cap(buf) <= maxScratch {
		c.scratch = buf[:0]
	}
	n := len(buf) - headerLen + len(tail)
	if n > MaxFrame {
		return fmt.Errorf("%w: send %v: body of %d bytes exceeds %d", ErrTooLarge, m.Kind(), n, MaxFrame)
	}
	binary.BigEndian.PutUint32(buf, uint32(n+headerLen-4))
	if _, err := c.bw.Write(buf); err != nil {
		return fmt.Errorf("wire: send %v: %w", m.Kind(), err)
	}
	if _, err := c.bw.Write(tail); err != nil {
		return fmt.Errorf("wire: send %v: %w", m.Kind(), err)
	}
	return nil
}

// Recv reads the next frame and returns its id and validated message.
// Errors wrap ErrProtocol or ErrTooLarge for bad input, io.EOF for a clean
// end between frames, io.ErrUnexpectedEOF for a stream cut inside one.
//
// Each frame's body is read into a new buffer, so the message, including
// the Data of a *Data or *ReadResp, belongs to the caller. After an error
// the stream is out of step or the peer broken: every later Recv returns
// the same error (io.EOF unwrapped, as the io package's readers do).
func (c *Conn) Recv() (uint32, Message, error) {
	if c.rerr != nil {
		return 0, nil, c.rerr
	}
	id, m, err := c.recv()
	if err != nil {
		c.rerr = err
		return 0, nil, err
	}
	return id, m, nil
}

func (c *Conn) recv() (uint32, Message, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(c.br, h[:4]); err != nil {
		if err == io.EOF {
			return 0, nil, io.EOF
		}
		return 0, nil, fmt.Errorf("wire: read frame: %w", unexpectedEOF(err))
	}
	n := binary.BigEndian.Uint32(h[:4])
	switch {
	case n < headerLen-4:
		return 0, nil, fmt.Errorf("%w: frame length %d is shorter than a header", ErrProtocol, n)
	case n-(headerLen-4) > MaxFrame:
		return 0, nil, fmt.Errorf("%w: frame body of %d bytes exceeds %d", ErrTooLarge, n-(headerLen-4), MaxFrame)
	}
	if _, err := io.ReadFull(c.br, h[4:]); err != nil {
		return 0, nil, fmt.Errorf("wire: read frame: %w", unexpectedEOF(err))
	}
	kind := Kind(h[4])
	if newBody(kind) == nil {
		return 0, nil, fmt.Errorf("%w: unknown message kind %d", ErrProtocol, uint8(kind))
	}
	id := binary.BigEndian.Uint32(h[5:])
	body := make([]byte, n-(headerLen-4))
	if _, err := io.ReadFull(c.br, body); err != nil {
		return 0, nil, fmt.Errorf("wire: read %v frame: %w", kind, unexpectedEOF(err))
	}
	m, err := Decode(kind, body)
	if err != nil {
		return 0, nil, err
	}
	return id, m, nil
}

// unexpectedEOF turns io.EOF, which inside a frame means the stream was
// cut, into io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Handshake writes Magic and a Hello for local, concurrently reads the
// peer's Magic and Hello, and returns the peer's Hello and the version both
// will speak. Bytes other than Magic at the start fail with ErrNoise (the
// error quotes them); disjoint version ranges fail with ErrVersion naming
// both ranges.
//
// Handshake must be the first use of c, and it returns only after its own
// write has finished: if the peer never reads, it blocks until the stream
// fails, for example because another goroutine closed it on a timeout. A
// local Hello that fails Validate is refused with ErrProtocol before
// anything is written. On ErrVersion, peer is the Hello that was received.
func (c *Conn) Handshake(local Hello) (peer Hello, version uint16, err error) {
	if err := local.Validate(); err != nil {
		return Hello{}, 0, fmt.Errorf("handshake: local Hello: %w", err)
	}
	written := make(chan error, 1)
	go func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, err := c.bw.Write(Magic[:])
		if err == nil {
			err = c.writeFrame(0, &local)
		}
		if err == nil {
			err = c.bw.Flush()
		}
		written <- err
	}()
	peer, rerr := c.readHello()
	werr := <-written
	switch {
	case rerr != nil:
		return peer, 0, rerr
	case werr != nil:
		return peer, 0, fmt.Errorf("handshake: %w", werr)
	}
	version, err = Negotiate(local, peer)
	return peer, version, err
}

// readHello reads the peer's Magic and Hello frame.
func (c *Conn) readHello() (Hello, error) {
	for i := range Magic {
		b, err := c.br.ReadByte()
		if err != nil {
			if i == 0 {
				return Hello{}, fmt.Errorf("wire: handshake: peer sent nothing: %w", unexpectedEOF(err))
			}
			return Hello{}, fmt.Errorf("wire: handshake: after %q: %w", Magic[:i], unexpectedEOF(err))
		}
		if b != Magic[i] {
			return Hello{}, c.noise(append(Magic[:i:i], b))
		}
	}
	_, m, err := c.Recv()
	if err != nil {
		return Hello{}, fmt.Errorf("handshake: %w", unexpectedEOF(err))
	}
	h, ok := m.(*Hello)
	if !ok {
		return Hello{}, fmt.Errorf("%w: handshake: got %v, want Hello", ErrProtocol, m.Kind())
	}
	return *h, nil
}

// noise returns an ErrNoise quoting got, the bytes read in place of Magic,
// followed by whatever else has already arrived, up to maxNoiseLen bytes.
func (c *Conn) noise(got []byte) error {
	more, _ := c.br.Peek(min(c.br.Buffered(), maxNoiseLen-len(got)))
	got = append(got, more...)
	return fmt.Errorf("%w: %q (is a shell start-up file printing text?)", ErrNoise, got)
}

// Negotiate returns the version two sides speak: the highest version in
// both [local.MinVersion, local.MaxVersion] and [peer.MinVersion,
// peer.MaxVersion]. If the ranges do not overlap, the error wraps
// ErrVersion and names both ranges and the peer's Software.
func Negotiate(local, peer Hello) (uint16, error) {
	v := min(local.MaxVersion, peer.MaxVersion)
	if v < max(local.MinVersion, peer.MinVersion) || v == 0 {
		return 0, fmt.Errorf("%w: this side speaks versions %d..%d, the peer (%q) %d..%d",
			ErrVersion, local.MinVersion, local.MaxVersion, peer.Software, peer.MinVersion, peer.MaxVersion)
	}
	return v, nil
}
