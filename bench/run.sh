#!/bin/sh
# The benchmark's one command. As root: installs the peers and lab tools that
# are missing (from Debian's packages), builds the harness and runs it from
# the module root. Flags go to the harness (see bench/README.md):
#
#   bench/run.sh            the full benchmark, about half an hour; results in bench/
#   bench/run.sh -quick     a check of the harness in a few minutes
set -eu
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh: run as root, e.g. sudo env PATH=\"\$PATH\" bench/run.sh" >&2
	exit 1
fi
command -v go >/dev/null 2>&1 || { echo "bench/run.sh: go not found in PATH" >&2; exit 1; }

need=""
command -v ssh >/dev/null 2>&1 || need="$need openssh-client"
[ -x /usr/sbin/sshd ] || need="$need openssh-server"
command -v rsync >/dev/null 2>&1 || need="$need rsync"
command -v rclone >/dev/null 2>&1 || need="$need rclone"
command -v iperf3 >/dev/null 2>&1 || need="$need iperf3"
command -v ping >/dev/null 2>&1 || need="$need iputils-ping"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
command -v sysctl >/dev/null 2>&1 || need="$need procps"
command -v useradd >/dev/null 2>&1 || need="$need passwd"
[ -x /usr/bin/time ] || need="$need time"
command -v git >/dev/null 2>&1 || need="$need git"
if [ -n "$need" ]; then
	echo "bench/run.sh: installing$need" >&2
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
# Ctrl-C reaches the harness, which cleans up; the shell waits for it.
trap : INT TERM
go build -o "$bin/bench" ./bench
"$bin/bench" "$@"
