// Package delta implements the rsync delta algorithm as a pure library: it
// works on byte slices, readers and writers only and never touches a file
// system.
//
// The algorithm lets a receiver that holds an old version of a file (the
// basis) obtain a new version (the target) from a sender while transferring
// little more than the regions in which the two versions differ. It proceeds
// in three steps:
//
//  1. The receiver cuts the basis into consecutive blocks of equal size and
//     describes each complete block by two checksums (Sign): a cheap 32-bit
//     checksum that can be slid along a buffer one byte at a time (Weak,
//     Roll), and a strong cryptographic hash (StrongSum) that makes false
//     matches practically impossible. Only this signature list travels to
//     the sender.
//
//  2. The sender indexes the signature list by weak checksum (NewIndex) and
//     moves a window of one block size over the target, updating the weak
//     checksum in constant time per byte (Match). Whenever the weak checksum
//     of the window occurs in the index, the strong hash of the window is
//     computed and compared with the candidate blocks. If a block agrees, the
//     window is described as a reference to that basis block and the window
//     skips a whole block ahead; otherwise it advances by a single byte and
//     the byte it leaves behind becomes literal data. The result is a
//     sequence of instructions (Op): "copy these basis bytes" or "here are
//     some literal bytes".
//
//  3. The receiver rebuilds the target from the basis and the instructions
//     (Apply). Every instruction carries a BLAKE3 hash of the bytes it is
//     supposed to produce, so a wrong or stale basis, a weak/strong checksum
//     collision or corrupted data is detected before anything is written.
//
// The weak checksum is the one rsync uses, an Adler-32–like pair of 16-bit
// sums. The strong hash is a 128-bit prefix of BLAKE3-256 instead of rsync's
// MD4/MD5. Block sizes follow rsync's rule of roughly the square root of the
// file size (BlockSize). When several blocks are equal, Match prefers the
// block that directly follows the previously matched one, as rsync does, so
// that unchanged runs of the basis become a few large copy instructions.
//
// Memory use is bounded independently of the file size: the basis may be
// signed range by range, the target is streamed through Match with a buffer
// proportional to the largest instruction, and the target may be split into
// segments that are matched independently (for example by parallel workers)
// at their own offsets.
//
// The algorithm is described in:
//
//   - Andrew Tridgell and Paul Mackerras, "The rsync algorithm", Technical
//     Report TR-CS-96-05, Department of Computer Science, Australian National
//     University, 1996.
//   - Andrew Tridgell, "Efficient Algorithms for Sorting and
//     Synchronization", PhD thesis, Australian National University, 1999.
package delta
