package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FcpdPort is the port of the lab's fcpd, fcpd's default.
const FcpdPort = 7523

// FcpdRoot is the name under which the lab's fcpd exports "/": the
// server's directory DIR is fcp://USER@HOST/fs/DIR.
const FcpdRoot = "fs"

// StartFcpd runs bin as fcpd in the server namespace as the benchmark
// user, exporting "/" as FcpdRoot to the lab's user key, and returns once
// it listens. Its host key is made on the first call and added to the
// lab's known_hosts under "[address]:7523" for every link. stop sends
// fcpd SIGTERM and waits for it (it may have been killed already); later
// calls do nothing.
func (l *Lab) StartFcpd(ctx context.Context, bin string) (stop func(), err error) {
	dir := l.cfg.Dir
	hostKey := filepath.Join(dir, "fcpd_host_key")
	if _, err := os.Stat(hostKey); err != nil {
		out, err := exec.CommandContext(ctx, bin, "--print-host-key", "--host-key", hostKey).Output()
		if err != nil {
			return nil, fmt.Errorf("fcpd --print-host-key: %w", err)
		}
		if err := l.Chown(hostKey); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(dir, "known_hosts"), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, err
		}
		for _, link := range l.Links {
			fmt.Fprintf(f, "[%s]:%d %s", link.Server, FcpdPort, out)
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "fcpd.conf"), nil, 0o644); err != nil {
			return nil, err
		}
	}
	logPath := filepath.Join(dir, "fcpd.log")
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	start, _ := log.Seek(0, 2)
	uid := strconv.Itoa(l.UID)
	cmd := exec.Command("nsenter", "--net=/run/netns/"+ServerNS, "--setuid", uid, "--setgid", uid, "--",
		bin, "--config", filepath.Join(dir, "fcpd.conf"), "--listen", ":"+strconv.Itoa(FcpdPort),
		"--root", FcpdRoot+"=/", "--authorized-keys", filepath.Join(dir, "authorized_keys"), "--host-key", hostKey)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start fcpd: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = sync.OnceFunc(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(logPath)
		if int64(len(b)) > start && strings.Contains(string(b[start:]), "msg=listening") {
			return stop, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("fcpd exited: %s", strings.TrimSpace(string(b[min(start, int64(len(b))):])))
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("fcpd did not listen within 10 s; see %s", logPath)
		}
	}
}
