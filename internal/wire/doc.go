// Package wire defines fcp's protocol between a controller and an agent:
// the messages, their binary encoding, the framing that carries them over
// any byte stream, and the handshake that starts a connection.
//
// The package does no file or process I/O; it only turns bytes into
// validated values and back. Every length read from the peer is bounded
// before anything is allocated for it, and every decoded message is
// validated (see Validate methods) before a caller sees it, so the decoder
// can be fed arbitrary bytes (see FuzzDecode).
//
// # Framing
//
// A frame is
//
//	length uint32 (big-endian; counts kind, id and body)
//	kind   uint8
//	id     uint32 (big-endian; request id chosen by the requester, 0 for none)
//	body   length-5 bytes
//
// A frame's body never exceeds MaxFrame bytes.
//
// # Message bodies
//
// A body holds the fields of its message struct in declaration order:
//
//	uint16, uint32, uint64  unsigned varint (encoding/binary Uvarint)
//	int64                   zig-zag signed varint (encoding/binary Varint)
//	FileType, Code, OpKind  one byte
//	bool                    one byte, 0 or 1
//	string, []byte          unsigned varint length, then the bytes
//	Sum                     32 bytes
//	[]T                     unsigned varint count, then the elements
//
// with three exceptions: Entry.Sum is present only when HasSum is true;
// the metadata of version 4 (Entry's Nlink, Link, Sparse and Rdev, and
// every Attrs) goes as a byte of flags naming the parts that follow, so
// absent parts cost nothing (see codec_meta.go); and Data and ReadResp
// carry their Data field last, so that a sender can write a file's bytes
// without copying them into the frame. Nothing may follow
// the last field. Counts and lengths are bounded by the limits in this
// package (MaxPath, MaxBatch, MaxChunk, ...). Decode and Conn.Recv check
// every message with its Validate method, and Conn.Send refuses a message
// that fails it, so a receiver may rely on the rules those methods state.
//
// # Compressed file data
//
// Since version 2, the file data of a ReadResp or a Data message may be
// one zstd frame (RFC 8878) instead of the bytes themselves: Compressed is
// set and RawLen says how many bytes the frame stands for. Sum always
// hashes the uncompressed bytes, so it is checked after decompression and
// catches a corrupted frame as it would corrupted bytes. This package
// bounds both lengths by MaxChunk but never decompresses; the receiver
// does, refusing a frame that yields more than RawLen bytes (package
// remote). A ReadResp is compressed only if its ReadReq set Compress.
//
// # Handshake
//
// Each side first writes Magic, then a Hello frame. The reader of a
// handshake skips nothing: bytes other than Magic where Magic is expected
// (typically text printed by a shell start-up file) are reported as
// ErrNoise with the bytes quoted, never parsed as a frame. The two sides
// then speak the highest version both support (see Negotiate).
package wire
