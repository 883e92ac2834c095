package filter

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Rule kinds, the text before the first space of a rule.
const (
	KindInclude = "+"
	KindExclude = "-"
	KindRegexp  = "-re"
	// KindGit asks the scanner to leave out what git ignores, with git's
	// rules read from the scanned tree (package ignore); its pattern is
	// ".". Match does not apply it: it needs the files of the tree.
	KindGit = "git"
)

// ErrBadRule is wrapped by every error Compile and FromFlags return.
var ErrBadRule = errors.New("filter: invalid rule")

// Filter is a compiled list of rules. It is immutable and safe for
// concurrent use; the nil *Filter includes everything.
type Filter struct {
	includes []glob
	excludes []glob
	regexps  []*regexp.Regexp
	git      bool
}

// glob is a compiled glob. comps holds path.Match patterns and "**"; a glob
// not anchored at the root starts with an implicit "**".
type glob struct {
	comps   []string
	dirOnly bool
}

// Compile parses rules in the text form described in the package
// documentation. An error wraps ErrBadRule and names the offending rule.
func Compile(rules []string) (*Filter, error) {
	f := &Filter{}
	for _, r := range rules {
		kind, pat, ok := strings.Cut(r, " ")
		if !ok || pat == "" {
			return nil, fmt.Errorf("%w %q: want KIND SPACE PATTERN", ErrBadRule, r)
		}
		switch kind {
		case KindInclude:
			g, err := compileInclude(pat)
			if err != nil {
				return nil, fmt.Errorf("%w %q: %w", ErrBadRule, r, err)
			}
			f.includes = append(f.includes, g)
		case KindExclude:
			g, err := compileGlob(pat)
			if err != nil {
				return nil, fmt.Errorf("%w %q: %w", ErrBadRule, r, err)
			}
			f.excludes = append(f.excludes, g)
		case KindRegexp:
			re, err := regexp.Compile(pat)
			if err != nil {
				return nil, fmt.Errorf("%w %q: %w", ErrBadRule, r, err)
			}
			f.regexps = append(f.regexps, re)
		case KindGit:
			if pat != "." {
				return nil, fmt.Errorf("%w %q: the pattern of %s is \".\"", ErrBadRule, r, KindGit)
			}
			f.git = true
		default:
			return nil, fmt.Errorf("%w %q: unknown kind %q", ErrBadRule, r, kind)
		}
	}
	return f, nil
}

// Git reports whether the rules ask for git's ignore rules (KindGit).
func (f *Filter) Git() bool { return f != nil && f.git }

// Match reports whether the path (relative to the transfer root,
// slash-separated, never ".") is included, as described under Decisions in
// the package documentation. isDir tells whether it is a directory; an
// excluded directory is not entered.
func (f *Filter) Match(p string, isDir bool) bool {
	if f == nil || len(f.includes)+len(f.excludes)+len(f.regexps) == 0 {
		return true
	}
	var dirPath string
	if isDir && len(f.regexps) > 0 {
		dirPath = p + "/"
	}
	for _, re := range f.regexps {
		if re.MatchString(p) || isDir && re.MatchString(dirPath) {
			return false
		}
	}
	var parts []string
	if len(f.excludes) > 0 || !isDir && len(f.includes) > 0 {
		parts = strings.Split(p, "/")
	}
	for _, g := range f.excludes {
		if g.match(parts, isDir) {
			return false
		}
	}
	if isDir || len(f.includes) == 0 {
		return true
	}
	for _, g := range f.includes {
		if g.match(parts, false) {
			return true
		}
	}
	return false
}

// compileInclude compiles the glob of an include rule.
func compileInclude(pat string) (glob, error) {
	g, err := compileGlob(pat)
	if err != nil {
		return glob{}, err
	}
	if g.dirOnly {
		return glob{}, fmt.Errorf("glob %q ends in /, but include rules apply to files only", pat)
	}
	return g, nil
}

// compileGlob checks pat and splits it into components.
func compileGlob(pat string) (glob, error) {
	var g glob
	rest := pat
	anchored := strings.HasPrefix(rest, "/")
	rest = strings.TrimPrefix(rest, "/")
	if strings.HasSuffix(rest, "/") {
		g.dirOnly = true
		rest = strings.TrimSuffix(rest, "/")
	}
	if rest == "" {
		return glob{}, fmt.Errorf("glob %q has no components", pat)
	}
	if !anchored {
		g.comps = append(g.comps, "**")
	}
	for _, c := range strings.Split(rest, "/") {
		switch c {
		case "", ".", "..":
			return glob{}, fmt.Errorf("glob %q: empty, %q or %q component", pat, ".", "..")
		case "**":
			if n := len(g.comps); n > 0 && g.comps[n-1] == "**" {
				continue
			}
		default:
			if _, err := path.Match(c, ""); err != nil {
				return glob{}, fmt.Errorf("glob %q: %w", pat, err)
			}
		}
		g.comps = append(g.comps, c)
	}
	return g, nil
}

// match reports whether the components of a path match g as a whole. It
// is the classic wildcard match with "**" as the star: each other pattern
// component consumes exactly one path component, so backtracking to the
// last "**" seen is enough and the cost is O(len(g.comps)*len(parts)).
func (g glob) match(parts []string, isDir bool) bool {
	if g.dirOnly && !isDir {
		return false
	}
	pi, si := 0, 0
	star, starSi := -1, 0
	for si < len(parts) {
		switch {
		case pi < len(g.comps) && g.comps[pi] == "**":
			star, starSi = pi, si
			pi++
		case pi < len(g.comps) && matchComp(g.comps[pi], parts[si]):
			pi++
			si++
		case star >= 0:
			starSi++
			pi, si = star+1, starSi
		default:
			return false
		}
	}
	for pi < len(g.comps) && g.comps[pi] == "**" {
		pi++
	}
	return pi == len(g.comps)
}

// matchComp matches one path component; pat was checked by compileGlob.
func matchComp(pat, name string) bool {
	ok, _ := path.Match(pat, name)
	return ok
}
