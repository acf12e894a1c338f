# Shared by the bench scripts (sourced, not run).

# stop_daemon stops the daemon whose pid is in daemon_pid, if it runs:
# SIGTERM, up to 5 s for a clean stop, then SIGKILL.
daemon_pid=""
stop_daemon() {
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -TERM "$daemon_pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$daemon_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$daemon_pid" 2>/dev/null || true
	fi
	daemon_pid=""
}
