#!/usr/bin/python3
"""A running smfd sees `smfctl list` changes at its next message, without a
restart or reload; a whitelisted sender's virus is still quarantined."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import smftest  # noqa: E402
from smftest import recv_reply, scan_frames  # noqa: E402

CLEAN = (b"From: Boss <boss@partner.test>\r\nTo: user@example.com\r\nSubject: lunch\r\n"
         b"Message-ID: <l-1@partner.test>\r\n\r\nSee you at noon.\r\n")
AUTH = b"Authentication-Results: mx.ours.test; spf=pass smtp.mailfrom=boss@partner.test\r\n"


def eicar_mail():
    # Built from pieces so that no file of the project carries the test string.
    eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    return (AUTH + b"From: boss@partner.test\r\nTo: user@example.com\r\nSubject: file\r\n\r\n"
            + eicar.encode() + b"\r\n")


class LiveListsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="smf-lists-live-")
        etc = os.path.join(cls.tmp, "etc")
        shutil.copytree(os.path.join(smftest.PATHS["source"], "etc"), etc)
        cls.conf = os.path.join(etc, "smfd.conf")
        with open(cls.conf) as f:
            text = f.read()
        text = text.replace("lists {\n  enabled = true\n",
                            'lists {\n  enabled = true\n  trusted_authserv_id = "mx.ours.test"\n')
        assert "trusted_authserv_id" in text, "the lists section of etc/smfd.conf changed"
        with open(cls.conf, "w") as f:
            f.write(text)
        cls.smfd = smftest.Smfd(config=cls.conf)
        try:
            cls.smfd.start()
        except Exception:
            cls.smfd.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            status = cls.smfd.stop()
            if status != 0:
                raise AssertionError("smfd exited %s:\n%s" % (status, cls.smfd.log_tail()))
        finally:
            cls.smfd.close()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.sock = self.smfd.dealer()
        self.n = 0

    def tearDown(self):
        self.sock.close(0)
        self.ctl("del", "--type", "ip", "203.0.113.5", rc=None)
        self.ctl("del", "--type", "sender", "boss@partner.test", rc=None)

    def ctl(self, *args, rc=0):
        build = smftest.PATHS["build"]
        cmd = [os.path.join(build, "bin", "smfctl"), "-c", self.conf,
               "-o", "data_dir=%s/data" % self.smfd.tmp, "-o", "module_dir=%s/modules" % build,
               "list"] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if rc is not None:
            self.assertEqual(p.returncode, rc, p.stdout + p.stderr)
        return p

    def scan(self, body, ip="203.0.113.5"):
        self.n += 1
        rid = b"live-%d" % self.n
        env = smftest.envelope(client_ip=ip, sender="boss@partner.test", client_name="mx.partner.test")
        self.sock.send_multipart(scan_frames(rid, env, body))
        cmd, got, reply = recv_reply(self.sock)
        self.assertEqual((cmd, got), ("VERDICT", rid), reply)
        reply["names"] = [s["name"] for s in reply["symbols"]]
        return reply

    def connect(self, rcpt):
        """A connection-stage check (CONNECT): the envelope, no message yet."""
        self.n += 1
        rid = b"connect-%d" % self.n
        env = smftest.envelope(client_ip="203.0.113.5", sender="boss@partner.test",
                               recipients=[rcpt])
        self.sock.send_multipart([smftest.PROTO, b"CONNECT", rid, env])
        cmd, got, reply = recv_reply(self.sock)
        self.assertEqual((cmd, got), ("VERDICT", rid), reply)
        return reply

    def test_domain_allow_awaiting_proof_keeps_a_global_block_from_refusing_early(self):
        # The sender allow of example.com needs SPF or DKIM, which only the
        # message brings: before it, the global block must not refuse mail
        # that the domain's allow may let through.
        self.ctl("add", "--type", "sender", "--action", "block", "boss@partner.test")
        self.ctl("add", "--scope", "domain:example.com", "--type", "sender", "--action", "allow",
                 "boss@partner.test")
        try:
            self.assertEqual(self.connect("user@example.com")["action"], "accept")
            self.assertEqual(self.connect("user@example.org")["action"], "reject")
            # With the message, proof decides: allowed with it, blocked without.
            r = self.scan(AUTH + CLEAN)
            self.assertEqual(r["action"], "accept", r)
            self.assertIn("LIST_ALLOW", r["names"], r)
            self.assertEqual(self.scan(CLEAN)["action"], "reject")
            # An empty message is still a message, not a check before one.
            self.assertEqual(self.scan(b"")["action"], "reject")
        finally:
            self.ctl("del", "--scope", "domain:example.com", "--type", "sender",
                     "boss@partner.test", rc=None)

    def test_block_added_and_removed_while_running(self):
        self.assertEqual(self.scan(CLEAN)["action"], "accept")
        self.ctl("add", "--type", "ip", "--action", "block", "203.0.113.0/24")
        try:
            r = self.scan(CLEAN)
            self.assertEqual(r["action"], "reject", r)
            self.assertIn("LIST_BLOCK", r["names"])
        finally:
            self.ctl("del", "--type", "ip", "203.0.113.0/24")
        self.assertEqual(self.scan(CLEAN)["action"], "accept")

    def test_allow_skips_content_stages(self):
        gtube = smftest.fixture("gtube.eml")
        self.assertNotEqual(self.scan(gtube)["action"], "accept")
        self.ctl("add", "--type", "ip", "--action", "allow", "203.0.113.5")
        r = self.scan(gtube)
        self.assertEqual(r["action"], "accept", r)
        self.assertIn("LIST_ALLOW", r["names"])

    def test_whitelisted_sender_with_virus_is_quarantined(self):
        self.ctl("add", "--type", "sender", "--action", "allow", "boss@partner.test")
        r = self.scan(AUTH + CLEAN)
        self.assertIn("LIST_ALLOW", r["names"], r)
        r = self.scan(eicar_mail())
        self.assertEqual(r["action"], "quarantine", r)
        self.assertTrue(r["virus"], r)
        self.ctl("add", "--type", "ip", "--action", "allow", "203.0.113.5")
        r = self.scan(eicar_mail())
        self.assertEqual(r["action"], "quarantine", r)
        self.assertTrue(r["virus"], r)


if __name__ == "__main__":
    argv = smftest.parse_paths(sys.argv)
    unittest.main(argv=argv, verbosity=2)
