"""SIGHUP reloads smfd without dropping mail: while a client keeps requests
flowing, two reloads happen; every request gets a VERDICT, the generation
moves on, and smfd is still alive."""

import os
import shutil
import signal
import tempfile
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


class ReloadConfigTest(unittest.TestCase):
    """A reload applies a changed configuration; a broken one is refused and the
    running generation keeps serving."""

    def setUp(self):
        self.etc = os.path.join(tempfile.mkdtemp(prefix="smf-etc-"), "etc")
        shutil.copytree(os.path.join(smftest.PATHS["source"], "etc"), self.etc)
        self.conf = os.path.join(self.etc, "smfd.conf")
        with open(self.conf) as f:
            self.original = f.read()
        self.smfd = smftest.Smfd(config=self.conf).start()
        self.sock = self.smfd.dealer()

    def tearDown(self):
        self.sock.close(0)
        self.smfd.close()
        shutil.rmtree(os.path.dirname(self.etc), ignore_errors=True)

    def generation(self, rid):
        self.sock.send_multipart([smftest.PROTO, b"PING", rid])
        cmd, _, body = recv_reply(self.sock)
        return body["generation"]

    def gtube_action(self, rid):
        self.sock.send_multipart(scan_frames(rid, envelope(), fixture("gtube.eml")))
        cmd, _, body = recv_reply(self.sock, 30000)
        self.assertEqual(cmd, "VERDICT", body)
        return body["action"]

    def reload_with(self, text, expect_log):
        with open(self.conf, "w") as f:
            f.write(text)
        self.smfd.signal(signal.SIGHUP)
        deadline = time.time() + 30
        while expect_log not in self.smfd.log_tail() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn(expect_log, self.smfd.log_tail())

    def test_failed_reload_keeps_generation(self):
        gen = self.generation(b"g0")
        self.assertNotEqual(self.gtube_action(b"a0"), "accept")
        self.reload_with(self.original + "\nworkerz = 3\n", "reload failed")
        self.assertIn("workerz", self.smfd.log_tail())
        self.assertEqual(self.generation(b"g1"), gen)
        self.assertNotEqual(self.gtube_action(b"a1"), "accept")
        self.assertIsNone(self.smfd.proc.poll(), "smfd died on a bad reload")

    def test_reload_applies_module_toggle(self):
        gen = self.generation(b"g0")
        self.assertNotEqual(self.gtube_action(b"a0"), "accept")
        off = self.original.replace("pattern {\n", "pattern {\n  enabled = false\n", 1)
        self.assertNotEqual(off, self.original)
        self.reload_with(off, "generation %d is current" % (gen + 1))
        self.assertEqual(self.generation(b"g1"), gen + 1)
        self.assertEqual(self.gtube_action(b"a1"), "accept")

    def test_larger_max_message_size_is_said_to_need_a_restart(self):
        gen = self.generation(b"g0")
        self.reload_with(self.original + "\nmax_message_size = 209715200\n",
                         "generation %d is current" % (gen + 1))
        self.assertIn("max_message_size grows only at restart", self.smfd.log_tail())


if __name__ == "__main__":
    smftest.main()
