package ignore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// configCase is a user git config (~/.gitconfig, with other files in the
// home directory) and what core.excludesFile is in it: its raw value, or
// that it is unset, or that git refuses the configuration.
type configCase struct {
	name  string
	cfg   string
	files map[string]string // other files in the home directory
	value string
	unset bool
	bad   bool
}

var configCases = []configCase{
	{name: "plain", cfg: "[core]\n\texcludesFile = a\n", value: "a"},
	{name: "case-insensitive names", cfg: "[CORE]\nEXCLUDESFILE = a\n", value: "a"},
	{name: "quoted", cfg: "[core]\nexcludesFile=\"a b\"\n", value: "a b"},
	{name: "surrounding space", cfg: "[core]\n  excludesFile  =  a  \n", value: "a"},
	{name: "inner tabs become spaces", cfg: "[core]\nexcludesFile = a\t\tb\n", value: "a  b"},
	{name: "escapes", cfg: "[core]\nexcludesFile = \"a\\tb\\\\c\\\"d\\ne\\bf\"\n", value: "a\tb\\c\"d\ne\bf"},
	{name: "continuation", cfg: "[core]\nexcludesFile = a\\\nb\n", value: "ab"},
	{name: "continuation keeps space", cfg: "[core]\nexcludesFile = a \\\n b\n", value: "a  b"},
	{name: "semicolon comment", cfg: "[core]\nexcludesFile = a ; c\n", value: "a"},
	{name: "hash comment", cfg: "[core]\nexcludesFile = a# c\n", value: "a"},
	{name: "quoted comment chars", cfg: "[core]\nexcludesFile = \"a ; #c\"\n", value: "a ; #c"},
	{name: "quotes inside", cfg: "[core]\nexcludesFile = a\"b\"c\n", value: "abc"},
	{name: "two quoted parts", cfg: "[core]\nexcludesFile = \"a\" \"b\"\n", value: "a b"},
	{name: "empty", cfg: "[core]\nexcludesFile =\n", value: ""},
	{name: "empty quotes", cfg: "[core]\nexcludesFile = \"\"\n", value: ""},
	{name: "tilde kept raw", cfg: "[core]\nexcludesFile = ~/x\n", value: "~/x"},
	{name: "last wins", cfg: "[core]\nexcludesFile = a\nexcludesFile = b\n", value: "b"},
	{name: "key after header", cfg: "[core] excludesFile = a\n", value: "a"},
	{name: "comments", cfg: "# c\n; c\n[core] ; c\n\t# c\nexcludesFile = a\n", value: "a"},
	{name: "CRLF", cfg: "[core]\r\nexcludesFile = a\r\n", value: "a"},
	{name: "BOM", cfg: "\xef\xbb\xbf[core]\nexcludesFile = a\n", value: "a"},
	{name: "no final newline", cfg: "[core]\nexcludesFile = a", value: "a"},
	{name: "subsection", cfg: "[core \"x\"]\nexcludesFile = a\n", unset: true},
	{name: "old subsection", cfg: "[core.x]\nexcludesFile = a\n", unset: true},
	{name: "other section", cfg: "[core]\n[other]\nexcludesFile = a\n", unset: true},
	{name: "no section", cfg: "excludesFile = a\n", unset: true},
	{name: "escaped subsection", cfg: "[s \"a\\\"]b\"]\nx = 1\n[core]\nexcludesFile = a\n", value: "a"},
	{name: "no value", cfg: "[core]\nexcludesFile\n", bad: true},
	{name: "unknown escape", cfg: "[core]\nexcludesFile = a\\x\n", bad: true},
	{name: "unterminated quote", cfg: "[core]\nexcludesFile = \"a\n", bad: true},
	{name: "unterminated header", cfg: "[core\n", bad: true},
	{name: "space in section", cfg: "[co re]\n", bad: true},
	{name: "space after subsection", cfg: "[core \"x\" ]\n", bad: true},
	{name: "empty section", cfg: "[]\n", bad: true},
	{name: "key starts with digit", cfg: "[core]\n1x = y\n", bad: true},
	{name: "underscore in key", cfg: "[core]\nexcludes_file = a\n", bad: true},
	{name: "partial BOM", cfg: "\xef\xbb[core]\n", bad: true},
	{name: "unknown user", cfg: "[core]\nexcludesFile = ~nosuchuser-fcp/x\n", value: "~nosuchuser-fcp/x", bad: true},
	{name: "include", cfg: "[include]\npath = inc\n", files: map[string]string{"inc": "[core]\nexcludesFile = i\n"}, value: "i"},
	{name: "include in place", cfg: "[core]\nexcludesFile = a\n[include]\npath = inc\n", files: map[string]string{"inc": "[core]\nexcludesFile = i\n"}, value: "i"},
	{name: "include overridden", cfg: "[include]\npath = inc\n[core]\nexcludesFile = a\n", files: map[string]string{"inc": "[core]\nexcludesFile = i\n"}, value: "a"},
	{name: "include missing", cfg: "[include]\npath = nope\n[core]\nexcludesFile = a\n", value: "a"},
	{name: "include nested relative", cfg: "[include]\npath = d/inc\n", files: map[string]string{"d/inc": "[include]\npath = inc2\n", "d/inc2": "[core]\nexcludesFile = j\n"}, value: "j"},
	{name: "include tilde", cfg: "[include]\npath = ~/inc\n", files: map[string]string{"inc": "[core]\nexcludesFile = i\n"}, value: "i"},
	{name: "include loop", cfg: "[include]\npath = .gitconfig\n", bad: true},
	{name: "include bad file", cfg: "[include]\npath = inc\n", files: map[string]string{"inc": "[core\n"}, bad: true},
	{name: "include without value", cfg: "[include]\npath\n", bad: true},
}

// TestConfig checks the value of core.excludesFile that configReader finds
// in configCases, and that New refuses the bad ones; and checks both
// against git if it is installed.
func TestConfig(t *testing.T) {
	hasGit := true
	if testing.Short() {
		hasGit = false
	} else if _, _, err := runGit(".", nil, nil, nil, "--version"); err != nil {
		hasGit = false
	}
	for _, c := range configCases {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			w := t.TempDir()
			if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(c.cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			for name, content := range c.files {
				p := filepath.Join(home, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}

			if !c.bad || c.value != "" {
				cr := configReader{home: home}
				if err := cr.file(filepath.Join(home, ".gitconfig"), 0); err != nil {
					t.Fatalf("reading the config: %v", err)
				}
				switch {
				case c.unset && cr.excludesFile != nil:
					t.Errorf("core.excludesFile = %q, want unset", *cr.excludesFile)
				case !c.unset && cr.excludesFile == nil:
					t.Errorf("core.excludesFile unset, want %q", c.value)
				case !c.unset && *cr.excludesFile != c.value:
					t.Errorf("core.excludesFile = %q, want %q", *cr.excludesFile, c.value)
				}
			}
			m, err := New(w, Options{Home: home})
			switch {
			case c.bad && !errors.Is(err, ErrConfig):
				t.Errorf("New: %v, want an error wrapping ErrConfig", err)
			case !c.bad && err != nil:
				t.Errorf("New: %v", err)
			}
			if err == nil {
				m.Close()
			}

			if !hasGit {
				return
			}
			if err := gitInit(w, gitEnv(t.TempDir(), "")); err != nil {
				t.Fatal(err)
			}
			env := gitEnv(home, "")
			_, code, err := runGit(w, env, nil, []int{128}, "ls-files", "-o", "--exclude-standard")
			if err != nil {
				t.Fatal(err)
			}
			if gitBad := code == 128; gitBad != c.bad {
				t.Errorf("git refuses the configuration: %v, the table says %v", gitBad, c.bad)
			}
			if c.bad && c.value == "" {
				return
			}
			out, code, err := runGit(w, env, nil, []int{1}, "config", "-z", "--global", "--includes", "--get", "core.excludesFile")
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case code == 1 && !c.unset:
				t.Errorf("git finds core.excludesFile unset, the table says %q", c.value)
			case code == 0 && c.unset:
				t.Errorf("git finds core.excludesFile = %q, the table says unset", out)
			case code == 0 && string(out) != c.value+"\x00":
				t.Errorf("git finds core.excludesFile = %q, the table says %q", out, c.value)
			}
		})
	}
}

// TestExpandPath checks the expansion of "~" in configured paths.
func TestExpandPath(t *testing.T) {
	tests := []struct {
		name, in, home, want string
		err                  bool
	}{
		{name: "absolute", in: "/a/b", home: "/h", want: "/a/b"},
		{name: "relative", in: "a/b", home: "/h", want: "a/b"},
		{name: "home", in: "~/x", home: "/h", want: "/h/x"},
		{name: "home alone", in: "~", home: "/h", want: "/h"},
		{name: "tilde inside", in: "a/~/x", home: "/h", want: "a/~/x"},
		{name: "no home", in: "~/x", err: true},
		{name: "no such user", in: "~nosuchuser-fcp/x", home: "/h", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := expandPath(tt.in, tt.home)
			if tt.err {
				if !errors.Is(err, ErrConfig) {
					t.Errorf("expandPath(%q) = %q, %v; want an error wrapping ErrConfig", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("expandPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}
