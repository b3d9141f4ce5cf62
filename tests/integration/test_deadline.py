"""A request whose deadline has passed is answered tempfail without being
scanned (symbol SMF_DEADLINE_EXPIRED); a future deadline scans as usual."""

import smftest
from smftest import envelope, fixture, now_ms


class DeadlineTest(smftest.SmfdTestCase):

    def assert_expired(self, reply):
        self.assertEqual(reply["action"], "tempfail", reply)
        names = [s["name"] for s in reply["symbols"]]
        self.assertIn("SMF_DEADLINE_EXPIRED", names)
        self.assertTrue(400 <= reply["smtp"]["code"] < 500, reply["smtp"])
        # Not scanned: no stage found anything, so GTUBE left no trace.
        for stage in reply.get("stages", []):
            self.assertEqual(stage["status"], "skipped", stage)
        self.assertFalse(any(s["module"] == "pattern" for s in reply["symbols"]), names)

    def test_past_deadline(self):
        cmd, reply = self.scan(envelope(deadline=now_ms() - 60000), fixture("gtube.eml"))
        self.assertEqual(cmd, "VERDICT")
        self.assert_expired(reply)

    def test_past_deadline_clean(self):
        cmd, reply = self.scan(envelope(deadline=1), fixture("clean.eml"), rid=b"d-2")
        self.assertEqual(cmd, "VERDICT")
        self.assert_expired(reply)

    def test_deadline_zero_has_passed(self):
        # The start of 1970 has passed like any other time: 0 is no way to say "none".
        cmd, reply = self.scan(envelope(deadline=0), fixture("clean.eml"), rid=b"d-0")
        self.assertEqual(cmd, "VERDICT")
        self.assert_expired(reply)

    def test_future_deadline_scans(self):
        cmd, reply = self.scan(envelope(deadline=now_ms() + 60000), fixture("gtube.eml"),
                               rid=b"d-3")
        self.assertEqual(cmd, "VERDICT")
        self.assertNotEqual(reply["action"], "accept")
        names = [s["name"] for s in reply["symbols"]]
        self.assertNotIn("SMF_DEADLINE_EXPIRED", names)
        self.assertTrue(any(s["module"] == "pattern" for s in reply["symbols"]), names)

    def connect(self, env, rid):
        self.sock.send_multipart([smftest.PROTO, b"CONNECT", rid, env])
        cmd, got, reply = smftest.recv_reply(self.sock)
        self.assertEqual((cmd, got), ("VERDICT", rid), reply)
        return reply

    def test_past_deadline_at_the_connection_stage(self):
        # Past its deadline a check is not run, and must not answer accept: had it run, a
        # blocked client would have been refused.
        fresh = self.connect(envelope(), b"c-1")
        self.assertEqual(fresh["action"], "accept", fresh)
        late = self.connect(envelope(deadline=now_ms() - 1000), b"c-2")
        self.assert_expired(late)

    def test_no_time_left_at_the_connection_stage(self):
        # timeout_ms 0 leaves no time for any stage: all of them timing out at once must
        # not answer accept.
        for i in range(5):
            late = self.connect(envelope(timeout_ms=0), b"c-0-%d" % i)
            self.assert_expired(late)

    def test_negative_deadline_is_refused(self):
        self.sock.send_multipart([smftest.PROTO, b"CONNECT", b"c-3",
                                  envelope(deadline=-2 ** 63)])
        cmd, got, reply = smftest.recv_reply(self.sock)
        self.assertEqual((cmd, reply.get("error")), ("ERROR", "bad_envelope"), reply)
        self.assertIn("deadline", reply["message"])

    def test_timeout_ms_scans(self):
        cmd, reply = self.scan(envelope(timeout_ms=60000), fixture("clean.eml"), rid=b"d-4")
        self.assertEqual((cmd, reply["action"]), ("VERDICT", "accept"))


if __name__ == "__main__":
    smftest.main()
