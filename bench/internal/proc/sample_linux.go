package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Memory is what a MemorySampler saw.
type Memory struct {
	// Sum is the largest total resident memory of the user's processes at
	// one sample: the server's footprint for a copy.
	Sum int64 `json:"sum_rss"`
	// Max is the largest peak resident memory (VmHWM) of a single process.
	Max int64 `json:"max_process_hwm"`
	// Processes counts the distinct processes seen.
	Processes int `json:"processes"`
}

// SampleUser samples the memory of every process of uid every interval
// until the returned function is called; that function returns what was
// seen. Processes that live shorter than interval may be missed.
func SampleUser(uid int, interval time.Duration) (stop func() Memory) {
	done := make(chan struct{})
	result := make(chan Memory, 1)
	go func() {
		var m Memory
		seen := make(map[int]bool)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			sample(uid, &m, seen)
			select {
			case <-done:
				sample(uid, &m, seen)
				m.Processes = len(seen)
				result <- m
				return
			case <-ticker.C:
			}
		}
	}()
	return func() Memory {
		close(done)
		return <-result
	}
}

func sample(uid int, m *Memory, seen map[int]bool) {
	var sum int64
	for _, p := range UserProcesses(uid) {
		st, err := readStatus(p)
		if err != nil {
			continue // it exited
		}
		seen[p] = true
		sum += st.rss
		m.Max = max(m.Max, st.hwm)
	}
	m.Sum = max(m.Sum, sum)
}

// UserProcesses lists the processes whose real user id is uid.
func UserProcesses(uid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStatus(pid); err == nil && st.uid == uid {
			pids = append(pids, pid)
		}
	}
	return pids
}

type status struct {
	uid      int
	rss, hwm int64 // bytes
}

func readStatus(pid int) (status, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return status{}, err
	}
	st := status{uid: -1}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch key {
		case "Uid":
			st.uid = int(n)
		case "VmRSS":
			st.rss = n * 1024
		case "VmHWM":
			st.hwm = n * 1024
		}
	}
	if st.uid < 0 {
		return status{}, fmt.Errorf("/proc/%d/status: no Uid", pid)
	}
	return st, nil
}

// groupMembers lists the processes of process group pgid.
func groupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f, err := statFields(pid); err == nil && len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// statFields returns the fields of /proc/PID/stat after the command name:
// field 3 of proc(5), the state, comes first.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	// The command name, field 2, may hold spaces; it ends at the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// CPUTime returns the user and system CPU time pid has used so far.
func CPUTime(pid int) (time.Duration, error) {
	fields, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}
