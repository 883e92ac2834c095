package sshdial

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHostsName returns the name under which c's host keys are looked up
// and recorded, as "host:port" for knownhosts: HostKeyAlias alone (as
// OpenSSH, which ignores the port then), or HostName and Port, which
// knownhosts writes as "[host]:port" unless the port is 22.
func knownHostsName(c *Config) string {
	if c.HostKeyAlias != "" {
		return net.JoinHostPort(c.HostKeyAlias, "22")
	}
	return c.Addr()
}

// placeholderAddr stands for the server's address in knownhosts calls,
// which require a TCP address but look up the name when one is given:
// through a ProxyJump or ProxyCommand there is no meaningful address.
var placeholderAddr = &net.TCPAddr{IP: net.IPv4zero}

// knownHosts returns a callback over c's existing known_hosts files, or
// nil when there are none. The caller holds d.knownMu.
func (d *Dialer) knownHosts(c *Config) (ssh.HostKeyCallback, error) {
	var files []string
	for _, f := range slices.Concat(c.UserKnownHostsFiles, c.GlobalKnownHostsFiles) {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return nil, nil
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("%w: reading known hosts: %w", ErrHostKey, err)
	}
	return cb, nil
}

// knownAlgorithms returns the host key algorithms to accept from c's host:
// those of the keys known for it, so that the server does not pick a key
// of another type, which the knownhosts package would report as changed;
// nil (any algorithm) when no key is known.
func (d *Dialer) knownAlgorithms(c *Config) ([]string, error) {
	d.knownMu.Lock()
	defer d.knownMu.Unlock()
	cb, err := d.knownHosts(c)
	if err != nil || cb == nil {
		return nil, err
	}
	probe, err := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	if err != nil {
		return nil, fmt.Errorf("sshdial: probe key: %w", err)
	}
	var ke *knownhosts.KeyError
	if err := cb(knownHostsName(c), placeholderAddr, probe); !errors.As(err, &ke) {
		return nil, nil
	}
	types := map[string]bool{}
	for _, k := range ke.Want {
		types[k.Key.Type()] = true
	}
	var algos []string
	for _, a := range ssh.SupportedAlgorithms().HostKeys {
		if types[keyTypeOf(a)] {
			algos = append(algos, a)
		}
	}
	return algos, nil
}

// keyTypeOf returns the key type that host key algorithm algo signs
// with: RSA keys sign with three algorithms.
func keyTypeOf(algo string) string {
	switch algo {
	case ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512:
		return ssh.KeyAlgoRSA
	}
	return algo
}

// keyKind returns how OpenSSH names the type of key in messages.
func keyKind(key ssh.PublicKey) string {
	switch t := key.Type(); {
	case t == ssh.KeyAlgoED25519:
		return "ED25519"
	case t == ssh.KeyAlgoSKED25519:
		return "ED25519-SK"
	case t == ssh.KeyAlgoSKECDSA256:
		return "ECDSA-SK"
	case strings.HasPrefix(t, "ecdsa-"):
		return "ECDSA"
	case t == ssh.KeyAlgoRSA:
		return "RSA"
	case t == ssh.KeyAlgoDSA:
		return "DSA"
	default:
		return t
	}
}

// checkHostKey decides whether key is c's host key, as OpenSSH does (see
// the package documentation), asking the Prompter if it must. Accepted
// unknown keys are appended to c's first UserKnownHostsFile and
// remembered, so that concurrent and later connections neither ask nor
// append again.
func (d *Dialer) checkHostKey(c *Config, key ssh.PublicKey) error {
	d.knownMu.Lock()
	defer d.knownMu.Unlock()
	name := knownHostsName(c)
	host := knownhosts.Normalize(name)
	fp := keyKind(key) + " key " + ssh.FingerprintSHA256(key)
	memo := host + " " + string(key.Marshal())

	d.mu.Lock()
	accepted := d.accepted[memo]
	d.mu.Unlock()
	if accepted {
		return nil
	}
	cb, err := d.knownHosts(c)
	if err != nil {
		return err
	}
	if cb != nil {
		err = cb(name, placeholderAddr, key)
	} else {
		err = &knownhosts.KeyError{}
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return fmt.Errorf("%w: the %s of %s is marked as revoked in %s:%d", ErrHostKey, fp, host, re.Revoked.Filename, re.Revoked.Line)
	case errors.As(err, &ke) && len(ke.Want) > 0:
		old := ke.Want[0]
		return fmt.Errorf("%w: WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for %s: it offered %s, "+
			"but %s:%d holds another %s key for it; someone may be eavesdropping (a man-in-the-middle attack), "+
			"or the host key was replaced, in which case remove that line; refusing to connect",
			ErrHostKey, host, fp, old.Filename, old.Line, keyKind(old.Key))
	case !errors.As(err, &ke):
		return fmt.Errorf("%w: %s: %w", ErrHostKey, host, err)
	}

	where := "no known_hosts file"
	if len(c.UserKnownHostsFiles) > 0 {
		where = strings.Join(slices.Concat(c.UserKnownHostsFiles, c.GlobalKnownHostsFiles), ", ")
	}
	unknown := fmt.Sprintf("unknown host %s: its %s is not in %s", host, fp, where)
	switch c.StrictHostKeyChecking {
	case StrictNo, StrictAcceptNew:
	case StrictYes:
		return fmt.Errorf("%w: %s, and StrictHostKeyChecking is yes", ErrHostKey, unknown)
	default:
		if c.BatchMode || d.Prompter == nil {
			return fmt.Errorf("%w: %s, and there is no terminal to confirm it", ErrHostKey, unknown)
		}
		d.promptMu.Lock()
		ok, err := d.Prompter.Confirm(fmt.Sprintf("The authenticity of host '%s' can't be established.\n"+
			"%s fingerprint is %s.\n"+
			"Are you sure you want to continue connecting (yes/no)? ",
			host, keyKind(key)+" key", ssh.FingerprintSHA256(key)))
		d.promptMu.Unlock()
		switch {
		case errors.Is(err, ErrNoTerminal):
			return fmt.Errorf("%w: %s, and there is no terminal to confirm it", ErrHostKey, unknown)
		case err != nil:
			return fmt.Errorf("%w: %s: %w", ErrHostKey, unknown, err)
		case !ok:
			return fmt.Errorf("%w: %s, and it was not accepted", ErrHostKey, unknown)
		}
	}

	d.mu.Lock()
	if d.accepted == nil {
		d.accepted = make(map[string]bool)
	}
	d.accepted[memo] = true
	d.mu.Unlock()
	if len(c.UserKnownHostsFiles) == 0 {
		return nil
	}
	file := c.UserKnownHostsFiles[0]
	if err := appendKnownHost(file, name, key); err != nil {
		d.logger().Warn("could not record the host key", "host", host, "err", err)
		return nil
	}
	d.logger().Warn("permanently added the host key to the list of known hosts", "host", host, "key", fp, "file", file)
	return nil
}

// appendKnownHost appends a known_hosts line for name, "host:port" (as
// knownhosts writes it, "[host]:port" unless the port is 22), and key to
// file, creating the file and its directory when missing.
func appendKnownHost(file, name string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	line := knownhosts.Line([]string{name}, key) + "\n"
	// Start on a line of our own if the file does not end in a newline.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err != nil && !errors.Is(err, io.EOF) {
			f.Close()
			return err
		}
		if last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
