package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/fcp-dev/fcp/internal/delta"
	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// partialSuffix ends the name of a partial file: tempPrefix, the target's
// name (shortened like a temporary name's) and partialSuffix, beside the
// target. A suspended file is renamed to it; a later run rebuilds the file
// from it (wire.BasisPartial) and removes it once the file is committed.
const partialSuffix = ".partial"

// partialName returns the partial file's name for the file named name.
func partialName(name string) string {
	if n := wire.MaxName - len(tempPrefix) - len(partialSuffix); len(name) > n {
		name = name[:n]
	}
	return tempPrefix + name + partialSuffix
}

// isLeftover reports whether name is one of fcp's temporary or partial
// files, which scans do not report.
func isLeftover(name string) bool {
	return strings.HasPrefix(name, tempPrefix) && (strings.HasSuffix(name, tempSuffix) || strings.HasSuffix(name, partialSuffix))
}

// openBasis opens the basis of the file name in d: its partial file for
// wire.BasisPartial, the file itself for wire.BasisFile, the first that
// exists for wire.BasisAny. It must be a regular file.
func openBasis(d *dirHandle, name string, basis wire.Basis) (*os.File, wire.Basis, error) {
	try := []wire.Basis{basis}
	if basis == wire.BasisAny {
		try = []wire.Basis{wire.BasisPartial, wire.BasisFile}
	}
	err := error(fs.ErrNotExist)
	for _, b := range try {
		var n string
		switch b {
		case wire.BasisFile:
			n = name
		case wire.BasisPartial:
			n = partialName(name)
		default:
			return nil, 0, fmt.Errorf("%w: basis %d", endpoint.ErrInvalidPath, b)
		}
		var f *os.File
		f, err = d.openFile(n)
		if err != nil {
			continue
		}
		fi, serr := f.Stat()
		if serr == nil && !fi.Mode().IsRegular() {
			serr = fs.ErrNotExist
		}
		if serr != nil {
			f.Close()
			err = serr
			continue
		}
		return f, b, nil
	}
	return nil, 0, err
}

// sumsPiece is how much of a basis Sums reads at once.
const sumsPiece = 1 << 20

// Sums implements endpoint.Endpoint.
func (e *dirEndpoint) Sums(ctx context.Context, rel string, basis wire.Basis, blockSize int, off int64, count int) (endpoint.Sums, error) {
	if err := e.check(ctx, "sums", rel); err != nil {
		return endpoint.Sums{}, err
	}
	if blockSize < wire.MinBlock || blockSize > wire.MaxBlock || off < 0 || off%int64(blockSize) != 0 || count < 0 || count > wire.MaxBlocks {
		return endpoint.Sums{}, fmt.Errorf("sums %s: %w: %d blocks of %d bytes at %d", rel, endpoint.ErrInvalidPath, count, blockSize, off)
	}
	d, name, err := e.parent(rel)
	if err != nil {
		return endpoint.Sums{}, fail("sums", rel, err)
	}
	defer e.dirs.release(d)
	f, used, err := openBasis(d, name, basis)
	if err != nil {
		return endpoint.Sums{}, fail("sums", rel, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return endpoint.Sums{}, fail("sums", rel, err)
	}
	st, err := stamp(f)
	if err != nil {
		return endpoint.Sums{}, fail("sums", rel, err)
	}
	out := endpoint.Sums{Basis: used, Size: fi.Size(), Stamp: st}
	piece := max(blockSize, sumsPiece/blockSize*blockSize)
	buf := make([]byte, min(int64(piece), int64(count)*int64(blockSize)))
	for len(out.Blocks) < count {
		if err := ctx.Err(); err != nil {
			return endpoint.Sums{}, err
		}
		if off >= out.Size {
			break
		}
		want := min(len(buf), (count-len(out.Blocks))*blockSize)
		n, err := preadAll(f, buf[:want], off)
		if err != nil {
			return endpoint.Sums{}, fail("sums", rel, err)
		}
		for _, b := range delta.Sign(buf[:n], blockSize) {
			out.Blocks = append(out.Blocks, wire.Block(b))
		}
		if n < want {
			break
		}
		off += int64(n)
	}
	return out, nil
}

// preadAll reads into buf at off until it is full or the file ends.
func preadAll(f *os.File, buf []byte, off int64) (int, error) {
	n, err := f.ReadAt(buf, off)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// Delta implements endpoint.Endpoint: it reads the range as Read does
// (detecting a file changed meanwhile) and matches it in memory.
func (e *dirEndpoint) Delta(ctx context.Context, rel string, off int64, n int, blockSize int, first int64, blocks []wire.Block) (endpoint.DeltaChunk, error) {
	if err := e.check(ctx, "delta", rel); err != nil {
		return endpoint.DeltaChunk{}, err
	}
	if off < 0 || n < 0 || n > wire.MaxDeltaLen || blockSize < wire.MinBlock || blockSize > wire.MaxBlock || len(blocks) > wire.MaxBlocks || first < 0 {
		return endpoint.DeltaChunk{}, fmt.Errorf("delta %s: %w: %d bytes at offset %d", rel, endpoint.ErrInvalidPath, n, off)
	}
	d, name, err := e.parent(rel)
	if err != nil {
		return endpoint.DeltaChunk{}, fail("delta", rel, err)
	}
	defer e.dirs.release(d)
	c, err := d.read(name, off, n)
	if err != nil {
		return endpoint.DeltaChunk{}, fail("delta", rel, err)
	}
	return MatchChunk(ctx, c, off, blockSize, first, blocks)
}

// MatchChunk matches the bytes of c, read at off, against blocks (see
// Endpoint.Delta) and returns the ops with c's size and mtime. It is the
// matching half of Delta for callers that read the bytes themselves.
func MatchChunk(ctx context.Context, c endpoint.Chunk, off int64, blockSize int, first int64, blocks []wire.Block) (endpoint.DeltaChunk, error) {
	dblocks := make([]delta.Block, len(blocks))
	for i, b := range blocks {
		dblocks[i] = delta.Block(b)
	}
	x := delta.NewIndex(blockSize, first, dblocks)
	out := endpoint.DeltaChunk{Size: c.Size, Mtime: c.Mtime}
	err := delta.Match(bytes.NewReader(c.Data), off, x, delta.MatchOptions{MaxLiteral: wire.MaxDeltaLen, MaxCopy: wire.MaxDeltaLen}, func(op delta.Op) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		o := wire.DeltaOp{Off: op.Off, BasisOff: op.BasisOff, Len: uint32(op.Len), Sum: op.Sum}
		if op.Literal() {
			o.BasisOff = -1
			o.Data = bytes.Clone(op.Data)
		}
		out.Ops = append(out.Ops, o)
		return nil
	})
	if err != nil {
		return endpoint.DeltaChunk{}, err
	}
	return out, nil
}

// CreateFrom implements endpoint.Endpoint. A stamp that matches the
// basis's makes the writer copy without reading and hashing what it
// copies (copy_file_range where the system has it); Commit then checks
// that the basis still has that stamp.
func (e *dirEndpoint) CreateFrom(ctx context.Context, rel string, size int64, basis wire.Basis, want uint64) (endpoint.FileWriter, error) {
	if basis != wire.BasisFile && basis != wire.BasisPartial {
		return nil, fmt.Errorf("create %s: %w: basis %d", rel, endpoint.ErrInvalidPath, basis)
	}
	fw, err := e.Create(ctx, rel, size)
	if err != nil {
		return nil, err
	}
	w := fw.(*fileWriter)
	f, _, err := openBasis(w.dir, w.name, basis)
	if err != nil {
		w.Abort()
		return nil, fail("create", rel, err)
	}
	w.basis, w.basisKind = f, basis
	if st, err := stamp(f); err == nil && want != 0 && st == want {
		w.stamp = st
	}
	return w, nil
}

// Copy implements endpoint.FileWriter.
func (w *fileWriter) Copy(ctx context.Context, off, basisOff int64, n int, sum wire.Sum) error {
	switch {
	case w.done:
		return fmt.Errorf("copy %s: %w", w.rel, fs.ErrClosed)
	case w.err != nil:
		return w.err
	case ctx.Err() != nil:
		w.err = fmt.Errorf("copy %s: %w", w.rel, ctx.Err())
	case w.basis == nil:
		w.err = fmt.Errorf("copy %s: %w: no basis", w.rel, endpoint.ErrMismatch)
	case off < 0 || basisOff < 0 || n <= 0 || n > wire.MaxDeltaLen:
		w.err = fmt.Errorf("copy %s: %w: %d bytes from %d to %d", w.rel, endpoint.ErrInvalidPath, n, basisOff, off)
	}
	if w.err != nil {
		return w.err
	}
	var err error
	if w.stamp != 0 {
		// Trusted: the blocks were matched against sums of this very
		// state of the basis, which Commit checks again.
		if w.buf == nil {
			w.buf = make([]byte, 1<<20)
		}
		err = copyRange(w.f, w.basis, off, basisOff, n, w.buf)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = delta.ErrMismatch
		}
	} else {
		if cap(w.buf) < n {
			w.buf = make([]byte, n)
		}
		err = delta.Apply(w.f, w.basis, delta.Op{Off: off, BasisOff: basisOff, Len: n, Sum: sum}, w.buf[:n])
	}
	switch {
	case errors.Is(err, delta.ErrMismatch):
		w.err = fmt.Errorf("copy %s: %d bytes from %d: %w", w.rel, n, basisOff, endpoint.ErrMismatch)
	case err != nil:
		w.err = fail("copy", w.rel, err)
	}
	if w.err != nil {
		return w.err
	}
	w.end = max(w.end, off+int64(n))
	return nil
}

// checkBasis fails with ErrMismatch if the basis of a trusting writer
// changed since it was signed.
func (w *fileWriter) checkBasis() error {
	if w.stamp == 0 || w.basis == nil {
		return nil
	}
	if st, err := stamp(w.basis); err != nil || st != w.stamp {
		return fmt.Errorf("commit %s: %w: the file it was rebuilt from changed meanwhile", w.rel, endpoint.ErrMismatch)
	}
	return nil
}

// Suspend implements endpoint.FileWriter: the temporary file becomes the
// partial file, unless it holds less than endpoint.ResumeMin bytes or
// less than a partial file already there.
func (w *fileWriter) Suspend() error {
	if w.done {
		return nil
	}
	if w.f == nil || w.end < endpoint.ResumeMin {
		return w.discard()
	}
	if fi, err := w.dir.lstatInfo(partialName(w.name)); err == nil && fi.Size() > w.end {
		return w.discard()
	}
	if tmp, err := w.f.Stat(); err == nil {
		if target, err := w.dir.lstatInfo(w.name); err == nil && changedAfter(target, tmp.ModTime()) {
			// The file was put in place (by another connection's retry)
			// after this one last wrote: nothing here is worth resuming.
			return w.discard()
		}
	}
	w.done = true
	w.f.Close()
	w.f = nil
	err := w.dir.rename(w.tmp, partialName(w.name))
	if err != nil {
		w.e.removeTemp(w.dir, w.tmp, w.rel)
	}
	w.release()
	if err != nil {
		return fail("suspend", w.rel, err)
	}
	return nil
}

// copyThrough copies n bytes of src at srcOff to dst at dstOff through buf.
func copyThrough(dst, src *os.File, dstOff, srcOff int64, n int, buf []byte) error {
	for n > 0 {
		chunk := buf[:min(n, len(buf))]
		m, err := src.ReadAt(chunk, srcOff)
		if m < len(chunk) {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if _, err := dst.WriteAt(chunk, dstOff); err != nil {
			return err
		}
		n -= m
		srcOff += int64(m)
		dstOff += int64(m)
	}
	return nil
}

// tidyAge is how old a temporary file must be before a scan tidies it: a
// writer locks its file in the system call after the one creating it, so
// a file this old without a lock has no writer.
const tidyAge = 200 * time.Millisecond

// tidyTemp deals with the temporary file name in d if its writer is dead
// (see lockTemp): with keep, one of at least endpoint.ResumeMin bytes
// becomes its target's partial file (unless a bigger one is there, or the
// target was put in place after its last write); any other is removed.
// Without keep it need not be tidyAge old: the caller has just put the
// target in place. Errors leave it where it is. It reports whether it
// changed the directory.
func tidyTemp(d dir, name string, keep bool) bool {
	if !strings.HasSuffix(name, tempSuffix) {
		return false
	}
	f, err := d.openFile(name)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || keep && time.Since(fi.ModTime()) < tidyAge || !unheld(f) {
		return false
	}
	// .fcp-BASE.TOKEN.tmp; a name at the length limit may hold a
	// shortened BASE, whose partial name would be wrong.
	base := strings.TrimSuffix(strings.TrimPrefix(name, tempPrefix), tempSuffix)
	if i := strings.LastIndexByte(base, '.'); keep && i > 0 && len(name) < wire.MaxName && fi.Size() >= endpoint.ResumeMin {
		if target, err := d.lstatInfo(base[:i]); err == nil && changedAfter(target, fi.ModTime()) {
			return d.unlink(name) == nil // the file was put in place after this was written
		}
		partial := partialName(base[:i])
		if old, err := d.lstatInfo(partial); err != nil || old.Size() < fi.Size() {
			if d.rename(name, partial) == nil {
				return true
			}
		}
	}
	return d.unlink(name) == nil
}

// tidySiblings tidies (see tidyTemp) the temporary files of the file
// name in d other than own: those of writers of it that were killed.
func tidySiblings(d dir, name, own string) {
	names, err := d.names(make([]byte, direntBufSize))
	if err != nil {
		return
	}
	prefix := strings.TrimSuffix(partialName(name), partialSuffix) + "."
	for _, n := range names {
		if n != own && strings.HasPrefix(n, prefix) && strings.HasSuffix(n, tempSuffix) {
			tidyTemp(d, n, false) // the file is in place: nothing to keep
		}
	}
}
