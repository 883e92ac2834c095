package ignore

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// syntaxCase is one verdict: the .gitignore files of a small tree, by
// directory ("" is the top), and a path in it whose verdict is want.
type syntaxCase struct {
	name   string
	ignore map[string]string
	path   string
	kind   byte // 'f' file, 'd' directory, 'l' symbolic link to a directory
	want   bool
}

// top returns a tree with only a top-level .gitignore.
func top(content string) map[string]string { return map[string]string{"": content} }

// syntaxCases cover each rule of gitignore(5). Their expected verdicts are
// what git 2.39 answers, and TestSyntax checks them against the installed
// git as well.
var syntaxCases = []syntaxCase{
	// Lines.
	{name: "plain name", ignore: top("a\n"), path: "a", kind: 'f', want: true},
	{name: "other name", ignore: top("a\n"), path: "b", kind: 'f', want: false},
	{name: "comment", ignore: top("#a\n"), path: "#a", kind: 'f', want: false},
	{name: "comment after blank lines", ignore: top("\n\n# a\n"), path: "# a", kind: 'f', want: false},
	{name: "escaped hash", ignore: top("\\#a\n"), path: "#a", kind: 'f', want: true},
	{name: "hash not first", ignore: top("a#\n"), path: "a#", kind: 'f', want: true},
	{name: "escaped bang", ignore: top("\\!a\n"), path: "!a", kind: 'f', want: true},
	{name: "bang negates", ignore: top("!a\n"), path: "!a", kind: 'f', want: false},
	{name: "double bang", ignore: top("!!a\n"), path: "!a", kind: 'f', want: false},
	{name: "trailing spaces dropped", ignore: top("a  \n"), path: "a", kind: 'f', want: true},
	{name: "trailing spaces not in name", ignore: top("a  \n"), path: "a  ", kind: 'f', want: false},
	{name: "escaped trailing space", ignore: top("a\\ \n"), path: "a ", kind: 'f', want: true},
	{name: "escaped trailing space needs it", ignore: top("a\\ \n"), path: "a", kind: 'f', want: false},
	{name: "space before escaped space", ignore: top("a \\ \n"), path: "a  ", kind: 'f', want: true},
	{name: "spaces after escaped space", ignore: top("a\\   \n"), path: "a ", kind: 'f', want: true},
	{name: "escaped backslash then space", ignore: top("a\\\\ \n"), path: "a\\", kind: 'f', want: true},
	{name: "inner spaces kept", ignore: top("x y\n"), path: "x y", kind: 'f', want: true},
	{name: "leading space kept", ignore: top(" a\n"), path: "a", kind: 'f', want: false},
	{name: "trailing tab kept", ignore: top("a\t\n"), path: "a", kind: 'f', want: false},
	{name: "CRLF", ignore: top("a\r\nb\r\n"), path: "a", kind: 'f', want: true},
	{name: "lone CR kept", ignore: top("a\rb\n"), path: "a\rb", kind: 'f', want: true},
	{name: "no final newline", ignore: top("x\na"), path: "a", kind: 'f', want: true},
	{name: "BOM", ignore: top("\xef\xbb\xbfa\n"), path: "a", kind: 'f', want: true},
	{name: "BOM only at start", ignore: top("x\n\xef\xbb\xbfa\n"), path: "a", kind: 'f', want: false},
	{name: "NUL ends line", ignore: top("a\x00b\n"), path: "a", kind: 'f', want: true},
	{name: "blank line matches nothing", ignore: top("   \n"), path: "a", kind: 'f', want: false},
	{name: "lone slash matches nothing", ignore: top("/\n"), path: "a", kind: 'd', want: false},
	{name: "lone bang matches nothing", ignore: top("*\n!\n"), path: "a", kind: 'f', want: true},

	// Negation and order.
	{name: "negation", ignore: top("*.o\n!k.o\n"), path: "k.o", kind: 'f', want: false},
	{name: "negation leaves others", ignore: top("*.o\n!k.o\n"), path: "x.o", kind: 'f', want: true},
	{name: "last match wins", ignore: top("!k.o\n*.o\n"), path: "k.o", kind: 'f', want: true},
	{name: "no re-include below ignored dir", ignore: top("b/\n!b/k\n"), path: "b/k", kind: 'f', want: true},
	{name: "re-include below dir contents", ignore: top("b/*\n!b/k\n"), path: "b/k", kind: 'f', want: false},
	{name: "dir contents", ignore: top("b/*\n!b/k\n"), path: "b/x", kind: 'f', want: true},
	{name: "re-include dir then file", ignore: top("*\n!*/\n!*.c\n"), path: "d/e/x.c", kind: 'f', want: false},
	{name: "re-include dir not file", ignore: top("*\n!*/\n!*.c\n"), path: "d/e/x.h", kind: 'f', want: true},
	{name: "re-included dir itself", ignore: top("*\n!*/\n"), path: "d", kind: 'd', want: false},
	{name: "double star re-include blocked", ignore: top("a/**\n!a/b/c\n"), path: "a/b/c", kind: 'f', want: true},

	// Directories.
	{name: "dir-only on dir", ignore: top("a/\n"), path: "a", kind: 'd', want: true},
	{name: "dir-only on file", ignore: top("a/\n"), path: "a", kind: 'f', want: false},
	{name: "dir-only on symlink", ignore: top("a/\n"), path: "a", kind: 'l', want: false},
	{name: "below ignored dir", ignore: top("a/\n"), path: "a/b/c", kind: 'f', want: true},
	{name: "dir-only star", ignore: top("*/\n"), path: "a", kind: 'd', want: true},
	{name: "dir-only star on file", ignore: top("*/\n"), path: "a", kind: 'f', want: false},
	{name: "two slashes", ignore: top("a//\n"), path: "a", kind: 'd', want: false},

	// Anchoring.
	{name: "leading slash", ignore: top("/a\n"), path: "a", kind: 'f', want: true},
	{name: "leading slash not deeper", ignore: top("/a\n"), path: "b/a", kind: 'f', want: false},
	{name: "middle slash", ignore: top("b/a\n"), path: "b/a", kind: 'f', want: true},
	{name: "middle slash not deeper", ignore: top("b/a\n"), path: "c/b/a", kind: 'f', want: false},
	{name: "no slash at any depth", ignore: top("a\n"), path: "c/b/a", kind: 'f', want: true},
	{name: "no slash matches dirs", ignore: top("b\n"), path: "b/x", kind: 'f', want: true},
	{name: "trailing slash only does not anchor", ignore: top("b/\n"), path: "c/b", kind: 'd', want: true},
	{name: "escaped slash anchors", ignore: top("b\\/a\n"), path: "b/a", kind: 'f', want: true},

	// Wildcards.
	{name: "star", ignore: top("*.o\n"), path: "d/x.o", kind: 'f', want: true},
	{name: "star matches empty", ignore: top("x*\n"), path: "x", kind: 'f', want: true},
	{name: "star matches dot", ignore: top("*\n"), path: ".h", kind: 'f', want: true},
	{name: "star does not cross slash", ignore: top("b/*.o\n"), path: "b/c/x.o", kind: 'f', want: false},
	{name: "star after slash", ignore: top("b/*\n"), path: "b/x", kind: 'f', want: true},
	{name: "star slash", ignore: top("*/x\n"), path: "b/x", kind: 'f', want: true},
	{name: "star slash one level", ignore: top("*/x\n"), path: "b/c/x", kind: 'f', want: false},
	{name: "question mark", ignore: top("a?\n"), path: "ab", kind: 'f', want: true},
	{name: "question mark needs a byte", ignore: top("a?\n"), path: "a", kind: 'f', want: false},
	{name: "question mark is a byte", ignore: top("?\n"), path: "é", kind: 'f', want: false},
	{name: "two question marks for é", ignore: top("??\n"), path: "é", kind: 'f', want: true},
	{name: "question mark not slash", ignore: top("/a?c\n"), path: "a/c", kind: 'f', want: false},

	// Bracket expressions.
	{name: "class", ignore: top("[ab]\n"), path: "b", kind: 'f', want: true},
	{name: "class miss", ignore: top("[ab]\n"), path: "c", kind: 'f', want: false},
	{name: "range", ignore: top("[a-c]\n"), path: "b", kind: 'f', want: true},
	{name: "reversed range", ignore: top("[c-a]\n"), path: "b", kind: 'f', want: false},
	{name: "bang negates class", ignore: top("[!a]\n"), path: "b", kind: 'f', want: true},
	{name: "bang negates class miss", ignore: top("[!a]\n"), path: "a", kind: 'f', want: false},
	{name: "caret negates class", ignore: top("[^a]\n"), path: "b", kind: 'f', want: true},
	{name: "bracket first is member", ignore: top("[]a]\n"), path: "]", kind: 'f', want: true},
	{name: "negated bracket first", ignore: top("[!]]\n"), path: "]", kind: 'f', want: false},
	{name: "dash last is member", ignore: top("[a-]\n"), path: "-", kind: 'f', want: true},
	{name: "dash first is member", ignore: top("[-a]\n"), path: "-", kind: 'f', want: true},
	{name: "escaped bracket in class", ignore: top("[\\]]\n"), path: "]", kind: 'f', want: true},
	{name: "escape in range", ignore: top("[\\a-\\c]\n"), path: "b", kind: 'f', want: true},
	{name: "posix digit", ignore: top("x[[:digit:]]\n"), path: "x1", kind: 'f', want: true},
	{name: "posix space has tab", ignore: top("x[[:space:]]\n"), path: "x\t", kind: 'f', want: true},
	{name: "posix space lacks vtab", ignore: top("x[[:space:]]\n"), path: "x\v", kind: 'f', want: false},
	{name: "posix classes combined", ignore: top("x[[:digit:][:upper:]]\n"), path: "xQ", kind: 'f', want: true},
	{name: "posix class ASCII only", ignore: top("x[[:alpha:]][[:alpha:]]\n"), path: "xé", kind: 'f', want: false},
	{name: "unknown posix class", ignore: top("[[:foo:]]\n"), path: "f", kind: 'f', want: false},
	{name: "unterminated posix class", ignore: top("x[[:a]\n"), path: "x:", kind: 'f', want: true},
	{name: "unterminated class", ignore: top("[ab\n"), path: "[ab", kind: 'f', want: false},
	{name: "class not slash", ignore: top("/a[!x]c\n"), path: "a/c", kind: 'f', want: false},

	// Escapes.
	{name: "escaped star", ignore: top("\\*\n"), path: "*", kind: 'f', want: true},
	{name: "escaped star is literal", ignore: top("\\*\n"), path: "a", kind: 'f', want: false},
	{name: "escaped class", ignore: top("\\[ab]\n"), path: "[ab]", kind: 'f', want: true},
	{name: "escaped letter", ignore: top("\\a\n"), path: "a", kind: 'f', want: true},
	{name: "unescaped class in name", ignore: top("[ab]\n"), path: "[ab]", kind: 'f', want: false},
	{name: "trailing backslash", ignore: top("a\\\n"), path: "a\\", kind: 'f', want: false},
	{name: "backslash in name", ignore: top("a\\\\b\n"), path: "a\\b", kind: 'f', want: true},

	// Two stars.
	{name: "leading double star", ignore: top("**/f\n"), path: "f", kind: 'f', want: true},
	{name: "leading double star deep", ignore: top("**/f\n"), path: "a/b/f", kind: 'f', want: true},
	{name: "leading double star path", ignore: top("**/b/f\n"), path: "a/b/f", kind: 'f', want: true},
	{name: "trailing double star", ignore: top("a/**\n"), path: "a/b/c", kind: 'f', want: true},
	{name: "trailing double star not dir", ignore: top("a/**\n"), path: "a", kind: 'd', want: false},
	{name: "middle double star none", ignore: top("a/**/b\n"), path: "a/b", kind: 'f', want: true},
	{name: "middle double star many", ignore: top("a/**/b\n"), path: "a/x/y/b", kind: 'f', want: true},
	{name: "double star alone", ignore: top("**\n"), path: "a/b", kind: 'f', want: true},
	{name: "triple star", ignore: top("***\n"), path: "a", kind: 'f', want: true},
	{name: "double star in name", ignore: top("a**b\n"), path: "axyb", kind: 'f', want: true},
	{name: "double star in name is a star", ignore: top("/d/a**b\n"), path: "d/ax/yb", kind: 'f', want: false},
	{name: "double star dir-only", ignore: top("f/**/\n"), path: "f/x", kind: 'f', want: false},
	{name: "double star dir-only dir", ignore: top("f/**/\n"), path: "f/x", kind: 'd', want: true},
	{name: "double star then star", ignore: top("**/*.o\n"), path: "a/b.o", kind: 'f', want: true},

	// Nested files.
	{name: "deeper file wins", ignore: map[string]string{"": "*.o\n", "s": "!x.o\n"}, path: "s/x.o", kind: 'f', want: false},
	{name: "deeper file wins both ways", ignore: map[string]string{"": "!x.o\n", "s": "*.o\n"}, path: "s/x.o", kind: 'f', want: true},
	{name: "deeper file leaves others", ignore: map[string]string{"": "*.o\n", "s": "!x.o\n"}, path: "s/y.o", kind: 'f', want: true},
	{name: "relative to its directory", ignore: map[string]string{"s": "/a\n"}, path: "s/a", kind: 'f', want: true},
	{name: "not above its directory", ignore: map[string]string{"s": "a\n"}, path: "a", kind: 'f', want: false},
	{name: "anchored to its directory", ignore: map[string]string{"s": "/a\n"}, path: "s/b/a", kind: 'f', want: false},
	{name: "middle slash in deeper file", ignore: map[string]string{"s": "b/a\n"}, path: "s/b/a", kind: 'f', want: true},
	{name: "deeper file cannot re-include", ignore: map[string]string{"": "s/\n", "s": "!x\n"}, path: "s/x", kind: 'f', want: true},
	{name: "own file does not judge the dir", ignore: map[string]string{"s": "s\n"}, path: "s", kind: 'd', want: false},
	{name: "own file judges below", ignore: map[string]string{"s": "s\n"}, path: "s/s", kind: 'f', want: true},
	{name: "not in sibling", ignore: map[string]string{"s": "a\n"}, path: "t/a", kind: 'f', want: false},
}

// TestSyntax checks syntaxCases, and checks them against git if it is
// installed. All cases live in one repository, each in its own directory,
// below which its .gitignore files behave as if at the top.
func TestSyntax(t *testing.T) {
	w := t.TempDir()
	for i, c := range syntaxCases {
		base := filepath.Join(w, fmt.Sprintf("c%d", i))
		for dir, content := range c.ignore {
			d := filepath.Join(base, filepath.FromSlash(dir))
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, ".gitignore"), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := makePath(base, c.path, c.kind); err != nil {
			t.Fatal(err)
		}
	}
	m, err := New(w, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i, c := range syntaxCases {
		t.Run(c.name, func(t *testing.T) {
			if got := m.Ignored(fmt.Sprintf("c%d/%s", i, c.path), c.kind == 'd'); got != c.want {
				t.Errorf("%q in a tree with .gitignore files %q: Ignored = %v, want %v", c.path, c.ignore, got, c.want)
			}
		})
	}

	t.Run("git", func(t *testing.T) {
		requireGit(t)
		env := gitEnv(t.TempDir(), "")
		if err := gitInit(w, env); err != nil {
			t.Fatal(err)
		}
		paths := make([]string, len(syntaxCases))
		for i, c := range syntaxCases {
			paths[i] = fmt.Sprintf("c%d/%s", i, c.path)
		}
		ignored, err := gitCheckIgnore(w, env, paths)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range syntaxCases {
			if ignored[paths[i]] != c.want {
				t.Errorf("case %q: git says ignored=%v for %q in a tree with .gitignore files %q, the table says %v",
					c.name, ignored[paths[i]], c.path, c.ignore, c.want)
			}
		}
	})
}

// makePath creates rel below base as kind, with its parent directories.
// A symbolic link points to a directory next to it.
func makePath(base, rel string, kind byte) error {
	p := filepath.Join(base, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	switch kind {
	case 'd':
		return os.MkdirAll(p, 0o755)
	case 'l':
		if err := os.MkdirAll(p+".target", 0o755); err != nil {
			return err
		}
		return os.Symlink(filepath.Base(p)+".target", p)
	}
	return os.WriteFile(p, []byte("x"), 0o644)
}

// bytePatterns are matched against a file "x" followed by each byte.
var bytePatterns = []string{
	"x[[:alnum:]]", "x[[:alpha:]]", "x[[:blank:]]", "x[[:cntrl:]]",
	"x[[:digit:]]", "x[[:graph:]]", "x[[:lower:]]", "x[[:print:]]",
	"x[[:punct:]]", "x[[:space:]]", "x[[:upper:]]", "x[[:xdigit:]]",
	"x[![:alpha:]]", "x[^[:space:][:punct:]]", "x[a-z]", "x[!a-z]",
	"x[]-a]", "x[\\]]", "x[\\\\]", "x[[:]", "x[[:a]", "x[[:]a]", "x[[:a:]b]",
	"x?", "x*", "x[--0]", "x[[]", "x[\x80-\xff]", "x[z-a]", "x[a-]", "x[-a]",
	"x[!]]", "x[]]", "x[[:alpha:]-z]", "x[a-[:digit:]]", "x[\\a-\\c]", "x\\",
	"x[[:foo:]]", "x[!", "x[", "x\\*", "x[*-/]",
}

// TestBytesAgainstGit matches every byte against bracket expressions and
// the other single-byte patterns, both as a name pattern and anchored (so
// as a path pattern), and compares the verdicts with git's.
func TestBytesAgainstGit(t *testing.T) {
	requireGit(t)
	w := t.TempDir()
	env := gitEnv(t.TempDir(), "")
	if err := gitInit(w, env); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for b := 1; b < 256; b++ {
		if b == '/' {
			continue
		}
		p := "x" + string([]byte{byte(b)})
		if err := os.WriteFile(filepath.Join(w, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	for _, pat := range bytePatterns {
		for _, line := range []string{pat, "/" + pat} {
			if err := os.WriteFile(filepath.Join(w, ".gitignore"), []byte(line+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ignored, err := gitCheckIgnore(w, env, paths)
			if err != nil {
				t.Fatal(err)
			}
			m, err := New(w, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var bad []string
			for _, p := range paths {
				if got := m.Ignored(p, false); got != ignored[p] {
					bad = append(bad, fmt.Sprintf("%q (git: %v)", p, ignored[p]))
				}
			}
			m.Close()
			if len(bad) > 0 {
				t.Errorf("pattern %q disagrees with git on %s", line, strings.Join(bad, ", "))
			}
		}
	}
}
