#!/usr/bin/env python3
"""kill -9 under concurrent writes, restart, and check every acknowledged
write: nothing answered OK (IMAP) or 250 (LMTP) may be lost.

usage: crash.py CRISPIN_BINARY WORK_DIR [ROUNDS] [SECONDS_PER_ROUND]

Per round, against one server:
  - APPEND writers into `app`'s INBOX: each acknowledged message's UID
    (APPENDUID), bytes (SHA-256) and Message-ID are recorded;
  - LMTP writers to `lmtp`: each 250 records the Message-ID and the body;
  - on `flags` (filled before the first round): STORE writers adding
    keywords to even UIDs, an EXPUNGE writer removing odd UIDs
    (STORE \\Deleted, then UID EXPUNGE of that UID);
then the server is killed with SIGKILL mid-load and started again, and
every acknowledged write is checked: the bytes by hash at their UID, UIDs
increasing in the order APPENDs were acknowledged on a connection, each
Message-ID found by SEARCH exactly once, every acknowledged keyword still
set, every acknowledged expunge gone.
"""

import hashlib
import imaplib
import os
import random
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time

PASSWORD = "crash-pw"
USERS = ["app", "lmtp", "flags"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, binary, work):
        self.binary, self.work = binary, work
        self.imap, self.lmtp = free_port(), free_port()
        self.config = os.path.join(work, "crispin.toml")
        with open(self.config, "w") as f:
            f.write(
                f'data_dir = "{work}/data"\n'
                f'[imap]\nlisten = ["127.0.0.1:{self.imap}"]\n'
                f'[lmtp]\nlisten = ["127.0.0.1:{self.lmtp}"]\n'
                "[auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\n"
            )
        self.proc = None

    def run(self, *args, stdin=""):
        return subprocess.run(
            [self.binary, "--config", self.config, *args],
            input=stdin.encode(),
            capture_output=True,
            check=True,
        )

    def start(self):
        log = open(os.path.join(self.work, "server.log"), "ab")
        self.proc = subprocess.Popen(
            [self.binary, "--config", self.config, "serve"], stderr=log, stdout=log
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"the server exited at start: {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.imap), timeout=1).close()
                socket.create_connection(("127.0.0.1", self.lmtp), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit("the server did not start within 60 s")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0

    def login(self, user):
        m = imaplib.IMAP4("127.0.0.1", self.imap)
        m.login(user, PASSWORD)
        return m


class Record:
    """What the server acknowledged, appended to under a lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.appended = []  # (uid, sha256, message_id)
        self.append_orders = []  # per connection: UIDs in ack order
        self.delivered = []  # (message_id, body)
        self.keywords = {}  # uid -> set of keywords
        self.expunged = set()
        self.errors = []


def message(kind, n, size):
    mid = f"<{kind}-{n}-{random.getrandbits(48):x}@crash.test>"
    body = "".join(random.choice("abcdefghij \n") for _ in range(size)).replace("\n", "\r\n")
    data = (
        f"From: crash@test\r\nSubject: {kind} {n}\r\nMessage-ID: {mid}\r\n\r\n{body}\r\n"
    ).encode()
    return mid, data, f"{body}\r\n".encode()


def appender(server, rec, stop, wid):
    order = []
    try:
        m = server.login("app")
        n = 0
        while not stop.is_set():
            n += 1
            mid, data, _ = message(f"a{wid}", n, random.choice([200, 3000, 150_000]))
            typ, resp = m.append("INBOX", None, None, data)
            if typ != "OK":
                raise AssertionError(f"APPEND: {typ} {resp}")
            uid = int(re.search(rb"APPENDUID \d+ (\d+)", resp[0]).group(1))
            order.append(uid)
            with rec.lock:
                rec.appended.append((uid, hashlib.sha256(data).hexdigest(), mid))
    except (OSError, imaplib.IMAP4.abort, EOFError):
        pass  # the server was killed
    except Exception as e:  # noqa: BLE001 - any other failure fails the test
        rec.errors.append(f"appender {wid}: {e!r}")
    with rec.lock:
        rec.append_orders.append(order)


def deliverer(server, rec, stop, wid):
    try:
        n = 0
        while not stop.is_set():
            lmtp = smtplib.LMTP("127.0.0.1", server.lmtp, timeout=30)
            for _ in range(20):
                n += 1
                mid, data, body = message(f"l{wid}", n, random.choice([300, 5000]))
                refused = lmtp.sendmail("sender@crash.test", ["lmtp@crash.test"], data)
                if refused:
                    raise AssertionError(f"LMTP refused: {refused}")
                with rec.lock:
                    rec.delivered.append((mid, body))
                if stop.is_set():
                    break
            lmtp.quit()
    except (OSError, smtplib.SMTPServerDisconnected, smtplib.SMTPDataError, EOFError):
        pass
    except Exception as e:  # noqa: BLE001
        rec.errors.append(f"deliverer {wid}: {e!r}")


def flagger(server, rec, stop, wid, uids):
    try:
        m = server.login("flags")
        m.select("INBOX")
        n = 0
        while not stop.is_set():
            n += 1
            uid = random.choice(uids)
            # A pool of 100 names per writer: the mailbox holds at most 256
            # keywords (NO [LIMIT] beyond), and 200 UIDs x 200 names still
            # makes nearly every STORE a new (UID, keyword) pair to check.
            kw = f"k{wid}x{n % 100}"
            typ, resp = m.uid("STORE", str(uid), "+FLAGS.SILENT", f"({kw})")
            if typ != "OK":
                raise AssertionError(f"STORE: {typ} {resp}")
            with rec.lock:
                rec.keywords.setdefault(uid, set()).add(kw)
    except (OSError, imaplib.IMAP4.abort, EOFError):
        pass
    except Exception as e:  # noqa: BLE001
        rec.errors.append(f"flagger {wid}: {e!r}")


def expunger(server, rec, stop, uids):
    try:
        m = server.login("flags")
        m.select("INBOX")
        for uid in uids:
            if stop.is_set():
                break
            typ, resp = m.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)")
            if typ != "OK":
                raise AssertionError(f"STORE: {typ} {resp}")
            typ, resp = m.uid("EXPUNGE", str(uid))
            if typ != "OK":
                raise AssertionError(f"UID EXPUNGE: {typ} {resp}")
            with rec.lock:
                rec.expunged.add(uid)
    except (OSError, imaplib.IMAP4.abort, EOFError):
        pass
    except Exception as e:  # noqa: BLE001
        rec.errors.append(f"expunger: {e!r}")


def fetch_all(m, items):
    """UID -> {item: bytes} for every message, in one FETCH."""
    typ, data = m.uid("FETCH", "1:*", items)
    assert typ == "OK", data
    out = {}
    uid = None
    for part in data:
        if not isinstance(part, tuple):
            continue
        head = part[0].decode()
        # imaplib splits a response with two literals: the second part's
        # head continues the first's message.
        if found := re.search(r"UID (\d+)", head):
            uid = int(found.group(1))
        name = "TEXT" if "BODY[TEXT]" in head else "HEADER" if "HEADER" in head else "ALL"
        out.setdefault(uid, {})[name] = part[1]
    return out


def verify(server, rec):
    problems = []
    m = server.login("app")
    m.select("INBOX", readonly=True)
    for order in rec.append_orders:
        if order != sorted(order) or len(set(order)) != len(order):
            problems.append(f"APPEND UIDs out of order on one connection: {order[:20]}")
    stored = fetch_all(m, "(UID BODY.PEEK[])")
    for uid, digest, mid in rec.appended:
        body = stored.get(uid, {}).get("ALL")
        if body is None or hashlib.sha256(body).hexdigest() != digest:
            problems.append(f"acknowledged APPEND lost or changed: UID {uid} {mid}")
    # One Message-ID in ten by SEARCH (the index must agree with the mail).
    for uid, _, mid in rec.appended[::10]:
        typ, data = m.uid("SEARCH", "HEADER", "Message-ID", mid)
        if typ != "OK" or data[0].split() != [str(uid).encode()]:
            problems.append(f"SEARCH Message-ID {mid}: {data}")
    m.logout()
    m = server.login("lmtp")
    m.select("INBOX", readonly=True)
    by_id = {}
    for uid, parts in fetch_all(
        m, "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)] BODY.PEEK[TEXT])"
    ).items():
        mid = parts.get("HEADER", b"").decode().split(":", 1)[-1].strip()
        by_id.setdefault(mid, []).append(parts.get("TEXT"))
    for mid, body in rec.delivered:
        found = by_id.get(mid, [])
        if len(found) != 1 or found[0] != body:
            problems.append(f"acknowledged LMTP delivery {mid}: {len(found)} copies")
    for mid, _ in rec.delivered[::10]:
        typ, data = m.uid("SEARCH", "HEADER", "Message-ID", mid)
        if typ != "OK" or len(data[0].split()) != 1:
            problems.append(f"SEARCH Message-ID {mid}: {data}")
    m.logout()
    m = server.login("flags")
    m.select("INBOX", readonly=True)
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS)")
    flags = {}
    for line in data:
        text = line.decode() if isinstance(line, bytes) else ""
        if found := re.search(r"UID (\d+)", text):
            flags[int(found.group(1))] = text
    for uid, kws in rec.keywords.items():
        missing = [k for k in kws if k not in flags.get(uid, "").split("FLAGS", 1)[-1].replace("(", " ").replace(")", " ").split()]
        if missing:
            problems.append(f"acknowledged keywords lost on UID {uid}: {missing[:5]}")
    for uid in rec.expunged:
        if uid in flags:
            problems.append(f"acknowledged expunge of UID {uid} undone")
    m.logout()
    return problems


def main():
    binary, work = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 10
    random.seed(os.getpid())
    server = Server(binary, work)
    for user in USERS:
        server.run("user", "add", user, stdin=PASSWORD + "\n")
    server.start()
    m = server.login("flags")
    for i in range(400):
        m.append("INBOX", None, None, message("f", i, 100)[1])
    m.logout()
    flag_uids = list(range(2, 401, 2))
    expunge_uids = list(range(1, 401, 2))
    random.shuffle(expunge_uids)
    totals = [0, 0, 0, 0]
    for r in range(rounds):
        rec = Record()
        stop = threading.Event()
        workers = [threading.Thread(target=appender, args=(server, rec, stop, i)) for i in range(3)]
        workers += [threading.Thread(target=deliverer, args=(server, rec, stop, i)) for i in range(2)]
        workers += [
            threading.Thread(target=flagger, args=(server, rec, stop, i, flag_uids)) for i in range(2)
        ]
        per_round = expunge_uids[r * 60 : (r + 1) * 60]
        workers.append(threading.Thread(target=expunger, args=(server, rec, stop, per_round)))
        for w in workers:
            w.start()
        # The kill lands at a moment nobody chose: mid-commit, mid-file.
        time.sleep(seconds * random.uniform(0.7, 1.0))
        server.kill()
        stop.set()
        for w in workers:
            w.join(timeout=60)
        if rec.errors:
            sys.exit("round %d: %s" % (r + 1, "; ".join(rec.errors)))
        server.start()
        problems = verify(server, rec)
        counts = [len(rec.appended), len(rec.delivered),
                  sum(len(k) for k in rec.keywords.values()), len(rec.expunged)]
        totals = [a + b for a, b in zip(totals, counts)]
        print(
            f"round {r + 1}: killed after {counts[0]} APPENDs, {counts[1]} LMTP deliveries, "
            f"{counts[2]} keyword STOREs, {counts[3]} expunges acknowledged; "
            f"{len(problems)} lost"
        )
        if problems:
            for p in problems[:20]:
                print("  " + p)
            sys.exit(1)
    # The checker must be able to fail: lose one acknowledged APPEND and
    # one keyword on purpose, and it must name both.
    uid, _, mid = rec.appended[len(rec.appended) // 2]
    m = server.login("app")
    m.select("INBOX")
    m.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)")
    m.uid("EXPUNGE", str(uid))
    m.logout()
    flagged, kws = next(iter(rec.keywords.items()))
    m = server.login("flags")
    m.select("INBOX")
    m.uid("STORE", str(flagged), "-FLAGS.SILENT", f"({next(iter(kws))})")
    m.logout()
    problems = verify(server, rec)
    assert any(f"UID {uid} {mid}" in p for p in problems), problems
    assert any(f"keywords lost on UID {flagged}" in p for p in problems), problems
    server.stop()
    if totals[0] == 0 or totals[1] == 0 or totals[2] == 0 or totals[3] == 0:
        sys.exit(f"some kind of write was never acknowledged: {totals}")
    print(f"all {sum(totals)} acknowledged writes survived {rounds} kill -9s")


if __name__ == "__main__":
    main()
