"""SIGHUP reloads smfd without dropping mail: while a client keeps requests
flowing, two reloads happen; every request gets a VERDICT, the generation
moves on, and smfd is still alive."""

import signal
import time
import unittest

import smftest
from smftest import envelope, fixture, recv_reply, scan_frames

IN_FLIGHT = 16
MIN_REQUESTS = 240


class ReloadTest(unittest.TestCase):

    def setUp(self):
        self.smfd = smftest.Smfd().start()

    def tearDown(self):
        self.smfd.close()

    def ping(self, sock, rid):
        sock.send_multipart([smftest.PROTO, b"PING", rid])
        cmd, got, body = recv_reply(sock)
        self.assertEqual((cmd, got), ("PONG", rid))
        return body

    def test_sighup_under_load(self):
        sock = self.smfd.dealer()
        gen0 = self.ping(sock, b"ping-0")["generation"]
        bodies = [fixture("clean.eml"), fixture("gtube.eml")]
        env = envelope()
        pending, results = {}, {}
        sent = hups = 0
        last_hup = None
        # Keep sending until both reloads are signalled, at least MIN_REQUESTS went out,
        # and requests kept flowing for two seconds after the second SIGHUP.
        while hups < 2 or sent < MIN_REQUESTS or time.time() - last_hup < 2.0:
            while len(pending) < IN_FLIGHT:
                rid = b"r-%d" % sent
                sock.send_multipart(scan_frames(rid, env, bodies[sent % 2]))
                pending[rid] = time.time()
                sent += 1
                if sent in (40, 120):
                    self.smfd.signal(signal.SIGHUP)
                    hups += 1
                    last_hup = time.time()
            cmd, rid, body = recv_reply(sock, 30000)
            self.assertIn(rid, pending, "a reply for an unknown request id")
            del pending[rid]
            results[rid] = (cmd, body)
        while pending:
            cmd, rid, body = recv_reply(sock, 30000)
            del pending[rid]
            results[rid] = (cmd, body)

        self.assertEqual(len(results), sent)
        bad = {rid: r for rid, r in results.items() if r[0] != "VERDICT"}
        self.assertEqual(bad, {}, "requests answered with something other than VERDICT")
        for i in range(sent):
            cmd, body = results[b"r-%d" % i]
            self.assertEqual(body["action"] == "accept", i % 2 == 0, body)

        # The reloads took effect: the generation moved on (twice, unless they coalesced).
        deadline = time.time() + 30
        gen = gen0
        while gen == gen0 and time.time() < deadline:
            gen = self.ping(sock, b"ping-1")["generation"]
            time.sleep(0.1)
        self.assertGreater(gen, gen0, self.smfd.log_tail())
        self.assertIsNone(self.smfd.proc.poll(), "smfd died:\n" + self.smfd.log_tail())
        sock.close(0)
        self.assertEqual(self.smfd.stop(), 0, self.smfd.log_tail())


if __name__ == "__main__":
    smftest.main()
