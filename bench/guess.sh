#!/usr/bin/env bash
# A guessing load against a real `cpauth serve`: 10 000 wrong passwords for
# root from 1 000 loopback addresses (bench/guess), with the brute-force
# regulator off, with per-address blocks only, and with its defaults; for
# each, the CPU time the daemon process spent (utime + stime from
# /proc/<pid>/stat) and how the attempts were answered. See bench/README.md.
#
#   bash bench/guess.sh
#   HASH_ROUNDS=50000 bash bench/guess.sh     # the default cost (slow without the regulator)
set -euo pipefail

export PATH="/usr/local/go/bin:$PATH"
cd "$(dirname "$0")/.."

HASH_ROUNDS=${HASH_ROUNDS:-5000}
ADDRS=${ADDRS:-1000}
PER=${PER:-10}
CONC=${CONC:-8}
PORT_OFFSET=${PORT_OFFSET:-21000}
whm_port=$((2086 + PORT_OFFSET))
url="http://127.0.0.1:$whm_port/json-api/version?api.version=1"
tick=$(getconf CLK_TCK)

work=$(mktemp -d "${TMPDIR:-/tmp}/cpauth-guess.XXXXXX")
. bench/lib.sh
cleanup() {
	stop_daemon
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building"
go build -o "$work/cpauth" ./cmd/cpauth
go build -o "$work/guess" ./bench/guess

cpu_ticks() { # utime + stime of a process, in clock ticks
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

results=()
run_case() { # run_case NAME KEY=VALUE... (cPHulk configuration for the case)
	local name=$1
	shift
	local data="$work/data-$name"
	"$work/cpauth" whmapi1 --data-dir "$data" --hash-rounds "$HASH_ROUNDS" save_cphulk_config "$@" >/dev/null
	"$work/cpauth" serve --data-dir "$data" --listen 127.0.0.1 --port-offset "$PORT_OFFSET" \
		--hash-rounds "$HASH_ROUNDS" --log-level warn >"$work/$name.out" 2>"$work/$name.log" &
	daemon_pid=$!
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$whm_port") 2>/dev/null && break
		sleep 0.1
	done
	local before after out
	before=$(cpu_ticks "$daemon_pid")
	out=$("$work/guess" -url "$url" -addrs "$ADDRS" -per "$PER" -c "$CONC")
	after=$(cpu_ticks "$daemon_pid")
	local checks
	checks=$("$work/cpauth" whmapi1 --data-dir "$data" --output=json get_cphulk_failed_logins | { grep -o '"logintime"' || true; } | wc -l)
	stop_daemon
	local cpu
	cpu=$(awk -v a="$before" -v b="$after" -v t="$tick" 'BEGIN { printf "%.2f", (b - a) / t }')
	echo "== $name: daemon CPU ${cpu} s; $out; failures counted $checks"
	results+=("$name $cpu $out counted=$checks")
}

# The guesses come from loopback addresses: per-address-only turns local-origin
# per-user protection off too.
run_case regulator-off is_enabled=0
run_case per-address-only username_based_protection=0 username_based_protection_local_origin=0
run_case regulator-on is_enabled=1

echo
echo "== summary: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $ADDRS addresses x $PER guesses, -c $CONC, hash rounds $HASH_ROUNDS"
for r in "${results[@]}"; do
	echo "$r"
done
echo "(with the regulator off it counts nothing: every attempt reached the password check)"
