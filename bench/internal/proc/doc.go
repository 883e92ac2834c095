// Package proc runs the benchmarked commands and measures them: wall time,
// exit status, and the peak memory and CPU time of the command's process
// tree as wait4(2) reports them; and it samples, from /proc, the memory of
// every process of one user (the server side of a copy).
package proc
