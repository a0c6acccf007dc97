#!/usr/bin/env bash
# Crispin and Debian's Dovecot side by side on the same workload.
#
# Installs dovecot-imapd and dovecot-lmtpd if missing, writes a Dovecot
# configuration in a temporary directory (loopback ports, passwd-file users,
# Maildir, its default durability settings, its high-performance login
# mode), builds and starts Crispin (release) with an equivalent
# configuration, creates the same accounts with the same argon2id password
# hashes in both, loads the same corpus the same way into both, runs every
# crispin-bench scenario against both (PASSES passes, medians reported),
# runs `mixed` against Dovecot's stock login mode too, and prints one table
# (also written as markdown to RESULTS). Both servers are stopped on exit.
#
# Needs root (apt-get, a system user for Dovecot's mail processes, raising
# fs.inotify.max_user_instances for Dovecot's idlers), python3, cargo.
#
# Knobs (environment):
#   MESSAGES=100000       messages in the big mailbox
#   IDLERS=5000           idle connections
#   PASSES=3              passes of each scenario (medians are reported)
#   DURATION=20           seconds per `mixed` client count and mode
#   INGEST_DURATION=$DURATION  seconds per `ingest` combination
#   BIN_DIR=              take crispin and crispin-bench from here (a saved
#                         build, to compare two) instead of building them
#   MIX_CLIENTS=10,50     client counts for `mixed`
#   MIX_MESSAGES=200      messages in each `mixed` user's INBOX
#   INGEST_WRITERS=1,10   writer counts for `ingest`
#   LOAD_VIA=append       how the corpus is loaded: append (pipelined) or lmtp
#   LOAD_CONNECTIONS=1    connections used for loading the big mailbox (more
#                         slow Dovecot down: they contend for its one Maildir)
#   SEED=42               corpus seed
#   ARGON2_MEMORY_KIB=1024 ARGON2_ITERATIONS=2   password hash cost; both servers
#                         verify the very same argon2id hashes. Not Crispin's default
#                         (19456 KiB): with it, Crispin's resident memory grows by about
#                         that much per concurrent login (see the report), which thousands
#                         of idlers turn into tens of GiB.
#   SCENARIOS="bigmailbox mixed ingest idle stress"   which scenarios to run
#   STRESS_CLIENTS=10 STRESS_USERS=100 STRESS_MESSAGES=30   `stress` (imaptest's
#                         default profile): clients, accounts (random picks, so
#                         some share one), messages per INBOX. Its accounts get
#                         Crispin's DEFAULT argon2id cost (both servers verify the
#                         very hashes); Dovecot runs it also with mail_fsync = always
#   SERVERS="crispin dovecot"   "crispin" alone compares builds (BIN_DIR) without Dovecot
#   STOCK_LOGIN=1         also run `mixed` against Dovecot's stock login mode
#   RESULTS=bench/results/latest.md   where the markdown table goes
#   KEEP_WORK=0           1: keep the temporary directory (data, logs, JSON)
#   WORK_DIR              where to put it (default: a new /var/tmp/crispin-vs-dovecot.*)
#
# Quick run:  MESSAGES=5000 IDLERS=500 PASSES=1 DURATION=5 bench/vs-dovecot.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

MESSAGES=${MESSAGES:-100000}
IDLERS=${IDLERS:-5000}
PASSES=${PASSES:-3}
DURATION=${DURATION:-20}
INGEST_DURATION=${INGEST_DURATION:-$DURATION}
MIX_CLIENTS=${MIX_CLIENTS:-10,50}
MIX_MESSAGES=${MIX_MESSAGES:-200}
INGEST_WRITERS=${INGEST_WRITERS:-1,10}
LOAD_VIA=${LOAD_VIA:-append}
LOAD_CONNECTIONS=${LOAD_CONNECTIONS:-1}
SEED=${SEED:-42}
ARGON2_MEMORY_KIB=${ARGON2_MEMORY_KIB:-1024}
ARGON2_ITERATIONS=${ARGON2_ITERATIONS:-2}
SCENARIOS=${SCENARIOS:-bigmailbox mixed ingest idle stress}
STRESS_CLIENTS=${STRESS_CLIENTS:-10}
STRESS_USERS=${STRESS_USERS:-100}
STRESS_MESSAGES=${STRESS_MESSAGES:-30}
SERVERS=${SERVERS:-crispin dovecot}
STOCK_LOGIN=${STOCK_LOGIN:-1}
RESULTS=${RESULTS:-bench/results/latest.md}
KEEP_WORK=${KEEP_WORK:-0}
PASSWORD=${BENCH_PASSWORD:-bench-pw-$RANDOM$RANDOM}
DOVECOT_USER=crispin-dovebench
CORES=$(nproc)

step() { printf '\n==> %s\n' "$*"; }
die() {
    echo "vs-dovecot: $*" >&2
    exit 1
}
has_scenario() { [[ " $SCENARIOS " == *" $1 "* ]]; }
with_dovecot() { [[ " $SERVERS " == *" dovecot "* ]]; }

[ "$(id -u)" -eq 0 ] || die "run me as root (apt-get, useradd, Dovecot)"
command -v python3 >/dev/null || die "python3 is needed"

# ---------------------------------------------------------------- install
if with_dovecot && { [ ! -x /usr/sbin/dovecot ] || [ ! -x /usr/lib/dovecot/imap ] || [ ! -x /usr/lib/dovecot/lmtp ]; }; then
    step "installing dovecot-imapd dovecot-lmtpd"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd dovecot-lmtpd
fi
if with_dovecot && ! id "$DOVECOT_USER" >/dev/null 2>&1; then
    step "creating system user $DOVECOT_USER for Dovecot's mail processes"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$DOVECOT_USER"
fi
mail_uid=$(id -u "$DOVECOT_USER" 2>/dev/null || echo 0)
mail_gid=$(id -g "$DOVECOT_USER" 2>/dev/null || echo 0)
dovecot_version=$(dovecot --version 2>/dev/null || echo unknown)

# ---------------------------------------------------------------- build
if [ -n "${BIN_DIR:-}" ]; then
    bin_dir=$BIN_DIR
else
    step "cargo build --release -p crispin -p crispin-bench"
    cargo build --release -p crispin -p crispin-bench
    bin_dir=$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release
fi
crispin="$bin_dir/crispin"
bench="$bin_dir/crispin-bench"
[ -x "$crispin" ] && [ -x "$bench" ] || die "binaries missing in $bin_dir"

# ---------------------------------------------------------------- work dir, cleanup
work=${WORK_DIR:-$(mktemp -d /var/tmp/crispin-vs-dovecot.XXXXXX)}
mkdir -p "$work"
chmod 755 "$work"
raw="$work/raw"
mkdir -p "$raw"
crispin_pid=""
dovecot_conf=""
old_inotify=""
cleanup() {
    set +e
    if [ -n "$crispin_pid" ] && kill -0 "$crispin_pid" 2>/dev/null; then
        kill -TERM "$crispin_pid"
        timeout 40 tail --pid="$crispin_pid" -f /dev/null || kill -KILL "$crispin_pid"
    fi
    stop_dovecot
    if [ -n "$old_inotify" ]; then
        echo "$old_inotify" >/proc/sys/fs/inotify/max_user_instances 2>/dev/null
    fi
    if [ "$KEEP_WORK" = 1 ]; then
        echo "kept $work"
    else
        rm -rf "$work"
    fi
}
stop_dovecot() {
    local pidfile="$work/dovecot/run/master.pid" pid
    if [ -f "$pidfile" ]; then
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            timeout 40 tail --pid="$pid" -f /dev/null || kill -KILL "$pid"
        fi
        rm -f "$pidfile"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Many connections: as many open files as we may have (children inherit).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge $((IDLERS + 200)) ] ||
    echo "warning: ulimit -n is $(ulimit -n), low for $IDLERS idlers" >&2

# Dovecot's imap processes take inotify instances to IDLE (two each,
# measured: 5,512 were too few for 5,000 idlers); beyond the per-user limit
# they fall back to polling every 30 s.
want_inotify=$((4 * IDLERS + 1024))
cur_inotify=$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 0)
if [ "$cur_inotify" -lt "$want_inotify" ]; then
    if echo "$want_inotify" >/proc/sys/fs/inotify/max_user_instances 2>/dev/null; then
        old_inotify=$cur_inotify
    else
        echo "warning: cannot raise fs.inotify.max_user_instances ($cur_inotify): Dovecot's idlers beyond it will poll" >&2
    fi
fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
    python3 - "$1" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(f"nothing listens on port {port} after 60 s")
EOF
}

c_imap=$(free_port)
c_lmtp=$(free_port)
d_imap=$(free_port)
d_lmtp=$(free_port)

max_of() { tr ',' '\n' <<<"$1" | sort -n | tail -1; }
max_clients=$(max_of "$MIX_CLIENTS")
max_writers=$(max_of "$INGEST_WRITERS")
users="big idle"
for k in $(seq 1 "$max_clients"); do users="$users mix$k"; done
for k in $(seq 1 "$max_writers"); do users="$users ingest$k"; done
mix_users=$(for k in $(seq 1 "$max_clients"); do printf 'mix%s,' "$k"; done)
mix_users=${mix_users%,}
stress_users=""
if has_scenario stress; then
    stress_users=$(for k in $(seq 1 "$STRESS_USERS"); do printf 'stress%s,' "$k"; done)
    stress_users=${stress_users%,}
fi

# ---------------------------------------------------------------- Crispin
step "Crispin: configuration, $(wc -w <<<"$users") accounts"
mkdir -p "$work/crispin"
cat >"$work/crispin/crispin.toml" <<EOF
data_dir = "$work/crispin/data"
log = "info"

[imap]
listen = ["127.0.0.1:$c_imap"]

[lmtp]
listen = ["127.0.0.1:$c_lmtp"]

[tls]
enabled = false

[limits]
max_connections_per_ip = $((IDLERS + 1000))
max_connections_per_user_ip = $((IDLERS + 100))

[auth]
plaintext = "always"
argon2_memory_kib = $ARGON2_MEMORY_KIB
argon2_iterations = $ARGON2_ITERATIONS
EOF
for u in $users; do
    printf '%s\n' "$PASSWORD" | "$crispin" --config "$work/crispin/crispin.toml" user add "$u" >/dev/null
done
# The stress accounts at Crispin's default cost (the config above without
# its [auth] overrides), as an installation's users have.
sed '/^argon2_/d' "$work/crispin/crispin.toml" >"$work/crispin/default-cost.toml"
for u in ${stress_users//,/ }; do
    printf '%s\n' "$PASSWORD" | "$crispin" --config "$work/crispin/default-cost.toml" user add "$u" >/dev/null
    users="$users $u"
done

# ---------------------------------------------------------------- Dovecot
dd="$work/dovecot"
if with_dovecot; then
step "Dovecot $dovecot_version: configuration, the same accounts and password hashes"
mkdir -p "$dd/home" "$dd/state"
# The same argon2id hashes Crispin stored: both servers verify the same.
python3 - "$work/crispin/data/crispin.db" "$dd/users" "$mail_uid" "$mail_gid" "$dd/home" <<'EOF'
import sqlite3, sys
db, out, uid, gid, home = sys.argv[1:]
rows = sqlite3.connect(db).execute("SELECT name, password_hash FROM accounts").fetchall()
with open(out, "w") as f:
    for name, h in rows:
        if not h.startswith("$argon2id$"):
            sys.exit(f"unexpected hash for {name}: {h[:12]}")
        f.write(f"{name}:{{ARGON2ID}}{h}:{uid}:{gid}::{home}/{name}::\n")
EOF
# Dovecot's auth process reads it as its internal user (dovecot).
chown "root:$(id -gn dovecot 2>/dev/null || echo root)" "$dd/users"
chmod 640 "$dd/users"
for u in $users; do mkdir -p "$dd/home/$u"; done
chown -R "$mail_uid:$mail_gid" "$dd/home"

fi
# $1: "fast" (high-performance login), "stock", or "fsync" (fast, with
# mail_fsync = always: Crispin's durability).
write_dovecot_conf() {
    local login_mode fsync="optimized"
    [ "$1" = fsync ] && fsync="always"
    if [ "$1" = fast ] || [ "$1" = fsync ]; then
        login_mode="  # High-performance mode: login processes serve many clients each.
  service_count = 0
  process_min_avail = $CORES
  client_limit = $((IDLERS + 1000))"
    else
        login_mode="  # Stock mode: one login process per connection (service_count = 1)."
    fi
    cat >"$dd/dovecot-$1.conf" <<EOF
# Written by crispin bench/vs-dovecot.sh ($1 login mode).
base_dir = $dd/run
state_dir = $dd/state
instance_name = crispin-bench-dovecot
protocols = imap lmtp
listen = 127.0.0.1
log_path = $dd/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Ln
postmaster_address = postmaster@localhost
first_valid_uid = $mail_uid
first_valid_gid = $mail_gid
mail_location = maildir:~/Maildir
# Durability: Dovecot's defaults (mail_fsync = optimized: fsync on save).
# Dovecot is the only program touching these Maildirs: its documented
# Maildir performance setting lets it skip re-reading the directories after
# its own changes (without it, loading 50,000 messages ran at 28 msgs/s as
# each APPEND re-read a directory of all the messages before it).
maildir_very_dirty_syncs = yes
mail_fsync = $fsync

passdb {
  driver = passwd-file
  args = scheme=ARGON2ID $dd/users
}
userdb {
  driver = passwd-file
  args = $dd/users
}

default_vsz_limit = 1G
default_process_limit = $((IDLERS + 500))
default_client_limit = $((2 * IDLERS + 2000))

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $d_imap
  }
  inet_listener imaps {
    port = 0
  }
$login_mode
}
service imap {
  process_limit = $((IDLERS + 500))
}
service auth {
  client_limit = $((3 * (IDLERS + 500) + 1000))
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $d_lmtp
  }
}
protocol imap {
  mail_max_userip_connections = $((IDLERS + 100))
}
EOF
}
start_dovecot() {
    write_dovecot_conf "$1"
    dovecot_conf="$dd/dovecot-$1.conf"
    dovecot -c "$dovecot_conf"
    wait_port "$d_imap"
    wait_port "$d_lmtp"
}
dovecot_pid() { cat "$dd/run/master.pid"; }

if with_dovecot; then
    step "starting Dovecot (high-performance login mode) on 127.0.0.1:$d_imap, LMTP $d_lmtp"
    start_dovecot fast
fi
step "starting Crispin on 127.0.0.1:$c_imap, LMTP $c_lmtp"
"$crispin" --config "$work/crispin/crispin.toml" serve >"$work/crispin/server.log" 2>&1 &
crispin_pid=$!
wait_port "$c_imap"
wait_port "$c_lmtp"

# bench SERVER SCENARIO-FILE-NAME ARGS... : one crispin-bench run, never fatal.
bench_run() {
    local server=$1 name=$2
    shift 2
    local imap lmtp
    case $server in
    crispin) imap=$c_imap lmtp=$c_lmtp ;;
    *) imap=$d_imap lmtp=$d_lmtp ;;
    esac
    echo "--- $server: $name"
    "$bench" --imap "127.0.0.1:$imap" --lmtp "127.0.0.1:$lmtp" --password "$PASSWORD" \
        --seed "$SEED" --label "$server" --json "$raw/$server--$name.json" "$@" \
        >>"$work/bench-$server.log" 2>&1 ||
        echo "    FAILED (see $raw/$server--$name.json): $(tail -1 "$work/bench-$server.log")"
}

# ---------------------------------------------------------------- load
# Only what the chosen scenarios need.
for server in $SERVERS; do
    if has_scenario bigmailbox; then
        step "$server: loading $MESSAGES messages into big ($LOAD_VIA)"
        bench_run "$server" load-big load --user big --count "$MESSAGES" --via "$LOAD_VIA" \
            --connections "$LOAD_CONNECTIONS"
    fi
    if has_scenario mixed; then
        step "$server: loading $MIX_MESSAGES messages into each of mix1..mix$max_clients ($LOAD_VIA)"
        bench_run "$server" load-mix load --user "$mix_users" --count "$MIX_MESSAGES" \
            --via "$LOAD_VIA" --connections 2
    fi
    if has_scenario stress; then
        step "$server: loading $STRESS_MESSAGES messages into each of stress1..stress$STRESS_USERS"
        bench_run "$server" load-stress load --user "$stress_users" --count "$STRESS_MESSAGES" \
            --via "$LOAD_VIA" --connections 1
    fi
done

# ---------------------------------------------------------------- passes
for pass in $(seq 1 "$PASSES"); do
    for server in $SERVERS; do
        step "pass $pass/$PASSES: $server"
        if has_scenario bigmailbox; then
            bench_run "$server" "bigmailbox-p$pass" bigmailbox --user big --count "$MESSAGES"
        fi
        if has_scenario mixed; then
            bench_run "$server" "mixed-p$pass" mixed --clients "$MIX_CLIENTS" --mode both \
                --duration "$DURATION"
        fi
        if has_scenario ingest; then
            bench_run "$server" "ingest-p$pass" ingest --writers "$INGEST_WRITERS" \
                --via append,lmtp --duration "$INGEST_DURATION"
        fi
        if has_scenario stress; then
            bench_run "$server" "stress-p$pass" stress --clients "$STRESS_CLIENTS" \
                --users "$STRESS_USERS" --mode both --duration "$DURATION"
        fi
    done
done

# ---------------------------------------------------------------- idle
if has_scenario idle; then
    for server in $SERVERS; do
        step "$server: $IDLERS idlers, $PASSES deliveries (LMTP)"
        if [ "$server" = crispin ]; then pid=$crispin_pid; else pid=$(dovecot_pid); fi
        bench_run "$server" idle idle --connections "$IDLERS" --rounds "$PASSES" --via lmtp \
            --server-pid "$pid" --timeout 300
    done
fi

# ---------------------------------------------------------------- stock login
if with_dovecot && has_scenario stress; then
    step "Dovecot with mail_fsync = always (Crispin's durability): stress"
    stop_dovecot
    start_dovecot fsync
    for pass in $(seq 1 "$PASSES"); do
        bench_run dovecot-fsync "stress-p$pass" stress --clients "$STRESS_CLIENTS" \
            --users "$STRESS_USERS" --mode both --duration "$DURATION"
    done
fi
if with_dovecot && [ "$STOCK_LOGIN" = 1 ] && has_scenario mixed; then
    step "Dovecot in its stock login mode: mixed"
    stop_dovecot
    start_dovecot stock
    for pass in $(seq 1 "$PASSES"); do
        bench_run dovecot-stock "mixed-p$pass" mixed --clients "$MIX_CLIENTS" --mode both \
            --duration "$DURATION"
    done
fi

# ---------------------------------------------------------------- report
step "report"
mkdir -p "$(dirname "$RESULTS")"
fallbacks=$(grep -c "Inotify instance limit" "$dd/dovecot.log" 2>/dev/null || true)
cat >"$work/meta.json" <<EOF
{"messages": $MESSAGES, "idlers": $IDLERS, "passes": $PASSES, "duration": $DURATION,
 "ingest_duration": $INGEST_DURATION, "mix_clients": "$MIX_CLIENTS", "mix_messages": $MIX_MESSAGES,
 "load_via": "$LOAD_VIA", "seed": $SEED, "argon2": "m=$ARGON2_MEMORY_KIB,t=$ARGON2_ITERATIONS",
 "dovecot": "$dovecot_version", "cores": $CORES,
 "dovecot_inotify_fallbacks": ${fallbacks:-0},
 "inotify_max_user_instances": $(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 0),
 "cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//; s/"//g')",
 "date": "$(date -u '+%Y-%m-%d %H:%M UTC')"}
EOF
python3 "$here/report.py" "$raw" "$work/meta.json" "$RESULTS"
cp "$RESULTS" "$work/" 2>/dev/null || true
echo
echo "markdown: $RESULTS"
for s in crispin dovecot; do
    grep -h -i -E 'error|panic|fatal' "$work/bench-$s.log" 2>/dev/null | head -5 | sed "s/^/$s bench: /" || true
done
grep -i -E 'Error|Fatal|Panic' "$dd/dovecot.log" 2>/dev/null | head -5 | sed 's/^/dovecot log: /' || true
grep -E ' ERROR | WARN ' "$work/crispin/server.log" 2>/dev/null | head -5 | sed 's/^/crispin log: /' || true
