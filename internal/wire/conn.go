package wire

import "io"

// Conn carries frames over a byte stream. Recv must be called by one
// goroutine at a time; Send is safe for concurrent use and flushes when no
// other Send is waiting, so bursts are batched and a lone frame is not held.
type Conn struct {
	r io.Reader
	w io.Writer
}

// NewConn returns a Conn reading frames from r and writing them to w.
func NewConn(r io.Reader, w io.Writer) *Conn {
	return &Conn{r: r, w: w}
}

// Send writes one frame holding m under request id.
func (c *Conn) Send(id uint32, m Message) error {
	panic("unimplemented")
}

// Recv reads the next frame and returns its id and validated message.
// Errors wrap ErrProtocol or ErrTooLarge for bad input, io.EOF for a clean
// end between frames, io.ErrUnexpectedEOF for a stream cut inside one.
func (c *Conn) Recv() (uint32, Message, error) {
	panic("unimplemented")
}

// Handshake writes Magic and a Hello for local, concurrently reads the
// peer's Magic and Hello, and returns the peer's Hello and the version both
// will speak. Bytes other than Magic at the start fail with ErrNoise (the
// error quotes them); disjoint version ranges fail with ErrVersion naming
// both ranges.
func (c *Conn) Handshake(local Hello) (peer Hello, version uint16, err error) {
	panic("unimplemented")
}
