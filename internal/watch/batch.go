package watch

import (
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

// accumulator gathers the changes of the batch being built. It is owned by
// the event loop.
type accumulator struct {
	changes map[string]*Change
	rescan  map[string]struct{}
	// move is the first half of a rename, waiting for its second half.
	move *pendingMove

	// first and last are the times of the first and the latest event
	// recorded; dirty says something was recorded since the last stamp.
	first, last time.Time
	dirty       bool
}

// pendingMove is the old name of an entry reported renamed, kept until the
// next event tells whether that is the new name.
type pendingMove struct {
	rel string
	dir bool
	fi  os.FileInfo // identity of a watched directory; nil for others
	at  time.Time
}

func newAccumulator() *accumulator {
	return &accumulator{
		changes: make(map[string]*Change),
		rescan:  make(map[string]struct{}),
	}
}

func (a *accumulator) empty() bool {
	return len(a.changes) == 0 && len(a.rescan) == 0 && a.move == nil
}

// stamp records now as the time of what was recorded since the last stamp.
func (a *accumulator) stamp(now time.Time) {
	if !a.dirty {
		return
	}
	a.dirty = false
	if a.first.IsZero() {
		a.first = now
	}
	a.last = now
}

// due returns when the batch should be delivered: quiet after its latest
// event, or maxLatency after its first, whichever is earlier.
func (a *accumulator) due(quiet, maxLatency time.Duration) time.Time {
	q, m := a.last.Add(quiet), a.first.Add(maxLatency)
	if m.Before(q) {
		return m
	}
	return q
}

// record adds op to what happened to rel; dir is the entry's type as known
// at the event.
func (a *accumulator) record(rel string, op Op, dir bool) {
	c := a.changes[rel]
	if c == nil {
		c = &Change{Path: rel}
		a.changes[rel] = c
	}
	c.Op |= op
	c.Dir = dir
	if op&(Created|Removed|MovedFrom) != 0 {
		// Whatever was renamed onto rel is no longer there.
		c.From = ""
	}
	a.dirty = true
}

// moved records a paired rename of from to to.
func (a *accumulator) moved(from, to string, dir bool) {
	origin := from
	if src := a.changes[from]; src != nil && src.Op&MovedTo != 0 && src.From != "" {
		origin = src.From
	}
	a.record(from, MovedFrom, dir)
	a.record(to, MovedTo, dir)
	dst := a.changes[to]
	dst.From = origin
	if origin == to {
		dst.From = ""
	}
}

// addRescan asks for the subtree at rel to be walked again.
func (a *accumulator) addRescan(rel string) {
	a.rescan[rel] = struct{}{}
	a.dirty = true
}

// unpair settles a rename whose second half did not come: the old name
// was removed, which is always a correct description.
func (a *accumulator) unpair() {
	if m := a.move; m != nil {
		a.move = nil
		a.record(m.rel, Removed, m.dir)
	}
}

// take returns the batch built so far and starts a new one.
func (a *accumulator) take() Batch {
	a.unpair()
	var b Batch
	for r := range a.rescan {
		if r == "." || !a.covered(path.Dir(r)) {
			b.Rescan = append(b.Rescan, r)
		}
	}
	slices.Sort(b.Rescan)
	for p, c := range a.changes {
		if c.From == "" && a.covered(p) {
			continue
		}
		b.Changes = append(b.Changes, *c)
	}
	slices.SortFunc(b.Changes, func(x, y Change) int { return strings.Compare(x.Path, y.Path) })
	*a = *newAccumulator()
	return b
}

// covered reports whether p or one of its ancestors is to be rescanned.
func (a *accumulator) covered(p string) bool {
	if len(a.rescan) == 0 {
		return false
	}
	for {
		if _, ok := a.rescan[p]; ok {
			return true
		}
		if p == "." {
			return false
		}
		p = path.Dir(p)
	}
}
