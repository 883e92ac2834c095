package shell

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/filter"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Scan implements endpoint.Endpoint. One find walks rel (not following
// symlinks) and streams what it finds, NUL-framed: with GNU find, through
// -printf (type, mode, size, mtime in ns, path, link target); elsewhere,
// find hands batches of paths to a small sh that prints them, then their
// stat -c lines, then the target of each symlink (one readlink each).
// Each stat line ends with its path, which is checked against the paths
// printed before it, so a path holding newlines cannot be misread and a
// file that vanished is skipped. The entries are sorted here, so memory
// grows with the size of the tree.
//
// Mtimes have nanoseconds where stat or find report them (GNU, busybox).
// opts.Hash is not supported (the shell cannot hash): entries have no
// sum. Names starting with ".fcp-" are skipped; staging directories of
// dead sessions (".fcp-shell.*") found on the way are removed. A find that
// fails (an unreadable directory, a file vanishing under GNU find) fails
// the scan, with find's messages.
func (e *shellEndpoint) Scan(ctx context.Context, rel string, opts endpoint.ScanOptions, fn func(*wire.Entry) error) error {
	if err := e.check(ctx, "scan", rel); err != nil {
		return err
	}
	f, err := filter.Compile(opts.Rules)
	if err != nil {
		return fmt.Errorf("scan %s: %w", rel, err)
	}
	entries, err := e.list(ctx, rel)
	if err != nil {
		return err
	}
	slices.SortFunc(entries, func(a, b wire.Entry) int { return wire.ComparePaths(a.Path, b.Path) })
	skip := "" // an excluded directory, whose contents follow it
	for i := range entries {
		en := &entries[i]
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scan %s: %w", rel, err)
		}
		if skip != "" && isUnder(en.Path, skip) {
			continue
		}
		skip = ""
		if en.Path != "." && !f.Match(en.Path, en.Type == wire.TypeDir) {
			if en.Type == wire.TypeDir {
				skip = en.Path
			}
			continue
		}
		if len(wire.Join(rel, en.Path)) > wire.MaxPath {
			return fmt.Errorf("scan %s: %w: path longer than %d bytes", rel, endpoint.ErrInvalidPath, wire.MaxPath)
		}
		if err := fn(en); err != nil {
			return err
		}
	}
	return nil
}

// statScript is run by sh -c for each batch of paths find hands it: the
// paths, an empty one, their stat lines, and the target of each symlink
// (\001, path, target, each NUL-terminated). readlink's newline is cut
// off with a sentinel so that targets ending in newlines survive.
const statScript = `for f; do printf '%s\0' "$f"; done; printf '\0'; ` +
	`stat -c '%f %s %Y %y %n' -- "$@" 2>/dev/null; ` +
	`for f; do if [ -L "$f" ]; then t=$(readlink -- "$f" && echo .); printf '\001%s\0%s\0' "$f" "${t%?.}"; fi; done; exit 0`

// list returns the entries under rel, unsorted.
func (e *shellEndpoint) list(ctx context.Context, rel string) ([]wire.Entry, error) {
	var sc script
	p := pathVar(&sc, rel)
	sc.f("fcp_dir \"$%s\"; s=$? n=$_n\n", sc.str(parentDir(rel)))
	sc.f("if [ $s = 0 ] && [ ! -L %s ] && [ ! -e %s ]; then s=%d; fi\n", p, p, stNotExist)
	sc.line("if [ $s = 0 ]; then")
	sc.line("fcp_m $Q STREAM")
	action := `-printf '%y %m %s %T@ %P\0%l\0'`
	if !e.caps.findPrintf {
		action = `-exec sh -c "$_x" sh {} +`
		sc.f("_x=$%s\n", sc.str(statScript))
	}
	sc.f(`{ _e=$(find %s \( -name '.fcp-shell.*' ! -name ".fcp-shell.$N*" -prune -exec rm -rf -- {} \; \) -o \( -name '.fcp-*' -prune \) -o %s 2>&1 >&3); } 3>&1 || s=1`+"\n", p, action)
	sc.line(`printf '\n%s\n' "$_e"`)
	sc.line("fi")
	sc.line("fcp_m $Q END $s $n")

	top := e.root + "/"
	if rel == "." {
		top += "."
	} else {
		top += rel
	}
	var entries []wire.Entry
	req := &request{script: &sc, onEvent: func(ev *event) (*payload, error) {
		if ev.kind != "STREAM" {
			return nil, nil
		}
		var err error
		if e.caps.findPrintf {
			entries, err = readPrintf(ev.r)
		} else {
			entries, err = readStat(ev.r, top)
		}
		return nil, err
	}}
	ev, err := e.s.do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", rel, err)
	}
	if err := statusError("scan", rel, ev.arg(0), ev.arg(1), ev.text); err != nil {
		return nil, err
	}
	return entries, nil
}

// errEnd is what a reader of records returns at the newline that ends
// them.
var errEnd = errors.New("end of records")

// next returns the next NUL-terminated field of r, without the NUL, or
// errEnd if the records end here.
func next(r *bufio.Reader, atStart bool) ([]byte, error) {
	if atStart {
		b, err := r.Peek(1)
		if err != nil {
			return nil, err
		}
		if b[0] == '\n' {
			return nil, errEnd
		}
	}
	b, err := r.ReadBytes(0)
	if err != nil {
		return nil, err
	}
	return b[:len(b)-1], nil
}

// readPrintf reads the records of find -printf '%y %m %s %T@ %P\0%l\0'.
func readPrintf(r *bufio.Reader) ([]wire.Entry, error) {
	var entries []wire.Entry
	for {
		head, err := next(r, true)
		if errors.Is(err, errEnd) {
			return entries, nil
		}
		if err != nil {
			return nil, err
		}
		target, err := next(r, false)
		if err != nil {
			return nil, err
		}
		f := bytes.SplitN(head, []byte(" "), 5)
		if len(f) != 5 || len(f[0]) != 1 {
			return nil, fmt.Errorf("malformed find record %q", head)
		}
		var en wire.Entry
		switch f[0][0] {
		case 'f':
			en.Type = wire.TypeFile
		case 'd':
			en.Type = wire.TypeDir
		case 'l':
			en.Type = wire.TypeSymlink
		default:
			continue // a special file
		}
		mode, err1 := strconv.ParseUint(string(f[1]), 8, 32)
		size, err2 := strconv.ParseInt(string(f[2]), 10, 64)
		mtime, err3 := parseSeconds(string(f[3]))
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("malformed find record %q: %v", head, err)
		}
		en.Mode, en.Mtime = uint32(mode)&0o7777, mtime
		en.Path = string(f[4])
		if en.Path == "" {
			en.Path = "."
		}
		switch en.Type {
		case wire.TypeFile:
			en.Size = size
		case wire.TypeSymlink:
			en.Target = string(target)
		}
		entries = append(entries, en)
	}
}

// parseSeconds parses seconds since the epoch with an optional fraction
// ("-12.5", "1614834367.1234567890") into nanoseconds.
func parseSeconds(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, err
	}
	ns, err := parseFraction(frac)
	if err != nil {
		return 0, err
	}
	t := sec*1e9 + ns
	if neg {
		t = -t
	}
	return t, nil
}

// parseFraction returns the decimal digits of a fraction of a second as
// nanoseconds.
func parseFraction(frac string) (int64, error) {
	var ns int64
	for i := 0; i < 9; i++ {
		ns *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("bad fraction %q", frac)
			}
			ns += int64(c - '0')
		}
	}
	return ns, nil
}

// readStat reads the batches the stat script prints for find; top is the
// path find started from, which every path extends.
func readStat(r *bufio.Reader, top string) ([]wire.Entry, error) {
	var entries []wire.Entry
	index := map[string]int{} // path → index in entries, for symlinks
	var batch []string        // the paths of the current batch
	var i int                 // the next path of batch to expect a stat line for
	for {
		b, err := r.Peek(1)
		if err != nil {
			return nil, err
		}
		switch c := b[0]; {
		case c == '\n':
			var out []wire.Entry
			for _, en := range entries {
				if en.Type != wire.TypeSymlink || en.Target != "" {
					out = append(out, en) // a symlink whose target could not be read vanished
				}
			}
			return out, nil
		case c == '/':
			batch, i = batch[:0], 0
			for {
				name, err := next(r, false)
				if err != nil {
					return nil, err
				}
				if len(name) == 0 {
					break
				}
				batch = append(batch, string(name))
			}
		case c == 1:
			r.ReadByte()
			name, err := next(r, false)
			if err != nil {
				return nil, err
			}
			target, err := next(r, false)
			if err != nil {
				return nil, err
			}
			if k, ok := index[string(name)]; ok {
				entries[k].Target = string(target)
			}
		default:
			en, name, err := readStatLine(r, batch[i:])
			if err != nil {
				return nil, err
			}
			i += slices.Index(batch[i:], name) + 1
			if en.Type == 0 {
				continue
			}
			switch {
			case name == top:
				en.Path = "."
			case strings.HasPrefix(name, top+"/"):
				en.Path = name[len(top)+1:]
			default:
				return nil, fmt.Errorf("stat of %q, outside %q", name, top)
			}
			index[name] = len(entries)
			entries = append(entries, en)
		}
	}
}

// readStatLine reads a line of stat -c '%f %s %Y %y %n' for the first of
// names it is about (those before it vanished) and returns the entry (Type
// 0 for a special file) and the name.
func readStatLine(r *bufio.Reader, names []string) (wire.Entry, string, error) {
	var f [6]string
	for n := range f {
		b, err := r.ReadSlice(' ')
		if err != nil {
			return wire.Entry{}, "", fmt.Errorf("malformed stat line: %v", err)
		}
		f[n] = string(b[:len(b)-1])
	}
	name := ""
	for _, cand := range names {
		b, err := r.Peek(len(cand) + 1)
		if err == nil && string(b[:len(cand)]) == cand && b[len(cand)] == '\n' {
			name = cand
			break
		}
	}
	if name == "" {
		return wire.Entry{}, "", fmt.Errorf("stat line %q about no path of its batch", f)
	}
	r.Discard(len(name) + 1)
	raw, err1 := strconv.ParseUint(f[0], 16, 32)
	size, err2 := strconv.ParseInt(f[1], 10, 64)
	sec, err3 := strconv.ParseInt(f[2], 10, 64)
	_, frac, _ := strings.Cut(f[4], ".")
	ns, err4 := parseFraction(frac)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return wire.Entry{}, "", fmt.Errorf("malformed stat line %q: %v", f, err)
	}
	en := wire.Entry{Mode: uint32(raw) & 0o7777, Mtime: sec*1e9 + ns}
	switch raw & 0o170000 {
	case 0o100000:
		en.Type, en.Size = wire.TypeFile, size
	case 0o040000:
		en.Type = wire.TypeDir
	case 0o120000:
		en.Type = wire.TypeSymlink
	}
	return en, name, nil
}
