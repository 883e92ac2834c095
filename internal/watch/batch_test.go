package watch

import (
	"reflect"
	"testing"
)

// TestAccumulator checks how events fold into a batch.
func TestAccumulator(t *testing.T) {
	tests := []struct {
		name string
		do   func(a *accumulator)
		want Batch
	}{
		{
			name: "one entry per path",
			do: func(a *accumulator) {
				a.record("f", Created, false)
				a.record("f", Modified, false)
				a.record("f", Modified, false)
				a.record("f", Attrib, false)
			},
			want: Batch{Changes: []Change{{Path: "f", Op: Created | Modified | Attrib}}},
		},
		{
			name: "sorted",
			do: func(a *accumulator) {
				a.record("b", Created, false)
				a.record("a/b", Created, false)
				a.record("a", Created, true)
				a.record("a-b", Created, false)
			},
			want: Batch{Changes: []Change{
				{Path: "a", Op: Created, Dir: true},
				{Path: "a-b", Op: Created},
				{Path: "a/b", Op: Created},
				{Path: "b", Op: Created},
			}},
		},
		{
			name: "paired rename",
			do:   func(a *accumulator) { a.moved("a", "b", false) },
			want: Batch{Changes: []Change{{Path: "a", Op: MovedFrom}, {Path: "b", Op: MovedTo, From: "a"}}},
		},
		{
			name: "rename chain keeps the origin",
			do: func(a *accumulator) {
				a.moved("a", "b", false)
				a.moved("b", "c", false)
			},
			want: Batch{Changes: []Change{
				{Path: "a", Op: MovedFrom},
				{Path: "b", Op: MovedTo | MovedFrom},
				{Path: "c", Op: MovedTo, From: "a"},
			}},
		},
		{
			name: "rename back has no From",
			do: func(a *accumulator) {
				a.moved("a", "b", false)
				a.moved("b", "a", false)
			},
			want: Batch{Changes: []Change{
				{Path: "a", Op: MovedFrom | MovedTo},
				{Path: "b", Op: MovedTo | MovedFrom},
			}},
		},
		{
			name: "editor save through a temporary file",
			do: func(a *accumulator) {
				a.record(".f.swp", Created, false)
				a.record(".f.swp", Modified, false)
				a.moved(".f.swp", "f", false)
			},
			want: Batch{Changes: []Change{
				{Path: ".f.swp", Op: Created | Modified | MovedFrom},
				{Path: "f", Op: MovedTo, From: ".f.swp"},
			}},
		},
		{
			name: "removal after a rename clears From",
			do: func(a *accumulator) {
				a.moved("a", "b", false)
				a.record("b", Removed, false)
			},
			want: Batch{Changes: []Change{{Path: "a", Op: MovedFrom}, {Path: "b", Op: MovedTo | Removed}}},
		},
		{
			name: "unpaired rename is a removal",
			do: func(a *accumulator) {
				a.move = &pendingMove{rel: "d", dir: true}
			},
			want: Batch{Changes: []Change{{Path: "d", Op: Removed, Dir: true}}},
		},
		{
			name: "rescans prune nested rescans and covered changes",
			do: func(a *accumulator) {
				a.addRescan("a/b")
				a.addRescan("a")
				a.addRescan("ab")
				a.record("a/b/c", Created, false)
				a.record("a", Attrib, true)
				a.record("abc", Created, false)
				a.moved("x", "a/y", false)
			},
			want: Batch{
				Changes: []Change{
					{Path: "a/y", Op: MovedTo, From: "x"},
					{Path: "abc", Op: Created},
					{Path: "x", Op: MovedFrom},
				},
				Rescan: []string{"a", "ab"},
			},
		},
		{
			name: "root rescan covers all",
			do: func(a *accumulator) {
				a.addRescan("a")
				a.addRescan(".")
				a.record("f", Created, false)
			},
			want: Batch{Rescan: []string{"."}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAccumulator()
			tt.do(a)
			if got := a.take(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if !a.empty() {
				t.Errorf("accumulator not empty after take")
			}
		})
	}
}

func TestOpString(t *testing.T) {
	tests := []struct {
		op   Op
		want string
	}{
		{0, "none"},
		{Created, "created"},
		{Created | Modified | MovedTo, "created|modified|moved-to"},
	}
	for _, tt := range tests {
		if got := tt.op.String(); got != tt.want {
			t.Errorf("%d.String() = %q, want %q", tt.op, got, tt.want)
		}
	}
}
