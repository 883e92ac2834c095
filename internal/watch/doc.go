// Package watch reports which paths under a directory tree may have
// changed, in batches, so that a replicator can look at exactly those paths
// and send what changed.
//
// A Watcher sits on top of fsnotify (inotify on Linux, kqueue on macOS and
// the BSDs) and makes it recursive: it keeps one watch per directory of the
// tree that is not ignored, adds watches for directories as they appear,
// and drops them when directories are removed or renamed away.
//
// # Consuming batches
//
// A Batch names paths, slash-separated and relative to the root ("." is the
// root). A consumer keeps its own view of the tree and, for every batch, in
// this order:
//
//  1. for each Change: if Op has Removed or MovedFrom, forgets what it knew
//     at Path and below; then lstats Path and records what is there now (or
//     forgets Path and below if nothing is); an entry that changed type
//     (file to directory, or back) also replaces what was below it;
//  2. for each Rescan path: forgets what it knew at that path and below and
//     walks the subtree there again.
//
// Op, Dir and From are hints for doing this cheaply; they are never needed
// for correctness. From in particular lets a consumer move its copy of a
// renamed entry instead of sending it again, but the moved copy must still
// be checked against what is at Path now.
//
// # Guarantees
//
// What a consumer can rely on:
//
//   - Nothing is lost. Every change made after New returns to an entry that
//     is not ignored (creation, write, removal, rename, attribute change) is
//     covered in a batch delivered after the change happened: by a Change
//     whose Path is the entry's path (for a rename, the source and the
//     destination path each), or by a Rescan of that path or one of its
//     ancestors. So once the tree stops changing and the consumer has
//     applied every batch delivered, its view equals the tree. This holds
//     across the races inherent in recursive watching: a new directory is
//     watched first and listed second, and everything found in it,
//     recursively, is reported as Created, so "mkdir -p a/b/c && touch
//     a/b/c/f" reports a, a/b, a/b/c and a/b/c/f.
//   - Loss in the kernel is never silent. When the kernel's event queue
//     overflows (fs.inotify.max_queued_events) or reading events fails,
//     the next batch has a Rescan of "." and the watcher relists the tree
//     to repair its own watches; when a directory cannot be watched (the inotify watch
//     limit fs.inotify.max_user_watches is reached, or another error), it
//     is reported in Rescan and, until a watch can be added, polled: every
//     Options.RetryInterval the watch is tried again and, while the failure
//     is a resource limit, the directory is reported in Rescan again. The
//     first occurrence of each kind is logged at level Warn.
//   - Ignored trees cost nothing. Options.Ignore is asked about every entry
//     the watcher meets; an entry it ignores is not reported (not in
//     Changes, not in Rescan) and no watch is ever added inside an ignored
//     directory, so nothing inside one is ever reported either.
//   - Batches are small and regular. A Batch names each path at most once,
//     its Changes and Rescan are sorted, no Rescan path is inside another,
//     and a Change inside a Rescan path is left out unless it carries From.
//     A batch is delivered once the tree has been quiet for
//     Options.Quiet or Options.MaxLatency after the first event in it,
//     whichever comes first, and only when the consumer receives it: while
//     the consumer is busy, events keep being read and merge into the next
//     batch, so a slow consumer gets fewer, larger batches (held in memory,
//     one entry per path) and does not cause an overflow.
//   - Renamed directories stay watched: their watches are re-added under
//     the new name (and the old ones removed), and the new path is reported
//     in Rescan as well as in Changes, because changes made inside the
//     directory while it moved may have been reported under its old name.
//   - Symbolic links are entries like any other; they are never followed,
//     and no watch is added through one.
//
// What a consumer cannot rely on:
//
//   - The exact Op. Op is the union of what the watcher saw happen to the
//     path during the batch, not a history: under churn, an entry reported
//     Created may already be gone, one reported Removed may be back, and a
//     path may show Created for an entry that replaced an existing one (for
//     example a file renamed onto it from outside the tree). The entry at
//     Path is whatever lstat says when the consumer looks.
//   - Rename pairing. fsnotify reports the two halves of a rename as a
//     Rename of the old name followed by a Create of the new name, without
//     the kernel's cookie; the watcher pairs them when the Create comes next,
//     within Options.Quiet, and agrees in type (and, for a directory, in
//     identity). Otherwise, or when a batch boundary falls between the
//     halves, the rename is reported as Removed at the old path and Created
//     at the new one, which is always correct. From names where the entry
//     was at the start of the batch when it can tell (a chain a→b→c in one
//     batch gives c From a); it is empty when that was Path itself.
//   - Dir is true only when the watcher knows the entry is a directory.
//   - Changes made before New returns. A consumer makes its first full scan
//     after New has returned; from then on, batches cover everything.
//   - Editor saves show up as one Change for the saved file per batch, but
//     the temporary, backup and probe files an editor creates (".f.swp",
//     "f~", "4913") are reported too unless Options.Ignore ignores them.
//   - What inotify cannot see: writes through a memory mapping, writes
//     through a hard link that lives outside the tree, changes on network
//     and pseudo file systems, and changes behind a mount point below the
//     root.
//
// If the root itself is removed or renamed, a Rescan of "." is emitted, and
// the watcher tries every Options.RetryInterval to watch the root path
// again; once it can, it emits another Rescan of ".".
//
// # Goroutines
//
// A Watcher owns three goroutines: fsnotify's reader; an event loop, which
// owns all of the watcher's state, adds and removes watches and delivers
// batches; and a drain for fsnotify's errors, which fsnotify may send
// while holding the lock that adding and removing watches needs. Close
// stops all three and waits for them. Only Linux is tested; the code has
// no Linux-specific parts besides using inode numbers where the platform
// has them, but kqueue reports renames and directory writes differently,
// so rename pairing will work less often there.
package watch
