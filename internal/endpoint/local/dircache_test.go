package local

import "testing"

func TestDirCache(t *testing.T) {
	type step struct {
		add    []string // added with the current generation
		forget string
		stale  string // added with the generation from before this step's forget
	}
	tests := []struct {
		name  string
		steps []step
		dir   string
		want  string // longest cached prefix of dir
	}{
		{name: "empty", dir: "a/b", want: ""},
		{name: "whole", steps: []step{{add: []string{"a/b"}}}, dir: "a/b", want: "a/b"},
		{name: "prefix", steps: []step{{add: []string{"a/b"}}}, dir: "a/b/c/d", want: "a/b"},
		{name: "ancestors added", steps: []step{{add: []string{"a/b/c"}}}, dir: "a/x", want: "a"},
		{name: "component boundary", steps: []step{{add: []string{"a/b"}}}, dir: "a/bc", want: "a"},
		{name: "no partial component", steps: []step{{add: []string{"ab"}}}, dir: "a/b", want: ""},
		{
			name:  "forget subtree",
			steps: []step{{add: []string{"a/b/c", "a/x"}}, {forget: "a/b"}},
			dir:   "a/b/c",
			want:  "a",
		},
		{
			name:  "forget keeps siblings",
			steps: []step{{add: []string{"a/b/c", "a/x"}}, {forget: "a/b"}},
			dir:   "a/x",
			want:  "a/x",
		},
		{
			name:  "forget missing",
			steps: []step{{add: []string{"a"}}, {forget: "b/c"}},
			dir:   "a",
			want:  "a",
		},
		{
			name:  "stale add ignored",
			steps: []step{{forget: "a", stale: "a/b"}},
			dir:   "a/b",
			want:  "",
		},
		{
			name:  "add after forget",
			steps: []step{{add: []string{"a/b"}}, {forget: "a"}, {add: []string{"a/c"}}},
			dir:   "a/c",
			want:  "a/c",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c dirCache
			for _, s := range tt.steps {
				_, gen := c.known("x")
				if s.forget != "" {
					c.forget(s.forget)
				}
				if s.stale != "" {
					c.add(s.stale, gen)
				}
				for _, d := range s.add {
					_, gen := c.known(d)
					c.add(d, gen)
				}
			}
			if n, _ := c.known(tt.dir); tt.dir[:n] != tt.want {
				t.Errorf("known(%q) = %q, want %q", tt.dir, tt.dir[:n], tt.want)
			}
		})
	}
}

func TestDirCacheBounded(t *testing.T) {
	var c dirCache
	for i := range maxCachedDirs + 10 {
		d := string(rune('a'+i%26)) + "/" + string(rune(0x100+i))
		_, gen := c.known(d)
		c.add(d, gen)
	}
	if c.size > maxCachedDirs {
		t.Errorf("cache holds %d nodes, limit %d", c.size, maxCachedDirs)
	}
}
