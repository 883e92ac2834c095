// Package filter decides which paths of a tree take part in a transfer.
//
// The controller turns the command-line flags into rules with FromFlags,
// sends the rules to wherever the tree is scanned, and that side compiles
// them with Compile and asks Match about every entry. The package does no
// file I/O: callers read --exclude-from files and pass their contents.
//
// # Rules
//
// A rule is one string: a kind, one space, and a pattern that runs
// verbatim to the end of the string (it may contain spaces, commas, '#' or
// any other byte). The kinds are
//
//	rule        meaning
//	+ GLOB      include
//	- GLOB      exclude
//	-re REGEXP  exclude (Go regexp syntax, see regexp/syntax)
//
// Compile rejects any other kind, so a rule from a newer peer is refused
// rather than misread. The order of rules does not matter.
//
// # Globs
//
// A glob is a slash-separated list of components. Each component is a
// path.Match pattern (*, ?, [class], \ escape) that matches one path
// component; '*' matches names starting with '.' too. A component that is
// exactly "**" matches any number of components, including none. Empty,
// "." and ".." components are errors.
//
// A glob is anchored at the right: it matches a path whose last components
// match it, so "*.o" matches "x.o" and "a/b/x.o", "build" matches "build"
// and "src/build", and "a/*.c" matches "a/y.c" and "x/a/y.c". A leading '/'
// anchors it at the root as well, so "/build" matches "build" only. A
// trailing '/' makes it match directories only; an include glob may not
// have one.
//
// # Regexps
//
// A "-re" pattern excludes a path if the regexp matches anywhere in the
// path relative to the root (unanchored search). For a directory it is
// also tried on the path with "/" appended, so "^build/" excludes the
// top-level directory build itself, not only what is in it.
//
// # Decisions
//
// Match reports whether a path is included:
//
//  1. A path matched by any exclude rule is excluded. An excluded
//     directory is not entered, so nothing below it is included either;
//     callers prune on Match(dir, true) == false.
//  2. Otherwise a directory is included: include rules never apply to
//     directories, so "+ *.go" keeps every .go file in the tree.
//  3. Otherwise, if there is at least one include rule, a file (or a
//     symlink, or any other non-directory) is included only if some include
//     rule matches it; without include rules it is included.
//
// Excludes therefore always win over includes. A nil *Filter, and one
// compiled from no rules, includes everything.
//
// # Flags
//
// FromFlags maps fcp's flags, a superset of FastCopy's, onto rules:
//
//   - --include GLOB (repeatable): one "+" rule per value, used verbatim.
//   - --exclude PATTERNS (repeatable): each value is split at commas into
//     patterns; a comma preceded by a backslash does not split ("a\,b" is
//     the one pattern a\,b, which as a glob or a regexp matches "a,b"), and
//     a backslash escapes the next character for splitting as it does in
//     globs and regexps. Spaces around each pattern are trimmed and empty
//     patterns are dropped.
//   - --exclude-from FILE (repeatable): one pattern per line, never split
//     and never trimmed except for a trailing "\r" (CRLF files work).
//     Lines that are empty or all white space, and lines whose first byte
//     is '#', are ignored; write "\#" for a pattern starting with '#'.
//     A file is the way to give a pattern with a comma or surrounding
//     spaces verbatim.
//
// Each exclude pattern, from either flag, is always a glob ("- " rule).
// It is also a regexp ("-re " rule) if it contains one of the characters
//
//	^ $ + ( ) { } | \
//
// which have no meaning in a glob besides '\' (an escape in both). A
// pattern without them is only a glob: "node_modules", ".git" and "*.o"
// are names, and ".git" does not exclude "my.git.txt" as the regexp .git
// would. A pattern with them is kept in each form in which it compiles,
// and is an error only if it compiles in neither; so "^build/" and
// `\.tmp$` work as the regexps they look like. A pattern that uses only
// glob syntax and '.' cannot be a regexp; write it with an escape or an
// anchor ("[0-9]+\.log") to make it one.
package filter
