package wire

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValidPath(t *testing.T) {
	long := longPath()
	tests := []struct {
		name string
		path string
		ok   bool
	}{
		{"root", ".", true},
		{"name", "a", true},
		{"nested", "a/b/c", true},
		{"spaces", "my dir/my file", true},
		{"newline", "a\nb", true},
		{"invalid utf8", "\xff/\xfe", true},
		{"unicode", "日本/ünïcødé", true},
		{"dot prefix name", ".hidden/..x/x..", true},
		{"backslash", `a\..\b`, true},
		{"max component", strings.Repeat("c", MaxName), true},
		{"max path", long, true},
		{"empty", "", false},
		{"absolute", "/a", false},
		{"slash", "/", false},
		{"trailing slash", "a/", false},
		{"double slash", "a//b", false},
		{"dot component", "a/./b", false},
		{"leading dot component", "./a", false},
		{"trailing dot component", "a/.", false},
		{"dotdot", "..", false},
		{"dotdot inside", "a/../b", false},
		{"dotdot last", "a/..", false},
		{"NUL", "a\x00b", false},
		{"component too long", strings.Repeat("c", MaxName+1), false},
		{"path too long", long + "z", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidPath(tt.path)
			switch {
			case tt.ok && err != nil:
				t.Errorf("ValidPath(%q) = %v, want nil", tt.path, err)
			case !tt.ok && err == nil:
				t.Errorf("ValidPath(%q) = nil, want error", tt.path)
			case !tt.ok && !errors.Is(err, ErrProtocol):
				t.Errorf("ValidPath(%q) = %v, want ErrProtocol", tt.path, err)
			}
		})
	}
}

func TestValidHostPath(t *testing.T) {
	tests := []struct {
		name string
		path string
		ok   bool
	}{
		{"absolute", "/etc/passwd", true},
		{"relative with dotdot", "../x", true},
		{"home", "~", true},
		{"under home", "~/a b", true},
		{"max", "/" + strings.Repeat("x", MaxPath-1), true},
		{"empty", "", false},
		{"NUL", "/a\x00", false},
		{"too long", "/" + strings.Repeat("x", MaxPath), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := validHostPath(tt.path); (err == nil) != tt.ok {
				t.Errorf("validHostPath(%q) = %v, want ok=%v", tt.path, err, tt.ok)
			}
		})
	}
}

func TestComparePaths(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"equal", "a/b", "a/b", 0},
		{"root equal", ".", ".", 0},
		{"root first", ".", "a", -1},
		{"root before punctuation", ".", "!", -1},
		{"root last never", "a", ".", 1},
		{"parent before child", "a", "a/b", -1},
		{"child before sibling with dash", "a/b", "a-b", -1},
		{"dash after child", "a-b", "a/b", 1},
		{"dir contents before later sibling", "a/zzz", "a0", -1},
		{"bytewise", "B", "a", -1},
		{"deep", "a/b/c", "a/b/d", -1},
		{"prefix component", "ab/c", "a/c", 1},
		{"high bytes last", "\xff", "z", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ComparePaths(tt.a, tt.b); got != tt.want {
				t.Errorf("ComparePaths(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := ComparePaths(tt.b, tt.a); got != -tt.want {
				t.Errorf("ComparePaths(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestComparePathsSorts(t *testing.T) {
	want := []string{".", "a", "a/b", "a/b/c", "a/c", "a-b", "a.txt", "b", "b/a"}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortFunc(got, ComparePaths)
	if !slices.Equal(got, want) {
		t.Errorf("sorted = %q, want %q", got, want)
	}
}

func TestJoin(t *testing.T) {
	tests := []struct {
		name      string
		dir, file string
		want      string
	}{
		{"root and name", ".", "a", "a"},
		{"dir and root", "a", ".", "a"},
		{"root and root", ".", ".", "."},
		{"dir and name", "a/b", "c d", "a/b/c d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Join(tt.dir, tt.file); got != tt.want {
				t.Errorf("Join(%q, %q) = %q, want %q", tt.dir, tt.file, got, tt.want)
			}
		})
	}
}
