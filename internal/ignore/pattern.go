package ignore

import (
	"bytes"
	"strings"
)

// pattern is one parsed line of a pattern file (dir.c: struct
// path_pattern). Patterns are immutable once parsed.
type pattern struct {
	// text is the line without a leading '!' and one trailing '/'. It
	// keeps a leading '/' and all backslashes.
	text string
	// literal is the length of the prefix of text before its first
	// glob-special byte (*, ?, [ or \).
	literal  int
	negative bool // the line started with '!'
	dirOnly  bool // the line ended with '/'
	// basename is set when text contains no '/': the pattern is then
	// matched against the last component of a path, at any depth.
	basename bool
	// suffix is set when text is '*' followed by a literal: it matches
	// the names ending in text[1:].
	suffix bool
}

// utf8BOM is skipped at the start of a pattern file, as git does.
var utf8BOM = []byte("\xef\xbb\xbf")

// parse returns the patterns of a pattern file in file order, following
// add_patterns_from_buffer in git's dir.c: lines end at '\n' (a '\r'
// before it is dropped); empty lines and lines starting with '#' are
// skipped; a line stops at its first NUL byte; trailing spaces are dropped
// unless escaped with a backslash. Lines that can never match anything
// (empty after trimming) are dropped. parse does not keep content.
func parse(content []byte) []pattern {
	content = bytes.TrimPrefix(content, utf8BOM)
	var out []pattern
	for len(content) > 0 {
		line, rest, _ := bytes.Cut(content, []byte{'\n'})
		content = rest
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if i := bytes.IndexByte(line, 0); i >= 0 {
			line = line[:i]
		}
		if p, ok := newPattern(trimTrailingSpaces(string(line))); ok {
			out = append(out, p)
		}
	}
	return out
}

// trimTrailingSpaces drops the run of spaces (not tabs) that ends s,
// unless the first of them is escaped by a backslash, which then stays
// in the pattern.
func trimTrailingSpaces(s string) string {
	end := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			if end < 0 {
				end = i
			}
			continue
		case '\\':
			i++
			if i == len(s) {
				return s
			}
		}
		end = -1
	}
	if end >= 0 {
		return s[:end]
	}
	return s
}

// newPattern parses one trimmed line (dir.c: parse_path_pattern). ok is
// false for a line that matches nothing.
func newPattern(s string) (p pattern, ok bool) {
	if strings.HasPrefix(s, "!") {
		p.negative = true
		s = s[1:]
	}
	if strings.HasSuffix(s, "/") {
		p.dirOnly = true
		s = s[:len(s)-1]
	}
	if s == "" {
		return p, false
	}
	p.text = s
	p.literal = len(s)
	if i := strings.IndexAny(s, `*?[\`); i >= 0 {
		p.literal = i
	}
	p.basename = !strings.Contains(s, "/")
	p.suffix = s[0] == '*' && !strings.ContainsAny(s[1:], `*?[\`)
	return p, true
}

// matches reports whether p matches the path of an entry. path is
// relative to the directory of the pattern's file; name is its last
// component. The caller has checked dirOnly.
func (p *pattern) matches(path, name string) bool {
	if p.basename {
		switch {
		case p.literal == len(p.text):
			return name == p.text
		case p.suffix:
			return strings.HasSuffix(name, p.text[1:])
		}
		return wildmatch(p.text, name, false)
	}
	text, literal := p.text, p.literal
	if text[0] == '/' {
		text, literal = text[1:], literal-1
	}
	if literal > 0 {
		if !strings.HasPrefix(path, text[:literal]) {
			return false
		}
		text, path = text[literal:], path[literal:]
		if text == "" && path == "" {
			return true
		}
	}
	return wildmatch(text, path, true)
}

// lastMatch returns the last pattern of ps that matches path (see
// matches), or nil if none does.
func lastMatch(ps []pattern, path, name string, isDir bool) *pattern {
	for i := len(ps) - 1; i >= 0; i-- {
		p := &ps[i]
		if p.dirOnly && !isDir {
			continue
		}
		if p.matches(path, name) {
			return p
		}
	}
	return nil
}
