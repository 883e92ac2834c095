package shell

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"sync/atomic"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// Options adjusts Open.
type Options struct {
	Logger *slog.Logger // may be nil

	// scanByStat makes Scan use find, stat and readlink even where find
	// has -printf (for tests).
	scanByStat bool
}

// shellEndpoint is an endpoint.Endpoint on a directory of the host whose
// shell s is.
type shellEndpoint struct {
	s    *session
	root string // absolute, cleaned, "" for "/"
	caps caps
	log  *slog.Logger

	closed  atomic.Bool
	commits committer
}

var _ endpoint.Endpoint = (*shellEndpoint)(nil)

// caps is what the shell's tools were found to do.
type caps struct {
	touchNS    bool // touch -d @SECONDS.NANOSECONDS (GNU)
	touchH     bool // touch -h
	mvT        bool // mv -T
	findPrintf bool // find -printf (GNU)
	stat       bool // stat -c
}

// stagePrefix starts the names of the session's staging directories and
// temporary files: .fcp-shell.<nonce>. Scan skips every name starting
// with ".fcp-", like the local endpoint's temporary files.
const stagePrefix = ".fcp-shell."

// Open starts a session on the POSIX shell whose standard input and output
// rw is (a fresh sh, reached through ssh, docker exec -i or the like; not
// a terminal: the channel must pass every byte as it is) and returns an
// endpoint.Endpoint rooted at the absolute directory root on that shell's
// host. A missing last component of root is made, as local.Open does with
// create. The endpoint is a destination only: see the package
// documentation for what it does and does not do.
//
// Open sets up the shell (functions, the C locale, stderr into stdout),
// removes staging directories a dead session left at the root, and probes
// the tools; it fails if tar, head -c or mv -t is missing. A shell that
// never answers (not a shell at all, say) keeps Open waiting until ctx
// ends. The caller owns the process behind rw: Close ends the shell with
// exit but does not close rw. When Open fails, or the shell stops
// answering, a goroutine keeps reading rw until its Read fails, so the
// caller must end the process.
func Open(ctx context.Context, rw io.ReadWriter, root string, o Options) (endpoint.Endpoint, error) {
	switch {
	case !strings.HasPrefix(root, "/"):
		return nil, fmt.Errorf("shell: open %q: %w: not an absolute path", root, endpoint.ErrInvalidPath)
	case strings.IndexByte(root, 0) >= 0 || len(root) > wire.MaxPath:
		return nil, fmt.Errorf("shell: open %q: %w", root, endpoint.ErrInvalidPath)
	}
	root = path.Clean(root)
	if root == "/" {
		root = ""
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var nonce [8]byte
	rand.Read(nonce[:])
	e := &shellEndpoint{
		s:    newSession(rw, hex.EncodeToString(nonce[:]), log),
		root: root,
		log:  log,
	}
	e.commits.e = e
	e.commits.more = make(chan struct{}, 1)
	if err := e.open(ctx); err != nil {
		e.closed.Store(true)
		e.s.kill(fmt.Errorf("%w: open failed", endpoint.ErrClosed))
		return nil, err
	}
	if o.scanByStat {
		e.caps.findPrintf = false
	}
	return e, nil
}

// open runs the first command: set up, make the root, probe.
func (e *shellEndpoint) open(ctx context.Context) error {
	var sc script
	sc.f("R=$%s\n", sc.str(e.root))
	sc.f("N=%s\n", e.s.nonce)
	sc.line(prelude)
	var capsSeen bool
	req := &request{script: &sc, onEvent: func(ev *event) (*payload, error) {
		if ev.kind != "CAPS" {
			return nil, nil
		}
		capsSeen = true
		for _, a := range ev.args {
			k, v, _ := strings.Cut(a, "=")
			on := v == "1"
			switch k {
			case "tns":
				e.caps.touchNS = on
			case "th":
				e.caps.touchH = on
			case "mvT":
				e.caps.mvT = on
			case "mvt":
				if !on {
					return nil, errors.New("the far side has no mv -t")
				}
			case "findprintf":
				e.caps.findPrintf = on
			case "stat":
				e.caps.stat = on
			case "headc":
				if !on {
					return nil, errors.New("the far side has no head -c")
				}
			case "tar":
				if !on {
					return nil, errors.New("the far side has no tar")
				}
			}
		}
		return nil, nil
	}}
	ev, err := e.s.do(ctx, req)
	if err != nil {
		return fmt.Errorf("shell: open %s: %w", e.rootName(), err)
	}
	if err := statusError("open", e.rootName(), ev.arg(0), -1, ev.text); err != nil {
		return fmt.Errorf("shell: %w", err)
	}
	if !capsSeen {
		return fmt.Errorf("shell: open %s: no answer to the probe", e.rootName())
	}
	if !e.caps.findPrintf && !e.caps.stat {
		return fmt.Errorf("shell: open %s: the far side has neither find -printf nor stat -c", e.rootName())
	}
	e.log.Debug("shell endpoint open", "root", e.rootName(), "tar", firstLine(ev.text),
		"touch_ns", e.caps.touchNS, "touch_h", e.caps.touchH, "mv_T", e.caps.mvT,
		"find_printf", e.caps.findPrintf, "stat", e.caps.stat)
	return nil
}

// firstLine returns the first line of b.
func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// rootName returns the root for messages.
func (e *shellEndpoint) rootName() string {
	if e.root == "" {
		return "/"
	}
	return e.root
}

// prelude sets up the session; R (the root) and N (the nonce) are set
// before it. It defines:
//
//   - fcp_m ARGS: print a marker.
//   - fcp_dir REL: status 0 if $R/REL (REL "." or a relative path) is a
//     directory reached through directories only, none a symlink; 2 if a
//     component is missing, 3 if one is a symlink or not a directory, with
//     _n the number of components up to it.
//   - fcp_x SIZE: extract a tar stream of SIZE bytes from standard input
//     under the root; whatever tar leaves unread (it stops at the end of
//     the archive, or at an error) is read too, so that no byte of the
//     stream is ever read as a command. The status is 0 if tar succeeded.
//   - fcp_touch @S.N @S PATH: set the mtime of PATH, not following a
//     symlink where touch can, with nanoseconds where touch can.
//
// It makes the root if need be, removes staging left at the root by dead
// sessions, and reports what the tools can do with a CAPS marker, the
// first line of tar --version as the END marker's text.
const prelude = `exec 2>&1
set -f
unset IFS CDPATH
LC_ALL=C
export LC_ALL
fcp_m() { printf '\nFCPSH %s %s\n' "$N" "$*"; }
fcp_dir() {
	_n=0
	if [ "$1" = . ]; then return 0; fi
	_r=$1/
	_d=$R
	while [ -n "$_r" ]; do
		_d=$_d/${_r%%/*}
		_r=${_r#*/}
		_n=$((_n + 1))
		if [ -L "$_d" ]; then return 3; fi
		if [ ! -d "$_d" ]; then
			if [ -e "$_d" ]; then return 3; fi
			return 2
		fi
	done
	return 0
}
fcp_x() {
	head -c "$1" | { tar -xpof - -C "$R/."; _t=$?; cat >/dev/null; [ $_t = 0 ]; }
}
fcp_touch() {
	if [ "$T_NS" = 1 ]; then _t=$1; else _t=$2; fi
	if [ "$T_H" = 1 ]; then touch -c -h -d "$_t" -- "$3"; else touch -c -d "$_t" -- "$3"; fi
}
s=0
if [ -n "$R" ] && [ ! -d "$R" ]; then
	if [ -L "$R" ] || [ -e "$R" ]; then
		echo 'Not a directory'
		s=1
	elif mkdir -- "$R"; then
		:
	else
		s=1
	fi
fi
umask 077
if [ $s = 0 ]; then
	set +f
	for _f in "$R"/.fcp-shell.*; do
		if [ -e "$_f" ] || [ -L "$_f" ]; then rm -rf -- "$_f"; fi
	done
	set -f
	T_NS=0 T_H=0 M_T=0 M_t=1 F_P=0 S_C=0 H_C=0 TAR=0
	_f=$R/.fcp-shell.$N.probe
	if { : >"$_f" && mkdir -- "$_f.d"; } 2>/dev/null; then
		touch -c -h -d @1 -- "$_f" >/dev/null 2>&1 && T_H=1
		touch -c -d @1.5 -- "$_f" >/dev/null 2>&1 && T_NS=1
		mv -f -t "$_f.d" -- "$_f" >/dev/null 2>&1 || M_t=0
		mv -f -T -- "$_f.d" "$_f.e" >/dev/null 2>&1 && M_T=1
		rm -rf -- "$_f" "$_f.d" "$_f.e"
	fi
	[ "$(find "$R/." -maxdepth 0 -printf x 2>/dev/null)" = x ] && F_P=1
	[ -n "$(stat -c %s -- "$R/." 2>/dev/null)" ] && S_C=1
	[ "$(printf abc | head -c 2 2>/dev/null)" = ab ] && H_C=1
	command -v tar >/dev/null 2>&1 && TAR=1
	fcp_m $Q CAPS tns=$T_NS th=$T_H mvT=$M_T mvt=$M_t findprintf=$F_P stat=$S_C headc=$H_C tar=$TAR
	tar --version 2>&1 | head -n 1
fi
fcp_m $Q END $s`

// Close implements endpoint.Endpoint: it waits for the command in
// progress, if any, then ends the shell with exit and waits for its
// output to end. Commits not yet sent fail with endpoint.ErrClosed, as do
// later calls. Close does not close rw; if the shell hangs in a command,
// Close returns only once the caller ends it. If the session was lost,
// Close returns at once, leaving a goroutine reading rw until its Read
// fails.
func (e *shellEndpoint) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	e.commits.close()
	e.s.exit()
	e.s.wg.Wait()
	return nil
}

// check validates what every method of e is called with.
func (e *shellEndpoint) check(ctx context.Context, op, rel string) error {
	if err := wire.ValidPath(rel); err != nil {
		return fmt.Errorf("%s: %w: %v", op, endpoint.ErrInvalidPath, err)
	}
	if e.closed.Load() {
		return fmt.Errorf("%s %s: %w", op, rel, endpoint.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, rel, err)
	}
	return nil
}

// Read implements endpoint.Endpoint: it fails with errors.ErrUnsupported,
// as this endpoint is a destination only.
func (e *shellEndpoint) Read(ctx context.Context, rel string, off int64, n int) (endpoint.Chunk, error) {
	return endpoint.Chunk{}, fmt.Errorf("read %s: %w: the shell endpoint is a destination only", rel, errors.ErrUnsupported)
}

// Delta implements endpoint.Endpoint: it fails with errors.ErrUnsupported.
func (e *shellEndpoint) Delta(ctx context.Context, rel string, off int64, n int, blockSize int, first int64, blocks []wire.Block) (endpoint.DeltaChunk, error) {
	return endpoint.DeltaChunk{}, fmt.Errorf("delta %s: %w: the shell endpoint is a destination only", rel, errors.ErrUnsupported)
}

// Sums implements endpoint.Endpoint: the shell cannot hash, so there is
// never a basis; it fails with an error matching fs.ErrNotExist, and
// files are sent whole.
func (e *shellEndpoint) Sums(ctx context.Context, rel string, basis wire.Basis, blockSize int, off int64, count int) (endpoint.Sums, error) {
	return endpoint.Sums{}, fmt.Errorf("sums %s: no basis through a shell: %w", rel, fs.ErrNotExist)
}

// CreateFrom implements endpoint.Endpoint: like Sums, it finds no basis
// and fails with an error matching fs.ErrNotExist.
func (e *shellEndpoint) CreateFrom(ctx context.Context, rel string, size int64, basis wire.Basis, stamp uint64) (endpoint.FileWriter, error) {
	return nil, fmt.Errorf("create %s: no basis through a shell: %w", rel, fs.ErrNotExist)
}

// CreateShared implements endpoint.Endpoint: it fails with
// errors.ErrUnsupported; a shell session is one connection.
func (e *shellEndpoint) CreateShared(ctx context.Context, rel string, size int64, share string, part bool) (endpoint.FileWriter, error) {
	return nil, fmt.Errorf("create %s: shared files: %w", rel, errors.ErrUnsupported)
}
