package cli

import (
	"os"
	"runtime/debug"
)

// The garbage collector's settings for a copy (the process the user runs,
// not the agents: a copy may start several on one host). fcp's live heap
// is small while it scans (a few MiB whatever the size of the tree; see
// package transfer) but a scan allocates for every entry it reads: at
// Go's default GOGC of 100 the collector runs every few MiB, and a
// no-change run over a million files spent about a fifth of the client's
// CPU collecting and handing memory back to the kernel. gcPercent makes
// it run a fifth as often, for some 15 MiB more resident memory; the
// limit keeps a copy with much file data in flight (Options.MemoryBudget,
// 64 MiB) near what the default would use.
const (
	gcPercent     = 400
	gcMemoryLimit = 256 << 20
)

// tuneGC applies the settings above, each unless the environment sets it
// (GOGC, GOMEMLIMIT).
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(gcMemoryLimit)
	}
}
