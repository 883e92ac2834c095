//go:build linux

package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fcp-dev/fcp/bench/internal/lab"
	"github.com/fcp-dev/fcp/bench/internal/report"
	"github.com/fcp-dev/fcp/bench/internal/tool"
	"github.com/fcp-dev/fcp/bench/internal/workload"
)

// newResults starts the results with everything known before the runs.
func (s *session) newResults(spec workload.Spec, tools, workloads []string, checks []lab.Check) *report.Results {
	where := s.where()
	r := &report.Results{
		Date:    time.Now(),
		Quick:   s.o.quick,
		Machine: machine(),
		Tools:   tools,
		Settings: report.Settings{
			Rounds: s.o.rounds, Timeout: s.o.timeout.Seconds(), DropCaches: s.o.dropCaches,
			TCPRmem: s.lab.TCP.Rmem, TCPWmem: s.lab.TCP.Wmem, CongestionControl: s.lab.TCP.CongestionControl,
			RcloneArgs: s.o.rcloneArgs, FcpArgs: s.o.fcpArgs, ScaleTimeout: s.o.scaleTimeout.Seconds(),
		},
		Data: fmt.Sprintf("one file of %s of random bytes; a tree of %s files of %s–%s (uniform, %.0f MB in total) "+
			"in %d × %d directories; generated from seed %d. %s",
			size(spec.FileBytes), report.Thousands(spec.TreeFiles()), size(int64(spec.MinFile)), size(int64(spec.MaxFile)),
			float64(s.digests[wlTree].Bytes)/1e6, spec.Dirs, spec.Subdirs, spec.Seed, where),
	}
	labels := map[string]string{
		wlFile:      size(spec.FileBytes) + " file",
		wlTree:      report.Thousands(spec.TreeFiles()) + " files",
		wlNoChange:  "no-change re-run",
		wlOverwrite: size(spec.FileBytes) + " file, " + size(spec.ChangeBytes) + " changed",
		wlAppend:    size(spec.FileBytes) + " file, " + size(spec.AppendBytes) + " appended",
		wlResume:    size(spec.FileBytes) + " file, resumed at half",
	}
	var deltaTools, scaleTools []string
	for _, t := range s.tools {
		if t.Delta {
			deltaTools = append(deltaTools, t.Name)
		}
		if t.Scale {
			scaleTools = append(scaleTools, t.Name)
		}
	}
	if !slices.ContainsFunc(workloads, func(wl string) bool { return !isScale(wl) }) {
		r.Data = where // only scale workloads: described below
	}
	r.Data += s.describeScale(workloads)
	var changes []string
	if slices.Contains(workloads, wlOverwrite) {
		changes = append(changes, fmt.Sprintf("*%s* writes %s at offset %d of the file (the size stays)",
			labels[wlOverwrite], size(spec.ChangeBytes), spec.OverwriteOffset()))
	}
	if slices.Contains(workloads, wlAppend) {
		changes = append(changes, fmt.Sprintf("*%s* appends %s", labels[wlAppend], size(spec.AppendBytes)))
	}
	if len(changes) > 0 {
		r.Data += fmt.Sprintf(" Changed files: the destination gets a plain local copy of the file (mode and modification time kept), "+
			"then the source is changed with random bytes from the same seed and its modification time moves forward: %s; "+
			"the source is put back after the run.", strings.Join(changes, "; "))
	}
	if slices.Contains(workloads, wlResume) {
		r.Data += fmt.Sprintf(" *%s*: the destination starts empty; the tool copies the file and its client's process group is killed (SIGKILL) "+
			"as soon as the destination's files take half the file's size (polled every %d ms); its server side then has up to %.0f s to end; "+
			"then the same command is timed finishing the copy.", labels[wlResume], cutPoll.Milliseconds(), cutSettle.Seconds())
	}
	for _, wl := range workloads {
		if l, ok := s.scaleLabel(wl, scaleTools); ok {
			r.Workloads = append(r.Workloads, l)
			continue
		}
		l := report.Label{Name: wl, Label: labels[wl]}
		if slices.Contains(deltaWorkloads, wl) {
			l.Tools = deltaTools
		}
		r.Workloads = append(r.Workloads, l)
	}
	for i, l := range s.lab.Links {
		if !slices.Contains(s.links, l) {
			continue
		}
		c := checks[i]
		r.Links = append(r.Links, report.Link{
			Label: report.Label{Name: l.Name, Label: l.Label}, Shape: l.Shape,
			PingMin: c.PingMin, PingAvg: c.PingAvg, PingMax: c.PingMax,
			Iperf1: c.Iperf1, Iperf4: c.Iperf4, Retransmits1: c.Retransmits1, Retransmits4: c.Retransmits4,
			SSHLogin: c.SSHLogin,
		})
	}
	paths := strings.NewReplacer(
		s.lab.SSHConfig, "$LAB/ssh_config", s.lab.RcloneConfig, "$LAB/rclone.conf",
		s.src, "$SRC", s.dst, "$DST", s.work+"/fcp", "fcp")
	for _, t := range s.tools {
		inv := t.Copy(s.target(s.links[0]), s.job(wlTree))
		r.Commands = append(r.Commands, report.Command{Tool: t.Name, Line: paths.Replace(inv.String())})
	}
	if slices.Contains(workloads, wlResume) {
		for _, t := range s.tools {
			if t.Name == "rsync" {
				inv := t.Copy(s.target(s.links[0]), s.job(wlResume))
				r.Commands = append(r.Commands, report.Command{Tool: t.Name,
					Line: paths.Replace(inv.String()) + "   # resume: both runs (the others run the file as above)"})
			}
		}
	}
	r.Versions = s.versions()
	return r
}

// where says where the data is.
func (s *session) where() string {
	if s.o.disk {
		return "Source and destination are on the same disk."
	}
	return "Source and destination are on one tmpfs (the disk of the reference machine varied threefold between identical runs)."
}

func machine() report.Machine {
	m := report.Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), LoadStart: loadavg()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.ParseInt(strings.Fields(procField("/proc/meminfo", "MemTotal") + " 0")[0], 10, 64); err == nil {
		m.Memory = kb * 1024
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// versions asks every program for its version.
func (s *session) versions() []report.Version {
	first := func(args ...string) string {
		out, _ := exec.Command(args[0], args[1:]...).CombinedOutput()
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return line
	}
	var v []report.Version
	add := func(tool, version string) { v = append(v, report.Version{Tool: tool, Version: version}) }
	add("ssh, scp, sftp (client)", first("ssh", "-V"))
	add("sshd, sftp-server (server)", first("/usr/sbin/sshd", "-V"))
	for _, t := range s.tools {
		switch t.Name {
		case "rsync":
			add("rsync (both sides)", first("rsync", "--version"))
		case "rclone":
			add("rclone", first("rclone", "version"))
		case "fcp":
			path := t.Copy(tool.Target{}, tool.Job{}).Args[0]
			add("fcp (both sides)", fmt.Sprintf("%s, binary sha256 %s", first(path, "--version"), fileHash(path)))
		}
	}
	add("iperf3", first("iperf3", "--version"))
	return v
}

func fileHash(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))[:16]
}
