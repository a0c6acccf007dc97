#!/usr/bin/env bash
# Smoke test of the load generator: builds `crispin` and `crispin-bench`
# (debug), starts crispin on free ports with a fresh data directory and the
# benchmark accounts, runs `crispin-bench smoke` against it (a few seconds
# of every scenario at tiny sizes, with strict checks of the answers), and
# fails if the tool errors or reports wrong results. Timings are printed,
# never asserted.
#
# Respects CARGO_TARGET_DIR. Needs python3 (for free ports).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

# shellcheck source=tests/lib.sh
. "$here/lib.sh"

step "cargo build -p crispin -p crispin-bench"
cargo build -p crispin -p crispin-bench
target_dir=$(target_dir)
bin="$target_dir/debug/crispin"
bench="$target_dir/debug/crispin-bench"
for b in "$bin" "$bench"; do
    [ -x "$b" ] || {
        echo "no binary at $b" >&2
        exit 1
    }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/crispin-bench-smoke.XXXXXX")
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        timeout 30 tail --pid="$server_pid" -f /dev/null || kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(free_port)
lmtp_port=$(free_port)
config="$work/crispin.toml"
cat >"$config" <<EOF
data_dir = "$work/data"
log = "warn"

[imap]
listen = ["127.0.0.1:$port"]

[lmtp]
listen = ["127.0.0.1:$lmtp_port"]

[tls]
enabled = false

[limits]
max_connections_per_ip = 1000
max_connections_per_user_ip = 1000

[auth]
plaintext = "always"
# Cheap password hashing: this is a test.
argon2_memory_kib = 64
argon2_iterations = 1
EOF

password=bench-smoke-pw
step "creating the benchmark accounts"
for user in big idle mix1 mix2 mix3 ingest1 ingest2; do
    printf '%s\n' "$password" | "$bin" --config "$config" user add "$user" >/dev/null
done

step "starting crispin on 127.0.0.1:$port (LMTP $lmtp_port)"
"$bin" --config "$config" serve >"$work/server.log" 2>&1 &
server_pid=$!

wait_for_port "$port" "$server_pid" "$work/server.log" || exit 1

step "crispin-bench smoke"
status=0
"$bench" smoke --imap "127.0.0.1:$port" --lmtp "127.0.0.1:$lmtp_port" \
    --password "$password" --timeout 120 --label crispin-debug \
    --server-pid "$server_pid" --json "$work/smoke.json" || status=$?

if [ "$status" -eq 0 ]; then
    # The JSON must be there and carry figures for every scenario.
    python3 - "$work/smoke.json" <<'EOF' || status=1
import json, sys
r = json.load(open(sys.argv[1]))
assert r.get("error") is None, r["error"]
groups = {m["group"].split()[0] for m in r["metrics"]}
missing = {"load", "bigmailbox", "ingest", "idle", "mixed"} - groups
assert not missing, f"no figures for {missing}"
print(f"smoke JSON: {len(r['metrics'])} figures")
EOF
fi

if [ "$status" -ne 0 ]; then
    echo "--- server log (last 50 lines) ---"
    tail -n 50 "$work/server.log"
    echo
    echo "bench smoke FAILED"
else
    echo
    echo "bench smoke passed"
fi
exit "$status"
