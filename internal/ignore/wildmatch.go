package ignore

import "strings"

// Results of dowild. Besides a match or a mismatch, a failed match can tell
// the enclosing '*' and "**" loops that no later starting point can succeed
// (abortAll), or that only an enclosing "**" may still succeed by letting
// its text run past a slash (abortToStarStar). This pruning is what keeps
// patterns like "*a*a*a*b" from taking exponential time.
const (
	wmMatch = iota
	wmNoMatch
	wmAbortAll
	wmAbortToStarStar
)

// wildmatch reports whether text matches the glob pattern as git's
// wildmatch does (wildmatch.c, by Rich Salz and Wayne Davison, public
// domain). With pathname, '*', '?' and bracket expressions do not match
// '/' and "**" between slashes (or at either end) matches any number of
// components; without it '*' and "**" match anything. Matching is on bytes
// and case-sensitive.
//
// git's algorithm takes time exponential in the number of "**/" in a
// pattern. The same algorithm runs here, but when it has made
// wildBudget calls it starts again remembering the result of each call,
// which depends only on where in the pattern and the text it starts, so
// that no pattern takes more than polynomial time.
func wildmatch(pattern, text string, pathname bool) bool {
	w := wild{p: pattern, t: text, pathname: pathname, budget: wildBudget}
	r := w.match(0, 0)
	if r == wmBudget {
		w.memo = make(map[[2]int]int)
		w.budget = -1
		r = w.match(0, 0)
	}
	return r == wmMatch
}

// wildBudget is the number of calls after which wildmatch memoizes.
const wildBudget = 1 << 12

// wmBudget is the result of a call that ran out of budget.
const wmBudget = -1

// wild is the state of one wildmatch.
type wild struct {
	p, t     string
	pathname bool
	budget   int            // calls left; negative: unlimited
	memo     map[[2]int]int // results by pattern and text offsets, or nil
}

// match matches the pattern from offset pi against the text from offset
// ti, which in git is a call of dowild with pointers into both.
func (w *wild) match(pi, ti int) int {
	if w.memo != nil {
		k := [2]int{pi, ti}
		if r, ok := w.memo[k]; ok {
			return r
		}
		r := w.dowild(pi, ti)
		w.memo[k] = r
		return r
	}
	if w.budget == 0 {
		return wmBudget
	}
	w.budget--
	return w.dowild(pi, ti)
}

// at returns s[i], or 0 past the end of s, so that the code can follow the
// C original, which runs over NUL-terminated strings. Neither patterns
// (cut at the first NUL when parsed) nor path names contain NUL.
func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// isGlobSpecial reports whether c has a meaning in a pattern.
func isGlobSpecial(c byte) bool {
	return c == '*' || c == '?' || c == '[' || c == '\\'
}

// dowild is git's dowild. The pattern starts at offset start of w.p, which
// matters to "**", and the text at offset ti of w.t.
func (w *wild) dowild(start, ti int) int {
	p, t, pathname := w.p, w.t, w.pathname
	pi := start
	for ; pi < len(p); pi, ti = pi+1, ti+1 {
		pc := p[pi]
		tc := at(t, ti)
		if tc == 0 && pc != '*' {
			return wmAbortAll
		}
		switch pc {
		case '\\':
			// A trailing backslash escapes the end of the pattern and
			// matches nothing: tc is never 0 here.
			pi++
			if tc != at(p, pi) {
				return wmNoMatch
			}
		default:
			if tc != pc {
				return wmNoMatch
			}
		case '?':
			if pathname && tc == '/' {
				return wmNoMatch
			}
		case '*':
			var matchSlash bool
			pi++
			if at(p, pi) == '*' {
				prev := pi - 2
				for pi++; at(p, pi) == '*'; pi++ {
				}
				switch {
				case !pathname:
					matchSlash = true
				case (prev < 0 || p[prev] == '/') &&
					(at(p, pi) == 0 || p[pi] == '/' || (p[pi] == '\\' && at(p, pi+1) == '/')):
					// "**/" may match no directory at all: "a/**/b"
					// matches "a/b".
					if at(p, pi) == '/' {
						switch w.match(pi+1, ti) {
						case wmMatch:
							return wmMatch
						case wmBudget:
							return wmBudget
						}
					}
					matchSlash = true
				default:
					// "**" not between slashes is a '*'.
					matchSlash = false
				}
			} else {
				matchSlash = !pathname
			}
			if pi >= len(p) {
				if !matchSlash && strings.IndexByte(t[ti:], '/') >= 0 {
					return wmNoMatch
				}
				return wmMatch
			}
			if !matchSlash && p[pi] == '/' {
				// "*/" matches the rest of one component; the loop
				// steps over both slashes.
				i := strings.IndexByte(t[ti:], '/')
				if i < 0 {
					return wmNoMatch
				}
				ti += i
				continue
			}
			for ti < len(t) {
				if c := p[pi]; !isGlobSpecial(c) {
					// A literal after the star: skip to where it occurs.
					for ti < len(t) && (matchSlash || t[ti] != '/') && t[ti] != c {
						ti++
					}
					if at(t, ti) != c {
						return wmNoMatch
					}
				}
				m := w.match(pi, ti)
				if m != wmNoMatch {
					if !matchSlash || m != wmAbortToStarStar {
						return m
					}
				} else if !matchSlash && t[ti] == '/' {
					return wmAbortToStarStar
				}
				ti++
			}
			return wmAbortAll
		case '[':
			pi++
			pc = at(p, pi)
			if pc == '^' {
				pc = '!'
			}
			negated := pc == '!'
			if negated {
				pi++
				pc = at(p, pi)
			}
			var prev byte
			matched := false
			for {
				switch {
				case pc == 0:
					return wmAbortAll
				case pc == '\\':
					pi++
					pc = at(p, pi)
					if pc == 0 {
						return wmAbortAll
					}
					if tc == pc {
						matched = true
					}
				case pc == '-' && prev != 0 && at(p, pi+1) != 0 && p[pi+1] != ']':
					pi++
					pc = p[pi]
					if pc == '\\' {
						pi++
						pc = at(p, pi)
						if pc == 0 {
							return wmAbortAll
						}
					}
					if tc <= pc && tc >= prev {
						matched = true
					}
					pc = 0 // a range does not start another one
				case pc == '[' && at(p, pi+1) == ':':
					pi += 2
					s := pi
					for pi < len(p) && p[pi] != ']' {
						pi++
					}
					if pi >= len(p) {
						return wmAbortAll
					}
					n := pi - s - 1
					if n < 0 || p[pi-1] != ':' {
						// No ":]": the '[' is an ordinary member.
						pi = s - 2
						pc = '['
						if tc == pc {
							matched = true
						}
						break
					}
					in, ok := inClass(p[s:s+n], tc)
					if !ok {
						return wmAbortAll
					}
					if in {
						matched = true
					}
					pc = 0
				default:
					if tc == pc {
						matched = true
					}
				}
				prev = pc
				pi++
				pc = at(p, pi)
				if pc == ']' {
					break
				}
			}
			if matched == negated || (pathname && tc == '/') {
				return wmNoMatch
			}
		}
	}
	if ti < len(t) {
		return wmNoMatch
	}
	return wmMatch
}

// inClass reports whether c is in the named POSIX class as git defines the
// classes: ASCII only (no byte >= 0x80 is in any class), and "space" is
// only space, tab, newline and carriage return. ok is false for an unknown
// class name, which makes the whole pattern match nothing.
func inClass(name string, c byte) (in, ok bool) {
	lower := 'a' <= c && c <= 'z'
	upper := 'A' <= c && c <= 'Z'
	digit := '0' <= c && c <= '9'
	graph := 0x21 <= c && c <= 0x7e
	switch name {
	case "alnum":
		return lower || upper || digit, true
	case "alpha":
		return lower || upper, true
	case "blank":
		return c == ' ' || c == '\t', true
	case "cntrl":
		return c < 0x20 || c == 0x7f, true
	case "digit":
		return digit, true
	case "graph":
		return graph, true
	case "lower":
		return lower, true
	case "print":
		return graph || c == ' ', true
	case "punct":
		return graph && !lower && !upper && !digit, true
	case "space":
		return c == ' ' || c == '\t' || c == '\n' || c == '\r', true
	case "upper":
		return upper, true
	case "xdigit":
		return digit || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F', true
	}
	return false, false
}
