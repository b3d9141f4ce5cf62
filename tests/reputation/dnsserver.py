"""A small authoritative DNS server on loopback for the tests (standard library only).

It answers A, AAAA, PTR, MX and TXT queries from a table the test gives it, REFUSED for
zones marked refused, NXDOMAIN for unknown names, and answers the names of
"slow" zones only after a delay, so that tests can see timeouts. Every query
is logged with its time, so that tests can check the queries ran in parallel.
"""
import socket
import struct
import threading
import time

TYPES = {"A": 1, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28}


def encode_name(name):
    out = b""
    for label in name.strip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def decode_name(data, off):
    labels = []
    while True:
        n = data[off]
        off += 1
        if n == 0:
            return ".".join(labels), off
        labels.append(data[off:off + n].decode(errors="replace"))
        off += n


def rdata(rtype, value):
    if rtype == "A":
        return socket.inet_pton(socket.AF_INET, value)
    if rtype == "AAAA":
        return socket.inet_pton(socket.AF_INET6, value)
    if rtype == "MX":  # "10 mx.example.test"
        pref, host = value.split(None, 1)
        return struct.pack("!H", int(pref)) + encode_name(host)
    if rtype == "TXT":  # One string, cut into 255-byte pieces, or a list of strings.
        text = value.encode() if isinstance(value, str) else b""
        parts = [text[i:i + 255] for i in range(0, len(text), 255)] or [b""]
        if not isinstance(value, str):
            parts = [v.encode() for v in value]
        return b"".join(bytes([len(p)]) + p for p in parts)
    return encode_name(value)


class DnsServer:
    """records: {name: [(type, value), ...]}; refused, slow: zone suffixes."""

    def __init__(self, records=None, refused=(), slow=(), delay=3.0):
        self.records = {k.lower().strip("."): v for k, v in (records or {}).items()}
        self.refused = [z.lower() for z in refused]
        self.slow = [z.lower() for z in slow]
        self.delay = delay
        self.log = []  # (time, name, type)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.running = False
        self.sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def serve(self):
        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                self.handle(data, peer)
            except Exception as e:  # A malformed query must not stop the server.
                print("dnsserver: %s" % e)

    @staticmethod
    def in_zone(name, zones):
        return any(name == z or name.endswith("." + z) for z in zones)

    def handle(self, data, peer):
        qid, flags = struct.unpack("!HH", data[:4])
        name, off = decode_name(data, 12)
        qtype, _ = struct.unpack("!HH", data[off:off + 4])
        question = data[12:off + 4]
        name = name.lower()
        self.log.append((time.time(), name, qtype))
        if self.in_zone(name, self.refused):
            reply = self.reply(qid, flags, question, 5, [])
        else:
            rrs = self.records.get(name)
            answers = [(t, v) for t, v in (rrs or []) if TYPES[t] == qtype]
            reply = self.reply(qid, flags, question, 3 if rrs is None else 0, answers)
        if self.in_zone(name, self.slow):
            threading.Timer(self.delay, self.send_late, (reply, peer)).start()
        else:
            self.sock.sendto(reply, peer)

    def send_late(self, reply, peer):
        try:
            self.sock.sendto(reply, peer)
        except OSError:
            pass

    @staticmethod
    def reply(qid, flags, question, rcode, answers):
        rd = flags & 0x0100
        head = struct.pack("!HHHHHH", qid, 0x8400 | rd | rcode, 1, len(answers), 0, 0)
        body = question
        for rtype, value in answers:
            rd_bytes = rdata(rtype, value)
            body += struct.pack("!HHHIH", 0xC00C, TYPES[rtype], 1, 60, len(rd_bytes)) + rd_bytes
        return head + body


def reverse_v4(ip):
    return ".".join(reversed(ip.split(".")))


def reverse_v6(ip):
    full = socket.inet_pton(socket.AF_INET6, ip).hex()
    return ".".join(reversed(full))
