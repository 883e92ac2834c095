//go:build !linux

package local

import (
	"errors"
	"io/fs"
	"os"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// capsFor returns what an Endpoint can keep here: none of the metadata
// beyond mode and mtime.
func capsFor(int) wire.Caps { return 0 }

func (d dir) stat(fs.FileInfo) (statMeta, bool) { return statMeta{}, false }

func (d dir) listXattrs(string) ([]string, error) { return nil, errors.ErrUnsupported }

func (d dir) getXattr(string, string) ([]byte, error) { return nil, errors.ErrUnsupported }

func (d dir) setXattr(string, string, []byte) error { return errors.ErrUnsupported }

func (d dir) removeXattr(string, string) error { return errors.ErrUnsupported }

func (d dir) chown(string, int, int) error { return errors.ErrUnsupported }

func (d dir) mknod(string, wire.FileType, uint32, uint64) error { return errors.ErrUnsupported }

func (d dir) link(dir, string, string) error { return errors.ErrUnsupported }

// extents implements metaOps: the whole rest of the file is data.
func (d dir) extents(name string, off int64) (endpoint.Extents, error) {
	fi, err := d.root.Lstat(name)
	if err != nil {
		return endpoint.Extents{}, err
	}
	if err := regular(fi.Mode()); err != nil {
		return endpoint.Extents{}, err
	}
	x := endpoint.Extents{Size: fi.Size(), Mtime: fi.ModTime().UnixNano(), Next: fi.Size()}
	if off < fi.Size() {
		x.List = []wire.Extent{{Off: off, Len: fi.Size() - off}}
	}
	return x, nil
}

// noXattrs reports whether err says extended attributes are absent: here,
// always unsupported.
func noXattrs(err error) bool { return errors.Is(err, errors.ErrUnsupported) }

// notKept reports whether err says the metadata is not supported.
func notKept(err error) bool { return errors.Is(err, errors.ErrUnsupported) }

// euid is the effective user id of the process.
func euid() int { return os.Geteuid() }
