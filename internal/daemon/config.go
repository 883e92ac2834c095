package daemon

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultPort is fcpd's TCP port, FastCopy's.
const DefaultPort = 7523

// Defaults of Config's limits.
const (
	DefaultMaxSessions      = 16
	DefaultMaxConnsPerSess  = 128
	DefaultMaxConnections   = 64
	DefaultMaxStartups      = 10
	DefaultHandshakeTimeout = 30 * time.Second
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultAuthorizedKeys   = "/etc/fcpd/authorized_keys"
	DefaultHostKey          = "/var/lib/fcpd/ssh_host_ed25519_key"
	maxConfigSize           = 1 << 20
	maxRootName             = 64
	maxRoots                = 1024
	maxConfigLine           = 4096
	DefaultConfigFile       = "/etc/fcpd/fcpd.conf"
)

// ErrConfig marks an error in a configuration file or setting.
var ErrConfig = errors.New("daemon: bad configuration")

// Config is what fcpd serves and how. The zero value of a limit means its
// default; see WithDefaults.
type Config struct {
	// Listen is the address to listen on, host:port; ":7523" by default.
	Listen string
	// HostKeys are the files of the server's private host keys (OpenSSH
	// format); a missing file is generated (Ed25519) on start.
	HostKeys []string
	// AuthorizedKeys is the authorized_keys file of the roots that do not
	// name their own.
	AuthorizedKeys string
	// Roots are the exported directories, by name.
	Roots []Root

	// MaxSessions bounds the sessions (fcp runs) served at once.
	MaxSessions int
	// MaxConnsPerSession bounds the streams of one session (-c).
	MaxConnsPerSession int
	// MaxConnections bounds the TCP connections and the streams served at
	// once, whatever their sessions; it is what bounds memory (see README).
	MaxConnections int
	// MaxStartups bounds the connections authenticating at once; more wait
	// (up to HandshakeTimeout) for their turn.
	MaxStartups int
	// HandshakeTimeout bounds a connection's time from accept to
	// authenticated.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that received nothing for that long
	// (clients send keepalives every 30 s); negative disables it.
	IdleTimeout time.Duration
	// MemoryLimit, if positive, is the Go runtime's soft memory limit in
	// bytes (runtime/debug.SetMemoryLimit).
	MemoryLimit int64

	// LogFile and PidFile are used with -d: where the log goes, and the
	// file that holds the daemon's process id.
	LogFile string
	PidFile string
}

// Root is one exported directory.
type Root struct {
	// Name is the first component of the paths that reach it:
	// fcp://host/NAME/....
	Name string
	// Path is the directory, absolute.
	Path string
	// ReadOnly refuses every write.
	ReadOnly bool
	// AuthorizedKeys, if set, is the authorized_keys file of the keys that
	// may use the root, instead of Config.AuthorizedKeys.
	AuthorizedKeys string
}

// WithDefaults returns c with the zero limits and paths set to defaults.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = ":" + strconv.Itoa(DefaultPort)
	}
	if len(c.HostKeys) == 0 {
		c.HostKeys = []string{DefaultHostKey}
	}
	if c.AuthorizedKeys == "" {
		c.AuthorizedKeys = DefaultAuthorizedKeys
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.MaxConnsPerSession <= 0 {
		c.MaxConnsPerSession = DefaultMaxConnsPerSess
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxStartups <= 0 {
		c.MaxStartups = DefaultMaxStartups
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	return c
}

// Check reports the first problem of c that would make serving it wrong:
// no roots, a duplicate or bad root name, a relative path.
func (c Config) Check() error {
	if len(c.Roots) == 0 {
		return fmt.Errorf("%w: no roots exported (a [NAME] section with path = DIR, or --root NAME=DIR)", ErrConfig)
	}
	seen := make(map[string]bool, len(c.Roots))
	for _, r := range c.Roots {
		if err := validRootName(r.Name); err != nil {
			return err
		}
		if seen[r.Name] {
			return fmt.Errorf("%w: root %q exported twice", ErrConfig, r.Name)
		}
		seen[r.Name] = true
		if !filepath.IsAbs(r.Path) {
			return fmt.Errorf("%w: root %q: path %q is not absolute", ErrConfig, r.Name, r.Path)
		}
	}
	return nil
}

// validRootName accepts the names a path's first component can carry and
// a person can type: letters, digits, '.', '_' and '-', not starting with
// '.'.
func validRootName(name string) error {
	if name == "" || len(name) > maxRootName || name[0] == '.' {
		return fmt.Errorf("%w: bad root name %q", ErrConfig, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: bad root name %q (letters, digits, '.', '_', '-')", ErrConfig, name)
		}
	}
	return nil
}

// ParseConfig reads a configuration file: "key = value" lines, global
// settings first, then one "[NAME]" section per exported root; '#' and ';'
// start comments, blank lines are ignored. Relative file names are taken
// from dir. Unknown keys, repeated keys and malformed values are errors
// naming the line. The keys:
//
//	listen = ADDR                    max_sessions = N
//	host_key = FILE (repeatable)     max_connections_per_session = N
//	authorized_keys = FILE           max_connections = N
//	log_file = FILE                  max_startups = N
//	pid_file = FILE                  handshake_timeout = DURATION
//	memory_limit = BYTES (K/M/G)     idle_timeout = DURATION (0: none)
//
//	[NAME]
//	path = DIR
//	read_only = yes|no
//	authorized_keys = FILE
func ParseConfig(r io.Reader, dir string) (Config, error) {
	var c Config
	sc := bufio.NewScanner(io.LimitReader(r, maxConfigSize+1))
	sc.Buffer(make([]byte, 0, 512), maxConfigLine)
	var root *Root
	seen := map[string]bool{}
	size := 0
	for n := 1; sc.Scan(); n++ {
		size += len(sc.Bytes()) + 1
		if size > maxConfigSize {
			return Config{}, fmt.Errorf("%w: larger than %d bytes", ErrConfig, maxConfigSize)
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrConfig, n, fmt.Sprintf(format, args...))
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return Config{}, bad("section header %q lacks ']'", line)
			}
			name := strings.TrimSpace(line[1 : len(line)-1])
			if err := validRootName(name); err != nil {
				return Config{}, bad("%v", err)
			}
			if len(c.Roots) >= maxRoots {
				return Config{}, bad("more than %d roots", maxRoots)
			}
			c.Roots = append(c.Roots, Root{Name: name})
			root = &c.Roots[len(c.Roots)-1]
			seen = map[string]bool{}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return Config{}, bad("expected key = value, got %q", line)
		}
		key = strings.ToLower(strings.TrimSpace(key))
		value = unquote(strings.TrimSpace(value))
		if seen[key] && key != "host_key" {
			return Config{}, bad("%s set twice", key)
		}
		seen[key] = true
		file := func() (string, error) {
			if value == "" {
				return "", bad("%s: empty file name", key)
			}
			if !filepath.IsAbs(value) {
				return filepath.Join(dir, value), nil
			}
			return filepath.Clean(value), nil
		}
		var err error
		if root != nil {
			switch key {
			case "path":
				if !filepath.IsAbs(value) {
					return Config{}, bad("path %q is not absolute", value)
				}
				root.Path = filepath.Clean(value)
			case "read_only", "readonly", "read only":
				root.ReadOnly, err = parseBool(value)
			case "authorized_keys":
				root.AuthorizedKeys, err = file()
			default:
				return Config{}, bad("unknown key %q in section [%s]", key, root.Name)
			}
			if err != nil {
				return Config{}, bad("%s: %v", key, err)
			}
			continue
		}
		switch key {
		case "listen":
			c.Listen = value
		case "host_key":
			var f string
			if f, err = file(); err == nil {
				c.HostKeys = append(c.HostKeys, f)
			}
		case "authorized_keys":
			c.AuthorizedKeys, err = file()
		case "log_file":
			c.LogFile, err = file()
		case "pid_file":
			c.PidFile, err = file()
		case "max_sessions":
			c.MaxSessions, err = parseCount(value)
		case "max_connections_per_session":
			c.MaxConnsPerSession, err = parseCount(value)
		case "max_connections":
			c.MaxConnections, err = parseCount(value)
		case "max_startups":
			c.MaxStartups, err = parseCount(value)
		case "handshake_timeout":
			c.HandshakeTimeout, err = parseDuration(value, false)
		case "idle_timeout":
			c.IdleTimeout, err = parseDuration(value, true)
		case "memory_limit":
			c.MemoryLimit, err = ParseBytes(value)
		default:
			return Config{}, bad("unknown key %q", key)
		}
		if err != nil {
			return Config{}, bad("%s: %v", key, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Config{}, fmt.Errorf("%w: a line longer than %d bytes", ErrConfig, maxConfigLine)
		}
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	for _, r := range c.Roots {
		if r.Path == "" {
			return Config{}, fmt.Errorf("%w: root [%s] has no path", ErrConfig, r.Name)
		}
	}
	return c, nil
}

// unquote removes one pair of double quotes around v.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("want yes or no, got %q", v)
}

func parseCount(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1<<20 {
		return 0, fmt.Errorf("want a number from 1 to %d, got %q", 1<<20, v)
	}
	return n, nil
}

// parseDuration parses a Go duration ("30s", "10m"); with zeroOK, "0"
// means none (returned as -1).
func parseDuration(v string, zeroOK bool) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, fmt.Errorf("want a duration such as 30s or 10m, got %q", v)
	case d == 0 && zeroOK:
		return -1, nil
	case d <= 0 || d > 365*24*time.Hour:
		return 0, fmt.Errorf("duration %q out of range", v)
	}
	return d, nil
}

// ParseBytes parses a size: a number of bytes with an optional K, M, G or
// T suffix (powers of 1024; an optional trailing "iB" or "B" is allowed).
func ParseBytes(v string) (int64, error) {
	s := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(v)), "B"), "I")
	shift := 0
	if s != "" {
		switch s[len(s)-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		}
		if shift > 0 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("want a size such as 512M or 2G, got %q", v)
	}
	return n << shift, nil
}
