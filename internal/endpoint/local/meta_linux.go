package local

import (
	"os"
	"path"
	"syscall"

	"golang.org/x/sys/unix"
)

// setSymlinkTime sets the atime and mtime of the symlink rel (whose
// parents the caller verified) to mtime, without following it: by
// utimensat(AT_SYMLINK_NOFOLLOW) relative to the parent directory.
func setSymlinkTime(root *os.Root, rel string, mtime int64) error {
	dir, err := root.OpenFile(path.Dir(rel), os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer dir.Close()
	rc, err := dir.SyscallConn()
	if err != nil {
		return err
	}
	ts := []unix.Timespec{unix.NsecToTimespec(mtime), unix.NsecToTimespec(mtime)}
	var utErr error
	err = rc.Control(func(fd uintptr) {
		utErr = unix.UtimesNanoAt(int(fd), path.Base(rel), ts, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		return err
	}
	if utErr != nil {
		return &os.PathError{Op: "utimensat", Path: rel, Err: utErr}
	}
	return nil
}
