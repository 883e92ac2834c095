package netem

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// OpenTUN creates the TUN device name inside the network namespace whose
// handle is the file nsPath (such as /run/netns/NAME) and returns it open,
// non-blocking. The device carries virtio-net headers, accepts checksum and
// TCP segmentation offload, and exists until the file is closed. Its address
// and state are left to the caller (for example "ip -n NAME addr add").
func OpenTUN(nsPath, name string) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread is left locked on purpose: it may stay in the other
		// namespace, so the runtime discards it when this goroutine ends.
		runtime.LockOSThread()
		f, err := openTUNIn(nsPath, name)
		ch <- result{f, err}
	}()
	r := <-ch
	return r.f, r.err
}

func openTUNIn(nsPath, name string) (*os.File, error) {
	ns, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", nsPath, err)
	}
	defer unix.Close(ns)
	if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("enter %s: %w", nsPath, err)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun %s: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("create tun %s in %s: %w", name, nsPath, err)
	}
	offload := unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, offload); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun %s offload: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "tun "+name), nil
}
