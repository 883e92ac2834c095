package ignore

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// names are the components of generated trees: few, so that patterns hit,
// and chosen to exercise escapes, classes, spaces, dots and non-ASCII.
var names = []string{
	"a", "b", "c", "ab", "ba", "abc", "a.o", "b.o", "c.txt", "A", "B.O",
	"x y", "sp ", " lead", "[a]", "[ab]", "a*", "*", "q?", "?", `b\`, `\`,
	"#c", "!d", "!", "#", "é", "ü.o", "t\tb", "v\vb", "n\nl", "f\fx", "-",
	"]", "a]b", ".o", ".h", "..a", "a.", "**", "a-b", "_", "0", "9z", "~",
	"a:b", "x:",
}

// junk are patterns with odd syntax, used verbatim.
var junk = []string{
	"*", "**", "***", "/", "//", "!", "!/", "\\", "\\\\", "[", "[]", "[]]",
	"[!]]", "[]a]", "[!]a]", "[a-]", "[-a]", "[z-a]", "[a-c]", "[!a-c]",
	"[^a]", "[^]a]", "[[:alpha:]]", "[[:alpha:]", "[[:bogus:]]", "[[:]]",
	"[[:space:]]*", "*[[:punct:]]*", "*[[:upper:]]*", "[[:cntrl:]]*",
	"*[[:blank:]]*", "[[:graph:][:space:]]*", "*[[:space:]]*", "[\\]]",
	"[\\\\]", "[a\\-c]", "[[]", "[[]*", "[[:digit:]x]*", "*[[:xdigit:]]",
	"*[[:print:]]", "[![:alnum:]]*", "[[:lower:][:upper:]]", "a**", "**a",
	"a/**", "**/a", "a/**/b", "**/", "/**", "/**/", "*/", "/*", "*/*",
	"**/*", "*/**", "a/*", "*/a", "?", "??", "?/", "\\#c", "\\!d", "\\ ",
	" ", "a\\", "*.o", "!*.o", "*.o/", "a\\/b", "\\*", "\\?", "[a]",
	"\\[a]", "\\[ab\\]", ".*", "!.*", "*\\", "a*b", "!**/", "**/**",
	"a/**/**/b", "**/b/**", "***/a", "a/***", "**a/b", "a/b**", "*/*/*",
	"/a/", "!/a/", "a//b", "/**/a", "**/a/", "!**/a/", "*/**/*", "\\a",
	"sp\\ ", "sp ", "sp\\  ", "x\\ y", "x y", "\\ lead", " lead",
	"a\x00b", "\x00a", "a\x00 \\", "[[:]a]", "[[:a]", "[[:a:]b]", "[[:alpha:]-z]",
	"[a-[:digit:]]", "[[]:]", "[[:]", "*[[:space:]]", "[[:space:]]?",
}

// posixClasses are the bracket classes git knows.
var posixClasses = []string{
	"alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print",
	"punct", "space", "upper", "xdigit",
}

// genEntry is one entry of a generated tree.
type genEntry struct {
	path    string
	kind    byte   // 'd' directory, 'f' file, 'l' symbolic link
	content string // a file's contents or a link's target
}

// genTree is a generated work tree with everything git reads ignore rules
// from.
type genTree struct {
	entries     []genEntry // a directory comes before its entries
	infoExclude *string
	// excludes is the user's excludes file, at home-relative (or base-
	// relative when it starts with "/") path excludesPath; decoy is
	// another file with patterns that must not be read, at decoyPath.
	excludes, excludesPath string
	decoy, decoyPath       string
	// configs are config files to write, by path relative to the trial
	// directory ("home/.gitconfig", "w/.git/config" is appended to).
	configs map[string]string
	xdg     bool // XDG_CONFIG_HOME is set
	mode    string
	batch   bool // made by genBatch
}

// genTreeRand builds a random tree with .gitignore files in about half
// its directories, an info/exclude and an excludes file.
func genTreeRand(rng *rand.Rand) *genTree {
	t := &genTree{configs: make(map[string]string)}
	for _, d := range t.genDir(rng, "", 0) {
		if rng.IntN(2) == 0 {
			t.genGitignore(rng, d, 1+rng.IntN(7))
		}
	}
	info, excl := genGlobalFiles(rng, t.targets(""))
	if rng.IntN(5) < 3 {
		t.infoExclude = &info
	}
	t.genExcludes(rng, excl)
	return t
}

// genBatch builds a tree of n independent cases, directories c0, c1, ...
// each a small random tree with a short .gitignore at its top, and no
// global pattern files. Many cases share one run of git.
func genBatch(rng *rand.Rand, n int) *genTree {
	t := &genTree{configs: make(map[string]string), mode: "no excludes file", batch: true}
	for k := range n {
		c := fmt.Sprintf("c%d", k)
		t.entries = append(t.entries, genEntry{path: c, kind: 'd'})
		for _, d := range t.genDir(rng, c, 1) {
			if d == c || rng.IntN(4) == 0 {
				t.genGitignore(rng, d, 1+rng.IntN(3))
			}
		}
	}
	return t
}

// genDir adds random entries below the directory dir, depth levels below
// the root, and returns dir and the directories it added.
func (t *genTree) genDir(rng *rand.Rand, dir string, depth int) []string {
	dirs := []string{dir}
	n := 1 + rng.IntN(5)
	if dir == "" {
		n = 3 + rng.IntN(5)
	}
	used := map[string]bool{".gitignore": true, ".git": true}
	for range n {
		name := names[rng.IntN(len(names))]
		if used[name] {
			continue
		}
		used[name] = true
		p := joinRel(dir, name)
		switch r := rng.IntN(100); {
		case r < 38 && depth < 3:
			t.entries = append(t.entries, genEntry{path: p, kind: 'd'})
			dirs = append(dirs, t.genDir(rng, p, depth+1)...)
		case r < 43:
			t.entries = append(t.entries, genEntry{path: p, kind: 'l', content: names[rng.IntN(len(names))]})
		default:
			t.entries = append(t.entries, genEntry{path: p, kind: 'f', content: "x"})
		}
	}
	if dir != "" && rng.IntN(25) == 0 {
		// A .git that is not a repository: skipped by git's walk.
		if rng.IntN(2) == 0 {
			t.entries = append(t.entries, genEntry{path: joinRel(dir, ".git"), kind: 'f', content: "not a gitdir\n"})
		} else {
			t.entries = append(t.entries,
				genEntry{path: joinRel(dir, ".git"), kind: 'd'},
				genEntry{path: joinRel(dir, ".git/x"), kind: 'f', content: "x"})
		}
	}
	return dirs
}

// genGitignore adds a .gitignore of n random lines to the directory d.
// Rarely, the .gitignore is a symbolic link to a pattern file or a
// directory, which git does not read.
func (t *genTree) genGitignore(rng *rand.Rand, d string, n int) {
	p := joinRel(d, ".gitignore")
	content := genPatternFile(rng, t.targets(d), n)
	switch r := rng.IntN(40); {
	case r == 0:
		t.entries = append(t.entries,
			genEntry{path: joinRel(d, "rules"), kind: 'f', content: content},
			genEntry{path: p, kind: 'l', content: "rules"})
	case r == 1:
		t.entries = append(t.entries,
			genEntry{path: p, kind: 'd'},
			genEntry{path: joinRel(p, "a"), kind: 'f', content: content})
	default:
		t.entries = append(t.entries, genEntry{path: p, kind: 'f', content: content})
	}
}

// genGlobalFiles returns the contents of info/exclude and of the excludes
// file, often with patterns that conflict, so that their precedence
// matters.
func genGlobalFiles(rng *rand.Rand, targets []string) (info, excl string) {
	var a, b []string
	for range rng.IntN(5) {
		a = append(a, genLine(rng, targets))
	}
	for range rng.IntN(5) {
		b = append(b, genLine(rng, targets))
	}
	flip := func(l string) string {
		if s, ok := strings.CutPrefix(l, "!"); ok {
			return s
		}
		return "!" + l
	}
	switch rng.IntN(4) {
	case 0:
		b = append([]string{"*"}, b...)
	case 1:
		a = append([]string{"*"}, a...)
		for _, l := range a[1:] {
			b = append(b, flip(l))
		}
	case 2:
		for _, l := range b {
			a = append(a, flip(l))
		}
	}
	join := func(ls []string) string {
		if len(ls) == 0 {
			return ""
		}
		return strings.Join(ls, "\n") + "\n"
	}
	return join(a), join(b)
}

// targets returns paths below dir, relative to it, for patterns to aim at.
func (t *genTree) targets(dir string) []string {
	var out []string
	for _, e := range t.entries {
		if dir == "" {
			out = append(out, e.path)
		} else if rest, ok := strings.CutPrefix(e.path, dir+"/"); ok {
			out = append(out, rest)
		}
	}
	return out
}

// genExcludes picks where core.excludesFile comes from and how it is
// written.
func (t *genTree) genExcludes(rng *rand.Rand, content string) {
	decoy := "*\n"
	t.xdg = rng.IntN(2) == 0
	xdgDir := "home/.config"
	if t.xdg {
		xdgDir = "xdg"
	}
	switch r := rng.IntN(10); r {
	case 0:
		t.mode = "default excludes file"
		t.excludes, t.excludesPath = content, xdgDir+"/git/ignore"
		if t.xdg {
			t.decoy, t.decoyPath = decoy, "home/.config/git/ignore"
		}
	case 1, 2:
		variants := []struct{ cfg, file string }{
			{"[core]\n\texcludesFile = ~/excl file\n", "excl file"},
			{"[Core]\nexcludesfile=\"~/excl file\" ; comment\n", "excl file"},
			{"# c\n[core]\n  EXCLUDESFILE = ~/excl\\\n file\n", "excl file"},
			{"[core]\r\n\texcludesFile = \"~/e \\\"q\\\"\"\r\n", `e "q"`},
			{"\xef\xbb\xbf[core]\n excludesFile = ~/x\\ty # c\n", "x\ty"},
			{"[core \"sub\"]\nexcludesFile = ~/decoy\n[core]\nexcludesFile = ~/excl\n", "excl"},
			{"[core]\nexcludesFile = ~/decoy\nexcludesFile = ~/excl\n", "excl"},
			{"[core.x]\nexcludesFile = ~/decoy\n[core]excludesFile=~/excl\n", "excl"},
			{"[core]\n\texcludesFile = ~/a   b\n", "a   b"},
			{"[core]\n\texcludesFile = \"~/excl\"\"\"  ;\n", "excl"},
		}
		v := variants[rng.IntN(len(variants))]
		t.mode = fmt.Sprintf("~/.gitconfig %q", v.cfg)
		t.configs["home/.gitconfig"] = v.cfg
		t.excludes, t.excludesPath = content, "home/"+v.file
		t.decoy, t.decoyPath = decoy, "home/decoy"
	case 3:
		t.mode = "repo config, absolute path"
		t.configs["w/.git/config"] = "[core]\n\texcludesFile = " + "BASE/abs-excl\n"
		t.excludes, t.excludesPath = content, "abs-excl"
		t.decoy, t.decoyPath = decoy, xdgDir+"/git/ignore"
	case 4:
		t.mode = "user config overrides XDG config"
		t.configs[xdgDir+"/git/config"] = "[core]\n\texcludesFile = ~/decoy\n"
		t.configs["home/.gitconfig"] = "[core]\n\texcludesFile = ~/right\n"
		t.excludes, t.excludesPath = content, "home/right"
		t.decoy, t.decoyPath = decoy, "home/decoy"
	case 5:
		t.mode = "include.path"
		t.configs["home/.gitconfig"] = "[include]\n\tpath = inc.cfg\n"
		t.configs["home/inc.cfg"] = "[core]\n\texcludesFile = ~/incl\n"
		t.excludes, t.excludesPath = content, "home/incl"
	case 6:
		t.mode = "repo config, path relative to the work tree"
		t.configs["w/.git/config"] = "[core]\n\texcludesFile = ../rel-excl\n"
		t.excludes, t.excludesPath = content, "rel-excl"
		t.decoy, t.decoyPath = decoy, xdgDir+"/git/ignore"
	case 7:
		t.mode = "empty core.excludesFile"
		t.configs["home/.gitconfig"] = "[core]\n\texcludesFile =\n"
		t.decoy, t.decoyPath = decoy, xdgDir+"/git/ignore"
	case 8:
		t.mode = "repo config overrides user config"
		t.configs["home/.gitconfig"] = "[core]\n\texcludesFile = ~/decoy\n"
		t.configs["w/.git/config"] = "[core]\n\texcludesFile = ~/right\n"
		t.excludes, t.excludesPath = content, "home/right"
		t.decoy, t.decoyPath = decoy, "home/decoy"
	default:
		t.mode = "no excludes file"
	}
}

// genPatternFile returns a pattern file of n random lines, with random
// line endings, sometimes a BOM and sometimes no final newline.
func genPatternFile(rng *rand.Rand, targets []string, n int) string {
	eol := "\n"
	if rng.IntN(10) == 0 {
		eol = "\r\n"
	}
	var b strings.Builder
	if rng.IntN(20) == 0 {
		b.WriteString("\xef\xbb\xbf")
	}
	for i := range n {
		b.WriteString(genLine(rng, targets))
		if i < n-1 || rng.IntN(5) > 0 {
			b.WriteString(eol)
		}
	}
	return b.String()
}

// genLine returns one random pattern line, mostly aimed at one of targets
// (paths relative to the pattern file's directory).
func genLine(rng *rand.Rand, targets []string) string {
	switch r := rng.IntN(100); {
	case r < 3:
		return "#" + names[rng.IntN(len(names))]
	case r < 5:
		return strings.Repeat(" ", rng.IntN(3))
	case r < 14:
		line := junk[rng.IntN(len(junk))]
		if rng.IntN(4) == 0 {
			line = "!" + line
		}
		return line
	}
	var target string
	if len(targets) > 0 && rng.IntN(10) > 0 {
		target = targets[rng.IntN(len(targets))]
	} else {
		target = names[rng.IntN(len(names))]
		if rng.IntN(2) == 0 {
			target += "/" + names[rng.IntN(len(names))]
		}
	}
	comps := strings.Split(target, "/")
	switch r := rng.IntN(20); {
	case r < 7:
		comps = comps[len(comps)-1:]
	case r < 10:
		comps = comps[rng.IntN(len(comps)):]
	}
	for i := range comps {
		if rng.IntN(5) < 2 {
			comps[i] = globComp(rng, comps[i])
		} else {
			comps[i] = escapeLiteral(rng, comps[i])
		}
	}
	switch r := rng.IntN(20); {
	case r == 0:
		comps = append([]string{"**"}, comps...)
	case r == 1:
		comps = append(comps, "**")
	case r == 2 && len(comps) > 1:
		i := rng.IntN(len(comps) - 1)
		j := i + 1 + rng.IntN(len(comps)-i-1)
		comps = slices.Replace(comps, i, j, "**")
	case r == 3 && len(comps) > 1:
		i := 1 + rng.IntN(len(comps)-1)
		comps = slices.Insert(comps, i, "**")
	}
	var lb strings.Builder
	for i, c := range comps {
		if i > 0 {
			// Sometimes something other than a slash between two
			// components, which '*', '?' and classes must not match
			// across.
			seps := []string{"*", "**", "?", "[!x]", "[/]", "[^a]", `\/`}
			if rng.IntN(8) == 0 {
				lb.WriteString(seps[rng.IntN(len(seps))])
			} else {
				lb.WriteByte('/')
			}
		}
		lb.WriteString(c)
	}
	line := lb.String()
	if rng.IntN(4) == 0 {
		line = "/" + line
	}
	if rng.IntN(4) == 0 {
		line += "/"
	}
	switch {
	case rng.IntN(4) == 0:
		line = "!" + line
	case (line[0] == '#' || line[0] == '!') && rng.IntN(4) > 0:
		line = `\` + line
	}
	switch r := rng.IntN(30); {
	case r < 2:
		line += strings.Repeat(" ", 1+rng.IntN(2))
	case r < 3:
		line += `\ `
	case r < 4:
		line += "\t"
	}
	return line
}

// escapeLiteral writes the name s as a pattern matching it literally,
// escaping glob characters, except that it sometimes leaves them bare (so
// that "[ab]" is a class) or escapes ordinary characters.
func escapeLiteral(rng *rand.Rand, s string) string {
	if rng.IntN(5) == 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isGlobSpecial(c) || rng.IntN(15) == 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	out := b.String()
	if strings.HasSuffix(out, " ") && !strings.HasSuffix(out, `\ `) && rng.IntN(3) > 0 {
		out = out[:len(out)-1] + `\ `
	}
	return out
}

// globComp turns the name s into a glob that often matches it.
func globComp(rng *rand.Rand, s string) string {
	if s == "" {
		return "*"
	}
	i := rng.IntN(len(s))
	c := s[i]
	lit := func(x string) string { return escapeLiteral(rng, x) }
	pre, post := lit(s[:i]), lit(s[i+1:])
	switch rng.IntN(14) {
	case 0:
		return "*"
	case 1:
		return "**"
	case 2:
		return strings.Repeat("?", max(1, len(s)+rng.IntN(3)-1))
	case 3:
		return pre + "*"
	case 4:
		return "*" + lit(s[i:])
	case 5:
		return pre + "?" + post
	case 6, 7:
		return pre + genClass(rng, c) + post
	case 8:
		return pre + "[[:" + posixClasses[rng.IntN(len(posixClasses))] + ":]]" + post
	case 9:
		return pre + "*" + post
	case 10:
		return pre + "**" + lit(s[i:])
	case 11:
		return "*" + lit(s[i:i+1]) + "*"
	}
	return lit(s)
}

// classBytes are the bytes random bracket expressions are made of besides
// the one they aim at: syntax, and a few members.
const classBytes = "ab-]!^\\[:/ .A"

// genClass returns a bracket expression that may or may not match c, and
// may or may not be well-formed: whatever git makes of it, so must we.
func genClass(rng *rand.Rand, c byte) string {
	var b strings.Builder
	b.WriteByte('[')
	switch rng.IntN(6) {
	case 0:
		b.WriteByte('!')
	case 1:
		b.WriteByte('^')
	}
	for range 1 + rng.IntN(4) {
		switch r := rng.IntN(10); {
		case r < 3:
			b.WriteByte(c)
		case r < 4:
			lo, hi := c-byte(rng.IntN(3)), c+byte(rng.IntN(3))
			fmt.Fprintf(&b, "%c-%c", lo, hi)
		case r < 5:
			fmt.Fprintf(&b, "[:%s:]", posixClasses[rng.IntN(len(posixClasses))])
		case r < 6:
			b.WriteString(`\`)
			b.WriteByte(c)
		default:
			b.WriteByte(classBytes[rng.IntN(len(classBytes))])
		}
	}
	if rng.IntN(15) > 0 {
		b.WriteByte(']')
	}
	return b.String()
}

// write creates the trial's files below base: the work tree in base/w
// (without .git, which git init makes), home and XDG directories.
func (t *genTree) write(base string) error {
	w := filepath.Join(base, "w")
	for _, d := range []string{w, filepath.Join(base, "home"), filepath.Join(base, "xdg")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for _, e := range t.entries {
		p := filepath.Join(w, filepath.FromSlash(e.path))
		var err error
		switch e.kind {
		case 'd':
			err = os.Mkdir(p, 0o755)
		case 'f':
			err = os.WriteFile(p, []byte(e.content), 0o644)
		case 'l':
			err = os.Symlink(e.content, p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// writeGit writes info/exclude, the config files and the excludes files;
// it runs after git init.
func (t *genTree) writeGit(base string) error {
	put := func(rel, content string, appendTo bool) error {
		p := filepath.Join(base, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if appendTo {
			flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		f, err := os.OpenFile(p, flag, 0o644)
		if err != nil {
			return err
		}
		_, err = f.WriteString(content)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	if t.infoExclude != nil {
		if err := put("w/.git/info/exclude", *t.infoExclude, false); err != nil {
			return err
		}
	}
	for rel, content := range t.configs {
		content = strings.ReplaceAll(content, "BASE", base)
		if err := put(rel, content, rel == "w/.git/config"); err != nil {
			return err
		}
	}
	if t.excludesPath != "" {
		if err := put(t.excludesPath, t.excludes, false); err != nil {
			return err
		}
	}
	if t.decoyPath != "" {
		if err := put(t.decoyPath, t.decoy, false); err != nil {
			return err
		}
	}
	return nil
}

// describe describes the tree for a failure about paths: the whole tree,
// or for a batch the cases the paths are in.
func (t *genTree) describe(paths []string) string {
	if !t.batch {
		return t.String()
	}
	cases := make(map[string]bool)
	for _, p := range paths {
		c, _, _ := strings.Cut(p, "/")
		cases[c] = true
	}
	sub := &genTree{batch: true}
	for _, e := range t.entries {
		c, _, _ := strings.Cut(e.path, "/")
		if cases[c] {
			sub.entries = append(sub.entries, e)
		}
	}
	return sub.String()
}

// String describes the tree for a failure message.
func (t *genTree) String() string {
	var b strings.Builder
	b.WriteString("tree:\n")
	for _, e := range t.entries {
		switch e.kind {
		case 'd':
			fmt.Fprintf(&b, "  %q/\n", e.path)
		case 'l':
			fmt.Fprintf(&b, "  %q -> %q\n", e.path, e.content)
		default:
			if strings.HasSuffix(e.path, ".gitignore") || strings.HasSuffix(e.path, "rules") || strings.Contains(e.path, ".gitignore/") {
				fmt.Fprintf(&b, "  %q:\n%s", e.path, quoteLines(e.content))
			} else {
				fmt.Fprintf(&b, "  %q\n", e.path)
			}
		}
	}
	if t.batch {
		return b.String()
	}
	if t.infoExclude != nil {
		fmt.Fprintf(&b, ".git/info/exclude:\n%s", quoteLines(*t.infoExclude))
	}
	fmt.Fprintf(&b, "excludes (%s, XDG_CONFIG_HOME set: %v) at %q:\n%s", t.mode, t.xdg, t.excludesPath, quoteLines(t.excludes))
	for rel, c := range t.configs {
		fmt.Fprintf(&b, "config %s: %q\n", rel, c)
	}
	return b.String()
}

// quoteLines lists the lines of a pattern file, quoted, one per line.
func quoteLines(s string) string {
	var b strings.Builder
	for l := range strings.SplitAfterSeq(s, "\n") {
		if l != "" {
			fmt.Fprintf(&b, "      %q\n", l)
		}
	}
	return b.String()
}
