//go:build !unix

package watch

import "os"

// fileID identifies a file; without inode numbers there is none.
type fileID struct{}

// idOf reports that fi has no identity the watcher can index.
func idOf(os.FileInfo) (fileID, bool) { return fileID{}, false }
