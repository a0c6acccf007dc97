#!/usr/bin/env bash
# Real-client tests: builds `crispin`, starts it on a free port with a
# fresh data directory and two accounts, runs the Python imaplib and curl
# tests against it, then stops it with SIGTERM and checks that it exits
# cleanly (status 0) within 30 seconds. Exits non-zero if anything failed.
#
# Respects CARGO_TARGET_DIR. Needs python3, curl, neomutt and pexpect.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

# shellcheck source=tests/lib.sh
. "$here/../lib.sh"

step "cargo build -p crispin"
cargo build -p crispin
target_dir=$(target_dir)
bin="$target_dir/debug/crispin"
[ -x "$bin" ] || {
    echo "no binary at $bin" >&2
    exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/crispin-clients.XXXXXX")
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(free_port)
tls_port=$(free_port)
config="$work/crispin.toml"
cat >"$config" <<EOF
data_dir = "$work/data"
log = "info"

[imap]
listen = ["127.0.0.1:$port"]

[imaps]
listen = ["127.0.0.1:$tls_port"]

[lmtp]
# No LMTP listener: its default port is fixed, and tests may run side by side.
listen = []

[auth]
# Cheap password hashing: this is a test.
argon2_memory_kib = 64
argon2_iterations = 1
EOF

export IMAP_HOST=127.0.0.1
export IMAP_PORT=$port
export IMAPS_PORT=$tls_port
export IMAP_CAFILE="$work/data/tls/cert.pem"
export IMAP_USER=alice
export IMAP_PASSWORD='alice pw "with" specials\'
export IMAP_USER2=bob
export IMAP_PASSWORD2=bob-secret-2

step "creating accounts"
printf '%s\n' "$IMAP_PASSWORD" | "$bin" --config "$config" user add "$IMAP_USER"
printf '%s\n' "$IMAP_PASSWORD2" | "$bin" --config "$config" user add "$IMAP_USER2"

step "starting crispin on 127.0.0.1:$port"
"$bin" --config "$config" serve >"$work/server.log" 2>&1 &
server_pid=$!

wait_for_port "$port" "$server_pid" "$work/server.log" || exit 1

status=0

step "Python imaplib tests"
python3 "$here/imaplib_test.py" || status=1

step "TLS and SCRAM tests (Python ssl, scramp, curl, openssl)"
python3 "$here/tls_test.py" || status=1

step "curl tests"
bash "$here/curl_test.sh" || status=1

step "NeoMutt with CONDSTORE and QRESYNC (pexpect)"
python3 "$here/neomutt_test.py" || status=1

step "stopping crispin (SIGTERM)"
kill -TERM "$server_pid"
if timeout 30 tail --pid="$server_pid" -f /dev/null; then
    rc=0
    wait "$server_pid" || rc=$?
    server_pid=""
    if [ "$rc" -eq 0 ]; then
        echo "clean shutdown"
    else
        echo "FAIL: the server exited with status $rc after SIGTERM"
        status=1
    fi
else
    echo "FAIL: the server was still running 30 s after SIGTERM"
    status=1
fi

if [ "$status" -ne 0 ]; then
    echo "--- server log (last 100 lines) ---"
    tail -n 100 "$work/server.log"
    echo
    echo "real-client tests FAILED"
else
    echo
    echo "real-client tests passed"
fi
exit "$status"
