// Package workload generates the benchmark's data from a seed, the same
// bytes on every machine, and checks that a copy of it is complete and
// intact by comparing digests of names, sizes and contents.
package workload
