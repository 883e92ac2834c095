package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fcp-dev/fcp/bench/internal/proc"
)

// Check is what a link measured before the benchmark.
type Check struct {
	Link string `json:"link"`
	// Round-trip times of ICMP echo, in milliseconds.
	PingMin float64 `json:"ping_min_ms"`
	PingAvg float64 `json:"ping_avg_ms"`
	PingMax float64 `json:"ping_max_ms"`
	// Throughput of iperf3 (client to server, received) with one and with
	// four TCP streams, in bits per second, and its retransmissions.
	Iperf1       float64 `json:"iperf3_1_stream_bps"`
	Iperf4       float64 `json:"iperf3_4_streams_bps"`
	Retransmits1 int     `json:"iperf3_1_stream_retransmits"`
	Retransmits4 int     `json:"iperf3_4_streams_retransmits"`
	// SSHLogin is the median time of "ssh host true" (connection, key
	// exchange, authentication, a session), in seconds.
	SSHLogin float64 `json:"ssh_login_s"`
}

// Validate measures every link with ping, iperf3 and ssh logins.
func (l *Lab) Validate(ctx context.Context) ([]Check, error) {
	log, err := os.Create(filepath.Join(l.cfg.Dir, "iperf3-server.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	server := exec.Command("ip", "netns", "exec", ServerNS, "iperf3", "-s")
	server.Stdout, server.Stderr = log, log
	server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := server.Start(); err != nil {
		return nil, fmt.Errorf("start iperf3 server: %w", err)
	}
	defer func() {
		server.Process.Kill()
		server.Wait()
	}()

	var checks []Check
	for _, link := range l.Links {
		c := Check{Link: link.Name}
		if c.PingMin, c.PingAvg, c.PingMax, err = ping(ctx, link.Server); err != nil {
			return nil, err
		}
		seconds, omit := "4", "1"
		if link.Name != "direct" {
			seconds, omit = "8", "2" // leave out slow start, which takes a while at 50 ms
		}
		if c.Iperf1, c.Retransmits1, err = iperf(ctx, link.Server, seconds, omit, "1"); err != nil {
			return nil, err
		}
		if c.Iperf4, c.Retransmits4, err = iperf(ctx, link.Server, seconds, omit, "4"); err != nil {
			return nil, err
		}
		if c.SSHLogin, err = l.sshLogin(ctx, link.Server); err != nil {
			return nil, err
		}
		checks = append(checks, c)
	}
	return checks, nil
}

func ping(ctx context.Context, addr string) (min, avg, max float64, err error) {
	out, err := proc.Output(ctx, Client("ping", "-q", "-c", "20", "-i", "0.1", addr)...)
	if err != nil {
		return 0, 0, 0, err
	}
	// rtt min/avg/max/mdev = 50.452/50.664/51.049/0.173 ms
	i := strings.Index(out, "min/avg/max")
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("ping %s: no round-trip times in %q", addr, out)
	}
	_, vals, _ := strings.Cut(out[i:], "= ")
	f := strings.Split(strings.Fields(vals)[0], "/")
	if len(f) < 3 {
		return 0, 0, 0, fmt.Errorf("ping %s: cannot parse %q", addr, out[i:])
	}
	min, _ = strconv.ParseFloat(f[0], 64)
	avg, _ = strconv.ParseFloat(f[1], 64)
	max, _ = strconv.ParseFloat(f[2], 64)
	return min, avg, max, nil
}

// iperf runs an iperf3 client, retrying while the server is starting.
func iperf(ctx context.Context, addr, seconds, omit, streams string) (bps float64, retransmits int, err error) {
	args := Client("iperf3", "-J", "-c", addr, "-t", seconds, "-O", omit, "-P", streams)
	var out string
	for attempt := 0; ; attempt++ {
		out, err = proc.Output(ctx, args...)
		if err == nil || attempt == 20 {
			break
		}
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	if err != nil {
		return 0, 0, err
	}
	var r struct {
		End struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return 0, 0, fmt.Errorf("iperf3 output: %w", err)
	}
	return r.End.SumReceived.BitsPerSecond, r.End.SumSent.Retransmits, nil
}

func (l *Lab) sshLogin(ctx context.Context, addr string) (float64, error) {
	var times []float64
	for range 5 {
		start := time.Now()
		if err := run(ctx, Client("ssh", "-F", l.SSHConfig, l.cfg.User+"@"+addr, "true")...); err != nil {
			return 0, err
		}
		times = append(times, time.Since(start).Seconds())
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}
