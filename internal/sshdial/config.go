package sshdial

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"
)

// DefaultSystemConfigFile is the system-wide ssh_config, read after the
// user's when no config file is named.
const DefaultSystemConfigFile = "/etc/ssh/ssh_config"

// maxJumpDepth bounds how deeply a ProxyJump's first hop may itself jump,
// which ends loops such as "Host * / ProxyJump a" with a being b's jump
// and b a's.
const maxJumpDepth = 8

// Options are what Resolve takes besides the host alias: fcp's SSH flags
// and the user of the operand.
type Options struct {
	// User is the login name from the operand (user@host). "" leaves it
	// to the config's User, then to the local user.
	User string
	// Port is the -p (or scp's -P) flag. 0 leaves it to the config's
	// Port, then 22.
	Port int
	// Identity is the -i flag: a private key file tried before the
	// config's IdentityFiles (and instead of the default ones). "" means
	// none.
	Identity string
	// ConfigFile is the -F flag: the only ssh_config read, which must
	// exist. "" means the user's ~/.ssh/config (if it exists) and then
	// SystemConfigFile; "none" means no file at all, as with ssh -F none.
	ConfigFile string
	// SystemConfigFile replaces DefaultSystemConfigFile when ConfigFile
	// is ""; "none" reads no system file.
	SystemConfigFile string
	// Home is the directory that ~ and %d stand for, and so where ~/.ssh
	// is. "" means $HOME, or the user database's home directory when HOME
	// is unset or empty. This departs from OpenSSH, which always takes the
	// user database's: fcp's other files follow $HOME, and so do its
	// tests, which point HOME at a temporary directory.
	Home string
	// LocalUser is the local login name, the default User and what %u
	// stands for. "" means the current user's (os/user).
	LocalUser string
	// Logger receives warnings about the config files, such as a Match
	// block that is ignored. nil discards them.
	Logger *slog.Logger
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// StrictHostKeyChecking values, as in ssh_config(5). "off" reads as No
// and "true"/"false" as Yes/No.
const (
	StrictYes       = "yes"        // unknown hosts are refused
	StrictNo        = "no"         // unknown hosts are accepted and recorded silently
	StrictAsk       = "ask"        // unknown hosts are confirmed on the terminal (the default)
	StrictAcceptNew = "accept-new" // unknown hosts are accepted and recorded
)

// Config is how to reach one host, resolved by Resolve: the values OpenSSH
// would use for the same alias, flags and files, with ~ and %-tokens
// already expanded. A Dialer reads it and never changes it; it may be
// built by hand too.
type Config struct {
	// Alias is the host as the user named it, which selected the Host
	// blocks.
	Alias string
	// HostName is the name or address to connect to.
	HostName string
	// Port is the TCP port, 1-65535.
	Port int
	// User is the login name.
	User string
	// IdentityFiles are the private key files to try, in order. Missing
	// files are skipped when dialing.
	IdentityFiles []string
	// IdentitiesOnly restricts the ssh-agent's keys to those whose public
	// half matches one of IdentityFiles.
	IdentitiesOnly bool
	// IdentityAgent is the ssh-agent socket; "" means the Dialer's
	// AgentSocket and "none" no agent.
	IdentityAgent string
	// ProxyJump lists the hops to go through, the first dialed first.
	// The first hop may itself have ProxyJump or ProxyCommand; the others
	// have neither. Empty means none.
	ProxyJump []*Config
	// ProxyCommand is a command for sh -c whose standard input and output
	// carry the connection, its %-tokens expanded. "" means none. It is
	// not used when ProxyJump is set.
	ProxyCommand string
	// HostKeyAlias, when set, replaces HostName and Port as the name of
	// the host in known_hosts files.
	HostKeyAlias string
	// UserKnownHostsFiles are the known_hosts files that are read and
	// written; new keys are appended to the first.
	UserKnownHostsFiles []string
	// GlobalKnownHostsFiles are known_hosts files that are only read.
	GlobalKnownHostsFiles []string
	// StrictHostKeyChecking is one of StrictYes, StrictNo, StrictAsk or
	// StrictAcceptNew; "" means StrictAsk.
	StrictHostKeyChecking string
	// ConnectTimeout bounds the TCP connection and the SSH handshake up
	// to the host key check (not authentication, which may wait for the
	// user). Zero means no bound but the context's.
	ConnectTimeout time.Duration
	// ServerAliveInterval is how often an idle connection asks the server
	// for a sign of life; zero means never. After ServerAliveCountMax
	// unanswered requests in a row the connection is closed.
	ServerAliveInterval time.Duration
	// ServerAliveCountMax is the number of unanswered keepalive requests
	// that ends a connection; zero means 3.
	ServerAliveCountMax int
	// BatchMode forbids every prompt: no passphrases, passwords or host
	// key confirmations.
	BatchMode bool
}

// Addr returns "HostName:Port", bracketing an IPv6 address.
func (c *Config) Addr() string {
	return net.JoinHostPort(c.HostName, strconv.Itoa(c.Port))
}

// Destination returns "User@HostName" for messages, with ":Port" when the
// port is not 22.
func (c *Config) Destination() string {
	d := c.User + "@" + c.HostName
	if c.Port != 22 {
		d = c.User + "@" + c.Addr()
	}
	return d
}

// Resolve returns the Config for host, an alias or address, given fcp's
// flags and the operand's user in o. Precedence is OpenSSH's: the flags
// and the operand's user, then the first value of each keyword in the
// config files (ConfigFile, or the user's then the system's), then
// OpenSSH's defaults. Every ProxyJump hop is resolved through the same
// files as a host of its own, with the user and port written in the hop
// taking precedence.
//
// Errors name the file or keyword at fault: an unreadable or unparsable
// config file, a missing -F file, an invalid value or token.
func Resolve(host string, o Options) (*Config, error) {
	if host == "" {
		return nil, errors.New("sshdial: empty host")
	}
	env, err := newResolveEnv(o)
	if err != nil {
		return nil, err
	}
	return env.resolve(host, o.User, o.Port, o.Identity, 0, true)
}

// resolveEnv is what resolving needs besides a host: the parsed config
// files and the local identity.
type resolveEnv struct {
	files     []*ssh_config.Config
	names     []string // the files' paths, for messages
	home      string
	localUser string
	localHost string
}

func newResolveEnv(o Options) (*resolveEnv, error) {
	env := &resolveEnv{home: o.Home, localUser: o.LocalUser}
	if env.home == "" {
		env.home = os.Getenv("HOME")
	}
	if env.home == "" || env.localUser == "" {
		u, err := user.Current()
		if err != nil {
			return nil, fmt.Errorf("sshdial: current user: %w", err)
		}
		if env.home == "" {
			env.home = u.HomeDir
		}
		if env.localUser == "" {
			env.localUser = u.Username
		}
	}
	env.localHost, _ = os.Hostname()

	var paths []string
	required := false
	switch o.ConfigFile {
	case "none":
	case "":
		paths = append(paths, filepath.Join(env.home, ".ssh", "config"))
		switch o.SystemConfigFile {
		case "":
			paths = append(paths, DefaultSystemConfigFile)
		case "none":
		default:
			paths = append(paths, o.SystemConfigFile)
		}
	default:
		p, err := env.expandTilde(o.ConfigFile)
		if err != nil {
			return nil, err
		}
		paths = append(paths, p)
		required = true
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) && !required {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sshdial: reading ssh config: %w", err)
		}
		b, ignored := rewriteMatch(b)
		for _, l := range ignored {
			o.logger().Warn("ssh config: ignoring a Match block this parser cannot evaluate", "file", p, "line", l)
		}
		c, err := ssh_config.DecodeBytes(b)
		if err != nil {
			return nil, fmt.Errorf("sshdial: parsing ssh config %s: %w", p, err)
		}
		env.files = append(env.files, c)
		env.names = append(env.names, p)
	}
	return env, nil
}

// get returns the first value of key for alias across the files, "" when
// there is none.
func (e *resolveEnv) get(alias, key string) (string, error) {
	for i, f := range e.files {
		v, err := f.Get(alias, key)
		if err != nil {
			return "", fmt.Errorf("sshdial: ssh config %s: %s: %w", e.names[i], key, err)
		}
		if v != "" {
			return v, nil
		}
	}
	return "", nil
}

// getAll returns every value of key for alias, in file order.
func (e *resolveEnv) getAll(alias, key string) ([]string, error) {
	var all []string
	for i, f := range e.files {
		v, err := f.GetAll(alias, key)
		if err != nil {
			return nil, fmt.Errorf("sshdial: ssh config %s: %s: %w", e.names[i], key, err)
		}
		all = append(all, v...)
	}
	return all, nil
}

// firstOf returns whichever of keys appears first for alias, and its
// value, for keywords that exclude each other (ProxyJump and ProxyCommand:
// "whichever is specified first will prevent later instances of the other
// from taking effect", ssh_config(5)). Within one Include, keys' order
// decides.
func (e *resolveEnv) firstOf(alias string, keys ...string) (string, string) {
	for _, f := range e.files {
		for _, h := range f.Hosts {
			if !h.Matches(alias) {
				continue
			}
			for _, n := range h.Nodes {
				switch n := n.(type) {
				case *ssh_config.KV:
					for _, k := range keys {
						if strings.EqualFold(n.Key, k) && n.Value != "" {
							return k, n.Value
						}
					}
				case *ssh_config.Include:
					for _, k := range keys {
						if v := n.Get(alias, k); v != "" {
							return k, v
						}
					}
				}
			}
		}
	}
	return "", ""
}

// resolve resolves alias. user, port and identity come from the operand,
// the flags or a ProxyJump hop and take precedence; proxies says whether
// alias's own ProxyJump and ProxyCommand apply.
func (e *resolveEnv) resolve(alias, user string, port int, identity string, depth int, proxies bool) (*Config, error) {
	c := &Config{Alias: alias, User: user, Port: port}
	wrap := func(key string, err error) error {
		return fmt.Errorf("sshdial: %s: %s: %w", alias, key, err)
	}

	v, err := e.get(alias, "HostName")
	if err != nil {
		return nil, err
	}
	c.HostName = alias
	if v != "" {
		if c.HostName, err = expandTokens(v, map[byte]string{'h': alias}); err != nil {
			return nil, wrap("HostName", err)
		}
	}
	if c.Port == 0 {
		if v, err = e.get(alias, "Port"); err != nil {
			return nil, err
		}
		c.Port = 22
		if v != "" {
			if c.Port, err = parsePort(v); err != nil {
				return nil, wrap("Port", err)
			}
		}
	}
	if c.User == "" {
		if v, err = e.get(alias, "User"); err != nil {
			return nil, err
		}
		c.User = v
		if c.User == "" {
			c.User = e.localUser
		}
	}
	tokens := e.tokens(c)

	var ids []string
	if identity != "" {
		ids = append(ids, identity)
	}
	vals, err := e.getAll(alias, "IdentityFile")
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		if !strings.EqualFold(v, "none") {
			ids = append(ids, v)
		}
	}
	if len(ids) == 0 {
		ids = []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"}
	}
	for _, id := range ids {
		p, err := e.expandPath(id, tokens)
		if err != nil {
			return nil, wrap("IdentityFile", err)
		}
		c.IdentityFiles = append(c.IdentityFiles, p)
	}
	if c.IdentitiesOnly, err = e.getBool(alias, "IdentitiesOnly"); err != nil {
		return nil, err
	}
	if c.BatchMode, err = e.getBool(alias, "BatchMode"); err != nil {
		return nil, err
	}
	if v, err = e.get(alias, "IdentityAgent"); err != nil {
		return nil, err
	}
	switch {
	case v == "" || v == "SSH_AUTH_SOCK":
	case strings.EqualFold(v, "none"):
		c.IdentityAgent = "none"
	default:
		if c.IdentityAgent, err = e.expandPath(v, tokens); err != nil {
			return nil, wrap("IdentityAgent", err)
		}
	}

	if v, err = e.get(alias, "HostKeyAlias"); err != nil {
		return nil, err
	}
	c.HostKeyAlias = v
	if c.UserKnownHostsFiles, err = e.getFiles(alias, "UserKnownHostsFile", "~/.ssh/known_hosts ~/.ssh/known_hosts2", tokens); err != nil {
		return nil, err
	}
	if c.GlobalKnownHostsFiles, err = e.getFiles(alias, "GlobalKnownHostsFile", "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2", tokens); err != nil {
		return nil, err
	}
	if v, err = e.get(alias, "StrictHostKeyChecking"); err != nil {
		return nil, err
	}
	if c.StrictHostKeyChecking, err = parseStrict(v); err != nil {
		return nil, wrap("StrictHostKeyChecking", err)
	}
	if c.ConnectTimeout, err = e.getDuration(alias, "ConnectTimeout"); err != nil {
		return nil, err
	}
	if c.ServerAliveInterval, err = e.getDuration(alias, "ServerAliveInterval"); err != nil {
		return nil, err
	}
	if v, err = e.get(alias, "ServerAliveCountMax"); err != nil {
		return nil, err
	}
	c.ServerAliveCountMax = 3
	if v != "" {
		if c.ServerAliveCountMax, err = strconv.Atoi(v); err != nil || c.ServerAliveCountMax < 1 {
			return nil, wrap("ServerAliveCountMax", fmt.Errorf("invalid count %q", v))
		}
	}

	if !proxies {
		return c, nil
	}
	key, v := e.firstOf(alias, "ProxyJump", "ProxyCommand")
	switch {
	case v == "" || strings.EqualFold(v, "none"):
	case key == "ProxyCommand":
		if c.ProxyCommand, err = expandTokens(v, tokens); err != nil {
			return nil, wrap("ProxyCommand", err)
		}
	default:
		hops, err := parseJumps(v)
		if err != nil {
			return nil, wrap("ProxyJump", err)
		}
		if hops[0].host == alias {
			// A jump through oneself, typically from "Host *": OpenSSH
			// would loop, and the user meant the host's own block.
			break
		}
		if depth >= maxJumpDepth {
			return nil, wrap("ProxyJump", fmt.Errorf("hops nest more than %d deep: is there a loop?", maxJumpDepth))
		}
		for i, h := range hops {
			hc, err := e.resolve(h.host, h.user, h.port, "", depth+1, i == 0)
			if err != nil {
				return nil, err
			}
			c.ProxyJump = append(c.ProxyJump, hc)
		}
	}
	return c, nil
}

// tokens returns the %-tokens of c for IdentityFile, UserKnownHostsFile,
// IdentityAgent and ProxyCommand, as in ssh_config(5) TOKENS.
func (e *resolveEnv) tokens(c *Config) map[byte]string {
	short, _, _ := strings.Cut(e.localHost, ".")
	return map[byte]string{
		'd': e.home,
		'h': c.HostName,
		'l': e.localHost,
		'L': short,
		'n': c.Alias,
		'p': strconv.Itoa(c.Port),
		'r': c.User,
		'u': e.localUser,
	}
}

func (e *resolveEnv) getBool(alias, key string) (bool, error) {
	v, err := e.get(alias, key)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(v) {
	case "", "no", "false":
		return false, nil
	case "yes", "true":
		return true, nil
	}
	return false, fmt.Errorf("sshdial: %s: %s: want yes or no, not %q", alias, key, v)
}

func (e *resolveEnv) getDuration(alias, key string) (time.Duration, error) {
	v, err := e.get(alias, key)
	if err != nil || v == "" || strings.EqualFold(v, "none") {
		return 0, err
	}
	d, err := parseTime(v)
	if err != nil {
		return 0, fmt.Errorf("sshdial: %s: %s: %w", alias, key, err)
	}
	return d, nil
}

// getFiles returns the space-separated paths of key, or of def, expanded.
func (e *resolveEnv) getFiles(alias, key, def string, tokens map[byte]string) ([]string, error) {
	v, err := e.get(alias, key)
	if err != nil {
		return nil, err
	}
	if v == "" {
		v = def
	}
	var paths []string
	for _, f := range strings.Fields(v) {
		if strings.EqualFold(f, "none") {
			continue
		}
		p, err := e.expandPath(f, tokens)
		if err != nil {
			return nil, fmt.Errorf("sshdial: %s: %s: %w", alias, key, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// expandPath expands a leading ~ and then %-tokens.
func (e *resolveEnv) expandPath(p string, tokens map[byte]string) (string, error) {
	p, err := e.expandTilde(p)
	if err != nil {
		return "", err
	}
	return expandTokens(p, tokens)
}

// expandTilde replaces a leading "~" or "~/" with the home directory and
// "~name/" with name's.
func (e *resolveEnv) expandTilde(p string) (string, error) {
	if !strings.HasPrefix(p, "~") {
		return p, nil
	}
	name, rest, _ := strings.Cut(p[1:], "/")
	if name == "" {
		return filepath.Join(e.home, rest), nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return "", fmt.Errorf("expanding %s: %w", p, err)
	}
	return filepath.Join(u.HomeDir, rest), nil
}

// expandTokens replaces %x for each x in tokens and %% with %; any other
// token is an error.
func expandTokens(s string, tokens map[byte]string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return "", fmt.Errorf("%q ends in a lone %%", s)
		}
		if s[i] == '%' {
			b.WriteByte('%')
			continue
		}
		v, ok := tokens[s[i]]
		if !ok {
			return "", fmt.Errorf("unknown token %%%c in %q", s[i], s)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return p, nil
}

func parseStrict(v string) (string, error) {
	switch strings.ToLower(v) {
	case "", StrictAsk:
		return StrictAsk, nil
	case StrictYes, "true":
		return StrictYes, nil
	case StrictNo, "off", "false":
		return StrictNo, nil
	case StrictAcceptNew:
		return StrictAcceptNew, nil
	}
	return "", fmt.Errorf("want yes, no, ask or accept-new, not %q", v)
}

// parseTime parses an sshd_config(5) TIME FORMATS value: a number of
// seconds, or numbers with units s, m, h, d or w, as in "1m30s".
func parseTime(v string) (time.Duration, error) {
	units := map[byte]time.Duration{
		's': time.Second, 'S': time.Second,
		'm': time.Minute, 'M': time.Minute,
		'h': time.Hour, 'H': time.Hour,
		'd': 24 * time.Hour, 'D': 24 * time.Hour,
		'w': 7 * 24 * time.Hour, 'W': 7 * 24 * time.Hour,
	}
	var total time.Duration
	rest := v
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 {
			return 0, fmt.Errorf("invalid time %q", v)
		}
		n, _ := strconv.Atoi(rest[:i])
		unit := time.Second
		rest = rest[i:]
		if rest != "" {
			u, ok := units[rest[0]]
			if !ok {
				return 0, fmt.Errorf("invalid time %q", v)
			}
			unit = u
			rest = rest[1:]
		}
		total += time.Duration(n) * unit
	}
	return total, nil
}

// jump is one hop of a ProxyJump value.
type jump struct {
	user string
	host string
	port int // 0: not given
}

// parseJumps parses a ProxyJump value: comma-separated hops, each
// [user@]host[:port] or ssh://[user@]host[:port], an IPv6 address in
// brackets when a port follows.
func parseJumps(v string) ([]jump, error) {
	var hops []jump
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		h, err := parseJump(s)
		if err != nil {
			return nil, err
		}
		hops = append(hops, h)
	}
	return hops, nil
}

func parseJump(s string) (jump, error) {
	orig := s
	s = strings.TrimPrefix(s, "ssh://")
	var j jump
	if i := strings.LastIndex(s, "@"); i >= 0 {
		j.user, s = s[:i], s[i+1:]
		if j.user == "" {
			return jump{}, fmt.Errorf("hop %q: empty user", orig)
		}
	}
	port := ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return jump{}, fmt.Errorf("hop %q: unclosed [", orig)
		}
		j.host, s = s[1:end], s[end+1:]
		if s != "" {
			if !strings.HasPrefix(s, ":") {
				return jump{}, fmt.Errorf("hop %q: junk after ]", orig)
			}
			port = s[1:]
		}
	case strings.Count(s, ":") == 1:
		j.host, port, _ = strings.Cut(s, ":")
	default:
		j.host = s
	}
	if j.host == "" {
		return jump{}, fmt.Errorf("hop %q: empty host", orig)
	}
	if port != "" {
		p, err := parsePort(port)
		if err != nil {
			return jump{}, fmt.Errorf("hop %q: %w", orig, err)
		}
		j.port = p
	}
	return j, nil
}

// rewriteMatch rewrites the Match lines of an ssh_config that the
// ssh_config library would misread or reject into Host lines, keeping the
// line count: "Match all" becomes "Host *", "Match host P1,P2" and
// "Match originalhost P1,P2" become "Host P1 P2" (both then match the
// alias, where OpenSSH matches host against HostName), and any other
// Match, such as "Match exec" or several criteria, becomes a block that
// never matches, so that it is ignored rather than failing the whole
// file. It returns the rewritten config and the numbers of the lines it
// made never match. Files included by the config are not rewritten.
func rewriteMatch(b []byte) ([]byte, []int) {
	lines := strings.Split(string(b), "\n")
	var ignored []int
	for i, line := range lines {
		t := strings.TrimSpace(line)
		j := strings.IndexAny(t, " \t=")
		if j < 0 || !strings.EqualFold(t[:j], "Match") {
			continue
		}
		rest, _, _ := strings.Cut(strings.TrimLeft(t[j:], " \t="), "#")
		f := strings.Fields(rest)
		switch {
		case len(f) == 1 && strings.EqualFold(f[0], "all"):
			lines[i] = "Host *"
		case len(f) == 2 && (strings.EqualFold(f[0], "host") || strings.EqualFold(f[0], "originalhost")):
			lines[i] = "Host " + strings.ReplaceAll(f[1], ",", " ")
		default:
			lines[i] = "Host !*"
			ignored = append(ignored, i+1)
		}
	}
	return []byte(strings.Join(lines, "\n")), ignored
}
