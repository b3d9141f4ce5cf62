"""A message for recipients in several domains, through a real smfd: each
domain's policy decides its own verdict, and the stages that name a scope
(pattern: one for every domain; attachment: one per set of settings) scan the
message once per scope, not once per domain, as STATS counts."""

import json
import os
import shutil
import time
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
        # strict.example's attachment settings score a blocked file higher, lenient's and mild's
        # lower.
        cls.etc, conf = smftest.copy_etc(edits=[(
            "attachment {\n",
            'attachment {\n  domain_policy = {"strict.example: blocked_score=30", '
            '"lenient.example: blocked_score=2", "mild.example: blocked_score=2"}\n')])
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

    def scan(self, rcpts, **fields):
        self.sock.send_multipart(scan_frames(
            b"d", envelope(recipients=rcpts, client_ip="127.0.0.1", **fields), ATTACHED))
        cmd, _rid, body = recv_reply(self.sock)
        self.assertEqual(cmd, "VERDICT", body)
        return body

    def stored_in(self, domain):
        """Whether the quarantine has a store for the domain (made at its first copy)."""
        return os.path.isdir(os.path.join(self.smfd.tmp, "q", domain))

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

    def test_split_delivers_to_the_domains_whose_policy_delivers(self):
        # strict.example's policy quarantines the message, lenient.example's delivers it: a
        # front end that can drop recipients one by one is told to deliver, and to drop strict's.
        rcpts = ["a@lenient.example", "c@strict.example", "e@LENIENT.example",
                 "f@strict.example"]
        reply = self.scan(rcpts, split=True)
        actions = {d["domain"]: d["action"] for d in reply["domains"]}
        self.assertEqual(actions["strict.example"], "quarantine", reply)
        self.assertIn(actions["lenient.example"], ("accept", "add_header"), reply)
        self.assertEqual(reply["action"], actions["lenient.example"], reply)
        self.assertEqual(reply["quarantined_recipients"], [1, 3], reply)
        self.assertTrue(reply["quarantine_id"], reply)
        self.assertEqual(reply["smtp"]["code"], 250, reply)
        # The verdict's score and headers are those of the domain that gets the message.
        self.assertEqual(reply["score"], [d["score"] for d in reply["domains"]
                                          if d["domain"] == "lenient.example"][0])
        self.assertTrue(any(h["name"] == "X-SMF-Status" for h in reply["headers"]), reply)
        # Only the quarantining domain keeps a copy.
        self.assertTrue(self.stored_in("strict.example"))
        self.assertFalse(self.stored_in("lenient.example"))

    def test_split_verdict_events_say_what_each_domain_got(self):
        sub = self.smfd.sub("verdict.")
        self.addCleanup(sub.close, 0)
        # PUB drops events until the subscription has reached it: scan until one arrives.
        deadline = time.time() + 15
        while not sub.poll(300):
            self.assertLess(time.time(), deadline, "no event reached the subscriber")
            self.scan(["warm@warm.example"])
        while sub.poll(200):
            sub.recv_multipart()
        self.sock.send_multipart(scan_frames(b"ev-split", envelope(
            recipients=["a@lenient.example", "c@strict.example"], split=True), ATTACHED))
        cmd, _rid, reply = recv_reply(self.sock)
        self.assertEqual(cmd, "VERDICT", reply)
        got = {}
        while len(got) < 2 and sub.poll(5000):
            body = json.loads(sub.recv_multipart()[1])
            if body.get("request_id") == "ev-split":
                got[body["domain"]] = (body["action"], body["quarantine_id"])
        self.assertEqual(got, {"lenient.example": (reply["action"], None),
                               "strict.example": ("quarantine", reply["quarantine_id"])})

    def test_without_split_every_domain_shares_the_quarantine(self):
        # mild.example's policy would deliver, but the front end cannot drop recipients.
        reply = self.scan(["a@mild.example", "c@strict.example"])
        self.assertEqual(reply["action"], "quarantine", reply)
        self.assertIn({"domain": "mild.example", "action": "accept", "score": 2.0},
                      reply["domains"])
        self.assertNotIn("quarantined_recipients", reply)
        self.assertTrue(self.stored_in("mild.example"))

    def test_nothing_is_split_when_every_domain_quarantines(self):
        reply = self.scan(["c@strict.example", "g@strict.example"], split=True)
        self.assertEqual(reply["action"], "quarantine", reply)
        self.assertNotIn("quarantined_recipients", reply)

    def test_split_must_be_a_boolean(self):
        self.sock.send_multipart(scan_frames(b"d", envelope(split="yes"), ATTACHED))
        cmd, _rid, body = recv_reply(self.sock)
        self.assertEqual(cmd, "ERROR", body)
        self.assertEqual(body["error"], "bad_envelope", body)
        self.assertIn("split", body["message"])


if __name__ == "__main__":
    smftest.main()
