#!/usr/bin/env bash
# What a flood of password guesses leaves of the calls that need no
# password hash: a real `cpauth serve` on loopback, loaded by bench/load
# with a WHM API token, an access hash and a session while a guess flood
# (wrong passwords for root by HTTP Basic from 1 000 loopback addresses, 32
# at a time) is turned on and off in alternating phases, so that the load
# alone and beside the flood are measured in the same run, under the same
# background; with the pool of password checks as configured by default
# and, for comparison, without a bound. See bench/README.md.
#
#   bash bench/flood.sh
#   MODES=pool DURATION=12s bash bench/flood.sh
set -euo pipefail

export PATH="/usr/local/go/bin:$PATH"
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30s}            # per run: phases of the flood off and on in turn
PHASE=${PHASE:-3s}                   # each phase
SETTLE=${SETTLE:-1s}                 # not counted at the start of each phase (the daemon's queue of checks fills or drains)
CONC=${CONC:-4}                      # the load's keep-alive connections
HASH_ROUNDS=${HASH_ROUNDS:-50000}
PORT_OFFSET=${PORT_OFFSET:-22000}
FLOOD_ADDRS=${FLOOD_ADDRS:-1000}     # source addresses of the guesses
FLOOD_C=${FLOOD_C:-32}               # addresses guessing at a time
REGULATOR=${REGULATOR:-off}          # off: every guess reaches a password check (the worst case)
MODES=${MODES:-pool unbounded}       # pool: the daemon's defaults; unbounded: --password-check-workers 4096
CPAUTH=${CPAUTH:-}                   # a cpauth binary to measure instead of building this tree's (comparing builds)

whm_port=$((2086 + PORT_OFFSET))
url="http://127.0.0.1:$whm_port/json-api/version?api.version=1"

work=$(mktemp -d "${TMPDIR:-/tmp}/cpauth-flood.XXXXXX")
. bench/lib.sh
cleanup() {
	stop_daemon
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building"
if [ -n "$CPAUTH" ]; then
	cp "$CPAUTH" "$work/cpauth"
else
	go build -o "$work/cpauth" ./cmd/cpauth
fi
go build -o "$work/load" ./bench/load

if (exec 3<>"/dev/tcp/127.0.0.1/$whm_port") 2>/dev/null; then
	echo "bench: port $whm_port is already in use; set PORT_OFFSET" >&2
	exit 1
fi

field() { # field LINE KEY
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

results=()
for mode in $MODES; do
	data="$work/data-$mode"
	flags=()
	case "$mode" in
	pool) ;;
	unbounded) flags=(--password-check-workers 4096) ;;
	*)
		echo "bench: unknown mode $mode (pool or unbounded)" >&2
		exit 2
		;;
	esac
	if [ "$REGULATOR" = off ]; then
		"$work/cpauth" whmapi1 --data-dir "$data" --hash-rounds "$HASH_ROUNDS" save_cphulk_config is_enabled=0 >/dev/null
	fi
	echo
	echo "== $mode: starting cpauth serve (hash rounds $HASH_ROUNDS, regulator $REGULATOR ${flags[*]})"
	"$work/cpauth" serve --data-dir "$data" --listen 127.0.0.1 --port-offset "$PORT_OFFSET" \
		--hash-rounds "$HASH_ROUNDS" "${flags[@]}" >"$work/$mode.out" 2>"$work/$mode.log" &
	daemon_pid=$!
	for _ in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$whm_port") 2>/dev/null && break
		sleep 0.1
	done
	"$work/cpauth" accesshash --generate --user root --data-dir "$data" --hash-rounds "$HASH_ROUNDS" >"$work/accesshash" 2>/dev/null
	whm_token=$("$work/cpauth" token create --data-dir "$data" --user root --name bench 2>/dev/null)
	login=$(head -n 1 "$data/initial-root-password" | tr -d '\r\n' | curl -s -D - -o "$work/login.json" --data-urlencode user=root \
		--data-urlencode "pass@-" "http://127.0.0.1:$whm_port/login/?login_only=1")
	session_cookie=$(echo "$login" | sed -n 's/^[Ss]et-[Cc]ookie: \(whostmgrsession=[^;]*\).*/\1/p' | head -n 1)
	security_token=$(sed -n 's/.*"security_token":"\(\/cpsess[0-9]*\)".*/\1/p' "$work/login.json")
	if [ -z "$session_cookie" ] || [ -z "$security_token" ]; then
		echo "bench: logging in as root failed" >&2
		exit 1
	fi
	for case in whm-token accesshash session; do
		case "$case" in
		whm-token) args=(-url "$url" -header "Authorization: whm root:$whm_token") ;;
		accesshash) args=(-url "$url" -user root -accesshash-file "$work/accesshash") ;;
		session) args=(-url "http://127.0.0.1:$whm_port$security_token/json-api/version?api.version=1" -header "Cookie: $session_cookie") ;;
		esac
		echo "-- $mode/$case"
		out=$("$work/load" "${args[@]}" -c "$CONC" -d "$DURATION" -label "$case" \
			-flood-addrs "$FLOOD_ADDRS" -flood-c "$FLOOD_C" -flood-url "$url" -flood-phase "$PHASE" -flood-settle "$SETTLE") || true
		echo "$out" | grep -v '^RESULT \|^FLOOD \|^PHASES '
		results+=("$mode $case $(echo "$out" | grep '^PHASES ') | $(echo "$out" | grep '^FLOOD ')")
	done
	stop_daemon
done

echo
echo "== summary: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), -c $CONC, -d $DURATION in phases of $PHASE (the first $SETTLE of each not counted), hash rounds $HASH_ROUNDS, flood $FLOOD_ADDRS addresses x $FLOOD_C at a time, regulator $REGULATOR"
printf '%-10s %-11s %11s %11s %7s %11s %11s %10s %s\n' mode case "alone rps" "flood rps" "ratio" "alone p99" "flood p99" "guesses/s" "guess answers"
for r in "${results[@]}"; do
	mode=${r%% *}
	rest=${r#* }
	case=${rest%% *}
	ph=${r#*PHASES }
	ph=${ph%% | *}
	fl=${r##* | }
	printf '%-10s %-11s %11s %11s %7s %9sµs %9sµs %10s %s\n' "$mode" "$case" "$(field "$ph" alone_rps)" "$(field "$ph" flood_rps)" \
		"$(field "$ph" ratio)" "$(field "$ph" alone_p99_us)" "$(field "$ph" flood_p99_us)" "$(field "$fl" rps)" \
		"$(echo "$fl" | tr ' ' '\n' | sed -n 's/^flood_status_\([0-9]*\)=\(.*\)/\2 x \1/p' | paste -sd, -)"
done
echo
echo "ratio: the call's requests/s while the flood was on over while it was off, in the same run (the target is at least 0.50, with a p99 under 50 ms)."
echo "guesses/s: over the whole run, the flood being on half of it."
