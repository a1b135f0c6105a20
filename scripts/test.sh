#!/usr/bin/env bash
# The whole test suite, as README.md gives it: installs the real third-party
# components the interop tests run against (opentracker, python3-libtorrent,
# the npm bittorrent-tracker), then runs gofmt, go vet and the race-enabled
# tests of every module in the repository. Safe to run again: installs are
# skipped when already present.
#
# It fails closed: every go test run goes through scripts/testsum, which
# prints package results and the output of failing tests, and at the end the
# counts of passed, failed and skipped tests. The suite fails when a test
# fails, when go test itself fails (build error, crash, timeout), and when a
# test skips that the allow-list below does not name.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v opentracker >/dev/null 2>&1 || need_apt+=(opentracker)
/usr/bin/python3 -c 'import libtorrent' >/dev/null 2>&1 || need_apt+=(python3-libtorrent)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
# The store tests start their own PostgreSQL server (internal/testutil).
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need_apt+=(postgresql)
command -v transmission-daemon >/dev/null 2>&1 || need_apt+=(transmission-daemon)
if [ ${#need_apt[@]} -gt 0 ]; then
	echo "== installing ${need_apt[*]} (apt)"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# opentracker's package registers a system service; the tests start their
# own process on loopback, so make sure no stray one holds the ports.
# The same for the cluster Debian's postgresql package starts.
if command -v systemctl >/dev/null 2>&1; then systemctl stop opentracker postgresql >/dev/null 2>&1 || true; fi
# transmission-daemon's package does the same; the tests run their own
# daemon with its own config directory on loopback.
if command -v systemctl >/dev/null 2>&1; then systemctl stop transmission-daemon >/dev/null 2>&1 || true; fi

if [ -f interop/node/package.json ] && [ ! -d interop/node/node_modules/bittorrent-tracker ]; then
	echo "== installing bittorrent-tracker (npm)"
	(cd interop/node && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi

# The skips that are legitimate, one per line, fields separated by " | " (a
# bar between spaces; a bare "|" is regexp alternation): test name (a regexp
# matching the whole name, subtests included) | what its skip message says (a
# regexp) | why. Anything else that skips fails the suite: tools are installed above
# and data lives in testdata/.
allow='
# Allocation counts mean nothing under -race (its sync.Pool drops items on
# purpose); the allocation step below runs this test without -race.
TestDictValueAllocs | allocation counts are not meaningful under -race | asserts allocation counts, which the non-race step measures
'

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%s' "$allow" >"$tmp/allow"
go build -o "$tmp/testsum" ./scripts/testsum

# gotest NAME DIR ARGS...: go test -json ARGS in DIR, shown readably as it
# runs and saved for the summary; a failing go test is recorded, not fatal,
# so every step runs and the summary lists everything.
failed_steps=()
gotest() {
	local name=$1 dir=$2
	shift 2
	local rc=0
	(cd "$dir" && go test -json "$@" 2>&1) | tee "$tmp/$name.json" | "$tmp/testsum" || rc=$?
	if [ "$rc" -ne 0 ]; then failed_steps+=("$name (exit $rc)"); fi
}

# Allocation counts mean nothing under -race (its sync.Pool drops items on
# purpose), so the tests that assert them skip there and run here.
echo "== go test (allocation counts, without -race)"
gotest allocs . -count=1 -run 'Allocs$' ./bencode/

for mod in . interop; do
	[ -f "$mod/go.mod" ] || continue
	echo "== go vet ($mod)"
	(cd "$mod" && go vet ./...)
	echo "== go test -race ($mod)"
	gotest "race-${mod//[.\/]/_}" "$mod" -race -timeout 20m ./...
done

echo "== summary"
sum_rc=0
"$tmp/testsum" -summary -allow "$tmp/allow" "$tmp"/*.json || sum_rc=$?
if [ ${#failed_steps[@]} -gt 0 ]; then
	echo "go test failed in: ${failed_steps[*]}"
	exit 1
fi
exit "$sum_rc"
