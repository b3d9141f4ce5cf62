"""Requests that wait for a worker: their timeout counts from when smfd received them,
the reply says how long they waited, and past max_queued / max_queued_size smfd answers
ERROR busy at once instead of letting front ends wait.

One worker is kept busy by a scan whose reputation stage asks a DNS server that never
answers (a UDP socket of this test), so each slow scan takes dns_timeout_ms."""

import json
import os
import shutil
import time
import unittest

import smftest
from smftest import envelope, fixture, recv_reply, scan_frames

SLOW_MS = 1500


class Backlog(unittest.TestCase):

    def start(self, *overrides):
        self.silent, self.etc, conf = smftest.silent_dns_etc(SLOW_MS)
        self.smfd = smftest.Smfd("workers=1", *overrides, config=conf).start()
        self.sock = self.smfd.dealer()

    def tearDown(self):
        self.sock.close(0)
        status = self.smfd.stop()
        self.smfd.close()
        self.silent.close()
        shutil.rmtree(self.etc, ignore_errors=True)
        self.assertEqual(status, 0, "smfd did not stop cleanly")

    def send_slow(self, rid):
        """A request the one worker spends SLOW_MS on (its client has no reverse DNS)."""
        self.sock.send_multipart(scan_frames(rid, envelope(client_ip="203.0.113.7"),
                                             fixture("clean.eml")))

    def send_quick(self, rid, **fields):
        """A request scanned at once: its client is on a trusted network, asked of no DNS."""
        fields.setdefault("client_ip", "127.0.0.1")
        self.sock.send_multipart(scan_frames(rid, envelope(**fields), fixture("clean.eml")))

    def replies(self, n, timeout_ms=30000):
        got = {}
        for _ in range(n):
            cmd, rid, body = recv_reply(self.sock, timeout_ms)
            got[rid] = (cmd, body, time.monotonic())
        return got

    def stats(self):
        self.sock.send_multipart([smftest.PROTO, b"STATS", b"stats"])
        cmd, rid, body = recv_reply(self.sock)
        self.assertEqual((cmd, rid), ("STATS", b"stats"), body)
        return body

    def wait_scanning(self, rid=b"slow"):
        """Returns once the one worker is scanning the slow request rid (STATS is
        answered by the transport at once): a fixed pause could end first on a loaded
        machine. A request refused as busy (the worker still answering the PINGs sent
        while smfd started, with no backlog allowed) is sent again."""
        deadline = time.monotonic() + 10
        while True:
            self.sock.send_multipart([smftest.PROTO, b"STATS", b"stats"])
            cmd, got, body = recv_reply(self.sock)
            if cmd == "ERROR" and got == rid and body.get("error") == "busy":
                self.send_slow(rid)
                cmd, got, body = recv_reply(self.sock)
            self.assertEqual((cmd, got), ("STATS", b"stats"), body)
            # In flight with nothing waiting: the slow request itself is scanned, not a
            # PING left from start-up ahead of it.
            if body["queue"]["in_flight"] >= 1 and body["queue"]["waiting"] == 0:
                return
            self.assertLess(time.monotonic(), deadline, "no worker took the slow scan")
            time.sleep(0.01)

    def test_timeout_counts_from_arrival(self):
        self.start()
        self.send_slow(b"slow")
        self.wait_scanning()
        # 500 ms is plenty for a clean message, but it waits SLOW_MS behind the first.
        self.send_quick(b"quick", timeout_ms=500)
        got = self.replies(2)
        cmd, slow, _ = got[b"slow"]
        self.assertEqual(cmd, "VERDICT", slow)
        self.assertGreaterEqual(slow["elapsed_ms"], SLOW_MS * 0.9, slow)
        cmd, quick, _ = got[b"quick"]
        self.assertEqual(cmd, "VERDICT", quick)
        names = [s["name"] for s in quick["symbols"]]
        self.assertEqual(quick["action"], "tempfail", quick)
        self.assertIn("SMF_DEADLINE_EXPIRED", names)
        self.assertGreaterEqual(quick["queued_ms"], 500, quick)

    def test_waiting_is_reported(self):
        self.start()
        self.stats()
        self.send_slow(b"slow")
        self.wait_scanning()
        self.send_quick(b"next")
        got = self.replies(2)
        cmd, nxt, _ = got[b"next"]
        self.assertEqual((cmd, nxt["action"]), ("VERDICT", "accept"), nxt)
        # It waited for most of the slow scan, which it was not part of.
        self.assertGreaterEqual(nxt["queued_ms"], SLOW_MS * 0.6, nxt)
        self.assertLess(nxt["elapsed_ms"], SLOW_MS * 0.6, nxt)
        self.assertLess(got[b"slow"][1]["queued_ms"], SLOW_MS * 0.3, got[b"slow"][1])
        queue = self.stats()["queue"]
        self.assertEqual((queue["waiting"], queue["refused_busy"]), (0, 0), queue)
        self.assertGreaterEqual(queue["peak"], 1, queue)

    def test_full_backlog_answers_busy_at_once(self):
        self.start("max_queued=1")
        # PINGs sent while smfd started may have found the backlog full already.
        before = self.stats()["queue"]["refused_busy"]
        self.send_slow(b"slow")
        self.wait_scanning()
        self.send_quick(b"waits")
        t0 = time.monotonic()
        self.send_quick(b"refused")
        got = self.replies(3)
        cmd, body, at = got[b"refused"]
        self.assertEqual((cmd, body.get("error")), ("ERROR", "busy"), body)
        self.assertIn("max_queued", self.smfd.log_tail(200))
        # Told at once, not after the slow scan.
        self.assertLess(at - t0, SLOW_MS / 1000 / 2)
        self.assertEqual(got[b"waits"][0], "VERDICT", got[b"waits"])
        self.assertEqual(got[b"slow"][0], "VERDICT", got[b"slow"])
        queue = self.stats()["queue"]
        self.assertEqual(queue["refused_busy"], before + 1, queue)

    def test_no_backlog(self):
        self.start("max_queued=0")
        self.send_slow(b"slow")
        self.wait_scanning()
        self.send_quick(b"refused")
        got = self.replies(2)
        self.assertEqual(got[b"refused"][:2][0], "ERROR")
        self.assertEqual(got[b"refused"][1]["error"], "busy")
        self.assertEqual(got[b"slow"][0], "VERDICT")

    def test_smfc_asks_a_busy_engine_again(self):
        # smfc does not give up on "busy" (the engine did not start on the message): it
        # asks again, within its timeout, and prints the verdict once a worker is free.
        self.start("max_queued=0")
        self.send_slow(b"slow")
        self.wait_scanning()
        t0 = time.monotonic()
        r = self.smfd.smfc("--json", "--timeout", "10000", "--ip", "127.0.0.1",
                           os.path.join(smftest.FIXTURES, "clean.eml"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["action"], "accept", r.stdout)
        self.assertGreater(time.monotonic() - t0, SLOW_MS / 1000 / 2)
        self.replies(1)
        self.assertGreaterEqual(self.stats()["queue"]["refused_busy"], 1)
        # Within a timeout too short to wait, it reports the engine's refusal.
        self.send_slow(b"slow-2")
        self.wait_scanning(b"slow-2")
        r = self.smfd.smfc("--json", "--timeout", "300", "--ip", "127.0.0.1",
                           os.path.join(smftest.FIXTURES, "clean.eml"))
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(json.loads(r.stdout)["error"], "busy", r.stdout)
        self.replies(1)

    def test_stats_are_answered_while_every_worker_scans(self):
        # What the engine is doing matters most when it is busy: STATS does not wait for a
        # worker (nor get "busy"); PING, which checks that scans can run, does.
        self.start("max_queued=0")
        self.send_slow(b"slow")
        self.wait_scanning()
        t0 = time.monotonic()
        queue = self.stats()["queue"]
        self.assertLess(time.monotonic() - t0, SLOW_MS / 1000 / 2)
        self.assertEqual((queue["in_flight"], queue["waiting"]), (1, 0), queue)
        self.sock.send_multipart([smftest.PROTO, b"PING", b"ping"])
        cmd, rid, body = recv_reply(self.sock)
        self.assertEqual((cmd, rid, body.get("error")), ("ERROR", b"ping", "busy"), body)
        self.assertEqual(self.replies(1)[b"slow"][0], "VERDICT")

    def test_byte_limit(self):
        # The first waiting request fits however large; the next does not.
        self.start("max_queued=10", "max_queued_size=1000")
        self.send_slow(b"slow")
        self.wait_scanning()
        self.send_quick(b"big")
        self.send_quick(b"refused")
        got = self.replies(3)
        self.assertEqual(got[b"big"][0], "VERDICT", got[b"big"])
        self.assertEqual(got[b"refused"][1].get("error"), "busy", got[b"refused"])

    def test_reply_to_a_gone_client_is_reported(self):
        self.start()
        gone = self.smfd.dealer()
        gone.send_multipart(scan_frames(b"gone-1", envelope(client_ip="203.0.113.7"),
                                        fixture("clean.eml")))
        time.sleep(0.3)
        gone.close(0)
        deadline = time.monotonic() + SLOW_MS / 1000 * 4
        line = "request gone-1: VERDICT reply dropped: the client disconnected"
        while line not in self.smfd.log_tail(50) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertIn(line, self.smfd.log_tail(50))
        # The others are served as before.
        self.send_quick(b"after")
        self.assertEqual(self.replies(1)[b"after"][0], "VERDICT")

    def test_bad_limits_are_refused(self):
        for bad in ("max_queued=-1", "max_queued_size=-5"):
            r = smftest.Smfd(bad)
            with self.assertRaises(AssertionError) as e:
                r.start(ready_timeout=10)
            self.assertIn(bad.split("=")[0], str(e.exception))
            r.close()
        self.start()


if __name__ == "__main__":
    smftest.main()
