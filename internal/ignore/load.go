package ignore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxPatternFile is the size above which git skips a pattern file with a
// warning (dir.c: PATTERN_MAX_FILE_SIZE).
const maxPatternFile = 100 << 20

// ErrConfig is wrapped by the errors New returns for a git configuration
// or repository layout that git itself would refuse to run with.
var ErrConfig = errors.New("ignore: bad git configuration")

// New returns a Matcher for the work tree whose top directory is root. It
// reads, once, the repository's info/exclude and the file named by
// core.excludesFile, and opens root to read .gitignore files from as they
// are needed (unless o.NoLoad). The caller must Close the Matcher.
//
// The repository is root/.git: a directory, or a file "gitdir: PATH" as in
// linked worktrees and submodules, whose common directory (named by its
// "commondir" file) holds info/exclude and config. Without root/.git the
// tree has only .gitignore files and the user's excludes file. Directories
// above root are not consulted.
//
// core.excludesFile is read from, in increasing precedence, the user's
// XDG config (o.XDGConfigHome/git/config, or o.Home/.config/git/config),
// o.Home/.gitconfig and the repository's config, following include.path
// directives (includeIf sections and the system config are not read). A
// leading "~/" or "~user/" in it is expanded, and a relative path is taken
// relative to root. Unset, it defaults to o.XDGConfigHome/git/ignore, or
// o.Home/.config/git/ignore. A missing excludes file or info/exclude is no
// error. An error from New wraps ErrConfig for a configuration git would
// refuse (a syntax error, a core.excludesFile without a value, "~user"
// naming no user, an unusable excludes file), or else the fs error.
func New(root string, o Options) (*Matcher, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	common, err := commonDir(root)
	if err != nil {
		return nil, err
	}
	cr := configReader{home: o.Home}
	for _, f := range userConfigFiles(o) {
		if err := cr.file(f, 0); err != nil {
			return nil, err
		}
	}
	if common != "" {
		if err := cr.file(filepath.Join(common, "config"), 0); err != nil {
			return nil, err
		}
	}
	var excludesFile string
	switch {
	case cr.excludesFile != nil && strings.HasPrefix(*cr.excludesFile, "%(prefix)/"):
		log.Warn("ignore: core.excludesFile relative to git's installation is not read", "path", *cr.excludesFile)
	case cr.excludesFile != nil:
		if excludesFile, err = expandPath(*cr.excludesFile, o.Home); err != nil {
			return nil, err
		}
		if excludesFile != "" && !filepath.IsAbs(excludesFile) {
			excludesFile = filepath.Join(root, excludesFile)
		}
	case o.XDGConfigHome != "":
		excludesFile = filepath.Join(o.XDGConfigHome, "git", "ignore")
	case o.Home != "":
		excludesFile = filepath.Join(o.Home, ".config", "git", "ignore")
	}

	r := &rules{includeGitDir: o.IncludeGitDir}
	if common != "" {
		ps, err := readExcludeFile(filepath.Join(common, "info", "exclude"), log)
		if err != nil {
			return nil, err
		}
		r.global = append(r.global, ps)
	}
	if excludesFile != "" {
		ps, err := readExcludeFile(excludesFile, log)
		if err != nil {
			return nil, err
		}
		r.global = append(r.global, ps)
	}

	m := &Matcher{r: r, log: log, top: &node{}}
	if !o.NoLoad {
		if m.root, err = os.OpenRoot(root); err != nil {
			return nil, fmt.Errorf("open work tree: %w", err)
		}
	}
	return m, nil
}

// userConfigFiles returns the user's git config files in the order git
// reads them.
func userConfigFiles(o Options) []string {
	var files []string
	switch {
	case o.XDGConfigHome != "":
		files = append(files, filepath.Join(o.XDGConfigHome, "git", "config"))
	case o.Home != "":
		files = append(files, filepath.Join(o.Home, ".config", "git", "config"))
	}
	if o.Home != "" {
		files = append(files, filepath.Join(o.Home, ".gitconfig"))
	}
	return files
}

// commonDir returns the repository directory of the work tree root that
// holds info/exclude and config, or "" if root has no .git.
func commonDir(root string) (string, error) {
	dotGit := filepath.Join(root, ".git")
	fi, err := os.Stat(dotGit)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find repository: %w", err)
	}
	gitDir := dotGit
	if !fi.IsDir() {
		b, err := os.ReadFile(dotGit)
		if err != nil {
			return "", fmt.Errorf("find repository: %w", err)
		}
		rest, ok := bytes.CutPrefix(b, []byte("gitdir: "))
		p := strings.TrimRight(string(rest), "\r\n")
		if !ok || p == "" {
			return "", fmt.Errorf("%w: invalid gitfile format: %s", ErrConfig, dotGit)
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(root, p)
		}
		gitDir = p
	}
	b, err := os.ReadFile(filepath.Join(gitDir, "commondir"))
	if errors.Is(err, fs.ErrNotExist) {
		return gitDir, nil
	}
	if err != nil {
		return "", fmt.Errorf("find repository: %w", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if !filepath.IsAbs(p) {
		p = filepath.Join(gitDir, p)
	}
	return p, nil
}

// readExcludeFile parses a global pattern file. As git does, it ignores a
// missing file and one it may not read (with a warning), and refuses one
// it cannot read otherwise. Symbolic links are followed.
func readExcludeFile(name string, log *slog.Logger) ([]pattern, error) {
	f, err := os.Open(name)
	switch {
	case errors.Is(err, fs.ErrNotExist) || isNotDir(err) || errors.Is(err, fs.ErrPermission):
		if errors.Is(err, fs.ErrPermission) {
			log.Warn("ignore: cannot access exclude file", "path", name, "err", err)
		}
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("%w: cannot use %s as an exclude file: %w", ErrConfig, name, err)
	}
	defer f.Close()
	b, err := readLimited(f)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot use %s as an exclude file: %w", ErrConfig, name, err)
	}
	return parse(b), nil
}

// errTooLarge reports a pattern file larger than maxPatternFile.
var errTooLarge = errors.New("larger than 100 MiB")

// readLimited reads a pattern file of at most maxPatternFile bytes.
func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxPatternFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPatternFile {
		return nil, errTooLarge
	}
	return b, nil
}

// readGitignore returns the patterns of the .gitignore of the directory
// dir. Like git, it reads only a regular file: a missing file, a symbolic
// link (git opens it with O_NOFOLLOW) or anything else has no patterns,
// and an unreadable file is skipped with a warning.
func (m *Matcher) readGitignore(dir string) []pattern {
	name := ".gitignore"
	if dir != "" {
		name = dir + "/" + name
	}
	fi, err := m.root.Lstat(name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !isNotDir(err) {
			m.log.Warn("ignore: cannot access .gitignore", "path", name, "err", err)
		}
		return nil
	}
	if fi.Mode().Type() == fs.ModeSymlink {
		m.log.Warn("ignore: not following symbolic link", "path", name)
		return nil
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := m.root.Open(name)
	if err != nil {
		m.log.Warn("ignore: cannot read .gitignore", "path", name, "err", err)
		return nil
	}
	defer f.Close()
	b, err := readLimited(f)
	if err != nil {
		m.log.Warn("ignore: cannot read .gitignore", "path", name, "err", err)
		return nil
	}
	return parse(b)
}

// isNotDir reports whether err says that a path component is not a
// directory, which for a .gitignore means there is none.
func isNotDir(err error) bool {
	return errors.Is(err, syscall.ENOTDIR)
}
