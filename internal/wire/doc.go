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
// A frame's length never exceeds MaxFrame. Bodies are built from unsigned
// varints, zig-zag signed varints, and length-prefixed byte strings.
//
// # Handshake
//
// Each side first writes Magic, then a Hello frame. The reader of a
// handshake skips nothing: bytes other than Magic where Magic is expected
// (typically text printed by a shell start-up file) are reported as
// ErrNoise with the bytes quoted, never parsed as a frame. The two sides
// then speak the highest version both support (see Negotiate).
package wire
