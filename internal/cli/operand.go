package cli

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// urlScheme starts an operand served by fcpd: fcp://[user@]host[:port]/path.
const urlScheme = "fcp://"

// operand is a SRC or DEST argument: a local path, [user@]host:path, or
// fcp://[user@]host[:port]/root/path for a host's fcpd.
type operand struct {
	Raw    string
	User   string
	Host   string // empty for a local path; an IPv6 literal without brackets
	Path   string // "" on a remote operand means the remote home directory
	Daemon bool   // reached through fcpd, not a shell
	Port   int    // fcpd's port from the URL; 0 for the default
}

func (o operand) remote() bool { return o.Host != "" }

// target returns "[user@]host" as given to a remote shell command.
func (o operand) target() string {
	if o.User != "" {
		return o.User + "@" + o.Host
	}
	return o.Host
}

// sameHost reports whether two operands name the same place to connect to.
func (o operand) sameHost(p operand) bool {
	return o.Host == p.Host && o.User == p.User && o.Daemon == p.Daemon && o.Port == p.Port
}

// parseOperand splits s as scp and rsync do: it is remote when a ':' comes
// before any '/', as in "host:path", "user@host:path" or "[::1]:path";
// "fcp://..." is a URL for fcpd (see parseURL); anything else is a local
// path. Only a malformed URL is an error.
func parseOperand(s string) (operand, error) {
	if strings.HasPrefix(s, urlScheme) {
		return parseURL(s)
	}
	return parseScp(s), nil
}

// parseURL parses fcp://[user@]host[:port]/root/path. The path keeps its
// leading slash; it is "" when the URL has none.
func parseURL(s string) (operand, error) {
	rest := s[len(urlScheme):]
	authority, p, _ := strings.Cut(rest, "/")
	if authority != rest {
		p = "/" + p
	}
	o := operand{Raw: s, Path: p, Daemon: true}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		o.User, authority = authority[:at], authority[at+1:]
		if o.User == "" {
			return operand{}, fmt.Errorf("%s: empty user name", s)
		}
	}
	host, port := authority, ""
	if h, p, err := net.SplitHostPort(authority); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(authority, "[") && strings.HasSuffix(authority, "]") {
		host = authority[1 : len(authority)-1]
	}
	if host == "" || strings.ContainsAny(host, "[]/ ") {
		return operand{}, fmt.Errorf("%s: want fcp://[user@]host[:port]/root/path", s)
	}
	o.Host = host
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return operand{}, fmt.Errorf("%s: bad port %q", s, port)
		}
		o.Port = n
	}
	return o, nil
}

// parseScp parses the scp forms of parseOperand.
func parseScp(s string) operand {
	o := operand{Raw: s, Path: s}
	rest := s
	user := ""
	if at := strings.IndexByte(s, '@'); at > 0 && !strings.ContainsRune(s[:at], '/') && !strings.ContainsRune(s[:at], ':') {
		user, rest = s[:at], s[at+1:]
	}
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]:")
		if end > 1 && !strings.ContainsRune(rest[:end], '/') {
			return operand{Raw: s, User: user, Host: rest[1:end], Path: rest[end+2:]}
		}
		return o
	}
	colon := strings.IndexByte(rest, ':')
	if colon <= 0 {
		return o
	}
	if slash := strings.IndexByte(rest, '/'); slash >= 0 && slash < colon {
		return o
	}
	return operand{Raw: s, User: user, Host: rest[:colon], Path: rest[colon+1:]}
}
