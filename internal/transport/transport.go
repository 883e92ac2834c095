package transport

import (
	"context"
	"io"
)

// Stream is a byte stream to whatever runs at the far end of a transport:
// reads return what it writes to its standard output, writes reach its
// standard input.
//
// Read and Write may be called concurrently with each other, each by one
// goroutine at a time. Close may be called at any time, from any goroutine,
// and more than once; it unblocks pending Reads and Writes.
type Stream interface {
	io.Reader
	io.Writer
	// CloseWrite ends the stream towards the far end, which then reads
	// EOF. Reads continue to work.
	CloseWrite() error
	// Close ends the stream in both directions and releases the process,
	// connection or goroutine behind it; when Close returns, that is gone.
	// Later calls return the result of the first.
	Close() error
}

// Transport opens streams to one place. Each Open yields a new, independent
// Stream that the caller must Close.
//
// The context bounds only the opening, as with net.Dialer.DialContext:
// once Open has returned, cancelling ctx does not affect the Stream.
type Transport interface {
	Open(ctx context.Context) (Stream, error)
}
