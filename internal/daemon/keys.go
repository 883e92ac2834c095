package daemon

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// maxKeysFile bounds an authorized_keys file.
const maxKeysFile = 4 << 20

// keyInfo is what fcpd knows of an authorized key.
type keyInfo struct {
	Comment string
}

// keyFile is an authorized_keys file, read again whenever it changes (its
// size, mtime or inode), so that a key added or revoked counts for the
// next connection, as with sshd. It is safe for concurrent use.
type keyFile struct {
	path string
	log  *slog.Logger

	mu    sync.Mutex
	stamp fileStamp
	keys  map[string]keyInfo // by ssh.FingerprintSHA256
	err   error
}

// fileStamp identifies a version of a file.
type fileStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

// lookup returns the key's entry in the file, reading the file first if
// it changed. A file that cannot be read authorizes nothing; its error is
// logged once per change.
func (k *keyFile) lookup(fp string) (keyInfo, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.refresh()
	info, ok := k.keys[fp]
	return info, ok
}

// refresh rereads the file if its stamp changed. The caller holds k.mu.
func (k *keyFile) refresh() {
	fi, err := os.Stat(k.path)
	var st fileStamp
	if err == nil {
		st = fileStamp{size: fi.Size(), mtime: fi.ModTime(), ino: inode(fi)}
		if st == k.stamp && k.keys != nil {
			return
		}
	}
	if err == nil {
		k.keys, err = readAuthorizedKeys(k.path, k.log)
	}
	if err != nil {
		k.keys = map[string]keyInfo{}
		if k.err == nil || k.err.Error() != err.Error() {
			k.log.Error("authorized keys unreadable: no key is accepted through it", "file", k.path, "err", err)
		}
		k.err = err
		k.stamp = fileStamp{}
		return
	}
	k.err = nil
	k.stamp = st
	k.log.Info("authorized keys read", "file", k.path, "keys", len(k.keys))
}

// load reads the file now and returns its error, for checks at start.
func (k *keyFile) load() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stamp, k.keys = fileStamp{}, nil
	k.refresh()
	return k.err
}

// harmlessOptions are authorized_keys options that restrict what fcpd
// does not offer anyway (terminals, forwarding, rc files).
var harmlessOptions = map[string]bool{
	"restrict": true, "no-pty": true, "no-port-forwarding": true, "no-agent-forwarding": true,
	"no-x11-forwarding": true, "no-user-rc": true,
}

// readAuthorizedKeys parses an authorized_keys file. A line whose options
// fcpd cannot honour (from=, command=, expiry-time=, cert-authority,
// principals=, ...) is skipped with a warning rather than accepted without
// its restriction; so is a line that does not parse.
func readAuthorizedKeys(path string, log *slog.Logger) (map[string]keyInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeysFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxKeysFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxKeysFile)
	}
	return parseAuthorizedKeys(data, path, log), nil
}

// parseAuthorizedKeys parses the contents of an authorized_keys file; see
// readAuthorizedKeys.
func parseAuthorizedKeys(data []byte, path string, log *slog.Logger) map[string]keyInfo {
	keys := make(map[string]keyInfo)
	for lineNo := 1; len(data) > 0; lineNo++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		pub, comment, options, _, err := ssh.ParseAuthorizedKey(line)
		if err != nil {
			log.Warn("authorized keys: line skipped", "file", path, "line", lineNo, "err", err)
			continue
		}
		if bad := unsupportedOptions(options); bad != "" {
			log.Warn("authorized keys: line skipped: fcpd cannot honour its option", "file", path, "line", lineNo, "option", bad)
			continue
		}
		if _, ok := pub.(*ssh.Certificate); ok {
			log.Warn("authorized keys: line skipped: certificates are not supported", "file", path, "line", lineNo)
			continue
		}
		keys[ssh.FingerprintSHA256(pub)] = keyInfo{Comment: comment}
	}
	return keys
}

// unsupportedOptions returns the first option fcpd cannot honour, or "".
func unsupportedOptions(options []string) string {
	for _, o := range options {
		name, _, _ := strings.Cut(o, "=")
		if !harmlessOptions[strings.ToLower(name)] {
			return o
		}
	}
	return ""
}
