#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and protocol tests, and
# real-client tests against a running server. CI runs exactly this. As
# root on a fresh machine it installs what the tests need first (and
# leaves no service running that it started).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "prerequisites (curl, python3, openssl, neomutt, scramp, pexpect)"
need_apt=()
command -v curl >/dev/null || need_apt+=(curl)
command -v python3 >/dev/null || need_apt+=(python3)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v neomutt >/dev/null || need_apt+=(neomutt)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}"
fi

# The SCRAM client library the real-client tests use.
python3 -c 'import scramp' 2>/dev/null || python3 -m pip install -q scramp
# pexpect drives NeoMutt in a pseudo-terminal.
python3 -c 'import pexpect' 2>/dev/null || python3 -m pip install -q pexpect

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (unit, protocol, golden, differential)"
cargo test --workspace

step "real clients (Python imaplib and ssl, scramp, curl, openssl, NeoMutt)"
tests/clients/run.sh

step "load generator smoke test (crispin-bench smoke)"
tests/bench-smoke.sh

step "crash test: kill -9 under concurrent writes, every acknowledged write checked"
tests/crash/run.sh

step "Postfix delivering by LMTP, end to end"
tests/postfix/run.sh

step "first run: the README's quick start in a fresh copy, the example configuration, a full disk"
tests/firstrun/run.sh

echo
echo "All tests passed."
