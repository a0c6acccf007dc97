# Shell helpers shared by the test scripts that run a real `crispin`
# (tests/clients/run.sh, tests/bench-smoke.sh, tests/postfix/run.sh).
# Source it; it defines functions only.

step() { printf '\n==> %s\n' "$*"; }

# A TCP port on 127.0.0.1 that is free right now.
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Cargo's target directory (respects CARGO_TARGET_DIR and config).
target_dir() {
    cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

# wait_for_port PORT PID LOG: waits (at most 60 s) until 127.0.0.1:PORT
# accepts connections; fails, printing LOG, if process PID exits first or
# the time runs out.
wait_for_port() {
    if ! python3 - "$1" "$2" <<'PY'; then
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("the server exited during start-up")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit("the server did not open its port within 60 s")
PY
        echo "--- server log ---"
        cat "$3"
        return 1
    fi
}
