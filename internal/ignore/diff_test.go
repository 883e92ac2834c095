package ignore

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	flagSeed   = flag.Uint64("ignore.seed", 0, "seed of the tests against git (0: from the clock)")
	flagTrials = flag.Int("ignore.trials", 0, "number of trials of the tests against git (0: their default)")
	flagTrial  = flag.Int("ignore.trial", -1, "run only this trial of the tests against git")
)

// TestAgainstGit is the differential test: it builds random trees with
// random .gitignore files, info/exclude and excludes files, and checks that
// walking them with a Matcher lists exactly the files that git ls-files
// --others --exclude-standard lists, and that Matcher.Ignored agrees with
// git check-ignore on every path.
func TestAgainstGit(t *testing.T) {
	trials := 400
	if testing.Short() {
		trials = 40
	}
	runTrials(t, trials, func(rng *rand.Rand) *genTree { return genTreeRand(rng) })
}

// TestPatternsAgainstGit is TestAgainstGit for many small trees with a
// short .gitignore each, batched 150 to a repository so that one run of
// git judges a few hundred patterns.
func TestPatternsAgainstGit(t *testing.T) {
	trials := 8
	if testing.Short() {
		trials = 1
	}
	runTrials(t, trials, func(rng *rand.Rand) *genTree { return genBatch(rng, 150) })
}

// runTrials runs trials random trees made by gen in parallel, stopping
// after a few failures.
func runTrials(t *testing.T, trials int, gen func(*rand.Rand) *genTree) {
	requireGit(t)
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	if *flagTrials > 0 {
		trials = *flagTrials
	}
	first, last := 0, trials
	if *flagTrial >= 0 {
		first, last = *flagTrial, *flagTrial+1
	}
	t.Logf("seed %d, %d trials (reproduce one with -run '^%s$' -args -ignore.seed=%d -ignore.trial=N)",
		seed, last-first, t.Name(), seed)

	base := t.TempDir()
	template := filepath.Join(base, "template")
	if err := os.Mkdir(template, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := gitInit(template, gitEnv(base, "")); err != nil {
		t.Fatal(err)
	}
	template = filepath.Join(template, ".git")

	var (
		next, failures, paths, ignored atomic.Int64
		wg                             sync.WaitGroup
	)
	next.Store(int64(first))
	for range 2 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= last || failures.Load() >= 3 {
					return
				}
				dir := filepath.Join(base, fmt.Sprint(i))
				tr := gen(rand.New(rand.NewPCG(seed, uint64(i))))
				rng := rand.New(rand.NewPCG(seed, uint64(i)+1<<32))
				n, ign, report, err := trial(dir, template, tr, rng)
				paths.Add(int64(n))
				ignored.Add(int64(ign))
				switch {
				case err != nil:
					failures.Add(1)
					t.Errorf("trial %d (seed %d): %v", i, seed, err)
				case report != "":
					failures.Add(1)
					t.Errorf("trial %d (seed %d) disagrees with git:\n%s", i, seed, report)
				default:
					os.RemoveAll(dir)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d paths compared, %d of them ignored", paths.Load(), ignored.Load())
}

// trial checks the tree tr, written to dir with a repository copied from
// the .git directory template, against git; rng orders the queries. It
// returns the number of paths compared and how many git ignores, and a
// report of the disagreements with git if any.
func trial(dir, template string, tr *genTree, rng *rand.Rand) (n, nIgnored int, report string, err error) {
	if err := tr.write(dir); err != nil {
		return 0, 0, "", err
	}
	w := filepath.Join(dir, "w")
	home := filepath.Join(dir, "home")
	xdg := ""
	if tr.xdg {
		xdg = filepath.Join(dir, "xdg")
	}
	env := gitEnv(home, xdg)
	if err := copyDir(template, filepath.Join(w, ".git")); err != nil {
		return 0, 0, "", err
	}
	if err := tr.writeGit(dir); err != nil {
		return 0, 0, "", err
	}
	want, err := gitUntracked(w, env)
	if err != nil {
		return 0, 0, "", err
	}
	opts := Options{Home: home, XDGConfigHome: xdg}
	newMatcher := func(o Options) (*Matcher, error) {
		m, err := New(w, o)
		if err != nil {
			return nil, fmt.Errorf("New: %w\n%s", err, tr)
		}
		return m, nil
	}

	var rep strings.Builder
	var bad []string
	compare := func(how string, got []string) {
		onlyGit, onlyUs := diffSorted(want, got)
		for _, p := range onlyGit {
			fmt.Fprintf(&rep, "%s: %q is untracked for git, ignored for us; git check-ignore -v: %s\n", how, p, gitWhy(w, env, p))
		}
		for _, p := range onlyUs {
			fmt.Fprintf(&rep, "%s: %q is ignored for git (%s), not for us\n", how, p, gitWhy(w, env, p))
		}
		bad = append(append(bad, onlyGit...), onlyUs...)
	}

	// A walker feeding .gitignore contents to Dir.Enter.
	m, err := newMatcher(opts)
	if err != nil {
		return 0, 0, "", err
	}
	defer m.Close()
	got, err := walk(w, m.Dir(""))
	if err != nil {
		return 0, 0, "", err
	}
	compare("Dir.Enter walk", got)

	// A walker asking a Matcher that loads .gitignore files itself.
	m2, err := newMatcher(opts)
	if err != nil {
		return 0, 0, "", err
	}
	defer m2.Close()
	got, err = walkMatcher(w, m2)
	if err != nil {
		return 0, 0, "", err
	}
	compare("Matcher walk", got)

	// A Matcher that is given every .gitignore, in random order.
	o := opts
	o.NoLoad = true
	m3, err := newMatcher(o)
	if err != nil {
		return 0, 0, "", err
	}
	defer m3.Close()
	dirs := []string{""}
	for _, e := range tr.entries {
		if e.kind == 'd' {
			dirs = append(dirs, e.path)
		}
	}
	rng.Shuffle(len(dirs), func(a, b int) { dirs[a], dirs[b] = dirs[b], dirs[a] })
	for _, d := range dirs {
		if b := readIfRegular(filepath.Join(w, filepath.FromSlash(d), ".gitignore")); b != nil {
			m3.AddFile(d, b)
		}
	}
	got, err = walkMatcher(w, m3)
	if err != nil {
		return 0, 0, "", err
	}
	compare("AddFile walk", got)

	// Every path, in random order, against git check-ignore (which has
	// no notion of .git, so paths through one are left out).
	var paths []genEntry
	for _, e := range tr.entries {
		if !slices.Contains(strings.Split(e.path, "/"), ".git") {
			paths = append(paths, e)
		}
	}
	rng.Shuffle(len(paths), func(a, b int) { paths[a], paths[b] = paths[b], paths[a] })
	names := make([]string, len(paths))
	for i, e := range paths {
		names[i] = e.path
	}
	ignored, err := gitCheckIgnore(w, env, names)
	if err != nil {
		return 0, 0, "", err
	}
	m4, err := newMatcher(opts)
	if err != nil {
		return 0, 0, "", err
	}
	defer m4.Close()
	checkAll := func(how string) {
		for _, e := range paths {
			if g, us := ignored[e.path], m4.Ignored(e.path, e.kind == 'd'); g != us {
				fmt.Fprintf(&rep, "%s: %q (dir: %v): git check-ignore says ignored=%v (%s), we say %v\n",
					how, e.path, e.kind == 'd', g, gitWhy(w, env, e.path), us)
				bad = append(bad, e.path)
			}
		}
	}
	checkAll("Ignored")
	// Forgetting a directory must not change a verdict, since the files
	// are the same.
	m4.Forget(dirs[0])
	checkAll(fmt.Sprintf("Ignored after Forget(%q)", dirs[0]))

	if rep.Len() > 0 {
		return len(paths), len(ignored), rep.String() + tr.describe(bad), nil
	}
	return len(paths), len(ignored), "", nil
}
