// Package tool holds the command line of each tool under test: how it
// copies a local file or directory into a directory on the lab's server.
// Every OpenSSH-based tool gets the lab's ssh_config; rclone, which has its
// own SSH client, gets an sftp remote with the same key and known_hosts.
package tool

import (
	"fmt"
	"path"
	"strings"
)

// Target is the server side of a copy and how to reach it.
type Target struct {
	User      string // SSH user on the server
	Host      string // server address
	SSHConfig string // ssh_config for scp, sftp, rsync and fcp
	// RcloneConfig is rclone's config file and RcloneRemote the sftp remote
	// in it that points at Host.
	RcloneConfig string
	RcloneRemote string
}

// Job is one copy: Src, a local file or directory, lands as
// DstDir/base(Src) on the server; DstDir exists.
type Job struct {
	Src    string
	Dir    bool // Src is a directory
	DstDir string
	// KeepPartial asks the tool to keep what arrived when the copy is cut
	// short, for the next run to finish: rsync --partial (fcp always
	// does).
	KeepPartial bool
	// Sparse asks the tool to keep the holes of sparse files: rsync -S,
	// fcp -S (fcp also does it unasked for a file at least half holes).
	Sparse bool
}

// Invocation is one run of a tool: its argument vector, variables added to
// its environment, and what it reads on stdin.
type Invocation struct {
	Args  []string
	Env   []string
	Stdin string
}

// Tool is a named way to copy.
type Tool struct {
	Name string
	Copy func(Target, Job) Invocation
	// Incremental tools skip files the destination already has; the others
	// (scp, sftp) copy everything every time.
	Incremental bool
	// Delta tools rebuild a changed file from its old version at the
	// destination, sending only what changed, and finish an interrupted
	// copy from what arrived: rsync and fcp.
	Delta bool
	// Scale tools are run on the scale workloads (a million files, a
	// sparse file): rsync and fcp. The others would take hours on a
	// million files, and have no way to keep holes.
	Scale bool
	// Daemon tools need fcpd running on the server (see lab.StartFcpd).
	Daemon bool
}

// Options are the settings of the tools that have any.
type Options struct {
	FcpPath    string   // fcp binary
	FcpArgs    []string // given to fcp before the operands
	RcloneArgs []string // given to rclone copy before the operands
}

// Names lists every tool, in the order of tables and plots.
var Names = []string{"scp", "sftp", "rsync", "rclone", "fcp", "fcpd"}

// New returns the tool called name.
func New(name string, o Options) (Tool, error) {
	switch name {
	case "scp":
		return Tool{Name: name, Copy: scp}, nil
	case "sftp":
		return Tool{Name: name, Copy: sftp}, nil
	case "rsync":
		return Tool{Name: name, Copy: rsync, Incremental: true, Delta: true, Scale: true}, nil
	case "rclone":
		return Tool{Name: name, Copy: func(t Target, j Job) Invocation { return rclone(t, j, o.RcloneArgs) }, Incremental: true}, nil
	case "fcp":
		return Tool{Name: name, Copy: func(t Target, j Job) Invocation { return fcp(t, j, o) }, Incremental: true, Delta: true, Scale: true}, nil
	case "fcpd":
		return Tool{Name: name, Copy: func(t Target, j Job) Invocation { return fcpd(t, j, o) }, Incremental: true, Delta: true, Scale: true, Daemon: true}, nil
	}
	return Tool{}, fmt.Errorf("unknown tool %q (known: %s)", name, strings.Join(Names, ", "))
}

func remote(t Target, p string) string { return t.User + "@" + t.Host + ":" + p }

// scp -r: OpenSSH 9 speaks the SFTP protocol underneath by default.
func scp(t Target, j Job) Invocation {
	return Invocation{Args: []string{"scp", "-q", "-r", "-F", t.SSHConfig, j.Src, remote(t, j.DstDir+"/")}}
}

// sftp in batch mode reads its commands from stdin and stops at the first
// that fails. "put -r SRC DIR" into an existing DIR lands as DIR/base(SRC),
// whether or not that exists already.
func sftp(t Target, j Job) Invocation {
	batch := fmt.Sprintf("put -r %s %s\n", sftpQuote(j.Src), sftpQuote(j.DstDir))
	return Invocation{
		Args:  []string{"sftp", "-q", "-F", t.SSHConfig, "-b", "-", t.User + "@" + t.Host},
		Stdin: batch,
	}
}

func sftpQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// rsync -a over ssh; the same command is the no-change re-run. Over ssh
// rsync sends deltas by default (--whole-file is the default of local
// copies only). --partial keeps a cut copy's temporary file at the final
// name, the basis of the next run; -S writes runs of zeros as holes.
func rsync(t Target, j Job) Invocation {
	args := []string{"rsync", "-a"}
	if j.KeepPartial {
		args = append(args, "--partial")
	}
	if j.Sparse {
		args = append(args, "-S")
	}
	return Invocation{Args: append(args, "-e", "ssh -F "+t.SSHConfig, j.Src, remote(t, j.DstDir+"/"))}
}

// rclone copy copies the contents of a directory, so a directory is named
// on both sides; a file goes into the destination directory.
func rclone(t Target, j Job, extra []string) Invocation {
	args := append([]string{"rclone", "copy"}, extra...)
	dst := j.DstDir
	if j.Dir {
		dst = path.Join(j.DstDir, path.Base(j.Src))
	}
	args = append(args, j.Src, t.RcloneRemote+":"+dst)
	return Invocation{Args: args, Env: []string{"RCLONE_CONFIG=" + t.RcloneConfig}}
}

func fcp(t Target, j Job, o Options) Invocation {
	args := append([]string{o.FcpPath, "-F", t.SSHConfig}, o.FcpArgs...)
	if j.Sparse {
		args = append(args, "-S")
	}
	return Invocation{Args: append(args, j.Src, remote(t, j.DstDir+"/"))}
}

// fcpd is fcp through the lab's fcpd, which exports the server's "/" as
// the root "fs", with the same keys and known_hosts (ssh_config).
func fcpd(t Target, j Job, o Options) Invocation {
	args := append([]string{o.FcpPath, "-F", t.SSHConfig}, o.FcpArgs...)
	if j.Sparse {
		args = append(args, "-S")
	}
	return Invocation{Args: append(args, j.Src, "fcp://"+t.User+"@"+t.Host+"/fs"+j.DstDir+"/")}
}

// String renders the invocation as one shell command line.
func (inv Invocation) String() string {
	var b strings.Builder
	for _, e := range inv.Env {
		b.WriteString(shellQuote(e) + " ")
	}
	for i, a := range inv.Args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(shellQuote(a))
	}
	if inv.Stdin != "" {
		b.WriteString(" <<< " + shellQuote(strings.TrimSuffix(inv.Stdin, "\n")))
	}
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-$") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
