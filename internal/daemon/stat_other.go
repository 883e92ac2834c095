//go:build !unix

package daemon

import "io/fs"

// inode returns fi's inode number, 0 where unknown.
func inode(fs.FileInfo) uint64 { return 0 }
