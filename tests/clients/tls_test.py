#!/usr/bin/env python3
"""Real-client security tests: TLS (implicit and STARTTLS) with Python's
ssl/imaplib, SCRAM-SHA-256 with the `scramp` library, curl over imaps://
and with --ssl-reqd, and openssl refusing TLS 1.1.

Environment: IMAP_HOST, IMAP_PORT (plain), IMAPS_PORT (implicit TLS),
IMAP_USER, IMAP_PASSWORD, IMAP_CAFILE (the server's certificate).
"""

import base64
import imaplib
import os
import ssl
import subprocess
import unittest

import scramp

HOST = os.environ.get("IMAP_HOST", "127.0.0.1")
PORT = int(os.environ["IMAP_PORT"])
IMAPS_PORT = int(os.environ["IMAPS_PORT"])
USER = os.environ["IMAP_USER"]
PASSWORD = os.environ["IMAP_PASSWORD"]
CAFILE = os.environ["IMAP_CAFILE"]
TIMEOUT = 20


def context():
    """Verifies the server's (self-signed) certificate for `localhost`."""
    ctx = ssl.create_default_context(cafile=CAFILE)
    ctx.check_hostname = True
    return ctx


class Tls(unittest.TestCase):
    def test_implicit_tls_login(self):
        with imaplib.IMAP4_SSL(
            "localhost", IMAPS_PORT, ssl_context=context(), timeout=TIMEOUT
        ) as m:
            self.assertIn(m.sock.version(), ("TLSv1.2", "TLSv1.3"))
            self.assertNotIn("STARTTLS", m.capabilities)
            typ, _ = m.login(USER, PASSWORD)
            self.assertEqual(typ, "OK")
            typ, data = m.select("INBOX")
            self.assertEqual(typ, "OK")

    def test_starttls_then_login(self):
        with imaplib.IMAP4("localhost", PORT, timeout=TIMEOUT) as m:
            self.assertIn("STARTTLS", m.capabilities)
            typ, _ = m.starttls(ssl_context=context())
            self.assertEqual(typ, "OK")
            # imaplib re-reads CAPABILITY after STARTTLS: no STARTTLS now,
            # and channel binding is offered.
            self.assertNotIn("STARTTLS", m.capabilities)
            self.assertIn("AUTH=SCRAM-SHA-256-PLUS", m.capabilities)
            typ, _ = m.login(USER, PASSWORD)
            self.assertEqual(typ, "OK")

    def scram_login(self, m, password):
        client = scramp.ScramClient(["SCRAM-SHA-256"], USER, password)
        state = {"step": 0, "verified": False}

        def respond(challenge):
            # imaplib hands us each decoded challenge and sends our answer.
            step = state["step"]
            state["step"] += 1
            if step == 0:  # empty challenge: the client speaks first
                return client.get_client_first().encode()
            if step == 1:
                client.set_server_first(challenge.decode())
                return client.get_client_final().encode()
            # server-final: scramp raises if the server's signature is wrong.
            client.set_server_final(challenge.decode())
            state["verified"] = True
            return b""

        return m.authenticate("SCRAM-SHA-256", respond), state

    def test_scram_sha256_with_scramp(self):
        with imaplib.IMAP4_SSL(
            "localhost", IMAPS_PORT, ssl_context=context(), timeout=TIMEOUT
        ) as m:
            self.assertIn("AUTH=SCRAM-SHA-256", m.capabilities)
            (typ, _), state = self.scram_login(m, PASSWORD)
            self.assertEqual(typ, "OK")
            # scramp checked the server's signature (v=...) itself.
            self.assertTrue(state["verified"])
            typ, _ = m.select("INBOX")
            self.assertEqual(typ, "OK")

    def test_scram_wrong_password(self):
        with imaplib.IMAP4_SSL(
            "localhost", IMAPS_PORT, ssl_context=context(), timeout=TIMEOUT
        ) as m:
            with self.assertRaises(imaplib.IMAP4.error):
                self.scram_login(m, PASSWORD + "x")

    def test_curl_imaps_and_ssl_reqd(self):
        out = subprocess.run(
            ["curl", "-sS", "--cacert", CAFILE, "--resolve", f"localhost:{IMAPS_PORT}:127.0.0.1",
             f"imaps://localhost:{IMAPS_PORT}/", "-u", f"{USER}:{PASSWORD}"],
            capture_output=True, timeout=TIMEOUT, check=True, text=True,
        ).stdout
        self.assertIn("INBOX", out)
        out = subprocess.run(
            ["curl", "-sS", "--ssl-reqd", "--cacert", CAFILE,
             "--resolve", f"localhost:{PORT}:127.0.0.1",
             f"imap://localhost:{PORT}/", "-u", f"{USER}:{PASSWORD}", "-X", "STATUS INBOX (UIDNEXT)"],
            capture_output=True, timeout=TIMEOUT, check=True, text=True,
        ).stdout
        self.assertIn("* STATUS INBOX (UIDNEXT", out)

    def test_tls_1_1_refused(self):
        r = subprocess.run(
            ["openssl", "s_client", "-tls1_1", "-connect", f"127.0.0.1:{IMAPS_PORT}"],
            input=b"", capture_output=True, timeout=TIMEOUT,
        )
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn(b"* OK", r.stdout)
        # TLS 1.2 works with the same tool, so the refusal is about 1.1.
        # -ign_eof: s_client waits for the server's answer to LOGOUT instead
        # of quitting at the end of its input, maybe before the greeting.
        r = subprocess.run(
            ["openssl", "s_client", "-tls1_2", "-ign_eof", "-connect", f"127.0.0.1:{IMAPS_PORT}"],
            input=b"a LOGOUT\r\n", capture_output=True, timeout=TIMEOUT,
        )
        self.assertIn(b"* OK", r.stdout)
        self.assertIn(b"a OK", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
