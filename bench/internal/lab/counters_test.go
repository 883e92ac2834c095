//go:build linux

package lab

import "testing"

func TestParseCounters(t *testing.T) {
	out := `[{"ifindex":2,"ifname":"fcpb-c","stats64":{"rx":{"bytes":1234,"packets":5},"tx":{"bytes":567890,"packets":9}}}]`
	c, err := parseCounters(out)
	if err != nil || c != (Counters{Tx: 567890, Rx: 1234}) {
		t.Errorf("parseCounters = %+v, %v", c, err)
	}
	if _, err := parseCounters(`[]`); err == nil {
		t.Error("no device: no error")
	}
}
