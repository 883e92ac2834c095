package agent

// platform returns the GOOS and GOARCH of a host whose `uname -s` is
// kernel and whose `uname -m` is machine, and whether it knows both.
func platform(kernel, machine string) (goos, goarch string, ok bool) {
	switch kernel {
	case "Linux":
		goos = "linux"
	case "Darwin":
		goos = "darwin"
	case "FreeBSD":
		goos = "freebsd"
	case "NetBSD":
		goos = "netbsd"
	case "OpenBSD":
		goos = "openbsd"
	case "DragonFly":
		goos = "dragonfly"
	}
	switch machine {
	case "x86_64", "amd64":
		goarch = "amd64"
	case "aarch64", "arm64":
		goarch = "arm64"
	case "armv7l", "armv8l": // armv8l: 32-bit user space on a 64-bit kernel
		goarch = "arm"
	case "i386", "i686":
		goarch = "386"
	case "riscv64", "ppc64le", "ppc64", "s390x":
		goarch = machine
	case "loongarch64":
		goarch = "loong64"
	}
	return goos, goarch, goos != "" && goarch != ""
}
