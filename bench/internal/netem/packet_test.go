package netem

import (
	"encoding/binary"
	"testing"
)

// testFrame returns a virtio_net_hdr of gsoType and gsoSize followed by an
// IP packet of version ipVersion with a TCP header of 32 bytes and payload
// bytes of data.
func testFrame(gsoType byte, gsoSize uint16, ipVersion byte, payload int) []byte {
	hdr := make([]byte, vnetHdrLen)
	hdr[vnetGSOType] = gsoType
	binary.NativeEndian.PutUint16(hdr[vnetGSOSize:], gsoSize)
	var ip []byte
	if ipVersion == 4 {
		ip = make([]byte, 20)
		ip[0] = 0x45
	} else {
		ip = make([]byte, 40)
		ip[0] = 0x60
	}
	tcp := make([]byte, 32)
	tcp[12] = 8 << 4
	frame := append(hdr, ip...)
	frame = append(frame, tcp...)
	return append(frame, make([]byte, payload)...)
}

func TestWireSize(t *testing.T) {
	tests := []struct {
		name    string
		frame   []byte
		want    Segment
		wantErr bool
	}{
		{name: "plain packet", frame: testFrame(gsoNone, 0, 4, 100), want: Segment{1, 20 + 32 + 100}},
		{name: "TCPv4 super-packet of three full segments", frame: testFrame(gsoTCPv4, 1448, 4, 3*1448), want: Segment{3, 3*1448 + 3*52}},
		{name: "TCPv4 with a short last segment", frame: testFrame(gsoTCPv4, 1448, 4, 1448+10), want: Segment{2, 1458 + 2*52}},
		{name: "TCPv4 with ECN bit", frame: testFrame(gsoTCPv4|gsoECN, 1448, 4, 2*1448), want: Segment{2, 2*1448 + 2*52}},
		{name: "TCPv6 super-packet", frame: testFrame(gsoTCPv6, 1428, 6, 2*1428), want: Segment{2, 2*1428 + 2*72}},
		{name: "shorter than the virtio header", frame: make([]byte, 4), wantErr: true},
		{name: "GSO packet cut inside its TCP header", frame: testFrame(gsoTCPv4, 1448, 4, 0)[:vnetHdrLen+24], wantErr: true},
		{name: "GSO packet that is not IP", frame: notIP(testFrame(gsoTCPv4, 1448, 4, 2*1448)), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wireSize(tt.frame)
			if (err != nil) != tt.wantErr {
				t.Fatalf("wireSize: err %v, want error %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("wireSize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func notIP(frame []byte) []byte {
	frame[vnetHdrLen] = 0x05
	return frame
}
