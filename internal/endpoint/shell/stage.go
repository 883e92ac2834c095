package shell

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"
)

// Files and symlinks are put in place by staging: the shell checks their
// directories (each component a real directory), reports which are fit in
// a READY marker, and reads one tar stream, generated here, of exactly
// the size it is told, with head -c piped into tar -x (see fcp_x in
// prelude). The stream holds,
// for every fit directory D, a staging directory D/.fcp-shell.<nonce>
// (mode 0700) and in it every item under its final name, with its mode
// and mtime. Each staging directory is then emptied with one
// mv -f -t D (one rename per item: atomic, and not following a symlink
// at the final name), after removing a directory in the way, and
// removed. Staging beside the target, rather than in one place, keeps
// every rename within one file system.

// stageItem is a file or symlink to put in place.
type stageItem struct {
	rel    string
	link   bool   // a symlink to target; else a regular file
	target string // for a symlink
	mode   uint32
	mtime  int64       // ns
	size   int64       // for a file
	data   io.ReaderAt // for a file: size bytes; nil if empty
	// skip, if set, reports whether the item is to be left out (its
	// caller gave up waiting).
	skip func() bool
}

// stageRun is items staged at one READY marker of a command.
type stageRun struct {
	ready   int // the READY marker's number
	nonce   string
	rootLen int // of the root's path, to bound arguments
	items   []*stageItem
	ops     []int    // the op number (OP marker) of each item
	dirs    []string // the items' directories, relative, without duplicates
	dir     []int    // index in dirs of each item

	// Filled when the payload is made:
	sent []bool  // the item went into the payload
	errs []error // failures found here, which override the shell's
}

// newStageRun returns a run of items, reported as ops[i], for endpoint e.
func newStageRun(e *shellEndpoint, ready int, items []*stageItem, ops []int) *stageRun {
	r := &stageRun{ready: ready, nonce: e.s.nonce, rootLen: len(e.root), items: items, ops: ops, dir: make([]int, len(items))}
	index := map[string]int{}
	for i, it := range items {
		d := parentDir(it.rel)
		j, ok := index[d]
		if !ok {
			j = len(r.dirs)
			index[d] = j
			r.dirs = append(r.dirs, d)
		}
		r.dir[i] = j
	}
	r.sent = make([]bool, len(items))
	r.errs = make([]error, len(items))
	return r
}

// parentDir returns the directory of rel, "." at the top.
func parentDir(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return "."
}

// absDir returns shell text for the absolute path of the relative
// directory held in variable v (d is its value).
func absDir(d, v string) string {
	if d == "." {
		return "$R/."
	}
	return "$R/$" + v
}

// write appends the run's shell code to sc.
func (r *stageRun) write(sc *script) {
	p := "r" + strconv.Itoa(r.ready) + "_"
	for j, d := range r.dirs {
		v := sc.str(d)
		sc.f("fcp_dir \"$%s\"; %sc%d=$? %sn%d=$_n\n", v, p, j, p, j)
		sc.f("%sa%d=%s; %st%d=$%sa%d/%s$N\n", p, j, absDir(d, v), p, j, p, j, stagePrefix)
	}
	var statuses strings.Builder
	for i, k := range r.ops {
		sc.f("s%d=$%sc%d\n", k, p, r.dir[i])
		fmt.Fprintf(&statuses, " $s%d", k)
	}
	sc.f("fcp_m $Q READY %d%s\n", r.ready, statuses.String())
	sc.line(`read -r _z`)
	sc.line(`_e='fcp: not staged'; _x=1; if [ "$_z" -gt 0 ]; then _e=$(fcp_x "$_z" 2>&1); _x=$?; fi`)
	// The verdict: the items to leave out after all, in a file beside
	// the first fit directory's staging directory. It is the last member
	// of the stream: without it, nothing is put in place.
	sc.line("_w=")
	for j := range r.dirs {
		sc.f("if [ -z \"$_w\" ] && [ $%sc%d = 0 ]; then _w=$%st%d.v; fi\n", p, j, p, j)
	}
	sc.line(`_v=; if [ $_x = 0 ]; then if [ -n "$_w" ] && [ -f "$_w" ]; then read -r _v <"$_w"; else _x=1 _e='fcp: no verdict'; fi; fi`)
	// When tar succeeded, every item is staged but those in the verdict.
	for _, k := range r.ops {
		sc.f("if [ $s%d = 0 ]; then if [ $_x != 0 ]; then s%d=5; else case \" $_v \" in *\" %d \"*) s%d=%d;; esac; fi; fi\n",
			k, k, k, k, stAborted)
	}
	// Per directory, in as few mv as the argument limit allows: a
	// directory in the way goes first.
	msg := make([]string, len(r.items)) // the variable with the output of each item's mv
	nmv := 0
	for j := range r.dirs {
		var in []int
		for i := range r.items {
			if r.dir[i] == j {
				in = append(in, i)
			}
		}
		staged := func(i int) string {
			return fmt.Sprintf(`"$%st%d/$%s"`, p, j, sc.str(path.Base(r.items[i].rel)))
		}
		for _, c := range chunk(in, func(i int) int { return r.rootLen + len(r.items[i].rel) + len(stagePrefix) + 20 }) {
			m := fmt.Sprintf("%sm%d", p, nmv)
			nmv++
			sc.line("set --")
			for _, i := range c {
				k := r.ops[i]
				final := fmt.Sprintf(`"$%sa%d/$%s"`, p, j, sc.str(path.Base(r.items[i].rel)))
				sc.f("if [ $s%d = 0 ]; then if [ -d %s ] && [ ! -L %s ]; then rm -rf -- %s >/dev/null 2>&1; fi; set -- \"$@\" %s; fi\n",
					k, final, final, final, staged(i))
			}
			sc.f("%s=; _y=0; if [ $# -gt 0 ]; then %s=$(mv -f -t \"$%sa%d\" -- \"$@\" 2>&1); _y=$?; fi\n", m, m, p, j)
			for _, i := range c {
				k := r.ops[i]
				msg[i] = m
				sc.f("if [ $_y != 0 ] && [ $s%d = 0 ] && { [ -e %s ] || [ -L %s ]; }; then s%d=6; fi\n", k, staged(i), staged(i), k)
			}
		}
	}
	// Then away with the staging.
	dirs := make([]int, len(r.dirs))
	for j := range dirs {
		dirs[j] = j
	}
	for _, c := range chunk(dirs, func(j int) int { return 2 * (r.rootLen + len(r.dirs[j]) + len(stagePrefix) + 20) }) {
		sc.line("set --")
		for _, j := range c {
			sc.f("if [ $%sc%d = 0 ]; then for _f in \"$%st%d\" \"$%st%d.v\"; do if [ -e \"$_f\" ] || [ -L \"$_f\" ]; then set -- \"$@\" \"$_f\"; fi; done; fi\n", p, j, p, j, p, j)
		}
		sc.line(`if [ $# -gt 0 ]; then rm -rf -- "$@" >/dev/null 2>&1; fi`)
	}
	for i, k := range r.ops {
		sc.f("case $s%d in 5) printf '%%s\\n' \"$_e\";; 6) printf '%%s\\n' \"$%s\";; esac; fcp_m $Q OP %d $s%d $%sn%d\n",
			k, msg[i], k, k, p, r.dir[i])
	}
}

// verdictSize is the size of the verdict file of a run of n items: room
// for every op number.
func verdictSize(n int) int64 { return int64(8*n + 8) }

// payload returns what the shell reads at the run's READY marker, whose
// arguments are the items' statuses after the checks of their
// directories: the staging directories, the items, and last the verdict
// file, which names the items to leave out after all: those not in the
// stream, and those whose caller gave up while it was sent or whose data
// could not be read here.
func (r *stageRun) payload(args []string) *payload {
	type member struct {
		hdr  *tar.Header
		item int // -1 for a staging directory
	}
	if len(args) != len(r.items) {
		for i := range r.items {
			r.errs[i] = fmt.Errorf("the shell reported %d statuses for %d items", len(args), len(r.items))
		}
		return nil
	}
	var members []member
	var size int64 = 2 * 512 // the end of the archive
	now := time.Now()
	staging := make([]bool, len(r.dirs))
	verdictDir := -1
	for i, it := range r.items {
		if args[i] != "0" {
			continue
		}
		j := r.dir[i]
		if verdictDir < 0 {
			verdictDir = j
		}
		if it.skip != nil && it.skip() {
			continue
		}
		h := &tar.Header{
			Name:    r.stagingName(j) + "/" + path.Base(it.rel),
			Mode:    int64(it.mode & 0o7777),
			ModTime: time.Unix(0, it.mtime),
			Format:  tar.FormatPAX,
		}
		if it.link {
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, it.target, 0o777
		} else {
			h.Typeflag, h.Size = tar.TypeReg, it.size
		}
		n, err := headerSize(h)
		if err != nil {
			r.errs[i] = fmt.Errorf("tar header: %w", err)
			continue
		}
		if !staging[j] {
			staging[j] = true
			dh := &tar.Header{Typeflag: tar.TypeDir, Name: r.stagingName(j) + "/", Mode: 0o700, ModTime: now, Format: tar.FormatPAX}
			dn, err := headerSize(dh)
			if err != nil {
				r.errs[i] = fmt.Errorf("tar header: %w", err)
				continue
			}
			members = append(members, member{dh, -1})
			size += dn
		}
		members = append(members, member{h, i})
		size += n + (h.Size+511)/512*512
		r.sent[i] = true
	}
	if len(members) == 0 {
		return nil
	}
	vh := &tar.Header{Typeflag: tar.TypeReg, Name: r.stagingName(verdictDir) + ".v", Mode: 0o600, Size: verdictSize(len(r.items)), ModTime: now, Format: tar.FormatPAX}
	vn, err := headerSize(vh)
	if err != nil {
		for i := range r.items {
			r.errs[i] = fmt.Errorf("tar header: %w", err)
		}
		return nil
	}
	size += vn + (vh.Size+511)/512*512
	return &payload{
		size: size,
		write: func(w io.Writer) error {
			tw := tar.NewWriter(w)
			for _, m := range members {
				if err := tw.WriteHeader(m.hdr); err != nil {
					return err
				}
				if m.hdr.Size == 0 {
					continue
				}
				it := r.items[m.item]
				n, err := io.Copy(tw, io.NewSectionReader(it.data, 0, m.hdr.Size))
				if err != nil || n < m.hdr.Size {
					if err == nil {
						err = io.ErrUnexpectedEOF
					}
					if werr := writeZeros(tw, m.hdr.Size-n); werr != nil {
						return werr
					}
					r.errs[m.item] = fmt.Errorf("reading the buffered data: %w", err)
				}
			}
			verdict := make([]byte, 0, vh.Size)
			for i, it := range r.items {
				if args[i] == "0" && (!r.sent[i] || r.errs[i] != nil || it.skip != nil && it.skip()) {
					verdict = fmt.Appendf(verdict, " %d", r.ops[i])
				}
			}
			if int64(len(verdict)) >= vh.Size {
				return fmt.Errorf("verdict of %d bytes", len(verdict))
			}
			// The newline first: read reads the file byte by byte.
			verdict = append(verdict, '\n')
			verdict = append(verdict, bytes.Repeat([]byte(" "), int(vh.Size)-len(verdict))...)
			if err := tw.WriteHeader(vh); err != nil {
				return err
			}
			if _, err := tw.Write(verdict); err != nil {
				return err
			}
			return tw.Close()
		},
	}
}

// stagingName returns the staging directory of directory j, relative.
func (r *stageRun) stagingName(j int) string {
	if r.dirs[j] == "." {
		return stagePrefix + r.nonce
	}
	return r.dirs[j] + "/" + stagePrefix + r.nonce
}

// headerSize returns the bytes h takes in a tar stream, extended headers
// included.
func headerSize(h *tar.Header) (int64, error) {
	var c countWriter
	if err := tar.NewWriter(&c).WriteHeader(h); err != nil {
		return 0, err
	}
	return c.n, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// writeZeros writes n zero bytes to w.
func writeZeros(w io.Writer, n int64) error {
	var zeros [4096]byte
	for n > 0 {
		m, err := w.Write(zeros[:min(n, int64(len(zeros)))])
		if err != nil {
			return err
		}
		n -= int64(m)
	}
	return nil
}
