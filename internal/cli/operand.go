package cli

import (
	"strings"
)

// operand is a SRC or DEST argument: a local path or [user@]host:path.
type operand struct {
	Raw  string
	User string
	Host string // empty for a local path; an IPv6 literal without brackets
	Path string // "" on a remote operand means the remote home directory
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
	return o.Host == p.Host && o.User == p.User
}

// parseOperand splits s as scp and rsync do: it is remote when a ':' comes
// before any '/', as in "host:path", "user@host:path" or
// "[::1]:path"; anything else is a local path.
func parseOperand(s string) operand {
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
