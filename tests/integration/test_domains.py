"""A message for recipients in several domains, through a real smfd: each
domain's policy decides its own verdict, and the stages that name a scope
(pattern: one for every domain; attachment: one per set of settings) scan the
message once per scope, not once per domain, as STATS counts."""

import shutil
import unittest

import smftest
from smftest import envelope, recv_reply, scan_frames

ATTACHED = (b"From: a@sender.example\r\nTo: x@one.example\r\nSubject: the files\r\n"
            b"Message-ID: <d-1@sender.example>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
            b"--b1\r\nContent-Type: text/plain\r\n\r\nthe files, as asked\r\n"
            b"--b1\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Disposition: attachment; filename=\"setup.exe\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAA\r\n"
            b"--b1--\r\n")


class Domains(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # strict.example's attachment settings score a blocked file higher.
        cls.etc, conf = smftest.copy_etc(edits=[(
            "attachment {\n",
            'attachment {\n  domain_policy = {"strict.example: blocked_score=30"}\n')])
        cls.smfd = smftest.Smfd(config=conf).start()
        cls.sock = cls.smfd.dealer()

    @classmethod
    def tearDownClass(cls):
        cls.sock.close(0)
        cls.smfd.stop()
        cls.smfd.close()
        shutil.rmtree(cls.etc, ignore_errors=True)

    def runs(self):
        """{module: scans STATS counts}."""
        self.sock.send_multipart([smftest.PROTO, b"STATS", b"s"])
        cmd, _rid, body = recv_reply(self.sock)
        self.assertEqual(cmd, "STATS", body)
        return {s["module"]: sum(v for v in s.values() if isinstance(v, int))
                for s in body["stages"]}

    def scan(self, rcpts):
        self.sock.send_multipart(scan_frames(b"d", envelope(recipients=rcpts, client_ip="127.0.0.1"),
                                             ATTACHED))
        cmd, _rid, body = recv_reply(self.sock)
        self.assertEqual(cmd, "VERDICT", body)
        return body

    def test_one_scan_per_scope(self):
        before = self.runs()
        reply = self.scan(["a@one.example", "b@two.example", "c@strict.example",
                           "d@three.example"])
        after = self.runs()
        scores = {d["domain"]: d["score"] for d in reply["domains"]}
        # The default settings give every other domain the same score; strict's own.
        self.assertEqual(scores["one.example"], scores["two.example"])
        self.assertEqual(scores["one.example"], scores["three.example"])
        self.assertGreaterEqual(scores["strict.example"] - scores["one.example"], 20, scores)
        ran = {m: after.get(m, 0) - before.get(m, 0) for m in after}
        self.assertEqual(ran["pattern"], 1, ran)
        self.assertEqual(ran["attachment"], 2, ran)
        # An antivirus stage scans once per message; stages without a scope (lists)
        # still run for each domain.
        self.assertEqual(ran["antivirus"], 1, ran)
        self.assertEqual(ran["lists"], 4, ran)


if __name__ == "__main__":
    smftest.main()
