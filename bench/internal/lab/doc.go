// Package lab builds the benchmark's network on one Linux machine: a client
// and a server network namespace joined by a veth pair (the direct link) and,
// optionally, by two TUN devices and a user-space relay that emulates a
// wide-area link (package netem); an OpenSSH sshd with throwaway keys in the
// server namespace; and a benchmark user whose shell is /bin/sh and whose
// home is empty, so that no start-up file slows or disturbs a login.
//
// Only addresses inside 10.199.0.0/16, on interfaces of the two namespaces,
// are used. Everything the lab starts runs in those namespaces or is a child
// of the caller, and Close removes it.
package lab
