package remote

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Thresholds of the decision to compress a chunk of file data.
const (
	// minPack is the smallest chunk worth a zstd frame.
	minPack = 64
	// sampleLen is the prefix of a chunk compressed first, at
	// zstd.SpeedFastest, to tell cheaply whether the chunk compresses.
	sampleLen = 16 << 10
	// A sample must shrink by at least 1/sampleGain of its length, and a
	// whole chunk by 1/packGain, or the chunk is sent as it is.
	sampleGain = 10
	packGain   = 20
	// maxBlock is the most one zstd block yields (RFC 8878
	// Block_Maximum_Size).
	maxBlock = 128 << 10
)

// verdict is what the earlier chunks of one file showed about its data,
// which decides how pack treats the next chunk.
type verdict uint8

const (
	verdictUnknown        verdict = iota // sample the chunk first
	verdictCompressible                  // compress the chunk without a sample
	verdictIncompressible                // send the chunk as it is
)

// compressor packs chunks of file data into zstd frames and unpacks them,
// for one session: the Client when DialOptions.Compress is set, and every
// Serve. Its methods are safe for concurrent use (zstd's EncodeAll and
// DecodeAll are); Close waits for the calls in progress, after which pack
// sends everything as it is and unpack fails with endpoint.ErrClosed.
type compressor struct {
	mu     sync.RWMutex // held for reading by every call, for writing by Close
	closed bool
	sample *zstd.Encoder // SpeedFastest, for samples
	enc    *zstd.Encoder // SpeedDefault, for whole chunks
	dec    *zstd.Decoder
	bufs   sync.Pool // *[]byte, spare frame buffers
}

func newCompressor() (*compressor, error) {
	// Every frame is a single segment, which makes its header give the
	// content size that unpack requires, even for a small chunk. The
	// BLAKE3 sum of every chunk already covers its data: the frames carry
	// no checksum of their own.
	sample, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithSingleSegment(true), zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithSingleSegment(true), zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	// No frame may decode to more than a chunk: DecodeAll stops at
	// MaxChunk bytes and at the capacity of the buffer it is given.
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderMaxMemory(wire.MaxChunk),
		zstd.WithDecoderMaxWindow(wire.MaxChunk),
		zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return &compressor{sample: sample, enc: enc, dec: dec}, nil
}

// Close releases the coders once the calls in progress have returned.
// It may be called more than once.
func (z *compressor) Close() {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.closed {
		return
	}
	z.closed = true
	z.sample.Close()
	z.enc.Close()
	z.dec.Close()
}

// pack returns what to send for data, a chunk of a file whose earlier
// chunks gave verdict v: a zstd frame of data and true when that saves
// enough, else data itself and false. It also returns the verdict for the
// file's next chunk.
//
// Data that does not compress costs little: unless v says the file
// compresses, a sample of sampleLen bytes is compressed first at
// zstd.SpeedFastest, and the chunk is sent as it is if the sample shrank
// by less than 1/sampleGain; otherwise the chunk is compressed at
// zstd.SpeedDefault. A chunk no longer than a sample is compressed once,
// at zstd.SpeedFastest. A compressed chunk is sent only if it is at least
// 1/packGain smaller. A frame from pack goes back to the pool with
// release once sent.
func (z *compressor) pack(data []byte, v verdict) (payload []byte, compressed bool, next verdict) {
	if len(data) < minPack || len(data) > wire.MaxChunk || v == verdictIncompressible {
		return data, false, v
	}
	z.mu.RLock()
	defer z.mu.RUnlock()
	if z.closed {
		return data, false, v
	}
	buf := z.buffer()
	enc := z.enc
	switch {
	case len(data) <= sampleLen:
		// A short chunk is its own sample, compressed once, fast: the
		// stronger level gains little on it and costs more to set up.
		enc = z.sample
	case v == verdictUnknown:
		s := data[:sampleLen]
		out := z.sample.EncodeAll(s, buf[:0])
		if len(out) > len(s)-len(s)/sampleGain {
			z.release(out)
			return data, false, verdictIncompressible
		}
		buf = out
	}
	out := enc.EncodeAll(data, buf[:0])
	if len(out) > len(data)-len(data)/packGain {
		z.release(out)
		return data, false, verdictIncompressible
	}
	return out, true, verdictCompressible
}

// buffer returns a spare frame buffer, empty.
func (z *compressor) buffer() []byte {
	if p, ok := z.bufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return nil
}

// release returns a frame from pack, once sent, for reuse.
func (z *compressor) release(frame []byte) {
	if cap(frame) == 0 || cap(frame) > wire.MaxChunk+wire.MaxChunk/8 {
		return
	}
	frame = frame[:0]
	z.bufs.Put(&frame)
}

// unpack decompresses frame, a payload that stands for rawLen bytes (at
// most wire.MaxChunk), into a new buffer of rawLen bytes. The frame must
// be one zstd frame whose header declares rawLen bytes, and decoding stops
// with an error at the first block that yields more, so a frame that lies
// about its size (a "zip bomb") costs at most wire.MaxChunk bytes and one
// block, however much it would yield. Every failure wraps
// endpoint.ErrMismatch: the frame does not hold the data its sender read.
//
// The buffer has room for an eighth more, up to one block, and the 16
// bytes the decoder's fast path may write beyond its output: a large
// buffer never has to grow for a block too many, and a small one, which
// may grow once, is not paid for by every honest frame.
func (z *compressor) unpack(frame []byte, rawLen int) ([]byte, error) {
	if rawLen <= 0 || rawLen > wire.MaxChunk {
		return nil, fmt.Errorf("%w: compressed payload of %d bytes", endpoint.ErrMismatch, rawLen)
	}
	var h zstd.Header
	if err := h.Decode(frame); err != nil {
		return nil, fmt.Errorf("%w: zstd frame header: %v", endpoint.ErrMismatch, err)
	}
	switch {
	case h.Skippable || !h.HasFCS || h.DictionaryID != 0:
		return nil, fmt.Errorf("%w: zstd frame without content size, or skippable, or with a dictionary", endpoint.ErrMismatch)
	case h.FrameContentSize != uint64(rawLen):
		return nil, fmt.Errorf("%w: zstd frame of %d bytes, want %d", endpoint.ErrMismatch, h.FrameContentSize, rawLen)
	}
	z.mu.RLock()
	defer z.mu.RUnlock()
	if z.closed {
		return nil, fmt.Errorf("%w: zstd decoder released", endpoint.ErrClosed)
	}
	out, err := z.dec.DecodeAll(frame, make([]byte, 0, rawLen+min(rawLen/8, maxBlock)+64))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: zstd: %v", endpoint.ErrMismatch, err)
	case len(out) != rawLen:
		return nil, fmt.Errorf("%w: zstd frame decoded to %d bytes, want %d", endpoint.ErrMismatch, len(out), rawLen)
	}
	return out, nil
}
