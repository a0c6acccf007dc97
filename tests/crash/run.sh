#!/usr/bin/env bash
# The crash test: kill -9 under concurrent APPEND, LMTP, STORE and EXPUNGE
# load, restart, and check that every acknowledged write survived (see
# crash.py). About a minute. Respects CARGO_TARGET_DIR; needs python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"

cargo build -q -p crispin
bin="$(target_dir)/debug/crispin"
work=$(mktemp -d "${TMPDIR:-/tmp}/crispin-crash.XXXXXX")
trap 'pkill -KILL -f "$work/crispin.toml" 2>/dev/null || true; rm -rf "$work"' EXIT
python3 "$here/crash.py" "$bin" "$work" "${CRASH_ROUNDS:-3}" "${CRASH_SECONDS:-10}" || {
    echo "--- server log (last 40 lines) ---"
    tail -40 "$work/server.log"
    exit 1
}
