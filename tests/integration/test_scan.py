"""Scans fixture mails through smfc and a real smfd: clean mail is accepted,
GTUBE is not; mbox files and folders are split and labelled; PING works."""

import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import unittest

import smftest
from smftest import FIXTURES, PROTO, recv_reply


def json_lines(proc):
    return [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]


class ScanTest(smftest.SmfdTestCase):

    def scan_bytes(self, msg):
        """smfc --json on one message given as bytes, its envelope guessed from
        the headers; returns the process and the file's path."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "msg.eml")
            with open(path, "wb") as f:
                f.write(msg)
            return self.smfd.smfc("--json", path), path

    def test_ping(self):
        self.sock.send_multipart([PROTO, b"PING", b"p-1"])
        cmd, rid, body = recv_reply(self.sock)
        self.assertEqual((cmd, rid), ("PONG", b"p-1"))
        self.assertEqual(body["schema"], 1)
        self.assertIsInstance(body["version"], str)
        self.assertIsInstance(body["generation"], int)
        self.assertGreaterEqual(body["workers"], 1)

    def test_clean_and_gtube(self):
        clean = os.path.join(FIXTURES, "clean.eml")
        gtube = os.path.join(FIXTURES, "gtube.eml")
        p = self.smfd.smfc("--json", "--rcpt", "user@example.com", clean, gtube)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        out = json_lines(p)
        self.assertEqual([o["file"] for o in out], [clean, gtube])
        ok, spam = out
        self.assertEqual(ok["action"], "accept", ok)
        self.assertNotEqual(spam["action"], "accept", spam)
        self.assertGreaterEqual(spam["score"], 1000, spam)
        names = [s["name"] for s in spam["symbols"]]
        self.assertTrue(any(s["module"] == "pattern" and s["score"] >= 1000
                            for s in spam["symbols"]), names)
        for o in out:
            for key in ("symbols", "virus", "quarantine_id", "elapsed_ms", "engine_ms",
                        "stages", "score", "smtp", "headers"):
                self.assertIn(key, o)
            self.assertIn(o["smtp"]["code"], (250, 451, 550), o["smtp"])
            self.assertIsNone(o["virus"])
            self.assertTrue(o["stages"], "the reply lists the stages that ran")
            for s in o["symbols"]:
                self.assertTrue({"name", "score", "module"} <= set(s), s)
            # The client's round trip includes the engine's own time.
            self.assertGreaterEqual(o["elapsed_ms"] + 0.01, o["engine_ms"])

    def test_envelope_from_headers(self):
        """Without --rcpt the recipient comes from To:, so the scan still succeeds."""
        p = self.smfd.smfc("--json", os.path.join(FIXTURES, "clean.eml"))
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(json_lines(p)[0]["action"], "accept")

    def test_recipients_parsed_from_headers(self):
        """Display names, comma lists, groups and Delivered-To all yield recipients:
        the engine runs one policy per recipient domain and reports each."""
        msg = (b"From: \"Smith, Alice\" <alice@example.net>\n"
               b"To: \"Doe, Bob\" <bob@example.com>, Team: carol@example.org,\n"
               b"  \"Dan\" <dan@example.org>;\n"
               b"Cc: undisclosed-recipients:;\n"
               b"Delivered-To: erin@example.info\n"
               b"Subject: lists\n\nhello\n")
        p, _ = self.scan_bytes(msg)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        out = json_lines(p)[0]
        self.assertEqual(sorted(d["domain"] for d in out["domains"]),
                         ["example.com", "example.info", "example.org"])

    def test_addresses_that_are_not_utf8_are_guessed_escaped(self):
        """8-bit junk in From (no Return-Path) or in To must not cost the scan, nor
        hide its domain: the address goes with each bad byte as \\xHH, as smf-milter
        sends it, and its domain's policy runs."""
        msg = (b"From: \xa3\xab\xbce@example.net\n"
               b"To: \xa3\xab@example.org, bob@example.com\n"
               b"Subject: junk\n\nbody\n")
        p, _ = self.scan_bytes(msg)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        out = json_lines(p)[0]
        self.assertEqual(out["action"], "accept", out)
        self.assertEqual(sorted(d["domain"] for d in out["domains"]),
                         ["example.com", "example.org"])

    def test_file_name_not_utf8_is_shown_escaped(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d.encode(), b"r\xe9sum\xe9.eml")
            shutil.copy(os.path.join(FIXTURES, "clean.eml"), path)
            p = self.smfd.smfc("--json", path)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        out = json_lines(p)[0]
        self.assertTrue(out["file"].endswith("r\\xe9sum\\xe9.eml"), out)
        self.assertEqual(out["action"], "accept", out)

    def test_no_recipient(self):
        p, path = self.scan_bytes(b"From: a@example.net\nSubject: x\n\nbody\n")
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"no recipient: pass --rcpt", p.stderr)
        self.assertIn(path.encode(), p.stderr)

    def test_mbox(self):
        mbox = os.path.join(FIXTURES, "pair.mbox")
        p = self.smfd.smfc("--json", "-j", "2", mbox)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        out = json_lines(p)
        self.assertEqual([o["file"] for o in out], [mbox + ":1", mbox + ":2"])
        self.assertEqual(out[0]["action"], "accept")
        self.assertNotEqual(out[1]["action"], "accept")

    def test_standard_input(self):
        """PATH - is standard input, a message or an mbox, read to its end: through a
        pipe there is no size to know beforehand."""
        mbox = smftest.fixture("pair.mbox")
        p = smftest.subprocess.run([smftest.PATHS["smfc"], "-e", self.smfd.listen, "--json",
                                    "--rcpt", "user@example.com", "-"],
                                   input=mbox, capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        out = json_lines(p)
        self.assertEqual([o["file"] for o in out], ["-:1", "-:2"])
        self.assertEqual(out[0]["action"], "accept")
        self.assertNotEqual(out[1]["action"], "accept")
        # A message larger than any first read, through a pipe as /dev/stdin.
        big = smftest.fixture("clean.eml") + b"\n" + b"x" * 100 + b"\n" * 3000 * 100
        p = smftest.subprocess.run([smftest.PATHS["smfc"], "-e", self.smfd.listen, "--json",
                                    "--rcpt", "user@example.com", "/dev/stdin"],
                                   input=big, capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(json_lines(p)[0]["action"], "accept")

    def test_folder_table(self):
        """A folder is walked in sorted order, dotfiles skipped; table and summary."""
        p = self.smfd.smfc("--rcpt", "user@example.com", FIXTURES)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        lines = p.stdout.decode().splitlines()
        self.assertTrue(lines[0].startswith("FILE"), lines)
        rows = [l.split() for l in lines[1:-1]]
        labels = [r[0].rsplit("/", 1)[-1] for r in rows]
        self.assertEqual(labels, ["clean.eml", "gtube.eml", "pair.mbox:1", "pair.mbox:2"])
        self.assertEqual([r[1] for r in rows][0], "accept")
        self.assertIn("4 messages", lines[-1])
        self.assertIn("failed 0", lines[-1])

    def test_many_in_flight_keep_order(self):
        """100 messages with 16 in flight come back in input order, one line each."""
        with tempfile.TemporaryDirectory() as d:
            clean, gtube = smftest.fixture("clean.eml"), smftest.fixture("gtube.eml")
            for i in range(100):
                with open(os.path.join(d, "m%03d.eml" % i), "wb") as f:
                    f.write(gtube if i % 7 == 0 else clean)
            p = self.smfd.smfc("--json", "-j", "16", "--rcpt", "user@example.com", d)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        out = json_lines(p)
        self.assertEqual([os.path.basename(o["file"]) for o in out],
                         ["m%03d.eml" % i for i in range(100)])
        for i, o in enumerate(out):
            self.assertEqual(o["action"] == "accept", i % 7 != 0, o)

    def test_no_engine(self):
        """A dead endpoint makes smfc fail with a clear message, not hang."""
        with tempfile.TemporaryDirectory() as d:
            p = smftest.subprocess.run(
                [smftest.PATHS["smfc"], "-e", "ipc://%s/none.sock" % d, "--timeout", "300",
                 "--rcpt", "user@example.com", os.path.join(FIXTURES, "clean.eml")],
                capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"none.sock does not exist: smfd is not running", p.stderr)

    def test_missing_socket_is_not_waited_out(self):
        # With the default 60 s timeout, a socket that is not there ends the run at once
        # (after a short wait for an smfd that is starting), not when the timeout runs out.
        with tempfile.TemporaryDirectory() as d:
            p = smftest.subprocess.run(
                [smftest.PATHS["smfc"], "-e", "ipc://%s/none.sock" % d,
                 "--rcpt", "user@example.com", os.path.join(FIXTURES, "clean.eml")],
                capture_output=True, timeout=45)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"does not exist: smfd is not running", p.stderr)

    def test_refused_tcp_endpoint_is_not_waited_out(self):
        # A tcp:// port where nothing listens ends the run after the short wait for a
        # starting smfd, not after the 60 s timeout and the 5-minute --down-wait.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # Closed again: nothing listens there.
        for endpoint, said in (("tcp://127.0.0.1:%d" % port, b"cannot connect to tcp://"),
                               ("tcp://no-such-host.invalid:%d" % port, b"cannot resolve")):
            started = time.monotonic()
            p = smftest.subprocess.run(
                [smftest.PATHS["smfc"], "-e", endpoint, "--rcpt", "user@example.com",
                 os.path.join(FIXTURES, "clean.eml")],
                capture_output=True, timeout=45)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn(said, p.stderr)
            self.assertLess(time.monotonic() - started, 30)

    def test_tcp_name_with_a_silent_address_is_not_waited_out(self):
        # A name with two addresses: the first drops connection attempts (a listen queue
        # that is full), the second refuses them. The check still ends after its short
        # wait, not after one silent attempt for each retry of the refused address.
        silent = socket.socket()
        filler = socket.socket()
        try:
            silent.bind(("127.0.0.1", 0))
            silent.listen(0)
            port = silent.getsockname()[1]
            filler.connect(("127.0.0.1", port))  # Fills the queue: further SYNs are dropped.
            shim = os.path.join(smftest.PATHS["build"], "test-shims", "resolve_as.so")
            env = dict(os.environ, LD_PRELOAD=shim, SMF_RESOLVE_NAME="engine.test",
                       SMF_RESOLVE_AS="127.0.0.1,127.0.0.2",
                       ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") +
                       ":verify_asan_link_order=0")
            started = time.monotonic()
            p = smftest.subprocess.run(
                [smftest.PATHS["smfc"], "-e", "tcp://engine.test:%d" % port, "--rcpt",
                 "user@example.com", os.path.join(FIXTURES, "clean.eml")],
                capture_output=True, timeout=60, env=env)
            took = time.monotonic() - started
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn(b"cannot connect to tcp://engine.test", p.stderr)
            self.assertLess(took, 15, p.stderr)
        finally:
            filler.close()
            silent.close()

    def test_usage_errors(self):
        for args in ([], ["-j", "0", "x"], ["--direction", "sideways", "x"], ["--nope", "x"]):
            p = smftest.subprocess.run([smftest.PATHS["smfc"]] + args, capture_output=True)
            self.assertEqual(p.returncode, 2, args)
        # A client address that is none would reach the engine as an unknown client,
        # whose address checks then silently do not run.
        for ip in ("not-an-ip", "192.0.2.300", "[192.0.2.1]"):
            p = smftest.subprocess.run([smftest.PATHS["smfc"], "--ip", ip, "x"],
                                       capture_output=True)
            self.assertEqual(p.returncode, 2, ip)
            self.assertIn(b"--ip: expected an IPv4 or IPv6 address", p.stderr)
        p = smftest.subprocess.run([smftest.PATHS["smfc"], "--help"], capture_output=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"usage: smfc", p.stdout)

    def test_envelope_options_not_utf8_are_sent_escaped(self):
        """An 8-bit --rcpt, --from or --helo is scanned as smf-milter would send it
        for an MTA that got it: each bad byte as \\xHH, the domain intact."""
        clean = os.path.join(FIXTURES, "clean.eml")
        for opt, value in (("--rcpt", b"\xff@example.org"), ("--from", b"a\xfe@example.net"),
                           ("--helo", b"h\xe9lo.example")):
            p = self.smfd.smfc("--json", "--rcpt", "user@example.com", opt, value, clean)
            self.assertEqual(p.returncode, 0, (opt, p.stderr))
            out = json_lines(p)[0]
            self.assertIsNotNone(out["action"], (opt, out))
            if opt == "--rcpt":
                self.assertEqual(sorted(d["domain"] for d in out["domains"]),
                                 ["example.com", "example.org"])

    def test_eight_bit_sender_reaches_the_verdict_event(self):
        """The verdict event names the sender smfc sent, its bad byte as \\xHH."""
        clean = os.path.join(FIXTURES, "clean.eml")
        sub = self.smfd.sub("verdict.inbound.example.com")
        try:
            got, deadline = None, time.time() + 15
            while got is None and time.time() < deadline:
                p = self.smfd.smfc("--rcpt", "user@example.com", "--from",
                                   b"x\xe9@evil8.example", clean)
                self.assertEqual(p.returncode, 0, p.stderr)
                while got is None and sub.poll(300):
                    ev = json.loads(sub.recv_multipart()[1])
                    if "evil8.example" in ev.get("sender", ""):
                        got = ev
            self.assertIsNotNone(got, "no verdict event within 15 s")
            self.assertEqual(got["sender"], "x\\xe9@evil8.example")
        finally:
            sub.close(0)


class Ipv6EndpointTest(unittest.TestCase):
    """smfd, smfc and smfctl on an IPv6 address, which ZeroMQ takes only when told."""

    def test_engine_on_the_ipv6_loopback(self):
        ports = [smftest.free_port6() for _ in range(2)]
        if ports[0][0] is None:
            self.skipTest(ports[0][1])
        smfd = smftest.Smfd()
        self.addCleanup(smfd.close)
        smfd.listen = "tcp://[::1]:%d" % ports[0][0]
        smfd.publish = "tcp://[::1]:%d" % ports[1][0]
        smfd.start()
        sub = smfd.sub("verdict.")
        self.addCleanup(sub.close, 0)
        time.sleep(0.3)  # The subscription reaches smfd before the event is published.
        p = smfd.smfc("--json", "--timeout", "10000", "--rcpt", "user@example.com",
                      os.path.join(FIXTURES, "clean.eml"), timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIsNotNone(json_lines(p)[0]["action"], p.stdout)
        self.assertTrue(sub.poll(15000), "no verdict event on %s" % smfd.publish)
        build = smftest.PATHS["build"]
        r = smftest.subprocess.run(
            [os.path.join(build, "bin", "smfctl"), "-c",
             os.path.join(smftest.PATHS["source"], "etc", "smfd.conf"),
             "-o", "module_dir=%s/modules" % build, "-o", "listen=" + smfd.listen,
             "stats", "--json"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreaterEqual(json.loads(r.stdout)["messages"], 1)
        self.assertEqual(smfd.stop(), 0, smfd.log_tail())


class OpenFilesTest(unittest.TestCase):
    """Each client of smfd's socket holds a descriptor, and libzmq aborts smfd when
    none is left to accept one: smfd raises its soft limit to the hard one, so 150
    clients under a soft limit of 64 (about 24 in use at start) are all answered."""

    CLIENTS = 150

    def test_soft_limit_is_raised_to_the_hard_one(self):
        smfd = smftest.Smfd(nofile=(64, 1024))
        self.addCleanup(smfd.close)
        smfd.start()
        with open("/proc/%d/limits" % smfd.proc.pid) as f:
            limit = next(l for l in f if l.startswith("Max open files")).split()[3:5]
        self.assertEqual(limit, ["1024", "1024"])
        socks = [smfd.dealer() for _ in range(self.CLIENTS)]
        try:
            for i, sock in enumerate(socks):
                sock.send_multipart([smftest.PROTO, b"PING", b"p-%d" % i])
            answered = sum(1 for sock in socks if sock.poll(15000) and sock.recv_multipart()[1] == b"PONG")
        finally:
            for sock in socks:
                sock.close(0)
        self.assertEqual(answered, self.CLIENTS, smfd.log_tail())
        self.assertEqual(smfd.stop(), 0, smfd.log_tail())


class BrokenEngineTest(unittest.TestCase):
    """smfc against a stand-in engine (a ROUTER socket here) whose replies are broken."""

    def serve(self, reply, endpoint=None):
        """Answers each request with reply(request frames), or not when it gives None,
        until the test ends; returns the endpoint (an ipc one unless given; a tcp one
        with port * gets its port)."""
        d = tempfile.mkdtemp(prefix="smf-broken-")
        self.addCleanup(shutil.rmtree, d, True)  # Last: after the thread has stopped.
        ctx = smftest.zmq.Context()
        sock = ctx.socket(smftest.zmq.ROUTER)
        sock.bind(endpoint or "ipc://%s/scan.sock" % d)
        endpoint = sock.getsockopt_string(smftest.zmq.LAST_ENDPOINT)
        stop = threading.Event()

        def loop():
            while not stop.is_set():
                if sock.poll(50):
                    frames = sock.recv_multipart()
                    answer = reply(frames[1:])
                    if answer is not None:
                        sock.send_multipart([frames[0]] + answer)
            sock.close(0)
            ctx.term()

        t = threading.Thread(target=loop, daemon=True)
        t.start()
        self.addCleanup(t.join)
        self.addCleanup(stop.set)
        return endpoint

    def test_reply_without_body_fails_at_once(self):
        """A reply that names its request but has no body is a broken reply: the message
        fails with that reason at once, not after the timeout as if no engine answered,
        and the next messages are still sent."""
        endpoint = self.serve(lambda req: [PROTO, b"VERDICT", req[2]])
        clean = os.path.join(FIXTURES, "clean.eml")
        t = time.monotonic()
        p = smftest.subprocess.run(
            [smftest.PATHS["smfc"], "-e", endpoint, "-j", "1", "--timeout", "20000", "--json",
             "--rcpt", "user@example.com", clean, clean], capture_output=True, timeout=120)
        self.assertLess(time.monotonic() - t, 10)
        self.assertEqual(p.returncode, 1, p.stderr)
        out = json_lines(p)
        self.assertEqual([o["error"] for o in out], ["bad_reply", "bad_reply"], out)
        self.assertNotIn(b"is smfd running", p.stderr)

    def test_messages_not_sent_say_so(self):
        """Once two messages got no answer from an engine that answered nothing,
        the next ones are not sent: each says so, rather than claim it waited out
        the timeout itself."""
        endpoint = self.serve(lambda req: None)
        clean = os.path.join(FIXTURES, "clean.eml")
        p = smftest.subprocess.run(
            [smftest.PATHS["smfc"], "-e", endpoint, "-j", "1", "--timeout", "300", "--json",
             "--down-wait", "0", "--rcpt", "user@example.com", clean, clean, clean, clean],
            capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 1, p.stderr)
        out = json_lines(p)
        self.assertEqual(len(out), 4, out)
        # The two unsent are summed up in one line on stderr, not one each.
        self.assertEqual(p.stderr.count(b"not sent"), 2, p.stderr)
        self.assertIn(b"smfc: 2 messages not sent (the first: " + clean.encode() + b"): "
                      + endpoint.encode() + b" gave no answer", p.stderr)
        for o in out[:2]:
            self.assertIn("no answer from %s within 300 ms" % endpoint, o["message"])
        for o in out[2:]:
            self.assertEqual(o["error"], "no_answer", o)
            self.assertTrue(o["message"].startswith("not sent: "), o)
            self.assertIn("no answer to 2 earlier messages", o["message"])
            self.assertNotIn("elapsed_ms", o)

    def test_engine_that_stops_answering_ends_the_run(self):
        """An engine that answered the first messages and then goes silent (as one
        that died): once more messages than -j in a row got no answer, the rest are
        not sent and each says so, rather than each wait out its own timeout."""
        seen = []

        def reply(req):
            seen.append(req[2])
            if len(seen) > 2:
                return None
            return [PROTO, b"VERDICT", req[2], b'{"action": "accept", "score": 0}']

        endpoint = self.serve(reply)
        clean = os.path.join(FIXTURES, "clean.eml")
        for jobs in ("1", "3"):
            seen.clear()
            p = smftest.subprocess.run(
                [smftest.PATHS["smfc"], "-e", endpoint, "-j", jobs, "--timeout", "300",
                 "--down-wait", "0", "--json", "--rcpt", "user@example.com"] + [clean] * 30,
                capture_output=True, timeout=120)
            self.assertEqual(p.returncode, 1, p.stderr)
            out = json_lines(p)
            self.assertEqual(len(out), 30, out)
            self.assertEqual([o.get("action") for o in out[:2]], ["accept"] * 2, (jobs, out))
            # Timed out: the -j sent after the silence began, and one sent after those.
            waited = int(jobs) + 1
            self.assertEqual(len(seen), 2 + waited + int(jobs) - 1, (jobs, seen))
            unsent = [o for o in out if o.get("message", "").startswith("not sent: ")]
            self.assertEqual(len(unsent), 30 - len(seen), (jobs, out))
            for o in unsent:
                self.assertEqual(o["error"], "no_answer", o)
                self.assertIn("stopped answering: no answer to %d earlier messages in a row"
                              % waited, o["message"])
            self.assertIn(b"smfc: the messages not yet sent are not sent: " +
                          endpoint.encode() + b" stopped answering", p.stderr)

    def test_engine_that_comes_back_gets_the_rest(self):
        """An engine that goes silent for a while (a restart) is deemed down: sending
        pauses, a PING goes a second later and again while it is away, and once the
        engine answers PONG the run goes on. Asking uses no message up: only the two
        messages sent into the silence fail, every other one gets its verdict."""
        silent = {}
        pings = []

        def reply(req):
            now = time.monotonic()
            if len(silent.setdefault("seen", [])) >= 2 and "from" not in silent:
                silent["from"] = now
            silent["seen"].append(req[1])
            if req[1] == b"PING":
                pings.append(now)
            if "from" in silent and now < silent["from"] + 2.5:
                return None
            if req[1] == b"PING":
                return [PROTO, b"PONG", req[2], b'{"schema": 1, "workers": 1}']
            return [PROTO, b"VERDICT", req[2], b'{"action": "accept", "score": 0}']

        endpoint = self.serve(reply)
        clean = os.path.join(FIXTURES, "clean.eml")
        p = smftest.subprocess.run(
            [smftest.PATHS["smfc"], "-e", endpoint, "-j", "1", "--timeout", "300", "--json",
             "--rcpt", "user@example.com"] + [clean] * 12, capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 1, p.stderr)
        out = json_lines(p)
        self.assertEqual(len(out), 12, out)
        # The two sent into the silence; none used up while the engine was away.
        self.assertEqual([i for i, o in enumerate(out) if "error" in o], [2, 3], out)
        for o in out[2:4]:
            self.assertIn("no answer from", o["message"], out)
        self.assertEqual([o.get("action") for o in out[4:]], ["accept"] * 8, out)
        self.assertGreaterEqual(len(pings), 2, silent["seen"])
        self.assertEqual(silent["seen"].count(b"SCAN"), 12, silent["seen"])
        self.assertIn(b"sending pauses", p.stderr)
        self.assertIn(b"answers again", p.stderr)
        self.assertNotIn(b"not sent", p.stderr)

    def test_engine_that_stays_down_ends_the_run_after_the_wait(self):
        """An engine that never comes back is probed until --down-wait is over; then
        the rest are not sent, and stderr sums them up in one line."""
        endpoint = self.serve(lambda req: None)
        clean = os.path.join(FIXTURES, "clean.eml")
        t = time.monotonic()
        p = smftest.subprocess.run(
            [smftest.PATHS["smfc"], "-e", endpoint, "-j", "1", "--timeout", "300", "--json",
             "--down-wait", "1000", "--rcpt", "user@example.com"] + [clean] * 40,
            capture_output=True, timeout=120)
        self.assertLess(time.monotonic() - t, 20)
        self.assertEqual(p.returncode, 1, p.stderr)
        out = json_lines(p)
        self.assertEqual(len(out), 40, out)
        unsent = [o for o in out if o.get("message", "").startswith("not sent: ")]
        self.assertGreater(len(unsent), 30, out)
        self.assertIn("waited", unsent[0]["message"])
        self.assertEqual(p.stderr.count(b"messages not sent"), 1, p.stderr)
        self.assertIn(b"smfc: %d messages not sent" % len(unsent), p.stderr)
        self.assertLess(p.stderr.count(b"\n"), 12, p.stderr)

    def engine_named(self, name, **resolve):
        """An engine on 127.0.0.1 that accepts every message, its port, and the
        environment in which the name resolves as the shim is told (SMF_RESOLVE_*)."""
        endpoint = self.serve(
            lambda req: [PROTO, b"VERDICT", req[2], b'{"action": "accept", "score": 0}'],
            "tcp://127.0.0.1:*")
        shim = os.path.join(smftest.PATHS["build"], "test-shims", "resolve_as.so")
        env = dict(os.environ, LD_PRELOAD=shim, SMF_RESOLVE_NAME=name,
                   ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0",
                   **resolve)
        return endpoint.rsplit(":", 1)[1], env

    def test_name_that_resolves_after_a_moment_is_waited_for(self):
        """A name the resolver cannot answer for at first (EAI_AGAIN, as when it is
        restarting) is asked again within the short wait for a starting engine, as a
        refused connection is: the run goes on once it resolves."""
        port, env = self.engine_named("engine.test", SMF_RESOLVE_AS="127.0.0.1",
                                      SMF_RESOLVE_AGAIN_MS="800")
        p = smftest.subprocess.run(
            [smftest.PATHS["smfc"], "-e", "tcp://engine.test:%s" % port, "--timeout", "5000",
             "--json", "--rcpt", "user@example.com", os.path.join(FIXTURES, "clean.eml")],
            capture_output=True, timeout=60, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([o.get("action") for o in json_lines(p)], ["accept"], p.stdout)
        # A name that is not there is still said at once.
        env["SMF_RESOLVE_AS"] = ""
        del env["SMF_RESOLVE_AGAIN_MS"]
        started = time.monotonic()
        p = smftest.subprocess.run(
            [smftest.PATHS["smfc"], "-e", "tcp://engine.test:%s" % port, "--rcpt",
             "user@example.com", os.path.join(FIXTURES, "clean.eml")],
            capture_output=True, timeout=60, env=env)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"cannot resolve engine.test", p.stderr)
        self.assertLess(time.monotonic() - started, 2, p.stderr)

    def test_tcp_check_tries_the_address_zeromq_connects_to(self):
        """A name with several addresses: ZeroMQ connects to the first IPv4 one only, and
        so does the check. An engine at the second is not reached, and the run ends
        after the short wait rather than each message waiting out its timeout."""
        port, env = self.engine_named("engine.test")
        clean = os.path.join(FIXTURES, "clean.eml")
        # 127.0.0.2 refuses (the engine listens on 127.0.0.1 alone); ::1 is not IPv4.
        for addresses, rc in (("127.0.0.2,127.0.0.1", 1), ("::1,127.0.0.1", 0)):
            env["SMF_RESOLVE_AS"] = addresses
            p = smftest.subprocess.run(
                [smftest.PATHS["smfc"], "-e", "tcp://engine.test:%s" % port, "--timeout",
                 "20000", "--json", "--rcpt", "user@example.com", clean],
                capture_output=True, timeout=60, env=env)
            self.assertEqual(p.returncode, rc, (addresses, p.stderr))
            if rc:
                self.assertIn(b"cannot connect to tcp://engine.test", p.stderr)
            else:
                self.assertEqual([o.get("action") for o in json_lines(p)], ["accept"])

    def test_down_wait_is_kept_to(self):
        """The wait for an engine deemed down ends at --down-wait, not at the end of the
        back-off step it falls in: the last PING goes early enough to be answered within
        it, and a wait shorter than one PING's sends its PING at once."""
        pings = []

        def reply(req):
            if req[1] == b"PING":
                pings.append(req[2])
            return None

        endpoint = self.serve(reply)
        clean = os.path.join(FIXTURES, "clean.eml")
        # PINGs given 1 s go at 1 s and 4 s and are over at 2 s and 5 s; the next would
        # go at 9 s, past the wait of 5.3 s. With 600 ms each, a wait of 300 ms has one.
        for timeout, down_wait, most, least_pings in (("1000", "5300", 6, 2),
                                                       ("600", "300", 1, 1)):
            pings.clear()
            p = smftest.subprocess.run(
                [smftest.PATHS["smfc"], "-e", endpoint, "-j", "1", "--timeout", timeout,
                 "--json", "--down-wait", down_wait, "--rcpt", "user@example.com"]
                + [clean] * 5, capture_output=True, timeout=120)
            self.assertEqual(p.returncode, 1, p.stderr)
            out = json_lines(p)
            self.assertEqual(len(out), 5, out)
            waited = re.search(r"waited (\d+) s", out[-1].get("message", ""))
            self.assertIsNotNone(waited, out)
            self.assertLessEqual(int(waited.group(1)), most, (down_wait, out[-1]))
            self.assertGreaterEqual(int(waited.group(1)), int(down_wait) // 1000, out[-1])
            self.assertGreaterEqual(len(pings), least_pings, (down_wait, pings))

    def test_slow_engine_is_not_deemed_down(self):
        """An engine slower than the timeout with many messages in flight lets several
        time out in a row, but still answers: every message is sent."""
        def reply(req):
            time.sleep(0.25)
            return [PROTO, b"VERDICT", req[2], b'{"action": "accept", "score": 0}']

        endpoint = self.serve(reply)
        clean = os.path.join(FIXTURES, "clean.eml")
        p = smftest.subprocess.run(
            [smftest.PATHS["smfc"], "-e", endpoint, "-j", "4", "--timeout", "600", "--json",
             "--rcpt", "user@example.com"] + [clean] * 12, capture_output=True, timeout=120)
        out = json_lines(p)
        self.assertEqual(len(out), 12, out)
        self.assertTrue(any(o.get("error") == "no_answer" for o in out), out)
        for o in out:
            self.assertFalse(o.get("message", "").startswith("not sent: "), out)
        self.assertNotIn(b"stopped answering", p.stderr)

    def test_one_message_unanswered_does_not_condemn_the_rest(self):
        """An engine that gives no answer to the first message but answers the
        others: with -j 1, as with more, each later message is sent with its own
        timeout and gets its verdict."""
        first = []

        def reply(req):
            if not first:
                first.append(req[2])
                return None
            return [PROTO, b"VERDICT", req[2], b'{"action": "accept", "score": 0}']

        endpoint = self.serve(reply)
        clean = os.path.join(FIXTURES, "clean.eml")
        for jobs in ("1", "4"):
            first.clear()
            p = smftest.subprocess.run(
                [smftest.PATHS["smfc"], "-e", endpoint, "-j", jobs, "--timeout", "500",
                 "--json", "--rcpt", "user@example.com", clean, clean, clean, clean],
                capture_output=True, timeout=120)
            self.assertEqual(p.returncode, 1, p.stderr)
            out = json_lines(p)
            self.assertEqual(out[0]["error"], "no_answer", (jobs, out))
            self.assertEqual([o.get("action") for o in out[1:]], ["accept"] * 3, (jobs, out))

if __name__ == "__main__":
    smftest.main()
