package ignore

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestWildmatch checks cases from git's t/t3070-wildmatch.sh. Matching
// inside pattern files is checked against git itself by TestSyntax,
// TestBytesAgainstGit and the random tests.
func TestWildmatch(t *testing.T) {
	tests := []struct {
		pattern, text string
		pathname      bool
		want          bool
	}{
		{"foo", "foo", true, true},
		{"bar", "foo", true, false},
		{"???", "foo", true, true},
		{"??", "foo", true, false},
		{"*", "foo", true, true},
		{"f*", "foo", true, true},
		{"*f", "foo", true, false},
		{"*foo*", "foo", true, true},
		{"*ob*a*r*", "foobar", true, true},
		{"*ab", "aaaaaaabababab", true, true},
		{`foo\*`, "foo*", true, true},
		{`foo\*bar`, "foobar", true, false},
		{`f\\oo`, `f\oo`, true, true},
		{"*[al]?", "ball", true, true},
		{"[ten]", "ten", true, false},
		{"**[!te]", "ten", true, true},
		{"**[!ten]", "ten", true, false},
		{"t[a-g]n", "ten", true, true},
		{"t[!a-g]n", "ten", true, false},
		{"t[!a-g]n", "ton", true, true},
		{"t[^a-g]n", "ton", true, true},
		{"a[]]b", "a]b", true, true},
		{"a[]-]b", "a-b", true, true},
		{"a[]-]b", "a]b", true, true},
		{"a[]-]b", "aab", true, false},
		{"a[]a-]b", "aab", true, true},
		{"]", "]", true, true},
		{"foo*bar", "foo/baz/bar", true, false},
		{"foo*bar", "foo/baz/bar", false, true},
		{"foo**bar", "foo/baz/bar", true, false},
		{"foo/**/bar", "foo/baz/bar", true, true},
		{"foo/**/bar", "foo/bar", true, true},
		{"foo/**/**/bar", "foo/b/a/z/bar", true, true},
		{"**/foo", "XXX/foo", true, true},
		{"**/bar*", "foo/bar/baz", true, false},
		{"**/bar/*", "deep/foo/bar/baz", true, true},
		{"**/bar/*", "deep/foo/bar", true, false},
		{"**/bar/**", "deep/foo/bar/baz/", true, true},
		{"*/bar/**", "foo/bar/baz/x", true, true},
		{"[[:alpha:]][[:digit:]][[:upper:]]", "a1B", true, true},
		{"[[:digit:][:upper:][:space:]]", "a", true, false},
		{"[a-c[:digit:]x-z]", "5", true, true},
		{"[[:xdigit:]]", "f", true, true},
		{"-*-*-*-*-*-*-12-*-*-*-m-*-*-*", "-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1", true, true},
		{"XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*", "XXX/adobe/courier/bold/o/normal//12/120/75/75/m/70/iso8859/1", true, true},
		{"**/*a*b*g*n*t", "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txt", true, true},
		{"**/*a*b*g*n*t", "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txtz", true, false},
	}
	for _, tt := range tests {
		if got := wildmatch(tt.pattern, tt.text, tt.pathname); got != tt.want {
			t.Errorf("wildmatch(%q, %q, pathname %v) = %v, want %v", tt.pattern, tt.text, tt.pathname, got, tt.want)
		}
	}
}

// TestWildmatchPathological checks that patterns on which git's algorithm
// takes exponential time finish.
func TestWildmatchPathological(t *testing.T) {
	tests := []struct{ pattern, text string }{
		{strings.Repeat("**/a/", 12) + "b", strings.Repeat("a/", 100) + "c"},
		{strings.Repeat("a/**/", 12) + "b", strings.Repeat("a/", 100) + "c"},
		{strings.Repeat("*a", 30) + "*b", strings.Repeat("a", 300)},
		{strings.Repeat("**a", 30) + "b", strings.Repeat("a/", 150)},
	}
	for _, tt := range tests {
		for _, pathname := range []bool{false, true} {
			if wildmatch(tt.pattern, tt.text, pathname) {
				t.Errorf("wildmatch(%q, %q, pathname %v) = true", tt.pattern, tt.text, pathname)
			}
		}
	}
}

// wildPlain and wildMemo run the two modes of wildmatch alone.
func wildPlain(p, s string, pathname bool) bool {
	w := wild{p: p, t: s, pathname: pathname, budget: -1}
	return w.match(0, 0) == wmMatch
}

func wildMemo(p, s string, pathname bool) bool {
	w := wild{p: p, t: s, pathname: pathname, budget: -1, memo: make(map[[2]int]int)}
	return w.match(0, 0) == wmMatch
}

// TestWildmatchMemo checks that remembering results does not change them.
func TestWildmatchMemo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const patternBytes, textBytes = `ab/*?[]!-\:`, "ab/"
	gen := func(alphabet string, n int) string {
		b := make([]byte, rng.IntN(n))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		p, s := gen(patternBytes, 12), gen(textBytes, 10)
		for _, pathname := range []bool{false, true} {
			if plain, memo := wildPlain(p, s, pathname), wildMemo(p, s, pathname); plain != memo {
				t.Fatalf("wildmatch(%q, %q, pathname %v): %v without memo, %v with", p, s, pathname, plain, memo)
			}
		}
	}
}

// FuzzWildmatchMemo is TestWildmatchMemo driven by the fuzzer.
func FuzzWildmatchMemo(f *testing.F) {
	f.Add("**/a/**/b", "a/a/b", true)
	f.Add("[[:alpha:]-z]*", "q", false)
	f.Fuzz(func(t *testing.T, p, s string, pathname bool) {
		if len(p) > 24 || len(s) > 24 {
			return
		}
		if plain, memo := wildPlain(p, s, pathname), wildMemo(p, s, pathname); plain != memo {
			t.Errorf("wildmatch(%q, %q, pathname %v): %v without memo, %v with", p, s, pathname, plain, memo)
		}
	})
}
