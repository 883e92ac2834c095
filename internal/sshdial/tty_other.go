//go:build !unix

package sshdial

// Password implements Prompter; this platform has no terminal support.
func (Terminal) Password(prompt string) (string, error) { return "", ErrNoTerminal }

// Confirm implements Prompter; this platform has no terminal support.
func (Terminal) Confirm(prompt string) (bool, error) { return false, ErrNoTerminal }
