//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fcp-dev/fcp/bench/internal/lab"
	"github.com/fcp-dev/fcp/bench/internal/proc"
	"github.com/fcp-dev/fcp/bench/internal/report"
	"github.com/fcp-dev/fcp/bench/internal/tool"
	"github.com/fcp-dev/fcp/bench/internal/workload"
)

// seedTimeout bounds the untimed rsync that prepares a no-change run.
const seedTimeout = 10 * time.Minute

// session is one benchmark invocation after setup: the lab, the tools, the
// data and the results so far.
type session struct {
	o    options
	logf func(string, ...any)

	work, src, dst, logs string
	fcpd                 string // fcpd binary, for the tools that need it
	lab                  *lab.Lab
	links                []lab.Link // the links to measure, of the lab's
	tools                []tool.Tool
	spec                 workload.Spec
	digests              map[string]workload.Digest // by workload
	res                  *report.Results

	// skip holds the cells (link, workload, tool) not to run again, with
	// the reason: they hit the timeout, or were omitted.
	skip   map[[3]string]string
	killed int // leftover server processes killed before runs

	latency *latencyWorkload // nil unless the latency workload runs
}

func (s *session) target(link lab.Link) tool.Target {
	return tool.Target{
		User: s.o.user, Host: link.Server, SSHConfig: s.lab.SSHConfig,
		RcloneConfig: s.lab.RcloneConfig, RcloneRemote: link.Name,
	}
}

func (s *session) job(wl string) tool.Job {
	if isScale(wl) {
		return s.scaleJob(wl)
	}
	switch wl {
	case wlTree, wlNoChange:
		return tool.Job{Src: filepath.Join(s.src, workload.TreeName), Dir: true, DstDir: s.dst}
	case wlResume:
		return tool.Job{Src: filepath.Join(s.src, workload.FileName), DstDir: s.dst, KeepPartial: true}
	}
	return tool.Job{Src: filepath.Join(s.src, workload.FileName), DstDir: s.dst}
}

// toolsFor returns the tools that run wl, in the session's order.
func (s *session) toolsFor(wl string) []tool.Tool {
	delta, scale := slices.Contains(deltaWorkloads, wl), isScale(wl)
	if !delta && !scale {
		return s.tools
	}
	var out []tool.Tool
	for _, t := range s.tools {
		if delta && t.Delta || scale && t.Scale {
			out = append(out, t)
		}
	}
	return out
}

// runLink runs every round of every workload on link. Within a round the
// tools take turns, each round starting one tool later.
func (s *session) runLink(ctx context.Context, link lab.Link, workloads []string) error {
	if s.skip == nil {
		s.skip = make(map[[3]string]string)
	}
	if slices.ContainsFunc(s.tools, func(t tool.Tool) bool { return t.Name == "fcp" }) {
		if err := s.firstContact(ctx, link); err != nil {
			return err
		}
	}
	for round := 1; round <= s.o.rounds; round++ {
		for _, wl := range workloads {
			if copyOf(wl) != "" {
				continue // runs right after each tool's copy
			}
			tools := s.toolsFor(wl)
			for i := range tools {
				t := tools[(i+round-1)%len(tools)]
				order := i + 1
				if err := s.cell(ctx, link, wl, t, round, order); err != nil {
					return err
				}
				if nc := noChangeOf[wl]; nc != "" && slices.Contains(workloads, nc) {
					if err := s.noChange(ctx, link, wl, t, round, order); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// cell runs one tool once on one workload, unless the cell is skipped.
func (s *session) cell(ctx context.Context, link lab.Link, wl string, t tool.Tool, round, order int) error {
	key := [3]string{link.Name, wl, t.Name}
	if why := s.skip[key]; why != "" {
		s.logf("%s %s %s round %d: skipped (%s)", link.Name, wl, t.Name, round, why)
		return nil
	}
	var run report.Run
	var err error
	switch wl {
	case wlOverwrite, wlAppend:
		run, err = s.changed(ctx, link, wl, t, round, order)
	case wlResume:
		run, err = s.resume(ctx, link, t, round, order)
	default:
		run, err = s.measure(ctx, link, wl, t, round, order, true)
	}
	if err != nil {
		return err
	}
	if run.Capped {
		s.skip[key] = "it hit the cap before"
	}
	s.res.Runs = append(s.res.Runs, run)
	return nil
}

// changed times t copying the large file onto its old version: the
// destination gets a plain local copy of the file (not timed), then the
// source is edited (overwrite or append), copied, and put back.
func (s *session) changed(ctx context.Context, link lab.Link, wl string, t tool.Tool, round, order int) (report.Run, error) {
	s.reap()
	if err := s.placeOld(); err != nil {
		return report.Run{}, err
	}
	src := filepath.Join(s.src, workload.FileName)
	edit := workload.Overwrite
	if wl == wlAppend {
		edit = workload.Append
	}
	undo, err := edit(src, s.spec)
	if err != nil {
		return report.Run{}, err
	}
	if _, ok := s.digests[wl]; !ok {
		d, err := workload.Of(src)
		if err != nil {
			undo()
			return report.Run{}, err
		}
		s.digests[wl] = d
	}
	run, err := s.measure(ctx, link, wl, t, round, order, false)
	if uerr := undo(); err == nil && uerr != nil {
		err = uerr
	}
	return run, err
}

// placeOld empties the destination and copies the source's large file
// into it, keeping its mode and modification time, owned by the benchmark
// user: the destination a finished copy of the file workload leaves.
func (s *session) placeOld() error {
	if err := s.clearDst(); err != nil {
		return err
	}
	src := filepath.Join(s.src, workload.FileName)
	dst := filepath.Join(s.dst, workload.FileName)
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to the destination: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chtimes(dst, fi.ModTime(), fi.ModTime()); err != nil {
		return err
	}
	return s.lab.Chown(dst)
}

// How a resume workload's first run is cut: the destination is polled
// every cutPoll, and after the kill the tool's server side has cutSettle to
// write what was in flight, keep its partial file and end.
const (
	cutPoll   = 5 * time.Millisecond
	cutSettle = 30 * time.Second
)

// resume cuts a copy of the large file half way (not timed), then times t
// finishing it.
func (s *session) resume(ctx context.Context, link lab.Link, t tool.Tool, round, order int) (report.Run, error) {
	cut, err := s.cut(ctx, link, t, round)
	if err != nil {
		return report.Run{}, err
	}
	if cut.Error != "" {
		run := report.Run{Link: link.Name, Workload: wlResume, Tool: t.Name, Round: round, Order: order,
			Start: time.Now(), Error: "cut run: " + cut.Error, Cut: cut}
		s.logf("%s %s %s round %d: FAILED: %s", link.Name, wlResume, t.Name, round, run.Error)
		return run, nil
	}
	run, err := s.measure(ctx, link, wlResume, t, round, order, false)
	run.Cut = cut
	return run, err
}

// cut starts t copying the large file into an empty destination and kills
// its client's process group (SIGKILL, no warning) once half the file has
// arrived: the space the destination's files take, so that writes at
// several places of a sparse file count for what they wrote.
func (s *session) cut(ctx context.Context, link lab.Link, t tool.Tool, round int) (*report.Cut, error) {
	s.reap()
	if err := s.clearDst(); err != nil {
		return nil, err
	}
	stopDaemon := func() {}
	if t.Daemon {
		stop, err := s.lab.StartFcpd(ctx, s.fcpd)
		if err != nil {
			return nil, err
		}
		defer stop()
		stopDaemon = stop
	}
	inv := t.Copy(s.target(link), s.job(wlResume))
	log := filepath.Join(s.logs, fmt.Sprintf("%s-%s-%s-%d-cut.log", link.Name, wlResume, t.Name, round))
	before, err := s.lab.Counters(ctx, link)
	if err != nil {
		return nil, err
	}
	half := s.spec.FileBytes / 2
	cutNow, stop := make(chan struct{}), make(chan struct{})
	var arrived int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(cutPoll)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if n := allocated(s.dst); n >= half {
				arrived = n
				close(cutNow)
				return
			}
		}
	}()
	cmd := command(inv, log)
	cmd.Cut = cutNow
	r, err := proc.Run(ctx, cmd, s.o.timeout)
	close(stop)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	after, err := s.lab.Counters(ctx, link)
	if err != nil {
		return nil, err
	}
	c := &report.Cut{Seconds: r.Wall.Seconds(), Arrived: arrived, WireTx: after.Tx - before.Tx, WireRx: after.Rx - before.Rx}
	switch {
	case r.Cut && r.ExitCode == -1:
	case r.TimedOut:
		c.Error = fmt.Sprintf("stopped at the cap (%v) before half of the file had arrived", s.o.timeout)
	case r.Cut:
		c.Error = fmt.Sprintf("the copy ended (exit status %d) as half of the file arrived, before the kill", r.ExitCode)
	default:
		c.Error = fmt.Sprintf("the copy ended (exit status %d) before half of the file had arrived: %s", r.ExitCode, proc.Tail(log, 400))
	}
	// The server side writes what was already on its way, keeps what
	// arrived and ends; a standing fcpd is stopped (SIGTERM), which ends
	// its sessions the same way.
	stopDaemon()
	if n := s.lab.KillUserProcesses(cutSettle); n > 0 {
		s.killed += n
		s.logf("killed %d processes of %s still running %v after the cut", n, s.o.user, cutSettle)
	}
	c.LeftFiles, c.LeftBytes = listFiles(s.dst)
	s.logf("%s %s %s round %d: cut after %.2f s with %.0f MB arrived; %.0f MB left in %q", link.Name, wlResume, t.Name, round,
		c.Seconds, float64(c.Arrived)/1e6, float64(c.LeftBytes)/1e6, c.LeftFiles)
	return c, nil
}

// reap waits for the benchmark user's processes of the last run to end,
// killing them after 5 s.
func (s *session) reap() {
	if n := s.lab.KillUserProcesses(5 * time.Second); n > 0 {
		s.killed += n
		s.logf("killed %d leftover processes of %s", n, s.o.user)
	}
}

// noChange re-runs t onto its own copy of the tree; when that copy did not
// finish correctly, rsync -a first makes the destination identical.
func (s *session) noChange(ctx context.Context, link lab.Link, copyWl string, t tool.Tool, round, order int) error {
	ncWl := noChangeOf[copyWl]
	key := [3]string{link.Name, ncWl, t.Name}
	if why := s.skip[key]; why != "" {
		s.logf("%s %s %s round %d: skipped (%s)", link.Name, ncWl, t.Name, round, why)
		return nil
	}
	seeded := ""
	if n := len(s.res.Runs); n == 0 || !ownCopy(s.res.Runs[n-1], link.Name, copyWl, t.Name, round) {
		if !t.Incremental && s.skip[[3]string{link.Name, copyWl, t.Name}] != "" {
			// It would copy everything again and hit the cap again.
			s.logf("%s %s %s: not run; its copy of the tree hit the cap and it always copies everything", link.Name, ncWl, t.Name)
			s.res.Omitted = append(s.res.Omitted, report.Omission{Link: link.Name, Workload: ncWl, Tool: t.Name,
				Reason: "the tool has no way to skip unchanged files, so its no-change run is a full copy again, and its full copy hit the cap."})
			s.skip[key] = "omitted"
			return nil
		}
		s.logf("%s %s %s round %d: its copy did not finish; preparing the destination with rsync -a", link.Name, ncWl, t.Name, round)
		if err := s.seed(ctx, link, copyWl); err != nil {
			return err
		}
		seeded = "rsync"
	}
	run, err := s.measure(ctx, link, ncWl, t, round, order, false)
	if err != nil {
		return err
	}
	run.SeededBy = seeded
	if run.Capped {
		s.skip[key] = "it hit the cap before"
	}
	s.res.Runs = append(s.res.Runs, run)
	return nil
}

// ownCopy reports whether run is tool's correct copy of workload in round.
func ownCopy(run report.Run, link, workload, tool string, round int) bool {
	return run.Link == link && run.Workload == workload && run.Tool == tool && run.Round == round && run.OK()
}

// seed makes the destination an exact copy of the tree of the workload wl
// with rsync -a, which keeps modification times, so every tool sees it as
// unchanged.
func (s *session) seed(ctx context.Context, link lab.Link, wl string) error {
	if err := s.clearDst(); err != nil {
		return err
	}
	rsync, _ := tool.New("rsync", tool.Options{})
	inv := rsync.Copy(s.target(link), s.job(wl))
	log := filepath.Join(s.logs, "seed.log")
	r, err := proc.Run(ctx, command(inv, log), seedTimeout)
	if err != nil {
		return err
	}
	if r.TimedOut || r.ExitCode != 0 {
		return fmt.Errorf("rsync -a to prepare a no-change run failed: %s", proc.Tail(log, 1000))
	}
	return workload.Check(s.dst, filepath.Base(s.job(wl).Src), s.digests[wl])
}

// measure runs t once on wl and checks the copy. fresh empties the
// destination first. Only ctx's end or a broken lab is an error; a tool's
// failure is recorded in the Run.
func (s *session) measure(ctx context.Context, link lab.Link, wl string, t tool.Tool, round, order int, fresh bool) (report.Run, error) {
	run := report.Run{Link: link.Name, Workload: wl, Tool: t.Name, Round: round, Order: order}
	s.reap()
	if fresh {
		if err := s.clearDst(); err != nil {
			return run, err
		}
	}
	if s.o.dropCaches {
		if err := dropCaches(); err != nil {
			return run, err
		}
	}
	if t.Daemon {
		stop, err := s.lab.StartFcpd(ctx, s.fcpd)
		if err != nil {
			return run, err
		}
		defer stop()
	}
	inv := t.Copy(s.target(link), s.job(wl))
	log := filepath.Join(s.logs, fmt.Sprintf("%s-%s-%s-%d.log", link.Name, wl, t.Name, round))
	relayBefore, hasRelay, err := s.lab.RelayStats(ctx)
	if err != nil {
		return run, err
	}
	relayCPU := s.lab.RelayCPU()
	wire, err := s.lab.Counters(ctx, link)
	if err != nil {
		return run, err
	}
	run.Load1 = loadavg()
	stop := proc.SampleUser(s.lab.UID, 100*time.Millisecond)
	run.Start = time.Now()
	r, err := proc.Run(ctx, command(inv, log), s.capOf(wl))
	mem := stop()
	if err != nil {
		return run, err
	}
	wireAfter, err := s.lab.Counters(ctx, link)
	if err != nil {
		return run, err
	}
	run.WireTx, run.WireRx = wireAfter.Tx-wire.Tx, wireAfter.Rx-wire.Rx
	run.Seconds = r.Wall.Seconds()
	run.Capped = r.TimedOut
	run.ExitCode = r.ExitCode
	run.ClientMaxRSS = r.MaxRSS
	run.ClientCPU = (r.UserCPU + r.SysCPU).Seconds()
	run.ServerRSS, run.ServerMaxRSS, run.ServerProcesses = mem.Sum, mem.Max, mem.Processes
	if hasRelay {
		after, _, err := s.lab.RelayStats(ctx)
		if err != nil {
			return run, err
		}
		run.RelayDrops = after.Up.Dropped + after.Down.Dropped - relayBefore.Up.Dropped - relayBefore.Down.Dropped
		run.RelayCPU = (s.lab.RelayCPU() - relayCPU).Seconds()
	}
	status := ""
	switch {
	case run.Capped:
		run.PartialFiles, run.PartialBytes = usage(s.dst)
		status = fmt.Sprintf("stopped at the cap (%v) with %d files, %d bytes written", s.capOf(wl), run.PartialFiles, run.PartialBytes)
	case run.ExitCode != 0:
		run.Error = fmt.Sprintf("exit status %d: %s", run.ExitCode, proc.Tail(log, 400))
		status = "FAILED: " + run.Error
	default:
		if wl == wlSparse {
			run.DstAllocated = allocated(s.dst)
		}
		if err := workload.Check(s.dst, filepath.Base(s.job(wl).Src), s.digests[wl]); err != nil {
			run.Error = "wrong copy: " + err.Error()
			status = "FAILED: " + run.Error
		} else {
			run.Verified = true
			status = "verified"
		}
	}
	s.logf("%s %s %s round %d: %.2f s, %.1f MB on the wire, client %s, server %s; %s", link.Name, wl, t.Name, round,
		run.Seconds, float64(run.WireBytes())/1e6, mibString(run.ClientMaxRSS), mibString(run.ServerRSS), status)
	return run, nil
}

// firstContact times fcp's first run on link, which installs its agent in
// the server's cache, and a second run with the agent cached; neither is
// part of the tables.
func (s *session) firstContact(ctx context.Context, link lab.Link) error {
	if err := os.RemoveAll(filepath.Join(s.work, "home", ".cache")); err != nil {
		return err
	}
	dir := filepath.Join(s.work, "first-contact")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		return err
	}
	fcp := s.tools[slices.IndexFunc(s.tools, func(t tool.Tool) bool { return t.Name == "fcp" })]
	inv := fcp.Copy(s.target(link), tool.Job{Src: filepath.Join(dir, "hello.txt"), DstDir: s.dst})
	fc := report.FirstContact{Link: link.Name}
	for i, what := range []string{"first contact", "agent cached"} {
		if err := s.clearDst(); err != nil {
			return err
		}
		log := filepath.Join(s.logs, link.Name+"-fcp-first-contact.log")
		r, err := proc.Run(ctx, command(inv, log), s.o.timeout)
		if err != nil {
			return err
		}
		ok := !r.TimedOut && r.ExitCode == 0
		s.logf("%s fcp %s: %.2f s (exit %d)", link.Name, what, r.Wall.Seconds(), r.ExitCode)
		if !ok {
			s.logf("fcp failed: %s", proc.Tail(log, 1000))
		}
		if i == 0 {
			fc.Seconds, fc.OK = r.Wall.Seconds(), ok
		} else {
			fc.Cached = r.Wall.Seconds()
		}
	}
	s.res.FirstContact = append(s.res.FirstContact, fc)
	return nil
}

// command runs inv in the client namespace, logging to log. SSH_AUTH_SOCK
// is cleared: every tool authenticates with the lab's key alone, never
// with keys of an agent the caller may have.
func command(inv tool.Invocation, log string) proc.Command {
	return proc.Command{
		Args:  lab.Client(inv.Args...),
		Env:   append(slices.Clone(inv.Env), "SSH_AUTH_SOCK="),
		Stdin: inv.Stdin,
		Log:   log,
	}
}

// clearDst replaces the destination with an empty directory of the
// benchmark user.
func (s *session) clearDst() error {
	if err := os.RemoveAll(s.dst); err != nil {
		return err
	}
	if err := os.Mkdir(s.dst, 0o755); err != nil {
		return err
	}
	return s.lab.Chown(s.dst)
}

// dropCaches writes dirty pages out and empties the page cache, dentries
// and inodes of the whole host, so every run reads its source from disk.
func dropCaches() error {
	unix.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200)
}

// usage counts the regular files under dir and their bytes.
func usage(dir string) (files int, bytes int64) {
	filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				files++
				bytes += info.Size()
			}
		}
		return nil
	})
	return files, bytes
}

// allocated returns the space the regular files under dir take (st_blocks),
// which counts what was written into a sparse file and not its holes.
func allocated(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				if st, ok := info.Sys().(*syscall.Stat_t); ok {
					n += st.Blocks * 512
				}
			}
		}
		return nil
	})
	return n
}

// listFiles returns the regular files under dir, relative to it, and their
// total size.
func listFiles(dir string) (names []string, bytes int64) {
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				rel, _ := filepath.Rel(dir, p)
				names = append(names, rel)
				bytes += info.Size()
			}
		}
		return nil
	})
	return names, bytes
}

func loadavg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscan(string(b), &l)
	return l
}

func mibString(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// finish adds the notes that summarise the runs.
func (s *session) finish() {
	r := s.res
	var loads []float64
	var relayCPU, relaySecs float64
	var drops uint64
	var failures []string
	for _, run := range r.Runs {
		loads = append(loads, run.Load1)
		if run.Link == "wan" {
			relayCPU += run.RelayCPU
			relaySecs += run.Seconds
			drops += run.RelayDrops
		}
		if run.Error != "" {
			failures = append(failures, fmt.Sprintf("%s/%s/%s round %d: %s", run.Link, run.Workload, run.Tool, run.Round, firstLine(run.Error)))
		}
	}
	if len(loads) > 0 {
		slices.Sort(loads)
		r.Notes = append(r.Notes, fmt.Sprintf("Host load average (1 min) at the start of the runs: median %.2f, max %.2f, on %d CPUs.",
			loads[len(loads)/2], loads[len(loads)-1], r.Machine.CPUs))
	}
	if relaySecs > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("The WAN relay shares the machine's CPUs: it used %.2f CPU-seconds per second of the runs on that link "+
			"(part of it is the server's TCP receive path, run in the relay's write calls); its queue dropped %d frames.", relayCPU/relaySecs, drops))
	}
	if s.killed > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d server processes left over from earlier runs were killed before the next run.", s.killed))
	}
	for _, f := range failures {
		r.Notes = append(r.Notes, "Failed: "+f)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
