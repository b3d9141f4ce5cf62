"""A SUB socket on the publish endpoint receives verdict.<direction>.<domain>
events with the documented fields, one per recipient domain, no body."""

import json
import os
import time

import smftest
from smftest import envelope, fixture


class EventsTest(smftest.SmfdTestCase):

    def setUp(self):
        super().setUp()
        self.subsock = self.smfd.sub("verdict.")
        self.warm_up()

    def tearDown(self):
        self.subsock.close(0)
        super().tearDown()

    def warm_up(self):
        """PUB drops events until the subscription has reached it: scan until one arrives."""
        deadline = time.time() + 15
        n = 0
        while time.time() < deadline:
            n += 1
            self.scan(envelope(recipients=["warm@example.net"]), fixture("clean.eml"),
                      rid=b"warm-%d" % n)
            if self.subsock.poll(300):
                self.drain()
                return
        self.fail("no event reached the subscriber within 15 s")

    def drain(self):
        while self.subsock.poll(200):
            self.subsock.recv_multipart()

    def events_for(self, rid, count, timeout=10.0):
        got = []
        deadline = time.time() + timeout
        while len(got) < count and time.time() < deadline:
            if not self.subsock.poll(200):
                continue
            frames = self.subsock.recv_multipart()
            self.assertEqual(len(frames), 2, frames)
            body = json.loads(frames[1])
            if body.get("request_id") == rid:
                got.append((frames[0].decode(), body))
        return got

    def test_verdict_event_fields(self):
        msg = fixture("gtube.eml")
        env = envelope(sender="bulk@example.net", client_ip="198.51.100.7",
                       recipients=["user@example.com"])
        cmd, reply = self.scan(env, msg, rid=b"ev-1")
        self.assertEqual(cmd, "VERDICT")
        events = self.events_for("ev-1", 1)
        self.assertEqual(len(events), 1, events)
        topic, ev = events[0]
        self.assertEqual(topic, "verdict.inbound.example.com")
        self.assertEqual(ev["schema"], 1)
        self.assertEqual(ev["type"], "verdict")
        self.assertEqual(ev["id"], reply["id"])
        self.assertEqual(ev["direction"], "inbound")
        self.assertEqual(ev["domain"], "example.com")
        self.assertEqual(ev["action"], reply["action"])
        self.assertEqual(ev["score"], reply["score"])
        self.assertIsNone(ev["virus"])
        self.assertEqual(ev["client_ip"], "198.51.100.7")
        self.assertEqual(ev["sender"], "bulk@example.net")
        self.assertIn("user@example.com", ev["recipients"])
        self.assertTrue(any(s["module"] == "pattern" for s in ev["symbols"]), ev["symbols"])
        self.assertIsInstance(ev["time"], int)
        self.assertLess(abs(ev["time"] - smftest.now_ms()), 120000)
        # Events never carry the message.
        self.assertNotIn(b"GTUBE-STANDARD", json.dumps(ev).encode())

    def test_detail_not_utf8_is_kept(self):
        # A zip entry named in CP437: the attachment module's detail is not UTF-8.
        path = os.path.join(smftest.HERE, "..", "modules", "fixtures", "att_zip_cp437_exe.eml")
        with open(path, "rb") as f:
            msg = f.read()
        cmd, reply = self.scan(envelope(), msg, rid=b"ev-cp437")
        self.assertEqual(cmd, "VERDICT")
        details = {s["name"]: s.get("detail") for s in reply["symbols"]}
        self.assertEqual(details.get("ATT_ARCHIVE_BLOCKED"), "rechnung.zip: \\x84.exe", reply)
        events = self.events_for("ev-cp437", 1)
        self.assertEqual(len(events), 1, events)
        self.assertIn("ATT_ARCHIVE_BLOCKED", [s["name"] for s in events[0][1]["symbols"]])

    def test_one_event_per_domain(self):
        env = envelope(recipients=["a@example.com", "b@example.org"])
        cmd, reply = self.scan(env, fixture("clean.eml"), rid=b"ev-2")
        self.assertEqual(cmd, "VERDICT")
        events = self.events_for("ev-2", 2)
        self.assertEqual(sorted(t for t, _ in events),
                         ["verdict.inbound.example.com", "verdict.inbound.example.org"])
        for topic, ev in events:
            self.assertEqual(topic, "verdict.inbound." + ev["domain"])

    def test_quarantine_event_names_its_domain(self):
        # Topics match by prefix: "quarantine.example.com" also receives this one, so the
        # event says its domain for a subscriber to check.
        sub = self.smfd.sub("quarantine.example.com")
        try:
            got, n, deadline = None, 0, time.time() + 15
            while got is None and time.time() < deadline:
                n += 1
                self.scan(envelope(recipients=["user@example.com.evil.test"]),
                          fixture("gtube.eml"), rid=b"evq-%d" % n)
                if sub.poll(300):
                    got = sub.recv_multipart()
            self.assertIsNotNone(got, "no quarantine event within 15 s")
            self.assertEqual(got[0], b"quarantine.example.com.evil.test")
            self.assertEqual(json.loads(got[1])["domain"], "example.com.evil.test")
        finally:
            sub.close(0)

    def test_outbound_topic(self):
        env = envelope(direction="outbound", recipients=["friend@example.org"])
        cmd, reply = self.scan(env, fixture("clean.eml"), rid=b"ev-3")
        self.assertEqual(cmd, "VERDICT")
        events = self.events_for("ev-3", 1)
        self.assertEqual([t for t, _ in events], ["verdict.outbound.example.org"])
        self.assertEqual(events[0][1]["direction"], "outbound")


if __name__ == "__main__":
    smftest.main()
