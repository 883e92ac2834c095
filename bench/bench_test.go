//go:build linux

package main

import (
	"slices"
	"testing"
)

func TestPick(t *testing.T) {
	known := []string{"file", "tree", "nochange"}
	tests := []struct {
		name    string
		list    string
		want    []string
		wantErr bool
	}{
		{name: "keeps the known order", list: "nochange,file", want: []string{"file", "nochange"}},
		{name: "spaces and repeats", list: " tree, tree ,", want: []string{"tree"}},
		{name: "unknown", list: "file,disk", wantErr: true},
		{name: "empty", list: ",", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pick(tt.list, known)
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Errorf("pick(%q) = %q, %v; want %q, error %v", tt.list, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestSize(t *testing.T) {
	for in, want := range map[int64]string{1 << 30: "1 GiB", 64 << 20: "64 MiB", 16 << 10: "16 KiB", 1000: "1000 bytes"} {
		if got := size(in); got != want {
			t.Errorf("size(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestPickScale(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{name: "million brings its no-change re-run", in: []string{wlTree, wlMillion}, want: []string{wlTree, wlMillion, wlMillionNoChange}},
		{name: "the re-run brings the copy", in: []string{wlMillionNoChange, wlSparse}, want: []string{wlMillion, wlMillionNoChange, wlSparse}},
		{name: "nothing to add", in: []string{wlFile, wlSparse}, want: []string{wlFile, wlSparse}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pickScale(tt.in, allWorkloads); !slices.Equal(got, tt.want) {
				t.Errorf("pickScale(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if copyOf(wlMillionNoChange) != wlMillion || copyOf(wlNoChange) != wlTree || copyOf(wlMillion) != "" {
		t.Error("copyOf does not invert noChangeOf")
	}
}
