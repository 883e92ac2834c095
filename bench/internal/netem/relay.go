package netem

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Link is the shape of an emulated path, the same in both directions.
type Link struct {
	Delay      time.Duration // one way
	Rate       float64       // bits per second; 0 for unlimited
	QueueLimit int64         // bytes waiting for the bottleneck per direction
}

// Counters of one direction. Segments and bytes are as on the wire; a frame
// read from a TUN device may be a GSO super-packet of many segments.
type Counters struct {
	Frames       uint64 `json:"frames"`
	Segments     uint64 `json:"segments"`
	WireBytes    uint64 `json:"wire_bytes"`
	Dropped      uint64 `json:"dropped_frames"` // queue full (tail drop) or delay line full
	DroppedBytes uint64 `json:"dropped_wire_bytes"`
	Malformed    uint64 `json:"malformed_frames"`
	WriteErrors  uint64 `json:"write_errors"` // e.g. the receiving device was down
}

// Stats of a relay: Up is client to server, Down server to client.
type Stats struct {
	Up   Counters `json:"up"`
	Down Counters `json:"down"`
}

// maxFrame is the largest frame a TUN device hands out: a virtio_net_hdr and
// a 64 KiB GSO packet.
const maxFrame = vnetHdrLen + 65535

// smallFrame is the size class that holds a frame of one MTU-sized packet.
const smallFrame = 2048

// lineCap bounds the frames held by one direction's delay line; at 1 Gbit/s
// and 25 ms a direction holds a few thousand.
const lineCap = 1 << 15

// Relay moves frames between two TUN devices through one Shaper per
// direction. Its methods are safe for concurrent use.
type Relay struct {
	client, server *os.File
	link           Link

	up, down counters
}

type counters struct {
	frames, segments, wireBytes, dropped, droppedBytes, malformed, writeErrors atomic.Uint64
}

func (c *counters) snapshot() Counters {
	return Counters{
		Frames: c.frames.Load(), Segments: c.segments.Load(), WireBytes: c.wireBytes.Load(),
		Dropped: c.dropped.Load(), DroppedBytes: c.droppedBytes.Load(), Malformed: c.malformed.Load(),
		WriteErrors: c.writeErrors.Load(),
	}
}

// NewRelay returns a relay between the TUN devices client and server (as
// returned by OpenTUN). Run owns the files from then on and closes them.
func NewRelay(client, server *os.File, link Link) *Relay {
	return &Relay{client: client, server: server, link: link}
}

// Stats returns the counters so far.
func (r *Relay) Stats() Stats {
	return Stats{Up: r.up.snapshot(), Down: r.down.snapshot()}
}

// Run forwards frames both ways until ctx is done, then closes both devices
// and returns nil; it returns the first read error otherwise. A frame the
// receiving device refuses (it is down, say) is counted and lost, as on a
// real link.
func (r *Relay) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	var closeOnce sync.Once
	closeAll := func() {
		closeOnce.Do(func() {
			r.client.Close()
			r.server.Close()
		})
	}
	g.Go(func() error {
		<-ctx.Done()
		closeAll()
		return nil
	})
	r.direction(ctx, g, r.client, r.server, &r.up)
	r.direction(ctx, g, r.server, r.client, &r.down)
	err := g.Wait()
	closeAll()
	return err
}

type frame struct {
	buf     *[]byte
	n       int
	deliver time.Time
}

var (
	bigPool   = sync.Pool{New: func() any { b := make([]byte, maxFrame); return &b }}
	smallPool = sync.Pool{New: func() any { b := make([]byte, smallFrame); return &b }}
)

func release(f frame) {
	if cap(*f.buf) == smallFrame {
		smallPool.Put(f.buf)
	} else {
		bigPool.Put(f.buf)
	}
}

// direction starts a reader and a writer goroutine in g that carry frames
// from src to dst. The reader never blocks on the writer: a frame that does
// not fit in the queue or the delay line is dropped.
func (r *Relay) direction(ctx context.Context, g *errgroup.Group, src, dst *os.File, c *counters) {
	line := make(chan frame, lineCap)
	shaper := NewShaper(r.link.Rate, r.link.Delay, r.link.QueueLimit)
	g.Go(func() error {
		defer close(line)
		for {
			big := bigPool.Get().(*[]byte)
			n, err := src.Read(*big)
			if err != nil {
				bigPool.Put(big)
				if ctx.Err() != nil || errors.Is(err, os.ErrClosed) || errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			seg, err := wireSize((*big)[:n])
			if err != nil {
				c.malformed.Add(1)
				bigPool.Put(big)
				continue
			}
			f := frame{buf: big, n: n}
			if n <= smallFrame {
				small := smallPool.Get().(*[]byte)
				copy(*small, (*big)[:n])
				bigPool.Put(big)
				f.buf = small
			}
			c.frames.Add(1)
			deliver, ok := shaper.Admit(time.Now(), seg.WireBytes)
			if ok {
				f.deliver = deliver
				select {
				case line <- f:
					c.segments.Add(uint64(seg.Segments))
					c.wireBytes.Add(uint64(seg.WireBytes))
					continue
				default:
				}
			}
			c.dropped.Add(1)
			c.droppedBytes.Add(uint64(seg.WireBytes))
			release(f)
		}
	})
	g.Go(func() error {
		for f := range line {
			if ctx.Err() != nil {
				release(f) // drain the line; the reader closes it
				continue
			}
			sleepUntil(f.deliver)
			if _, err := dst.Write((*f.buf)[:f.n]); err != nil {
				c.writeErrors.Add(1)
			}
			release(f)
		}
		return nil
	})
}
