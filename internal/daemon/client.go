package daemon

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/crypto/ssh"
)

// ErrRefused marks a session request that fcpd refused; the error's text
// is its reason.
var ErrRefused = errors.New("fcpd refused")

// Session is the client's side of a session: the connections of one run
// join it one after the other. Its zero value starts a new session on the
// first Join; it is safe for concurrent use.
type Session struct {
	mu sync.Mutex
	id []byte
}

// Join attaches client, a new authenticated connection to fcpd, to the
// session: the first connection starts it, later ones join it. If fcpd no
// longer knows the session (every connection of it was lost, say), Join
// starts a new one.
func (s *Session) Join(client *ssh.Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id != nil {
		ok, reply, err := client.SendRequest(SessionRequest, true, s.id)
		if err != nil {
			return fmt.Errorf("joining the session: %w", err)
		}
		if ok && len(reply) == sessionIDLen {
			return nil
		}
		s.id = nil
	}
	ok, reply, err := client.SendRequest(SessionRequest, true, nil)
	switch {
	case err != nil:
		return fmt.Errorf("starting a session: %w", err)
	case !ok:
		return fmt.Errorf("%w: %s", ErrRefused, printable(reply))
	case len(reply) != sessionIDLen:
		return fmt.Errorf("starting a session: reply of %d bytes", len(reply))
	}
	s.id = reply
	return nil
}

// printable keeps a peer's text from reaching a terminal as control
// characters.
func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, string(b))
}
