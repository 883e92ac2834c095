package tool

import "testing"

func TestCommands(t *testing.T) {
	target := Target{User: "u", Host: "10.0.0.2", SSHConfig: "/lab/ssh_config", RcloneConfig: "/lab/rclone.conf", RcloneRemote: "direct"}
	tree := Job{Src: "/src/tree", Dir: true, DstDir: "/dst"}
	file := Job{Src: "/src/big.bin", DstDir: "/dst"}
	opts := Options{FcpPath: "/bin/fcp", FcpArgs: []string{"-n", "4"}, RcloneArgs: []string{"--transfers", "16"}}
	tests := []struct {
		tool string
		job  Job
		want string
	}{
		{"scp", tree, "scp -q -r -F /lab/ssh_config /src/tree u@10.0.0.2:/dst/"},
		{"sftp", tree, `sftp -q -F /lab/ssh_config -b - u@10.0.0.2 <<< 'put -r "/src/tree" "/dst"'`},
		{"sftp", file, `sftp -q -F /lab/ssh_config -b - u@10.0.0.2 <<< 'put -r "/src/big.bin" "/dst"'`},
		{"rsync", tree, "rsync -a -e 'ssh -F /lab/ssh_config' /src/tree u@10.0.0.2:/dst/"},
		{"rsync", Job{Src: "/src/big.bin", DstDir: "/dst", KeepPartial: true}, "rsync -a --partial -e 'ssh -F /lab/ssh_config' /src/big.bin u@10.0.0.2:/dst/"},
		{"fcp", Job{Src: "/src/big.bin", DstDir: "/dst", KeepPartial: true}, "/bin/fcp -F /lab/ssh_config -n 4 /src/big.bin u@10.0.0.2:/dst/"},
		{"rclone", tree, "RCLONE_CONFIG=/lab/rclone.conf rclone copy --transfers 16 /src/tree direct:/dst/tree"},
		{"rclone", file, "RCLONE_CONFIG=/lab/rclone.conf rclone copy --transfers 16 /src/big.bin direct:/dst"},
		{"fcp", tree, "/bin/fcp -F /lab/ssh_config -n 4 /src/tree u@10.0.0.2:/dst/"},
		{"rsync", Job{Src: "/src/sparse.bin", DstDir: "/dst", Sparse: true}, "rsync -a -S -e 'ssh -F /lab/ssh_config' /src/sparse.bin u@10.0.0.2:/dst/"},
		{"fcp", Job{Src: "/src/sparse.bin", DstDir: "/dst", Sparse: true}, "/bin/fcp -F /lab/ssh_config -n 4 -S /src/sparse.bin u@10.0.0.2:/dst/"},
	}
	for _, tt := range tests {
		t.Run(tt.tool+" "+tt.job.Src, func(t *testing.T) {
			tl, err := New(tt.tool, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := tl.Copy(target, tt.job).String(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestUnknownTool(t *testing.T) {
	if _, err := New("cp", Options{}); err == nil {
		t.Error("New(cp) succeeded")
	}
}
