package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestStatAhead checks that the Lstats done ahead, by helpers or by the
// walk itself, are those of the names asked for, whatever is skipped and
// wherever the walk stops.
func TestStatAhead(t *testing.T) {
	root := t.TempDir()
	const n = 1000
	var names []string
	for i := range n {
		name := fmt.Sprintf("f%04d", i)
		names = append(names, name)
		if i%7 == 3 {
			continue // listed, but missing
		}
		if err := os.WriteFile(filepath.Join(root, name), make([]byte, i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := openRootDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()

	tests := []struct {
		name    string
		helpers int
		skip    func(i int) bool // names not asked for
		stopAt  int              // the walk leaves the directory here
	}{
		{name: "without helpers", helpers: 0, skip: func(int) bool { return false }, stopAt: n},
		{name: "one helper", helpers: 1, skip: func(int) bool { return false }, stopAt: n},
		{name: "three helpers, names skipped", helpers: 3, skip: func(i int) bool { return i%3 == 0 || i >= 300 && i < 700 }, stopAt: n},
		{name: "two helpers, the walk stops early", helpers: 2, skip: func(int) bool { return false }, stopAt: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newStatHelpers(tt.helpers)
			defer h.stop()
			for range 20 { // races show up over several rounds
				a := newStatAhead(h, d, slices.Clone(names))
				for i := range tt.stopAt {
					if tt.skip(i) {
						continue
					}
					fi, err := a.stat(i)
					switch {
					case i%7 == 3:
						if !errors.Is(err, fs.ErrNotExist) {
							t.Fatalf("%s: got %v, %v; want it missing", names[i], fi, err)
						}
					case err != nil:
						t.Fatalf("%s: %v", names[i], err)
					case fi.Name() != names[i] || fi.Size() != int64(i):
						t.Fatalf("%s: got the Lstat of %s, %d bytes", names[i], fi.Name(), fi.Size())
					}
				}
				a.stop()
			}
		})
	}
}
