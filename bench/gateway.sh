#!/usr/bin/env bash
# Gateway mode measured: a real `cpauth serve` plays the backend (a cPanel &
# WHM server), a second one runs in front of it with --upstream, both on
# the loopback interface. It reports
#   - each forwarded call through the gateway against the same call made
#     to the backend directly with the same kind of credential, in the same
#     run (the goal: at least 0.7 of direct, the extra hop included);
#   - the password checks the backend made while Basic was sent on every
#     call through the gateway (counted in the backend's audit stream: one
#     per cache lifetime per user is the goal);
#   - the gateway's memory (resident set) with ACCOUNTS mirrored accounts
#     and SESSIONS live backend sessions.
# See bench/README.md ("Gateway mode").
#
#   bash bench/gateway.sh
#   DURATION=20s CONC=8 ACCOUNTS=10000 SESSIONS=1000 bash bench/gateway.sh
set -euo pipefail

export PATH="/usr/local/go/bin:$PATH"
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}     # per case
CONC=${CONC:-4}               # concurrent keep-alive connections
HASH_ROUNDS=${HASH_ROUNDS:-5000}
ACCOUNTS=${ACCOUNTS:-10000}   # accounts mirrored
SESSIONS=${SESSIONS:-1000}    # backend sessions made
BACKEND_OFFSET=${BACKEND_OFFSET:-21000}
GATEWAY_OFFSET=${GATEWAY_OFFSET:-22000}

b_whm=$((2086 + BACKEND_OFFSET)) b_cpanel=$((2082 + BACKEND_OFFSET)) b_webmail=$((2095 + BACKEND_OFFSET))
g_whm=$((2086 + GATEWAY_OFFSET)) g_cpanel=$((2082 + GATEWAY_OFFSET))

work=$(mktemp -d "${TMPDIR:-/tmp}/cpauth-gw-bench.XXXXXX")
backend_pid="" gateway_pid=""
stop() { # stop PID: SIGTERM, up to 5 s, then SIGKILL
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
	stop "$gateway_pid"
	stop "$backend_pid"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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
for p in "$b_whm" "$g_whm"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		echo "bench: port $p is already in use; set BACKEND_OFFSET and GATEWAY_OFFSET" >&2
		exit 1
	fi
done

echo "== building"
go build -o "$work/cpauth" ./cmd/cpauth
go build -o "$work/load" ./bench/load
go build -o "$work/gwseed" ./bench/gwseed
cp() { "$work/cpauth" "$@"; }
bdir=$work/backend gdir=$work/gateway

echo "== the backend: cpauth serve on ports $b_cpanel/$b_whm/$b_webmail"
# The backend's audit stream counts its password checks: large enough
# not to be rotated during the run.
"$work/cpauth" serve --data-dir "$bdir" --listen 127.0.0.1 --port-offset "$BACKEND_OFFSET" --hash-rounds "$HASH_ROUNDS" \
	--log-max-size-mb 4096 >"$work/backend.out" 2>"$work/backend.log" &
backend_pid=$!
wait_port "$b_whm"
root_pass=$(head -n 1 "$bdir/initial-root-password" | tr -d '\r\n')
# As docs/gateway.md says: the gateway's address on the backend's cPHulk
# allow-list, root's API token for the gateway, in a 0600 file.
cp whmapi1 --data-dir "$bdir" --hash-rounds "$HASH_ROUNDS" create_cphulk_record list_name=white ip=127.0.0.1 comment=gateway >/dev/null
umask 077
cp token create --data-dir "$bdir" --hash-rounds "$HASH_ROUNDS" --user root --name gateway >"$work/backend.token" 2>/dev/null
b_root_token=$(cp token create --data-dir "$bdir" --hash-rounds "$HASH_ROUNDS" --user root --name direct 2>/dev/null)
cp whmapi1 --data-dir "$bdir" --hash-rounds "$HASH_ROUNDS" createacct username=benchuser domain=bench.test password=Bench-pass-0123456789 >/dev/null
b_cpanel_token=$(cp token create --data-dir "$bdir" --hash-rounds "$HASH_ROUNDS" --user benchuser --name direct 2>/dev/null)

echo "== the gateway: cpauth serve --upstream on ports $g_cpanel/$g_whm"
"$work/cpauth" serve --data-dir "$gdir" --listen 127.0.0.1 --port-offset "$GATEWAY_OFFSET" --hash-rounds "$HASH_ROUNDS" \
	--upstream http://127.0.0.1 --upstream-whm-port "$b_whm" --upstream-cpanel-port "$b_cpanel" --upstream-webmail-port "$b_webmail" \
	--upstream-token-file "$work/backend.token" --upstream-sync-interval 5s >"$work/gateway.out" 2>"$work/gateway.log" &
gateway_pid=$!
wait_port "$g_whm"
cp whmapi1 --data-dir "$gdir" --hash-rounds "$HASH_ROUNDS" create_cphulk_record list_name=white ip=127.0.0.1 comment=bench >/dev/null
g_root_token=$(cp token create --data-dir "$gdir" --hash-rounds "$HASH_ROUNDS" --user root --name bench 2>/dev/null)
g_cpanel_token=$(cp token create --data-dir "$gdir" --hash-rounds "$HASH_ROUNDS" --user benchuser --name bench 2>/dev/null)

rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$gateway_pid/status"; }
sleep 2
rss_start=$(rss)

echo "== $ACCOUNTS accounts at the backend"
"$work/gwseed" -data-dir "$bdir" -accounts "$ACCOUNTS" -rounds "$HASH_ROUNDS" -pass Seed-pass-1
last=$(printf 'gwu%05d' "$ACCOUNTS")
for _ in $(seq 1 120); do
	if cp whmapi1 --data-dir "$gdir" --hash-rounds "$HASH_ROUNDS" accountsummary "user=$last" 2>/dev/null | grep -q "user: $last"; then
		break
	fi
	sleep 1
done
sleep 2
rss_mirror=$(rss)

echo "== $SESSIONS backend sessions: one forwarded call each of $SESSIONS accounts"
ok=$(seq 1 "$SESSIONS" | xargs -P 4 -I{} sh -c 'printf "%s\n" "$(curl -s -o /dev/null -w "%{http_code}" -u "$(printf "gwu%05d" {}):Seed-pass-1" "http://127.0.0.1:'"$g_cpanel"'/execute/Variables/get_user_information")"' | grep -c '^200$' || true)
sleep 2
rss_sessions=$(rss)

results=()
run_case() { # run_case NAME LOAD-FLAGS...
	local name=$1
	shift
	echo
	echo "== $name"
	local out
	out=$("$work/load" -c "$CONC" -d "$DURATION" -label "$name" "$@") || true
	echo "$out" | grep -v '^RESULT '
	results+=("$(echo "$out" | grep '^RESULT ')")
}
backend_checks() { # password checks of root in the backend's audit stream
	sleep 0.3
	grep -c '"user":"root","method":"password","result":"success"' "$bdir/logs/auth_audit.jsonl" || true
}

# Each pair: direct, through the gateway, direct again (the gateway's
# ratio is against the mean of the two direct runs around it).
whm_fn=/json-api/gethostname?api.version=1
run_case direct/whm-token -url "http://127.0.0.1:$b_whm$whm_fn" -header "Authorization: whm root:$b_root_token"
run_case gateway/whm-token -url "http://127.0.0.1:$g_whm$whm_fn" -header "Authorization: whm root:$g_root_token"
run_case direct/whm-token -url "http://127.0.0.1:$b_whm$whm_fn" -header "Authorization: whm root:$b_root_token"

uapi_fn=/execute/Variables/get_user_information
run_case direct/cpanel-token-uapi -url "http://127.0.0.1:$b_cpanel$uapi_fn" -header "Authorization: cpanel benchuser:$b_cpanel_token"
run_case gateway/cpanel-token-uapi -url "http://127.0.0.1:$g_cpanel$uapi_fn" -header "Authorization: cpanel benchuser:$g_cpanel_token"
run_case direct/cpanel-token-uapi -url "http://127.0.0.1:$b_cpanel$uapi_fn" -header "Authorization: cpanel benchuser:$b_cpanel_token"

run_case direct/password-cached -url "http://127.0.0.1:$b_whm$whm_fn" -user root -pass "$root_pass"
checks_before=$(backend_checks)
run_case gateway/password-cached -url "http://127.0.0.1:$g_whm$whm_fn" -user root -pass "$root_pass"
checks_after=$(backend_checks)
run_case direct/password-cached -url "http://127.0.0.1:$b_whm$whm_fn" -user root -pass "$root_pass"

field() { # field RESULT-LINE KEY
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
echo
echo "== summary: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), -c $CONC, -d $DURATION, hash rounds $HASH_ROUNDS"
printf '%-28s %12s %10s %10s %10s %7s\n' case "requests/s" "p50 µs" "p90 µs" "p99 µs" errors
for r in "${results[@]}"; do
	printf '%-28s %12s %10s %10s %10s %7s\n' "$(field "$r" label)" "$(field "$r" rps)" "$(field "$r" p50_us)" \
		"$(field "$r" p90_us)" "$(field "$r" p99_us)" "$(field "$r" errors)"
done
echo
for i in 0 3 6; do
	d1=$(field "${results[$i]}" rps) gw=$(field "${results[$((i + 1))]}" rps) d2=$(field "${results[$((i + 2))]}" rps)
	echo "$(field "${results[$((i + 1))]}" label): $(awk -v g="$gw" -v a="$d1" -v b="$d2" 'BEGIN { if (a + b > 0) printf "%.2f", 2 * g / (a + b); else print "-" }') of direct (goal: 0.70)"
done
echo "backend password checks while Basic went through the gateway on every call: $((checks_after - checks_before)) (goal: 1 per cache lifetime)"
echo "gateway memory (VmRSS): $rss_start kB at start, $rss_mirror kB with $ACCOUNTS more accounts mirrored, $rss_sessions kB with $ok of $SESSIONS backend sessions made"
