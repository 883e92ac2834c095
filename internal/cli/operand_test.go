package cli

import "testing"

func TestParseOperand(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want operand
	}{
		{name: "local relative", in: "dir/file", want: operand{Path: "dir/file"}},
		{name: "local absolute", in: "/tmp/x", want: operand{Path: "/tmp/x"}},
		{name: "colon after slash is local", in: "./a:b", want: operand{Path: "./a:b"}},
		{name: "dir with colon after slash", in: "dir/a:b", want: operand{Path: "dir/a:b"}},
		{name: "host and path", in: "box:/srv/data", want: operand{Host: "box", Path: "/srv/data"}},
		{name: "user host path", in: "me@box:src", want: operand{User: "me", Host: "box", Path: "src"}},
		{name: "host home", in: "box:", want: operand{Host: "box", Path: ""}},
		{name: "ipv6", in: "[::1]:/x", want: operand{Host: "::1", Path: "/x"}},
		{name: "user ipv6", in: "me@[fe80::1%eth0]:x y", want: operand{User: "me", Host: "fe80::1%eth0", Path: "x y"}},
		{name: "unclosed bracket is local", in: "[abc", want: operand{Path: "[abc"}},
		{name: "at in local path", in: "./me@box:x", want: operand{Path: "./me@box:x"}},
		{name: "leading colon is local", in: ":x", want: operand{Path: ":x"}},
		{name: "url", in: "fcp://box/data/x", want: operand{Host: "box", Path: "/data/x", Daemon: true}},
		{name: "url user port", in: "fcp://me@box:9000/data", want: operand{User: "me", Host: "box", Port: 9000, Path: "/data", Daemon: true}},
		{name: "url ipv6", in: "fcp://[::1]:7524/r/", want: operand{Host: "::1", Port: 7524, Path: "/r/", Daemon: true}},
		{name: "url ipv6 no port", in: "fcp://[::1]/r", want: operand{Host: "::1", Path: "/r", Daemon: true}},
		{name: "url no path", in: "fcp://box", want: operand{Host: "box", Path: "", Daemon: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOperand(tc.in)
			if err != nil {
				t.Fatalf("parseOperand(%q): %v", tc.in, err)
			}
			tc.want.Raw = tc.in
			if got != tc.want {
				t.Errorf("parseOperand(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseOperandBadURL(t *testing.T) {
	for _, in := range []string{"fcp://", "fcp:///root", "fcp://@box/r", "fcp://box:0/r", "fcp://box:x/r", "fcp://box:70000/r", "fcp://[::1/r"} {
		t.Run(in, func(t *testing.T) {
			if got, err := parseOperand(in); err == nil {
				t.Errorf("parseOperand(%q) = %+v, want an error", in, got)
			}
		})
	}
}
