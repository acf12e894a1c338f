#!/usr/bin/env bash
# Load-tests a real `cpauth serve` on the loopback interface and prints a
# table of requests/s and latency against a baseline that serves the same
# bytes without cpauth. See bench/README.md.
#
#   bash bench/run.sh                      # defaults below
#   DURATION=20s CONC=8 bash bench/run.sh
#   HASH_ROUNDS=5000 bash bench/run.sh     # cheaper password hashes
#   PASSWORD_CACHE_TTL=0 bash bench/run.sh # every Basic call checks the password (D32 off)
set -euo pipefail

export PATH="/usr/local/go/bin:$PATH"
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}      # per case
CONC=${CONC:-4}                # concurrent keep-alive connections
HASH_ROUNDS=${HASH_ROUNDS:-50000}
PORT_OFFSET=${PORT_OFFSET:-20000}
LOG_LEVEL=${LOG_LEVEL:-info}   # debug adds an slog line per request (access_log has them at any level)
PASSWORD_CACHE_TTL=${PASSWORD_CACHE_TTL:-5m} # the daemon's --password-cache-ttl (0: off)

whm_port=$((2086 + PORT_OFFSET))
url="http://127.0.0.1:$whm_port/json-api/version?api.version=1"

work=$(mktemp -d "${TMPDIR:-/tmp}/cpauth-bench.XXXXXX")
. bench/lib.sh
baseline_pids=()
cleanup() {
	stop_daemon
	for pid in "${baseline_pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
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
	--hash-rounds "$HASH_ROUNDS" --log-level "$LOG_LEVEL" --password-cache-ttl "$PASSWORD_CACHE_TTL" >"$work/cpauth.out" 2>"$work/cpauth.log" &
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

# wait_port PORT waits up to 10 s for something to listen on PORT.
wait_port() {
	for _ in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "bench: nothing listens on $1 after 10 s" >&2
	exit 1
}

# start_baseline PORT URL LOAD-FLAGS... fetches URL once with the flags'
# credentials and serves its response on PORT from a process of its own, as
# the daemon is one: the baseline pays the same cross-process round trip.
start_baseline() {
	local port=$1 target=$2
	shift 2
	"$work/load" -serve-baseline "127.0.0.1:$port" -url "$target" "$@" 2>>"$work/baseline.log" &
	baseline_pids+=($!)
	wait_port "$port"
}

# A cPanel account with an API token, root's WHM API token and a WHM
# session (cookie and security token), for the token and session cases.
"$work/cpauth" whmapi1 --data-dir "$work/data" --hash-rounds "$HASH_ROUNDS" createacct \
	username=benchuser domain=bench.test password=Bench-pass-0123456789 >/dev/null
whm_token=$("$work/cpauth" token create --data-dir "$work/data" --user root --name bench 2>/dev/null)
cpanel_token=$("$work/cpauth" token create --data-dir "$work/data" --user benchuser --name bench 2>/dev/null)
cpanel_port=$((2082 + PORT_OFFSET))
uapi_url="http://127.0.0.1:$cpanel_port/execute/Variables/get_user_information"
login=$(head -n 1 "$pass_file" | tr -d '\r\n' | curl -s -D - -o "$work/login.json" --data-urlencode user=root \
	--data-urlencode "pass@-" "http://127.0.0.1:$whm_port/login/?login_only=1")
session_cookie=$(echo "$login" | sed -n 's/^[Ss]et-[Cc]ookie: \(whostmgrsession=[^;]*\).*/\1/p' | head -n 1)
security_token=$(sed -n 's/.*"security_token":"\(\/cpsess[0-9]*\)".*/\1/p' "$work/login.json")
if [ -z "$session_cookie" ] || [ -z "$security_token" ]; then
	echo "bench: logging in as root failed:" >&2
	echo "$login" >&2
	cat "$work/login.json" >&2
	exit 1
fi

base_port=$((2080 + PORT_OFFSET))
uapi_base_port=$((2081 + PORT_OFFSET))
start_baseline "$base_port" "$url" -user root -pass-file "$pass_file"
start_baseline "$uapi_base_port" "$uapi_url" -header "Authorization: cpanel benchuser:$cpanel_token"

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

run_case baseline -url "http://127.0.0.1:$base_port/json-api/version?api.version=1"
# Root's password on every call: with the verified-password cache on (D32)
# the first call checks it and the others are remembered; with
# PASSWORD_CACHE_TTL=0 every call checks it (as the wrong-password case does).
if [ "$PASSWORD_CACHE_TTL" = 0 ] || [ "$PASSWORD_CACHE_TTL" = 0s ]; then
	password_case="password/rounds=$HASH_ROUNDS"
else
	password_case="password-cached"
fi
run_case "$password_case" -user root -pass-file "$pass_file"
run_case accesshash -user root -accesshash-file "$work/accesshash"
run_case whm-token -header "Authorization: whm root:$whm_token"
run_case session -url "http://127.0.0.1:$whm_port$security_token/json-api/version?api.version=1" -header "Cookie: $session_cookie"
# The wrong password has the length of root's generated one (24): SHA-crypt's
# cost grows with the password's length.
wrong=wrong-password-24-chars!
run_case "wrong-password/rounds=$HASH_ROUNDS" -user root -pass "$wrong" -expect 403
run_case "unknown-user/rounds=$HASH_ROUNDS" -user nosuchuser -pass "$wrong" -expect 403
# UAPI against a baseline of its own bytes.
run_case uapi-baseline -url "http://127.0.0.1:$uapi_base_port/execute/Variables/get_user_information"
run_case cpanel-token-uapi -url "$uapi_url" -header "Authorization: cpanel benchuser:$cpanel_token"

field() { # field RESULT-LINE KEY
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

echo
echo "== summary: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), -c $CONC, -d $DURATION, hash rounds $HASH_ROUNDS"
printf '%-28s %12s %10s %10s %10s %7s %14s %12s\n' case "requests/s" "p50 µs" "p90 µs" "p99 µs" errors "base rps/rps" "p50/base"
for r in "${results[@]}"; do
	case "$(field "$r" label)" in
	*baseline) # the rows below compare with this one
		base_rps=$(field "$r" rps)
		base_p50=$(field "$r" p50_us)
		;;
	esac
	rps=$(field "$r" rps)
	p50=$(field "$r" p50_us)
	printf '%-28s %12s %10s %10s %10s %7s %14s %12s\n' \
		"$(field "$r" label)" "$rps" "$p50" "$(field "$r" p90_us)" "$(field "$r" p99_us)" "$(field "$r" errors)" \
		"$(awk -v a="$base_rps" -v b="$rps" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }')" \
		"$(awk -v a="$p50" -v b="$base_p50" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }')"
done
echo
echo "base rps/rps: how many times fewer calls per second than the baseline above the row; p50/base: median latency over that baseline's."
password_rps=""
token_rps=""
for r in "${results[@]}"; do
	case "$(field "$r" label)" in
	"$password_case") password_rps=$(field "$r" rps) ;;
	whm-token) token_rps=$(field "$r" rps) ;;
	esac
done
if [ -n "$password_rps" ] && [ -n "$token_rps" ]; then
	echo "$password_case requests/s over whm-token's: $(awk -v a="$password_rps" -v b="$token_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }') (the target for the cached case is 0.80)"
fi
