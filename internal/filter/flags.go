package filter

import (
	"fmt"
	"regexp"
	"strings"
)

// regexpOnly are the characters that make an exclude pattern a regexp too.
const regexpOnly = `^$+(){}|\`

// FromFlags builds rules from the values of --include, --exclude and
// --exclude-from, as described under Flags in the package documentation.
// excludeFrom holds the contents of the --exclude-from files, in the order
// the flags were given. The rules come out in the order includes,
// excludes, excludeFrom, and every one of them compiles. An error wraps
// ErrBadRule and names the flag and the pattern; for a file it gives the
// file's position among the --exclude-from flags (from 1) and the line.
func FromFlags(includes, excludes, excludeFrom []string) ([]string, error) {
	var rules []string
	for _, p := range includes {
		if _, err := compileInclude(p); err != nil {
			return nil, fmt.Errorf("%w: --include %q: %w", ErrBadRule, p, err)
		}
		rules = append(rules, KindInclude+" "+p)
	}
	for _, v := range excludes {
		for _, p := range splitPatterns(v) {
			rs, err := excludeRules(p)
			if err != nil {
				return nil, fmt.Errorf("%w: --exclude %q: %w", ErrBadRule, p, err)
			}
			rules = append(rules, rs...)
		}
	}
	for n, data := range excludeFrom {
		for i, line := range strings.Split(data, "\n") {
			p := strings.TrimSuffix(line, "\r")
			if strings.TrimSpace(p) == "" || p[0] == '#' {
				continue
			}
			rs, err := excludeRules(p)
			if err != nil {
				return nil, fmt.Errorf("%w: --exclude-from file %d, line %d: %q: %w", ErrBadRule, n+1, i+1, p, err)
			}
			rules = append(rules, rs...)
		}
	}
	return rules, nil
}

// splitPatterns splits one --exclude value at the commas that are not
// escaped by a backslash, trims spaces around each pattern and drops empty
// ones. Backslashes are kept: they mean the same in the glob or regexp.
func splitPatterns(v string) []string {
	var out []string
	start := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case ',':
			out = appendTrimmed(out, v[start:i])
			start = i + 1
		}
	}
	return appendTrimmed(out, v[start:])
}

func appendTrimmed(out []string, p string) []string {
	if p = strings.TrimSpace(p); p != "" {
		out = append(out, p)
	}
	return out
}

// excludeRules returns the rules for one exclude pattern: a glob, plus a
// regexp if the pattern has a regexp-only character, each only if it
// compiles.
func excludeRules(p string) ([]string, error) {
	_, gerr := compileGlob(p)
	if !strings.ContainsAny(p, regexpOnly) {
		if gerr != nil {
			return nil, gerr
		}
		return []string{KindExclude + " " + p}, nil
	}
	_, rerr := regexp.Compile(p)
	var rules []string
	if gerr == nil {
		rules = append(rules, KindExclude+" "+p)
	}
	if rerr == nil {
		rules = append(rules, KindRegexp+" "+p)
	}
	if rules == nil {
		return nil, fmt.Errorf("neither a glob (%w) nor a regexp (%w)", gerr, rerr)
	}
	return rules, nil
}
