package agent

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/fcp-dev/fcp/internal/transport"
)

// DefaultMaxNoise is how many bytes of unexpected output Bootstrap accepts
// from the remote shell, typically text printed by its start-up files,
// before it gives up.
const DefaultMaxNoise = 1 << 20

const (
	// readBufSize is the size of Result.Reader's buffer; it is package
	// wire's, so that wire.NewConn uses Result.Reader as it is.
	readBufSize = 64 << 10
	maxLine     = 8 << 10 // bytes of one line of output kept; a longer line keeps its end
	quoteLines  = 5       // lines of output quoted in an error
	quoteBytes  = 200     // bytes of one line quoted in an error
)

// Errors of Bootstrap, wrapped with detail; test with errors.Is. An error
// of the stream itself is returned wrapped as it is.
var (
	// ErrShell means the remote shell ended the stream, or printed more
	// than Options.MaxNoise bytes, before answering a command. The error
	// quotes its last lines of output.
	ErrShell = errors.New("agent: remote shell failed")
	// ErrPlatform means the remote host's OS or architecture is not the
	// one the binary was built for. The error names both.
	ErrPlatform = errors.New("agent: platform mismatch")
	// ErrInstall means the binary could not be stored on the remote host:
	// no usable cache directory, no SHA-256 tool, a failed rename.
	ErrInstall = errors.New("agent: cannot install agent")
	// ErrCorrupt means the uploaded copy's SHA-256 differs from the local
	// binary's. The copy is removed.
	ErrCorrupt = errors.New("agent: uploaded agent is corrupt")
	// ErrExec means the remote shell ended instead of running the agent,
	// for example because the cache directory is on a noexec mount. The
	// shell's reason is on its standard error (the transport's log).
	ErrExec = errors.New("agent: agent did not start")
)

// Options adjusts Bootstrap. The zero value is ready to use.
type Options struct {
	// Binary is the fcp executable to run remotely, uploaded if the
	// remote host does not have it cached. nil means Self(), which hashes
	// the executable anew: share one Binary between connections.
	Binary *Binary
	// Args are the agent's arguments; nil means {"agent"}. They reach the
	// agent unchanged, whatever they contain.
	Args []string
	// Logger receives the remote shell's unexpected output and the steps
	// taken, at debug level. nil discards.
	Logger *slog.Logger
	// MaxNoise bounds the unexpected output accepted; zero means
	// DefaultMaxNoise.
	MaxNoise int
}

// Result describes an agent that Bootstrap started.
type Result struct {
	// Reader reads the agent's standard output from its first byte on.
	// It holds output that Bootstrap read ahead, so the caller must read
	// through it, never from the stream directly. Its buffer is 64 KiB,
	// package wire's size, so wire.NewConn adopts it without another
	// layer. Writes go to the stream as before.
	Reader *bufio.Reader
	// GOOS and GOARCH are the remote host's platform.
	GOOS, GOARCH string
	// Path is the agent executable on the remote host.
	Path string
	// Uploaded reports whether Bootstrap uploaded the binary, as opposed
	// to finding it cached.
	Uploaded bool
}

// Bootstrap turns s, a stream to a POSIX shell reading commands from its
// standard input (sh, bash or busybox sh, reached by `ssh host sh`,
// `docker exec -i box sh` or alike), into a stream to an fcp agent running
// on that host: it probes the host, uploads opts.Binary into a per-user
// cache there unless already cached, and replaces the shell with the agent
// (see the package documentation for the dialogue). Nothing needs to be
// installed on the host beforehand.
//
// On success the agent runs, the caller writes to s and reads from
// Result.Reader. Bootstrap returns only after the agent has written its
// first byte, so the agent must write before it reads (fcp's agent writes
// wire.Magic first), and what the caller writes next reaches the agent,
// not the shell.
//
// On error the caller closes s; Bootstrap has asked the shell to exit when
// it could. If ctx is done before Bootstrap returns, Bootstrap closes s, so
// that no read or write stays blocked, and returns an error wrapping ctx's
// cause. The caller should set a deadline: a shell that prints nothing is
// waited for until ctx is done.
func Bootstrap(ctx context.Context, s transport.Stream, opts Options) (*Result, error) {
	bin := opts.Binary
	if bin == nil {
		var err error
		if bin, err = Self(); err != nil {
			return nil, err
		}
	}
	args := opts.Args
	if args == nil {
		args = []string{"agent"}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxNoise := opts.MaxNoise
	if maxNoise <= 0 {
		maxNoise = DefaultMaxNoise
	}
	var nonce [8]byte
	rand.Read(nonce[:]) // never fails: crypto/rand.Read crashes the program instead
	d := &dialogue{
		s:        s,
		br:       bufio.NewReaderSize(s, readBufSize),
		log:      log,
		nonce:    hex.EncodeToString(nonce[:]),
		maxNoise: maxNoise,
		budget:   maxNoise,
	}
	d.marker = "FCP" + d.nonce

	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		s.Close()
		close(closed)
	})
	res, err := d.run(bin, args)
	if !stop() {
		<-closed
		return nil, fmt.Errorf("agent: %s: %w", d.step, context.Cause(ctx))
	}
	return res, err
}

// dialogue is one Bootstrap's conversation with the remote shell. Every
// command is one line, sent only after the previous one has answered with
// a line containing marker: a shell reading a pipe may read past the line
// it executes, so nothing is sent that it could swallow on behalf of a
// command reading the same input (head, the agent).
type dialogue struct {
	s        transport.Stream
	br       *bufio.Reader
	log      *slog.Logger
	nonce    string // 16 hex digits, fresh for every Bootstrap
	marker   string // "FCP" + nonce; never sent as such, so an echo is no answer
	step     string // for errors and logs
	maxNoise int
	budget   int      // bytes of unexpected output still accepted
	out      []string // last lines of unexpected output before the awaited answer
}

func (d *dialogue) run(bin *Binary, args []string) (*Result, error) {
	d.step = "probe"
	if err := d.send("fcp_n=" + d.nonce + "; fcp_b=" + bin.Name() + "; " + probeScript); err != nil {
		return nil, err
	}
	reply, err := d.await()
	if err != nil {
		return nil, err
	}
	fields := strings.SplitN(reply, " ", 4)
	if len(fields) != 4 {
		return nil, d.unexpected(reply)
	}
	state, kernel, machine, dir := fields[0], fields[1], fields[2], fields[3]
	d.log.Debug("remote shell probed", "state", state, "kernel", kernel, "machine", machine, "dir", dir)

	goos, goarch, known := platform(kernel, machine)
	if !known || goos != bin.GOOS || goarch != bin.GOARCH {
		d.abandon("exit 1")
		remote := "unknown platform"
		if known {
			remote = goos + "/" + goarch
		}
		return nil, fmt.Errorf("%w: remote is %s %s (%s); this fcp is %s and cannot run there",
			ErrPlatform, kernel, machine, remote, bin.Platform())
	}
	res := &Result{Reader: d.br, GOOS: goos, GOARCH: goarch, Path: dir + "/" + bin.Name()}
	switch state {
	case "ok":
	case "new":
		if err := d.upload(bin); err != nil {
			return nil, err
		}
		res.Uploaded = true
	case "nodir":
		d.abandon("exit 1")
		return nil, fmt.Errorf("%w: no usable cache directory: tried ${XDG_CACHE_HOME:-$HOME/.cache}/fcp and ${TMPDIR:-/tmp}/fcp-$(id -u)", ErrInstall)
	default:
		return nil, d.unexpected(reply)
	}

	d.step = "start"
	line := `exec "$fcp_f"`
	for _, a := range args {
		line += " " + shellQuote(a)
	}
	if err := d.send(line); err != nil {
		return nil, err
	}
	if _, err := d.br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the remote shell ended instead of running %s; its error output tells why", ErrExec, res.Path)
		}
		return nil, fmt.Errorf("agent: %s: %w", d.step, err)
	}
	d.log.Debug("agent started", "path", res.Path, "uploaded", res.Uploaded)
	return res, nil
}

// upload copies bin into the cache directory the probe chose, in the
// dialogue described in the package documentation.
func (d *dialogue) upload(bin *Binary) error {
	d.step = "upload"
	f, err := os.Open(bin.Path)
	if err != nil {
		d.abandon("exit 1")
		return fmt.Errorf("agent: %w", err)
	}
	defer f.Close()
	d.log.Debug("uploading agent", "bytes", bin.Size)
	if err := d.send(strings.Replace(uploadScript, "@SIZE@", strconv.FormatInt(bin.Size, 10), 1)); err != nil {
		return err
	}
	reply, err := d.await()
	if err != nil {
		return err
	}
	switch word, rest, _ := strings.Cut(reply, " "); word {
	case "ready":
	case "fail":
		d.abandon("exit 1")
		return fmt.Errorf("%w: %s", ErrInstall, rest)
	default:
		return d.unexpected(reply)
	}

	// From here until the answer, the remote head reads exactly Size
	// bytes; on an error the caller's Close ends its input, and the shell.
	h := sha256.New()
	if _, err := io.CopyN(d.s, io.TeeReader(f, h), bin.Size); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("file shrank since it was hashed")
		}
		return fmt.Errorf("agent: upload %s: %w", bin.Path, err)
	}
	reply, err = d.await()
	if err != nil {
		return err
	}
	word, remoteSum, _ := strings.Cut(reply, " ")
	if word != "sum" {
		return d.unexpected(reply)
	}
	want := hex.EncodeToString(bin.Sum[:])
	switch {
	case hex.EncodeToString(h.Sum(nil)) != want:
		d.abandon(discardScript)
		return fmt.Errorf("agent: upload %s: file changed since it was hashed", bin.Path)
	case remoteSum == "":
		d.abandon(discardScript)
		return fmt.Errorf("%w: the remote host has none of sha256sum, shasum, sha256, openssl%s", ErrInstall, d.lastOutput())
	case remoteSum != want:
		d.abandon(discardScript)
		return fmt.Errorf("%w: its SHA-256 is %s, want %s%s", ErrCorrupt, remoteSum, want, d.lastOutput())
	}

	d.step = "install"
	if err := d.send(installScript); err != nil {
		return err
	}
	reply, err = d.await()
	if err != nil {
		return err
	}
	if reply != "ok" {
		d.abandon("exit 1")
		return fmt.Errorf("%w: rename into the cache failed%s", ErrInstall, d.lastOutput())
	}
	return nil
}

// send writes one line of shell.
func (d *dialogue) send(line string) error {
	if _, err := io.WriteString(d.s, line+"\n"); err != nil {
		return fmt.Errorf("agent: %s: %w", d.step, err)
	}
	return nil
}

// abandon sends a last line, the shell's exit after a failure. The caller
// closes the stream next, so a failure to send changes nothing.
func (d *dialogue) abandon(line string) {
	_ = d.send(line)
}

// await reads output until a line containing the marker and returns what
// follows the marker and a space. Other output is logged, its last lines
// kept for errors, and charged to the noise budget.
func (d *dialogue) await() (string, error) {
	d.out = d.out[:0]
	for {
		line, n, err := d.readLine()
		if i := strings.Index(line, d.marker); i >= 0 {
			if i > 0 {
				d.noise(line[:i])
			}
			return strings.TrimPrefix(line[i+len(d.marker):], " "), nil
		}
		if n > 0 {
			d.noise(line)
			d.budget -= n
		}
		switch {
		case errors.Is(err, io.EOF):
			return "", fmt.Errorf("%w during %s: the stream ended%s", ErrShell, d.step, d.lastOutput())
		case err != nil:
			return "", fmt.Errorf("agent: %s: %w", d.step, err)
		case d.budget < 0:
			return "", fmt.Errorf("%w during %s: more than %d bytes of output and no answer%s", ErrShell, d.step, d.maxNoise, d.lastOutput())
		}
	}
}

// readLine reads one line and returns it without its line end, with the
// number of bytes consumed. Of a line longer than maxLine only the end is
// returned.
func (d *dialogue) readLine() (string, int, error) {
	var line []byte
	n := 0
	for {
		frag, err := d.br.ReadSlice('\n')
		n += len(frag)
		line = append(line, frag...)
		if len(line) > maxLine {
			line = line[len(line)-maxLine:]
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		s := strings.TrimSuffix(string(line), "\n")
		return strings.TrimSuffix(s, "\r"), n, err
	}
}

// noise records a line of unexpected output.
func (d *dialogue) noise(line string) {
	d.log.Debug("remote shell output", "step", d.step, "line", line)
	if len(line) > quoteBytes {
		line = line[:quoteBytes] + "..."
	}
	if len(d.out) == quoteLines {
		d.out = append(d.out[:0], d.out[1:]...)
	}
	d.out = append(d.out, line)
}

// lastOutput quotes the last lines of unexpected output, if any, for an
// error message.
func (d *dialogue) lastOutput() string {
	if len(d.out) == 0 {
		return ""
	}
	return fmt.Sprintf("; last output: %q", strings.Join(d.out, "\n"))
}

// unexpected reports a reply that is none of those a step expects.
func (d *dialogue) unexpected(reply string) error {
	return fmt.Errorf("%w during %s: unexpected answer %q%s", ErrShell, d.step, reply, d.lastOutput())
}

// shellQuote quotes s as one word for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// The commands of the dialogue, one line each. They use only variables of
// their own (fcp_*, never exported) and quote every expansion; the only
// values spliced in are the hex nonce, the hex file name and the decimal
// size. See the package documentation for what each does.
const (
	// probeScript expects fcp_n (nonce) and fcp_b (file name) and sets
	// fcp_d (cache directory) and fcp_f (agent path).
	probeScript = `fcp_d="${XDG_CACHE_HOME:-$HOME/.cache}/fcp"; ` +
		`{ mkdir -p "$fcp_d" && test -O "$fcp_d" && test -w "$fcp_d"; } 2>/dev/null || { ` +
		`fcp_d="${TMPDIR:-/tmp}/fcp-$(id -u)"; mkdir -m 700 "$fcp_d" 2>/dev/null; ` +
		`{ test -d "$fcp_d" && test -O "$fcp_d" && chmod 700 "$fcp_d" && test -w "$fcp_d"; } 2>/dev/null || fcp_d=; }; ` +
		`fcp_f="$fcp_d/$fcp_b"; ` +
		`if test -z "$fcp_d"; then fcp_s=nodir; elif test -f "$fcp_f" && test -x "$fcp_f"; then fcp_s=ok; else fcp_s=new; fi; ` +
		`printf 'FCP%s %s %s %s %s\n' "$fcp_n" "$fcp_s" "$(uname -s)" "$(uname -m)" "$fcp_d"`

	// uploadScript sets fcp_t (temporary file); @SIZE@ is replaced by the
	// binary's size.
	uploadScript = `fcp_t="$fcp_d/.$fcp_b.$fcp_n"; ` +
		`if (umask 077 && : >"$fcp_t") 2>/dev/null; then ` +
		`printf 'FCP%s ready\n' "$fcp_n"; ` +
		`head -c @SIZE@ | { cat >"$fcp_t"; cat >/dev/null; } 2>&1; ` +
		`fcp_x=$({ sha256sum <"$fcp_t" || shasum -a 256 <"$fcp_t" || sha256 <"$fcp_t" || openssl dgst -sha256 -r <"$fcp_t"; } 2>/dev/null); ` +
		`printf 'FCP%s sum %s\n' "$fcp_n" "${fcp_x%% *}"; ` +
		`else printf 'FCP%s fail cannot create %s\n' "$fcp_n" "$fcp_t"; fi`

	installScript = `if { chmod 700 "$fcp_t" && mv -f "$fcp_t" "$fcp_f"; } 2>&1; ` +
		`then printf 'FCP%s ok\n' "$fcp_n"; else rm -f "$fcp_t"; printf 'FCP%s fail\n' "$fcp_n"; fi`

	discardScript = `rm -f "$fcp_t"; exit 1`
)
