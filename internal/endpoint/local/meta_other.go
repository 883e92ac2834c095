//go:build !linux

package local

import "os"

// setSymlinkTime would set the mtime of the symlink rel; on this platform
// it does nothing.
func setSymlinkTime(root *os.Root, rel string, mtime int64) error {
	return nil
}
