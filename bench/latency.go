//go:build linux

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fcp-dev/fcp/bench/internal/lab"
	"github.com/fcp-dev/fcp/bench/internal/proc"
	"github.com/fcp-dev/fcp/bench/internal/replica"
	"github.com/fcp-dev/fcp/bench/internal/report"
	"github.com/fcp-dev/fcp/bench/internal/tool"
	"github.com/fcp-dev/fcp/bench/internal/workload"
)

// The replication latency workload: fcp replicate keeps a copy of a git
// working tree in step while the harness edits files in it, one at a time,
// and switches its branch.
const wlLatency = "latency"

// How the edits are made and waited for.
const (
	editTimeout   = 10 * time.Second // an edit not at the copy by then is lost
	editGapMin    = 50 * time.Millisecond
	editGapMax    = 100 * time.Millisecond
	maxLostInARow = 3 // then fcp replicate is taken to be stuck: no more edits
	pollMin       = time.Millisecond
	stopGrace     = 10 * time.Second // for fcp replicate to end on SIGINT
	editSeed      = 1
)

// editKinds are the kinds of edit, drawn uniformly.
var editKinds = []string{"overwrite", "create", "append", "rename"}

// latencyWorkload is what the latency workload needs beside the session.
type latencyWorkload struct {
	fcp      string // binary
	spec     workload.RepoSpec
	template string // the generated repository, BranchA checked out; copied for each link
	edits    int
	home     string // HOME of fcp replicate: empty, so no user's git configuration counts
}

// repoName is the working tree's name in the source and at the copy.
const repoName = "repo"

// prepareLatency generates the repository once.
func (s *session) prepareLatency(ctx context.Context, fcp string, data string) error {
	spec := workload.FullRepo()
	if s.o.quick {
		spec = workload.QuickRepo()
	}
	lw := &latencyWorkload{fcp: fcp, spec: spec, edits: s.o.edits,
		template: filepath.Join(data, "repo-template", repoName), home: filepath.Join(s.work, "replicate-home")}
	if err := os.MkdirAll(lw.home, 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(lw.template), 0o755); err != nil {
		return err
	}
	s.logf("generating a git repository: %d files, a second branch that differs in %d", spec.FilesA(), spec.Differ())
	start := time.Now()
	if err := workload.GenerateRepo(ctx, lw.template, spec); err != nil {
		return fmt.Errorf("generate the repository: %w", err)
	}
	s.logf("generated in %.1f s", time.Since(start).Seconds())
	s.latency = lw
	return nil
}

// describeLatency is the data of the workload, for the report.
func (lw *latencyWorkload) describe() string {
	s := lw.spec
	return fmt.Sprintf("Live replication: a git repository of %s text files of %d–%d bytes in %d × %d directories (and a README.md); "+
		"its second branch modifies %s of them, deletes %s (about half as whole directories) and adds %s (half in new directories), "+
		"%s paths that differ; generated from seed %d with fixed commit dates.",
		report.Thousands(s.FilesA()), s.MinFile, s.MaxFile, s.TopDirs, s.SubDirs,
		report.Thousands(s.Modified), report.Thousands(s.Deleted), report.Thousands(s.Added), report.Thousands(s.Differ()), s.Seed)
}

// replicateCommand is fcp replicate's argument vector, in the client
// namespace, from the repository src into the parent directory dst.
func (s *session) replicateCommand(link lab.Link, src, dst string) []string {
	return lab.Client(s.latency.fcp, "replicate", "--debugging", src, dst, "--",
		"ssh", "-F", s.lab.SSHConfig, s.o.user+"@"+link.Server)
}

// runLatency runs the latency workload on link. Only ctx's end or a broken
// lab is an error; what goes wrong with fcp replicate is recorded.
func (s *session) runLatency(ctx context.Context, link lab.Link) error {
	lw := s.latency
	src := filepath.Join(s.src, repoName)
	dstRepo := filepath.Join(s.dst, repoName)
	args := s.replicateCommand(link, src, s.dst)
	rep := report.Replication{
		Link: link.Name, EditTimeout: editTimeout.Seconds(), ExitCode: -1,
		Command: strings.NewReplacer(s.lab.SSHConfig, "$LAB/ssh_config", src, "$REPO", s.dst, "$DST", lw.fcp, "fcp").
			Replace(tool.Invocation{Args: args[len(lab.Client()):]}.String()),
		Method: fmt.Sprintf("How the copy is watched: for an edit, inotify on the copy's directory of the file wakes the harness on every change there "+
			"and it reads the file (a %d ms poll is only a safety net), so the time is the harness's wake-up after fcp's write; "+
			"for the initial copy and a branch switch, polls of the paths that still differ (every %d ms, or as long as the last poll took if longer), "+
			"each time none is left confirmed by a walk of the whole copy: the time is when the last difference was seen gone. "+
			"The copy is on the same machine (the server's namespace shares the file system), read by the harness outside the namespaces. "+
			"After the edits the working tree is reset (`git reset --hard; git clean -fdx`) and the copy waited for, untimed, before the switches.",
			replica.FallbackPoll.Milliseconds(), pollMin.Milliseconds()),
	}
	defer func() { s.res.Replication = append(s.res.Replication, rep) }()
	fail := func(format string, args ...any) {
		rep.Error = fmt.Sprintf(format, args...)
		s.logf("%s %s: FAILED: %s", link.Name, wlLatency, rep.Error)
	}

	s.reap()
	if err := s.clearDst(); err != nil {
		return err
	}
	if err := os.RemoveAll(src); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "cp", "-a", lw.template, src).CombinedOutput(); err != nil {
		return fmt.Errorf("copy the repository: %w: %s", err, out)
	}
	want, err := replica.Snapshot(src, replica.SkipGit)
	if err != nil {
		return err
	}
	for _, e := range want {
		if e.Type == 0 {
			rep.Files++
			rep.Bytes += e.Size
		}
	}
	files := regularFiles(want)

	// Start fcp replicate and follow it: runCtx ends when it does.
	log := filepath.Join(s.logs, link.Name+"-"+wlLatency+"-replicate.log")
	logf, err := os.Create(log)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(e string) bool {
		return strings.HasPrefix(e, "HOME=") || strings.HasPrefix(e, "XDG_CONFIG_HOME=") || strings.HasPrefix(e, "SSH_AUTH_SOCK=")
	}), "HOME="+lw.home)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	rep.Load1 = loadavg()
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start fcp replicate: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-runCtx.Done():
		}
	}()
	defer func() {
		rep.ExitCode = stopReplicate(cmd, exited)
		s.reap()
	}()
	// ended tells why a wait ended early: nil when fcp replicate ended,
	// which is then recorded.
	ended := func(what string) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		<-exited
		fail("fcp replicate ended (exit status %d) %s: %s", cmd.ProcessState.ExitCode(), what, proc.Tail(log, 600))
		return nil
	}

	// The initial replication.
	tr := replica.NewTracker(dstRepo, want, replica.SkipGit)
	at, ok := tr.Wait(runCtx, s.o.timeout, pollMin)
	if !ok {
		if runCtx.Err() != nil {
			return ended("during the initial replication")
		}
		fail("the initial replication did not finish within %v; %d paths differ, first %q; log: %s",
			s.o.timeout, len(tr.Pending()), first(tr.Pending(), 5), proc.Tail(log, 300))
		return nil
	}
	rep.InitialSeconds = at.Sub(started).Seconds()
	s.logf("%s %s: initial replication of %s files in %.2f s", link.Name, wlLatency, report.Thousands(rep.Files), rep.InitialSeconds)

	// The edits.
	w, err := replica.NewWaiter()
	if err != nil {
		return err
	}
	defer w.Close()
	rng := rand.New(rand.NewPCG(editSeed, 0)) // the same edits on every link
	lostInARow := 0
	for i := range lw.edits {
		kind := editKinds[rng.IntN(len(editKinds))]
		e, err := s.edit(runCtx, w, rng, i, kind, src, dstRepo, &files)
		if err != nil {
			if runCtx.Err() != nil {
				return ended(fmt.Sprintf("during edit %d", i+1))
			}
			return err
		}
		rep.Edits = append(rep.Edits, e)
		if e.Lost {
			lostInARow++
			s.logf("%s %s: edit %d (%s %s) did not arrive within %v", link.Name, wlLatency, i+1, kind, e.Path, editTimeout)
			if lostInARow >= maxLostInARow {
				fail("%d edits in a row did not arrive within %v; stopped editing after %d", lostInARow, editTimeout, i+1)
				return nil
			}
		} else {
			lostInARow = 0
		}
		gap := editGapMin + time.Duration(rng.Int64N(int64(editGapMax-editGapMin)))
		select {
		case <-runCtx.Done():
			return ended(fmt.Sprintf("after edit %d", i+1))
		case <-time.After(gap):
		}
	}
	st := rep.Stats()
	s.logf("%s %s: %d edits: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms; %d lost", link.Name, wlLatency,
		st.N, st.P50*1e3, st.P90*1e3, st.P99*1e3, st.Max*1e3, st.Lost)

	// The copy equals the source after the edits.
	if want, err = replica.Snapshot(src, replica.SkipGit); err != nil {
		return err
	}
	tr = replica.NewTracker(dstRepo, want, replica.SkipGit)
	if _, rep.Settled = tr.Wait(runCtx, editTimeout, pollMin); !rep.Settled {
		if runCtx.Err() != nil {
			return ended("after the edits")
		}
		rep.SettleDiffer = first(tr.Pending(), 10)
		s.logf("%s %s: after the edits the copy still differs from the source at %d paths: %q", link.Name, wlLatency, len(tr.Pending()), rep.SettleDiffer)
	}

	// Back to BranchA as generated, untimed.
	if err := git(ctx, src, "reset", "-q", "--hard"); err != nil {
		return err
	}
	if err := git(ctx, src, "clean", "-q", "-fdx"); err != nil {
		return err
	}
	if want, err = replica.Snapshot(src, replica.SkipGit); err != nil {
		return err
	}
	tr = replica.NewTracker(dstRepo, want, replica.SkipGit)
	if _, ok := tr.Wait(runCtx, s.o.timeout, pollMin); !ok {
		if runCtx.Err() != nil {
			return ended("after the reset of the working tree")
		}
		fail("after git reset --hard and git clean, the copy did not equal the source within %v; %d paths differ, first %q",
			s.o.timeout, len(tr.Pending()), first(tr.Pending(), 5))
		return nil
	}

	// The branch switches.
	for _, sw := range [][2]string{{workload.BranchA, workload.BranchB}, {workload.BranchB, workload.BranchA}} {
		x := report.Switch{From: sw[0], To: sw[1]}
		start := time.Now()
		if err := git(ctx, src, "checkout", "-q", sw[1]); err != nil {
			return err
		}
		x.GitSeconds = time.Since(start).Seconds()
		after, err := replica.Snapshot(src, replica.SkipGit)
		if err != nil {
			return err
		}
		x.Paths = len(replica.Diff(want, after))
		want = after
		tr := replica.NewTracker(dstRepo, want, replica.SkipGit)
		at, ok := tr.Wait(runCtx, s.o.timeout, pollMin)
		x.Converged = ok
		if ok {
			x.Seconds = at.Sub(start).Seconds()
			s.logf("%s %s: switch %s→%s (%s paths): the copy equals the source after %.2f s (git checkout %.2f s, %d walks of the copy)",
				link.Name, wlLatency, sw[0], sw[1], report.Thousands(x.Paths), x.Seconds, x.GitSeconds, tr.Walks())
		} else {
			if runCtx.Err() != nil {
				rep.Switches = append(rep.Switches, x)
				return ended(fmt.Sprintf("during the switch %s→%s", sw[0], sw[1]))
			}
			x.Differ, x.DifferCount = first(tr.Pending(), 10), len(tr.Pending())
			s.logf("%s %s: switch %s→%s (%s paths): the copy did not equal the source within %v; %d paths differ, first %q",
				link.Name, wlLatency, sw[0], sw[1], report.Thousands(x.Paths), s.o.timeout, len(tr.Pending()), x.Differ)
		}
		rep.Switches = append(rep.Switches, x)
	}
	return nil
}

// edit makes edit number i of kind in the working tree src and waits for it
// at the copy dst. files are the regular files of the tree to choose from;
// a created file joins them.
func (s *session) edit(ctx context.Context, w *replica.Waiter, rng *rand.Rand, i int, kind, src, dst string, files *[]string) (report.Edit, error) {
	token := fmt.Sprintf("edit %d: %016x\n", i+1, rng.Uint64())
	rel := (*files)[rng.IntN(len(*files))]
	var content []byte
	var change func() error
	path := func(rel string) string { return filepath.Join(src, filepath.FromSlash(rel)) }
	old, err := os.ReadFile(path(rel))
	if err != nil && kind != "create" {
		return report.Edit{}, err
	}
	// firstLineReplaced is the file with its first line replaced by token.
	firstLineReplaced := func() []byte {
		var rest []byte
		if j := strings.IndexByte(string(old), '\n'); j >= 0 {
			rest = old[j+1:]
		}
		return append([]byte(token), rest...)
	}
	switch kind {
	case "overwrite": // rewritten in place: truncated, then written
		content = firstLineReplaced()
		change = func() error { return os.WriteFile(path(rel), content, 0o644) }
	case "append":
		content = append(slices.Clone(old), token...)
		change = func() error {
			f, err := os.OpenFile(path(rel), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			if _, err := f.WriteString(token); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}
	case "rename": // an editor's save: a temporary file renamed over the file
		content = firstLineReplaced()
		change = func() error {
			tmp := filepath.Join(filepath.Dir(path(rel)), fmt.Sprintf(".%s.%d.tmp", filepath.Base(rel), i+1))
			if err := os.WriteFile(tmp, content, 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, path(rel))
		}
	case "create":
		rel = fmt.Sprintf("%s/new%03d.txt", filepath.ToSlash(filepath.Dir(rel)), i+1)
		content = []byte(token + strings.Repeat(strings.TrimSuffix(token, "\n")+" filler\n", 1+rng.IntN(60)))
		change = func() error {
			f, err := os.OpenFile(path(rel), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return err
			}
			if _, err := f.Write(content); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}
		*files = append(*files, rel)
	default:
		return report.Edit{}, fmt.Errorf("unknown edit %q", kind)
	}
	r, err := w.Do(ctx, filepath.Join(dst, filepath.FromSlash(rel)), content, editTimeout, change)
	if err != nil {
		return report.Edit{}, err
	}
	e := report.Edit{Kind: kind, Path: rel, Bytes: len(content), Lost: !r.OK, Watched: r.Watched}
	if r.OK {
		e.Seconds = r.Latency().Seconds()
	}
	return e, nil
}

// stopReplicate interrupts fcp replicate (SIGINT to it alone, so that its
// ssh is ended by it), kills its process group if it has not ended after
// stopGrace, and returns its exit status (-1: killed).
func stopReplicate(cmd *exec.Cmd, exited <-chan struct{}) int {
	select {
	case <-exited:
		return cmd.ProcessState.ExitCode()
	default:
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(stopGrace):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever it left
	return cmd.ProcessState.ExitCode()
}

// git runs git in dir with the harness's environment.
func git(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), workload.GitEnv()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("git %s in %s: %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// regularFiles lists the regular files of t, sorted.
func regularFiles(t replica.Tree) []string {
	var out []string
	for p, e := range t {
		if e.Type == 0 {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }
