"""End to end with a real Postfix: SMTP client -> private Postfix -> smf-milter
-> smfd, and on to an SMTP sink for what is delivered. Each case checks what
the SMTP client was told and what reached (or did not reach) the sink."""

import json
import os
import re
import select
import shutil
import smtplib
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mta  # noqa: E402
from mta import make_message, send, send_each, wait_for  # noqa: E402

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
# Built from pieces so that no file of the project is itself a test virus.
EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

# example.com's policy rejects certain spam outright; the default policy quarantines it.
QUARANTINING_RCPT = "bob@example.org"
# lenient.example's policy only marks spam, even certain spam.
LENIENT_RCPT = "ann@lenient.example"
LENIENT_POLICY = ('policy "lenient.example" {\n  inbound {\n    quarantine_score = 0\n'
                  '    spam_action = add_header\n  }\n}\n')
ALLOWED = "friend@partner.example"
BLOCKED = "spammer@bad.example"
TIMEOUT_MS = 1500
# smfd refuses messages above this (too_large); the "small" milter refuses above SMALL itself.
ENGINE_MAX = 2 * 1024 * 1024
SMALL = 64 * 1024
# Recipients in longauth.example get the auth stage, whose Authentication-Results header
# grows with each DKIM signature (up to 8, each with a d= of 251 and an s= of 60 bytes).
LONGAUTH_RCPT = "dana@longauth.example"
LONGAUTH_POLICY = ('policy "longauth.example" {\n  inbound {\n'
                   '    stages = {auth, antivirus, lists, pattern, attachment}\n  }\n}\n')
# No DNS is needed for signatures that lack b=: the look-ups go nowhere, and quickly.
AUTH_SECTION = ('auth {\n  dns_server = "127.0.0.1:%d"\n  dns_timeout_ms = 200\n'
                '  dns_tries = 1\n  dns_budget_ms = 500\n  spf = false\n  dmarc = false\n}\n')
# The "heartbeat" milter's engine link: long waits, so that a request sent into a silent
# link shows (at least --connect-timeout), and heartbeats' few seconds do not.
HB_TIMEOUT_MS = 30000
HB_CONNECT_TIMEOUT_MS = 12000
# MAX_FORGED_HEADERS in frontends/milter/callbacks.c: a message with more of the sender's
# copies of the engine's headers is refused rather than cleaned one removal at a time.
MAX_FORGED_HEADERS = 50


class SilentEngine:
    """A scan endpoint that takes requests and answers only after the milter gave
    up on them, with a reject: the milter must fail over and drop the late reply.
    With busy=True it answers at once, ERROR busy, as an overloaded smfd does."""

    def __init__(self, endpoint, delay, busy=False):
        self.endpoint, self.delay, self.busy = endpoint, delay, busy
        self.requests = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()
        self.thread.start()
        self.ready.wait(10)

    def _run(self):
        sock = zmq.Context.instance().socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(self.endpoint)
        self.ready.set()
        pending = []
        while not self.stopping.is_set():
            if sock.poll(50):
                frames = sock.recv_multipart()
                if len(frames) >= 4 and frames[2] in (b"SCAN", b"CONNECT"):
                    self.requests += 1
                    if self.busy:
                        sock.send_multipart([frames[0], mta.PROTO, b"ERROR", frames[3],
                                             b'{"schema":1,"error":"busy","message":"full"}'])
                        continue
                    pending.append((time.time() + self.delay, frames[0], frames[3]))
            now = time.time()
            for due in [p for p in pending if p[0] <= now]:
                pending.remove(due)
                body = ('{"schema":1,"action":"reject","score":99,"id":"late",'
                        '"smtp":{"code":550,"dsn":"5.7.1","text":"late reply"},'
                        '"headers":[]}').encode()
                sock.send_multipart([due[1], mta.PROTO, b"VERDICT", due[2], body])
        sock.close(0)

    def stop(self):
        self.stopping.set()
        self.thread.join(10)


class HeaderEngine:
    """A scan endpoint that accepts every message and asks for the given headers: what
    an engine may ask of the milter beyond what smfd itself would."""

    def __init__(self, endpoint, headers):
        self.endpoint, self.headers = endpoint, headers
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self):
        sock = zmq.Context.instance().socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(self.endpoint)
        self.ready.set()
        while not self.stopping.is_set():
            if not sock.poll(50):
                continue
            frames = sock.recv_multipart()
            if len(frames) < 4 or frames[2] not in (b"SCAN", b"CONNECT"):
                continue
            headers = self.headers if frames[2] == b"SCAN" else []
            body = json.dumps({"schema": 1, "action": "accept", "score": 0, "id": "hdr",
                               "headers": [{"name": n, "value": v} for n, v in headers]})
            sock.send_multipart([frames[0], mta.PROTO, b"VERDICT", frames[3], body.encode()])
        sock.close(0)

    def stop(self):
        self.stopping.set()
        self.thread.join(10)


class FreezableProxy:
    """A loopback TCP port that passes bytes both ways to smfd's ipc:// socket (ZMTP is
    the same over both) until freeze(): from then on it reads, writes, accepts and closes
    nothing, as an engine host that vanished from the network (no FIN, no RST). The
    kernel still acknowledges what is sent to it, so the link looks alive to TCP."""

    def __init__(self, unix_path):
        self.unix_path = unix_path
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.endpoint = "tcp://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.pairs = {}
        self.frozen = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _close_pair(self, s):
        peer = self.pairs.pop(s, None)
        self.pairs.pop(peer, None)
        for x in (s, peer):
            if x is not None:
                x.close()

    def _accept(self):
        client, _ = self.listener.accept()
        upstream = socket.socket(socket.AF_UNIX)
        try:
            upstream.connect(self.unix_path)
        except OSError:
            client.close()
            upstream.close()
            return
        self.pairs[client], self.pairs[upstream] = upstream, client

    def _run(self):
        while not self.stopping.is_set():
            if self.frozen.is_set():
                time.sleep(0.05)
                continue
            readable, _, _ = select.select([self.listener] + list(self.pairs), [], [], 0.05)
            for s in readable:
                if self.frozen.is_set():
                    break
                if s is self.listener:
                    self._accept()
                    continue
                if s not in self.pairs:
                    continue
                try:
                    data = s.recv(65536)
                    if data:
                        self.pairs[s].sendall(data)
                except OSError:
                    data = b""
                if not data:
                    self._close_pair(s)

    def freeze(self):
        self.frozen.set()

    def stop(self):
        self.stopping.set()
        self.thread.join(10)
        for s in list(self.pairs):
            self._close_pair(s)
        self.listener.close()


class MilterClient:
    """An MTA's side of the milter protocol (version 6), to offer what Postfix and
    Sendmail always grant: only the actions given, no protocol options."""

    SMFIF_ADDHDRS, SMFIF_DELRCPT, SMFIF_QUARANTINE = 0x01, 0x08, 0x20

    def __init__(self, unix_path, actions):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(30)
        self.s.connect(unix_path)
        self.command(b"O", struct.pack(">III", 6, actions, 0))

    def close(self):
        self.s.close()

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.s.recv(n - len(data))
            if not chunk:
                raise AssertionError("the milter closed the connection")
            data += chunk
        return data

    def command(self, cmd, data=b""):
        """Sends one command; the replies up to the one that ends it, as (code, data)."""
        self.s.sendall(struct.pack(">I", len(data) + 1) + cmd + data)
        replies = []
        while True:
            n = struct.unpack(">I", self._read(4))[0]
            packet = self._read(n)
            replies.append((packet[:1], packet[1:]))
            # Header changes ('h' add, 'm' change, 'i' insert) and progress come first.
            if packet[:1] not in (b"h", b"m", b"i", b"p", b"+", b"-"):
                return replies

    def message(self, sender, rcpt, headers, body):
        z = lambda *parts: b"".join(p.encode() + b"\0" for p in parts)
        self.command(b"C", z("client.example") + b"4" + struct.pack(">H", 25000) +
                     z("127.0.0.1"))
        self.command(b"H", z("client.example"))
        self.command(b"M", z("<%s>" % sender))
        self.command(b"R", z("<%s>" % rcpt))
        for name, value in headers:
            self.command(b"L", z(name, value))
        self.command(b"N")
        self.command(b"B", body.encode())
        return self.command(b"E")


def header_fields(message):
    """The header fields of a delivered message as (name, value) pairs, unfolded."""
    head = message.replace("\r\n", "\n").split("\n\n", 1)[0]
    fields = []
    for line in re.sub(r"\n(?=[ \t])", "", head).split("\n"):
        name, _, value = line.partition(":")
        fields.append((name, value))
    return fields


def field_lines(message, name):
    """The physical lines of each header field called name, as delivered: a list per field."""
    head = message.replace("\r\n", "\n").split("\n\n", 1)[0]
    fields = re.split(r"\n(?![ \t])", head)
    return [f.split("\n") for f in fields if f.lower().startswith(name.lower() + ":")]


def assertFolded(test, lines, fold=78):
    """A header's lines keep to RFC 5322's 998 bytes, and to 78 where a blank allows:
    folded by the milter, before a blank, never broken inside a word by the MTA."""
    for i, line in enumerate(lines):
        test.assertLessEqual(len(line), 998, lines)
        if i > 0:
            test.assertRegex(line, r"^[ \t]\S", lines)
        words = line.split()
        if len(words) > 1:
            test.assertLessEqual(len(line), fold, lines)


class PostfixEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        mta.require_postfix()
        cls.tmp = tempfile.mkdtemp(prefix="smf-e2e-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        # Postfix's smtpd runs as user postfix and must reach the milter sockets here.
        os.chmod(cls.tmp, 0o755)
        # Released mail goes to a Postfix port without milters, as docs/postfix.md sets up.
        cls.release_port = mta.free_port()
        cls.smfd = mta.Smfd(cls.tmp, allow_senders=[ALLOWED], block_senders=[BLOCKED],
                            max_message_size=ENGINE_MAX,
                            delivery="[127.0.0.1]:%d" % cls.release_port,
                            append=LENIENT_POLICY + LONGAUTH_POLICY +
                            AUTH_SECTION % mta.free_port())
        cls.smfd._edit("modules = {reputation, antivirus, lists, pattern, attachment}",
                       "modules = {reputation, auth, antivirus, lists, pattern, attachment}")
        cls.addClassCleanup(lambda: cls.smfd.stop())
        cls.smfd.start()
        cls.sink = mta.Sink(cls.tmp)
        cls.addClassCleanup(cls.sink.stop)
        silent_ep = "ipc://%s/silent.sock" % cls.tmp
        cls.silent = SilentEngine(silent_ep, delay=TIMEOUT_MS * 2 / 1000)
        cls.addClassCleanup(cls.silent.stop)
        busy_ep = "ipc://%s/busy.sock" % cls.tmp
        cls.busy = SilentEngine(busy_ep, delay=0, busy=True)
        cls.addClassCleanup(cls.busy.stop)
        headers_ep = "ipc://%s/headers.sock" % cls.tmp
        cls.header_engine = HeaderEngine(headers_ep, cls.engine_headers())
        cls.addClassCleanup(cls.header_engine.stop)
        engine_path = cls.smfd.listen[len("ipc://"):]
        cls.vanishing = FreezableProxy(engine_path)
        cls.addClassCleanup(cls.vanishing.stop)
        cls.steady = FreezableProxy(engine_path)
        cls.addClassCleanup(cls.steady.stop)
        cls.dropping = FreezableProxy(engine_path)
        cls.addClassCleanup(cls.dropping.stop)
        cls.steady2 = FreezableProxy(engine_path)
        cls.addClassCleanup(cls.steady2.stop)
        engine = [cls.smfd.listen]
        cls.milter_args = {
            "in": (engine,),
            "out": (engine, "--trusted", "127.0.0.0/8"),
            "hold": (engine, "--on-quarantine", "hold"),
            "failover": ([silent_ep] + engine, "-t", str(TIMEOUT_MS)),
            "busy": ([busy_ep] + engine, "-t", str(TIMEOUT_MS)),
            "tcp": (engine,),
            "small": (engine, "--max-size", "64K"),
            # Only the authserv-id of the verdict's Authentication-Results is the engine's.
            "anyid": (engine, "--authserv-id", ""),
            # Only an engine that never answers in time (its replies come after 3 s).
            "hung": ([silent_ep], "-t", "2000", "--connect-timeout", "500"),
            "headers": ([headers_ep],),
            # Two engines over TCP (through proxies to the one smfd); the first will vanish.
            "heartbeat": ([cls.vanishing.endpoint, cls.steady.endpoint], "-t",
                          str(HB_TIMEOUT_MS), "--connect-timeout", str(HB_CONNECT_TIMEOUT_MS)),
            # The same, for requests already sent when the first engine vanishes.
            "dropped": ([cls.dropping.endpoint, cls.steady2.endpoint], "-t",
                        str(HB_TIMEOUT_MS), "--connect-timeout", str(HB_CONNECT_TIMEOUT_MS)),
        }
        cls.milters = {}
        for name in cls.milter_args:
            cls.start_milter(name)
        cls.addClassCleanup(cls.stop_milters)
        services = {n: m.spec for n, m in cls.milters.items()}
        services["release"] = (None, cls.release_port)
        cls.postfix = mta.Postfix(cls.tmp, cls.sink.port, services)
        cls.addClassCleanup(cls.postfix.stop)
        cls.postfix.start()

    @staticmethod
    def engine_headers():
        """What the HeaderEngine asks the "headers" milter to add."""
        long_value = " ".join("part%04d" % i for i in range(400)) + " end-of-value"
        return [("X-SMF-Long", long_value),
                # More than one milter packet (64 KB) can carry: libmilter refuses it.
                ("X-SMF-Huge", " ".join("word%05d" % i for i in range(8000))),
                # No blank to fold at, and more than the 998 bytes a line may have.
                ("X-SMF-Unbroken", "u" * 1200),
                # A line break would start a header of the sender's choosing.
                ("X-SMF-Broken", "first line\r\nX-SMF-Injected: yes"),
                ("X-SMF-Broken-LF", "first line\nX-SMF-Injected-LF: yes"),
                ("X-SMF-After", "still added")]

    @classmethod
    def start_milter(cls, name):
        args = cls.milter_args[name]
        port = None
        if name == "tcp":
            port = cls.tcp_port = getattr(cls, "tcp_port", None) or mta.free_port()
        cls.milters[name] = mta.Milter(cls.tmp, "milter-" + name, args[0], *args[1:],
                                       tcp_port=port)

    @classmethod
    def stop_milters(cls):
        # A clean exit (0) also means no leak report in the sanitizer build.
        bad = {}
        for name, m in cls.milters.items():
            rc = m.stop()
            if rc != 0:
                bad[name] = "%s\n%s" % (rc, m.proc.tail())
        if bad:
            raise AssertionError("smf-milter did not exit cleanly: %s" % bad)

    def port(self, name="in"):
        return self.postfix.ports[name]

    def marker(self):
        return "smf-e2e-%s-%d" % (self._testMethodName, time.monotonic_ns())

    def diagnostics(self):
        return "\n--- maillog\n%s\n--- milter-in\n%s\n--- smfd\n%s" % (
            mta.tail(self.postfix.maillog), self.milters["in"].proc.tail(),
            self.smfd.proc.tail() if self.smfd.proc else "(stopped)")

    def assertDelivered(self, reply, marker):
        self.assertEqual(reply.code, 250, "%r%s" % (reply, self.diagnostics()))
        self.assertTrue(reply.queue_id, reply)
        try:
            found = wait_for("message %s at the sink" % marker, lambda: self.sink.find(marker), 60)
        except AssertionError as e:
            raise AssertionError("%s%s" % (e, self.diagnostics())) from None
        self.postfix.wait_queue_empty()
        return self.sink.find(marker)[0] if found else None

    def assertNotDelivered(self, marker):
        # Once the queue is empty, anything Postfix would deliver has reached the sink.
        self.postfix.wait_queue_empty()
        self.assertEqual(self.sink.find(marker), [], "message %s was delivered" % marker)

    def send_through(self, name, label, count):
        """Sends count messages through the milter `name`, each delivered; their markers."""
        markers = []
        for i in range(count):
            m = self.marker() + "-%s-%d" % (label, i)
            self.assertDelivered(send(self.port(name), "alice@example.net", ["bob@example.com"],
                                      make_message(m)), m)
            markers.append(m)
        return markers

    def assertDeliveredWithin(self, name, count, seconds):
        """Sends count messages through the milter `name`: each delivered within seconds."""
        for i in range(count):
            m = self.marker() + "-after-%d" % i
            t0 = time.monotonic()
            reply = send(self.port(name), "alice@example.net", ["bob@example.com"],
                         make_message(m))
            took = time.monotonic() - t0
            self.assertDelivered(reply, m)
            self.assertLess(took, seconds,
                            "%s took %.1f s:\n%s" % (m, took, self.milters[name].log_text()))

    def milter_line(self, name, queue_id):
        """The milter's log line for one Postfix queue id."""
        for line in self.milters[name].log_text().splitlines():
            if " %s: id=" % queue_id in line:
                return line
        self.fail("no smf-milter log line for %s%s" % (queue_id, self.diagnostics()))

    # ---- the cases ----

    def test_clean_mail_is_delivered_with_status_header(self):
        m = self.marker()
        reply = send(self.port(), "alice@example.net", ["bob@example.com", "carol@example.org"],
                     make_message(m))
        delivered = self.assertDelivered(reply, m)
        self.assertRegex(delivered, r"(?m)^X-SMF-Status: clean, score=")
        # Both recipients reached the sink in one transaction.
        self.assertIn("bob@example.com", delivered)
        self.assertIn("carol@example.org", delivered)
        line = self.milter_line("in", reply.queue_id)
        self.assertIn("action=accept", line)
        # The envelope reached the engine: its log line names client, sender, recipients.
        engine_id = re.search(r"id=(\S+)", line).group(1)
        engine_line = [l for l in self.smfd.log_text().splitlines() if engine_id in l]
        self.assertTrue(engine_line, self.diagnostics())
        self.assertIn("client=127.0.0.1", engine_line[0])
        self.assertIn("from=<alice@example.net>", engine_line[0])
        self.assertIn("bob@example.com", engine_line[0])
        self.assertIn("carol@example.org", engine_line[0])

    def quarantined_by_engine(self, name, reply):
        """Checks that the engine stored the message: the milter's and the engine's logs
        say so, and `smfctl quarantine list --json` shows the entry."""
        line = self.milter_line(name, reply.queue_id)
        self.assertIn("action=quarantine", line)
        engine_id = re.search(r"id=(\S+)", line).group(1)
        stored = re.search(r"quarantine=(\S+)", line)
        self.assertTrue(stored, "the verdict carried no quarantine id: " + line)
        engine_lines = [l for l in self.smfd.log_text().splitlines()
                        if engine_id in l and "action=quarantine" in l]
        self.assertTrue(engine_lines, "engine did not log the quarantine" + self.diagnostics())
        entries = [json.loads(line) for line in self.smfd.quarantine_list().splitlines()]
        ids = [e.get("id") for e in entries]
        self.assertIn(stored.group(1), ids, "smfctl quarantine list does not show it")
        return stored.group(1)

    def test_gtube_is_quarantined_not_delivered(self):
        m = self.marker()
        # A folded header and an odd spacing test how faithfully the message is rebuilt.
        data = make_message(m, to=QUARANTINING_RCPT, body="Hello,\r\n" + GTUBE + "\r\n")
        data = data.replace(b"MIME-Version:", b"X-Folded: first part\r\n\tsecond part\r\n"
                            b"X-Spacing:   three spaces\r\nMIME-Version:", 1)
        reply = send(self.port(), "alice@example.net", [QUARANTINING_RCPT], data)
        self.assertEqual(reply.code, 250, "%r%s" % (reply, self.diagnostics()))
        self.assertNotDelivered(m)
        self.assertIn("milter-discard", self.postfix.log_text())
        qid = self.quarantined_by_engine("in", reply)
        # Postfix passes each header as received (folding kept) and no Received: of its own, so
        # for this message the rebuilt copy the engine stored is the client's, byte for byte.
        stored = self.smfd.quarantine_export(qid)
        self.assertEqual(stored, data)

    def test_domain_that_delivers_gets_what_another_domain_quarantines(self):
        m = self.marker()
        reply = send(self.port(), "alice@example.net", [QUARANTINING_RCPT, LENIENT_RCPT],
                     make_message(m, to="team@example.net", body="Hello,\r\n" + GTUBE + "\r\n"))
        delivered = self.assertDelivered(reply, m)
        # Only lenient.example's recipient got it, marked as its policy says.
        self.assertIn(LENIENT_RCPT, delivered)
        self.assertNotIn(QUARANTINING_RCPT, delivered, self.diagnostics())
        self.assertRegex(delivered, r"(?m)^X-Spam-Flag: YES")
        line = self.milter_line("in", reply.queue_id)
        self.assertIn("action=add_header", line)
        self.assertIn("dropped=1", line)
        stored = re.search(r"quarantine=(\S+)", line).group(1)
        # example.org keeps its copy, with only its recipient; lenient.example none.
        entries = [json.loads(l) for l in self.smfd.quarantine_list().splitlines()]
        mine = [e for e in entries if e.get("id") == stored]
        self.assertEqual([e.get("domain") for e in mine], ["example.org"], mine)
        self.assertEqual(mine[0].get("recipients"), [QUARANTINING_RCPT], mine)

    def test_released_message_is_delivered_not_scanned_again(self):
        m = self.marker()
        reply = send(self.port(), "alice@example.net", [QUARANTINING_RCPT],
                     make_message(m, to=QUARANTINING_RCPT, body="Hello,\r\n" + GTUBE + "\r\n"))
        self.assertEqual(reply.code, 250, "%r%s" % (reply, self.diagnostics()))
        self.assertNotDelivered(m)
        qid = self.quarantined_by_engine("in", reply)
        out = self.smfd.smfctl("quarantine", "release", qid)
        self.assertIn("released", out)
        # Through the reinjection port: had smf-milter seen it again, the engine would have
        # quarantined it again and the sink never got it.
        self.assertTrue(wait_for("released message %s at the sink" % m,
                                 lambda: self.sink.find(m), 60), self.diagnostics())
        self.assertEqual(len(self.sink.find(m)), 1)

    def test_whole_large_body_reaches_the_engine(self):
        # GTUBE after 1 MB of text: found only if every body chunk was forwarded.
        filler = "".join("line %06d of the quarterly figures, nothing to see here\r\n" % i
                         for i in range(18000))
        m = self.marker()
        reply = send(self.port(), "alice@example.net", [QUARANTINING_RCPT],
                     make_message(m, to=QUARANTINING_RCPT, body=filler + GTUBE + "\r\n"))
        self.assertEqual(reply.code, 250, "%r%s" % (reply, self.diagnostics()))
        self.assertNotDelivered(m)
        self.quarantined_by_engine("in", reply)

    def filler(self, size):
        line = "line of the quarterly figures, nothing to see here at all\r\n"
        return line * (size // len(line) + 1)

    def test_message_over_milter_max_size_is_refused_with_552(self):
        # The control: a message under the cap passes through the same milter.
        m = self.marker()
        reply = send(self.port("small"), "alice@example.net", ["bob@example.com"],
                     make_message(m, body=self.filler(SMALL // 2)))
        self.assertDelivered(reply, m)
        m = self.marker()
        reply = send(self.port("small"), "alice@example.net", ["bob@example.com"],
                     make_message(m, body=self.filler(SMALL * 3)))
        self.assertEqual(reply.code, 552, "%r%s" % (reply, self.diagnostics()))
        self.assertTrue(reply.text.startswith("5.3.4 "), reply)
        self.assertIn("too large", reply.text)
        self.assertNotDelivered(m)
        log = self.milters["small"].log_text()
        self.assertIn("more than --max-size 65536 bytes, rejected", log)
        # Refused as it arrived: the engine was never asked.
        self.assertEqual(log.count(" action="), 1, log)

    def test_message_over_engine_max_size_is_refused_with_552(self):
        m = self.marker()
        reply = send(self.port(), "alice@example.net", ["bob@example.com"],
                     make_message(m, body=self.filler(ENGINE_MAX + 4096)))
        self.assertEqual(reply.code, 552, "%r%s" % (reply, self.diagnostics()))
        self.assertTrue(reply.text.startswith("5.3.4 "), reply)
        self.assertNotDelivered(m)
        self.assertIn("more than the engine's max_message_size, rejected",
                      self.milters["in"].log_text())
        self.assertIn("too_large", self.smfd.proc.tail())

    def test_whitelisted_sender_skips_spam_checks(self):
        # The control for the next case: the whitelist is in force.
        m = self.marker()
        reply = send(self.port(), ALLOWED, ["bob@example.com"],
                     make_message(m, sender=ALLOWED, body="Hello,\r\n" + GTUBE + "\r\n"))
        self.assertDelivered(reply, m)

    def test_eicar_from_whitelisted_sender_is_quarantined(self):
        m = self.marker()
        reply = send(self.port(), ALLOWED, ["bob@example.com"],
                     make_message(m, sender=ALLOWED, body=EICAR + "\r\n"))
        self.assertEqual(reply.code, 250, "%r%s" % (reply, self.diagnostics()))
        self.assertNotDelivered(m)
        self.quarantined_by_engine("in", reply)

    def test_blacklisted_sender_is_rejected_at_rcpt_to(self):
        """The connection-stage check refuses the sender before any data is sent."""
        m = self.marker()
        reply = send(self.port(), BLOCKED, ["bob@example.com"], make_message(m, sender=BLOCKED))
        self.assertTrue(500 <= reply.code < 600, "%r%s" % (reply, self.diagnostics()))
        self.assertEqual(reply.stage, "RCPT", "refused at %s, not RCPT TO" % reply.stage)
        self.assertIn("refused", reply.text.lower())
        self.assertIn(BLOCKED, reply.text)
        self.assertNotDelivered(m)

    def test_eight_bit_sender_keeps_its_domain(self):
        """MAIL FROM with a byte that is not UTF-8 (no SMTPUTF8) still names its domain
        to the engine: the milter sent such a sender empty, as the null sender, and a
        block of the domain did not apply."""
        self.smfd.smfctl("list", "add", "--type", "domain", "--action", "block", "evil8.example")
        m = self.marker()
        with smtplib.SMTP("127.0.0.1", self.port(), local_hostname="mail.example.net",
                          timeout=120) as s:
            s.ehlo()
            s.send(b"MAIL FROM:<x\xe9@evil8.example>\r\n")
            self.assertEqual(s.getreply()[0], 250)
            code, text = s.rcpt("bob@example.com")
            if code == 250:
                s.data(make_message(m, sender="x@evil8.example"))
        self.assertTrue(500 <= code < 600, "RCPT TO got %d %r%s" % (code, text, self.diagnostics()))
        self.assertIn(b"evil8.example", text)
        self.assertNotDelivered(m)

    def test_eight_bit_recipient_gets_its_domain_policy_at_rcpt(self):
        """RCPT TO with a byte that is not UTF-8 still names its domain to the
        connection-stage check: sent as no recipient at all, the default policy
        applied, and the sender that domain blocks got through to DATA."""
        pest = "pest8@scoped8.example"
        self.smfd.smfctl("list", "add", "--scope", "domain:example.org", "--type", "sender",
                         "--action", "block", pest)
        m = self.marker()
        with smtplib.SMTP("127.0.0.1", self.port(), local_hostname="mail.example.net",
                          timeout=120) as s:
            s.ehlo()
            code, text = s.mail(pest)
            self.assertEqual(code, 250, text)
            s.send(b"RCPT TO:<b\xfcb@example.org>\r\n")
            code, text = s.getreply()
            if code == 250:
                s.data(make_message(m, sender=pest, to="bob@example.org"))
        self.assertTrue(500 <= code < 600, "RCPT TO got %d %r%s" % (code, text, self.diagnostics()))
        self.assertIn(pest.encode(), text)
        self.assertNotDelivered(m)

    def test_domain_allow_beats_a_global_block_before_data(self):
        """docs/lists.md: the narrower scope decides, so a domain may allow a
        sender the global lists block. MAIL FROM cannot know the recipient's
        domain, so the refusal waits for RCPT TO."""
        partner = "partner@globally-blocked.example"
        self.smfd.smfctl("list", "add", "--type", "sender", "--action", "block", partner)
        self.smfd.smfctl("list", "add", "--scope", "domain:example.org", "--type", "sender",
                         "--action", "allow", "--noauth", partner)
        m = self.marker()
        answers, reply = send_each(self.port(), partner, ["bob@example.com", "bob@example.org"],
                                   make_message(m, sender=partner, to="bob@example.org"))
        self.assertTrue(answers, "refused at MAIL FROM: %r%s" % (reply, self.diagnostics()))
        code, text = answers["bob@example.com"]
        self.assertTrue(500 <= code < 600, "%s %s%s" % (code, text, self.diagnostics()))
        self.assertIn(partner, text)
        self.assertEqual(answers["bob@example.org"][0], 250, answers)
        self.assertDelivered(reply, m)

    def test_sender_one_domain_blocks_is_refused_at_rcpt_for_that_domain_only(self):
        """The connection-stage check runs again at each RCPT TO with that
        recipient's domain: a domain-scoped block refuses its recipients only."""
        pest = "pest@scoped.example"
        self.smfd.smfctl("list", "add", "--scope", "domain:example.org", "--type", "sender",
                         "--action", "block", pest)
        m = self.marker()
        answers, reply = send_each(self.port(), pest, ["bob@example.org", "bob@example.com"],
                                   make_message(m, sender=pest))
        code, text = answers["bob@example.org"]
        self.assertTrue(500 <= code < 600, "%s %s%s" % (code, text, self.diagnostics()))
        self.assertIn(pest, text)
        self.assertEqual(answers["bob@example.com"][0], 250, answers)
        self.assertDelivered(reply, m)
        log = mta.tail(self.postfix.maillog, 100000)
        self.assertRegex(log, r"%s: .*to=<bob@example\.com>.*status=sent" % reply.queue_id)
        self.assertNotRegex(log, r"%s: .*to=<bob@example\.org>" % reply.queue_id)
        self.assertIn("rcpt=<bob@example.org> refused at RCPT TO",
                      self.milters["in"].log_text())

    def test_outbound_eicar_from_trusted_client_is_rejected(self):
        m = self.marker()
        reply = send(self.port("out"), "alice@example.com", ["partner@example.net"],
                     make_message(m, sender="alice@example.com", to="partner@example.net",
                                  body=EICAR + "\r\n"))
        self.assertTrue(500 <= reply.code < 600, "%r%s" % (reply, self.diagnostics()))
        self.assertIn("virus", reply.text.lower())
        self.assertNotDelivered(m)

    def test_outbound_clean_mail_is_delivered(self):
        m = self.marker()
        reply = send(self.port("out"), "alice@example.com", ["partner@example.net"],
                     make_message(m, sender="alice@example.com", to="partner@example.net"))
        self.assertDelivered(reply, m)

    def test_engine_down_tempfails_and_retry_delivers(self):
        m = self.marker()
        data = make_message(m)
        self.smfd.stop()
        try:
            reply = send(self.port(), "alice@example.net", ["bob@example.com"], data)
            self.assertEqual(reply.code, 451, "%r%s" % (reply, self.diagnostics()))
            # Nothing lost: not accepted into the queue, not delivered; the client has it.
            self.assertIsNone(reply.queue_id)
            self.assertNotDelivered(m)
        finally:
            self.smfd.start()
        reply = send(self.port(), "alice@example.net", ["bob@example.com"], data)
        self.assertDelivered(reply, m)

    def test_milter_down_tempfails(self):
        m = self.marker()
        data = make_message(m)
        self.assertEqual(self.milters["in"].stop(), 0, self.milters["in"].proc.tail())
        try:
            reply = send(self.port(), "alice@example.net", ["bob@example.com"], data)
            self.assertEqual(reply.code // 100, 4, "%r%s" % (reply, self.diagnostics()))
            self.assertNotDelivered(m)
        finally:
            self.start_milter("in")
        reply = send(self.port(), "alice@example.net", ["bob@example.com"], data)
        self.assertDelivered(reply, m)

    def test_quarantine_hold_puts_message_on_hold(self):
        m = self.marker()
        reply = send(self.port("hold"), "alice@example.net", [QUARANTINING_RCPT],
                     make_message(m, to=QUARANTINING_RCPT, body="Hello,\r\n" + GTUBE + "\r\n"))
        self.assertEqual(reply.code, 250, "%r%s" % (reply, self.diagnostics()))
        try:
            held = wait_for("the message in the hold queue", lambda: [
                q for q in self.postfix.queue()
                if q["queue_id"] == reply.queue_id and q["queue_name"] == "hold"], 30)
            self.assertTrue(held)
            self.postfix.flush()
            time.sleep(1)
            self.assertEqual(self.sink.find(m), [], "a held message was delivered")
            self.quarantined_by_engine("hold", reply)
        finally:
            self.postfix.delete(reply.queue_id)

    def test_milter_over_tcp(self):
        m = self.marker()
        reply = send(self.port("tcp"), "alice@example.net", ["bob@example.com"], make_message(m))
        delivered = self.assertDelivered(reply, m)
        self.assertRegex(delivered, r"(?m)^X-SMF-Status: clean, score=")
        self.assertIn("action=accept", self.milter_line("tcp", reply.queue_id))

    def test_a_wait_past_postfix_content_timeout_is_warned_about_at_start(self):
        """Two silent engines at --timeout 200 s keep a message up to 401 s, past
        Postfix's milter_content_timeout: smf-milter says so as it starts; the
        milters of this suite, whose worst wait is far shorter, do not."""
        m = mta.Milter(self.tmp, "milter-slow", [self.smfd.listen, self.smfd.listen],
                       "-t", "200000")
        try:
            self.assertIn("may wait 401 s, at or past Postfix's default "
                          "milter_content_timeout (300 s)", m.log_text())
        finally:
            self.assertEqual(m.stop(), 0)
        self.assertNotIn("milter_content_timeout", self.milters["in"].log_text())

    def test_hung_engine_gives_up_quickly_at_rcpt_and_tempfails_at_data(self):
        # The check at RCPT TO waits --connect-timeout, not --timeout: the MTA's own
        # command timeout (30 s in Postfix) must not run out first and end the session.
        m = self.marker()
        answers, reply = send_each(self.port("hung"), "alice@example.net", ["bob@example.com"],
                                   make_message(m))
        self.assertEqual(answers["bob@example.com"][0], 250, answers)
        self.assertEqual(reply.code, 451, "%r%s" % (reply, self.diagnostics()))
        self.assertNotDelivered(m)
        log = self.milters["hung"].log_text()
        self.assertEqual(log.count("gave no usable answer within 500 ms"), 1, log)
        self.assertEqual(log.count("gave no usable answer within 2000 ms"), 1, log)
        self.assertIn("no engine answered, tempfail", log)

    def test_silent_engine_fails_over_and_late_replies_are_dropped(self):
        before = self.silent.requests
        markers = [self.marker() + "-%d" % i for i in range(4)]
        for m in markers:
            reply = send(self.port("failover"), "alice@example.net", ["bob@example.com"],
                         make_message(m))
            self.assertDelivered(reply, m)
        # Requests went to the silent endpoint first (it never answers in time) and were
        # then scanned by smfd; its late "reject" answers changed nothing.
        self.assertGreaterEqual(self.silent.requests - before, 1)
        time.sleep(TIMEOUT_MS * 2 / 1000)
        m = self.marker()
        reply = send(self.port("failover"), "alice@example.net", ["bob@example.com"],
                     make_message(m))
        self.assertDelivered(reply, m)
        self.assertIn("no usable answer", self.milters["failover"].log_text())

    def test_busy_engine_passes_the_message_to_the_next(self):
        # An engine that answers "busy" did not start on the message: the milter asks the
        # next one at once instead of tempfailing.
        before = self.busy.requests
        m = self.marker()
        reply = send(self.port("busy"), "alice@example.net", ["bob@example.com"],
                     make_message(m))
        self.assertDelivered(reply, m)
        self.assertGreaterEqual(self.busy.requests - before, 1)
        log = self.milters["busy"].log_text()
        self.assertIn("the engine answered busy; trying the next", log)
        self.assertNotIn("no usable answer", log)

    def test_long_authentication_results_is_added_whole(self):
        # Eight DKIM signatures the auth stage cannot verify (no b=) make an
        # Authentication-Results of about 2.8 KB, each signature's d= and s= in it.
        sigs = []
        for i in range(8):
            d = ".".join("sig%d-label%d-" % (i, k) + "x" * (60 - len("sig%d-label%d-" % (i, k)))
                         for k in range(4)) + ".example"
            s = "sel%d-" % i + "y" * 55
            sigs.append((d, s))
        self.assertEqual(len(sigs[0][0]), 251)
        m = self.marker()
        data = make_message(m, to=LONGAUTH_RCPT)
        data = b"".join(b"DKIM-Signature: v=1; a=rsa-sha256; d=%s; s=%s; h=from;\r\n"
                        b"\tbh=AAAA\r\n" % (d.encode(), s.encode()) for d, s in sigs) + data
        reply = send(self.port(), "alice@example.net", [LONGAUTH_RCPT], data)
        delivered = self.assertDelivered(reply, m)
        results = [v for n, v in header_fields(delivered)
                   if n.lower() == "authentication-results"]
        self.assertEqual(len(results), 1, delivered)
        # Whole: every signature is in it, the last one to its final byte. A value cut
        # at 1 KB (as the milter once did) ended inside the third signature.
        self.assertEqual(results[0], " smf" + "".join(
            "; dkim=permerror header.d=%s header.s=%s" % sig for sig in sigs))
        # Folded at blanks by the milter: one line of 2.8 KB was broken by Postfix
        # inside a domain when it relayed the message.
        assertFolded(self, field_lines(delivered, "Authentication-Results")[0])
        self.assertNotIn("could not add header", self.milters["in"].log_text())

    def test_forged_copies_of_the_engines_headers_are_removed(self):
        """A sender's own X-SMF-Status, X-Spam-Flag or Authentication-Results in the
        engine's authserv-id reached the mailbox beside the engine's, where a filter
        that reads the first one trusted the sender's word (RFC 8601, section 5)."""
        m = self.marker()
        data = make_message(m, to=LONGAUTH_RCPT)
        forged = (b"X-SMF-Status: clean, score=-100.00\r\n"
                  b"X-Spam-Flag: NO\r\n"
                  b"x-spam-flag: no\r\n"
                  b"Authentication-Results: smf; dkim=pass header.d=bank.example\r\n"
                  b"Authentication-Results: (ours) SMF 1;\r\n\tspf=pass smtp.mailfrom=bank.example\r\n"
                  b'Authentication-Results: "smf"; dmarc=pass header.from=bank.example\r\n'
                  b"Authentication-Results: mx.partner.example; spf=pass smtp.mailfrom=x.example\r\n"
                  b"Authentication-Results: smfx.example; dkim=pass header.d=x.example\r\n")
        data = forged + data
        reply = send(self.port(), "alice@example.net", [LONGAUTH_RCPT], data)
        delivered = self.assertDelivered(reply, m)
        fields = header_fields(delivered)
        values = lambda name: [v for n, v in fields if n.lower() == name.lower()]
        # Only the engine's own: the sender's are gone, whatever their case.
        self.assertEqual(len(values("X-SMF-Status")), 1, delivered)
        self.assertRegex(values("X-SMF-Status")[0], r"^ clean, score=\d")
        self.assertEqual(values("X-Spam-Flag"), [], delivered)
        results = values("Authentication-Results")
        self.assertNotIn("bank.example", delivered)
        self.assertEqual([r for r in results if r.startswith(" smf;")], [" smf; dkim=none"],
                         delivered)
        # Results from other verifiers stay, a name that only starts like ours too.
        self.assertIn(" mx.partner.example; spf=pass smtp.mailfrom=x.example", results)
        self.assertIn(" smfx.example; dkim=pass header.d=x.example", results)
        self.assertEqual(len(results), 3, delivered)
        self.assertNotIn("could not remove", self.milters["in"].log_text())

    def test_too_many_forged_engine_headers_are_refused(self):
        """Each removal makes Postfix's cleanup read the message's headers again: 100,000
        forged X-Spam-Flag lines cost it billions of record reads. More than
        MAX_FORGED_HEADERS (callbacks.c) are refused as they arrive; as many are removed."""
        ours = [b"X-Spam-Flag: NO\r\n", b"X-SMF-Status: clean\r\n",
                b"Authentication-Results: smf; dkim=pass header.d=bank.example\r\n"]
        others = b"Authentication-Results: mx.partner.example; spf=pass\r\n" * 60
        m = self.marker()
        forged = b"".join(ours[i % 3] for i in range(MAX_FORGED_HEADERS))
        reply = send(self.port(), "alice@example.net", [LONGAUTH_RCPT],
                     forged + others + make_message(m, to=LONGAUTH_RCPT))
        delivered = self.assertDelivered(reply, m)
        self.assertNotIn("bank.example", delivered)
        self.assertNotIn("X-Spam-Flag", delivered)
        self.assertEqual(delivered.count("mx.partner.example; spf=pass"), 60)
        m = self.marker()
        forged = ours[0] * (MAX_FORGED_HEADERS + 1)
        reply = send(self.port(), "alice@example.net", ["bob@example.com"],
                     forged + make_message(m))
        self.assertEqual(reply.code, 554, "%r%s" % (reply, self.diagnostics()))
        self.assertTrue(reply.text.startswith("5.6.0 "), reply)
        self.assertIn("too many X-Spam-Flag header fields", reply.text)
        self.assertNotDelivered(m)
        self.assertIn("too many X-Spam-Flag header fields", self.milters["in"].log_text())
        # Without --authserv-id, which Authentication-Results are the engine's is known
        # from its verdict only: counted then, and refused before any is removed.
        m = self.marker()
        reply = send(self.port("anyid"), "alice@example.net", [LONGAUTH_RCPT],
                     ours[2] * (MAX_FORGED_HEADERS + 1) + make_message(m, to=LONGAUTH_RCPT))
        self.assertEqual(reply.code, 554, "%r%s" % (reply, self.diagnostics()))
        self.assertIn("too many Authentication-Results header fields", reply.text)
        self.assertNotDelivered(m)
        self.assertNotIn("could not remove", self.milters["anyid"].log_text())

    def test_headers_the_mta_does_not_let_remove_are_told_once(self):
        """An MTA that does not grant header changes (SMFIF_CHGHDRS) refuses every
        removal: one log line for the message, not one per forged header."""
        milter = self.milters["in"]
        start = len(milter.log_text())
        client = MilterClient(milter.sock, MilterClient.SMFIF_ADDHDRS)
        try:
            headers = [("X-Spam-Flag", "NO")] * 5 + [("X-SMF-Status", "clean")] * 2
            headers += [("From", "alice@example.net"), ("Subject", "notes")]
            replies = client.message("alice@example.net", "bob@example.com", headers,
                                     "Hello Bob,\r\n")
        finally:
            client.close()
        # The engine's header is still added, and the message goes on.
        self.assertIn(b"h", [code for code, _ in replies], replies)
        self.assertIn(replies[-1][0], (b"c", b"a"), replies)
        log = milter.log_text()[start:]
        self.assertEqual(log.count("could not remove the sender's header"), 1, log)
        self.assertIn("could not remove the sender's header X-SMF-Status (#2)", log)

    def test_engine_headers_are_added_whole_or_not_at_all(self):
        m = self.marker()
        reply = send(self.port("headers"), "alice@example.net", ["bob@example.com"],
                     make_message(m))
        delivered = self.assertDelivered(reply, m)
        fields = header_fields(delivered)
        names = [n.lower() for n, _ in fields]
        wanted = dict(self.engine_headers())
        # Longer than 1 KB, shorter than a milter packet: whole.
        longs = [v for n, v in fields if n.lower() == "x-smf-long"]
        self.assertEqual(longs, [" " + wanted["X-SMF-Long"]])
        assertFolded(self, field_lines(delivered, "X-SMF-Long")[0])
        # Too long for the milter protocol, one word longer than a line may be, or with a
        # line break: absent, not cut.
        for name in ("x-smf-huge", "x-smf-unbroken", "x-smf-broken", "x-smf-broken-lf",
                     "x-smf-injected", "x-smf-injected-lf"):
            self.assertNotIn(name, names, delivered)
        self.assertNotIn("first line", delivered)
        # The refusals are told, and the headers after them still added.
        self.assertIn(("X-SMF-After", " still added"), fields)
        log = self.milters["headers"].log_text()
        self.assertIn("could not add header X-SMF-Huge", log)
        self.assertIn("header X-SMF-Unbroken from the engine has a word longer than a line "
                      "may be; not added", log)
        for name in ("X-SMF-Broken", "X-SMF-Broken-LF"):
            self.assertIn("header %s from the engine has a line break or a colon in its name; "
                          "not added" % name, log)

    def test_vanished_tcp_engine_is_dropped_by_heartbeats(self):
        """An engine host that vanishes (no FIN, no RST) leaves TCP connections that look
        alive: a request sent into one waits --connect-timeout or --timeout. ZMTP
        heartbeats (1 s, 3 s) drop such a link within seconds, and the next message goes
        to the other engine at once."""
        name = "heartbeat"
        # Both links carry requests first: each request starts at the next endpoint.
        self.send_through(name, "before", 4)
        self.vanishing.freeze()
        # Heartbeats need about 4 s to notice; no message is sent meanwhile, so only they
        # can tell the milter the link is gone.
        time.sleep(10)
        start = len(self.milters[name].log_text())
        # A request sent into the silent link would have waited at least 12 s.
        self.assertDeliveredWithin(name, 4, HB_CONNECT_TIMEOUT_MS / 1000 - 2)
        log = self.milters[name].log_text()[start:]
        self.assertIn("engine %s is not connected" % self.vanishing.endpoint, log)
        self.assertNotIn("no usable answer", log)

    def test_request_sent_into_a_link_that_drops_fails_over(self):
        """A request already sent into a link whose engine host then vanishes waited
        --connect-timeout or --timeout for a reply that can no longer come (the engine
        routes it to the connection the request came on). Once heartbeats drop the link,
        the next engine gets the request at once."""
        name = "dropped"
        self.send_through(name, "before", 4)
        start = len(self.milters[name].log_text())
        self.dropping.freeze()
        # At once, before heartbeats notice: the link still looks connected, and each
        # message's first requests start at the two engines in turn, so that one goes
        # into the silent link. Waiting it out would have taken at least 12 s.
        self.assertDeliveredWithin(name, 2, HB_CONNECT_TIMEOUT_MS / 1000 - 3)
        log = self.milters[name].log_text()[start:]
        self.assertIn("the link to engine %s dropped" % self.dropping.endpoint, log)
        self.assertNotIn("no usable answer", log)


class CommandLine(unittest.TestCase):
    """smf-milter's own refusals, without an MTA."""

    def run_milter(self, *args):
        return subprocess.run([mta.PATHS["smf-milter"]] + list(args), capture_output=True,
                              timeout=30)

    def test_help(self):
        r = self.run_milter("--help")
        self.assertEqual(r.returncode, 0)
        for opt in (b"--socket", b"--endpoint", b"--timeout", b"--trusted", b"--on-quarantine",
                    b"--noop", b"--foreground", b"--max-size",
                    b"--connect-timeout", b"--authserv-id"):
            self.assertIn(opt, r.stdout)

    def test_bad_options_are_refused(self):
        for args, why in ((["--on-quarantine", "keep"], b"drop or hold"),
                          (["--trusted", "10.0.0.0/33"], b"ADDRESS/PREFIX"),
                          (["--timeout", "0"], b"milliseconds"),
                          (["--connect-timeout", "5s"], b"milliseconds"),
                          (["--max-size", "100"], b"at least 1024 bytes"),
                          (["--max-size", "5X"], b"at least 1024 bytes"),
                          (["--max-size", "-1"], b"at least 1024 bytes"),
                          (["--socket-mode", "999"], b"octal"),
                          (["-e", "garbage"], b"expected ipc://PATH or tcp://HOST:PORT"),
                          (["-e", "tcp://host"], b"expected ipc://PATH or tcp://HOST:PORT"),
                          (["-s", "foo:/x"], b"expected unix:PATH, inet:PORT@HOST"),
                          (["-s", "inet:abc@127.0.0.1"], b"expected unix:PATH, inet:PORT@HOST"),
                          (["-s", "unix:relative.sock"], b"needs an absolute path")):
            r = self.run_milter("-f", *args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(why, r.stderr, args)


if __name__ == "__main__":
    argv = mta.parse_paths(sys.argv)
    unittest.main(argv=argv, verbosity=2)
