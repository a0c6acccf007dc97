#!/usr/bin/env bash
# End to end with a real MTA: Debian's Postfix (installed if missing)
# accepts a message by SMTP on a loopback port and delivers it to Crispin
# by LMTP; a client idling on the INBOX must see it arrive, and the stored
# message must carry Postfix's trace and our Delivered-To header.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
# shellcheck source=tests/lib.sh
. "$here/../lib.sh"

# The machine is left as it was found: the system's own Postfix, which
# installing the package may start, is stopped again afterwards unless it
# was running before.
system_postfix_was_running=no
if ! command -v postfix >/dev/null; then
  echo "installing postfix"
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq postfix >/dev/null
elif postfix status >/dev/null 2>&1; then
  system_postfix_was_running=yes
fi

cargo build -q -p crispin
target_dir=$(target_dir)
bin="$target_dir/debug/crispin"

work=$(mktemp -d /tmp/crispin-postfix.XXXXXX)
chmod 755 "$work"
server_pid=""
pfconf="$work/postfix"
cleanup() {
  postfix -c "$pfconf" stop >/dev/null 2>&1 || true
  if [ "$system_postfix_was_running" = no ] && postfix status >/dev/null 2>&1; then
    postfix stop >/dev/null 2>&1 || true
  fi
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

imap_port=$(free_port)
lmtp_port=$(free_port)
smtp_port=$(free_port)

cat >"$work/crispin.toml" <<CONF
data_dir = "$work/data"
[imap]
listen = ["127.0.0.1:$imap_port"]
[lmtp]
listen = ["127.0.0.1:$lmtp_port"]
[auth]
argon2_memory_kib = 64
argon2_iterations = 1
CONF
printf 'alice-pw\n' | "$bin" --config "$work/crispin.toml" user add alice >/dev/null
"$bin" --config "$work/crispin.toml" serve >"$work/crispin.log" 2>&1 &
server_pid=$!

# Postfix with a configuration and queue of its own, on loopback only.
mkdir -p "$pfconf" "$work/spool" "$work/pfdata"
chown postfix "$work/pfdata"
cat >"$pfconf/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $work/spool
data_directory = $work/pfdata
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.org
mydomain = example.org
myorigin = example.org
mydestination = example.org
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# Every recipient in example.org goes to Crispin by LMTP, which decides
# who exists (550 5.1.1 otherwise).
local_recipient_maps =
local_transport = lmtp:inet:127.0.0.1:$lmtp_port
alias_maps =
alias_database =
smtputf8_enable = no
biff = no
maillog_file_prefixes = /tmp
maillog_file = $work/maillog
CONF
sed "s/^smtp      inet  n       -       y       -       -       smtpd/127.0.0.1:$smtp_port inet n - n - - smtpd/" \
  /etc/postfix/master.cf >"$pfconf/master.cf"
postconf -c "$pfconf" -F '*/*/chroot = n'
postfix -c "$pfconf" post-install create-missing >/dev/null 2>&1
postfix -c "$pfconf" start >/dev/null 2>&1

status=0
python3 - "$imap_port" "$smtp_port" <<'PY' || status=1
import imaplib, smtplib, socket, sys, time
imap_port, smtp_port = int(sys.argv[1]), int(sys.argv[2])

def wait_port(port):
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"port {port} did not open")
            time.sleep(0.1)

wait_port(imap_port)
wait_port(smtp_port)
m = imaplib.IMAP4("127.0.0.1", imap_port, timeout=60)
m.login("alice", "alice-pw")
typ, data = m.select("INBOX")
assert data == [b"0"], data
tag = m._new_tag().decode()
m.send(f"{tag} IDLE\r\n".encode())
assert m.readline().startswith(b"+"), "no IDLE continuation"

msg = (b"From: Sender <sender@elsewhere.net>\r\nTo: alice@example.org\r\n"
       b"Subject: through postfix\r\nMessage-ID: <pf-1@elsewhere.net>\r\n\r\n"
       b"Hello via SMTP, Postfix and LMTP.\r\n")
with smtplib.SMTP("127.0.0.1", smtp_port, timeout=60) as s:
    refused = s.sendmail("sender@elsewhere.net", ["alice@example.org"], msg)
    assert refused == {}, refused

# The idling client learns of the message without asking (bounded wait).
m.sock.settimeout(60)
line = m.readline()
while b"EXISTS" not in line:
    line = m.readline()
assert line.strip() == b"* 1 EXISTS", line
m.send(b"DONE\r\n")
while not m.readline().startswith(tag.encode()):
    pass
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (DELIVERED-TO RETURN-PATH SUBJECT RECEIVED)] BODY.PEEK[TEXT])")
assert typ == "OK", data
headers, text = data[0][1], data[1][1]
assert b"Delivered-To: alice@example.org" in headers, headers
assert b"Return-Path: <sender@elsewhere.net>" in headers, headers
assert b"Subject: through postfix" in headers, headers
assert b"by mx.example.org (Postfix)" in headers, headers
assert text == b"Hello via SMTP, Postfix and LMTP.\r\n", text

# An unknown recipient is refused at RCPT time by Postfix only if it asks;
# with LMTP behind it, Postfix bounces it: Crispin must have said 550.
with smtplib.SMTP("127.0.0.1", smtp_port, timeout=60) as s:
    s.sendmail("sender@elsewhere.net", ["nobody@example.org"], msg)
m.logout()
print("postfix end-to-end: ok")
PY

# The bounce for nobody@ shows Crispin's permanent refusal in Postfix's log.
for _ in $(seq 1 100); do
  grep -q "nobody@example.org.*550 5.1.1" "$work/maillog" 2>/dev/null && break
  sleep 0.2
done
if ! grep -q "nobody@example.org.*550 5.1.1" "$work/maillog" 2>/dev/null; then
  echo "FAIL: no 550 5.1.1 for the unknown recipient in Postfix's log"
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "--- postfix log ---"; cat "$work/maillog" 2>/dev/null || true
  echo "--- crispin log ---"; tail -50 "$work/crispin.log"
fi
exit "$status"
