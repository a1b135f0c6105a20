#!/usr/bin/env bash
# The whole test suite, as README.md gives it: installs the real third-party
# components the interop tests run against (opentracker, python3-libtorrent,
# the npm bittorrent-tracker), then runs gofmt, go vet and the race-enabled
# tests of every module in the repository. Safe to run again: installs are
# skipped when already present.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v opentracker >/dev/null 2>&1 || need_apt+=(opentracker)
/usr/bin/python3 -c 'import libtorrent' >/dev/null 2>&1 || need_apt+=(python3-libtorrent)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
	echo "== installing ${need_apt[*]} (apt)"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# opentracker's package registers a system service; the tests start their
# own process on loopback, so make sure no stray one holds the ports.
if command -v systemctl >/dev/null 2>&1; then systemctl stop opentracker >/dev/null 2>&1 || true; fi

if [ -f interop/node/package.json ] && [ ! -d interop/node/node_modules/bittorrent-tracker ]; then
	echo "== installing bittorrent-tracker (npm)"
	(cd interop/node && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi

# Allocation counts mean nothing under -race (its sync.Pool drops items on
# purpose), so the tests that assert them skip there and run here.
echo "== go test (allocation counts, without -race)"
go test -count=1 -run 'Allocs$' ./bencode/

for mod in . interop; do
	[ -f "$mod/go.mod" ] || continue
	echo "== go vet ($mod)"
	(cd "$mod" && go vet ./...)
	echo "== go test -race ($mod)"
	(cd "$mod" && go test -race -timeout 20m ./...)
done
