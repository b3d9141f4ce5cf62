"""SIGTERM while requests are in flight: the ones being scanned are answered
with verdicts, the ones still queued with ERROR shutting_down, none is
dropped, and smfd exits 0."""

import shutil
import signal
import time
import unittest

import smftest
from smftest import envelope, fixture, recv_reply, scan_frames

# Copying a request across an ipc socket takes microseconds, scanning it far longer:
# after a short pause every request sent is inside smfd, received if not yet read.
# Fewer requests than ZeroMQ's default receive queue (1000) are sent at once, so that
# all of them can be inside smfd, not in the kernel or in this client's queue.


def big_message(i):
    """Large enough to keep the workers busy while the signal arrives."""
    text = b"".join(b"Line %d of a long report about nothing in particular.\n" % n
                    for n in range(3000))
    return (b"From: alice@example.net\nTo: user@example.com\nSubject: report %d\n\n" % i) + text


class SigtermTest(unittest.TestCase):

    def setUp(self):
        self.smfd = smftest.Smfd().start()
        self.sock = self.smfd.dealer()

    def tearDown(self):
        self.sock.close(0)
        self.smfd.close()

    def run_and_stop(self, bodies, replies_before_signal, pause):
        """Sends every body, signals SIGTERM after some replies; returns (replies, after)."""
        env = envelope()
        for i, body in enumerate(bodies):
            self.sock.send_multipart(scan_frames(b"s-%d" % i, env, body))
        replies = {}
        while len(replies) < replies_before_signal:
            cmd, rid, body = recv_reply(self.sock, 30000)
            replies[rid] = (cmd, body)
        time.sleep(pause)
        self.smfd.signal(signal.SIGTERM)
        after = 0
        deadline = time.time() + 60
        while len(replies) < len(bodies) and time.time() < deadline:
            if not self.sock.poll(500):
                if self.smfd.proc.poll() is not None:
                    break
                continue
            cmd, rid, body = recv_reply(self.sock)
            self.assertNotIn(rid, replies, "two replies for one request")
            replies[rid] = (cmd, body)
            after += 1
        status = self.smfd.stop(timeout=60)
        missing = [i for i in range(len(bodies)) if b"s-%d" % i not in replies]
        self.assertEqual(missing, [], "requests never answered:\n" + self.smfd.log_tail())
        for rid, (cmd, body) in replies.items():
            # A request the engine had not yet taken may be refused, but never dropped.
            if cmd == "ERROR":
                self.assertEqual(body["error"], "shutting_down", body)
            else:
                self.assertEqual(cmd, "VERDICT")
        self.assertEqual(status, 0, self.smfd.log_tail())
        return replies, after

    def test_in_flight_answered(self):
        """Slow scans: the messages being scanned at SIGTERM finish with verdicts."""
        replies, after = self.run_and_stop([big_message(i) for i in range(150)], 1, 0.2)
        self.assertGreater(after, 0, "nothing was in flight when SIGTERM arrived")
        verdicts = sum(1 for c, _ in replies.values() if c == "VERDICT")
        self.assertGreater(verdicts, 1, "in-flight requests were answered with verdicts")

    def test_queued_refused_not_dropped(self):
        """Fast scans and a long queue: every queued request still gets its one reply."""
        clean = fixture("clean.eml")
        replies, after = self.run_and_stop([clean] * 900, 20, 0.05)
        refused = sum(1 for c, _ in replies.values() if c == "ERROR")
        self.assertGreater(refused + after, 0, "the queue was empty when SIGTERM arrived")


class SecondSignalTest(unittest.TestCase):
    """A second SIGTERM while scans are still running stops smfd at once."""

    SLOW_MS = 8000

    def setUp(self):
        self.silent, self.etc, conf = smftest.silent_dns_etc(self.SLOW_MS)
        self.smfd = smftest.Smfd("workers=1", config=conf).start()
        self.sock = self.smfd.dealer()

    def tearDown(self):
        self.sock.close(0)
        self.smfd.close()
        self.silent.close()
        shutil.rmtree(self.etc, ignore_errors=True)

    def test_second_signal_stops_at_once(self):
        # The reverse DNS of this client never answers: the scan takes SLOW_MS.
        self.sock.send_multipart(scan_frames(b"slow", envelope(client_ip="203.0.113.7"),
                                             fixture("clean.eml")))
        time.sleep(0.5)
        self.smfd.signal(signal.SIGTERM)
        time.sleep(0.5)
        self.assertIsNone(self.smfd.proc.poll(), "smfd did not wait for the scan in flight")
        t0 = time.monotonic()
        self.smfd.signal(signal.SIGTERM)
        status = self.smfd.proc.wait(timeout=self.SLOW_MS / 1000 * 2)
        self.assertLess(time.monotonic() - t0, self.SLOW_MS / 1000 / 2, self.smfd.log_tail())
        self.assertNotEqual(status, 0)
        self.assertIn("second signal: stopping without waiting", self.smfd.log_tail())


if __name__ == "__main__":
    smftest.main()
