package lab

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/fcp-dev/fcp/bench/internal/proc"
)

// Counters are the byte counters of a link's device in the client
// namespace: Tx went from the client to the server, Rx came back. They
// count each packet as the kernel hands it to the device or takes it
// from it: IP and TCP headers included, once per packet; with
// segmentation offload (veth and the lab's TUN devices both carry TCP
// super-packets of up to 64 KiB) once per super-packet, not per segment.
// veth adds a 14-byte Ethernet header per packet; TUN none.
type Counters struct {
	Tx, Rx int64
}

// Counters reads link's counters.
func (l *Lab) Counters(ctx context.Context, link Link) (Counters, error) {
	out, err := proc.Output(ctx, "ip", "-n", ClientNS, "-s", "-j", "link", "show", "dev", link.ClientDev)
	if err != nil {
		return Counters{}, err
	}
	return parseCounters(out)
}

func parseCounters(out string) (Counters, error) {
	var devs []struct {
		Stats struct {
			Rx struct {
				Bytes int64 `json:"bytes"`
			} `json:"rx"`
			Tx struct {
				Bytes int64 `json:"bytes"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(out), &devs); err != nil {
		return Counters{}, fmt.Errorf("ip -s -j link show: %w", err)
	}
	if len(devs) != 1 {
		return Counters{}, fmt.Errorf("ip -s -j link show: %d devices, want 1", len(devs))
	}
	return Counters{Tx: devs[0].Stats.Tx.Bytes, Rx: devs[0].Stats.Rx.Bytes}, nil
}
