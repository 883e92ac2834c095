package netem

import (
	"encoding/binary"
	"errors"
)

// vnetHdrLen is the size of struct virtio_net_hdr, which precedes every
// packet on a TUN device opened with IFF_VNET_HDR (the kernel's default
// header size; fields in native byte order).
const vnetHdrLen = 10

// Offsets and values of struct virtio_net_hdr (include/uapi/linux/virtio_net.h).
const (
	vnetGSOType = 1 // u8
	vnetGSOSize = 4 // u16: payload bytes per segment

	gsoNone  = 0
	gsoTCPv4 = 1
	gsoUDP   = 3
	gsoTCPv6 = 4
	gsoUDPL4 = 5
	gsoECN   = 0x80
)

var errShortPacket = errors.New("netem: packet shorter than its headers")

// Segment describes what a frame read from a TUN device becomes on a wire:
// Segments packets of WireBytes in total.
type Segment struct {
	Segments  int
	WireBytes int
}

// wireSize returns what frame (a virtio_net_hdr and an IP packet, possibly a
// GSO super-packet) occupies on the wire once segmented: every segment
// repeats the IP and transport headers.
func wireSize(frame []byte) (Segment, error) {
	if len(frame) < vnetHdrLen {
		return Segment{}, errShortPacket
	}
	pkt := frame[vnetHdrLen:]
	gsoType := frame[vnetGSOType] &^ gsoECN
	gsoSize := int(binary.NativeEndian.Uint16(frame[vnetGSOSize:]))
	if gsoType == gsoNone || gsoSize == 0 {
		return Segment{Segments: 1, WireBytes: len(pkt)}, nil
	}
	hdr, err := headerLen(pkt, gsoType)
	if err != nil {
		return Segment{}, err
	}
	payload := len(pkt) - hdr
	segs := (payload + gsoSize - 1) / gsoSize
	if segs < 1 {
		segs = 1
	}
	return Segment{Segments: segs, WireBytes: payload + segs*hdr}, nil
}

// headerLen returns the length of the IP and transport headers of pkt, the
// part each segment of a GSO packet of gsoType repeats.
func headerLen(pkt []byte, gsoType byte) (int, error) {
	if len(pkt) < 1 {
		return 0, errShortPacket
	}
	var l3 int
	switch pkt[0] >> 4 {
	case 4:
		l3 = int(pkt[0]&0x0f) * 4
	case 6:
		l3 = 40 // extension headers are not expected on this link
	default:
		return 0, errors.New("netem: GSO packet is neither IPv4 nor IPv6")
	}
	switch gsoType {
	case gsoTCPv4, gsoTCPv6:
		if len(pkt) < l3+13 {
			return 0, errShortPacket
		}
		return l3 + int(pkt[l3+12]>>4)*4, nil
	case gsoUDP, gsoUDPL4:
		return l3 + 8, nil
	}
	return 0, errors.New("netem: unknown GSO type")
}
