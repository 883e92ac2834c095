//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fcp-dev/fcp/bench/internal/lab"
	"github.com/fcp-dev/fcp/bench/internal/netem"
	"github.com/fcp-dev/fcp/bench/internal/tool"
	"github.com/fcp-dev/fcp/bench/internal/workload"
)

// The workloads, in table order. A no-change run re-copies the tree onto the
// tool's own finished copy, so it needs the tree workload. The last three
// copy the large file onto a destination that already holds most of it and
// run only with the tools that can use that (tool.Tool.Delta): overwrite
// and append change the source after the destination got the old file,
// resume finishes a copy that was killed half way.
const (
	wlFile      = "file"
	wlTree      = "tree"
	wlNoChange  = "nochange"
	wlOverwrite = "overwrite"
	wlAppend    = "append"
	wlResume    = "resume"
)

// allWorkloads lists every workload in table order; deltaWorkloads those
// only the delta tools run. The last, wlLatency (latency.go), is fcp
// replicate's alone and has a table of its own.
var (
	allWorkloads   = []string{wlFile, wlTree, wlNoChange, wlOverwrite, wlAppend, wlResume, wlMillion, wlMillionNoChange, wlSparse, wlLatency}
	deltaWorkloads = []string{wlOverwrite, wlAppend, wlResume}
)

// options are the flags of the benchmark.
type options struct {
	quick      bool
	rounds     int
	timeout    time.Duration
	links      string
	tools      string
	workloads  string
	fcp        string
	fcpArgs    string
	rcloneArgs string
	out        string
	work       string
	keep       bool
	dropCaches bool
	disk       bool
	tcpMemMax  int64
	delay      time.Duration
	rate       float64
	queue      int64
	user       string
	edits      int

	// scaleTimeout is the cap of a run of the scale workloads (scale.go).
	scaleTimeout time.Duration
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.BoolVar(&o.quick, "quick", false, "check the harness: small data, 1 round, the direct link only, results to a temporary directory")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; every tool runs once per round and workload")
	fs.DurationVar(&o.timeout, "timeout", 120*time.Second, "cap of one run; a tool that hits it is not run again on that workload and link")
	fs.StringVar(&o.links, "links", "direct,wan", "links to measure: direct (veth, no added delay), wan (emulated, see -delay and -rate)")
	fs.StringVar(&o.tools, "tools", strings.Join(tool.Names, ","), "tools to compare")
	fs.DurationVar(&o.scaleTimeout, "scale-timeout", 15*time.Minute, "cap of one run of the scale workloads (million, sparse)")
	fs.StringVar(&o.workloads, "workloads", strings.Join(slices.DeleteFunc(slices.Clone(allWorkloads), isScale), ","), "workloads: file (one large file), tree (many small files), nochange (the tree again, unchanged); "+
		"not run unless named, with rsync and fcp only: million (1,000,000 tiny files, then again unchanged), sparse (a 10 GiB sparse file, rsync -S and fcp -S); "+
		"with rsync and fcp only: overwrite (the file with 1 MiB changed in the middle, onto its old version), append (10 MiB appended, onto its old version), "+
		"resume (the file onto what a copy killed half way left); "+
		"latency (fcp replicate alone: how soon edits and branch switches in a git working tree reach the copy)")
	fs.StringVar(&o.fcp, "fcp", "", "fcp binary (default: build ./cmd/fcp of the current directory)")
	fs.StringVar(&o.fcpArgs, "fcp-args", "", "extra fcp arguments, split on spaces, before the operands (fcp always gets -F with the lab's ssh_config)")
	fs.StringVar(&o.rcloneArgs, "rclone-args", "--transfers 16", "extra rclone copy arguments, split on spaces (rclone's default is --transfers 4)")
	fs.StringVar(&o.out, "out", "bench", "directory for results.md, results.svg and results.json (-quick: a temporary directory)")
	fs.StringVar(&o.work, "work", "", "working directory for data, lab files and logs (default: a new directory in /var/tmp, removed at exit)")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory")
	fs.BoolVar(&o.dropCaches, "drop-caches", true, "sync and drop the host's page cache before every run")
	fs.BoolVar(&o.disk, "disk", false, "keep source and destination on the working directory's disk, not on a tmpfs mounted for the run")
	fs.Int64Var(&o.tcpMemMax, "tcp-mem-max", 32<<20, "maximum of net.ipv4.tcp_rmem and tcp_wmem in the lab's namespaces, in bytes")
	fs.DurationVar(&o.delay, "delay", 25*time.Millisecond, "one-way delay of the wan link")
	fs.Float64Var(&o.rate, "rate", 1e9, "rate of the wan link in bits per second")
	fs.Int64Var(&o.queue, "queue", 0, "bottleneck queue of the wan link per direction in bytes (0: twice the bandwidth-delay product)")
	fs.StringVar(&o.user, "user", "fcpbench", "benchmark user on the server (created when missing; its shell becomes /bin/sh)")
	fs.IntVar(&o.edits, "edits", 200, "edits of the latency workload, one at a time (-quick: 40)")
}

func benchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: bench [flags]   (as root, from the module root; see bench/README.md)\n\n")
		fs.PrintDefaults()
	}
	o.addFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["rounds"] {
			o.rounds = 1
		}
		if !set["links"] {
			o.links = "direct"
		}
		if !set["out"] {
			o.out = filepath.Join(os.TempDir(), "fcp-bench-quick")
		}
		if !set["edits"] {
			o.edits = 40
		}
	}
	if o.rounds < 1 {
		return fmt.Errorf("-rounds must be at least 1")
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	return runBench(ctx, o, stdout, logf)
}

func runBench(ctx context.Context, o options, stdout io.Writer, logf func(string, ...any)) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("must run as root: it creates network namespaces, a user and an sshd (see bench/README.md)")
	}
	links, err := pick(o.links, []string{"direct", "wan"})
	if err != nil {
		return fmt.Errorf("-links: %w", err)
	}
	toolNames, err := pick(o.tools, tool.Names)
	if err != nil {
		return fmt.Errorf("-tools: %w", err)
	}
	workloads, err := pick(o.workloads, allWorkloads)
	if err != nil {
		return fmt.Errorf("-workloads: %w", err)
	}
	// From here on, workloads are the copy workloads.
	latency := slices.Contains(workloads, wlLatency)
	workloads = slices.DeleteFunc(workloads, func(w string) bool { return w == wlLatency })
	if latency && o.edits < 1 {
		return fmt.Errorf("-edits must be at least 1")
	}
	if slices.Contains(workloads, wlNoChange) && !slices.Contains(workloads, wlTree) {
		workloads, _ = pick(strings.Join(workloads, ",")+","+wlTree, allWorkloads)
		logf("the no-change workload re-runs each tool's own copy of the tree: adding the tree workload")
	}
	workloads = pickScale(workloads, allWorkloads)
	if !slices.ContainsFunc(toolNames, func(n string) bool { t, _ := tool.New(n, tool.Options{}); return t.Scale }) {
		if kept := slices.DeleteFunc(slices.Clone(workloads), isScale); len(kept) < len(workloads) {
			logf("none of the tools runs the scale workloads (rsync and fcp do): leaving them out")
			workloads = kept
		}
	}
	if !slices.ContainsFunc(toolNames, func(n string) bool { t, _ := tool.New(n, tool.Options{}); return t.Delta }) {
		kept := slices.DeleteFunc(slices.Clone(workloads), func(w string) bool { return slices.Contains(deltaWorkloads, w) })
		if len(kept) < len(workloads) {
			logf("none of the tools rebuilds files from the destination's data (rsync and fcp do): leaving out %s",
				strings.Join(deltaWorkloads, ", "))
			if len(kept) == 0 && !latency {
				return errors.New("no workload left to run")
			}
			workloads = kept
		}
	}
	needed := toolNames
	if slices.Contains(workloads, wlNoChange) || slices.Contains(workloads, wlMillionNoChange) {
		needed = append(slices.Clone(toolNames), "rsync") // it prepares no-change runs after a capped copy
	}
	if len(workloads) == 0 {
		needed = nil
	}
	if latency {
		needed = append(slices.Clone(needed), "git", "cp")
	}
	if err := checkCommands(needed); err != nil {
		return err
	}

	work := o.work
	if work == "" {
		if work, err = os.MkdirTemp("/var/tmp", "fcp-bench-"); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	// The benchmark user must reach the destination and its home inside work.
	if err := os.Chmod(work, 0o755); err != nil {
		return err
	}
	logf("working directory %s", work)
	data := work
	if !o.disk {
		// A disk shared with other guests varies run to run (cp -a of the
		// tree took 2.8 s to 9.6 s in consecutive runs on the reference
		// machine); a tmpfs measures the tools and the link.
		data = filepath.Join(work, "data")
		if err := os.MkdirAll(data, 0o755); err != nil {
			return err
		}
		// nr_inodes: room for a million files twice (the default is half
		// the RAM's pages, which a small machine may not have).
		if out, err := exec.CommandContext(ctx, "mount", "-t", "tmpfs", "-o", "size=6g,nr_inodes=4m,mode=0755", "tmpfs", data).CombinedOutput(); err != nil {
			return fmt.Errorf("mount a tmpfs for the data (or pass -disk): %w: %s", err, out)
		}
		defer exec.Command("umount", "-l", data).Run()
	}
	s := &session{o: o, logf: logf, work: work,
		src: filepath.Join(data, "src"), dst: filepath.Join(data, "dst"), logs: filepath.Join(work, "logs")}
	for _, d := range []string{s.src, s.logs, filepath.Join(work, "lab")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}

	fcpPath := o.fcp
	if (slices.Contains(toolNames, "fcp") || slices.Contains(toolNames, "fcpd") || latency) && fcpPath == "" {
		fcpPath = filepath.Join(work, "fcp")
		logf("building fcp from ./cmd/fcp")
		if out, err := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", fcpPath, "./cmd/fcp").CombinedOutput(); err != nil {
			return fmt.Errorf("build fcp (run from the module root, or pass -fcp): %w\n%s", err, out)
		}
	}
	if fcpPath != "" {
		if fcpPath, err = filepath.Abs(fcpPath); err != nil {
			return err
		}
	}
	if slices.Contains(toolNames, "fcpd") {
		s.fcpd = filepath.Join(work, "fcpd")
		logf("building fcpd from ./cmd/fcpd")
		if out, err := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", s.fcpd, "./cmd/fcpd").CombinedOutput(); err != nil {
			return fmt.Errorf("build fcpd: %w\n%s", err, out)
		}
	}
	topts := tool.Options{FcpPath: fcpPath, FcpArgs: strings.Fields(o.fcpArgs), RcloneArgs: strings.Fields(o.rcloneArgs)}
	for _, name := range toolNames {
		t, err := tool.New(name, topts)
		if err != nil {
			return err
		}
		s.tools = append(s.tools, t)
	}

	spec := workload.Full()
	if o.quick {
		spec = workload.Quick()
	}
	s.spec = spec
	s.digests = make(map[string]workload.Digest)
	if slices.ContainsFunc(workloads, func(wl string) bool { return !isScale(wl) }) {
		logf("generating data: a %s file and %d files of %s–%s", size(spec.FileBytes), spec.TreeFiles(), size(int64(spec.MinFile)), size(int64(spec.MaxFile)))
		start := time.Now()
		fileDigest, treeDigest, err := workload.Generate(s.src, spec)
		if err != nil {
			return fmt.Errorf("generate data: %w", err)
		}
		s.digests = map[string]workload.Digest{wlFile: fileDigest, wlTree: treeDigest, wlNoChange: treeDigest, wlResume: fileDigest}
		logf("generated in %.1f s: %v; %v", time.Since(start).Seconds(), fileDigest, treeDigest)
	}
	if err := s.generateScale(workloads); err != nil {
		return err
	}
	if latency {
		if err := s.prepareLatency(ctx, fcpPath, data); err != nil {
			return err
		}
	}

	cfg := lab.Config{
		Dir: filepath.Join(work, "lab"), User: o.user, Home: filepath.Join(work, "home"),
		TCPMemMax: o.tcpMemMax, Logf: logf,
	}
	if slices.Contains(links, "wan") {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		queue := o.queue
		if queue == 0 {
			queue = 2 * netem.BDP(o.rate, 2*o.delay)
		}
		cfg.WAN = &lab.WAN{Delay: o.delay, Rate: o.rate, Queue: queue, Relay: []string{self, "netem"}}
	}
	logf("setting up the lab (namespaces %s and %s)", lab.ClientNS, lab.ServerNS)
	if s.lab, err = lab.Setup(ctx, cfg); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	defer func() {
		if cerr := s.lab.Close(); cerr != nil {
			logf("lab cleanup: %v", cerr)
		}
	}()

	for _, l := range s.lab.Links {
		if slices.Contains(links, l.Name) {
			s.links = append(s.links, l)
		}
	}
	logf("validating the links (ping, iperf3, ssh logins)")
	checks, err := s.lab.Validate(ctx)
	if err != nil {
		return fmt.Errorf("validate lab: %w", err)
	}
	s.res = s.newResults(spec, toolNames, workloads, checks)
	if latency {
		if len(workloads) == 0 {
			s.res.Data = s.latency.describe() + " " + s.where()
		} else {
			s.res.Data += " " + s.latency.describe()
		}
	}
	for _, l := range s.res.Links {
		logf("link %s: ping %.2f ms avg; iperf3 %.0f Mbit/s (1 stream), %.0f Mbit/s (4 streams); ssh login %.2f s",
			l.Name, l.PingAvg, l.Iperf1/1e6, l.Iperf4/1e6, l.SSHLogin)
	}

	for _, link := range s.links {
		if len(workloads) > 0 {
			if err := s.runLink(ctx, link, workloads); err != nil {
				return err
			}
		}
		if latency {
			if err := s.runLatency(ctx, link); err != nil {
				return err
			}
		}
	}
	s.finish()

	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	for name, write := range map[string]func(string) error{
		"results.json": s.res.WriteJSON, "results.md": s.res.WriteMarkdown, "results.svg": s.res.WriteSVG,
	} {
		if err := write(filepath.Join(o.out, name)); err != nil {
			return err
		}
	}
	s.res.Markdown(stdout)
	logf("wrote %s/results.md, results.svg and results.json", o.out)
	return nil
}

// pick splits a comma-separated list and checks it against known, keeping
// known's order.
func pick(list string, known []string) ([]string, error) {
	want := make(map[string]bool)
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !slices.Contains(known, f) {
			return nil, fmt.Errorf("unknown %q (known: %s)", f, strings.Join(known, ", "))
		}
		want[f] = true
	}
	var out []string
	for _, k := range known {
		if want[k] {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	return out, nil
}

// checkCommands reports every program the run needs and lacks.
func checkCommands(tools []string) error {
	need := []string{"/usr/bin/time", "ip", "ssh", "ssh-keygen", "/usr/sbin/sshd", "/usr/lib/openssh/sftp-server", "iperf3", "ping", "sysctl", "useradd", "usermod"}
	for _, t := range tools {
		switch t {
		case "fcp":
		case "fcpd":
			need = append(need, "nsenter")
		default:
			need = append(need, t)
		}
	}
	var missing []string
	for _, c := range need {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: run bench/run.sh, which installs them with apt-get", strings.Join(missing, ", "))
	}
	return nil
}

func size(b int64) string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", b>>30)
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", b>>10)
	}
	return fmt.Sprintf("%d bytes", b)
}
