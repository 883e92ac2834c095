package daemon

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fcp-dev/fcp/internal/endpoint"
)

// FuzzPreAuth feeds arbitrary bytes to fcpd's SSH server as a client's
// side of a connection: everything fcpd parses before a client is
// authenticated (the version line, key exchange, the authentication
// requests and the key check). It must fail without authenticating,
// panicking or hanging.
func FuzzPreAuth(f *testing.F) {
	f.Add([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"))
	f.Add([]byte("SSH-2.0-x\r\n\x00\x00\x00\x0c\x0a\x14abcdefghij"))
	f.Add(append([]byte("SSH-2.0-x\r\n"), bytes.Repeat([]byte{0xff}, 64)...))
	f.Add([]byte("SSH-1.5-old\r\n"))
	host := fuzzSigner(f)
	srv := &Server{log: slog.New(slog.DiscardHandler), keyFiles: []*keyFile{{path: "/nonexistent", log: slog.New(slog.DiscardHandler)}}}
	cfg := &ssh.ServerConfig{PublicKeyCallback: srv.checkKey, ServerVersion: "SSH-2.0-fcpd_fuzz", MaxAuthTries: 6}
	cfg.AddHostKey(host)
	f.Fuzz(func(t *testing.T, data []byte) {
		server, client := net.Pipe()
		defer client.Close()
		server.SetDeadline(time.Now().Add(2 * time.Second))
		go func() {
			client.Write(data)
			client.Close()
		}()
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := client.Read(buf); err != nil {
					return
				}
			}
		}()
		sc, _, _, err := ssh.NewServerConn(server, cfg)
		if err == nil {
			sc.Close()
			t.Fatal("a fuzzed client was authenticated")
		}
		server.Close()
	})
}

func fuzzSigner(f *testing.F) ssh.Signer {
	f.Helper()
	// A fixed key: fuzzing needs no secrecy, and a fixed one keeps runs
	// reproducible.
	s, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// FuzzParseConfig checks that any configuration file either fails with
// ErrConfig or yields roots that are named and absolute.
func FuzzParseConfig(f *testing.F) {
	f.Add("listen = :7523\n[data]\npath = /srv/data\nread_only = yes\n")
	f.Add("max_sessions = 3\nidle_timeout = 0\nmemory_limit = 1G\n[a]\npath=/a\n[b]\npath = /b\nauthorized_keys = k\n")
	f.Add("[\n")
	f.Add("=\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseConfig(strings.NewReader(text), "/etc/fcpd")
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v is not ErrConfig", err)
			}
			return
		}
		for _, r := range c.Roots {
			if validRootName(r.Name) != nil || !strings.HasPrefix(r.Path, "/") {
				t.Fatalf("accepted root %+v", r)
			}
		}
	})
}

// FuzzAuthorizedKeys parses arbitrary authorized_keys files: every key
// accepted must come from a line without options fcpd cannot honour.
func FuzzAuthorizedKeys(f *testing.F) {
	f.Add([]byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMaq31JdODZhE2WoyFv0mEfxvoNdDqFjSbxV5oJoCdRd a@b\n"))
	f.Add([]byte("from=\"10.0.0.1\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMaq31JdODZhE2WoyFv0mEfxvoNdDqFjSbxV5oJoCdRd\n# c\n\n"))
	f.Add([]byte("restrict,no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMaq31JdODZhE2WoyFv0mEfxvoNdDqFjSbxV5oJoCdRd\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys := parseAuthorizedKeys(data, "fuzz", slog.New(slog.DiscardHandler))
		if len(keys) > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("%d keys from %d lines", len(keys), bytes.Count(data, []byte("\n"))+1)
		}
	})
}

// FuzzSplitHostPath checks that a client's path either is refused or
// names a root and a valid path inside it that does not climb.
func FuzzSplitHostPath(f *testing.F) {
	for _, s := range []string{"/data/x", "data", "/", "/data/../etc", "~", "//a//./b/", "/a/b/.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		name, rel, err := splitHostPath(p)
		if err != nil {
			if !errors.Is(err, endpoint.ErrInvalidPath) {
				t.Fatalf("error %v is not ErrInvalidPath", err)
			}
			return
		}
		if name == "" || strings.Contains(name, "/") || name == ".." || name == "." {
			t.Fatalf("splitHostPath(%q) root %q", p, name)
		}
		if rel == "." {
			return
		}
		for _, c := range strings.Split(rel, "/") {
			if c == "" || c == "." || c == ".." {
				t.Fatalf("splitHostPath(%q) rel %q", p, rel)
			}
		}
	})
}
