"""SIGTERM while requests are in flight: every request sent before the signal
is answered (none lost), and smfd exits 0."""

import signal
import time
import unittest

import smftest
from smftest import envelope, recv_reply, scan_frames

REQUESTS = 200


def big_message(i):
    """Large enough to keep the workers busy while the signal arrives."""
    text = b"".join(b"Line %d of a long report about nothing in particular.\n" % n
                    for n in range(3000))
    return (b"From: alice@example.net\nTo: user@example.com\nSubject: report %d\n\n" % i) + text


class SigtermTest(unittest.TestCase):

    def setUp(self):
        self.smfd = smftest.Smfd().start()

    def tearDown(self):
        self.smfd.close()

    def test_in_flight_answered(self):
        sock = self.smfd.dealer()
        env = envelope()
        for i in range(REQUESTS):
            sock.send_multipart(scan_frames(b"s-%d" % i, env, big_message(i)))
        # Wait for the first answer, so that the engine is busy with the rest.
        replies = {}
        cmd, rid, body = recv_reply(sock, 30000)
        replies[rid] = (cmd, body)
        self.smfd.signal(signal.SIGTERM)
        after = 0
        deadline = time.time() + 60
        while len(replies) < REQUESTS and time.time() < deadline:
            if not sock.poll(500):
                if self.smfd.proc.poll() is not None:
                    break
                continue
            cmd, rid, body = recv_reply(sock)
            self.assertNotIn(rid, replies, "two replies for one request")
            replies[rid] = (cmd, body)
            after += 1
        status = self.smfd.stop(timeout=60)
        sock.close(0)

        missing = [i for i in range(REQUESTS) if b"s-%d" % i not in replies]
        self.assertEqual(missing, [], "requests never answered:\n" + self.smfd.log_tail())
        self.assertGreater(after, 0, "nothing was in flight when SIGTERM arrived")
        for rid, (cmd, body) in replies.items():
            # A request the engine had not yet taken may be refused, but never dropped.
            if cmd == "ERROR":
                self.assertEqual(body["error"], "shutting_down", body)
            else:
                self.assertEqual(cmd, "VERDICT")
        verdicts = sum(1 for c, _ in replies.values() if c == "VERDICT")
        self.assertGreater(verdicts, 1, "in-flight requests were answered with verdicts")
        self.assertEqual(status, 0, self.smfd.log_tail())


if __name__ == "__main__":
    smftest.main()
