package ignore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strings"
	"syscall"
)

// maxIncludeDepth is how deep include.path directives may nest (config.c:
// MAX_INCLUDE_DEPTH).
const maxIncludeDepth = 10

// configReader collects core.excludesFile from git config files read in
// increasing precedence. It follows config.c's parser, byte for byte where
// it matters for that one key: sections and keys are case-insensitive,
// subsections are not; values may be quoted, continue over lines with a
// trailing backslash, use the escapes \\ \" \n \t \b, and end at an
// unquoted '#' or ';'; unquoted runs of white space inside a value become
// single spaces each and white space at its ends is dropped.
type configReader struct {
	home         string  // $HOME, for "~/" in include paths
	excludesFile *string // the last value seen, nil if none
}

// file reads the config file name, included depth levels deep. A missing
// file is no error, nor at the top level an unreadable one.
func (c *configReader) file(name string, depth int) error {
	b, err := os.ReadFile(name)
	switch {
	case errors.Is(err, fs.ErrNotExist) || isNotDir(err):
		return nil
	case errors.Is(err, fs.ErrPermission) && depth == 0:
		return nil
	case errors.Is(err, syscall.EISDIR):
		// git reads a directory as an empty file.
		return nil
	case err != nil:
		return fmt.Errorf("%w: read %s: %w", ErrConfig, name, err)
	}
	return c.parse(b, name, depth)
}

// configScanner reads a config file a byte at a time as config.c's
// get_next_char does: "\r\n" reads as '\n', and the end of the data reads
// as '\n' with eof set.
type configScanner struct {
	data []byte
	pos  int
	eof  bool
	line int
}

func (s *configScanner) next() byte {
	if s.pos >= len(s.data) {
		s.eof = true
		return '\n'
	}
	c := s.data[s.pos]
	s.pos++
	if c == '\r' && s.pos < len(s.data) && s.data[s.pos] == '\n' {
		s.pos++
		c = '\n'
	}
	if c == '\n' {
		s.line++
	}
	return c
}

// configSpace is git's isspace, which leaves out '\v' and '\f'.
func configSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

func configAlpha(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func configKeyChar(c byte) bool {
	return configAlpha(c) || '0' <= c && c <= '9' || c == '-'
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// parse parses the contents of the config file name (config.c:
// git_parse_source).
func (c *configReader) parse(data []byte, name string, depth int) error {
	s := &configScanner{data: bytes.TrimPrefix(data, utf8BOM), line: 1}
	bad := func() error {
		return fmt.Errorf("%w: bad config line %d in file %s", ErrConfig, s.line, name)
	}
	var section []byte // the current section name and a '.'
	comment := false
	for {
		ch := s.next()
		switch {
		case ch == '\n':
			if s.eof {
				return nil
			}
			comment = false
			continue
		case comment || configSpace(ch):
			continue
		case ch == '#' || ch == ';':
			comment = true
			continue
		case ch == '[':
			sec, ok := s.section()
			if !ok || len(sec) == 0 {
				return bad()
			}
			section = append(sec, '.')
			continue
		case !configAlpha(ch):
			return bad()
		}
		key := append(append([]byte(nil), section...), lower(ch))
		for {
			ch = s.next()
			if s.eof || !configKeyChar(ch) {
				break
			}
			key = append(key, lower(ch))
		}
		for ch == ' ' || ch == '\t' {
			ch = s.next()
		}
		var value *string
		if ch != '\n' {
			if ch != '=' {
				return bad()
			}
			v, ok := s.value()
			if !ok {
				return bad()
			}
			value = &v
		}
		if err := c.set(string(key), value, name, depth); err != nil {
			return err
		}
	}
}

// section reads a section header after its '[' and returns the
// lower-cased section name, with ".subsection" if there is one.
func (s *configScanner) section() ([]byte, bool) {
	var name []byte
	for {
		ch := s.next()
		switch {
		case s.eof:
			return nil, false
		case ch == ']':
			return name, true
		case configSpace(ch):
			for {
				if ch == '\n' {
					return nil, false
				}
				ch = s.next()
				if !configSpace(ch) {
					break
				}
			}
			if ch != '"' {
				return nil, false
			}
			name = append(name, '.')
			for {
				ch = s.next()
				if ch == '\n' {
					return nil, false
				}
				if ch == '"' {
					break
				}
				if ch == '\\' {
					if ch = s.next(); ch == '\n' {
						return nil, false
					}
				}
				name = append(name, ch)
			}
			return name, s.next() == ']'
		case !configKeyChar(ch) && ch != '.':
			return nil, false
		}
		name = append(name, lower(ch))
	}
}

// value reads a value after its '=' up to the end of its line (config.c:
// parse_value). ok is false for an unterminated quote or an unknown
// escape.
func (s *configScanner) value() (v string, ok bool) {
	var b []byte
	quote, comment := false, false
	spaces := 0
	for {
		ch := s.next()
		if ch == '\n' {
			return string(b), !quote
		}
		if comment {
			continue
		}
		if configSpace(ch) && !quote {
			if len(b) > 0 {
				spaces++
			}
			continue
		}
		if !quote && (ch == ';' || ch == '#') {
			comment = true
			continue
		}
		for ; spaces > 0; spaces-- {
			b = append(b, ' ')
		}
		switch ch {
		case '\\':
			switch ch = s.next(); ch {
			case '\n':
				continue
			case 't':
				ch = '\t'
			case 'b':
				ch = '\b'
			case 'n':
				ch = '\n'
			case '\\', '"':
			default:
				return "", false
			}
		case '"':
			quote = !quote
			continue
		}
		b = append(b, ch)
	}
}

// set handles one variable of the config file name; value is nil for a
// key without '='.
func (c *configReader) set(key string, value *string, name string, depth int) error {
	switch key {
	case "core.excludesfile":
		if value == nil {
			return fmt.Errorf("%w: missing value for 'core.excludesfile' in %s", ErrConfig, name)
		}
		v := *value
		c.excludesFile = &v
	case "include.path":
		if value == nil {
			return fmt.Errorf("%w: missing value for 'include.path' in %s", ErrConfig, name)
		}
		if strings.HasPrefix(*value, "%(prefix)/") {
			return nil // relative to git's installation, unknown here
		}
		p, err := expandPath(*value, c.home)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(p, "/") {
			if i := strings.LastIndexByte(name, '/'); i >= 0 {
				p = name[:i+1] + p
			}
		}
		if depth+1 > maxIncludeDepth {
			return fmt.Errorf("%w: include.path nested deeper than %d at %s", ErrConfig, maxIncludeDepth, p)
		}
		return c.file(p, depth+1)
	}
	return nil
}

// expandPath expands a leading "~" or "~user" in a configured path as
// git's interpolate_path does. An error wraps ErrConfig.
func expandPath(p, home string) (string, error) {
	if !strings.HasPrefix(p, "~") {
		return p, nil
	}
	slash := strings.IndexByte(p, '/')
	if slash < 0 {
		slash = len(p)
	}
	if name := p[1:slash]; name != "" {
		u, err := user.Lookup(name)
		if err != nil {
			return "", fmt.Errorf("%w: failed to expand user dir in %q: %w", ErrConfig, p, err)
		}
		return u.HomeDir + p[slash:], nil
	}
	if home == "" {
		return "", fmt.Errorf("%w: failed to expand user dir in %q: HOME is not set", ErrConfig, p)
	}
	return home + p[slash:], nil
}
