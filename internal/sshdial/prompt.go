package sshdial

import "errors"

// ErrNoTerminal is returned by a Prompter that has no terminal to ask on.
// A Dialer then goes on without what it would have asked for: it skips
// the encrypted key, stops trying passwords, refuses the unknown host key.
var ErrNoTerminal = errors.New("sshdial: no terminal")

// Prompter asks the user. A Dialer calls it from the goroutines of its
// Dial calls, one call at a time (a Dialer serialises its prompts), so an
// implementation need not be safe for concurrent use by one Dialer.
type Prompter interface {
	// Password shows prompt and reads a line without echoing it: a
	// passphrase, a password or a keyboard-interactive answer. It
	// returns ErrNoTerminal (possibly wrapped) when it cannot ask.
	Password(prompt string) (string, error)
	// Confirm shows prompt, a question that may span lines, and reports
	// whether the user answered yes. It returns ErrNoTerminal (possibly
	// wrapped) when it cannot ask.
	Confirm(prompt string) (bool, error)
}

// Terminal is a Prompter on the process's controlling terminal,
// /dev/tty, as ssh(1) asks, so that prompts work while standard input and
// output carry data. Each call opens the terminal afresh; without one,
// calls return ErrNoTerminal. Password restores echo before it returns.
type Terminal struct{}
