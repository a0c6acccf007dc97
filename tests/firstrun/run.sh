#!/usr/bin/env bash
# An administrator's first hour, as root (CI runs it so):
#  1. the README's quick-start command, word for word, in a fresh copy of
#     the tree (no target/, no data), and the connect line it prints;
#  2. crispin.example.toml started as it is in a network namespace of its
#     own (ports 143, 993 and 24 on IPv4 and IPv6, the LMTP socket), only
#     data_dir and the socket path moved to a scratch directory;
#  3. a small tmpfs filled up: writes are refused with [OVERQUOTA] / 452,
#     and a server stopped on the full disk starts again and serves reads.
#
# Set FIRSTRUN_SHARED_TARGET=1 to let the quick start reuse this tree's
# target directory (quicker when run by hand; CI builds from nothing).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"

if [ "$(id -u)" != 0 ]; then
    echo "tests/firstrun/run.sh needs root (network namespace, tmpfs)" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/crispin-firstrun.XXXXXX")
pids=()
mounted=""
cleanup() {
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ -n "$mounted" ]; then
        umount "$mounted" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for_text FILE TEXT PID: until FILE holds TEXT (60 s at most, or
# until PID exits).
wait_for_text() {
    for _ in $(seq 600); do
        grep -qF -- "$2" "$1" && return 0
        kill -0 "$3" 2>/dev/null || break
        sleep 0.1
    done
    echo "--- no '$2' in $1 ---" >&2
    cat "$1" >&2
    return 1
}

step "quick start, as printed in README.md, in a fresh copy of the tree"
fresh="$work/crispin"
mkdir "$fresh"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$fresh"
# The command between the quick start's first ```sh fence and its end.
quick=$(awk '/^## Quick start/ {q = 1} q && /^```sh/ {getline; print; exit}' README.md)
echo "README says: $quick"
case "$quick" in
    "cargo run --release -- serve --first-user alice") ;;
    *)
        echo "the quick start command changed; update this test" >&2
        exit 1
        ;;
esac
(
    cd "$fresh"
    if [ "${FIRSTRUN_SHARED_TARGET:-}" = 1 ]; then
        export CARGO_TARGET_DIR="$root/target"
    else
        unset CARGO_TARGET_DIR
    fi
    exec bash -c "$quick"
) >"$work/quick.log" 2>&1 &
quick_pid=$!
pids+=("$quick_pid")
# A release build from nothing takes minutes on 2 cores.
for _ in $(seq 9000); do
    grep -q "connect with: " "$work/quick.log" && break
    kill -0 "$quick_pid" 2>/dev/null || break
    sleep 0.2
done
wait_for_text "$work/quick.log" "connect with: " "$quick_pid"
grep -q "Created account alice with password" "$work/quick.log"
[ -d "$fresh/crispin-data" ] || {
    echo "no crispin-data in the directory the quick start ran in" >&2
    exit 1
}
[ -x "$fresh/target/release/crispin" ] || [ "${FIRSTRUN_SHARED_TARGET:-}" = 1 ] || {
    echo "the binary is not at target/release/crispin as the README says" >&2
    exit 1
}
hint=$(sed -n 's/.*connect with: //p' "$work/quick.log" | tail -1)
echo "it prints: $hint"
(cd "$fresh" && bash -c "$hint -sS --max-time 20") >"$work/quick.out"
grep -q 'INBOX' "$work/quick.out" || {
    echo "the printed connect line did not list INBOX:" >&2
    cat "$work/quick.out" >&2
    exit 1
}
# cargo run passes SIGTERM's effect on: stop the server itself.
server=$(pgrep -f "target/release/crispin serve --first-user alice" | head -1)
kill -TERM "$server"
wait "$quick_pid" || true
echo "quick start: OK"

bin="$(target_dir)/debug/crispin"
cargo build -q -p crispin

step "crispin.example.toml as it is, in a network namespace of its own"
ex="$work/example"
mkdir -p "$ex"
sed -e "s|^data_dir = \"/var/lib/crispin\"|data_dir = \"$ex/data\"|" \
    -e "s|^unix_socket = \"/run/crispin/lmtp\"|unix_socket = \"$ex/run/lmtp\"|" \
    crispin.example.toml >"$ex/crispin.toml"
# Nothing else differs from the shipped file.
[ "$(diff crispin.example.toml "$ex/crispin.toml" | grep -c '^>')" = 2 ]
unshare --net bash -c "ip link set lo up && exec '$bin' --config '$ex/crispin.toml' serve --first-user admin" \
    >"$ex/log" 2>&1 &
ex_pid=$!
pids+=("$ex_pid")
wait_for_text "$ex/log" "Crispin is serving IMAP on [::]:143" "$ex_pid"
for addr in "0.0.0.0:143" "0.0.0.0:993" "[::]:993" "127.0.0.1:24"; do
    grep -qF "on $addr" "$ex/log" || {
        echo "not listening on $addr" >&2
        cat "$ex/log" >&2
        exit 1
    }
done
[ -S "$ex/run/lmtp" ] || {
    echo "no LMTP socket" >&2
    exit 1
}
# Inside the namespace, the connect lines printed work (plaintext is
# "never" in the example: STARTTLS and implicit TLS with the generated
# certificate).
ns=(nsenter --net="/proc/$ex_pid/ns/net")
while read -r hint; do
    echo "it prints: $hint"
    "${ns[@]}" bash -c "$hint -sS --max-time 20" | grep -q INBOX
done < <(sed -n 's/.*connect with: //p' "$ex/log")
[ "$(sed -n 's/.*connect with: //p' "$ex/log" | wc -l)" -ge 4 ]
kill -TERM "$ex_pid"
wait "$ex_pid"
echo "example configuration: OK"

step "a full disk: refused writes, and a start on the full disk serves reads"
disk="$work/disk"
mkdir -p "$disk"
mount -t tmpfs -o size=6m tmpfs "$disk"
mounted="$disk"
port=$(free_port)
lmtp_port=$(free_port)
cat >"$work/full.toml" <<EOF
data_dir = "$disk/data"
[imap]
listen = ["127.0.0.1:$port"]
[lmtp]
listen = ["127.0.0.1:$lmtp_port"]
[auth]
argon2_memory_kib = 64
argon2_iterations = 1
EOF
"$bin" --config "$work/full.toml" serve --first-user alice >"$work/full.log" 2>&1 &
full_pid=$!
pids+=("$full_pid")
wait_for_text "$work/full.log" "connect with: " "$full_pid"
password=$(sed -n 's/.*Created account alice with password //p' "$work/full.log")
python3 - "$port" "$lmtp_port" "$password" <<'PY' || { cat "$work/full.log" >&2; exit 1; }
import imaplib, smtplib, sys
port, lmtp_port, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
m = imaplib.IMAP4("127.0.0.1", port)
m.login("alice", password)
refused = None
for i in range(5000):
    # Large ones become files, small ones live in the database: both fill.
    size = 200_000 if i % 3 == 0 else 3_000
    body = (b"Subject: fill %d\r\n\r\n" % i) + b"x" * size
    typ, data = m.append("INBOX", None, None, body)
    if typ != "OK":
        refused = data[0].decode()
        break
assert refused is not None, "the disk never filled"
assert refused.startswith("[OVERQUOTA]"), refused
# Then small ones until the database itself has no room.
for j in range(20000):
    typ, data = m.append("INBOX", None, None, b"Subject: small %d\r\n\r\n" % j + b"z" * 2_000)
    if typ != "OK":
        assert data[0].decode().startswith("[OVERQUOTA]"), data
        break
else:
    raise AssertionError("the database never filled")
stored = i + j
# LMTP: a temporary refusal (452), so that the MTA keeps the mail.
lmtp = smtplib.LMTP("127.0.0.1", lmtp_port)
lmtp.ehlo_or_helo_if_needed = lambda: None
code, _ = lmtp.docmd("LHLO", "test")
assert code == 250
lmtp.docmd("MAIL FROM:<a@example.org>")
lmtp.docmd("RCPT TO:<alice>")
code, _ = lmtp.docmd("DATA")
assert code == 354, code
lmtp.send(b"Subject: big\r\n\r\n" + b"y" * 3_000_000 + b"\r\n.\r\n")
code, msg = lmtp.getreply()
assert code == 452, (code, msg)
print(f"stored {stored} messages, then: NO {refused}; LMTP: {code} {msg.decode()}")
m.logout()
PY
kill -TERM "$full_pid"
wait "$full_pid" || true
df -h "$disk" | tail -1
"$bin" --config "$work/full.toml" serve >"$work/full2.log" 2>&1 &
full_pid=$!
pids+=("$full_pid")
wait_for_text "$work/full2.log" "connect with: " "$full_pid"
python3 - "$port" "$password" <<'PY' || { cat "$work/full2.log" >&2; exit 1; }
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login("alice", sys.argv[2])
typ, data = m.select("INBOX")
assert typ == "OK" and int(data[0]) > 10, data
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
assert typ == "OK" and b"fill 0" in data[0][1], data
typ, data = m.search(None, "SUBJECT", "fill")
assert typ == "OK" and len(data[0].split()) > 10, data
print(f"after a restart on the full disk: SELECT {data and typ}, {int(m.select('INBOX')[1][0])} messages readable")
m.logout()
PY
kill -TERM "$full_pid"
wait "$full_pid"
grep -h "disk full" "$work/full2.log" || true
echo "full disk: OK"
