package sshdial

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fields flattens the parts of c the tests check into strings.
func fields(c *Config) map[string]string {
	var hops []string
	for _, h := range c.ProxyJump {
		hops = append(hops, h.Destination())
	}
	return map[string]string{
		"HostName":              c.HostName,
		"Port":                  strconv.Itoa(c.Port),
		"User":                  c.User,
		"IdentityFiles":         strings.Join(c.IdentityFiles, " "),
		"IdentitiesOnly":        strconv.FormatBool(c.IdentitiesOnly),
		"IdentityAgent":         c.IdentityAgent,
		"ProxyJump":             strings.Join(hops, ","),
		"ProxyCommand":          c.ProxyCommand,
		"HostKeyAlias":          c.HostKeyAlias,
		"UserKnownHostsFiles":   strings.Join(c.UserKnownHostsFiles, " "),
		"StrictHostKeyChecking": c.StrictHostKeyChecking,
		"ConnectTimeout":        c.ConnectTimeout.String(),
		"ServerAliveInterval":   c.ServerAliveInterval.String(),
		"ServerAliveCountMax":   strconv.Itoa(c.ServerAliveCountMax),
		"BatchMode":             strconv.FormatBool(c.BatchMode),
	}
}

func TestResolve(t *testing.T) {
	const home = "/home/me"
	base := Options{ConfigFile: "testdata/config", Home: home, LocalUser: "me"}
	with := func(f func(o *Options)) Options {
		o := base
		f(&o)
		return o
	}
	tests := []struct {
		name string
		host string
		opts Options
		want map[string]string
	}{
		{
			name: "HostBlock",
			host: "web",
			opts: base,
			want: map[string]string{
				"HostName":      "web.example.com",
				"Port":          "2200",
				"User":          "deploy",
				"IdentityFiles": "/home/me/.ssh/web_deploy_web.example.com /home/me/keys/me-2200-web",
				"ProxyJump":     "",
				// Later blocks fill what earlier ones left unset.
				"ServerAliveInterval":   "5s",
				"ServerAliveCountMax":   "3",
				"StrictHostKeyChecking": StrictAsk,
				"UserKnownHostsFiles":   "/home/me/.ssh/known_hosts /home/me/.ssh/known_hosts2",
			},
		},
		{
			name: "FlagsAndOperandOverConfig",
			host: "web",
			opts: with(func(o *Options) { o.User, o.Port, o.Identity = "op", 2300, "~/id_flag" }),
			want: map[string]string{
				"HostName":      "web.example.com",
				"Port":          "2300",
				"User":          "op",
				"IdentityFiles": "/home/me/id_flag /home/me/.ssh/web_op_web.example.com /home/me/keys/me-2300-web",
			},
		},
		{
			name: "WildcardPattern",
			host: "app.internal",
			opts: base,
			want: map[string]string{
				"HostName":      "app.internal",
				"Port":          "2022",
				"User":          "ops",
				"IdentityFiles": "/home/me/.ssh/id_ed25519 /home/me/.ssh/id_ecdsa /home/me/.ssh/id_rsa",
				"ProxyJump":     "jumper@bastion.example.com:2222",
			},
		},
		{
			name: "NegatedPattern",
			host: "db.internal",
			opts: base,
			want: map[string]string{"Port": "5022", "User": "fallback", "ProxyJump": ""},
		},
		{
			name: "ProxyJumpChain",
			host: "chain",
			opts: with(func(o *Options) { o.User = "root" }),
			want: map[string]string{
				"HostName":  "10.0.0.5",
				"User":      "root",
				"ProxyJump": "alice@hop1:2201,jumper@bastion.example.com:2222,fallback@fd00::1",
			},
		},
		{
			name: "ProxyCommandFirst",
			host: "proxied",
			opts: base,
			want: map[string]string{
				"ProxyCommand": "ssh -W proxied.example.com:2022 gateway -l fallback -o Tag=proxied%",
				"ProxyJump":    "",
			},
		},
		{
			name: "ProxyJumpFirst",
			host: "jumpfirst",
			opts: base,
			want: map[string]string{"ProxyJump": "jumper@bastion.example.com:2222", "ProxyCommand": ""},
		},
		{
			name: "ProxyJumpNone",
			host: "nojump",
			opts: base,
			want: map[string]string{"ProxyJump": ""},
		},
		{
			name: "SelfJumpIgnored",
			host: "selfjump",
			opts: base,
			want: map[string]string{"ProxyJump": ""},
		},
		{
			name: "Options",
			host: "opts",
			opts: base,
			want: map[string]string{
				"StrictHostKeyChecking": StrictAcceptNew,
				"ConnectTimeout":        "1m30s",
				"ServerAliveInterval":   "15s",
				"ServerAliveCountMax":   "2",
				"BatchMode":             "true",
				"IdentitiesOnly":        "true",
				"IdentityAgent":         "/home/me/agent.sock",
				"UserKnownHostsFiles":   "/home/me/.ssh/kh1 /etc/kh2",
				"HostKeyAlias":          "opts-alias",
			},
		},
		{
			name: "QuotedValue",
			host: "quoted",
			opts: base,
			want: map[string]string{"IdentityFiles": "/home/me/my keys/id"},
		},
		{
			name: "NoConfig",
			host: "example.org",
			opts: with(func(o *Options) { o.ConfigFile = "none" }),
			want: map[string]string{
				"HostName":              "example.org",
				"Port":                  "22",
				"User":                  "me",
				"StrictHostKeyChecking": StrictAsk,
				"ServerAliveInterval":   "0s",
				"BatchMode":             "false",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Resolve(tt.host, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := fields(c)
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("%s = %q, want %q", k, got[k], want)
				}
			}
		})
	}
}

// TestResolveJumpHops checks that each hop is resolved through the config
// as a host of its own, and that only the first hop keeps its proxies.
func TestResolveJumpHops(t *testing.T) {
	c, err := Resolve("app.internal", Options{ConfigFile: "testdata/config", Home: "/h", LocalUser: "me"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ProxyJump) != 1 {
		t.Fatalf("ProxyJump = %d hops, want 1", len(c.ProxyJump))
	}
	hop := c.ProxyJump[0]
	if hop.Alias != "bastion" || hop.Addr() != "bastion.example.com:2222" || hop.IdentityFiles[0] != "/h/.ssh/bastion" {
		t.Errorf("hop = %+v", hop)
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name    string
		host    string
		opts    Options
		wantErr string
	}{
		{name: "BadPort", host: "badport", wantErr: `Port: invalid port "70000"`},
		{name: "UnknownToken", host: "badtoken", wantErr: "unknown token %z"},
		{name: "BadStrict", host: "badstrict", wantErr: `StrictHostKeyChecking: want yes, no, ask or accept-new, not "maybe"`},
		{name: "MissingConfigFile", host: "x", opts: Options{ConfigFile: "testdata/missing"}, wantErr: "testdata/missing"},
		{name: "EmptyHost", host: "", wantErr: "empty host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			if o.ConfigFile == "" {
				o.ConfigFile = "testdata/config"
			}
			o.Home, o.LocalUser = "/h", "me"
			_, err := Resolve(tt.host, o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Resolve = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestResolveDefaultFiles checks that without -F the user's config is
// read from Home, and the system's from SystemConfigFile after it.
func TestResolveDefaultFiles(t *testing.T) {
	home := t.TempDir()
	if err := os.Mkdir(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	user := "Host box\n  Port 1111\n"
	system := "Host *\n  Port 2222\n  User sys\n"
	sysPath := filepath.Join(t.TempDir(), "ssh_config")
	for p, s := range map[string]string{filepath.Join(home, ".ssh", "config"): user, sysPath: system} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Resolve("box", Options{Home: home, LocalUser: "me", SystemConfigFile: sysPath})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 1111 || c.User != "sys" {
		t.Errorf("Port %d, User %q; want the user's 1111 and the system's sys", c.Port, c.User)
	}
	if want := filepath.Join(home, ".ssh", "id_ed25519"); c.IdentityFiles[0] != want {
		t.Errorf("IdentityFiles[0] = %q, want %q", c.IdentityFiles[0], want)
	}
}

func TestParseJump(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    jump
		wantErr bool
	}{
		{name: "Host", in: "bastion", want: jump{host: "bastion"}},
		{name: "UserHostPort", in: "me@bastion:2222", want: jump{user: "me", host: "bastion", port: 2222}},
		{name: "URL", in: "ssh://me@bastion:2222", want: jump{user: "me", host: "bastion", port: 2222}},
		{name: "UserWithAt", in: "me@corp@bastion", want: jump{user: "me@corp", host: "bastion"}},
		{name: "IPv6", in: "[fd00::1]:22", want: jump{host: "fd00::1", port: 22}},
		{name: "BareIPv6", in: "fd00::1", want: jump{host: "fd00::1"}},
		{name: "BadPort", in: "bastion:x", wantErr: true},
		{name: "EmptyHost", in: "me@", wantErr: true},
		{name: "EmptyUser", in: "@bastion", wantErr: true},
		{name: "Unclosed", in: "[fd00::1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseJump(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Errorf("parseJump(%q) = %+v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parseJump(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{name: "Seconds", in: "30", want: 30 * time.Second},
		{name: "Units", in: "1h2m3s", want: time.Hour + 2*time.Minute + 3*time.Second},
		{name: "Week", in: "1w", want: 7 * 24 * time.Hour},
		{name: "BadUnit", in: "5x", wantErr: true},
		{name: "NoNumber", in: "m", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTime(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseTime(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestResolveMatch checks that Match blocks the ssh_config library cannot
// evaluate are ignored, with a warning, rather than failing the file.
func TestResolveMatch(t *testing.T) {
	tests := []struct {
		name     string
		host     string
		wantPort int
	}{
		{name: "HostList", host: "m2", wantPort: 3001},
		{name: "OriginalHost", host: "m3", wantPort: 3003},
		{name: "ExecIgnored", host: "other", wantPort: 3005},
		{name: "SeveralCriteriaIgnored", host: "x", wantPort: 3005},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			c, err := Resolve(tt.host, Options{
				ConfigFile: "testdata/match", Home: "/h", LocalUser: "me",
				Logger: slog.New(slog.NewTextHandler(&log, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.Port != tt.wantPort {
				t.Errorf("Port = %d, want %d", c.Port, tt.wantPort)
			}
			for _, line := range []string{"line=4", "line=8"} {
				if !strings.Contains(log.String(), line) {
					t.Errorf("no warning about %s in %q", line, log.String())
				}
			}
		})
	}
}
