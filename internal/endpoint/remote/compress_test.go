package remote

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/endpoint/local"
	"github.com/fcp-dev/fcp/internal/wire"
)

// textData returns n bytes of source-like text, which compresses well.
func textData(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "func step%05d(ctx context.Context, x int) (int, error) { return x*%d + %d, nil } // step %d\n", i, i%97, i%13, i)
	}
	return b.Bytes()[:n]
}

// randomData returns n bytes that do not compress.
func randomData(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{'z'}).Read(b)
	return b
}

// zstdFrame returns a frame of n bytes of text as pack makes it.
func zstdFrame(t *testing.T, n int) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(false))
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(textData(n), nil)
}

func newTestCompressor(t *testing.T) *compressor {
	t.Helper()
	z, err := newCompressor()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(z.Close)
	return z
}

func TestPack(t *testing.T) {
	z := newTestCompressor(t)
	tests := []struct {
		name           string
		data           []byte
		v              verdict
		wantCompressed bool
		wantNext       verdict
	}{
		{name: "text", data: textData(1 << 20), v: verdictUnknown, wantCompressed: true, wantNext: verdictCompressible},
		{name: "text of a compressible file", data: textData(1 << 20), v: verdictCompressible, wantCompressed: true, wantNext: verdictCompressible},
		{name: "text shorter than a sample", data: textData(5000), v: verdictUnknown, wantCompressed: true, wantNext: verdictCompressible},
		{name: "text of an incompressible file", data: textData(1 << 20), v: verdictIncompressible, wantNext: verdictIncompressible},
		// Below zstd's smallest window: only a single-segment frame
		// gives its content size.
		{name: "text of 200 bytes", data: textData(200), v: verdictUnknown, wantCompressed: true, wantNext: verdictCompressible},
		{name: "text of 1000 bytes", data: textData(1000), v: verdictUnknown, wantCompressed: true, wantNext: verdictCompressible},
		{name: "tiny", data: []byte("hello hello hello"), v: verdictUnknown, wantNext: verdictUnknown},
		{name: "beyond a chunk", data: textData(wire.MaxChunk + 1), v: verdictUnknown, wantNext: verdictUnknown},
		{name: "random", data: randomData(1 << 20), v: verdictUnknown, wantNext: verdictIncompressible},
		{name: "random shorter than a sample", data: randomData(5000), v: verdictUnknown, wantNext: verdictIncompressible},
		{name: "random in a compressible file", data: randomData(1 << 20), v: verdictCompressible, wantNext: verdictIncompressible},
		// The sample decides: text behind a random sample goes as it is.
		{name: "random sample then text", data: append(randomData(sampleLen), textData(1<<20)...), v: verdictUnknown, wantNext: verdictIncompressible},
		// Compresses by less than 1/packGain: 5% text, 95% random.
		{name: "barely compressible", data: append(textData(50_000), randomData(950_000)...), v: verdictCompressible, wantNext: verdictIncompressible},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload, compressed, next := z.pack(tt.data, tt.v)
			if compressed != tt.wantCompressed || next != tt.wantNext {
				t.Fatalf("pack = %d bytes, compressed %v, next verdict %d; want compressed %v, next %d",
					len(payload), compressed, next, tt.wantCompressed, tt.wantNext)
			}
			if !compressed {
				if len(payload) != len(tt.data) || &payload[0] != &tt.data[0] {
					t.Fatal("an uncompressed payload is not the data itself")
				}
				return
			}
			defer z.release(payload)
			if max := len(tt.data) - len(tt.data)/packGain; len(payload) > max {
				t.Errorf("compressed to %d bytes, more than %d", len(payload), max)
			}
			got, err := z.unpack(payload, len(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Error("unpack(pack(data)) differs from data")
			}
			t.Logf("%d bytes packed into %d", len(tt.data), len(payload))
		})
	}
}

func TestPackAfterClose(t *testing.T) {
	z := newTestCompressor(t)
	frame, _, _ := z.pack(textData(1000), verdictUnknown)
	z.Close()
	data := textData(1000)
	if payload, compressed, _ := z.pack(data, verdictUnknown); compressed || &payload[0] != &data[0] {
		t.Error("pack after Close compressed")
	}
	if _, err := z.unpack(frame, 1000); !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("unpack after Close = %v, want endpoint.ErrClosed", err)
	}
}

// streamFrame compresses data as a stream, with a window of 1 MiB: a
// frame whose header does not give the content size, unless data fits in
// one block.
func streamFrame(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	enc, err := zstd.NewWriter(&b, zstd.WithEncoderCRC(false), zstd.WithWindowSize(1<<20), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// lyingFrame returns a frame that decodes to data but whose header
// declares only declared bytes: a zip bomb for a receiver that trusts the
// header.
func lyingFrame(t *testing.T, data []byte, declared uint32) []byte {
	t.Helper()
	f := streamFrame(t, data)
	// Magic, then a descriptor without content size, checksum or
	// dictionary, and not single-segment, then the window byte.
	if f[4] != 0 {
		t.Fatalf("stream frame descriptor %#x, want 0", f[4])
	}
	out := append([]byte{}, f[:4]...)
	out = append(out, 0x80, f[5]) // a 4-byte content size follows the window byte
	out = binary.LittleEndian.AppendUint32(out, declared)
	return append(out, f[6:]...)
}

// skippableFrame returns a skippable frame of n bytes.
func skippableFrame(n int) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0x184d2a50)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	return append(b, make([]byte, n)...)
}

func TestUnpackRefuses(t *testing.T) {
	z := newTestCompressor(t)
	good := zstdFrame(t, 1000)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0xff
	bomb := make([]byte, 5*wire.MaxChunk) // zeros: a few hundred bytes compressed
	tests := []struct {
		name   string
		frame  []byte
		rawLen int
		want   string // in the error text
	}{
		{name: "not zstd", frame: []byte("plain text, not a frame"), rawLen: 23, want: "frame header"},
		{name: "empty", frame: nil, rawLen: 10, want: "frame header"},
		{name: "truncated", frame: good[:len(good)-3], rawLen: 1000, want: "zstd:"},
		{name: "corrupted", frame: flipped, rawLen: 1000, want: "zstd"},
		{name: "content size differs", frame: good, rawLen: 999, want: "frame of 1000 bytes, want 999"},
		{name: "no content size", frame: streamFrame(t, textData(1<<20)), rawLen: 1 << 20, want: "without content size"},
		{name: "skippable", frame: skippableFrame(16), rawLen: 16, want: "skippable"},
		{name: "two frames", frame: append(bytes.Clone(good), good...), rawLen: 1000, want: "zstd"},
		{name: "trailing bytes", frame: append(bytes.Clone(good), "xyz"...), rawLen: 1000, want: "zstd:"},
		{name: "more than a chunk", frame: zstdFrame(t, wire.MaxChunk+1), rawLen: wire.MaxChunk + 1, want: "compressed payload of 4194305 bytes"},
		{name: "declares more than a chunk", frame: lyingFrame(t, bomb, 5*wire.MaxChunk), rawLen: wire.MaxChunk, want: "want 4194304"},
		{name: "lies about its size", frame: lyingFrame(t, textData(1<<20), 1000), rawLen: 1000, want: "zstd:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := z.unpack(tt.frame, tt.rawLen)
			if err == nil {
				t.Fatalf("unpack = %d bytes, want an error", len(got))
			}
			if !errors.Is(err, endpoint.ErrMismatch) {
				t.Errorf("error %q does not match endpoint.ErrMismatch", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestUnpackBombAllocation checks that a frame decoding to far more than
// it declares is refused without allocating for what it would decode to.
func TestUnpackBombAllocation(t *testing.T) {
	z := newTestCompressor(t)
	bomb := lyingFrame(t, make([]byte, 5*wire.MaxChunk), wire.MaxChunk)
	small := lyingFrame(t, make([]byte, 5*wire.MaxChunk), 1000)
	t.Logf("bombs of %d and %d bytes", len(bomb), len(small))
	// Every decoder of the pool has made its buffers.
	warm, _, _ := z.pack(textData(wire.MaxChunk), verdictCompressible)
	for range 2 * runtime.GOMAXPROCS(0) {
		if _, err := z.unpack(warm, wire.MaxChunk); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		frame  []byte
		rawLen int
	}{
		{name: "declares a chunk", frame: bomb, rawLen: wire.MaxChunk},
		{name: "declares 1000 bytes", frame: small, rawLen: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := z.unpack(tt.frame, tt.rawLen)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, endpoint.ErrMismatch) {
				t.Fatalf("unpack = %v, want endpoint.ErrMismatch", err)
			}
			// The output buffer, with room for one more zstd block, and
			// little else; never what the frame would decode to.
			limit := uint64(tt.rawLen) + 512<<10
			if got := after.TotalAlloc - before.TotalAlloc; got > limit {
				t.Errorf("refusing the bomb allocated %d bytes, more than %d", got, limit)
			} else {
				t.Logf("refused after allocating %d bytes (%v)", got, err)
			}
		})
	}
}

// wireBytes is what moving one file cost on the wire, without and with
// compression.
type wireBytes struct{ plain, compressed int64 }

func TestCompressionOnTheWire(t *testing.T) {
	const (
		size  = 3<<20 + 12345
		chunk = 1 << 20
	)
	chunks := int64((size + chunk - 1) / chunk)
	tests := []struct {
		name       string
		data       []byte
		compresses bool
	}{
		{name: "text", data: textData(size), compresses: true},
		{name: "random", data: randomData(size), compresses: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			if err := os.WriteFile(filepath.Join(src, "f"), tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			var push, pull wireBytes
			for _, compress := range []bool{false, true} {
				s := startSessionWith(t, local.NewHost(), DialOptions{Compress: compress})
				ctx := t.Context()

				dst := t.TempDir()
				ep, err := s.client.Open(ctx, dst, false)
				if err != nil {
					t.Fatal(err)
				}
				sent := s.sent.Load()
				if err := writeInChunks(ctx, ep, "f", tt.data, chunk); err != nil {
					t.Fatalf("push: %v", err)
				}
				pushed := s.sent.Load() - sent
				got, err := os.ReadFile(filepath.Join(dst, "f"))
				if err != nil || !bytes.Equal(got, tt.data) {
					t.Fatalf("push delivered %d bytes (%v), want the %d sent", len(got), err, len(tt.data))
				}

				sep, err := s.client.Open(ctx, src, false)
				if err != nil {
					t.Fatal(err)
				}
				received := s.received.Load()
				got, err = readInChunks(ctx, sep, "f", chunk)
				if err != nil {
					t.Fatalf("pull: %v", err)
				}
				pulled := s.received.Load() - received
				if !bytes.Equal(got, tt.data) {
					t.Fatalf("pull delivered %d bytes, want the %d read", len(got), len(tt.data))
				}

				if compress {
					push.compressed, pull.compressed = pushed, pulled
				} else {
					push.plain, pull.plain = pushed, pulled
				}
			}
			t.Logf("%d bytes: pushed %d plain, %d compressed; pulled %d plain, %d compressed",
				size, push.plain, push.compressed, pull.plain, pull.compressed)
			for _, c := range []struct {
				dir string
				wireBytes
			}{{"push", push}, {"pull", pull}} {
				// Frames cost a few dozen bytes per chunk.
				if c.plain > size+100*chunks {
					t.Errorf("%s without compression: %d bytes on the wire for %d", c.dir, c.plain, size)
				}
				if tt.compresses {
					if c.compressed > c.plain/4 {
						t.Errorf("%s: %d bytes compressed, want less than a quarter of %d", c.dir, c.compressed, c.plain)
					}
				} else if c.compressed > c.plain+4*chunks {
					t.Errorf("%s: %d bytes compressed, more than %d plain plus 4 per chunk", c.dir, c.compressed, c.plain)
				}
			}
		})
	}
}

// writeInChunks creates rel on ep from data, in writes of chunk bytes.
func writeInChunks(ctx context.Context, ep endpoint.Endpoint, rel string, data []byte, chunk int) error {
	w, err := ep.Create(ctx, rel, int64(len(data)))
	if err != nil {
		return err
	}
	defer w.Abort()
	for off := 0; off < len(data); off += chunk {
		b := data[off:min(off+chunk, len(data))]
		if err := w.Write(ctx, int64(off), b, blake3.Sum256(b)); err != nil {
			return err
		}
	}
	return w.Commit(ctx, int64(len(data)), 0o644, 0, wire.Attrs{})
}

// readInChunks reads rel from ep in reads of chunk bytes, checking every
// chunk against its sum.
func readInChunks(ctx context.Context, ep endpoint.Endpoint, rel string, chunk int) ([]byte, error) {
	var all []byte
	for {
		c, err := ep.Read(ctx, rel, int64(len(all)), chunk)
		if err != nil {
			return nil, err
		}
		if blake3.Sum256(c.Data) != c.Sum {
			return nil, fmt.Errorf("chunk at %d does not match its sum", len(all))
		}
		all = append(all, c.Data...)
		if len(c.Data) < chunk {
			return all, nil
		}
	}
}

// badFrames are compressed payloads of data that must not reach a file:
// each fails decompression or its sum.
func badFrames(t *testing.T, z *compressor, data []byte) map[string][]byte {
	t.Helper()
	frame, ok, _ := z.pack(data, verdictUnknown)
	if !ok {
		t.Fatal("test data does not compress")
	}
	flipped := bytes.Clone(frame)
	flipped[len(flipped)/2] ^= 0x55
	other := bytes.Clone(data)
	other[len(other)/2] ^= 1
	otherFrame, _, _ := z.pack(other, verdictUnknown)
	return map[string][]byte{
		"flipped byte":        flipped,
		"truncated":           frame[:len(frame)-5],
		"frame of other data": bytes.Clone(otherFrame),
		"zip bomb":            lyingFrame(t, make([]byte, 5*wire.MaxChunk), uint32(len(data))),
	}
}

func TestServeRefusesBadCompressedData(t *testing.T) {
	z := newTestCompressor(t)
	data := textData(200_000)
	sum := blake3.Sum256(data)
	for name, frame := range badFrames(t, z, data) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cc, sc := net.Pipe()
			served := make(chan error, 1)
			go func() {
				served <- Serve(t.Context(), sc, sc, local.NewHost(), ServeOptions{Closer: sc, Logger: testLogger(t)})
			}()
			p := newRawPeer(t, cc)
			send := func(id uint32, m wire.Message) {
				t.Helper()
				if err := p.conn.Send(id, m); err != nil {
					t.Fatalf("send %v: %v", m.Kind(), err)
				}
			}
			send(1, &wire.OpenReq{Path: dir})
			if f := p.next(t); f.m.Kind() != wire.KindOpenResp {
				t.Fatalf("OpenReq answered by %v", f.m.Kind())
			}
			send(2, &wire.CreateReq{Root: 1, Path: "f", Size: int64(len(data))})
			send(2, &wire.Data{Data: frame, Sum: sum, Compressed: true, RawLen: uint32(len(data))})
			send(2, &wire.CommitReq{Size: int64(len(data)), Mode: 0o644})
			f := p.next(t)
			r, ok := f.m.(*wire.Result)
			if !ok || f.id != 2 || r.Code != wire.CodeMismatch {
				t.Fatalf("commit answered by %v %d %+v, want a Result with CodeMismatch", f.m.Kind(), f.id, f.m)
			}
			t.Logf("commit: %s", r.Msg)
			if names, _ := os.ReadDir(dir); len(names) != 0 {
				t.Errorf("the root holds %v after a failed commit", names)
			}
			// The session goes on.
			send(3, &wire.StatReq{Path: dir})
			if f := p.next(t); f.m.Kind() != wire.KindStatResp {
				t.Errorf("Stat after the refusal answered by %v", f.m.Kind())
			}
			cc.Close()
			if err := <-served; err != nil {
				t.Errorf("Serve = %v", err)
			}
		})
	}
}

func TestReadRefusesBadCompressedData(t *testing.T) {
	z := newTestCompressor(t)
	data := textData(200_000)
	sum := blake3.Sum256(data)
	for name, frame := range badFrames(t, z, data) {
		t.Run(name, func(t *testing.T) {
			cc, sc := net.Pipe()
			dialc := make(chan *Client, 1)
			go func() {
				c, err := Dial(t.Context(), cc, cc, DialOptions{Closer: cc, Logger: testLogger(t), Compress: true})
				if err != nil {
					t.Error(err)
				}
				dialc <- c
			}()
			p := newRawPeer(t, sc)
			c := <-dialc
			if c == nil {
				t.FailNow()
			}
			defer c.Close()
			go func() {
				f, ok := <-p.recv
				if !ok {
					return
				}
				if req, ok := f.m.(*wire.ReadReq); !ok || !req.Compress {
					t.Errorf("got %v %+v, want a ReadReq with Compress", f.m.Kind(), f.m)
				}
				p.conn.Send(f.id, &wire.ReadResp{Data: frame, Sum: sum, Size: int64(len(data)), Compressed: true, RawLen: uint32(len(data))})
			}()

			// Pull the chunk into a local file as the transfer would: the
			// read or the write must fail, and no file may appear.
			ctx := t.Context()
			dir := t.TempDir()
			err := func() error {
				ch, err := (&proxy{c: c, root: 1}).Read(ctx, "f", 0, len(data))
				if err != nil {
					return err
				}
				dst, err := local.NewHost().Open(ctx, dir, false)
				if err != nil {
					t.Fatal(err)
				}
				defer dst.Close()
				w, err := dst.Create(ctx, "f", ch.Size)
				if err != nil {
					return err
				}
				defer w.Abort()
				if err := w.Write(ctx, 0, ch.Data, ch.Sum); err != nil {
					return err
				}
				return w.Commit(ctx, ch.Size, 0o644, 0, wire.Attrs{})
			}()
			if !errors.Is(err, endpoint.ErrMismatch) {
				t.Errorf("pull = %v, want endpoint.ErrMismatch", err)
			}
			if names, _ := os.ReadDir(dir); len(names) != 0 {
				t.Errorf("the destination holds %v after a failed pull", names)
			}
			if c.failure() != nil {
				t.Errorf("the session failed: %v", c.failure())
			}
		})
	}
}

func BenchmarkPack(b *testing.B) {
	z, err := newCompressor()
	if err != nil {
		b.Fatal(err)
	}
	defer z.Close()
	for _, n := range []int{500, 10_000, 1 << 20} {
		for _, kind := range []struct {
			name string
			data []byte
		}{{"text", textData(n)}, {"random", randomData(n)}} {
			b.Run(fmt.Sprintf("%s/%d", kind.name, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					if p, ok, _ := z.pack(kind.data, verdictUnknown); ok {
						z.release(p)
					}
				}
			})
		}
	}
}

func BenchmarkUnpack(b *testing.B) {
	z, err := newCompressor()
	if err != nil {
		b.Fatal(err)
	}
	defer z.Close()
	for _, n := range []int{500, 10_000, 1 << 20} {
		frame, _, _ := z.pack(textData(n), verdictUnknown)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := z.unpack(frame, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
