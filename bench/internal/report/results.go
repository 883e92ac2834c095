package report

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"time"
)

// Results is everything one benchmark invocation measured and how.
type Results struct {
	Date      time.Time `json:"date"`
	Quick     bool      `json:"quick"`
	Machine   Machine   `json:"machine"`
	Versions  []Version `json:"versions"`
	Settings  Settings  `json:"settings"`
	Data      string    `json:"data"`  // what the workloads are made of
	Links     []Link    `json:"links"` // in table order
	Tools     []string  `json:"tools"` // in table order; "fcp" is the one compared
	Workloads []Label   `json:"workloads"`
	Commands  []Command `json:"commands"`
	// FirstContact is fcp's first run on each link, which installs its agent
	// on the server; it is not part of Runs.
	FirstContact []FirstContact `json:"fcp_first_contact"`
	Runs         []Run          `json:"runs"`
	// Omitted are the cells deliberately not run, with the reason.
	Omitted []Omission `json:"omitted"`
	Notes   []string   `json:"notes"`
	// Replication is the replication latency workload, per link.
	Replication []Replication `json:"replication_latency,omitempty"`
}

// Omission is a tool not run on a workload and link.
type Omission struct {
	Link     string `json:"link"`
	Workload string `json:"workload"`
	Tool     string `json:"tool"`
	Reason   string `json:"reason"`
}

// Machine describes the host.
type Machine struct {
	CPUs      int     `json:"cpus"`
	CPU       string  `json:"cpu"`
	Kernel    string  `json:"kernel"`
	Memory    int64   `json:"memory_bytes"`
	Go        string  `json:"go"`
	LoadStart float64 `json:"loadavg1_at_start"`
}

// Version is one tool's version line.
type Version struct {
	Tool    string `json:"tool"`
	Version string `json:"version"`
}

// Settings are the knobs of the run.
type Settings struct {
	Rounds            int     `json:"rounds"`
	Timeout           float64 `json:"timeout_s"`
	DropCaches        bool    `json:"drop_caches"`
	TCPRmem           string  `json:"tcp_rmem"`
	TCPWmem           string  `json:"tcp_wmem"`
	CongestionControl string  `json:"tcp_congestion_control"`
	RcloneArgs        string  `json:"rclone_args"`
	FcpArgs           string  `json:"fcp_args"`
	// ScaleTimeout is the cap of one run of the scale workloads.
	ScaleTimeout float64 `json:"scale_timeout_s,omitempty"`
}

// Label names a row dimension: a short name and how tables show it.
type Label struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	// Tools are the tools a workload is run with, when not all of them.
	Tools []string `json:"tools,omitempty"`
	// Scale marks the scale workloads (a million files, a sparse file),
	// which have tables of their own (see scaleTables), and Goals are
	// theirs.
	Scale bool  `json:"scale,omitempty"`
	Goals Goals `json:"goals,omitzero"`
}

// Runs reports whether the workload is run with tool.
func (l Label) Runs(tool string) bool { return len(l.Tools) == 0 || slices.Contains(l.Tools, tool) }

// Link is a network path and what it measured before the runs.
type Link struct {
	Label
	Shape        string  `json:"shape"`
	PingMin      float64 `json:"ping_min_ms"`
	PingAvg      float64 `json:"ping_avg_ms"`
	PingMax      float64 `json:"ping_max_ms"`
	Iperf1       float64 `json:"iperf3_1_stream_bps"`
	Iperf4       float64 `json:"iperf3_4_streams_bps"`
	Retransmits1 int     `json:"iperf3_1_stream_retransmits"`
	Retransmits4 int     `json:"iperf3_4_streams_retransmits"`
	SSHLogin     float64 `json:"ssh_login_s"`
}

// Command is a tool's exact command line, with paths as variables.
type Command struct {
	Tool string `json:"tool"`
	Line string `json:"line"`
}

// FirstContact is fcp's first run on a link, which had to install its
// agent, and the same copy again with the agent cached: a one-line file.
type FirstContact struct {
	Link    string  `json:"link"`
	Seconds float64 `json:"seconds"`
	Cached  float64 `json:"cached_seconds"`
	OK      bool    `json:"ok"`
}

// Run is one timed copy.
type Run struct {
	Link     string    `json:"link"`
	Workload string    `json:"workload"`
	Tool     string    `json:"tool"`
	Round    int       `json:"round"` // from 1
	Order    int       `json:"order"` // position in its round, from 1
	Start    time.Time `json:"start"`
	Seconds  float64   `json:"seconds"`
	Capped   bool      `json:"capped"` // killed at the timeout
	// What a capped run had written by then: regular files and their bytes.
	PartialFiles int    `json:"partial_files,omitempty"`
	PartialBytes int64  `json:"partial_bytes,omitempty"`
	ExitCode     int    `json:"exit_code"`
	Verified     bool   `json:"verified"` // the destination matched the source
	Error        string `json:"error,omitempty"`
	// SeededBy names the tool that made the destination identical before a
	// no-change run, when the tool's own copy did not finish.
	SeededBy string `json:"seeded_by,omitempty"`
	// Client: the tool's process tree as wait4 reports it.
	ClientMaxRSS int64   `json:"client_max_rss_bytes"`
	ClientCPU    float64 `json:"client_cpu_s"`
	// Server: every process of the benchmark user, sampled.
	ServerRSS       int64   `json:"server_rss_bytes"`
	ServerMaxRSS    int64   `json:"server_max_process_rss_bytes"`
	ServerProcesses int     `json:"server_processes"`
	RelayCPU        float64 `json:"relay_cpu_s,omitempty"`
	RelayDrops      uint64  `json:"relay_dropped_frames,omitempty"`
	Load1           float64 `json:"loadavg1"`
	// Bytes on the wire during the run, by the counters of the client's
	// device of the link: sent to the server (tx) and received (rx).
	WireTx int64 `json:"wire_tx_bytes"`
	WireRx int64 `json:"wire_rx_bytes"`
	// Cut is the untimed first run of a resume workload, killed part way.
	Cut *Cut `json:"cut,omitempty"`
	// DstAllocated is the space the destination's files take after the
	// run (st_blocks), measured for the sparse workload.
	DstAllocated int64 `json:"dst_allocated_bytes,omitempty"`
}

// WireBytes is what the run moved both ways.
func (r Run) WireBytes() int64 { return r.WireTx + r.WireRx }

// Cut is the first run of a resume workload: the tool copies the file into
// an empty destination and its client's process group is killed
// (SIGKILL) once Arrived bytes are at the destination.
type Cut struct {
	Seconds float64 `json:"seconds"` // from start to the kill
	// Arrived is what the destination held when the kill was sent (the
	// space its files take, so a sparse file counts what was written).
	Arrived int64 `json:"arrived_bytes"`
	// Left is what the destination held once the tool's server side had
	// ended: the files and their total size.
	LeftFiles []string `json:"left_files"`
	LeftBytes int64    `json:"left_bytes"`
	WireTx    int64    `json:"wire_tx_bytes"`
	WireRx    int64    `json:"wire_rx_bytes"`
	// Error says why the cut did not happen as planned (the copy ended
	// first, or failed); then the timed run is not made.
	Error string `json:"error,omitempty"`
}

// OK reports whether the run finished, succeeded and copied correctly.
func (r Run) OK() bool { return !r.Capped && r.ExitCode == 0 && r.Verified && r.Error == "" }

// Cell summarises the runs of one tool on one workload and link.
type Cell struct {
	Runs     int     // runs made
	OK       int     // runs that finished correctly
	Capped   bool    // a run hit the timeout
	Median   float64 // of the correct runs, in seconds
	Min, Max float64
	Times    []float64 // of the correct runs, in order
	// PartialFiles and PartialBytes are what the first capped run wrote.
	PartialFiles int
	PartialBytes int64
	// Peak memory over the runs, in bytes.
	ClientRSS, ServerRSS int64
	SeededBy             string
	// Bytes is the median of WireBytes over the correct runs that measured
	// it; 0 when none did.
	Bytes float64
	// Left is the median of Cut.LeftBytes over the runs cut as planned,
	// LeftFiles the files the first of them left.
	Left      float64
	LeftFiles []string
	Cuts      int // runs cut as planned
	// Allocated is the median of DstAllocated over the correct runs that
	// measured it.
	Allocated float64
}

// valid reports whether the cell has a time to show.
func (c Cell) valid() bool { return c.OK > 0 && !c.Capped }

// omitted returns why a cell was not run, or "".
func (r *Results) omitted(link, workload, tool string) string {
	for _, o := range r.Omitted {
		if o.Link == link && o.Workload == workload && o.Tool == tool {
			return o.Reason
		}
	}
	return ""
}

// Cell returns the summary of one tool on one workload and link; ok is
// false when it was not run.
func (r *Results) Cell(link, workload, tool string) (c Cell, ok bool) {
	var bytes, left, allocated []float64
	for _, run := range r.Runs {
		if run.Link != link || run.Workload != workload || run.Tool != tool {
			continue
		}
		c.Runs++
		if run.Cut != nil && run.Cut.Error == "" {
			if c.Cuts == 0 {
				c.LeftFiles = run.Cut.LeftFiles
			}
			c.Cuts++
			left = append(left, float64(run.Cut.LeftBytes))
		}
		if run.Capped && !c.Capped {
			c.PartialFiles, c.PartialBytes = run.PartialFiles, run.PartialBytes
		}
		c.Capped = c.Capped || run.Capped
		c.ClientRSS = max(c.ClientRSS, run.ClientMaxRSS)
		c.ServerRSS = max(c.ServerRSS, run.ServerRSS)
		if run.SeededBy != "" {
			c.SeededBy = run.SeededBy
		}
		if run.OK() {
			c.OK++
			c.Times = append(c.Times, run.Seconds)
			if b := run.WireBytes(); b > 0 {
				bytes = append(bytes, float64(b))
			}
			if run.DstAllocated > 0 {
				allocated = append(allocated, float64(run.DstAllocated))
			}
		}
	}
	if len(bytes) > 0 {
		c.Bytes = median(slices.Sorted(slices.Values(bytes)))
	}
	if len(left) > 0 {
		c.Left = median(slices.Sorted(slices.Values(left)))
	}
	if len(allocated) > 0 {
		c.Allocated = median(slices.Sorted(slices.Values(allocated)))
	}
	if c.Runs == 0 {
		return Cell{}, false
	}
	if len(c.Times) > 0 {
		s := slices.Sorted(slices.Values(c.Times))
		c.Min, c.Max = s[0], s[len(s)-1]
		c.Median = median(s)
	}
	return c, true
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// Ratio compares fcp's cell with a peer's: fcp's time divided by the
// peer's. bound is -1 when the true ratio is below value (the peer hit the
// cap), +1 when above (fcp hit it), 0 when exact; ok is false when there is
// nothing to compare.
func Ratio(fcp, peer Cell, cap float64) (value float64, bound int, ok bool) {
	switch {
	case fcp.valid() && peer.valid():
		return fcp.Median / peer.Median, 0, true
	case fcp.valid() && peer.Capped:
		return fcp.Median / cap, -1, true
	case fcp.Capped && peer.valid():
		return cap / peer.Median, +1, true
	}
	return math.NaN(), 0, false
}

// WriteJSON writes r to path, indented.
func (r *Results) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
