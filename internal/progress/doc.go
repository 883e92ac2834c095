// Package progress reports how far a transfer has come.
//
// Transfer code only bumps the atomic counters of a Counters; it never
// formats, writes or waits. Renderers read the counters on a ticker of
// their own (the model of tailscale's util/progresstracking), so a slow
// terminal never slows a transfer:
//
//   - Renderer redraws one line on a terminal (bytes done and total, rate,
//     files done and total, errors, elapsed time and ETA), using
//     github.com/schollz/progressbar/v3.
//   - JSONWriter is not a renderer but an event log: the transfer calls it
//     once per finished entry and error, and once at the end, and it
//     writes one JSON object per line (see JSONWriter for the schema).
//
// Every writer is injected; nothing in this package writes to os.Stdout or
// os.Stderr on its own.
package progress
