// Package ignore decides, for the paths of a git work tree, whether git
// would ignore them: the rules of gitignore(5), implemented as git 2.39
// implements them in dir.c and wildmatch.c, and tested against git itself.
//
// # Sources
//
// Patterns come from, in decreasing precedence:
//
//  1. the .gitignore file of every directory, a deeper one before a
//     shallower one; patterns are relative to the file's directory;
//  2. $GIT_DIR/info/exclude;
//  3. the file named by core.excludesFile, by default
//     $XDG_CONFIG_HOME/git/ignore or ~/.config/git/ignore.
//
// The verdict on a path is that of the last matching pattern of the first
// source that has one: ignored, or not if the pattern is a negation. A
// path is also ignored if a directory above it is: git does not look into
// ignored directories, so no pattern can re-include a path below one.
// Entries named .git are always ignored unless Options.IncludeGitDir.
//
// # Patterns
//
// One pattern per line; '\r' before the newline, a UTF-8 byte order mark
// at the start, and trailing spaces (not tabs) are dropped, unless the
// last space is escaped as "\ ". Empty lines and lines starting with '#'
// are skipped; "\#" starts a pattern with '#', "\!" with '!'. A line
// stops at a NUL byte. A leading '!' negates the pattern. A trailing '/'
// makes it match only directories (not symbolic links to them), and is
// then removed. If the pattern still contains a '/', it is matched against
// the path relative to the directory of its file, and a leading '/' is
// dropped; otherwise it is matched against the last component of the path
// at any depth.
//
// Matching is on bytes, case-sensitive (core.ignoreCase is not honoured),
// and as fnmatch with FNM_PATHNAME: '*' matches any run of bytes but '/',
// '?' any byte but '/', "[...]" one byte but '/' from a set of bytes,
// ranges ("a-z") and the POSIX classes [:alnum:] [:alpha:] [:blank:]
// [:cntrl:] [:digit:] [:graph:] [:lower:] [:print:] [:punct:] [:space:]
// [:upper:] [:xdigit:] (ASCII only, [:space:] without '\v' and '\f'),
// negated by a leading '!' or '^'; a ']' first in the set is a member. A
// backslash makes the next byte literal. "**" between slashes or at either
// end of the pattern matches any number of components: "**/x" matches x
// at any depth, "x/**" everything below x, "a/**/b" a/b, a/y/b, a/y/z/b.
// Elsewhere "**" is '*'. An unknown class or an unclosed '[' makes the
// pattern match nothing. Where git's wildmatch would take time exponential
// in the number of "**" in a pattern, this one falls back to remembering
// intermediate results, with the same verdicts.
//
// # Use
//
// New reads the repository's configuration and global pattern files. A
// Matcher answers Ignored for any path, reading and caching .gitignore
// files as needed; AddFile and Forget let a caller supply their contents
// or drop them when they change. A tree walker that reads directories
// anyway can instead take the Dir of its starting point from the Matcher
// and derive each subdirectory's with Dir.Enter, handing it the
// .gitignore it read there:
//
//	d := m.Dir(rel)
//	for each entry e of the directory:
//		if d.Ignored(e.Name, e.IsDir) { skip it }
//		if e.IsDir { walk it with d.Enter(e.Name, contentsOf(e/.gitignore)) }
//
// Parsing and matching do no I/O; only New and the Matcher's loading of
// .gitignore files (through an os.Root, so confined to the tree) read
// files.
//
// # Not covered
//
// The package knows nothing of git's index: git never ignores a tracked
// file, and it lists a nested repository as one entry without looking
// inside, while here both are judged by the patterns like anything else.
// Of git's configuration only core.excludesFile is read, from the user's
// and the repository's config files and their include.path files, not
// from the system config, includeIf sections, the worktree config or the
// environment (GIT_DIR, GIT_CONFIG_GLOBAL, ...). Parent directories of
// the work tree root are not consulted.
package ignore
