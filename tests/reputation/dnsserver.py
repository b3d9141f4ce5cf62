"""A small authoritative DNS server on loopback for the tests (standard library only).

It answers A, AAAA, PTR, MX and TXT queries from a table the test gives it (TTL 60, or
the record's own), REFUSED or SERVFAIL for zones marked so, NXDOMAIN for unknown names (with
the zone's SOA, for zones given one, whose MINIMUM is the negative TTL), and answers the names of
"slow" zones only after a delay, so that tests can see timeouts. It serves UDP
and TCP on the same port, honours EDNS0 payload sizes and truncates UDP replies
that do not fit. Every query is logged with its time, so that tests can check
the queries ran in parallel, and with its transport.
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
    """records: {name: [(type, value) or (type, value, ttl), ...]}; refused, servfail, slow: zone
    suffixes; soa: {zone: negative TTL}, the SOA sent with "no such name" in that zone.

    It listens on one port over UDP and TCP. Over UDP a reply longer than the
    client can take (512 bytes, or the payload size of the query's EDNS0 OPT
    record) goes out truncated, with the TC bit and no answers, so that the
    client asks again over TCP, as a real server would make it.
    """

    UDP_LIMIT = 512  # Without EDNS0 (RFC 1035 4.2.1).
    EDNS_PAYLOAD = 1232  # What this server says it takes in its own OPT records.

    def __init__(self, records=None, refused=(), slow=(), delay=3.0, soa=None, servfail=()):
        self.records = {k.lower().strip("."): v for k, v in (records or {}).items()}
        self.soa = {z.lower(): ttl for z, ttl in (soa or {}).items()}
        self.refused = [z.lower() for z in refused]
        self.servfail = [z.lower() for z in servfail]
        self.slow = [z.lower() for z in slow]
        self.delay = delay
        self.log = []  # (time, name, type), one per query in arrival order
        self.transports = []  # "udp" or "tcp", the query of self.log at the same index
        self.log_lock = threading.Lock()
        self.sock, self.listener = self.bind_pair()
        self.port = self.sock.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self.running = True
        self.conns = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.tcp_thread = threading.Thread(target=self.serve_tcp, daemon=True)

    @staticmethod
    def bind_pair():
        """A UDP socket and a TCP listener on the same free loopback port."""
        for _ in range(50):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind(("127.0.0.1", udp.getsockname()[1]))
            except OSError:  # That port is taken over TCP: try another one.
                udp.close()
                tcp.close()
                continue
            tcp.listen(16)
            return udp, tcp
        raise OSError("dnsserver: no port free over both UDP and TCP")

    def start(self):
        self.thread.start()
        self.tcp_thread.start()
        return self

    def stop(self):
        self.running = False
        for s in [self.sock, self.listener] + self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)  # Wakes a thread blocked on it.
            except OSError:
                pass
            s.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def queries(self, name=None, transport=None):
        """(name, type, transport) of each query so far, maybe only of one name or transport."""
        with self.log_lock:
            rows = [(n, t, tr) for (_, n, t), tr in zip(self.log, self.transports)]
        return [r for r in rows if (name is None or r[0] == name.lower())
                and (transport is None or r[2] == transport)]

    def serve(self):
        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if not self.running:  # Woken by stop().
                return
            try:
                reply, late = self.handle(data, "udp")
                if late:
                    threading.Timer(self.delay, self.send_late, (reply, peer)).start()
                else:
                    self.sock.sendto(reply, peer)
            except Exception as e:  # A malformed query must not stop the server.
                print("dnsserver: %s" % e)

    def serve_tcp(self):
        while self.running:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self.serve_conn, args=(conn,), daemon=True).start()

    @staticmethod
    def read_exact(conn, n):
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def serve_conn(self, conn):
        """Queries of one TCP connection, each with its 2-byte length, until the client closes."""
        lock = threading.Lock()  # Late replies and prompt ones must not interleave.
        while self.running:
            try:
                head = self.read_exact(conn, 2)
                data = head and self.read_exact(conn, struct.unpack("!H", head)[0])
            except OSError:
                return
            if not data:
                conn.close()
                return
            try:
                reply, late = self.handle(data, "tcp")
            except Exception as e:
                print("dnsserver: %s" % e)
                continue
            framed = struct.pack("!H", len(reply)) + reply
            if late:
                threading.Timer(self.delay, self.send_tcp, (conn, lock, framed)).start()
            else:
                self.send_tcp(conn, lock, framed)

    @staticmethod
    def send_tcp(conn, lock, framed):
        try:
            with lock:
                conn.sendall(framed)
        except OSError:
            pass

    @staticmethod
    def in_zone(name, zones):
        return any(name == z or name.endswith("." + z) for z in zones)

    @staticmethod
    def edns_payload(data, off, arcount):
        """The payload size of the query's OPT record (RFC 6891), or None without one."""
        for _ in range(arcount):
            _, off = decode_name(data, off)
            rtype, rclass, _, rdlen = struct.unpack("!HHIH", data[off:off + 10])
            if rtype == 41:
                return max(rclass, DnsServer.UDP_LIMIT)
            off += 10 + rdlen
        return None

    def handle(self, data, transport):
        """The reply to one query, and whether it is to be sent late."""
        qid, flags, _, ancount, nscount, arcount = struct.unpack("!HHHHHH", data[:12])
        name, off = decode_name(data, 12)
        qtype, _ = struct.unpack("!HH", data[off:off + 4])
        question = data[12:off + 4]
        payload = self.edns_payload(data, off + 4, arcount) if not ancount + nscount else None
        name = name.lower()
        with self.log_lock:
            self.log.append((time.time(), name, qtype))
            self.transports.append(transport)
        if self.in_zone(name, self.refused) or self.in_zone(name, self.servfail):
            rcode = 5 if self.in_zone(name, self.refused) else 2
            reply = self.reply(qid, flags, question, rcode, [], payload is not None)
        else:
            rrs = self.records.get(name)
            answers = [rr for rr in (rrs or []) if TYPES[rr[0]] == qtype]
            zone = next((z for z in self.soa if self.in_zone(name, [z])), None)
            soa = (zone, self.soa[zone]) if zone is not None and not answers else None
            reply = self.reply(qid, flags, question, 3 if rrs is None else 0, answers,
                               payload is not None, soa=soa)
            limit = payload or self.UDP_LIMIT
            if transport == "udp" and len(reply) > limit:
                reply = self.reply(qid, flags, question, 0, [], payload is not None, tc=True)
        return reply, self.in_zone(name, self.slow)

    def send_late(self, reply, peer):
        try:
            self.sock.sendto(reply, peer)
        except OSError:
            pass

    @staticmethod
    def reply(qid, flags, question, rcode, answers, edns=False, tc=False, soa=None):
        """soa: (zone, negative TTL) for the authority section of a negative answer."""
        rd = flags & 0x0100
        head = struct.pack("!HHHHHH", qid, 0x8400 | (0x0200 if tc else 0) | rd | rcode, 1,
                           len(answers), 1 if soa else 0, 1 if edns else 0)
        body = question
        for rr in answers:
            rtype, value, ttl = rr if len(rr) == 3 else rr + (60,)
            rd_bytes = rdata(rtype, value)
            body += struct.pack("!HHHIH", 0xC00C, TYPES[rtype], 1, ttl, len(rd_bytes)) + rd_bytes
        if soa:  # The SOA's own TTL is longer: the MINIMUM field must be the one that counts.
            zone, minimum = soa
            rd_bytes = (encode_name("ns." + zone) + encode_name("admin." + zone) +
                        struct.pack("!IIIII", 1, 3600, 600, 86400, minimum))
            body += (encode_name(zone) + struct.pack("!HHIH", 6, 1, 3600, len(rd_bytes)) +
                     rd_bytes)
        if edns:  # OPT: root name, type 41, our payload size as class, no options.
            body += b"\0" + struct.pack("!HHIH", 41, DnsServer.EDNS_PAYLOAD, 0, 0)
        return head + body


def reverse_v4(ip):
    return ".".join(reversed(ip.split(".")))


def reverse_v6(ip):
    full = socket.inet_pton(socket.AF_INET6, ip).hex()
    return ".".join(reversed(full))
