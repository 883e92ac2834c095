package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/fcp-dev/fcp/internal/wire"
)

func TestCreateShared(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		abortMain bool
		wantData  string
	}{
		{name: "parts and main commit", wantData: "aaaabbbbcccc"},
		{name: "main aborts", abortMain: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ep, err := Open(dir, false)
			if err != nil {
				t.Fatal(err)
			}
			defer ep.Close()
			share := "0123abcd"
			main, err := ep.CreateShared(ctx, "f", 12, share, false)
			if err != nil {
				t.Fatal(err)
			}
			p1, _ := ep.CreateShared(ctx, "f", 12, share, true)
			p2, _ := ep.CreateShared(ctx, "f", 12, share, true)
			if err := p2.Write(ctx, 8, []byte("cccc"), blake3.Sum256([]byte("cccc"))); err != nil {
				t.Fatal(err)
			}
			if err := main.Write(ctx, 0, []byte("aaaa"), blake3.Sum256([]byte("aaaa"))); err != nil {
				t.Fatal(err)
			}
			if err := p1.Write(ctx, 4, []byte("bbbb"), blake3.Sum256([]byte("bbbb"))); err != nil {
				t.Fatal(err)
			}
			for _, p := range []interface {
				Commit(context.Context, int64, uint32, int64, wire.Attrs) error
			}{p1, p2} {
				if err := p.Commit(ctx, 0, 0, 0, wire.Attrs{}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.abortMain {
				main.Abort()
			} else if err := main.Commit(ctx, 12, 0o640, 1e18, wire.Attrs{}); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, "f"))
			if tc.abortMain {
				if !os.IsNotExist(err) {
					t.Errorf("aborted shared file appeared: %q, %v", got, err)
				}
			} else if string(got) != tc.wantData {
				t.Errorf("f = %q, %v; want %q", got, err, tc.wantData)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), tempPrefix) {
					t.Errorf("temporary file left: %s", e.Name())
				}
			}
		})
	}
}
