#!/usr/bin/env python3
"""A real client that uses CONDSTORE and QRESYNC: NeoMutt with its header
cache, `imap_condstore` and `imap_qresync` on (issue 15).

NeoMutt runs in a pseudo-terminal (pexpect). The first run fills its
header cache; then another client (imaplib) flags one message and
expunges another; the second run must resynchronise with
`SELECT … (QRESYNC …)`, learn of the expunge from `VANISHED (EARLIER)`
and of the flag from a FETCH carrying MODSEQ, and show what is left;
while it runs, a flag change made elsewhere must reach it with MODSEQ.
The protocol is read from NeoMutt's own debug log, the messages from its
screen.

Environment: IMAP_HOST, IMAP_PORT, IMAP_USER2, IMAP_PASSWORD2.
"""

import imaplib
import os
import re
import shutil
import sys
import tempfile
import time

import pexpect

HOST = os.environ.get("IMAP_HOST", "127.0.0.1")
PORT = int(os.environ["IMAP_PORT"])
USER = os.environ["IMAP_USER2"]
PASSWORD = os.environ["IMAP_PASSWORD2"]
SUBJECTS = ["nm-first", "nm-second", "nm-third"]


def imap():
    c = imaplib.IMAP4(HOST, PORT)
    c.login(USER, PASSWORD)
    return c


def muttrc(work):
    path = os.path.join(work, "muttrc")
    with open(path, "w") as f:
        f.write(
            f"""
set folder="imap://{USER}@{HOST}:{PORT}/"
set spoolfile="+INBOX"
set imap_user="{USER}"
set imap_pass="{PASSWORD}"
set ssl_starttls=no
set ssl_force_tls=no
set header_cache="{work}/hcache"
set imap_condstore=yes
set imap_qresync=yes
set mail_check=1
set timeout=1
set quit=yes
set sort=date-sent
set index_format="%4C %Z %s"
"""
        )
    return path


def run(rc, log, until_gone=None, during=None):
    """Starts NeoMutt, waits for the index, optionally acts while it runs,
    quits; returns the screen text it printed."""
    child = pexpect.spawn(
        "neomutt",
        ["-n", "-F", rc, "-d", "5", "-l", log],
        env={**os.environ, "TERM": "xterm", "LC_ALL": "C.UTF-8"},
        dimensions=(40, 120),
        encoding="utf-8",
        codec_errors="replace",
        timeout=30,
    )
    seen = ""
    try:
        child.expect("nm-", timeout=30)
        seen += child.before + child.after
        if during:
            during()
            # mail_check=1 and timeout=1: NeoMutt polls every second.
            deadline = time.time() + 20
            while time.time() < deadline:
                try:
                    child.expect(pexpect.TIMEOUT, timeout=1)
                except pexpect.EOF:
                    break
                seen += child.before or ""
                if until_gone and until_gone(log):
                    break
        else:
            time.sleep(2)
            try:
                child.expect(pexpect.TIMEOUT, timeout=1)
            except pexpect.EOF:
                pass
            seen += child.before or ""
        child.send("q")
        child.expect(pexpect.EOF, timeout=15)
        seen += child.before or ""
    finally:
        if child.isalive():
            child.terminate(force=True)
    return seen


def read(log):
    # NeoMutt appends a number to the log's name when it rotates; read all.
    text = ""
    d = os.path.dirname(log)
    for name in sorted(os.listdir(d)):
        if name.startswith(os.path.basename(log)):
            with open(os.path.join(d, name), errors="replace") as f:
                text += f.read()
    return text


def main():
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    work = tempfile.mkdtemp(prefix="crispin-neomutt.")
    try:
        c = imap()
        for s in SUBJECTS:
            msg = f"From: a@example.org\r\nSubject: {s}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nbody {s}\r\n"
            c.append("INBOX", None, None, msg.encode())
        c.logout()
        rc = muttrc(work)

        log1 = os.path.join(work, "run1", "log")
        os.makedirs(os.path.dirname(log1))
        screen = run(rc, log1)
        text = read(log1)
        check(all(s in screen for s in SUBJECTS), "first run shows the three messages")
        check("ENABLE QRESYNC" in text or "ENABLE CONDSTORE QRESYNC" in text,
              "NeoMutt enables QRESYNC (it saw the capability)")

        c = imap()
        c.select("INBOX")

        def uid_of(subject):
            typ, data = c.uid("SEARCH", "SUBJECT", subject)
            return int(data[0].split()[-1])

        flagged, gone, third = (uid_of(s) for s in SUBJECTS)
        c.uid("STORE", str(flagged), "+FLAGS", "(\\Flagged)")
        c.uid("STORE", str(gone), "+FLAGS", "(\\Deleted)")
        c.expunge()
        c.logout()

        def flag_elsewhere():
            c = imap()
            c.select("INBOX")
            c.uid("STORE", str(third), "+FLAGS", "(\\Answered)")
            c.logout()

        def saw_flag_push(log):
            return re.search(r"\* \d+ FETCH \(UID \d+ FLAGS \([^)]*\\Answered[^)]*\) MODSEQ \(\d+\)\)", read(log))

        log2 = os.path.join(work, "run2", "log")
        os.makedirs(os.path.dirname(log2))
        screen = run(rc, log2, until_gone=saw_flag_push, during=flag_elsewhere)
        text = read(log2)
        # NeoMutt resyncs with SELECT (CONDSTORE) and UID FETCH (CHANGEDSINCE
        # n VANISHED), or with SELECT (QRESYNC (...)): either is QRESYNC.
        check(re.search(r"SELECT \"?INBOX\"? \(QRESYNC \(\d+ \d+", text) is not None
              or re.search(r"UID FETCH \S+ \(FLAGS\) \(CHANGEDSINCE \d+ VANISHED\)", text) is not None,
              "second run resyncs with QRESYNC from its cached modseq")
        vanished = re.search(r"\* VANISHED \(EARLIER\) (\S+)", text)
        check(vanished is not None and str(gone) in re.split("[,:]", vanished.group(1)),
              f"the expunge arrives as VANISHED (EARLIER) {gone}")
        check(re.search(rf"\* \d+ FETCH \(UID {flagged} FLAGS \([^)]*\\Flagged[^)]*\) MODSEQ \(\d+\)\)", text) is not None,
              "the flag change arrives as FETCH with MODSEQ")
        check("FETCH 1:* (UID FLAGS)" not in text and "UID FETCH 1:* (UID FLAGS)" not in text,
              "no full flag resync")
        check("nm-first" in screen and "nm-third" in screen and "nm-second" not in screen,
              "the second run shows the two messages left")
        check(saw_flag_push(log2) is not None,
              "a flag change made elsewhere while it runs reaches it with MODSEQ")
    finally:
        if failures:
            for name in sorted(os.listdir(work)):
                print("kept", os.path.join(work, name))
        else:
            shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"{len(failures)} neomutt check(s) FAILED")
        sys.exit(1)
    print("neomutt checks passed")


if __name__ == "__main__":
    main()
