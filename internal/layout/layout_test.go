package layout

import (
	"errors"
	"reflect"
	"testing"

	"github.com/fcp-dev/fcp/internal/wire"
)

func TestMake(t *testing.T) {
	file := func(p string) Source { return Source{Arg: p, Path: p, Type: wire.TypeFile} }
	dir := func(p string) Source { return Source{Arg: p, Path: p, Type: wire.TypeDir} }
	contents := func(p string) Source { return Source{Arg: p + "/", Path: p, Type: wire.TypeDir, Contents: true} }
	existingDir := Dest{Arg: "/d", Path: "/d", Exists: true, Type: wire.TypeDir}
	missing := Dest{Arg: "/d", Path: "/d"}
	existingFile := Dest{Arg: "/d", Path: "/d", Exists: true, Type: wire.TypeFile}
	tests := []struct {
		name    string
		srcs    []Source
		dst     Dest
		want    Plan
		wantErr bool
	}{
		{
			name: "file into existing dir",
			srcs: []Source{file("/s/f")},
			dst:  existingDir,
			want: Plan{Root: "/d", Jobs: []Job{{SrcDir: "/s", SrcRel: "f", DestRel: "f"}}},
		},
		{
			name: "file to new name",
			srcs: []Source{file("/s/f")},
			dst:  missing,
			want: Plan{Root: "/", Jobs: []Job{{SrcDir: "/s", SrcRel: "f", DestRel: "d"}}},
		},
		{
			name: "file over existing file",
			srcs: []Source{file("/s/f")},
			dst:  existingFile,
			want: Plan{Root: "/", Jobs: []Job{{SrcDir: "/s", SrcRel: "f", DestRel: "d"}}},
		},
		{
			name: "file into missing dir with slash",
			srcs: []Source{file("/s/f")},
			dst:  Dest{Arg: "/d/", Path: "/d", Slash: true},
			want: Plan{Root: "/d", Create: true, Jobs: []Job{{SrcDir: "/s", SrcRel: "f", DestRel: "f"}}},
		},
		{
			name: "dir into existing dir",
			srcs: []Source{dir("/s/a")},
			dst:  existingDir,
			want: Plan{Root: "/d", Jobs: []Job{{SrcDir: "/s", SrcRel: "a", DestRel: "a"}}},
		},
		{
			name: "dir into missing dir is created then nested",
			srcs: []Source{dir("/s/a")},
			dst:  missing,
			want: Plan{Root: "/d", Create: true, Jobs: []Job{{SrcDir: "/s", SrcRel: "a", DestRel: "a"}}},
		},
		{
			name: "dir contents",
			srcs: []Source{contents("/s/a")},
			dst:  missing,
			want: Plan{Root: "/d", Create: true, Jobs: []Job{{SrcDir: "/s/a", SrcRel: ".", DestRel: "."}}},
		},
		{
			name: "root contents",
			srcs: []Source{dir("/")},
			dst:  existingDir,
			want: Plan{Root: "/d", Jobs: []Job{{SrcDir: "/", SrcRel: ".", DestRel: "."}}},
		},
		{
			name: "several sources merge",
			srcs: []Source{file("/s/f"), dir("/s/a"), contents("/t/b")},
			dst:  missing,
			want: Plan{Root: "/d", Create: true, Jobs: []Job{
				{Source: 0, SrcDir: "/s", SrcRel: "f", DestRel: "f"},
				{Source: 1, SrcDir: "/s", SrcRel: "a", DestRel: "a"},
				{Source: 2, SrcDir: "/t/b", SrcRel: ".", DestRel: "."},
			}},
		},
		{name: "several sources onto a file", srcs: []Source{file("/s/f"), file("/s/g")}, dst: existingFile, wantErr: true},
		{name: "dir onto a file", srcs: []Source{dir("/s/a")}, dst: existingFile, wantErr: true},
		{name: "file with trailing slash", srcs: []Source{{Arg: "/s/f/", Path: "/s/f", Type: wire.TypeFile, Contents: true}}, dst: existingDir, wantErr: true},
		{name: "no sources", dst: existingDir, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Make(tc.srcs, tc.dst)
			if tc.wantErr {
				if !errors.Is(err, ErrLayout) {
					t.Fatalf("Make = %+v, %v; want an ErrLayout error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Make =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestHasSlash(t *testing.T) {
	for arg, want := range map[string]bool{
		"a": false, "a/": true, ".": true, "..": true, "a/.": true, "a/..": true, "/": true, "a.": false, "host:": false,
	} {
		if got := HasSlash(arg); got != want {
			t.Errorf("HasSlash(%q) = %v, want %v", arg, got, want)
		}
	}
}
