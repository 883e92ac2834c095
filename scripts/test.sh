#!/bin/sh
# The project's test command: installs what the tests need when missing
# (as root, from Debian's packages), then vets, tests with the race
# detector, and runs each fuzz target briefly.
set -eu
cd "$(dirname "$0")/.."

need=""
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need="$need openssh-server"
command -v ssh >/dev/null 2>&1 || need="$need openssh-client"
command -v rsync >/dev/null 2>&1 || need="$need rsync"
command -v git >/dev/null 2>&1 || need="$need git"
[ -x /bin/busybox ] || need="$need busybox-static"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
command -v setfacl >/dev/null 2>&1 || need="$need acl"
if [ -n "$need" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "test.sh: installing$need" >&2
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
	else
		echo "test.sh: missing$need; the tests that need them will be skipped" >&2
	fi
fi

go vet ./...
test -z "$(gofmt -l .)" || { gofmt -l . >&2; echo "test.sh: gofmt needed" >&2; exit 1; }
go test -race -timeout 20m ./...
fuzztime="${FUZZTIME:-10s}"
for pkg in ./internal/wire/ ./internal/delta/ ./internal/daemon/; do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz'); do
		go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg"
	done
done
