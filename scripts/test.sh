#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and protocol tests, and
# real-client tests against a running server. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (unit, protocol, golden, differential)"
cargo test --workspace

step "real clients (Python imaplib and ssl, scramp, curl, openssl)"
tests/clients/run.sh

step "load generator smoke test (crispin-bench smoke)"
tests/bench-smoke.sh

step "Postfix delivering by LMTP, end to end"
tests/postfix/run.sh

echo
echo "All tests passed."
