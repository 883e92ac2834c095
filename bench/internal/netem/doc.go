// Package netem emulates a wide-area link in user space, for kernels without
// sch_netem: two TUN devices, one in each network namespace, and a relay that
// moves packets between them through a Shaper per direction.
//
// A Shaper is a FIFO bottleneck of fixed rate with a tail-drop queue bounded
// in bytes, followed by a fixed propagation delay. The TUN devices carry
// virtio-net headers with checksum and TCP segmentation offload enabled, so
// the kernel hands the relay 64 KiB TCP super-packets (GSO) and takes them
// back unchanged; the shaper charges each super-packet the bytes its segments
// would occupy on the wire (IP and TCP headers included, no link framing).
package netem
