package cli

import (
	"os"
	"runtime/debug"
)

// gcPercent is the garbage collector's target (GOGC) of every fcp
// process, unless the environment sets GOGC. fcp's live heap is small and
// bounded (a few MiB whatever the size of the tree; see package transfer)
// while a scan allocates for every entry it reads: at Go's default of 100
// the collector runs every few MiB, and a no-change run over a million
// files spent about a fifth of its CPU collecting and handing memory back
// to the kernel. At 400 it runs a fifth as often, for some 15 MiB more
// resident memory at each end.
const gcPercent = 400

// tuneGC sets gcPercent unless GOGC is set.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}
