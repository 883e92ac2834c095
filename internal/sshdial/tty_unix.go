//go:build unix

package sshdial

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"
)

// openTTY opens the controlling terminal, or returns ErrNoTerminal.
func openTTY() (*os.File, error) {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoTerminal, err)
	}
	if !term.IsTerminal(int(f.Fd())) {
		f.Close()
		return nil, ErrNoTerminal
	}
	return f, nil
}

// Password implements Prompter.
func (Terminal) Password(prompt string) (string, error) {
	tty, err := openTTY()
	if err != nil {
		return "", err
	}
	defer tty.Close()
	if _, err := tty.WriteString(prompt); err != nil {
		return "", fmt.Errorf("sshdial: terminal: %w", err)
	}
	b, err := term.ReadPassword(int(tty.Fd()))
	tty.WriteString("\n")
	if err != nil {
		return "", fmt.Errorf("sshdial: terminal: %w", err)
	}
	return string(b), nil
}

// Confirm implements Prompter: "yes" or "y" (in any case) is yes, "no",
// "n" or an empty line is no, and anything else is asked again.
func (Terminal) Confirm(prompt string) (bool, error) {
	tty, err := openTTY()
	if err != nil {
		return false, err
	}
	defer tty.Close()
	r := bufio.NewReader(tty)
	if _, err := tty.WriteString(prompt); err != nil {
		return false, fmt.Errorf("sshdial: terminal: %w", err)
	}
	for {
		line, err := r.ReadString('\n')
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "yes", "y":
			return true, nil
		case "no", "n", "":
			if err != nil && line == "" {
				return false, fmt.Errorf("sshdial: terminal: %w", err)
			}
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("sshdial: terminal: %w", err)
		}
		tty.WriteString("Please type 'yes' or 'no': ")
	}
}
