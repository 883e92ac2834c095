package filter

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		rule string
		want string
	}{
		{name: "unclosed class", rule: "- [abc", want: "[abc"},
		{name: "trailing backslash", rule: `- a\`, want: `a\\`},
		{name: "bad class in later component", rule: "- src/[z-a", want: "src/[z-a"},
		{name: "unknown kind", rule: "! x", want: `unknown kind "!"`},
		{name: "no space", rule: "-x", want: "KIND SPACE PATTERN"},
		{name: "empty pattern", rule: "- ", want: "KIND SPACE PATTERN"},
		{name: "empty rule", rule: "", want: "KIND SPACE PATTERN"},
		{name: "only slashes", rule: "- /", want: "no components"},
		{name: "empty component", rule: "- a//b", want: "a//b"},
		{name: "dot component", rule: "- ./a", want: "./a"},
		{name: "dotdot component", rule: "- a/../b", want: "a/../b"},
		{name: "directory include", rule: "+ build/", want: "include rules apply to files only"},
		{name: "bad regexp", rule: "-re (a", want: "(a"},
		{name: "regexp kind is not a glob kind", rule: "+re x", want: `unknown kind "+re"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile([]string{"- ok", tt.rule})
			if err == nil {
				t.Fatalf("Compile(%q) = %v, want error", tt.rule, f)
			}
			if !errors.Is(err, ErrBadRule) {
				t.Errorf("error %v does not wrap ErrBadRule", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), strings.ReplaceAll(tt.rule, `\`, `\\`)) {
				t.Errorf("error %q does not name the rule %q", err, tt.rule)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name  string
		rules []string
		path  string
		isDir bool
		want  bool
	}{
		{name: "no rules file", rules: nil, path: "a/b", want: true},
		{name: "no rules dir", rules: []string{}, path: "a", isDir: true, want: true},

		{name: "suffix glob at top", rules: []string{"- *.o"}, path: "x.o", want: false},
		{name: "suffix glob deep", rules: []string{"- *.o"}, path: "a/b/x.o", want: false},
		{name: "suffix glob other name", rules: []string{"- *.o"}, path: "a/x.oo", want: true},
		{name: "suffix glob matches directory", rules: []string{"- *.o"}, path: "a/x.o", isDir: true, want: false},
		{name: "name at top", rules: []string{"- build"}, path: "build", isDir: true, want: false},
		{name: "name deep", rules: []string{"- build"}, path: "src/build", isDir: true, want: false},
		{name: "name matches file", rules: []string{"- build"}, path: "src/build", want: false},
		{name: "name is not a prefix", rules: []string{"- build"}, path: "src/builder", isDir: true, want: true},
		{name: "name not matched inside", rules: []string{"- build"}, path: "build/x", want: true},
		{name: "two components", rules: []string{"- a/*.c"}, path: "a/y.c", want: false},
		{name: "two components deep", rules: []string{"- a/*.c"}, path: "x/a/y.c", want: false},
		{name: "two components wrong parent", rules: []string{"- a/*.c"}, path: "a/b/y.c", want: true},
		{name: "two components too short", rules: []string{"- a/*.c"}, path: "y.c", want: true},
		{name: "star does not cross slash", rules: []string{"- a*c"}, path: "a/c", want: true},
		{name: "question mark", rules: []string{"- ?.txt"}, path: "d/x.txt", want: false},
		{name: "question mark needs one", rules: []string{"- ?.txt"}, path: "d/xy.txt", want: true},
		{name: "class", rules: []string{"- log[0-9].txt"}, path: "log7.txt", want: false},
		{name: "negated class", rules: []string{"- log[^0-9].txt"}, path: "log7.txt", want: true},
		{name: "escaped star is literal", rules: []string{`- \*`}, path: "d/*", want: false},
		{name: "escaped star not wild", rules: []string{`- \*`}, path: "d/x", want: true},
		{name: "star matches dotfile", rules: []string{"- *"}, path: ".hidden", want: false},

		{name: "root anchored at top", rules: []string{"- /build"}, path: "build", isDir: true, want: false},
		{name: "root anchored not deep", rules: []string{"- /build"}, path: "src/build", isDir: true, want: true},
		{name: "root anchored two", rules: []string{"- /src/*.go"}, path: "src/a.go", want: false},
		{name: "root anchored two not deep", rules: []string{"- /src/*.go"}, path: "x/src/a.go", want: true},
		{name: "dir only matches dir", rules: []string{"- build/"}, path: "x/build", isDir: true, want: false},
		{name: "dir only spares file", rules: []string{"- build/"}, path: "x/build", want: true},
		{name: "anchored dir only", rules: []string{"- /build/"}, path: "build", isDir: true, want: false},

		{name: "double star none", rules: []string{"- a/**/b"}, path: "a/b", want: false},
		{name: "double star one", rules: []string{"- a/**/b"}, path: "a/x/b", want: false},
		{name: "double star many", rules: []string{"- a/**/b"}, path: "a/x/y/z/b", want: false},
		{name: "double star right anchored", rules: []string{"- a/**/b"}, path: "q/a/x/b", want: false},
		{name: "double star wrong end", rules: []string{"- a/**/b"}, path: "a/x/c", want: true},
		{name: "double star backtracks", rules: []string{"- a/**/b/c"}, path: "a/b/x/b/c", want: false},
		{name: "double star twice", rules: []string{"- a/**/b/**/c"}, path: "a/1/b/2/3/c", want: false},
		{name: "double star twice missing", rules: []string{"- a/**/b/**/c"}, path: "a/1/2/3/c", want: true},
		{name: "anchored trailing double star", rules: []string{"- /a/**"}, path: "a/x/y", want: false},
		{name: "anchored trailing double star other", rules: []string{"- /a/**"}, path: "b/a/x", want: true},
		{name: "anchored leading double star", rules: []string{"- /**/x"}, path: "p/q/x", want: false},
		{name: "repeated double star", rules: []string{"- a/**/**/b"}, path: "a/b", want: false},

		{name: "dot name glob", rules: []string{"- .git"}, path: "r/.git", isDir: true, want: false},
		{name: "dot is literal in glob", rules: []string{"- .git"}, path: "my.git.txt", want: true},
		{name: "dot is literal in glob dotless", rules: []string{"- .git"}, path: "xgit", want: true},

		{name: "regexp search", rules: []string{`-re \.tmp$`}, path: "a/b.tmp", want: false},
		{name: "regexp no match", rules: []string{`-re \.tmp$`}, path: "a/b.tmpx", want: true},
		{name: "regexp dir with slash", rules: []string{"-re ^build/"}, path: "build", isDir: true, want: false},
		{name: "regexp file under dir", rules: []string{"-re ^build/"}, path: "build/x", want: false},
		{name: "regexp file without slash", rules: []string{"-re ^build/"}, path: "build", want: true},
		{name: "regexp anchored", rules: []string{"-re ^build/"}, path: "src/build", isDir: true, want: true},
		{name: "regexp dir without slash", rules: []string{`-re \.d$`}, path: "x.d", isDir: true, want: false},

		{name: "include keeps match", rules: []string{"+ *.go"}, path: "a/b/c.go", want: true},
		{name: "include drops other", rules: []string{"+ *.go"}, path: "a/b/c.c", want: false},
		{name: "include enters dirs", rules: []string{"+ *.go"}, path: "a/b", isDir: true, want: true},
		{name: "include any of several", rules: []string{"+ *.go", "+ go.mod"}, path: "go.mod", want: true},
		{name: "include anchored", rules: []string{"+ /*.go"}, path: "sub/a.go", want: false},
		{name: "include star keeps all", rules: []string{"+ *"}, path: "a/b/c", want: true},
		{name: "exclude beats include", rules: []string{"+ *.go", "- gen_*.go"}, path: "x/gen_a.go", want: false},
		{name: "exclude beats include order", rules: []string{"- gen_*.go", "+ *.go"}, path: "x/gen_a.go", want: false},
		{name: "excluded dir with include", rules: []string{"+ *.go", "- vendor"}, path: "vendor", isDir: true, want: false},
		{name: "regexp beats include", rules: []string{"+ *.go", `-re _test\.go$`}, path: "a_test.go", want: false},

		{name: "space in name", rules: []string{"- my file.txt"}, path: "d/my file.txt", want: false},
		{name: "spaces kept verbatim", rules: []string{"-  x"}, path: "x", want: true},
		{name: "leading space name", rules: []string{"-  x"}, path: "d/ x", want: false},
		{name: "comma in name", rules: []string{"- a,b"}, path: "d/a,b", want: false},
		{name: "unicode", rules: []string{"- *.日本"}, path: "ディレクトリ/ファイル.日本", want: false},
		{name: "question mark is one rune", rules: []string{"- caf?"}, path: "café", want: false},
		{name: "unicode class", rules: []string{"- [αβ]x"}, path: "d/βx", want: false},
		{name: "invalid utf8 path", rules: []string{"- *.o"}, path: "\xff\xfe.o", want: false},
		{name: "invalid utf8 kept", rules: []string{"- *.o"}, path: "\xff\xfe.c", want: true},
		{name: "newline in name", rules: []string{"- *.o"}, path: "a\nb.o", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.rules)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.rules, err)
			}
			if got := f.Match(tt.path, tt.isDir); got != tt.want {
				t.Errorf("Compile(%q).Match(%q, %v) = %v, want %v", tt.rules, tt.path, tt.isDir, got, tt.want)
			}
		})
	}
}

func TestNilFilter(t *testing.T) {
	var f *Filter
	if !f.Match("a/b", false) || !f.Match("a", true) {
		t.Error("nil *Filter excludes a path")
	}
}

func TestFromFlags(t *testing.T) {
	tests := []struct {
		name        string
		includes    []string
		excludes    []string
		excludeFrom []string
		want        []string
	}{
		{name: "nothing", want: nil},
		{name: "comma list", excludes: []string{"*.o,build"}, want: []string{"- *.o", "- build"}},
		{name: "repeated", excludes: []string{"*.o", "build"}, want: []string{"- *.o", "- build"}},
		{name: "trimmed and empty dropped", excludes: []string{" *.o , *.a ,,", ""}, want: []string{"- *.o", "- *.a"}},
		{name: "inner space kept", excludes: []string{"my file"}, want: []string{"- my file"}},
		{name: "escaped comma", excludes: []string{`a\,b,c`}, want: []string{`- a\,b`, `-re a\,b`, "- c"}},
		{name: "escaped backslash then comma", excludes: []string{`a\\,b`}, want: []string{`- a\\`, `-re a\\`, "- b"}},
		{name: "dot only is glob", excludes: []string{".git"}, want: []string{"- .git"}},
		{name: "glob syntax is glob", excludes: []string{"[0-9]*.log"}, want: []string{"- [0-9]*.log"}},
		{name: "anchors make regexp", excludes: []string{"^build/"}, want: []string{"- ^build/", "-re ^build/"}},
		{name: "regexp only", excludes: []string{`[^/]+\.tmp$`}, want: []string{`-re [^/]+\.tmp$`}},
		{name: "glob only despite paren", excludes: []string{"(draft"}, want: []string{"- (draft"}},
		{name: "includes verbatim", includes: []string{"*.go", "a,b", " x"}, want: []string{"+ *.go", "+ a,b", "+  x"}},
		{name: "includes first", includes: []string{"*.go"}, excludes: []string{"vendor"}, want: []string{"+ *.go", "- vendor"}},
		{
			name:        "exclude from",
			excludeFrom: []string{"# comment\r\n*.o\r\n\r\n  \t\na,b\n my file \n\\#x\nlast"},
			want:        []string{"- *.o", "- a,b", "-  my file ", `- \#x`, `-re \#x`, "- last"},
		},
		{
			name:        "exclude from two files",
			excludeFrom: []string{"x\n", "y"},
			want:        []string{"- x", "- y"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromFlags(tt.includes, tt.excludes, tt.excludeFrom)
			if err != nil {
				t.Fatalf("FromFlags: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("FromFlags = %q, want %q", got, tt.want)
			}
			if _, err := Compile(got); err != nil {
				t.Errorf("Compile(FromFlags(...)): %v", err)
			}
		})
	}
}

func TestFromFlagsErrors(t *testing.T) {
	tests := []struct {
		name        string
		includes    []string
		excludes    []string
		excludeFrom []string
		want        []string
	}{
		{name: "bad exclude glob", excludes: []string{"ok,[abc"}, want: []string{"--exclude", `"[abc"`}},
		{name: "bad both ways", excludes: []string{"[a-(b"}, want: []string{"--exclude", "neither a glob", "nor a regexp"}},
		{name: "bad include", includes: []string{"[abc"}, want: []string{"--include", `"[abc"`}},
		{name: "empty include", includes: []string{""}, want: []string{"--include", "no components"}},
		{name: "directory include", includes: []string{"vendor/"}, want: []string{"--include", "files only"}},
		{
			name:        "bad line in file",
			excludeFrom: []string{"ok", "# c\n*.o\n[abc\n"},
			want:        []string{"--exclude-from file 2, line 3", `"[abc"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rules, err := FromFlags(tt.includes, tt.excludes, tt.excludeFrom)
			if err == nil {
				t.Fatalf("FromFlags = %q, want error", rules)
			}
			if !errors.Is(err, ErrBadRule) {
				t.Errorf("error %v does not wrap ErrBadRule", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestFlagsMatch(t *testing.T) {
	tests := []struct {
		name        string
		includes    []string
		excludes    []string
		excludeFrom string
		path        string
		isDir       bool
		want        bool
	}{
		{name: "plain name excludes dir", excludes: []string{"node_modules"}, path: "web/node_modules", isDir: true, want: false},
		{name: "dot name excludes dir", excludes: []string{".git"}, path: ".git", isDir: true, want: false},
		{name: "dot name is not a regexp", excludes: []string{".git"}, path: "my.git.txt", want: true},
		{name: "regexp anchored at root", excludes: []string{"^build/"}, path: "build", isDir: true, want: false},
		{name: "regexp anchored spares deep", excludes: []string{"^build/"}, path: "src/build", isDir: true, want: true},
		{name: "regexp suffix", excludes: []string{`\.(tmp|bak)$`}, path: "a/b.bak", want: false},
		{name: "regexp searched anywhere", excludes: []string{`cache\d+`}, path: "a/xcache12y/z", want: false},
		{name: "escaped comma matches comma", excludes: []string{`a\,b`}, path: "d/a,b", want: false},
		{name: "escaped comma spares a", excludes: []string{`a\,b`}, path: "a", want: true},
		{name: "escaped comma spares b", excludes: []string{`a\,b`}, path: "b", want: true},
		{name: "split comma excludes a", excludes: []string{"a,b"}, path: "a", want: false},
		{name: "split comma spares a,b", excludes: []string{"a,b"}, path: "a,b", want: true},
		{name: "file keeps comma", excludeFrom: "a,b\n", path: "a,b", want: false},
		{name: "file keeps comma spares a", excludeFrom: "a,b\n", path: "a", want: true},
		{name: "file crlf", excludeFrom: "*.o\r\n", path: "x.o", want: false},
		{name: "file hash escape", excludeFrom: `\#notes` + "\n", path: "#notes", want: false},
		{name: "include go files", includes: []string{"*.go"}, path: "cmd/fcp/main.go", want: true},
		{name: "include drops others", includes: []string{"*.go"}, path: "README.md", want: false},
		{name: "include with exclude", includes: []string{"*.go"}, excludes: []string{"*_test.go"}, path: "x_test.go", want: false},
		{name: "fastcopy default include", includes: []string{"*"}, path: "a/.b", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var files []string
			if tt.excludeFrom != "" {
				files = []string{tt.excludeFrom}
			}
			rules, err := FromFlags(tt.includes, tt.excludes, files)
			if err != nil {
				t.Fatalf("FromFlags: %v", err)
			}
			f, err := Compile(rules)
			if err != nil {
				t.Fatalf("Compile(%q): %v", rules, err)
			}
			if got := f.Match(tt.path, tt.isDir); got != tt.want {
				t.Errorf("rules %q: Match(%q, %v) = %v, want %v", rules, tt.path, tt.isDir, got, tt.want)
			}
		})
	}
}

func TestSplitPatterns(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  []string
	}{
		{name: "empty", value: "", want: nil},
		{name: "one", value: "a", want: []string{"a"}},
		{name: "two", value: "a,b", want: []string{"a", "b"}},
		{name: "trim", value: " a , b ", want: []string{"a", "b"}},
		{name: "drop empty", value: ",a,,b,", want: []string{"a", "b"}},
		{name: "escaped comma", value: `a\,b`, want: []string{`a\,b`}},
		{name: "escaped backslash", value: `a\\,b`, want: []string{`a\\`, "b"}},
		{name: "trailing backslash", value: `a\`, want: []string{`a\`}},
		{name: "unicode", value: "日本,é", want: []string{"日本", "é"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := splitPatterns(tt.value); !slices.Equal(got, tt.want) {
				t.Errorf("splitPatterns(%q) = %q, want %q", tt.value, got, tt.want)
			}
		})
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("- a/**/b", "a/x/b", false)
	f.Add("-re ^build/", "build", true)
	f.Add("+ *.go", "x/y.go", false)
	f.Add("- /[a-z]?/", "ab", true)
	f.Fuzz(func(t *testing.T, rule, path string, isDir bool) {
		flt, err := Compile([]string{rule})
		if err != nil {
			return
		}
		flt.Match(path, isDir)
	})
}
