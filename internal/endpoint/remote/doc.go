// Package remote carries endpoint.Host and endpoint.Endpoint over the wire
// protocol, in the manner of mutagen's remote endpoint: Serve answers the
// requests of a peer with any endpoint.Host (the agent side), and Dial
// returns a Client, an endpoint.Host whose methods are those requests (the
// controller side). The sync logic cannot tell a Client from a local Host.
//
// # Requests
//
// Every request frame carries an id the Client draws from a counter (never
// 0, never reused in a session); every answer carries the id of the request
// it answers. Stat, Glob, Open, Close, Read and Apply are answered by one
// frame; a scan by ScanBatch frames and a final Result; a file being
// created by nothing until its commit, which gets a Result. The id of an
// OpenReq becomes the root handle that later requests name, and its
// answer carries the endpoint's Caps; the id of a CreateReq names the file
// in its Data, CopyData, Hole, CommitReq and AbortReq frames. An
// ExtentsReq (where a sparse file has data) runs like a read, and an
// ApplyReq carries at most about 1 MiB of paths and attributes.
// Errors cross as a wire.Result holding endpoint.Code(err) and the error's
// text, and come out of the Client as endpoint.FromCode(code, text), so
// errors.Is matches the same sentinels on both sides.
//
// # Goroutines
//
// Serve reads frames in one loop, the caller's goroutine. It answers Stat,
// Glob, Open, Close and Apply there, and creates, writes, commits and
// aborts files there, in the order the frames arrive: an op or a commit
// whose frame comes first is applied first, so a directory made by an
// Apply is there for a Create sent after it. Each scan and each read runs
// in a goroutine of its own (reads at most 16 at a time; while all are
// busy the loop stops reading, which pushes back on the peer); a Cancel
// ends it. Serve returns only after every goroutine it started has
// finished, every file still being created is aborted and every root it
// opened is closed.
//
// A Client owns one reader goroutine. It routes each frame to the pending
// call with its id through a channel buffered for every frame the call can
// be sent, so it never waits for a caller; a frame for no pending call, of
// a kind the call cannot be sent, or beyond a scan's credit is a protocol
// violation and ends the session. Callers send their own requests (the
// stream's writes are serialised and batched by wire.Conn) and wait on
// their own channels, holding no lock, so any number of requests are in
// flight at once. Client.Close closes the stream and waits for the
// reader; every pending and later call then fails with an error matching
// endpoint.ErrClosed, which also wraps the cause when the connection was
// lost or the agent broke the protocol.
//
// # Flow control
//
// A scan is granted credit for a number of ScanBatch frames with its
// request and more with ScanMore frames as the caller's function consumes
// them; the agent sends a batch only against credit, so a slow consumer
// holds back the agent's walk, never the connection, and the reader's
// channel for the scan never fills. A batch holds up to 256 entries or
// about 64 KiB, and a partial batch is sent 5 ms after its first entry was
// found, so the consumer's pipeline starts while a slow walk goes on.
//
// Small files cost one round trip: Create and Write send their frames and
// return, and only Commit waits, for the Result that reports any failure
// of the create, the writes or the commit itself. A Write's data is
// written to the stream before it returns.
//
// # Compression
//
// With DialOptions.Compress, file data crosses as zstd frames where that
// pays (see wire.ReadResp and wire.Data): the Client asks for compressed
// reads and compresses what it writes; Serve compresses a read's answer
// only when asked, and decompresses whatever Data arrives compressed.
// A chunk of more than 16 KiB is judged by compressing a 16 KiB sample
// at zstd's fastest level first, and compressed at the default level only
// if the sample shrank by a tenth; a shorter chunk is compressed once, at
// the fastest level. A chunk that shrinks by less than a twentieth is sent
// as it is, and a file being written remembers the verdict of its last
// chunk, so the rest of an incompressible file is not tried again. The receiver decompresses
// into a buffer of the announced size and stops as soon as a frame yields
// more, so a hostile frame costs no more memory than a chunk; a frame
// that does not decompress fails its file with endpoint.ErrMismatch, and
// one that does is checked against the chunk's BLAKE3 sum, which always
// covers the uncompressed data. Each session owns one set of zstd coders,
// shared by its goroutines and released when it ends.
package remote
