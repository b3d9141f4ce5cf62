"""Malformed requests get the documented ERROR reply and the engine keeps
serving: bad version, command, frames, envelopes, request ids, sizes."""

import json
import os
import tempfile
import time

import smftest
from smftest import PROTO, envelope, recv_reply

MAX_SIZE = 65536


class MalformedTest(smftest.SmfdTestCase):
    overrides = ("max_message_size=%d" % MAX_SIZE,)

    def expect_error(self, frames, code, rid):
        self.sock.send_multipart(frames)
        cmd, got, body = recv_reply(self.sock)
        self.assertEqual(cmd, "ERROR", body)
        self.assertEqual(body["error"], code, body)
        self.assertEqual(body["schema"], 1)
        self.assertIsInstance(body["message"], str)
        self.assertTrue(body["message"], "an error explains itself")
        if rid is not None:
            self.assertEqual(got, rid)
            self.assertEqual(body["request_id"], rid.decode())
        return body

    def assert_still_serving(self):
        cmd, reply = self.scan(envelope(), smftest.fixture("clean.eml"), rid=b"after")
        self.assertEqual(cmd, "VERDICT")
        self.assertEqual(reply["action"], "accept")

    def test_bad_version(self):
        self.expect_error([b"SMF/2", b"PING", b"v-1"], "bad_version", b"v-1")
        self.expect_error([b"HTTP/1.1", b"SCAN", b"v-2", envelope(), b"x"], "bad_version", b"v-2")
        self.assert_still_serving()

    def test_bad_command(self):
        self.expect_error([PROTO, b"FROB", b"c-1"], "bad_command", b"c-1")
        self.expect_error([PROTO, b"scan", b"c-2", envelope(), b"x"], "bad_command", b"c-2")
        self.assert_still_serving()

    def test_too_few_frames(self):
        """Without a request id the reply carries an empty one."""
        self.expect_error([PROTO, b"SCAN"], "bad_frames", b"")
        self.expect_error([PROTO], "bad_frames", b"")
        self.assert_still_serving()

    def test_wrong_frame_count(self):
        self.expect_error([PROTO, b"SCAN", b"f-1", envelope()], "bad_frames", b"f-1")
        self.expect_error([PROTO, b"SCAN", b"f-2", envelope(), b"x", b"extra"], "bad_frames",
                          b"f-2")
        self.expect_error([PROTO, b"PING", b"f-3", b"{}"], "bad_frames", b"f-3")
        self.assert_still_serving()

    def test_too_many_frames_with_a_bad_request_id(self):
        """The transport refuses too many frames itself; a request id it cannot
        echo (not UTF-8) is answered with an empty one, and smfd lives on."""
        self.expect_error([PROTO, b"SCAN", b"m-1"] + [b"x"] * 30, "bad_frames", b"m-1")
        self.expect_error([PROTO, b"SCAN", b"\xff\xfe"] + [b"x"] * 30, "bad_frames", b"")
        self.assert_still_serving()

    def test_bad_request_id(self):
        self.expect_error([PROTO, b"PING", b"x" * 129], "bad_frames", None)
        self.expect_error([PROTO, b"SCAN", b"x" * 4096, envelope(), b"x"], "bad_frames", None)
        self.expect_error([PROTO, b"PING", b""], "bad_frames", None)
        # 128 bytes is still a valid id.
        rid = b"y" * 128
        self.sock.send_multipart([PROTO, b"PING", rid])
        cmd, got, _ = recv_reply(self.sock)
        self.assertEqual((cmd, got), ("PONG", rid))

    def test_envelope_not_json(self):
        body = b"x"
        for i, env in enumerate([b"not json", b"{\"recipients\": [", b"[1, 2]", b"\"str\"", b""]):
            rid = b"e-%d" % i
            self.expect_error([PROTO, b"SCAN", rid, env, body], "bad_envelope", rid)
        self.assert_still_serving()

    def test_envelope_recipients(self):
        cases = [
            {"sender": "a@example.net"},                       # no recipients
            {"recipients": []},                                # empty
            {"recipients": "user@example.com"},                # not an array
            {"recipients": [1, 2]},                            # not strings
            {"recipients": ["user@example.com", None]},        # one not a string
        ]
        for i, env in enumerate(cases):
            rid = b"r-%d" % i
            self.expect_error([PROTO, b"SCAN", rid, json.dumps(env).encode(), b"x"],
                              "bad_envelope", rid)
        self.assert_still_serving()

    def test_envelope_limits(self):
        # Over 10,000 recipients: refused, saying why.
        many = json.dumps({"recipients": ["u%d@example.com" % i for i in range(10001)]})
        body = self.expect_error([PROTO, b"SCAN", b"l-1", many.encode(), b"x"], "bad_envelope",
                                 b"l-1")
        self.assertIn("10000", body["message"])
        # A CONNECT without recipients may say so with null.
        self.sock.send_multipart([PROTO, b"CONNECT", b"l-3",
                                  json.dumps({"recipients": None}).encode()])
        cmd, got, reply = recv_reply(self.sock)
        self.assertEqual((cmd, got, reply["action"]), ("VERDICT", b"l-3", "accept"), reply)
        self.assert_still_serving()

    def test_envelope_larger_than_max_message_size(self):
        """The envelope may hold 4 MiB however small max_message_size is: one of 10,000
        long addresses is scanned, one over 4 MiB is refused saying why, and neither
        costs the client its connection."""
        rcpts = ["%s%05d@example.com" % ("u" * 150, i) for i in range(10000)]
        many = json.dumps({"recipients": rcpts}).encode()
        self.assertGreater(len(many), MAX_SIZE + (1 << 20))
        cmd, reply = self.scan(many, smftest.fixture("clean.eml"), rid=b"big-env-1",
                               timeout_ms=10000)
        self.assertEqual(cmd, "VERDICT", reply)
        big = json.dumps({"recipients": ["u@example.com"], "x": "y" * (4 << 20)}).encode()
        body = self.expect_error([PROTO, b"SCAN", b"big-env-2", big, b"x"], "bad_envelope",
                                 b"big-env-2")
        self.assertIn("4 MiB", body["message"])
        self.assert_still_serving()

    def test_envelope_field_types(self):
        cases = [{"sender": 5}, {"direction": 1}, {"deadline": "soon"},
                 {"client_ip": ["192.0.2.1"]},
                 # now + timeout_ms would overflow: refused, not wrapped round.
                 {"timeout_ms": 2 ** 63 - 1},
                 # Checked even where deadline is the one that applies.
                 {"deadline": smftest.now_ms() + 60000, "timeout_ms": "soon"}]
        for i, fields in enumerate(cases):
            rid = b"t-%d" % i
            self.expect_error([PROTO, b"SCAN", rid, envelope(**fields), b"x"],
                              "bad_envelope", rid)
        self.assert_still_serving()

    def test_client_ip_that_is_no_address(self):
        # Passed on, such a client_ip read as an unknown client: every address check
        # (lists, DNS lists, history, SPF) silently did not run.
        bad = ["unknown", "mail.example.net", "[192.0.2.1]", "IPv6:2001:db8::1", " 192.0.2.1",
               "192.0.2.1 ", "192.0.2.256", "fe80::1%eth0", "192.0.2.1/32"]
        for i, ip in enumerate(bad):
            for cmd in (b"SCAN", b"CONNECT"):
                rid = b"ip-%d-%s" % (i, cmd)
                frames = [PROTO, cmd, rid, envelope(client_ip=ip)]
                body = self.expect_error(frames + [b"x"] if cmd == b"SCAN" else frames,
                                         "bad_envelope", rid)
                self.assertIn("client_ip: expected an IPv4 or IPv6 address", body["message"], ip)
        # An address, IPv4 or IPv6 in any form, or "" for a client not known, is taken.
        for ip in ("", "203.0.113.7", "2001:DB8::7", "::ffff:203.0.113.7"):
            cmd, reply = self.scan(envelope(client_ip=ip), smftest.fixture("clean.eml"))
            self.assertEqual(cmd, "VERDICT", (ip, reply))
        self.assert_still_serving()

    def test_unknown_fields_ignored(self):
        cmd, reply = self.scan(envelope(future_field={"a": 1}), smftest.fixture("clean.eml"))
        self.assertEqual(cmd, "VERDICT")

    def test_control_characters_cannot_forge_log_lines(self):
        forged = "2026-01-01T00:00:00.000 smfd[1] info: FORGED-LINE"
        cmd, reply = self.scan(envelope(sender="a@example.net\n" + forged),
                               smftest.fixture("clean.eml"))
        self.assertEqual(cmd, "VERDICT")
        deadline = time.time() + 10
        while "FORGED-LINE" not in self.smfd.log_tail(400) and time.time() < deadline:
            time.sleep(0.1)
        lines = self.smfd.log_tail(400).splitlines()
        self.assertTrue(any("FORGED-LINE" in l for l in lines), "the request was not logged")
        self.assertFalse(any(l.startswith("2026-01-01T00:00:00.000") for l in lines), lines[-5:])

    def test_too_large(self):
        big = b"Subject: big\n\n" + b"x" * (MAX_SIZE + 1)
        self.expect_error([PROTO, b"SCAN", b"big-1", envelope(), big], "too_large", b"big-1")
        self.assert_still_serving()

    def test_smfc_reports_engine_error(self):
        """smfc names the file and the engine's error code, and exits 1."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "big.eml")
            with open(path, "wb") as f:
                f.write(b"To: user@example.com\n\n" + b"y" * (MAX_SIZE + 1))
            p = self.smfd.smfc("--json", path)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"too_large", p.stderr)
        self.assertIn(path.encode(), p.stderr)
        out = json.loads(p.stdout)
        self.assertEqual((out["file"], out["error"]), (path, "too_large"))

    def test_burst_of_garbage_then_valid(self):
        """Many broken requests pipelined on one socket: one reply each, in any order."""
        sent = {}
        for i in range(50):
            rid = b"g-%d" % i
            sent[rid] = "bad_command" if i % 2 else "bad_envelope"
            if i % 2:
                self.sock.send_multipart([PROTO, b"NOPE", rid])
            else:
                self.sock.send_multipart([PROTO, b"SCAN", rid, b"{", b"x"])
        got = {}
        for _ in sent:
            cmd, rid, body = recv_reply(self.sock)
            self.assertEqual(cmd, "ERROR")
            got[rid] = body["error"]
        self.assertEqual(got, sent)
        self.assert_still_serving()

    def test_req_socket(self):
        req = self.smfd.req()
        try:
            req.send_multipart([PROTO, b"PING", b"q-1"])
            cmd, rid, body = recv_reply(req)
            self.assertEqual((cmd, rid), ("PONG", b"q-1"))
            req.send_multipart([PROTO, b"SCAN", b"q-2", envelope(), smftest.fixture("clean.eml")])
            cmd, rid, body = recv_reply(req)
            self.assertEqual((cmd, rid, body["action"]), ("VERDICT", b"q-2", "accept"))
            req.send_multipart([PROTO, b"BOGUS", b"q-3"])
            cmd, rid, body = recv_reply(req)
            self.assertEqual((cmd, rid, body["error"]), ("ERROR", b"q-3", "bad_command"))
        finally:
            req.close(0)


class LargeEnvelopeTest(smftest.SmfdTestCase):
    """With the default max_message_size the socket takes a frame of 51 MiB;
    the envelope frame is held to 4 MiB, since parsing costs some 20 times
    its size."""

    def test_envelope_over_4_mib_is_refused(self):
        big = json.dumps({"recipients": ["u@example.com"], "x": "y" * (4 << 20)}).encode()
        self.sock.send_multipart([PROTO, b"SCAN", b"l-2", big, b"x"])
        cmd, got, body = recv_reply(self.sock)
        self.assertEqual((cmd, got, body["error"]), ("ERROR", b"l-2", "bad_envelope"), body)
        self.assertIn("4 MiB", body["message"])


if __name__ == "__main__":
    smftest.main()
