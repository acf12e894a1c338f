#!/usr/bin/env bash
# Load-tests a real `cpauth serve` on the loopback interface and prints a
# table of requests/s and latency against a baseline that serves the same
# bytes without cpauth. See bench/README.md.
#
#   bash bench/run.sh                      # defaults below
#   DURATION=20s CONC=8 bash bench/run.sh
#   HASH_ROUNDS=5000 bash bench/run.sh     # cheaper password hashes
set -euo pipefail

export PATH="/usr/local/go/bin:$PATH"
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}      # per case
CONC=${CONC:-4}                # concurrent keep-alive connections
HASH_ROUNDS=${HASH_ROUNDS:-50000}
PORT_OFFSET=${PORT_OFFSET:-20000}
LOG_LEVEL=${LOG_LEVEL:-info}   # the daemon's access log is part of its cost

whm_port=$((2086 + PORT_OFFSET))
url="http://127.0.0.1:$whm_port/json-api/version?api.version=1"

work=$(mktemp -d "${TMPDIR:-/tmp}/cpauth-bench.XXXXXX")
. bench/lib.sh
cleanup() {
	stop_daemon
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building"
go build -o "$work/cpauth" ./cmd/cpauth
go build -o "$work/load" ./bench/load

if (exec 3<>"/dev/tcp/127.0.0.1/$whm_port") 2>/dev/null; then
	echo "bench: port $whm_port is already in use; set PORT_OFFSET" >&2
	exit 1
fi

echo "== starting cpauth serve (data dir $work/data, hash rounds $HASH_ROUNDS, log $work/cpauth.log)"
"$work/cpauth" serve --data-dir "$work/data" --listen 127.0.0.1 --port-offset "$PORT_OFFSET" \
	--hash-rounds "$HASH_ROUNDS" --log-level "$LOG_LEVEL" >"$work/cpauth.out" 2>"$work/cpauth.log" &
daemon_pid=$!
for _ in $(seq 1 100); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$whm_port") 2>/dev/null; then
		break
	fi
	if ! kill -0 "$daemon_pid" 2>/dev/null; then
		echo "bench: cpauth serve exited:" >&2
		cat "$work/cpauth.log" >&2
		exit 1
	fi
	sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$whm_port") 2>/dev/null || {
	echo "bench: cpauth did not listen on $whm_port within 10 s" >&2
	exit 1
}

"$work/cpauth" accesshash --generate --user root --data-dir "$work/data" \
	--hash-rounds "$HASH_ROUNDS" >"$work/accesshash" 2>/dev/null
pass_file="$work/data/initial-root-password"
# The cases measure the cost of each credential, wrong ones included: the
# brute-force regulator would block the loopback client after five wrong
# passwords (bench/guess.sh measures it), so loopback is on its allow-list.
"$work/cpauth" whmapi1 --data-dir "$work/data" --hash-rounds "$HASH_ROUNDS" create_cphulk_record \
	list_name=white ip=127.0.0.1 comment=bench >/dev/null

# run_case NAME LOAD-FLAGS... runs the load generator and keeps its RESULT line.
results=()
run_case() {
	local name=$1
	shift
	echo
	echo "== $name"
	local out
	out=$("$work/load" -url "$url" -c "$CONC" -d "$DURATION" -label "$name" "$@") || true
	echo "$out" | grep -v '^RESULT '
	results+=("$(echo "$out" | grep '^RESULT ')")
}

run_case baseline -baseline -user root -pass-file "$pass_file"
run_case "password/rounds=$HASH_ROUNDS" -user root -pass-file "$pass_file"
run_case accesshash -user root -accesshash-file "$work/accesshash"
# The wrong password has the length of root's generated one (24): SHA-crypt's
# cost grows with the password's length.
wrong=wrong-password-24-chars!
run_case "wrong-password/rounds=$HASH_ROUNDS" -user root -pass "$wrong" -expect 403
run_case "unknown-user/rounds=$HASH_ROUNDS" -user nosuchuser -pass "$wrong" -expect 403

field() { # field RESULT-LINE KEY
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

echo
echo "== summary: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), -c $CONC, -d $DURATION, hash rounds $HASH_ROUNDS"
base_rps=$(field "${results[0]}" rps)
base_p50=$(field "${results[0]}" p50_us)
printf '%-28s %12s %10s %10s %10s %7s %14s %12s\n' case "requests/s" "p50 µs" "p90 µs" "p99 µs" errors "base rps/rps" "p50/base"
for r in "${results[@]}"; do
	rps=$(field "$r" rps)
	p50=$(field "$r" p50_us)
	printf '%-28s %12s %10s %10s %10s %7s %14s %12s\n' \
		"$(field "$r" label)" "$rps" "$p50" "$(field "$r" p90_us)" "$(field "$r" p99_us)" "$(field "$r" errors)" \
		"$(awk -v a="$base_rps" -v b="$rps" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }')" \
		"$(awk -v a="$p50" -v b="$base_p50" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }')"
done
echo
echo "base rps/rps: how many times fewer calls per second than the baseline; p50/base: median latency over the baseline's."
