package daemon

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	text := `# fcpd.conf
listen = 127.0.0.1:9000
host_key = keys/host_ed25519
host_key = /etc/fcpd/host_rsa
authorized_keys = "/etc/fcpd/authorized keys"
max_sessions = 4
max_connections_per_session = 8
max_connections = 32
max_startups = 3
handshake_timeout = 5s
idle_timeout = 0
memory_limit = 512M
log_file = fcpd.log
pid_file = /run/fcpd.pid

[data]
path = /srv/data
; a comment
[ro-pub]
path = /srv/pub/
read_only = yes
authorized_keys = pub.keys
`
	got, err := ParseConfig(strings.NewReader(text), "/etc/fcpd")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen:             "127.0.0.1:9000",
		HostKeys:           []string{"/etc/fcpd/keys/host_ed25519", "/etc/fcpd/host_rsa"},
		AuthorizedKeys:     "/etc/fcpd/authorized keys",
		MaxSessions:        4,
		MaxConnsPerSession: 8,
		MaxConnections:     32,
		MaxStartups:        3,
		HandshakeTimeout:   5 * time.Second,
		IdleTimeout:        -1,
		MemoryLimit:        512 << 20,
		LogFile:            "/etc/fcpd/fcpd.log",
		PidFile:            "/run/fcpd.pid",
		Roots: []Root{
			{Name: "data", Path: "/srv/data"},
			{Name: "ro-pub", Path: "/srv/pub", ReadOnly: true, AuthorizedKeys: "/etc/fcpd/pub.keys"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseConfig:\n got %+v\nwant %+v", got, want)
	}
	if err := got.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{name: "unknown key", text: "colour = red\n", want: `line 1: unknown key "colour"`},
		{name: "unknown root key", text: "[a]\npath = /x\nuid = 0\n", want: `line 3: unknown key "uid" in section [a]`},
		{name: "no equals", text: "listen\n", want: "line 1: expected key = value"},
		{name: "twice", text: "max_sessions = 1\nmax_sessions = 2\n", want: "line 2: max_sessions set twice"},
		{name: "bad number", text: "max_sessions = many\n", want: "line 1: max_sessions: want a number"},
		{name: "zero number", text: "max_connections = 0\n", want: "line 1: max_connections: want a number"},
		{name: "bad duration", text: "idle_timeout = soon\n", want: "line 1: idle_timeout: want a duration"},
		{name: "zero handshake", text: "handshake_timeout = 0s\n", want: "line 1: handshake_timeout: duration"},
		{name: "bad bool", text: "[a]\npath = /x\nread_only = maybe\n", want: "line 3: read_only: want yes or no"},
		{name: "relative root", text: "[a]\npath = srv\n", want: `line 2: path "srv" is not absolute`},
		{name: "no path", text: "[a]\nread_only = yes\n", want: "root [a] has no path"},
		{name: "bad name", text: "[../etc]\npath = /x\n", want: "line 1: "},
		{name: "dot name", text: "[.hidden]\npath = /x\n", want: "bad root name"},
		{name: "unclosed section", text: "[a\n", want: "lacks ']'"},
		{name: "bad size", text: "memory_limit = lots\n", want: "memory_limit: want a size"},
		{name: "long line", text: "listen = " + strings.Repeat("x", maxConfigLine) + "\n", want: "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(tc.text), "/etc")
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseConfig(%q) = %v, want an ErrConfig containing %q", tc.text, err, tc.want)
			}
		})
	}
}

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "no roots", cfg: Config{}, want: "no roots exported"},
		{name: "duplicate", cfg: Config{Roots: []Root{{Name: "a", Path: "/x"}, {Name: "a", Path: "/y"}}}, want: "exported twice"},
		{name: "relative", cfg: Config{Roots: []Root{{Name: "a", Path: "x"}}}, want: "not absolute"},
		{name: "slash in name", cfg: Config{Roots: []Root{{Name: "a/b", Path: "/x"}}}, want: "bad root name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Check()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1024", 1024, true}, {"4K", 4 << 10, true}, {"512M", 512 << 20, true},
		{"2G", 2 << 30, true}, {"2GiB", 2 << 30, true}, {"3gb", 3 << 30, true}, {"1T", 1 << 40, true},
		{"", 0, false}, {"-1", 0, false}, {"1.5G", 0, false}, {"99999999999T", 0, false}, {"G", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseBytes(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
