package cli

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/fcp-dev/fcp/internal/transfer"
)

func TestMetadataFlags(t *testing.T) {
	all := transfer.Metadata{Owner: true, Group: true, HardLinks: true, ACLs: true, Xattrs: true, Sparse: true, Specials: true, Devices: true}
	tests := []struct {
		name string
		args []string
		want transfer.Metadata
	}{
		{name: "default"},
		{name: "archive", args: []string{"-a"}, want: all},
		{name: "archive with numeric ids", args: []string{"--archive", "--numeric-ids"}, want: func() transfer.Metadata { m := all; m.NumericIDs = true; return m }()},
		{name: "rsync's -aHAXS", args: []string{"-aHAXS"}, want: all},
		{name: "each alone", args: []string{"-H", "-A", "-X", "-S"}, want: transfer.Metadata{HardLinks: true, ACLs: true, Xattrs: true, Sparse: true}},
		{name: "owner and group", args: []string{"--owner", "--group"}, want: transfer.Metadata{Owner: true, Group: true}},
		{name: "-D", args: []string{"-D"}, want: transfer.Metadata{Specials: true, Devices: true}},
		{name: "specials alone", args: []string{"--specials"}, want: transfer.Metadata{Specials: true}},
		{name: "devices alone", args: []string{"--devices"}, want: transfer.Metadata{Devices: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o copyOptions
			cmd := &cobra.Command{Use: "fcp"}
			o.addFlags(cmd)
			if err := cmd.Flags().Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if got := o.metadata(); got != tt.want {
				t.Errorf("metadata = %+v, want %+v", got, tt.want)
			}
		})
	}
}
