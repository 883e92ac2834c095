package transport

import (
	"errors"
	"fmt"
)

// ErrRsh means a remote-shell command (rsync's -e/--rsh) could not be
// parsed.
var ErrRsh = errors.New("transport: invalid remote-shell command")

// RshArgv returns the argv that runs remoteArgv at userHost through the
// remote-shell command rsh, the way rsync does with -e/--rsh: rsh split into
// words, then userHost ("host" or "user@host"; for `docker exec -i` a
// container, for `ip netns exec` a namespace), then remoteArgv.
//
// rsh is split as rsync splits it (main.c, do_cmd): words are separated by
// spaces or tabs; single or double quotes group text containing them, and
// inside quotes a doubled quote character stands for itself (so
// "'it”s'" is the word it's). Nothing else is interpreted: no
// backslashes, variables or globs. A missing closing quote is an error
// wrapping ErrRsh, and so is an rsh with no words or an empty userHost.
func RshArgv(rsh string, userHost string, remoteArgv ...string) ([]string, error) {
	words, err := splitRsh(rsh)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("%w: %q names no command", ErrRsh, rsh)
	}
	if userHost == "" {
		return nil, fmt.Errorf("%w: no host for %q", ErrRsh, rsh)
	}
	argv := append(words, userHost)
	return append(argv, remoteArgv...), nil
}

// splitRsh splits s into words as described at RshArgv.
func splitRsh(s string) ([]string, error) {
	var (
		words []string
		word  []byte
		in    bool // inside a word
		quote byte // the open quote character, or 0
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			if i+1 < len(s) && s[i+1] == quote {
				word = append(word, c)
				i++
			} else {
				quote = 0
			}
		case quote != 0:
			word = append(word, c)
		case c == ' ' || c == '\t':
			if in {
				words = append(words, string(word))
				word, in = word[:0], false
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		default:
			word, in = append(word, c), true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("%w: missing closing %c in %q", ErrRsh, quote, s)
	}
	if in {
		words = append(words, string(word))
	}
	return words, nil
}
