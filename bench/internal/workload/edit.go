package workload

import (
	"fmt"
	"io"
	"os"
	"time"
)

// The random streams of the edits, beside the file's (0) and the tree's (1,
// 2).
const (
	overwriteStream = 3
	appendStream    = 4
)

// OverwriteOffset is where Overwrite writes into FileName: ChangeBytes
// centred in the file.
func (s Spec) OverwriteOffset() int64 { return (s.FileBytes - s.ChangeBytes) / 2 }

// Overwrite replaces s.ChangeBytes in the middle of the file at path (a
// copy of FileName) with other random bytes, the same on every call, and
// moves its modification time forward. The size stays. undo puts the old
// bytes and time back.
func Overwrite(path string, s Spec) (undo func() error, err error) {
	off := s.OverwriteOffset()
	if off < 0 || s.ChangeBytes <= 0 {
		return nil, fmt.Errorf("overwrite %d bytes of a %d-byte file", s.ChangeBytes, s.FileBytes)
	}
	return edit(path, func(f *os.File, size int64) (func(*os.File) error, error) {
		if size < off+s.ChangeBytes {
			return nil, fmt.Errorf("%s: %d bytes, too short to overwrite %d bytes at %d", path, size, s.ChangeBytes, off)
		}
		old := make([]byte, s.ChangeBytes)
		if _, err := f.ReadAt(old, off); err != nil {
			return nil, err
		}
		if _, err := io.Copy(io.NewOffsetWriter(f, off), io.LimitReader(stream(s.Seed, overwriteStream), s.ChangeBytes)); err != nil {
			return nil, err
		}
		return func(f *os.File) error {
			_, err := f.WriteAt(old, off)
			return err
		}, nil
	})
}

// Append appends s.AppendBytes of random bytes, the same on every call, to
// the file at path and moves its modification time forward. undo cuts them
// off and puts the old time back.
func Append(path string, s Spec) (undo func() error, err error) {
	if s.AppendBytes <= 0 {
		return nil, fmt.Errorf("append %d bytes", s.AppendBytes)
	}
	return edit(path, func(f *os.File, size int64) (func(*os.File) error, error) {
		if _, err := io.Copy(io.NewOffsetWriter(f, size), io.LimitReader(stream(s.Seed, appendStream), s.AppendBytes)); err != nil {
			return nil, err
		}
		return func(f *os.File) error { return f.Truncate(size) }, nil
	})
}

// minStep is how far an edit moves the file's modification time at least,
// so that a comparison of times to the second sees the change.
const minStep = 2 * time.Second

// edit opens path, applies change and sets the modification time to now,
// or minStep after the old time if that is later. The returned undo
// reverses change and restores the old time.
func edit(path string, change func(f *os.File, size int64) (undo func(*os.File) error, err error)) (func() error, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	old := fi.ModTime()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	back, err := change(f, fi.Size())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("edit %s: %w", path, err)
	}
	mtime := time.Now()
	if mtime.Before(old.Add(minStep)) {
		mtime = old.Add(minStep)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		return nil, err
	}
	return func() error {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = back(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("undo the edit of %s: %w", path, err)
		}
		return os.Chtimes(path, old, old)
	}, nil
}
