package progress

import "sync/atomic"

// Counters measure a transfer. The zero value is ready to use, all methods
// and fields are safe for concurrent use, and a Counters must not be
// copied after first use.
//
// "Files" are the entries whose content the transfer copies; BytesTotal is
// the sum of their sizes and BytesDone the part of it written so far.
// Totals may keep growing while the transfer runs (the scan is still
// finding work), and BytesDone may pass BytesTotal if files grow while
// they are read; renderers cope with both.
type Counters struct {
	BytesDone  atomic.Int64
	BytesTotal atomic.Int64
	FilesDone  atomic.Int64
	FilesTotal atomic.Int64
	Errors     atomic.Int64
}

// Snapshot is a copy of Counters at one moment. Its fields are read one
// at a time, so a snapshot taken while counters move need not be
// consistent across fields (FilesDone may briefly exceed FilesTotal).
type Snapshot struct {
	BytesDone  int64
	BytesTotal int64
	FilesDone  int64
	FilesTotal int64
	Errors     int64
}

// AddBytes records n more bytes written.
func (c *Counters) AddBytes(n int64) { c.BytesDone.Add(n) }

// AddFile records one more file finished.
func (c *Counters) AddFile() { c.FilesDone.Add(1) }

// AddTotal records newly found work: files more files of bytes bytes in
// all.
func (c *Counters) AddTotal(files, bytes int64) {
	c.FilesTotal.Add(files)
	c.BytesTotal.Add(bytes)
}

// AddError records one more failed entry.
func (c *Counters) AddError() { c.Errors.Add(1) }

// Snapshot returns the current values.
func (c *Counters) Snapshot() Snapshot {
	return Snapshot{
		BytesDone:  c.BytesDone.Load(),
		BytesTotal: c.BytesTotal.Load(),
		FilesDone:  c.FilesDone.Load(),
		FilesTotal: c.FilesTotal.Load(),
		Errors:     c.Errors.Load(),
	}
}
