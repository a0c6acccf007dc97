#!/usr/bin/env python3
"""Real-client tests: Python's stdlib imaplib against a running Crispin.

Environment:
  IMAP_HOST, IMAP_PORT          where the server listens (plain IMAP)
  IMAP_USER, IMAP_PASSWORD      first account
  IMAP_USER2, IMAP_PASSWORD2    second account (isolation checks)

Every test works in mailboxes of its own (named after the test), so the
tests do not depend on each other or on their order; only the INBOX of
the first account is shared, and no test assumes what it contains.
"""

import imaplib
import os
import re
import socket
import time
import unittest

HOST = os.environ.get("IMAP_HOST", "127.0.0.1")
PORT = int(os.environ.get("IMAP_PORT", "1143"))
USER = os.environ.get("IMAP_USER", "alice")
PASSWORD = os.environ.get("IMAP_PASSWORD", "alice-secret")
USER2 = os.environ.get("IMAP_USER2", "bob")
PASSWORD2 = os.environ.get("IMAP_PASSWORD2", "bob-secret")

# Bound for every blocking read on a socket: a hung server fails the
# test instead of hanging it.
TIMEOUT = 20

MULTIPART = (
    b"From: Alice Example <alice@example.org>\r\n"
    b"To: Bob <bob@example.org>\r\n"
    b"Cc: carol@example.org\r\n"
    b"Subject: Quarterly report\r\n"
    b"Date: Mon, 15 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <report-1@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="XYZ"\r\n'
    b"\r\n"
    b"Preamble.\r\n"
    b"--XYZ\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"First part body.\r\n"
    b"--XYZ\r\n"
    b"Content-Type: text/html\r\n"
    b"\r\n"
    b"<p>second part</p>\r\n"
    b"--XYZ--\r\n"
)

# Subject "Grüße aus Köln" as an RFC 2047 encoded word.
UTF8_SUBJECT = "Grüße aus Köln"
UTF8_MESSAGE = (
    b"From: J\xc3\xbcrgen <juergen@example.de>\r\n"
    b"To: Alice <alice@example.org>\r\n"
    b"Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n"
    b"Date: Tue, 16 Jan 2024 11:00:00 +0100\r\n"
    b"Message-ID: <gruss@example.de>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Sch\xc3\xb6ne Gr\xc3\xbc\xc3\x9fe.\r\n"
)


def simple_message(subject, body="hello\r\n", sender="alice@example.org"):
    return (
        f"From: {sender}\r\n"
        f"To: bob@example.org\r\n"
        f"Subject: {subject}\r\n"
        f"Date: Wed, 17 Jan 2024 12:00:00 +0000\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@example.org>\r\n"
        f"\r\n"
        f"{body}"
    ).encode()


def connect(user=USER, password=PASSWORD):
    m = imaplib.IMAP4(HOST, PORT, timeout=TIMEOUT)
    typ, _ = m.login(user, password)
    assert typ == "OK"
    return m


def ok(result):
    """Unwraps (typ, data), insisting on OK."""
    typ, data = result
    if typ != "OK":
        raise AssertionError(f"expected OK, got {typ} {data!r}")
    return data


def quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


LIST_RE = re.compile(rb'^\((?P<attrs>[^)]*)\) (?P<delim>"[^"]*"|NIL) (?P<name>.+)$')


def parse_list(data):
    """LIST/LSUB data -> {name: (set of attributes, delimiter)}."""
    out = {}
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):  # name sent as a literal
            head, name = item
            m = re.match(rb'^\((?P<attrs>[^)]*)\) (?P<delim>"[^"]*"|NIL) \{\d+\}$', head)
            assert m, item
        else:
            m = LIST_RE.match(item)
            assert m, item
            name = m.group("name")
            if name.startswith(b'"'):
                name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
        attrs = {a.lower() for a in m.group("attrs").decode().split()}
        delim = m.group("delim").strip(b'"').decode() if m.group("delim") != b"NIL" else None
        out[name.decode()] = (attrs, delim)
    return out


def fetch_parts(data):
    """FETCH data -> list of (header line bytes, literal bytes or None)."""
    parts = []
    for item in data:
        if isinstance(item, tuple):
            parts.append(item)
        elif item not in (b")",):
            parts.append((item, None))
    return parts


def apply_expunges(uids, expunged):
    """The UIDs left after a series of EXPUNGE responses (sequence numbers)."""
    uids = list(uids)
    for seq in expunged:
        n = int(seq)
        assert 1 <= n <= len(uids), (n, uids)
        del uids[n - 1]
    return uids


def search_ids(data):
    assert len(data) == 1, data
    return [int(x) for x in data[0].split()]


class ImapTestCase(unittest.TestCase):
    def setUp(self):
        self.m = connect()
        self.prefix = "T-" + self._testMethodName.replace("test_", "")
        self.created = []

    def tearDown(self):
        try:
            if self.m.state == "SELECTED":
                self.m.close()
            for name in reversed(self.created):
                self.m.delete(quote(name))
            self.m.logout()
        except (imaplib.IMAP4.abort, OSError):
            pass

    def mailbox(self, suffix=""):
        name = self.prefix + suffix
        ok(self.m.create(quote(name)))
        self.created.append(name)
        return name

    def append(self, mailbox, message, flags=None, date=None):
        data = ok(self.m.append(quote(mailbox), flags, date, message))
        # UIDPLUS: [APPENDUID uidvalidity uid]
        m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
        self.assertIsNotNone(m, data)
        return int(m.group(2))

    def uid_fetch(self, uid, items):
        data = ok(self.m.uid("FETCH", str(uid), items))
        self.assertTrue(data and data[0] is not None, f"no FETCH data for UID {uid}")
        return data


class TestSession(ImapTestCase):
    def test_capability(self):
        # imaplib reads CAPABILITY before login and keeps it upper-cased.
        fresh = imaplib.IMAP4(HOST, PORT, timeout=TIMEOUT)
        try:
            self.assertIn("IMAP4REV1", fresh.capabilities)
            self.assertIn("IDLE", fresh.capabilities)
            self.assertNotIn("LOGINDISABLED", fresh.capabilities)
        finally:
            fresh.shutdown()
        data = ok(self.m.capability())
        caps = data[0].decode().upper().split()
        for cap in ("IMAP4REV1", "IDLE", "UIDPLUS", "MOVE", "UNSELECT", "NAMESPACE", "ENABLE",
                    "CONDSTORE", "QRESYNC", "STATUS=SIZE"):
            self.assertIn(cap, caps)
        self.assertFalse(any(c.startswith("AUTH=") for c in caps), caps)

    def test_login_wrong_password(self):
        m = imaplib.IMAP4(HOST, PORT, timeout=TIMEOUT)
        try:
            with self.assertRaises(imaplib.IMAP4.error):
                m.login(USER, PASSWORD + "-wrong")
            self.assertEqual(m.state, "NONAUTH")
        finally:
            m.shutdown()

    def test_noop_and_namespace(self):
        ok(self.m.noop())
        typ, data = self.m.namespace()
        self.assertEqual(typ, "OK")
        # One personal namespace with the hierarchy delimiter, no others.
        self.assertRegex(data[0], rb'^\(\("" "[./]"\)\) NIL NIL$')

    def test_logout(self):
        m = connect()
        typ, data = m.logout()
        self.assertEqual(typ, "BYE")
        self.assertEqual(m.state, "LOGOUT")


class TestMailboxes(ImapTestCase):
    def test_list(self):
        parent = self.mailbox()
        child_name = parent + "/child"
        ok(self.m.create(quote(child_name)))
        self.created.append(child_name)
        boxes = parse_list(ok(self.m.list('""', "*")))
        self.assertIn("INBOX", boxes)
        self.assertIn(parent, boxes)
        self.assertIn(child_name, boxes)
        attrs, delim = boxes[child_name]
        self.assertEqual(delim, "/")
        self.assertIn("\\haschildren", boxes[parent][0])
        self.assertIn("\\hasnochildren", attrs)
        # % stops at the hierarchy delimiter.
        top = parse_list(ok(self.m.list('""', "%")))
        self.assertIn(parent, top)
        self.assertNotIn(child_name, top)
        # A pattern below a reference.
        below = parse_list(ok(self.m.list(quote(parent + "/"), "%")))
        self.assertEqual(list(below), [child_name])
        # The empty pattern asks for the delimiter.
        root = ok(self.m.list('""', '""'))
        self.assertRegex(root[0], rb'^\(\\Noselect\) "/" ""$')

    def test_create_rename_delete(self):
        name = self.prefix + " with spaces"
        ok(self.m.create(quote(name)))
        self.assertIn(name, parse_list(ok(self.m.list('""', quote(self.prefix + "*")))))
        # Creating it twice fails.
        typ, _ = self.m.create(quote(name))
        self.assertEqual(typ, "NO")
        new = self.prefix + "-renamed"
        self.append(name, simple_message("kept across rename"))
        ok(self.m.rename(quote(name), quote(new)))
        self.created.append(new)
        boxes = parse_list(ok(self.m.list('""', quote(self.prefix + "*"))))
        self.assertIn(new, boxes)
        self.assertNotIn(name, boxes)
        # The message moved with the mailbox.
        data = ok(self.m.status(quote(new), "(MESSAGES)"))
        self.assertRegex(data[0], rb"\(MESSAGES 1\)")
        ok(self.m.delete(quote(new)))
        self.created.remove(new)
        boxes = parse_list(ok(self.m.list('""', quote(self.prefix + "*"))))
        self.assertNotIn(new, boxes)
        typ, _ = self.m.select(quote(new))
        self.assertEqual(typ, "NO")
        self.assertEqual(self.m.state, "AUTH")

    def test_non_ascii_mailbox_name(self):
        # Modified UTF-7 (RFC 3501 §5.1.3): "Köln" is "K&APY-ln".
        name = self.prefix + "-K&APY-ln"
        ok(self.m.create(quote(name)))
        self.created.append(name)
        self.assertIn(name, parse_list(ok(self.m.list('""', quote(self.prefix + "*")))))

    def test_subscribe_lsub(self):
        name = self.mailbox()
        ok(self.m.subscribe(quote(name)))
        self.assertIn(name, parse_list(ok(self.m.lsub('""', quote(self.prefix + "*")))))
        ok(self.m.unsubscribe(quote(name)))
        data = ok(self.m.lsub('""', quote(self.prefix + "*")))
        self.assertEqual(parse_list(data), {})

    def test_status(self):
        name = self.mailbox()
        self.append(name, simple_message("one"), r"(\Seen)")
        self.append(name, simple_message("two"))
        data = ok(self.m.status(quote(name), "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY)"))
        m = re.search(
            rb"\((?=.*MESSAGES (\d+))(?=.*UNSEEN (\d+))(?=.*UIDNEXT (\d+))(?=.*UIDVALIDITY (\d+)).*\)",
            data[0],
        )
        self.assertIsNotNone(m, data)
        messages, unseen, uidnext, uidvalidity = map(int, m.groups())
        self.assertEqual((messages, unseen, uidnext), (2, 1, 3))
        self.assertGreater(uidvalidity, 0)
        # RFC 8438 SIZE (the octets stored) and RFC 7162 HIGHESTMODSEQ.
        one, two = simple_message("one"), simple_message("two")
        data = ok(self.m.status(quote(name), "(SIZE HIGHESTMODSEQ)"))
        m = re.search(rb"SIZE (\d+) HIGHESTMODSEQ (\d+)", data[0])
        self.assertIsNotNone(m, data)
        self.assertEqual(int(m.group(1)), len(one) + len(two))
        self.assertGreater(int(m.group(2)), 0)


class TestMessages(ImapTestCase):
    def test_append_with_flags_and_date(self):
        name = self.mailbox()
        when = (2023, 7, 14, 2, 44, 25, 0, 0, -1)
        date = imaplib.Time2Internaldate(time.mktime(when))
        uid = self.append(name, simple_message("dated"), r"(\Seen \Flagged $Forwarded)", date)
        self.assertEqual(uid, 1)
        ok(self.m.select(quote(name)))
        data = self.uid_fetch(uid, "(FLAGS INTERNALDATE RFC822.SIZE)")
        flags = {f.decode().lower() for f in imaplib.ParseFlags(data[0])}
        self.assertTrue({"\\seen", "\\flagged", "$forwarded"} <= flags, flags)
        self.assertEqual(
            time.mktime(imaplib.Internaldate2tuple(data[0])), time.mktime(when)
        )
        self.assertRegex(data[0], rb"RFC822\.SIZE %d\b" % len(simple_message("dated")))
        # The new keyword shows in FLAGS, and PERMANENTFLAGS allows new ones.
        ok(self.m.select(quote(name)))
        self.assertIn(b"$Forwarded", self.m.untagged_responses.get("FLAGS", [b""])[0])

    def test_append_to_missing_mailbox(self):
        typ, data = self.m.append(quote(self.prefix + "-missing"), None, None, b"x\r\n")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[TRYCREATE]", data[0])

    def test_select_and_examine(self):
        name = self.mailbox()
        for i in range(3):
            self.append(name, simple_message(f"msg {i}"))
        typ, data = self.m.select(quote(name))
        self.assertEqual(typ, "OK")
        self.assertEqual(data, [b"3"])
        # imaplib files response codes, tagged ones too, under their names.
        self.assertIn("READ-WRITE", self.m.untagged_responses)
        uidvalidity = self.m.untagged_responses.get("UIDVALIDITY")
        self.assertTrue(uidvalidity and int(uidvalidity[0]) > 0)
        ok(self.m.close())
        # EXAMINE: read-only (imaplib itself checks for [READ-ONLY]).
        typ, data = self.m.select(quote(name), readonly=True)
        self.assertEqual(typ, "OK")
        self.assertEqual(data, [b"3"])
        typ, _ = self.m.store("1", "+FLAGS", r"(\Seen)")
        self.assertEqual(typ, "NO")
        ok(self.m.unselect())
        self.assertEqual(self.m.state, "AUTH")

    def test_fetch(self):
        name = self.mailbox()
        uid = self.append(name, MULTIPART)
        ok(self.m.select(quote(name)))

        # ENVELOPE
        data = self.uid_fetch(uid, "(ENVELOPE)")
        env = data[0] if isinstance(data[0], bytes) else data[0][0]
        self.assertIn(b'"Mon, 15 Jan 2024 10:00:00 +0000" "Quarterly report"', env)
        self.assertIn(b'(("Alice Example" NIL "alice" "example.org"))', env)
        self.assertIn(b'(("Bob" NIL "bob" "example.org"))', env)
        self.assertIn(b'((NIL NIL "carol" "example.org"))', env)
        self.assertIn(b'"<report-1@example.org>"', env)

        # BODYSTRUCTURE
        data = self.uid_fetch(uid, "(BODYSTRUCTURE)")
        bs = data[0].upper()
        self.assertRegex(
            bs,
            # Part sizes exclude the CRLF that belongs to the boundary line.
            rb'BODYSTRUCTURE \(\("TEXT" "PLAIN" \("CHARSET" "UTF-8"\) NIL NIL "7BIT" 16 1 '
            rb'.*\("TEXT" "HTML" \([^)]*\) NIL NIL "7BIT" 18 1 .*"MIXED" \("BOUNDARY" "XYZ"\)',
        )

        # Header fields, in message order, with the closing blank line.
        data = self.uid_fetch(uid, "(BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])")
        parts = fetch_parts(data)
        self.assertRegex(parts[0][0], rb"BODY\[HEADER\.FIELDS \(\"?FROM\"? \"?SUBJECT\"?\)\] \{\d+\}$")
        self.assertEqual(
            parts[0][1],
            b"From: Alice Example <alice@example.org>\r\nSubject: Quarterly report\r\n\r\n",
        )

        # A part.
        data = self.uid_fetch(uid, "(BODY.PEEK[1])")
        self.assertEqual(fetch_parts(data)[0][1], b"First part body.")
        data = self.uid_fetch(uid, "(BODY.PEEK[2])")
        self.assertEqual(fetch_parts(data)[0][1], b"<p>second part</p>")

        # A partial: the origin is echoed, the bytes are the first 100.
        data = self.uid_fetch(uid, "(BODY.PEEK[]<0.100>)")
        head, body = fetch_parts(data)[0]
        self.assertIn(b"BODY[]<0> {100}", head)
        self.assertEqual(body, MULTIPART[:100])
        data = self.uid_fetch(uid, "(BODY.PEEK[]<%d.1000>)" % (len(MULTIPART) - 10))
        self.assertEqual(fetch_parts(data)[0][1], MULTIPART[-10:])

        # The whole message, byte for byte; PEEK left \Seen alone so far.
        data = self.uid_fetch(uid, "(FLAGS BODY.PEEK[])")
        self.assertEqual(fetch_parts(data)[0][1], MULTIPART)
        self.assertNotIn(b"\\Seen", fetch_parts(data)[0][0])
        # BODY[] (no PEEK) sets \Seen.
        data = self.uid_fetch(uid, "(BODY[TEXT])")
        self.assertTrue(fetch_parts(data)[0][1].startswith(b"Preamble.\r\n--XYZ\r\n"))
        data = self.uid_fetch(uid, "(FLAGS)")
        self.assertIn(b"\\Seen", data[0])

        # Sequence-number FETCH with a macro.
        data = ok(self.m.fetch("1", "FAST"))
        self.assertRegex(data[0], rb"^1 \(")
        self.assertIn(b"RFC822.SIZE %d" % len(MULTIPART), data[0])
        self.assertIn(b"FLAGS (", data[0])
        self.assertRegex(data[0], rb'INTERNALDATE "[ 0-9]\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d [-+]\d{4}"')
        self.assertNotIn(b"ENVELOPE", data[0])

    def test_store(self):
        name = self.mailbox()
        for i in range(3):
            self.append(name, simple_message(f"store {i}"))
        ok(self.m.select(quote(name)))

        def flags_of(seq):
            data = ok(self.m.fetch(str(seq), "(FLAGS)"))
            return {f.decode() for f in imaplib.ParseFlags(data[0])} - {"\\Recent"}

        data = ok(self.m.store("1:2", "+FLAGS", r"(\Seen $Label1)"))
        self.assertEqual(len(data), 2)
        self.assertEqual(flags_of(1), {"\\Seen", "$Label1"})
        self.assertEqual(flags_of(2), {"\\Seen", "$Label1"})
        self.assertEqual(flags_of(3), set())
        ok(self.m.store("1", "-FLAGS", r"(\Seen)"))
        self.assertEqual(flags_of(1), {"$Label1"})
        ok(self.m.store("2", "FLAGS", r"(\Answered)"))
        self.assertEqual(flags_of(2), {"\\Answered"})
        # .SILENT: no untagged FETCH for the change.
        data = ok(self.m.store("3", "+FLAGS.SILENT", r"(\Flagged)"))
        self.assertEqual(data, [None])
        self.assertEqual(flags_of(3), {"\\Flagged"})
        # UID STORE answers with the UID.
        data = ok(self.m.uid("STORE", "3", "+FLAGS", r"(\Draft)"))
        self.assertRegex(data[0], rb"^3 \(.*UID 3")

    def test_search(self):
        name = self.mailbox()
        self.append(name, MULTIPART, r"(\Seen)")
        self.append(name, simple_message("lunch plans", sender="bob@example.org"))
        self.append(name, simple_message("re: lunch plans", body="see you at noon\r\n"))
        self.append(name, UTF8_MESSAGE, r"(\Flagged)")
        ok(self.m.select(quote(name)))

        def search(*criteria, charset=None):
            return search_ids(ok(self.m.search(charset, *criteria)))

        self.assertEqual(search("ALL"), [1, 2, 3, 4])
        self.assertEqual(search("UNSEEN"), [2, 3, 4])
        self.assertEqual(search("SEEN"), [1])
        self.assertEqual(search("FLAGGED"), [4])
        self.assertEqual(search("FROM", "bob@example.org"), [2])
        self.assertEqual(search("SUBJECT", '"lunch"'), [2, 3])
        self.assertEqual(search("SUBJECT", "LUNCH"), [2, 3])  # case-insensitive
        self.assertEqual(search("BODY", "noon"), [3])
        self.assertEqual(search("TEXT", '"second part"'), [1])
        self.assertEqual(search("HEADER", "Message-ID", '"<report-1@example.org>"'), [1])
        self.assertEqual(search("OR", "FLAGGED", "SEEN"), [1, 4])
        self.assertEqual(search("NOT", "SEEN", "NOT", "FLAGGED"), [2, 3])
        self.assertEqual(search("2:*", "UNSEEN", "SUBJECT", "lunch"), [2, 3])
        self.assertEqual(search("SENTSINCE", "16-Jan-2024"), [2, 3, 4])
        self.assertEqual(search("SENTBEFORE", "16-Jan-2024"), [1])
        self.assertEqual(search("LARGER", str(len(MULTIPART) - 1)), [1])
        self.assertEqual(search("SUBJECT", "no-such-subject"), [])
        self.assertEqual(search("CHARSET", "US-ASCII", "SUBJECT", "plans"), [2, 3])

        # A UTF-8 search: the text travels as a literal; the subject is an
        # encoded word in the message, and SEARCH matches decoded text.
        self.m.literal = "GRÜSSE".encode()  # no match: ß does not fold to SS
        self.assertEqual(search_ids(ok(self.m.search("UTF-8", "SUBJECT"))), [])
        self.m.literal = "grüße aus".encode()
        self.assertEqual(search_ids(ok(self.m.search("UTF-8", "SUBJECT"))), [4])
        self.m.literal = "Köln".encode()
        self.assertEqual(search_ids(ok(self.m.uid("SEARCH", "CHARSET", "UTF-8", "SUBJECT"))), [4])
        self.m.literal = "schöne".encode()
        self.assertEqual(search_ids(ok(self.m.search("UTF-8", "BODY"))), [4])
        self.m.literal = "Jürgen".encode()
        self.assertEqual(search_ids(ok(self.m.search("UTF-8", "FROM"))), [4])
        typ, data = self.m.search("X-NO-SUCH-CHARSET", "ALL")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[BADCHARSET", data[0])

        # UID SEARCH returns UIDs.
        self.assertEqual(search_ids(ok(self.m.uid("SEARCH", "UID", "2:3"))), [2, 3])

    def test_copy_and_uid_move(self):
        src = self.mailbox("-src")
        dst = self.mailbox("-dst")
        uids = [self.append(src, simple_message(f"copy {i}")) for i in range(3)]
        ok(self.m.select(quote(src)))

        data = ok(self.m.copy("1:2", quote(dst)))
        # COPYUID uidvalidity source-uids dest-uids, in matching order.
        m = re.search(rb"\[COPYUID (\d+) ([\d:,]+) ([\d:,]+)\]", data[0])
        self.assertIsNotNone(m, data)
        self.assertEqual(m.group(2), b"1:2")
        self.assertEqual(m.group(3), b"1:2")
        self.assertEqual(search_ids(ok(self.m.search(None, "ALL"))), [1, 2, 3])

        typ, data = self.m.uid("MOVE", str(uids[2]), quote(dst))
        self.assertEqual(typ, "OK", data)
        # The source lost its third message, announced by EXPUNGE.
        self.assertIn(b"3", self.m.untagged_responses.get("EXPUNGE", []))
        self.assertEqual(search_ids(ok(self.m.search(None, "ALL"))), [1, 2])
        ok(self.m.close())
        ok(self.m.select(quote(dst), readonly=True))
        data = ok(self.m.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        subjects = [p[1].strip() for p in fetch_parts(data) if p[1] is not None]
        self.assertEqual(subjects, [b"Subject: copy 0", b"Subject: copy 1", b"Subject: copy 2"])
        # Moving into a missing mailbox fails with TRYCREATE.
        ok(self.m.close())
        ok(self.m.select(quote(src)))
        typ, data = self.m.uid("MOVE", "1", quote(self.prefix + "-nowhere"))
        self.assertEqual(typ, "NO")
        self.assertIn(b"[TRYCREATE]", data[0])

    def test_expunge(self):
        name = self.mailbox()
        for i in range(4):
            self.append(name, simple_message(f"expunge {i}"))
        ok(self.m.select(quote(name)))
        ok(self.m.store("2:3", "+FLAGS.SILENT", r"(\Deleted)"))
        data = ok(self.m.expunge())
        # Each EXPUNGE shifts the numbers after it; any order the server
        # picks must leave UIDs 1 and 4 (e.g. "2, 2" or "3, 2").
        self.assertEqual(apply_expunges([1, 2, 3, 4], data), [1, 4])
        data = ok(self.m.fetch("1:*", "(UID)"))
        self.assertEqual([re.search(rb"UID (\d+)", d).group(1) for d in data], [b"1", b"4"])
        # UID EXPUNGE removes only the named UIDs.
        ok(self.m.store("1:2", "+FLAGS.SILENT", r"(\Deleted)"))
        data = ok(self.m.uid("EXPUNGE", "4"))
        self.assertEqual(self.m.untagged_responses.get("EXPUNGE", data), [b"2"])
        self.assertEqual(search_ids(ok(self.m.search(None, "ALL"))), [1])
        # CLOSE expunges silently.
        ok(self.m.close())
        data = ok(self.m.status(quote(name), "(MESSAGES)"))
        self.assertRegex(data[0], rb"\(MESSAGES 0\)")


class TestIdle(ImapTestCase):
    def read_line(self):
        line = self.m.readline()
        if not line:
            raise AssertionError("connection closed while idling")
        return line.rstrip(b"\r\n")

    def wait_for(self, pattern):
        """Reads untagged lines until one matches; the socket timeout
        bounds the wait (a keepalive or other updates may come first)."""
        seen = []
        while True:
            line = self.read_line()
            seen.append(line)
            if re.match(pattern, line):
                return line
            self.assertTrue(line.startswith(b"* "), seen)

    def start_idle(self):
        tag = self.m._new_tag()
        self.m.send(tag + b" IDLE\r\n")
        self.assertTrue(self.read_line().startswith(b"+"))
        return tag

    def test_idle_sees_changes_from_other_connection(self):
        name = self.mailbox()
        self.append(name, simple_message("before idle 1"))
        self.append(name, simple_message("before idle 2"))
        ok(self.m.select(quote(name)))
        tag = self.start_idle()

        other = connect()
        try:
            # A new message: EXISTS.
            ok(other.append(quote(name), None, None, simple_message("during idle")))
            self.wait_for(rb"^\* 3 EXISTS$")
            # A flag change: FETCH with the new flags.
            ok(other.select(quote(name)))
            ok(other.store("1", "+FLAGS.SILENT", r"(\Flagged)"))
            self.wait_for(rb"^\* 1 FETCH \(.*FLAGS \([^)]*\\Flagged")
            # An expunge: EXPUNGE with the right sequence number.
            ok(other.store("2", "+FLAGS.SILENT", r"(\Deleted)"))
            ok(other.expunge())
            self.wait_for(rb"^\* 2 EXPUNGE$")
            ok(other.close())
        finally:
            other.logout()

        # DONE with the next command right behind it (as Apple Mail sends
        # it): both answered, in order.
        noop = self.m._new_tag()
        self.m.send(b"DONE\r\n" + noop + b" NOOP\r\n")
        line = self.wait_for(rb"^" + re.escape(tag) + rb" ")
        self.assertTrue(line.startswith(tag + b" OK"), line)
        line = self.wait_for(rb"^" + re.escape(noop) + rb" ")
        self.assertTrue(line.startswith(noop + b" OK"), line)

        # The session's view matches: two messages, the new one second.
        data = ok(self.m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        parts = [p for p in fetch_parts(data) if p[1] is not None]
        self.assertEqual(
            [p[1].strip() for p in parts],
            [b"Subject: before idle 1", b"Subject: during idle"],
        )
        self.assertIn(b"\\Flagged", parts[0][0])

    def test_idle_done_without_changes(self):
        name = self.mailbox()
        ok(self.m.select(quote(name)))
        tag = self.start_idle()
        self.m.send(b"DONE\r\n")
        line = self.read_line()
        self.assertTrue(line.startswith(tag + b" OK"), line)
        ok(self.m.noop())


class TestTwoUsers(ImapTestCase):
    def test_accounts_are_isolated(self):
        name = self.mailbox()
        self.append(name, simple_message("private"))
        other = connect(USER2, PASSWORD2)
        try:
            boxes = parse_list(ok(other.list('""', "*")))
            self.assertIn("INBOX", boxes)
            self.assertNotIn(name, boxes)
            typ, _ = other.select(quote(name))
            self.assertEqual(typ, "NO")
            typ, _ = other.status(quote(name), "(MESSAGES)")
            self.assertEqual(typ, "NO")
            # Each account has its own INBOX.
            ok(other.append("INBOX", None, None, simple_message("for bob only")))
            other_count = int(ok(other.select("INBOX"))[0])
            self.assertGreaterEqual(other_count, 1)
            found = search_ids(ok(other.search(None, "SUBJECT", '"for bob only"')))
            self.assertEqual(len(found), 1)
            # Leave bob's INBOX as it was, so that a rerun finds one again.
            ok(other.store(str(found[0]), "+FLAGS.SILENT", r"(\Deleted)"))
            ok(other.expunge())
        finally:
            other.logout()
        ok(self.m.select("INBOX"))
        self.assertEqual(search_ids(ok(self.m.search(None, "SUBJECT", '"for bob only"'))), [])

    def test_wrong_user_password_pairs(self):
        m = imaplib.IMAP4(HOST, PORT, timeout=TIMEOUT)
        try:
            with self.assertRaises(imaplib.IMAP4.error):
                m.login(USER2, PASSWORD)
        finally:
            m.shutdown()


if __name__ == "__main__":
    socket.setdefaulttimeout(TIMEOUT)
    unittest.main(verbosity=2)
