package daemon

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// LoadHostKeys reads the host keys in files, generating an Ed25519 key
// (mode 0600, its directory made 0700 if missing) for a file that does not
// exist, as sshd-keygen does on first boot. A key file readable by others
// than its owner is refused.
func LoadHostKeys(files []string) ([]ssh.Signer, error) {
	var signers []ssh.Signer
	for _, f := range files {
		s, err := loadHostKey(f)
		if err != nil {
			return nil, err
		}
		signers = append(signers, s)
	}
	return signers, nil
}

func loadHostKey(file string) (ssh.Signer, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		if err := generateHostKey(file); err != nil {
			return nil, fmt.Errorf("host key %s: %w", file, err)
		}
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	if fi, err := os.Stat(file); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("host key %s: mode %04o lets others read it; chmod 600 it", file, fi.Mode().Perm())
	}
	s, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("host key %s: %w", file, err)
	}
	return s, nil
}

// generateHostKey writes a new Ed25519 private key to file, atomically.
func generateHostKey(file string) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "fcpd host key")
	if err != nil {
		return err
	}
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".host-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(pem.EncodeToMemory(block)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), file); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
